"""The learned ink segmenter at run time: a photo in, a map of where digit ink lies out.

    from edgedigits.runtime.inkmask import open_ink_model
    segmenter = open_ink_model("models/inkseg.int8.onnx")
    ink = segmenter.ink_map(image)      # uint8 [h, w], 0-255, the photo shrunk to 320 px on its long side
                                        # (made again closer where digits are small there: `zoom_window`)
    segments = segment(image, ink=ink)  # boxes cut from this map instead of the threshold's mask

One more onnxruntime session beside the digit classifier's: no TensorFlow here.
The contract (`photo` [N, H, W, 3] -> `ink` [N, H, W, 1]) is in `edgedigits.contract`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgedigits.contract import INK_INPUT_NAME, INK_LIGHT, INK_LONG_SIDE, INK_MULTIPLE, INK_OUTPUT_NAME
from edgedigits.errors import EdgeDigitsError
from edgedigits.runtime.segment import label_ink, on_white, to_uint8
from edgedigits.runtime.session import OpenModel

# A look from afar (`InkModel.far_map`): the photo shrunk to a third, with this many network pixels of its edges
# repeated around it (close-up pages 105 / 98 / 106 of 150 with the whole 320 px canvas / 32 / 48 px: half the
# canvas's pixels for the same map).
FAR_CONTEXT = 48
ZOOM_BELOW = 16  # digits shorter than this many map pixels are looked at again, closer ...
ZOOM_TO = 24  # ... enlarged to about this many map pixels tall ...
ZOOM_MAX = 4  # ... at most this many times, and never beyond the photo's own pixels ...
ZOOM_AREA = 1.5  # ... over a window of at most this many times the first map's pixels
ZOOM_PERCENTILE = 75  # the digits' height: this percentile of the map's components' (a digit cut by ruled lines is several short ones)


def ink_input_size(height: int, width: int, long_side: int = INK_LONG_SIDE) -> tuple[int, int]:
    """(height, width) of a photo shrunk (or enlarged) so that its longer side is `long_side`."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


PAPER_LEVEL = 0.75  # the paper's brightness in a flattened photo (`flatten_light`): ink darker than it stays below 1


def flatten_light(photo: np.ndarray) -> np.ndarray:
    """float32 [0, 1]: a uint8 photo divided by its local paper colour (the median over windows of 7x7 blocks of
    8x8 pixels, 56 px at the working size: wider than a digit's strokes), so that the paper is PAPER_LEVEL
    everywhere and the ink its share of the paper around it. Shadows, glare, vignetting and the paper's own
    colour go; a pencil stroke at the edge of a shadow is as dark on both sides of it. Light ink on a dark board
    comes out above the paper's level (at most 1)."""
    height, width = photo.shape[:2]
    small = cv2.resize(photo, (max(1, width // 8), max(1, height // 8)), interpolation=cv2.INTER_AREA)
    paper = cv2.medianBlur(small, 7) if min(small.shape[:2]) >= 7 else small
    paper = cv2.resize(np.maximum(paper, 8), (width, height), interpolation=cv2.INTER_LINEAR)  # 8: no black paper
    flat = cv2.divide(photo, paper, scale=PAPER_LEVEL, dtype=cv2.CV_32F)  # in OpenCV: 0.2 ms against numpy's 1.1
    return cv2.threshold(flat, 1.0, 1.0, cv2.THRESH_TRUNC)[1]


def to_photo(image: np.ndarray, long_side: int = INK_LONG_SIDE, flatten: bool = True) -> tuple[np.ndarray, tuple[int, int]]:
    """The network's input [1, H, W, 3] for a BGR or gray uint8 image, and the (h, w) of the photo inside
    the padding. Shrinking averages (INTER_AREA), the padding repeats the edge pixels. `flatten`: the light
    flattened (`flatten_light`), as the ink segmenter is trained (INK_LIGHT); else the pixels / 255, as
    segmenters exported before it were."""
    image = to_uint8(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = on_white(image)
    height, width = ink_input_size(*image.shape[:2], long_side)
    if image.shape[0] > 4 * height:  # a phone photo: sample it down to 4x first (area-averaging 12 MP costs 20 ms)
        image = cv2.resize(image, (4 * width, 4 * height), interpolation=cv2.INTER_NEAREST)
    shrinking = height < image.shape[0]
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    padded_h, padded_w = -(-height // INK_MULTIPLE) * INK_MULTIPLE, -(-width // INK_MULTIPLE) * INK_MULTIPLE
    photo = flatten_light(resized) if flatten else resized.astype(np.float32) * np.float32(1 / 255)
    if (padded_h, padded_w) != (height, width):  # (4:3 frames, 320x240 at the working size, need none)
        photo = cv2.copyMakeBorder(photo, 0, padded_h - height, 0, padded_w - width, cv2.BORDER_REPLICATE)
    return photo[None], (height, width)


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

    @property
    def flatten(self) -> bool:
        """Whether it takes photos with their light flattened: the ones exported with INK_LIGHT in their metadata."""
        return self.metadata.get("light") == INK_LIGHT

    def probabilities(self, photos: np.ndarray) -> np.ndarray:
        """`ink` [N, H, W, 1] for `photo` inputs [N, H, W, 3]."""
        return self.session.run([INK_OUTPUT_NAME], {INK_INPUT_NAME: photos})[0]

    def ink_map(self, image: np.ndarray, long_side: int = INK_LONG_SIDE) -> np.ndarray:
        """uint8 [h, w] digit-ink probability (0-255) for one BGR or gray image, at the network's working size
        (`long_side` pixels on the long side); where the digits are small there (`zoom_window`), the map is made
        again around them from the photo at up to ZOOM_MAX times that size, and the whole map is returned at the
        finer size."""
        photo, (height, width) = to_photo(image, long_side, flatten=self.flatten)
        ink = to_map(self.probabilities(photo)[0, :height, :width, 0])
        window = zoom_window(ink, image.shape[:2])
        if window is None:
            return ink
        x0, y0, x1, y1, factor = window
        fine = cv2.resize(ink, (width * factor, height * factor), interpolation=cv2.INTER_LINEAR)
        across, down = image.shape[1] / width, image.shape[0] / height
        part = image[round(y0 * down) : round(y1 * down), round(x0 * across) : round(x1 * across)]
        photo, (part_height, part_width) = to_photo(part, factor * max(x1 - x0, y1 - y0), self.flatten)
        closer = to_map(self.probabilities(photo)[0, :part_height, :part_width, 0])
        fine[y0 * factor : y1 * factor, x0 * factor : x1 * factor] = cv2.resize(
            closer, ((x1 - x0) * factor, (y1 - y0) * factor), interpolation=cv2.INTER_LINEAR)
        return fine

    def far_map(self, image: np.ndarray, far: int) -> np.ndarray:
        """uint8 digit-ink probability for one image seen from `far` times further away, for digits too big for
        the network at its working size (it learnt digits up to a quarter of the frame): the photo shrunk to
        INK_LONG_SIDE / `far` px on its long side, its edges repeated FAR_CONTEXT px around it, and the map of the
        photo's own part, that size."""
        photo, (height, width) = to_photo(image, max(INK_MULTIPLE, INK_LONG_SIDE // far), flatten=self.flatten)
        photo = photo[0, :height, :width]
        rows, columns = (-(-(side + 2 * FAR_CONTEXT) // INK_MULTIPLE) * INK_MULTIPLE for side in (height, width))
        top, left = (rows - height) // 2, (columns - width) // 2
        around = cv2.copyMakeBorder(photo, top, rows - height - top, left, columns - width - left, cv2.BORDER_REPLICATE)
        return to_map(self.probabilities(around[None])[0, top : top + height, left : left + width, 0])


def to_map(probabilities: np.ndarray) -> np.ndarray:
    return (probabilities * 255 + 0.5).astype(np.uint8)


def zoom_window(ink: np.ndarray, image_shape: tuple[int, ...]) -> tuple[int, int, int, int, int] | None:
    """Where and how much closer to look again: (x0, y0, x1, y1) in `ink`'s pixels and a whole factor, or None.

    At 320 px on the long side, digits written small on a big frame (a 1952 at 1/40 of a 12 MP photo's height)
    are 8 px tall in the map: too few for the network to tell their strokes from the paper's grain. When the
    map's components are shorter than ZOOM_BELOW pixels (their ZOOM_PERCENTILE height: a digit that ruled lines
    cut into pieces is not small), the window around those of about that height (half to twice it), with two
    heights of margin, is looked at again, enlarged to about ZOOM_TO pixels per digit: at most ZOOM_MAX times,
    at most the photo's own resolution, and no more pixels than ZOOM_AREA times the first map's. A map with nothing on it has nothing to look at closer."""
    height, width = ink.shape
    count, _, stats = label_ink((ink > 127).astype(np.uint8))
    stats = stats[1:][stats[1:, cv2.CC_STAT_AREA] >= 4]
    if not len(stats):
        return None
    typical = float(np.percentile(stats[:, cv2.CC_STAT_HEIGHT], ZOOM_PERCENTILE))
    factor = int(min(ZOOM_MAX, max(image_shape[:2]) // max(height, width), round(ZOOM_TO / max(typical, 1.0))))
    if typical >= ZOOM_BELOW or factor < 2:
        return None
    near = stats[(stats[:, cv2.CC_STAT_HEIGHT] >= typical / 2) & (stats[:, cv2.CC_STAT_HEIGHT] <= 2 * typical)]
    if not len(near):  # heights far apart (specks and one tall stroke): the percentile falls between them
        return None
    margin = int(np.ceil(2 * typical))
    x0, y0 = max(0, int(near[:, 0].min()) - margin), max(0, int(near[:, 1].min()) - margin)
    x1 = min(width, int((near[:, 0] + near[:, 2]).max()) + margin)
    y1 = min(height, int((near[:, 1] + near[:, 3]).max()) + margin)
    while factor >= 2 and (x1 - x0) * (y1 - y0) * factor * factor > ZOOM_AREA * height * width:
        factor -= 1
    return (x0, y0, x1, y1, factor) if factor >= 2 else None


def open_ink_model(path: str | Path, device: str = "auto", threads: int | None = None) -> InkModel:
    """Open an ink segmenter like every model (index check, provider), and check its contract."""
    from edgedigits.runtime.session import open_session

    path = Path(path)
    session, provider = open_session(path, device, threads)
    check_ink_contract(session, path)
    return InkModel(path, session, provider, dict(session.get_modelmeta().custom_metadata_map))
