"""Training augmentation that looks like what the runtime hands a model.

A digit cut out of a photo differs from an MNIST digit in slant, size, pen
width, blur and how well it was cut. Each training image is distorted that way
at twice MNIST's resolution, then brought back through the same
`normalize_digit` the runtime uses, so the model learns from crops like the ones
it will see. MNIST's training set is the only source of digits.

Usage:
    augmenter = Augmenter(seed=0)
    batch = augmenter.batch(x_train[:256])       # uint8 [N, 28, 28] -> float32 [N, 28, 28, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgedigits.contract import INPUT_SHAPE
from edgedigits.runtime.normalize import normalize_digit

UPSCALE = 2  # distort at 56x56, where a pen-width change of one pixel is half an MNIST pixel


@dataclass(frozen=True)
class AugmentConfig:
    rotation_degrees: float = 12.0
    shear: float = 0.25  # horizontal shear factor, both ways
    scale: tuple[float, float] = (0.85, 1.15)  # aspect changes: the box is re-fitted by normalisation
    stroke_pixels: tuple[int, int] = (-1, 3)  # erode (thinner) or dilate (thicker), in 56x56 pixels
    blur_probability: float = 0.3
    cut_probability: float = 0.15  # a crop that lost a strip at one side
    ink_level: tuple[int, int] = (80, 170)  # threshold that turns the distorted digit into a binary mask
    shift_pixels: float = 1.5  # off-centre after normalisation, in whole 28x28 pixels (never enough to wrap ink)
    keep_probability: float = 0.15  # share of images left as MNIST made them


class Augmenter:
    def __init__(self, config: AugmentConfig = AugmentConfig(), seed: int = 0):
        self.config, self.rng = config, np.random.default_rng(seed)

    def distort(self, image: np.ndarray) -> np.ndarray:
        """One uint8 28x28 digit -> one float32 28x28 model input."""
        config, rng = self.config, self.rng
        if rng.random() < config.keep_probability:
            return image.astype(np.float32) / 255
        size = 28 * UPSCALE
        big = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
        transform = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-1, 1) * config.rotation_degrees, 1.0)
        transform[:, :2] = transform[:, :2] @ np.array([[rng.uniform(*config.scale), rng.uniform(-1, 1) * config.shear],
                                                           [0, rng.uniform(*config.scale)]])
        transform[:, 2] += np.array([size / 2, size / 2]) - transform[:, :2] @ np.array([size / 2, size / 2])
        big = cv2.warpAffine(big, transform, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
        stroke = int(rng.integers(config.stroke_pixels[0], config.stroke_pixels[1] + 1))
        if stroke:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(stroke) + 1,) * 2)
            big = cv2.dilate(big, kernel) if stroke > 0 else cv2.erode(big, kernel)
        if rng.random() < config.blur_probability:
            big = cv2.GaussianBlur(big, (0, 0), rng.uniform(0.5, 1.5))
        if rng.random() < config.cut_probability:
            self.cut_one_side(big)
        # The runtime's crops are binary ink masks: threshold like it does (the level also varies the pen).
        big = cv2.threshold(big, int(rng.integers(*config.ink_level)), 255, cv2.THRESH_BINARY)[1]
        if not big.any():
            return image.astype(np.float32) / 255
        normalized = normalize_digit(big)
        shift_x, shift_y = np.rint(rng.uniform(-1, 1, 2) * config.shift_pixels).astype(int)
        return np.roll(normalized, (shift_y, shift_x), axis=(0, 1))

    def cut_one_side(self, big: np.ndarray) -> None:
        """Blank a thin strip of ink at one side, as a tight crop or a broken stroke would."""
        left, top, width, height = cv2.boundingRect(big)
        if width < 8 or height < 8:
            return
        side, depth = self.rng.integers(4), self.rng.uniform(0.05, 0.12)
        if side == 0:
            big[top : top + int(height * depth)] = 0
        elif side == 1:
            big[top + height - int(height * depth) :] = 0
        elif side == 2:
            big[:, left : left + int(width * depth)] = 0
        else:
            big[:, left + width - int(width * depth) :] = 0

    def batch(self, images: np.ndarray) -> np.ndarray:
        return np.stack([self.distort(image) for image in images]).reshape(-1, *INPUT_SHAPE)
