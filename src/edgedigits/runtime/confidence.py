"""Calibrated confidence: temperature scaling applied to a model's softmax output.

A model gives probabilities p = softmax(z). Scaling its logits by a temperature T
gives softmax(z / T) = softmax(log(p) / T): the runtime needs only p and T, and
T = 1 leaves p unchanged. T is fitted by `edgedigits calibrate` and stored in the
model's metadata under `temperature`.
"""

from __future__ import annotations

import numpy as np

SMALLEST_PROBABILITY = 1e-30  # float32 softmax can underflow to 0; log(0) would poison the sum


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T) row by row, for probabilities [N, 10]."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if temperature == 1.0:
        return probabilities
    logits = np.log(np.maximum(probabilities.astype(np.float64), SMALLEST_PROBABILITY)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)
