"""edgedigits.calibration: the INT8 gate holds or fails for real, and temperatures mean what they say."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from edgedigits import model_index
from edgedigits.calibration.temperature import expected_calibration_error, fit_temperature
from edgedigits.cli import app
from edgedigits.files import sha256_file
from edgedigits.runtime import open_model
from edgedigits.runtime.confidence import apply_temperature


def softmax(logits):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


# --- Temperature and ECE on synthetic data -------------------------------------------------


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(scale=3.0, size=(20000, 10))
    labels = np.array([rng.choice(10, p=row) for row in softmax(true_logits)])
    overconfident = softmax(true_logits * 2.5).astype(np.float32)  # a model whose logits are 2.5x too large
    assert fit_temperature(overconfident, labels) == pytest.approx(2.5, rel=0.05)
    assert fit_temperature(softmax(true_logits).astype(np.float32), labels) == pytest.approx(1.0, rel=0.05)


def test_temperature_keeps_the_answer_and_softens_confidence():
    probabilities = softmax(np.random.default_rng(1).normal(scale=4, size=(100, 10))).astype(np.float32)
    softened = apply_temperature(probabilities, 2.0)
    np.testing.assert_array_equal(softened.argmax(axis=1), probabilities.argmax(axis=1))
    np.testing.assert_allclose(softened.sum(axis=1), 1.0, rtol=1e-5)
    assert (softened.max(axis=1) <= probabilities.max(axis=1) + 1e-6).all()
    assert apply_temperature(probabilities, 1.0) is probabilities
    with pytest.raises(ValueError, match="positive"):
        apply_temperature(probabilities, 0.0)


def test_ece_of_an_overconfident_and_of_a_calibrated_model():
    labels = np.zeros(1000, dtype=int)
    always_sure = np.zeros((1000, 10), np.float32)
    always_sure[:800, 0] = 1.0  # says "0" with confidence 1, right 80% of the time
    always_sure[800:, 1] = 1.0
    assert expected_calibration_error(always_sure, labels) == pytest.approx(0.2)
    half = np.full((1000, 10), 0.5 / 9, np.float32)
    half[:, 0] = 0.5
    labels_half = np.where(np.arange(1000) < 500, 0, 1)  # confidence 0.5, right half the time
    assert expected_calibration_error(half, labels_half) == pytest.approx(0.0, abs=1e-6)


def test_stratified_sample_is_balanced_and_unique():
    from edgedigits.calibration.quantize import stratified_sample

    labels = np.random.default_rng(0).integers(0, 10, 5000)
    indices = stratified_sample(labels, 300, seed=3)
    assert len(set(indices.tolist())) == 300
    assert np.bincount(labels[indices], minlength=10).tolist() == [30] * 10


# --- INT8 on a tiny real model ----------------------------------------------------------------


@pytest.fixture
def exported_mlp(tiny_models, tmp_path):
    """A private copy of the tiny exported MLP and its index."""
    models, _, _ = tiny_models
    for name in ("mlp.onnx", "index.json"):
        shutil.copy(models / name, tmp_path / name)
    return tmp_path


@pytest.mark.slow
def test_tiny_model_is_quantized_behind_the_gate(exported_mlp):
    from edgedigits.calibration.quantize import calibrate_model

    calibrate_model("mlp", exported_mlp, method="percentile", samples=100, timing_repeats=5)
    result = calibrate_model("mlp", exported_mlp, method="minmax", samples=200, timing_repeats=20)  # again: replaces it
    int8 = open_model(result.int8_path, device="cpu")  # passes the sha256 check against the index
    assert int8.metadata["precision"] == "int8" and int8.metadata["calibration_method"] == "minmax"
    assert float(int8.metadata["temperature"]) == pytest.approx(result.int8.temperature, abs=1e-4)
    assert result.gate_reports[0].passed and result.gate_reports[0].agreement >= 0.998
    assert result.int8.size_bytes < result.fp32.size_bytes / 3
    entries = {entry["file"]: entry for entry in model_index.read_entries(exported_mlp)}
    assert entries["mlp.int8.onnx"]["gate"]["passed"] and entries["mlp.int8.onnx"]["sha256"] == sha256_file(result.int8_path)
    assert entries["mlp.onnx"]["sha256"] == sha256_file(exported_mlp / "mlp.onnx")  # its temperature was written in
    assert [entries[f]["faster_here"] for f in ("mlp.onnx", "mlp.int8.onnx")].count(True) == 1
    assert (exported_mlp / "mlp" / "reliability.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_broken_calibration_fails_the_gate_and_writes_nothing(exported_mlp, monkeypatch):
    from edgedigits.calibration import quantize

    (exported_mlp / "mlp.int8.onnx").write_bytes(b"an older int8 model")
    real_reader = quantize.ImageReader
    monkeypatch.setattr(quantize, "ImageReader", lambda images: real_reader(np.zeros_like(images)))  # blank pages only
    with pytest.raises(quantize.GateError, match=r"no INT8 model passed the gate.*minmax: int8 .* -> FAIL"):
        quantize.calibrate_model("mlp", exported_mlp, method="minmax", samples=100, timing_repeats=5)
    assert not (exported_mlp / "mlp.int8.onnx").exists()
    assert [entry["file"] for entry in model_index.read_entries(exported_mlp)] == ["mlp.onnx"]


@pytest.mark.slow
def test_calibration_reads_training_images_only(exported_mlp, mnist, monkeypatch):
    from edgedigits.calibration import quantize

    seen = []
    real_reader = quantize.ImageReader

    def spying_reader(images):
        seen.extend(images)
        return real_reader(images)

    monkeypatch.setattr(quantize, "ImageReader", spying_reader)
    quantize.calibrate_model("mlp", exported_mlp, method="minmax", samples=200, timing_repeats=5)

    def digests(images):
        return {hashlib.sha256(image.tobytes()).digest() for image in images}

    (x_train, _), (x_test, _) = mnist
    cut = int(len(x_train) * 0.9)
    used = digests(seen)
    assert len(seen) == 200
    assert used <= digests(x_train[:cut])  # from the part the model was trained on
    assert used.isdisjoint(digests(x_test)) and used.isdisjoint(digests(x_train[cut:]))


# --- The command ----------------------------------------------------------------------------------


def test_calibrate_before_export_is_a_clear_error(tmp_path):
    result = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["calibrate", "--model", "cnn", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {tmp_path / 'cnn.onnx'}: no such file; export the model first (edgedigits export --model cnn)"


def test_unknown_calibration_method(tmp_path):
    result = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["calibrate", "--model", "mlp", "--method", "magic", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "unknown calibration method 'magic'; use auto, minmax, entropy, percentile" in result.output
