"""Reading many images: one record per input, in order, and a bad file never stops the batch.

Decoding and segmentation run in a small thread pool (OpenCV and onnxruntime
release the GIL), with a bounded queue so that memory stays flat on a folder of
ten thousand scans.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2

from edgedigits.errors import EdgeDigitsError
from edgedigits.files import write_bytes_atomic
from edgedigits.runtime.annotate import annotate
from edgedigits.runtime.inputs import Input, decode_for_reading, load_for_reading, read_stdin
from edgedigits.runtime.reader import Digit, Reader

FORMATS = ("text", "jsonl", "csv")
CSV_COLUMNS = ("source", "text", "digits", "min_confidence", "error")
LINE_SEPARATOR = " / "  # between lines, where a format has one line per input


@dataclass
class Record:
    """What `read` reports for one input (the JSONL record of DESIGN.md)."""

    source: str
    lines: list[str] = field(default_factory=list)
    digits: list[Digit] = field(default_factory=list)
    error: str | None = None
    annotated: str | None = None  # with --save: where the annotated copy went

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def as_dict(self) -> dict:
        record = {"source": self.source, "text": self.text, "lines": self.lines,
                  "digits": [d.as_dict() for d in self.digits], "error": self.error}
        return record | ({"annotated": self.annotated} if self.annotated else {})


def read_one(reader: Reader, item: Input, save_dir: Path | None = None) -> Record:
    if item.error:
        return Record(item.source, error=item.error)
    if item.path is None:  # piped in (`-`): an annotated copy goes to SAVE_DIR/stdin.read.jpg
        return read_guarded(reader, item.source, lambda: decode_for_reading(read_stdin()), save_dir, Path("stdin"))
    return read_guarded(reader, item.source, lambda: load_for_reading(item.path), save_dir, item.path)


def read_bytes(reader: Reader, source: str, data: bytes) -> Record:
    """An image file's bytes (an upload to `serve`) -> the record `read` gives for the same file."""
    return read_guarded(reader, source, lambda: decode_for_reading(data))


def read_guarded(reader: Reader, source: str, load, save_dir: Path | None = None, path: Path | None = None) -> Record:
    """Load (`load()` -> image, scale back to the file's pixels) and read one image; whatever fails becomes the
    record's one-line error, never an exception."""
    annotated = None
    try:
        image, scale = load()  # a big JPEG decoded smaller: boxes are scaled back below
        reading = reader.read(image)
        if save_dir is not None and path is not None:
            annotated = str(save_annotated(image, reading, reader.unsure_below, save_dir, path))
    except EdgeDigitsError as error:
        return Record(source, error=str(error))
    except cv2.error as error:  # an image OpenCV decoded but cannot process; rare, and never fatal to a batch
        return Record(source, error=f"OpenCV failed on this image: {str(error).strip().splitlines()[-1]}")
    except ValueError as error:  # pixels the reader cannot take (an odd shape or type): one record, the batch goes on
        return Record(source, error=f"cannot read this image: {error}")
    except Exception as error:  # noqa: BLE001  anything else (onnxruntime, memory): still one record, and the batch goes on
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        return Record(source, error=f"reading failed: {type(error).__name__}: {first_line}")
    digits = reading.digits if scale == 1 else [replace(d, box=tuple(round(v * scale) for v in d.box)) for d in reading.digits]
    return Record(source, reading.lines, digits, annotated=annotated)


def annotated_path(save_dir: Path, path: Path) -> Path:
    """Where the annotated copy of `path` goes: its path as given, mirrored under `save_dir` (an absolute path
    without its root, `..` as `_up_`), named NAME.read.jpg after the whole file name. Two inputs never share a
    target, and a re-run replaces the copies it made before."""
    parts = ["_up_" if part == ".." else part for part in Path(path).parts[len(Path(path).anchor) > 0 :] if part != "."]
    relative = Path(*parts) if parts else Path(Path(path).name)
    return save_dir / relative.parent / f"{relative.name}.read.jpg"


def save_annotated(image, reading, unsure_below: float, save_dir: Path, path: Path) -> Path:
    """Write the digits drawn on the image to `annotated_path(save_dir, path)` (replaced whole); return it."""
    target = annotated_path(save_dir, path)
    ok, encoded = cv2.imencode(".jpg", annotate(image, reading, unsure_below, caption=reading.text.replace("\n", LINE_SEPARATOR)))
    if not ok:
        raise EdgeDigitsError(f"could not encode the annotated copy for {path}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target, encoded.tobytes())
    except OSError as error:
        raise EdgeDigitsError(f"could not write the annotated copy {target} ({error.strerror or error})") from None
    return target


def prepare_save_dir(save_dir: Path) -> None:
    """Create the folder for annotated copies, or say in one line why it cannot be written to."""
    try:
        save_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise EdgeDigitsError(f"--save {save_dir}: a file is in the way; give a folder") from None
    except OSError as error:
        raise EdgeDigitsError(f"--save {save_dir}: cannot create this folder ({error.strerror or error})") from None
    if not os.access(save_dir, os.W_OK | os.X_OK):
        raise EdgeDigitsError(f"--save {save_dir}: this folder is not writable; give another one")


def read_all(reader: Reader, inputs: Iterable[Input], save_dir: Path | None = None, workers: int | None = None) -> Iterator[Record]:
    """Records in input order; up to 2 x `workers` images in flight at once."""
    workers = workers or min(4, os.cpu_count() or 1)
    if save_dir is not None:
        prepare_save_dir(save_dir)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: collections.deque = collections.deque()
        for item in inputs:
            pending.append(pool.submit(read_one, reader, item, save_dir))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


# --- Output ------------------------------------------------------------------------------------------


def format_record(record: Record, output_format: str) -> str:
    """One line (without its newline) for `record` in `output_format`."""
    if output_format == "jsonl":
        return json.dumps(record.as_dict())
    if output_format == "csv":
        buffer = io.StringIO()
        confidences = [d.confidence for d in record.digits]
        # The default line terminator makes the writer quote fields holding a newline or a carriage return (a file
        # name may); the row's own terminator is then dropped, as every format returns one line without its newline.
        csv.writer(buffer).writerow([
            spreadsheet_safe(printable(record.source)), spreadsheet_safe(LINE_SEPARATOR.join(record.lines)), len(record.digits),
            f"{min(confidences):.4f}" if confidences else "", spreadsheet_safe(record.error or "")])
        return buffer.getvalue().removesuffix("\r\n")
    if record.error:
        return f"{printable(record.source)}: error: {record.error}"
    return f"{printable(record.source)}: {LINE_SEPARATOR.join(record.lines)}"


def printable(name: str) -> str:
    """A file name as text any UTF-8 output takes: bytes that were not UTF-8 (kept by Python as surrogates)
    are written as backslash escapes, e.g. `caf\\xe9.jpg`. (JSONL escapes them itself.)"""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(field: str) -> str:
    """A CSV field a spreadsheet shows as text: one that starts like a formula (=, +, -, @, tab, carriage return)
    gets a leading apostrophe, the usual defence against formula injection (OWASP)."""
    return "'" + field if field.startswith(FORMULA_STARTS) else field


class Progress:
    """A one-line progress counter on stderr, only where stderr is a terminal and the batch is long."""

    def __init__(self, total: int, minimum: int = 20):
        self.total, self.done, self.failed = total, 0, 0
        self.enabled = total >= minimum and sys.stderr.isatty()
        self.started = self.shown = time.perf_counter()

    def advance(self, record: Record) -> None:
        self.done += 1
        self.failed += record.error is not None
        now = time.perf_counter()
        if self.enabled and (now - self.shown > 0.2 or self.done == self.total):
            self.shown = now
            rate = self.done / max(now - self.started, 1e-9)
            end = "\n" if self.done == self.total else ""
            print(f"\r[{self.done}/{self.total}] {rate:.0f} images/s, {self.failed} failed", end=end, file=sys.stderr, flush=True)
