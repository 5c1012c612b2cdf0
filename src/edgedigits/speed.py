"""Timing onnxruntime models the same way everywhere: warm-up runs, many repetitions, medians.

Numbers from these functions are measurements for reports and the index, never
assertions: the machines they run on are shared and noisy.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from edgedigits.contract import INPUT_SHAPE
from edgedigits.runtime import Model


@dataclass(frozen=True)
class Speed:
    threads: int
    latency_median_us: float  # batch of 1
    latency_p99_us: float
    throughput_batch: int
    throughput_images_per_s: float  # median over repetitions

    def as_dict(self) -> dict:
        return asdict(self)


def time_calls(call, repeats: int, warmup: int) -> np.ndarray:
    """Seconds taken by each of `repeats` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    seconds = np.empty(repeats)
    for index in range(repeats):
        start = time.perf_counter()
        call()
        seconds[index] = time.perf_counter() - start
    return seconds


def measure(model: Model, threads: int, repeats: int = 300, batch: int = 256, batch_repeats: int = 20, seed: int = 0) -> Speed:
    """Batch-1 latency (median, p99) and batched throughput of an open model."""
    rng = np.random.default_rng(seed)
    one = rng.random((1, *INPUT_SHAPE), dtype=np.float32)
    many = rng.random((batch, *INPUT_SHAPE), dtype=np.float32)
    single = time_calls(lambda: model.predict(one), repeats, warmup=max(10, repeats // 10))
    batched = time_calls(lambda: model.predict(many, batch_size=batch), batch_repeats, warmup=3)
    return Speed(
        threads=threads,
        latency_median_us=round(float(np.median(single)) * 1e6, 1),
        latency_p99_us=round(float(np.percentile(single, 99)) * 1e6, 1),
        throughput_batch=batch,
        throughput_images_per_s=round(batch / float(np.median(batched)), 1),
    )
