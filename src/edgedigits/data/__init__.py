"""MNIST as verified uint8 arrays (numpy only: safe to import on a Raspberry Pi)."""

from edgedigits.data.mnist import load_mnist

__all__ = ["load_mnist"]
