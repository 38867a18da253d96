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


def first_line(e: BaseException) -> str:
    r"""The first line of an exception's message (GDAL's can run over many lines).

    >>> first_line(OSError("bad block\nat offset 12"))
    'bad block'
    """
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
