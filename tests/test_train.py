"""edgedigits.train: the registry's models keep the contract and the seed's architecture."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgedigits.errors import EdgeDigitsError
from edgedigits.train.models import MODELS, resolve_names

# Parameter counts of the seed's architectures, worked out by hand:
# MLP 784*512+512 + 512*512+512 + 512*10+10; CNN (5*5*1*32+32) + (5*5*32*64+64) + (4*4*64*1024+1024) + (1024*10+10).
SEED_PARAMETERS = {"mlp": 669_706, "cnn": 1_111_946}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_keeps_the_contract(name):
    model = MODELS[name].build()
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    probabilities = np.asarray(model(np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", list(SEED_PARAMETERS))
def test_seed_models_are_the_seed_architectures(name):
    assert MODELS[name].build().count_params() == SEED_PARAMETERS[name]
    assert (MODELS[name].epochs, MODELS[name].batch_size, MODELS[name].validation_split) == (10, 200, 0.1)


def test_resolve_names():
    # the ink segmenter is trained before cnn-bn-aug, which learns from the crops it cuts
    assert resolve_names("all") == ["mlp", "cnn", "inkseg", "cnn-bn-aug", "seqread"]
    assert resolve_names("inkseg") == ["inkseg"]
    assert resolve_names("cnn") == ["cnn"]
    with pytest.raises(EdgeDigitsError, match="unknown model 'resnet'; known models: mlp, cnn, cnn-bn-aug"):
        resolve_names("resnet")


@pytest.mark.slow
def test_training_writes_every_artifact_and_learns(tiny_models):
    models, output, _ = tiny_models
    assert "mlp epoch 2/2" in output  # progress per epoch
    metrics = json.loads((models / "mlp" / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.95  # two epochs: far above chance (10%)
    assert (metrics["train_images"], metrics["validation_images"]) == (54000, 6000) and metrics["config"]["epochs"] == 2
    history = json.loads((models / "mlp" / "history.json").read_text())
    assert set(history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    for plot in ("samples", "curves", "confusion", "mistakes"):
        assert (models / "mlp" / f"{plot}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (models / "mlp.keras").stat().st_size > 0


@pytest.mark.slow
def test_training_is_deterministic_given_a_seed(tmp_path):
    from edgedigits.train.fit import TrainConfig, train_model

    config = TrainConfig(epochs=1, subset=1000, seed=7)
    first = train_model("mlp", config, tmp_path / "a")
    second = train_model("mlp", config, tmp_path / "b")
    assert first.test_loss == second.test_loss
    history = [json.loads((tmp_path / run / "mlp" / "history.json").read_text()) for run in ("a", "b")]
    assert history[0] == history[1]


def test_augmentation_keeps_digits_normalised(mnist):
    from edgedigits.train.augment import AugmentConfig, Augmenter

    (x_train, _), _ = mnist
    batch = Augmenter(seed=3).batch(x_train[:64])
    assert batch.shape == (64, 28, 28, 1) and batch.dtype == np.float32
    assert batch.min() >= 0 and batch.max() <= 1
    centres = [np.average(np.arange(28), weights=image[:, :, 0].sum(axis=0)) for image in batch]
    assert np.abs(np.array(centres) - 14).max() <= 3  # off-centre by at most the configured shift, plus rounding
    assert not np.allclose(batch[:, :, :, 0], x_train[:64] / 255)  # it did distort
    np.testing.assert_array_equal(batch, Augmenter(seed=3).batch(x_train[:64]))  # the same seed, the same batch
    unchanged = Augmenter(AugmentConfig(keep_probability=1.0)).batch(x_train[:8])
    np.testing.assert_array_equal(unchanged[:, :, :, 0], x_train[:8] / np.float32(255))


def test_a_one_gets_a_flag_and_a_seven_a_crossbar():
    from edgedigits.train.augment import AugmentConfig, add_strokes

    one = np.zeros((56, 56), np.uint8)
    one[8:48, 27:31] = 255  # a plain stem
    flagged = one.copy()
    add_strokes(flagged, 1, np.random.default_rng(0), AugmentConfig(flag_probability=1.0, foot_probability=0.0))
    new_ink = (flagged > 127) & (one == 0)
    assert new_ink[:, :27].any() and not new_ink[:, 31:].any()  # the flag goes left of the stem ...
    assert np.flatnonzero(new_ink.any(axis=1)).max() < 8 + 0.55 * 40  # ... from its top, not lower than the flag reaches
    plain = one.copy()
    add_strokes(plain, 1, np.random.default_rng(0), AugmentConfig(flag_probability=0.0, foot_probability=0.0))
    np.testing.assert_array_equal(plain, one)
    seven = np.zeros((56, 56), np.uint8)
    seven[8:12, 14:42] = 255
    cv2.line(seven, (40, 10), (24, 48), 255, 4)
    crossed = seven.copy()
    add_strokes(crossed, 7, np.random.default_rng(0), AugmentConfig(crossbar_probability=1.0))
    rows = np.flatnonzero(((crossed > 127) & (seven == 0)).any(axis=1))
    assert rows.size and 8 + 0.4 * 40 <= rows.min() and rows.max() <= 8 + 0.7 * 40  # across the stem, about half-way down


@pytest.mark.slow
def test_page_crops_need_an_ink_segmenter(tmp_path):
    from edgedigits.train.fit import TrainConfig, train_model

    with pytest.raises(EdgeDigitsError, match="no ink segmenter .* train it first .*--crop-pages 0"):
        train_model("cnn-bn-aug", TrainConfig(epochs=1, subset=500), tmp_path)
    assert not (tmp_path / "cnn-bn-aug.keras").exists()  # nothing half-made is left behind
    result = train_model("cnn-bn-aug", TrainConfig(epochs=1, subset=500, crop_pages=0), tmp_path)
    assert result.model_path.exists()
    assert json.loads((tmp_path / "cnn-bn-aug" / "metrics.json").read_text())["page_crops"] is None
