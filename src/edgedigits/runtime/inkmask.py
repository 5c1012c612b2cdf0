"""The learned ink segmenter at run time: a photo in, a map of where digit ink lies out.

    from edgedigits.runtime.inkmask import open_ink_model
    segmenter = open_ink_model("models/inkseg.int8.onnx")
    ink = segmenter.ink_map(image)      # uint8 [h, w], 0-255, the photo shrunk to 320 px on its long side
    segments = segment(image, ink=ink)  # boxes cut from this map instead of the threshold's mask

One more onnxruntime session beside the digit classifier's: no TensorFlow here.
The contract (`photo` [N, H, W, 3] -> `ink` [N, H, W, 1]) is in `edgedigits.contract`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgedigits.contract import INK_INPUT_NAME, INK_LONG_SIDE, INK_MULTIPLE, INK_OUTPUT_NAME
from edgedigits.errors import EdgeDigitsError
from edgedigits.runtime.segment import to_uint8
from edgedigits.runtime.session import OpenModel


def ink_input_size(height: int, width: int, long_side: int = INK_LONG_SIDE) -> tuple[int, int]:
    """(height, width) of a photo shrunk (or enlarged) so that its longer side is `long_side`."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_photo(image: np.ndarray, long_side: int = INK_LONG_SIDE) -> tuple[np.ndarray, tuple[int, int]]:
    """The network's input [1, H, W, 3] for a BGR or gray uint8 image, and the (h, w) of the photo inside
    the padding. Shrinking averages (INTER_AREA), the padding repeats the edge pixels."""
    image = to_uint8(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    height, width = ink_input_size(*image.shape[:2], long_side)
    if image.shape[0] > 4 * height:  # a phone photo: sample it down to 4x first (area-averaging 12 MP costs 20 ms)
        image = cv2.resize(image, (4 * width, 4 * height), interpolation=cv2.INTER_NEAREST)
    shrinking = height < image.shape[0]
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    padded_h, padded_w = -(-height // INK_MULTIPLE) * INK_MULTIPLE, -(-width // INK_MULTIPLE) * INK_MULTIPLE
    resized = cv2.copyMakeBorder(resized, 0, padded_h - height, 0, padded_w - width, cv2.BORDER_REPLICATE)
    return (resized.astype(np.float32) * np.float32(1 / 255))[None], (height, width)


def check_ink_contract(session, path: Path) -> None:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if (len(inputs) != 1 or inputs[0].name != INK_INPUT_NAME or inputs[0].shape[-1] != 3
            or not any(o.name == INK_OUTPUT_NAME for o in outputs)):
        found = ", ".join(f"'{i.name}' {i.shape}" for i in inputs)
        raise EdgeDigitsError(f"{path}: not an edgedigits ink segmenter: it takes {found}, expected "
                              f"'{INK_INPUT_NAME}' [N, H, W, 3] and gives '{INK_OUTPUT_NAME}' [N, H, W, 1]")


@dataclass
class InkModel(OpenModel):
    """An open ink segmenter."""

    def probabilities(self, photos: np.ndarray) -> np.ndarray:
        """`ink` [N, H, W, 1] for `photo` inputs [N, H, W, 3]."""
        return self.session.run([INK_OUTPUT_NAME], {INK_INPUT_NAME: photos})[0]

    def ink_map(self, image: np.ndarray) -> np.ndarray:
        """uint8 [h, w] digit-ink probability (0-255) for one BGR or gray image, at the network's working size."""
        photo, (height, width) = to_photo(image)
        ink = self.probabilities(photo)[0, :height, :width, 0]
        return (ink * 255 + 0.5).astype(np.uint8)


def open_ink_model(path: str | Path, device: str = "auto", threads: int | None = None) -> InkModel:
    """Open an ink segmenter like every model (index check, provider), and check its contract."""
    from edgedigits.runtime.session import open_session

    path = Path(path)
    session, provider = open_session(path, device, threads)
    check_ink_contract(session, path)
    return InkModel(path, session, provider, dict(session.get_modelmeta().custom_metadata_map))
