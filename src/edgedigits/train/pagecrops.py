"""The runtime's own crops of generated photo pages, for the digit classifier's last epochs.

Augmentation (`edgedigits.train.augment`) imitates what a crop cut from a photo
looks like; this module takes the real thing. Pages are drawn by the realistic
field-set generator (`edgedigits.fieldset_realistic`) with digits from MNIST's
*training* set only (the same 90% the ink segmenter's pages draw from; never
MNIST's test set, the Hershey fonts, our stroke handwriting, a handwriting
font or optdigits), and read by the runtime's own segmentation with the ink
segmenter. The generator knows where it put each digit (`RealisticPage.centres`),
so each box the runtime found is labelled with the digits whose centres it holds
(`box_texts`): a box with one digit is cut and normalised exactly as
`Reader.read` cuts it (the grey-level `shaded_crop`, `normalize_digit`) and
becomes a training example for the classifier. Pencil that broke a stroke, a
grid line left on a 4, a blurred small 9, an underline glued to a 5: the
classifier sees them with their labels. A box with no digit in it (an arc of a
circle, a margin) or digits that are not neighbours gives nothing; a box with a
run of touching digits gives an example for the sequence model (`Harvest.strips`;
fine-tuning the sequence model on them did not read more pages, so nothing
trains on them today).

    examples = harvest(4000, seed=3000, digits=train_digits, ink_path=Path("models/inkseg.onnx"))
    fine_tune(model, examples.inputs, examples.digits, mnist_images, mnist_labels)   # half page crops, half MNIST

Drawn in worker processes started afresh ("spawn": the trainer has TensorFlow
loaded, which must not be forked); deterministic for a seed and worker count.
"""

from __future__ import annotations

import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PAGES = 4000  # pages drawn: about 21,000 one-digit crops, 8 minutes in two processes on the development machine
PAGE_SEED = 3000  # its own seeds: not the ink segmenter's training pages (1000) or held-out pages (2000), not the field sets'
EPOCHS = 3  # fine-tuning epochs, each all page crops and as many freshly augmented MNIST training digits
LEARNING_RATE = 3e-4  # peak of a cosine decay: a tenth of the first training's, the model is only adjusted
BATCH_SIZE = 128


@contextmanager
def ink_model_for_crops(out_dir: Path):
    """The ink segmenter the page crops are cut with: `inkseg.onnx` in `out_dir`, or, where it is missing or
    older than `inkseg.keras`, that Keras model converted into an ONNX file that lasts as long as the context."""
    from edgedigits.errors import EdgeDigitsError

    onnx_path, keras_path = out_dir / "inkseg.onnx", out_dir / "inkseg.keras"
    if onnx_path.exists() and (not keras_path.exists() or onnx_path.stat().st_mtime >= keras_path.stat().st_mtime):
        yield onnx_path
        return
    if not keras_path.exists():
        raise EdgeDigitsError(f"{out_dir}: no ink segmenter (inkseg.keras or inkseg.onnx) to cut page crops with; train it "
                              "first (edgedigits train --model inkseg), or train without page crops (--crop-pages 0)")
    import onnx

    from edgedigits.train.inkseg import keras_to_onnx

    with tempfile.TemporaryDirectory(prefix="edgedigits-inkseg-") as folder:
        path = Path(folder) / "inkseg-from-keras.onnx"
        onnx.save(keras_to_onnx(keras_path)[1], path)
        yield path


def box_texts(lines: list[str], centres: np.ndarray, segments) -> list[str | None]:
    """What each of `segments.boxes` holds: the digits whose centres (`centres`, [n, 2] in the image's pixels, in
    reading order) lie in it, read left to right, or None where that is not a clean answer: no digit (clutter,
    an arc of a circle), digits not next to each other on one line, or a digit whose centre lies in two boxes."""
    truth = [line.replace(" ", "") for line in lines]
    line_of = np.repeat(np.arange(len(truth)), [len(t) for t in truth])
    text = "".join(truth)
    inside = []
    for box in segments.boxes:
        b = segments.original_box(box)
        inside.append(np.flatnonzero((centres[:, 0] >= b.x) & (centres[:, 0] < b.x + b.w) & (centres[:, 1] >= b.y) & (centres[:, 1] < b.y + b.h)))
    count = np.bincount(np.concatenate(inside + [np.zeros(0, np.int64)]).astype(np.int64), minlength=len(text))
    texts: list[str | None] = []
    for members in inside:
        clean = (members.size > 0 and (count[members] == 1).all() and (np.diff(members) == 1).all()
                 and len(set(line_of[members])) == 1)
        texts.append("".join(text[i] for i in members) if clean else None)
    return texts


def page_examples(lines: list[str], centres: np.ndarray, segments) -> tuple[list[np.ndarray], list[int], list[np.ndarray], list[str]]:
    """The labelled examples a segmented page gives (`box_texts`): the classifier's inputs (float32 [28, 28], cut
    and normalised exactly as `Reader.read` does) and digits for boxes that hold one digit, and the sequence
    model's crops (the box's own ink, as `Reader.read_runs` hands them over) and texts for boxes that hold more."""
    from edgedigits.runtime.normalize import normalize_digit

    inputs, digits, runs, run_texts = [], [], [], []
    for box, text in zip(segments.boxes, box_texts(lines, centres, segments)):
        crop = segments.crop(box)
        if text is None or not crop.any():
            continue
        if len(text) == 1:
            inputs.append(normalize_digit(segments.shaded_crop(box, crop)))
            digits.append(int(text))
        else:
            runs.append(crop)
            run_texts.append(text)
    return inputs, digits, runs, run_texts


@dataclass
class Harvest:
    """Labelled examples from generated pages: for the digit classifier and for the sequence model."""

    inputs: np.ndarray  # float32 [n, 28, 28], model inputs of boxes that hold one digit
    digits: np.ndarray  # int64 [n]
    strips: list[np.ndarray]  # the sequence model's strips (`to_strip`) of boxes that hold touching digits
    texts: list[str]  # ... and their digits

    @staticmethod
    def join(parts: list[Harvest]) -> Harvest:
        return Harvest(np.concatenate([p.inputs for p in parts]), np.concatenate([p.digits for p in parts]),
                       [s for p in parts for s in p.strips], [t for p in parts for t in p.texts])


def draw_examples(seed: int, count: int, digits, ink_path: str) -> Harvest:
    """`count` pages from `seed`, read by the runtime's segmentation with the ink segmenter at `ink_path`."""
    from edgedigits.fieldset_realistic import LEVELS, render_realistic
    from edgedigits.runtime.inkmask import open_ink_model
    from edgedigits.runtime.segment import segment
    from edgedigits.runtime.sequence import to_strip
    from edgedigits.train.inkseg import TRAIN_SOURCES, one_rich_number

    ink_model = open_ink_model(ink_path, device="cpu", threads=1)
    rng = np.random.default_rng(seed)
    inputs, labels, strips, texts = [], [], [], []
    for index in range(count):
        page = render_realistic(rng, LEVELS[index % 3], TRAIN_SOURCES[rng.integers(len(TRAIN_SOURCES))], digits,
                                with_target=True, random_number=one_rich_number)
        segments = segment(page.image, ink=ink_model.ink_map(page.image))
        page_inputs, page_digits, runs, run_texts = page_examples(page.lines, page.centres, segments)
        inputs += page_inputs
        labels += page_digits
        strips += [to_strip(run) for run in runs]
        texts += run_texts
    return Harvest(np.array(inputs, np.float32).reshape(-1, 28, 28), np.array(labels, np.int64), strips, texts)


def harvest(count: int, seed: int, digits, ink_path: Path, workers: int | None = None) -> Harvest:
    """`draw_examples` over `count` pages in `workers` fresh processes (each with its seed from `seed`)."""
    from edgedigits.train.inkseg import worker_shares

    seeds, shares = worker_shares(count, seed, workers)
    if len(seeds) == 1:
        return draw_examples(seeds[0], count, digits, str(ink_path))
    with ProcessPoolExecutor(len(seeds), mp_context=multiprocessing.get_context("spawn")) as pool:
        return Harvest.join(list(pool.map(draw_examples, seeds, shares, [digits] * len(seeds), [str(ink_path)] * len(seeds))))


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
