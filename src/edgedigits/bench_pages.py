"""`edgedigits bench --pages DIR`: the whole job, against what a user would pick instead.

On a field set (a folder with truth.jsonl, e.g. `make field-real`), per image
size: pages read exactly and pages per second (decode included, one thread),
for our reader and for the OCR engines that are installed:

- Tesseract (Debian's `tesseract-ocr`, run as the `tesseract` program with a
  digits whitelist, page segmentation mode 6: a block of text);
- RapidOCR (`pip install rapidocr-onnxruntime`: PaddleOCR's PP-OCR detector and
  CTC recogniser as ONNX, its models in the wheel), its text filtered to digits;
- EasyOCR (`pip install easyocr`, with its English weights already in
  ~/.EasyOCR/model: it downloads them otherwise, which fails offline), allowlist digits.

Each peer is optional: one missing is skipped with a one-line note, and none
of them is a dependency of edgedigits. Peers answer with text boxes; they are
turned into lines the way the truth has them (boxes grouped into lines by their
vertical centres, left to right, numbers on one line joined by one space).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edgedigits.errors import EdgeDigitsError


def normalise(lines: list[str]) -> list[str]:
    """Lines as the truth writes them: runs of spaces collapsed, empty lines dropped."""
    return [" ".join(line.split()) for line in lines if line.strip()]


def boxes_to_lines(items: list[tuple[float, float, float, str]]) -> list[str]:
    """(x, y_centre, height, text) boxes -> lines: a box joins the line whose last box's centre is within half a
    height of its own, lines top to bottom, boxes left to right, joined by spaces."""
    lines: list[list[tuple[float, float, float, str]]] = []
    for item in sorted(items, key=lambda it: it[0]):
        x, y, h, text = item
        best = min(lines, key=lambda line: abs(line[-1][1] - y), default=None)
        if best is not None and abs(best[-1][1] - y) <= 0.5 * max(h, best[-1][2]):
            best.append(item)
        else:
            lines.append([item])
    lines.sort(key=lambda line: float(np.median([it[1] for it in line])))
    return normalise([" ".join(it[3] for it in line) for line in lines])


def digits_only(text: str) -> str:
    return "".join(c for c in text if c.isdigit() or c == " ").strip()


# --- Peers: each a factory returning read(image_bytes, image) -> lines, or raising PeerMissing --------------


class PeerMissing(Exception):
    pass


def tesseract_peer() -> Callable[[bytes, np.ndarray], list[str]]:
    program = shutil.which("tesseract")
    if program is None:
        raise PeerMissing("tesseract is not installed (apt-get install tesseract-ocr)")

    def read(data: bytes, image: np.ndarray) -> list[str]:
        with tempfile.NamedTemporaryFile(suffix=".png") as handle:
            cv2.imwrite(handle.name, image)
            result = subprocess.run([program, handle.name, "stdout", "--psm", "6", "-c", "tessedit_char_whitelist=0123456789 "],
                                    capture_output=True, text=True, env=os.environ | {"OMP_THREAD_LIMIT": "1"}, timeout=120)
        return normalise([digits_only(line) for line in result.stdout.splitlines()])
    return read


def rapidocr_peer() -> Callable[[bytes, np.ndarray], list[str]]:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        raise PeerMissing("rapidocr-onnxruntime is not installed (pip install rapidocr-onnxruntime)") from None
    engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)

    def read(data: bytes, image: np.ndarray) -> list[str]:
        result, _ = engine(image)
        items = []
        for box, text, _score in result or []:
            text = digits_only(text)
            if text:
                points = np.array(box, np.float32)
                items.append((float(points[:, 0].min()), float(points[:, 1].mean()), float(np.ptp(points[:, 1])), text))
        return boxes_to_lines(items)
    return read


def easyocr_peer() -> Callable[[bytes, np.ndarray], list[str]]:
    try:
        import easyocr
    except ImportError:
        raise PeerMissing("easyocr is not installed (pip install easyocr, and its English weights in ~/.EasyOCR/model)") from None
    try:
        engine = easyocr.Reader(["en"], gpu=False, download_enabled=False, verbose=False)
    except Exception as error:  # noqa: BLE001 - weights missing, and no download here
        raise PeerMissing(f"easyocr has no weights ({str(error).splitlines()[0][:100]})") from None

    def read(data: bytes, image: np.ndarray) -> list[str]:
        items = []
        for box, text, _score in engine.readtext(image, allowlist="0123456789"):
            points = np.array(box, np.float32)
            items.append((float(points[:, 0].min()), float(points[:, 1].mean()), float(np.ptp(points[:, 1])), text))
        return boxes_to_lines(items)
    return read


PEERS = {"tesseract": tesseract_peer, "rapidocr": rapidocr_peer, "easyocr": easyocr_peer}


def bench_pages(pages_dir: Path, reader, limit: int | None = None, peer_limit: int | None = 100,
                peers: tuple[str, ...] = tuple(PEERS), progress: Callable[[str], None] = print) -> dict:
    """Pages exact and pages per second, per image size and overall, for our reader and each installed peer.
    `peer_limit`: peers are slow (about a second a page), so they read the first N pages only (our reader is
    scored on the same pages too, for a fair row)."""
    from edgedigits.runtime.batch import read_bytes
    from edgedigits.runtime.inputs import decode_for_reading

    truth_path = Path(pages_dir) / "truth.jsonl"
    if not truth_path.is_file():
        raise EdgeDigitsError(f"{truth_path}: no ground truth; make a field set first (make field-real)")
    truths = [json.loads(line) for line in truth_path.read_text().splitlines() if line.strip()][:limit]

    def size_of(truth: dict) -> str:
        return next((t.split(":", 1)[1] for t in truth.get("tags", []) if t.startswith("size:")), "all")

    def score(name: str, read: Callable[[bytes], list[str]], pages: list[dict]) -> dict:
        tally: dict[str, list[float]] = {}
        for truth in pages:
            data = (Path(pages_dir) / truth["file"]).read_bytes()
            start = time.perf_counter()
            lines = read(data)
            seconds = time.perf_counter() - start
            tally.setdefault(size_of(truth), []).append((normalise(lines) == normalise(truth["lines"]), seconds))
        rows = {size: {"pages": len(v), "exact": sum(ok for ok, _ in v), "pages_per_second": len(v) / sum(s for _, s in v)}
                for size, v in sorted(tally.items(), key=lambda kv: int(kv[0].split("x")[0]) if "x" in kv[0] else 0)}
        everything = [item for v in tally.values() for item in v]
        rows["all"] = {"pages": len(everything), "exact": sum(ok for ok, _ in everything),
                       "pages_per_second": len(everything) / sum(s for _, s in everything)}
        progress(f"{name}: {rows['all']['exact']}/{rows['all']['pages']} pages exact, {rows['all']['pages_per_second']:.1f} pages/s")
        return rows

    ours = lambda data: read_bytes(reader, "page", data).lines  # noqa: E731
    results = {"ours": score("edgedigits", ours, truths)}
    notes = {}
    peer_pages = truths[:peer_limit] if peer_limit else truths
    if peers and peer_limit and peer_limit < len(truths):
        results[f"ours (first {len(peer_pages)})"] = score(f"edgedigits, first {len(peer_pages)} pages", ours, peer_pages)
    for name in peers:
        try:
            engine = PEERS[name]()
        except PeerMissing as missing:
            notes[name] = str(missing)
            progress(f"{name}: skipped, {missing}")
            continue

        def peer_read(data: bytes, engine=engine) -> list[str]:
            image, _ = decode_for_reading(data)
            return engine(data, image)
        results[name] = score(name, peer_read, peer_pages)
    return {"pages_dir": str(pages_dir), "reader": getattr(reader, "description", ""), "results": results, "skipped": notes}


def format_pages_table(report: dict) -> str:
    results = report["results"]
    sizes = list(next(iter(results.values())).keys())
    header = f"{'reader':<28}" + "".join(f"{size:>22}" for size in sizes)
    lines = [header, "-" * len(header)]
    for name, rows in results.items():
        def rate(value: float) -> str:
            return f"{value:.0f}/s" if value >= 10 else f"{value:.2g}/s"
        cells = [f"{rows[s]['exact']}/{rows[s]['pages']} {rate(rows[s]['pages_per_second'])}" if s in rows else "-" for s in sizes]
        lines.append(f"{name:<28}" + "".join(f"{cell:>22}" for cell in cells))
    lines += [f"{name}: skipped, {note}" for name, note in report["skipped"].items()]
    return "\n".join(lines)
