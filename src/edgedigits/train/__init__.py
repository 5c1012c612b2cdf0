"""Training (Keras/TensorFlow). Importing this package is cheap: TensorFlow loads in `edgedigits.train.fit`."""

from edgedigits.train.models import MODELS, ModelSpec, resolve_names

__all__ = ["MODELS", "ModelSpec", "resolve_names"]
