"""Class-map output: a uint8 Cloud-Optimised GeoTIFF written atomically.

Pixels are written block by block into a hidden temporary GeoTIFF next to the output while
the overviews (resampled by *mode*) are built from the finished blocks
(:mod:`costa.io.overviews`) into one temporary GeoTIFF per level; GDAL compresses each block
once (deflate, 512-px blocks, on every core) as it is written, and :mod:`costa.io.cogfile`
lays the compressed tiles out as a COG, which is renamed over the output. A crash at any
point leaves no file at the output path.

Band 1 holds class codes (0 = no data) with the nomenclature's colormap and class names
as band metadata (``CLASS_<code>=<name>`` and ``CLASSES`` as JSON, readable with
rasterio's ``tags(1)`` or ``gdalinfo``); an optional band 2 holds the model's confidence
(max class probability, 0–100 %). Provenance is in the dataset tags. Beside the COG,
:func:`costa.io.catalog.describe_cog` writes GDAL category names (``.aux.xml``), a QGIS
style (``.qml``) and a STAC Item (``.stac.json``).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.transform import Affine

from costa.errors import CostaError, OutputError, file_error
from costa.io.atomic import atomic_path, temp_name, write_atomic
from costa.io.catalog import describe_cog
from costa.io.cogfile import assemble
from costa.io.overviews import Pyramid, overview_factors
from costa.io.threads import gdal_threads
from costa.nomenclature import CLASSES, NODATA, colormap
from costa.tiling.tiles import Box

__all__ = ["check_writable", "class_tags", "write_cog", "write_vrt"]


def check_writable(out: str | Path) -> Path:
    """Fail early, before any inference, if ``out`` cannot be written."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise OutputError(f"output {out} is a directory; give a file name such as {out / 'landcover.tif'}")
    if not parent.is_dir():
        raise OutputError(f"output directory {parent} does not exist; create it first (mkdir -p {parent})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {parent} is not writable; choose another --out")
    return out


def class_tags() -> dict[str, str]:
    """Band-1 metadata naming every class (French names, English in ``CLASSES``)."""
    tags = {f"CLASS_{c.code}": c.fr for c in CLASSES}
    tags["CLASSES"] = json.dumps(
        [{"code": c.code, "fr": c.fr, "en": c.en, "color": c.color} for c in CLASSES], ensure_ascii=False
    )
    return tags


@contextlib.contextmanager
def write_cog(
    out: str | Path,
    *,
    crs: Any,
    transform: Any,
    width: int,
    height: int,
    confidence: bool,
    tags: Mapping[str, str],
) -> Iterator[Any]:
    """Open a block writer; on clean exit the COG appears at ``out``, on error nothing does.

    Yields a function ``write(box, labels, conf=None)`` taking uint8 arrays for ``box``; call
    it from one thread at a time. Each call also decimates the overview cells the box
    completes (:mod:`costa.io.overviews`), so once the last block is in, only the COG's
    assembly is left: a copy of tiles already compressed (:func:`costa.io.cogfile.assemble`).
    """
    out = check_writable(out)
    count = 2 if confidence else 1
    factors = overview_factors(width, height, BLOCK)
    tmp = temp_name(out, ".blocks.tif")
    levels = [temp_name(out, f".ovr{f}.tif") for f in factors]
    try:
        with contextlib.ExitStack() as stack:
            dst = stack.enter_context(
                rasterio.open(tmp, "w+", **_scratch(width, height, count, crs, transform))
            )
            _describe(dst, tags)
            ovr = []
            for p, f in zip(levels, factors, strict=True):
                level = rasterio.open(
                    p,
                    "w",
                    **_scratch(-(-width // f), -(-height // f), count, crs, transform * Affine.scale(f)),
                )
                ovr.append(stack.enter_context(level))
                level.write_colormap(1, colormap())
            pyramid = Pyramid(dst, ovr, factors)

            def write(box: Box, labels: np.ndarray, conf: np.ndarray | None = None) -> None:
                w = box.window()
                dst.write(labels, 1, window=w)
                if confidence:
                    dst.write(np.zeros_like(labels) if conf is None else conf, 2, window=w)
                pyramid.add(box)

            yield write
            pyramid.finish()
        with atomic_path(out, ".tif") as tmp_cog:
            assemble(tmp_cog, tmp, levels)
        describe_cog(out)  # category names, .qml and STAC Item beside the COG (costa.io.catalog)
    except RasterioError as e:
        raise OutputError(file_error(out, e, doing="write")) from None
    except OSError as e:
        if isinstance(e, CostaError):
            raise
        raise OutputError(file_error(out, e, doing="write")) from None
    finally:
        for p in (tmp, *levels):
            p.unlink(missing_ok=True)


BLOCK = 512
"""Block side of the output COG and of its scratch files."""


def _scratch(width: int, height: int, count: int, crs: Any, transform: Affine) -> dict[str, Any]:
    """Profile of a scratch raster: tiled and compressed as the COG (its tiles are copied as they are)."""
    return dict(
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype="uint8",
        crs=crs,
        transform=transform,
        tiled=True,
        blockxsize=BLOCK,
        blockysize=BLOCK,
        nodata=NODATA,
        compress="deflate",
        num_threads=gdal_threads(),
        bigtiff="if_safer",
    )


def _describe(dst: Any, tags: Mapping[str, str]) -> None:
    """The class map's metadata: provenance, class names and colour table on band 1, band names."""
    dst.update_tags(**tags)
    dst.update_tags(1, **class_tags())
    dst.write_colormap(1, colormap())
    dst.set_band_description(1, "classe d'occupation du sol (CoSIA, 16 classes)")
    if dst.count > 1:
        dst.set_band_description(2, "confiance (probabilité max., %)")


def write_vrt(
    path: Path,
    dalles: list[Path],
    *,
    width: int,
    height: int,
    transform: rasterio.Affine,
    crs_wkt: str,
    count: int,
    offsets: list[tuple[int, int, int, int]],
    palette: Mapping[int, tuple[int, int, int, int]] | None = None,
) -> Path:
    """Write a GDAL VRT mosaic of same-grid dalles (``offsets`` = row, col, h, w per dalle).

    With ``palette``, band 1 carries it as a colour table and 0 as no data (class maps).
    """
    bands = []
    for b in range(1, count + 1):
        sources = "".join(
            f'<SimpleSource><SourceFilename relativeToVRT="1">{escape(str(p.relative_to(path.parent)))}'
            f"</SourceFilename><SourceBand>{b}</SourceBand>"
            f'<SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
            f'<DstRect xOff="{c}" yOff="{r}" xSize="{w}" ySize="{h}"/></SimpleSource>'
            for p, (r, c, h, w) in zip(dalles, offsets, strict=True)
        )
        extra = ""
        if palette is not None and b == 1:
            entries = "".join(
                f'<Entry c1="{r}" c2="{g}" c3="{bl}" c4="{a}"/>'
                for _, (r, g, bl, a) in sorted(palette.items())
            )
            extra = (
                "<NoDataValue>0</NoDataValue><ColorInterp>Palette</ColorInterp>"
                f"<ColorTable>{entries}</ColorTable>"
            )
        bands.append(f'<VRTRasterBand dataType="Byte" band="{b}">{extra}{sources}</VRTRasterBand>')
    gt = ", ".join(repr(v) for v in transform.to_gdal())
    return write_atomic(
        path,
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{escape(crs_wkt)}</SRS>'
        f"<GeoTransform>{gt}</GeoTransform>{''.join(bands)}</VRTDataset>\n",
    )
