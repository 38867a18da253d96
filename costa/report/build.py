"""What a commune page shows: figures, class areas per vintage, parcels and provenance.

Everything here is read from the ZAN GeoPackage (``parcelles`` and ``communes`` layers of
:func:`costa.zan.io.write`) and the land-cover COGs; nothing is recomputed that the
GeoPackage already holds, so a page and ``costa zan query`` always agree. Class areas per
vintage are counted over the commune's parcels (a pixel belongs to the parcel holding its
centre, as in :mod:`costa.zan.compute`), the one footprint both vintages share.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from costa.errors import SourceError, SourceReadError, file_error
from costa.nomenclature import CLASSES
from costa.report.overlay import Overlay, read_overlay
from costa.zan.schema import ARTIF, COUNT_FIELDS, FIELDS, NEW

__all__ = [
    "CommunePage",
    "Figure",
    "Vintage",
    "build_pages",
    "file_stem",
    "fr_number",
]


@dataclass(frozen=True)
class Figure:
    """One ZAN figure: the GeoPackage field it comes from, its French label and value."""

    field: str
    label: str
    value: Any
    text: str


@dataclass(frozen=True)
class Vintage:
    """One land-cover raster: its year label, file and provenance tags."""

    label: str
    path: Path
    tags: dict[str, str]


@dataclass(frozen=True)
class CommunePage:
    """Everything one commune's page shows."""

    insee: str
    nom: str
    stem: str
    figures: list[Figure]
    class_ha: list[tuple[str, list[float]]]
    """Per vintage (label, area in ha of each class of :data:`CLASSES`, in order)."""
    parcels: dict[str, Any]
    """GeoJSON of the parcels, in longitude/latitude (WGS 84), with the figures a click shows."""
    overlays: list[tuple[str, Overlay]]
    provenance: list[tuple[str, str]]
    row: dict[str, Any] = field(default_factory=dict)
    """The commune's row of the ``communes`` layer (JSON-ready)."""
    notes: list[str] = field(default_factory=list)
    """Caveats on the figures, in French (e.g. a commune too small for the patch rule)."""
    outline: dict[str, Any] | None = None
    """GeoJSON geometry of the commune's shape (``communes`` layer), longitude/latitude."""
    downloads: list[tuple[str, str]] = field(default_factory=list)
    """The files the page offers: (French label, file name in the report folder)."""


def fr_number(value: float, digits: int = 2) -> str:
    r"""Format a number the French way: narrow no-break space for thousands, decimal comma.

    >>> fr_number(12345.678)
    '12\u202f345,68'
    >>> fr_number(7, 0)
    '7'
    """
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\u202f").replace(".", ",")


def file_stem(insee: str) -> str:
    """The file name stem of a commune's page, safe whatever the code holds.

    >>> file_stem("2A004"), file_stem("../x")
    ('commune-2A004', 'commune-___x')
    """
    return "commune-" + re.sub(r"[^0-9A-Za-z_-]", "_", insee)


def _read_gpkg(gpkg: Path) -> tuple[Any, Any]:
    import pyogrio

    if not gpkg.is_file():
        raise SourceReadError(f"ZAN GeoPackage not found: {gpkg} (make it with costa zan compute)")
    try:
        layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    except Exception as e:
        raise SourceReadError(file_error(gpkg, e)) from None
    if not {"parcelles", "communes"} <= layers:
        raise SourceError(f"{gpkg} has no 'parcelles' and 'communes' layers; make it with costa zan compute")
    parcelles = pyogrio.read_dataframe(gpkg, layer="parcelles")
    shaped = pyogrio.read_info(gpkg, layer="communes").get("geometry_type") is not None
    communes = pyogrio.read_dataframe(gpkg, layer="communes", read_geometry=shaped)  # older: no shapes
    for col in ("id", "commune"):
        parcelles[col] = parcelles[col].astype(str)
    communes["insee_com"] = communes["insee_com"].astype(str)
    return parcelles, communes


def _open_vintage(path: Path, label: str | None) -> Vintage:
    import rasterio

    if not path.is_file():
        raise SourceReadError(f"land-cover raster not found: {path}")
    try:
        with rasterio.open(path) as src:
            tags = dict(src.tags())
    except rasterio.errors.RasterioError:
        raise SourceReadError(f"{path} is not a raster GDAL can read") from None
    return Vintage(label or tags.get("YEAR") or path.stem, path, tags)


def _class_ha(path: Path, parcelles: Any, keys: list[str]) -> np.ndarray:
    """Area (ha) of each class over each commune's parcels: shape (len(keys), 16)."""
    import rasterio

    from costa.zan.compute import zone_ids
    from costa.zan.rules import class_counts

    with rasterio.open(path) as src:
        labels = src.read(1)
        ids = zone_ids(parcelles, src.crs, src.shape, src.transform)
        px = abs(src.transform.a * src.transform.e)
    index = {k: i + 1 for i, k in enumerate(keys)}
    lut = np.array([0, *(index.get(c, 0) for c in parcelles["commune"])], np.int32)
    counts = class_counts(lut[ids], labels, len(keys))
    return np.asarray(counts[1:, [c.code for c in CLASSES]] * px / 1e4, dtype=float)


def _figure(row: dict[str, Any], key: str, suffix: str = "") -> Figure:
    """A commune field as a report figure: its French label (from the ZAN schema) and its text."""
    label, unit = FIELDS[key]
    value = row[key]
    if unit:
        text = f"{fr_number(value)} {unit}"
    elif key.startswith("n_parcelles"):
        text = fr_number(value, 0)
    else:
        text = str(value)
    return Figure(key, label + suffix, value, text)


def _figures(row: dict[str, Any]) -> list[Figure]:
    n = max(int(row["n_parcelles"]), 1)
    figs = [_figure(row, k) for k in ("annee", "surface_ha", "artif_ha", "artif_pct", "n_parcelles")]
    for key in COUNT_FIELDS:
        label = FIELDS[key][0]
        pct = 100 * row[key] / n
        figs.append(Figure(key, label, row[key], fr_number(row[key], 0)))
        figs.append(Figure(f"{key}_pct", f"{label} (part)", pct, f"{fr_number(pct)} %"))
    if row.get("annee_old") is not None:
        period = f"{row['annee_old']}–{row['annee_new']}"
        flux = ("flux_artif_ha", "flux_desartif_ha", "flux_artif_net_ha", "n_parcelles_nouvellement_artif")
        figs += [_figure(row, key, f" {period}") for key in flux]
    figs += [_figure(row, "regles"), _figure(row, "regles_version")]
    return figs


def _caveats(row: dict[str, Any]) -> list[str]:
    """The French caveat of :func:`costa.zan.compute.scale_notes` for this commune, if any."""
    from costa.zan.compute import SMALL_AREA_PATCHES, too_small_for_patch_rule
    from costa.zan.rules import find_ruleset

    rules = find_ruleset(str(row["regles"]), row.get("regles_version"))
    if rules is None or not too_small_for_patch_rule(row["surface_ha"], rules):
        return []
    return [
        f"Attention : la commune couvre {fr_number(row['surface_ha'])} ha, "
        f"moins de {SMALL_AREA_PATCHES} fois le seuil de {fr_number(rules.patch_m2, 0)} m² "
        f"des règles {rules.name} : ses chiffres reflètent surtout la règle des seuils "
        "(comparer avec les règles cosia-2023-pixel)."
    ]


def _provenance(gpkg: Path, row: dict[str, Any], vintages: list[Vintage]) -> list[tuple[str, str]]:
    out = [
        ("Données ZAN", gpkg.name),
        ("Règles", f"{row['regles']} v{row['regles_version']}"),
        ("Périmètre", "limites communales" if row.get("perimetre") == "commune" else "union des parcelles"),
    ]
    for v in vintages:
        t = v.tags
        sources = ", ".join(Path(s).name for s in json.loads(t.get("SOURCES", "[]"))) or "inconnues"
        sha = f" (sha256 {t['MODEL_SHA256'][:12]}…)" if "MODEL_SHA256" in t else ""
        model = t.get("MODEL", "inconnu") + sha
        out.append(
            (
                f"Occupation du sol {v.label}",
                f"{v.path.name} — modèle {model}, costa {t.get('COSTA_VERSION', '?')}, "
                f"produit le {t.get('CREATED', '?')}, ortho-images : {sources}",
            )
        )
    return out


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        v = v.item() if isinstance(v, np.generic) else v
        out[k] = None if isinstance(v, float) and math.isnan(v) else v
    return out


def _parcels_geojson(parcels: Any) -> dict[str, Any]:
    """The parcels as GeoJSON in longitude/latitude (7 decimals: 1 cm), with their figures."""
    import shapely

    lonlat = parcels.to_crs("EPSG:4326")
    geoms = shapely.transform(np.asarray(lonlat.geometry.values), lambda c: np.round(c, 7))
    features = []
    for g, (_, p) in zip(geoms, parcels.iterrows(), strict=True):
        new = p["statut"] == ARTIF and p.get("statut_old", ARTIF) != ARTIF
        features.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(g),
                "properties": {
                    "id": p["id"],
                    "statut": NEW if new else p["statut"],
                    "artif_pct": round(float(p["artif_pct"]), 1),
                    "artif_m2": round(float(p["artif_m2"]), 1),
                    "surface_m2": round(float(p["surface_m2"]), 1),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _outline(shape: Any, crs: Any, parcels: Any) -> dict[str, Any] | None:
    """The commune's shape (its ``communes`` row, else its parcels' union) as GeoJSON in longitude/latitude.

    A GeoPackage of an older costa has no shapes in its ``communes`` layer: the union of the
    parcels, as :func:`costa.zan.shapes.parcel_union` draws it, stands in.
    """
    import geopandas as gpd
    import shapely

    from costa.zan.shapes import parcel_union

    if shape is None or shape.is_empty:
        shape, crs = parcel_union(parcels.geometry.values), parcels.crs
    if shape is None:
        return None
    lonlat = gpd.GeoSeries([shape], crs=crs).to_crs("EPSG:4326").iloc[0]
    return dict(shapely.geometry.mapping(shapely.set_precision(lonlat, 1e-7)))


def build_pages(
    gpkg: str | Path,
    landcover: str | Path,
    landcover_before: str | Path | None = None,
    max_px: int = 1500,
) -> list[CommunePage]:
    """Read the ZAN GeoPackage and rasters into one :class:`CommunePage` per commune.

    Example:
        >>> pages = build_pages("out/demo/zan.gpkg", "out/demo/landcover_2024.tif")  # doctest: +SKIP
        >>> [f.text for f in pages[0].figures if f.field == "artif_pct"]  # doctest: +SKIP
        ['31,42 %']

    """
    gpkg = Path(gpkg)
    parcelles, communes = _read_gpkg(gpkg)
    first = communes.iloc[0]
    has_old = "annee_old" in communes and first["annee_old"] == first["annee_old"]  # not NaN
    old_label = str(first["annee_old"]) if has_old else None
    vintages = [_open_vintage(Path(landcover), str(first["annee"]))]
    if landcover_before is not None:
        vintages.insert(0, _open_vintage(Path(landcover_before), old_label))
    import rasterio

    with rasterio.open(vintages[-1].path) as src:
        crs = src.crs
    parcelles = parcelles.to_crs(crs)
    keys = list(communes["insee_com"])
    areas = [(v.label, _class_ha(v.path, parcelles, keys)) for v in vintages]
    if not areas[-1][1].any():
        raise SourceError(
            f"no parcel of {gpkg.name} overlaps {landcover}; is it the raster the GeoPackage came from?"
        )
    shapes = list(communes.geometry) if "geometry" in communes else [None] * len(communes)
    rows = communes.drop(columns="geometry", errors="ignore").to_dict("records")
    pages = []
    for i, (r, shape) in enumerate(zip(rows, shapes, strict=True)):
        row = _jsonable(r)
        mine = parcelles[parcelles["commune"] == row["insee_com"]]
        bounds = tuple(mine.total_bounds) if len(mine) else None
        overlays = (
            [(v.label, read_overlay(v.path, bounds, max_px, web_mercator=True)) for v in vintages]
            if bounds
            else []
        )
        pages.append(
            CommunePage(
                insee=row["insee_com"],
                nom=row["nom"],
                stem=file_stem(row["insee_com"]),
                figures=_figures(row),
                class_ha=[(label, [float(a) for a in ha[i]]) for label, ha in areas],
                parcels=_parcels_geojson(mine),
                overlays=overlays,
                provenance=_provenance(gpkg, row, vintages),
                row=row,
                notes=_caveats(row),
                outline=_outline(shape, getattr(communes, "crs", None), mine),
            )
        )
    return pages
