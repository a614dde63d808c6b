"""Models: the registry of architectures and their builders.

`build(config, input_shape, num_classes)` builds a registered model (see
`architectures`); `catalog` is the registry builders add themselves to.
"""

from kdticket_tf.models.architectures import build
from kdticket_tf.models.architectures import get
from kdticket_tf.models.architectures import names
from kdticket_tf.models.architectures import register
