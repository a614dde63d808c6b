"""Pruning: fixed-mask TF-MOT wrappers, magnitude and random masks, weight files."""

from kdticket_tf.pruning import masks
from kdticket_tf.pruning import weights
from kdticket_tf.pruning import wrapper
