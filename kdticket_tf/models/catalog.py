"""The model registry: name -> builder `fn(config, input_shape, num_classes)`.

Builder modules (`lenet`, `resnet`, `vgg`) register themselves here;
`architectures` imports them all and builds a model by name.
"""

from kdticket_tf import registry

_REGISTRY = registry.Registry("model", "ModelConfig.name")
register = _REGISTRY.register
get = _REGISTRY.get
names = _REGISTRY.names
