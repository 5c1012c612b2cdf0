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

import math
from dataclasses import dataclass, field, replace
from statistics import median

import cv2
import numpy as np

WORK_SIZE = 1280  # larger images are shrunk to this longest side first: digits stay far above 28 px
SMALLEST_WORK_SIZE = 640  # smaller ones (long side) are enlarged twice over (`to_work_size`)
BACKGROUND_SHRINK = 8  # the light is estimated on an image this many times smaller
BACKGROUND_WINDOW = 7  # ... over windows of this many (shrunk) pixels: wider than any pen stroke
MIN_CONTRAST = 16  # ink must stand this far (of 255) above the local background
NOISE_SIGMAS = 5.0  # ... and this many noise deviations above it
MIN_SPECK_AREA = 20  # pixels; smaller components are dirt
MAX_COMPONENTS = 1000  # components kept per page (the largest): more is texture, and would only cost time
RULED_LINE_FRACTION = 1 / 6  # near-horizontal strokes longer than this share of the width are ruled or grid lines
VERTICAL_LINE_FRACTION = 1 / 3  # near-vertical ones longer than this share of the height: grid lines, margins, sheet edges
MAX_LINE_ANGLE = 12.0  # degrees: lines turned further than this (a page turned that far) are not looked for
MAX_BLOB_FILL = 0.85  # a component filling more of its box than this is a blot or a shadow, not a digit
MIN_BLOT_HEIGHT = 24  # pixels: smaller filled components may be small digits (18 px tall ones fill their box at half size)
MAX_DIGIT_ASPECT = 5.0  # width / height above this: an underline, a smear (a run of up to 6 touching digits stays)
FRAGMENT_HEIGHT = 0.5  # a piece shorter than this share of the typical digit, beside one at least that tall ...
FRAGMENT_GAP = 0.15  # ... at most this share of a digit's height away sideways ...
# ... joins it when the two are no wider than this share of a digit's height (`join_pieces`): 1.2 takes an MNIST 5's
# long top bar that reaches past its body (tuning pages 1,205 -> 1,207, none broken; 1.15 and 1.3 the same two pages).
FRAGMENT_UNION = 1.2
MIN_RELATIVE_HEIGHT = 0.4  # components shorter than this share of the typical digit are fragments
MAX_DIGIT_HEIGHT_FRACTION = 0.9  # a component taller than this share of the image is not one digit
LONG_STROKE = 2.5  # a thin component this many times taller than the page's median one is a line or an edge
FAINT_FRACTION = 0.35  # components fainter than this share of the page's strongest writing are not writing
SURFACE_MAX_STRENGTH = 6  # mean ink strength of an 8x8 cell under which it is smooth paper
SURFACE_MIN_AREA = 0.03  # a smooth region of at least this share of the frame can be written on
CROWDED_FRACTION = 0.06  # ink share above and below a component over which it is texture, not writing
ENCLOSED_FRACTION = 0.3  # a component holding a box at least this share of its height is a loop drawn around digits
# The learned ink map's probability over which a pixel is digit ink: under even odds, for the map is unsure on faint
# chalk and pencil (tuning pages 1,081 -> 1,095 of 1,350 at 0.4, 1,094 at 0.35, 1,091 at 0.3, 1,086 at 0.45; with
# an ink segmenter and classifier trained in another run, 1,083 -> 1,085).
INK_THRESHOLD = 0.4
REFINE_FRACTION = 0.45  # ... and where the photo's own ink strength reaches this share of the writing's
CORE_DEPTH = 1.5  # ... except this many map pixels in from the map's edge
# The ink's side (dark on light, or chalk) from the writing the map marks against a band this many pixels wide
# around it (`ink_is_dark`), not from the whole frame: tuning pages 1,170 -> 1,178 of 1,350 (8 fixed, none broken:
# whiteboards with glare, sticky notes on desks, a blackboard; wrong digits on failing pages 226 -> 197).
POLARITY_RING = 4
LONE_STROKE_WIDTH = 0.45  # a stroke the map left out is taken back as a 1 when no wider than this share of its height
LONE_STROKE_GAP = 1.2  # ... and at most this many digit heights from a digit of its line (`lone_strokes`)
LOOP_SIDE_WIDTH = 0.45  # a box this thin (width / height) ...
LOOP_SHORT = 0.75  # ... or this much shorter than its line's digits (the tail where a circle's stroke ends), ...
LOOP_HOLDS = 1  # ... inside a loop drawn around at least this many digits of its line, ...
LOOP_SHARE = 0.3  # ... whose ink the loop holds no more than this share of, is the loop's side (`drop_loop_sides`)
SHADE_PERCENTILE = 70  # grey-level crops: the ink strength at this percentile inside the mask counts as full ink
# Grana's block-based labelling: three times faster than the default when stats are wanted (OpenCV 5).
LABELLING = getattr(cv2, "CCL_BBDT", cv2.CCL_GRANA)
# Spaces: inside a number, handwriting leaves gaps up to about 0.6 of a digit's height (more beside a narrow 1);
# between two numbers on one line, people leave more than a digit's height.
SPACE_GAP = 1.0  # a gap wider than this many digit heights (the line's median) ...
SPACE_GAP_RATIO = 2.0  # ... and this many times the line's median gap separates two numbers
LINE_TOLERANCE = 0.5  # a box joins a line when its centre is within this share of its height from the line's course
MAX_LINE_SLOPE = 0.3  # a line's course is followed up to this slope (about 17 degrees)


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


def doubled(half: np.ndarray) -> np.ndarray:
    """A half-resolution mask (boolean, or uint8 0/255) at full resolution, uint8 0/255: each pixel a 2x2 block."""
    half = half.astype(np.uint8) * 255 if half.dtype == bool else half
    return cv2.resize(half, (half.shape[1] * 2, half.shape[0] * 2), interpolation=cv2.INTER_NEAREST)


@dataclass
class Segments:
    """The result of segmentation: the component label image and the digit boxes in reading order."""

    mask: np.ndarray  # uint8 ink mask (255 = ink) at working resolution
    labels: np.ndarray  # int32 component labels at half the working resolution (see find_components)
    boxes: list[Box] = field(default_factory=list)  # in reading order, at working resolution
    scale: float = 1.0  # working resolution / original resolution
    gaps: list[bool] = field(default_factory=list)  # gaps[i]: a space between boxes[i] and boxes[i + 1]
    shade: np.ndarray | None = None  # uint8 ink strength at working resolution, the writing's own at 255 (`shade_of`)
    photo: PhotoInk | None = None  # the photo's own ink (learned mask only)

    def crop(self, box: Box) -> np.ndarray:
        """The digit's own ink (uint8 0/255) inside its box; other components are blanked."""
        window = self.mask[box.y : box.bottom, box.x : box.right]
        labels = self.labels[box.y // 2 : (box.bottom + 1) // 2, box.x // 2 : (box.right + 1) // 2]
        # numpy, not cv2.compare: OpenCV takes a Python number for a 4-element array when the window is tiny
        member = doubled(np.isin(labels, box.labels))
        return cv2.bitwise_and(window, member[: window.shape[0], : window.shape[1]])

    def line_through(self, box: Box, start: int, stop: int, crop: np.ndarray | None = None) -> tuple[float, float]:
        """Whether an upright line of the photo's own ink (a margin, a box's side) runs through the box's columns
        `start`..`stop`: the share of the rows one box height above the box and one below (the lesser of the two)
        that hold the photo's ink in those columns, and how much darker the box's own ink is there than that ink
        above and below (their median shades divided: a pen stroke written over a line is darker than the line).
        (0, 0) without the photo's ink or its shade, or where the photo ends less than half a box height away.
        `crop`: the box's own ink (`crop`), where the caller has it already."""
        if self.photo is None or self.shade is None:
            return 0.0, 0.0
        columns = slice(box.x + start, box.x + max(stop, start + 1))
        above, below = slice(max(0, box.y - box.h), box.y), slice(box.bottom, box.bottom + box.h)
        sharp = self.photo.sharp
        if min(sharp[above].shape[0], sharp[below].shape[0]) < box.h // 2:
            return 0.0, 0.0
        share = min(sharp[above, columns].any(axis=1).mean(), sharp[below, columns].any(axis=1).mean())
        crop = self.crop(box) if crop is None else crop
        own = self.shade[box.y : box.bottom, columns][crop[:, start : max(stop, start + 1)] > 0]
        line = np.concatenate([self.shade[rows, columns][sharp[rows, columns] > 0] for rows in (above, below)])
        if not own.size or not line.size:
            return float(share), 0.0
        return float(share), float(np.median(own)) / max(1.0, float(np.median(line)))

    def photo_reach(self, box: Box) -> float:
        """How far the photo's own components under the box's ink reach past the box, above and below together, in
        box heights (the largest of them): 0 for a digit or a run of touching digits, more for one glued to a margin
        line or to the side of a circle around the number (a circle `loop_arcs` found: infinite). 0 without the
        photo's ink (the threshold mask)."""
        found = self.photo.components_beside(self.labels) if self.photo is not None else None
        if found is None:
            return 0.0
        under = self.photo.under(box, self.labels)
        stats = found[2]
        if any(int(i) in self.photo.loops for i in under):
            return math.inf
        tops, bottoms = stats[under, cv2.CC_STAT_TOP] * 2, (stats[under, cv2.CC_STAT_TOP] + stats[under, cv2.CC_STAT_HEIGHT]) * 2
        reach = np.maximum(0, box.y - tops) + np.maximum(0, bottoms - box.bottom)
        return float(reach.max(initial=0)) / box.h

    def shaded_crop(self, box: Box, crop: np.ndarray | None = None) -> np.ndarray:
        """`crop` (made here unless given), with each ink pixel as dark as the photo has it (`shade`): a 9's loop
        that the mask filled shows as a lighter hole, as in MNIST's grey-level digits. A box whose ink is fainter
        than the page's writing (a digit in a shadow, a lighter hand) is brightened to it: its shade divided by its
        own SHADE_PERCENTILE inside the crop (tuning pages 1,178 -> 1,181 of 1,350, none broken; the threshold mask
        924 -> 925). The plain crop without shade."""
        crop = self.crop(box) if crop is None else crop
        if self.shade is None:
            return crop
        shade = self.shade[box.y : box.bottom, box.x : box.right]
        level = masked_percentile(shade, crop, SHADE_PERCENTILE)
        if level is not None and 1 <= level < 255:
            shade = cv2.convertScaleAbs(shade, alpha=255.0 / level)
        shaded = cv2.min(crop, shade)
        return shaded if shaded.any() else crop  # a box the photo barely inks: its mask, not nothing

    def original_box(self, box: Box) -> Box:
        return box.scaled(1 / self.scale)


# --- Pixels --------------------------------------------------------------------------------


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Pixels as uint8: 16-bit images keep their top 8 bits, signed ones their non-negative range; float images
    (OpenEXR, Radiance HDR, PFM: 1.0 is white) are scaled by 255 and clipped."""
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise ValueError(f"expected a non-empty image array, got {type(image).__name__} {getattr(image, 'shape', '')}")
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    if np.issubdtype(image.dtype, np.signedinteger):
        top = np.iinfo(image.dtype).max
        return (np.clip(image, 0, top).astype(np.float64) * (255 / top)).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        return np.clip(np.nan_to_num(image.astype(np.float32)) * 255, 0, 255).astype(np.uint8)
    raise ValueError(f"expected an integer or float image, got {image.dtype}")


def on_white(image: np.ndarray) -> np.ndarray:
    """A uint8 BGRA image -> BGR, laid on a white page as a viewer shows it: ink drawn on a transparent layer (a
    tablet's or a scanner app's export, its transparent pixels often black underneath) stays ink on paper."""
    alpha = image[:, :, 3]
    if alpha.min() == 255:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    share = alpha[:, :, None].astype(np.uint16)
    return ((image[:, :, :3] * share + 255 * (255 - share) + 127) // 255).astype(np.uint8)


def to_gray(image: np.ndarray) -> np.ndarray:
    """BGR, BGRA (`on_white`) or gray, any integer or float pixels (`to_uint8`) -> gray uint8."""
    image = to_uint8(image)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(on_white(image), cv2.COLOR_BGR2GRAY)
    raise ValueError(f"expected a gray, BGR or BGRA image, got shape {image.shape}")


def to_work_size(gray: np.ndarray, work_size: int = WORK_SIZE, smallest: int = SMALLEST_WORK_SIZE) -> tuple[np.ndarray, float]:
    """The image at the size segmentation works at, and the scale (working pixels per image pixel).

    Larger than `work_size` on the long side: shrunk to it. Shrinking by less than half is bilinear: area-averaging
    by an odd ratio (a 12 MP JPEG decoded at 1/2, 2016 px -> 1280) took 5 ms against 0.5, and read the same pages
    (355/450 tuning pages either way; a camera's blur leaves little for averaging to catch).
    Smaller than `smallest` (a 320x240 webcam frame): enlarged twice over (bicubic), so that the mask's edges and
    the grey-level crops of digits 18-30 px tall are cut at half-pixel precision (tuning pages 355 -> 360, wrong
    digits 135 -> 120; the frame then costs what a 640x480 one does)."""
    if max(gray.shape) < smallest:
        return cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC), 2.0
    scale = min(1.0, work_size / max(gray.shape))
    if scale == 1.0:
        return gray, 1.0
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_LINEAR if scale > 0.5 else cv2.INTER_AREA), scale


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


def ink_window(mask: np.ndarray, margin: int = 0, align: int = 1) -> tuple[slice, slice] | None:
    """The rectangle around the mask's ink (its nonzero pixels), widened by `margin` and with both corners on
    multiples of `align` (clipped to the image), as (rows, columns); None where there is no ink. Steps that give
    nothing outside the ink (plus what their own reach needs) work in it: a page's writing covers a few percent
    of the frame."""
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0:
        return None
    height, width = mask.shape[:2]
    x0, y0 = max(0, x - margin) // align * align, max(0, y - margin) // align * align
    x1, y1 = min(width, -(-(x + w + margin) // align) * align), min(height, -(-(y + h + margin) // align) * align)
    return slice(y0, y1), slice(x0, x1)


def masked_percentile(image: np.ndarray, mask: np.ndarray, percent: float) -> float | None:
    """`np.percentile(image[mask > 0], percent)` for a uint8 image, from its histogram under the mask (no copy of the
    pixels, no sort: half the time), counted in the rectangle around the mask's ink only; None where the mask is
    empty."""
    window = ink_window(mask)
    if window is None:
        return None
    counts = np.cumsum(cv2.calcHist([image[window]], [0], mask[window], [256], [0, 256]).ravel())
    total = int(counts[-1])
    if total == 0:
        return None
    rank = percent / 100 * (total - 1)  # numpy's linear interpolation between the two nearest ranks
    below = int(np.floor(rank))
    low = int(np.searchsorted(counts, below + 1))
    high = int(np.searchsorted(counts, min(below + 2, total)))
    return low + (high - low) * (rank - below)


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


def shear_level(image: np.ndarray, degrees: float, interpolation: int) -> tuple[np.ndarray, np.ndarray]:
    """(the image sheared so that lines of slope `degrees` run level, the shear), on a canvas tall enough to keep it all."""
    height, width = image.shape
    slope = np.tan(np.radians(degrees))
    shear = np.float32([[1, 0, 0], [-slope, 1, max(0.0, slope) * width]])
    return cv2.warpAffine(image, shear, (width, int(height + abs(slope) * width) + 1), flags=interpolation), shear


def dominant_angle(image: np.ndarray, max_degrees: float = MAX_LINE_ANGLE) -> float:
    """The slope (degrees, y down) of the strongest family of near-horizontal straight lines in `image`.

    Shears the image by each candidate slope and keeps the one whose row sums
    are most peaked: straight lines then fall into few rows. Coarse steps of 2
    degrees, then half-degree steps around the best. Near zero when there are no lines.
    """
    def peakedness(degrees: float) -> float:
        rows = cv2.reduce(shear_level(image, degrees, cv2.INTER_NEAREST)[0], 1, cv2.REDUCE_SUM, dtype=cv2.CV_32F)
        return float(cv2.norm(rows, cv2.NORM_L2SQR))
    coarse = np.arange(-max_degrees, max_degrees + 0.01, 2.0)
    best = coarse[int(np.argmax([peakedness(d) for d in coarse]))]
    fine = np.arange(best - 1.5, best + 1.51, 0.5)
    return float(fine[int(np.argmax([peakedness(d) for d in fine]))])


def open_along(image: np.ndarray, degrees: float, length: int) -> np.ndarray:
    """Grey-level opening along lines of slope `degrees`: what stays inked along `length` pixels of such a line.

    The image is sheared so that those lines run level, opened with a flat
    window, and sheared back.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1))
    if abs(degrees) < 0.25:
        return cv2.morphologyEx(image, cv2.MORPH_OPEN, kernel)
    sheared, shear = shear_level(image, degrees, cv2.INTER_LINEAR)
    opened = cv2.morphologyEx(sheared, cv2.MORPH_OPEN, kernel)
    return cv2.warpAffine(opened, shear, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def remove_ruled_lines(strength: np.ndarray) -> np.ndarray:
    """Subtract long straight structures from the ink strength: ruled and grid lines in both directions,
    margins, the edges of a sheet, faint and turned ones included.

    Each family (near-horizontal, near-vertical) gets its slope from the
    image (`dominant_angle`, up to MAX_LINE_ANGLE degrees either way); a
    grey-level opening with a long, flat window along that slope keeps only
    what stays inked along the whole window: the lines, not the digits. It
    runs at half resolution, is widened by a pixel, and is subtracted before
    thresholding, so a faint line that crosses a row of digits no longer glues them together.
    """
    half = cv2.resize(strength, (max(1, strength.shape[1] // 2), max(1, strength.shape[0] // 2)), interpolation=cv2.INTER_AREA)
    # Slopes are found on an eighth-size copy: four times cheaper than a quarter (on the tuning set, 1 page in 300 changed).
    eighth = cv2.resize(half, (max(1, half.shape[1] // 4), max(1, half.shape[0] // 4)), interpolation=cv2.INTER_AREA)
    across = open_along(half, dominant_angle(eighth), max(8, int(half.shape[1] * RULED_LINE_FRACTION)))
    down = open_along(np.ascontiguousarray(half.T), dominant_angle(np.ascontiguousarray(eighth.T)),
                      max(8, int(half.shape[0] * VERTICAL_LINE_FRACTION))).T
    lines = cv2.dilate(cv2.max(across, down), cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    lines = cv2.resize(lines, (strength.shape[1], strength.shape[0]), interpolation=cv2.INTER_LINEAR)
    return cv2.subtract(strength, lines)


def label_ink(binary: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """cv2.connectedComponentsWithStats of a binary image (8-connected, LABELLING), labelling only the rectangle
    that holds its ink: a page's writing covers a few percent of the frame. The rectangle starts on even pixels, so
    the block-based labelling meets the same 2x2 blocks in the same order and numbers the components as on the
    whole image; labels come back at full size and stats in its pixels (row 0, the background, is left as the
    rectangle's)."""
    window = ink_window(binary, align=2)
    if window is None:  # no ink: the background alone
        return 1, np.zeros(binary.shape, np.int32), np.array([[0, 0, binary.shape[1], binary.shape[0], binary.size]], np.int32)
    rows, columns = window
    return placed(binary.shape, columns.start, rows.start, *cv2.connectedComponentsWithStatsWithAlgorithm(
        np.ascontiguousarray(binary[window]), 8, cv2.CV_32S, LABELLING)[:3])


def placed(shape: tuple[int, int], x0: int, y0: int, count: int, window: np.ndarray, stats: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """A labelling of the window at (x0, y0) as the labelling of an image of `shape` that is empty elsewhere."""
    labels = np.zeros(shape, np.int32)
    labels[y0 : y0 + window.shape[0], x0 : x0 + window.shape[1]] = window
    stats[:, 0] += x0
    stats[:, 1] += y0
    return count, labels, stats


def half_components(mask: np.ndarray, close: bool = False) -> tuple[int, np.ndarray, np.ndarray]:
    """`label_ink` of the mask at half resolution (any ink in a 2x2 block counts; `close`: hairline gaps bridged
    with a 3x3 closing first), made from the rectangle around the mask's ink only, with a margin the closing cannot
    reach across and corners on multiples of 4 (the same 2x2 blocks as the whole image's, at both resolutions): the
    same labels and stats as from the whole mask, in a fraction of the time."""
    height, width = mask.shape
    whole = (slice(0, height), slice(0, width))
    window = ink_window(mask, margin=4, align=4) if not (width % 2 or height % 2) else None  # else no exact 2x2 blocks
    rows, columns = window or whole
    part = mask[rows, columns]
    half = cv2.resize(part, (max(1, part.shape[1] // 2), max(1, part.shape[0] // 2)), interpolation=cv2.INTER_AREA)
    half = cv2.threshold(half, 0, 255, cv2.THRESH_BINARY)[1]
    if close:
        half = cv2.morphologyEx(half, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    found = label_ink(half)
    if window is None:
        return found
    return placed((height // 2, width // 2), columns.start // 2, rows.start // 2, *found)


# --- Components --------------------------------------------------------------------------------


def find_components(mask: np.ndarray, blots: bool = True) -> tuple[np.ndarray, list[Box]]:
    """Half-resolution label image, and one box (in full-resolution pixels) per component that could be a digit.

    Labelling runs at half resolution, where any ink in a 2x2 block counts: a
    quarter of the work, and the crops still come from the full-resolution mask.
    Dropped here: dirt, the page's edge (or the table under it), solid blots and shadows (`blots`: not from the
    learned map, which leaves shadows out but fills the small hole of a bold 0 or 6; a blot rule there dropped
    such digits whole, tuning pages 1,071 -> 1,080 of 1,350 without it, none invented more).
    """
    # Hairline gaps (a faint stroke, broken chalk) are bridged: a few pixels, far less than between two digits.
    count, labels, stats = half_components(mask, close=True)
    height, width = labels.shape
    x, y, w, h, area = (stats[1:, i] for i in range(5))
    touches_edge = (x == 0) | (y == 0) | (x + w == width) | (y + h == height)
    page_edge = touches_edge & ((w > width / 3) | (h > height / 2))
    # A "1" fills its box too, but is thin; and a small digit (under MIN_BLOT_HEIGHT) fills it once labelled at half size.
    blot = (area > MAX_BLOB_FILL * w * h) & (w > 0.5 * h) & (w < 2 * h) & (2 * h >= MIN_BLOT_HEIGHT) & blots
    keep = np.flatnonzero((4 * area >= MIN_SPECK_AREA) & ~page_edge & ~blot)
    if keep.size > MAX_COMPONENTS:  # a texture of thousands of pieces, not writing: its largest pieces are enough
        keep = np.sort(keep[np.argsort(area[keep])[-MAX_COMPONENTS:]])
    boxes = [Box(2 * int(x[i]), 2 * int(y[i]), 2 * int(w[i]), 2 * int(h[i]), (int(i) + 1,)) for i in keep]
    return labels, boxes


def drop_faint(boxes: list[Box], labels: np.ndarray, strength: np.ndarray) -> list[Box]:
    """Drop components much fainter than the page's writing: desk grain, paper texture, the shade of an edge.

    One hand writes one page with one pen, so its digits stand out about
    equally; a component whose mean ink strength is under FAINT_FRACTION of
    the strongest components' (the median of the three strongest of some size) is not writing.
    """
    if len(boxes) < 2:
        return boxes
    half = cv2.resize(strength, (labels.shape[1], labels.shape[0]), interpolation=cv2.INTER_AREA)
    count = int(labels.max()) + 1
    areas = np.bincount(labels.ravel(), minlength=count)
    means = np.bincount(labels.ravel(), weights=half.ravel(), minlength=count) / np.maximum(areas, 1)
    ids = np.array([box.labels[0] for box in boxes])
    sizeable = ids[areas[ids] >= MIN_SPECK_AREA]
    if sizeable.size == 0:
        return boxes
    reference = float(np.median(np.sort(means[sizeable])[-3:]))
    return [box for box in boxes if means[box.labels[0]] >= FAINT_FRACTION * reference]


def drop_enclosures(boxes: list[Box]) -> list[Box]:
    """Drop circles and boxes drawn around numbers: components whose box holds another digit-sized box whole.

    A 0, 6, 8 or 9 holds at most a speck; a loop drawn around a number holds digits.
    """
    def encloses(outer: Box, inner: Box) -> bool:
        return (inner is not outer and inner.h >= ENCLOSED_FRACTION * outer.h and outer.x <= inner.x
                and outer.y <= inner.y and inner.right <= outer.right and inner.bottom <= outer.bottom)
    return [box for box in boxes if not any(encloses(box, other) for other in boxes)]


def writing_surface(strength: np.ndarray) -> np.ndarray | None:
    """Where the writing can be: the large smooth regions of the page (paper, a sticky note, a board), holes filled.

    On a shrunk copy of the ink strength (ruled and grid lines already
    subtracted), paper is near zero everywhere but under the writing, while a
    desk's grain or weave is not. Smooth cells, opened to drop the small
    smooth islands between grain stripes, make regions; those of at least
    SURFACE_MIN_AREA of the frame, with their holes (the digits) filled, are
    the surface. Returns a uint8 mask (255 = surface) at 1/BACKGROUND_SHRINK
    scale, or None when the whole frame is smooth or nothing is.
    """
    small = cv2.resize(strength, (max(1, strength.shape[1] // BACKGROUND_SHRINK), max(1, strength.shape[0] // BACKGROUND_SHRINK)),
                       interpolation=cv2.INTER_AREA)
    smooth = (small <= SURFACE_MAX_STRENGTH).astype(np.uint8) * 255
    smooth = cv2.morphologyEx(smooth, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    if cv2.countNonZero(smooth) > 0.97 * smooth.size:
        return None
    contours, _ = cv2.findContours(smooth, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    large = [c for c in contours if cv2.contourArea(c) >= SURFACE_MIN_AREA * smooth.size]
    if not large:
        return None
    surface = np.zeros_like(smooth)
    cv2.drawContours(surface, large, -1, 255, cv2.FILLED)
    return surface


def drop_off_surface(boxes: list[Box], surface: np.ndarray | None) -> list[Box]:
    """Keep the components whose centre lies on the writing surface.

    All of them are kept when there is no surface, or when no component lies
    on it (then the smooth regions found were not where the writing is).
    """
    if surface is None:
        return boxes
    height, width = surface.shape
    def on(box: Box) -> bool:
        x = min(width - 1, int((box.x + box.w / 2) / BACKGROUND_SHRINK))
        y = min(height - 1, int(box.centre_y / BACKGROUND_SHRINK))
        return bool(surface[y, x])
    kept = [box for box in boxes if on(box)]
    return kept or boxes


def drop_crowded(boxes: list[Box], labels: np.ndarray) -> list[Box]:
    """Drop components that sit in a crowd of other ink: wood grain, fabric, the texture of a desk.

    Handwriting leaves clear paper above or below each digit (lines of text
    are more than half a digit apart, an underline is on one side only);
    texture leaves none. A component is dropped when the bands of half its
    height above it and below it (its own width) both hold more than
    CROWDED_FRACTION ink of the other candidates.
    """
    if len(boxes) < 2:
        return boxes
    lookup = np.zeros(int(labels.max()) + 1, np.uint8)
    lookup[[box.labels[0] for box in boxes]] = 1
    sums = cv2.integral(lookup[labels])
    height, width = labels.shape

    def density(x0: int, y0: int, x1: int, y1: int) -> float:
        """Ink share of a band; a band cut off by the frame's edge tells nothing (infinity)."""
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        if x1 <= x0 or y1 <= y0:
            return np.inf
        return float(sums[y1, x1] - sums[y0, x1] - sums[y1, x0] + sums[y0, x0]) / ((x1 - x0) * (y1 - y0))

    kept = []
    for box in boxes:
        x0, y0, x1, y1 = box.x // 2, box.y // 2, (box.right + 1) // 2, (box.bottom + 1) // 2
        band = max(1, (y1 - y0) // 2)
        clear = min(density(x0, y0 - band, x1, y0), density(x0, y1, x1, y1 + band))
        if clear <= CROWDED_FRACTION or clear == np.inf:
            kept.append(box)
    return kept


def typical_height(boxes: list[Box]) -> float:
    """The height of a whole digit on this page.

    Digits come in rows of like-sized neighbours; texture, edges and loose
    strokes do not. Each component counts the others of about its height
    (within 30%) beside it on its row (centres within half its height
    vertically, within three heights sideways); the typical height is the
    median of the best-placed ones, those with at least half the highest count.
    With no such rows (a lone digit), the median of the components at least half the tallest.
    """
    heights = np.array([b.h for b in boxes], np.float32)
    centres_x = np.array([b.x + b.w / 2 for b in boxes], np.float32)
    centres_y = np.array([b.centre_y for b in boxes], np.float32)
    like = np.abs(heights[:, None] - heights[None, :]) <= 0.3 * heights[:, None]
    beside = (np.abs(centres_y[:, None] - centres_y[None, :]) <= 0.5 * heights[:, None]) & (
        np.abs(centres_x[:, None] - centres_x[None, :]) <= 3 * heights[:, None])
    neighbours = (like & beside).sum(axis=1) - 1
    if neighbours.max() > 0:
        return float(np.median(heights[neighbours >= 0.5 * neighbours.max()]))
    tallest = float(heights.max())
    return float(np.median(heights[heights >= 0.5 * tallest]))


def join_pieces(boxes: list[Box]) -> list[Box]:
    """Merge the pieces of one digit: pieces shorter than a digit that overlap sideways and together make one.

    (The top stroke of a 5 that came loose, a 4 drawn in two strokes, chalk that
    broke.) Two whole digits stacked in two lines are never merged: each is as
    tall as a digit already. A fragment (under FRAGMENT_HEIGHT of a digit) that
    does not overlap a taller piece but lies just beside it (FRAGMENT_GAP) joins
    it too when the two are at most 1.2 digit heights wide (FRAGMENT_UNION): the end of a
    7's bar that broke off left of its stem, read as "11" before (tuning pages
    1,061 -> 1,070 of 1,350; the old set 296 -> 297 of 300). Two fragments are
    not joined this way: a 1 in two pieces comes back whole from the photo's own
    ink (`lone_strokes`), which reads better than the two pieces with a gap.
    """
    if len(boxes) < 2:
        return boxes
    typical = typical_height(boxes)

    def belong_together(first: Box, second: Box) -> bool:
        overlap_x = min(first.right, second.right) - max(first.x, second.x)
        union = first.union(second)
        if union.h > 1.25 * typical:
            return False
        if min(first.h, second.h) < 0.8 * typical and overlap_x > 0.3 * min(first.w, second.w) and union.w <= 1.25 * max(first.w, second.w):
            return True
        # a fragment (under FRAGMENT_HEIGHT of a digit) just beside a piece, the two no wider than a digit
        return (FRAGMENT_GAP > 0 and min(first.h, second.h) < FRAGMENT_HEIGHT * typical <= max(first.h, second.h)
                and overlap_x >= -FRAGMENT_GAP * typical and union.w <= FRAGMENT_UNION * typical)

    # Sweep left to right: only boxes that overlap sideways can join, so each box meets its few neighbours
    # instead of every other box (a page of thousands of specks stays fast); passes repeat while joins happen.
    joined = True
    while joined:
        joined = False
        boxes = sorted(boxes, key=lambda b: (b.x, -b.h))
        taken = [False] * len(boxes)
        result = []
        for i, current in enumerate(boxes):
            if taken[i]:
                continue
            for j in range(i + 1, len(boxes)):
                if boxes[j].x >= current.right + FRAGMENT_GAP * typical:
                    break
                if not taken[j] and belong_together(current, boxes[j]):
                    current = current.union(boxes[j])
                    taken[j] = joined = True
            result.append(current)
        boxes = result
    return boxes


def drop_non_digits(boxes: list[Box], image_height: int) -> list[Box]:
    """Drop what is too flat, too tall, or too small next to the typical digit on the page.

    Too tall: a thin stroke far taller than the page's median component is the
    edge of a sheet, a margin or a stray long line, never a digit.
    """
    boxes = [b for b in boxes if b.w <= MAX_DIGIT_ASPECT * b.h and b.h <= MAX_DIGIT_HEIGHT_FRACTION * image_height]
    if not boxes:
        return []
    usual = float(median([b.h for b in boxes]))
    boxes = [b for b in boxes if not (b.h > LONG_STROKE * usual and b.w < 0.3 * b.h)]
    if not boxes:
        return []
    typical = typical_height(boxes)
    return [b for b in boxes if b.h >= MIN_RELATIVE_HEIGHT * typical]


def line_centre_at(line: list[Box], x: float) -> float:
    """Where a line of boxes (left to right) is expected to be at `x`: followed along its slope, so turned pages work."""
    last = line[-1]
    if len(line) < 2:
        return last.centre_y
    first = line[0]
    run = (last.x + last.w / 2) - (first.x + first.w / 2)
    slope = (last.centre_y - first.centre_y) / run if run > 0 else 0.0
    slope = float(np.clip(slope, -MAX_LINE_SLOPE, MAX_LINE_SLOPE))
    return last.centre_y + slope * (x - (last.x + last.w / 2))


def spaces_in(line: list[Box]) -> list[bool]:
    """For each box of a line (left to right), whether a space follows it: a gap wider than SPACE_GAP digit
    heights and wider than SPACE_GAP_RATIO times the median of the gaps under that (a number written with wide
    gaps keeps them)."""
    gaps = [following.x - box.right for box, following in zip(line, line[1:])]
    if not gaps:
        return [False]
    height = float(median([b.h for b in line]))
    inside = [gap for gap in gaps if gap <= SPACE_GAP * height]  # the gaps that are surely inside numbers
    usual = max(0.0, float(median(inside))) if inside else 0.0
    return [gap > SPACE_GAP * height and gap > SPACE_GAP_RATIO * usual for gap in gaps] + [False]


def group_lines(boxes: list[Box]) -> tuple[list[Box], list[bool]]:
    """Order digits in lines, top to bottom, and each line left to right.

    Lines are followed from left to right: a box joins the line whose course
    (the line's slope so far, extended) passes within LINE_TOLERANCE of its
    height from its centre, so a page turned by 10 degrees still reads one line.
    Returns the boxes with their line numbers, and for each box whether a space follows it (`spaces_in`).
    """
    lines: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: (b.x, b.y)):
        best, best_offset = None, None
        for line in lines:
            offset = abs(box.centre_y - line_centre_at(line, box.x + box.w / 2))
            if offset <= LINE_TOLERANCE * max(box.h, line[-1].h) and (best is None or offset < best_offset):
                best, best_offset = line, offset
        if best is None:
            lines.append([box])
        else:
            best.append(box)
    lines.sort(key=lambda line: float(median([b.centre_y for b in line])))
    ordered, spaces = [], []
    for number, line in enumerate(lines):
        ordered += [replace(box, line=number) for box in line]
        spaces += spaces_in(line)
    return ordered, spaces


def shade_of(strength: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Ink strength scaled so that the writing's (SHADE_PERCENTILE inside the mask) is 255."""
    level = masked_percentile(strength, mask, SHADE_PERCENTILE)
    if level is None:
        return None
    level = max(1.0, level)
    return cv2.convertScaleAbs(strength, alpha=255.0 / level)


@dataclass
class PhotoInk:
    """The photo's own ink mask at the writing's level (`learned_mask`'s `sharp`), and its components at half
    resolution (any ink in a 2x2 block counts), found once for `lone_strokes` and `drop_loop_sides`."""

    sharp: np.ndarray
    count: int = 0
    labels: np.ndarray | None = None
    stats: np.ndarray | None = None
    loops: set[int] = field(default_factory=set)  # the components `loop_arcs` took for circles or boxes drawn around numbers

    def components(self) -> tuple[int, np.ndarray, np.ndarray]:
        if self.labels is None:
            self.count, self.labels, self.stats = half_components(self.sharp)
        return self.count, self.labels, self.stats

    def ink_under(self, box: Box, labels: np.ndarray) -> np.ndarray:
        """The photo's component (`components`; 0: no photo ink) at each of the box's ink pixels in the mask's
        half-resolution `labels`."""
        window = in_half(box)
        return self.components()[1][window][np.isin(labels[window], box.labels)]

    def under(self, box: Box, labels: np.ndarray) -> np.ndarray:
        """The photo's components under the box's ink (`ink_under`), each once."""
        ink = self.ink_under(box, labels)
        return np.unique(ink[ink > 0])

    def piece(self, x: int, y: int, half: np.ndarray) -> tuple[int, int, np.ndarray]:
        """A (x, y, pixels) piece for `change_mask`: the half-resolution mask `half` (boolean or uint8 0/255) whose
        top left is at (x, y) in full-resolution pixels, doubled, clipped to the photo and kept to its own ink."""
        piece = doubled(half)[: self.sharp.shape[0] - y, : self.sharp.shape[1] - x]
        return x, y, cv2.min(piece, self.sharp[y : y + piece.shape[0], x : x + piece.shape[1]])

    def components_beside(self, labels: np.ndarray) -> tuple[int, np.ndarray, np.ndarray] | None:
        """`components`, or None where there is no ink, too many pieces (texture), or they are not at the
        resolution of the mask's own half-resolution `labels`."""
        if not self.sharp.any():
            return None
        found = self.components()
        return found if found[0] <= MAX_COMPONENTS and found[1].shape == labels.shape else None


def in_half(box: Box) -> tuple[slice, slice]:
    """The box in a half-resolution label image (`find_components`, `PhotoInk`)."""
    return slice(box.y // 2, box.bottom // 2 + 1), slice(box.x // 2, box.right // 2 + 1)


def lone_strokes(boxes: list[Box], photo: PhotoInk) -> list[tuple[int, int, np.ndarray]]:
    """Upright strokes the ink map left out beside digits it kept: a 1 (the map takes a short straight stroke next
    to a number for the side of a box drawn around it, or a margin). From the photo's own ink (`photo`): components
    thin (width at most LONE_STROKE_WIDTH of their height), about as tall as a digit beside them (0.7 to 1.3 times),
    centred on its line (within a third of its height), at most LONE_STROKE_GAP digit heights from it sideways,
    overlapping no digit. A box's side is part of the whole box in the photo's ink, and grid and margin lines are far
    longer than a digit: neither is thin and digit-tall. Returns (x, y, pixels) pieces to add to the mask."""
    sharp = photo.sharp
    if not boxes or not sharp.any():
        return []
    count, labels, stats = photo.components()
    if count > MAX_COMPONENTS:
        return []
    found = []
    sizes = stats[1:count].astype(np.int64) * np.array([2, 2, 2, 2, 4])  # in full-resolution pixels
    thin = (sizes[:, 2] <= LONE_STROKE_WIDTH * sizes[:, 3]) & (sizes[:, 4] >= 0.04 * sizes[:, 3] ** 2)
    for i in np.flatnonzero(thin) + 1:
        x, y, w, h = (int(v) for v in sizes[i - 1, :4])
        candidate = Box(x, y, w, h)
        def beside(box: Box) -> bool:
            gap = max(box.x - candidate.right, candidate.x - box.right)
            return (0 < gap <= LONE_STROKE_GAP * box.h and 0.7 * box.h <= h <= 1.3 * box.h
                    and abs(box.centre_y - candidate.centre_y) <= box.h / 3)
        def overlaps(box: Box) -> bool:
            return box.x < candidate.right and candidate.x < box.right and box.y < candidate.bottom and candidate.y < box.bottom
        if any(beside(box) for box in boxes) and not any(overlaps(box) for box in boxes):
            found.append(photo.piece(x, y, labels[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] == i))
    return found


SHORT_BOX = 0.8  # a box shorter than this share of its neighbours' height is a digit the map marked in part


def change_mask(mask: np.ndarray, pieces: list[tuple[int, int, np.ndarray]], combine=cv2.max) -> None:
    """Put (x, y, pixels) pieces into `mask` (in place, clipped to it; `combine` cv2.subtract takes them out)."""
    for x, y, piece in pieces:
        region = mask[y : y + piece.shape[0], x : x + piece.shape[1]]
        combine(region, piece[: region.shape[0], : region.shape[1]], dst=region)


def completed_strokes(boxes: list[Box], labels: np.ndarray, photo: PhotoInk) -> list[tuple[int, int, np.ndarray]]:
    """The rest of the digits the map marked only in part (a 1 beside a circle or a margin kept for its middle
    third): for a box shorter than SHORT_BOX of its two nearest neighbours (in its line, or sharing half its height
    whatever their line: a 1 whose lower half the map lost sits above the line, and `group_lines` may give it one of
    its own; tuning pages 1,201 -> 1,202, none broken), the photo's own ink
    (`photo`) of the components under the box's ink, within the box's columns and the neighbours' rows.
    Returns (x, y, pixels) pieces to add to the mask (`labels`: the mask's half-resolution label image)."""
    short = []
    for box in boxes:
        beside = (b for b in boxes if b is not box and (b.line == box.line or min(b.bottom, box.bottom) - max(b.y, box.y) >= 0.5 * box.h))
        line = sorted(beside, key=lambda b: abs(b.x - box.x))[:2]
        if len(line) == 2 and box.h < SHORT_BOX * median([b.h for b in line]):
            short.append((box, line))
    components = photo.components_beside(labels) if short else None
    if components is None:
        return []
    photo_labels = components[1]
    found = []
    for box, line in short:
        top, bottom = min(b.y for b in line + [box]), max(b.bottom for b in line + [box])
        rows, columns = slice(top // 2, -(-bottom // 2)), slice(box.x // 2, -(-box.right // 2))
        ids = photo.under(box, labels)
        if not ids.size:
            continue
        found.append(photo.piece(columns.start * 2, rows.start * 2, np.isin(photo_labels[rows, columns], ids)))
    return found


# Digits written across or beside a paper's margin (`mend_margins`): the map leaves out the ink near a margin with
# the margin, so a 0 crossing it was read as 7 and a 1 beside it was lost. Where a red upright line runs from a digit
# height above a text line to one below it, the photo's own ink near it comes back, and the line's own pixels leave
# the mask. Tuning pages 1,211 -> 1,213 -> 1,214 of 1,350 (3 fixed, none broken), turned pages 105 -> 106 of 150,
# close-ups 111 either way; without the colour test grid lines, sheet edges and boxes' sides were taken for margins
# (1,199); MARGIN_LINE 0.5 or 1.3: 1,210; MARGIN_FAR 0.8: a close-up broken by a box's side; MARGIN_REACH 0.5: 1,208
# (circles' arcs beside a margin come back).
MARGINS = True
MARGIN_LINE = 1.0  # a line reaching this many digit heights above and below a text line ...
MARGIN_SLANT = 0.27  # ... upright (at most this much sideways per row: 15 degrees), ...
MARGIN_RED = 20.0  # ... and this much redder than the paper beside it (red minus the mean of green and blue) ...
MARGIN_START = 4.0  # ... within this many digit heights of where the line's writing starts (a margin is on the left)
MARGIN_REACH = 0.3  # gives back the photo's ink within this many digit heights of it that holds a kept digit's ink,
MARGIN_FAR = 0.6  # ... and digits lost whole within this many: pieces inside the text line's rows and this reach ...
MARGIN_PIECE = 0.6  # ... at least this share of a digit's height tall


def level_lines(window: np.ndarray, length: float) -> list[tuple[int, int, int, int]]:
    """Straight lines of `window` (binary) at least `length` pixels long (`cv2.HoughLinesP`) within MARGIN_SLANT of
    level (ruled lines, underlines): (xa, ya, xb, yb)."""
    found = cv2.HoughLinesP(window, 1, np.pi / 180, threshold=max(8, round(0.8 * length)), minLineLength=length,
                            maxLineGap=max(2, round(0.1 * length)))
    return [(xa, ya, xb, yb) for xa, ya, xb, yb in (found.reshape(-1, 4).tolist() if found is not None else [])
            if xb != xa and abs(yb - ya) <= MARGIN_SLANT * abs(xb - xa)]


def column_peaks(part: np.ndarray, spread: int, least: float) -> list[int]:
    """Columns of `part` (binary rows) around which, give or take `spread` columns, at least `least` rows hold ink,
    and the most within `spread` columns either side."""
    counts = np.count_nonzero(part, axis=0).astype(np.float32)
    summed = cv2.blur(counts[None, :], (spread, 1))[0] * spread
    peak = cv2.dilate(summed[None, :], np.ones((1, 2 * spread + 1), np.uint8))[0]
    edges = np.flatnonzero(np.diff(np.r_[0, ((summed >= least) & (summed >= peak)).astype(np.int8), 0]))
    return [int((start + stop - 1) // 2) for start, stop in zip(edges[::2], edges[1::2])]  # a plateau's middle


def followed(window: np.ndarray, rows: np.ndarray, a: float, b: float, tolerance: int, widest: float) -> list[tuple[int, float, int]]:
    """The ink of `window` (binary) along x = a + b * row in `rows`: for each row with ink within `tolerance` columns
    of it, the run there followed out both ways, when no wider than `widest`: (row, the run's middle, its width)."""
    found = []
    for row in rows:
        column = round(a + b * row)
        start = max(0, column - tolerance)
        ink = np.flatnonzero(window[row, start : column + tolerance + 1])
        if not ink.size:
            continue
        nearest = start + int(ink[np.argmin(np.abs(ink + start - column))])
        left = right = nearest  # the run through the line, followed out both ways
        while left > 0 and window[row, left - 1]:
            left -= 1
        while right + 1 < window.shape[1] and window[row, right + 1]:
            right += 1
        if right - left + 1 <= widest:
            found.append((int(row), (left + right) / 2, right - left + 1))
    return found


def margin_lines(window: np.ndarray, h: float, top: int, bottom: int, wanted=None) -> list[tuple[float, float, float]]:
    """Upright straight lines of `window` (binary) that run from MARGIN_LINE digit heights (`h`) above the rows
    `top`..`bottom` to as far below, followed row by row there: (a, b, width) with x = a + b * row. `wanted(a, b,
    rows)` (arrays of candidates' a and b; window rows, or None for the line's own) tells which candidates are worth
    following: the margin's colour, tested where it is cheap first."""
    reach = round(MARGIN_LINE * h)
    rows = np.r_[top - reach : top, bottom : bottom + reach][:: max(1, round(h / 24))]  # some 48 rows are enough
    # Candidates: columns (give or take the slant) that hold ink in most rows above, and below, the writing.
    spread = max(1, round(MARGIN_SLANT * reach))
    above = column_peaks(window[top - reach : top], spread, 0.6 * reach)
    if wanted is not None:  # the colour first where it is cheap: upright, in the middle rows above the writing
        middle = slice(top - reach * 3 // 4, top - reach // 4, max(1, reach // 16))  # 8 rows tell a colour
        if above:
            above = [x for x, keep in zip(above, wanted(np.array(above, np.float64), np.zeros(len(above)), middle)) if keep]
    below = column_peaks(window[bottom : bottom + reach], spread, 0.6 * reach) if above else []
    lines: list[tuple[float, float, float]] = []
    span = bottom - top + reach
    for upper in above:
        for lower in below:
            slope = (lower - upper) / span
            a, b = upper - (top - reach / 2) * slope, slope
            if abs(slope) > MARGIN_SLANT or (wanted is not None and not wanted(np.array([a]), np.array([b]))[0]):
                continue
            for tolerance in (max(3, round(0.1 * h)), 3):  # near the candidate, then on the line fitted to it
                found = followed(window, rows, a, b, tolerance, 0.3 * h)
                if len(found) < 0.6 * len(rows):
                    break
                found_rows, centres, widths = (np.array(v, np.float64) for v in zip(*found))
                b, a = np.polyfit(found_rows, centres, 1)
            if (len(found) < 0.6 * len(rows) or abs(b) > MARGIN_SLANT
                    or any(abs(a + b * top - other[0] - other[1] * top) < 0.3 * h for other in lines)
                    or (wanted is not None and not wanted(np.array([a]), np.array([b]))[0])):
                continue
            lines.append((float(a), float(b), float(np.percentile(widths, 75))))
    return lines


def reddish(image: np.ndarray | None, scale: float, xs: np.ndarray, ys: np.ndarray, aside: float) -> np.ndarray:
    """How much redder the photo (`image`, BGR at its own size; `scale`: working pixels per photo pixel) is along
    each row of working-resolution points (`xs`, `ys`: [lines, points]) than `aside` pixels either side of them:
    red minus the mean of green and blue, medians along each line (0 for a grey photo)."""
    if image is None or image.ndim != 3 or image.shape[2] < 3 or not np.size(xs):
        return np.zeros(len(xs))
    at = np.stack([xs, xs - aside, xs + aside])  # on the line, and either side of it
    columns = np.clip((at * (1 / scale) + 0.5).astype(np.intp), 0, image.shape[1] - 1)
    rows = np.clip((np.asarray(ys) * (1 / scale) + 0.5).astype(np.intp), 0, image.shape[0] - 1)
    bgr = to_uint8(image[np.broadcast_to(rows, columns.shape), columns]).astype(np.int16)  # 16-bit and float photos too
    redness = np.median(2 * bgr[..., 2] - bgr[..., 0] - bgr[..., 1], axis=-1) / 2
    return redness[0] - (redness[1] + redness[2]) / 2


def mend_margins(boxes: list[Box], photo: PhotoInk, mask: np.ndarray, image: np.ndarray | None = None,
                 scale: float = 1.0) -> bool:
    """Digits written across or beside a paper's margin, mended in `mask` (in place; True where it changed): the
    map leaves out the ink near a margin with the margin, and glues what it keeps of the margin to them. Where a
    red upright straight line of the photo's own ink (`photo`; `image` the photo, `scale` working pixels per photo
    pixel) runs from above a text line to below it (`margin_lines`), the photo's ink near it in the text line's
    rows, less the line itself (but where a stroke crosses it) and long level lines (ruled lines, underlines),
    comes back: pieces within MARGIN_REACH digit heights of it that hold a kept digit's ink, and pieces within
    MARGIN_FAR that hold none, lie inside those rows and are MARGIN_PIECE of a digit tall; and the line's own
    pixels there leave the mask (a margin through "32" read as "312")."""
    sharp = photo.sharp
    if not boxes or not sharp.any():
        return False
    height, width = sharp.shape
    changed = False
    for number in sorted({box.line for box in boxes}):
        line = [box for box in boxes if box.line == number]
        h = float(median([box.h for box in line]))
        top, bottom = min(box.y for box in line), max(box.bottom for box in line)
        y0, y1 = round(top - (MARGIN_LINE + 0.5) * h), round(bottom + (MARGIN_LINE + 0.5) * h)
        start = min(box.x for box in line)  # a margin runs down the page's left: near where its lines start
        x0, x1 = max(0, round(start - 2 * h)), min(width, round(max(box.right for box in line) + h), round(start + MARGIN_START * h))
        if y0 < 0 or y1 > height or x1 - x0 < 4:
            continue
        window = sharp[y0:y1, x0:x1]

        def red(a: np.ndarray, b: np.ndarray, rows: slice | None = None) -> np.ndarray:
            """Whether the photo is MARGIN_RED redder along each x = a + b * row (window rows: a digit height above
            and below the writing, or `rows`) than half a digit height either side: a paper's margin is printed red."""
            along = (np.r_[max(0, top - y0 - round(h)) : top - y0, bottom - y0 : min(window.shape[0], bottom - y0 + round(h))]
                     if rows is None else np.arange(rows.start, rows.stop, rows.step or 1))
            xs = np.asarray(a, np.float64)[:, None] + np.asarray(b, np.float64)[:, None] * along[None, :] + x0
            ys = np.broadcast_to(along[None, :] + y0, xs.shape)
            return reddish(image, scale, xs, ys, 0.5 * h) >= MARGIN_RED

        lines = margin_lines(window, h, top - y0, bottom - y0, red)
        if not lines:
            continue
        # The rows given back, less the level lines in them (ruled lines, underlines: long, and slanted as the page).
        rows = slice(max(0, round(top - 0.2 * h) - y0), min(window.shape[0], round(bottom + 0.2 * h) - y0))
        level = np.zeros_like(window)
        for xa, ya, xb, yb in level_lines(window, 1.5 * h):
            cv2.line(level, (xa, ya), (xb, yb), 255, 3)
        ink = (window[rows] > 0) & (level[rows] == 0)
        row_numbers = np.arange(rows.start, rows.stop)[:, None]
        columns = np.arange(window.shape[1])[None, :]
        digits = mask[y0:y1, x0:x1][rows] > 0
        for a, b, thickness in lines:
            offset = columns - (a + b * row_numbers)
            on_line = np.abs(offset) <= thickness / 2 + 1
            side = ~on_line & (np.abs(offset) <= thickness / 2 + 3)
            taken = np.zeros(ink.shape, bool)
            for reach, whole in ((MARGIN_REACH, False), (MARGIN_FAR, True)):
                kept = ink & (np.abs(offset) <= reach * h) & ~on_line
                # A stroke crossing the line: ink just left and just right of it in the same row fills the line there.
                crossing = (kept & side & (offset < 0)).any(axis=1) & (kept & side & (offset > 0)).any(axis=1)
                kept |= on_line & crossing[:, None] & (window[rows] > 0)
                if not kept.any():
                    continue
                count, pieces, stats, _ = cv2.connectedComponentsWithStats(kept.astype(np.uint8), connectivity=8)
                held = set(np.unique(pieces[digits & kept]).tolist())
                if not whole:
                    keep = [i for i in held if i]
                else:  # a digit the map lost whole: inside the rows and the reach, no kept digit's, digit-tall
                    edge = np.zeros(kept.shape, bool)
                    edge[[0, -1], :] = True
                    edge |= np.abs(np.abs(offset) - reach * h) < 1.5
                    touching = set(np.unique(pieces[edge]).tolist())
                    keep = [i for i in range(1, count) if i not in held and i not in touching
                            and stats[i, cv2.CC_STAT_HEIGHT] >= MARGIN_PIECE * h]
                if keep:
                    taken |= np.isin(pieces, keep)
            region = mask[y0 + rows.start : y0 + rows.stop, x0:x1]
            line_only = on_line & (region > 0) & ~taken
            if taken.any() or line_only.any():
                region[taken] = 255
                region[line_only] = 0
                changed = True
    return changed


# The flat foot of a 2 (`completed_bases`): on the tuning pages 1,159 -> 1,163 of 1,350 (5 pages fixed, all a 2
# read as 7; 1 broken, small digits on squared paper), digits wrong 236 -> 226; BASE_REACH 0.1 1,163, 0.25 1,161;
# BASE_WIDTH 1.15 1,160, 1.5 1,162. The old 300-page set reads the same.
BASE_REACH = 0.15  # a digit's photo ink reaching this share of its height past its box ...
BASE_WIDTH = 1.3  # ... in a photo component no wider or taller than this share of the box's height ...
# ... or holding this many times the box's own ink: the map left out a fifth of the digit or more (a 2's foot under
# its curve, read as 7; a bold digit the map marked in patches). Tuning pages 1,184 -> 1,187 of 1,350 (4 fixed, 1
# broken; 1.1: 1,189, 7 and 2; 1.4: 1,186, 3 and 1; 1.0: 1,187, 12 fixed and 9 broken).
BASE_MORE = 1.2


def completed_bases(boxes: list[Box], labels: np.ndarray, photo: PhotoInk) -> list[tuple[int, int, np.ndarray]]:
    """The flat foot of a 2 the map took for an underline (read as 7): where the photo's own component (`photo`)
    under a box's ink reaches BASE_REACH of the box's height past it, or holds BASE_MORE times the box's own ink,
    but is no wider or taller than BASE_WIDTH of it (an underline or a grid line touching the digit makes it far
    wider) and overlaps no other box, the whole component. Returns (x, y, pixels) pieces to add to the mask
    (`labels`: its half-resolution labels)."""
    components = photo.components_beside(labels) if boxes else None
    if components is None:
        return []
    _, photo_labels, stats = components
    found = []
    for box in boxes:
        ink = photo.ink_under(box, labels)  # one photo label per pixel of the box's own ink (half resolution)
        for i in np.unique(ink[ink > 0]):
            x, y, w, h = (int(v) * 2 for v in stats[i, :4])
            reach = max(box.x - x, x + w - box.right, box.y - y, y + h - box.bottom)
            if w > BASE_WIDTH * box.h or h > BASE_WIDTH * box.h:
                continue
            # A foot that ends inside the box's width (the 2's, under its curve) reaches nowhere past it: then the
            # photo's component must hold BASE_MORE times the box's own ink (both at half resolution).
            if reach < BASE_REACH * box.h and int(stats[i, cv2.CC_STAT_AREA]) < BASE_MORE * max(1, ink.size):
                continue
            if any(b is not box and b.x < x + w and x < b.right and b.y < y + h and y < b.bottom for b in boxes):
                continue
            found.append(photo.piece(x, y, photo_labels[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] == i))
    return found


# Circles drawn around numbers (`loop_arcs`): tuning pages 1,120 -> 1,130 of 1,350 (seed 13 742 -> 752, seed 11 378
# either way), digits invented 119 -> 99; and with such circles left alone by `drop_loop_sides` (a 1 beside its side
# was dropped as the side) 1,134, invented 99. On seed 13: ARC_BAND 0.75 749, 1.25 751, 1.5 751, 2.0 743, 3.0 737;
# ARC_SHARE 0.6 749 (1.0 takes every digit for a loop round itself); ARC_FIT 0.05 751, 0.12 752. The old 300-page
# set reads the same.
ARC_SHARE = 0.8  # a loop's extent holds boxes of which at most this share of the ink is the loop's own ...
ARC_FIT = 0.08  # ... and its outline follows an ellipse within this share of its radius on average; ...
BOX_FIT = 0.03  # ... or a convex polygon of 4 to 6 corners within this share of its length (a box; 0.02 the same,
# 0.05 one page less: tuning 1,134 -> 1,135, invented 99 -> 96); ...
ARC_BAND = 1.0  # ... its ink within this many pen widths inside the ellipse's outline (or outside it) is the loop's
# Two circles drawn touching (one around each line of a form) make one component shaped like an 8, which no one
# ellipse follows: where its outline is pinched at two points deeper than LOOP_PINCH pen widths, an ellipse is
# fitted to each side (`fitted_ellipses`). Tuning pages 1,202 -> 1,205 of 1,350 (3 fixed, none broken; 1.0 and
# 2.0 pen widths: the same pages and 2 of them; fitting one ellipse to 85% of a loop's outline as well: no more).
LOOP_PINCH = 1.5


def ellipse_radius(ellipse, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Each point's distance from an OpenCV ellipse's centre, in the ellipse's radii (1 on the ellipse)."""
    (cx, cy), (width, height), degrees = ellipse
    turn = np.radians(degrees)
    dx, dy = xs - cx, ys - cy
    u, v = dx * np.cos(turn) + dy * np.sin(turn), dy * np.cos(turn) - dx * np.sin(turn)
    return np.sqrt((u / max(width / 2, 1e-6)) ** 2 + (v / max(height / 2, 1e-6)) ** 2)


def followed_ellipse(points: np.ndarray):
    """The ellipse fitted to outline points [N, 2] (float32) where it follows them within ARC_FIT of its radius on
    average; else None."""
    if len(points) < 5:
        return None
    ellipse = cv2.fitEllipse(points)
    return ellipse if (np.abs(ellipse_radius(ellipse, points[:, 0], points[:, 1]) - 1)).mean() <= ARC_FIT else None


def fitted_ellipses(outline: np.ndarray, pen: float) -> list:
    """The ellipses a loop's outline follows (`followed_ellipse`): one over the whole outline; else, for two loops
    drawn touching (a figure of eight: the outline pinched at two points more than LOOP_PINCH pen widths deep),
    one over each side of the pinch. [] where none does."""
    points = outline[:, 0, :].astype(np.float32)
    whole = followed_ellipse(points)
    if whole is not None:
        return [whole]
    if LOOP_PINCH <= 0 or len(points) < 10:
        return []
    try:
        defects = cv2.convexityDefects(outline, cv2.convexHull(outline, returnPoints=False))
    except cv2.error:  # an outline that crosses itself, whose hull OpenCV refuses: no pinch to split at
        return []
    if defects is None or len(defects) < 2:
        return []
    defects = defects.reshape(-1, 4)
    deepest = defects[np.argsort(defects[:, 3])[-2:]]  # (start, end, farthest point, depth x 256)
    if (deepest[:, 3] / 256 <= LOOP_PINCH * pen).any():
        return []
    a, b = sorted(int(i) for i in deepest[:, 2])
    sides = [followed_ellipse(points[a : b + 1]), followed_ellipse(np.concatenate([points[b:], points[: a + 1]]))]
    return sides if all(side is not None for side in sides) else []


def ellipse_band(own: np.ndarray, outline: np.ndarray, centres: np.ndarray, band: float, pen: float) -> np.ndarray | None:
    """The pixels of `own` within `band` of its outline (or outside it), where ellipses follow the outline
    (`fitted_ellipses`) with each of the `centres` inside one of them; else None. With two ellipses, a pixel deeper
    than `band` inside either is not the loop's."""
    ellipses = fitted_ellipses(outline, pen)
    if not ellipses:
        return None
    inside = np.zeros(len(centres), bool)
    for ellipse in ellipses:
        inside |= ellipse_radius(ellipse, centres[:, 0], centres[:, 1]) < 1
    if not inside.all():
        return None
    rows, columns = np.nonzero(own)
    rows, columns = rows + 0.25, columns + 0.25  # the pixels' centres (at half resolution, of 2x2 blocks)
    on_arc = np.ones(len(rows), bool)
    for ellipse in ellipses:
        radius = ellipse_radius(ellipse, columns, rows)
        (ex, ey), _, _ = ellipse
        inward = np.hypot(columns - ex, rows - ey) * (1 - 1 / np.maximum(radius, 1e-6))  # to the outline, along the ray
        on_arc &= inward > -band
    arc = np.zeros(own.shape, bool)
    arc[rows[on_arc].astype(int), columns[on_arc].astype(int)] = True
    return arc


def polygon_band(own: np.ndarray, outline: np.ndarray, centres: np.ndarray, band: float) -> np.ndarray | None:
    """The pixels of `own` within `band` of its outline, where a convex polygon of 4 to 6 corners follows it
    (within BOX_FIT of its length) with the `centres` inside it: a box drawn around a number; else None."""
    polygon = cv2.approxPolyDP(outline, BOX_FIT * cv2.arcLength(outline, True), True)
    if not (4 <= len(polygon) <= 6 and cv2.isContourConvex(polygon)):
        return None
    if any(cv2.pointPolygonTest(polygon, (float(x), float(y)), False) <= 0 for x, y in centres):
        return None
    drawn = np.zeros(own.shape, np.uint8)
    cv2.polylines(drawn, [polygon], True, 1, max(1, round(2 * band)))
    return own & (drawn > 0)


def loop_arcs(boxes: list[Box], labels: np.ndarray, photo: PhotoInk) -> list[tuple[int, int, np.ndarray]]:
    """The arcs of circles (and the sides of boxes) drawn around numbers that the ink map marked as digit ink (the
    circle's end beside the last digit, read as a 7 or a 0, or glued to it). A loop is a component of the photo's
    own ink (`photo`) whose extent holds at least LOOP_HOLDS boxes, passing above and below them, while their ink
    is mostly not part of it (at most ARC_SHARE; a digit that touches the circle is part of it), and whose outline
    an ellipse follows (within ARC_FIT of its radius on average; two circles drawn touching, one on each side of the
    outline's pinch: `fitted_ellipses`, `ellipse_band`) or a convex polygon of 4 to 6 corners (BOX_FIT,
    `polygon_band`), the boxes' centres inside it. Of the loop's ink, what lies within ARC_BAND
    pen widths (the loop's area over its outline's length) of its outline is the loop's: a digit the circle touches
    loses only where it meets it. Returns (x, y, pixels) pieces to take out of the mask (`labels`: the mask's
    half-resolution label image); the loops found are added to `photo.loops`."""
    found = photo.components_beside(labels) if len(boxes) >= LOOP_HOLDS else None
    if found is None:
        return []
    count, photo_labels, stats = found
    left, top, right, bottom = (np.array([getattr(b, k) for b in boxes]) for k in ("x", "y", "right", "bottom"))
    x0, y0 = stats[1:count, 0] * 2, stats[1:count, 1] * 2
    x1, y1 = x0 + stats[1:count, 2] * 2, y0 + stats[1:count, 3] * 2
    reach = (bottom - top) * 0.1  # a loop passes above and below the digits it holds (a digit's own ink is not a loop)
    holds = (x0[:, None] <= left) & (right <= x1[:, None]) & (y0[:, None] < top - reach) & (bottom + reach < y1[:, None])

    pieces = []
    for index in np.flatnonzero(holds.sum(axis=1) >= LOOP_HOLDS):
        component = int(index) + 1
        inside = [boxes[k] for k in np.flatnonzero(holds[index])]
        ink = np.concatenate([photo.ink_under(b, labels) for b in inside])
        if not ink.size or (ink == component).mean() > ARC_SHARE:
            continue
        cx, cy, cw, ch, area = (int(v) for v in stats[component])
        own = photo_labels[cy : cy + ch, cx : cx + cw] == component
        outline = max(cv2.findContours(own.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0], key=len)
        if len(outline) < 5:
            continue
        centres = np.array([[(b.x + b.w / 2) / 2 - cx, (b.y + b.h / 2) / 2 - cy] for b in inside])
        pen = area / max(1.0, cv2.arcLength(outline, True))
        arc = ellipse_band(own, outline, centres, ARC_BAND * pen, pen)
        if arc is None:
            arc = polygon_band(own, outline, centres, ARC_BAND * pen)
        if arc is not None and arc.any():
            pieces.append((cx * 2, cy * 2, doubled(arc)))
            photo.loops.add(component)
    return pieces


def drop_loop_sides(boxes: list[Box], labels: np.ndarray, photo: PhotoInk) -> list[Box]:
    """Drop the thin boxes (a 1's shape: width at most LOOP_SIDE_WIDTH of the height), and the short ones (under
    LOOP_SHORT of their line's median height: the tail where a circle's stroke ends, read as a 7; tuning 1,096 ->
    1,098, invented 149 -> 144, the same with the models of the clone before), that are the side of a box
    or the arc of a circle drawn around a number: in the photo's own ink (`photo`; `labels` is the mask's
    half-resolution label image, `boxes` are in lines) the thin box's stroke belongs to a component whose extent
    holds at least LOOP_HOLDS other boxes of its line (one: a single 0 in a box read "10"; tuning 1,095 -> 1,097),
    while their own ink is mostly not part of it (at most LOOP_SHARE), and the thin box is the first or the last
    of them. A ruled or grid line that touches a real 1 runs through its neighbours too: their ink is on it; a
    stretch of grid line that joins a 1 inside the loop to the loop leaves it between digits.
    (Tuning pages 1,070 -> 1,073 of 1,350, digits invented 142 -> 130, 4 real 1s lost.) A circle that `loop_arcs`
    found and cleaned (`photo.loops`) has no side left here: a thin box beside it is a 1."""
    line_height = {line: median([b.h for b in boxes if b.line == line]) for line in {b.line for b in boxes}}
    thin = [b for b in boxes if b.w <= LOOP_SIDE_WIDTH * b.h or b.h < LOOP_SHORT * line_height[b.line]]
    found = photo.components_beside(labels) if LOOP_SHARE > 0 and thin and len(boxes) >= LOOP_HOLDS + 1 else None
    if found is None:
        return boxes
    stats = found[2]
    dropped = set()
    for box in thin:
        mine = photo.ink_under(box, labels)
        mine = mine[mine > 0]
        if mine.size == 0:
            continue
        component = int(np.bincount(mine).argmax())
        if component in photo.loops:
            continue  # a circle `loop_arcs` has cleaned: beside it, an upright stroke is a 1
        x, y, w, h = (int(v) * 2 for v in stats[component][:4])
        inside = [other for other in boxes if other is not box and other.line == box.line
                  and x <= other.x and other.right <= x + w and y <= other.y and other.bottom <= y + h]
        if len(inside) < LOOP_HOLDS:
            continue
        if not (all(other.x > box.x for other in inside) or all(other.right < box.right for other in inside)):
            continue  # digits on both sides: a 1 that a stretch of grid line joins to the loop (a loop's side is outside)
        ink = np.concatenate([photo.ink_under(other, labels) for other in inside])
        if ink.size and (ink == component).mean() <= LOOP_SHARE:
            dropped.add(id(box))
    return [b for b in boxes if id(b) not in dropped]


def ink_is_dark(gray: np.ndarray, mask: np.ndarray) -> bool | None:
    """Whether the writing the mask marks is darker than the paper right around it (a band POLARITY_RING pixels
    wide outside the mask), on average; None where the mask is empty or has nothing around it. The learned mask
    knows where the writing is, so the ink's side need not be guessed from the whole frame (`dark_ink`): a bright
    sticky note on a dark desk, or a whiteboard's glare, made the frame's lighter tail the longer one, and the
    writing was taken for chalk (its strength inverted, the mask's sharpening and the photo's ink lost with it)."""
    window = ink_window(mask, margin=POLARITY_RING + 1)
    if window is None:
        return None
    inside = mask[window]
    band = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * POLARITY_RING + 1, 2 * POLARITY_RING + 1))
    ring = cv2.subtract(cv2.dilate(inside, band), inside)
    if not ring.any():
        return None
    return cv2.mean(gray[window], inside)[0] <= cv2.mean(gray[window], ring)[0]


def map_ink(ink: np.ndarray) -> np.ndarray:
    """A learned ink map (uint8 0-255) cut at INK_THRESHOLD: 255 where it says digit ink, else 0."""
    return cv2.threshold(ink, round(INK_THRESHOLD * 255) - 1, 255, cv2.THRESH_BINARY)[1]


def learned_mask(ink: np.ndarray, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ink mask at working resolution from the learned segmenter's digit-ink map (uint8 0-255, any size),
    the photo's ink strength (`ink_strength`, the ink's side told by the map: `ink_is_dark`), and the photo's own
    ink mask at the writing's level (`sharp`): the map enlarged smoothly (bilinear), cut at probability
    INK_THRESHOLD, and sharpened where the photo has the detail: inside it, only pixels whose ink strength
    reaches REFINE_FRACTION of the writing's stay, except in the map's core (a map pixel in from its edge),
    which stays whatever the strength says (the middle of a stroke wider than the light's estimate window,
    grainy pencil, chalk)."""
    enlarge = gray.shape[0] / ink.shape[0]
    ink = cv2.resize(ink, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
    mask = map_ink(ink)
    small = shrink(gray)
    dark = ink_is_dark(gray, mask)
    strength = ink_strength(gray, small, dark_ink(small) if dark is None else dark)
    level = masked_percentile(strength, mask, 90) if REFINE_FRACTION > 0 else None
    if level is None:
        return mask, strength, np.zeros_like(mask)
    sharp = cv2.threshold(strength, REFINE_FRACTION * level, 255, cv2.THRESH_BINARY)[1]
    reach = 2 * max(1, round(CORE_DEPTH * enlarge)) + 1
    # Only the rectangle around the map's ink can keep any, and its core needs the map no further than the reach.
    window = ink_window(mask, margin=reach // 2 + 1)
    core = cv2.erode(mask[window], cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
    refined = np.zeros_like(mask)
    refined[window] = cv2.min(mask[window], cv2.max(sharp[window], core))
    return refined, strength, sharp


def segment(image: np.ndarray, ink: np.ndarray | None = None) -> Segments:
    """Every step above, in order: a photo in, digit boxes in reading order out.

    `ink`: the learned ink segmenter's digit-ink map for this image (`edgedigits.runtime.inkmask`); when
    given, it is the mask (`learned_mask`): lines, desks, clutter and faint texture are already gone, so
    only the steps on components (joining pieces, dropping what is not digit-shaped, lines) remain."""
    gray, scale = to_work_size(to_gray(image))
    if ink is not None:
        mask, strength, sharp = learned_mask(ink, gray)

        def digit_boxes() -> tuple[np.ndarray, list[Box]]:
            labels, boxes = find_components(mask, blots=False)
            return labels, drop_non_digits(join_pieces(boxes), gray.shape[0])

        labels, boxes = digit_boxes()
        photo = PhotoInk(sharp)
        strokes = lone_strokes(boxes, photo)
        if strokes:  # the 1s the map left out go back into the mask, and the components are found again
            change_mask(mask, strokes)
            labels, boxes = digit_boxes()
        ordered, spaces = group_lines(boxes)
        # So do the digits written across a margin and the rest of those it marked in part; the circles and boxes
        # drawn around numbers leave it.
        if MARGINS and mend_margins(ordered, photo, mask, image, scale):
            labels, boxes = digit_boxes()
            ordered, spaces = group_lines(boxes)
        for step, combine in ((completed_strokes, cv2.max), (completed_bases, cv2.max), (loop_arcs, cv2.subtract)):
            pieces = step(ordered, labels, photo)
            if pieces:
                change_mask(mask, pieces, combine)
                labels, boxes = digit_boxes()
                ordered, spaces = group_lines(boxes)
        kept = drop_loop_sides(ordered, labels, photo)
        if len(kept) < len(ordered):
            ordered, spaces = group_lines(kept)
        return Segments(mask=mask, labels=labels, boxes=ordered, scale=scale, gaps=spaces, shade=shade_of(strength, mask),
                        photo=photo)
    small = shrink(gray)
    dark = dark_ink(small)
    strength = remove_ruled_lines(ink_strength(gray, small, dark))
    mask = binarize(strength)
    labels, boxes = find_components(mask)
    boxes = drop_off_surface(boxes, writing_surface(strength))
    boxes = drop_faint(drop_crowded(drop_enclosures(boxes), labels), labels, strength)
    boxes = drop_non_digits(join_pieces(boxes), gray.shape[0])
    ordered, spaces = group_lines(boxes)
    return Segments(mask=mask, labels=labels, boxes=ordered, scale=scale, gaps=spaces, shade=shade_of(strength, mask))
