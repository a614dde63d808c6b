"""Models: the registry of architectures and their builders.

`build(config, input_shape, num_classes)` builds a registered model (see
`architectures`); `catalog` is the registry builders add themselves to.

A user's own model comes as `ModelConfig.name='package.module:function'`
(the trainer's model flag), a function

    def my_model(input_shape: tuple[int, ...], num_classes: int) -> keras.Model

returning a fresh, uncompiled Sequential or functional model with one input of
`input_shape` and one output of logits `[batch, num_classes]`
(`user_function` imports it, once; the search checks it like any model).
"""

from kdticket_tf.models.architectures import build
from kdticket_tf.models.architectures import get
from kdticket_tf.models.architectures import names
from kdticket_tf.models.architectures import register
