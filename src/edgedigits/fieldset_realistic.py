"""Realistic photographed pages: desks, sticky notes, grid and ruled paper, boards, inks, light and camera.

The older field set (`fieldset.py`) puts digits on plain paper filling a VGA
frame. This one photographs them the way people do: a sheet or a sticky note
lying on a desk (wood, fabric, laminate), partly in the frame and turned;
squared or ruled paper with a red margin; whiteboards with glare and
blackboards with chalk; black felt pen, blue ballpoint, red pen, pencil,
marker; uneven light, shadows and vignettes; perspective, defocus and motion
blur, sensor noise, JPEG 40-95; frames from 320x240 to 4032x3024; digits from
18 px tall (and at least 1/40 of the frame's height) to a quarter of the frame; one number, two lines, two numbers on
one line, or a form with numbers in separate places; underlines, boxes and
circles drawn around numbers; gaps inside a number from touching to 0.6 of a
digit's height, and runs of touching digits on a quarter of the pages.

Digit sources (never a handwriting font, never scikit-learn's optdigits:
those are kept for independent checks):

- `mnist`: MNIST *test* digits (never trained on);
- `hershey`: OpenCV's Hershey fonts, plain and script, with a random pen, slant and wobble;
- `strokes`: our own synthetic handwriting: each digit a few pen trajectories
  through jittered control points, drawn with a random pen width and slant.

Every page carries its ground truth and its tags (`truth.jsonl`), so results
can be reported per level and per tag. Deterministic by seed.

Usage:
    python scripts/make_pages.py --kind realistic --count 400 --seed 11 --out fieldset-real/
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from edgedigits.fieldset import crop_to_ink, mnist_digit, random_number

LEVELS = ("easy", "medium", "hard")
SOURCES = ("mnist", "hershey", "strokes")
# A close-up (`render_realistic(close_up=True)`, `make_pages.py --kind close-up`): one short number, its digits this
# share of the frame's height, log-uniform (the field set proper stops at a quarter).
CLOSE_UP_SHARE = (0.3, 0.65)
# Frame sizes (width, height) and how often each is drawn: webcams most often, phones sometimes.
FRAME_SIZES = ((320, 240), (640, 480), (1280, 720), (1280, 960), (1920, 1080), (4032, 3024))
FRAME_WEIGHTS = (0.15, 0.35, 0.15, 0.1, 0.1, 0.15)
RENDER_LONG_SIDE = 1600  # scenes are drawn at most this large, then scaled to the frame (a phone's optics blur anyway)
HERSHEY_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
                 cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX)

# Pen trajectories of each digit in a box 0.6 wide and 1 tall (y down), one list per stroke.
SKELETONS: dict[int, list[list[list[tuple[float, float]]]]] = {
    0: [[[(0.3, 0.0), (0.08, 0.15), (0.0, 0.5), (0.1, 0.88), (0.3, 1.0), (0.5, 0.88), (0.6, 0.5), (0.52, 0.15), (0.3, 0.0), (0.2, 0.06)]]],
    1: [[[(0.12, 0.22), (0.35, 0.0), (0.33, 1.0)]], [[(0.32, 0.0), (0.3, 1.0)]]],
    2: [[[(0.04, 0.25), (0.18, 0.03), (0.42, 0.02), (0.56, 0.22), (0.45, 0.5), (0.2, 0.75), (0.0, 1.0), (0.6, 0.98)]]],
    3: [[[(0.04, 0.12), (0.28, 0.0), (0.52, 0.12), (0.48, 0.35), (0.22, 0.47), (0.5, 0.58), (0.58, 0.8), (0.35, 1.0), (0.02, 0.9)]]],
    4: [[[(0.42, 0.0), (0.02, 0.66), (0.6, 0.66)], [(0.46, 0.3), (0.45, 1.0)]],
        [[(0.08, 0.0), (0.03, 0.55), (0.58, 0.55)], [(0.5, 0.0), (0.48, 1.0)]]],
    5: [[[(0.55, 0.0), (0.12, 0.01), (0.07, 0.45), (0.35, 0.38), (0.57, 0.6), (0.52, 0.88), (0.25, 1.0), (0.02, 0.9)]],
        [[(0.12, 0.01), (0.07, 0.45), (0.35, 0.38), (0.57, 0.6), (0.52, 0.88), (0.25, 1.0), (0.02, 0.9)], [(0.12, 0.02), (0.56, 0.0)]]],
    6: [[[(0.5, 0.03), (0.28, 0.05), (0.08, 0.35), (0.03, 0.72), (0.2, 1.0), (0.45, 0.95), (0.56, 0.72), (0.4, 0.52), (0.14, 0.56), (0.05, 0.72)]]],
    7: [[[(0.0, 0.02), (0.6, 0.0), (0.38, 0.45), (0.22, 1.0)]], [[(0.0, 0.02), (0.6, 0.0), (0.4, 0.45), (0.24, 1.0)], [(0.15, 0.5), (0.58, 0.48)]]],
    8: [[[(0.5, 0.12), (0.3, 0.0), (0.08, 0.12), (0.14, 0.35), (0.46, 0.6), (0.56, 0.83), (0.3, 1.0), (0.04, 0.83), (0.14, 0.6), (0.46, 0.35), (0.52, 0.12)]]],
    9: [[[(0.55, 0.22), (0.4, 0.02), (0.14, 0.05), (0.04, 0.26), (0.2, 0.46), (0.48, 0.4), (0.56, 0.2), (0.52, 0.6), (0.42, 1.0)]]],
}


@dataclass
class RealisticPage:
    image: np.ndarray  # BGR uint8, the frame as a camera would give it
    lines: list[str]  # ground truth, top to bottom (numbers on one line separated by one space)
    level: str
    source: str
    tags: list[str] = field(default_factory=list)
    jpeg: bytes = b""  # the file as the camera wrote it
    target: np.ndarray | None = None  # with_target: where the digits' ink lies, uint8 0-255 at the image's size
    centres: np.ndarray | None = None  # with_target: each digit's centre (x, y) in the image, in reading order (spaces skipped)


    @property
    def text(self) -> str:
        return "\n".join(self.lines)


# --- Glyphs: bright ink on black, cropped to the ink, `height` pixels tall ---------------------------


def catmull_rom(points: np.ndarray, per_segment: int = 8) -> np.ndarray:
    """A smooth curve through `points` ([N, 2]), as a pen would draw it."""
    padded = np.vstack([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    curve = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        curve.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    curve.append(points[-1:])
    return np.vstack(curve)


def stroke_digit(rng: np.random.Generator, digit: int, height: int, pen: float) -> np.ndarray:
    """Our own synthetic handwriting: the digit's pen trajectories, jittered, slanted, drawn with a round pen."""
    strokes = SKELETONS[digit][rng.integers(len(SKELETONS[digit]))]
    width_factor, slant = rng.uniform(0.75, 1.25), rng.uniform(-0.35, 0.15)
    margin = int(pen) + 4
    size = (int(height * (0.6 * width_factor + abs(slant)) + 2 * margin + 2), int(height + 2 * margin + 2))
    canvas = np.zeros((size[1], size[0]), np.uint8)
    for stroke in strokes:
        points = np.array(stroke, np.float64) + rng.normal(0, 0.035, (len(stroke), 2))
        points[:, 0] *= width_factor
        points[:, 0] -= slant * (points[:, 1] - 1.0) + (slant if slant < 0 else 0)
        curve = catmull_rom(points) * height + margin
        cv2.polylines(canvas, [np.round(curve * 16).astype(np.int32)], False, 255, max(1, round(pen)), cv2.LINE_AA, shift=4)
    return crop_to_ink(canvas)


def hershey_digit(rng: np.random.Generator, digit: int, height: int, pen: float) -> np.ndarray:
    """A Hershey font digit (plain or script) with a random pen, slant, rotation and wobble."""
    font = HERSHEY_FONTS[rng.integers(len(HERSHEY_FONTS))] | (cv2.FONT_ITALIC if rng.random() < 0.2 else 0)
    scale = height / 22.0  # Hershey digits are about 22 units tall at scale 1
    thickness = max(1, round(pen))
    (w, h), _ = cv2.getTextSize(str(digit), font, scale, thickness)
    side = int(max(w, h) * 1.8) + 2 * thickness + 8
    canvas = np.zeros((side, side), np.uint8)
    cv2.putText(canvas, str(digit), ((side - w) // 2, (side + h) // 2), font, scale, 255, thickness, cv2.LINE_AA)
    slant, angle = rng.uniform(-0.3, 0.25), rng.uniform(-8, 8)
    transform = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
    transform[0, 1] += slant
    transform[0, 2] -= slant * side / 2
    canvas = cv2.warpAffine(canvas, transform, (side, side), flags=cv2.INTER_LINEAR)
    glyph = crop_to_ink(canvas)
    return cv2.resize(glyph, (max(1, round(glyph.shape[1] * height / glyph.shape[0])), height), interpolation=cv2.INTER_AREA)


def mnist_glyph(rng: np.random.Generator, digit: int, height: int, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    glyph = mnist_digit(rng, digit, images, labels)
    width = max(1, round(glyph.shape[1] * height / glyph.shape[0]))
    return cv2.resize(glyph, (width, height), interpolation=cv2.INTER_CUBIC if height > 20 else cv2.INTER_AREA)


def mnist_pen_glyph(rng: np.random.Generator, digit: int, height: int, images: np.ndarray, labels: np.ndarray,
                    pen: float) -> np.ndarray:
    """An MNIST digit redrawn with the page's pen: thinned (eroded) or thickened (dilated) to about `pen` wide.

    The ink segmenter's training pages use it so that thin ballpoints and thick markers are not only ever
    seen in our own stroke handwriting (which it must not train on: its digits come from MNIST only)."""
    from edgedigits.runtime.normalize import stroke_width

    glyph = mnist_glyph(rng, digit, height, images, labels)
    glyph = cv2.copyMakeBorder(glyph, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=0)
    change = round((pen - stroke_width(glyph)) / 2)
    if change:
        size = 2 * abs(change) + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        thinner = cv2.erode(glyph, kernel) if change < 0 else cv2.dilate(glyph, kernel)
        if change > 0 or cv2.countNonZero(cv2.threshold(thinner, 127, 255, cv2.THRESH_BINARY)[1]) > 0.3 * cv2.countNonZero(
                cv2.threshold(glyph, 127, 255, cv2.THRESH_BINARY)[1]):  # an erosion that ate the digit is not kept
            glyph = thinner
    return crop_to_ink(glyph)


# --- Text layout on the writing surface -----------------------------------------------------------


def place_number(rng: np.random.Generator, ink: np.ndarray, text: str, x: float, baseline: float, height: float,
                 glyph, touching: bool, centres: list | None = None) -> tuple[float, float, float, float]:
    """Draw `text` into the float ink layer from (x, baseline); return its ink box (x0, y0, x1, y1). Each digit's
    centre (x, y) is appended to `centres` when given."""
    box = [np.inf, np.inf, -np.inf, -np.inf]
    touch_at = set(rng.choice(max(1, len(text) - 1), size=max(1, (len(text) - 1) // 2), replace=False)) if touching else set()
    for index, character in enumerate(text):
        h = max(8, round(height * rng.uniform(0.88, 1.08)))
        g = glyph(int(character), h).astype(np.float32) / 255
        y = round(baseline - h + rng.uniform(-0.05, 0.05) * height)
        x0, y0 = round(x), max(0, y)
        region = ink[y0 : y0 + g.shape[0], x0 : x0 + g.shape[1]]
        np.maximum(region, g[: region.shape[0], : region.shape[1]], out=region)
        box = [min(box[0], x0), min(box[1], y0), max(box[2], x0 + region.shape[1]), max(box[3], y0 + region.shape[0])]
        if centres is not None:
            centres.append((x0 + g.shape[1] / 2, y0 + g.shape[0] / 2))
        if index in touch_at:
            gap = -rng.uniform(0.04, 0.22) * height  # the next digit runs into this one
        else:
            gap = max(3.0, rng.uniform(0.12, 0.6) * height)
        x += g.shape[1] + gap
    return tuple(box)


def number_width(text: str, height: float) -> float:
    return len(text) * 1.6 * height  # a generous estimate (a wide digit plus the widest gap); the real box is measured


def draw_clutter(rng: np.random.Generator, ink: np.ndarray, box, height: float, pen: float, kind: str) -> None:
    """An underline, a box or a circle drawn with the same pen around a number's ink box."""
    x0, y0, x1, y1 = box
    margin = rng.uniform(0.2, 0.45) * height
    thickness = max(1, round(pen))
    layer = np.zeros(ink.shape, np.uint8)
    if kind == "underline":
        y = y1 + rng.uniform(0.15, 0.35) * height
        xs = np.linspace(x0 - margin, x1 + margin, 12)
        ys = y + rng.normal(0, 0.03 * height, 12).cumsum() * 0.3 + np.linspace(0, rng.uniform(-0.1, 0.1) * height, 12)
        cv2.polylines(layer, [np.round(np.stack([xs, ys], 1) * 16).astype(np.int32)], False, 255, thickness, cv2.LINE_AA, shift=4)
    elif kind == "box":
        corners = np.array([[x0 - margin, y0 - margin], [x1 + margin, y0 - margin], [x1 + margin, y1 + margin], [x0 - margin, y1 + margin]])
        corners += rng.normal(0, 0.05 * height, corners.shape)
        cv2.polylines(layer, [np.round(corners * 16).astype(np.int32)], True, 255, thickness, cv2.LINE_AA, shift=4)
    else:  # a hand-drawn circle (an ellipse that does not quite close, or overshoots)
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        axes = ((x1 - x0) / 2 + margin * 1.3, (y1 - y0) / 2 + margin * 1.3)
        start = rng.uniform(0, 360)
        sweep = rng.uniform(340, 390)
        angles = np.radians(np.linspace(start, start + sweep, 60))
        wobble = 1 + rng.normal(0, 0.02, 60).cumsum() * 0.3
        points = np.stack([centre[0] + axes[0] * wobble * np.cos(angles), centre[1] + axes[1] * wobble * np.sin(angles)], 1)
        cv2.polylines(layer, [np.round(points * 16).astype(np.int32)], False, 255, thickness, cv2.LINE_AA, shift=4)
    np.maximum(ink, layer.astype(np.float32) / 255, out=ink)


# --- Surfaces, inks, desks ---------------------------------------------------------------------


PAPERS = ("white", "offwhite", "grid", "ruled", "sticky", "whiteboard", "blackboard")
INKS = ("felt", "ballpoint", "red", "pencil", "marker", "chalk")
CLUTTER = ("underline", "box", "circle")  # drawn around numbers with the page's pen (`draw_clutter`)


def paper_colour(rng: np.random.Generator, paper: str) -> np.ndarray:
    """BGR float32."""
    if paper == "sticky":
        colours = ((90, 235, 250), (190, 170, 250), (160, 240, 190), (245, 215, 150), (120, 200, 255))  # yellow, pink, green, blue, orange
        base = np.array(colours[rng.integers(len(colours))], np.float32)
    elif paper == "offwhite":
        base = np.array([rng.uniform(190, 215), rng.uniform(215, 235), rng.uniform(225, 245)], np.float32)
    elif paper == "blackboard":
        base = np.array([rng.uniform(35, 70), rng.uniform(50, 85), rng.uniform(30, 60)], np.float32)
    else:
        base = np.full(3, rng.uniform(220, 252), np.float32) + rng.uniform(-6, 6, 3).astype(np.float32)
    return np.clip(base + rng.uniform(-8, 8, 3).astype(np.float32), 0, 255)


def draw_paper_pattern(rng: np.random.Generator, surface: np.ndarray, paper: str, height: float) -> None:
    """Grid squares or ruled lines with a red margin, printed faintly on the surface (in place)."""
    if paper not in ("grid", "ruled"):
        return
    h, w = surface.shape[:2]
    colour = (float(rng.uniform(170, 225)), float(rng.uniform(140, 200)), float(rng.uniform(90, 160)))  # light blue or grey, BGR
    if rng.random() < 0.3:
        grey = float(rng.uniform(150, 200))
        colour = (grey, grey, grey)
    thickness = max(1, round(height / rng.uniform(25, 50)))
    if paper == "grid":
        step = height * rng.uniform(0.55, 0.9)  # 5 mm squares, digits written over one or two of them
        offset = rng.uniform(0, step, 2)
        for x in np.arange(offset[0], w, step):
            cv2.line(surface, (round(x), 0), (round(x), h - 1), colour, thickness, cv2.LINE_AA)
        for y in np.arange(offset[1], h, step):
            cv2.line(surface, (0, round(y)), (w - 1, round(y)), colour, thickness, cv2.LINE_AA)
    else:
        step = height * rng.uniform(1.15, 1.6)
        for y in np.arange(rng.uniform(0, step), h, step):
            cv2.line(surface, (0, round(y)), (w - 1, round(y)), colour, thickness, cv2.LINE_AA)
        margin_x = round(w * rng.uniform(0.06, 0.14))
        cv2.line(surface, (margin_x, 0), (margin_x, h - 1), (70.0, 70.0, float(rng.uniform(200, 240))), thickness + 1, cv2.LINE_AA)


def ink_look(rng: np.random.Generator, ink: str, paper_bgr: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(pen colour BGR, opacity, grain) for an ink kind; grain is how patchy the stroke is (pencil, chalk)."""
    if ink == "felt":
        return np.array([rng.uniform(15, 50)] * 3, np.float32), rng.uniform(0.85, 1.0), 0.05
    if ink == "ballpoint":
        return np.array([rng.uniform(110, 170), rng.uniform(40, 80), rng.uniform(15, 50)], np.float32), rng.uniform(0.75, 0.95), 0.15
    if ink == "red":
        return np.array([rng.uniform(30, 70), rng.uniform(25, 60), rng.uniform(170, 220)], np.float32), rng.uniform(0.8, 0.95), 0.1
    if ink == "pencil":
        # 40-70 gray levels below the paper, with grain.
        darker = rng.uniform(40, 80)
        return np.clip(paper_bgr - darker / rng.uniform(0.55, 0.8), 0, 255), rng.uniform(0.55, 0.8), 0.35
    if ink == "marker":
        colours = ((30, 30, 30), (150, 60, 20), (40, 40, 190), (50, 130, 30))
        return np.array(colours[rng.integers(len(colours))], np.float32), rng.uniform(0.8, 0.95), 0.08
    return np.array([rng.uniform(200, 240)] * 3, np.float32), rng.uniform(0.75, 0.95), 0.3  # chalk


def desk_texture(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    """A desk under the sheet: wood grain, fabric weave or a speckled laminate (BGR float32)."""
    width, height = size
    kind = ("wood", "fabric", "laminate")[rng.integers(3)]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == "wood":
        base = np.array([rng.uniform(40, 90), rng.uniform(80, 130), rng.uniform(120, 190)], np.float32)
        angle = rng.uniform(0, np.pi)
        u = np.cos(angle) * xs + np.sin(angle) * ys
        v = -np.sin(angle) * xs + np.cos(angle) * ys
        warp = cv2.resize(rng.normal(0, 1, (8, 8)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
        period = rng.uniform(0.015, 0.04) * max(size)
        grain = np.sin((v + warp * period * 1.5 + 0.02 * u) / period * 2 * np.pi)
        fine = cv2.resize(rng.normal(0, 1, (height // 4 + 1, width // 40 + 1)).astype(np.float32), (width, height))
        shade = 1 + 0.12 * grain + 0.05 * fine
    elif kind == "fabric":
        base = np.array([rng.uniform(60, 200) for _ in range(3)], np.float32)
        period = rng.uniform(3, 7)
        shade = 1 + 0.08 * np.sin(xs / period * 2 * np.pi) * np.sin(ys / period * 2 * np.pi) + rng.normal(0, 0.04, (height, width)).astype(np.float32)
    else:
        base = np.full(3, rng.uniform(90, 230), np.float32) + rng.uniform(-15, 15, 3).astype(np.float32)
        speckle = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 1.5)
        shade = 1 + 0.06 * speckle
    return np.clip(shade[:, :, None] * base, 0, 255), kind


# --- Light and camera ------------------------------------------------------------------------------


def lighting(rng: np.random.Generator, size, strength: float, shadow: bool, glare: bool) -> tuple[np.ndarray, np.ndarray]:
    """(a multiplicative light field in (0, 1], an additive glare field) for a frame."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = np.cos(angle) * xs / width + np.sin(angle) * ys / height
    light = 1 - strength * 0.5 * (gradient - gradient.min()) / max(float(np.ptp(gradient)), 1e-6)
    radius = np.hypot(xs - width / 2, ys - height / 2) / np.hypot(width / 2, height / 2)
    light *= 1 - strength * 0.4 * radius**2
    if shadow:  # a hand's or a phone's shadow across part of the page, soft-edged
        offset, slope = rng.uniform(0.15, 0.85) * width, rng.uniform(-1.2, 1.2)
        distance = (xs - offset - slope * (ys - height / 2)) / (width * rng.uniform(0.01, 0.08))
        light *= 1 - rng.uniform(0.25, 0.5) / (1 + np.exp(np.clip(distance, -50, 50)))
    added = np.zeros((height, width), np.float32)
    if glare:
        cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
        sx, sy = rng.uniform(0.05, 0.2) * width, rng.uniform(0.05, 0.2) * height
        added = rng.uniform(60, 140) * np.exp(-(((xs - cx) / sx) ** 2 + ((ys - cy) / sy) ** 2))
    return np.clip(light, 0.08, 1.0), added


def motion_kernel(rng: np.random.Generator, length: int) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1
    rotation = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (length, length))
    return kernel / max(kernel.sum(), 1e-6)


# --- A page --------------------------------------------------------------------------------------


def choose_layout(rng: np.random.Generator, random_number=random_number) -> tuple[str, list[list[str]]]:
    """(layout name, numbers per line); `random_number(rng, shortest, longest)` writes each number."""
    draw = rng.random()
    if draw < 0.5:
        return "single", [[random_number(rng, 1, 7)]]
    if draw < 0.72:
        return "two-lines", [[random_number(rng, 1, 7)], [random_number(rng, 1, 7)]]
    if draw < 0.85:
        return "same-line", [[random_number(rng, 1, 7), random_number(rng, 1, 7)]]
    return "form", [[random_number(rng, 1, 7)] for _ in range(int(rng.integers(2, 4)))]


def render_realistic(rng: np.random.Generator, level: str, source: str, mnist_test, touching: bool | None = None,
                     frame: tuple[int, int] | None = None, with_target: bool = False,
                     random_number=random_number, paper: str | None = None, ink: str | None = None,
                     clutter: str | None = None, close_up: bool = False) -> RealisticPage:
    """One photographed page at `level` (easy, medium, hard) with digits from `source` (frame size drawn unless given).

    `mnist_test` is the (images, labels) pair MNIST glyphs are drawn from (the ink segmenter's training data
    passes MNIST's training set instead). With `with_target`, the page also carries the exact per-pixel
    target of the digits' ink (not the paper's lines, the clutter, the desk or the light), warped like the page.
    `random_number(rng, shortest, longest)` writes the numbers (the field sets keep `fieldset.random_number`).
    `paper`, `ink` and `clutter` (from PAPERS, INKS and CLUTTER) are drawn unless given; a blackboard always has
    chalk and a whiteboard a marker. `close_up`: a phone held close to one short number (1-2 digits, or a year),
    its digits CLOSE_UP_SHARE of the frame's height (as far as the number fits), tagged `close-up`.
    """
    grade = LEVELS.index(level)
    for name, value, known in (("paper", paper, PAPERS), ("ink", ink, INKS), ("clutter", clutter, CLUTTER)):
        if value is not None and value not in known:
            raise ValueError(f"{name} {value!r} is not one of {', '.join(known)}")
    tags = [f"source:{source}"]
    # Frame, and the scale at which the scene is drawn.
    if frame is None:
        frame = FRAME_SIZES[rng.choice(len(FRAME_SIZES), p=FRAME_WEIGHTS)]
    render_scale = min(1.0, RENDER_LONG_SIDE / max(frame))
    width, height = round(frame[0] * render_scale), round(frame[1] * render_scale)
    tags.append(f"size:{frame[0]}x{frame[1]}")

    # Surface, ink, background.
    paper_weights = ((0.4, 0.25, 0.1, 0.1, 0.15, 0.0, 0.0), (0.15, 0.15, 0.2, 0.2, 0.15, 0.08, 0.07), (0.1, 0.1, 0.2, 0.2, 0.2, 0.1, 0.1))[grade]
    if paper is None:
        paper = PAPERS[rng.choice(len(PAPERS), p=paper_weights)]
    if paper == "blackboard":
        ink = "chalk"
    elif paper == "whiteboard":
        ink = "marker"
    elif ink is None:
        ink_weights = ((0.45, 0.35, 0.1, 0.0, 0.1), (0.25, 0.25, 0.15, 0.2, 0.15), (0.2, 0.2, 0.2, 0.25, 0.15))[grade]
        ink = INKS[rng.choice(5, p=ink_weights)]
    on_desk = paper == "sticky" or (paper not in ("whiteboard", "blackboard") and rng.random() < (0.25, 0.55, 0.7)[grade])
    tags += [f"paper:{paper}", f"ink:{ink}", "desk" if on_desk else "no-desk"]

    # Digit size: 18 px (in the frame) up to a quarter of the frame's height, log-uniform, smaller when harder.
    # (At least 1/40 of the frame's height: someone who photographs a number with a phone frames the writing.)
    smallest = max((30, 22, 18)[grade], frame[1] / 40) * render_scale
    largest = max(smallest * 1.2, height / 4)
    if close_up:
        smallest, largest = (share * height for share in CLOSE_UP_SHARE)
    digit_height = float(np.exp(rng.uniform(np.log(smallest), np.log(largest))))
    layout, numbers = ("single", [[random_number(rng, 1, 2)]]) if close_up else choose_layout(rng, random_number)
    margin = (0.4 if close_up else 2.0) * digit_height  # around the text, on the surface and in the frame
    touching = bool(rng.random() < 0.25) if touching is None else touching
    tags += [f"layout:{layout}", "touching" if touching else "apart"]
    pen_scale = {"felt": 0.1, "ballpoint": 0.06, "red": 0.08, "pencil": 0.06, "marker": 0.16, "chalk": 0.12}[ink]
    pen = max(1.0, digit_height * pen_scale * rng.uniform(0.7, 1.3))

    images, labels = mnist_test
    if source == "mnist":
        glyph = lambda d, h: mnist_glyph(rng, d, h, images, labels)  # noqa: E731
    elif source == "mnist-pen":  # training pages only (not one of SOURCES)
        glyph = lambda d, h: mnist_pen_glyph(rng, d, h, images, labels, pen)  # noqa: E731
    elif source == "hershey":
        glyph = lambda d, h: hershey_digit(rng, d, h, pen)  # noqa: E731
    else:
        glyph = lambda d, h: stroke_digit(rng, d, h, pen)  # noqa: E731

    # The writing surface, in its own upright coordinates, big enough for the text plus margins.
    line_pitch = digit_height * rng.uniform(1.7, 2.4)
    text_width = max(sum(number_width(n, digit_height) for n in line) + (len(line) - 1) * 3.0 * digit_height for line in numbers)
    text_height = line_pitch * (len(numbers) - 1) + digit_height
    if on_desk:
        surface_w = max(text_width + margin, width * rng.uniform(0.35, 0.8))
        surface_h = max(text_height + margin, surface_w * rng.uniform(0.7, 1.2) if paper == "sticky" else height * rng.uniform(0.5, 1.2))
    else:
        surface_w, surface_h = width * 1.3, height * 1.3  # fills the frame and beyond
    scale_down = min(1.0, 0.92 * width / (text_width + margin), 0.92 * height / (text_height + margin))
    if scale_down < 1.0:  # the text would not fit the frame: write smaller
        digit_height *= scale_down
        pen = max(1.0, pen * scale_down)
        line_pitch *= scale_down
        text_width *= scale_down
        text_height *= scale_down
    sw, sh = int(surface_w), int(surface_h)
    paper_bgr = paper_colour(rng, paper)
    surface = np.broadcast_to(paper_bgr, (sh, sw, 3)).copy()
    draw_paper_pattern(rng, surface, paper, digit_height)

    # Text on the surface.
    ink_layer = np.zeros((sh, sw), np.float32)  # the digits' ink
    clutter_layer = np.zeros((sh, sw), np.float32)  # lines drawn around them with the same pen
    edge = (0.2 if close_up else 1.0) * digit_height  # the least room left around the text on the surface
    text_x0 = rng.uniform(edge, max(edge + 1, sw - text_width - edge))
    text_y0 = rng.uniform(edge, max(edge + 1, sh - text_height - edge))
    if clutter is None and rng.random() < (0.0, 0.3, 0.5)[grade]:
        clutter = CLUTTER[rng.integers(len(CLUTTER))]
    if clutter:
        tags.append(f"clutter:{clutter}")
    lines, centres = [], []
    for row, line_numbers in enumerate(numbers):
        x = text_x0 + (rng.uniform(0, 0.3) * text_width if layout == "form" else 0)
        baseline = text_y0 + row * line_pitch + digit_height
        for number in line_numbers:
            box = place_number(rng, ink_layer, number, x, baseline, digit_height, glyph, touching, centres)
            if clutter and (layout != "form" or rng.random() < 0.6):
                draw_clutter(rng, clutter_layer, box, digit_height, pen, clutter)
            x = box[2] + rng.uniform(1.8, 3.0) * digit_height
        lines.append(" ".join(line_numbers))
    digit_layer = ink_layer.copy() if with_target else None
    np.maximum(ink_layer, clutter_layer, out=ink_layer)
    # The text's real extent (clutter included), to keep it inside the frame.
    rows, columns = np.flatnonzero(ink_layer.max(axis=1) > 0.05), np.flatnonzero(ink_layer.max(axis=0) > 0.05)
    ink_x0, ink_x1, ink_y0, ink_y1 = float(columns[0]), float(columns[-1] + 1), float(rows[0]), float(rows[-1] + 1)
    look, opacity, grain = ink_look(rng, ink, paper_bgr)
    if grain > 0:
        texture = cv2.GaussianBlur(rng.uniform(0, 1, (sh, sw)).astype(np.float32), (0, 0), max(0.5, pen / 4))
        texture = np.clip(1 - grain + grain * 2 * texture, 0, 1)
        ink_layer *= texture
    alpha = (ink_layer * opacity)[:, :, None]
    surface = surface * (1 - alpha) + look * alpha

    # Place the surface in the frame: turned, in perspective, the text inside the frame.
    max_turn = (3, 7, 10)[grade]
    tilt = (0.0, 0.04, 0.08)[grade]
    pad = 0.2 * digit_height
    text_corners = np.float32([[ink_x0 - pad, ink_y0 - pad], [ink_x1 + pad, ink_y0 - pad], [ink_x1 + pad, ink_y1 + pad], [ink_x0 - pad, ink_y1 + pad]])
    corners = np.float32([[0, 0], [sw, 0], [sw, sh], [0, sh]])
    for attempt in range(30):
        angle = np.radians(rng.uniform(-max_turn, max_turn))
        rotation = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        centre_text = text_corners.mean(axis=0)
        target_centre = np.float32([width / 2, height / 2]) + rng.uniform(-0.2, 0.2, 2).astype(np.float32) * [width, height] * (attempt < 20)
        moved = (corners - centre_text) @ rotation.T + target_centre
        moved += rng.uniform(-tilt, tilt, (4, 2)).astype(np.float32) * [sw, sh]
        homography = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
        placed_text = cv2.perspectiveTransform(text_corners[None], homography)[0]
        if (placed_text.min(axis=0) >= 2).all() and (placed_text[:, 0] <= width - 2).all() and (placed_text[:, 1] <= height - 2).all():
            break
    else:  # nothing turned fits: lay it straight, centred
        moved = corners - text_corners.mean(axis=0) + np.float32([width / 2, height / 2])
        homography = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
    if not on_desk:
        background = np.broadcast_to(paper_bgr, (height, width, 3)).astype(np.float32)
    else:
        background, desk_kind = desk_texture(rng, (width, height))
        tags.append(f"desk:{desk_kind}")
    warped = cv2.warpPerspective(surface.astype(np.float32), homography, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    cover = cv2.warpPerspective(np.ones((sh, sw), np.float32), homography, (width, height), flags=cv2.INTER_LINEAR)[:, :, None]
    scene = background * (1 - cover) + warped * cover
    if on_desk and rng.random() < 0.6:  # the sheet casts a thin shadow on the desk
        edge = cv2.GaussianBlur(cover, (0, 0), max(1.0, width / 300))[:, :, None]
        scene *= 1 - 0.25 * np.clip(edge - cover, 0, 1)

    # Light.
    shadow = grade > 0 and rng.random() < 0.5
    glare = paper == "whiteboard" or (grade == 2 and rng.random() < 0.25)
    light, added = lighting(rng, (width, height), strength=(0.2, 0.5, 0.8)[grade], shadow=shadow, glare=glare)
    scene = scene * light[:, :, None] + added[:, :, None]
    tags += ["shadow"] * shadow + ["glare"] * glare

    # Camera: defocus or motion blur, scaled to the frame, noise, JPEG.
    blur = rng.uniform(0.3, (0.8, 1.3, 1.8)[grade]) * max(1.0, min(width, height) / 480)
    scene = cv2.GaussianBlur(scene, (0, 0), blur)
    if grade == 2 and rng.random() < 0.3:
        scene = cv2.filter2D(scene, -1, motion_kernel(rng, int(rng.integers(3, 8))))
        tags.append("motion-blur")
    if render_scale < 1.0:
        scene = cv2.resize(scene, frame, interpolation=cv2.INTER_LINEAR)
    scene += rng.normal(0, (1.5, 3.5, 6.0)[grade], scene.shape).astype(np.float32)
    image = np.clip(scene, 0, 255).astype(np.uint8)
    quality = int(rng.integers(*((85, 96), (60, 90), (40, 75))[grade]))
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    digit_pixels = digit_height / render_scale
    tags.append("small-digits" if digit_pixels < 30 else "large-digits" if digit_pixels > frame[1] / 6 else "mid-digits")
    if close_up:
        tags.append("close-up")
    target = placed = None
    if with_target:
        target = cv2.warpPerspective(digit_layer, homography, (width, height), flags=cv2.INTER_LINEAR)
        target = cv2.resize(target, frame, interpolation=cv2.INTER_LINEAR) if render_scale < 1.0 else target
        target = np.clip(target * 255, 0, 255).astype(np.uint8)
        placed = cv2.perspectiveTransform(np.float32(centres)[None], homography)[0] / render_scale
    return RealisticPage(image, lines, level, source, tags, jpeg, target, placed)
