"""The registered architectures, built by name.

Importing this module imports every builder module, which registers its models
in `catalog`: `lenet_300_100`, `conv2`, `conv4`, `conv6` (`lenet`),
`resnet_cifar`, `resnet50` (`resnet`), `vgg16`, `vgg19` (`vgg`), `mlp1d`,
`conv1d`, `resnet1d` (`onedim`, for 1-D inputs). Every builder
returns an uncompiled functional `tf_keras` model that outputs logits from a
Dense layer named `logits`; layer names are explicit so weights and masks files
are readable and `keep_dense` patterns are stable.
"""

from kdticket_tf.models import catalog
from kdticket_tf.models import lenet  # pylint: disable=unused-import
from kdticket_tf.models import onedim  # pylint: disable=unused-import
from kdticket_tf.models import resnet  # pylint: disable=unused-import
from kdticket_tf.models import vgg  # pylint: disable=unused-import

get = catalog.get
names = catalog.names
register = catalog.register


def build(config, input_shape, num_classes):
  """Builds the model of `config` (a `ModelConfig`)."""
  return catalog.get(config.name)(config, tuple(input_shape), int(num_classes))
