"""Instability analysis: the error barrier on the line between two trainings.

Frankle, Dziugaite, Roy & Carbin (2020, "Linear Mode Connectivity and the
Lottery Ticket Hypothesis"): take a network at step k, θk, and train two copies
of it to the end of the schedule, differing only in their data order. The
network's training is *stable* at k when the two end points lie in one linearly
connected basin: the error along the straight line between them,

    θ(α) = (1 - α) θ_A + α θ_B,  α = 0, 1/(N-1), ..., 1,

rises at most a little above its ends. The barrier is the maximum error on the
path minus the mean of the two end errors, in points (percent).

This module is the analysis itself, on any tf_keras model and datasets:
`barrier`, `interpolate`, `recompute_batchnorm` (each interpolated network's
moving statistics from training batches, as SWA does; the default) and
`linear_path` (the errors at every point). Pruned weights are 0 in both end
points, so they are exactly 0 at every point of the path. The stage of a search
that trains the copies from a workdir's θk is `stage.py`;
`api.run_instability` is the entry point of the package API.
"""

import numpy as np
import tensorflow as tf
import tf_keras as keras

RECOMPUTED = "recomputed"
INTERPOLATED = "interpolated"
NO_BATCHNORM = "none (no BatchNorm)"


def barrier(errors):
  """Returns max(errors) - mean(first, last) for an error path.

  Args:
    errors: The errors along the path, end points first and last.

  Raises:
    ValueError: for fewer than two points.
  """
  errors = [float(e) for e in errors]
  if len(errors) < 2:
    raise ValueError(f"A path of {len(errors)} points has no two end points.")
  return max(errors) - 0.5 * (errors[0] + errors[-1])


def coefficients(points):
  """Returns the `points` interpolation coefficients 0 .. 1, ends included."""
  if points < 2:
    raise ValueError(f"points={points} must be 2 or more (the end points).")
  return [i / (points - 1) for i in range(points)]


def interpolate(first, second, coefficient):
  """Returns `(1 - coefficient) * first + coefficient * second`, array by array.

  Where both are equal (a pruned weight, 0 in both), the result is exactly
  that value; at 0 and 1 it is exactly `first` and `second`.
  """
  if len(first) != len(second):
    raise ValueError(f"{len(first)} arrays against {len(second)}.")
  alpha = float(coefficient)
  mixed = []
  for a, b in zip(first, second):
    a, b = np.asarray(a), np.asarray(b)
    if alpha == 0.0:
      mixed.append(a.copy())
    elif alpha == 1.0:
      mixed.append(b.copy())
    else:  # equal weights stay exactly as they are
      mixed.append(np.where(a == b, a, (1.0 - alpha) * a + alpha * b).astype(
          a.dtype))
  return mixed


def batchnorm_layers(model):
  """Returns the BatchNormalization layers of `model`, nested ones included."""
  found = []
  for layer in model.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
      found.append(layer)
    elif isinstance(layer, keras.Model):
      found.extend(batchnorm_layers(layer))
  return found


class BatchNormRecomputer:
  """Sets a model's BatchNorm moving statistics from batches of inputs.

  In training mode every BatchNorm layer normalises with its batch's own
  statistics, so one forward pass gives every layer's input. The moving mean
  becomes the mean over all examples of the per-batch means, weighted by
  batch size, and the moving variance the same average of the per-batch
  (biased, as Keras computes them) variances: SWA's `bn_update`, with Keras's
  variance.
  """

  def __init__(self, model):
    self.layers = batchnorm_layers(model)
    self._probe = None
    if self.layers:
      probe = keras.Model(model.inputs, [layer.input for layer in self.layers])
      self._probe = tf.function(lambda x: probe(x, training=True))

  def __call__(self, batches):
    """Recomputes the statistics from `batches`, (inputs, ...) tuples.

    Returns:
      `{layer name: (mean, variance)}` as set.
    """
    if not self.layers:
      return {}
    sums = [None] * len(self.layers)
    count = 0
    for batch in batches:
      inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
      outputs = self._probe(inputs)
      if len(self.layers) == 1:
        outputs = [outputs]
      size = int(tf.shape(inputs)[0])
      for index, (layer, values) in enumerate(zip(self.layers, outputs)):
        rank = len(values.shape)
        channels = [a % rank for a in np.atleast_1d(layer.axis)]
        axes = [a for a in range(rank) if a not in channels]
        mean, variance = tf.nn.moments(tf.cast(values, tf.float64), axes)
        moments = np.stack([mean.numpy(), variance.numpy()]) * size
        sums[index] = moments if sums[index] is None else sums[index] + moments
      count += size
    if not count:
      raise ValueError("No batches to recompute the BatchNorm statistics from.")
    found = {}
    for layer, total in zip(self.layers, sums):
      mean, variance = total / count
      layer.moving_mean.assign(mean.astype(np.float32))
      layer.moving_variance.assign(variance.astype(np.float32))
      found[layer.name] = (mean, variance)
    return found


def error_percent(predict, dataset):
  """Returns the classification error in % of `predict` (inputs -> logits)."""
  wrong = total = 0
  for batch in dataset:
    logits = predict(batch[0])
    labels = tf.cast(batch[1], tf.int64)
    wrong += int(tf.reduce_sum(tf.cast(
        tf.argmax(logits, axis=-1) != labels, tf.int64)))
    total += int(tf.shape(labels)[0])
  return 100.0 * wrong / max(total, 1)


def linear_path(model, first, second, datasets, points=11,
                batchnorm=RECOMPUTED, batchnorm_batches=None, observe=None):
  """Returns the errors of `model` along the line between two weight lists.

  Args:
    model: A tf_keras model; its weights are overwritten.
    first: End point A, arrays in `model.weights` order.
    second: End point B, the same.
    datasets: `{name: dataset of (inputs, labels)}` to measure, e.g.
      `{"test": ..., "train": ...}`.
    points: Points along the path, end points included.
    batchnorm: `recomputed` (each point's moving statistics from
      `batchnorm_batches`) or `interpolated` (as any weight).
    batchnorm_batches: Training batches for `recomputed` (a dataset of
      (inputs, labels)); required when the model has BatchNorm layers.
    observe: Optional `fn(coefficient, model)`, called at each point once its
      weights (and statistics) are set, before it is measured.

  Returns:
    `{"coefficients": [...], "errors": {name: [...]}, "barriers": {name: b},
    "batchnorm": what ran}` (the mode, or `none (no BatchNorm)`).

  Raises:
    ValueError: for an unknown `batchnorm`, or `recomputed` without batches.
  """
  if batchnorm not in (RECOMPUTED, INTERPOLATED):
    raise ValueError(f"batchnorm={batchnorm!r} is not {RECOMPUTED!r} or "
                     f"{INTERPOLATED!r}.")
  recompute = BatchNormRecomputer(model) if batchnorm == RECOMPUTED else None
  has_batchnorm = bool(batchnorm_layers(model))
  if recompute is not None and has_batchnorm and batchnorm_batches is None:
    raise ValueError("batchnorm='recomputed' needs batchnorm_batches, the "
                     "training batches to recompute the statistics from.")
  predict = tf.function(lambda x: model(x, training=False))
  alphas = coefficients(points)
  errors = {name: [] for name in datasets}
  for alpha in alphas:
    model.set_weights(interpolate(first, second, alpha))
    if recompute is not None and has_batchnorm:
      recompute(batchnorm_batches)
    if observe is not None:
      observe(alpha, model)
    for name, dataset in datasets.items():
      errors[name].append(error_percent(predict, dataset))
  return {"coefficients": alphas, "errors": errors,
          "barriers": {name: barrier(path) for name, path in errors.items()},
          "batchnorm": batchnorm if has_batchnorm else NO_BATCHNORM}


def choose_step(rows, threshold):
  """Returns the earliest stable row of the dense network, or None.

  Args:
    rows: Instability rows (`start_step`, `barrier`, `level`).
    threshold: The largest barrier (points) that counts as stable.
  """
  dense = sorted((r for r in rows if r.get("level", 0) == 0),
                 key=lambda r: r["start_step"])
  for row in dense:
    if row["barrier"] <= threshold:
      return row
  return None

