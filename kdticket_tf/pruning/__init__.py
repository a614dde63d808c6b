"""Pruning: fixed-mask TF-MOT wrappers, magnitude and random masks, level masks."""

from kdticket_tf.pruning import masks
from kdticket_tf.pruning import wrapper
