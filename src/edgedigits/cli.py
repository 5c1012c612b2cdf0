"""The `edgedigits` command line: each command builds a config and calls one library function.

Heavy libraries (TensorFlow, tf2onnx, matplotlib) are imported inside the commands
that need them. Library errors (`EdgeDigitsError`) become one line on stderr and
exit status 1; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from edgedigits.errors import EdgeDigitsError

app = typer.Typer(
    help="Train, export and run handwritten-digit models with ONNX.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Settings:
    debug = False  # set by the global --debug option


ModelOption = Annotated[str, typer.Option("--model", "-m", help="A registered model name, or 'all'.")]
OutOption = Annotated[Path, typer.Option("--out", help="Folder for models, reports and index.json.", file_okay=False)]
DataOption = Annotated[
    str | None,
    typer.Option("--data", envvar="EDGEDIGITS_MNIST", help="MNIST copy to use: mnist.npz or a folder of the four IDX files."),
]
DeviceOption = Annotated[str, typer.Option("--device", help="auto (CUDA when it really runs, else CPU), cpu or cuda.")]
ThreadsOption = Annotated[int | None, typer.Option("--threads", min=1, help="onnxruntime intra-op threads (default: all cores).")]
ModelPathOption = Annotated[
    Path | None,
    typer.Option("--model", "-m", dir_okay=False, help="An .onnx model (default: the best one in models/index.json)."),
]
MaskOption = Annotated[str, typer.Option(
    "--mask", help="Where ink is: auto (the learned ink segmenter in models/ when there is one), learned, threshold, "
                   "or an ink segmenter's .onnx file.")]
SequenceOption = Annotated[str, typer.Option(
    "--sequence", help="Runs of touching digits: auto (read with the sequence model in models/ when there is one), "
                       "none (shown as one ? per digit), or a sequence model's .onnx file.")]
SecondLookOption = Annotated[int | None, typer.Option(
    "--second-look", min=0, help="With the learned mask, a reading whose least sure digit is under 0.9 is made again from "
                                 "an ink map this many px on the long side (321-1024, default 448), kept where it is "
                                 "surer; 0: never.")]
UnsureOption = Annotated[float, typer.Option("--unsure", min=0.0, max=1.0, help="Calibrated confidence under which a digit shows as '?'.")]
SmoothOption = Annotated[int, typer.Option(min=1, help="Frames the reading is smoothed over.")]
SizeOption = Annotated[str | None, typer.Option(help="Ask the camera for frames this size, WIDTHxHEIGHT (e.g. 1280x720); "
                                                     "picamera's default is 640x480.")]
FpsOption = Annotated[float | None, typer.Option(min=1, help="Ask the camera for this many frames a second.")]


def reports_errors(command):
    """Turn the library's errors into one line on stderr and exit status 1 (a traceback with --debug)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except EdgeDigitsError as error:
            if Settings.debug:
                raise
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


@app.callback()
def main_options(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False):
    Settings.debug = debug


# --- The models of other kinds: the ink segmenter and the sequence model ------------------------


def train_other(name: str, out: Path, epochs: int | None, batch_size: int | None, seed: int, subset: int | None,
                data: str | None) -> str:
    """Train the ink segmenter or the sequence model (`subset`: at most that many pages or strings)."""
    if name == "inkseg":
        from edgedigits.train.inkseg import InkTrainConfig, train_inkseg

        defaults = InkTrainConfig()
        metrics = train_inkseg(InkTrainConfig(epochs=epochs or defaults.epochs, batch_size=batch_size or defaults.batch_size,
                                              seed=seed, pages=min(defaults.pages, subset or defaults.pages), data=data), out)
        return f"{name}: wrote {out / name}.keras and {out / name}/ (held-out mask IoU {metrics['held_out_iou']:.3f})"
    from edgedigits.train.sequence import SequenceTrainConfig, train_sequence

    defaults = SequenceTrainConfig()
    metrics = train_sequence(SequenceTrainConfig(epochs=epochs or defaults.epochs, batch_size=batch_size or defaults.batch_size,
                                                 seed=seed, strings=min(defaults.strings, subset or defaults.strings), data=data), out)
    return f"{name}: wrote {out / name}.keras and {out / name}/ (held-out strings exact {metrics['held_out_string_accuracy']:.2%})"


def export_other(name: str, out: Path, data: str | None) -> str:
    if name == "inkseg":
        from edgedigits.train.inkseg import export_inkseg

        parity = export_inkseg(out, data=data)
        return (f"{name}: wrote {out / name}.onnx, held-out mask IoU {parity['onnx_iou']:.3f}, "
                f"parity: largest difference {parity['max_abs_diff']:.1e} on {parity['pages']} pages")
    from edgedigits.train.sequence import export_sequence

    parity = export_sequence(out, data=data)
    return (f"{name}: wrote {out / name}.onnx, held-out strings exact {parity['onnx_accuracy']:.2%}, parity: largest "
            f"difference {parity['max_abs_diff']:.1e}, {parity['agreement']:.2%} of {parity['strings']} strings the same")


def calibrate_other(name: str, out: Path, data: str | None) -> str:
    if name == "inkseg":
        from edgedigits.train.inkseg import calibrate_inkseg as calibrate_it

        timed = "640x480 ink map"
    else:
        from edgedigits.train.sequence import calibrate_sequence as calibrate_it

        timed = "5-digit strip"
    report = calibrate_it(out, data=data)
    gate, speed = report["gate"], report["latency_ms"]
    sizes = ", ".join(f"{k} {v / 1e3:.0f} KB" for k, v in report["sizes"].items())
    return (f"{name}: wrote {out / name}.int8.onnx; {gate['measure']} fp32 {gate['fp32']:.4f}, int8 {gate['int8']:.4f}; "
            f"{timed} {speed['fp32']:.2f} ms fp32, {speed['int8']:.2f} ms int8 (one thread); {sizes}")


@app.command()
@reports_errors
def train(
    model: ModelOption = "all",
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs (default: the model's own, 10 for the seed's).")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Batch size (default: the model's own).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same model.")] = 0,
    subset: Annotated[int | None, typer.Option(min=100, help="Train on the first N training images only (smoke runs).")] = None,
    crop_pages: Annotated[int | None, typer.Option(min=0, help="cnn-bn-aug's last epochs: generated photo pages whose runtime crops it learns from (default 4000; 0: none, and no ink segmenter needed).")] = None,
    out: OutOption = Path("models"),
    data: DataOption = None,
):
    """Train models on MNIST; write NAME.keras, NAME/history.json, metrics.json and plots."""
    from edgedigits.train import resolve_names
    from edgedigits.train.models import OTHER_MODELS

    names = resolve_names(model)
    from edgedigits.train.fit import TrainConfig, train_model

    config = TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed, subset=subset, data=data, crop_pages=crop_pages)
    for name in names:
        if name in OTHER_MODELS:
            typer.echo(train_other(name, out, epochs, batch_size, seed, subset, data))
            continue
        result = train_model(name, config, out)
        typer.echo(f"{name}: wrote {result.model_path} and {out / name}/ (history, metrics, plots)")


@app.command()
@reports_errors
def export(
    model: ModelOption = "all",
    out: OutOption = Path("models"),
    opset: Annotated[int | None, typer.Option(min=13, help="ONNX opset (default: the pinned one).")] = None,
    data: DataOption = None,
):
    """Convert NAME.keras to NAME.onnx; keep it only if it matches Keras on all 10,000 test images."""
    from edgedigits.train import resolve_names
    from edgedigits.train.models import OTHER_MODELS

    names = resolve_names(model)
    from edgedigits.export.onnx_export import OPSET, export_model

    for name in names:
        if name in OTHER_MODELS:
            typer.echo(export_other(name, out, data))
            continue
        result = export_model(name, out, opset=opset or OPSET, data=data)
        typer.echo(f"{name}: wrote {result.onnx_path} ({result.size_bytes / 1e6:.2f} MB), "
                   f"test accuracy {result.parity.exported_accuracy:.2%}, parity {result.parity.summary()}")


@app.command()
@reports_errors
def calibrate(
    model: ModelOption = "all",
    out: OutOption = Path("models"),
    method: Annotated[str, typer.Option(help="auto (try each, keep the best that passes), minmax, entropy or percentile.")] = "auto",
    samples: Annotated[int, typer.Option(min=10, help="Training images for calibration (stratified by digit).")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the calibration sample.")] = 0,
    data: DataOption = None,
):
    """Quantize NAME.onnx to NAME.int8.onnx behind an accuracy gate; fit temperatures; time both."""
    from edgedigits.train import resolve_names
    from edgedigits.train.models import OTHER_MODELS

    names = resolve_names(model)
    from edgedigits.calibration.quantize import calibrate_model

    for name in names:
        if name in OTHER_MODELS:
            typer.echo(calibrate_other(name, out, data))
            continue
        result = calibrate_model(name, out, method=method, samples=samples, seed=seed, data=data)
        typer.echo(f"{name}: wrote {result.int8_path} ({result.method}, {samples} calibration images); "
                   f"reliability diagram {result.reliability_plot}")
        typer.echo(f"  {'':5} {'size':>9} {'accuracy':>9} {'T':>6} {'ECE before':>11} {'ECE after':>10} "
                   f"{'batch-1 us':>11} {'img/s @256':>11}  (one thread)")
        for precision, report in (("fp32", result.fp32), ("int8", result.int8)):
            typer.echo(f"  {precision:5} {report.size_bytes / 1e6:>7.2f}MB {report.test_accuracy:>9.2%} "
                       f"{report.temperature:>6.3f} {report.ece_before:>11.4f} {report.ece_after:>10.4f} "
                       f"{report.speed['latency_median_us']:>11.1f} {report.speed['throughput_images_per_s']:>11.0f}")
        typer.echo(f"  faster here: {result.faster}")


@app.command("eval")
@reports_errors
def evaluate(
    model: Annotated[Path, typer.Argument(help="An exported .onnx model.", exists=True, dir_okay=False)],
    pages: Annotated[Path | None, typer.Option(help="Score on photographed pages (a folder with truth.jsonl) instead of MNIST.",
                                               exists=True, file_okay=False)] = None,
    data: DataOption = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    report: Annotated[Path | None, typer.Option(help="Where to write the JSON report (default: MODEL.eval.json).")] = None,
    mask: MaskOption = "auto",
    sequence: SequenceOption = "auto",
    second_look: SecondLookOption = None,
):
    """Accuracy and confusion matrix on the MNIST test set, or pages read exactly on a field set (onnxruntime only)."""
    from edgedigits.evaluate import evaluate_model, evaluate_pages, format_confusion, write_report
    import numpy as np

    if pages is not None:
        result = evaluate_pages(model, pages, device=device, threads=threads, ink_model=resolve_mask(mask, model.parent),
                                sequence_model=resolve_sequence(sequence, model.parent), second_look=second_look)
        report = report or model.with_suffix(".pages.json")
        write_report(result, report)
        typer.echo(f"{pages}, read with {result.reader}: {result.overall.summary()}")
        for group, tally in result.by_group.items():
            typer.echo(f"  {group:16} {tally.summary()}")
        typer.echo(f"report {report}")
        return
    result = evaluate_model(model, data=data, device=device, threads=threads)
    report = report or model.with_suffix(".eval.json")
    write_report(result, report)
    typer.echo(f"{model}: running on {result.provider}", err=True)
    typer.echo(format_confusion(np.array(result.confusion)))
    typer.echo(f"{model}: accuracy {result.accuracy:.2%} on {result.images} MNIST test images "
               f"({result.errors} wrong, {result.seconds:.2f}s); report {report}")


def parse_size(size: str) -> tuple[int, int]:
    """"1280x720" -> (1280, 720)."""
    width, _, height = size.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and 0 < int(width) <= 10000 and 0 < int(height) <= 10000):
        raise EdgeDigitsError(f"--size {size}: give WIDTHxHEIGHT in pixels, as in 1280x720")
    return int(width), int(height)


def resolve_mask(mask: str, models_dir: Path = Path("models")) -> Path | None:
    """The ink segmenter file `--mask` asks for, or None for the threshold mask."""
    from edgedigits.model_index import default_ink_model

    if mask == "threshold":
        return None
    if mask in ("auto", "learned"):
        found = default_ink_model(models_dir)
        if found is None and mask == "learned":
            raise EdgeDigitsError(f"--mask learned: no ink segmenter in {models_dir}/index.json; train it with "
                                  "`make train export calibrate`, or use --mask threshold")
        return found
    if not mask.endswith(".onnx"):
        raise EdgeDigitsError(f"--mask {mask}: use auto, learned, threshold or an ink segmenter's .onnx file")
    return Path(mask)


def resolve_sequence(sequence: str, models_dir: Path = Path("models")) -> Path | None:
    """The sequence model file `--sequence` asks for, or None."""
    from edgedigits.model_index import default_sequence_model

    if sequence == "none":
        return None
    if sequence == "auto":
        return default_sequence_model(models_dir)
    if not sequence.endswith(".onnx"):
        raise EdgeDigitsError(f"--sequence {sequence}: use auto, none or a sequence model's .onnx file")
    return Path(sequence)


def resolve_model(model: Path | None) -> Path:
    """The digit model `--model` names, or the default one in models/ (`model_index.default_model`)."""
    from edgedigits.model_index import default_model

    model = model or default_model(Path("models"))
    if model is None:
        raise EdgeDigitsError("no digit model in models/ (no index.json entry, no .onnx file): run `make train export` "
                              "first, copy a .onnx file there, or pass --model FILE.onnx")
    return model


def open_reader(model: Path | None, device: str, threads: int | None, unsure: float, mask: str = "auto",
                sequence: str = "auto", second_look: int | None = None):
    """The Reader for `read` and `stream`, saying once on stderr which models, mask and provider run."""
    from edgedigits.runtime import Reader
    from edgedigits.runtime.reader import describe_reader

    reader = Reader(resolve_model(model), device=device, threads=threads, unsure_below=unsure, ink_model=resolve_mask(mask),
                    sequence_model=resolve_sequence(sequence), second_look=second_look)
    typer.echo(f"reading with {describe_reader(reader)}", err=True)
    return reader


@app.command()
@reports_errors
def read(
    paths: Annotated[list[str], typer.Argument(help="Images, folders (searched recursively), glob patterns, or - for an image piped in.")],
    model: ModelPathOption = None,
    output_format: Annotated[str, typer.Option("--format", help="text, jsonl or csv (one record per input).")] = "text",
    save: Annotated[Path | None, typer.Option(help="Write annotated copies of the images to this folder.", file_okay=False)] = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    unsure: UnsureOption = 0.5,
    mask: MaskOption = "auto",
    sequence: SequenceOption = "auto",
    second_look: SecondLookOption = None,
    engine: Annotated[str, typer.Option(help="local (a thread pool here) or ray (Ray Data: a cluster, or a local Ray).")] = "local",
    address: Annotated[str | None, typer.Option(help="With --engine ray: the cluster (auto, ray://HOST:10001); "
                                                     "default: a Ray started here.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="With --engine ray: actors, one Reader each (default: the cluster's CPUs).")] = None,
    out: Annotated[Path | None, typer.Option(help="With --engine ray: NAME.jsonl or NAME.parquet, a folder Ray writes the records into.")] = None,
):
    """Read the numbers on images. Exit status 1 if any input could not be read (it gets an error record)."""
    from edgedigits.runtime.batch import CSV_COLUMNS, FORMATS, Progress, format_record, read_all
    from edgedigits.runtime.inputs import expand

    if output_format not in FORMATS:
        raise EdgeDigitsError(f"unknown format '{output_format}'; use one of {', '.join(FORMATS)}")
    if engine not in ("local", "ray"):
        raise EdgeDigitsError(f"--engine {engine}: use local or ray")
    if engine == "ray":
        read_on_ray(paths, model, unsure, mask, sequence, address, workers, out, second_look)
        return
    reader = open_reader(model, device, threads, unsure, mask, sequence, second_look)
    inputs = expand(paths)
    progress = Progress(len(inputs))
    if output_format == "csv":
        typer.echo(",".join(CSV_COLUMNS))
    for record in read_all(reader, inputs, save_dir=save):
        typer.echo(format_record(record, output_format))
        progress.advance(record)
    if progress.failed:
        typer.echo(f"{progress.failed} of {progress.total} inputs could not be read", err=True)
        raise typer.Exit(1)


def read_on_ray(paths: list[str], model: Path | None, unsure: float, mask: str, sequence: str, address: str | None,
                workers: int | None, out: Path | None, second_look: int | None = None) -> None:
    """`read --engine ray`: the models are found here and opened by path on every actor (the same paths on every
    node: a shared filesystem, or the same folder laid out on each)."""
    from edgedigits.runtime.inputs import expand

    if out is None:
        raise EdgeDigitsError("--engine ray writes its records with Ray's writers: give --out NAME.jsonl or --out NAME.parquet")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise EdgeDigitsError("--engine ray needs Ray Data: pip install 'edgedigits[scale]'") from None
    from edgedigits.runtime.reader import check_second_look
    from edgedigits.scale import read_with_ray

    check_second_look(second_look)  # here, before Ray starts, rather than in every actor
    model = resolve_model(model)
    inputs = expand(paths)
    if any(item.path is None and item.error is None for item in inputs):
        raise EdgeDigitsError("--engine ray reads files, not what is piped in (-): save the image to a file first")
    ink, runs = resolve_mask(mask), resolve_sequence(sequence)
    typer.echo(f"reading {len(inputs)} inputs on Ray with {Path(model).resolve()}"
               + (f", ink from {Path(ink).resolve()}" if ink else "") + (f", runs by {Path(runs).resolve()}" if runs else ""), err=True)
    stats = read_with_ray(inputs, Path(model).resolve(), ink and Path(ink).resolve(), runs and Path(runs).resolve(), unsure, out,
                          workers=workers, address=address, second_look=second_look)
    typer.echo(f"wrote {stats['records']} records to {out}/ ({stats['workers']} actors, Ray started in {stats['startup_s']} s, "
               f"read in {stats['seconds']} s: {stats['images_per_second']} images/s)", err=True)


@app.command()
@reports_errors
def stream(
    source: Annotated[str, typer.Argument(help="Camera index (0), /dev/video*, picamera (the Raspberry Pi camera, "
                                                "through picamera2), a video file or a URL.")],
    model: ModelPathOption = None,
    show: Annotated[bool, typer.Option(help="Show the frames with boxes and FPS in a window (needs OpenCV with a GUI).")] = False,
    save: Annotated[Path | None, typer.Option(help="Write the annotated video here (.mp4 or .avi).", dir_okay=False)] = None,
    output_format: Annotated[str, typer.Option("--format", help="text or jsonl: one line each time the reading changes.")] = "text",
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    unsure: UnsureOption = 0.5,
    smooth: SmoothOption = 5,
    mask: MaskOption = "auto",
    sequence: SequenceOption = "auto",
    second_look: SecondLookOption = None,
    size: SizeOption = None,
    fps: FpsOption = None,
):
    """Read a camera or a video live; print the reading each time it changes. Ctrl-C or q stops."""
    import json

    from edgedigits.runtime.stream import run_stream

    if output_format not in ("text", "jsonl"):
        raise EdgeDigitsError(f"unknown format '{output_format}'; use text or jsonl")
    frame_size = parse_size(size) if size else None
    reader = open_reader(model, device, threads, unsure, mask, sequence, second_look)
    updates = run_stream(reader, source, show=show, save=save, window=smooth, size=frame_size, fps=fps)
    try:
        for update in updates:
            if output_format == "jsonl":
                typer.echo(json.dumps(update.as_dict()))
            else:
                minutes, seconds = divmod(update.seconds, 60)
                typer.echo(f"{int(minutes):02d}:{seconds:05.2f}  frame {update.frame:>5}  {update.text.replace(chr(10), ' / ') or '-'}")
    finally:
        updates.close()  # however the loop ends (Ctrl-C, SIGTERM between two frames), the video is finished now
    if save:
        typer.echo(f"wrote {save}" if save.is_file() else f"no frame could be read, so {save} was not written", err=True)


@app.command()
@reports_errors
def serve(
    source: Annotated[str | None, typer.Argument(help="As for stream: camera index, /dev/video*, picamera, a video file "
                                                      "or a URL. Without it, the API alone (POST /read).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 reaches it from the LAN.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    token: Annotated[str | None, typer.Option(help="Every endpoint then needs it: Authorization: Bearer TOKEN, or ?token=TOKEN.",
                                              envvar="EDGEDIGITS_TOKEN")] = None,
    model: ModelPathOption = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    unsure: UnsureOption = 0.5,
    smooth: SmoothOption = 5,
    mask: MaskOption = "auto",
    sequence: SequenceOption = "auto",
    second_look: SecondLookOption = None,
    size: SizeOption = None,
    fps: FpsOption = None,
):
    """The live view in a browser and an HTTP API: /, /stream.mjpg, /snapshot.jpg, /reading, POST /read, /health."""
    try:
        from edgedigits.runtime.serve import create_app, run_server
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise EdgeDigitsError(f"serve needs the [serve] extra ({error.name} is missing): pip install 'edgedigits[serve]'") from None
    from edgedigits.runtime.stream import is_live

    if source and not is_live(source) and not Path(source).is_file():
        raise EdgeDigitsError(f"{source}: no such video file (give a camera index such as 0, a /dev/video* device, "
                              "picamera, a file or a URL; or no SOURCE for the API alone)")
    frame_size = parse_size(size) if size else None
    # One onnxruntime thread per read unless told otherwise: requests run side by side in the server's thread
    # pool, and several of them each spreading over every core only fight for the cores.
    reader = open_reader(model, device, threads or 1, unsure, mask, sequence, second_look)
    app_ = create_app(reader, source, token=token, size=frame_size, fps=fps, smooth=smooth)
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        typer.echo(f"warning: serving on {host} with no authentication: anyone on the network can see the camera "
                   "and use the API (give --token to require one)", err=True)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"serving on http://{shown}:{port}/" + (f" from {source}" if source else " (API only: no SOURCE)"), err=True)
    run_server(app_, host, port)


@app.command()
@reports_errors
def bench(
    models: Annotated[Path, typer.Option(help="Folder with index.json and the models.", file_okay=False)] = Path("models"),
    quick: Annotated[bool, typer.Option(help="Fewer repetitions and 2,000 test images: under a minute.")] = False,
    out: Annotated[Path, typer.Option(help="Folder for bench.json and bench.png.", file_okay=False)] = Path("bench"),
    pages: Annotated[Path | None, typer.Option(help="Instead: the whole job on a field set (a folder with truth.jsonl), "
                                                    "per image size, against the OCR engines installed.", file_okay=False)] = None,
    peer_pages: Annotated[int, typer.Option(min=0, help="With --pages: the OCR engines read this many pages (0: none).")] = 100,
    model: ModelPathOption = None,
    mask: MaskOption = "auto",
    sequence: SequenceOption = "auto",
):
    """Every model and format side by side (size, accuracy, latency, throughput), with peers and end to end;
    or, with --pages, pages read exactly and pages per second against OCR engines."""
    if pages is not None:
        from edgedigits.bench_pages import bench_pages, format_pages_table
        from edgedigits.files import write_json_atomic
        from edgedigits.runtime.reader import describe_reader

        reader = open_reader(model, "cpu", 1, 0.5, mask, sequence)
        report = bench_pages(pages, reader, peer_limit=peer_pages, peers=tuple(PEER_NAMES) if peer_pages else (),
                             progress=lambda line: typer.echo(line, err=True))
        report["reader"] = describe_reader(reader)
        typer.echo(format_pages_table(report))
        write_json_atomic(out / "pages.json", report)
        typer.echo(f"wrote {out / 'pages.json'}", err=True)
        return
    from edgedigits.bench import format_table, run_bench, write_outputs

    report = run_bench(models, quick=quick, progress=lambda line: typer.echo(line, err=True))
    typer.echo(format_table(report))
    json_path, chart_path = write_outputs(report, out)
    typer.echo(f"wrote {json_path} and {chart_path}", err=True)


PEER_NAMES = ("tesseract", "rapidocr", "easyocr")


def terminate(signal_number, frame) -> None:
    """SIGTERM ends the command the way Ctrl-C does: `finally` blocks run, so temporaries are removed and an
    annotated video being written is finished (a valid video of the frames read so far) before it replaces
    the target."""
    raise SystemExit(128 + signal_number)


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, terminate)
    app(prog_name="edgedigits")
