"""Fuzzing with a fixed seed: random arrays through the Reader and random bytes through the decoder.

Every array is read or refused with a ValueError; every byte string is decoded or refused with an ImageError;
nothing else escapes, and no input takes long (a generous per-input guard against hangs; speed itself is
measured by benchmarks, not here).
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from conftest import write_linear_onnx
from edgedigits.runtime import Reader
from edgedigits.runtime.inputs import ImageError, decode

PER_INPUT_GUARD_S = 5.0


def random_array(rng: np.random.Generator) -> np.ndarray:
    height, width = (int(v) for v in rng.integers(1, 320, 2))
    shape = [(height, width), (height, width, 1), (height, width, 3), (height, width, 4)][rng.integers(4)]
    kind = rng.integers(6)
    if kind == 0:
        return rng.integers(0, 256, shape, dtype=np.uint8)  # noise
    if kind == 1:
        return np.full(shape, rng.integers(0, 256), np.uint8)  # flat
    if kind == 2:
        image = np.full(shape, 220, np.uint8)
        for _ in range(int(rng.integers(1, 60))):  # strokes and blobs
            x0, y0, x1, y1 = (int(v) for v in rng.integers(0, max(height, width), 4))
            cv2.line(image, (x0, y0), (x1, y1), (20, 20, 20, 255), int(rng.integers(1, 12)))
        return image
    if kind == 3:
        image = np.full(shape, 230, np.uint8)
        image[:: int(rng.integers(2, 9))] = 10  # stripes
        return image
    if kind == 4:
        return rng.integers(0, 65536, shape, dtype=np.uint16)
    return (rng.random(shape) * rng.choice([1.0, 300.0, -5.0])).astype(np.float32)


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    return Reader(write_linear_onnx(tmp_path_factory.mktemp("fuzz") / "linear.onnx"), device="cpu", threads=1)


def test_random_arrays_are_read_or_refused(reader):
    rng = np.random.default_rng(2026)
    for index in range(1500):
        image = random_array(rng)
        start = time.perf_counter()
        reading = reader.read(image)
        assert time.perf_counter() - start < PER_INPUT_GUARD_S, (index, image.shape, image.dtype)
        assert all(0 <= d.confidence <= 1 for d in reading.digits)
    for bad in ([[1, 2], [3, 4]], np.zeros((5, 0, 3), np.uint8), np.zeros((4, 4, 2), np.uint8), np.zeros(7, np.uint8)):
        with pytest.raises(ValueError):
            reader.read(bad)


def test_random_bytes_are_decoded_or_refused():
    rng = np.random.default_rng(7)
    image = np.full((64, 80, 3), 200, np.uint8)
    cv2.putText(image, "42", (5, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
    seeds = []
    for ext in (".jpg", ".png", ".bmp", ".webp", ".tiff", ".ppm", ".gif"):
        try:
            ok, encoded = cv2.imencode(ext, image)
        except cv2.error:
            continue  # a format this OpenCV cannot write
        if ok:
            seeds.append(encoded.tobytes())
    assert len(seeds) >= 5
    for index in range(400):
        data = bytearray(seeds[index % len(seeds)])
        how = index % 4
        if how == 0:
            data = data[: int(rng.integers(0, len(data)))]  # cut short
        elif how == 1:
            for _ in range(int(rng.integers(1, 20))):  # bytes flipped, headers included
                data[int(rng.integers(0, len(data)))] = int(rng.integers(256))
        elif how == 2:
            data = bytearray(rng.integers(0, 256, int(rng.integers(0, 2000)), dtype=np.uint8).tobytes())
        else:
            data += rng.integers(0, 256, int(rng.integers(1, 500)), dtype=np.uint8).tobytes()  # a trailer
        start = time.perf_counter()
        try:
            decoded = decode(bytes(data))
            assert decoded.ndim in (2, 3) and min(decoded.shape[:2]) >= 8
        except ImageError:
            pass
        except cv2.error:
            pass  # OpenCV's own refusal (e.g. its pixel limit); the batch reader makes it an error record
        assert time.perf_counter() - start < PER_INPUT_GUARD_S, index
