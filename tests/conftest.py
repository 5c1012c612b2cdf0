"""Shared fixtures and test pages: real MNIST, tiny real ONNX graphs, one tiny model trained and exported once."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgedigits.contract import INPUT_NAME, OUTPUT_NAME


@pytest.fixture(scope="session")
def mnist():
    """The real, verified MNIST (from the cache, or fetched once into it)."""
    from edgedigits.data import load_mnist

    return load_mnist()


def write_linear_onnx(path: Path, input_shape=(None, 28, 28, 1), input_name=INPUT_NAME, seed=0, input_type=None) -> Path:
    """A small real ONNX classifier built without TensorFlow: flatten -> matmul -> softmax (an int first axis of
    `input_shape` fixes the batch; another `input_type`, e.g. TensorProto.DOUBLE, is cast to float inside)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    features = int(np.prod(input_shape[1:]))
    weights = np.random.default_rng(seed).normal(size=(features, 10)).astype(np.float32)
    cast = [helper.make_node("Cast", [input_name], ["as_float"], to=TensorProto.FLOAT)] if input_type else []
    graph = helper.make_graph(
        [
            *cast,
            helper.make_node("Flatten", ["as_float" if input_type else input_name], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "weights"], ["logits"]),
            helper.make_node("Softmax", ["logits"], [OUTPUT_NAME], axis=1),
        ],
        "linear",
        [helper.make_tensor_value_info(input_name, input_type or TensorProto.FLOAT,
                                       [input_shape[0] if input_shape[0] is not None else "N", *input_shape[1:]])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", 10])],
        initializer=[numpy_helper.from_array(weights, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """A small MLP trained for seconds (the seed's MLP, 2 epochs instead of 10) and exported through the command line, once per session.

    Returns the models folder and the outputs of the two commands.
    """
    from typer.testing import CliRunner

    from edgedigits.cli import app

    models = tmp_path_factory.mktemp("models")
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--model", "mlp", "--epochs", "2", "--out", str(models)])
    assert trained.exit_code == 0, trained.output
    exported = runner.invoke(app, ["export", "--model", "mlp", "--out", str(models)])
    assert exported.exit_code == 0, exported.output
    return models, trained.output, exported.output


def digit_glued_to_a_line(line: bool) -> tuple[np.ndarray, np.ndarray]:
    """A page with a 0 whose right side touches a margin line running the page's height (`line`), and an ink map
    that marks the 0 and the line's piece beside it only (as the map does with a line glued to a digit)."""
    page = np.full((480, 640), 235, np.uint8)
    cv2.ellipse(page, (300, 240), (40, 50), 0, 0, 360, 30, 8)
    ink = np.zeros((480, 640), np.uint8)
    cv2.ellipse(ink, (300, 240), (40, 50), 0, 0, 360, 255, 8)
    if line:
        cv2.line(page, (346, 20), (346, 460), 30, 6)
        cv2.line(ink, (346, 190), (346, 290), 255, 6)
    return page, cv2.resize(ink, (320, 240))

