"""edgedigits.runtime: opening models on the right provider, refusing the wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from edgedigits import model_index
from edgedigits.errors import EdgeDigitsError
from edgedigits.runtime import open_model
from conftest import write_linear_onnx


def test_open_and_predict_on_cpu(tmp_path):
    model = open_model(write_linear_onnx(tmp_path / "linear.onnx"), device="cpu", threads=1)
    assert model.provider == "CPUExecutionProvider"
    probabilities = model.predict(np.random.default_rng(0).random((2500, 28, 28, 1), dtype=np.float32), batch_size=1000)
    assert probabilities.shape == (2500, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_auto_runs_on_what_onnxruntime_really_started(tmp_path):
    import onnxruntime as ort

    model = open_model(write_linear_onnx(tmp_path / "linear.onnx"), device="auto")
    assert model.provider in ort.get_available_providers()
    assert model.provider == model.session.get_providers()[0]


def test_cuda_fails_loudly_without_cuda(tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has a CUDA provider")
    with pytest.raises(EdgeDigitsError, match="no CUDA provider"):
        open_model(write_linear_onnx(tmp_path / "linear.onnx"), device="cuda")


def test_unknown_device(tmp_path):
    with pytest.raises(EdgeDigitsError, match="unknown device 'tpu'"):
        open_model(write_linear_onnx(tmp_path / "linear.onnx"), device="tpu")


def test_missing_file(tmp_path):
    with pytest.raises(EdgeDigitsError, match="no such model file"):
        open_model(tmp_path / "absent.onnx")


def test_a_file_that_is_not_onnx(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model")
    with pytest.raises(EdgeDigitsError, match="notes.onnx: not a loadable ONNX model"):
        open_model(path)


def test_a_model_with_another_input_shape(tmp_path):
    path = write_linear_onnx(tmp_path / "cifar.onnx", input_shape=(None, 32, 32, 3))
    with pytest.raises(EdgeDigitsError, match=r"not an edgedigits model: it takes 'image' \['N', 32, 32, 3\]"):
        open_model(path)


def test_a_model_with_another_input_name(tmp_path):
    with pytest.raises(EdgeDigitsError, match="not an edgedigits model"):
        open_model(write_linear_onnx(tmp_path / "other.onnx", input_name="input_1"))


def test_sha256_is_checked_against_the_index(tmp_path):
    path = write_linear_onnx(tmp_path / "linear.onnx", seed=0)
    model_index.add_entry(tmp_path, model_index.describe(path, name="linear"))
    open_model(path)  # matches its entry
    write_linear_onnx(path, seed=1)  # changed after it was indexed
    with pytest.raises(EdgeDigitsError, match="sha256 differs from its entry"):
        open_model(path)
