"""Turn a field set's pages by 12-30 degrees either way (a phone held at an angle), truth and tags kept.

The realistic set turns its pages at most 10 degrees; this measures the reader on writing turned further.

Usage:
    python scripts/turn_pages.py fieldset-real/ fieldset-turned/ --seed 112 --count 150
    edgedigits eval models/cnn-bn-aug.int8.onnx --pages fieldset-turned/
"""

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from edgedigits.files import write_bytes_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a field set's folder (with truth.jsonl)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=112)
    parser.add_argument("--count", type=int, default=150, help="the first COUNT pages")
    parser.add_argument("--least", type=float, default=12.0, help="degrees, at least")
    parser.add_argument("--most", type=float, default=30.0, help="degrees, at most")
    arguments = parser.parse_args()
    rng = np.random.default_rng(arguments.seed)
    arguments.out.mkdir(parents=True, exist_ok=True)
    records = []
    for line in (arguments.source / "truth.jsonl").read_text().splitlines()[: arguments.count]:
        record = json.loads(line)
        image = cv2.imread(str(arguments.source / record["file"]))
        height, width = image.shape[:2]
        angle = float(rng.uniform(arguments.least, arguments.most) * rng.choice([-1, 1]))
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        turned = cv2.warpAffine(image, turn, (width, height), borderMode=cv2.BORDER_REPLICATE)  # the frame stays
        write_bytes_atomic(arguments.out / record["file"], cv2.imencode(".jpg", turned, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes())
        record["tags"] = record.get("tags", []) + [f"turned:{'left' if angle > 0 else 'right'}"]
        records.append(record)
    write_bytes_atomic(arguments.out / "truth.jsonl", "".join(json.dumps(r) + "\n" for r in records).encode())
    print(f"wrote {len(records)} turned pages and {arguments.out / 'truth.jsonl'}")


if __name__ == "__main__":
    main()
