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
    "file_error",
    "first_line",
    "gdal_problem",
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


# GDAL / OGR messages (anywhere in an exception's chain) → what they mean and what to do, in costa's words.
_KNOWN_CAUSES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        (
            "CURL error",
            "Connection refused",
            "Failed to connect",
            "Couldn't connect",
            "Connection reset",
            "Empty reply from server",
            "HTTP response code: 5",
        ),
        "could not be read from its server (unreachable or failing)",
        "check the server is up; the same command resumes the job",
    ),
    (
        (
            "TIFFFillTile",
            "TIFFReadDirectory",
            "Failed to read directory",
            "TIFFFillStrip",
            "TIFFReadEncoded",
            "IReadBlock failed",
            "Read error at",
            "premature end",
            "ZIPDecode",
            "LZWDecode",
            "Error in zlib",
            "JPEGLib",
            "corrupt",
        ),
        "is truncated or corrupt",
        "copy or download it again",
    ),
    (
        ("missing codec", "codec not available", "Unsupported compression", "not supported by this build"),
        "uses a compression this GDAL cannot decode",
        "convert it, e.g. gdal_translate -co COMPRESS=DEFLATE",
    ),
    (
        ("not recognized as being in a supported file format", "not recognized as a supported file format"),
        "is not in a format GDAL can read",
        "give a GeoTIFF, COG, VRT or JPEG 2000 raster (GeoPackage, GeoJSON or Shapefile for vectors)",
    ),
    (
        ("No such file or directory", "does not exist in the file system"),
        "refers to a file that is missing",
        "check the files it lists (VRT sources, sidecar files)",
    ),
    (("Permission denied",), "cannot be accessed (permission denied)", "check its permissions"),
    (("No space left on device", "Disk full"), "cannot be written: the disk is full", "free some space"),
)


def gdal_problem(e: BaseException) -> tuple[str, str] | None:
    """What a GDAL/rasterio/pyogrio error means and what to do, in costa's words; None if unknown.

    rasterio often says only "Read failed. See previous exception for details."; the cause is
    further down the exception chain, so the whole chain is searched.

    >>> try:
    ...     raise OSError("Read failed.") from OSError("TIFFFillTile:Read error at row 0, col 0")
    ... except OSError as err:
    ...     gdal_problem(err)
    ('is truncated or corrupt', 'copy or download it again')
    """
    seen: set[int] = set()
    chain: BaseException | None = e
    texts = []
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        texts.append(str(chain).lower())
        chain = chain.__cause__ or chain.__context__
    for needles, meaning, hint in _KNOWN_CAUSES:
        if any(n.lower() in t for t in texts for n in needles):
            return meaning, hint
    return None


def file_error(path: object, e: BaseException, *, doing: str = "read", where: str = "") -> str:
    """The one line for a file GDAL failed on: costa's words when the cause is known, else its first line.

    >>> file_error("a.tif", OSError("Read failed"), where=" (rows 0–512)")
    'cannot read a.tif (rows 0–512): Read failed'
    """
    known = gdal_problem(e)
    if known is None:
        return f"cannot {doing} {path}{where}: {first_line(e)}"
    meaning, hint = known
    return f"{path} {meaning}{where}; {hint}"


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
