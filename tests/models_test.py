"""Tests of the model registry: shapes, parameter counts, wrapping."""

import tensorflow as tf
from absl.testing import parameterized

from kdticket_tf import config
from kdticket_tf import models
from kdticket_tf.pruning import wrapper


def _build(name, shape=(32, 32, 3), classes=10, **kwargs):
  return models.build(config.ModelConfig(name=name, **kwargs), shape, classes)


class ModelsTest(tf.test.TestCase, parameterized.TestCase):

  def test_lenet_parameter_count(self):
    # 784*300+300 + 300*100+100 + 100*10+10
    self.assertEqual(_build("lenet_300_100", (28, 28, 1)).count_params(), 266610)

  @parameterized.parameters(
      # He et al.: ResNet-20 0.27M, ResNet-56 0.85M, ResNet-110 1.7M.
      (20, "basic", 0.26e6, 0.28e6),
      (56, "basic", 0.84e6, 0.87e6),
      (110, "basic", 1.70e6, 1.74e6),
  )
  def test_resnet_cifar_sizes(self, depth, block, low, high):
    model = _build("resnet_cifar", depth=depth, block=block)
    self.assertBetween(model.count_params(), low, high)

  def test_bottleneck_resnet_has_three_convs_per_block(self):
    model = _build("resnet_cifar", depth=56, block="bottleneck")
    convs = [l for l in model.layers if l.name.startswith("stage1_block1_conv")]
    self.assertLen(convs, 3)
    self.assertEqual(model.output_shape, (None, 10))
    # 18 blocks of 3 convs + stem + 3 projection shortcuts + classifier
    self.assertLen(wrapper.pruning_layers(wrapper.wrap_model(model)), 59)

  @parameterized.parameters("conv2", "conv4", "conv6", "vgg16", "vgg19")
  def test_cifar_models_output_logits(self, name):
    model = _build(name, classes=100)
    self.assertEqual(model.output_shape, (None, 100))
    self.assertEqual(model.layers[-1].name, "logits")

  def test_resnet50_parameter_count(self):
    # The standard ResNet-50 has 25,557,032 trainable parameters.
    model = _build("resnet50", (224, 224, 3), 1000)
    trainable = sum(int(tf.size(w)) for w in model.trainable_weights)
    self.assertEqual(trainable, 25557032)

  def test_unknown_model_lists_choices(self):
    with self.assertRaisesRegex(ValueError, "name='resnet'.*lenet_300_100"):
      _build("resnet")


if __name__ == "__main__":
  tf.test.main()
