"""The reliability diagram: does a confidence of 0.9 mean right nine times in ten?"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from edgedigits.calibration.temperature import expected_calibration_error, reliability_bins  # noqa: E402
from edgedigits.files import atomic_path  # noqa: E402


def plot_reliability(curves: dict[str, tuple[np.ndarray, np.ndarray]], labels: np.ndarray, path: Path, title: str) -> None:
    """One panel per precision: accuracy against confidence per bin, before and after temperature scaling.

    `curves` maps a precision ("fp32", "int8") to (raw, calibrated) test probabilities.
    """
    figure, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 5), squeeze=False)
    for axis, (precision, (raw, calibrated)) in zip(axes.flat, curves.items()):
        axis.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
        for probabilities, label in ((raw, "before"), (calibrated, "after temperature")):
            counts, confidence, accuracy = reliability_bins(probabilities, labels)
            filled = counts > 0
            ece = expected_calibration_error(probabilities, labels)
            axis.plot(confidence[filled], accuracy[filled], marker="o", label=f"{label} (ECE {ece:.4f})")
        axis.set_xlabel("confidence (15 bins)")
        axis.set_ylabel("accuracy")
        axis.set_title(precision)
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left")
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    plt.close(figure)
