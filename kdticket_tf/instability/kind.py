"""The instability analysis as a stage kind: one row of the search's registry.

What it needs (`graph.extend`: the dense run, and a ticket's stage for its
masks), how it runs (`stage.run`: two copies from each θk, the errors between
them), what it saves while the dense network trains (the start weights θk),
what it refuses before training (`stage.check`), and what the coordinator
does once one of its stages is done (`report.record`: the tables, the plot
and, under `rewind_step=auto`, the choice of k). Its rows are the analysis's,
not the search's results: no results table, summary or export holds them.
"""

from absl import logging

from kdticket_tf.instability import graph
from kdticket_tf.instability import report
from kdticket_tf.instability import stage


class InstabilityKind:
  """The instability stages, `StageKey('instability', L)`."""

  name = graph.KIND
  result = False  # the analysis's rows, not the search's results

  def add_stages(self, config, stages):
    return graph.extend(config, stages)

  def check(self, config, data):
    stage.check(config, data)

  def dense_callbacks(self, context, base):
    return stage.dense_callbacks(context, base)

  def run(self, context, key):
    return stage.run(context, key)

  def steps(self, context, key):
    """Both copies from every start step."""
    del key
    return stage.training_steps(context.config,
                                context.data.train.steps_per_epoch)

  def finished(self, search, key, quiet=False):
    """Writes the analysis's tables; under `rewind_step=auto`, chooses k."""
    tickets = any(k.level and not graph.is_key(k) for k in search.graph.keys)
    for line in report.record(
        search.layout, search.graph.keys, search.config, key.level,
        search.chief, tickets,
        f"{search.data.name}: instability (linear mode connectivity)"):
      if not quiet:
        logging.info("%s", line)


KIND = InstabilityKind()
