"""edgedigits.runtime: opening models on the right provider, refusing the wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from edgedigits import model_index
from edgedigits.errors import EdgeDigitsError
from edgedigits.runtime import open_model
from conftest import write_linear_onnx


def test_open_and_predict_on_cpu(tmp_path):
    model = open_model(write_linear_onnx(tmp_path / "linear.onnx"), device="cpu", threads=1)
    assert model.provider == "CPUExecutionProvider"
    probabilities = model.predict(np.random.default_rng(0).random((2500, 28, 28, 1), dtype=np.float32), batch_size=1000)
    assert probabilities.shape == (2500, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_auto_runs_on_what_onnxruntime_really_started(tmp_path):
    import onnxruntime as ort

    model = open_model(write_linear_onnx(tmp_path / "linear.onnx"), device="auto")
    assert model.provider in ort.get_available_providers()
    assert model.provider == model.session.get_providers()[0]


def test_cuda_fails_loudly_without_cuda(tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has a CUDA provider")
    with pytest.raises(EdgeDigitsError, match="no CUDA provider"):
        open_model(write_linear_onnx(tmp_path / "linear.onnx"), device="cuda")


def test_unknown_device(tmp_path):
    with pytest.raises(EdgeDigitsError, match="unknown device 'tpu'"):
        open_model(write_linear_onnx(tmp_path / "linear.onnx"), device="tpu")


def test_missing_file(tmp_path):
    with pytest.raises(EdgeDigitsError, match="no such model file"):
        open_model(tmp_path / "absent.onnx")


def test_a_file_that_is_not_onnx(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model")
    with pytest.raises(EdgeDigitsError, match="notes.onnx: not a loadable ONNX model"):
        open_model(path)


def test_a_model_with_another_input_shape(tmp_path):
    path = write_linear_onnx(tmp_path / "cifar.onnx", input_shape=(None, 32, 32, 3))
    with pytest.raises(EdgeDigitsError, match=r"not an edgedigits model: it takes 'image' \['N', 32, 32, 3\]"):
        open_model(path)


def test_a_model_with_another_input_name(tmp_path):
    with pytest.raises(EdgeDigitsError, match="not an edgedigits model"):
        open_model(write_linear_onnx(tmp_path / "other.onnx", input_name="input_1"))


def test_sha256_is_checked_against_the_index(tmp_path):
    path = write_linear_onnx(tmp_path / "linear.onnx", seed=0)
    model_index.add_entry(tmp_path, model_index.describe(path, name="linear"))
    open_model(path)  # matches its entry
    write_linear_onnx(path, seed=1)  # changed after it was indexed
    with pytest.raises(EdgeDigitsError, match="sha256 differs from its entry"):
        open_model(path)


def test_images_of_any_pixel_type_become_uint8():
    from edgedigits.runtime.segment import to_gray, to_uint8

    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(to_uint8(gray.astype(np.uint16) * 257), gray)
    assert np.array_equal(to_uint8(gray.astype(np.float32) / 255), gray)  # float: 1.0 is white (EXR, HDR, PFM)
    assert to_uint8(np.float32([[-1.0, 2.5, np.nan]])).tolist() == [[0, 255, 0]]  # clipped, NaN is black
    assert to_uint8(np.int16([[-5, 32767]])).tolist() == [[0, 255]]
    assert to_gray(np.zeros((16, 16, 1), np.float64)).dtype == np.uint8
    for bad in ([[1, 2], [3, 4]], np.zeros((5, 0, 3), np.uint8), np.zeros((4, 4), np.complex64)):
        with pytest.raises(ValueError):
            to_uint8(bad)


def test_a_reader_error_is_a_record_not_a_traceback(tmp_path, monkeypatch):
    """Whatever the pixels, a batch gets one record per input."""
    import edgedigits.runtime.batch as batch
    from conftest import write_linear_onnx
    from edgedigits.runtime import Reader
    from edgedigits.runtime.inputs import Input

    monkeypatch.setattr(batch, "load_for_reading", lambda path: (np.zeros((16, 16), np.complex64), 1.0))
    record = batch.read_one(Reader(write_linear_onnx(tmp_path / "linear.onnx"), device="cpu"), Input("odd.tif", tmp_path / "odd.tif"))
    assert record.error == "cannot read this image: expected an integer or float image, got complex64"


def test_jpeg_trailers_are_fine_truncation_is_not_and_fill_bytes_are_parsed():
    import cv2

    from edgedigits.runtime.inputs import ImageError, decode, image_size, jpeg_complete

    image = np.full((64, 96, 3), 200, np.uint8)
    image[20:40, 30:60] = 20
    data = cv2.imencode(".jpg", image)[1].tobytes()
    assert decode(data + b"MotionPhoto_Data" + bytes(5000)).shape == (64, 96, 3)  # a phone's trailer after EOI
    with pytest.raises(ImageError, match="truncated JPEG"):
        decode(data[: len(data) - 40])
    assert not jpeg_complete(data[:200])
    assert image_size(data[:2] + b"\xff\xff" + data[2:]) == (96, 64)  # fill bytes before a marker are legal


def test_a_phone_s_heic_photo_is_listed_and_refused_with_what_to_do(tmp_path):
    """A folder of iPhone photos (HEIC, which OpenCV cannot decode): each is listed and gets an error naming the
    format and the way out, instead of the folder reading as holding no images."""
    from edgedigits.runtime.inputs import ImageError, decode, expand

    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    (tmp_path / "IMG_0001.HEIC").write_bytes(heic)
    (found,) = expand([str(tmp_path)])
    assert found.path == tmp_path / "IMG_0001.HEIC" and found.error is None
    with pytest.raises(ImageError, match="HEIC/HEIF or AVIF .* export it as JPEG"):
        decode(heic)


def with_exif_orientation(data: bytes, orientation: int, order: str = "<") -> bytes:
    """A JPEG with an APP1 EXIF segment after its SOI whose IFD0 holds one entry, Orientation (a SHORT)."""
    import struct

    mark = b"II" if order == "<" else b"MM"
    tiff = mark + struct.pack(order + "HI", 42, 8) + struct.pack(order + "H", 1)
    tiff += struct.pack(order + "HHI", 0x0112, 3, 1) + struct.pack(order + "HH", orientation, 0) + struct.pack(order + "I", 0)
    payload = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


@pytest.mark.parametrize("order", ["<", ">"])
def test_a_jpeg_is_turned_upright_as_its_exif_orientation_says(order):
    """Phones store a portrait photo on its side with an EXIF Orientation; decoding turns it as OpenCV does when
    it applies the tag itself (IMREAD_COLOR), for all eight values and either byte order; without the tag, or with
    one that cannot be read, the image stays as stored."""
    import cv2

    from edgedigits.runtime.inputs import decode, exif_orientation

    image = np.zeros((40, 64, 3), np.uint8)
    image[5:15, 8:30] = (255, 128, 0)  # a corner block and a stripe: every turn and mirror looks different
    image[:, 50:54] = (0, 0, 255)
    data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes()
    assert exif_orientation(data) == 1 and np.array_equal(decode(data), cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    for orientation in range(1, 9):
        tagged = with_exif_orientation(data, orientation, order)
        assert exif_orientation(tagged) == orientation
        opencv = cv2.imdecode(np.frombuffer(tagged, np.uint8), cv2.IMREAD_COLOR)
        assert np.array_equal(decode(tagged), opencv), orientation
        assert decode(tagged).shape[:2] == ((64, 40) if orientation >= 5 else (40, 64))
    assert exif_orientation(with_exif_orientation(data, 9, order)) == 1  # out of range: as stored
    assert exif_orientation(with_exif_orientation(data, 6, order)[:30]) == 1  # cut inside the segment


def test_models_with_another_input_type_or_a_fixed_batch_are_refused_on_opening(tmp_path):
    from onnx import TensorProto

    from conftest import write_linear_onnx
    from edgedigits.runtime.session import open_model

    doubles = write_linear_onnx(tmp_path / "doubles.onnx", input_type=TensorProto.DOUBLE)
    with pytest.raises(EdgeDigitsError, match="its input 'image' is tensor\\(double\\), expected tensor\\(float\\)"):
        open_model(doubles, device="cpu")
    fixed = write_linear_onnx(tmp_path / "fixed.onnx", input_shape=(1, 28, 28, 1))
    with pytest.raises(EdgeDigitsError, match="its batch size is fixed at 1; export it with a dynamic batch axis"):
        open_model(fixed, device="cpu")


def test_save_folder_problems_are_one_line(tmp_path):
    from edgedigits.runtime.batch import prepare_save_dir

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EdgeDigitsError, match="a file is in the way"):
        prepare_save_dir(blocker)
    with pytest.raises(EdgeDigitsError, match="cannot create this folder"):
        prepare_save_dir(blocker / "below")


@pytest.mark.parametrize("index", ["", "{not json", '{"models": 3}', '{"models": [{"file": "linear.onnx"}]}',
                                   '{"models": [{"file": "linear.onnx", "sha256": "00", "test_accuracy": "high"}]}'])
def test_an_index_that_cannot_be_read_fails_closed(tmp_path, index):
    from conftest import write_linear_onnx
    from edgedigits.runtime.session import open_model

    path = write_linear_onnx(tmp_path / "linear.onnx")
    (tmp_path / "index.json").write_text(index)
    with pytest.raises(EdgeDigitsError, match="not a readable model index"):
        open_model(path, device="cpu")
    with pytest.raises(EdgeDigitsError, match="not a readable model index"):
        model_index.default_model(tmp_path)


@pytest.mark.parametrize("temperature", ["nan", "0", "-1", "warm", "inf"])
def test_a_temperature_that_is_not_a_positive_number_is_refused(tmp_path, temperature):
    import onnx

    from conftest import write_linear_onnx
    from edgedigits.runtime import Reader

    path = write_linear_onnx(tmp_path / "linear.onnx")
    proto = onnx.load(path)
    onnx.helper.set_model_props(proto, {"temperature": temperature})
    onnx.save(proto, path)
    with pytest.raises(EdgeDigitsError, match=f"its temperature metadata is '{temperature}', not a positive number"):
        Reader(path, device="cpu")


def decompression_bombs() -> dict[str, bytes]:
    """Small files whose headers declare images far over the pixel limit (made here, a few hundred bytes each)."""
    import struct

    import cv2

    small = np.full((37, 53, 3), 128, np.uint8)
    webp = b"RIFF" + struct.pack("<I", 22) + b"WEBP" + b"VP8X" + struct.pack("<I", 10) + bytes(4)
    webp += (16000 - 1).to_bytes(3, "little") + (16000 - 1).to_bytes(3, "little")
    tiff = bytearray(cv2.imencode(".tiff", small)[1].tobytes())
    (offset,) = struct.unpack("<I", tiff[4:8])
    (count,) = struct.unpack("<H", tiff[offset : offset + 2])
    for index in range(count):
        at = offset + 2 + 12 * index
        tag, kind = struct.unpack("<HH", tiff[at : at + 4])
        if tag in (256, 257):
            tiff[at + 8 : at + 12] = struct.pack("<H", 20000) + bytes(2) if kind == 3 else struct.pack("<I", 20000)
    jpeg = bytearray(cv2.imencode(".jpg", small)[1].tobytes())
    frame = jpeg.find(b"\xff\xc0")
    jpeg[frame + 5 : frame + 9] = struct.pack(">HH", 16000, 16000)
    jpeg = bytes(jpeg[:2]) + b"\xff" + bytes(jpeg[2:])  # a legal fill byte before the first marker
    return {"webp": webp, "tiff": bytes(tiff), "pgm": b"P5\n20000 20000\n255\n" + bytes(64), "jpeg": jpeg}


@pytest.mark.parametrize("kind", ["webp", "tiff", "pgm", "jpeg"])
def test_decompression_bombs_are_refused_from_their_headers(kind):
    from edgedigits.runtime.inputs import ImageError, decode

    with pytest.raises(ImageError, match="over the 50 MP limit: downscale it first"):
        decode(decompression_bombs()[kind])


def test_opencv_itself_is_held_to_the_pixel_limit():
    import os

    import edgedigits  # noqa: F401  (sets the limit before cv2 is imported)

    assert int(os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"]) == 50_000_000


def test_unreadable_subfolders_are_reported_not_skipped(tmp_path, monkeypatch):
    import os

    from edgedigits.runtime.inputs import expand

    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.jpg").write_bytes(b"x")
    (tmp_path / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path):  # root reads every folder, so a permission problem is simulated
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    items = expand([str(tmp_path)])
    assert [i.source for i in items if not i.error] == [str(tmp_path / "ok" / "a.jpg")]
    assert [(i.source, i.error) for i in items if i.error] == [(str(tmp_path / "locked"), "cannot read this folder: Permission denied")]


def test_names_that_are_not_utf8_are_written_escaped():
    import json

    from edgedigits.runtime.batch import Record, format_record

    name = b"caf\xe9.jpg".decode("utf-8", "surrogateescape")  # as Python lists such a file
    for output_format in ("text", "csv", "jsonl"):
        line = format_record(Record(name, ["12"]), output_format)
        line.encode("utf-8")  # strict UTF-8 output takes it
    assert format_record(Record(name, ["12"]), "text") == "caf\\xe9.jpg: 12"
    assert json.loads(format_record(Record(name, ["12"]), "jsonl"))["source"] == name


def test_any_failure_inside_the_reader_is_still_one_record(tmp_path, monkeypatch):
    import edgedigits.runtime.batch as batch
    from conftest import write_linear_onnx
    from edgedigits.runtime import Reader
    from edgedigits.runtime.inputs import Input

    reader = Reader(write_linear_onnx(tmp_path / "linear.onnx"), device="cpu")
    monkeypatch.setattr(batch, "load_for_reading", lambda path: (np.zeros((32, 32), np.uint8), 1.0))
    monkeypatch.setattr(reader, "read", lambda image: (_ for _ in ()).throw(RuntimeError("session failed\nmore")))
    record = batch.read_one(reader, Input("x.jpg", tmp_path / "x.jpg"))
    assert record.error == "reading failed: RuntimeError: session failed"


def test_opencv_warnings_stay_off_stderr(tmp_path):
    """A TIFF with a tag libtiff does not know: OpenCV warns about it, but not between our records."""
    import struct
    import subprocess
    import sys

    import cv2

    data = bytearray(cv2.imencode(".tiff", np.full((40, 40), 200, np.uint8))[1].tobytes())
    (offset,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[offset : offset + 2])
    last = offset + 2 + 12 * (count - 1)
    data[last : last + 2] = struct.pack("<H", 65000)  # the last tag becomes an unknown private one
    path = tmp_path / "odd.tiff"
    path.write_bytes(bytes(data))
    program = f"import edgedigits, cv2; assert cv2.imread({str(path)!r}) is not None"
    env = {k: v for k, v in __import__("os").environ.items() if k != "OPENCV_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env)
    assert quiet.returncode == 0 and "TIFF" not in quiet.stderr
    loud = subprocess.run([sys.executable, "-c", program.replace("edgedigits, ", "")], capture_output=True, text=True,
                          env=env | {"OPENCV_LOG_LEVEL": "WARNING"})
    assert "Unknown field with tag 65000" in loud.stderr  # the warning is real: it is only kept off


def test_a_page_of_noise_reads_as_nothing(tmp_path):
    from conftest import write_linear_onnx
    from edgedigits.runtime import Reader
    from edgedigits.runtime.reader import MAX_CANDIDATES

    rng = np.random.default_rng(0)
    noise = np.full((720, 1280), 200, np.uint8)
    chance = rng.random(noise.shape)
    noise[chance < 0.05], noise[chance > 0.95] = 0, 255  # salt and pepper: once read as hundreds of digits
    specks = np.full((720, 1280), 230, np.uint8)
    for row in range(30):
        for column in range(78):
            specks[10 + row * 23 : 17 + row * 23, 8 + column * 16 : 13 + column * 16] = 20
    reader = Reader(write_linear_onnx(tmp_path / "linear.onnx"), device="cpu")
    for page in (noise, specks):
        assert reader.read(page).digits == []
    few = np.full((200, 400), 230, np.uint8)
    few[50:150, 100:110] = few[50:150, 200:210] = 20  # two strokes are still read
    assert len(reader.read(few).digits) == 2 <= MAX_CANDIDATES
