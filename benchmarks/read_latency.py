"""How long the runtime takes to read one photo, step by step, per frame size.

Generates realistic photos (edgedigits.fieldset_realistic, seed 7, levels and
digit sources in turn) at each frame size, then reads each one `--repeat`
times with one thread for OpenCV and onnxruntime, and prints medians of:
decode (JPEG bytes -> pixels, as the runtime decodes them: a big JPEG at 1/2 or less,
`edgedigits.runtime.inputs.decode_for_reading`), the learned ink map (when `--mask` names an ink
segmenter), segmentation + normalisation, inference (digit model, and the
sequence model on runs when `--sequence` names one), and the whole read with
decode excluded. `--touching` draws every page with runs of touching digits.

Usage:
    python benchmarks/read_latency.py --model models/cnn-bn-aug.int8.onnx
    python benchmarks/read_latency.py --model models/cnn-bn-aug.int8.onnx --mask models/inkseg.int8.onnx \
        --sequence models/seqread.int8.onnx --sizes 640x480 --touching
"""

import argparse
import statistics
import time

import cv2
import numpy as np

from edgedigits.contract import INK_LONG_SIDE
from edgedigits.data import load_mnist
from edgedigits.fieldset_realistic import LEVELS, SOURCES, render_realistic
from edgedigits.runtime import Reader
from edgedigits.runtime.inputs import decode_for_reading
from edgedigits.runtime.reader import describe_reader


def size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--sizes", default="320x240,640x480,1280x720,1920x1080,4032x3024")
    parser.add_argument("--pages", type=int, default=12, help="photos per frame size")
    parser.add_argument("--repeat", type=int, default=20, help="reads of each photo")
    parser.add_argument("--mask", default=None, help="an ink segmenter's .onnx (default: the threshold mask)")
    parser.add_argument("--sequence", default=None, help="a sequence model's .onnx for runs of touching digits")
    parser.add_argument("--touching", action="store_true", help="every page with runs of touching digits")
    parser.add_argument("--second-look", type=int, default=None,
                        help="px of the second look's ink map on unsure readings (default: the Reader's; 0: none)")
    arguments = parser.parse_args()
    cv2.setNumThreads(1)
    reader = Reader(arguments.model, device="cpu", threads=1, ink_model=arguments.mask, sequence_model=arguments.sequence,
                    second_look=arguments.second_look)
    looks = []  # the second looks and the looks from afar, one entry each ("second", "afar")
    read_at, look_from_afar = reader.read_at, reader.look_from_afar

    def counted_read_at(image, long_side, ink=None):
        if ink is None and long_side != INK_LONG_SIDE:
            looks.append("second")
        return read_at(image, long_side, ink=ink)

    def counted_look_from_afar(image, first):
        looks.append("afar")
        return look_from_afar(image, first)

    reader.read_at, reader.look_from_afar = counted_read_at, counted_look_from_afar
    _, mnist_test = load_mnist()
    rng = np.random.default_rng(7)
    print(f"{describe_reader(reader)}, one thread, medians over {arguments.pages} photos x {arguments.repeat} reads")
    print(f"{'frame':>10} {'decode':>9} {'ink map':>9} {'segment':>9} {'infer':>9} {'read':>9}   "
          "   all   mean read  second looks  from afar   (ms; read = ink map + segment + infer, decode excluded; "
          "all = decode + read; looks: frames of the page count)")
    for frame in [size(s) for s in arguments.sizes.split(",")]:
        decode, ink, segment, infer, read, total = [], [], [], [], [], []
        looks.clear()
        for index in range(arguments.pages):
            page = render_realistic(rng, LEVELS[index % 3], SOURCES[(index // 3) % 3], mnist_test, frame=frame,
                                    touching=True if arguments.touching else None)
            for _ in range(arguments.repeat):
                start = time.perf_counter()
                image, _ = decode_for_reading(page.jpeg)
                decoded = time.perf_counter()
                reading = reader.read(image)
                done = time.perf_counter()
                decode.append((decoded - start) * 1e3)
                read.append((done - decoded) * 1e3)
                total.append((done - start) * 1e3)
                ink.append(reading.timings_ms["ink"])
                segment.append(reading.timings_ms["segment"])
                infer.append(reading.timings_ms["infer"])
        name = f"{frame[0]}x{frame[1]}"
        print(f"{name:>10} {statistics.median(decode):9.2f} {statistics.median(ink):9.2f} {statistics.median(segment):9.2f} "
              f"{statistics.median(infer):9.2f} {statistics.median(read):9.2f} {statistics.median(total):9.2f} "
              f"{statistics.mean(read):10.2f} {looks.count('second') // arguments.repeat:6d} of {arguments.pages}"
              f"  {looks.count('afar') // arguments.repeat:5d} of {arguments.pages}")


if __name__ == "__main__":
    main()
