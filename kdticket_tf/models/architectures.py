"""The registered architectures, built by name.

Importing this module imports every builder module, which registers its models
in `catalog`: `lenet_300_100`, `conv2`, `conv4`, `conv6` (`lenet`),
`resnet_cifar`, `resnet50` (`resnet`), `vgg16`, `vgg19` (`vgg`), `mlp1d`,
`conv1d`, `resnet1d` (`onedim`, for 1-D inputs). Every builder
returns an uncompiled functional `tf_keras` model that outputs logits from a
Dense layer named `logits`; layer names are explicit so weights and masks files
are readable and `keep_dense` patterns are stable.

A name with a colon, `package.module:function`, is a user's own model
function instead (`user_function`): `get` imports it, `build` calls it.
"""

from kdticket_tf.models import catalog
from kdticket_tf.models import lenet  # pylint: disable=unused-import
from kdticket_tf.models import onedim  # pylint: disable=unused-import
from kdticket_tf.models import resnet  # pylint: disable=unused-import
from kdticket_tf.models import user_function
from kdticket_tf.models import vgg  # pylint: disable=unused-import

names = catalog.names
register = catalog.register


def get(name):
  """Returns the builder `fn(config, input_shape, num_classes)` of `name`.

  Args:
    name: A registered architecture, or `package.module:function` (imported
      now, so that a bad one fails before any data is read).

  Raises:
    ValueError: naming the value and what is accepted.
  """
  if user_function.is_function_name(name):
    return user_function.builder(name)
  if name not in catalog.names():
    raise ValueError(
        f"ModelConfig.name={name!r} is unknown; choose one of: "
        f"{', '.join(catalog.names())}, or {user_function.ACCEPTED}.")
  return catalog.get(name)


def build(config, input_shape, num_classes):
  """Builds the model of `config` (a `ModelConfig`)."""
  return get(config.name)(config, tuple(input_shape), int(num_classes))
