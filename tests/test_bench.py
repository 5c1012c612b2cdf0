"""edgedigits bench: every format and peer measured in one run, written as a table, JSON and a chart."""

from __future__ import annotations

import json
import shutil

import pytest

from edgedigits.bench import Plan, format_table, run_bench, write_outputs
from edgedigits.errors import EdgeDigitsError

TINY = Plan(latency_repeats=5, throughput_repeats=2, accuracy_images=512, reader_repeats=3, video_frames=5)


@pytest.mark.slow
def test_bench_measures_ours_and_every_peer(tiny_models, tmp_path):
    models, _, _ = tiny_models
    for name in ("mlp.keras", "mlp.onnx", "index.json"):
        shutil.copy(models / name, tmp_path / name)
    report = run_bench(tmp_path, plan=TINY, progress=lambda line: None)
    runtimes = {row.runtime for row in report.rows}
    assert {"onnxruntime", "opencv dnn", "keras.predict", "keras call", "tflite"} <= runtimes
    tflite = [r for r in report.rows if r.runtime == "tflite"]
    assert tflite and all(r.provider == "litert cpu" and r.accuracy > 0.9 for r in tflite)  # LiteRT, not tf.lite
    ours = [r for r in report.rows if r.runtime == "onnxruntime"]
    assert all(r.latency_median_us > 0 and r.throughput_images_per_s > 0 and r.accuracy > 0.9 for r in ours)
    assert {r.threads for r in ours} == {1, report.machine["cores"]} or report.machine["cores"] == 1
    assert report.end_to_end["read_ms"] > 0 and report.end_to_end["stream_fps"] > 0
    table = format_table(report)
    assert "vs ours" in table and "machine:" in table and "end to end" in table
    json_path, chart_path = write_outputs(report, tmp_path / "bench")
    assert len(json.loads(json_path.read_text())["rows"]) == len(report.rows)
    assert chart_path.read_bytes()[:4] == b"\x89PNG"


def test_bench_without_models(tmp_path):
    with pytest.raises(EdgeDigitsError, match="lists no models"):
        run_bench(tmp_path)
