"""edgedigits.export: parity is a test that fails when the exported model drifts."""

from __future__ import annotations

import numpy as np
import pytest

from edgedigits import model_index
from edgedigits.export.parity import MAX_ABS_DIFF, compare
from edgedigits.files import sha256_file


def softmax_rows(seed=0, n=50):
    logits = np.random.default_rng(seed).normal(size=(n, 10)).astype(np.float32)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_identical_probabilities_pass():
    probabilities = softmax_rows()
    report = compare(probabilities, probabilities.copy(), probabilities.argmax(axis=1))
    assert report.passed and report.max_abs_diff == 0 and report.argmax_agreement == 1.0


def test_a_difference_over_the_tolerance_fails():
    reference = softmax_rows()
    exported = reference.copy()
    exported[3, 0] += 2 * MAX_ABS_DIFF
    report = compare(reference, exported, reference.argmax(axis=1))
    assert report.argmax_agreement == 1.0
    assert not report.passed
    assert report.max_abs_diff == pytest.approx(2 * MAX_ABS_DIFF, rel=1e-3)


def test_one_flipped_answer_fails():
    reference = softmax_rows()
    exported = reference.copy()
    exported[7] = np.roll(exported[7], 1)
    report = compare(reference, exported, reference.argmax(axis=1))
    assert not report.passed and report.disagreements == 1
    assert "1 of 50 differ" in report.summary()


@pytest.mark.slow
def test_exported_model_carries_its_description_and_index_entry(tiny_models):
    import onnx

    models, _, output = tiny_models
    path = models / "mlp.onnx"
    assert "parity argmax agreement 100.00% (0 of 10000 differ)" in output
    metadata = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert metadata["name"] == "mlp" and metadata["precision"] == "fp32" and metadata["opset"] == "17"
    assert float(metadata["parity_argmax_agreement"]) == 1.0
    assert float(metadata["parity_max_abs_diff"]) <= MAX_ABS_DIFF
    for key in ("architecture", "preprocessing", "test_accuracy", "calibration_method", "temperature",
                "tensorflow_version", "tf2onnx_version", "onnxruntime_version"):
        assert metadata[key], key
    entry = model_index.entry_for(path)
    assert entry["sha256"] == sha256_file(path) and entry["size_bytes"] == path.stat().st_size
    assert entry["parity"]["images"] == 10000 and entry["test_accuracy"] == float(metadata["test_accuracy"])


def tamper(proto):
    """Nudge the largest weight tensor by a little: the model still runs, but answers differently."""
    from onnx import numpy_helper

    initializer = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))
    weights = numpy_helper.to_array(initializer).copy()
    weights += np.float32(0.05) * np.sign(weights)
    initializer.CopyFrom(numpy_helper.from_array(weights, initializer.name))
    return proto


@pytest.mark.slow
def test_parity_detects_a_tampered_onnx_file(tiny_models, mnist, tmp_path):
    import keras
    import onnx

    from edgedigits.export.onnx_export import onnx_parity

    models, _, _ = tiny_models
    tampered = tmp_path / "mlp.onnx"
    onnx.save(tamper(onnx.load(models / "mlp.onnx")), tampered)
    _, (x_test, y_test) = mnist
    report = onnx_parity(keras.models.load_model(models / "mlp.keras"), tampered, x_test, y_test)
    assert not report.passed
    assert report.max_abs_diff > MAX_ABS_DIFF


@pytest.mark.slow
def test_failed_parity_leaves_no_onnx_behind(tiny_models, tmp_path, monkeypatch):
    import shutil

    from edgedigits.export import onnx_export

    models, _, _ = tiny_models
    shutil.copy(models / "mlp.keras", tmp_path / "mlp.keras")
    exported = onnx_export.export_model("mlp", tmp_path)  # a good export first: it must not survive a bad one
    assert exported.onnx_path.exists() and model_index.entry_for(exported.onnx_path)

    real_to_onnx = onnx_export.to_onnx
    monkeypatch.setattr(onnx_export, "to_onnx", lambda model, opset: tamper(real_to_onnx(model, opset)))
    with pytest.raises(onnx_export.ParityError, match=r"does not answer as the Keras model does: argmax agreement .*max \|diff\|"):
        onnx_export.export_model("mlp", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.json", "mlp.keras"]
    assert model_index.read_entries(tmp_path) == []
