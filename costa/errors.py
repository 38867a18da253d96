"""Errors raised by costa.

Every error a user can cause derives from :class:`CostaError` and from the builtin it
resembles, so ``except ValueError`` still works for code that does not know costa.
Messages say what is wrong, with which file or value, and how to fix it; the CLI prints
them as one line and exits with status 2.

Exception tree::

    CostaError
    ├── ModelError (ValueError)              the ONNX model cannot be used
    │   └── ModelMetadataError               metadata missing or inconsistent (names the field)
    ├── OptionError (ValueError)             a parameter is out of range (tile, halo, batch...)
    ├── SourceError (ValueError)             the input raster does not fit the model
    ├── SourceReadError (OSError)            the input cannot be opened or read
    ├── OutputError (OSError)                the output cannot be written
    ├── MissingDependencyError (ImportError) an optional extra is not installed (names it)
    └── ProviderError (RuntimeError)         the requested execution provider is unavailable
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "CostaError",
    "MissingDependencyError",
    "ModelError",
    "ModelMetadataError",
    "OptionError",
    "OutputError",
    "ProviderError",
    "SourceError",
    "SourceReadError",
    "first_line",
    "require",
]


class CostaError(Exception):
    """Root of every error costa raises on purpose."""


class ModelError(CostaError, ValueError):
    """The model file is not a usable ONNX model."""


class ModelMetadataError(ModelError):
    """The model's ``metadata_props`` are missing a field or contradict the graph."""


class OptionError(CostaError, ValueError):
    """A parameter is invalid (tile not a multiple of the stride, batch < 1...)."""


class SourceError(CostaError, ValueError):
    """The source raster does not match what the model expects (bands, dtype, CRS, GSD)."""


class SourceReadError(CostaError, OSError):
    """The source raster is missing, unreadable, or not a raster."""


class OutputError(CostaError, OSError):
    """The output path cannot be written."""


class ProviderError(CostaError, RuntimeError):
    """The requested ONNX Runtime execution provider cannot run here."""


class MissingDependencyError(CostaError, ImportError):
    """An optional dependency is missing; the message gives the ``pip install`` line."""


def first_line(e: BaseException, limit: int = 300) -> str:
    r"""The first line of an exception's message, at most ``limit`` characters (GDAL's run long).

    >>> first_line(OSError("bad block\nat offset 12"))
    'bad block'
    >>> first_line(ValueError())
    'ValueError'
    """
    text = str(e).strip()
    return text.splitlines()[0][:limit] if text else type(e).__name__


def require(module: str, extra: str, what: str = "this") -> Any:
    """Import an optional dependency, or raise :class:`MissingDependencyError` with the install line.

    >>> require("json", "train").__name__
    'json'
    >>> require("no_such_mod", "serve", "costa serve")
    Traceback (most recent call last):
    ...
    costa.errors.MissingDependencyError: costa serve needs no_such_mod: pip install "costa-landcover[serve]"
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f'{what} needs {module}: pip install "costa-landcover[{extra}]"'
        ) from None
