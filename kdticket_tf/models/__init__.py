"""Model registry: name -> builder `fn(config, input_shape, num_classes)`.

Every builder returns an uncompiled functional `tf_keras` model that outputs
logits from a Dense layer named `logits`; layer names are explicit so weights and
masks files are readable and `keep_dense` patterns are stable.
"""

from kdticket_tf import registry

_REGISTRY = registry.Registry("model")
register = _REGISTRY.register
get = _REGISTRY.get
names = _REGISTRY.names


def build(config, input_shape, num_classes):
  """Builds the model of `config` (a `ModelConfig`)."""
  return get(config.name)(config, tuple(input_shape), int(num_classes))


# pylint: disable=g-import-not-at-top,wrong-import-position
from kdticket_tf.models import lenet  # registers lenet_300_100, conv2/4/6
from kdticket_tf.models import resnet  # registers resnet_cifar, resnet50
from kdticket_tf.models import vgg  # registers vgg16, vgg19
