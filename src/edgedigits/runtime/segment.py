"""Finding the digits in a photo: from a BGR or gray image to ordered ink crops.

Pipeline, one small pure function per step:

    to_gray -> dark_ink (polarity) -> ink_strength (flatten uneven light)
    -> remove_ruled_lines -> binarize (Otsu with a contrast floor)
    -> find_components -> drop specks, page edges, blobs -> join_pieces
    -> drop fragments -> group_lines (top to bottom, left to right)

`segment(image)` runs them all and returns `Segments`: the ink mask, and one
`Box` per digit with its line number. Nothing here knows about models.

Usage:
    segments = segment(cv2.imread("page.jpg"))
    crops = [segments.crop(box) for box in segments.boxes]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from statistics import median

import cv2
import numpy as np

WORK_SIZE = 1280  # larger images are shrunk to this longest side first: digits stay far above 28 px
BACKGROUND_SHRINK = 8  # the light is estimated on an image this many times smaller
BACKGROUND_WINDOW = 7  # ... over windows of this many (shrunk) pixels: wider than any pen stroke
MIN_CONTRAST = 28  # ink must stand this far (of 255) above the local background
NOISE_SIGMAS = 5.0  # ... and this many noise deviations above it
MIN_SPECK_AREA = 20  # pixels; smaller components are dirt
RULED_LINE_FRACTION = 1 / 6  # horizontal strokes longer than this share of the width are ruled lines
MAX_BLOB_FILL = 0.85  # a component filling more of its box than this is a blot or a shadow, not a digit
MAX_DIGIT_ASPECT = 3.0  # width / height above this: a dash, an underline, a smear
MIN_RELATIVE_HEIGHT = 0.4  # components shorter than this share of the typical digit are fragments
MAX_DIGIT_HEIGHT_FRACTION = 0.9  # a component taller than this share of the image is not one digit
LINE_OVERLAP = 0.5  # a digit joins a line when this share of its height overlaps the line's band
# Grana's block-based labelling: three times faster than the default when stats are wanted (OpenCV 5).
LABELLING = getattr(cv2, "CCL_BBDT", cv2.CCL_GRANA)
SPACE_GAP = 1.2  # a gap wider than this many typical digit widths separates two numbers on a line


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    labels: tuple[int, ...] = ()  # connected-component labels that make up this digit
    line: int = -1

    @property
    def bottom(self) -> int:
        return self.y + self.h

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def centre_y(self) -> float:
        return self.y + self.h / 2

    def union(self, other: Box) -> Box:
        x, y = min(self.x, other.x), min(self.y, other.y)
        return Box(x, y, max(self.right, other.right) - x, max(self.bottom, other.bottom) - y, self.labels + other.labels)

    def scaled(self, factor: float) -> Box:
        return replace(self, x=round(self.x * factor), y=round(self.y * factor), w=round(self.w * factor), h=round(self.h * factor))


@dataclass
class Segments:
    """The result of segmentation: the component label image and the digit boxes in reading order."""

    mask: np.ndarray  # uint8 ink mask (255 = ink) at working resolution
    labels: np.ndarray  # int32 component labels at half the working resolution (see find_components)
    boxes: list[Box] = field(default_factory=list)  # in reading order, at working resolution
    scale: float = 1.0  # working resolution / original resolution
    gaps: list[bool] = field(default_factory=list)  # gaps[i]: a space between boxes[i] and boxes[i + 1]

    def crop(self, box: Box) -> np.ndarray:
        """The digit's own ink (uint8 0/255) inside its box; other components are blanked."""
        window = self.mask[box.y : box.bottom, box.x : box.right]
        labels = self.labels[box.y // 2 : (box.bottom + 1) // 2, box.x // 2 : (box.right + 1) // 2]
        member = cv2.compare(labels, box.labels[0], cv2.CMP_EQ)
        for label in box.labels[1:]:
            member |= cv2.compare(labels, label, cv2.CMP_EQ)
        member = cv2.resize(member, (member.shape[1] * 2, member.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
        return cv2.bitwise_and(window, member[: window.shape[0], : window.shape[1]])

    def original_box(self, box: Box) -> Box:
        return box.scaled(1 / self.scale)


# --- Pixels --------------------------------------------------------------------------------


def to_gray(image: np.ndarray) -> np.ndarray:
    """BGR, BGRA or gray, uint8 or uint16 -> gray uint8."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 or uint16 image, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"expected a gray, BGR or BGRA image, got shape {image.shape}")


def shrink_to_work_size(gray: np.ndarray, work_size: int = WORK_SIZE) -> tuple[np.ndarray, float]:
    scale = min(1.0, work_size / max(gray.shape))
    if scale == 1.0:
        return gray, 1.0
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), scale


def shrink(gray: np.ndarray, factor: int = BACKGROUND_SHRINK) -> np.ndarray:
    size = (max(1, gray.shape[1] // factor), max(1, gray.shape[0] // factor))
    # Bilinear sampling is ten times cheaper than area averaging, and the opening and
    # blur that follow smooth out what it misses.
    return cv2.resize(gray, size, interpolation=cv2.INTER_LINEAR)


def dark_ink(small: np.ndarray) -> bool:
    """True for dark ink on light paper, False for light chalk on a dark board (from a shrunk gray image).

    Against the local median (the paper, or the board, under any light), ink is
    the strong tail on one side: whichever side's 0.5% tail reaches further wins.
    """
    median = cv2.medianBlur(small, 7)
    darker, lighter = cv2.subtract(median, small).ravel(), cv2.subtract(small, median).ravel()
    tail = max(1, darker.size // 200)
    return np.partition(darker, -tail)[-tail] >= np.partition(lighter, -tail)[-tail]


def ink_strength(gray: np.ndarray, small: np.ndarray, dark: bool) -> np.ndarray:
    """How far each pixel stands out from the local background, towards the ink (uint8).

    The background is estimated on the shrunk image with a grey-level opening
    (which erases anything thinner than the window, strokes included) and
    subtracted, so shadows and light gradients go away and ink of any brightness remains.
    """
    ink = cv2.bitwise_not(gray) if dark else gray
    ink = cv2.GaussianBlur(ink, (3, 3), 0)  # tames sensor noise and JPEG blocks
    small_ink = cv2.bitwise_not(small) if dark else small
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (BACKGROUND_WINDOW, BACKGROUND_WINDOW))
    background = cv2.blur(cv2.morphologyEx(small_ink, cv2.MORPH_OPEN, kernel), (3, 3))
    background = cv2.resize(background, (ink.shape[1], ink.shape[0]), interpolation=cv2.INTER_LINEAR)
    return cv2.subtract(ink, background)


def histogram_median(histogram: np.ndarray) -> int:
    return int(np.searchsorted(np.cumsum(histogram), histogram.sum() / 2))


def binarize(strength: np.ndarray) -> np.ndarray:
    """Ink mask (255 = ink): Otsu's threshold, but never below the contrast and noise floors.

    The floors keep a blank page, or one of pure noise, blank. Statistics come
    from a 256-bin histogram of every fourth pixel in each direction: fast, and exact enough.
    """
    sample = np.ascontiguousarray(strength[::4, ::4])
    histogram = np.bincount(sample.ravel(), minlength=256)
    middle = histogram_median(histogram)
    deviations = np.bincount(np.abs(np.arange(256) - middle), weights=histogram, minlength=256)
    noise = 1.4826 * histogram_median(deviations)  # robust standard deviation
    otsu, _ = cv2.threshold(sample, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    threshold = max(otsu, middle + MIN_CONTRAST, middle + NOISE_SIGMAS * noise)
    return cv2.threshold(strength, min(threshold, 254), 255, cv2.THRESH_BINARY)[1]


def remove_ruled_lines(strength: np.ndarray) -> np.ndarray:
    """Subtract long horizontal structures (ruled lines) from the ink strength, faint ones included.

    A grey-level opening with a long, flat window keeps only what stays inked
    along the whole window: the lines, not the digits. It runs at half
    resolution (a quarter of the work), is widened by a pixel to cover slanted
    lines, and is subtracted before thresholding, so a faint line that crosses
    a row of digits no longer glues them together.
    """
    half = cv2.resize(strength, (max(1, strength.shape[1] // 2), max(1, strength.shape[0] // 2)), interpolation=cv2.INTER_AREA)
    length = max(8, int(half.shape[1] * RULED_LINE_FRACTION))
    lines = cv2.morphologyEx(half, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
    lines = cv2.dilate(lines, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 3)))
    lines = cv2.resize(lines, (strength.shape[1], strength.shape[0]), interpolation=cv2.INTER_LINEAR)
    return cv2.subtract(strength, lines)


# --- Components --------------------------------------------------------------------------------


def find_components(mask: np.ndarray) -> tuple[np.ndarray, list[Box]]:
    """Half-resolution label image, and one box (in full-resolution pixels) per component that could be a digit.

    Labelling runs at half resolution, where any ink in a 2x2 block counts: a
    quarter of the work, and the crops still come from the full-resolution mask.
    Dropped here: dirt, the page's edge (or the table under it), solid blots and shadows.
    """
    half = cv2.resize(mask, (max(1, mask.shape[1] // 2), max(1, mask.shape[0] // 2)), interpolation=cv2.INTER_AREA)
    half = cv2.threshold(half, 0, 255, cv2.THRESH_BINARY)[1]
    # Bridge hairline gaps (a faint stroke, broken chalk): a few pixels, far less than between two digits.
    half = cv2.morphologyEx(half, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(half, 8, cv2.CV_32S, LABELLING)
    height, width = half.shape
    x, y, w, h, area = (stats[1:, i] for i in range(5))
    touches_edge = (x == 0) | (y == 0) | (x + w == width) | (y + h == height)
    page_edge = touches_edge & ((w > width / 3) | (h > height / 2))
    blot = (area > MAX_BLOB_FILL * w * h) & (w > 0.5 * h) & (w < 2 * h)  # a "1" fills its box too, but is thin
    keep = np.flatnonzero((4 * area >= MIN_SPECK_AREA) & ~page_edge & ~blot)
    boxes = [Box(2 * int(x[i]), 2 * int(y[i]), 2 * int(w[i]), 2 * int(h[i]), (int(i) + 1,)) for i in keep]
    return labels, boxes


def typical_height(boxes: list[Box]) -> float:
    """The height of a whole digit on this page: the median of the components at least half the tallest."""
    tallest = max(b.h for b in boxes)
    return float(median([b.h for b in boxes if b.h >= 0.5 * tallest]))


def join_pieces(boxes: list[Box]) -> list[Box]:
    """Merge the pieces of one digit: pieces shorter than a digit that overlap sideways and together make one.

    (The top stroke of a 5 that came loose, a 4 drawn in two strokes, chalk that
    broke.) Two whole digits stacked in two lines are never merged: each is as
    tall as a digit already.
    """
    if len(boxes) < 2:
        return boxes
    typical = typical_height(boxes)
    boxes = sorted(boxes, key=lambda b: b.h, reverse=True)
    merged = True
    while merged:
        merged = False
        for i, j in itertools.combinations(range(len(boxes)), 2):
            first, second = boxes[i], boxes[j]
            overlap_x = min(first.right, second.right) - max(first.x, second.x)
            union = first.union(second)
            if (min(first.h, second.h) < 0.8 * typical and overlap_x > 0.3 * min(first.w, second.w)
                    and union.h <= 1.25 * typical and union.w <= 1.25 * max(first.w, second.w)):
                boxes[i] = union
                del boxes[j]
                merged = True
                break
    return boxes


def drop_non_digits(boxes: list[Box], image_height: int) -> list[Box]:
    """Drop what is too flat, too tall, or too small next to the typical digit on the page."""
    boxes = [b for b in boxes if b.w <= MAX_DIGIT_ASPECT * b.h and b.h <= MAX_DIGIT_HEIGHT_FRACTION * image_height]
    if not boxes:
        return []
    typical = typical_height(boxes)
    return [b for b in boxes if b.h >= MIN_RELATIVE_HEIGHT * typical]


def group_lines(boxes: list[Box]) -> tuple[list[Box], list[bool]]:
    """Order digits in lines, top to bottom, and each line left to right.

    Returns the boxes with their line numbers, and for each box whether a space
    (a gap wider than SPACE_GAP typical widths) follows it on its line.
    """
    lines: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: b.centre_y):
        for line in lines:
            top = float(median([b.y for b in line]))
            bottom = float(median([b.bottom for b in line]))
            overlap = min(bottom, box.bottom) - max(top, box.y)
            if overlap >= LINE_OVERLAP * min(box.h, bottom - top):
                line.append(box)
                break
        else:
            lines.append([box])
    lines.sort(key=lambda line: float(median([b.centre_y for b in line])))
    ordered, spaces = [], []
    for number, line in enumerate(lines):
        line.sort(key=lambda b: b.x)
        typical_width = float(median([max(b.w, 0.5 * b.h) for b in line]))
        for index, box in enumerate(line):
            ordered.append(replace(box, line=number))
            following = line[index + 1] if index + 1 < len(line) else None
            spaces.append(following is not None and following.x - box.right > SPACE_GAP * typical_width)
    return ordered, spaces


def segment(image: np.ndarray) -> Segments:
    """Every step above, in order: a photo in, digit boxes in reading order out."""
    gray, scale = shrink_to_work_size(to_gray(image))
    small = shrink(gray)
    dark = dark_ink(small)
    mask = binarize(remove_ruled_lines(ink_strength(gray, small, dark)))
    labels, boxes = find_components(mask)
    boxes = drop_non_digits(join_pieces(boxes), gray.shape[0])
    ordered, spaces = group_lines(boxes)
    return Segments(mask=mask, labels=labels, boxes=ordered, scale=scale, gaps=spaces)
