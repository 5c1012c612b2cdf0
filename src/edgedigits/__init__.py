"""edgedigits: an ONNX edge-deployment toolkit for handwritten digits.

Stages (one subpackage each): data -> train -> export -> calibration -> runtime.
Only `data` and `runtime` are light: neither imports TensorFlow, tf2onnx or matplotlib.
"""

from edgedigits.errors import EdgeDigitsError

__version__ = "0.1.0"

__all__ = ["EdgeDigitsError", "__version__"]
