"""edgedigits: an ONNX edge-deployment toolkit for handwritten digits.

Stages (one subpackage each): data -> train -> export -> calibration -> runtime.
Only `data` and `runtime` are light: neither imports TensorFlow, tf2onnx or matplotlib.
"""

import os

# OpenCV's own limit on the pixels it will decode, set before anything imports cv2 (OpenCV reads it once): a
# format whose header the runtime does not parse still cannot decode into gigabytes. 50 MP, as
# `edgedigits.runtime.inputs.MAX_PIXELS`; a value the user set is kept.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(50_000_000))

from edgedigits.errors import EdgeDigitsError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["EdgeDigitsError", "__version__"]
