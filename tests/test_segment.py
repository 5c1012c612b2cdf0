"""edgedigits.runtime.segment and normalize: each step is a pure function a test can call."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgedigits.runtime import segment as S
from edgedigits.runtime.normalize import DIGIT_BOX, normalize_digit, stroke_width


def draw_digits(text: str, dark_ink=True, size=(480, 640), height=2.0, thickness=6, origin=(120, 280)) -> np.ndarray:
    """A gray page with `text` drawn in a plain font, digits well apart: the ink is known exactly."""
    page = np.full(size, 215 if dark_ink else 50, np.uint8)
    step = int(40 * height)
    for index, character in enumerate(text):
        cv2.putText(page, character, (origin[0] + index * step, origin[1]), cv2.FONT_HERSHEY_SIMPLEX, height,
                    40 if dark_ink else 230, thickness, cv2.LINE_AA)
    return page


# --- Pixels ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, dtype", [((40, 30), np.uint8), ((40, 30, 1), np.uint8), ((40, 30, 3), np.uint8),
                                          ((40, 30, 4), np.uint8), ((40, 30, 3), np.uint16)])
def test_to_gray_accepts_common_layouts(shape, dtype):
    gray = S.to_gray(np.zeros(shape, dtype))
    assert gray.shape == (40, 30) and gray.dtype == np.uint8


def test_to_gray_rejects_other_layouts():
    with pytest.raises(ValueError, match="gray, BGR or BGRA"):
        S.to_gray(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(ValueError, match="integer or float image"):
        S.to_gray(np.zeros((10, 10), np.complex64))


@pytest.mark.parametrize("dark", [True, False])
def test_polarity(dark):
    assert S.dark_ink(S.shrink(draw_digits("2017", dark_ink=dark))) == dark


def test_polarity_survives_a_strong_light_gradient():
    page = draw_digits("48", height=4, thickness=18, origin=(100, 300)).astype(np.float32)
    page *= np.linspace(0.25, 1.0, page.shape[1])[None, :]  # dark on the left, bright on the right
    assert S.dark_ink(S.shrink(page.astype(np.uint8)))


def test_blank_and_noise_pages_have_no_ink():
    rng = np.random.default_rng(0)
    for page in (np.full((480, 640), 255, np.uint8), np.zeros((480, 640), np.uint8),
                 rng.integers(0, 256, (480, 640), dtype=np.uint8),
                 np.clip(200 + rng.normal(0, 12, (480, 640)), 0, 255).astype(np.uint8)):
        assert S.segment(page).boxes == []


def test_shadow_does_not_become_ink():
    page = draw_digits("35").astype(np.float32)
    page[:, 400:] *= 0.45  # a hard shadow over the right part, away from the digits
    segments = S.segment(page.astype(np.uint8))
    assert len(segments.boxes) == 2


def test_ruled_lines_are_removed_and_do_not_glue_digits():
    page = draw_digits("1234")
    for y in range(40, 480, 36):
        cv2.line(page, (0, y), (639, y), 150, 2)  # faint lines, one of them through the digits
    cv2.line(page, (0, 262), (639, 262), 150, 2)
    segments = S.segment(page)
    assert len(segments.boxes) == 4
    assert [box.line for box in segments.boxes] == [0, 0, 0, 0]


# --- Components -----------------------------------------------------------------------------------


def test_specks_page_edges_and_blots_are_dropped():
    mask = np.zeros((400, 600), np.uint8)
    cv2.putText(mask, "7", (250, 250), cv2.FONT_HERSHEY_SIMPLEX, 3, 255, 8)
    mask[10:12, 10:12] = 255  # a speck
    mask[:, 590:] = 255  # the edge of the page
    mask[300:360, 50:110] = 255  # a solid blot
    _, boxes = S.find_components(mask)
    assert len(boxes) == 1 and 230 <= boxes[0].x <= 260


def test_a_thin_one_is_not_a_blot():
    mask = np.zeros((400, 600), np.uint8)
    mask[100:200, 300:308] = 255  # a "1": fills its box, but is thin
    assert len(S.find_components(mask)[1]) == 1


def test_pieces_of_one_digit_are_joined_but_stacked_digits_are_not():
    body, loose_top = S.Box(100, 140, 40, 40, (1,)), S.Box(105, 108, 50, 30, (2,))  # a 5 whose top stroke came loose
    other = S.Box(200, 100, 40, 80, (3,))
    joined = S.join_pieces([body, loose_top, other])
    assert len(joined) == 2 and S.Box(100, 108, 55, 72, (1, 2)) in joined
    upper, lower = S.Box(100, 100, 40, 80, (1,)), S.Box(100, 200, 40, 80, (2,))
    assert len(S.join_pieces([upper, lower])) == 2


def test_a_fragment_just_beside_a_piece_joins_it_but_a_1_beside_a_digit_does_not():
    """Chalk that broke a 7: its bar's left end (under FRAGMENT_HEIGHT of a digit) lies just left of the stem,
    not over it, and the two are no wider than a digit: one 7. A whole 1 as close to a 4 stays a 1; two
    fragments of a 1 are not joined by this rule (the photo's own ink gives the whole stroke back: `lone_strokes`)."""
    digits = [S.Box(x, 100, 40, 80, (k,)) for k, x in enumerate((0, 60, 300), start=10)]  # the page's digits: 80 px
    bar, stem = S.Box(120, 104, 16, 30, (1,)), S.Box(142, 100, 16, 80, (2,))  # 6 px apart: under FRAGMENT_GAP * 80
    assert bar.h < S.FRAGMENT_HEIGHT * 80 and 6 <= S.FRAGMENT_GAP * 80 and 38 <= S.FRAGMENT_UNION * 80
    joined = S.join_pieces(digits + [bar, stem])
    assert len(joined) == 4 and S.Box(120, 100, 38, 80, (1, 2)) in joined
    one, four = S.Box(120, 100, 10, 80, (1,)), S.Box(136, 100, 40, 80, (2,))
    assert len(S.join_pieces(digits + [one, four])) == 5
    top, bottom = S.Box(120, 100, 10, 30, (1,)), S.Box(132, 140, 10, 30, (2,))  # two fragments, side by side
    assert len(S.join_pieces(digits + [top, bottom])) == 5


@pytest.mark.parametrize("union", [1.2, 1.0])
def test_the_long_top_bar_of_a_5_joins_its_body(union, monkeypatch):
    """An MNIST 5 whose top bar is a stroke of its own, reaching past the body to the right (the two 1.14 digit
    heights wide together; a photo of "513322" read "313322"): it joins the body at FRAGMENT_UNION 1.2, and is left
    out (too short for a digit) at 1.0."""
    monkeypatch.setattr(S, "FRAGMENT_UNION", union)
    digits = [S.Box(x, 100, 60, 100, (k,)) for k, x in enumerate((420, 500, 580), start=10)]  # the page's digits: 100 px
    body, bar = S.Box(264, 104, 76, 86, (1,)), S.Box(328, 102, 50, 22, (2,))
    joined = S.join_pieces(digits + [body, bar])
    if union > 1.1:
        assert len(joined) == 4 and S.Box(264, 102, 114, 88, (1, 2)) in joined
    else:
        assert len(joined) == 5 and body in joined


def test_lines_top_to_bottom_digits_left_to_right():
    boxes = [S.Box(300, 200, 40, 60, (1,)), S.Box(100, 50, 40, 60, (2,)), S.Box(100, 205, 40, 60, (3,)),
             S.Box(160, 55, 40, 60, (4,))]
    ordered, spaces = S.group_lines(boxes)
    assert [(b.labels[0], b.line) for b in ordered] == [(2, 0), (4, 0), (3, 1), (1, 1)]
    assert spaces == [False, False, True, False]  # 160 px between the two digits of line 1: two numbers


# --- Normalisation --------------------------------------------------------------------------------


def test_normalising_mnist_digits_keeps_them_as_they_were(mnist):
    _, (x_test, _) = mnist
    differences = []
    for image in x_test[:200]:
        normalized = normalize_digit(image)
        assert normalized.shape == (28, 28) and normalized.dtype == np.float32
        moments = cv2.moments(normalized)
        assert moments["m10"] / moments["m00"] == pytest.approx(14, abs=0.05)
        differences.append(np.abs(normalized - image / 255).mean())
    assert max(differences) < 0.1 and np.mean(differences) < 0.035  # only resampling differences


def test_a_large_crop_fits_the_mnist_box():
    crop = np.zeros((300, 120), np.uint8)
    cv2.ellipse(crop, (60, 150), (50, 140), 0, 0, 360, 255, 30)  # a tall, thick 0
    normalized = normalize_digit(crop)
    rows, columns = np.flatnonzero(normalized.max(axis=1) > 0.5), np.flatnonzero(normalized.max(axis=0) > 0.5)
    assert DIGIT_BOX - 2 <= rows[-1] - rows[0] + 1 <= DIGIT_BOX + 1
    assert columns[-1] - columns[0] + 1 < 12  # the aspect ratio is kept


def test_hairline_strokes_are_thickened():
    crop = np.zeros((200, 120), np.uint8)
    cv2.line(crop, (60, 10), (60, 190), 255, 2)  # a "1" drawn with a fine pen, 10x MNIST's size
    assert stroke_width(crop) < 3
    normalized = normalize_digit(crop)
    assert (normalized > 0.5).sum(axis=1).max() >= 2  # at least 2 px wide in the 28x28 field


def test_an_empty_crop_is_refused():
    with pytest.raises(ValueError, match="no ink"):
        normalize_digit(np.zeros((30, 30), np.uint8))


def test_a_page_of_thousands_of_specks_is_segmented_in_bounded_time():
    """A crafted grid of 78x30 ink specks once kept segmentation busy for minutes (joining pieces restarted its
    pairwise search after every join). Budget: 10 s, where it takes a fraction of a second."""
    import time

    page = np.full((720, 1280), 230, np.uint8)
    for row in range(30):
        for column in range(78):
            page[10 + row * 23 : 17 + row * 23, 8 + column * 16 : 13 + column * 16] = 20
    start = time.perf_counter()
    segments = S.segment(page)
    assert time.perf_counter() - start < 10
    assert len(segments.boxes) <= S.MAX_COMPONENTS


def test_a_filled_loop_keeps_its_lighter_hole_in_the_grey_level_crop():
    """A small 9 whose loop the mask fills solid: the crop the classifier gets still shows the hole, lighter."""
    gray = np.full((120, 160), 220, np.uint8)
    cv2.circle(gray, (80, 50), 8, 40, -1)  # the loop, drawn solid ...
    cv2.circle(gray, (80, 50), 3, 100, -1)  # ... with a hole the blur of a small photo left half-filled
    cv2.line(gray, (88, 50), (86, 80), 40, 3)  # the tail
    segments = S.segment(gray)
    assert len(segments.boxes) == 1
    box = segments.boxes[0]
    plain, shaded = segments.crop(box), segments.shaded_crop(box)
    k = segments.scale  # working pixels per image pixel (a frame this small is worked on enlarged)
    hole, stroke = (round(50 * k) - box.y, round(80 * k) - box.x), (round(50 * k) - box.y, round(74 * k) - box.x)
    assert plain[hole] == 255  # the binary mask filled the loop
    assert shaded[stroke] >= 200 and shaded[hole] < 0.7 * shaded[stroke]
    assert ((shaded > 0) == (plain > 0)).all()  # the same pixels: only their shade differs


def test_a_box_the_photo_barely_inks_keeps_its_mask_as_the_crop():
    """The ink map's core keeps pixels whose own ink strength is nil (grainy pencil): the grey-level crop would be
    empty and the classifier would refuse it (the page once failed as a whole); the plain mask is read instead."""
    mask = np.zeros((40, 40), np.uint8)
    mask[8:32, 18:22] = 255
    labels = (mask[::2, ::2] > 0).astype(np.int32)
    segments = S.Segments(mask=mask, labels=labels, boxes=[S.Box(18, 8, 4, 24, (1,))], shade=np.zeros_like(mask))
    box = segments.boxes[0]
    assert segments.shaded_crop(box).any()
    assert (segments.shaded_crop(box) == segments.crop(box)).all()


def test_work_size_shrinks_big_frames_and_enlarges_small_ones():
    big, scale = S.to_work_size(np.zeros((3024, 4032), np.uint8))
    assert big.shape == (960, 1280) and scale == 1280 / 4032
    half, scale = S.to_work_size(np.zeros((1512, 2016), np.uint8))  # a 12 MP JPEG decoded at 1/2
    assert half.shape == (960, 1280) and abs(scale - 1280 / 2016) < 1e-9
    same, scale = S.to_work_size(np.zeros((480, 640), np.uint8))
    assert same.shape == (480, 640) and scale == 1.0
    small, scale = S.to_work_size(np.zeros((240, 320), np.uint8))
    assert small.shape == (480, 640) and scale == 2.0
    page = np.full((240, 320), 230, np.uint8)
    cv2.ellipse(page, (150, 100), (12, 20), 0, 0, 360, 30, 3)  # a 0, 40 px tall
    segments = S.segment(page)
    assert len(segments.boxes) == 1
    box = segments.original_box(segments.boxes[0])
    assert 134 <= box.x <= 140 and 38 <= box.h <= 46  # boxes come back in the frame's own pixels


def test_the_side_of_a_box_drawn_around_a_number_is_not_a_1_but_a_1_on_a_ruled_line_is():
    """The ink map kept the digits and, wrongly, the box's right side (a thin upright stroke: a 1 to the
    classifier). In the photo's own ink that stroke is part of the whole box, which holds the number's digits
    without their ink being on it: the side goes. On ruled paper a real 1 touches the line, but so do its
    neighbours: the 1 stays."""
    mask = np.zeros((300, 600), np.uint8)
    for x in (150, 230, 310):
        cv2.ellipse(mask, (x, 150), (26, 40), 0, 0, 360, 255, 6)  # "000"
    boxed = mask.copy()
    cv2.rectangle(boxed, (100, 90), (400, 210), 255, 6)  # the photo's ink: the digits and the box around them
    side = mask.copy()
    cv2.line(side, (400, 110), (400, 190), 255, 6)  # the map's mistake: the box's right side, read as a 1
    labels, boxes = S.find_components(side)
    ordered, _ = S.group_lines(boxes)
    assert len(ordered) == 4
    kept = S.drop_loop_sides(ordered, labels, S.PhotoInk(boxed))
    assert [b.x for b in kept] == [b.x for b in ordered[:3]]
    ruled = side.copy()
    cv2.line(ruled, (0, 188), (600, 188), 255, 3)  # a ruled line touching the digits and the 1
    assert S.drop_loop_sides(ordered, labels, S.PhotoInk(ruled)) == ordered


def test_the_tail_of_a_circle_around_a_number_is_not_a_digit():
    """Where the pen that drew the circle stops, its stroke overshoots: a short curve the map marked, as wide as a
    digit for its height (a 7 to the classifier). It is part of the circle in the photo's own ink: it goes."""
    mask = np.zeros((300, 600), np.uint8)
    for x in (150, 230, 310):
        cv2.ellipse(mask, (x, 150), (26, 40), 0, 0, 360, 255, 6)  # "000"
    photo = mask.copy()
    cv2.ellipse(photo, (260, 150), (170, 70), 0, 0, 360, 255, 6)  # the circle around them
    cv2.ellipse(photo, (400, 110), (30, 30), 0, -90, 60, 255, 6)  # its tail, joined to it
    cv2.ellipse(mask, (400, 110), (30, 30), 0, -90, 60, 255, 6)  # the map kept the tail
    labels, boxes = S.find_components(mask)
    ordered, _ = S.group_lines(boxes)
    tail = max(ordered, key=lambda b: b.x)
    assert len(ordered) == 4 and tail.w > S.LOOP_SIDE_WIDTH * tail.h and tail.h < S.LOOP_SHORT * ordered[0].h
    assert [b.x for b in S.drop_loop_sides(ordered, labels, S.PhotoInk(photo))] == [b.x for b in ordered[:3]]


def test_the_side_of_a_box_around_a_single_digit_is_not_a_1():
    mask = np.zeros((300, 400), np.uint8)
    cv2.ellipse(mask, (200, 150), (26, 40), 0, 0, 360, 255, 6)  # "0" ...
    photo = mask.copy()
    cv2.rectangle(photo, (140, 90), (260, 210), 255, 6)  # ... in a box
    cv2.line(mask, (140, 100), (140, 200), 255, 6)  # the map kept the box's left side: "10"
    labels, boxes = S.find_components(mask)
    ordered, _ = S.group_lines(boxes)
    assert len(ordered) == 2
    assert [b.x for b in S.drop_loop_sides(ordered, labels, S.PhotoInk(photo))] == [ordered[1].x]


def test_a_1_between_digits_is_not_the_side_of_the_box_around_them():
    """A real 1 inside a box, joined to the box in the photo's ink by a grid line that the other digits do not
    touch: it has digits of its line on both sides, which a box's side never has. It stays."""
    mask = np.zeros((300, 600), np.uint8)
    for x in (150, 310):
        cv2.ellipse(mask, (x, 150), (26, 40), 0, 0, 360, 255, 6)  # "0 0" ...
    cv2.line(mask, (230, 110), (230, 190), 255, 6)  # ... with a 1 between them: "010"
    photo = mask.copy()
    cv2.rectangle(photo, (100, 90), (400, 210), 255, 6)  # the box around the number
    cv2.line(photo, (230, 90), (230, 110), 255, 3)  # a stretch of grid line joining the 1 to the box
    labels, boxes = S.find_components(mask)
    ordered, _ = S.group_lines(boxes)
    assert len(ordered) == 3 and S.drop_loop_sides(ordered, labels, S.PhotoInk(photo)) == ordered


def test_masked_percentile_is_numpys_percentile_of_the_pixels_under_the_mask():
    rng = np.random.default_rng(3)
    for trial in range(60):
        image = rng.integers(0, 256, (int(rng.integers(1, 40)), int(rng.integers(1, 40))), dtype=np.uint8)
        if trial % 2:
            image //= 64  # few distinct levels: ranks fall inside and between runs of equal values
        mask = (rng.random(image.shape) < rng.random()).astype(np.uint8) * 255
        if trial % 3 == 0:  # ink in one corner of the image only: counted in the rectangle around it
            y, x = int(rng.integers(0, image.shape[0])), int(rng.integers(0, image.shape[1]))
            mask[:y] = 0
            mask[:, :x] = 0
        inside = image[mask > 0]
        for percent in (0, 25, 70, 90, 100):
            found = S.masked_percentile(image, mask, percent)
            assert (found is None) if inside.size == 0 else found == pytest.approx(np.percentile(inside, percent), abs=1e-9)
    assert S.masked_percentile(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), 50) is None


def whole_image_components(mask: np.ndarray, close: bool) -> tuple[int, np.ndarray, np.ndarray]:
    """What `half_components` replaces: the whole mask halved, thresholded, closed and labelled."""
    half = cv2.resize(mask, (max(1, mask.shape[1] // 2), max(1, mask.shape[0] // 2)), interpolation=cv2.INTER_AREA)
    half = cv2.threshold(half, 0, 255, cv2.THRESH_BINARY)[1]
    if close:
        half = cv2.morphologyEx(half, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(half, 8, cv2.CV_32S, S.LABELLING)
    return count, labels, stats


@pytest.mark.parametrize("shape", [(240, 320), (241, 317), (60, 90)])
def test_components_found_in_the_ink_s_rectangle_are_those_of_the_whole_image(shape):
    """Labelling only the rectangle around the ink (`label_ink`, `half_components`) gives the whole image's
    labels and stats, for ink at odd offsets, touching the image's edges, in hairline-broken strokes, or none."""
    rng = np.random.default_rng(5)
    for trial in range(60):
        mask = np.zeros(shape, np.uint8)
        for _ in range(int(rng.integers(0, 7))):
            x, y = int(rng.integers(0, shape[1])), int(rng.integers(0, shape[0]))
            cv2.line(mask, (x, y), (x + int(rng.integers(-30, 30)), y + int(rng.integers(-30, 30))), 255, int(rng.integers(1, 3)))
        if trial % 5 == 0:
            mask[:, -1] = 255 * (rng.random(shape[0]) < 0.3)  # ink on the edge
        for close in (True, False):
            count, labels, stats = whole_image_components(mask, close)
            found = S.half_components(mask, close)
            assert found[0] == count and np.array_equal(found[1], labels) and np.array_equal(found[2][1:], stats[1:])
        binary = np.ascontiguousarray(mask[int(rng.integers(0, 3)):, int(rng.integers(0, 3)):])
        count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(binary, 8, cv2.CV_32S, S.LABELLING)
        found = S.label_ink(binary)
        assert found[0] == count and np.array_equal(found[1], labels) and np.array_equal(found[2][1:], stats[1:])
