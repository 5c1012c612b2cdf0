"""`edgedigits bench`: every model and format side by side, against what users would pick instead.

For each model in `models/index.json` and each of its formats (Keras `.keras`,
ONNX fp32, ONNX INT8): file size, MNIST test accuracy, batch-1 latency (median
and p99) and batch-256 throughput with one thread and with all threads. Peers
on the same model and the same inputs: Keras `predict`, the direct call
`model(x, training=False)`, OpenCV's DNN module on the `.onnx`, and TensorFlow
Lite when the model converts. Then the end-to-end reader on a 640x480 photo and
`stream`'s frame rate on a generated video.

Method: warm-up runs, then many repetitions, medians (and p99 for latency);
peers run in the same process on the same inputs, one after the other. TensorFlow
is imported here and only here (the runtime never needs it).
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from edgedigits import model_index  # noqa: E402
from edgedigits.contract import to_model_input  # noqa: E402
from edgedigits.data import load_mnist  # noqa: E402
from edgedigits.errors import EdgeDigitsError  # noqa: E402
from edgedigits.files import write_json_atomic  # noqa: E402
from edgedigits.runtime import Reader, open_model  # noqa: E402
from edgedigits.speed import time_calls  # noqa: E402


@dataclass(frozen=True)
class Plan:
    """How hard to measure: `quick` runs in under a minute, `full` in a few."""

    latency_repeats: int
    throughput_repeats: int
    accuracy_images: int  # MNIST test images scored per format (all 10,000 in a full run)
    reader_repeats: int
    video_frames: int


QUICK = Plan(latency_repeats=100, throughput_repeats=5, accuracy_images=2000, reader_repeats=50, video_frames=60)
FULL = Plan(latency_repeats=1000, throughput_repeats=30, accuracy_images=10000, reader_repeats=300, video_frames=300)
THROUGHPUT_BATCH = 256


@dataclass
class Row:
    model: str
    runtime: str  # "onnxruntime", "keras.predict", "keras call", "opencv dnn", "tflite"
    format: str  # "onnx fp32", "onnx int8", "keras", "tflite"
    threads: int
    size_bytes: int | None = None
    accuracy: float | None = None
    latency_median_us: float | None = None
    latency_p99_us: float | None = None
    throughput_images_per_s: float | None = None
    provider: str = ""
    note: str = ""  # why a peer has no figures


@dataclass
class BenchReport:
    machine: dict
    rows: list[Row] = field(default_factory=list)
    end_to_end: dict = field(default_factory=dict)


# --- Measuring ---------------------------------------------------------------------------------------


def measure(row: Row, predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, labels: np.ndarray, plan: Plan) -> Row:
    """Fill `row` with accuracy, batch-1 latency and batch-256 throughput of `predict`."""
    scores = np.concatenate([predict(images[i : i + THROUGHPUT_BATCH]) for i in range(0, len(images), THROUGHPUT_BATCH)])
    row.accuracy = float((scores.argmax(axis=1) == labels).mean())
    one, batch = images[:1], images[:THROUGHPUT_BATCH]
    single = time_calls(lambda: predict(one), plan.latency_repeats, warmup=max(10, plan.latency_repeats // 10))
    batched = time_calls(lambda: predict(batch), plan.throughput_repeats, warmup=2)
    row.latency_median_us = round(float(np.median(single)) * 1e6, 1)
    row.latency_p99_us = round(float(np.percentile(single, 99)) * 1e6, 1)
    row.throughput_images_per_s = round(THROUGHPUT_BATCH / float(np.median(batched)), 1)
    return row


def machine() -> dict:
    import onnxruntime

    flags = set()
    model_name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
            if line.startswith(("flags", "Features")):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    interesting = ["avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "asimd", "asimddp", "fma"]
    return {
        "cpu": model_name, "cores": os.cpu_count(), "instruction_sets": [f for f in interesting if f in flags],
        "onnxruntime": onnxruntime.__version__, "opencv": cv2.__version__, "platform": platform.platform(),
        "python": platform.python_version(),
    }


# --- Our runtime and its peers ------------------------------------------------------------------------


def bench_onnx(entry: dict, models_dir: Path, images, labels, plan: Plan, threads: int) -> Row:
    path = models_dir / entry["file"]
    model = open_model(path, device="auto", threads=threads)
    row = Row(entry["name"], "onnxruntime", f"onnx {entry.get('precision', 'fp32')}", threads, path.stat().st_size,
              provider=model.provider)
    return measure(row, lambda x: model.session.run(None, {"image": x})[0], images, labels, plan)


def bench_opencv_dnn(name: str, path: Path, images, labels, plan: Plan, threads: int) -> Row:
    row = Row(name, "opencv dnn", "onnx fp32", threads, path.stat().st_size, provider="opencv cpu")
    cv2.setNumThreads(threads)
    try:
        net = cv2.dnn.readNetFromONNX(str(path))

        def predict(x):
            net.setInput(x)
            return net.forward()

        predict(images[:2])
        return measure(row, predict, images, labels, plan)
    except cv2.error as error:
        row.note = f"does not run: {str(error).strip().splitlines()[-1][:120]}"
        return row
    finally:
        cv2.setNumThreads(os.cpu_count() or 1)


def bench_keras(name: str, path: Path, images, labels, plan: Plan, threads: int) -> list[Row]:
    import keras

    model = keras.models.load_model(path)
    size = path.stat().st_size
    predict_row = measure(Row(name, "keras.predict", "keras", threads, size, provider="tensorflow cpu"),
                          lambda x: model.predict(x, verbose=0, batch_size=THROUGHPUT_BATCH), images, labels, plan)
    call_row = measure(Row(name, "keras call", "keras", threads, size, provider="tensorflow cpu"),
                       lambda x: np.asarray(model(x, training=False)), images, labels, plan)
    return [predict_row, call_row]


try:  # LiteRT: what TensorFlow Lite users install today (tf.lite.Interpreter warns that it is deprecated)
    from ai_edge_litert.interpreter import Interpreter as LiteRTInterpreter
except ImportError:  # pragma: no cover - the [train] extra installs it
    LiteRTInterpreter = None


def tflite_interpreter(flatbuffer: bytes, threads: int):
    """A TFLite interpreter for `flatbuffer`: LiteRT's when it is installed, else TensorFlow's own."""
    if LiteRTInterpreter is not None:
        return LiteRTInterpreter(model_content=flatbuffer, num_threads=threads)
    import tensorflow as tf

    return tf.lite.Interpreter(model_content=flatbuffer, num_threads=threads)


def bench_tflite(name: str, path: Path, images, labels, plan: Plan, threads: int) -> Row:
    import keras
    import tensorflow as tf

    row = Row(name, "tflite", "tflite", threads, provider="litert cpu")
    try:
        model = keras.models.load_model(path)
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the SavedModel it exports on the way
            flatbuffer = converter.convert()
        interpreter = tflite_interpreter(flatbuffer, threads)
        if LiteRTInterpreter is None:
            row.provider = "tf.lite cpu"
            row.note = "tf.lite.Interpreter: pip install ai-edge-litert for LiteRT, its successor"
    except Exception as error:  # any converter failure is a finding to report, not a crash
        row.note = f"does not convert: {str(error).strip().splitlines()[0][:120]}"
        return row
    row.size_bytes = len(flatbuffer)
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    current = [0]

    def predict(x):
        if x.shape[0] != current[0]:
            interpreter.resize_tensor_input(input_index, list(x.shape))
            interpreter.allocate_tensors()
            current[0] = x.shape[0]
        interpreter.set_tensor(input_index, x)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)

    return measure(row, predict, images, labels, plan)


# --- End to end ------------------------------------------------------------------------------------------


def bench_reader(model_path: Path, plan: Plan) -> dict:
    """Median decode, segmentation and inference times for the 2017 sample, one thread; stream FPS on a video."""
    from edgedigits.runtime.stream import run_stream

    sample = Path(__file__).resolve().parents[2] / "samples" / "2017.jpg"
    data = sample.read_bytes()
    cv2.setNumThreads(1)
    try:
        reader = Reader(model_path, device="cpu", threads=1)
        decode, segment, infer = [], [], []
        for index in range(plan.reader_repeats + 10):
            start = time.perf_counter()
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            decoded = time.perf_counter() - start
            reading = reader.read(image)
            if index >= 10:
                decode.append(decoded * 1e3)
                segment.append(reading.timings_ms["segment"])
                infer.append(reading.timings_ms["infer"])
        with tempfile.TemporaryDirectory(prefix="edgedigits-bench-") as folder:
            video = Path(folder) / "pages.avi"
            writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (image.shape[1], image.shape[0]))
            for _ in range(plan.video_frames):
                writer.write(image)
            writer.release()
            start = time.perf_counter()
            for _ in run_stream(reader, str(video)):
                pass
            stream_seconds = time.perf_counter() - start
    finally:
        cv2.setNumThreads(os.cpu_count() or 1)
    return {
        "model": str(model_path), "image": f"{sample.name} {image.shape[1]}x{image.shape[0]}", "text": reading.text,
        "decode_ms": round(float(np.median(decode)), 3), "segment_ms": round(float(np.median(segment)), 3),
        "infer_ms": round(float(np.median(infer)), 3),
        "read_ms": round(float(np.median(np.add(segment, infer))), 3),
        "stream_fps": round(plan.video_frames / stream_seconds, 1), "stream_frames": plan.video_frames,
    }


def run_bench(models_dir: Path, quick: bool = False, progress: Callable[[str], None] = print,
              plan: Plan | None = None) -> BenchReport:
    entries = [e for e in model_index.usable_entries(models_dir) if "kind" not in e and "name" in e]  # digit classifiers; the ink
    # segmenter and the sequence model are timed by `calibrate` and benchmarks/read_latency.py
    if not entries:
        raise EdgeDigitsError(f"{models_dir}/index.json lists no models: run `make train export calibrate` first")
    plan = plan or (QUICK if quick else FULL)
    _, (x_test, y_test) = load_mnist()
    images = to_model_input(x_test[: plan.accuracy_images])
    labels = y_test[: plan.accuracy_images]
    report = BenchReport(machine())
    all_threads = os.cpu_count() or 1
    thread_counts = sorted({1, all_threads})
    for name in sorted({e["name"] for e in entries}):
        progress(f"bench: {name}")
        keras_path = models_dir / f"{name}.keras"
        fp32_path = models_dir / f"{name}.onnx"
        for threads in thread_counts:
            for entry in sorted((e for e in entries if e["name"] == name), key=lambda e: e["file"]):
                report.rows.append(bench_onnx(entry, models_dir, images, labels, plan, threads))
            if fp32_path.is_file():
                report.rows.append(bench_opencv_dnn(name, fp32_path, images, labels, plan, threads))
            if keras_path.is_file():
                import tensorflow as tf

                # TensorFlow fixes its thread pools once per process: its rows use all threads.
                if threads == all_threads:
                    report.rows += bench_keras(name, keras_path, images, labels, plan, tf.config.threading.get_intra_op_parallelism_threads() or all_threads)
                report.rows.append(bench_tflite(name, keras_path, images, labels, plan, threads))
    default = model_index.default_model(models_dir)
    if default is not None:
        progress(f"bench: end to end with {default.name}")
        report.end_to_end = bench_reader(default, plan)
    return report


# --- Output ------------------------------------------------------------------------------------------------


def ratio_to_ours(report: BenchReport, row: Row) -> str:
    """How many times slower (>1) or faster (<1) a peer is than our runtime on the same model's fp32 ONNX."""
    ours = next((r for r in report.rows if r.model == row.model and r.runtime == "onnxruntime"
                 and r.format == "onnx fp32" and r.threads == row.threads), None)
    if row.runtime == "onnxruntime" or ours is None or not row.latency_median_us or not ours.latency_median_us:
        return ""
    return f"{row.latency_median_us / ours.latency_median_us:.1f}x"


def format_table(report: BenchReport) -> str:
    header = (f"{'model':11} {'runtime':14} {'format':10} {'thr':>3} {'size':>8} {'accuracy':>8} "
              f"{'p50 us':>9} {'p99 us':>9} {'img/s@256':>10} {'vs ours':>8}  provider / note")
    lines = [header, "-" * len(header)]
    for row in report.rows:
        size = f"{row.size_bytes / 1e6:.2f}MB" if row.size_bytes else "-"
        accuracy = f"{row.accuracy:.2%}" if row.accuracy is not None else "-"
        def number(value, pattern):
            return pattern.format(value) if value is not None else "-"
        lines.append(f"{row.model:11} {row.runtime:14} {row.format:10} {row.threads:>3} {size:>8} {accuracy:>8} "
                     f"{number(row.latency_median_us, '{:.1f}'):>9} {number(row.latency_p99_us, '{:.1f}'):>9} "
                     f"{number(row.throughput_images_per_s, '{:.0f}'):>10} {ratio_to_ours(report, row):>8}  "
                     f"{row.note or row.provider}")
    machine_info = report.machine
    lines.append(f"machine: {machine_info['cpu']}, {machine_info['cores']} cores, "
                 f"{' '.join(machine_info['instruction_sets']) or 'no AVX2/AVX-512/VNNI'}, onnxruntime {machine_info['onnxruntime']}")
    if report.end_to_end:
        e = report.end_to_end
        lines.append(f"end to end ({e['model']}, {e['image']}, one thread): decode {e['decode_ms']:.2f} ms, segmentation "
                     f"{e['segment_ms']:.2f} ms, inference {e['infer_ms']:.2f} ms, read {e['read_ms']:.2f} ms "
                     f"(decode excluded); stream {e['stream_fps']:.0f} fps on {e['stream_frames']} frames; read '{e['text']}'")
    lines.append("vs ours: a peer's batch-1 median latency divided by onnxruntime's on the same model's fp32 ONNX, "
                 "same threads (2.0x = twice as slow)")
    return "\n".join(lines)


def write_outputs(report: BenchReport, out_dir: Path) -> tuple[Path, Path]:
    """bench.json and bench.png (batch-1 latency per runtime, format and threads, one panel per model)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgedigits.files import atomic_path

    json_path, chart_path = out_dir / "bench.json", out_dir / "bench.png"
    write_json_atomic(json_path, {"machine": report.machine, "rows": [asdict(r) for r in report.rows],
                                  "end_to_end": report.end_to_end})
    # One panel per model, one bar per runtime, format and thread count, its label on the y axis: nothing overlaps.
    models = sorted({row.model for row in report.rows if row.latency_median_us is not None})
    rows_of = {m: [r for r in report.rows if r.model == m and r.latency_median_us is not None] for m in models}
    tallest = max((len(rows) for rows in rows_of.values()), default=1)
    figure, axes = plt.subplots(len(models), 1, figsize=(9, 1.2 + 0.32 * tallest * len(models)), squeeze=False)
    colours = {"onnxruntime": "tab:blue", "opencv dnn": "tab:green", "tflite": "tab:orange", "keras call": "tab:red",
               "keras.predict": "tab:purple"}
    for axis, model in zip(axes[:, 0], models):
        rows = sorted(rows_of[model], key=lambda r: r.latency_median_us, reverse=True)
        positions = range(len(rows))
        axis.barh(positions, [r.latency_median_us for r in rows], color=[colours.get(r.runtime, "tab:gray") for r in rows])
        axis.scatter([r.latency_p99_us or r.latency_median_us for r in rows], positions, marker="|", color="black", s=80,
                     label="p99")
        axis.set_yticks(list(positions))
        axis.set_yticklabels([f"{r.runtime}, {r.format}, {r.threads} thr" + (f"  ({r.accuracy:.2%})" if r.accuracy else "")
                              for r in rows], fontsize=8)
        axis.set_xscale("log")
        axis.set_title(model, fontsize=10, loc="left")
        axis.grid(alpha=0.3, axis="x")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("batch-1 latency, median (bar) and p99 (|), µs, log scale; MNIST test accuracy in brackets")
    figure.suptitle(f"edgedigits bench: {report.machine['cpu']}", fontsize=11)
    figure.tight_layout()
    with atomic_path(chart_path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    plt.close(figure)
    return json_path, chart_path
