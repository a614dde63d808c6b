"""Training a network: the fit loop and what a recipe changes in it.

`fit` is the one training loop (checkpoints, resume, evaluation); `schedules`
the learning rates; `recipes` the table of retraining recipes; `distill` the
Distiller (the KD ticket's `train_step`) and its teacher; `kd_collapse` the
warning for a collapsed KD run; `rewinding` the rewind point θk.
"""
