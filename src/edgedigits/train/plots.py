"""The plots people expect from a training run: samples, curves, confusion, mistakes.

Each function takes arrays and a path, draws one figure and writes it as PNG
atomically. matplotlib is imported here only, with the non-interactive backend.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from edgedigits.files import atomic_path  # noqa: E402

GRID_COLUMNS = 8


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    plt.close(figure)


def _digit_grid(images: np.ndarray, titles: list[str], path: Path, suptitle: str) -> None:
    rows = max(1, -(-len(images) // GRID_COLUMNS))
    figure, axes = plt.subplots(rows, GRID_COLUMNS, figsize=(GRID_COLUMNS * 1.2, rows * 1.4), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < len(images):
            axis.imshow(images[index], cmap="gray", vmin=0, vmax=255)
            axis.set_title(titles[index], fontsize=8)
    figure.suptitle(suptitle)
    _save(figure, path)


def plot_samples(images: np.ndarray, labels: np.ndarray, path: Path, count: int = 16) -> None:
    """The first `count` training digits with their labels."""
    _digit_grid(images[:count], [f"label {label}" for label in labels[:count]], path, "Training samples")


def plot_history(history: dict[str, list[float]], path: Path) -> None:
    """Loss and accuracy per epoch, training against validation."""
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
        axis.plot(epochs, history[metric], marker="o", label="training")
        if f"val_{metric}" in history:
            axis.plot(epochs, history[f"val_{metric}"], marker="o", label="validation")
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle("Learning curves")
    _save(figure, path)


def plot_confusion(confusion: np.ndarray, path: Path, title: str) -> None:
    """The 10x10 confusion matrix (rows: true digit, columns: predicted), counts in the cells."""
    figure, axis = plt.subplots(figsize=(6.5, 5.5))
    image = axis.imshow(np.log1p(confusion), cmap="Blues")
    for (row, column), count in np.ndenumerate(confusion):
        colour = "white" if count > confusion.max() / 4 else "black"
        axis.text(column, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    axis.set_xticks(range(10))
    axis.set_yticks(range(10))
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    figure.colorbar(image, ax=axis, label="log(1 + count)")
    _save(figure, path)


def plot_mistakes(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, path: Path, count: int = 32) -> None:
    """Up to `count` misclassified test digits, titled true -> predicted."""
    wrong = np.flatnonzero(labels != predicted)[:count]
    titles = [f"{labels[i]} -> {predicted[i]}" for i in wrong]
    _digit_grid(images[wrong], titles, path, f"Misclassified test digits (first {len(wrong)}, true -> predicted)")
