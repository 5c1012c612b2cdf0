"""Opening an edgedigits `.onnx` model with onnxruntime, on the provider asked for.

`device="auto"` uses CUDA when onnxruntime really created the session with the
CUDA provider (checked with `session.get_providers()`, not the list of
available providers) and falls back to the CPU otherwise; `"cuda"` fails
loudly when CUDA is not active; `"cpu"` never tries CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgedigits.contract import INPUT_NAME, INPUT_SHAPE, NUM_CLASSES, OUTPUT_NAME
from edgedigits.errors import EdgeDigitsError
from edgedigits.files import sha256_file
from edgedigits.model_index import INDEX_NAME, entry_for

DEVICES = ("auto", "cpu", "cuda")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
BATCH_SIZE = 1000  # images per session.run when scoring many


@dataclass
class OpenModel:
    """An open ONNX file of any kind: its session, the provider that really runs it, and its metadata."""

    path: Path
    session: object  # onnxruntime.InferenceSession
    provider: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Model(OpenModel):
    """An open digit classifier."""

    def predict(self, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Probabilities [N, 10] for model inputs [N, 28, 28, 1], in batches."""
        outputs = [
            self.session.run([OUTPUT_NAME], {INPUT_NAME: images[start : start + batch_size]})[0]
            for start in range(0, len(images), batch_size)
        ]
        return np.concatenate(outputs) if outputs else np.zeros((0, NUM_CLASSES), np.float32)


def _providers_for(device: str) -> list[str]:
    import onnxruntime as ort

    if device not in DEVICES:
        raise EdgeDigitsError(f"unknown device '{device}'; use one of {', '.join(DEVICES)}")
    if device == "cpu":
        return [CPU]
    if device == "cuda" and CUDA not in ort.get_available_providers():
        raise EdgeDigitsError(
            f"device 'cuda' asked for, but this onnxruntime ({ort.__version__}) has no CUDA provider; "
            "install edgedigits[gpu] (onnxruntime-gpu) or use --device cpu"
        )
    return [CUDA, CPU] if CUDA in ort.get_available_providers() else [CPU]


def check_contract(session, path: Path) -> None:
    """Refuse a model whose input or output is not the edgedigits contract."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    expected = f"input '{INPUT_NAME}' [N, {', '.join(map(str, INPUT_SHAPE))}] and output '{OUTPUT_NAME}' [N, {NUM_CLASSES}]"
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME or list(inputs[0].shape[1:]) != list(INPUT_SHAPE):
        found = ", ".join(f"'{i.name}' {i.shape}" for i in inputs)
        raise EdgeDigitsError(f"{path}: not an edgedigits model: it takes {found}, expected {expected}")
    if inputs[0].type != "tensor(float)":
        raise EdgeDigitsError(f"{path}: its input '{INPUT_NAME}' is {inputs[0].type}, expected tensor(float) (float32 pixels in [0, 1])")
    if isinstance(inputs[0].shape[0], int):
        raise EdgeDigitsError(f"{path}: its batch size is fixed at {inputs[0].shape[0]}; export it with a dynamic batch axis "
                              "(edgedigits export does)")
    if not any(o.name == OUTPUT_NAME and list(o.shape[1:]) == [NUM_CLASSES] for o in outputs):
        found = ", ".join(f"'{o.name}' {o.shape}" for o in outputs)
        raise EdgeDigitsError(f"{path}: not an edgedigits model: it gives {found}, expected {expected}")


def check_index(path: Path) -> None:
    """If `index.json` beside the model lists it, the file's sha256 must match the entry."""
    entry = entry_for(path)
    if entry is not None and entry.get("sha256") != sha256_file(path):
        raise EdgeDigitsError(
            f"{path}: sha256 differs from its entry in {path.parent / INDEX_NAME}; the file changed since it "
            "was exported: export it again, or remove its entry from the index"
        )


def open_session(path: Path, device: str = "auto", threads: int | None = None):
    """(session, provider) for the ONNX file `path` on `device`, after checking it against the index."""
    import onnxruntime as ort

    if not path.is_file():
        raise EdgeDigitsError(f"{path}: no such model file; train and export one with `make train export`")
    check_index(path)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only: onnxruntime's warnings are not the user's business
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=_providers_for(device))
    except EdgeDigitsError:
        raise
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise EdgeDigitsError(f"{path}: not a loadable ONNX model ({first_line})") from error
    provider = session.get_providers()[0]
    if device == "cuda" and provider != CUDA:
        raise EdgeDigitsError(f"{path}: device 'cuda' asked for, but onnxruntime could not start CUDA (it runs {provider})")
    return session, provider


def open_model(path: str | Path, device: str = "auto", threads: int | None = None) -> Model:
    """Open `path` on `device`, check it against the contract and the index, and say which provider runs it."""
    path = Path(path)
    session, provider = open_session(path, device, threads)
    check_contract(session, path)
    return Model(path, session, provider, dict(session.get_modelmeta().custom_metadata_map))
