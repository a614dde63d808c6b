"""The dense run (level 0): θ0, θk and θT, the start of every lineage.

It needs nothing and comes first. It saves the network's initial weights θ0
(or reads them back when resumed), trains with the full schedule while the
other kinds save what they need along the way (θk for rewinding, the
instability analysis's start weights), and leaves θT as its final weights.
"""

import os

from kdticket_tf.search import stage_rows
from kdticket_tf.search import trained_stage
from kdticket_tf.store import layout as layout_lib
from kdticket_tf.store import weights as weights_lib
from kdticket_tf.training import fit as training


class DenseKind(trained_stage.TrainedKind):
  """The dense run, `StageKey('dense', 0)`."""

  name = layout_lib.DENSE

  def add_stages(self, config, stages):
    """The dense run first; it needs nothing."""
    del config
    return {layout_lib.DENSE_KEY: {}, **stages}

  def steps(self, context, key):
    """The full schedule."""
    del key
    return context.rewind.plan(None).steps

  def train(self, context, key, started):
    layout = context.layout
    base = context.build()
    if os.path.exists(layout.init_weights):
      weights_lib.load_model_weights(layout.init_weights, base)
    else:
      weights_lib.save_model_weights(layout.init_weights, base)
    callbacks = context.dense_callbacks(base)  # what the kinds save on the way
    training.add_weight_decay(base, context.config.train.weight_decay)
    history = trained_stage.fit(context, key, base, context.data,
                                context.rewind.plan(None),
                                training.compile_classifier, callbacks)
    weights_lib.save_model_weights(layout.final_weights(key), base)
    row = trained_stage.result_row(context, key, 0.0, history, started)
    row.update(channels_removed=0.0, flops_remaining=1.0)
    return trained_stage.finish(context, key, {
        "status": stage_rows.DONE, "row": row, "history": history})


KIND = DenseKind()
