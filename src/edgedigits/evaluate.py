"""Scoring an exported `.onnx` model with onnxruntime alone: on the MNIST test set, or on photographed pages.

No TensorFlow here: `edgedigits eval` runs where the runtime runs.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgedigits.contract import NUM_CLASSES, to_model_input
from edgedigits.data import load_mnist
from edgedigits.errors import EdgeDigitsError
from edgedigits.files import write_json_atomic
from edgedigits.runtime import open_model
from edgedigits.runtime.batch import read_all
from edgedigits.runtime.inputs import Input
from edgedigits.runtime.reader import UNSURE_BELOW, Reader, describe_reader


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Counts [10, 10]: rows are true digits, columns predicted ones."""
    pairs = labels.astype(np.int64) * NUM_CLASSES + predicted.astype(np.int64)
    return np.bincount(pairs, minlength=NUM_CLASSES * NUM_CLASSES).reshape(NUM_CLASSES, NUM_CLASSES)


def format_confusion(confusion: np.ndarray) -> str:
    """The confusion matrix as a fixed-width table for a terminal."""
    header = "true\\pred " + "".join(f"{column:>6}" for column in range(NUM_CLASSES))
    rows = [f"{row:>9} " + "".join(f"{count:>6}" for count in confusion[row]) for row in range(NUM_CLASSES)]
    return "\n".join([header, *rows])


@dataclass
class EvalReport:
    model: str
    provider: str
    images: int
    accuracy: float
    errors: int
    seconds: float
    confusion: list[list[int]]


def evaluate_model(model_path: str | Path, data: str | Path | None = None, device: str = "auto",
                   threads: int | None = None) -> EvalReport:
    """Accuracy and confusion matrix of `model_path` on the 10,000 MNIST test digits."""
    model = open_model(model_path, device=device, threads=threads)
    _, (x_test, y_test) = load_mnist(data)
    start = time.perf_counter()
    predicted = model.predict(to_model_input(x_test)).argmax(axis=1)
    seconds = time.perf_counter() - start
    confusion = confusion_matrix(y_test, predicted)
    return EvalReport(
        model=str(model_path),
        provider=model.provider,
        images=len(y_test),
        accuracy=float(np.trace(confusion) / len(y_test)),
        errors=int(len(y_test) - np.trace(confusion)),
        seconds=round(seconds, 3),
        confusion=confusion.tolist(),
    )


def write_report(report: EvalReport, path: str | Path) -> None:
    write_json_atomic(path, asdict(report))


# --- Field accuracy: photographed pages with ground truth ------------------------------------------


def align(truth: str, read: str) -> tuple[int, int, int, int]:
    """(right, wrong, missed, invented) digits of `read` against `truth`, by edit-distance alignment.

    Line breaks take part in the alignment but are not counted as digits; `?` aligned
    with a digit counts as wrong.
    """
    rows, columns = len(truth) + 1, len(read) + 1
    cost = np.zeros((rows, columns), np.int32)
    cost[:, 0], cost[0, :] = np.arange(rows), np.arange(columns)
    for i in range(1, rows):
        for j in range(1, columns):
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1, cost[i - 1, j - 1] + (truth[i - 1] != read[j - 1]))
    right = wrong = missed = invented = 0
    i, j = len(truth), len(read)
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i, j] == cost[i - 1, j - 1] + (truth[i - 1] != read[j - 1]):
            if truth[i - 1].isdigit():
                right += truth[i - 1] == read[j - 1]
                wrong += truth[i - 1] != read[j - 1]
            i, j = i - 1, j - 1
        elif i > 0 and cost[i, j] == cost[i - 1, j] + 1:
            missed += truth[i - 1].isdigit()
            i -= 1
        else:
            invented += read[j - 1] != "\n"
            j -= 1
    return right, wrong, missed, invented


@dataclass
class PageTally:
    pages: int = 0
    exact: int = 0
    digits: int = 0
    right: int = 0
    wrong: int = 0
    missed: int = 0
    invented: int = 0

    def add(self, truth_lines: list[str], read_lines: list[str]) -> None:
        right, wrong, missed, invented = align("\n".join(truth_lines), "\n".join(read_lines))
        self.pages += 1
        self.exact += truth_lines == read_lines
        self.digits += sum(len(line) for line in truth_lines)
        self.right, self.wrong, self.missed, self.invented = (
            self.right + right, self.wrong + wrong, self.missed + missed, self.invented + invented)

    def summary(self) -> str:
        return (f"{self.exact}/{self.pages} pages exact ({self.exact / max(self.pages, 1):.1%}), "
                f"digits right {self.right}/{self.digits} ({self.right / max(self.digits, 1):.1%}), "
                f"wrong {self.wrong}, missed {self.missed}, invented {self.invented}")


@dataclass
class PagesReport:
    model: str
    pages_dir: str
    overall: PageTally
    by_group: dict[str, PageTally]  # "difficulty", "difficulty/source", "difficulty/apart", "tag NAME" (see page_groups)
    failures: list[dict]
    reader: str = ""  # the models that read the pages (classifier, mask, sequence model), and the provider


def page_groups(truth: dict) -> list[str]:
    """The tallies a page counts in: all, its level, level/source; on tagged (realistic) pages also
    level/apart or level/touching (the realistic set's target is on the pages without touching digits),
    and each of its tags."""
    level = truth["difficulty"]
    keys = ["all", level, f"{level}/{truth['source']}"]
    tags = truth.get("tags", [])
    if tags:
        keys.append(f"{level}/{'touching' if 'touching' in tags else 'apart'}")
        keys += [f"tag {tag}" for tag in tags if not tag.startswith("source:")]
    return keys


def evaluate_pages(model_path: str | Path, pages_dir: str | Path, device: str = "auto", threads: int | None = None,
                   unsure_below: float = UNSURE_BELOW, ink_model: str | Path | None = None,
                   sequence_model: str | Path | None = None, second_look: int | None = None) -> PagesReport:
    """Read every page listed in `pages_dir/truth.jsonl` and tally pages read exactly and digits right
    (with the learned ink segmenter `ink_model` when given, else the threshold mask; runs of touching digits
    with `sequence_model` when given; unsure readings looked at again with an ink map `second_look` px on the long
    side, 0 for none, None for the Reader's default)."""
    pages_dir = Path(pages_dir)
    truth_path = pages_dir / "truth.jsonl"
    if not truth_path.is_file():
        raise EdgeDigitsError(f"{truth_path}: no ground truth; make pages with `python scripts/make_pages.py --out {pages_dir}`")
    truths = [json.loads(line) for line in truth_path.read_text().splitlines() if line.strip()]
    reader = Reader(model_path, device=device, threads=threads, unsure_below=unsure_below, ink_model=ink_model,
                    sequence_model=sequence_model, second_look=second_look)
    overall, groups, failures = PageTally(), {}, []
    inputs = [Input(truth["file"], pages_dir / truth["file"]) for truth in truths]
    for truth, record in zip(truths, read_all(reader, inputs)):
        for key in page_groups(truth):
            tally = overall if key == "all" else groups.setdefault(key, PageTally())
            tally.add(truth["lines"], record.lines)
        if record.lines != truth["lines"]:
            failures.append({"file": truth["file"], "truth": truth["lines"], "read": record.lines, "error": record.error,
                             "tags": truth.get("tags", [])})
    return PagesReport(str(model_path), str(pages_dir), overall, dict(sorted(groups.items())), failures,
                       describe_reader(reader))
