"""The sequence model for runs of touching digits: strings, strips, CTC decoding, its stages, and the Reader's use of it."""

from __future__ import annotations

import numpy as np
import pytest

from edgedigits.contract import SEQ_BLANK, SEQ_HEIGHT, SEQ_INK_HEIGHT, SEQ_STRIDE
from edgedigits.runtime.session import Model
from edgedigits.runtime.sequence import Decoded, greedy_decode, strip_and_place, to_strip

BLANK = SEQ_BLANK


def columns_for(symbols: list[int], confidence: float = 0.9) -> np.ndarray:
    """Column probabilities [T, 11] whose best path is `symbols`, one column each."""
    columns = np.full((len(symbols), 11), (1 - confidence) / 10, np.float32)
    columns[np.arange(len(symbols)), symbols] = confidence
    return columns


def test_greedy_decoding_merges_repeats_and_drops_blanks():
    assert greedy_decode(columns_for([BLANK, 3, 3, BLANK, 5, 5, 5, BLANK])).text == "35"
    assert greedy_decode(columns_for([BLANK, BLANK])).text == ""


def test_repeated_digits_need_a_blank_between_them():
    # "1100": two 1s and two 0s survive only with a blank between the equal symbols.
    assert greedy_decode(columns_for([1, 1, BLANK, 1, 0, BLANK, 0, 0])).text == "1100"
    assert greedy_decode(columns_for([1, 1, 1, 0, 0, 0])).text == "10"


def test_decoding_gives_each_digit_its_columns_and_confidence():
    columns = columns_for([BLANK, 7, 7, BLANK, 2, BLANK])
    columns[2, 7] = 0.99
    decoded = greedy_decode(columns)
    assert decoded.digits == [7, 2] and decoded.spans == [(1, 3), (4, 5)]
    assert decoded.confidences == [pytest.approx(0.99), pytest.approx(0.9)]
    assert decoded.distributions[0].argmax() == 7 and decoded.distributions[0].sum() == pytest.approx(1.0)


def test_run_pieces_reach_halfway_to_the_neighbours():
    from edgedigits.runtime.reader import run_pieces

    decoded = Decoded([1, 2, 3], [0.9] * 3, [(10, 14), (30, 34), (50, 54)])
    assert run_pieces(decoded, 70) == [(0, 22), (22, 42), (42, 70)]


def test_strip_keeps_aspect_and_places_the_ink():
    mask = np.zeros((100, 300), np.uint8)
    mask[20:80, 50:170] = 255  # 60 tall, 120 wide: 24 tall, 48 wide in the strip
    strip, (ink_x, crop_per_strip, strip_x) = strip_and_place(mask)
    assert strip.shape[0] == SEQ_HEIGHT and strip.shape[1] % SEQ_STRIDE == 0 and strip.dtype == np.float32
    rows, cols = np.flatnonzero(strip.max(axis=1) > 0.5), np.flatnonzero(strip.max(axis=0) > 0.5)
    assert len(rows) == SEQ_INK_HEIGHT and abs(len(cols) - 48) <= 1
    assert ink_x == 50 and crop_per_strip == pytest.approx(2.5) and strip_x == cols[0]
    assert np.array_equal(to_strip(mask), strip)
    assert to_strip(np.zeros((10, 10), np.uint8)).max() == 0  # an empty crop is a black strip


def test_synthetic_strings_touch_when_asked(mnist):
    from edgedigits.train.sequence import make_strings, synth_string

    (images, labels), _ = mnist
    rng = np.random.default_rng(0)
    mask, text, spans = synth_string(rng, images[:1000], labels[:1000], 4, gap_range=(-0.35, -0.1))
    assert len(text) == 4 and text.isdigit() and set(np.unique(mask)) <= {0, 255}
    assert all(spans[i + 1][0] < spans[i][1] for i in range(3))  # each digit starts before the last one ends
    strips, texts = make_strings(50, 1, (images[:1000], labels[:1000]), lengths=(1, 8))
    assert len(strips) == 50 and {len(t) for t in texts} <= set(range(1, 9)) and len({len(t) for t in texts}) > 4
    assert all(s.shape[0] == SEQ_HEIGHT and s.shape[1] % SEQ_STRIDE == 0 for s in strips)
    again, _ = make_strings(50, 1, (images[:1000], labels[:1000]), lengths=(1, 8))
    assert all(np.array_equal(a, b) for a, b in zip(strips, again))


def test_training_strings_give_ones_flags(mnist):
    from edgedigits.train.sequence import synth_string

    (images, labels), _ = mnist
    ones = images[labels == 1][:200]
    widths = {}
    for strokes in (False, True):
        rng = np.random.default_rng(5)
        masks = [synth_string(rng, ones, np.ones(len(ones), np.int64), 1, strokes=strokes)[0] for _ in range(60)]
        widths[strokes] = np.mean([m.any(axis=0).sum() / m.any(axis=1).sum() for m in masks if m.any()])
    assert widths[True] > widths[False] + 0.05  # flags make a 1 wider for its height


def test_ctc_loss_prefers_the_right_string():
    pytest.importorskip("tensorflow")
    from edgedigits.train.sequence import ctc_loss, encode_labels

    labels = encode_labels(["1100"])
    right = columns_for([1, BLANK, 1, 0, BLANK, 0], 0.95)[None]
    wrong = columns_for([1, BLANK, 7, 0, BLANK, 0], 0.95)[None]
    assert float(ctc_loss(labels, right)[0]) < float(ctc_loss(labels, wrong)[0])


class FixedSequence:
    """A stand-in sequence model that reads every run as `text`, spread evenly over the crop."""

    def __init__(self, text: str, confidence: float = 0.95):
        self.text, self.crops, self.confidence = text, [], confidence

    def read(self, crops):
        self.crops += crops
        results = []
        for crop in crops:
            step = crop.shape[1] / len(self.text)
            spans = [(round(i * step), round((i + 1) * step)) for i in range(len(self.text))]
            sure = [np.eye(10)[int(c)] for c in self.text]  # certain of each digit: the product keeps it
            results.append(Decoded([int(c) for c in self.text], [self.confidence] * len(self.text), spans, sure))
        return results


def test_reader_reads_a_touching_pair_with_the_sequence_model(tmp_path, mnist):
    """A generated run of two touching digits is one wide component: the Reader hands it to the sequence model
    and writes one digit per character it read, each with its own box inside the run's box."""
    import cv2

    from conftest import write_linear_onnx
    from edgedigits.runtime import Reader
    from edgedigits.runtime.segment import segment
    from edgedigits.runtime.sequence import SequenceModel
    from edgedigits.train.sequence import synth_string

    (images, labels), _ = mnist
    rng = np.random.default_rng(3)
    while True:  # two MNIST digits run together, one piece of ink wide enough to be a run, surely
        mask, text, _ = synth_string(rng, images[:2000], labels[:2000], 2, gap_range=(-0.3, -0.2))
        rows, cols = np.flatnonzero(mask.max(axis=1)), np.flatnonzero(mask.max(axis=0))
        ink = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        ink = cv2.resize(ink, None, fx=100 / ink.shape[0], fy=100 / ink.shape[0], interpolation=cv2.INTER_NEAREST)
        page = np.full((480, 640), 235, np.uint8)
        page[150 : 150 + ink.shape[0], 100 : 100 + ink.shape[1]][ink > 0] = 30
        if ink.shape[1] > 2.3 * ink.shape[0] and len(segment(page).boxes) == 1:
            break
    classifier = write_linear_onnx(tmp_path / "linear.onnx")

    without = Reader(classifier, device="cpu")
    unsure = without.read(page).text  # no sequence model: one ? per digit the run seems to hold
    assert set(unsure) == {"?"} and len(unsure) >= 2

    reader = Reader(classifier, device="cpu")
    reader.sequence_model = FixedSequence("47")
    reading = reader.read(page)
    assert len(reader.sequence_model.crops) == 1 and reading.text == "47"
    (x0, _, w0, _), (x1, _, w1, _) = reading.digits[0].box, reading.digits[1].box
    assert 90 <= x0 < x1 and x1 + w1 <= 100 + ink.shape[1] + 10 and w0 < ink.shape[1] / 1.5
    assert isinstance(SequenceModel, type)


class ReadsAs(Model):
    """A stand-in digit classifier: `digit` at `probability` (the rest shared evenly), whatever it is shown (a box
    or a piece of one)."""

    def __init__(self, digit: int, probability: float):
        super().__init__(path=f"reads-{digit}", session=None, provider="test", metadata={})
        self.digit, self.probability = digit, probability

    def predict(self, images, batch_size=256):
        row = np.full(10, (1 - self.probability) / 9, np.float32)
        row[self.digit] = self.probability
        return np.tile(row, (len(images), 1))


@pytest.mark.parametrize("wide", [True, False])
def test_a_box_wider_than_the_page_s_digits_is_a_run_when_the_sequence_model_is_fairly_sure(wide):
    """A 7 with a 1 touching it is a box no wider than some single digits (under RUN_ASPECT), and the digit model
    reads it as a 7 with all its confidence. When the box is WIDER_THAN_TYPICAL times wider than the page's other
    digits, two digits the sequence model reads at 0.7 (over WIDE_RUN_TRUST) are taken; in a box as wide as the
    others they are not (0.7 is under RUN_TRUST times the digit model's 1.0)."""
    from edgedigits.runtime import Reader
    from edgedigits.runtime.reader import RUN_ASPECT, RUN_TRUST, WIDE_RUN_TRUST, WIDER_THAN_TYPICAL

    page = np.full((300, 900), 235, np.uint8)
    import cv2

    for x in (100, 250, 400):
        cv2.ellipse(page, (x + 30, 150), (26, 46), 0, 0, 360, 30, 8)  # three digits 0.6 heights wide
    width = 130 if wide else 64
    assert width / 100 <= RUN_ASPECT and (width / 100 > WIDER_THAN_TYPICAL * 0.6) == wide
    cv2.ellipse(page, (550 + width // 2, 150), (width // 2 - 4, 46), 0, 0, 360, 30, 8)
    reader = Reader(ReadsAs(7, 1.0))
    reader.sequence_model = FixedSequence("71", confidence=0.7)
    assert WIDE_RUN_TRUST < 0.7 < RUN_TRUST
    assert reader.read(page).text == ("77771" if wide else "7777")


def test_a_pair_is_measured_against_the_narrower_of_two_boxes():
    """A page of two boxes, a touching pair as wide as tall and a digit half as wide: the page's typical box is
    the narrower one (the lower median), so the pair is WIDER_THAN_TYPICAL and the sequence model's "71" at 0.7
    is taken over the digit model's certain 7."""
    import cv2

    from edgedigits.runtime import Reader

    page = np.full((300, 700), 235, np.uint8)
    cv2.ellipse(page, (130, 150), (26, 46), 0, 0, 360, 30, 8)  # a digit 0.6 heights wide
    cv2.ellipse(page, (240, 150), (46, 46), 0, 0, 360, 30, 8)  # a pair 1.0 heights wide (under RUN_ASPECT)
    reader = Reader(ReadsAs(7, 1.0))
    reader.sequence_model = FixedSequence("71", confidence=0.7)
    assert reader.read(page).text == "771"


@pytest.mark.parametrize("ones_count", [False, True])
def test_a_one_does_not_make_the_page_s_typical_box_narrow(ones_count, monkeypatch):
    """The seed's own "2017": the 0 is a box 1.1 heights wide, the 2 0.8, the 7 1.0, the 1 0.1. The 1 is left out
    of the page's typical box (the lower median of the others: the 7's 1.0), so the 0 is not WIDER_THAN_TYPICAL
    and the sequence model's "60" at 0.9 (the 0's lead-in hook read as a 6) does not replace the digit model's
    certain reading. Were 1s counted (THINNEST_TYPICAL 0), the typical box would be the 2 and the 0 a run."""
    import cv2

    import edgedigits.runtime.reader as reading
    from edgedigits.runtime import Reader

    if ones_count:
        monkeypatch.setattr(reading, "THINNEST_TYPICAL", 0.0)
    page = np.full((300, 900), 235, np.uint8)
    cv2.ellipse(page, (100, 150), (35, 46), 0, 0, 360, 30, 8)  # "2", 0.78 heights wide
    cv2.ellipse(page, (250, 150), (51, 46), 0, 0, 360, 30, 8)  # "0", 1.1
    cv2.line(page, (380, 104), (380, 196), 30, 8)  # "1", 0.1
    cv2.ellipse(page, (500, 150), (46, 46), 0, 0, 360, 30, 8)  # "7", 1.0
    reader = Reader(ReadsAs(7, 1.0))
    reader.sequence_model = FixedSequence("60", confidence=0.9)
    assert reader.read(page).text == ("76077" if ones_count else "7777")


@pytest.mark.parametrize("text, pair, expected", [
    ("60", False, "0"),  # a box 1.1 heights wide: one digit's size, and a 6 the digit model rules out in its piece
    ("10", False, "10"),  # a 1 is narrow: a piece cut from a run often shows it badly, so it is never ruled out
    ("60", True, "60"),  # two rings overlapping, 1.4 heights wide (over ONE_DIGIT_ASPECT): the sequence model's run
])
def test_a_box_the_size_of_one_sure_digit_is_not_cut_into_digits_the_digit_model_rules_out(text, pair, expected):
    """The seed's "2017" turned 3 degrees: the 0, with a curl inside it, is a box 1.1 heights wide that the digit
    model reads as a 0 at 1.00 and the sequence model as "60" at 0.97-0.99 (over RUN_TRUST). Read alone, the 0's
    left piece is no 6 to the digit model (under RULED_OUT), so the box stays one 0; in a box two digits wide the
    sequence model's run is taken."""
    import cv2

    from edgedigits.runtime import Reader
    from edgedigits.runtime.reader import ONE_DIGIT_ASPECT, RULED_OUT

    assert (2 * 51 + 8) / (2 * 46 + 8) < ONE_DIGIT_ASPECT < (232 - 170 + 2 * 34 + 8) / (2 * 46 + 8)
    assert 0.01 / 9 < RULED_OUT
    page = np.full((300, 400), 235, np.uint8)
    if pair:
        cv2.ellipse(page, (170, 150), (34, 46), 0, 0, 360, 30, 8)
        cv2.ellipse(page, (232, 150), (34, 46), 0, 0, 360, 30, 8)
    else:
        cv2.ellipse(page, (200, 150), (51, 46), 0, 0, 360, 30, 8)
    reader = Reader(ReadsAs(0, 0.99))
    reader.sequence_model = FixedSequence(text, confidence=0.995)
    assert reader.read(page).text == expected


def margin_page(pen: bool):
    """A 3 whose middle stroke runs into a margin line (grey 90 on paper 215, top to bottom), and the ink map's
    view of it: the 3 and the line's piece beside it, one component. `pen`: a 1 written over the line there."""
    import cv2

    gray = np.full((480, 640), 215, np.uint8)
    cv2.line(gray, (300, 0), (300, 479), 90, 4)
    if pen:
        cv2.line(gray, (300, 200), (300, 260), 20, 6)
    cv2.ellipse(gray, (260, 230), (15, 28), 0, -90, 90, 20, 5)
    cv2.line(gray, (275, 230), (300, 230), 20, 5)
    ink = np.zeros((240, 320), np.uint8)
    cv2.ellipse(ink, (130, 115), (8, 14), 0, -90, 90, 255, 3)
    ink[114:117, 137:151] = 255
    ink[100:130, 149:152] = 255
    return gray, ink


@pytest.mark.parametrize("pen, expected", [(False, "3"), (True, "31")])
def test_a_1_read_where_a_margin_line_runs_through_is_the_line(pen, expected):
    """A margin glued to a 3 in the ink map: the sequence model reads the run as "31", the 1 being the line's piece.
    Where the photo's own ink runs on above and below that piece (LINE_THROUGH of the rows a box height away) and
    the piece is no darker than that line (LINE_DARKER), the 1 is the line and the run is read without it; a 1
    written over the line, darker than it, stays."""
    from edgedigits.contract import INK_LONG_SIDE
    from edgedigits.runtime import Reader
    from edgedigits.runtime.reader import LINE_DARKER, LINE_THROUGH, on_line
    from edgedigits.runtime.segment import segment

    gray, ink = margin_page(pen)
    reader = Reader(ReadsAs(3, 0.9))
    reader.sequence_model = FixedSequence("31", confidence=0.995)  # surer than the digit model: taken as it reads
    segments = segment(gray, ink=ink)
    (box,) = segments.boxes
    share, darker = segments.line_through(box, box.w // 2, box.w)
    assert share >= LINE_THROUGH and (darker > LINE_DARKER) == pen
    assert on_line(segments, box, box.w // 2, box.w) == (not pen)
    assert segments.line_through(box, 0, box.w // 4)[0] < LINE_THROUGH  # the 3's own columns: no line
    assert "".join(reader.read_at(gray, INK_LONG_SIDE, ink=ink).lines) == expected


class NarrowFirst(FixedSequence):
    """Reads two digits whose first one gets a narrow piece: 0.8 NARROWEST_PIECE of the run's width (the runs of
    the test are about as wide as tall), its columns at the run's left edge."""

    def read(self, crops):
        from edgedigits.runtime.reader import NARROWEST_PIECE

        results = []
        for crop in crops:
            width = crop.shape[1]
            second = 2 * 0.8 * NARROWEST_PIECE - 0.01  # the piece's edge lies halfway between the two digits' columns
            spans = [(0, round(0.02 * width)), (round((second - 0.05) * width), round((second + 0.05) * width))]
            sure = [np.eye(10)[int(c)] for c in self.text]
            results.append(Decoded([int(c) for c in self.text], [self.confidence] * 2, spans, sure))
        return results


@pytest.mark.parametrize("text, expected", [("70", "70"), ("60", "0"), ("10", "10")])
def test_a_narrow_piece_of_a_run_is_a_1_or_a_7_never_another_digit(text, expected):
    """The sequence model reads a 0 with a loop inside as "60", the 6 being the loop: a piece that narrow (under
    NARROWEST_PIECE heights) holds no digit, so the digit model's reading stands. A 1 and a 7 (its stem and bar,
    cut from "73") are that narrow, and are read."""
    import cv2

    from edgedigits.runtime import Reader
    from edgedigits.runtime.reader import NARROW_DIGITS

    assert {1, 7} <= set(NARROW_DIGITS) and 6 not in NARROW_DIGITS
    page = np.full((300, 400), 235, np.uint8)
    cv2.ellipse(page, (200, 150), (46, 46), 0, 0, 360, 30, 8)  # one box, as wide as tall: not surely a run
    reader = Reader(ReadsAs(0, 0.5))
    reader.sequence_model = NarrowFirst(text)
    assert reader.read(page).text == expected


@pytest.mark.parametrize("confidence, expected", [(0.95, "00"), (0.6, "0")])
def test_the_box_s_own_digit_twice_is_taken_with_narrower_pieces(confidence, expected):
    """Two 0s written overlapping: one box, a 0 to the digit model. The sequence model reads "00", the first piece
    narrower than NARROWEST_PIECE heights (which keeps a 0's inner loop from being a 6) but wider than DOUBLE_PIECE:
    the box's own digit twice, each read more surely than DOUBLE_TRUST, is taken; read less surely, the box stays
    one 0."""
    import cv2

    from edgedigits.runtime import Reader
    from edgedigits.runtime.reader import DOUBLE_PIECE, DOUBLE_TRUST, NARROWEST_PIECE

    assert DOUBLE_PIECE < 0.8 * NARROWEST_PIECE and 0.6 < DOUBLE_TRUST < 0.95
    page = np.full((300, 400), 235, np.uint8)
    cv2.ellipse(page, (200, 150), (46, 46), 0, 0, 360, 30, 8)
    reader = Reader(ReadsAs(0, 0.5))
    reader.sequence_model = NarrowFirst("00")
    reader.sequence_model.confidence = confidence
    assert reader.read(page).text == expected


@pytest.mark.parametrize("sure", [True, False])
def test_a_narrow_box_the_digit_model_is_unsure_of_goes_to_the_sequence_model(sure):
    """A 1 glued to the digit beside it makes a box hardly wider than one digit (under SEQUENCE_ASPECT): the
    digit model reads it as one digit. When it is unsure of that digit (under SEQUENCE_UNSURE), the sequence
    model reads the box too, and its "17" is taken; when it is sure, the sequence model is not asked."""
    import cv2

    from edgedigits.runtime import Reader
    from edgedigits.runtime.reader import SEQUENCE_ASPECT, SEQUENCE_UNSURE

    page = np.full((300, 400), 235, np.uint8)
    cv2.ellipse(page, (200, 150), (28, 46), 0, 0, 360, 30, 8)  # a box 0.6 heights wide
    assert 0.6 < SEQUENCE_ASPECT and 0.5 < SEQUENCE_UNSURE
    reader = Reader(ReadsAs(7, 1.0) if sure else ReadsAs(0, 0.5))
    reader.sequence_model = FixedSequence("17")  # two narrow digits (NARROW_DIGITS): pieces this narrow may hold them
    assert reader.read(page).text == ("7" if sure else "17")
    assert len(reader.sequence_model.crops) == (0 if sure else 1)


class TornBetweenThreeAndFive(Model):
    """A stand-in digit classifier: a 3 at 0.4 or a 5 at 0.35, whatever it is shown (it would show a ?)."""

    def __init__(self):
        super().__init__(path="torn", session=None, provider="test", metadata={})

    def predict(self, images, batch_size=256):
        row = np.full(10, 0.25 / 8, np.float32)
        row[3], row[5] = 0.4, 0.35
        return np.tile(row, (len(images), 1))


class SoftFive(FixedSequence):
    """Reads every box as one 5 at 0.8 (a 3 at 0.1)."""

    def read(self, crops):
        self.crops += crops
        probabilities = np.full(10, 0.1 / 8)
        probabilities[5], probabilities[3] = 0.8, 0.1
        return [Decoded([5], [0.8], [(0, crop.shape[1])], [probabilities]) for crop in crops]


@pytest.mark.parametrize("classifier, sequence, expected", [
    ("torn", True, "5"),  # 0.35 x 0.8 against 0.4 x 0.1: a 5, at 0.87
    ("torn", False, "?"),  # the digit model alone is unsure
    ("sure", True, "7"),  # a digit the digit model reads surely keeps its reading
])
def test_a_digit_the_digit_model_is_unsure_of_is_read_by_both_models(classifier, sequence, expected):
    """A box the digit model would show as ? that the sequence model reads as one digit: the digit is the most
    likely under both models (their probabilities multiplied), shown when that is sure enough."""
    import cv2

    from edgedigits.runtime import Reader

    page = np.full((300, 400), 235, np.uint8)
    cv2.ellipse(page, (200, 150), (28, 46), 0, 0, 360, 30, 8)
    reader = Reader(TornBetweenThreeAndFive() if classifier == "torn" else ReadsAs(7, 1.0))
    reader.sequence_model = SoftFive("5") if sequence else None
    reading = reader.read(page)
    assert reading.text == expected
    if expected == "5":
        assert reading.digits[0].confidence == pytest.approx(0.35 * 0.8 / (0.35 * 0.8 + 0.4 * 0.1 + 8 * (0.25 / 8) * (0.1 / 8)), abs=1e-3)


@pytest.mark.slow
def test_tiny_sequence_model_goes_through_every_stage(tmp_path, monkeypatch):
    """Train briefly, export with parity on held-out strings, quantize behind the string gate, read a strip."""
    import onnx

    from edgedigits import model_index
    from edgedigits.model_index import default_model
    from edgedigits.runtime.sequence import open_sequence_model
    from edgedigits.train import sequence

    config = sequence.SequenceTrainConfig(strings=256, held_out=32, epochs=1, stages=((4,), (8,), (8,), (8,), (8,)), recurrent=4)
    metrics = sequence.train_sequence(config, tmp_path)
    assert (tmp_path / "seqread.keras").is_file() and 0 <= metrics["held_out_string_accuracy"] <= 1
    parity = sequence.export_sequence(tmp_path, held_out=32)
    assert parity["max_abs_diff"] <= sequence.PARITY_TOLERANCE and parity["agreement"] == 1.0
    proto = onnx.load(tmp_path / "seqread.onnx")
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", SEQ_HEIGHT, "W", 1]
    monkeypatch.setattr(sequence, "MAX_STRING_DROP", 1.0)  # a one-epoch model reads nothing: test the chain
    report = sequence.calibrate_sequence(tmp_path, samples=32, held_out=32)
    assert report["gate"]["passed"] and (tmp_path / "seqread.int8.onnx").is_file()
    report = sequence.calibrate_sequence(tmp_path, samples=32, held_out=32)  # again: `make calibrate` twice
    assert report["gate"]["passed"]
    assert model_index.entry_for(tmp_path / "seqread.int8.onnx")["kind"] == "sequence" and default_model(tmp_path) is None
    assert all((tmp_path / e["file"]).is_file() for e in model_index.read_entries(tmp_path))  # no temporary's entry
    model = open_sequence_model(tmp_path / "seqread.int8.onnx", device="cpu")
    mask = np.zeros((40, 120), np.uint8)
    mask[5:35, 10:110] = 255
    assert isinstance(model.read([mask])[0], Decoded)


def test_a_box_without_ink_is_dropped_not_fatal(tmp_path, monkeypatch):
    """A box whose own ink is gone (its crop is empty) is skipped; the rest of the page still reads."""
    import edgedigits.runtime.reader as reader_module
    from conftest import write_linear_onnx
    from edgedigits.runtime import Reader
    from edgedigits.runtime.segment import Box, Segments

    mask = np.zeros((100, 200), np.uint8)
    labels = np.zeros((50, 100), np.int32)
    mask[20:60, 20:30] = 255
    labels[10:30, 10:15] = 1
    boxes = [Box(20, 20, 10, 40, (1,), 0), Box(100, 20, 30, 40, (2,), 0)]  # label 2 has no pixels
    monkeypatch.setattr(reader_module, "segment", lambda image, ink=None: Segments(mask, labels, boxes, 1.0, [False, False]))
    reading = Reader(write_linear_onnx(tmp_path / "linear.onnx"), device="cpu").read(np.zeros((100, 200), np.uint8))
    assert len(reading.digits) == 1 and reading.digits[0].box[0] == 20


class WholeAndPieces(Model):
    """A stand-in digit classifier: every box of the page a 9 at 0.93 (a 1 glued to a 9 reads as the 9), and the
    pieces of a run (its second call) read as `pieces`, each at 0.95."""

    def __init__(self, pieces: str):
        super().__init__(path="pieces", session=None, provider="test", metadata={})
        self.pieces, self.calls = pieces, 0

    def predict(self, images, batch_size=256):
        self.calls += 1
        rows = []
        for k in range(len(images)):
            value, sure = (9, 0.93) if self.calls == 1 else (int(self.pieces[k % len(self.pieces)]), 0.95)
            row = np.full(10, (1 - sure) / 9, np.float32)
            row[value] = sure
            rows.append(row)
        return np.array(rows)


class StandInInk:
    """A stand-in ink segmenter that returns a fixed map, whatever size it is asked for (a second look reads the
    same as the first), and sees nothing from afar (the look from afar has its own tests)."""

    def __init__(self, ink):
        self.ink = ink

    def ink_map(self, image, long_side=None):
        return self.ink

    def far_map(self, image, far):
        return np.zeros_like(self.ink)


@pytest.mark.parametrize("pieces, line, expected", [("19", False, "19"), ("79", False, "9"), ("19", True, "9")])
def test_a_run_read_unsurely_is_taken_where_the_digit_model_reads_its_pieces_the_same(pieces, line, expected):
    """The sequence model reads a box the digit model takes for a 9 at 0.93 as "19", at 0.6 a digit: under RUN_TRUST
    times 0.93. Its digits are still taken where the digit model reads the run's pieces as 1 and 9 (0.6 x 0.95 over
    AGREE_TRUST x 0.93); not where it reads a piece as another digit, nor where the photo's ink of the box runs on
    past it (a margin line glued to a digit, read as a 1 by both models)."""
    from conftest import digit_glued_to_a_line

    from edgedigits.runtime import Reader
    from edgedigits.runtime.reader import AGREE_TRUST, RUN_TRUST

    assert 0.6 < RUN_TRUST * 0.93 and 0.6 * 0.95 > AGREE_TRUST * 0.93
    page, ink = digit_glued_to_a_line(line)
    reader = Reader(WholeAndPieces(pieces))
    reader.ink_model, reader.sequence_model = StandInInk(ink), FixedSequence("19", confidence=0.6)
    assert reader.read(page).text == expected
    assert len(reader.sequence_model.crops) == 1


def load_oversegment():
    """benchmarks/oversegment.py, loaded from its path (the benchmarks are scripts, not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "oversegment.py"
    spec = importlib.util.spec_from_file_location("oversegment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ReadsByWidth(Model):
    """A stand-in digit classifier: a piece about one bar wide (a bar is 8 px, normalised to a narrow input) is
    a 1 at 0.99; anything wider a 4 at 0.6."""

    def __init__(self):
        super().__init__(path="width", session=None, provider="test", metadata={})

    def predict(self, images, batch_size=256):
        rows = np.zeros((len(images), 10), np.float32)
        for k, image in enumerate(images.reshape(len(images), 28, 28)):
            columns = np.flatnonzero(image.max(axis=0) > 0.5)
            value, sure = (1, 0.99) if columns.size and columns[-1] - columns[0] < 12 else (4, 0.6)
            rows[k] = (1 - sure) / 9
            rows[k, value] = sure
        return rows


def test_over_segmentation_takes_the_cuts_whose_pieces_read_most_surely():
    """Two bars 4 px apart: cut between them each is a 1 at 0.99 (log 0.99 twice beats one piece read 4 at 0.6);
    the best path reads "11". One bar alone reads "1"."""
    overseg = load_oversegment()
    strip = np.zeros((24, 40), np.uint8)
    strip[:, 10:18] = 255
    strip[:, 22:30] = 255
    assert overseg.oversegment(strip, ReadsByWidth(), 1.0) == "11"
    strip[:, 22:30] = 0
    assert overseg.oversegment(strip, ReadsByWidth(), 1.0) == "1"


def test_the_pieces_of_a_run_are_cut_from_its_shaded_crop():
    """The digit model reads each piece of a run as it reads a box: from the box's shaded crop (a 0 drawn half dark,
    half light, so that the shaded and the plain pieces differ)."""
    import cv2

    from edgedigits.runtime import Reader
    from edgedigits.runtime.normalize import normalize_digit
    from edgedigits.runtime.reader import run_pieces
    from edgedigits.runtime.segment import segment

    page = np.full((480, 640), 235, np.uint8)
    cv2.ellipse(page, (300, 240), (40, 50), 0, 90, 270, 30, 8)
    cv2.ellipse(page, (300, 240), (40, 50), 0, -90, 90, 150, 8)
    ink = np.zeros((480, 640), np.uint8)
    cv2.ellipse(ink, (300, 240), (40, 50), 0, 0, 360, 255, 8)
    ink = cv2.resize(ink, (320, 240))
    model, seen = WholeAndPieces("19"), []
    answer = model.predict
    model.predict = lambda images, batch_size=256: seen.append(np.array(images)) or answer(images, batch_size)
    reader = Reader(model)
    reader.ink_model, reader.sequence_model = StandInInk(ink), FixedSequence("19", confidence=0.6)
    assert reader.read(page).text == "19"
    segments = segment(page, ink=ink)
    (box,) = segments.boxes
    shaded, plain = segments.shaded_crop(box), segments.crop(box)
    cuts = run_pieces(FixedSequence("19").read([plain])[0], plain.shape[1])
    expected = np.stack([normalize_digit(shaded[:, a:b]) for a, b in cuts])
    np.testing.assert_array_equal(seen[1].reshape(expected.shape), expected)
    assert not np.array_equal(expected, np.stack([normalize_digit(plain[:, a:b]) for a, b in cuts]))
