"""The command line, through typer's runner: one-line errors, exit codes, and the happy path."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from edgedigits.cli import app

runner = CliRunner(env={"COLUMNS": "250"})  # one line per message, even in rich's boxes


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_help_lists_the_commands():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("train", "export", "eval"):
        assert command in result.output


def test_unknown_model_name():
    result = run("train", "--model", "resnet")
    assert result.exit_code == 1
    assert result.output.strip() == "error: unknown model 'resnet'; known models: mlp, cnn, cnn-bn-aug, inkseg, seqread (or 'all')"


def test_export_without_a_trained_model(tmp_path):
    result = run("export", "--model", "cnn", "--out", tmp_path)
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {tmp_path / 'cnn.keras'}: no such file; train the model first (edgedigits train --model cnn)"


def test_unreadable_data_path(tmp_path):
    result = run("train", "--model", "mlp", "--data", tmp_path / "missing.npz", "--out", tmp_path)
    assert result.exit_code == 1
    assert result.output.startswith("error: could not load MNIST; tried the given path")
    assert "missing.npz: does not exist" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_eval_of_a_missing_file(tmp_path):
    result = run("eval", tmp_path / "absent.onnx")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_eval_of_a_file_that_is_not_onnx(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x00garbage")
    result = run("eval", path)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {path}: not a loadable ONNX model")


def test_debug_shows_the_exception_instead(tmp_path):
    result = run("--debug", "train", "--model", "resnet")
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "EdgeDigitsError"


@pytest.mark.slow
def test_eval_reports_accuracy_and_confusion(tiny_models, tmp_path):
    models, _, _ = tiny_models
    report_path = tmp_path / "eval.json"
    result = run("eval", models / "mlp.onnx", "--device", "cpu", "--report", report_path)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    index = json.loads((models / "index.json").read_text())["models"][0]
    assert report["accuracy"] == index["test_accuracy"]  # onnxruntime alone agrees with the export's figure
    assert sum(map(sum, report["confusion"])) == 10000
    assert f"accuracy {report['accuracy']:.2%} on 10000 MNIST test images" in result.output
    assert "true\\pred" in result.output and "CPUExecutionProvider" in result.output


def test_mask_sequence_and_second_look_options_are_checked(tmp_path):
    from conftest import write_linear_onnx

    model = write_linear_onnx(tmp_path / "linear.onnx")
    page = tmp_path / "page.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(page), np.full((64, 64), 255, np.uint8))
    result = run("read", page, "--model", model, "--mask", "sharp")
    assert result.exit_code == 1 and "--mask sharp: use auto, learned, threshold or an ink segmenter's .onnx file" in result.output
    result = run("read", page, "--model", model, "--sequence", "yes")
    assert result.exit_code == 1 and "--sequence yes: use auto, none or a sequence model's .onnx file" in result.output
    result = run("read", page, "--model", model, "--mask", model)  # a digit classifier is not an ink segmenter
    assert result.exit_code == 1 and "not an edgedigits ink segmenter" in result.output
    result = run("read", page, "--model", model, "--mask", "threshold", "--second-look", "2000")
    assert result.exit_code == 1 and "--second-look 2000: the second look's ink map is 321-1024 px" in result.output
    result = run("read", page, "--model", model, "--engine", "ray", "--out", tmp_path / "out.jsonl", "--second-look", "100")
    assert result.exit_code == 1 and "--second-look 100: the second look's ink map is 321-1024 px" in result.output


def test_mask_learned_without_an_ink_segmenter(tmp_path, monkeypatch):
    from conftest import write_linear_onnx

    model = write_linear_onnx(tmp_path / "linear.onnx")
    monkeypatch.chdir(tmp_path)  # no models/ here
    result = run("read", model, "--model", model, "--mask", "learned")
    assert result.exit_code == 1 and "--mask learned: no ink segmenter in models/index.json" in result.output
    result = run("read", model, "--model", model, "--mask", "threshold", "--sequence", "none")
    assert "threshold mask, runs shown as ?" in result.output
