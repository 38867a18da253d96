"""The full-resolution web map: a land-cover COG as one PMTiles archive of RGBA PNG tiles.

The report's overlay is a downsampled picture; this is the map at parcel scale. Tiles are
the usual Web Mercator (EPSG:3857) 256 px grid, zoom ``z`` covering the world with ``2^z``
tiles a side, so a tile pixel measures ``C·cos(φ) / (256·2^z)`` metres on the ground
(``C`` the equator's length, ``φ`` the latitude). The deepest zoom is the one whose pixel is
nearest to the raster's (20 cm → z19 at French latitudes); coarser zooms are read from the
COG's overviews (resampled by *mode* when the COG was written), never from the full grid.

Each zoom is warped by blocks of ``block × block`` tiles (nearest neighbour: a class is
never blended), so memory is bounded by a few blocks whatever the raster's size (measured
flat from 2048² to 16384² px: ``python -m benchmarks.bench_tiles``). Blocks are warped and
encoded on worker threads, at most ``2 · workers`` in flight, and written in order, so the
archive's bytes do not depend on the thread count. Each class gets its palette colour (no
data is transparent), tiles with no class are left out, and identical tiles (one class
only) are stored once by the PMTiles writer.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import warnings
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from costa.errors import OptionError, SourceError, SourceReadError
from costa.io.atomic import atomic_path
from costa.nomenclature import colormap

__all__ = [
    "TileArchive",
    "check_ortho",
    "native_zoom",
    "overview_level",
    "photo_webp",
    "read_header",
    "rgba",
    "rgba_png",
    "tile_range",
    "write_pmtiles",
]

TILE = 256
"""Tile side in pixels."""
EQUATOR = 2 * math.pi * 6378137.0
"""Length of the equator in Web Mercator metres: the side of the zoom-0 tile."""
MAX_ZOOM = 24
_T = TypeVar("_T")
CACHE_MB = 64
"""GDAL's block cache while tiling (MB; ``rasterio.Env`` takes bytes): memory stays flat whatever
the raster's size."""


@dataclass(frozen=True)
class TileArchive:
    """What :func:`write_pmtiles` wrote."""

    path: Path
    min_zoom: int
    max_zoom: int
    tiles: int
    """Tiles addressed (tiles holding at least one class pixel)."""
    bytes: int


def native_zoom(pixel_m: float, lat: float) -> int:
    """The zoom whose tile pixel is nearest (in ratio) to ``pixel_m`` metres on the ground at ``lat``.

    >>> native_zoom(0.2, 45.7)  # 20 cm at Lyon: z19 pixels measure 20.9 cm there
    19
    >>> native_zoom(0.2, 0.0), native_zoom(1.5, 45.7)  # the equator, a 1.5 m raster
    (20, 16)
    """
    ground = EQUATOR * math.cos(math.radians(lat)) / TILE
    return max(0, min(MAX_ZOOM, round(math.log2(ground / pixel_m))))


def tile_range(bounds: tuple[float, float, float, float], z: int) -> tuple[int, int, int, int]:
    """The tiles of zoom ``z`` meeting ``bounds`` (Web Mercator metres): half-open ``x0, y0, x1, y1``.

    Rows count from the north, as in every XYZ tile scheme.

    >>> tile_range((0.0, 0.0, 1.0, 1.0), 1)  # just north-east of (0, 0)
    (1, 0, 2, 1)
    >>> tile_range((-EQUATOR / 2, -EQUATOR / 2, EQUATOR / 2, EQUATOR / 2), 2)
    (0, 0, 4, 4)
    """
    n = 1 << z
    size = EQUATOR / n
    left, bottom, right, top = bounds

    def clip(v: int) -> int:
        return max(0, min(n, v))

    x0 = clip(math.floor((left + EQUATOR / 2) / size))
    x1 = clip(math.ceil((right + EQUATOR / 2) / size))
    y0 = clip(math.floor((EQUATOR / 2 - top) / size))
    y1 = clip(math.ceil((EQUATOR / 2 - bottom) / size))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def _tile_transform(z: int, x: int, y: int) -> Any:
    """The affine transform of the pixel grid whose top-left tile is ``(z, x, y)``."""
    from rasterio.transform import from_origin

    size = EQUATOR / 2**z
    return from_origin(-EQUATOR / 2 + x * size, EQUATOR / 2 - y * size, size / TILE, size / TILE)


def _lut() -> np.ndarray:
    """(256,) uint32: each class code's RGBA colour as 4 bytes, 0 and unused codes transparent.

    One 4-byte lookup per pixel (``lut[labels].view(np.uint8)``) is 6 times faster than
    indexing a (256, 4) table.
    """
    lut = np.zeros((256, 4), np.uint8)
    for code, rgba in colormap().items():
        lut[code] = rgba
    return lut.view("<u4").ravel()


def rgba(labels: np.ndarray, lut: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 4) uint8 RGBA of a 2-D class array, in the nomenclature's colours.

    >>> rgba(np.array([[0, 1]], np.uint8)).tolist()  # no data, then building (code 1)
    [[[0, 0, 0, 0], [206, 112, 121, 255]]]
    """
    table = _lut() if lut is None else lut
    h, w = labels.shape
    out: np.ndarray = table[labels].view(np.uint8).reshape(h, w, 4)
    return out


def rgba_png(rgba: np.ndarray) -> bytes:
    r"""Encode an (H, W, 4) uint8 array as an RGBA PNG (zlib only: no imaging library).

    Rows use PNG's *up* filter: a class map repeats from row to row, so most bytes become 0.

    >>> png = rgba_png(np.zeros((2, 3, 4), np.uint8))
    >>> png[:8], png[16:24]  # signature, then IHDR's width and height
    (b'\x89PNG\r\n\x1a\n', b'\x00\x00\x00\x03\x00\x00\x00\x02')
    """
    h, w, _ = rgba.shape
    rows = rgba.reshape(h, w * 4)
    up = rows.copy()
    up[1:] -= rows[:-1]  # uint8 wraps, as PNG's filter does
    raw = np.empty((h, w * 4 + 1), np.uint8)
    raw[:, 0] = 2
    raw[:, 1:] = up
    raw[0, 0] = 0  # the first row has no row above: filter none

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)  # 8 bits, RGBA, deflate, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def overview_level(src: Any, pixel_m: float) -> int | None:
    """The coarsest overview of ``src`` still at least as fine as ``pixel_m`` (None: the full grid)."""
    res = abs(src.transform.a)
    level = None
    for i, factor in enumerate(src.overviews(1)):
        if res * factor <= pixel_m * 1.001:
            level = i
    return level


def _blocks(rng: tuple[int, int, int, int], block: int) -> Iterator[tuple[int, int, int, int]]:
    """Split a tile range into blocks of at most ``block × block`` tiles (``x0, y0, nx, ny``)."""
    x0, y0, x1, y1 = rng
    for by in range(y0, y1, block):
        for bx in range(x0, x1, block):
            yield bx, by, min(block, x1 - bx), min(block, y1 - by)


@dataclass(frozen=True)
class _Block:
    """One block of tiles of one zoom to warp: the raster (or overview) to read and the tiles."""

    path: Path
    overview: int | None
    z: int
    x: int
    y: int
    nx: int
    ny: int


def _zoom_blocks(
    path: Path, z: int, rng: tuple[int, int, int, int], lat: float, block: int
) -> Iterator[_Block]:
    """The blocks of zoom ``z``, each reading the overview whose pixel suits the zoom."""
    import rasterio

    ground = EQUATOR * math.cos(math.radians(lat)) / (TILE * 2**z)
    with rasterio.open(path) as full:
        level = overview_level(full, ground)
    for bx, by, nx, ny in _blocks(rng, block):
        yield _Block(path, level, z, bx, by, nx, ny)


@contextlib.contextmanager
def _warped(b: _Block, **warp: Any) -> Iterator[Any]:
    """Block ``b`` of its raster warped to Web Mercator tiles (a WarpedVRT with ``warp``'s options).

    rasterio's environment is per thread: each worker enters its own (as rasterio's docs advise).
    """
    import rasterio
    from rasterio.vrt import WarpedVRT

    opts = {} if b.overview is None else {"overview_level": b.overview}
    grid = {"transform": _tile_transform(b.z, b.x, b.y), "width": b.nx * TILE, "height": b.ny * TILE}
    with (
        rasterio.Env(GDAL_CACHEMAX=CACHE_MB << 20),
        rasterio.open(b.path, **opts) as src,
        WarpedVRT(src, crs="EPSG:3857", **grid, **warp) as vrt,
    ):
        yield vrt


def _block_tiles(b: _Block, lut: np.ndarray) -> list[tuple[int, int, bytes]]:
    """Warp one block and encode its non-empty tiles: ``(x, y, png)`` (runs in a worker thread).

    Each call opens its own dataset (a GDAL handle is not shared between threads); GDAL's
    warp and zlib release the GIL, so threads run in parallel. A WarpedVRT read, not
    ``rasterio.warp.reproject``: that one silences a warning of its destination dataset
    with ``warnings.catch_warnings``, which is not thread-safe before Python 3.14.
    """
    from rasterio.enums import Resampling

    with _warped(b, resampling=Resampling.nearest, src_nodata=0, nodata=0) as vrt:
        labels = vrt.read(1)
    out = []
    for j in range(b.ny):
        for i in range(b.nx):
            tile = labels[j * TILE : (j + 1) * TILE, i * TILE : (i + 1) * TILE]
            if tile.any():
                out.append((b.x + i, b.y + j, rgba_png(rgba(tile, lut))))
    return out


PHOTO_QUALITY = 80
"""WebP quality of the orthophoto tiles (0-100): photos compress lossily, classes never."""


def photo_webp(rgba: np.ndarray) -> bytes:
    """Encode an (H, W, 4) uint8 RGBA array as a lossy WebP (GDAL's WEBP driver), alpha kept.

    >>> photo_webp(np.full((4, 4, 4), 255, np.uint8))[8:12]
    b'WEBP'
    """
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    h, w, _ = rgba.shape
    with warnings.catch_warnings(), MemoryFile() as mem:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a picture: no georeferencing on purpose
        with mem.open(driver="WEBP", width=w, height=h, count=4, dtype="uint8", QUALITY=PHOTO_QUALITY) as dst:
            dst.write(np.moveaxis(rgba, -1, 0))
        data: bytes = mem.read()
    return data


def check_ortho(path: str | Path) -> Path:
    """Check that ``path`` is an orthophoto costa can tile: georeferenced, 8-bit, 3 bands or more.

    Raises:
        SourceReadError: the file is missing or not a raster GDAL can read.
        SourceError: it has no CRS, fewer than three bands, or is not 8-bit.

    """
    import rasterio

    path = Path(path)
    if not path.is_file():
        raise SourceReadError(f"orthophoto not found: {path}")
    try:
        with rasterio.open(path) as src:
            crs, count, dtype = src.crs, src.count, src.dtypes[0]
    except rasterio.errors.RasterioError:
        raise SourceReadError(f"{path} is not a raster GDAL can read") from None
    if crs is None:
        raise SourceError(f"orthophoto {path} has no CRS; a web map needs a georeferenced mosaic")
    if count < 3 or dtype != "uint8":
        raise SourceError(f"orthophoto {path} has {count} {dtype} band(s); costa shows 8-bit RGB(I) mosaics")
    return path


def _photo_tiles(b: _Block) -> list[tuple[int, int, bytes]]:
    """Warp one block of the orthophoto (bands 1-3, bilinear) and encode its covered tiles as WebP."""
    from rasterio.enums import Resampling

    with _warped(b, resampling=Resampling.bilinear, add_alpha=True) as vrt:
        pixels = vrt.read([1, 2, 3, vrt.count])
    out = []
    for j in range(b.ny):
        for i in range(b.nx):
            tile = pixels[:, j * TILE : (j + 1) * TILE, i * TILE : (i + 1) * TILE]
            if tile[3].any():
                out.append((b.x + i, b.y + j, photo_webp(np.ascontiguousarray(np.moveaxis(tile, 0, -1)))))
    return out


def _in_order(fn: Callable[[_Block], _T], items: Iterable[_Block], workers: int) -> Iterator[_T]:
    """``map(fn, items)`` on ``workers`` threads, in order, at most ``2 · workers`` blocks in flight."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="costa-tiles") as pool:
        pending: deque[Future[_T]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


Bounds = tuple[float, float, float, float]


def _footprint(path: Path) -> tuple[Bounds, Bounds, float]:
    """The raster's bounds in Web Mercator and in longitude/latitude, and its pixel size (m)."""
    import rasterio
    from rasterio.warp import transform_bounds

    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise SourceReadError(f"{path} has no CRS; a web map needs georeferenced land cover")
            merc = transform_bounds(src.crs, "EPSG:3857", *src.bounds, densify_pts=21)
            lonlat = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
            pixel = abs(src.transform.a) * (src.crs.linear_units_factor[1] if src.crs.is_projected else 1)
    except rasterio.errors.RasterioError:
        raise SourceReadError(f"{path} is not a raster GDAL can read") from None
    return merc, lonlat, pixel


def write_pmtiles(
    landcover: str | Path,
    out: str | Path,
    *,
    min_zoom: int | None = None,
    max_zoom: int | None = None,
    block: int = 8,
    workers: int | None = None,
    photo: bool = False,
) -> TileArchive:
    """Write the land-cover COG ``landcover`` as a PMTiles archive ``out`` (atomically).

    With ``photo``, ``landcover`` is an orthophoto (its first three bands red, green, blue;
    a mosaic VRT of dalles will do) drawn under the land cover: tiles are resampled
    bilinearly and stored as lossy WebP, transparent outside the photo.

    Args:
        landcover: a uint8 class raster (costa's COG: 0 is no data, overviews by mode), or
            with ``photo`` an RGB(I) orthophoto.
        out: the ``.pmtiles`` file to write.
        min_zoom: the coarsest zoom (default: the one where the raster fits in about one tile).
        max_zoom: the deepest zoom (default: :func:`native_zoom` of the raster's pixel).
        block: tiles a side warped at once; memory is about ``5 · (256·block)²`` bytes a block,
            ``2 · workers`` blocks at most in flight.
        workers: threads warping and encoding blocks (default: the CPU count, at most 8); the
            archive is the same whatever the number.
        photo: tile an orthophoto (WebP) instead of a class map (PNG).

    Example:
        >>> write_pmtiles("out/demo/landcover_2024.tif", "map.pmtiles").max_zoom  # doctest: +SKIP
        19

    """
    import rasterio
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    path = check_ortho(landcover) if photo else Path(landcover)
    if not path.is_file():
        raise SourceReadError(f"land-cover raster not found: {path}")
    merc, (w, s, e, n), pixel = _footprint(path)
    lat = (s + n) / 2
    top = native_zoom(pixel, lat) if max_zoom is None else max_zoom
    span = max(merc[2] - merc[0], merc[3] - merc[1], 1e-9)
    low = max(0, min(top, math.floor(math.log2(EQUATOR / span)))) if min_zoom is None else min_zoom
    if not 0 <= low <= top <= MAX_ZOOM:
        raise OptionError(f"zooms {low}..{top}: choose 0 <= min zoom <= max zoom <= {MAX_ZOOM}")
    if block < 1:
        raise OptionError(f"block {block}: give a positive number of tiles")
    threads = min(8, os.cpu_count() or 1) if workers is None else workers
    if threads < 1:
        raise OptionError(f"--workers {workers}: give at least 1")
    lut = _lut()
    count = 0
    # Each source block is read about once per zoom: a larger cache only grows with the raster.
    with rasterio.Env(GDAL_CACHEMAX=CACHE_MB << 20), atomic_path(out, ".pmtiles") as tmp, tmp.open("wb") as f:
        writer = Writer(f)  # type: ignore[no-untyped-call]
        try:
            encode = _photo_tiles if photo else (lambda b: _block_tiles(b, lut))
            for z in range(low, top + 1):
                blocks = _zoom_blocks(path, z, tile_range(merc, z), lat, block)
                for tiles in _in_order(encode, blocks, threads):
                    for x, y, png in tiles:
                        writer.write_tile(zxy_to_tileid(z, x, y), png)  # type: ignore[no-untyped-call]
                        count += 1
            if count == 0:
                raise SourceReadError(f"{path} holds no class pixel (all no data): nothing to map")
        except BaseException:
            writer.tile_f.close()  # the writer's spool file (finalize closes it otherwise)
            raise
        writer.finalize(  # type: ignore[no-untyped-call]
            {
                "tile_type": TileType.WEBP if photo else TileType.PNG,
                "tile_compression": Compression.NONE,
                "min_lon_e7": int(w * 1e7),
                "min_lat_e7": int(s * 1e7),
                "max_lon_e7": int(e * 1e7),
                "max_lat_e7": int(n * 1e7),
                "center_zoom": min(top, low + 2),
                "center_lon_e7": int((w + e) / 2 * 1e7),
                "center_lat_e7": int(lat * 1e7),
            },
            {
                "name": path.stem,
                "description": "orthophoto, transparent outside the photo"
                if photo
                else "costa land cover (16 classes), palette colours, no data transparent",
                "attribution": "costa",
                "type": "baselayer" if photo else "overlay",
                "format": "webp" if photo else "png",
            },
        )
    final = Path(out)
    return TileArchive(final, low, top, count, final.stat().st_size)


def read_header(path: str | Path) -> dict[str, Any]:
    """The header of a PMTiles archive (zooms, bounds, tile type...), read from its first 127 bytes.

    Example:
        >>> read_header("map.pmtiles")["max_zoom"]  # doctest: +SKIP
        19

    """
    from pmtiles.tile import deserialize_header

    with Path(path).open("rb") as f:
        head = f.read(127)
    if len(head) < 127 or not head.startswith(b"PMTiles"):
        raise SourceReadError(f"{path} is not a PMTiles archive")
    return dict(deserialize_header(head))
