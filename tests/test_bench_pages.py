"""`edgedigits bench --pages`: lines from OCR boxes, scoring per image size, peers optional."""

from __future__ import annotations

import json

import pytest

from edgedigits import bench_pages
from edgedigits.bench_pages import boxes_to_lines, normalise


def test_boxes_become_lines_as_the_truth_writes_them():
    boxes = [(300, 52, 30, "28103"), (10, 50, 30, "2017"), (12, 120, 28, "46"), (40, 118, 30, "385")]
    assert boxes_to_lines(boxes) == ["2017 28103", "46 385"]
    assert normalise(["  20  17 ", "", "3"]) == ["20 17", "3"]


@pytest.mark.slow
def test_pages_are_scored_per_size_and_missing_peers_are_skipped(tiny_models, mnist, tmp_path, monkeypatch):
    from edgedigits.fieldset import write_pages
    from edgedigits.runtime import Reader

    write_pages(tmp_path / "pages", 4, seed=1, mnist_test=mnist[1])
    truth = {t["file"]: t["lines"] for t in map(json.loads, (tmp_path / "pages" / "truth.jsonl").read_text().splitlines())}
    answers = iter(truth[name] for name in truth)

    def perfect():  # a stand-in engine that knows every answer, in order
        return lambda data, image: next(answers)

    def missing():
        raise bench_pages.PeerMissing("not installed here")

    monkeypatch.setattr(bench_pages, "PEERS", {"perfect": perfect, "absent": missing})
    report = bench_pages.bench_pages(tmp_path / "pages", Reader(tiny_models[0] / "mlp.onnx", device="cpu", threads=1), peer_limit=4,
                                     peers=("perfect", "absent"), progress=lambda line: None)
    assert report["results"]["perfect"]["all"] == {"pages": 4, "exact": 4, "pages_per_second": pytest.approx(
        report["results"]["perfect"]["all"]["pages_per_second"])}
    assert report["skipped"] == {"absent": "not installed here"}
    ours = report["results"]["ours"]
    assert ours["all"]["pages"] == 4 and 0 <= ours["all"]["exact"] <= 4 and ours["all"]["pages_per_second"] > 0
    table = bench_pages.format_pages_table(report)
    assert "perfect" in table and "4/4" in table and "absent: skipped, not installed here" in table
