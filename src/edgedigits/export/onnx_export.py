"""Keras -> ONNX with tf2onnx, proved equal on the whole MNIST test set before it is kept.

`export_model("cnn", Path("models"))` reads `models/cnn.keras`, converts it with a
pinned opset and the contract's named signature, runs both models on the 10,000
test images, and writes `models/cnn.onnx` (with its description in
`metadata_props`) and its `index.json` entry only if parity holds. On failure
no `.onnx` for that model is left behind.

tf2onnx's `from_keras` fails on Keras 3 (`KeyError: 'keras_tensor_N'`); wrapping
the model in a `tf.function` with a named `tf.TensorSpec` and converting that
with `from_function` works, and names the graph's input and output for us.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402

import edgedigits  # noqa: E402
from edgedigits import model_index  # noqa: E402
from edgedigits.contract import INPUT_NAME, INPUT_SHAPE, OUTPUT_NAME, PREPROCESSING_VERSION, to_model_input  # noqa: E402
from edgedigits.data import load_mnist  # noqa: E402
from edgedigits.errors import EdgeDigitsError  # noqa: E402
from edgedigits.export.parity import ParityReport, compare  # noqa: E402
from edgedigits.files import atomic_path  # noqa: E402
from edgedigits.runtime import open_model  # noqa: E402
from edgedigits.train.models import MODELS  # noqa: E402

OPSET = 17  # supported by onnxruntime >= 1.14, OpenCV's DNN module and TensorRT alike
BATCH_AXIS = "N"


@dataclass
class ExportResult:
    name: str
    onnx_path: Path
    parity: ParityReport
    size_bytes: int


class ParityError(EdgeDigitsError):
    """The exported model does not answer as the Keras model does."""


def to_onnx(model, opset: int = OPSET, input_name: str = INPUT_NAME, input_shape: tuple = INPUT_SHAPE,
            output_name: str = OUTPUT_NAME, input_axes: tuple[str, ...] = (BATCH_AXIS,),
            output_axes: tuple[str, ...] = (BATCH_AXIS,)) -> onnx.ModelProto:
    """Convert a Keras model with the contract's signature to an ONNX graph named `image` -> `probabilities`
    (another model's names and shape when given; `input_axes` and `output_axes` name the dynamic axes in order)."""
    signature = (tf.TensorSpec((None, *input_shape), tf.float32, name=input_name),)

    @tf.function(input_signature=signature)
    def serve(tensor):
        return {output_name: model(tensor, training=False)}

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=signature, opset=opset)
    for values, axes in ((proto.graph.input, input_axes), (proto.graph.output, output_axes)):
        for value in values:
            dynamic = [dim for dim in value.type.tensor_type.shape.dim if not dim.HasField("dim_value")]
            for dim, axis in zip(dynamic, axes):
                dim.dim_param = axis  # tf2onnx names them unk__NN
    return proto


def fixed_scale_upsampling(proto: onnx.ModelProto, block: int) -> int:
    """Give every nearest-neighbour Resize of `proto` (from `layers.NearestUp`) the constant scales [1, 1, block,
    block] instead of the output size tf2onnx computes from the input's shape (Shape, Slice, Mul and Concat):
    the same output (the size is always `block` times the input's), and a Resize whose scales are known when the
    session is made is one that onnxruntime runs in its blocked NCHWc layout beside the convolutions, without
    reordering the tensors around it. The steps that only computed the sizes are removed. Returns how many
    Resize nodes were changed."""
    graph, changed = proto.graph, 0
    for node in graph.node:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != "Resize" or attributes.get("mode") != b"nearest" or len(node.input) < 4:
            continue
        scales = f"{node.name}/fixed_scales"
        graph.initializer.append(onnx.numpy_helper.from_array(np.array([1, 1, block, block], np.float32), scales))
        node.input[:] = [node.input[0], "", scales]
        changed += 1
    while True:  # drop the nodes, then the initializers, that nothing reads any more
        needed = {name for node in graph.node for name in node.input} | {value.name for value in graph.output}
        unused = [node for node in graph.node if not any(name in needed for name in node.output)]
        if not unused:
            break
        for node in unused:
            graph.node.remove(node)
    for initializer in [i for i in graph.initializer if i.name not in needed]:
        graph.initializer.remove(initializer)
    return changed


def set_metadata(proto: onnx.ModelProto, fields: dict[str, object]) -> None:
    """Replace `metadata_props` with `fields`, every value as a string (ONNX stores strings only)."""
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {key: str(value) for key, value in fields.items()})


def onnx_parity(keras_model, onnx_path: Path, images: np.ndarray, labels: np.ndarray) -> ParityReport:
    """Run both models on `images` (uint8 [N, 28, 28]) on the CPU and compare their probabilities."""
    inputs = to_model_input(images)
    reference = keras_model.predict(inputs, batch_size=1000, verbose=0)
    exported = open_model(onnx_path, device="cpu").predict(inputs)
    return compare(reference, exported, labels)


def load_keras_model(path: Path, compile: bool = True):
    if not path.is_file():
        raise EdgeDigitsError(f"{path}: no such file; train the model first (edgedigits train --model {path.stem})")
    try:
        return keras.models.load_model(path, compile=compile)
    except Exception as error:
        raise EdgeDigitsError(f"{path}: not a readable Keras model ({error}); train it again") from error


def export_model(name: str, models_dir: Path, opset: int = OPSET, data: str | None = None) -> ExportResult:
    """Export `models_dir/<name>.keras` to `models_dir/<name>.onnx` if it passes parity on the MNIST test set."""
    keras_model = load_keras_model(models_dir / f"{name}.keras")
    _, (x_test, y_test) = load_mnist(data)
    proto = to_onnx(keras_model, opset)
    onnx_path = models_dir / f"{name}.onnx"
    with atomic_path(onnx_path) as temporary:
        onnx.save(proto, temporary)
        parity = onnx_parity(keras_model, temporary, x_test, y_test)
        if not parity.passed:
            model_index.remove(onnx_path)  # an older export no longer matches its .keras
            raise ParityError(f"{name}: the ONNX model does not answer as the Keras model does: {parity.summary()}; no .onnx written")
        spec = MODELS.get(name)
        set_metadata(proto, {
            "name": name,
            "architecture": spec.architecture if spec else keras_model.name,
            "precision": "fp32",
            "opset": opset,
            "preprocessing": PREPROCESSING_VERSION,
            "test_accuracy": f"{parity.exported_accuracy:.4f}",
            "parity_argmax_agreement": f"{parity.argmax_agreement:.4f}",
            "parity_max_abs_diff": f"{parity.max_abs_diff:.3e}",
            "calibration_method": "none",
            "temperature": "1.0",
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
            "tf2onnx_version": tf2onnx.__version__,
            "onnxruntime_version": onnxruntime.__version__,
            "edgedigits_version": edgedigits.__version__,
            "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        })
        proto.doc_string = f"edgedigits model '{name}': {INPUT_NAME} [N, 28, 28, 1] float32 -> {OUTPUT_NAME} [N, 10]"
        onnx.save(proto, temporary)
    model_index.add_entry(models_dir, model_index.describe(
        onnx_path, name=name, precision="fp32", test_accuracy=parity.exported_accuracy, parity=parity.as_dict()))
    return ExportResult(name, onnx_path, parity, onnx_path.stat().st_size)
