"""The kinds of stage a search is made of: a registry, one row per kind.

    dense        the dense run, level 0 (`dense_stage.py`)
    ticket       a recipe at a pruned level (`ticket_stage.py`)
    instability  the linear-mode-connectivity analysis of a network
                 (`instability/kind.py`)

A kind is an object that says what its stages need, how they run and what
they leave. The coordinator (`lottery.py`), the stage runner (`stages.py`)
and the graph (`graph.py`) ask the kind of a stage and hold no branch on
kinds; a new kind of stage or analysis is a new module and one row here.
Every kind has:

    name              the `StageKey.recipe` of its stages (None: the recipes')
    result            whether its rows are the search's results: its stages
                      fill the results tables, the plot and the TensorBoard
                      summary, and are exported when exports are on
    add_stages(config, stages)
                      returns the graph's `{key: {dependency: what it gives}}`
                      with its stages added, in the sequential order
    check(config, data)
                      refuses, before any training, what it cannot run
    dense_callbacks(context, base)
                      Keras callbacks saving what it needs while the dense
                      network trains (θk)
    run(context, key) runs (or resumes) a stage; returns its row
    steps(context, key)
                      the optimizer steps a stage trains (for time estimates)
    finished(search, key, quiet)
                      the coordinator's work once a stage is done

`context` is the search's `StageRunner` (the model, data, config, layout and
strategy that stages share); `search` its `Lottery`.
"""

from kdticket_tf.instability import kind as instability_kind
from kdticket_tf.search import dense_stage
from kdticket_tf.search import ticket_stage

# The registry, in the order the graph adds their stages.
KINDS = (dense_stage.KIND, ticket_stage.KIND, instability_kind.KIND)
_NAMED = {kind.name: kind for kind in KINDS if kind.name}


def of(key):
  """Returns the kind of stage `key`: the kind its name belongs to, or a
  ticket (a recipe's stage)."""
  return _NAMED.get(key.recipe, ticket_stage.KIND)


def stages(config):
  """Returns every stage of a search, `{key: needs}`, in sequential order."""
  found = {}
  for kind in KINDS:
    found = kind.add_stages(config, found)
  return found
