"""Generate a field set: photographed pages of handwritten numbers and their ground truth.

Usage:
    python scripts/make_pages.py --count 300 --out fieldset/     # then: edgedigits eval MODEL --pages fieldset/
"""

import argparse
from pathlib import Path

from edgedigits.fieldset import write_pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="pages (equal shares of each difficulty and digit source)")
    parser.add_argument("--out", type=Path, default=Path("fieldset"))
    parser.add_argument("--kind", choices=("plain", "realistic", "close-up"), default="plain",
                        help="plain: paper filling a VGA frame; realistic: desks, sticky notes, grids, inks, 320x240 to 12 MP; "
                             "close-up: realistic, one short number photographed from close by (digits 30-65%% of the frame's height)")
    parser.add_argument("--seed", type=int, default=1, help="1: the evaluation set; 0 was looked at while tuning segmentation")
    arguments = parser.parse_args()
    truth = write_pages(arguments.out, arguments.count, seed=arguments.seed, kind=arguments.kind)
    print(f"wrote {arguments.count} pages and {truth}")


if __name__ == "__main__":
    main()
