"""Writing files so that a reader never sees half of one.

Every artifact (cached data, models, reports, plots, the index) is written to a
temporary file in the destination folder and renamed over the target only once
it is complete. A failure leaves the old file, or nothing, but never a fragment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def temporary_beside(target: Path) -> Path:
    """A new empty file beside `target`, hidden, with the target's suffix and ordinary permissions.

    The suffix is kept so that tools that pick a format from the extension
    (Keras, matplotlib, numpy, OpenCV's VideoWriter) write the right thing.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".partial{target.suffix}", dir=target.parent)
    os.close(handle)
    os.chmod(name, 0o666 & ~_current_umask())  # mkstemp makes it private; the result should not be
    return Path(name)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it to `target` if the block succeeds."""
    temporary = temporary_beside(Path(target))
    target = Path(target)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as temporary:
        temporary.write_bytes(data)


def write_json_atomic(target: str | os.PathLike, value: object) -> None:
    write_bytes_atomic(target, (json.dumps(value, indent=2) + "\n").encode())


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
