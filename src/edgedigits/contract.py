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
