"""The learned ink segmenter: its training pages, its contract at run time, and its stages on a tiny model."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from edgedigits.contract import INK_INPUT_NAME, INK_MULTIPLE, INK_OUTPUT_NAME
from edgedigits.runtime.inkmask import InkModel, ink_input_size, to_photo, zoom_window
from edgedigits.runtime.segment import find_components, learned_mask, segment


def test_photo_input_keeps_the_long_side_and_pads_to_the_multiple():
    image = np.full((480, 640, 3), 200, np.uint8)
    image[100:140, 300:310] = 20
    photo, (height, width) = to_photo(image)
    assert (height, width) == (240, 320) and photo.shape == (1, 240, 320, 3) and photo.dtype == np.float32
    assert photo.max() <= 1.0 and photo.min() >= 0.0
    wide, (h, w) = to_photo(np.zeros((1080, 1920), np.uint8))  # gray, 16:9: padded rows
    assert (h, w) == (180, 320) and wide.shape == (1, 192, 320, 3) and wide.shape[1] % INK_MULTIPLE == 0
    assert ink_input_size(100, 50) == (320, 160)  # small photos are enlarged to the working size


def test_learned_mask_follows_the_map_and_sharpens_with_the_photo():
    gray = np.full((480, 640), 210, np.uint8)
    gray[100:200, 300:306] = 30  # a stroke
    gray[300, :] = 120  # a ruled line the map does not mark
    ink = np.zeros((240, 320), np.uint8)
    ink[48:102, 147:156] = 255  # the map marks the stroke, wider than it is
    mask, strength, _ = learned_mask(ink, gray)
    assert strength.shape == gray.shape and strength[150, 302] > strength[150, 296]
    assert mask[150, 302] == 255  # the stroke
    assert mask[150, 296] == 0  # marked by the map but paper in the photo: sharpened away
    assert mask[300].max() == 0  # the line is not digit ink


def test_learned_mask_refines_only_around_the_map_s_ink_and_as_on_the_whole_frame():
    """The map's core and the photo's detail are combined in the rectangle around the map's ink only: the same mask
    as combining them over the whole frame, for ink in the middle and on the frame's edges."""
    from edgedigits.runtime.segment import CORE_DEPTH, INK_THRESHOLD

    rng = np.random.default_rng(2)
    for trial in range(20):
        gray = np.clip(rng.normal(200, 12, (480, 640)), 0, 255).astype(np.uint8)
        ink = np.zeros((240, 320), np.uint8)
        for _ in range(3):
            x, y = int(rng.integers(0, 300)), int(rng.integers(0, 220))
            if trial % 4 == 0:
                x = 0 if trial % 8 == 0 else 312  # on the edge
            gray[2 * y : 2 * y + 40, 2 * x : 2 * x + 12] = 40
            ink[y : y + 22, x : x + 8] = 255
        mask, _, sharp = learned_mask(ink, gray)
        cut = round(INK_THRESHOLD * 255) - 1
        whole = cv2.threshold(cv2.resize(ink, (640, 480), interpolation=cv2.INTER_LINEAR), cut, 255, cv2.THRESH_BINARY)[1]
        reach = 2 * max(1, round(CORE_DEPTH * 2)) + 1
        core = cv2.erode(whole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
        assert np.array_equal(mask, cv2.min(whole, cv2.max(sharp, core)))


def test_segment_with_an_ink_map_boxes_what_the_map_marks():
    gray = np.full((480, 640), 220, np.uint8)
    ink = np.zeros((240, 320), np.uint8)
    for x in (100, 160):
        gray[100:200, 2 * x : 2 * x + 8] = 20
        ink[50:100, x : x + 4] = 255
    gray[250:252, 50:600] = 20  # an underline: dark, but not digit ink in the map
    segments = segment(gray, ink=ink)
    assert len(segments.boxes) == 2
    assert all(95 <= box.y <= 105 and 90 <= box.h <= 110 for box in segments.boxes)


def test_a_bold_digit_the_map_fills_in_is_not_a_blot():
    gray = np.full((480, 640), 220, np.uint8)
    cv2.ellipse(gray, (320, 240), (30, 46), 0, 0, 360, 20, 24)  # a bold 0 with a small hole
    gray[100:190, 200:208] = 20  # and a 1 beside it
    ink = np.zeros((240, 320), np.uint8)
    cv2.ellipse(ink, (160, 120), (16, 24), 0, 0, 360, 255, -1)  # the map (at half size) fills the hole
    ink[50:95, 100:104] = 255
    assert len(segment(gray, ink=ink).boxes) == 2  # the threshold's blot rule (shadows, smudges) is not for the map
    smudge = np.zeros((480, 640), np.uint8)
    smudge[200:300, 280:360] = 255  # in the threshold's mask, a filled box is a smudge or a shadow
    assert find_components(smudge)[1] == [] and len(find_components(smudge, blots=False)[1]) == 1


def test_training_pages_have_exact_targets(mnist):
    from edgedigits.train.inkseg import PAGE_SHAPE, draw_pages

    (images, labels), _ = mnist
    photos, targets = draw_pages(5, 4, (images[:2000], labels[:2000]))
    assert photos.shape == (4, *PAGE_SHAPE, 3) and targets.shape == (4, *PAGE_SHAPE)
    for photo, target in zip(photos, targets):
        ink = target > 127
        assert 0 < ink.mean() < 0.3  # digits are marked, and they are a small part of the page
        # Digit ink is darker (or, on a blackboard, brighter) than the paper right around it.
        near = cv2.dilate(ink.astype(np.uint8), np.ones((9, 9), np.uint8)) > cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8))
        gray = photo.mean(axis=2)
        assert abs(gray[ink].mean() - gray[near].mean()) > 8
    again, _ = draw_pages(5, 4, (images[:2000], labels[:2000]))
    assert np.array_equal(photos, again)  # deterministic by seed
    hard, hard_targets = draw_pages(5, 4, (images[:2000], labels[:2000]), hard_share=1.0)
    assert not np.array_equal(photos, hard) and all(0 < (t > 127).mean() < 0.3 for t in hard_targets)
    circled, circled_targets = draw_pages(5, 4, (images[:2000], labels[:2000]), circle_share=1.0)
    assert not np.array_equal(photos, circled) and all(0 < (t > 127).mean() < 0.3 for t in circled_targets)


def test_page_look_draws_hard_looks_and_circles_at_their_shares():
    from edgedigits.fieldset_realistic import LEVELS
    from edgedigits.train.inkseg import HARD_LOOKS, page_look

    looks = np.random.default_rng(0)
    assert [page_look(i, looks, 0.0, 0.0) for i in range(3)] == [(level, {}) for level in LEVELS]
    hard = [page_look(i, looks, 1.0, 0.0) for i in range(40)]
    assert all(level != "easy" and (look["paper"], look["ink"]) in HARD_LOOKS for level, look in hard)
    assert len({(look["paper"], look["ink"]) for _, look in hard}) > 2
    assert all(look == {"clutter": "circle"} and level != "easy" for level, look in (page_look(i, looks, 0.0, 1.0) for i in range(9)))
    drawn = [page_look(i, looks, 0.3, 0.2)[1] for i in range(2000)]
    assert abs(sum("paper" in d for d in drawn) / 2000 - 0.3) < 0.04 and abs(sum("clutter" in d for d in drawn) / 2000 - 0.2) < 0.04


def test_mask_iou():
    from edgedigits.train.inkseg import mask_iou

    targets = np.zeros((1, 8, 8), np.uint8)
    targets[0, :4] = 255
    probabilities = np.zeros((1, 8, 8, 1), np.float32)
    probabilities[0, :2] = 0.9
    assert mask_iou(probabilities, targets) == pytest.approx(0.5)
    assert mask_iou(np.zeros((1, 8, 8, 1)), np.zeros((1, 8, 8), np.uint8)) == 1.0


@pytest.mark.slow
def test_tiny_ink_segmenter_goes_through_every_stage(tmp_path, monkeypatch):
    """Train for one epoch on a few pages, export with parity, quantize behind the IoU gate, open at run time."""
    import onnx

    from edgedigits import model_index
    from edgedigits.model_index import default_ink_model, default_model
    from edgedigits.runtime.inkmask import open_ink_model
    from edgedigits.train import inkseg

    config = inkseg.InkTrainConfig(pages=24, held_out=8, epochs=1, batch_size=8, widths=(4, 8, 8, 8))
    metrics = inkseg.train_inkseg(config, tmp_path)
    assert (tmp_path / "inkseg.keras").is_file() and (tmp_path / "inkseg" / "samples.png").is_file()
    assert 0.0 <= metrics["held_out_iou"] <= 1.0 and metrics["parameters"] < 5000

    parity = inkseg.export_inkseg(tmp_path, held_out=6)
    assert parity["max_abs_diff"] <= inkseg.PARITY_TOLERANCE and parity["mask_agreement"] > 0.999
    proto = onnx.load(tmp_path / "inkseg.onnx")
    assert [i.name for i in proto.graph.input] == [INK_INPUT_NAME] and [o.name for o in proto.graph.output] == [INK_OUTPUT_NAME]
    assert [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim[:3]] == ["N", "H", "W"]
    assert {p.key: p.value for p in proto.metadata_props}["light"] == "flattened"
    ops = {node.op_type for node in proto.graph.node}  # dilations and upsampling as single ops, constant scales
    assert "Resize" in ops and not ops & {"SpaceToDepth", "Tile", "Pad", "Shape"}

    monkeypatch.setattr(inkseg, "MAX_IOU_DROP", 1.0)  # a one-epoch model's IoU is noise: test the chain, not the gate
    report = inkseg.calibrate_inkseg(tmp_path, samples=8, held_out=6)
    assert report["gate"]["passed"] and (tmp_path / "inkseg.int8.onnx").is_file()
    entries = {e["file"]: e for e in model_index.read_entries(tmp_path)}
    assert entries["inkseg.int8.onnx"]["kind"] == "inkseg" and entries["inkseg.onnx"]["parity"]["pages"] == 6
    assert all((tmp_path / e["file"]).is_file() for e in model_index.read_entries(tmp_path))  # no temporary's entry
    assert default_ink_model(tmp_path) is not None and default_model(tmp_path) is None  # never taken for a digit model

    model = open_ink_model(default_ink_model(tmp_path), device="cpu")
    assert model.flatten  # the INT8 file keeps the fp32 one's metadata
    ink = model.ink_map(np.full((480, 640, 3), 200, np.uint8))
    assert ink.shape == (240, 320) and ink.dtype == np.uint8


def test_export_form_is_the_same_network_in_single_ops():
    """Dilated depthwise kernels spread out with zeros, nearest upsampling as one resize: the same outputs."""
    import keras

    from edgedigits.train.inkseg import build_inkseg
    from edgedigits.train.layers import NearestUp, export_form

    model = build_inkseg((4, 8, 8, 8))
    rng = np.random.default_rng(0)
    for layer in model.layers:  # batch statistics of a trained network: no stage left dead behind its ReLU
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.uniform(0.1, 0.5, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, variance.shape)])
    exported = export_form(model)
    kinds = [type(layer) for layer in exported.layers]
    assert keras.layers.UpSampling2D not in kinds and NearestUp in kinds
    assert all(layer.dilation_rate == (1, 1) for layer in exported.layers if isinstance(layer, keras.layers.DepthwiseConv2D))
    assert {(5, 5), (9, 9)} <= {layer.kernel_size for layer in exported.layers if isinstance(layer, keras.layers.DepthwiseConv2D)}
    photos = rng.uniform(0, 1, (2, 96, 128, 3)).astype(np.float32)
    expected = model.predict(photos, verbose=0)
    assert expected.std() > 0.01  # not a saturated map: the comparison means something
    np.testing.assert_allclose(exported.predict(photos, verbose=0), expected, atol=1e-5)


def test_gate_refuses_an_int8_model_that_loses_iou(tmp_path, monkeypatch):
    """The gate fails closed: an INT8 model whose IoU drops more than a point leaves no file and no entry."""
    from edgedigits.errors import EdgeDigitsError
    from edgedigits.train import inkseg

    ious = iter([0.80, 0.70])  # fp32, then int8
    monkeypatch.setattr(inkseg, "mask_iou", lambda *_: next(ious))
    monkeypatch.setattr(inkseg, "ink_probabilities", lambda *_: np.zeros((1, 8, 8, 1), np.float32))
    monkeypatch.setattr(inkseg, "held_out_pages", lambda *_: (np.zeros((1, 8, 8, 3), np.uint8), np.zeros((1, 8, 8), np.uint8)))
    monkeypatch.setattr(inkseg, "training_pages", lambda *_: (np.zeros((1, 8, 8, 3), np.uint8), None))
    monkeypatch.setattr(inkseg, "split_digits", lambda *_: (None, None))
    monkeypatch.setattr("edgedigits.calibration.quantize.quantize", lambda fp32, int8, *_, **__: int8.write_bytes(b"int8"))
    (tmp_path / "inkseg.onnx").write_bytes(b"fp32")
    with pytest.raises(EdgeDigitsError, match="INT8 mask IoU 0.700 is more than 0.01 under fp32's 0.800"):
        inkseg.calibrate_inkseg(tmp_path)
    assert not (tmp_path / "inkseg.int8.onnx").exists()


def test_a_one_the_map_left_out_is_taken_back_but_not_a_box_side():
    """"13": the map marks the 3 only (it took the 1 for the side of a box). The photo's own ink gives the 1
    back; a box drawn around another number, whose sides the map also left out, stays out."""
    gray = np.full((480, 640), 215, np.uint8)
    ink = np.zeros((240, 320), np.uint8)
    cv2.line(gray, (100, 100), (100, 160), 30, 5)  # the 1
    cv2.ellipse(gray, (140, 130), (15, 28), 0, -90, 90, 30, 5)  # a 3, roughly: a digit-sized stroke
    cv2.ellipse(ink, (70, 65), (8, 14), 0, -90, 90, 255, 3)  # the map marks only it
    cv2.rectangle(gray, (330, 280), (470, 380), 30, 4)  # a box ...
    cv2.ellipse(gray, (400, 330), (15, 28), 0, 0, 360, 30, 5)  # ... around a 0
    cv2.ellipse(ink, (200, 165), (8, 14), 0, 0, 360, 255, 3)
    segments = segment(gray, ink=ink)
    boxes = sorted((b.x, b.w) for b in segments.boxes)
    assert len(boxes) == 3, boxes  # the 1, the 3 and the 0; not the box's sides
    assert abs(boxes[0][0] - 97) <= 4 and boxes[0][1] <= 12


@pytest.mark.parametrize("complete", [True, False])
def test_a_digit_the_map_marked_in_part_is_completed_from_the_photo(complete, monkeypatch):
    """"213": the map marks the 2 and the 3 whole but only the middle third of the 1 (beside a circle, a margin).
    The photo's own ink gives the 1 its full height back, within its columns and its neighbours' rows; without
    the step (SHORT_BOX 0) the 1 stays a stub a third as tall as its neighbours."""
    import edgedigits.runtime.segment as segmentation

    if not complete:
        monkeypatch.setattr(segmentation, "SHORT_BOX", 0.0)
    gray = np.full((480, 640), 215, np.uint8)
    ink = np.zeros((240, 320), np.uint8)
    cv2.ellipse(gray, (200, 130), (15, 28), 0, 180, 450, 30, 5)  # a 2, roughly
    cv2.ellipse(ink, (100, 65), (8, 14), 0, 180, 450, 255, 3)
    cv2.line(gray, (250, 102), (250, 158), 30, 5)  # the 1
    ink[58:73, 124:127] = 255  # ... of which the map marks the middle only
    cv2.ellipse(gray, (300, 130), (15, 28), 0, -90, 90, 30, 5)  # a 3
    cv2.ellipse(ink, (150, 65), (8, 14), 0, -90, 90, 255, 3)
    boxes = sorted(segment(gray, ink=ink).boxes, key=lambda b: b.x)
    assert len(boxes) == 3
    one = boxes[1]
    assert abs(one.x - 247) <= 4 and one.w <= 12
    if complete:
        assert one.y <= 106 and one.bottom >= 154  # its whole height
    else:
        assert one.h < 0.5 * boxes[0].h


@pytest.mark.parametrize("own_line", [False, True])
def test_a_digit_the_map_marked_in_part_is_completed_on_a_line_of_its_own_too(own_line):
    """"201" whose last 1 the map marks only in its upper half (its ink fading out, page 16 of the tuning set):
    the stub sits above the line, and `group_lines` may give it a line of its own, where it has no neighbours.
    Its neighbours for `completed_strokes` are the nearest boxes in its line or sharing half its height, whichever
    line they are on, so it gets its whole height back from the photo's ink either way."""
    from edgedigits.runtime.segment import PhotoInk, completed_strokes, find_components

    sharp = np.zeros((480, 640), np.uint8)  # the photo's own ink
    mask = np.zeros((480, 640), np.uint8)  # the map's
    for image in (sharp, mask):
        cv2.ellipse(image, (200, 130), (20, 40), 0, 180, 450, 255, 5)  # a 2, roughly
        cv2.ellipse(image, (270, 130), (20, 40), 0, 0, 360, 255, 5)  # a 0
    cv2.line(sharp, (330, 60), (330, 170), 255, 5)  # the 1, taller than its neighbours ...
    cv2.line(mask, (330, 60), (330, 118), 255, 5)  # ... of which the map marks the upper part
    labels, boxes = find_components(mask, blots=False)
    boxes = sorted(boxes, key=lambda b: b.x)
    assert len(boxes) == 3 and boxes[2].h < 0.8 * boxes[0].h
    boxes = [replace(b, line=1 if own_line and b is boxes[2] else 0) for b in boxes]
    pieces = completed_strokes(boxes, labels, PhotoInk(sharp))
    assert len(pieces) == 1
    x, y, piece = pieces[0]
    rows = np.flatnonzero(piece.any(axis=1))
    assert y + rows[0] <= 62 and y + rows[-1] >= 168  # the 1's whole height, from the photo


def two(image, x, scale, thickness, foot=True):
    """A 2 as a pen draws it, its left edge at `x` (in 640x480 pixels; `scale` 0.5 draws it on the half-size map)."""
    points = [(2, 15), (10, 2), (25, 0), (36, 10), (34, 25), (4, 58)] + ([(48, 58)] if foot else [])
    cv2.polylines(image, [np.int32([((x + px) * scale, (100 + py) * scale) for px, py in points])], False,
                  255 if scale < 1 else 30, thickness)


@pytest.mark.parametrize("bases", [True, False])
def test_the_foot_of_a_two_the_map_took_for_an_underline_is_taken_back(bases, monkeypatch):
    """"22": the map marks the first 2 whole and the second without its long flat foot (an underline, to the map;
    read as 7). The photo's component under the second 2's ink reaches past its box and is no bigger than a digit:
    it is taken back whole. Without the step (BASE_REACH and BASE_MORE beyond reach) the box ends where the
    diagonal does."""
    import edgedigits.runtime.segment as segmentation

    if not bases:
        monkeypatch.setattr(segmentation, "BASE_REACH", 10.0)
        monkeypatch.setattr(segmentation, "BASE_MORE", 10.0)
    gray = np.full((480, 640), 215, np.uint8)
    ink = np.zeros((240, 320), np.uint8)
    for x, foot in ((200, True), (270, False)):
        two(gray, x, 1.0, 5)
        two(ink, x, 0.5, 3, foot)
    boxes = sorted(segment(gray, ink=ink).boxes, key=lambda b: b.x)
    assert len(boxes) == 2
    second = boxes[1]
    if bases:
        assert second.right >= 270 + 46 and abs(second.w - boxes[0].w) <= 4  # the foot, as long as the first 2's
    else:
        assert second.right <= 270 + 40


@pytest.mark.parametrize("width", [1.3, 10.0])
def test_an_underline_touching_a_digit_is_not_taken_for_a_foot(width, monkeypatch):
    """"2" underlined, the line touching its foot: in the photo the digit and the line are one component, wider
    than a digit (BASE_WIDTH), so it stays out of the mask as the map left it; with no width limit it would not."""
    import edgedigits.runtime.segment as segmentation

    monkeypatch.setattr(segmentation, "BASE_WIDTH", width)
    gray = np.full((480, 640), 215, np.uint8)
    ink = np.zeros((240, 320), np.uint8)
    two(gray, 200, 1.0, 5)
    two(ink, 200, 0.5, 3)
    cv2.line(gray, (150, 160), (340, 160), 30, 5)  # the underline, under and touching the foot
    boxes = segment(gray, ink=ink).boxes
    assert len(boxes) == 1
    if width < 2:
        assert boxes[0].x >= 196 and boxes[0].right <= 200 + 54
    else:
        assert boxes[0].right >= 330


@pytest.mark.parametrize("arcs", [True, False])
def test_the_end_of_a_circle_drawn_around_a_number_leaves_its_last_digit(arcs, monkeypatch):
    """"330" in a circle: the map marks the circle's end beside the 0 as ink, glued to it (read as "07"). The
    photo's own ink shows the loop, its outline an ellipse around the digits: its ink comes out of the mask and
    the 0 keeps its own box. Without the step (ARC_FIT below any fit) the 0's box takes in the arc."""
    import edgedigits.runtime.segment as segmentation

    if not arcs:
        monkeypatch.setattr(segmentation, "ARC_FIT", -1.0)
    gray = np.full((480, 640), 215, np.uint8)
    ink = np.zeros((240, 320), np.uint8)
    for x in (200, 270):
        cv2.ellipse(gray, (x, 130), (15, 28), 0, -90, 90, 30, 5)  # 3s, roughly
        cv2.ellipse(ink, (x // 2, 65), (8, 14), 0, -90, 90, 255, 3)
    cv2.ellipse(gray, (330, 130), (15, 28), 0, 0, 360, 30, 5)  # a 0
    cv2.ellipse(ink, (165, 65), (8, 14), 0, 0, 360, 255, 3)
    cv2.ellipse(gray, (270, 130), (88, 58), 0, 0, 360, 30, 5)  # the circle around the number
    cv2.ellipse(ink, (135, 65), (44, 29), 0, -50, 50, 255, 3)  # ... whose end beside the 0 the map marks
    boxes = sorted(segment(gray, ink=ink).boxes, key=lambda b: b.x)
    assert len(boxes) == 3
    zero = boxes[-1]
    if arcs:
        assert abs(zero.x - 312) <= 4 and zero.w <= 44 and zero.h <= 1.1 * boxes[1].h
    else:
        assert zero.h > 1.3 * boxes[1].h


@pytest.mark.parametrize("pinch", [True, False])
def test_two_circles_drawn_touching_are_each_fitted_and_leave_the_last_digit(pinch, monkeypatch):
    """A form of two lines, "33" and "330", each circled, the circles touching: in the photo's own ink they are one
    component shaped like an 8, which no one ellipse follows. Its outline is pinched where they meet, so an
    ellipse is fitted to each side, and the lower circle's end that the map marks beside the 0 comes out of the
    mask. Without the split (LOOP_PINCH 0) the 0's box takes in the arc, far taller than a digit."""
    import edgedigits.runtime.segment as segmentation

    if not pinch:
        monkeypatch.setattr(segmentation, "LOOP_PINCH", 0.0)
    gray = np.full((480, 640), 215, np.uint8)
    ink = np.zeros((240, 320), np.uint8)
    for x, y in ((245, 116), (295, 116), (200, 215), (270, 215)):  # 3s, roughly
        cv2.ellipse(gray, (x, y), (15, 28), 0, -90, 90, 30, 5)
        cv2.ellipse(ink, (x // 2, y // 2), (8, 14), 0, -90, 90, 255, 3)
    cv2.ellipse(gray, (330, 215), (15, 28), 0, 0, 360, 30, 5)  # the 0
    cv2.ellipse(ink, (165, 107), (8, 14), 0, 0, 360, 255, 3)
    cv2.ellipse(gray, (270, 116), (62, 45), 0, 0, 360, 30, 5)  # a circle around each line, the two touching
    cv2.ellipse(gray, (270, 215), (88, 58), 0, 0, 360, 30, 5)
    cv2.ellipse(ink, (135, 107), (44, 29), 0, -50, 50, 255, 3)  # the lower circle's end beside the 0, marked
    boxes = segment(gray, ink=ink).boxes
    assert [b.line for b in boxes] == [0, 0, 1, 1, 1]
    zero = boxes[-1]
    if pinch:
        assert abs(zero.x - 312) <= 4 and zero.w <= 44 and zero.h <= 1.1 * boxes[-2].h
    else:
        assert zero.h > 1.3 * boxes[-2].h


def test_an_outline_that_crosses_itself_has_no_ellipses_rather_than_an_error():
    """OpenCV refuses the convex hull of a self-crossing outline (`convexityDefects` raises); such a loop is left
    alone instead of stopping the read."""
    from edgedigits.runtime.segment import fitted_ellipses

    bow = np.array([[[0, 0]], [[20, 20]], [[20, 0]], [[0, 20]], [[10, 30]], [[5, 25]], [[15, 5]], [[30, 10]],
                    [[25, 15]], [[2, 28]], [[12, 3]]], np.int32)
    assert fitted_ellipses(bow, 1.0) == []


def test_zoom_window_looks_closer_only_at_small_digits_on_a_big_photo():
    ink = np.zeros((240, 320), np.uint8)
    for x in (150, 160, 170):
        ink[100:108, x : x + 3] = 255  # three digits 8 map pixels tall
    ink[20, 20] = 255  # a speck: not digit-sized, outside the window
    x0, y0, x1, y1, factor = zoom_window(ink, (3024, 4032))
    assert factor == 3  # 8 px -> about ZOOM_TO
    assert x0 <= 150 and x1 >= 173 and y0 <= 100 and y1 >= 108 and x0 > 20 and y0 > 20
    assert zoom_window(ink, (480, 640))[4] == 2  # never beyond the photo's own pixels
    assert zoom_window(ink, (240, 320)) is None  # nothing finer to look at
    tall = np.zeros((240, 320), np.uint8)
    tall[60:120, 100:110] = 255
    assert zoom_window(tall, (3024, 4032)) is None  # digits big enough already
    assert zoom_window(np.zeros((240, 320), np.uint8), (3024, 4032)) is None
    apart = np.zeros((240, 320), np.uint8)  # three specks 2 px tall and one stroke 12 px tall: the 75th percentile
    for x in (10, 20, 30):  # of their heights (4.5 px) has no component within half to twice it
        apart[50:52, x : x + 2] = 255
    apart[100:112, 200:203] = 255
    assert zoom_window(apart, (3024, 4032)) is None


class DarkInk(InkModel):
    """A stand-in network: ink wherever the photo is dark; records the sizes it was asked to look at."""

    def __init__(self):
        super().__init__(path=None, session=None, provider="test", metadata={})
        self.looked_at = []

    def probabilities(self, photos):
        self.looked_at.append(photos.shape[1:3])
        return (photos.mean(axis=3, keepdims=True) < 0.5).astype(np.float32)


def test_ink_map_of_small_digits_on_a_12_mp_photo_is_made_again_closer():
    photo = np.full((3024, 4032, 3), 200, np.uint8)
    for x in (1900, 2030, 2160):
        photo[1200:1300, x : x + 14] = 30  # strokes 100 px tall: 8 px at 320 px on the long side
    model = DarkInk()
    ink = model.ink_map(photo)
    assert len(model.looked_at) == 2 and ink.shape == (720, 960)  # looked at again, three times closer
    column = ink[:, round(1907 * 960 / 4032)]
    assert column[round(1250 * 720 / 3024)] == 255 and column[round(1100 * 720 / 3024)] == 0
    big = np.full((3024, 4032, 3), 200, np.uint8)
    big[1000:1800, 1900:1990] = 30  # a digit a quarter of the frame tall: one look is enough
    model = DarkInk()
    assert model.ink_map(big).shape == (240, 320) and len(model.looked_at) == 1


def test_light_is_flattened_before_the_network_sees_the_photo():
    """A shadow over half the page: the paper, and the ink on it, come out alike on both halves."""
    from edgedigits.runtime.inkmask import PAPER_LEVEL, flatten_light

    photo = np.full((240, 320, 3), 200, np.uint8)
    photo[:, 160:] = 100  # the shadow
    photo[100:140, 60:64] = 100  # a stroke in the light (half the paper's brightness) ...
    photo[100:140, 260:264] = 50  # ... and one in the shadow (half of the shadowed paper's)
    flat = flatten_light(photo)
    assert flat.dtype == np.float32 and flat.shape == photo.shape
    assert flat[20, 20, 0] == pytest.approx(PAPER_LEVEL, abs=0.02) and flat[20, 300, 0] == pytest.approx(PAPER_LEVEL, abs=0.02)
    assert flat[120, 62, 0] == pytest.approx(PAPER_LEVEL / 2, abs=0.03)  # half the paper's brightness, in the light ...
    assert flat[120, 262, 0] == pytest.approx(PAPER_LEVEL / 2, abs=0.03)  # ... and in the shadow alike
    assert flat[120, 262, 0] < flat[20, 300, 0] - 0.3  # the stroke in the shadow stands out as much as the other
    assert flatten_light(np.full((4, 4, 3), 255, np.uint8)).max() <= 1.0  # a tiny frame, and never above 1


def test_only_segmenters_trained_on_flattened_photos_get_them():
    from edgedigits.contract import INK_LIGHT

    image = np.full((480, 640, 3), 120, np.uint8)
    plain, _ = to_photo(image, flatten=False)
    flat, _ = to_photo(image)
    assert plain[0, 10, 10, 0] == pytest.approx(120 / 255) and flat[0, 10, 10, 0] == pytest.approx(0.75, abs=0.01)
    assert InkModel("new.onnx", None, "cpu", {"light": INK_LIGHT}).flatten
    assert not InkModel("old.onnx", None, "cpu", {}).flatten  # exported before the light was flattened: plain pixels


def test_a_one_beside_the_side_of_a_cleaned_circle_stays():
    """"1330" in a circle that touches the 1: once the circle's own ink is out of the mask (`loop_arcs`), the
    thin first box is a 1, not the circle's side."""
    gray = np.full((480, 640), 215, np.uint8)
    ink = np.zeros((240, 320), np.uint8)
    cv2.line(gray, (190, 102), (190, 158), 30, 5)  # the 1, beside the circle's side
    cv2.line(ink, (95, 51), (95, 79), 255, 3)
    for x in (240, 300):
        cv2.ellipse(gray, (x, 130), (15, 28), 0, -90, 90, 30, 5)  # 3s, roughly
        cv2.ellipse(ink, (x // 2, 65), (8, 14), 0, -90, 90, 255, 3)
    cv2.ellipse(gray, (360, 130), (15, 28), 0, 0, 360, 30, 5)  # a 0
    cv2.ellipse(ink, (180, 65), (8, 14), 0, 0, 360, 255, 3)
    cv2.ellipse(gray, (282, 130), (96, 58), 0, 0, 360, 30, 5)  # the circle, touching the 1
    boxes = sorted(segment(gray, ink=ink).boxes, key=lambda b: b.x)
    assert len(boxes) == 4 and abs(boxes[0].x - 187) <= 4 and boxes[0].w <= 12


@pytest.mark.parametrize("boxes_found", [True, False])
def test_the_sides_of_a_box_drawn_around_a_one_leave_the_mask(boxes_found, monkeypatch):
    """A 1 in a box whose upright sides the map marks too ("111"): the photo's loop follows a four-cornered
    outline, so its sides come out of the mask and the 1 alone stays. Without the polygon (BOX_FIT 0) the
    sides stay, each as tall as a digit beside the 1."""
    import edgedigits.runtime.segment as segmentation

    if not boxes_found:
        monkeypatch.setattr(segmentation, "BOX_FIT", 0.0)
    gray = np.full((480, 640), 215, np.uint8)
    ink = np.zeros((240, 320), np.uint8)
    cv2.line(gray, (300, 102), (300, 158), 30, 5)  # the 1
    cv2.line(ink, (150, 51), (150, 79), 255, 3)
    cv2.rectangle(gray, (270, 85), (330, 175), 30, 5)  # the box around it ...
    cv2.line(ink, (135, 45), (135, 85), 255, 3)  # ... whose upright sides the map marks
    cv2.line(ink, (165, 45), (165, 85), 255, 3)
    boxes = segment(gray, ink=ink).boxes
    assert len(boxes) == (1 if boxes_found else 3)
    assert any(abs(b.x - 297) <= 4 and b.w <= 12 for b in boxes)


@pytest.mark.parametrize("line", [False, True])
def test_photo_reach_tells_a_digit_from_one_glued_to_a_line(line):
    """The photo's own ink under the box's ink: a digit's ends at its box; a margin line glued to it runs far past."""
    from edgedigits.runtime.reader import PHOTO_REACH

    from conftest import digit_glued_to_a_line

    page, ink = digit_glued_to_a_line(line)
    segments = segment(page, ink=ink)
    (box,) = segments.boxes
    reach = segments.photo_reach(box)
    assert (reach > 2.5) if line else (reach == 0.0)
    assert (reach > PHOTO_REACH) == line
    assert segment(page).photo_reach(segment(page).boxes[0]) == 0.0  # the threshold mask: no photo ink to ask


@pytest.mark.parametrize("chalk", [False, True])
def test_the_ink_s_side_is_told_by_the_writing_the_map_marks_not_by_the_frame(chalk):
    """A sticky note on a dark desk strewn with scraps of paper: over the frame, the scraps are the longer, lighter
    tail, so the frame alone (`dark_ink`) takes the pencil 0 on the note for chalk. The map marks the 0; against the
    paper around it, it is dark, and the photo's ink strength is high on it (the box holds the whole 0). Chalk on
    a board reads as light ink the same way."""
    from edgedigits.runtime.segment import dark_ink, ink_is_dark, shrink, to_gray, to_work_size

    page = np.full((480, 640), 40 if chalk else 60, np.uint8)  # the board, or the desk
    if not chalk:
        page[100:380, 160:480] = 235  # the sticky note
        for x in range(20, 640, 100):  # scraps of paper on the desk
            page[30:54, x : x + 24] = 235
            page[420:444, x : x + 24] = 235
    cv2.ellipse(page, (320, 240), (30, 45), 0, 0, 360, 220 if chalk else 120, 3)
    ink = np.zeros((480, 640), np.uint8)
    cv2.ellipse(ink, (320, 240), (30, 45), 0, 0, 360, 255, 3)
    ink = cv2.resize(ink, (320, 240))
    gray, _ = to_work_size(to_gray(page))
    mask = cv2.resize(ink, (gray.shape[1], gray.shape[0]))
    assert ink_is_dark(gray, mask) is (not chalk)
    assert not dark_ink(shrink(gray))  # the frame's guess: right for the board, wrong for the note
    segments = segment(page, ink=ink)
    (box,) = segments.boxes
    assert box.h >= 0.9 * 93 * segments.scale  # the whole 0 (45 + 1.5 px each way of its centre)
    assert np.median(segments.shade[box.y : box.bottom, box.x : box.right][segments.crop(box) > 0]) > 128
    assert ink_is_dark(gray, np.zeros_like(mask)) is None


def test_a_digit_fainter_than_the_page_s_writing_is_brightened_in_its_shaded_crop():
    """Two 0s, one dark, one faint (a shadow, a lighter hand): the page's shade puts the faint one's ink well under
    full strength; its shaded crop is brightened to its own level, as bright as the dark one's."""
    from edgedigits.runtime.segment import SHADE_PERCENTILE

    page = np.full((480, 640), 235, np.uint8)
    ink = np.zeros((480, 640), np.uint8)
    for x, grey in ((220, 30), (420, 170)):
        cv2.ellipse(page, (x, 240), (40, 50), 0, 0, 360, grey, 8)
        cv2.ellipse(ink, (x, 240), (40, 50), 0, 0, 360, 255, 8)
    segments = segment(page, ink=cv2.resize(ink, (320, 240)))
    dark, faint = segments.boxes

    def level(image, box):
        return np.percentile(image[segments.crop(box) > 0], SHADE_PERCENTILE)

    window = segments.shade[faint.y : faint.bottom, faint.x : faint.right]
    assert level(window, faint) < 200  # the page's shade: the faint 0 well under the page's writing
    assert level(segments.shaded_crop(faint), faint) >= 250
    assert level(segments.shaded_crop(dark), dark) >= 250


def test_a_2_s_foot_the_map_left_out_under_its_curve_comes_back_from_the_photo():
    """A 2 whose flat foot ends under its curve, and a map that marks the curve and the stroke down but not the
    foot (it took it for an underline): the foot reaches nowhere past the box, but the photo's own component holds
    more than BASE_MORE times the box's ink, so it is taken back and the box holds the whole 2."""
    from edgedigits.runtime.segment import BASE_MORE

    page = np.full((480, 640), 235, np.uint8)
    ink = np.zeros((480, 640), np.uint8)
    for image, foot in ((page, True), (ink, False)):
        cv2.ellipse(image, (300, 200), (40, 40), 0, -180, 45, 30 if image is page else 255, 8)
        cv2.line(image, (328, 228), (262, 300), 30 if image is page else 255, 8)
        if foot:
            cv2.line(image, (262, 300), (330, 300), 30, 8)
    segments = segment(page, ink=cv2.resize(ink, (320, 240)))
    (box,) = segments.boxes
    foot = segments.crop(box)[300 - 2 - box.y : 300 + 3 - box.y, 300 - box.x : 325 - box.x]
    assert (foot > 0).mean() > 0.9  # the foot's middle is in the mask
    assert BASE_MORE > 1


class ThinIsAOne:
    """A stand-in digit classifier: a crop whose ink is a few columns wide is a 1 at 0.99, anything wider a 7."""

    def __init__(self):
        from edgedigits.runtime.session import Model

        self.model = Model(path="thin", session=None, provider="test", metadata={})
        self.model.predict = self.predict

    def predict(self, images, batch_size=256):
        rows = []
        for image in images.reshape(len(images), 28, 28):
            value = 1 if (image > 0.3).any(axis=0).sum() < 10 else 7
            rows.append(np.eye(10, dtype=np.float32)[value] * 0.99 + 0.001)
        return np.stack(rows)


def fixed_readings(confidences: dict[int, float]):
    """A stand-in for `Reader.read_at`: at each ink map size, one 1 read at the confidence given for that size
    (none given: nothing read), with a millisecond of each step."""
    from edgedigits.runtime.reader import Digit, Reading

    def read_at(image, long_side):
        confidence = confidences.get(long_side)
        digits = [] if confidence is None else [Digit(1 if long_side == 320 else 4, confidence, (10, 10, 8, 20), 0)]
        return Reading(["1" if long_side == 320 else "4"] if digits else [], digits, {"ink": 1.0, "segment": 1.0, "infer": 1.0})
    return read_at


@pytest.mark.parametrize("first, second, second_look, expected, reads", [
    (0.6, 0.99, None, "4", 2),  # unsure (under SECOND_LOOK_BELOW), and the second look is surer: taken
    (0.6, 0.65, None, "1", 2),  # surer, but by no more than SECOND_LOOK_MARGIN: the first reading stays
    (0.6, None, None, "1", 2),  # the second look reads nothing: the first stays
    (0.95, 0.99, None, "1", 1),  # sure enough: no second look
    (None, 0.99, None, "", 1),  # nothing read (a frame with no writing): no second look
    (0.6, 0.99, 0, "1", 1),  # no second look asked for
    (0.6, 0.99, 512, "4", 2),  # a second look at another size
])
def test_an_unsure_reading_is_made_again_from_a_finer_ink_map(first, second, second_look, expected, reads, monkeypatch):
    from edgedigits.runtime import Reader, reader as reading_module
    from edgedigits.runtime.reader import SECOND_LOOK_BELOW, SECOND_LOOK_MARGIN, SECOND_LOOK_SIDE

    monkeypatch.setattr(reading_module, "FAR_LOOK", 0)  # the look from afar has its own tests

    assert 0.6 < SECOND_LOOK_BELOW <= 0.95 and 0.6 + SECOND_LOOK_MARGIN >= 0.65
    reader = Reader(ThinIsAOne().model, ink_model=DarkInk(), second_look=second_look)
    side = SECOND_LOOK_SIDE if second_look is None else second_look
    asked = []
    read_at = fixed_readings({320: first, side: second})
    reader.read_at = lambda image, long_side: asked.append(long_side) or read_at(image, long_side)
    reading = reader.read(np.zeros((480, 640), np.uint8))
    assert reading.text == expected and asked == [320, side][:reads]
    assert reading.timings_ms == {"ink": reads, "segment": reads, "infer": reads}  # both reads' time counts


def test_the_second_look_s_map_is_made_at_its_own_size():
    """A page read with the 1's map at 448 px on the long side: the ink model is asked for that size."""
    from edgedigits.runtime import Reader

    page = np.full((480, 640, 3), 210, np.uint8)
    page[180:300, 316:324] = 40  # a 1, 120 px tall
    ink = DarkInk()
    reader = Reader(ThinIsAOne().model, ink_model=ink)
    assert reader.read_at(page, 448).text == "1" and [max(shape) for shape in ink.looked_at] == [448]
    # Sure, but one digit: looked at from afar too (the photo a third of 320 px, 48 px of its edges around it).
    assert reader.read(page).text == "1" and [max(shape) for shape in ink.looked_at] == [448, 320, 208]


def test_the_map_from_afar_is_the_photo_s_own_part_shrunk_to_a_third():
    """`far_map`: a 640x480 photo shrunk to 106x80, its edges repeated 48 px around it (208x176 for the network);
    the map is the photo's part, a dark bar where the photo has it."""
    page = np.full((480, 640, 3), 210, np.uint8)
    page[120:360, 300:330] = 40  # a bar half the frame tall
    ink = DarkInk()
    far = ink.far_map(page, 3)
    assert ink.looked_at == [(176, 208)] and far.shape == (80, 106)
    column = far[:, round(315 * 106 / 640)]
    assert column[40] == 255 and column[5] == 0 and far[40, 5] == 0


class StubFar:
    """`Reader.read_at` at 320 px gives the `first` reading; `look_from_afar` gives `far` (None: nothing tall from
    afar), each step a millisecond; what was asked is recorded."""

    def __init__(self, first, far):
        self.first, self.far, self.asked = first, far, []

    def read_at(self, image, long_side, ink=None):
        self.asked.append(long_side)
        return self.first

    def look_from_afar(self, image, first):
        self.asked.append("afar")
        return self.far, {"ink": 1.0, "segment": 1.0, "infer": 1.0}


def one_reading(text: str, confidence: float):
    """A Reading of `text` ("/" between lines), every digit at `confidence`, 200 px tall."""
    from edgedigits.runtime.reader import Digit, Reading

    lines = text.split("/")
    digits = [Digit(int(c), confidence, (10 * k, 10 + 250 * row, 8, 200), row) for row, line in enumerate(lines) for k, c in enumerate(line)]
    return Reading(lines, digits, {"ink": 1.0, "segment": 1.0, "infer": 1.0})


@pytest.mark.parametrize("first, far, expected, asked", [
    (("1", 0.99), ("4", 0.95), "4", [320, "afar"]),  # sure, one digit: from afar it reads tall digits surely
    (("1", 0.99), ("4", 0.8), "1", [320, "afar"]),  # ... but not surely: the first stays
    (("1", 0.99), None, "1", [320, "afar"]),  # nothing tall from afar
    (("123", 0.99), ("4", 0.99), "123", [320]),  # sure, three digits: not looked at from afar
    (("1", 0.6), ("4", 0.65), "4", [320, "afar"]),  # unsure: from afar surer (its tall digits are the evidence)
    (("1", 0.6), ("4", 0.55), "1", [320, "afar"]),  # ... less sure
    (("1/2/3", 0.99), ("4", 0.95), "4", [320, "afar"]),  # sure, three digits on three lines: a close-up's strokes
])
def test_a_reading_of_few_digits_a_line_or_unsure_is_looked_at_from_afar(first, far, expected, asked, monkeypatch):
    from edgedigits.runtime import Reader

    reader = Reader(ThinIsAOne().model, ink_model=DarkInk(), second_look=0)
    stub = StubFar(one_reading(*first), one_reading(*far) if far else None)
    monkeypatch.setattr(reader, "read_at", stub.read_at)
    monkeypatch.setattr(reader, "look_from_afar", stub.look_from_afar)
    reading = reader.read(np.zeros((480, 640), np.uint8))
    assert reading.text == expected and stub.asked == asked
    assert reading.timings_ms["ink"] == len(asked)  # the look from afar's time counts, taken or not


@pytest.mark.parametrize("height, first_height, taken", [
    (240, 240, True),  # a bar half the frame tall, read as tall first: the reading from afar stands
    (240, 30, False),  # ... but the first reading's digits were small: a shadow's edge or a box, not writing
    (60, 60, False),  # an eighth of the frame: not too big for the network, nothing to look at from afar
])
def test_the_look_from_afar_is_for_digits_taller_than_the_network_learnt(height, first_height, taken):
    from edgedigits.runtime import Reader

    page = np.full((480, 640, 3), 210, np.uint8)
    page[240 - height // 2 : 240 + height // 2, 300:320] = 40
    reader = Reader(ThinIsAOne().model, ink_model=DarkInk())
    first = replace_box_height(reader.read_at(page, 320), first_height)
    far, spent = reader.look_from_afar(page, first)
    assert (far is not None) == taken and spent["ink"] > 0
    if taken:
        assert far.text == "1" and abs(far.digits[0].box[3] - height) <= 8


def replace_box_height(reading, height):
    from dataclasses import replace

    return replace(reading, digits=[replace(d, box=(*d.box[:3], height)) for d in reading.digits])


def test_a_second_look_outside_the_network_s_range_is_refused():
    from edgedigits.errors import EdgeDigitsError
    from edgedigits.runtime import Reader

    with pytest.raises(EdgeDigitsError, match="--second-look 100"):
        Reader(ThinIsAOne().model, ink_model=DarkInk(), second_look=100)


def tilted_reading(angle: float, confidence: float = 0.99, count: int = 4):
    """A Reading of `count` digits whose boxes' centres lie on a line falling `angle` degrees to the right."""
    import math

    from edgedigits.runtime.reader import Digit, Reading

    slope = math.tan(math.radians(angle))
    digits = [Digit(k, confidence, (100 + 80 * k, round(200 + slope * 80 * k), 40, 60), 0) for k in range(count)]
    return Reading(["".join(str(k) for k in range(count))], digits, {"ink": 1.0, "segment": 1.0, "infer": 1.0})


def test_the_writing_s_angle_is_the_direction_from_each_digit_to_its_nearest_neighbour():
    import math

    from edgedigits.runtime.reader import Digit, Reading, writing_angle

    assert writing_angle(tilted_reading(20)) == pytest.approx(20, abs=0.5)  # falling to the right: turn it back up
    assert writing_angle(tilted_reading(-25)) == pytest.approx(-25, abs=0.5)
    assert writing_angle(tilted_reading(20, count=2)) == 0.0  # two digits tell no direction
    first = tilted_reading(20, count=3)  # two lines, both turned 20 degrees: lines are further apart than digits
    shift = (-150 * math.sin(math.radians(20)), 150 * math.cos(math.radians(20)))
    below = [Digit(d.value, d.confidence, (round(d.box[0] + shift[0]), round(d.box[1] + shift[1]), 40, 60), 1) for d in first.digits]
    assert writing_angle(Reading(["012", "012"], first.digits + below, {})) == pytest.approx(20, abs=1)
    column = [Digit(k, 0.99, (100 + 3 * k, 100 + 90 * k, 40, 60), k) for k in range(4)]
    assert writing_angle(Reading(list("0123"), column, {})) == 0.0  # digits one above the other: no line to level
    fan = [Digit(k, 0.99, (x, y, 40, 60), 0) for k, (x, y) in enumerate([(0, 0), (100, 80), (200, 220), (300, 220), (400, 140)])]
    assert writing_angle(Reading(["01234"], fan, {})) == 0.0  # directions that disagree (39, 39, 0, 0, -39 degrees)


def test_a_box_read_on_the_levelled_photo_goes_back_to_the_photo_s_pixels():
    import cv2 as opencv

    from edgedigits.runtime.reader import turned, turned_box

    image = np.full((480, 640), 200, np.uint8)
    image[200:260, 300:340] = 0  # a block ...
    level, back = turned(image, 20)
    assert level.shape[0] > 480 and level.shape[1] > 640  # the whole photo stays on the turned canvas
    ys, xs = np.nonzero(level < 100)
    x, y, w, h = turned_box((int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)), back)
    assert abs(x - 300) <= 25 and abs(y - 200) <= 25 and x + w >= 335 and y + h >= 255  # ... found where it was
    assert opencv.countNonZero((image < 100).astype(np.uint8)) == 2400


@pytest.mark.parametrize("angle, first_confidence, second_confidence, expected, reads", [
    (20, 0.95, 0.99, "7777", 2),  # turned 20 degrees: read again level, surer: kept
    (20, 0.95, 0.9, "0123", 2),  # ... less sure: the first stays
    (14, 0.95, 0.99, "0123", 1),  # 14 degrees, read surely: left as it is (the field set's pages turn this far)
    (14, 0.6, 0.99, "7777", 2),  # ... read unsurely: read again level
    (8, 0.6, 0.99, "0123", 1),  # 8 degrees: the reader follows that itself
])
def test_writing_turned_far_is_read_again_levelled(angle, first_confidence, second_confidence, expected, reads, monkeypatch):
    """A reading whose four digits fall to the right: read again from the photo turned level (from DESKEW_ABOVE
    degrees when unsure, DESKEW_SURE_ABOVE when sure), and that reading kept where it is no less sure, its boxes
    back in the photo's pixels."""
    from edgedigits.runtime import Reader

    reader = Reader(ThinIsAOne().model, ink_model=DarkInk(), second_look=0)
    readings = iter([tilted_reading(angle, first_confidence), replace_text(tilted_reading(0, second_confidence), "7777")])
    seen = []
    monkeypatch.setattr(reader, "read_looks", lambda image: seen.append(image.shape) or next(readings))
    reading = reader.read(np.zeros((480, 640), np.uint8))
    assert len(seen) == reads and reading.text == expected and reading.timings_ms["ink"] == reads
    if reads == 2:
        assert seen[1][0] > 480  # the second read was of the turned, larger canvas
    if expected == "7777":
        assert all(d.box[2] > 40 for d in reading.digits)  # boxes turned back: wider than the level ones


def replace_text(reading, text):
    from dataclasses import replace

    return replace(reading, lines=[text], digits=[replace(d, value=int(c)) for d, c in zip(reading.digits, text)])


@pytest.mark.parametrize("margin", ["red", "grey", "off"])
def test_a_digit_written_across_a_red_margin_gets_back_what_the_map_left_out_with_the_margin(margin, monkeypatch):
    """"0 5" written across a ruled page's red margin: the map marks the 5, but of the 0 only its right half and,
    glued to nothing, a stretch of the margin inside it (read as a 1). Where the upright line is red (a margin),
    the photo's own ink gives the 0 back whole, crossing the line, and the margin's own pixels leave the mask; a
    grey line (a grid line, a sheet's edge) changes nothing, nor does the red one with the step off (MARGINS)."""
    import edgedigits.runtime.segment as segmentation

    if margin == "off":
        monkeypatch.setattr(segmentation, "MARGINS", False)
    photo = np.full((480, 640, 3), 225, np.uint8)
    line = (60, 60, 220) if margin != "grey" else (120, 120, 120)
    cv2.line(photo, (200, 0), (204, 479), line, 3)  # the margin, top to bottom, a little slanted
    cv2.ellipse(photo, (205, 240), (18, 30), 0, 0, 360, (140, 60, 30), 5)  # the 0, across it
    cv2.ellipse(photo, (300, 240), (16, 30), 0, 200, 520, (140, 60, 30), 5)  # the 5, roughly: a digit-sized stroke
    ink = np.zeros((240, 320), np.uint8)
    cv2.ellipse(ink, (102, 120), (9, 15), 0, -80, 80, 255, 3)  # the 0's right half only
    ink[112:129, 100:103] = 255  # a stretch of the margin inside the 0
    cv2.ellipse(ink, (150, 120), (8, 15), 0, 200, 520, 255, 3)
    segments = segment(photo, ink=ink)
    boxes = sorted(segments.boxes, key=lambda b: b.x)
    if margin == "red":
        assert len(boxes) == 2, boxes
        zero = boxes[0]
        assert zero.x <= 190 and zero.right >= 220 and zero.w >= 32  # the whole 0
        assert zero.y >= 200 and zero.bottom <= 280  # not the margin above and below it
        assert not segments.mask[230:250, 199:206].any()  # nor the stretch inside it
    else:
        assert len(boxes) == 2, boxes
        assert boxes[0].x >= 198 and boxes[0].w <= 30  # the stretch of margin joined to the 0's right half
        assert segments.mask[230:250, 199:206].any()
