"""Bundled models, found with :mod:`importlib.resources` (in a checkout and in a wheel alike)."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

__all__ = ["demo_model_path"]


def demo_model_path() -> Path:
    """Path of the bundled demo model (``costa/models/demo/costa-demo.onnx``).

    >>> demo_model_path().name
    'costa-demo.onnx'
    """
    resource = files("costa.models") / "demo" / "costa-demo.onnx"
    if not resource.is_file():
        raise FileNotFoundError("the demo model is missing from this installation; reinstall costa-landcover")
    with as_file(resource) as path:  # a real file for ONNX Runtime (packages are installed unzipped)
        return Path(path)
