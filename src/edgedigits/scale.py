"""`edgedigits read ... --engine ray`: batch reading at cluster scale on Ray Data, one thin layer over the runtime.

The driver lists the inputs exactly as `read` does (`expand`: folders, globs,
the same error records for what is missing or not an image), checks each one
is a regular file under the size cap, and hands the paths to
`ray.data.read_binary_files`. `map_batches` runs `ReadBatch`, a callable class
that opens one `Reader` per actor (`ActorPoolStrategy(size=workers)`) and reads
each file's bytes with the runtime's own header-checked decoder
(`batch.read_bytes`: the pixel limit and error records are `read`'s). Records
have exactly the schema of `read --format jsonl`; a bad file is an error record,
never a failed job. Ray's own writers write them: `--out NAME.jsonl` or
`NAME.parquet` names a folder that Ray fills with one file per block.

Nothing else in edgedigits imports Ray (the `[scale]` extra).
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import numpy as np

from edgedigits.errors import EdgeDigitsError
from edgedigits.runtime.batch import Record, read_bytes
from edgedigits.runtime.inputs import MAX_FILE_BYTES, Input

RECORD_FIELDS = ("source", "text", "lines", "digits", "error")
OUTPUT_SUFFIXES = (".jsonl", ".json", ".parquet")
READ_TASKS = 2  # file-reading tasks at once: they ask for no CPU (so actors on every CPU never starve them), and
# without a bound Ray would start a worker process for each of them


class ReadBatch:
    """One Reader per Ray actor: a batch of (bytes, path) rows -> a batch of `read` records."""

    def __init__(self, model: str, ink_model: str | None, sequence_model: str | None, unsure: float,
                 base: str | None, sources: dict[str, str] | None = None, second_look: int | None = None):
        from edgedigits.runtime import Reader

        self.reader = Reader(model, device="cpu", threads=1, unsure_below=unsure, ink_model=ink_model,
                             sequence_model=sequence_model, second_look=second_look)
        self.base, self.sources = base, sources  # how `read` named each file: relative to `base`, or as listed

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        records = [self.read(bytes(data), str(path)) for data, path in zip(batch["bytes"], batch["path"])]
        return as_columns(records)

    def read(self, data: bytes, path: str) -> dict:
        path = "/" + path.lstrip("/")  # Ray may hand local paths back without their leading slash
        if self.sources is not None:
            source = self.sources.get(path, path)
        else:
            source = os.path.relpath(path, self.base) if self.base else path
        return read_bytes(self.reader, source, data).as_dict()


def as_columns(records: list[dict]) -> dict[str, list]:
    """Records -> columns; `digits` as a JSON string per record in the columnar batch would lose nothing but
    types, so they stay lists of dicts (Arrow stores them as a list of structs)."""
    return {name: [record[name] for record in records] for name in RECORD_FIELDS}


def check_input(item: Input) -> Record | None:
    """The error record `read` would give for a file that must not be handed to Ray (not a regular file, over
    the size cap, unreadable); None for a file to read."""
    if item.error:
        return Record(item.source, error=item.error)
    try:
        status = os.stat(item.path)
    except OSError as error:
        return Record(item.source, error=f"cannot open ({error.strerror or error})")
    if stat.S_ISDIR(status.st_mode):
        return Record(item.source, error="is a folder, not an image")
    if not stat.S_ISREG(status.st_mode):
        return Record(item.source, error="not a regular file (a device, a FIFO or a socket): give an image file")
    if status.st_size > MAX_FILE_BYTES:
        return Record(item.source, error=f"file is {status.st_size / 1e6:.0f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB limit")
    if not os.access(item.path, os.R_OK):
        return Record(item.source, error="cannot open (permission denied)")
    return None


def read_with_ray(inputs: list[Input], model: Path, ink_model: Path | None, sequence_model: Path | None, unsure: float,
                  out: Path, workers: int | None = None, address: str | None = None, batch_size: int = 32,
                  second_look: int | None = None) -> dict:
    """Read `inputs` on Ray Data and write the records to `out` (a folder Ray fills); returns counts and timings."""
    import ray

    if out.suffix not in OUTPUT_SUFFIXES:
        raise EdgeDigitsError(f"--out {out}: name it NAME.jsonl or NAME.parquet (Ray writes a folder of that name)")
    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    quiet_ray_data()
    ready = time.perf_counter()
    workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    refused = [record for record in map(check_input, inputs) if record is not None]
    refused_sources = {record.source for record in refused}
    to_read = [item for item in inputs if item.source not in refused_sources]
    # The records name files as `read` does (relative to here when given so): a mapping of a million paths need not
    # travel to every actor when one rule gives them all back.
    paths = {os.path.abspath(item.path): item.source for item in to_read}
    here = os.getcwd()
    if all(os.path.relpath(path, here) == source for path, source in paths.items()):
        base, sources = here, None
    elif all(path == source for path, source in paths.items()):
        base, sources = None, None
    else:
        base, sources = None, paths
    if to_read:
        # Reading files is I/O: the read tasks ask for no CPU, so that actors on every CPU never starve them. A few
        # large blocks (8 per actor) rather than Ray's default of many small ones: per-block overhead cost 16 points.
        dataset = ray.data.read_binary_files(list(paths), include_paths=True, ignore_missing_paths=True, num_cpus=0,
                                             concurrency=READ_TASKS, override_num_blocks=max(1, min(len(paths) // batch_size, 8 * workers)))
        dataset = dataset.map_batches(
            ReadBatch, fn_constructor_args=(str(model), ink_model and str(ink_model), sequence_model and str(sequence_model),
                                            unsure, base, sources, second_look),
            batch_size=batch_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1)
        if refused:
            dataset = dataset.union(ray.data.from_items([record.as_dict() for record in refused]))
    else:
        dataset = ray.data.from_items([record.as_dict() for record in refused])
    writer = dataset.write_parquet if out.suffix == ".parquet" else dataset.write_json
    writer(str(out))
    finished = time.perf_counter()
    records_written = sum(1 for _ in read_records(out))
    stats = {"inputs": len(inputs), "refused_before_ray": len(refused), "records": records_written,
             "workers": workers, "startup_s": round(ready - started, 2), "seconds": round(finished - ready, 2),
             "images_per_second": round(len(to_read) / max(1e-9, finished - ready), 1)}
    missing = len(inputs) - records_written
    if missing:  # files that vanished between listing and reading: Ray skipped them (ignore_missing_paths)
        stats["vanished"] = missing
    return stats


def quiet_ray_data() -> None:
    """Ray Data's progress bars and per-operator INFO lines off: the command prints its own summary."""
    import logging

    import ray

    context = ray.data.DataContext.get_current()
    for name in ("enable_progress_bars", "enable_operator_progress_bars", "print_on_execution_start"):
        if hasattr(context, name):
            setattr(context, name, False)
    for name in ("ray.data", "ray"):
        logging.getLogger(name).setLevel(logging.WARNING)


def read_records(out: Path):
    """The records Ray wrote under `out` (JSON lines or Parquet), for checks and tests."""
    out = Path(out)
    if out.suffix == ".parquet":
        import pyarrow.parquet as pq

        for part in sorted(out.glob("*.parquet")):
            yield from pq.read_table(part).to_pylist()
    else:
        for part in sorted(out.glob("*.json*")):
            for line in part.read_text().splitlines():
                if line.strip():
                    yield json.loads(line)
