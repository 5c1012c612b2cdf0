"""`edgedigits serve`: the HTTP API against generated images and a generated video, reconnecting, the token."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from edgedigits.errors import EdgeDigitsError  # noqa: E402
from edgedigits.runtime import Reader  # noqa: E402
from edgedigits.runtime.batch import read_one  # noqa: E402
from edgedigits.runtime.inputs import Input  # noqa: E402
from edgedigits.runtime.serve import create_app  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reader(tiny_models):
    return Reader(tiny_models[0] / "mlp.onnx", device="cpu")


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """3 seconds of "2017" at 10 fps."""
    page = cv2.imread(str(SAMPLES / "2017.jpg"))
    path = tmp_path_factory.mktemp("video") / "page.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (page.shape[1], page.shape[0]))
    for _ in range(30):
        writer.write(page)
    writer.release()
    return path


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_post_read_answers_as_read_does(reader):
    expected = read_one(reader, Input("2017.jpg", SAMPLES / "2017.jpg")).as_dict()
    data = (SAMPLES / "2017.jpg").read_bytes()
    with TestClient(create_app(reader)) as client:
        raw = client.post("/read", content=data, headers={"content-type": "image/jpeg"})
        multipart = client.post("/read", files={"image": ("2017.jpg", data, "image/jpeg")})
    assert raw.status_code == 200 and multipart.status_code == 200
    assert raw.json()["text"] == multipart.json()["text"] == expected["text"]
    assert multipart.json() == expected  # the same record, field for field (source: the uploaded file's name)
    assert set(raw.json()) == {"source", "text", "lines", "digits", "error"}


@pytest.mark.parametrize("body, status, says", [
    (b"", 400, "empty upload"),
    (b"this is not an image", 400, "not an image OpenCV can decode"),
    ((SAMPLES / "2017.jpg").read_bytes()[:5000], 400, "truncated JPEG"),
])
def test_a_bad_upload_is_a_4xx_that_says_why(reader, body, status, says):
    with TestClient(create_app(reader)) as client:
        answer = client.post("/read", content=body)
    assert answer.status_code == status and says in answer.json()["error"]


def test_uploads_over_the_limits_are_refused(reader):
    big_header = np.zeros((8000, 8000), np.uint8)  # 64 MP: over the pixel limit, refused from its header
    png = cv2.imencode(".png", big_header)[1].tobytes()
    with TestClient(create_app(reader, max_upload_bytes=100_000)) as client:
        too_many_bytes = client.post("/read", content=(SAMPLES / "2017.jpg").read_bytes() * 40)
        too_many_pixels = client.post("/read", content=png)
        no_file = client.post("/read", data={"note": "no file here"}, files={})
    assert too_many_bytes.status_code == 413 and "byte limit" in too_many_bytes.json()["error"]
    assert too_many_pixels.status_code == 413 and "MP limit" in too_many_pixels.json()["error"]
    assert no_file.status_code == 400


def test_without_a_source_the_api_alone(reader):
    with TestClient(create_app(reader)) as client:
        health = client.get("/health").json()
        assert health["state"] == "none" and health["provider"] == "CPUExecutionProvider"
        for path in ("/reading", "/snapshot.jpg", "/stream.mjpg"):
            answer = client.get(path)
            assert answer.status_code == 404 and "without a SOURCE" in answer.json()["error"]
        page = client.get("/")
        assert page.status_code == 200 and "stream.mjpg" in page.text and "<script>" in page.text


def test_a_video_source_is_read_live_and_streamed(reader, video):
    app = create_app(reader, str(video))
    with TestClient(app) as client:
        assert wait_for(lambda: app.state.feed.latest is not None)
        reading = client.get("/reading").json()
        assert reading["text"] == "2017" and reading["frame"] >= 0 and reading["fps"] > 0
        snapshot = client.get("/snapshot.jpg")
        assert snapshot.headers["content-type"] == "image/jpeg"
        assert cv2.imdecode(np.frombuffer(snapshot.content, np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3)
        with client.stream("GET", "/stream.mjpg") as stream:
            assert stream.headers["content-type"].startswith("multipart/x-mixed-replace; boundary=frame")
            received = b""
            for chunk in stream.iter_bytes():
                received += chunk
                if received.count(b"--frame") >= 3:
                    break
        part = received.split(b"--frame\r\n")[1]
        headers, jpeg = part.split(b"\r\n\r\n", 1)
        length = int(headers.split(b"Content-Length: ")[1])
        assert cv2.imdecode(np.frombuffer(jpeg[:length], np.uint8), cv2.IMREAD_COLOR) is not None
        assert client.get("/health").json()["state"] in ("running", "ended")
        assert wait_for(lambda: client.get("/health").json()["state"] == "ended", 10)  # 3 s of video, played in time


class FlakyCamera:
    """A camera that delivers `frames` frames, then fails (unplugged); opening it fails `gone` times after that."""

    opened = 0
    gone = 0

    def __init__(self, frames: int):
        self.left, self.page = frames, cv2.imread(str(SAMPLES / "2017.jpg"))

    def read(self):
        time.sleep(0.02)
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, self.page

    def get(self, prop):
        return 25.0

    def release(self):
        pass


def test_a_camera_that_disconnects_is_reconnected(reader):
    opens = []

    def open_source(source, size, fps):
        opens.append(time.monotonic())
        if len(opens) in (2, 3):  # unplugged: the device is gone for two tries
            raise EdgeDigitsError("cannot open camera 7: no such device")
        return FlakyCamera(frames=5 if len(opens) == 1 else 1000)

    app = create_app(reader, "7", open_source=open_source)
    states = []
    with TestClient(app) as client:
        def watch() -> bool:
            health = client.get("/health").json()
            states.append(health["state"])
            return len(opens) >= 4 and health["state"] == "running" and health["frames"] > 5
        assert wait_for(watch, 15)
        health = client.get("/health").json()
        assert health["reconnects"] >= 3 and client.get("/reading").json()["text"] == "2017"
    assert "reconnecting" in states
    assert opens[3] - opens[1] >= 1.0  # backed off: 0.5 s, then 1 s, between tries


def test_the_token_guards_every_endpoint(reader):
    with TestClient(create_app(reader, token="s3cret")) as client:
        for path in ("/", "/health", "/reading"):
            assert client.get(path).status_code == 401
        assert client.post("/read", content=b"x").status_code == 401
        assert client.get("/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/health?token=s3cret").status_code == 200
        assert client.get("/health?token=wrong").status_code == 401


def test_read_and_stream_never_import_the_server_stack():
    import subprocess
    import sys

    code = ("import sys, edgedigits.cli, edgedigits.runtime.batch, edgedigits.runtime.stream; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'multipart')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_the_feed_thread_is_off_the_event_loop(reader, video):
    app = create_app(reader, str(video))
    with TestClient(app):
        assert wait_for(lambda: app.state.feed.latest is not None)
        assert app.state.feed.thread.name == "edgedigits-feed" and app.state.feed.thread is not threading.main_thread()
    assert not app.state.feed.thread.is_alive()  # stopped with the app


def test_serve_refuses_a_video_file_that_is_not_there(tmp_path):
    from typer.testing import CliRunner

    from edgedigits.cli import app

    result = CliRunner().invoke(app, ["serve", str(tmp_path / "nothere.mp4"), "--mask", "threshold"])
    assert result.exit_code == 1 and "nothere.mp4: no such video file" in result.output
