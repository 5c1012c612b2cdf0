"""From what a user typed to decoded images: files, folders (recursive), globs; and why one failed.

Every failure is an `ImageError` whose message names the problem and what to do;
the batch reader turns it into an error record and goes on with the next input.
Sizes are checked from the file's header before decoding, so a 30000x30000 PNG
is refused without ever allocating its 2.7 GB of pixels.
"""

from __future__ import annotations

import glob
import os
import stat
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgedigits.errors import EdgeDigitsError

# (.jfif and .jpe: JPEGs as some browsers and Windows save them; .jp2: JPEG 2000, which OpenCV decodes.)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jfif", ".jpe", ".jp2", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm",
                  ".pbm", ".gif"}
# Phones' own formats OpenCV cannot decode, and PDFs (what scanners write): listed in folders anyway, so that each gets
# an error record saying what to do rather than being passed over in silence (a folder of iPhone photos read "no
# images" before, and a folder of scans as PDFs still did).
UNDECODABLE_SUFFIXES = {".heic", ".heif", ".avif", ".pdf"}
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
MAX_PIXELS = 50_000_000  # 50 MP: larger than any phone photo; a page scanned at 600 dpi is about 35 MP
MIN_SIDE = 8  # pixels; nothing smaller can hold a readable digit
REDUCED_LONG_SIDE = 1280  # a big JPEG is decoded at 1/2, 1/4 or 1/8 while its long side stays at least this
MAX_FILE_BYTES = 200_000_000  # 200 MB: a 50 MP photo is about 25 MB as JPEG and 150 MB as an uncompressed TIFF


class ImageError(EdgeDigitsError):
    """One input could not be read as an image."""


@dataclass(frozen=True)
class Input:
    """One thing to read: a file, or a problem found while expanding what the user typed."""

    source: str
    path: Path | None = None
    error: str | None = None


STDIN = "-"  # an image's bytes piped in (`rpicam-still -o - | edgedigits read -`); a file named "-" is ./-


def expand(arguments: list[str]) -> list[Input]:
    """Files as given, folders searched recursively for images, glob patterns expanded, STDIN for the bytes piped
    in (an Input without a path); in order."""
    inputs: list[Input] = []
    for argument in arguments:
        path = Path(argument)
        if argument == STDIN:
            piped = any(item.source == STDIN and item.error is None for item in inputs)
            inputs.append(Input(STDIN, error="standard input is read once: give - only once") if piped else Input(STDIN))
        elif path.is_dir():
            found, unreadable = scan_folder(path)
            inputs += [Input(str(p), p) for p in found]
            inputs += [Input(str(folder), error=f"cannot read this folder: {reason}") for folder, reason in unreadable]
            if not found and not unreadable:
                inputs.append(Input(argument, error=f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder"))
        elif path.exists() or path.is_symlink():
            inputs.append(Input(argument, path))
        elif glob.has_magic(argument):
            matches = sorted(Path(p) for p in glob.glob(argument, recursive=True))
            files = [p for p in matches if p.is_file()]
            inputs += [Input(str(p), p) for p in files] or [Input(argument, error="no file matches this pattern")]
        else:
            inputs.append(Input(argument, error="no such file or folder"))
    return inputs


def scan_folder(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Image files under `folder` (recursively, sorted), and the subfolders that could not be read, with why."""
    found, unreadable = [], []

    def report(error: OSError) -> None:
        unreadable.append((Path(error.filename), error.strerror or str(error)))

    for root, folders, files in os.walk(folder, onerror=report):
        folders.sort()
        found += [Path(root) / name for name in files
                  if Path(name).suffix.lower() in IMAGE_SUFFIXES | UNDECODABLE_SUFFIXES and (Path(root) / name).is_file()]
    return sorted(found), unreadable


# --- Headers: the size of an image without decoding it ---------------------------------------------


def _jpeg_segments(data: bytes):
    """(marker, position of its 0xFF, payload length) of each marker segment before the first scan, parsed as the
    standard has it: any number of 0xFF fill bytes before a marker, standalone markers (SOI, TEM, RSTn) without a
    length, every other segment with its big-endian length; the first SOS segment ends the walk."""
    position = 2
    while position + 1 < len(data):
        if data[position] != 0xFF:
            return  # not a marker where one must be: a damaged file
        while position + 1 < len(data) and data[position + 1] == 0xFF:
            position += 1  # fill bytes
        if position + 1 >= len(data):
            return
        marker = data[position + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            yield marker, position, 0
            position += 2
            continue
        if position + 4 > len(data):
            return
        length = struct.unpack(">H", data[position + 2 : position + 4])[0]
        yield marker, position, length
        if marker == 0xDA:
            return
        position += 2 + length


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    for marker, position, _ in _jpeg_segments(data):
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and position + 9 <= len(data):  # start of frame
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
    return None


def exif_orientation(data: bytes) -> int:
    """The EXIF Orientation (1-8) of a JPEG, 1 where it has none or it cannot be read. Phones store a photo as the
    sensor saw it and say in this tag how to turn it: a page photographed in portrait is stored on its side."""
    for marker, position, length in _jpeg_segments(data):
        if marker == 0xE1 and data[position + 4 : position + 10] == b"Exif\x00\x00":
            tiff = data[position + 10 : position + 2 + length]
            if tiff[:2] not in (b"II", b"MM"):
                return 1
            for tag, kind, value in _ifd_entries(tiff):
                if tag == 0x0112 and kind == 3:  # Orientation, a SHORT
                    orientation = _short_or_long(tiff, kind, value)
                    return orientation if 1 <= orientation <= 8 else 1
            return 1
    return 1


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """The image turned (and mirrored) as its EXIF `orientation` says it is to be viewed."""
    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:
        return cv2.transpose(image)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(image), -1)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def jpeg_complete(data: bytes) -> bool:
    """Whether a JPEG's end-of-image marker is where it belongs: after its first scan (bytes after it, such as
    the trailers phones append, do not matter; an EOI inside an EXIF thumbnail, before the scan, does not count)."""
    for marker, position, length in _jpeg_segments(data):
        if marker == 0xDA:
            # From the end: the marker is (nearly) last, so this reads a few bytes, not megabytes of scan data.
            return data.rfind(b"\xff\xd9", position + 2 + length) != -1
        if marker == 0xD9:
            return False
    return False


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:  # extended: the canvas size, 24 bits each, minus one
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and len(data) >= 25:  # lossless: 14 bits each, minus one, after a signature byte
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30:  # lossy: 14 bits each after the frame tag and start code
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _ifd_entries(tiff: bytes):
    """(tag, type, 4 value bytes) of each entry of a TIFF structure's first IFD (a TIFF file, or the EXIF block of a
    JPEG), in its byte order; nothing past the data's end."""
    order = "<" if tiff[:2] == b"II" else ">"
    if len(tiff) < 8:
        return
    (offset,) = struct.unpack(order + "I", tiff[4:8])
    if offset + 2 > len(tiff):
        return
    (count,) = struct.unpack(order + "H", tiff[offset : offset + 2])
    for index in range(min(count, 512)):
        entry = tiff[offset + 2 + 12 * index : offset + 14 + 12 * index]
        if len(entry) < 12:
            return
        yield (*struct.unpack(order + "HH", entry[:4]), entry[8:12])


def _short_or_long(tiff: bytes, kind: int, value: bytes) -> int:
    """An IFD entry's value: a SHORT (type 3) or a LONG, in the structure's byte order."""
    order = "<" if tiff[:2] == b"II" else ">"
    return struct.unpack(order + ("H" if kind == 3 else "I"), value[:2] if kind == 3 else value)[0]


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    size = {tag: _short_or_long(data, kind, value) for tag, kind, value in _ifd_entries(data) if tag in (256, 257)}
    return (size[256], size[257]) if len(size) == 2 else None  # ImageWidth, ImageLength


def _pnm_size(data: bytes) -> tuple[int, int] | None:
    fields = []
    for line in data[2:200].splitlines():
        fields += line.split(b"#")[0].split()
        if len(fields) >= 2:
            break
    try:
        return int(fields[0]), int(fields[1])
    except (IndexError, ValueError):
        return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, GIF, BMP, WebP, TIFF or PNM header; None for other formats (OpenCV's
    own pixel limit, set in `edgedigits/__init__.py`, still stops those)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data[:4] in (b"II*\x00", b"MM\x00*") and len(data) >= 8:
        return _tiff_size(data)
    if data[:1] == b"P" and data[1:2] in b"123456" and len(data) > 3 and data[2:3].isspace():
        return _pnm_size(data)
    return None


def check_bytes(data: bytes) -> tuple[int, int] | None:
    """Refuse what must never be decoded (empty, over the pixel limit, a cut JPEG); the size when the header has it."""
    if not data:
        raise ImageError("empty file (0 bytes)")
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        raise ImageError("a HEIC/HEIF or AVIF photo (a phone's own format), which OpenCV cannot decode: export it as "
                         "JPEG (on an iPhone: Settings > Camera > Formats > Most Compatible)")
    if data[:5] == b"%PDF-":
        raise ImageError("a PDF document, not an image: export its pages as images first (for example "
                         "`pdftoppm -r 300 -png FILE.pdf page`, which writes page-1.png, page-2.png, ...)")
    size = image_size(data)
    if size and size[0] * size[1] > MAX_PIXELS:
        raise ImageError(f"image is {size[0]}x{size[1]} pixels ({size[0] * size[1] / 1e6:.0f} MP), over the "
                         f"{MAX_PIXELS / 1e6:.0f} MP limit: downscale it first")
    if data[:2] == b"\xff\xd8" and not jpeg_complete(data):
        raise ImageError("truncated JPEG (no end-of-image marker): the file is incomplete")
    return size


def decode(data: bytes, flags: int = cv2.IMREAD_UNCHANGED, checked: bool = False) -> np.ndarray:
    """Bytes of an image file -> BGR, BGRA or gray array, a JPEG turned upright as its EXIF orientation says
    (`upright`; OpenCV leaves it as stored with IMREAD_UNCHANGED, and here decides it for every flag alike);
    ImageError saying why not (`checked`: `check_bytes` has passed them already)."""
    if not checked:
        check_bytes(data)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags | (0 if flags == cv2.IMREAD_UNCHANGED else cv2.IMREAD_IGNORE_ORIENTATION))
    if image is None:
        raise ImageError(f"not an image OpenCV can decode (a damaged file, not an image at all, or an image over "
                         f"the {MAX_PIXELS / 1e6:.0f} MP limit in a format whose size is not checked first)")
    if min(image.shape[:2]) < MIN_SIDE:
        raise ImageError(f"image is {image.shape[1]}x{image.shape[0]} pixels: too small to hold a digit")
    return upright(image, exif_orientation(data)) if data[:2] == b"\xff\xd8" else image


def jpeg_reduction(size: tuple[int, int] | None) -> int:
    """By how much (8, 4, 2 or 1) a JPEG of `size` can be decoded smaller and keep REDUCED_LONG_SIDE pixels on its
    long side: the reader shrinks big photos anyway, and libjpeg decodes at 1/2, 1/4 or 1/8 for a fraction of
    the work (its scaled DCT)."""
    for factor in (8, 4, 2):
        if size and max(size) / factor >= REDUCED_LONG_SIDE:
            return factor
    return 1


REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def decode_for_reading(data: bytes) -> tuple[np.ndarray, float]:
    """`decode`, but a big JPEG at reduced size (colour kept: the ink segmenter uses it); also the factor from the
    decoded pixels back to the file's, for boxes."""
    size = check_bytes(data)
    factor = jpeg_reduction(size) if data[:2] == b"\xff\xd8" else 1
    if factor == 1:
        return decode(data, checked=True), 1.0
    image = decode(data, REDUCED_FLAGS[factor], checked=True)
    return image, max(size) / max(image.shape[:2])  # (turned upright or not)


def read_file(path: Path) -> bytes:
    """The file's bytes, once it is known to be a regular file (links followed) of at most MAX_FILE_BYTES: a
    device (/dev/zero), a FIFO or a socket is never opened, so it can neither fill memory nor block."""
    try:
        status = os.stat(path)
        if stat.S_ISDIR(status.st_mode):
            raise ImageError("is a folder, not an image")
        if not stat.S_ISREG(status.st_mode):
            raise ImageError("not a regular file (a device, a FIFO or a socket): give an image file")
        if status.st_size > MAX_FILE_BYTES:
            raise ImageError(f"file is {status.st_size / 1e6:.0f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB limit "
                             "for one image: downscale or recompress it first")
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)  # a file that grew since stat is still read no further
    except ImageError:
        raise
    except OSError as error:
        raise ImageError(f"cannot read: {error.strerror or error}") from None
    return within_limit(data)


def within_limit(data: bytes) -> bytes:
    """`data` read up to one byte past MAX_FILE_BYTES, refused where it got there."""
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"file is over the {MAX_FILE_BYTES / 1e6:.0f} MB limit for one image: downscale or recompress it first")
    return data


def read_stdin(stream=None) -> bytes:
    """The bytes piped in (at most MAX_FILE_BYTES), or ImageError where nothing is (a terminal, or nothing at all)."""
    stream = sys.stdin if stream is None else stream
    if stream is None or stream.isatty():
        raise ImageError("nothing is piped in: pipe an image's bytes (cat photo.jpg | edgedigits read -) or give a file")
    data = stream.buffer.read(MAX_FILE_BYTES + 1)
    if not data:
        raise ImageError("nothing was piped in (0 bytes): pipe an image's bytes, or give a file")
    return within_limit(data)


def load_image(path: Path) -> np.ndarray:
    return decode(read_file(path))


def load_for_reading(path: Path) -> tuple[np.ndarray, float]:
    return decode_for_reading(read_file(path))
