"""The runtime that goes to the edge: onnxruntime, OpenCV and numpy only, never TensorFlow.

Usage:
    from edgedigits.runtime import Reader
    reader = Reader("models/cnn.int8.onnx", device="auto")   # auto | cpu | cuda
    reading = reader.read(image)        # BGR or gray numpy image
    reading.text                        # "2017" ("20?7" where a digit is unsure)
    reading.lines                       # ["2017"] top to bottom
    reading.digits                      # [Digit(value, confidence, box, line), ...]
"""

from edgedigits.runtime.reader import Digit, Reader, Reading
from edgedigits.runtime.session import DEVICES, Model, open_model

__all__ = ["DEVICES", "Digit", "Model", "Reader", "Reading", "open_model"]
