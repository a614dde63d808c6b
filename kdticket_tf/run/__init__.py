"""Where stages run: executors, the stage lock, distribution strategies.

`executors` runs stages in this process or as Ray tasks, `local_workers` on
local worker processes; `stage_lock` keeps two processes from training one
stage; `strategies` builds the `tf.distribute` strategy a stage trains under.
"""
