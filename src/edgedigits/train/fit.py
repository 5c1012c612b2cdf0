"""Training one registered model on MNIST, the seed's way, and writing what it made.

Writes, for model NAME in the output folder:
    NAME.keras                      the trained model
    NAME/history.json               loss and accuracy per epoch
    NAME/metrics.json               test accuracy and loss, training time, machine, versions
    NAME/samples.png, curves.png, confusion.png, mistakes.png

Usage:
    from edgedigits.train.fit import TrainConfig, train_model
    result = train_model("cnn", TrainConfig(epochs=2), Path("models"))
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not the user's business

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from edgedigits.contract import to_model_input  # noqa: E402
from edgedigits.data import load_mnist  # noqa: E402
from edgedigits.evaluate import confusion_matrix  # noqa: E402
from edgedigits.files import atomic_path, write_json_atomic  # noqa: E402
from edgedigits.train import plots  # noqa: E402
from edgedigits.train.augment import Augmenter  # noqa: E402
from edgedigits.train.models import MODELS  # noqa: E402


@dataclass
class TrainConfig:
    epochs: int | None = None  # None: the model's own default (the seed's 10)
    batch_size: int | None = None  # None: the model's own default (the seed's 200)
    seed: int = 0  # weights, dropout and shuffling all follow it: same seed, same model
    subset: int | None = None  # train on the first N training images only (quick smoke runs)
    data: str | None = None  # a user copy of MNIST; None: the usual sources
    crop_pages: int | None = None  # models that learn from the runtime's crops (pagecrops.py): pages; None: its default, 0: none


@dataclass
class TrainResult:
    name: str
    model_path: Path
    test_accuracy: float
    test_loss: float
    train_seconds: float


class AugmentedBatches(keras.utils.PyDataset):
    """Training batches distorted afresh every epoch (edgedigits.train.augment), in a worker thread."""

    def __init__(self, images, labels, batch_size: int, seed: int):
        super().__init__(workers=1, use_multiprocessing=False, max_queue_size=16)
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.rng = np.random.default_rng(seed)
        self.augmenter = Augmenter(seed=seed)
        self.order = self.rng.permutation(len(images))

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def __getitem__(self, index: int):
        chosen = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.augmenter.batch(self.images[chosen], self.labels[chosen]), self.labels[chosen]

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.images))


def learning_rate(spec, epochs: int, steps_per_epoch: int):
    """The seed's constant rate, or one epoch of linear warm-up then cosine decay to 1% of the peak."""
    if not spec.cosine_schedule:
        return spec.learning_rate
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=spec.learning_rate / 20, warmup_target=spec.learning_rate, warmup_steps=steps_per_epoch,
        decay_steps=max(1, (epochs - 1) * steps_per_epoch), alpha=0.01)


class EpochLine(keras.callbacks.Callback):
    """One line per epoch, readable in a terminal and in a CI log alike."""

    def __init__(self, name: str, epochs: int):
        super().__init__()
        self.name, self.epochs = name, epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        figures = "  ".join(f"{key} {value:.4f}" for key, value in logs.items() if key != "learning_rate")
        print(f"{self.name} epoch {epoch + 1}/{self.epochs}  {figures}  ({time.perf_counter() - self.started:.1f}s)", flush=True)


def machine_description() -> dict[str, object]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def train_model(name: str, config: TrainConfig, out_dir: Path) -> TrainResult:
    """Train the registered model `name` and write its model, history, metrics and plots under `out_dir`."""
    spec = MODELS[name]
    epochs = config.epochs or spec.epochs
    batch_size = config.batch_size or spec.batch_size
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch size must be positive, got {epochs} and {batch_size}")

    # --- Data: the test set is only ever scored, never trained or tuned on.
    (x_train, y_train), (x_test, y_test) = load_mnist(config.data)
    if config.subset:
        x_train, y_train = x_train[: config.subset], y_train[: config.subset]

    # --- Model: deterministic given the seed.
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    model = spec.build()
    cut = len(x_train) - round(len(x_train) * spec.validation_split)  # Keras's validation_split: the last part
    steps_per_epoch = -(-cut // batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate(spec, epochs, steps_per_epoch)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    # --- Training.
    print(f"{name}: training on {len(x_train)} images ({spec.validation_split:.0%} held out for validation), "
          f"{epochs} epochs, batch {batch_size}{', augmented' if spec.augment else ''}", flush=True)
    start = time.perf_counter()
    if spec.augment:
        training = AugmentedBatches(x_train[:cut], y_train[:cut], batch_size, config.seed)
        fit_arguments = {"x": training, "validation_data": (to_model_input(x_train[cut:]), y_train[cut:])}
    else:
        fit_arguments = {"x": to_model_input(x_train), "y": y_train, "batch_size": batch_size,
                         "validation_split": spec.validation_split}
    history = model.fit(**fit_arguments, epochs=epochs, verbose=0, callbacks=[EpochLine(name, epochs)])
    page_report = None
    if spec.page_crops and config.crop_pages != 0:
        page_report = tune_on_pages(name, model, config, out_dir, x_train[:cut], y_train[:cut])
    train_seconds = time.perf_counter() - start

    # --- Evaluation on the test set.
    probabilities = model.predict(to_model_input(x_test), batch_size=1000, verbose=0)
    predicted = probabilities.argmax(axis=1)
    test_loss = float(keras.losses.sparse_categorical_crossentropy(y_test, probabilities).numpy().mean())
    test_accuracy = float((predicted == y_test).mean())
    confusion = confusion_matrix(y_test, predicted)
    print(f"{name}: test accuracy {test_accuracy:.2%}, loss {test_loss:.4f}, trained in {train_seconds:.0f}s", flush=True)

    # --- Artifacts, each written whole or not at all.
    model_path = out_dir / f"{name}.keras"
    with atomic_path(model_path) as temporary:
        model.save(temporary)
    report_dir = out_dir / name
    history_lists = {key: [float(value) for value in values] for key, values in history.history.items()}
    write_json_atomic(report_dir / "history.json", history_lists)
    write_json_atomic(report_dir / "metrics.json", {
        "model": name,
        "architecture": spec.architecture,
        "parameters": int(model.count_params()),
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "test_errors": int((predicted != y_test).sum()),
        "train_seconds": round(train_seconds, 1),
        "train_images": cut,
        "validation_images": len(x_train) - cut,
        "config": {**asdict(config), "epochs": epochs, "batch_size": batch_size},
        "page_crops": page_report,
        "confusion": confusion.tolist(),
        "machine": machine_description(),
    })
    plots.plot_samples(x_train, y_train, report_dir / "samples.png")
    plots.plot_history(history_lists, report_dir / "curves.png")
    plots.plot_confusion(confusion, report_dir / "confusion.png", f"{name}: test accuracy {test_accuracy:.2%}")
    plots.plot_mistakes(x_test, y_test, predicted, report_dir / "mistakes.png")
    return TrainResult(name, model_path, test_accuracy, test_loss, train_seconds)


def tune_on_pages(name: str, model, config: TrainConfig, out_dir: Path, images: np.ndarray, labels: np.ndarray) -> dict:
    """The last epochs on the runtime's own crops of generated photo pages (`edgedigits.train.pagecrops`)."""
    from edgedigits.train import pagecrops
    from edgedigits.train.inkseg import split_digits

    pages = pagecrops.PAGES if config.crop_pages is None else config.crop_pages
    if config.subset:  # a smoke run: a page per hundred training images
        pages = min(pages, max(4, config.subset // 100))
    began = time.perf_counter()
    with pagecrops.ink_model_for_crops(out_dir) as ink_path:
        examples = pagecrops.harvest(pages, pagecrops.PAGE_SEED + config.seed, split_digits(config.data)[0], ink_path)
    drawn = time.perf_counter() - began
    print(f"{name}: {len(examples.digits)} single-digit crops from {pages} generated photo pages, cut by the runtime with "
          f"{ink_path.name} ({drawn:.0f}s)", flush=True)
    if not len(examples.digits):
        return {"pages": pages, "crops": 0}
    history = pagecrops.fine_tune(model, examples.inputs, examples.digits, images, labels, seed=config.seed)
    print(f"{name}: {pagecrops.EPOCHS} epochs on page crops and augmented MNIST, training accuracy "
          f"{history['accuracy'][-1]:.2%} ({time.perf_counter() - began - drawn:.0f}s)", flush=True)
    return {"pages": pages, "crops": len(examples.digits), "draw_seconds": round(drawn, 1), "epochs": pagecrops.EPOCHS,
            "history": history}
