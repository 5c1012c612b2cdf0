"""edgedigits.train.pagecrops: which boxes of a segmented page become labelled training examples."""

from __future__ import annotations

import cv2
import numpy as np

from edgedigits.runtime.normalize import normalize_digit
from edgedigits.runtime.segment import segment
from edgedigits.train.pagecrops import box_texts, page_examples


def write(page: np.ndarray, text: str, x: int, y: int) -> np.ndarray:
    """Print `text` with its left edge at x and baseline at y; return each character's centre (x, y)."""
    centres = []
    for character in text:
        (w, h), _ = cv2.getTextSize(character, cv2.FONT_HERSHEY_SIMPLEX, 2.0, 5)
        if character != " ":
            cv2.putText(page, character, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 0, 5, cv2.LINE_AA)
            centres.append((x + w / 2, y - h / 2))
        x += w + 12
    return np.float32(centres)


def two_lines(pair_touching: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A clean page: "12" above "345" (the 4 and 5 run into each other when `pair_touching`), and the centres."""
    page = np.full((240, 360), 255, np.uint8)
    first = write(page, "12", 60, 90)
    second = write(page, "3", 60, 180)
    pair = write(page, "45", 130, 180) if not pair_touching else None
    if pair_touching:  # the 5 drawn over the 4's right side
        pair = np.float32([write(page, "4", 130, 180)[0], write(page, "5", 160, 180)[0]])
    return page, np.concatenate([first, second, pair])


def test_each_box_gets_the_digits_whose_centres_it_holds():
    page, centres = two_lines()
    segments = segment(page)
    assert box_texts(["12", "345"], centres, segments) == ["1", "2", "3", "4", "5"]
    page, centres = two_lines(pair_touching=True)
    segments = segment(page)
    assert box_texts(["12", "345"], centres, segments) == ["1", "2", "3", "45"]


def test_boxes_without_a_clean_answer_give_none():
    page, centres = two_lines()
    segments = segment(page)
    moved = centres.copy()
    moved[1] = (5, 5)  # the 2's centre lies in no box: its box holds nothing
    assert box_texts(["12", "345"], moved, segments) == ["1", None, "3", "4", "5"]
    # a box holding digits that are not neighbours, or neighbours in reading order but on two lines, is not labelled
    apart, across = centres.copy(), centres.copy()
    apart[3] = centres[1]  # the 2 and the 4 in the 2's box
    assert box_texts(["12", "345"], apart, segments) == ["1", None, "3", None, "5"]
    across[2] = centres[1]  # the 2 and the 3 in the 2's box
    assert box_texts(["12", "345"], across, segments) == ["1", None, None, "4", "5"]
    centres[4] = centres[3]  # the 4 and the 5 in the 4's box: neighbours on one line
    assert box_texts(["12", "345"], centres, segments) == ["1", "2", "3", "45", None]


def test_examples_are_what_the_reader_hands_each_model():
    page, centres = two_lines(pair_touching=True)
    segments = segment(page)
    inputs, digits, runs, texts = page_examples(["12", "345"], centres, segments)
    assert digits == [1, 2, 3] and texts == ["45"]
    for given, box in zip(inputs, segments.boxes):  # the classifier's input, cut and normalised as Reader.read does
        np.testing.assert_array_equal(given, normalize_digit(segments.shaded_crop(box)))
    np.testing.assert_array_equal(runs[0], segments.crop(segments.boxes[3]))  # the sequence model's: the box's own ink
