"""Temperature scaling and the figures that say whether a confidence means what it says.

`fit_temperature` finds the T that minimises the negative log-likelihood of
held-out labels under softmax(log(p) / T); `expected_calibration_error` is the
usual 15-bin ECE: the gap between confidence and accuracy, weighted by how many
predictions fall in each confidence bin.
"""

from __future__ import annotations

import math

import numpy as np

from edgedigits.runtime.confidence import apply_temperature

ECE_BINS = 15
LOG_T_RANGE = (-3.0, 3.0)  # T between 0.05 and 20: far wider than any sane model needs
SEARCH_STEPS = 80  # golden-section steps: the bracket shrinks to ~1e-16 of its width


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    scaled = apply_temperature(probabilities, temperature)
    return float(-np.log(np.maximum(scaled[np.arange(len(labels)), labels], 1e-30)).mean())


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising held-out NLL (convex in 1/T, so a golden-section search finds it)."""
    low, high = LOG_T_RANGE
    ratio = (math.sqrt(5) - 1) / 2

    def loss(log_t: float) -> float:
        return negative_log_likelihood(probabilities, labels, math.exp(log_t))

    a, b = high - ratio * (high - low), low + ratio * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(SEARCH_STEPS):
        if loss_a < loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - ratio * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + ratio * (high - low)
            loss_b = loss(b)
    return math.exp((low + high) / 2)


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS):
    """Per confidence bin: (count, mean confidence, accuracy); empty bins have count 0."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(which, weights=correct, minlength=bins) / counts
    return counts, mean_confidence, accuracy


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    counts, mean_confidence, accuracy = reliability_bins(probabilities, labels, bins)
    filled = counts > 0
    return float((counts[filled] / counts.sum() * np.abs(accuracy[filled] - mean_confidence[filled])).sum())
