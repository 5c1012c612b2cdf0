"""`read --engine ray`: on a local Ray, the same records as the local path (order aside), bad files included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from edgedigits.runtime import Reader  # noqa: E402
from edgedigits.runtime.batch import read_all  # noqa: E402
from edgedigits.runtime.inputs import expand  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray for the whole test session (2 CPUs, as CI has)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def folder(tmp_path) -> Path:
    pages = tmp_path / "scans"
    (pages / "sub").mkdir(parents=True)
    for sample in SAMPLES.glob("*.jpg"):
        shutil.copy(sample, pages / sample.name)
        shutil.copy(sample, pages / "sub" / f"copy-{sample.name}")
    jpeg = (SAMPLES / "2017.jpg").read_bytes()
    (pages / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (pages / "not-an-image.png").write_text("hello")
    (pages / "empty.jpg").write_bytes(b"")
    return pages


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_ray_gives_the_records_the_local_path_gives(local_ray, tiny_models, folder, tmp_path, monkeypatch, suffix):
    from edgedigits.scale import read_records, read_with_ray

    model = tiny_models[0] / "mlp.onnx"
    monkeypatch.chdir(folder.parent)
    inputs = expand(["scans", "scans/missing.jpg"])
    local = [record.as_dict() for record in read_all(Reader(model, device="cpu", threads=1), inputs)]
    out = tmp_path / f"results{suffix}"
    stats = read_with_ray(inputs, model, None, None, 0.5, out, workers=2)
    remote = list(read_records(out))
    assert stats["records"] == len(local) == 12  # 8 images, 3 bad files, 1 missing
    key = lambda record: record["source"]  # noqa: E731
    normalise = lambda record: json.loads(json.dumps(record))  # noqa: E731  (tuples as lists, as JSON has them)
    assert sorted(map(normalise, remote), key=key) == sorted(map(normalise, local), key=key)
    errors = {r["source"]: r["error"] for r in remote if r["error"]}
    assert set(errors) == {"scans/cut.jpg", "scans/not-an-image.png", "scans/empty.jpg", "scans/missing.jpg"}


def test_nothing_but_the_ray_path_imports_ray():
    import subprocess
    import sys

    code = ("import sys, edgedigits.cli, edgedigits.runtime.batch, edgedigits.runtime.stream, edgedigits.evaluate; "
            "print([m for m in sys.modules if m == 'ray' or m.startswith('ray.')])")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_ray_refuses_an_image_piped_in_before_starting(tiny_models, tmp_path):
    """What is piped in (`-`) lives in this process only: the Ray path says so in one line instead of starting Ray."""
    from typer.testing import CliRunner

    from edgedigits.cli import app

    result = CliRunner().invoke(app, ["read", "-", "--engine", "ray", "--model", str(tiny_models[0] / "mlp.onnx"),
                                      "--out", str(tmp_path / "r.jsonl")], input=(SAMPLES / "2017.jpg").read_bytes())
    assert result.exit_code == 1 and "--engine ray reads files, not what is piped in (-)" in result.output
    assert not (tmp_path / "r.jsonl").exists()
