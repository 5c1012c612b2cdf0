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

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import median

import cv2
import numpy as np

from edgedigits.contract import INK_LONG_SIDE, INPUT_SHAPE
from edgedigits.errors import EdgeDigitsError
from edgedigits.runtime.confidence import apply_temperature
from edgedigits.runtime.inkmask import InkModel, open_ink_model
from edgedigits.runtime.sequence import SequenceModel, open_sequence_model
from edgedigits.runtime.normalize import normalize_digit
from edgedigits.runtime.segment import label_ink, map_ink, segment
from edgedigits.runtime.session import Model, open_model

UNSURE_BELOW = 0.5  # calibrated probability under which a digit shows as "?"
UNSURE_MARK = "?"
# A page with more digit candidates than this is noise, stripes or texture and reads as nothing. The field sets'
# pages hold at most 21 digits; a phone photo of a full sheet of numbers in 6 mm squares would hold about 1,350,
# so such a sheet must be read in parts.
MAX_CANDIDATES = 500
RUN_ASPECT = 1.6  # a box wider than this many times its height may hold touching digits (wide MNIST 2s reach it) ...
RUN_CONFIDENCE = 0.9  # ... and does unless the digit model reads it at least this surely;
LONG_RUN_ASPECT = 2.2  # wider than this many heights, it always does
DIGIT_PITCH = 0.7  # ... and about one digit per this many heights of its width
NARROWEST_PIECE = 0.34  # a run's piece narrower than this many heights holds no digit (a 0's inner loop is no 6) ...
NARROW_DIGITS = (1, 7)  # ... those digits excepted (a 7 cut from a run is its stem and bar)
SEQUENCE_ASPECT = 0.75  # boxes wider than this many times their height are also read by the sequence model ...
RUN_TRUST = 0.98  # ... and become its digits when each is read more surely than this times the digit model's reading of the box
# (0.9 until the sequence model learnt flagged 1s: it then read the seed's own "2017" as "26017", the 0's inner loop a 6
# at 0.97 against the digit model's 0 at 1.00; tuning pages 1,120 -> 1,118, digits invented 146 -> 138; 0.99: 1,114)
WIDER_THAN_TYPICAL = 1.35  # ... or, in a box this many times wider (for its height) than the page's typical digit,
WIDE_RUN_TRUST = 0.5  # ... more surely than this
# ... and so are boxes, however narrow, that the digit model reads less surely than this: a 1 glued to the digit
# beside it ("61" read as an 8 at 0.63) adds little width. Tuning pages 1,110 -> 1,118 of 1,350 (0.9: 1,117;
# 0.8: 1,116), invented 144 -> 146.
SEQUENCE_UNSURE = 0.95
# A run the sequence model reads less surely than RUN_TRUST asks still becomes its digits where the digit model, reading
# each piece alone, reads the same digits, the least sure piece (both models' probabilities multiplied) more surely
# than this times the digit model's reading of the whole box ("19" read 9 at 0.93 by the digit model, 1 at 0.54 and
# 9 at 1.00 by the sequence model, its pieces 1 at 0.92 and 9 at 0.98) ...
AGREE_TRUST = 0.5
# ... and the photo's own ink of the box reaches no further past it than this share of its height, above and below
# together (a margin line or a circle's side glued to a digit, read as a 1 by both models, reaches far; a 1 glued
# to the digit beside it does not). Tuning pages 1,163 -> 1,170 of 1,350 (AGREE_TRUST 0.3 1,169, 0.7 1,169, 0.85
# 1,167; without the reach 1,166; reach 0.1, 0.5 or 1.0: 1,170).
PHOTO_REACH = 0.25
# The page's typical digit (for WIDER_THAN_TYPICAL) is the lower median of its boxes' aspects, those thinner than this
# (1s) left out: they tell nothing of how wide the page's digits are (`read_runs`).
THINNEST_TYPICAL = 0.45
# A 1 the sequence model reads inside a run where an upright line of the photo's own ink runs through its piece, in
# at least LINE_THROUGH of the rows one box height above and below, is that line (a margin, a box's side) unless the
# piece's ink is more than LINE_DARKER times as dark as the line's (a pen stroke written over a margin line): the run
# is read without it. Tuning pages 1,209 -> 1,211 of 1,350 (2 fixed, none broken; without the shade 3 fixed and a
# "1982" written on a margin lost; LINE_THROUGH 0.4 the same, 0.7 1,210, 0.8 1,209); no close-up or turned page
# changed; seed 12 398 -> 400 (two 1s invented before a number, "304229" read "1304229").
LINE_THROUGH = 0.5
LINE_DARKER = 1.2
# Two of the same digit written overlapping ("88", "44") make a box no wider than one digit, which the digit model
# reads, rightly, as that digit: a run the sequence model reads as that digit twice, each more surely than
# DOUBLE_TRUST, is taken with pieces down to DOUBLE_PIECE heights (NARROWEST_PIECE cuts them: 0.33 and 0.34). Tuning
# pages 1,207 -> 1,209 of 1,350 (2 fixed, none broken; 0.8 or 0.9: 1,208; 0.5 made single 1s "11": 1,207); no close-up,
# turned page or page of seed 12 changed.
DOUBLE_TRUST = 0.7
DOUBLE_PIECE = 0.25
# A box no wider than one wide digit (ONE_DIGIT_ASPECT heights, and not WIDER_THAN_TYPICAL) that the digit model reads
# at least ONE_DIGIT_SURE surely is cut into the sequence model's digits only where the digit model, reading each
# piece, does not rule out a new one (a digit other than the box's own and not a 1 or 7, under RULED_OUT): the seed's
# "2017" with a curl inside its 0, turned 3 degrees, was "26017", the 0's left half a 6 at 0.97-0.99 to the sequence
# model and at 0.03-0.06 to the digit model (turned -30 to 30 degrees in steps: 4 of 14 read right before, 10 of 14
# after). No tuning, close-up or turned page changed (1,207 of 1,350; 111 and 105 of 150), nor seed 12 (398 of
# 450). Wider boxes or less sure ones (1.3 and 0.9, 1.4 and 0.8): 1,202, 1,201.
ONE_DIGIT_ASPECT = 1.3
ONE_DIGIT_SURE = 0.95
RULED_OUT = 0.1
# A second look (`Reader.read`): a reading whose least sure digit is under SECOND_LOOK_BELOW is made again from an ink
# map SECOND_LOOK_SIDE px on the long side (the network's working size is 320), and kept where its least sure digit is
# more than SECOND_LOOK_MARGIN surer. Faint pencil, thin strokes and digits 20-30 px tall come out whole in one map
# and broken in the other, and the digit models say which reading they trust. Tuning pages 1,187 -> 1,201 of 1,350
# (gate 0.8 / 0.95, margin 0.05 / 0.15: 1,199-1,203; a look at 384 px: 1,191, at 512: 1,193; the threshold mask
# as the second look: 1,191; 448 and the threshold both: 1,203). A frame read surely costs nothing more.
SECOND_LOOK_SIDE = 448
SECOND_LOOK_BELOW = 0.9
SECOND_LOOK_MARGIN = 0.1
MAX_SECOND_LOOK = 1024
# A look from afar (`Reader.look_from_afar`): the ink segmenter learnt digits up to a quarter of the frame's height,
# and a phone held close to a short number makes them a third to two thirds of it: the map then holds pieces of
# strokes ("0" read "1", "72" read "6 1 / 10?"). A reading that is unsure, or holds at most FAR_FEW digits a line, is
# looked at again with the photo FAR_LOOK times further away (`InkModel.far_map`); where that map holds ink at least
# FAR_DIGITS of the frame tall, the page is read with it, and that reading is kept where its digits are that tall
# too (their median), the first reading's tallest digit is at least FAR_AGREE of theirs (small writing read first:
# the tall thing from afar is a shadow's edge or a box drawn around it), and it is surer than an unsure first
# reading (by more than FAR_MARGIN: its tall digits are the evidence), or sure after a sure one. Close-up pages
# (`scripts/make_pages.py --kind close-up --seed 11`, 150 pages): 67 -> 110 read exactly (only after unsure readings:
# 97; FAR_LOOK 2 / 4: 94 / 96; at most 1 / 3 digits in all instead of 2 a line: 102 / 108, but 3 broke 2 tuning
# pages, and 2 in all 107; FAR_DIGITS 0.15 / 0.25: 104 / 105; FAR_AGREE 0.25 / 0.3 / 0.4: 103 / 101 / 94;
# FAR_MARGIN 0.1 as the second look's: 105); the 1,350 tuning pages 1,207 either way (a box drawn around small
# digits read as tall ones from afar broke one page, one was fixed; FAR_AGREE 0.4 keeps both: 1,208).
FAR_LOOK = 3
FAR_DIGITS = 0.2
FAR_FEW = 2
FAR_AGREE = 0.2
FAR_MARGIN = 0.0
# Writing turned further than the field set turns it (up to 10 degrees; a phone held at an angle turns it 15-30):
# where the direction from each digit read to its nearest neighbour (DESKEW_DIGITS digits or more; those within 45
# degrees of level, agreeing within DESKEW_SPREAD radians of their median) is turned DESKEW_ABOVE degrees or more
# (DESKEW_SURE_ABOVE when the reading is sure), the photo is turned level and read again, and that reading kept where
# it is no less sure (`Reader.read`, `writing_angle`). Realistic pages of seed 11 turned 12-30 degrees either way
# (`scripts/turn_pages.py fr11 tu11 --seed 111 --count 150`): 77 -> 105 of 150 (the main axis of one line's digits
# instead of nearest neighbours: 95, multi-line pages not levelled; 12 degrees for sure readings too: 106, but a
# sure reading of a tuning page turned 12.5 degrees read a box's side as a 1; from 8 degrees with one line: 94);
# the 1,350 tuning pages unchanged.
DESKEW_ABOVE = 12.0
DESKEW_SURE_ABOVE = 17.0
DESKEW_DIGITS = 3
DESKEW_SPREAD = 0.15
DESKEW_MARGIN = 0.0


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

    @property
    def least_sure(self) -> float | None:
        """The confidence of the least sure digit; None when nothing was read."""
        return min((digit.confidence for digit in self.digits), default=None)


def model_temperature(model: Model) -> float:
    """The model's calibrated temperature from its metadata: a positive finite number, or the model is refused
    (a NaN there would put NaN confidences into the records)."""
    text = model.metadata.get("temperature", "1.0")
    try:
        temperature = float(text)
    except ValueError:
        temperature = float("nan")
    if not (math.isfinite(temperature) and temperature > 0):
        raise EdgeDigitsError(f"{model.path}: its temperature metadata is {text!r}, not a positive number; "
                              "calibrate it again (edgedigits calibrate)")
    return temperature


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
                 sequence_model: str | Path | SequenceModel | None = None, second_look: int | None = None):
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
        self.temperature = model_temperature(self.model)
        self.second_look = check_second_look(second_look)  # 0: no second look

    def read(self, image: np.ndarray) -> Reading:
        """The numbers on `image` (`read_looks`); where the writing is turned DESKEW_ABOVE degrees or more
        (`writing_angle`; DESKEW_SURE_ABOVE when the reading is sure), read again with the photo turned level, and
        that reading kept where it is at most DESKEW_MARGIN less sure (its boxes turned back into the photo's
        pixels; timings: both)."""
        reading = self.read_looks(image)
        angle = writing_angle(reading)
        sure = reading.least_sure is not None and reading.least_sure >= SECOND_LOOK_BELOW
        if not DESKEW_ABOVE or abs(angle) < (DESKEW_SURE_ABOVE if sure else DESKEW_ABOVE):
            return reading
        level, back = turned(image, angle)
        again = self.read_looks(level)
        timings = summed(reading.timings_ms, again.timings_ms)
        if again.least_sure is not None and again.least_sure >= reading.least_sure - DESKEW_MARGIN:
            digits = [replace(digit, box=turned_box(digit.box, back)) for digit in again.digits]
            reading = replace(again, digits=digits)
        return replace(reading, timings_ms=timings)

    def read_looks(self, image: np.ndarray) -> Reading:
        """The numbers on `image`, as the photo is. With the learned mask, a reading whose least sure digit is under
        SECOND_LOOK_BELOW is made again from an ink map `second_look` pixels on the long side, and from afar
        (`look_from_afar`: digits too big for the network; so is a reading of at most FAR_FEW digits); a look is
        kept where its least sure digit is more than SECOND_LOOK_MARGIN surer (the surest of them), or after a sure
        reading, where the look from afar reads tall digits surely (timings: every read and map)."""
        reading = self.read_at(image, INK_LONG_SIDE)
        first = reading.least_sure
        if self.ink_model is None or first is None:
            return reading
        unsure = first < SECOND_LOOK_BELOW
        looks = [self.read_at(image, self.second_look)] if unsure and self.second_look else []
        spent = [reading.timings_ms] + [look.timings_ms for look in looks]
        far = None
        if FAR_LOOK > 1 and (unsure or len(reading.digits) <= FAR_FEW * len(reading.lines)):
            far, far_spent = self.look_from_afar(image, reading)
            spent.append(far_spent)
        if len(spent) == 1:
            return reading
        timings = summed(*spent)
        if unsure:
            surer = [look for look in looks if look.least_sure is not None and look.least_sure > first + SECOND_LOOK_MARGIN]
            surer += [far] if far is not None and far.least_sure > first + FAR_MARGIN else []
            reading = max(surer, key=lambda look: look.least_sure, default=reading)
        elif far is not None and far.least_sure >= SECOND_LOOK_BELOW:
            reading = far
        return replace(reading, timings_ms=timings)

    def look_from_afar(self, image: np.ndarray, first: Reading) -> tuple[Reading | None, dict[str, float]]:
        """The page read with its ink map from FAR_LOOK times further away (`InkModel.far_map`), where that map
        holds ink at least FAR_DIGITS of the frame tall, the reading's digits are that tall too (their median) and
        the `first` reading's tallest digit is at least FAR_AGREE of theirs (small writing read first: what looks
        tall from afar is a shadow's edge or a box drawn around it); else None. Also the time it took, per step."""
        start = time.perf_counter()
        ink = self.ink_model.far_map(image, FAR_LOOK)
        count, _, stats = label_ink(map_ink(ink))
        spent = {"ink": (time.perf_counter() - start) * 1e3, "segment": 0.0, "infer": 0.0}
        if count < 2 or stats[1:, cv2.CC_STAT_HEIGHT].max() < FAR_DIGITS * ink.shape[0]:
            return None, spent
        far = self.read_at(image, INK_LONG_SIDE, ink=ink)
        spent = summed(spent, far.timings_ms)
        tall = median([digit.box[3] for digit in far.digits]) if far.digits else 0
        if tall < FAR_DIGITS * image.shape[0] or max(digit.box[3] for digit in first.digits) < FAR_AGREE * tall:
            return None, spent
        return far, spent

    def read_at(self, image: np.ndarray, long_side: int, ink: np.ndarray | None = None) -> Reading:
        """One reading, the learned ink map made `long_side` pixels on the long side (or the map `ink` given)."""
        start = time.perf_counter()
        if ink is None and self.ink_model is not None:
            ink = self.ink_model.ink_map(image, long_side)
        masked = time.perf_counter()
        segments = segment(image, ink=ink)
        if len(segments.boxes) > MAX_CANDIDATES:  # noise, stripes, texture: not a page of writing
            return Reading([], [], {"ink": (masked - start) * 1e3, "segment": (time.perf_counter() - masked) * 1e3, "infer": 0.0})
        crops = [segments.crop(box) for box in segments.boxes]
        if not all(crop.any() for crop in crops):  # a box whose own ink is gone (rare): nothing to read in it
            keep = [i for i, crop in enumerate(crops) if crop.any()]
            segments.boxes, segments.gaps = [segments.boxes[i] for i in keep], [segments.gaps[i] for i in keep]
            crops = [crops[i] for i in keep]
        shaded = [segments.shaded_crop(box, crop) for box, crop in zip(segments.boxes, crops)]
        inputs = np.stack([normalize_digit(crop) for crop in shaded]) if crops else None
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
            digits, gaps = self.read_runs(segments, crops, shaded, digits, gaps, probabilities)
        lines = compose_lines(digits, gaps, self.unsure_below)
        return Reading(lines, digits, timings | {"infer": (time.perf_counter() - segmented) * 1e3})

    def read_runs(self, segments, crops: list[np.ndarray], shaded: list[np.ndarray], digits: list[Digit],
                  gaps: list[bool], probabilities: np.ndarray) -> tuple[list[Digit], list[bool]]:
        """Read every box that may hold touching digits (wider than SEQUENCE_ASPECT times its height, or read by
        the digit model less surely than SEQUENCE_UNSURE; `crops` are the boxes' own ink, `shaded` their shaded crops)
        with the sequence model.
        The box's one entry becomes one per digit read where the box is surely a run (`run_length` > 1), or where the sequence model reads two digits or more, each at least
        RUN_TRUST times as surely as the digit model read the whole box, and no piece but a 1's narrower than
        NARROWEST_PIECE heights (a 0 with a loop inside is not "60"), a 7's excepted too (NARROW_DIGITS: "73" with
        the 7 cut to its stem and bar; tuning pages 352 -> 355). The digit model is often certain of one
        digit in a touching pair ("71" is a 7 to it, at 1.00); in a box WIDER_THAN_TYPICAL times wider for its
        height than the page's median box (the lower of the two middle ones: a page of two boxes, "86" touching and a 7,
        measures the pair against the 7; boxes thinner than THINNEST_TYPICAL, 1s, not counted: with them the seed's
        own "2017" measured its 0 against the 2 and read "26017"; tuning pages 1,140 -> 1,142), WIDE_RUN_TRUST is sure enough (tuning pages: 346 -> 349 of 450). (Also asking the digit model to read each
        piece as the same digit lost more touching pairs than it saved: 322 against 329 of 450 tuning pages.)
        A run read less surely than that is still taken where the digit model reads each of its pieces as the
        sequence model did (`pieces_agree`, AGREE_TRUST) and the photo's own ink of the box ends near it
        (`Segments.photo_reach` under PHOTO_REACH: not a margin line or a circle's side read as a 1).
        A 1 read in a run where an upright line of the photo's ink runs through its piece (`on_line`) is that line:
        the run is read without it.
        A run that is the box's own digit twice (`same_digit_twice`: "88" written overlapping, an 8 to the digit model) is
        trusted from DOUBLE_TRUST, its pieces down to DOUBLE_PIECE heights.
        Either way a box the size of one digit that the digit model is sure of stays whole where the digit model
        rules out a digit read in one of its pieces (`rules_out`: a 0 with a curl inside is not "60").
        Each digit's piece of the run reaches halfway to its neighbours' CTC columns; the digit model reads
        the piece too (cut from the box's shaded crop, as it reads boxes), and the digit is the most likely under both
        models (their probabilities multiplied).
        A box the digit model is unsure of (under the unsure threshold: it would show as ?) that the sequence model
        reads as one digit is read by both models the same way (their probabilities multiplied; tuning pages 1,135
        -> 1,140 of 1,350, digits right 8,012 -> 8,038, none invented; seed 13 758 against 756 for boxes under 0.7,
        754 under 0.95).
        Elsewhere the digit model's reading stays; a run the sequence model reads nothing in stays one ? per digit."""
        candidates = [i for i, d in enumerate(digits) if d.box[2] > SEQUENCE_ASPECT * d.box[3] or d.confidence < SEQUENCE_UNSURE]
        if not candidates:
            return digits, gaps
        runs = {}  # index -> (decoded, pieces, surely a run, trusted without its pieces' readings, a one-digit box)
        singles = {}  # index -> the sequence model's probabilities for a box it reads as one digit
        aspects = sorted(d.box[2] / d.box[3] for d in digits)
        aspects = [a for a in aspects if a >= THINNEST_TYPICAL] or aspects
        typical = aspects[(len(aspects) - 1) // 2]
        for index, read in zip(candidates, self.sequence_model.read([crops[i] for i in candidates])):
            digit, crop = digits[index], crops[index]
            surely_run = run_length(digit.box, digit.confidence) > 1
            if len(read.digits) == 1 and not surely_run and digit.confidence < self.unsure_below:
                singles[index] = read.distributions[0]
                continue
            if not read.digits or (len(read.digits) == 1 and not surely_run):
                continue
            cuts = run_pieces(read, crop.shape[1])
            margins = [k for k, (value, (a, b)) in enumerate(zip(read.digits, cuts))
                       if value == 1 and on_line(segments, segments.boxes[index], a, b, crop)]
            if margins:  # a margin or a box's side read as a 1: the run without it
                read = read.without(margins)
                cuts = run_pieces(read, crop.shape[1])
            if (not read.digits or (len(read.digits) == 1 and not surely_run)  # nothing left of a run
                    or not all(crop[:, a:b].any() for a, b in cuts)):  # a piece without ink: not a reading to trust
                continue
            too_narrow = any(b - a < NARROWEST_PIECE * segments.boxes[index].h for (a, b), value in zip(cuts, read.digits) if value not in NARROW_DIGITS)
            wide = digit.box[2] / digit.box[3] > WIDER_THAN_TYPICAL * typical
            trust = min(RUN_TRUST * digit.confidence, WIDE_RUN_TRUST) if wide else RUN_TRUST * digit.confidence
            trusted = surely_run or (not too_narrow and min(read.confidences) > trust) or same_digit_twice(read, cuts, digit.value, segments.boxes[index].h)
            if trusted or (not too_narrow and segments.photo_reach(segments.boxes[index]) <= PHOTO_REACH):
                one_digit = (not surely_run and not wide and digit.box[2] <= ONE_DIGIT_ASPECT * digit.box[3]
                             and digit.confidence >= ONE_DIGIT_SURE)
                runs[index] = (read, cuts, surely_run, trusted, one_digit)
        if singles:  # a box the digit model would show as ? and the sequence model reads as one digit: both models
            digits = list(digits)
            for index, sequence_probabilities in singles.items():
                both = both_models(probabilities[index], sequence_probabilities)
                if both is not None:
                    value = int(both.argmax())
                    digits[index] = replace(digits[index], value=value, confidence=float(both[value]))
        if not runs:
            return digits, gaps
        # The digit model reads each piece as it reads a box: with the photo's shade (a piece the shade leaves empty,
        # with its mask). Tuning pages 1,181 -> 1,184 of 1,350 (3 fixed, none broken) against the plain mask's pieces.
        pieces = [normalize_digit(shaded[index][:, a:b] if shaded[index][:, a:b].any() else crops[index][:, a:b])
                  for index, (_, cuts, _, _, _) in runs.items() for a, b in cuts]
        classified = iter(apply_temperature(self.model.predict(np.stack(pieces).reshape(-1, *INPUT_SHAPE)), self.temperature))
        taken = {}
        for index, (read, cuts, surely_run, trusted, one_digit) in runs.items():
            piece_probabilities = [next(classified) for _ in cuts]
            if one_digit and rules_out(read, piece_probabilities, digits[index].value):
                continue
            if trusted or pieces_agree(read, piece_probabilities, digits[index].confidence):
                taken[index] = (read, cuts, surely_run, piece_probabilities)
        runs = taken
        if not runs:
            return digits, gaps
        new_digits, new_gaps = [], []
        for index, (digit, gap) in enumerate(zip(digits, gaps)):
            if index not in runs:
                new_digits.append(digit)
                new_gaps.append(gap)
                continue
            box, (run, cuts, _, piece_probabilities) = segments.boxes[index], runs[index]
            for k, (sequence_probabilities, piece, (start, stop)) in enumerate(zip(run.distributions, piece_probabilities, cuts)):
                # Two models that rule out each other's digit entirely: the sequence model saw the whole run.
                both = both_models(sequence_probabilities, piece)
                both = sequence_probabilities if both is None else both
                value = int(both.argmax())
                part = segments.original_box(replace(box, x=box.x + start, w=max(1, stop - start)))
                new_digits.append(Digit(value, float(both[value]), (part.x, part.y, part.w, part.h), digit.line))
                new_gaps.append(gap if k == len(cuts) - 1 else False)
        return new_digits, new_gaps


def summed(*timings: dict[str, float]) -> dict[str, float]:
    """Step timings (ms) of several reads added up, step by step."""
    return {key: sum(each[key] for each in timings) for key in timings[0]}


def writing_angle(reading: Reading) -> float:
    """Degrees that turn the writing level (as `cv2.getRotationMatrix2D` turns: counter-clockwise on the screen;
    a line falling to the right is positive), from the reading's digits (at least DESKEW_DIGITS): the median
    direction from each digit's box centre to its nearest neighbour's, those within 45 degrees of level (digits of
    one line are nearer each other than lines are), where those directions agree (their median distance from the
    median under DESKEW_SPREAD radians); else 0."""
    if len(reading.digits) < DESKEW_DIGITS:
        return 0.0
    centres = np.array([(x + w / 2, y + h / 2) for x, y, w, h in (digit.box for digit in reading.digits)], np.float64)
    apart = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    np.fill_diagonal(apart, np.inf)
    step = centres[apart.argmin(axis=1)] - centres
    step[step[:, 0] < 0] *= -1  # left to right
    angles = np.arctan2(step[:, 1], step[:, 0])
    angles = angles[np.abs(angles) < math.pi / 4]
    if len(angles) < DESKEW_DIGITS - 1:
        return 0.0
    middle = float(np.median(angles))
    if float(np.median(np.abs(angles - middle))) > DESKEW_SPREAD:
        return 0.0
    return math.degrees(middle)


def turned(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """`image` turned by `angle` degrees about its centre onto a canvas that holds all of it (edges repeated), and
    the 2x3 affine map from the turned canvas back to the image's pixels."""
    height, width = image.shape[:2]
    forward = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    cos, sin = abs(forward[0, 0]), abs(forward[0, 1])
    new_width, new_height = int(math.ceil(width * cos + height * sin)), int(math.ceil(width * sin + height * cos))
    forward[0, 2] += new_width / 2 - width / 2
    forward[1, 2] += new_height / 2 - height / 2
    level = cv2.warpAffine(image, forward, (new_width, new_height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return level, cv2.invertAffineTransform(forward)


def turned_box(box: tuple[int, int, int, int], back: np.ndarray) -> tuple[int, int, int, int]:
    """The box around a turned box's corners in the image's pixels (`back` from `turned`)."""
    x, y, w, h = box
    corners = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]], np.float64) @ back.T
    x0, y0 = np.floor(corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def check_second_look(second_look: int | None) -> int:
    """The second look's ink map size in px (None: SECOND_LOOK_SIDE; 0: no second look), or a one-line error."""
    second_look = SECOND_LOOK_SIDE if second_look is None else second_look
    if second_look and not INK_LONG_SIDE < second_look <= MAX_SECOND_LOOK:
        raise EdgeDigitsError(f"--second-look {second_look}: the second look's ink map is {INK_LONG_SIDE + 1}-"
                              f"{MAX_SECOND_LOOK} px on its long side; give a size in that range, or 0 for none")
    return second_look


def pieces_agree(decoded, piece_probabilities: list[np.ndarray], box_confidence: float) -> bool:
    """Whether the digit model reads each piece of a run (`piece_probabilities`) as the sequence model read it
    (`decoded`), the least sure piece, both models' probabilities multiplied, more surely than AGREE_TRUST times
    `box_confidence` (the digit model's reading of the whole box)."""
    if any(int(p.argmax()) != value for p, value in zip(piece_probabilities, decoded.digits)):
        return False
    return min(c * p[value] for c, p, value in zip(decoded.confidences, piece_probabilities, decoded.digits)) > AGREE_TRUST * box_confidence


def on_line(segments, box, start: int, stop: int, crop: np.ndarray | None = None) -> bool:
    """Whether the columns `start`..`stop` of `box` (its own ink `crop`, where at hand) hold an upright line of the
    photo's ink rather than a stroke written over one (`Segments.line_through`, LINE_THROUGH, LINE_DARKER)."""
    share, darker = segments.line_through(box, start, stop, crop)
    return share >= LINE_THROUGH and darker <= LINE_DARKER


def same_digit_twice(decoded, cuts: list[tuple[int, int]], box_value: int, height: int) -> bool:
    """Whether a run is the box's own digit twice (`box_value`, as the digit model read the whole box), each read
    more surely than DOUBLE_TRUST, each piece at least DOUBLE_PIECE times the box's `height` wide."""
    return (len(decoded.digits) == 2 and decoded.digits[0] == decoded.digits[1] == box_value
            and min(decoded.confidences) > DOUBLE_TRUST and all(b - a >= DOUBLE_PIECE * height for a, b in cuts))


def rules_out(decoded, piece_probabilities: list[np.ndarray], box_value: int) -> bool:
    """Whether the digit model, reading each piece of a run (`piece_probabilities`), gives a digit the sequence
    model read there (`decoded`) less than RULED_OUT, the digit it read the whole box as (`box_value`) and the narrow
    ones (NARROW_DIGITS, which a piece cut from a run often shows badly) excepted."""
    return any(value != box_value and value not in NARROW_DIGITS and p[value] < RULED_OUT
               for p, value in zip(piece_probabilities, decoded.digits))


def both_models(first: np.ndarray, second: np.ndarray) -> np.ndarray | None:
    """Two models' probabilities over the 10 digits multiplied and normalised; None where each rules out the
    other's digits entirely."""
    both = first * second
    total = both.sum()
    return both / total if total > 1e-6 else None


def run_pieces(decoded, width: int) -> list[tuple[int, int]]:
    """Each decoded digit's piece of a run `width` pixels wide: from halfway to the previous digit's columns
    to halfway to the next one's (the first from 0, the last to `width`)."""
    centres = [(start + stop) / 2 for start, stop in decoded.spans]
    edges = [0] + [round((a + b) / 2) for a, b in zip(centres, centres[1:])] + [width]
    return [(edges[k], max(edges[k] + 1, edges[k + 1])) for k in range(len(centres))]


def describe_reader(reader: Reader) -> str:
    """One line: the models a Reader reads with, and the provider."""
    ink = f"ink from {reader.ink_model.path}" if reader.ink_model else "threshold mask"
    if reader.ink_model and reader.second_look:
        ink += f" (a second look at {reader.second_look} px when unsure)"
    runs = f"runs read by {reader.sequence_model.path}" if reader.sequence_model else "runs shown as ?"
    return f"{reader.model.path}, {ink}, {runs}, on {reader.model.provider}"
