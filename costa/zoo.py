"""Bundled models: where they live in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

__all__ = ["demo_model_path"]

_HERE = Path(__file__).resolve().parent


def demo_model_path() -> Path:
    """Path of the bundled demo model (``models/demo/costa-demo.onnx``).

    >>> demo_model_path().name
    'costa-demo.onnx'
    """
    for candidate in (
        _HERE / "_data" / "models" / "demo" / "costa-demo.onnx",  # installed wheel
        _HERE.parent / "models" / "demo" / "costa-demo.onnx",
    ):  # source checkout
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("the demo model is missing from this installation; reinstall costa-landcover")
