"""The Raspberry Pi's own camera (CSI, libcamera) as a `stream` source, through picamera2.

OpenCV's `VideoCapture(0)` does not open it on a Pi 5 (OpenCV has no libcamera
backend), so the source `picamera` (or `picamera:N` for the N-th camera) reads it
with picamera2, the Raspberry Pi's own library. picamera2 comes from Raspberry Pi
OS's packages (`sudo apt install python3-picamera2`), which pip cannot install: the
virtualenv must be made with `--system-site-packages` to see it. It is imported
only when this source is used.

`PicameraCapture` answers like a `cv2.VideoCapture` (`read`, `get`, `release`,
`isOpened`), so the newest-frame grabber of `stream` runs it unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgedigits.errors import EdgeDigitsError

SOURCE = "picamera"
DEFAULT_SIZE = (640, 480)
INSTALL_HINT = ("sudo apt install python3-picamera2, and make the virtualenv with --system-site-packages "
                "(python3 -m venv --system-site-packages ~/edgedigits)")


def is_picamera(source: str) -> bool:
    return source == SOURCE or source.startswith(SOURCE + ":")


def camera_number(source: str) -> int:
    number = source.partition(":")[2] or "0"
    if not number.isdigit():
        raise EdgeDigitsError(f"{source}: the Pi camera's number must be a whole number, as in picamera:1")
    return int(number)


class PicameraCapture:
    """One Pi camera, started at `size` (width, height) and, when given, `fps` frames a second."""

    def __init__(self, source: str = SOURCE, size: tuple[int, int] | None = None, fps: float | None = None):
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise EdgeDigitsError(f"{source}: picamera2 is not installed where edgedigits runs; {INSTALL_HINT}") from None
        self.fps = float(fps) if fps else 30.0
        try:
            self.camera = Picamera2(camera_number(source))
            # "RGB888" is libcamera's name for B,G,R bytes in memory: OpenCV's own order.
            controls = {"FrameRate": float(fps)} if fps else {}
            configuration = self.camera.create_preview_configuration(main={"format": "RGB888", "size": tuple(size or DEFAULT_SIZE)},
                                                                     controls=controls)
            self.camera.configure(configuration)
            self.camera.start()
        except EdgeDigitsError:
            raise
        except Exception as error:  # noqa: BLE001 - picamera2 raises plain RuntimeErrors, IndexErrors...
            raise EdgeDigitsError(f"cannot open {source}: {str(error).splitlines()[0] if str(error) else type(error).__name__} "
                                  "(is the camera connected and enabled, and not used by another program?)") from None

    def isOpened(self) -> bool:  # noqa: N802 - the cv2.VideoCapture name
        return self.camera is not None

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.camera is None:
            return False, None
        try:
            image = self.camera.capture_array()
        except Exception:  # noqa: BLE001 - a camera that stopped answering ends the stream like a closed device
            return False, None
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[2] == 4:  # XBGR8888 and friends: drop the padding byte
            image = image[:, :, :3]
        return True, np.ascontiguousarray(image)

    def get(self, prop: int) -> float:
        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        if self.camera is not None:
            try:
                self.camera.stop()
                self.camera.close()
            finally:
                self.camera = None
