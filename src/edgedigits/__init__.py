"""edgedigits: an ONNX edge-deployment toolkit for handwritten digits.

Stages (one subpackage each): data -> train -> export -> calibration -> runtime.
Only `data` and `runtime` are light: neither imports TensorFlow, tf2onnx or matplotlib.
"""

import os

# OpenCV's own limit on the pixels it will decode, set before anything imports cv2 (OpenCV reads it once): a
# format whose header the runtime does not parse still cannot decode into gigabytes. 50 MP, as
# `edgedigits.runtime.inputs.MAX_PIXELS`; a value the user set is kept.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(50_000_000))
# OpenCV's own warnings (a TIFF tag it skips, a frame FFmpeg drops) would interleave with the records on stderr;
# every problem that matters to a user becomes that input's error record instead.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

from edgedigits.errors import EdgeDigitsError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["EdgeDigitsError", "__version__"]
