"""`edgedigits serve`: the live view in a browser and an HTTP API, for a headless Raspberry Pi or a webcam.

Endpoints (all JSON unless said):
    /               one small page: the live annotated video, the reading, fps, provider and model
    /stream.mjpg    the annotated frames as MJPEG (multipart/x-mixed-replace)
    /snapshot.jpg   the latest annotated frame
    /reading        the latest smoothed reading: a `read --format jsonl` record plus frame, time and fps
    POST /read      an uploaded image (multipart, any field, or the raw body) -> the record `read` gives
    /health         model, provider, source state (running, reconnecting, ended, none), fps, uptime

Design: one `Reader` for everything (it is safe to share between threads). The
camera runs in its own thread (`LiveFeed`): the newest-frame grabber of `stream`,
then the reader, the drawing and the JPEG encoding, off the event loop; each
new frame replaces the last and wakes the MJPEG clients, so a slow client
skips frames instead of queueing them and never slows the camera or the
others. A live source that fails is reopened with back-off (0.5 s doubling to
8 s) and shown as "reconnecting" meanwhile; a video file plays at its own frame
rate and then "ended". Uploads are read in Starlette's thread pool.

Stack: Starlette on uvicorn (the `[serve]` extra), imported only by `serve`:
an ASGI toolkit small enough for a Pi (no pydantic, no code generation), with
streaming responses, a test client and a thread pool for blocking work built
in; FastAPI would add pydantic and its validation layer for five endpoints
that need none.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import threading
import time
from dataclasses import dataclass, field
from importlib import resources

import cv2

from edgedigits.errors import EdgeDigitsError
from edgedigits.runtime.annotate import annotate
from edgedigits.runtime.batch import read_bytes
from edgedigits.runtime.reader import Reader, describe_reader
from edgedigits.runtime.stream import SMOOTHING_WINDOW, Smoother, file_frames, is_live, live_frames, open_capture

MAX_UPLOAD_BYTES = 20_000_000  # 20 MB: a 12 MP phone JPEG is 3 to 8 MB
JPEG_QUALITY = 80
RECONNECT_FIRST, RECONNECT_MAX = 0.5, 8.0  # seconds: back-off while a live source is gone
BOUNDARY = "frame"


@dataclass
class Published:
    """One annotated frame and its reading, as the endpoints hand them out."""

    index: int
    seconds: float
    jpeg: bytes
    record: dict
    fps: float


@dataclass
class FeedStatus:
    state: str = "starting"  # starting, running, reconnecting, ended, failed
    detail: str = ""
    reconnects: int = 0
    frames: int = 0
    fps: float = 0.0
    started: float = field(default_factory=time.monotonic)


class LiveFeed:
    """The camera thread: frames -> readings -> annotated JPEGs, the newest one published to `on_frame`."""

    def __init__(self, reader: Reader, source: str, size: tuple[int, int] | None = None, fps: float | None = None,
                 smooth: int = SMOOTHING_WINDOW, open_source=open_capture, on_frame=None):
        self.reader, self.source, self.size, self.asked_fps, self.smooth = reader, source, size, fps, smooth
        self.open_source = open_source
        self.on_frame = on_frame or (lambda published: None)
        self.status = FeedStatus()
        self.latest: Published | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="edgedigits-feed", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5.0)

    def run(self) -> None:
        delay, smoother, index, rate = RECONNECT_FIRST, Smoother(self.smooth), 0, []
        live = is_live(self.source)
        while not self.stopping.is_set():
            try:
                capture = self.open_source(self.source, self.size, self.asked_fps)
            except EdgeDigitsError as error:
                if not live:
                    self.status.state, self.status.detail = "failed", str(error)
                    return
                self.status.state, self.status.detail = "reconnecting", str(error)
                self.stopping.wait(delay)
                delay = min(RECONNECT_MAX, delay * 2)
                self.status.reconnects += 1
                continue
            self.status.state, self.status.detail, delay = "running", "", RECONNECT_FIRST
            frame_seconds = 1.0 / (capture.get(cv2.CAP_PROP_FPS) or 25.0)
            frames = live_frames(capture) if live else file_frames(capture)
            next_due = time.monotonic()
            try:
                for frame in frames:
                    if self.stopping.is_set():
                        break
                    start = time.perf_counter()
                    reading = self.reader.read(frame.image)
                    text = smoother.push(reading.text)
                    rate = (rate + [time.perf_counter() - start])[-30:]
                    fps = self.status.fps = len(rate) / sum(rate) if live else 1.0 / frame_seconds
                    caption = f"{text.replace(chr(10), ' / ') or '-'}   {fps:.0f} fps"
                    ok, jpeg = cv2.imencode(".jpg", annotate(frame.image, reading, self.reader.unsure_below, caption),
                                            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                    record = {"source": self.source, "text": text, "lines": text.split("\n") if text else [],
                              "digits": [d.as_dict() for d in reading.digits], "error": None}
                    if ok:
                        self.latest = Published(index, frame.seconds, jpeg.tobytes(), record, fps)
                        self.status.frames += 1
                        self.on_frame(self.latest)
                    index += 1
                    if not live:  # a file plays at its own frame rate, as a camera would deliver it
                        next_due += frame_seconds
                        self.stopping.wait(max(0.0, next_due - time.monotonic()))
            finally:
                frames.close()
                capture.release()
            if self.stopping.is_set():
                return
            if not live:
                self.status.state = "ended"
                return
            self.status.state, self.status.detail = "reconnecting", f"{self.source} stopped delivering frames"
            self.status.reconnects += 1
            self.stopping.wait(delay)
            delay = min(RECONNECT_MAX, delay * 2)


class FrameSignal:
    """Wakes every waiting MJPEG client when a new frame is published (from the camera thread)."""

    def __init__(self):
        self.loop: asyncio.AbstractEventLoop | None = None
        self.event: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop, self.event = loop, asyncio.Event()

    def publish(self, _published=None) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        event, self.event = self.event, asyncio.Event()
        event.set()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except asyncio.TimeoutError:
            pass


def page_html() -> str:
    return resources.files("edgedigits.runtime").joinpath("serve_page.html").read_text(encoding="utf-8")


def create_app(reader: Reader, source: str | None = None, token: str | None = None, size: tuple[int, int] | None = None,
               fps: float | None = None, smooth: int = SMOOTHING_WINDOW, open_source=open_capture,
               max_upload_bytes: int = MAX_UPLOAD_BYTES):
    """The Starlette app; with `source`, a `LiveFeed` runs while the app does (started and stopped by its lifespan)."""
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    import anyio

    signal = FrameSignal()
    # Reads run in the thread pool, at most one per core at a time: more would only share the cores, each thread
    # growing its own allocator arena (memory) and stretching every request's time alike.
    read_slots = anyio.CapacityLimiter(max(1, os.cpu_count() or 1))
    feed = LiveFeed(reader, source, size, fps, smooth, open_source, signal.publish) if source else None
    started = time.monotonic()

    @asynccontextmanager
    async def lifespan(app):
        signal.bind(asyncio.get_running_loop())
        if feed:
            feed.start()
        try:
            yield
        finally:
            if feed:
                await run_in_threadpool(feed.stop)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def no_frame() -> JSONResponse | None:
        if feed is None:
            return error(404, "no camera: serve was started without a SOURCE (the API alone: POST /read)")
        if feed.latest is None:
            return error(503, f"no frame yet: the source is {feed.status.state}" + (f" ({feed.status.detail})" if feed.status.detail else ""))
        return None

    async def index(request: Request):
        return HTMLResponse(page_html())

    async def reading(request: Request):
        missing = no_frame()
        if missing:
            return missing
        latest = feed.latest
        return JSONResponse(latest.record | {"frame": latest.index, "time": round(latest.seconds, 3), "fps": round(latest.fps, 1)})

    async def snapshot(request: Request):
        missing = no_frame()
        return missing or Response(feed.latest.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def mjpeg(request: Request):
        if feed is None:
            return no_frame()

        async def frames():
            sent = -1
            while True:
                latest = feed.latest
                if latest is not None and latest.index != sent:
                    sent = latest.index
                    yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(latest.jpeg)}\r\n\r\n".encode()
                           + latest.jpeg + b"\r\n")
                elif feed.status.state in ("ended", "failed") and latest is not None and latest.index == sent:
                    return
                else:
                    await signal.wait(1.0)
                if await request.is_disconnected():
                    return

        return StreamingResponse(frames(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                 headers={"Cache-Control": "no-store"})

    async def health(request: Request):
        status = feed.status if feed else None
        return JSONResponse({
            "model": str(reader.model.path), "provider": reader.model.provider, "reader": describe_reader(reader),
            "source": source, "state": status.state if status else "none", "detail": status.detail if status else "",
            "reconnects": status.reconnects if status else 0, "frames": status.frames if status else 0,
            "fps": round(status.fps, 1) if status else 0.0, "uptime_s": round(time.monotonic() - started, 1)})

    async def read_upload(request: Request):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_upload_bytes + 64 * 1024:
            return error(413, f"upload of {int(length)} bytes is over the {max_upload_bytes} byte limit")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_upload_bytes + 64 * 1024:
                return error(413, f"upload is over the {max_upload_bytes} byte limit")
        name, data = "upload", bytes(body)
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            name, data = await first_file(request, bytes(body), content_type)
            if data is None:
                return error(400, "the multipart upload holds no file: send the image as a file field (curl -F image=@photo.jpg)")
        if not data:
            return error(400, "empty upload: send an image file's bytes (curl --data-binary @photo.jpg) or a multipart file")
        if len(data) > max_upload_bytes:
            return error(413, f"upload of {len(data)} bytes is over the {max_upload_bytes} byte limit")
        record = await anyio.to_thread.run_sync(read_bytes, reader, name, data, limiter=read_slots)
        if record.error:
            return JSONResponse(record.as_dict(), status_code=413 if "MP), over the" in record.error else 400)
        return JSONResponse(record.as_dict())

    routes = [Route("/", index), Route("/reading", reading), Route("/snapshot.jpg", snapshot),
              Route("/stream.mjpg", mjpeg), Route("/health", health), Route("/read", read_upload, methods=["POST"])]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.feed = feed
    if token:
        app.add_middleware(TokenMiddleware, token=token)
    return app


async def first_file(request, body: bytes, content_type: str) -> tuple[str, bytes | None]:
    """The first file field of a multipart body (its file name and bytes)."""
    from starlette.datastructures import UploadFile
    from starlette.requests import Request

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    replay = Request(request.scope, receive)
    async with replay.form(max_files=4, max_fields=16) as form:
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                return value.filename or "upload", await value.read()
    return "upload", None


class TokenMiddleware:
    """Every endpoint needs the token: `Authorization: Bearer TOKEN`, or `?token=TOKEN` (for the page, its <img>)."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from urllib.parse import parse_qs

        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").removeprefix(b"Bearer ").strip()
        if not given:
            given = (parse_qs(scope.get("query_string", b"").decode(errors="replace")).get("token") or [""])[0].encode()
        if hmac.compare_digest(given, self.token):
            return await self.app(scope, receive, send)
        body = json.dumps({"error": "a token is needed: Authorization: Bearer TOKEN, or ?token=TOKEN"}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def run_server(app, host: str, port: int) -> None:
    """uvicorn until Ctrl-C (or SIGTERM): the feed stops and the camera is released on the way out."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)

