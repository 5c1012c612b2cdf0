"""INT8 static quantization with real calibration data, kept only behind an accuracy gate.

`calibrate_model("cnn", Path("models"))`:

1. streams a stratified sample of MNIST's *training* images (never the test set)
   through onnxruntime's calibrator, after `quant_pre_process`;
2. quantizes to QDQ, per-channel weights, once per calibration method asked for;
3. gates each result on the full test set: at most 0.1 point of accuracy lost
   against fp32 and at least 99.8% argmax agreement; `auto` keeps the best that
   passes, and if none does, nothing is written and every method's figures are shown;
4. fits a temperature for each precision on the validation images Keras held
   out while training (the last 10% of the training set), keeps it only if it
   lowers validation ECE too, and reports ECE on the test set;
5. times both precisions with one thread and records which is faster here.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from edgedigits import model_index
from edgedigits.calibration.plots import plot_reliability
from edgedigits.calibration.temperature import expected_calibration_error, fit_temperature
from edgedigits.contract import INPUT_NAME, NUM_CLASSES, to_model_input
from edgedigits.data import load_mnist
from edgedigits.errors import EdgeDigitsError
from edgedigits.files import atomic_path
from edgedigits.runtime import open_model
from edgedigits.runtime.confidence import apply_temperature
from edgedigits.speed import measure

METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}
MAX_ACCURACY_DROP = 0.001  # 0.1 percentage point against the fp32 model, on the full test set
MIN_AGREEMENT = 0.998  # share of test images where INT8 and fp32 give the same digit
VALIDATION_FRACTION = 0.1  # Keras's validation_split held out the last 10% of the training set
CALIBRATION_BATCH = 100


# --- Calibration data --------------------------------------------------------------


def stratified_sample(labels: np.ndarray, samples: int, seed: int = 0) -> np.ndarray:
    """Indices of `samples` images, as many of each digit as possible, in random order."""
    rng = np.random.default_rng(seed)
    per_class = samples // NUM_CLASSES
    chosen = [rng.choice(np.flatnonzero(labels == digit), per_class, replace=False) for digit in range(NUM_CLASSES)]
    indices = np.concatenate(chosen)
    rng.shuffle(indices)
    return indices


class ImageReader(CalibrationDataReader):
    """Feeds uint8 images [N, 28, 28] to onnxruntime's calibrator, one batch per `get_next`."""

    def __init__(self, images: np.ndarray, batch_size: int = CALIBRATION_BATCH):
        self.images, self.batch_size = images, batch_size
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.position >= len(self.images):
            return None
        batch = self.images[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return {INPUT_NAME: to_model_input(batch)}

    def rewind(self) -> None:
        self.position = 0


class FeedReader(CalibrationDataReader):
    """Feeds prepared input dicts ({input name: batch}) to onnxruntime's calibrator, one per `get_next`
    (the ink segmenter's photos and the sequence model's strips)."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self.feeds, self.position = feeds, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.position >= len(self.feeds):
            return None
        self.position += 1
        return self.feeds[self.position - 1]

    def rewind(self) -> None:
        self.position = 0


def quantize_behind_gate(models_dir: Path, name: str, kind: str, feeds: list[dict[str, np.ndarray]], score,
                         measure: str, max_drop: float, latency, latency_key: str) -> dict:
    """NAME.onnx -> NAME.int8.onnx for a model of another kind (the ink segmenter, the sequence model): QDQ
    calibrated on `feeds`, kept only when `score(path)` (higher is better, e.g. mask IoU) is at most `max_drop`
    under fp32's; both files timed with `latency(path)` (ms) and the INT8 entry added to the index."""
    fp32_path, int8_path = models_dir / f"{name}.onnx", models_dir / f"{name}.int8.onnx"
    if not fp32_path.is_file():
        raise EdgeDigitsError(f"{fp32_path}: no such file; export it first (edgedigits export --model {name})")
    fp32_score = score(fp32_path)
    with atomic_path(int8_path) as temporary:
        quantize(fp32_path, temporary, FeedReader(feeds), "minmax", dynamic_shapes=True)
        int8_score = score(temporary)
        gate = {"method": "minmax", "measure": measure, "fp32": fp32_score, "int8": int8_score, "max_drop": max_drop,
                "passed": fp32_score - int8_score <= max_drop}
        if not gate["passed"]:
            model_index.remove(int8_path)
            raise EdgeDigitsError(f"{name}: INT8 {measure} {int8_score:.3f} is more than {max_drop:g} under fp32's "
                                  f"{fp32_score:.3f}; no INT8 file written")
        rewrite_metadata(temporary, {"precision": "int8", measure.replace(" ", "_"): f"{int8_score:.4f}"})
    # Indexed before it is timed: opening a file checks it against its entry, and an older entry is stale now.
    model_index.add_entry(models_dir, model_index.describe(int8_path, name=name, kind=kind, precision="int8", gate=gate))
    speed = {precision: latency(path) for precision, path in (("fp32", fp32_path), ("int8", int8_path))}
    model_index.refresh_entry(fp32_path, **{latency_key: speed["fp32"]})
    model_index.refresh_entry(int8_path, **{latency_key: speed["int8"]}, faster_here=speed["int8"] < speed["fp32"],
                              timed_on=model_index.this_machine())
    return {"gate": gate, "latency_ms": speed, "sizes": {p.name: p.stat().st_size for p in (fp32_path, int8_path)}}


def split_training_set(x_train: np.ndarray, y_train: np.ndarray):
    """(training part, validation part), the split Keras's validation_split made while training."""
    cut = int(len(x_train) * (1 - VALIDATION_FRACTION))
    return (x_train[:cut], y_train[:cut]), (x_train[cut:], y_train[cut:])


# --- Quantization and the gate -----------------------------------------------------------


def quantize(fp32_path: Path, int8_path: Path, reader: CalibrationDataReader, method: str, dynamic_shapes: bool = False) -> None:
    """QDQ INT8: activations uint8, weights int8 per channel; the final softmax stays float.
    `dynamic_shapes`: the graph has dynamic spatial axes, which symbolic shape inference cannot follow."""
    with tempfile.TemporaryDirectory(prefix="edgedigits-quant-") as folder:
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=dynamic_shapes)
        softmax_nodes = [node.name for node in onnx.load(prepared).graph.node if node.op_type == "Softmax"]
        quantize_static(
            str(prepared),
            str(int8_path),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=METHODS[method],
            nodes_to_exclude=softmax_nodes,  # 8-bit probabilities would coarsen every confidence to 1/256
            extra_options={"CalibTensorRangeSymmetric": False},
        )


@dataclass
class GateReport:
    method: str
    fp32_accuracy: float
    int8_accuracy: float
    agreement: float

    @property
    def accuracy_drop(self) -> float:
        return self.fp32_accuracy - self.int8_accuracy

    @property
    def passed(self) -> bool:
        return self.accuracy_drop <= MAX_ACCURACY_DROP + 1e-12 and self.agreement >= MIN_AGREEMENT

    def summary(self) -> str:
        verdict = "pass" if self.passed else "FAIL"
        return (f"{self.method}: int8 {self.int8_accuracy:.2%} vs fp32 {self.fp32_accuracy:.2%} "
                f"(drop {self.accuracy_drop * 100:+.2f} pt, limit {MAX_ACCURACY_DROP * 100:.1f}), "
                f"agreement {self.agreement:.2%} (limit {MIN_AGREEMENT:.1%}) -> {verdict}")


def gate(method: str, fp32_probabilities: np.ndarray, int8_probabilities: np.ndarray, labels: np.ndarray) -> GateReport:
    fp32_digits, int8_digits = fp32_probabilities.argmax(axis=1), int8_probabilities.argmax(axis=1)
    return GateReport(
        method=method,
        fp32_accuracy=float((fp32_digits == labels).mean()),
        int8_accuracy=float((int8_digits == labels).mean()),
        agreement=float((fp32_digits == int8_digits).mean()),
    )


class GateError(EdgeDigitsError):
    """No INT8 model kept its accuracy."""


# --- The whole stage ------------------------------------------------------------------------


@dataclass
class PrecisionReport:
    file: str
    size_bytes: int
    test_accuracy: float
    temperature: float
    ece_before: float
    ece_after: float
    speed: dict


@dataclass
class CalibrationResult:
    name: str
    int8_path: Path
    method: str
    samples: int
    gate_reports: list[GateReport]
    fp32: PrecisionReport
    int8: PrecisionReport
    faster: str  # "fp32" or "int8", batch-1 latency on this machine, one thread
    reliability_plot: Path


def confidence_report(path: Path, validation, test) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """Temperature fitted on validation images; ECE on the test set before and after; test probabilities.

    The temperature minimises validation NLL, but is kept only if it also lowers
    validation ECE: a model that is already calibrated keeps T = 1.
    """
    model = open_model(path, device="cpu")
    (x_validation, y_validation), (x_test, y_test) = validation, test
    validation_probabilities = model.predict(to_model_input(x_validation))
    temperature = fit_temperature(validation_probabilities, y_validation)
    if (expected_calibration_error(apply_temperature(validation_probabilities, temperature), y_validation)
            >= expected_calibration_error(validation_probabilities, y_validation)):
        temperature = 1.0
    test_probabilities = model.predict(to_model_input(x_test))
    calibrated = apply_temperature(test_probabilities, temperature)
    return (temperature, expected_calibration_error(test_probabilities, y_test),
            expected_calibration_error(calibrated, y_test), test_probabilities, calibrated)


def rewrite_metadata(path: Path, fields: dict[str, object]) -> None:
    """Update some `metadata_props` of an `.onnx` file in place, atomically, and its index entry with it."""
    proto = onnx.load(path)
    merged = {prop.key: prop.value for prop in proto.metadata_props} | {k: str(v) for k, v in fields.items()}
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, merged)
    with atomic_path(path) as temporary:
        onnx.save(proto, temporary)
    if model_index.entry_for(path) is not None:  # the file changed: its sha256 must follow (a temporary has no entry)
        model_index.refresh_entry(path)


def quantize_best(fp32_path: Path, int8_path: Path, methods: list[str], calibration_images: np.ndarray,
                  x_test: np.ndarray, y_test: np.ndarray) -> tuple[GateReport, list[GateReport]]:
    """Quantize once per method, gate each on the test set, write the best that passed to `int8_path`."""
    fp32_test = open_model(fp32_path, device="cpu").predict(to_model_input(x_test))
    reports, best = [], None
    with tempfile.TemporaryDirectory(prefix="edgedigits-int8-") as folder:
        for method in methods:
            candidate = Path(folder) / f"{method}.onnx"
            quantize(fp32_path, candidate, ImageReader(calibration_images), method)
            int8_test = open_model(candidate, device="cpu").predict(to_model_input(x_test))
            report = gate(method, fp32_test, int8_test, y_test)
            print(report.summary(), flush=True)
            reports.append(report)
            if report.passed and (best is None or (report.int8_accuracy, report.agreement) > (best.int8_accuracy, best.agreement)):
                best = report
        if best is None:
            model_index.remove(int8_path)  # an older INT8 file no longer matches its fp32 model
            raise GateError(f"{fp32_path.stem}: no INT8 model passed the gate; no {int8_path.name} written. "
                            + "; ".join(report.summary() for report in reports))
        with atomic_path(int8_path) as temporary:
            temporary.write_bytes((Path(folder) / f"{best.method}.onnx").read_bytes())
    model_index.refresh_entry(int8_path, name=fp32_path.stem, precision="int8")  # a new file: a new sha256
    return best, reports


def calibrate_model(name: str, models_dir: Path, method: str = "auto", samples: int = 1000, seed: int = 0,
                    data: str | None = None, timing_repeats: int = 300) -> CalibrationResult:
    """INT8 behind the gate, a temperature per precision, and both timed; see the module's docstring."""
    fp32_path = models_dir / f"{name}.onnx"
    int8_path = models_dir / f"{name}.int8.onnx"
    if method != "auto" and method not in METHODS:
        raise EdgeDigitsError(f"unknown calibration method '{method}'; use auto, {', '.join(METHODS)}")
    if not fp32_path.is_file():
        raise EdgeDigitsError(f"{fp32_path}: no such file; export the model first (edgedigits export --model {name})")
    if samples < NUM_CLASSES:
        raise EdgeDigitsError(f"--samples must be at least {NUM_CLASSES} (one image per digit), got {samples}")

    (x_train, y_train), (x_test, y_test) = load_mnist(data)
    (x_fit, y_fit), validation = split_training_set(x_train, y_train)
    calibration_images = x_fit[stratified_sample(y_fit, samples, seed)]
    best, gate_reports = quantize_best(fp32_path, int8_path, list(METHODS) if method == "auto" else [method],
                                       calibration_images, x_test, y_test)

    reports, curves = {}, {}
    for precision, path in (("fp32", fp32_path), ("int8", int8_path)):
        temperature, ece_before, ece_after, raw, calibrated = confidence_report(path, validation, (x_test, y_test))
        curves[precision] = (raw, calibrated)
        fields = {"temperature": f"{temperature:.4f}", "ece_before": f"{ece_before:.4f}", "ece_after": f"{ece_after:.4f}"}
        if precision == "int8":
            fields |= {"precision": "int8", "calibration_method": best.method, "calibration_samples": samples,
                       "test_accuracy": f"{best.int8_accuracy:.4f}", "int8_agreement": f"{best.agreement:.4f}",
                       "fp32_test_accuracy": f"{best.fp32_accuracy:.4f}"}
        rewrite_metadata(path, fields)
        speed = measure(open_model(path, device="cpu", threads=1), threads=1, repeats=timing_repeats)
        reports[precision] = PrecisionReport(
            file=path.name, size_bytes=path.stat().st_size,
            test_accuracy=best.int8_accuracy if precision == "int8" else best.fp32_accuracy,
            temperature=temperature, ece_before=ece_before, ece_after=ece_after, speed=speed.as_dict())

    faster = min(reports, key=lambda precision: reports[precision].speed["latency_median_us"])
    for precision, report in reports.items():
        fields = {"name": name, "precision": precision, "test_accuracy": report.test_accuracy,
                  "temperature": round(report.temperature, 4), "ece_before": round(report.ece_before, 4),
                  "ece_after": round(report.ece_after, 4), "speed": report.speed, "faster_here": precision == faster,
                  "timed_on": model_index.this_machine()}
        if precision == "int8":
            fields["gate"] = {"method": best.method, "samples": samples, "fp32_accuracy": best.fp32_accuracy,
                              "agreement": best.agreement, "passed": True}
        model_index.refresh_entry(models_dir / report.file, **fields)

    plot_path = models_dir / name / "reliability.png"
    plot_reliability(curves, y_test, plot_path, f"{name}: reliability on the MNIST test set")
    return CalibrationResult(name, int8_path, best.method, samples, gate_reports, reports["fp32"], reports["int8"],
                             faster, plot_path)
