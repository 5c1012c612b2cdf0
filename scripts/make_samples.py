"""Make the small sample photos the README and the tests use, with their ground truth.

The pages are synthetic (see edgedigits/fieldset.py): MNIST *test* digits on
paper-like backgrounds with uneven light, blur, noise and JPEG compression.
They are deterministic: the same seeds give the same files.

Usage:
    python scripts/make_samples.py            # writes samples/*.jpg and samples/truth.jsonl
"""

import json
from pathlib import Path

import cv2
import numpy as np

from edgedigits.data import load_mnist
from edgedigits.fieldset import render_page

OUT = Path(__file__).resolve().parent.parent / "samples"
# name: (seed, difficulty, source, lines, board, ruled)
SAMPLES = {
    "2017": (2017, "medium", "mnist", ["2017"], False, False),
    "two-lines": (12, "medium", "mnist", ["385", "46"], False, True),
    "board": (7, "medium", "mnist", ["1024"], True, False),
    "script": (5, "easy", "script", ["3141"], False, False),
}


def main() -> None:
    _, mnist_test = load_mnist()
    OUT.mkdir(exist_ok=True)
    records = []
    for name, (seed, difficulty, source, lines, board, ruled) in SAMPLES.items():
        page = render_page(np.random.default_rng(seed), difficulty, source, mnist_test, lines=lines, board=board, ruled=ruled)
        cv2.imwrite(str(OUT / f"{name}.jpg"), page.image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        records.append({"file": f"{name}.jpg", "lines": lines, "difficulty": difficulty, "source": source, "board": board})
    (OUT / "truth.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    print(f"wrote {len(records)} samples to {OUT}")


if __name__ == "__main__":
    main()
