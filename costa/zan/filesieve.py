r"""GDAL's sieve over an area through temporary files: memory of a few lines, not of the area.

Rule set ``cosia-2023`` version 1 applies its thresholds with GDAL's sieve
(``GDALSieveFilter``), which reads and writes its bands scan line by scan line: only its
tables of polygons (a few integers per patch) grow with the area. Given rasterio ``Band``
objects instead of arrays, it runs file to file, so the windowed passes write the categories
of an area window by window into temporary tiled GeoTIFFs (ZSTD level 1), sieve them into two
more, and read the result back window by window. Same algorithm, same input: the result is
bit for bit that of :func:`costa.zan.rules.artificialised` on the whole area in memory
(tested).

Per vintage, two rasters of the area:

* ``cat``: 0 = no data, 1 = not artificialised, 2 = artificialised (pixel by pixel), sieved
  to the patch threshold with the no-data pixels masked (``cat`` is its own mask: 0 is masked);
* ``built``: 1 = built class, 0 = other, sieved to the 50 m² built threshold, no mask.

GDAL's block cache must hold a row of tiles of each file being written or swept, or every
line re-reads (and every write re-compresses) its tiles: :func:`cache_bytes` gives a bound,
set in bytes (``rasterio.Env(GDAL_CACHEMAX=n)`` takes bytes; 64 would be 64 bytes).

>>> cache_bytes(width=31744, files=4) >> 20
77
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import rasterio
from rasterio.features import sieve

from costa.errors import SourceError
from costa.tiling.tiles import Box

__all__ = ["TILE", "AreaSieve", "cache_bytes", "sieve_file"]

TILE = 256
"""Tile side (px) of the temporary rasters."""
_MIN_CACHE = 64 << 20


def cache_bytes(width: int, files: int) -> int:
    """GDAL block cache (bytes) holding two rows of tiles of ``files`` rasters ``width`` px wide."""
    return max(_MIN_CACHE, 2 * (files + 1) * TILE * width)


def sieve_file(source: Path, out: Path, size: int, *, masked: bool, profile: dict[str, Any]) -> None:
    """Sieve band 1 of ``source`` into a new raster ``out`` (8-connected, GDAL's algorithm).

    With ``masked``, pixels 0 of ``source`` are left out of the patches (as ``mask=valid`` in
    memory).
    """
    with rasterio.open(source) as src, rasterio.open(out, "w", **profile) as dst:
        band = rasterio.band(src, 1)
        try:
            sieve(band, size=size, out=rasterio.band(dst, 1), mask=band if masked else None, connectivity=8)
        except TypeError as e:
            # rasterio 1.4 runs GDALSieveFilter band to band, then copies ``out`` into an
            # array as if it were one: the sieve is written by then. Anything else is real.
            if "numpy.ndarray" not in str(e):
                raise


class AreaSieve:
    """The sieved categories of one area, written and read window by window.

    Use as a context manager (the temporary folder goes at exit): :meth:`write` each window's
    categories, :meth:`run` the sieves, then :meth:`read` each window's sieved rasters.
    """

    def __init__(self, area: Box, *, crs: Any, transform: Any, vintages: int, patch_px: int, built_px: int):
        self.area = area
        self.vintages = vintages
        self.patch_px = patch_px
        self.built_px = built_px
        self.profile = {
            "driver": "GTiff",
            "width": area.width,
            "height": area.height,
            "count": 1,
            "dtype": "uint8",
            "crs": crs,
            "transform": area.transform(transform),
            "tiled": True,
            "blockxsize": TILE,
            "blockysize": TILE,
            "compress": "zstd",
            "zstd_level": 1,
            "bigtiff": "if_safer",
        }
        self._dir = tempfile.TemporaryDirectory(prefix="costa-zan-sieve-")
        self.folder = Path(self._dir.name)
        self._open: dict[str, Any] = {}

    def __enter__(self) -> AreaSieve:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close()
        self._dir.cleanup()

    def _path(self, what: str, v: int) -> Path:
        return self.folder / f"{what}_{v}.tif"

    def _dataset(self, what: str, v: int, mode: str) -> Any:
        path = self._path(what, v)
        if path.name not in self._open:
            self._open[path.name] = rasterio.open(path, mode, **(self.profile if mode == "w" else {}))
        return self._open[path.name]

    def _close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()

    def write(self, box: Box, v: int, cat: np.ndarray, built: np.ndarray) -> None:
        """Categories (0/1/2) and built mask (0/1) of window ``box`` for vintage ``v``."""
        w = box.relative_to(self.area).window()
        self._dataset("cat", v, "w").write(cat, 1, window=w)
        self._dataset("built", v, "w").write(built, 1, window=w)

    def run(self) -> None:
        """Sieve every written raster (closing the writers first).

        Raises SourceError when the area holds fewer pixels than the patch threshold (GDAL's
        sieve needs a threshold smaller than the raster; version 2 has no such limit).
        """
        self._close()
        px = self.area.height * self.area.width
        if max(self.patch_px, self.built_px) > px:
            raise SourceError(
                f"the area measured holds {px:,} pixels, under the {self.patch_px:,}-pixel patch "
                "threshold of rule set cosia-2023 v1 (GDAL's sieve needs a larger area); "
                "use --rules cosia-2023-v2"
            )
        for v in range(self.vintages):
            sieve_file(
                self._path("cat", v), self._path("cat_s", v), self.patch_px, masked=True, profile=self.profile
            )
            sieve_file(
                self._path("built", v),
                self._path("built_s", v),
                self.built_px,
                masked=False,
                profile=self.profile,
            )
            self._path("cat", v).unlink()
            self._path("built", v).unlink()

    def read(self, box: Box, v: int) -> tuple[np.ndarray, np.ndarray]:
        """Sieved categories and sieved built mask of window ``box`` for vintage ``v``."""
        w = box.relative_to(self.area).window()
        cat: np.ndarray = self._dataset("cat_s", v, "r").read(1, window=w)
        built: np.ndarray = self._dataset("built_s", v, "r").read(1, window=w)
        return cat, built
