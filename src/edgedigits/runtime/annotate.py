"""Drawing a reading onto its image: a box per digit, its value and confidence, unsure ones in red."""

from __future__ import annotations

import cv2
import numpy as np

from edgedigits.runtime.reader import Reading
from edgedigits.runtime.segment import on_white

SURE_COLOUR = (40, 170, 40)  # BGR green
UNSURE_COLOUR = (30, 30, 220)  # BGR red


def to_bgr(image: np.ndarray) -> np.ndarray:
    """A uint8 BGR copy of a gray, BGR or BGRA image (8 or 16 bits; BGRA laid on white, as it is read)."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return on_white(image)
    return image.copy()


def annotate(image: np.ndarray, reading: Reading, unsure_below: float, caption: str | None = None) -> np.ndarray:
    """A BGR copy of `image` with the reading drawn on it (and an optional caption at the top left)."""
    canvas = to_bgr(image)
    scale = max(0.6, max(canvas.shape[:2]) / 800)
    thickness = max(1, round(2 * scale))
    for digit in reading.digits:
        x, y, w, h = digit.box
        colour = SURE_COLOUR if digit.confidence >= unsure_below else UNSURE_COLOUR
        cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, thickness)
        label = f"{digit.value} {digit.confidence:.2f}"
        cv2.putText(canvas, label, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, colour, thickness, cv2.LINE_AA)
    if caption:
        cv2.putText(canvas, caption, (8, round(28 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
        cv2.putText(canvas, caption, (8, round(28 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return canvas
