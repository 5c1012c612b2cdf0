"""Keras layers of our own, registered so that saved models load without extra arguments."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="edgedigits")
class DepthToSpace(keras.layers.Layer):
    """[N, H, W, C * b * b] -> [N, H * b, W * b, C] (ONNX DepthToSpace): a sub-pixel output layer."""

    def __init__(self, block: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.block = block

    def call(self, inputs):
        return tf.nn.depth_to_space(inputs, self.block)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        grow = lambda size: None if size is None else size * self.block  # noqa: E731
        return (n, grow(h), grow(w), None if c is None else c // (self.block * self.block))

    def get_config(self):
        return {**super().get_config(), "block": self.block}
