"""Keras layers of our own, registered so that saved models load without extra arguments."""

from __future__ import annotations

import keras
import tensorflow as tf


class BlockLayer(keras.layers.Layer):
    """A layer that changes height and width by a whole factor `block` (saved in its config)."""

    def __init__(self, block: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.block = block

    def grow(self, size):
        return None if size is None else size * self.block

    def get_config(self):
        return {**super().get_config(), "block": self.block}


@keras.saving.register_keras_serializable(package="edgedigits")
class DepthToSpace(BlockLayer):
    """[N, H, W, C * b * b] -> [N, H * b, W * b, C] (ONNX DepthToSpace): a sub-pixel output layer."""

    def call(self, inputs):
        return tf.nn.depth_to_space(inputs, self.block)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, self.grow(h), self.grow(w), None if c is None else c // (self.block * self.block))


@keras.saving.register_keras_serializable(package="edgedigits")
class NearestUp(BlockLayer):
    """[N, H, W, C] -> [N, H * b, W * b, C], each pixel repeated b x b times: UpSampling2D's nearest neighbour,
    written as the one op that tf2onnx turns into one ONNX Resize (asymmetric coordinates, floor: pixel i of the
    output is pixel i // b of the input). Keras's UpSampling2D exports as Shape, Tile and Reshape steps per axis."""

    def call(self, inputs):
        size = tf.shape(inputs)[1:3] * self.block
        return tf.raw_ops.ResizeNearestNeighbor(images=inputs, size=size, align_corners=False, half_pixel_centers=False)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, self.grow(h), self.grow(w), c)


def export_form(model):
    """The same network, layer for layer and weight for weight, in layers that tf2onnx exports as single ONNX ops:
    a dilated depthwise convolution becomes an undilated one whose kernel holds the same weights d pixels apart
    and zeros between them (TensorFlow computes the dilated one through SpaceToBatch and BatchToSpace, which
    tf2onnx cannot fold into a dilated Conv when height and width are dynamic: some sixty small ops each), and
    nearest-neighbour UpSampling2D becomes `NearestUp`. The output is the same (the zeros add nothing). Only for
    export: training keeps the dilated kernels, whose zeros must stay zero."""
    import numpy as np

    def dilated(layer) -> bool:
        return isinstance(layer, keras.layers.DepthwiseConv2D) and max(layer.dilation_rate) > 1

    def clone(layer):
        config = layer.get_config()
        if dilated(layer):
            spans = [(size - 1) * rate + 1 for size, rate in zip(layer.kernel_size, layer.dilation_rate)]
            return keras.layers.DepthwiseConv2D.from_config(config | {"kernel_size": tuple(spans), "dilation_rate": (1, 1)})
        if isinstance(layer, keras.layers.UpSampling2D) and layer.interpolation == "nearest" and len(set(layer.size)) == 1:
            return NearestUp(layer.size[0], name=layer.name)
        return layer.__class__.from_config(config)

    exported = keras.models.clone_model(model, clone_function=clone)
    for layer, twin in zip(model.layers, exported.layers):
        weights = layer.get_weights()
        if dilated(layer):
            rows, columns = layer.dilation_rate
            kernel = np.zeros(twin.get_weights()[0].shape, weights[0].dtype)
            kernel[::rows, ::columns] = weights[0]
            weights = [kernel, *weights[1:]]
        twin.set_weights(weights)
    return exported
