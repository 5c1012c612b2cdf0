"""Parity: proof that an exported model answers as the model it came from.

Two sets of probabilities for the same images agree when every argmax matches
and no probability differs by more than a stated tolerance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

MAX_ABS_DIFF = 1e-5  # largest allowed |p_reference - p_exported| over every image and class
MIN_ARGMAX_AGREEMENT = 1.0  # every image must get the same answer


@dataclass(frozen=True)
class ParityReport:
    images: int
    argmax_agreement: float  # fraction of images whose argmax matches
    disagreements: int
    max_abs_diff: float
    reference_accuracy: float
    exported_accuracy: float
    tolerance: float = MAX_ABS_DIFF

    @property
    def passed(self) -> bool:
        return self.argmax_agreement >= MIN_ARGMAX_AGREEMENT and self.max_abs_diff <= self.tolerance

    def summary(self) -> str:
        return (f"argmax agreement {self.argmax_agreement:.2%} ({self.disagreements} of {self.images} differ), "
                f"max |diff| {self.max_abs_diff:.2e} (tolerance {self.tolerance:.0e})")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def compare(reference: np.ndarray, exported: np.ndarray, labels: np.ndarray, tolerance: float = MAX_ABS_DIFF) -> ParityReport:
    """Compare two [N, 10] probability arrays for the same N labelled images."""
    if reference.shape != exported.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {exported.shape}")
    reference_argmax, exported_argmax = reference.argmax(axis=1), exported.argmax(axis=1)
    disagreements = int((reference_argmax != exported_argmax).sum())
    return ParityReport(
        images=len(labels),
        argmax_agreement=1.0 - disagreements / len(labels),
        disagreements=disagreements,
        max_abs_diff=float(np.abs(reference.astype(np.float64) - exported).max()),
        reference_accuracy=float((reference_argmax == labels).mean()),
        exported_accuracy=float((exported_argmax == labels).mean()),
        tolerance=tolerance,
    )
