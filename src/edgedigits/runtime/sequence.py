"""Runs of touching digits, read with the sequence model (CTC): strips in, digit strings out.

    from edgedigits.runtime.sequence import open_sequence_model, to_strip, greedy_decode
    model = open_sequence_model("models/seqread.int8.onnx")
    strip = to_strip(mask_crop)                        # float32 [32, W] from a binary crop of the run
    decoded = model.read([mask_crop])[0]               # Decoded(digits, confidences, spans)

The model's contract (`edgedigits.contract`, SEQ_*): input `strip` [N, 32, W, 1]
float32, white ink on black in [0, 1], the run scaled to SEQ_INK_HEIGHT pixels
tall and W a multiple of SEQ_STRIDE; output `columns` [N, W / SEQ_STRIDE, 11]:
per column, the probabilities of the digits 0-9 and of the CTC blank (index 10).
Decoding is greedy and in numpy: the most likely symbol per column, repeats
merged, blanks dropped (so "1100" needs a blank between the two 1s and the two
0s). Each digit's confidence is the highest probability it had in its columns;
its box spans its columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgedigits.contract import SEQ_BLANK, SEQ_HEIGHT, SEQ_INK_HEIGHT, SEQ_INPUT_NAME, SEQ_OUTPUT_NAME, SEQ_STRIDE
from edgedigits.errors import EdgeDigitsError
from edgedigits.runtime.session import OpenModel

SEQ_MARGIN = 4  # black columns left and right of the ink


def to_strip(mask: np.ndarray) -> np.ndarray:
    """A binary crop (uint8, ink > 0) -> float32 [SEQ_HEIGHT, W]: cropped to its ink, scaled (aspect kept) to
    SEQ_INK_HEIGHT pixels tall, centred vertically, SEQ_MARGIN black columns each side, W a multiple of SEQ_STRIDE."""
    return strip_and_place(mask)[0]


def strip_and_place(mask: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """`to_strip`, and where the strip lies in the crop: (x of the ink's left edge in the crop, crop pixels per
    strip pixel, x of the ink's left edge in the strip), to turn strip columns back into crop columns."""
    rows, columns = np.flatnonzero(mask.max(axis=1)), np.flatnonzero(mask.max(axis=0))
    if rows.size == 0:
        return np.zeros((SEQ_HEIGHT, SEQ_STRIDE * 4), np.float32), (0.0, 1.0, 0.0)
    ink = mask[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    scale = SEQ_INK_HEIGHT / ink.shape[0]
    width = max(1, round(ink.shape[1] * scale))
    ink = cv2.resize(ink, (width, SEQ_INK_HEIGHT), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    total = -(-(width + 2 * SEQ_MARGIN) // SEQ_STRIDE) * SEQ_STRIDE
    strip = np.zeros((SEQ_HEIGHT, total), np.float32)
    top = (SEQ_HEIGHT - SEQ_INK_HEIGHT) // 2
    left = (total - width) // 2
    strip[top : top + SEQ_INK_HEIGHT, left : left + width] = ink.astype(np.float32) * np.float32(1 / 255)
    return strip, (float(columns[0]), 1 / scale, float(left))


@dataclass
class Decoded:
    digits: list[int] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)  # [first, last + 1) columns of each digit
    distributions: list[np.ndarray] = field(default_factory=list)  # each digit's probabilities of 0-9 at its surest column

    @property
    def text(self) -> str:
        return "".join(map(str, self.digits))

    def without(self, indices) -> Decoded:
        """The reading with the digits at `indices` left out."""
        left_out = set(indices)
        keep = [k for k in range(len(self.digits)) if k not in left_out]
        return Decoded([self.digits[k] for k in keep], [self.confidences[k] for k in keep], [self.spans[k] for k in keep],
                       [self.distributions[k] for k in keep] if self.distributions else [])


def greedy_decode(columns: np.ndarray, blank: int = SEQ_BLANK) -> Decoded:
    """Best path of one strip's column probabilities [T, 11]: argmax per column, repeats merged, blanks dropped."""
    best = columns.argmax(axis=1)
    decoded = Decoded()
    start = 0
    for t in range(1, len(best) + 1):
        if t < len(best) and best[t] == best[start]:
            continue
        symbol = int(best[start])
        if symbol != blank:
            surest = start + int(columns[start:t, symbol].argmax())
            decoded.digits.append(symbol)
            decoded.confidences.append(float(columns[surest, symbol]))
            decoded.spans.append((start, t))
            digits = columns[surest, :blank].astype(np.float64)
            decoded.distributions.append(digits / max(digits.sum(), 1e-12))
        start = t
    return decoded


def batch_strips(strips: list[np.ndarray]) -> np.ndarray:
    """Strips of different widths -> one [N, SEQ_HEIGHT, W, 1] batch, padded on the right with black."""
    width = max(s.shape[1] for s in strips)
    batch = np.zeros((len(strips), SEQ_HEIGHT, width, 1), np.float32)
    for index, strip in enumerate(strips):
        batch[index, :, : strip.shape[1], 0] = strip
    return batch


@dataclass
class SequenceModel(OpenModel):
    """An open sequence model."""

    def columns(self, strips: np.ndarray) -> np.ndarray:
        """`columns` [N, W / 4, 11] for `strip` inputs [N, 32, W, 1]."""
        return self.session.run([SEQ_OUTPUT_NAME], {SEQ_INPUT_NAME: strips})[0]

    def read(self, crops: list[np.ndarray]) -> list[Decoded]:
        """Binary crops of runs of digits -> their decoded strings (one session.run for all); each digit's span
        is in the crop's columns."""
        if not crops:
            return []
        placed = [strip_and_place(crop) for crop in crops]
        outputs = self.columns(batch_strips([strip for strip, _ in placed]))
        results = []
        for out, (strip, (ink_x, crop_per_strip, strip_x)) in zip(outputs, placed):
            decoded = greedy_decode(out[: strip.shape[1] // SEQ_STRIDE])
            to_crop = lambda column: ink_x + (column * SEQ_STRIDE - strip_x) * crop_per_strip  # noqa: E731
            decoded.spans = [(max(0, round(to_crop(a))), max(1, round(to_crop(b)))) for a, b in decoded.spans]
            results.append(decoded)
        return results


def check_sequence_contract(session, path: Path) -> None:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if (len(inputs) != 1 or inputs[0].name != SEQ_INPUT_NAME or inputs[0].shape[1] != SEQ_HEIGHT
            or not any(o.name == SEQ_OUTPUT_NAME and o.shape[-1] == SEQ_BLANK + 1 for o in outputs)):
        found = ", ".join(f"'{i.name}' {i.shape}" for i in inputs)
        raise EdgeDigitsError(f"{path}: not an edgedigits sequence model: it takes {found}, expected "
                              f"'{SEQ_INPUT_NAME}' [N, {SEQ_HEIGHT}, W, 1] and gives '{SEQ_OUTPUT_NAME}' [N, W/{SEQ_STRIDE}, {SEQ_BLANK + 1}]")


def open_sequence_model(path: str | Path, device: str = "auto", threads: int | None = None) -> SequenceModel:
    from edgedigits.runtime.session import open_session

    path = Path(path)
    session, provider = open_session(path, device, threads)
    check_sequence_contract(session, path)
    return SequenceModel(path, session, provider, dict(session.get_modelmeta().custom_metadata_map))
