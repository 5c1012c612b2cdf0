"""Reading a live camera or a video: the newest frame, a steady answer, printed when it changes.

- A live source (camera index, /dev/video*, URL, the Raspberry Pi camera
  `picamera`: see `edgedigits.runtime.picamera`) is read by a grabber thread
  that keeps only the newest frame, so a slow reader drops stale frames instead
  of falling behind. A video file is read frame by frame: every frame counts.
- The answer is smoothed: the text shown is the most common reading of the last
  few frames, so one noisy frame does not flicker it.
- `--show` opens a window where OpenCV has a GUI; `--save` writes the annotated
  video (to a temporary name, renamed when the stream ends).
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgedigits.errors import EdgeDigitsError
from edgedigits.files import temporary_beside
from edgedigits.runtime.annotate import annotate
from edgedigits.runtime.picamera import PicameraCapture, is_picamera
from edgedigits.runtime.reader import Reader, Reading

SMOOTHING_WINDOW = 5  # frames voted over
WINDOW_TITLE = "edgedigits"


@dataclass
class Frame:
    index: int
    seconds: float  # position in the video, or time since the stream opened
    image: np.ndarray


class Smoother:
    """The most common text of the last `window` readings; an empty reading counts as a vote too."""

    def __init__(self, window: int = SMOOTHING_WINDOW):
        self.recent: collections.deque[str] = collections.deque(maxlen=window)

    def push(self, text: str) -> str:
        self.recent.append(text)
        counts = collections.Counter(self.recent)
        best = max(counts.values())
        # Ties go to the most recent of the tied texts: the answer follows the page, not the past.
        return next(t for t in reversed(self.recent) if counts[t] == best)


def is_live(source: str) -> bool:
    return source.isdigit() or source.startswith("/dev/") or "://" in source or is_picamera(source)


def open_capture(source: str, size: tuple[int, int] | None = None, fps: float | None = None):
    """A cv2.VideoCapture for the source, or a `PicameraCapture` for the Pi camera (`picamera`, `picamera:N`).
    `size` (width, height) and `fps` are asked of cameras (a camera may give what it can instead); files ignore them."""
    if is_picamera(source):
        return PicameraCapture(source, size, fps)
    if not source.isdigit() and not is_live(source) and not Path(source).is_file():
        raise EdgeDigitsError(f"{source}: no such video file (give a camera index such as 0, a /dev/video* device, "
                              "picamera for the Raspberry Pi camera, a file or a URL)")
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        capture.release()
        what = f"camera {source}" if source.isdigit() or source.startswith("/dev/") else source
        raise EdgeDigitsError(f"cannot open {what}: no such device, it is busy, or OpenCV cannot decode it")
    if is_live(source):
        if size:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        if fps:
            capture.set(cv2.CAP_PROP_FPS, fps)
    return capture


def file_frames(capture: cv2.VideoCapture) -> Generator[Frame, None, None]:
    index = 0
    while True:
        ok, image = capture.read()
        if not ok:
            return
        yield Frame(index, capture.get(cv2.CAP_PROP_POS_MSEC) / 1000, image)
        index += 1


def live_frames(capture: cv2.VideoCapture) -> Generator[Frame, None, None]:
    """Frames from a grabber thread that keeps only the newest one."""
    latest: list[Frame | None] = [None]
    fresh = threading.Condition()
    stopped = threading.Event()
    started = time.perf_counter()

    def grab() -> None:
        index = 0
        while not stopped.is_set():
            ok, image = capture.read()
            with fresh:
                if ok:
                    latest[0] = Frame(index, time.perf_counter() - started, image)
                else:
                    stopped.set()  # the newest frame, if not yet taken, is still handed out
                fresh.notify()
            if not ok:
                return
            index += 1

    thread = threading.Thread(target=grab, name="edgedigits-grabber", daemon=True)
    thread.start()
    try:
        while True:
            with fresh:
                while latest[0] is None and not stopped.is_set():
                    fresh.wait(timeout=1.0)
                frame, latest[0] = latest[0], None
            if frame is None:
                return
            yield frame
    finally:
        stopped.set()
        thread.join(timeout=2.0)


def gui_available() -> bool:
    """Whether this OpenCV build can open windows (the headless wheels cannot)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() not in ("NONE", "NO")
    return False


@dataclass
class Update:
    """A change of the smoothed reading, as `stream` prints it."""

    frame: int
    seconds: float
    text: str
    reading: Reading
    fps: float

    def as_dict(self) -> dict:
        return {"frame": self.frame, "time": round(self.seconds, 3), "text": self.text,
                "lines": self.text.split("\n") if self.text else [], "fps": round(self.fps, 1),
                "digits": [d.as_dict() for d in self.reading.digits]}


VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")


class VideoSink:
    """An annotated video written to a temporary file and renamed into place on `close`."""

    def __init__(self, path: Path, fps: float):
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise EdgeDigitsError(f"--save {path}: not a video name; use a .mp4 or .avi name (nothing was written)")
        self.path, self.fps = path, fps if fps and fps > 0 else 25.0
        try:
            self.temporary = temporary_beside(path)
        except OSError as error:
            raise EdgeDigitsError(f"--save {path}: cannot write there ({error.strerror or error})") from None
        self.writer: cv2.VideoWriter | None = None

    def write(self, image: np.ndarray) -> None:
        if self.writer is None:
            writer = cv2.VideoWriter(str(self.temporary), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                     (image.shape[1], image.shape[0]))
            if not writer.isOpened():  # never kept: a failed writer must not replace anything on close
                writer.release()
                raise EdgeDigitsError(f"{self.path}: OpenCV cannot write this video format; use a .mp4 or .avi name")
            self.writer = writer
        self.writer.write(image)

    def close(self) -> bool:
        """Finish the file; False when no frame was ever written (then no file is left, not even an empty one)."""
        written = self.writer is not None
        if written:
            self.writer.release()
            os.replace(self.temporary, self.path)
        self.temporary.unlink(missing_ok=True)
        return written


def run_stream(reader: Reader, source: str, show: bool = False, save: Path | None = None,
               window: int = SMOOTHING_WINDOW, max_frames: int | None = None, size: tuple[int, int] | None = None,
               fps: float | None = None) -> Iterator[Update]:
    """Yield an `Update` each time the smoothed reading changes; close everything however the loop ends."""
    if show and not gui_available():
        raise EdgeDigitsError("--show needs OpenCV with a GUI, and this one is headless: "
                              "pip install opencv-python (instead of opencv-python-headless), or drop --show")
    capture = open_capture(source, size, fps)
    try:
        sink = VideoSink(save, capture.get(cv2.CAP_PROP_FPS)) if save else None
    except EdgeDigitsError:
        capture.release()
        raise
    frames = live_frames(capture) if is_live(source) else file_frames(capture)
    smoother, shown = Smoother(window), None
    rate = collections.deque(maxlen=30)
    try:
        for frame in frames:
            start = time.perf_counter()
            reading = reader.read(frame.image)
            rate.append(time.perf_counter() - start)
            fps = len(rate) / sum(rate)
            text = smoother.push(reading.text)
            if text != shown:
                shown = text
                yield Update(frame.index, frame.seconds, text, reading, fps)
            if sink or show:
                caption = f"{text.replace(chr(10), ' / ') or '-'}   {fps:.0f} fps"
                picture = annotate(frame.image, reading, reader.unsure_below, caption)
                if sink:
                    sink.write(picture)
                if show:
                    cv2.imshow(WINDOW_TITLE, picture)
                    if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                        return
            if max_frames is not None and frame.index + 1 >= max_frames:
                return
    finally:
        frames.close()
        capture.release()
        if sink:
            sink.close()
        if show:
            cv2.destroyAllWindows()
