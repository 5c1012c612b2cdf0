"""The Reader: an image in, the numbers written on it out.

    from edgedigits.runtime import Reader
    reader = Reader("models/cnn.int8.onnx", device="auto")   # auto | cpu | cuda
    reading = reader.read(image)        # BGR or gray numpy image
    reading.text                        # "2017" ("20?7" where a digit is unsure)
    reading.lines                       # ["2017"] top to bottom
    reading.digits                      # [Digit(value, confidence, box, line), ...]

Per image: segmentation (`segment.py`), MNIST-style normalisation of every crop
(`normalize.py`), one `session.run` for all crops, temperature-calibrated
confidence, text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edgedigits.contract import INPUT_SHAPE
from edgedigits.errors import EdgeDigitsError
from edgedigits.runtime.confidence import apply_temperature
from edgedigits.runtime.inkmask import InkModel, open_ink_model
from edgedigits.runtime.sequence import SequenceModel, open_sequence_model
from edgedigits.runtime.normalize import normalize_digit
from edgedigits.runtime.segment import segment
from edgedigits.runtime.session import Model, open_model

UNSURE_BELOW = 0.5  # calibrated probability under which a digit shows as "?"
UNSURE_MARK = "?"
RUN_ASPECT = 1.6  # a box wider than this many times its height may hold touching digits (wide MNIST 2s reach it) ...
RUN_CONFIDENCE = 0.9  # ... and does unless the digit model reads it at least this surely;
LONG_RUN_ASPECT = 2.2  # wider than this many heights, it always does
DIGIT_PITCH = 0.7  # ... and about one digit per this many heights of its width
SEQUENCE_ASPECT = 0.75  # boxes wider than this many times their height are also read by the sequence model


@dataclass(frozen=True)
class Digit:
    value: int
    confidence: float  # calibrated probability of `value`
    box: tuple[int, int, int, int]  # x, y, w, h in the original image's pixels
    line: int

    def as_dict(self) -> dict:
        return {"digit": self.value, "confidence": round(self.confidence, 4), "box": list(self.box), "line": self.line}


@dataclass
class Reading:
    lines: list[str]
    digits: list[Digit]
    timings_ms: dict[str, float] = field(default_factory=dict)  # segment, infer

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def run_length(box: tuple[int, int, int, int], confidence: float = 0.0) -> int:
    """How many digits a box holds: 1, or for touching digits (which one digit classifier cannot read) its
    width in digit pitches, at least 2. A box is a run when it is wider than LONG_RUN_ASPECT times its
    height, or wider than RUN_ASPECT times its height and not read with RUN_CONFIDENCE (a wide 2 is read surely)."""
    _, _, width, height = box
    if width <= RUN_ASPECT * height or (width <= LONG_RUN_ASPECT * height and confidence >= RUN_CONFIDENCE):
        return 1
    return max(2, round(width / (DIGIT_PITCH * height)))


def compose_lines(digits: list[Digit], spaces: list[bool], unsure_below: float) -> list[str]:
    """Text per line: each digit, or `?` where it is unsure; a space where segmentation saw a wide gap.

    A box that holds a run of touching digits reads as one `?` per digit it
    seems to hold (`run_length`) rather than as one invented digit.
    """
    lines: dict[int, str] = {}
    for digit, space in zip(digits, spaces):
        count = run_length(digit.box, digit.confidence)
        if count > 1:
            characters = UNSURE_MARK * count
        else:
            characters = str(digit.value) if digit.confidence >= unsure_below else UNSURE_MARK
        lines[digit.line] = lines.get(digit.line, "") + characters + (" " if space else "")
    return [lines[number] for number in sorted(lines)]


class Reader:
    """Reads the digits on images with one model; safe to share between threads."""

    def __init__(self, model: str | Path | Model, device: str = "auto", threads: int | None = None,
                 unsure_below: float = UNSURE_BELOW, ink_model: str | Path | InkModel | None = None,
                 sequence_model: str | Path | SequenceModel | None = None):
        self.model = model if isinstance(model, Model) else open_model(model, device=device, threads=threads)
        if ink_model is not None and not isinstance(ink_model, InkModel):
            ink_model = open_ink_model(ink_model, device=device, threads=threads)
        self.ink_model = ink_model  # None: the hand-written threshold mask
        if sequence_model is not None and not isinstance(sequence_model, SequenceModel):
            sequence_model = open_sequence_model(sequence_model, device=device, threads=threads)
        self.sequence_model = sequence_model  # None: runs of touching digits read as one ? per digit
        if not 0 <= unsure_below <= 1:
            raise EdgeDigitsError(f"the unsure threshold is a probability, got {unsure_below}")
        self.unsure_below = unsure_below
        self.temperature = float(self.model.metadata.get("temperature", 1.0))

    def read(self, image: np.ndarray) -> Reading:
        start = time.perf_counter()
        ink = self.ink_model.ink_map(image) if self.ink_model is not None else None
        masked = time.perf_counter()
        segments = segment(image, ink=ink)
        inputs = np.stack([normalize_digit(segments.crop(box)) for box in segments.boxes]) if segments.boxes else None
        segmented = time.perf_counter()
        timings = {"ink": (masked - start) * 1e3, "segment": (segmented - masked) * 1e3}
        if inputs is None:
            return Reading([], [], timings | {"infer": 0.0})
        probabilities = apply_temperature(self.model.predict(inputs.reshape(-1, *INPUT_SHAPE)), self.temperature)
        digits = []
        for box, row in zip(segments.boxes, probabilities):
            value = int(row.argmax())
            original = segments.original_box(box)
            digits.append(Digit(value, float(row[value]), (original.x, original.y, original.w, original.h), box.line))
        gaps = segments.gaps
        if self.sequence_model is not None:
            digits, gaps = self.read_runs(segments, digits, gaps)
        lines = compose_lines(digits, gaps, self.unsure_below)
        return Reading(lines, digits, timings | {"infer": (time.perf_counter() - segmented) * 1e3})

    def read_runs(self, segments, digits: list[Digit], gaps: list[bool]) -> tuple[list[Digit], list[bool]]:
        """Read every box that may hold touching digits (wider than SEQUENCE_ASPECT times its height) with the
        sequence model. Where it reads two digits or more, or the box is surely a run (`run_length` > 1), the
        box's one entry becomes one per digit read, each with the box of its CTC columns and its column
        confidence; where it reads one digit in a box of one, the digit model's reading stays (it is the
        better judge of one digit); where it reads nothing, a run stays one ? per digit."""
        candidates = [i for i, d in enumerate(digits) if d.box[2] > SEQUENCE_ASPECT * d.box[3]]
        if not candidates:
            return digits, gaps
        decoded = dict(zip(candidates, self.sequence_model.read([segments.crop(segments.boxes[i]) for i in candidates])))
        new_digits, new_gaps = [], []
        for index, (digit, gap) in enumerate(zip(digits, gaps)):
            read = decoded.get(index)
            surely_run = run_length(digit.box, digit.confidence) > 1
            if read is None or not read.digits or (not surely_run and (len(read.digits) == 1 or min(read.confidences) <= digit.confidence)):
                new_digits.append(digit)
                new_gaps.append(gap)
                continue
            box, run = segments.boxes[index], decoded[index]
            for k, (value, confidence, (start, stop)) in enumerate(zip(run.digits, run.confidences, run.spans)):
                part = segments.original_box(replace(box, x=box.x + start, w=max(1, min(stop, box.w) - start)))
                new_digits.append(Digit(value, confidence, (part.x, part.y, part.w, part.h), digit.line))
                new_gaps.append(gap if k == len(run.digits) - 1 else False)
        return new_digits, new_gaps


def describe_reader(reader: Reader) -> str:
    """One line: the models a Reader reads with, and the provider."""
    ink = f"ink from {reader.ink_model.path}" if reader.ink_model else "threshold mask"
    runs = f"runs read by {reader.sequence_model.path}" if reader.sequence_model else "runs shown as ?"
    return f"{reader.model.path}, {ink}, {runs}, on {reader.model.provider}"
