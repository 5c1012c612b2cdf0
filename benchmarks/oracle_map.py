"""How much of what the reader still gets wrong is the ink map's: realistic pages read with the learned ink map
and with the generator's exact digit-ink target in its place (an oracle map, which no photo comes with).

Pages are drawn as `scripts/make_pages.py --kind realistic --seed S` draws them (the same pages, in the same
order), each with its per-pixel target of the digits' ink (`render_realistic(with_target=True)`: not the paper's
lines, the clutter, the desk or the light). Each page is read twice by the default reader, the same models and
rules, once with the ink segmenter's map and once with the target shrunk to the map's size in its place. Both
without the look from afar and without levelling turned writing (the target is the photo's as it is; turned or
shrunk photos would need it turned or shrunk too), so the first figure is a little under the default reader's.

Prints pages exact per level for both, and the pages only one of them reads. Where the oracle map reads a page
the learned map does not, the map is to blame; where both fail, what comes after the map is (segmentation,
the digit classifier, the sequence model).

Usage:
    python benchmarks/oracle_map.py --seed 11 --count 450
"""

import argparse
import collections

import cv2
import numpy as np

import edgedigits.runtime.reader as reading
from edgedigits.data import load_mnist
from edgedigits.fieldset_realistic import LEVELS, SOURCES, render_realistic
from edgedigits.runtime.inkmask import INK_LONG_SIDE, ink_input_size
from edgedigits.runtime.reader import Reader


class OracleInk:
    """Stands in for the ink segmenter: the generator's target of the page being read, at the map's size."""

    target: np.ndarray | None = None

    def ink_map(self, image: np.ndarray, long_side: int = INK_LONG_SIDE) -> np.ndarray:
        height, width = ink_input_size(*image.shape[:2], long_side)
        return cv2.resize(self.target, (width, height), interpolation=cv2.INTER_AREA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=11, help="the field set's seed (11 and 13 are the tuning seeds)")
    parser.add_argument("--count", type=int, default=450)
    parser.add_argument("--models", default="models")
    args = parser.parse_args()

    reading.FAR_LOOK = 1  # no look from afar, and no levelling: the oracle map is the photo's as it is
    reading.DESKEW_ABOVE = 0.0
    models = args.models.rstrip("/")
    def make_reader() -> Reader:
        return Reader(f"{models}/cnn-bn-aug.int8.onnx", device="cpu", threads=1, ink_model=f"{models}/inkseg.onnx",
                      sequence_model=f"{models}/seqread.int8.onnx")
    learned, oracle_reader = make_reader(), make_reader()
    oracle = OracleInk()
    oracle_reader.ink_model = oracle

    _, mnist_test = load_mnist()
    rng = np.random.default_rng(args.seed)
    exact = {"learned": collections.Counter(), "oracle": collections.Counter()}
    pages = collections.Counter()
    only = {"learned": [], "oracle": []}
    for index in range(args.count):
        level, source = LEVELS[index % len(LEVELS)], SOURCES[(index // len(LEVELS)) % len(SOURCES)]
        page = render_realistic(rng, level, source, mnist_test, with_target=True)
        image = cv2.imdecode(np.frombuffer(page.jpeg, np.uint8), cv2.IMREAD_COLOR)
        oracle.target = page.target
        group = f"{level}/{'touching' if 'touching' in page.tags else 'apart'}"
        right = {"learned": learned.read(image).lines == page.lines, "oracle": oracle_reader.read(image).lines == page.lines}
        for key in (level, group, "all"):
            pages[key] += 1
            for name in right:
                exact[name][key] += right[name]
        for name, other in (("learned", "oracle"), ("oracle", "learned")):
            if right[name] and not right[other]:
                only[name].append(f"page-{index:04d}.jpg")
    print(f"seed {args.seed}, {args.count} realistic pages, pages exact (no look from afar, no levelling):")
    print(f"{'':18s} {'learned map':>14s} {'oracle map':>14s}")
    for key in ["all", *sorted(k for k in pages if k != "all")]:
        print(f"{key:18s} " + " ".join(f"{exact[name][key]:5d}/{pages[key]:<4d} {100 * exact[name][key] / pages[key]:5.1f}%"
                                       for name in ("learned", "oracle")))
    for name in only:
        print(f"read only with the {name} map ({len(only[name])}): {' '.join(only[name])}")


if __name__ == "__main__":
    main()
