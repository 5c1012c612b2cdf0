"""The model registry: every named model, how to build it and how the seed trained it.

Each builder returns an uncompiled Keras model with the contract's outside:
input `image` [N, 28, 28, 1] float32 in [0, 1], output `probabilities` [N, 10].
Keras is imported inside the builders, so listing the names stays cheap.
Later models join by adding one `ModelSpec` to `MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgedigits.contract import INPUT_NAME, INPUT_SHAPE, NUM_CLASSES, OUTPUT_NAME
from edgedigits.errors import EdgeDigitsError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    architecture: str  # one line, stored in the ONNX metadata
    build: Callable[[], object]  # () -> keras.Model, uncompiled
    epochs: int
    batch_size: int
    learning_rate: float = 1e-3  # Adam's default, as in the seed; the peak rate when `cosine_schedule`
    validation_split: float = 0.1  # the last 10% of the training set, as Keras's fit(validation_split=...) takes it
    augment: bool = False  # distort training digits like runtime crops (edgedigits.train.augment)
    cosine_schedule: bool = False  # one epoch of warm-up, then cosine decay to 1% of the peak
    page_crops: bool = False  # then a few epochs on the runtime's own crops of generated photo pages (pagecrops.py)


def build_mlp():
    """The seed's MLP: 784-512-512-10, ReLU, dropout 0.2."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE, name=INPUT_NAME),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(NUM_CLASSES, activation="softmax", name=OUTPUT_NAME),
        ],
        name="mlp",
    )


def build_cnn():
    """The seed's CNN: conv 5x5x32, pool 2, conv 5x5x64, pool 2, dense 1024, dropout 0.4, softmax (valid padding)."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE, name=INPUT_NAME),
            layers.Conv2D(32, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(1024, activation="relu"),
            layers.Dropout(0.4),
            layers.Dense(NUM_CLASSES, activation="softmax", name=OUTPUT_NAME),
        ],
        name="cnn",
    )


def build_cnn_bn_aug():
    """A small VGG-style CNN with batch normalisation: 4 conv 3x3 (32, 32, 64, 64), dense 128. About 10 M MACs."""
    import keras
    from keras import layers

    def conv(filters):
        return [layers.Conv2D(filters, 3, use_bias=False), layers.BatchNormalization(), layers.ReLU()]

    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE, name=INPUT_NAME),
            *conv(32), *conv(32), layers.MaxPooling2D(2),
            *conv(64), *conv(64), layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.25),
            layers.Dense(128, use_bias=False), layers.BatchNormalization(), layers.ReLU(),
            layers.Dropout(0.3),
            layers.Dense(NUM_CLASSES, activation="softmax", name=OUTPUT_NAME),
        ],
        name="cnn-bn-aug",
    )


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("mlp", "MLP 784-512-512-10, ReLU, dropout 0.2 (seed)", build_mlp, epochs=10, batch_size=200),
        ModelSpec("cnn", "CNN conv5x5x32-pool-conv5x5x64-pool-dense1024-dropout0.4-dense10 (seed)", build_cnn, epochs=10, batch_size=200),
        ModelSpec("cnn-bn-aug", "CNN 4x conv3x3 (32,32,64,64) + batch norm, dense 128; trained with runtime-like augmentation, then on the runtime's crops of generated photos",
                  build_cnn_bn_aug, epochs=15, batch_size=128, learning_rate=3e-3, augment=True, cosine_schedule=True,
                  page_crops=True),
    )
}


# Models of another kind, with their own contract and stages (edgedigits.train.inkseg).
OTHER_MODELS = ("inkseg", "seqread")


def resolve_names(name: str) -> list[str]:
    """`all` means every model, in the order they can be trained: the digit classifiers, the ink segmenter before
    those that learn from its crops, the sequence model; anything else must be a
    registered name."""
    if name == "all":  # the ink segmenter before the classifiers that learn from its crops
        ink, *others = OTHER_MODELS
        return [n for n in MODELS if not MODELS[n].page_crops] + [ink] + [n for n in MODELS if MODELS[n].page_crops] + others
    if name not in MODELS and name not in OTHER_MODELS:
        raise EdgeDigitsError(f"unknown model '{name}'; known models: {', '.join([*MODELS, *OTHER_MODELS])} (or 'all')")
    return [name]
