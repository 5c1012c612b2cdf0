"""What goes to the Raspberry Pi never loads TensorFlow, tf2onnx, Keras or matplotlib."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("tensorflow", "tf2onnx", "keras", "matplotlib")


def modules_loaded_by(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


@pytest.mark.parametrize("module", ["edgedigits.runtime", "edgedigits.data", "edgedigits.evaluate", "edgedigits.cli",
                                    "edgedigits.train", "edgedigits.export.parity"])
def test_light_modules_stay_light(module):
    assert modules_loaded_by(f"import {module}").isdisjoint(HEAVY)


def test_check_is_not_vacuous():
    assert "tensorflow" in modules_loaded_by("import edgedigits.train.fit")


def test_eval_runs_without_tensorflow(tmp_path, mnist):  # mnist: the data is in the cache
    from conftest import write_linear_onnx

    model = write_linear_onnx(tmp_path / "linear.onnx")
    loaded = modules_loaded_by(
        f"from edgedigits.evaluate import evaluate_model\nevaluate_model({str(model)!r}, device='cpu')"
    )
    assert "onnxruntime" in loaded and loaded.isdisjoint(HEAVY)
