"""Each commune's data to download from its page: land cover, class polygons, parcels and figures.

Written beside the pages by :func:`costa.report.build_report` (``--no-downloads`` leaves them
out) and served by ``costa serve`` as plain files, streamed, by byte ranges too:

* ``<stem>-occupation-<millésime>.tif``: the land cover clipped to the commune, a COG with the
  palette and the class names (band tags ``CLASS_<code>``, as costa's own maps); a pixel keeps
  its class when its centre lies in the commune's shape (the ``communes`` layer), as in the
  ZAN figures, else it is no data (0);
* ``<stem>-occupation-<millésime>.gpkg``: the newest clip as class polygons, styled for QGIS
  (:func:`costa.vector.polygons.vectorize`);
* ``<stem>-parcelles.gpkg``: the commune's parcels with their figures, styled by status;
* ``<stem>-chiffres.csv``: the commune's row of the ``communes`` layer.

The clip is read and masked by strips of :data:`STRIP` rows, so memory stays bounded by a
strip whatever the commune's size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costa.io.atomic import atomic_path, temp_name, write_atomic
from costa.tiling.tiles import Box

__all__ = ["STRIP", "Download", "clip_landcover", "commune_downloads", "download_names"]

STRIP = 1024
"""Rows of the land cover read and masked at once while clipping."""


@dataclass(frozen=True)
class Download:
    """One file offered on a commune's page: its French label and its file name in the report."""

    label: str
    name: str


def _label(label: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", label)


def download_names(stem: str, labels: list[str]) -> list[Download]:
    """The files offered for a commune (page ``stem``) with land cover of vintages ``labels``.

    >>> [d.name for d in download_names("commune-99101", ["2021", "2024"])]  # doctest: +NORMALIZE_WHITESPACE
    ['commune-99101-occupation-2021.tif', 'commune-99101-occupation-2024.tif',
     'commune-99101-occupation-2024.gpkg', 'commune-99101-parcelles.gpkg',
     'commune-99101-parcelles.csv', 'commune-99101-chiffres.csv']
    """
    out = [
        Download(f"Occupation du sol {lab} (GeoTIFF)", f"{stem}-occupation-{_label(lab)}.tif")
        for lab in labels
    ]
    if labels:
        newest = labels[-1]
        out.append(
            Download(
                f"Polygones d'occupation du sol {newest} (GeoPackage)",
                f"{stem}-occupation-{_label(newest)}.gpkg",
            )
        )
    out += [
        Download("Parcelles (GeoPackage)", f"{stem}-parcelles.gpkg"),
        Download("Parcelles (CSV)", f"{stem}-parcelles.csv"),
        Download("Chiffres de la commune (CSV)", f"{stem}-chiffres.csv"),
    ]
    return out


def clip_landcover(
    landcover: str | Path, shape: Any, crs: Any, out: str | Path, *, insee: str, year: str
) -> Path:
    """Write the land cover inside ``shape`` (in ``crs``) as a COG ``out``, outside pixels no data.

    The clip's grid is the map's, cut to the shape's bounding box (whole pixels outwards), so
    each pixel is the map's pixel at the same place. It keeps the map's tags and gets
    ``COMMUNE`` (the INSEE code) and ``YEAR`` (the vintage).
    """
    import geopandas as gpd
    import rasterio
    import rasterio.shutil
    from rasterio.features import geometry_mask

    from costa.errors import SourceError
    from costa.io.writer import class_tags
    from costa.nomenclature import colormap

    with rasterio.open(landcover) as src:
        geom = gpd.GeoSeries([shape], crs=crs).to_crs(src.crs).iloc[0]
        box = Box.from_bounds(geom.bounds, src.transform, src.height, src.width)
        if box.empty:
            raise SourceError(f"commune {insee} lies outside {landcover}; is it the raster of this report?")
        transform = box.transform(src.transform)
        profile = {
            "driver": "GTiff",
            "width": box.width,
            "height": box.height,
            "count": 1,
            "dtype": "uint8",
            "crs": src.crs,
            "transform": transform,
            "nodata": 0,
            "tiled": True,
            "compress": "deflate",
        }
        tags = {**src.tags(), "COMMUNE": insee, "YEAR": year}
        scratch = temp_name(Path(out), ".strips.tif")
        try:
            with rasterio.open(scratch, "w", **profile) as dst:
                dst.update_tags(**tags)
                dst.update_tags(1, **class_tags())
                dst.write_colormap(1, colormap())
                for row in range(0, box.height, STRIP):
                    part = Box(box.row + row, box.col, min(STRIP, box.height - row), box.width)
                    labels = src.read(1, window=part.window())
                    outside = geometry_mask(
                        [geom], out_shape=labels.shape, transform=part.transform(src.transform)
                    )
                    labels[outside] = 0
                    dst.write(labels, 1, window=part.relative_to(box).window())
            with atomic_path(out, ".tif") as tmp:
                rasterio.shutil.copy(
                    scratch, tmp, driver="COG", COMPRESS="DEFLATE", OVERVIEW_RESAMPLING="MODE", BLOCKSIZE=512
                )
        finally:
            scratch.unlink(missing_ok=True)
    return Path(out)


def commune_downloads(
    out: Path,
    stem: str,
    row: dict[str, Any],
    shape: Any,
    crs: Any,
    parcels: Any,
    vintages: list[tuple[str, Path]],
) -> list[Download]:
    """Write one commune's downloads into the report folder ``out``; returns what the page links.

    Args:
        out: the report folder.
        stem: the commune's page stem (:func:`costa.report.build.file_stem`).
        row: its row of the ``communes`` layer.
        shape: its shape, in ``crs`` (None: no land cover to clip).
        crs: the CRS of ``shape``.
        parcels: its parcels (GeoDataFrame, ZAN figures).
        vintages: ``(label, land-cover raster)`` of each vintage, oldest first.

    """
    import pandas as pd
    import pyogrio

    from costa.io.styles import add_styles
    from costa.vector.polygons import vectorize

    names = download_names(stem, [label for label, _ in vintages] if shape is not None else [])
    by_name = {d.name: d for d in names}
    if shape is not None:
        for label, raster in vintages:
            target = out / f"{stem}-occupation-{_label(label)}.tif"
            clip_landcover(raster, shape, crs, target, insee=str(row["insee_com"]), year=label)
        newest = f"{stem}-occupation-{_label(vintages[-1][0])}"
        vectorize(out / f"{newest}.tif", out / f"{newest}.gpkg")
    with atomic_path(out / f"{stem}-parcelles.gpkg", ".gpkg") as tmp:
        pyogrio.write_dataframe(parcels, tmp, layer="parcelles", driver="GPKG")
        add_styles(tmp)
    write_atomic(
        out / f"{stem}-parcelles.csv", pd.DataFrame(parcels.drop(columns="geometry")).to_csv(index=False)
    )
    write_atomic(out / f"{stem}-chiffres.csv", pd.DataFrame([row]).to_csv(index=False))
    return [by_name[d.name] for d in names if (out / d.name).is_file()]
