"""The sequence model against over-segmentation on the runs of touching digits the reader cuts from photos.

Pages are drawn by the realistic field-set generator with MNIST *test* digits and read by the runtime's own
segmentation with the ink segmenter (`edgedigits.train.pagecrops.harvest`); every box that holds a run of
touching digits (the generator knows where it put each digit) becomes a strip as the reader hands it to the
sequence model. Each strip is read two ways:

- the sequence model (CTC, greedy decoding), as the reader does;
- over-segmentation: candidate vertical cuts every CUT_STEP columns of the strip and at every local minimum of
  its ink's column profile; every piece between two cuts MIN_PIECE to MAX_PIECE columns wide (the strip's ink
  is 24 px tall) with some ink is read by the digit model (cut out and normalised as the reader normalises a
  box); the best path from the first column to the last is the one with the highest summed log-probability of
  its pieces' readings (minus PIECE_PENALTY per piece).

Prints exact runs for each, for both together (either right), and by the run's length.

Usage:
    python benchmarks/oversegment.py --pages 800
"""

import argparse
import collections
import itertools
from pathlib import Path

import numpy as np

from edgedigits.contract import INPUT_SHAPE, SEQ_STRIDE
from edgedigits.runtime.confidence import apply_temperature
from edgedigits.runtime.normalize import normalize_digit
from edgedigits.runtime.reader import model_temperature
from edgedigits.runtime.sequence import batch_strips, greedy_decode, open_sequence_model
from edgedigits.runtime.session import open_model

CUT_STEP = 2
MIN_PIECE, MAX_PIECE = 3, 24
MIN_INK = 6  # ink pixels a piece needs to be read at all
PIECE_PENALTY = 0.0  # 0.5 and more give too few pieces: the digit model reads a whole pair as one digit surely


def cuts_of(mask: np.ndarray) -> list[int]:
    columns = np.flatnonzero(mask.max(axis=0))
    first, last = int(columns[0]), int(columns[-1]) + 1
    profile = mask.sum(axis=0)
    cuts = set(range(first, last + 1, CUT_STEP)) | {first, last}
    cuts |= {x for x in range(first + 1, last - 1) if profile[x] <= profile[x - 1] and profile[x] <= profile[x + 1]}
    return sorted(cuts)


def best_path(cuts: list[int], pieces: list[tuple[int, int]], probabilities: np.ndarray) -> str:
    best: list[tuple[float, tuple[int, int] | None]] = [(-np.inf, None)] * len(cuts)
    best[0] = (0.0, None)
    ending = collections.defaultdict(list)
    for k, (i, j) in enumerate(pieces):
        ending[j].append((i, k))
    for j in range(1, len(cuts)):
        for i, k in ending[j]:
            score = best[i][0] + float(np.log(probabilities[k].max() + 1e-9)) - PIECE_PENALTY
            if score > best[j][0]:
                best[j] = (score, (i, k))
    digits, j = [], len(cuts) - 1
    if best[j][1] is None:
        return ""
    while j > 0:
        i, k = best[j][1]
        digits.append(str(int(probabilities[k].argmax())))
        j = i
    return "".join(reversed(digits))


def oversegment(mask: np.ndarray, model, temperature: float) -> str:
    cuts = cuts_of(mask)
    pieces = [(i, j) for i, j in itertools.combinations(range(len(cuts)), 2)
              if MIN_PIECE <= cuts[j] - cuts[i] <= MAX_PIECE and mask[:, cuts[i] : cuts[j]].sum() >= MIN_INK * 255]
    if not pieces:
        return ""
    inputs = np.stack([normalize_digit(mask[:, cuts[i] : cuts[j]]) for i, j in pieces])
    probabilities = apply_temperature(model.predict(inputs.reshape(-1, *INPUT_SHAPE)), temperature)
    return best_path(cuts, pieces, probabilities)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/cnn-bn-aug.int8.onnx"))
    parser.add_argument("--sequence", type=Path, default=Path("models/seqread.int8.onnx"))
    parser.add_argument("--ink", type=Path, default=Path("models/inkseg.onnx"))
    parser.add_argument("--pages", type=int, default=800)
    parser.add_argument("--seed", type=int, default=7000)
    arguments = parser.parse_args()

    from edgedigits.train.pagecrops import harvest
    from edgedigits.train.sequence import split_digits

    harvested = harvest(arguments.pages, arguments.seed, split_digits()[2], arguments.ink)
    model = open_model(arguments.model, device="cpu")
    temperature = model_temperature(model)
    sequence = open_sequence_model(arguments.sequence, device="cpu")
    right = collections.Counter()
    by_length = collections.defaultdict(collections.Counter)
    for strip, text in zip(harvested.strips, harvested.texts):
        columns = sequence.columns(batch_strips([strip]))[0][: strip.shape[1] // SEQ_STRIDE]
        read_sequence = greedy_decode(columns).text == text
        read_pieces = oversegment(np.where(strip > 0.5, 255, 0).astype(np.uint8), model, temperature) == text
        for name, ok in (("sequence model", read_sequence), ("over-segmentation", read_pieces),
                         ("either", read_sequence or read_pieces), ("runs", True)):
            right[name] += ok
            by_length[len(text)][name] += ok
    runs = right["runs"]
    print(f"{runs} runs of touching digits cut by the reader from {arguments.pages} generated pages of MNIST test "
          f"digits (seed {arguments.seed})")
    for name in ("sequence model", "over-segmentation", "either"):
        lengths = ", ".join(f"{n} digits {c[name]}/{c['runs']}" for n, c in sorted(by_length.items()))
        print(f"{name:18s} {right[name]}/{runs} ({right[name] / max(1, runs):.1%})   {lengths}")


if __name__ == "__main__":
    main()
