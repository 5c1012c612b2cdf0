"""Exact-string accuracy of the sequence model on strings of MNIST *test* digits, by length and by overlap.

10,000 strings by default: equal shares of every length 1-8 with gaps from -35% to +60% of a digit's width
(as in training), and the rest strings of 2-6 digits that all touch or overlap (gaps -35% to 0). Also the
batch-1 latency of one 5-digit strip, one thread.

Usage:
    python benchmarks/sequence_strings.py --model models/seqread.int8.onnx
"""

import argparse
from pathlib import Path

from edgedigits.train.sequence import measure_strings, strip_latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/seqread.int8.onnx"))
    parser.add_argument("--count", type=int, default=10000)
    arguments = parser.parse_args()
    result = measure_strings(arguments.model, count=arguments.count)
    print(f"{arguments.model}: {result['strings']} strings of MNIST test digits")
    print("length     " + " ".join(f"{n:>6}" for n in result["by_length"]) + "    all")
    print("exact      " + " ".join(f"{a:6.1%}" for a in result["by_length"].values()) + f" {result['all']:6.1%}")
    print(f"touching or overlapping, 2-6 digits: {result['touching_2_6']:.1%} exact ({result['touching_strings']} strings)")
    print(f"batch-1 latency, one 5-digit strip, one thread: {strip_latency(arguments.model):.2f} ms (median)")


if __name__ == "__main__":
    main()
