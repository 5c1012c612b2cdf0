"""Synthetic photographed pages of handwritten numbers, with their ground truth.

For evaluation only: models train on MNIST's training set alone, so these pages
measure how well they carry over to digits cut out of photos. Digits come from
two sources:

- `mnist`: MNIST *test* digits (never trained on);
- `script`: OpenCV's Hershey script fonts, drawn with a random pen width, slant,
  rotation and wobble — not MNIST, and not from any training data (a stand-in
  for other people's handwriting, not real handwriting).

They are placed on paper with uneven light, shadows, ruled lines, perspective,
blur, noise and JPEG compression, or as chalk on a dark board. `difficulty`
sets how much of that a page gets.

Usage:
    python scripts/make_pages.py --count 300 --out fieldset/
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgedigits.files import write_bytes_atomic

PAGE_SIZE = (640, 480)  # width, height: a VGA webcam frame
DIFFICULTIES = ("easy", "medium", "hard")
SOURCES = ("mnist", "script")
SCRIPT_FONTS = (cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX)


@dataclass
class Page:
    image: np.ndarray  # BGR uint8
    lines: list[str]  # ground truth, top to bottom
    difficulty: str
    source: str
    board: bool  # light chalk on a dark board

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


# --- Digits (bright ink on black, cropped to the ink) -----------------------------------------


def crop_to_ink(ink: np.ndarray, level: int = 20) -> np.ndarray:
    """The ink's bounding box (pixels above `level`); a 1x1 black crop when there is none."""
    rows, columns = np.flatnonzero(ink.max(axis=1) > level), np.flatnonzero(ink.max(axis=0) > level)
    if rows.size == 0:
        return np.zeros((1, 1), np.uint8)
    return ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]


def mnist_digit(rng: np.random.Generator, digit: int, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return crop_to_ink(images[rng.choice(np.flatnonzero(labels == digit))])


def script_digit(rng: np.random.Generator, digit: int) -> np.ndarray:
    """A digit in a Hershey script font, with a random pen, slant, rotation and wobble."""
    canvas = np.zeros((160, 160), np.uint8)
    font = SCRIPT_FONTS[rng.integers(len(SCRIPT_FONTS))]
    thickness = int(rng.integers(3, 9))
    (width, height), _ = cv2.getTextSize(str(digit), font, 3.0, thickness)
    cv2.putText(canvas, str(digit), ((160 - width) // 2, (160 + height) // 2), font, 3.0, 255, thickness, cv2.LINE_AA)
    slant, angle = rng.uniform(-0.3, 0.3), rng.uniform(-10, 10)
    transform = cv2.getRotationMatrix2D((80, 80), angle, 1.0)
    transform[0, 1] += slant
    transform[0, 2] -= slant * 80
    canvas = cv2.warpAffine(canvas, transform, (160, 160), flags=cv2.INTER_LINEAR)
    # A gentle wobble: each row shifted along a slow sine, as a hand would.
    phase, amplitude = rng.uniform(0, 2 * np.pi), rng.uniform(0, 3)
    map_x = (np.arange(160)[None, :] + amplitude * np.sin(np.arange(160)[:, None] / 25 + phase)).astype(np.float32)
    map_y = np.repeat(np.arange(160, dtype=np.float32)[:, None], 160, axis=1)
    canvas = cv2.remap(canvas, map_x, map_y, cv2.INTER_LINEAR)
    return crop_to_ink(canvas)


# --- Layout --------------------------------------------------------------------------------------


def random_number(rng: np.random.Generator, shortest: int = 2, longest: int = 6) -> str:
    """A year (a fifth of the time, like the seed's "2017"), else `shortest` to `longest` random digits."""
    if rng.random() < 0.2:
        return str(rng.integers(1950, 2030))
    return "".join(str(d) for d in rng.integers(0, 10, rng.integers(shortest, longest + 1)))


def layout_ink(rng: np.random.Generator, lines: list[str], digit_ink, size=PAGE_SIZE) -> np.ndarray:
    """One float32 [H, W] ink layer in [0, 1] holding every line, digits apart, lines apart."""
    width, height = size
    ink_layer = np.zeros((height, width), np.float32)
    digit_height = rng.uniform(50, 95) if len(lines) == 1 else rng.uniform(40, 70)
    glyphs = [[digit_ink(int(d)) for d in line] for line in lines]
    # Shrink until the longest line fits in 90% of the width.
    def line_width(line_glyphs, h):
        return sum(g.shape[1] * h / g.shape[0] + 0.3 * h for g in line_glyphs)
    digit_height = min(digit_height, 0.9 * width / max(line_width(g, 1.0) for g in glyphs))
    pitch = digit_height * rng.uniform(1.6, 2.1)
    top = (height - pitch * (len(lines) - 1) - digit_height) / 2 + rng.uniform(-20, 20)
    for index, line_glyphs in enumerate(glyphs):
        x = (width - line_width(line_glyphs, digit_height)) / 2 + rng.uniform(-20, 20)
        baseline_y = top + index * pitch
        for glyph in line_glyphs:
            h = digit_height * rng.uniform(0.85, 1.1)
            w = max(2, round(glyph.shape[1] * h / glyph.shape[0]))
            scaled = cv2.resize(glyph, (w, round(h)), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
            y = int(np.clip(baseline_y + digit_height - h + rng.uniform(-0.06, 0.06) * h, 0, height - scaled.shape[0]))
            x0 = int(np.clip(x, 0, width - w))
            region = ink_layer[y : y + scaled.shape[0], x0 : x0 + w]
            np.maximum(region, scaled[: region.shape[0], : region.shape[1]], out=region)
            x += w + digit_height * rng.uniform(0.15, 0.45)
    return ink_layer


# --- Paper, light and camera -------------------------------------------------------------------


def illumination(rng: np.random.Generator, size, strength: float) -> np.ndarray:
    """A light field in (0, 1]: a gradient, a vignette and maybe a soft shadow band."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = (np.cos(angle) * xs / width + np.sin(angle) * ys / height)
    light = 1 - strength * 0.5 * (gradient - gradient.min()) / max(np.ptp(gradient), 1e-6)
    radius = np.hypot(xs - width / 2, ys - height / 2) / np.hypot(width / 2, height / 2)
    light *= 1 - strength * 0.35 * radius**2
    if strength > 0.5 and rng.random() < 0.6:
        offset, slope = rng.uniform(0.2, 0.8) * width, rng.uniform(-1.0, 1.0)
        distance = (xs - offset - slope * (ys - height / 2)) / (width * 0.08)
        light *= 1 - rng.uniform(0.25, 0.45) / (1 + np.exp(distance))  # a soft-edged shadow over one side
    return np.clip(light, 0.05, 1.0)


def draw_ruled_lines(rng: np.random.Generator, page: np.ndarray) -> None:
    spacing = int(rng.integers(28, 45))
    colour = (float(rng.uniform(170, 215)), float(rng.uniform(150, 190)), float(rng.uniform(110, 150)))  # faint blue, BGR
    for y in range(int(rng.integers(5, spacing)), page.shape[0], spacing):
        cv2.line(page, (0, y), (page.shape[1] - 1, y), colour, int(rng.integers(1, 3)), cv2.LINE_AA)


def perspective(rng: np.random.Generator, image: np.ndarray, amount: float) -> np.ndarray:
    height, width = image.shape[:2]
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    moved = (corners + rng.uniform(-amount, amount, corners.shape) * [width, height]).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(corners, moved)
    return cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def render_page(rng: np.random.Generator, difficulty: str, source: str, mnist_test, lines: list[str] | None = None,
                board: bool | None = None, ruled: bool | None = None) -> Page:
    """One photographed page of one or two numbers (random unless `lines`, `board` or `ruled` say)."""
    level = DIFFICULTIES.index(difficulty)
    if lines is None:
        lines = [random_number(rng) for _ in range(1 if rng.random() < 0.6 else 2)]
    images, labels = mnist_test
    if source == "mnist":
        digit_ink = lambda d: mnist_digit(rng, d, images, labels)  # noqa: E731
    else:
        digit_ink = lambda d: script_digit(rng, d)  # noqa: E731
    ink = layout_ink(rng, lines, digit_ink)[:, :, None]
    width, height = PAGE_SIZE
    if board is None:
        board = level > 0 and rng.random() < 0.15 * level
    if board:
        background = np.array([rng.uniform(40, 70), rng.uniform(55, 85), rng.uniform(35, 60)], np.float32)
        chalk = np.float32(rng.uniform(200, 240))
        texture = rng.uniform(0.75, 1.0, (height, width, 1)).astype(np.float32)  # chalk leaves gaps
        page = np.broadcast_to(background, (height, width, 3)).copy()
        page = page * (1 - ink * texture) + chalk * ink * texture
    else:
        paper = np.array([rng.uniform(205, 250) for _ in range(3)], np.float32)
        page = np.broadcast_to(paper, (height, width, 3)).copy()
        if ruled if ruled is not None else (level > 0 and rng.random() < 0.5):
            draw_ruled_lines(rng, page)
        pen = np.array([rng.uniform(20, 90), rng.uniform(15, 60), rng.uniform(10, 50)], np.float32)  # blue-black, BGR
        page = page * (1 - ink) + pen * ink
    page *= illumination(rng, PAGE_SIZE, strength=(0.15, 0.55, 0.85)[level])[:, :, None]
    page += rng.normal(0, (1.5, 3.5, 6.0)[level], page.shape).astype(np.float32)
    page = np.clip(page, 0, 255).astype(np.uint8)
    if level == 2:
        page = perspective(rng, page, amount=0.04)
    sigma = rng.uniform(0.3, (0.7, 1.1, 1.5)[level])
    page = cv2.GaussianBlur(page, (0, 0), sigma)
    quality = int(rng.integers(*((85, 95), (60, 85), (40, 70))[level]))
    page = cv2.imdecode(cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
    return Page(page, lines, difficulty, source, bool(board))


def write_pages(out_dir: Path, count: int, seed: int = 0, mnist_test=None, kind: str = "plain") -> Path:
    """Write `count` pages (equal shares of each difficulty and source) and `truth.jsonl`; return its path.

    `kind` is `plain` (this module's pages), `realistic` (`fieldset_realistic`: desks, notes, grids, inks) or
    `close-up` (realistic pages of one short number photographed from close by).
    """
    if mnist_test is None:
        from edgedigits.data import load_mnist

        _, mnist_test = load_mnist()
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if kind in ("realistic", "close-up"):
        return write_realistic_pages(out_dir, count, rng, mnist_test, close_up=kind == "close-up")
    if kind != "plain":
        raise ValueError(f"unknown field set kind {kind!r}: plain, realistic or close-up")
    def page(index: int) -> tuple[bytes, dict]:
        difficulty = DIFFICULTIES[index % len(DIFFICULTIES)]
        source = SOURCES[(index // len(DIFFICULTIES)) % len(SOURCES)]
        drawn = render_page(rng, difficulty, source, mnist_test)
        jpeg = cv2.imencode(".jpg", drawn.image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
        return jpeg, {"lines": drawn.lines, "difficulty": difficulty, "source": source, "board": drawn.board}
    return write_set(out_dir, count, page)


def write_set(out_dir: Path, count: int, page) -> Path:
    """Write pages `page(index) -> (jpeg bytes, truth record)` as page-NNNN.jpg, then `truth.jsonl`; return its path."""
    records = []
    for index in range(count):
        jpeg, record = page(index)
        name = f"page-{index:04d}.jpg"
        write_bytes_atomic(out_dir / name, jpeg)
        records.append({"file": name, **record})
    truth = out_dir / "truth.jsonl"
    write_bytes_atomic(truth, "".join(json.dumps(r) + "\n" for r in records).encode())
    return truth


def write_realistic_pages(out_dir: Path, count: int, rng: np.random.Generator, mnist_test, close_up: bool = False) -> Path:
    """Realistic pages (equal shares of each level and digit source) with their tags in `truth.jsonl`;
    `close_up`: each one short number photographed from close by (`render_realistic`)."""
    from edgedigits.fieldset_realistic import LEVELS, SOURCES as REALISTIC_SOURCES, render_realistic

    def page(index: int) -> tuple[bytes, dict]:
        level = LEVELS[index % len(LEVELS)]
        source = REALISTIC_SOURCES[(index // len(LEVELS)) % len(REALISTIC_SOURCES)]
        drawn = render_realistic(rng, level, source, mnist_test, close_up=close_up)
        return drawn.jpeg, {"lines": drawn.lines, "difficulty": level, "source": source, "tags": drawn.tags,
                            "size": [drawn.image.shape[1], drawn.image.shape[0]]}
    return write_set(out_dir, count, page)
