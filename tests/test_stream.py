"""`edgedigits stream`: a generated video read to its end, smoothing, stale frames dropped, clear errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edgedigits.cli import app
from edgedigits.runtime.stream import Smoother, gui_available, live_frames

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
runner = CliRunner(env={"COLUMNS": "250"})


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """12 frames of "2017", one blank frame (a glitch), 11 more of "2017", then 12 of "385 / 46"; 10 fps."""
    first, second = (cv2.imread(str(SAMPLES / f"{name}.jpg")) for name in ("2017", "two-lines"))
    path = tmp_path_factory.mktemp("video") / "pages.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for frame in [first] * 12 + [np.full_like(first, 220)] + [first] * 11 + [second] * 12:
        writer.write(frame)
    writer.release()
    return path


def test_smoother_ignores_one_odd_frame():
    smoother = Smoother(window=5)
    shown = [smoother.push(text) for text in ["2017", "2017", "2017", "", "2017", "2O17", "2017", "385", "385", "385"]]
    assert shown == ["2017"] * 8 + ["385", "385"]


@pytest.mark.slow
def test_stream_reads_a_video_to_its_end(tiny_models, video, tmp_path):
    model = tiny_models[0] / "mlp.onnx"
    saved = tmp_path / "annotated.mp4"
    # The threshold mask and no sequence model, as on a clean clone: not whatever models/ holds where it runs.
    result = invoke("stream", video, "--model", model, "--mask", "threshold", "--sequence", "none", "--format", "jsonl", "--save", saved)
    assert result.exit_code == 0, result.output
    updates = [json.loads(line) for line in result.stdout.splitlines()]
    assert [u["text"] for u in updates] == ["2017", "385\n46"]  # the blank frame did not flicker the answer
    assert updates[0]["frame"] == 0 and 24 <= updates[1]["frame"] <= 27
    assert updates[1]["time"] == pytest.approx(updates[1]["frame"] / 10, abs=0.15)
    capture = cv2.VideoCapture(str(saved))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 36
    capture.release()
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.slow
def test_stream_text_output(tiny_models, video):
    result = invoke("stream", video, "--model", tiny_models[0] / "mlp.onnx", "--mask", "threshold", "--sequence", "none")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("00:00.00  frame     0  2017") and lines[1].endswith("385 / 46")


def test_a_camera_that_does_not_exist(tmp_path):
    from conftest import write_linear_onnx

    result = invoke("stream", "99", "--model", write_linear_onnx(tmp_path / "m.onnx"))
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("error: cannot open camera 99: no such device, it is busy, or OpenCV cannot decode it")


def test_a_video_that_does_not_exist(tmp_path):
    from conftest import write_linear_onnx

    result = invoke("stream", tmp_path / "missing.mp4", "--model", write_linear_onnx(tmp_path / "m.onnx"))
    assert result.exit_code == 1 and "missing.mp4: no such video file" in result.output


def test_show_without_a_gui_says_so(tmp_path, video):
    from conftest import write_linear_onnx

    if gui_available():
        pytest.skip("this OpenCV has a GUI")
    result = invoke("stream", video, "--show", "--model", write_linear_onnx(tmp_path / "m.onnx"))
    assert result.exit_code == 1 and "--show needs OpenCV with a GUI" in result.output


class FastCamera:
    """A capture that makes frames faster than they are read, then stops."""

    def __init__(self, frames: int):
        self.left = frames

    def read(self):
        time.sleep(0.002)
        if self.left == 0:
            return False, None
        self.left -= 1
        return True, np.full((4, 4), self.left, np.uint8)


def test_live_sources_drop_stale_frames():
    received = []
    for frame in live_frames(FastCamera(200)):
        received.append(frame.index)
        time.sleep(0.02)  # a reader ten times slower than the camera
    assert received == sorted(received) and len(set(received)) == len(received)
    assert len(received) < 100  # most frames were dropped, not queued
    assert received[-1] == 199  # the reader kept up with the newest, down to the last frame


def test_a_sink_that_got_no_frame_leaves_no_file(tmp_path):
    from edgedigits.runtime.stream import VideoSink

    sink = VideoSink(tmp_path / "out.mp4", 25.0)
    assert sink.close() is False
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_never_replaces_the_file_it_was_pointed_at(tmp_path):
    from edgedigits.errors import EdgeDigitsError
    from edgedigits.runtime.stream import VideoSink

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    with pytest.raises(EdgeDigitsError, match="not a video name"):
        VideoSink(notes, 25.0)
    with pytest.raises(EdgeDigitsError, match="cannot write there"):
        VideoSink(notes / "out.mp4", 25.0)  # through a file
    assert notes.read_text() == "my notes" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_sigterm_finishes_the_video_and_leaves_no_temporary(tiny_models, tmp_path):
    """SIGTERM mid-stream: the annotated video is finished and renamed into place (the rule for Ctrl-C too: a
    partial video that OpenCV closed properly is a valid video), and no hidden .partial file is left."""
    import signal
    import subprocess
    import sys

    long_video = tmp_path / "long.avi"
    frame = cv2.resize(cv2.imread(str(SAMPLES / "2017.jpg")), (320, 240))
    writer = cv2.VideoWriter(str(long_video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    for _ in range(3000):
        writer.write(frame)
    writer.release()
    out = tmp_path / "out" / "annotated.mp4"
    process = subprocess.Popen([sys.executable, "-m", "edgedigits", "stream", str(long_video), "--model",
                                str(tiny_models[0] / "mlp.onnx"), "--mask", "threshold", "--sequence", "none", "--save", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    def written() -> int:  # bytes of the temporary video so far
        sizes = [p.stat().st_size for p in out.parent.glob(".*.partial*") if p.exists()] if out.parent.exists() else []
        return max(sizes, default=0)

    while time.time() < deadline and written() < 50_000:  # wait until some frames are written
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert list(out.parent.glob(".*partial*")) == []
    capture = cv2.VideoCapture(str(out))
    assert capture.read()[0]  # a valid video of the frames read before the signal
    capture.release()


class StandInPicamera2:
    """Stands in for picamera2.Picamera2 (the real one needs a Pi and its camera): it yields "2017" frames at the
    configured size, in B,G,R order as picamera2's "RGB888" format does, and records how it was driven."""

    instances: list = []
    frames_left = 8

    def __init__(self, camera_num=0):
        self.camera_num, self.started, self.closed, self.config = camera_num, False, False, None
        StandInPicamera2.instances.append(self)

    def create_preview_configuration(self, main=None, controls=None):
        return {"main": dict(main or {}), "controls": dict(controls or {})}

    def configure(self, config):
        self.config = config

    def start(self):
        self.started = True

    def capture_array(self, name="main"):
        if not self.started or StandInPicamera2.frames_left <= 0:
            raise RuntimeError("Camera frontend has timed out!")
        StandInPicamera2.frames_left -= 1
        width, height = self.config["main"]["size"]
        return cv2.resize(cv2.imread(str(SAMPLES / "2017.jpg")), (width, height))

    def stop(self):
        self.started = False

    def close(self):
        self.closed = True


@pytest.fixture
def stand_in_picamera2(monkeypatch):
    import sys
    import types

    module = types.ModuleType("picamera2")
    module.Picamera2 = StandInPicamera2
    StandInPicamera2.instances, StandInPicamera2.frames_left = [], 8
    monkeypatch.setitem(sys.modules, "picamera2", module)
    return StandInPicamera2


@pytest.mark.slow
def test_the_pi_camera_is_read_through_picamera2(tiny_models, stand_in_picamera2):
    result = invoke("stream", "picamera:1", "--model", tiny_models[0] / "mlp.onnx", "--format", "jsonl",
                    "--size", "800x600", "--fps", "15", "--mask", "threshold", "--sequence", "none")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == ["2017"]
    camera, = stand_in_picamera2.instances
    assert camera.camera_num == 1 and camera.config["main"] == {"format": "RGB888", "size": (800, 600)}
    assert camera.config["controls"] == {"FrameRate": 15.0}
    assert camera.closed and stand_in_picamera2.frames_left == 0  # read until the camera stopped, then closed


def test_the_pi_camera_without_picamera2_says_how_to_install_it(monkeypatch, tmp_path):
    import sys

    from conftest import write_linear_onnx

    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails, as where it is not installed
    model = write_linear_onnx(tmp_path / "linear.onnx")
    result = invoke("stream", "picamera", "--model", model, "--mask", "threshold", "--sequence", "none")
    assert result.exit_code == 1
    assert "picamera2 is not installed" in result.output and "apt install python3-picamera2" in result.output
    assert "--system-site-packages" in result.output


def test_a_frame_size_must_be_width_by_height():
    result = invoke("stream", "0", "--size", "big")
    assert result.exit_code == 1 and "--size big: give WIDTHxHEIGHT" in result.output
