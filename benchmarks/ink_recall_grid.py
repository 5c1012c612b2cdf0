"""How much of small, faint digits' ink the learned ink segmenter finds, on plain and on squared paper.

A drawn test, not a field set: five MNIST *test* digits in a row on a 640x480
frame of plain paper, or of 5 mm squared paper (blue or grey lines, a square
0.7 of a digit's height), darkening the paper by a share of its brightness
through a pencil-like grain, blurred and noised a little. For each digit
height and darkness, the share of the digits' ink (MNIST pixels over half)
that the map marks (over the runtime's cut, `segment.INK_THRESHOLD`), over
five pages: first as the runtime makes the map (320 px on the long side, with
its closer second look), then with the network run on the frame at its own
size (640 px).

Usage:
    python benchmarks/ink_recall_grid.py --model models/inkseg.onnx
"""

import argparse

import cv2
import numpy as np

from edgedigits.data import load_mnist
from edgedigits.runtime.inkmask import open_ink_model, to_map, to_photo
from edgedigits.runtime.segment import INK_THRESHOLD

FRAME = (640, 480)
PAPERS = (("plain", None), ("blue grid", (200, 170, 120)), ("grey grid", (160, 160, 160)))


def draw_page(rng: np.random.Generator, images: np.ndarray, height: int, darkness: float, grid) -> tuple[np.ndarray, np.ndarray]:
    """(BGR photo, digits' ink in [0, 1]) for one row of five digits `height` px tall."""
    width, rows = FRAME
    page = np.full((rows, width, 3), 232, np.float32)
    if grid is not None:
        step, thickness = 0.7 * height, max(1, round(height / 35))
        for x in np.arange(3, width, step):
            cv2.line(page, (round(x), 0), (round(x), rows - 1), grid, thickness, cv2.LINE_AA)
        for y in np.arange(5, rows, step):
            cv2.line(page, (0, round(y)), (width - 1, round(y)), grid, thickness, cv2.LINE_AA)
    ink = np.zeros((rows, width), np.float32)
    x, top = 150, 220
    for _ in range(5):
        glyph = cv2.resize(images[rng.integers(len(images))].astype(np.float32) / 255, (height, height))
        np.maximum(ink[top : top + height, x : x + height], glyph, out=ink[top : top + height, x : x + height])
        x += height + height // 4
    grain = np.clip(0.65 + 0.7 * cv2.GaussianBlur(rng.uniform(0, 1, (rows, width)).astype(np.float32), (0, 0), 1), 0, 1)
    page = page * (1 - (ink * grain * darkness)[..., None])
    page = cv2.GaussianBlur(page, (0, 0), 1.0) + rng.normal(0, 3, page.shape)
    return np.clip(page, 0, 255).astype(np.uint8), ink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="an ink segmenter's .onnx")
    parser.add_argument("--heights", default="20,30,45")
    parser.add_argument("--darkness", default="0.25,0.35,0.5")
    parser.add_argument("--pages", type=int, default=5)
    arguments = parser.parse_args()
    model = open_ink_model(arguments.model, device="cpu")
    _, (images, _) = load_mnist()
    cut = round(INK_THRESHOLD * 255)

    def runtime_map(photo):
        return model.ink_map(photo)

    def full_size_map(photo):
        prepared, (height, width) = to_photo(photo, max(FRAME), model.flatten)
        return to_map(model.probabilities(prepared)[0, :height, :width, 0])

    print(f"{arguments.model}: share of the digits' ink marked, {arguments.pages} pages each, 640x480")
    print(f"{'map':>10} {'height':>6} {'darkness':>8} " + " ".join(f"{name:>10}" for name, _ in PAPERS))
    for label, make_map in (("runtime", runtime_map), ("640 px", full_size_map)):
        for height in (int(h) for h in arguments.heights.split(",")):
            for darkness in (float(d) for d in arguments.darkness.split(",")):
                shares = []
                for _, grid in PAPERS:
                    rng = np.random.default_rng(0)
                    found = []
                    for _ in range(arguments.pages):
                        photo, ink = draw_page(rng, images, height, darkness, grid)
                        marked = cv2.resize(make_map(photo), FRAME, interpolation=cv2.INTER_LINEAR)
                        found.append(float((marked[ink > 0.5] >= cut).mean()))
                    shares.append(np.mean(found))
                print(f"{label:>10} {height:>6} {darkness:>8.2f} " + " ".join(f"{share:>10.2f}" for share in shares))


if __name__ == "__main__":
    main()
