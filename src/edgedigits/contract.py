"""The model contract: the one outside every edgedigits model has.

Whatever its inside, a model takes `image`, float32 [N, 28, 28, 1] (NHWC, pixels in
[0, 1], white ink on black, normalised like MNIST) and returns `probabilities`,
float32 [N, 10] (softmax). Training, export, calibration, evaluation and the
runtime all read these names from here.
"""

from __future__ import annotations

import numpy as np

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
IMAGE_SIZE = 28  # MNIST's field, in pixels
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)  # one example, without the batch axis
NUM_CLASSES = 10
# Bumped whenever the meaning of an input pixel changes, so that a model and the
# code that feeds it can tell whether they agree.
PREPROCESSING_VERSION = "1"


def to_model_input(images: np.ndarray) -> np.ndarray:
    """Turn uint8 images [N, 28, 28] (or [N, 28, 28, 1]) into the model's float32 input."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {images.dtype}")
    if images.shape[1:] not in ((IMAGE_SIZE, IMAGE_SIZE), INPUT_SHAPE):
        raise ValueError(f"expected images of shape [N, 28, 28] or [N, 28, 28, 1], got {list(images.shape)}")
    return (images.reshape(-1, *INPUT_SHAPE).astype(np.float32)) / np.float32(255)


# --- The ink segmenter's contract (a second kind of model: edgedigits.train.inkseg) ----------------
#
# It takes `photo`, float32 [N, H, W, 3]: the photo in BGR order (as OpenCV reads it), shrunk so
# that its longer side is INK_LONG_SIDE pixels, its light flattened (each pixel divided by the local
# paper colour, the paper at 0.75: `edgedigits.runtime.inkmask.flatten_light`; the model's metadata
# says so with light=INK_LIGHT; without it, plain pixels / 255), in [0, 1], and padded (edge pixels
# repeated) to multiples of INK_MULTIPLE; H and W are dynamic. It returns `ink`, float32 [N, H, W, 1]: the
# probability that each pixel is the ink of a handwritten digit (not paper, lines, desk or clutter).
INK_INPUT_NAME = "photo"
INK_OUTPUT_NAME = "ink"
INK_LONG_SIDE = 320
INK_MULTIPLE = 16  # four stride-2 stages deep
INK_LIGHT = "flattened"  # the `light` metadata of a segmenter that takes flattened photos
INK_KIND = "inkseg"  # the `kind` of its index.json entries (digit classifiers have none)


# --- The sequence model's contract (runs of touching digits: edgedigits.train.sequence) ------------
#
# It takes `strip`, float32 [N, 32, W, 1]: a run of digits as the runtime's mask shows it, white ink on
# black in [0, 1], scaled to SEQ_INK_HEIGHT pixels tall and centred; W dynamic, a multiple of SEQ_STRIDE.
# It returns `columns`, float32 [N, W / SEQ_STRIDE, 11]: per column, the probabilities of the digits 0-9
# and of the CTC blank (index SEQ_BLANK). No CTC layer is in the graph: decoding is greedy, in numpy.
SEQ_INPUT_NAME = "strip"
SEQ_OUTPUT_NAME = "columns"
SEQ_HEIGHT = 32
SEQ_INK_HEIGHT = 24
SEQ_STRIDE = 4
SEQ_BLANK = 10
SEQ_KIND = "sequence"
