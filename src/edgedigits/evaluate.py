"""Scoring an exported `.onnx` model on the MNIST test set with onnxruntime alone.

No TensorFlow here: `edgedigits eval` runs where the runtime runs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgedigits.contract import NUM_CLASSES, to_model_input
from edgedigits.data import load_mnist
from edgedigits.files import write_json_atomic
from edgedigits.runtime import open_model


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
