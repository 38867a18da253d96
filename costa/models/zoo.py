"""Bundled models (``models/`` in a checkout, ``costa/_data/models`` in a wheel)."""

from __future__ import annotations

from pathlib import Path

from costa.resources import data_path

__all__ = ["demo_model_path"]


def demo_model_path() -> Path:
    """Path of the bundled demo model (``models/demo/costa-demo.onnx``).

    >>> demo_model_path().name
    'costa-demo.onnx'
    """
    return data_path("models", "demo", "costa-demo.onnx")
