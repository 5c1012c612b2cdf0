"""Reading images: the Reader, `edgedigits read`, every bad input of the runtime issue, and `eval --pages`."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edgedigits import model_index
from edgedigits.cli import app
from edgedigits.evaluate import align
from edgedigits.runtime import Reader
from edgedigits.runtime.inputs import MAX_PIXELS, ImageError, decode, expand

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
runner = CliRunner(env={"COLUMNS": "250"})
pytestmark = pytest.mark.slow  # most tests here need the small trained model


@pytest.fixture(scope="module")
def model_path(tiny_models):
    return tiny_models[0] / "mlp.onnx"


@pytest.fixture(scope="module")
def reader(model_path):
    return Reader(model_path, device="cpu")


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


# --- The Reader on the committed samples ------------------------------------------------------------


@pytest.mark.parametrize("name, lines", [("2017", ["2017"]), ("two-lines", ["385", "46"]), ("board", ["1024"])])
def test_reads_the_samples(reader, name, lines):
    reading = reader.read(cv2.imread(str(SAMPLES / f"{name}.jpg")))
    assert reading.lines == lines
    assert reading.text == "\n".join(lines)
    assert [d.line for d in reading.digits] == [i for i, line in enumerate(lines) for _ in line]
    assert all(0 < d.confidence <= 1 for d in reading.digits)
    xs = [d.box[0] for d in reading.digits if d.line == 0]
    assert xs == sorted(xs)


TRAINED = SAMPLES.parent / "models"
DEFAULT_FILES = ("cnn-bn-aug.int8.onnx", "inkseg.onnx", "seqread.int8.onnx")


@pytest.fixture(scope="module")
def trained_reader():
    """The default reader with the trained models in models/; the test is skipped where they are not there."""
    if not all((TRAINED / name).exists() for name in DEFAULT_FILES):
        pytest.skip("needs the trained models in models/ (make train export calibrate)")
    return Reader(TRAINED / DEFAULT_FILES[0], device="cpu", ink_model=TRAINED / DEFAULT_FILES[1],
                  sequence_model=TRAINED / DEFAULT_FILES[2])


def test_the_default_reader_reads_every_sample_with_the_trained_models(trained_reader):
    """The quick start's promise, where the models are trained: every committed sample reads as its truth with the
    default reader (a change in the reader read the seed's own "2017" as "26017" twice before this test)."""
    reader = trained_reader
    for line in (SAMPLES / "truth.jsonl").read_text().splitlines():
        truth = json.loads(line)
        assert reader.read(cv2.imread(str(SAMPLES / truth["file"]))).lines == truth["lines"], truth["file"]


def test_the_seed_s_2017_reads_2017_as_a_webcam_would_send_it(trained_reader, tmp_path):
    """The seed's photo re-encoded at JPEG qualities from 50 to 95 and as a frame of an MJPG video (what a webcam
    sends): 2017 every time. Its 0 has a lead-in hook that the previous sequence model read as a 6 in 5 of these
    9 frames ("26017"), while the photo itself read right."""
    reader = trained_reader
    photo = cv2.imread(str(SAMPLES / "2017.jpg"))
    frames = {f"JPEG {quality}": cv2.imdecode(cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
              for quality in (50, 60, 70, 75, 80, 85, 90, 95)}
    video = cv2.VideoWriter(str(tmp_path / "2017.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (photo.shape[1], photo.shape[0]))
    video.write(photo)
    video.release()
    capture = cv2.VideoCapture(str(tmp_path / "2017.avi"))
    found, frames["MJPG frame"] = capture.read()
    capture.release()
    assert found
    assert {name: reader.read(frame).text for name, frame in frames.items()} == {name: "2017" for name in frames}


def test_gray_input_reads_the_same(reader):
    image = cv2.imread(str(SAMPLES / "2017.jpg"))
    assert reader.read(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)).text == reader.read(image).text


def test_unsure_digits_show_as_question_marks(model_path):
    image = cv2.imread(str(SAMPLES / "2017.jpg"))
    assert Reader(model_path, device="cpu", unsure_below=1.0).read(image).text == "????"
    assert Reader(model_path, device="cpu", unsure_below=0.0).read(image).text == "2017"


def test_boxes_are_in_the_original_pixels(reader):
    image = cv2.imread(str(SAMPLES / "2017.jpg"))
    big = cv2.resize(image, None, fx=3, fy=3)  # 1920x1440: read at a smaller working size
    small_boxes = [d.box for d in reader.read(image).digits]
    big_boxes = [d.box for d in reader.read(big).digits]
    assert len(big_boxes) == 4
    for (x, y, w, h), (bx, by, bw, bh) in zip(small_boxes, big_boxes):
        assert abs(bx - 3 * x) <= 9 and abs(bw - 3 * w) <= 12 and abs(by - 3 * y) <= 9


# --- Bad input: each gives a clear message, never a traceback -----------------------------------------


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "empty.jpg").write_bytes(b"")
    jpeg = (SAMPLES / "2017.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "notes.png").write_text("this is a text file, not a picture\n")
    cv2.imwrite(str(folder / "dot.png"), np.zeros((1, 1), np.uint8))
    write_huge_png(folder / "huge.png", 30000, 30000)
    cv2.imwrite(str(folder / "white.png"), np.full((480, 640), 255, np.uint8))
    cv2.imwrite(str(folder / "black.png"), np.zeros((480, 640), np.uint8))
    cv2.imwrite(str(folder / "noise.png"), np.random.default_rng(0).integers(0, 256, (480, 640), dtype=np.uint8))
    (folder / "no-images").mkdir()
    (folder / "no-images" / "readme.txt").write_text("nothing to see")
    return folder


def write_huge_png(path: Path, width: int, height: int) -> None:
    """A real, valid 30000x30000 gray PNG (about 1 MB on disk, 900 MB of pixels once decoded)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    compressor, row = zlib.compressobj(9), b"\x00" * (width + 1)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


@pytest.mark.parametrize("name, message", [
    ("empty.jpg", "empty file (0 bytes)"),
    ("truncated.jpg", "truncated JPEG"),
    ("notes.png", "not an image OpenCV can decode"),
    ("dot.png", "image is 1x1 pixels: too small to hold a digit"),
    ("huge.png", f"image is 30000x30000 pixels (900 MP), over the {MAX_PIXELS / 1e6:.0f} MP limit"),
])
def test_bad_files_are_refused_with_a_reason(bad_inputs, name, message):
    with pytest.raises(ImageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode((bad_inputs / name).read_bytes())


@pytest.mark.parametrize("name", ["white.png", "black.png", "noise.png"])
def test_pages_without_digits_read_as_nothing(reader, bad_inputs, name):
    reading = reader.read(cv2.imread(str(bad_inputs / name), cv2.IMREAD_UNCHANGED))
    assert reading.lines == [] and reading.text == ""


def test_expand_reports_missing_paths_empty_folders_and_empty_globs(bad_inputs):
    items = expand([str(bad_inputs / "absent.jpg"), str(bad_inputs / "no-images"), str(bad_inputs / "*.gif")])
    assert [item.error for item in items] == ["no such file or folder", f"no images ({', '.join(sorted(['.jpg', '.jpeg', '.jfif', '.jpe', '.jp2', '.png', '.bmp', '.tif', '.tiff', '.webp', '.pgm', '.ppm', '.pbm', '.gif']))}) in this folder", "no file matches this pattern"]
    found = expand([str(bad_inputs / "*.png"), str(SAMPLES)])
    assert [Path(i.source).name for i in found][:2] == ["black.png", "dot.png"]
    assert any(i.source.endswith("2017.jpg") for i in found)


def test_a_folder_of_scans_lists_pdfs_and_refuses_them_with_what_to_do(tmp_path):
    """Scanners write PDFs: in a folder each is listed and refused with the way out, not passed over in silence;
    JPEGs saved as .jfif or .jpe and JPEG 2000 files are read."""
    from edgedigits.runtime.inputs import ImageError, decode, expand

    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
    (tmp_path / "scan-001.pdf").write_bytes(pdf)
    photo = cv2.imread(str(SAMPLES / "2017.jpg"))
    (tmp_path / "b.jfif").write_bytes((SAMPLES / "2017.jpg").read_bytes())
    cv2.imwrite(str(tmp_path / "c.jp2"), photo)
    (tmp_path / "notes.txt").write_text("not listed")
    found = expand([str(tmp_path)])
    assert [item.path.name for item in found] == ["b.jfif", "c.jp2", "scan-001.pdf"]
    with pytest.raises(ImageError, match="a PDF document, not an image: export its pages as images first"):
        decode(pdf)
    for name in ("b.jfif", "c.jp2"):
        assert decode((tmp_path / name).read_bytes()).shape == photo.shape


def test_a_batch_goes_on_past_every_bad_input(model_path, bad_inputs, monkeypatch, tmp_path):
    import edgedigits.runtime.inputs as inputs

    unreadable = tmp_path / "locked.jpg"
    unreadable.write_bytes(b"\xff\xd8")

    def locked_open(path, *args, **kwargs):  # root can read any file, so permission trouble is simulated
        if Path(path) == unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(inputs, "open", locked_open, raising=False)
    result = invoke("read", "--model", model_path, "--mask", "threshold", "--sequence", "none", "--format", "jsonl",
                    bad_inputs, bad_inputs / "no-images",
                    unreadable, bad_inputs / "absent.png", SAMPLES / "2017.jpg")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {Path(r["source"]).name: r for r in records}
    assert result.exit_code == 1
    assert "inputs could not be read" in result.stderr and "Traceback" not in result.output
    assert by_name["2017.jpg"]["text"] == "2017" and by_name["2017.jpg"]["error"] is None
    assert by_name["locked.jpg"]["error"] == "cannot read: Permission denied"
    assert by_name["absent.png"]["error"] == "no such file or folder"
    assert by_name["no-images"]["error"].startswith("no images")
    for name in ("empty.jpg", "truncated.jpg", "notes.png", "dot.png", "huge.png"):
        assert by_name[name]["error"] and by_name[name]["text"] == ""
    for name in ("white.png", "black.png", "noise.png"):
        assert by_name[name]["error"] is None and by_name[name]["text"] == ""
    assert set(records[0]) == {"source", "text", "lines", "digits", "error"}


def test_a_model_that_is_not_onnx_is_one_line(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_text("not a model")
    result = invoke("read", "--model", fake, SAMPLES / "2017.jpg")
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {fake}: not a loadable ONNX model (" + result.output.strip().split("(", 1)[1]


def test_a_model_with_another_input_shape_is_refused(tmp_path):
    from conftest import write_linear_onnx

    path = write_linear_onnx(tmp_path / "rgb.onnx", input_shape=(None, 32, 32, 3))
    result = invoke("read", "--model", path, SAMPLES / "2017.jpg")
    assert result.exit_code == 1 and "not an edgedigits model" in result.output


# --- Output formats and annotated copies --------------------------------------------------------------


def test_text_and_csv_formats(model_path):
    text = invoke("read", "--model", model_path, SAMPLES / "two-lines.jpg")
    assert text.exit_code == 0 and text.stdout.strip() == f"{SAMPLES / 'two-lines.jpg'}: 385 / 46"
    table = invoke("read", "--model", model_path, "--format", "csv", SAMPLES / "2017.jpg", SAMPLES / "nope.jpg")
    rows = table.stdout.splitlines()
    assert rows[0] == "source,text,digits,min_confidence,error"
    assert rows[1].startswith(f"{SAMPLES / '2017.jpg'},2017,4,0.")
    assert rows[2] == f"{SAMPLES / 'nope.jpg'},,0,,no such file or folder"
    assert table.exit_code == 1


def test_an_image_piped_in_is_read_from_standard_input(model_path):
    """`rpicam-still -o - | edgedigits read -`: the bytes piped in are one input, named -; given twice, the second
    gets an error record; with nothing piped in (a terminal), one line says what to do."""
    from edgedigits.runtime.inputs import ImageError, read_stdin

    piped = runner.invoke(app, ["read", "--model", str(model_path), "-", "-"], input=(SAMPLES / "2017.jpg").read_bytes())
    assert piped.stdout.splitlines() == ["-: 2017", "-: error: standard input is read once: give - only once"]
    assert piped.exit_code == 1

    class Terminal:
        def isatty(self):
            return True

    with pytest.raises(ImageError, match=r"nothing is piped in: pipe an image's bytes \(cat photo.jpg \| edgedigits read -\)"):
        read_stdin(Terminal())
    empty = runner.invoke(app, ["read", "--model", str(model_path), "-"], input=b"")
    assert empty.stdout.strip() == "-: error: nothing was piped in (0 bytes): pipe an image's bytes, or give a file"

def test_save_writes_annotated_copies(model_path, tmp_path, monkeypatch):
    monkeypatch.chdir(SAMPLES.parent)
    out = tmp_path / "out"
    result = invoke("read", "--model", model_path, "--save", out, "--format", "jsonl", "samples/2017.jpg", "samples/board.jpg")
    assert result.exit_code == 0
    saved = sorted(str(p.relative_to(out)) for p in out.rglob("*.jpg"))
    assert saved == ["samples/2017.jpg.read.jpg", "samples/board.jpg.read.jpg"]
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["annotated"] == str(out / "samples" / "2017.jpg.read.jpg")
    annotated = cv2.imread(records[0]["annotated"])
    assert annotated.shape == cv2.imread(str(SAMPLES / "2017.jpg")).shape


def test_save_never_loses_a_copy_to_a_name_clash(model_path, tmp_path, monkeypatch):
    """Same file names in different folders, and a re-run: one copy per input, replaced, never numbered."""
    image = cv2.imread(str(SAMPLES / "2017.jpg"))
    for folder in ("a", "b", "c/d"):
        (tmp_path / folder).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / folder / "x.jpg"), image)
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        result = invoke("read", "--model", model_path, "--save", "out", "a/x.jpg", "b/x.jpg", "c/d/x.jpg", str(tmp_path / "a" / "x.jpg"))
        assert result.exit_code == 0
    saved = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.jpg"))
    absolute = str((tmp_path / "a" / "x.jpg.read.jpg").relative_to(tmp_path.anchor))
    assert saved == sorted(["a/x.jpg.read.jpg", "b/x.jpg.read.jpg", "c/d/x.jpg.read.jpg", absolute])


def test_unknown_format():
    result = invoke("read", "--format", "xml", SAMPLES / "2017.jpg")
    assert result.exit_code == 1 and "unknown format 'xml'" in result.output


def test_default_model_comes_from_the_index(tmp_path, monkeypatch):
    from conftest import write_linear_onnx

    for name, accuracy in (("weak", 0.9), ("strong", 0.99)):
        path = write_linear_onnx(tmp_path / f"{name}.onnx")
        model_index.add_entry(tmp_path, model_index.describe(path, name=name, precision="fp32", test_accuracy=accuracy,
                                                             faster_here=False))
    int8 = write_linear_onnx(tmp_path / "strong.int8.onnx", seed=3)
    model_index.add_entry(tmp_path, model_index.describe(int8, name="strong", precision="int8", test_accuracy=0.99,
                                                         faster_here=True, gate={"passed": True}, timed_on="aarch64 0xd08"))
    assert model_index.default_model(tmp_path) == tmp_path / "strong.onnx"  # timed faster on another CPU: says nothing here
    model_index.refresh_entry(int8, timed_on=model_index.this_machine())
    assert model_index.default_model(tmp_path) == int8  # timed faster on this one
    monkeypatch.chdir(tmp_path.parent)
    assert model_index.default_model(tmp_path.parent / "nothing-here") is None


def test_a_model_copied_without_its_index_is_found_by_its_own_metadata(tmp_path, monkeypatch):
    """One .onnx file copied to a Raspberry Pi runs with no --model; among several, the most accurate digit model."""
    import onnx

    from conftest import write_linear_onnx

    def write(file_name, **props):
        path = write_linear_onnx(tmp_path / file_name)
        proto = onnx.load(path)
        onnx.helper.set_model_props(proto, {key: str(value) for key, value in props.items()})
        onnx.save(proto, path)
        return path

    only = write("cnn.int8.onnx", name="cnn", precision="int8", test_accuracy=0.99)
    write("inkseg.onnx", name="inkseg", precision="fp32", kind="inkseg")
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    assert model_index.default_model(tmp_path) == only  # the one digit model, whatever its precision
    assert model_index.default_ink_model(tmp_path) == tmp_path / "inkseg.onnx"
    assert model_index.default_sequence_model(tmp_path) is None
    fp32 = write("cnn.onnx", name="cnn", precision="fp32", test_accuracy=0.99)
    write("mlp.onnx", name="mlp", precision="fp32", test_accuracy=0.98)
    assert model_index.default_model(tmp_path) == fp32  # untimed here: fp32
    monkeypatch.chdir(tmp_path.parent)
    (tmp_path.parent / "models").mkdir(exist_ok=True)
    (tmp_path.parent / "models" / "cnn.onnx").write_bytes(fp32.read_bytes())
    result = invoke("read", SAMPLES / "2017.jpg", "--format", "jsonl", "--mask", "threshold", "--sequence", "none")
    assert result.exit_code == 0 and "reading with models/cnn.onnx" in result.output


# --- Field accuracy -------------------------------------------------------------------------------------


def test_alignment_counts_right_wrong_missed_and_invented():
    assert align("2017", "2017") == (4, 0, 0, 0)
    assert align("2017", "2?17") == (3, 1, 0, 0)
    assert align("2017", "217") == (3, 0, 1, 0)
    assert align("2017", "20177") == (4, 0, 0, 1)
    assert align("385\n46", "385") == (3, 0, 2, 0)


def test_eval_pages_on_a_small_field_set(model_path, mnist, tmp_path):
    from edgedigits.fieldset import write_pages

    write_pages(tmp_path / "pages", 6, seed=1, mnist_test=mnist[1])
    report_path = tmp_path / "pages.json"
    result = invoke("eval", model_path, "--pages", tmp_path / "pages", "--device", "cpu", "--report", report_path)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    overall = report["overall"]
    assert overall["pages"] == 6
    assert overall["right"] + overall["wrong"] + overall["missed"] == overall["digits"]
    assert set(report["by_group"]) >= {"easy", "medium", "hard", "easy/mnist", "easy/script"}
    assert f"{overall['exact']}/6 pages exact" in result.output


def test_eval_pages_without_ground_truth(model_path, tmp_path):
    result = invoke("eval", model_path, "--pages", tmp_path)
    assert result.exit_code == 1 and "truth.jsonl: no ground truth" in result.output


# --- Special files and CSV (one record per input, output a program can parse) --------------------------


def read_in_thread(reader, item, seconds: float = 20):
    """`read_one` in a thread, so that a read that blocks fails the test instead of hanging it."""
    import threading

    from edgedigits.runtime.batch import read_one

    result = []
    worker = threading.Thread(target=lambda: result.append(read_one(reader, item)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert result, f"reading {item.source} blocked for {seconds} s"
    return result[0]


def test_special_files_get_an_error_record_and_are_never_opened(reader, tmp_path):
    import os

    from edgedigits.runtime.inputs import Input

    zero = tmp_path / "x.jpg"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    for path in (zero, fifo):
        (item,) = expand([str(path)])
        record = read_in_thread(reader, item)
        assert record.error == "not a regular file (a device, a FIFO or a socket): give an image file", path
    record = read_in_thread(reader, Input("folder", tmp_path))
    assert record.error == "is a folder, not an image"


def test_files_over_the_byte_limit_are_refused_unread(reader, tmp_path, monkeypatch):
    import edgedigits.runtime.inputs as inputs
    from edgedigits.runtime.inputs import Input

    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + bytes(5000))
    monkeypatch.setattr(inputs, "MAX_FILE_BYTES", 4000)
    record = read_in_thread(reader, Input(str(big), big))
    assert record.error == "file is 0 MB, over the 0 MB limit for one image: downscale or recompress it first"


def test_csv_rows_survive_newlines_and_never_start_a_formula():
    import csv
    import io

    from edgedigits.runtime.batch import CSV_COLUMNS, Record, format_record

    names = ["a\nb.jpg", "c\rd.jpg", '=HYPERLINK("http://x").jpg', "+1.jpg", "-2.jpg", "@3.jpg", "plain.jpg"]
    lines = [",".join(CSV_COLUMNS)] + [format_record(Record(name, ["12"], error=None), "csv") for name in names]
    rows = list(csv.reader(io.StringIO("\n".join(lines) + "\n")))
    assert len(rows) == 1 + len(names) and all(len(row) == len(CSV_COLUMNS) for row in rows)
    assert [row[0] for row in rows[1:3]] == ["a\nb.jpg", "c\rd.jpg"]
    assert [row[0] for row in rows[3:7]] == ["'=HYPERLINK(\"http://x\").jpg", "'+1.jpg", "'-2.jpg", "'@3.jpg"]
    assert rows[7][0] == "plain.jpg" and rows[7][1] == "12"


def test_one_record_per_input_in_order_whatever_the_inputs(model_path, tmp_path):
    """Every kind of bad input the audits found, among good photos: exactly one record each, in the order given."""
    import os
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_runtime import decompression_bombs

    photo = cv2.imread(str(SAMPLES / "2017.jpg"))
    inputs = []

    def add(name: str, data: bytes | None = None) -> None:
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        inputs.append(path)

    add("good-1.jpg", cv2.imencode(".jpg", photo)[1].tobytes())
    for kind, data in decompression_bombs().items():
        add(f"bomb.{kind}", data)
    add("float.tiff", cv2.imencode(".tiff", photo.astype(np.float32) / 255)[1].tobytes())
    add("sixteen.png", cv2.imencode(".png", photo.astype(np.uint16) * 257)[1].tobytes())
    add("trailer.jpg", cv2.imencode(".jpg", photo)[1].tobytes() + b"MotionPhoto" * 100)
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    add("zero.jpg")
    os.mkfifo(tmp_path / "fifo.jpg")
    add("fifo.jpg")
    add("text.png", b"not an image at all")
    add("good-2.png", cv2.imencode(".png", photo)[1].tobytes())
    result = invoke("read", "--model", model_path, "--mask", "threshold", "--sequence", "none", "--format", "jsonl", *inputs)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["source"] for r in records] == [str(p) for p in inputs]
    by_name = {Path(r["source"]).name: r for r in records}
    for name in ("good-1.jpg", "good-2.png", "float.tiff", "sixteen.png", "trailer.jpg"):
        assert by_name[name]["error"] is None, (name, by_name[name]["error"])
    for name in ("bomb.webp", "bomb.tiff", "bomb.pgm", "bomb.jpeg", "zero.jpg", "fifo.jpg", "text.png"):
        assert by_name[name]["error"], name
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_big_jpegs_are_decoded_smaller_and_boxes_stay_in_the_files_pixels(reader, tmp_path):
    from edgedigits.runtime.batch import read_one
    from edgedigits.runtime.inputs import Input, decode_for_reading

    photo = cv2.imread(str(SAMPLES / "2017.jpg"))
    big = cv2.resize(photo, (2560, 1920), interpolation=cv2.INTER_CUBIC)
    data = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    image, scale = decode_for_reading(data)
    assert image.shape == (960, 1280, 3) and scale == 2.0  # 1/2 keeps the 1,280 px long side segmentation uses
    assert decode_for_reading(cv2.imencode(".jpg", photo)[1].tobytes())[1] == 1.0  # small photos are decoded whole
    (tmp_path / "big.jpg").write_bytes(data)
    record = read_one(reader, Input("big.jpg", tmp_path / "big.jpg"))
    small = reader.read(photo)
    assert record.text == small.text == "2017"
    for mine, theirs in zip(record.digits, small.digits):  # the same boxes, 4x: in the big file's pixels
        assert all(abs(a - 4 * b) <= 12 for a, b in zip(mine.box, theirs.box))


def test_ink_on_a_transparent_layer_is_read_as_on_a_white_page(reader, tmp_path):
    """A PNG of black ink on a transparent layer (its transparent pixels black underneath, as tablets export them):
    read as a viewer shows it, on white; dropping the alpha made the whole page black and read nothing."""
    from edgedigits.runtime.batch import read_one
    from edgedigits.runtime.inputs import Input
    from edgedigits.runtime.segment import on_white

    gray = cv2.imread(str(SAMPLES / "2017.jpg"), cv2.IMREAD_GRAYSCALE)
    ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
    layer = np.zeros(gray.shape + (4,), np.uint8)
    layer[:, :, 3] = ink
    cv2.imwrite(str(tmp_path / "layer.png"), layer)
    cv2.imwrite(str(tmp_path / "page.png"), 255 - ink)
    assert np.array_equal(on_white(layer)[:, :, 0], 255 - ink)
    layered, page = (read_one(reader, Input(name, tmp_path / name)) for name in ("layer.png", "page.png"))
    assert layered.error is None and layered.text == page.text == "2017"
    half = np.dstack([np.full((4, 4, 3), 0, np.uint8), np.full((4, 4), 128, np.uint8)])
    assert on_white(half)[0, 0, 0] == 127  # half-transparent black: mid grey
    opaque = np.dstack([np.full((4, 4, 3), 90, np.uint8), np.full((4, 4), 255, np.uint8)])
    assert np.array_equal(on_white(opaque), np.full((4, 4, 3), 90, np.uint8))


@pytest.mark.parametrize("size", [(640, 480), (2560, 1920)])
def test_a_photo_stored_on_its_side_with_an_exif_orientation_reads_upright(reader, tmp_path, size):
    """A phone held upright stores "2017" turned 90 degrees, with EXIF Orientation 6 (turn clockwise to view): it
    reads "2017" as the upright photo does, small or decoded smaller, boxes in the upright file's pixels."""
    from test_runtime import with_exif_orientation

    from edgedigits.runtime.batch import read_one
    from edgedigits.runtime.inputs import Input

    photo = cv2.resize(cv2.imread(str(SAMPLES / "2017.jpg")), size, interpolation=cv2.INTER_CUBIC)
    stored = cv2.rotate(photo, cv2.ROTATE_90_COUNTERCLOCKWISE)
    data = cv2.imencode(".jpg", stored, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    (tmp_path / "portrait.jpg").write_bytes(with_exif_orientation(data, 6))
    (tmp_path / "upright.jpg").write_bytes(cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
    turned, upright = (read_one(reader, Input(name, tmp_path / name)) for name in ("portrait.jpg", "upright.jpg"))
    assert turned.text == upright.text == "2017"
    for mine, theirs in zip(turned.digits, upright.digits):
        assert all(abs(a - b) <= 3 * size[0] // 640 for a, b in zip(mine.box, theirs.box))
