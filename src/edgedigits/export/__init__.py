"""Export (tf2onnx): Keras models to ONNX, kept only when parity on the MNIST test set holds.

TensorFlow loads in `edgedigits.export.onnx_export`; `parity` is numpy only.
"""
