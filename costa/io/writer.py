"""Class-map output: a uint8 Cloud-Optimised GeoTIFF written atomically.

Pixels are written block by block into a hidden temporary GeoTIFF next to the output,
then turned into a COG (rio-cogeo, internal overviews resampled by *mode*, deflate),
then renamed over the output. A crash at any point leaves no file at the output path.

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

from costa.errors import OutputError, file_error
from costa.io.atomic import atomic_path, temp_name
from costa.io.catalog import describe_cog
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

    Yields a function ``write(box, labels, conf=None)`` taking uint8 arrays for ``box``.
    """
    out = check_writable(out)
    tmp = temp_name(out, ".blocks.tif")
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=2 if confidence else 1,
        dtype="uint8",
        crs=crs,
        transform=transform,
        nodata=NODATA,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="zstd",
        zstd_level=1,
        bigtiff="if_safer",
    )
    try:
        with rasterio.open(tmp, "w", **profile) as dst:

            def write(box: Box, labels: np.ndarray, conf: np.ndarray | None = None) -> None:
                w = box.window()
                dst.write(labels, 1, window=w)
                if confidence and conf is not None:
                    dst.write(conf, 2, window=w)

            yield write
            dst.write_colormap(1, colormap())
            dst.update_tags(1, **class_tags())
            dst.set_band_description(1, "classe d'occupation du sol (CoSIA, 16 classes)")
            if confidence:
                dst.set_band_description(2, "confiance (probabilité max., %)")
        from rio_cogeo.cogeo import cog_translate  # imports pyproj: only when writing
        from rio_cogeo.profiles import cog_profiles

        cog = cog_profiles.get("deflate")  # type: ignore[no-untyped-call]
        cog.update(blockxsize=512, blockysize=512)
        with atomic_path(out, ".tif") as tmp_cog:
            cog_translate(
                tmp,
                tmp_cog,
                cog,
                overview_resampling="mode",
                forward_band_tags=True,
                additional_cog_metadata=dict(tags),
                quiet=True,
                use_cog_driver=False,
            )
        describe_cog(out)  # category names, .qml and STAC Item beside the COG (costa.io.catalog)
    except RasterioError as e:
        raise OutputError(file_error(out, e, doing="write")) from None
    finally:
        tmp.unlink(missing_ok=True)


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
    path.write_text(
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{escape(crs_wkt)}</SRS>'
        f"<GeoTransform>{gt}</GeoTransform>{''.join(bands)}</VRTDataset>\n"
    )
    return path
