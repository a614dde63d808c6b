"""Training streams: seeded, resumable streams of training batches.

A training stream is an endless `tf.data.Dataset` of batches that can start at
any optimizer step: epoch e is shuffled with the stateless seed (seed, e), so the
batches from step s onwards are the same whether the run started at 0 or resumed
at s. That is what makes rewinding (retrain from step k) and resuming after a
crash see exactly the data order of an uninterrupted run.

* `ArrayStream`: the registered datasets' in-memory arrays, reshuffled (and
  augmented) per epoch from the seed;
* `DatasetStream`: a user's `tf.data` pipeline, one pass per epoch; its
  docstring says what it guarantees.

Both give `stream(start_step, steps)`, `steps_per_epoch`, `ordered()` (one pass
in order, unaugmented) and `raw_examples(count)`; `pipeline.LotteryData` holds
one as its `train`.
"""

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
_MAX_EPOCHS = 2**40
# Inputs gathered per op by a training stream (see ArrayStream.stream).
_CHUNK_BYTES = 32 * 2**20


class ArrayStream:
  """Training batches from in-memory arrays, reshuffled per epoch by seed."""

  def __init__(self, images, labels, batch_size, seed, preprocess,
               augment=None):
    """Creates the stream.

    Args:
      images: NumPy array [N, ...] of raw inputs (for example uint8 pixels).
      labels: NumPy integer array [N].
      batch_size: Global batch size; the last partial batch of an epoch is
        dropped so every step has the same shape.
      seed: Seed of the per-epoch shuffles and augmentations.
      preprocess: Function of a batch of raw inputs to model inputs.
      augment: Optional function (raw batch, stateless seed [2]) -> raw batch.

    Raises:
      ValueError: if there are fewer examples than one batch.
    """
    if len(images) != len(labels):
      raise ValueError(f"{len(images)} images but {len(labels)} labels.")
    if len(images) < batch_size:
      raise ValueError(
          f"DataConfig.batch_size={batch_size} is larger than the {len(images)} training "
          "examples; lower DataConfig.batch_size.")
    self._raw_images = tf.constant(images)
    self._labels = tf.constant(labels.astype(np.int64))
    self.num_examples = len(images)
    self.batch_size = batch_size
    self.steps_per_epoch = len(images) // batch_size
    self._seed = int(seed)
    self._preprocess = preprocess
    self._augment = augment
    # Without augmentation the model inputs are the same every epoch:
    # preprocess once, so a training batch costs one gather, no arithmetic.
    # With it, each batch is augmented, then preprocessed (`_augmented`).
    self._images = (preprocess(self._raw_images) if augment is None
                    else self._raw_images)
    self.augmented = augment is not None
    self._extra = None

  def with_extra(self, extra):
    """Returns a copy whose batches carry `{"teacher_logits": extra[index]}`.

    Used for cached teacher logits: `extra` holds one row per training example
    in array order (see `ordered`), gathered with the same indices as the batch.

    Raises:
      ValueError: if the stream is augmented (per-step inputs differ from the
        cached ones) or `extra` has the wrong length.
    """
    self.check_extra_allowed()
    if len(extra) != self.num_examples:
      raise ValueError(
          f"Got {len(extra)} cached rows for {self.num_examples} examples.")
    copy = object.__new__(ArrayStream)
    copy.__dict__.update(self.__dict__)
    copy._extra = tf.constant(extra)  # pylint: disable=protected-access
    return copy

  def with_seed(self, seed):
    """Returns a copy whose epochs are shuffled (and augmented) from `seed`.

    Everything else (examples, batch size, preprocessing) is shared; the
    instability analysis trains its two copies on two such data orders.
    """
    copy = object.__new__(ArrayStream)
    copy.__dict__.update(self.__dict__)
    copy._seed = int(seed)  # pylint: disable=protected-access
    return copy

  def check_extra_allowed(self):
    """Raises ValueError if per-example data cannot ride with the batches."""
    if self.augmented:
      raise ValueError(
          "Teacher logits cannot be cached for a training set with random "
          "augmentation: set DistillConfig.cache_teacher_logits=False, or "
          "DataConfig.augment=False.")

  def _epoch(self, epoch):
    perm = tf.random.experimental.stateless_shuffle(
        tf.range(self.num_examples, dtype=tf.int64),
        seed=tf.stack([tf.constant(self._seed, tf.int64), epoch]))
    used = self.steps_per_epoch * self.batch_size
    index = tf.reshape(perm[:used], [self.steps_per_epoch, self.batch_size])
    steps = epoch * self.steps_per_epoch + tf.range(self.steps_per_epoch,
                                                     dtype=tf.int64)
    return tf.data.Dataset.from_tensor_slices((steps, index))

  def _chunk_steps(self):
    """Steps gathered by one op: about `_CHUNK_BYTES` of inputs, 1 to 64 steps."""
    row_bytes = (self._images.dtype.size *
                 int(np.prod(self._images.shape[1:], dtype=np.int64)))
    return int(np.clip(_CHUNK_BYTES // max(1, row_bytes * self.batch_size),
                       1, 64))

  def _gather(self, steps, index):
    """Gathers a chunk of batches: index [steps, batch] -> arrays [steps, batch, ...].

    The step numbers stay with the batches only where augmentation needs them
    as seeds.
    """
    gathered = (tf.gather(self._images, index), tf.gather(self._labels, index))
    if self._extra is not None:
      gathered += ({"teacher_logits": tf.gather(self._extra, index)},)
    return gathered if self._augment is None else (steps,) + gathered

  def _augmented(self, step, images, labels, *extra):
    images = self._augment(
        images, tf.stack([tf.constant(self._seed + 1, tf.int64), step]))
    return (self._preprocess(images), labels) + extra

  def stream(self, start_step=0, steps=None):
    """Returns the endless batch stream beginning at optimizer step `start_step`.

    `steps` (the batches the caller takes) is not needed: the stream is
    endless.

    Batches are gathered a chunk of steps at a time, one gather op per chunk
    with two chunks in flight beside training, and then handed out one by one
    as slices of the chunk (aligned slices share its memory). Per batch, the
    pipeline does no work and wakes no thread: on two cores a 2 ms LeNet step
    lost 5-10% to per-batch gathers, prefetch hand-offs and tf.data's
    autotuner, which is off here since this pipeline's shape is fixed.
    """
    del steps
    first_epoch, skip = divmod(int(start_step), self.steps_per_epoch)
    dataset = tf.data.Dataset.range(first_epoch, _MAX_EPOCHS).flat_map(
        self._epoch).skip(skip).batch(self._chunk_steps())
    dataset = dataset.map(self._gather, num_parallel_calls=2,
                          deterministic=True)
    dataset = dataset.flat_map(
        lambda *chunk: tf.data.Dataset.from_tensor_slices(chunk))
    if self._augment is not None:
      dataset = dataset.map(self._augmented, num_parallel_calls=AUTOTUNE,
                            deterministic=True)
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)

  def raw_examples(self, count):
    """Returns the first `count` raw training inputs as a NumPy array."""
    return self._raw_images[:count].numpy()

  def ordered(self, batch_size=None):
    """Returns one pass over the training set in order, preprocessed, unaugmented."""
    dataset = tf.data.Dataset.from_tensor_slices((self._raw_images,
                                                  self._labels))
    dataset = dataset.batch(batch_size or self.batch_size)
    return dataset.map(lambda x, y: (self._preprocess(x), y),
                       num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


class DatasetStream:
  """Training batches from a user's `tf.data` pipeline, one pass per epoch.

  What a resumed or rewound training sees, against an uninterrupted one:

  * Given a function of the epoch, `fn(epoch) -> dataset` (epoch a Python
    int, so `ds.shuffle(n, seed=epoch)` works under any global seed), epoch
    e's batches are `fn(e)`'s, wherever the stream starts. When `fn` is
    deterministic per epoch (a shuffle seeded from the epoch, stateless
    random ops), a training resumed after a crash or rewound to step k sees
    exactly the batches of an uninterrupted run from that step.
  * Given a dataset, each epoch iterates it afresh. If it yields the same order
    on every iteration (no shuffle, or `reshuffle_each_iteration=False`), the
    same holds. If it reshuffles on each iteration, an epoch's order depends
    on how often the process iterated it before: resumed and rewound
    trainings see each epoch's examples in another order than an
    uninterrupted run (the same examples, one pass per epoch).
  """

  def __init__(self, dataset, steps_per_epoch=None, augmented=True):
    """Creates the stream.

    Args:
      dataset: A finite, batched dataset of (inputs, labels) or (inputs,
        labels, sample weights), iterated once per epoch; or a function of the
        epoch that returns that epoch's dataset.
      steps_per_epoch: Batches per epoch; counted once when not given.
      augmented: Whether the dataset applies random augmentation.

    Raises:
      ValueError: if the dataset is empty or infinite without steps_per_epoch.
    """
    self._epoch_fn = (dataset if callable(dataset) and
                      not isinstance(dataset, tf.data.Dataset)
                      else (lambda epoch: dataset))
    if steps_per_epoch is None:
      first = self._epoch_fn(0)
      cardinality = int(first.cardinality())
      if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            "train_data is infinite; pass steps_per_epoch or give a finite "
            "dataset (one epoch).")
      if cardinality < 0:
        cardinality = sum(1 for _ in first)
      steps_per_epoch = cardinality
    if steps_per_epoch < 1:
      raise ValueError("The training dataset is empty.")
    self.steps_per_epoch = int(steps_per_epoch)
    self.augmented = augmented

  def stream(self, start_step=0, steps=None):
    """Returns the batch stream beginning at optimizer step `start_step`.

    The epoch function is called with each epoch's number as a Python int,
    for the epochs that `steps` batches from `start_step` reach.

    Args:
      start_step: The optimizer step of the first batch.
      steps: Batches the caller takes (default: to the end of the epoch of
        `start_step`, and one more epoch).

    Returns:
      `steps` batches of the epochs, concatenated, from `start_step` on.
    """
    first_epoch, skip = divmod(int(start_step), self.steps_per_epoch)
    if steps is None:
      steps = 2 * self.steps_per_epoch - skip
    epochs = [self._epoch_fn(epoch).take(self.steps_per_epoch)
              for epoch in range(first_epoch, first_epoch + -(
                  -(skip + int(steps)) // self.steps_per_epoch))]
    while len(epochs) > 1:  # a balanced tree: nesting grows as log(epochs)
      epochs = [a.concatenate(b) for a, b in zip(epochs[::2], epochs[1::2])
                ] + epochs[len(epochs) // 2 * 2:]
    return epochs[0].skip(skip).take(steps).prefetch(AUTOTUNE)

  def raw_examples(self, count):
    """Returns the first `count` inputs of epoch 0 (the model's own inputs)."""
    images = []
    for batch in self.ordered():
      images.extend(np.asarray(batch[0] if isinstance(batch, tuple) else batch))
      if len(images) >= count:
        break
    return np.stack(images[:count])

  def ordered(self, batch_size=None):
    """Returns one pass over the dataset as given (epoch 0's)."""
    del batch_size
    return self._epoch_fn(0)

  def check_extra_allowed(self):
    """Raises ValueError: cached per-example data needs in-memory arrays."""
    raise ValueError(
        "Teacher logits can only be cached for in-memory datasets (the "
        "registered ones), not for a tf.data training set; set "
        "DistillConfig.cache_teacher_logits=False.")

  def with_extra(self, extra):
    """Cached per-example data needs in-memory arrays; this stream has none."""
    del extra
    self.check_extra_allowed()
