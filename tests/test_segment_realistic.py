"""Segmentation against what real photos hold: one generated image per failure group of the realistic field set.

Each image is drawn here with known digits (OpenCV's plain font, digits well
apart unless the test says otherwise), then spoiled the way a photo is: a desk
around the sheet, grid lines turned with the page, coloured ink on coloured
lines, pencil, small digits on a small frame, loops and underlines, wide gaps.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgedigits.fieldset_realistic import desk_texture
from edgedigits.runtime import segment as S
from edgedigits.runtime.reader import Digit, compose_lines, run_length


def write(page: np.ndarray, text: str, origin: tuple[int, int], colour, scale: float = 2.0, thickness: int = 6,
          step: int = 80) -> None:
    for index, character in enumerate(text):
        cv2.putText(page, character, (origin[0] + index * step, origin[1]), cv2.FONT_HERSHEY_SIMPLEX, scale, colour,
                    thickness, cv2.LINE_AA)


def turn(page: np.ndarray, degrees: float) -> np.ndarray:
    height, width = page.shape[:2]
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(page, rotation, (width, height), borderMode=cv2.BORDER_REPLICATE)


def grid(page: np.ndarray, step: int, colour, thickness: int = 1) -> None:
    for x in range(3, page.shape[1], step):
        cv2.line(page, (x, 0), (x, page.shape[0] - 1), colour, thickness, cv2.LINE_AA)
    for y in range(5, page.shape[0], step):
        cv2.line(page, (0, y), (page.shape[1] - 1, y), colour, thickness, cv2.LINE_AA)


def line_shape(segments: S.Segments) -> list[int]:
    """Digits per line, top to bottom."""
    counts: dict[int, int] = {}
    for box in segments.boxes:
        counts[box.line] = counts.get(box.line, 0) + 1
    return [counts[line] for line in sorted(counts)]


def test_a_sheet_on_a_wood_desk_gives_only_its_digits():
    rng = np.random.default_rng(3)
    found_wood = False
    for _ in range(10):  # draw desks until one is wood grain
        desk, kind = desk_texture(rng, (640, 480))
        if kind == "wood":
            found_wood = True
            break
    assert found_wood
    page = desk.astype(np.uint8)
    cv2.rectangle(page, (150, 140), (520, 360), (235, 238, 240), cv2.FILLED)  # the sheet, partly over the desk
    write(page, "2017", (200, 280), (40, 40, 40))
    segments = S.segment(page)
    assert line_shape(segments) == [4]
    assert all(150 <= box.x and box.right <= 520 for box in segments.boxes)


def test_a_turned_grid_in_both_directions_is_removed():
    page = np.full((480, 640, 3), 240, np.uint8)
    grid(page, 26, (210, 170, 120), 2)  # blue squares, 2 px lines
    write(page, "3580", (150, 270), (30, 30, 30))
    segments = S.segment(turn(page, 7))
    assert line_shape(segments) == [4]


def test_dominant_angle_finds_the_slope_of_turned_lines():
    page = np.zeros((120, 160), np.uint8)
    for offset in range(-60, 200, 12):
        cv2.line(page, (0, offset), (300, int(offset + 300 * np.tan(np.radians(8)))), 120, 1, cv2.LINE_AA)
    assert abs(S.dominant_angle(page) - 8) <= 0.5
    assert abs(S.dominant_angle(np.ascontiguousarray(page[:, ::-1])) + 8) <= 0.5


def test_red_ink_on_blue_grid_paper():
    page = np.full((480, 640, 3), 245, np.uint8)
    grid(page, 30, (215, 160, 110), 2)
    write(page, "4962", (150, 270), (45, 40, 200))  # red pen, BGR
    assert line_shape(S.segment(page)) == [4]


def test_pencil_fifty_levels_below_the_paper():
    rng = np.random.default_rng(0)
    page = np.full((480, 640), 225, np.uint8)
    ink = np.zeros_like(page)
    write(ink, "7153", (150, 270), 255, thickness=4)
    grain = rng.uniform(0.6, 1.0, page.shape)  # pencil leaves gaps in its stroke
    page = (page - 50 * (ink / 255.0) * grain + rng.normal(0, 2, page.shape)).clip(0, 255).astype(np.uint8)
    page = cv2.GaussianBlur(page, (0, 0), 0.8)
    assert line_shape(S.segment(page)) == [4]


def test_small_digits_on_a_small_frame():
    page = np.full((240, 320), 230, np.uint8)
    write(page, "80264", (90, 130), 40, scale=0.8, thickness=2, step=26)  # digits about 18 px tall
    segments = S.segment(cv2.GaussianBlur(page, (0, 0), 0.6))
    assert line_shape(segments) == [5]
    assert all(15 <= segments.original_box(box).h <= 24 for box in segments.boxes)  # in the frame's pixels
    assert segments.scale == 2.0  # worked on enlarged twice over (`to_work_size`)


def test_a_circle_around_a_number_and_an_underline_below_another():
    page = np.full((480, 640), 230, np.uint8)
    write(page, "47", (120, 160), 40)
    cv2.ellipse(page, (180, 135), (120, 65), 0, 0, 360, 40, 4, cv2.LINE_AA)  # a circle around "47"
    write(page, "123", (120, 360), 40)
    cv2.line(page, (100, 385), (380, 392), 40, 4, cv2.LINE_AA)  # an underline, not touching
    segments = S.segment(page)
    assert line_shape(segments) == [2, 3]


def test_gaps_inside_a_number_are_not_spaces_but_a_wide_gap_is():
    def boxes(xs, width=40, height=60):
        return [S.Box(x, 100, width, height, (index + 1,)) for index, x in enumerate(xs)]
    # gaps of 0.5 and 0.6 digit heights inside one number (30 and 36 px): no space
    assert S.spaces_in(boxes([0, 70, 146])) == [False, False, False]
    # then 120 px (two heights) to the next number
    assert S.spaces_in(boxes([0, 70, 230, 300])) == [False, True, False, False]
    # a number written with wide, even gaps (0.9 digit heights) keeps them: no space anywhere
    assert S.spaces_in(boxes([0, 94, 188, 282])) == [False, False, False, False]


def test_a_line_turned_by_ten_degrees_stays_one_line():
    slope = np.tan(np.radians(10))
    boxes = [S.Box(60 + 70 * i, int(200 + slope * 70 * i), 40, 60, (i + 1,)) for i in range(8)]
    ordered, spaces = S.group_lines(boxes)
    assert {box.line for box in ordered} == {0}
    assert [box.labels[0] for box in ordered] == list(range(1, 9))


def test_touching_digits_are_handed_over_whole_and_read_as_unsure():
    page = np.full((480, 640), 230, np.uint8)
    write(page, "533", (150, 270), 40, thickness=9, step=34)  # three digits that touch
    segments = S.segment(page)
    assert len(segments.boxes) == 1  # one run, not cut at random
    box = segments.boxes[0]
    assert box.w > 1.6 * box.h and run_length((box.x, box.y, box.w, box.h)) >= 2
    digit = Digit(5, 0.99, (box.x, box.y, box.w, box.h), 0)
    assert compose_lines([digit], [False], 0.5)[0].startswith("??")  # not one confident invented digit
