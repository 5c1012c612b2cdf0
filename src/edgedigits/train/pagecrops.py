"""The runtime's own crops of generated photo pages, for the digit classifier's last epochs.

Augmentation (`edgedigits.train.augment`) imitates what a crop cut from a photo
looks like; this module takes the real thing. Pages are drawn by the realistic
field-set generator (`edgedigits.fieldset_realistic`) with digits from MNIST's
*training* set only (the same 90% the ink segmenter's pages draw from; never
MNIST's test set, the Hershey fonts, our stroke handwriting, a handwriting
font or optdigits), and read by the runtime's own segmentation with the ink
segmenter: every box of a line whose boxes are as many as the line's digits is
that digit, cut and normalised exactly as `Reader.read` cuts it (the grey-level
`shaded_crop`, `normalize_digit`). Pencil that broke a stroke, a grid line left
on a 4, a blurred small 9: the classifier sees them with their labels. Lines
whose segmentation went wrong (a touching pair in one box, a circle's arc as a
digit) give nothing: their boxes are not single digits, or not in order.

    x, y, stats = harvest_crops(4000, seed=3000, digits=train_digits, ink_path=Path("models/inkseg.onnx"))
    fine_tune(model, x, y, mnist_images, mnist_labels)   # a few epochs, half page crops, half augmented MNIST

Drawn in worker processes started afresh ("spawn": the trainer has TensorFlow
loaded, which must not be forked); deterministic for a seed and worker count.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

PAGES = 4000  # pages drawn (about 16,000 crops: 70% of pages line up; 8 minutes in two processes here)
PAGE_SEED = 3000  # its own seeds: not the ink segmenter's training pages (1000) or held-out pages (2000), not the field sets'
EPOCHS = 3  # fine-tuning epochs, each all page crops and as many freshly augmented MNIST training digits
LEARNING_RATE = 3e-4  # peak of a cosine decay: a tenth of the first training's, the model is only adjusted
BATCH_SIZE = 128


def aligned_crops(lines: list[str], segments) -> tuple[list[np.ndarray], list[int]]:
    """The model inputs (float32 [28, 28]) and digits of every box on a line that lines up with the truth.

    `lines`: the page's text, top to bottom (numbers on a line separated by spaces); `segments`: what
    `segment()` found. A page whose segmentation found another number of lines gives nothing (which line is
    which is not known); a line with as many boxes as digits gives each box in order, any other line nothing."""
    from edgedigits.runtime.normalize import normalize_digit

    found: dict[int, list] = {}
    for box in segments.boxes:
        found.setdefault(box.line, []).append(box)
    truth = [line.replace(" ", "") for line in lines]
    if len(found) != len(truth):
        return [], []
    inputs, digits = [], []
    for boxes, text in zip((found[number] for number in sorted(found)), truth):
        if len(boxes) != len(text):
            continue
        for box, character in zip(boxes, text):
            crop = segments.crop(box)
            if crop.any():
                inputs.append(normalize_digit(segments.shaded_crop(box, crop)))
                digits.append(int(character))
    return inputs, digits


def draw_crops(seed: int, count: int, digits, ink_path: str) -> tuple[np.ndarray, np.ndarray, int]:
    """`count` pages from `seed`, read with the ink segmenter at `ink_path`: (inputs [n, 28, 28], digits [n],
    pages that gave crops)."""
    from edgedigits.fieldset_realistic import LEVELS, render_realistic
    from edgedigits.runtime.inkmask import open_ink_model
    from edgedigits.runtime.segment import segment
    from edgedigits.train.inkseg import TRAIN_SOURCES, one_rich_number

    ink_model = open_ink_model(ink_path, device="cpu", threads=1)
    rng = np.random.default_rng(seed)
    inputs, labels, used = [], [], 0
    for index in range(count):
        page = render_realistic(rng, LEVELS[index % 3], TRAIN_SOURCES[rng.integers(len(TRAIN_SOURCES))], digits,
                                random_number=one_rich_number)
        page_inputs, page_digits = aligned_crops(page.lines, segment(page.image, ink=ink_model.ink_map(page.image)))
        inputs += page_inputs
        labels += page_digits
        used += bool(page_digits)
    return np.array(inputs, np.float32).reshape(-1, 28, 28), np.array(labels, np.int64), used


def harvest_crops(count: int, seed: int, digits, ink_path: Path, workers: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """`draw_crops` over `count` pages in `workers` fresh processes (each with its seed from `seed`)."""
    workers = max(1, min(workers or os.cpu_count() or 1, count))
    shares = [count // workers + (i < count % workers) for i in range(workers)]
    seeds = [seed * 1000 + i for i in range(workers)]
    if workers == 1:
        return draw_crops(seeds[0], count, digits, str(ink_path))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(draw_crops, seeds, shares, [digits] * workers, [str(ink_path)] * workers))
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), sum(p[2] for p in parts))


def fine_tune(model, crops: np.ndarray, crop_labels: np.ndarray, images: np.ndarray, labels: np.ndarray,
              epochs: int = EPOCHS, seed: int = 0) -> dict[str, list[float]]:
    """Train the compiled-or-not Keras `model` on for `epochs`: each epoch all the page crops, and as many MNIST
    training digits (`images`, `labels`) distorted afresh by the usual augmentation, shuffled together."""
    import keras

    from edgedigits.train.augment import Augmenter

    augmenter, rng = Augmenter(seed=seed + 1), np.random.default_rng(seed)
    steps = -(-2 * len(crops) // BATCH_SIZE)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps * epochs, alpha=0.05)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    for _ in range(epochs):
        chosen = rng.choice(len(images), min(len(crops), len(images)), replace=False)
        x = np.concatenate([crops.reshape(-1, 28, 28, 1), augmenter.batch(images[chosen], labels[chosen])])
        y = np.concatenate([crop_labels, labels[chosen]])
        order = rng.permutation(len(x))
        result = model.fit(x[order], y[order], batch_size=BATCH_SIZE, epochs=1, verbose=0)
        for key in history:
            history[key] += [float(v) for v in result.history[key]]
    return history
