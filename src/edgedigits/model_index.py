"""`models/index.json`: every exported model with its file, sha256, size, accuracy and parity.

`bench` and `eval` read it; the runtime checks a model's sha256 against it when
both are present. Entries are keyed by file name; writing one replaces the old.
"""

from __future__ import annotations

import json
import platform
from functools import lru_cache
from pathlib import Path

from edgedigits.errors import EdgeDigitsError
from edgedigits.files import sha256_file, write_json_atomic

INDEX_NAME = "index.json"


def index_path(models_dir: Path) -> Path:
    return Path(models_dir) / INDEX_NAME


def read_entries(models_dir: Path) -> list[dict]:
    """The index's entries; a missing index has none. An index that is there but cannot be trusted (not JSON,
    not a list of entries, an entry without a file name and sha256, a number that is not a number) is an error:
    the integrity check must never pass because the index could not be read."""
    path = index_path(models_dir)
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text())["models"]
        if not isinstance(entries, list):
            raise TypeError("'models' is not a list")
        for entry in entries:
            if not (isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("sha256"), str)):
                raise TypeError(f"an entry without a file name and sha256: {str(entry)[:80]}")
            for key in ("test_accuracy", "size_bytes"):
                if key in entry and (isinstance(entry[key], bool) or not isinstance(entry[key], (int, float))):
                    raise TypeError(f"{entry['file']}: {key} is not a number")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise EdgeDigitsError(f"{path}: not a readable model index ({error}); export the models again "
                              "(edgedigits export), or delete it to use models without verifying them") from None
    return entries


def entry_for(model_path: Path) -> dict | None:
    model_path = Path(model_path)
    return next((e for e in read_entries(model_path.parent) if e["file"] == model_path.name), None)


def describe(model_path: Path, **fields) -> dict:
    """An index entry for the file at `model_path`: its name, sha256 and size, plus `fields`."""
    model_path = Path(model_path)
    return {"file": model_path.name, "sha256": sha256_file(model_path), "size_bytes": model_path.stat().st_size, **fields}


def write_entries(models_dir: Path, entries: list[dict]) -> None:
    write_json_atomic(index_path(models_dir), {"models": sorted(entries, key=lambda e: e["file"])})


def add_entry(models_dir: Path, entry: dict) -> None:
    """Add `entry`, replacing any entry for the same file, and rewrite the index atomically."""
    write_entries(models_dir, [e for e in read_entries(models_dir) if e["file"] != entry["file"]] + [entry])


def remove(model_path: Path) -> None:
    """Delete a model file and its index entry (an older export or INT8 file that no longer matches)."""
    model_path = Path(model_path)
    model_path.unlink(missing_ok=True)
    entries = read_entries(model_path.parent)
    if any(e["file"] == model_path.name for e in entries):
        write_entries(model_path.parent, [e for e in entries if e["file"] != model_path.name])


def refresh_entry(model_path: Path, **fields) -> None:
    """Re-describe a file that changed (new sha256 and size), keeping its other fields and updating `fields`."""
    model_path = Path(model_path)
    previous = entry_for(model_path) or {}
    kept = {key: value for key, value in previous.items() if key not in ("file", "sha256", "size_bytes")}
    add_entry(model_path.parent, describe(model_path, **(kept | fields)))


@lru_cache(maxsize=1)
def this_machine() -> str:
    """The CPU that timings belong to: architecture and CPU model ("x86_64 AMD EPYC 9B14", "aarch64 0xd08")."""
    described = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "CPU part") and value.strip():
                described = value.strip()
                break
    except OSError:
        pass
    return f"{platform.machine()} {described or platform.processor()}".strip()


def choose_precision(files: list[dict]) -> dict | None:
    """Of one model's files (its fp32 export and INT8 file), the one to run: INT8 only where `calibrate` timed
    it faster on this very CPU (INT8 wins on x86 with VNNI and may lose on a Raspberry Pi: a timing from another
    machine says nothing), else fp32; whatever file there is when only one was copied."""
    timed_faster = [e for e in files if e.get("faster_here") and e.get("timed_on") == this_machine()]
    fp32 = [e for e in files if e.get("precision", "fp32") == "fp32"]
    return (timed_faster or fp32 or files or [None])[0]


def default_model(models_dir: Path) -> Path | None:
    """The digit classifier the runtime uses when none is named: the most accurate one, in the precision
    `choose_precision` picks. Candidates come from the index (fp32 exports, INT8 files whose gate passed, the
    files present) or, without an index, from the `.onnx` files' own metadata (`entries_from_files`), so a model
    copied on its own, without `index.json`, runs."""
    entries = candidates(models_dir, None)  # digit classifiers only
    if not entries:
        return None
    best_name = max(entries, key=lambda e: e.get("test_accuracy", 0.0)).get("name")
    chosen = choose_precision([e for e in entries if e.get("name") == best_name])
    return Path(models_dir) / chosen["file"]


def candidates(models_dir: Path, kind: str | None) -> list[dict]:
    """The usable entries of `kind` (None: digit classifiers) in the index, or, when it lists none, those read
    from the files' own metadata (`entries_from_files`)."""
    mine = [e for e in usable_entries(models_dir) if e.get("kind") == kind]
    return mine or [e for e in entries_from_files(models_dir) if e.get("kind") == kind]


def entries_from_files(models_dir: Path) -> list[dict]:
    """Index-like entries for the `.onnx` files in `models_dir`, from the metadata every export writes into the
    file (name, kind, precision, test accuracy), read with onnxruntime. Files that onnxruntime cannot open are left
    out (naming one with --model says why). An INT8 file exists only where its gate passed (`calibrate`)."""
    import onnxruntime

    entries = []
    for path in sorted(Path(models_dir).glob("*.onnx")):
        try:
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            meta = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).get_modelmeta()
        except Exception:  # noqa: BLE001 - not a model we can run: not a candidate
            continue
        fields = meta.custom_metadata_map
        entry = {"file": path.name, "name": fields.get("name", path.name.split(".")[0]), "precision": fields.get("precision", "fp32")}
        if "kind" in fields:
            entry["kind"] = fields["kind"]
        try:
            entry["test_accuracy"] = float(fields["test_accuracy"])
        except (KeyError, ValueError):
            pass
        entries.append(entry)
    return entries


def usable_entries(models_dir: Path) -> list[dict]:
    """Entries whose file is there: fp32 exports, and INT8 files whose gate passed."""
    return [e for e in read_entries(models_dir) if (Path(models_dir) / e["file"]).is_file()
            and (e.get("precision") == "fp32" or e.get("gate", {}).get("passed"))]


def default_ink_model(models_dir: Path) -> Path | None:
    """The learned ink segmenter in `models_dir`, if there is one (see `default_of_kind`)."""
    from edgedigits.contract import INK_KIND

    return default_of_kind(models_dir, INK_KIND)


def default_sequence_model(models_dir: Path) -> Path | None:
    """The sequence model for runs of touching digits in `models_dir`, if there is one (see `default_of_kind`)."""
    from edgedigits.contract import SEQ_KIND

    return default_of_kind(models_dir, SEQ_KIND)


def default_of_kind(models_dir: Path, kind: str) -> Path | None:
    """The model of `kind` in `models_dir` in the precision `choose_precision` picks (from the index, or from the
    files' own metadata without one); None when there is none."""
    chosen = choose_precision(candidates(models_dir, kind))
    return Path(models_dir) / chosen["file"] if chosen else None
