"""MNIST-style normalisation: one crop of one digit becomes one model input.

MNIST's digits were made this way: the ink's bounding box scaled (aspect kept)
to fit a 20x20 box, anti-aliased, and placed in a 28x28 black field so that its
centre of mass sits at the centre. Training augmentation, calibration, `eval` on
external images and the runtime all call `normalize_digit`, so a digit cut out
of a photo reaches the model looking like the digits it learned from.

One addition: a pen much thinner than MNIST's strokes (relative to the digit's
size) is thickened before scaling, because MNIST has no hairline digits.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgedigits.contract import IMAGE_SIZE

DIGIT_BOX = 20  # MNIST: the ink fits a 20x20 box inside the 28x28 field
MIN_STROKE = 2.0  # stroke width, in pixels of the 20x20 box, below which a digit is thickened
# (MNIST's strokes measure 2.0 to 3.2 by the same estimate, median 2.2)
INK_LEVEL = 128  # grey-level crops (MNIST's own) count as ink from here up when measuring strokes


def stroke_width(mask: np.ndarray) -> float:
    """Estimated stroke width of a binary ink mask, in pixels.

    A stroke of width w and length L has area w*L and about 2*L boundary pixels,
    so w = 2 * area / boundary. (It cannot see below 2 pixels: every pixel is then boundary.)
    """
    mask = cv2.threshold(mask, INK_LEVEL - 1, 255, cv2.THRESH_BINARY)[1]
    boundary = cv2.countNonZero(cv2.subtract(mask, cv2.erode(mask, None)))
    return 2.0 * cv2.countNonZero(mask) / boundary if boundary else 0.0


def thicken(mask: np.ndarray, scale: float) -> np.ndarray:
    """Dilate `mask` so that its strokes are at least MIN_STROKE wide once scaled by `scale`."""
    missing = MIN_STROKE / scale - stroke_width(mask)
    radius = round(missing / 2)
    if radius < 1:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask, kernel)


def normalize_digit(ink: np.ndarray) -> np.ndarray:
    """A crop with bright ink on black (uint8, any size) -> float32 [28, 28] in [0, 1], MNIST-style.

    Raises ValueError for a crop without ink.
    """
    if ink.ndim != 2:
        raise ValueError(f"expected a 2-D crop, got shape {ink.shape}")
    left, top, width, height = cv2.boundingRect(ink)
    if width == 0:
        raise ValueError("the crop holds no ink")
    # Pad by a few pixels so that thickening has room to grow.
    pad = 2 + max(width, height) // 8
    crop = cv2.copyMakeBorder(ink[top : top + height, left : left + width], pad, pad, pad, pad,
                              cv2.BORDER_CONSTANT, value=0)
    scale = DIGIT_BOX / max(height, width)
    crop = thicken(crop, scale)

    # Scale the padded crop; anti-aliased when shrinking, smooth when growing.
    new_size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(crop, new_size, interpolation=interpolation).astype(np.float32)

    # Centre of mass to the centre of the 28x28 field (sub-pixel, bilinear).
    moments = cv2.moments(small)
    if moments["m00"] <= 0:
        raise ValueError("the crop holds no ink")
    centre_x, centre_y = moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]
    shift = np.float32([[1, 0, IMAGE_SIZE / 2 - centre_x], [0, 1, IMAGE_SIZE / 2 - centre_y]])
    field = cv2.warpAffine(small, shift, (IMAGE_SIZE, IMAGE_SIZE), flags=cv2.INTER_LINEAR, borderValue=0)
    return np.clip(field / 255.0, 0.0, 1.0).astype(np.float32)
