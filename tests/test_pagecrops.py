"""edgedigits.train.pagecrops: which boxes of a segmented page become labelled training crops."""

from __future__ import annotations

import cv2
import numpy as np

from edgedigits.runtime.normalize import normalize_digit
from edgedigits.runtime.segment import segment
from edgedigits.train.pagecrops import aligned_crops


def two_lines() -> np.ndarray:
    """A clean white page: "12" above "345", printed with a Hershey font."""
    page = np.full((240, 320), 255, np.uint8)
    for text, y in (("1 2", 90), ("3 4 5", 180)):
        cv2.putText(page, text, (60, y), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 0, 5, cv2.LINE_AA)
    return page


def test_lines_that_line_up_give_their_digits_in_order():
    segments = segment(two_lines())
    inputs, digits = aligned_crops(["12", "345"], segments)
    assert digits == [1, 2, 3, 4, 5]
    assert all(x.shape == (28, 28) and x.dtype == np.float32 and x.max() > 0.5 for x in inputs)
    # the crops are exactly what the reader hands the classifier for those boxes
    for given, box in zip(inputs, segments.boxes):
        np.testing.assert_array_equal(given, normalize_digit(segments.shaded_crop(box)))


def test_lines_that_do_not_line_up_give_nothing():
    segments = segment(two_lines())
    assert aligned_crops(["12", "3456"], segments)[1] == [1, 2]  # the second line has a digit fewer than the truth
    assert aligned_crops(["12 345"], segments) == ([], [])  # one line in the truth, two found: which is which?
    assert aligned_crops(["7", "345"], segments)[1] == [3, 4, 5]
