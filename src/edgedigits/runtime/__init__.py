"""The runtime that goes to the edge: onnxruntime and numpy only, never TensorFlow.

Usage:
    from edgedigits.runtime import open_model
    model = open_model("models/cnn.onnx", device="auto")   # auto | cpu | cuda
    probabilities = model.predict(images)                  # [N, 28, 28, 1] -> [N, 10]
"""

from edgedigits.runtime.session import DEVICES, Model, open_model

__all__ = ["DEVICES", "Model", "open_model"]
