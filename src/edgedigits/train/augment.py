"""Training augmentation that looks like what the runtime hands a model.

A digit cut out of a photo differs from an MNIST digit in slant, size, pen
width, blur and how well it was cut. Each training image is distorted that way
at twice MNIST's resolution, then brought back through the same
`normalize_digit` the runtime uses, so the model learns from crops like the ones
it will see: binary ink masks, or grey-level ones (the runtime's `shaded_crop`:
the mask, often cut low enough to fill a small loop, with the photo's own shade).
MNIST's training set is the only source of digits. Two of MNIST's gaps are filled
by drawing on its own digits: a 1 gets the flag (and sometimes the foot) that
continental European writers and most fonts give it, and a 7 sometimes its
crossbar; MNIST's American census writers rarely drew either.

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
    grey_probability: float = 0.5  # crops with the photo's shade (see module doc) rather than binary
    grey_cut: tuple[int, int] = (25, 90)  # ... whose mask is cut this low (a blurred loop fills) ...
    grey_blur: tuple[float, float] = (0.5, 2.0)  # ... after a blur like a small digit's in a photo (sigma, 56x56 px)
    flag_probability: float = 0.35  # a 1 with a flag at the top ...
    flag_length: tuple[float, float] = (0.12, 0.45)  # ... this long, in shares of the 1's height (a European 1's flag reaches 0.45) ...
    flag_angle: tuple[float, float] = (30, 65)  # ... going down to the left at this many degrees under the horizontal
    foot_probability: float = 0.1  # a 1 with a foot (a bar under it)
    crossbar_probability: float = 0.15  # a 7 with a crossbar


class Augmenter:
    def __init__(self, config: AugmentConfig = AugmentConfig(), seed: int = 0):
        self.config, self.rng = config, np.random.default_rng(seed)

    def distort(self, image: np.ndarray, label: int = -1) -> np.ndarray:
        """One uint8 28x28 digit (of class `label`, when known) -> one float32 28x28 model input."""
        config, rng = self.config, self.rng
        if rng.random() < config.keep_probability:
            return image.astype(np.float32) / 255
        size = 28 * UPSCALE
        big = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
        if label in (1, 7):
            add_strokes(big, label, rng, config)
        transform = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-1, 1) * config.rotation_degrees, 1.0)
        transform[:, :2] = transform[:, :2] @ np.array([[rng.uniform(*config.scale), rng.uniform(-1, 1) * config.shear],
                                                           [0, rng.uniform(*config.scale)]])
        transform[:, 2] += np.array([size / 2, size / 2]) - transform[:, :2] @ np.array([size / 2, size / 2])
        big = cv2.warpAffine(big, transform, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
        stroke = int(rng.integers(config.stroke_pixels[0], config.stroke_pixels[1] + 1))
        if stroke:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(stroke) + 1,) * 2)
            big = cv2.dilate(big, kernel) if stroke > 0 else cv2.erode(big, kernel)
        grey = rng.random() < config.grey_probability
        if grey:
            big = cv2.GaussianBlur(big, (0, 0), rng.uniform(*config.grey_blur))
        elif rng.random() < config.blur_probability:
            big = cv2.GaussianBlur(big, (0, 0), rng.uniform(0.5, 1.5))
        if rng.random() < config.cut_probability:
            self.cut_one_side(big)
        if grey:  # the mask cut low, each pixel as dark as it is, the writing's 70th percentile at full ink
            mask = big > rng.integers(*config.grey_cut)
            if not mask.any():
                return image.astype(np.float32) / 255
            level = max(1.0, float(np.percentile(big[mask], 70)))
            big = np.where(mask, np.clip(big * (255.0 / level), 0, 255), 0).astype(np.uint8)
        else:  # a binary ink mask: threshold like the runtime does (the level also varies the pen)
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

    def batch(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        labels = np.full(len(images), -1) if labels is None else labels
        return np.stack([self.distort(image, int(label)) for image, label in zip(images, labels)]).reshape(-1, *INPUT_SHAPE)


def add_strokes(big: np.ndarray, label: int, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()) -> None:
    """Draw a 1's flag or foot (with `config`'s chances), or a 7's crossbar, with the digit's own pen, on a digit
    drawn at 56x56 (white on black, in place), drawing on `rng`."""
    from edgedigits.runtime.normalize import stroke_width

    left, top, width, height = cv2.boundingRect(cv2.threshold(big, 127, 255, cv2.THRESH_BINARY)[1])
    if height < 16:
        return
    pen = max(2, round(stroke_width(big)))
    def line(start, end):
        cv2.line(big, tuple(int(v) for v in np.round(start)), tuple(int(v) for v in np.round(end)), 255, pen, cv2.LINE_AA)
    if label == 1:
        top_row = np.flatnonzero(big[top] > 127)
        tip = np.array([top_row.mean() if top_row.size else left + width / 2, top + pen / 2])
        if rng.random() < config.flag_probability:
            length, angle = rng.uniform(*config.flag_length) * height, np.radians(rng.uniform(*config.flag_angle))
            line(tip, tip + length * np.array([-np.cos(angle), np.sin(angle)]))
        if rng.random() < config.foot_probability:
            bottom_row = np.flatnonzero(big[top + height - 1] > 127)
            foot_x = bottom_row.mean() if bottom_row.size else left + width / 2
            half = rng.uniform(0.12, 0.22) * height
            y = top + height - pen / 2
            line((foot_x - half, y), (foot_x + half, y))
    elif rng.random() < config.crossbar_probability:  # across the 7's stem, a little under half its height
        y = top + rng.uniform(0.45, 0.6) * height
        row = np.flatnonzero(big[int(y)] > 127)
        if row.size:
            half = rng.uniform(0.18, 0.3) * height
            centre = row.mean()
            line((centre - half, y), (centre + half, y + rng.uniform(-0.04, 0.04) * height))
