"""ZAN tables per parcel and per commune from one or two land-cover rasters.

I/O at the edges: vectors are read with geopandas/pyogrio, the rasters with rasterio; the
arithmetic is :mod:`costa.zan.rules`. A pixel belongs to the parcel (and commune) holding
its centre. Output field names follow the stable schema of shared ZAN.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.features import rasterize

from costa.errors import SourceError, SourceReadError, first_line
from costa.nomenclature import CLASSES
from costa.zan.rules import (
    RULESETS,
    RuleSet,
    artificialised,
    class_counts,
    parcel_status,
    urban_usage,
)
from costa.zan.schema import ARTIF, COUNT_FIELDS

__all__ = ["ZanResult", "compute"]

_COMMUNE_FIELDS = (("INSEE_COM", "NOM"), ("code_insee", "nom_officiel"), ("insee_com", "nom"))


@dataclass(frozen=True)
class ZanResult:
    """Per-parcel (GeoDataFrame) and per-commune (DataFrame) tables, and the rules used."""

    parcelles: Any
    communes: Any
    rules: RuleSet
    notes: tuple[str, ...] = ()
    """Caveats on the figures (e.g. communes too small for the rule set's patch threshold)."""


def _read(path: str | Path, what: str) -> Any:
    import geopandas as gpd

    p = Path(path)
    if not p.exists():
        raise SourceReadError(f"{what} file not found: {p}")
    try:
        gdf = gpd.read_file(p)
    except Exception as e:
        raise SourceReadError(
            f"{p} is not a vector file GDAL can read ({first_line(e, 120)})"
        ) from None
    if gdf.empty:
        raise SourceError(f"{p} holds no {what}")
    if gdf.crs is None:
        raise SourceError(f"{p} has no CRS; set one (Etalab cadastre is EPSG:4326)")
    return gdf


def zone_ids(zones: Any, crs: Any, shape: tuple[int, int], transform: Any) -> np.ndarray:
    """1-based row number of the polygon holding each pixel centre (0 = none), on the raster grid."""
    geoms = zones.to_crs(crs).geometry
    ids: np.ndarray = rasterize(
        ((g, i + 1) for i, g in enumerate(geoms)), out_shape=shape, transform=transform, fill=0, dtype="int32"
    )
    return ids


def _measure_vintage(path: str | Path, parcels: Any, communes: Any | None, rules: RuleSet) -> dict[str, Any]:
    """Rasterise parcels/communes on the raster grid and count classes and artificialisation."""
    with rasterio.open(path) as src:
        labels = src.read(1)
        transform, shape, crs = src.transform, src.shape, src.crs
        year = src.tags().get("YEAR")
    if crs is None:
        raise SourceError(f"{path} has no CRS")
    px = abs(transform.a * transform.e)
    ids = zone_ids(parcels, crs, shape, transform)
    n = len(parcels)
    counts = class_counts(ids, labels, n)
    urban = urban_usage(counts, px)
    artif = artificialised(labels, urban[ids], rules, px)
    out = {
        "year": year,
        "crs": crs,
        "px": px,
        "counts": counts,
        "urban": urban,
        "artif": artif,
        "ids": ids,
        "artif_px": np.bincount(ids.ravel(), weights=artif.ravel(), minlength=n + 1),
        "labels": labels,
    }
    if communes is not None:
        out["cids"] = zone_ids(communes, crs, shape, transform)
    return out


def compute(
    landcover: str | Path,
    parcels: str | Path,
    communes: str | Path | None = None,
    *,
    landcover_before: str | Path | None = None,
    rules: str = "cosia-2023",
    year: int | None = None,
    year_before: int | None = None,
) -> ZanResult:
    """Compute the ZAN tables (one vintage, or two with flux).

    Args:
        landcover: class raster of the (newer) vintage, e.g. from :func:`costa.predict`.
        parcels: parcels (Etalab cadastre GeoJSON or any OGR source with ``id`` and ``commune``).
        communes: commune boundaries (``INSEE_COM``/``NOM``); default: communes of the parcels.
        landcover_before: class raster of the older vintage on the same grid, for the flux.
        rules: rule set name (see :data:`costa.zan.RULESETS`).
        year: vintage of ``landcover`` (default: its ``YEAR`` tag).
        year_before: vintage of ``landcover_before`` (default: its ``YEAR`` tag).

    Examples:
        >>> import costa
        >>> terr = costa.demo.make_territory(tmp / "demo", dalles=(1, 2), dalle_px=384)
        >>> r = compute(terr.truth[2024], terr.parcels, terr.communes, landcover_before=terr.truth[2021])
        >>> r.communes[["insee_com", "nom", "annee_old", "annee_new"]].values.tolist()
        [['99101', 'Saint-Costa-les-Vignes', 2021, 2024], ['99102', 'Costa-sur-Orge', 2021, 2024]]
        >>> bool((r.communes.artif_ha > 0).all()), len(r.parcelles) > 10
        (True, True)
        >>> print(r.notes[0][:60])  # a 0.6 ha territory is far below the 2,500 m² patch scale
        commune 99101 (Saint-Costa-les-Vignes) covers 0.59 ha, under

    """
    import pandas as pd

    if rules not in RULESETS:
        raise SourceError(f"--rules {rules!r}: choose one of {', '.join(RULESETS)}")
    rs = RULESETS[rules]
    gp = _read(parcels, "parcels")
    for field in ("id", "commune"):
        if field not in gp.columns:
            raise SourceError(
                f"{parcels} has no '{field}' field (Etalab cadastre: id, commune, section, numero)"
            )
    invalid = int((~gp.geometry.is_valid).sum())
    gp["geometry"] = gp.geometry.make_valid()
    gc = None
    if communes is not None:
        gc = _read(communes, "communes")
        pair = next((f for f in _COMMUNE_FIELDS if set(f) <= set(gc.columns)), None)
        if pair is None:
            raise SourceError(
                f"{communes} needs INSEE_COM/NOM (ADMIN EXPRESS 3) or code_insee/nom_officiel (4)"
            )
        gc = gc.rename(columns={pair[0]: "insee_com", pair[1]: "nom"})
    new = _measure_vintage(landcover, gp, gc, rs)
    old = _measure_vintage(landcover_before, gp, gc, rs) if landcover_before else None
    if old is not None and old["labels"].shape != new["labels"].shape:
        raise SourceError(f"{landcover_before} and {landcover} are not on the same grid; align them first")
    if not new["counts"][1:, 1:].any():
        raise SourceError(f"no parcel of {parcels} overlaps {landcover} (check CRS and extent)")
    y_new = year or _int(new["year"], "--year", landcover)
    y_old = (year_before or _int(old["year"], "--year-before", landcover_before)) if old is not None else None
    px = new["px"]
    c = new["counts"][1:]
    table = pd.DataFrame(
        {
            "id": gp["id"].astype(str),
            "commune": gp["commune"].astype(str),
            "section": gp.get("section", pd.Series([""] * len(gp))).astype(str),
            "numero": gp.get("numero", pd.Series([""] * len(gp))).astype(str),
            "contenance": pd.to_numeric(gp.get("contenance", pd.Series([np.nan] * len(gp))), errors="coerce"),
            "surface_m2": c[:, 1:].sum(1) * px,
            "artif_m2": new["artif_px"][1:] * px,
        }
    )
    table["artif_pct"] = np.where(
        table.surface_m2 > 0, 100 * table.artif_m2 / table.surface_m2.where(table.surface_m2 > 0, 1), 0.0
    )
    table["usage_urbain"] = new["urban"][1:]
    table["sans_pixel"] = c.sum(1) == 0  # holds no pixel centre: outside the raster or sliver (ZAN.md)
    table["statut"] = parcel_status(table.artif_m2.to_numpy(), table.surface_m2.to_numpy())
    for cls in CLASSES:
        table[f"{cls.slug}_m2"] = c[:, cls.code] * px
    if old is not None:
        table["statut_old"] = parcel_status(old["artif_px"][1:] * px, table.surface_m2.to_numpy())
        gained, lost = new["artif"] & ~old["artif"], old["artif"] & ~new["artif"]
        new["flux"] = (gained, lost)  # pixel-level changes, counted per commune in _communes
        n = len(gp) + 1
        table["flux_artif_m2"] = np.bincount(new["ids"].ravel(), weights=gained.ravel(), minlength=n)[1:] * px
        table["flux_desartif_m2"] = (
            np.bincount(new["ids"].ravel(), weights=lost.ravel(), minlength=n)[1:] * px
        )
    import geopandas as gpd

    parcelles = gpd.GeoDataFrame(table, geometry=gp.to_crs(new["crs"]).geometry.values)
    parcelles.attrs["invalid_geometries_repaired"] = invalid
    communes_df = _communes(parcelles, new, old, gc, rs, y_new, y_old)
    return ZanResult(parcelles, communes_df, rs, scale_notes(communes_df, rs))


SMALL_AREA_PATCHES = 10
"""A commune under this many patch thresholds of area gets a caveat."""


def scale_notes(communes: Any, rules: RuleSet) -> tuple[str, ...]:
    """Caveats for communes too small for the rule set's 2,500 m² patch rule to mean much.

    Below a few patch thresholds of area, most patches are under the threshold and absorbed
    by their surroundings, so a commune can come out 0 % or 100 % artificialised.
    """
    return tuple(
        f"commune {c.insee_com} ({c.nom}) covers {c.surface_ha:.2f} ha, under {SMALL_AREA_PATCHES} × the "
        f"{rules.patch_m2:g} m² patch threshold of {rules.name}: its figures mostly reflect the patch "
        "rule; compare with --rules cosia-2023-pixel"
        for c in communes.itertuples()
        if too_small_for_patch_rule(c.surface_ha, rules)
    )


def too_small_for_patch_rule(surface_ha: float, rules: RuleSet) -> bool:
    """True if a commune of ``surface_ha`` is under ``SMALL_AREA_PATCHES`` patch thresholds.

    >>> from costa.zan.rules import RULESETS
    >>> [too_small_for_patch_rule(ha, RULESETS[r]) for ha, r in ((2, "cosia-2023"), (3, "cosia-2023"))]
    [True, False]
    >>> too_small_for_patch_rule(2, RULESETS["cosia-2023-pixel"])
    False
    """
    return rules.thresholds and surface_ha < SMALL_AREA_PATCHES * rules.patch_m2 / 1e4


def _int(value: Any, option: str, path: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SourceError(
            f"{path} has no YEAR tag: give the vintage with {option} (e.g. {option} 2024)"
        ) from None


def _communes(
    parcelles: Any,
    new: dict[str, Any],
    old: dict[str, Any] | None,
    gc: Any | None,
    rs: RuleSet,
    y_new: int,
    y_old: int | None,
) -> Any:
    import pandas as pd

    px = new["px"]
    rows = []
    if gc is not None:
        keys = list(gc["insee_com"].astype(str))
        names = list(gc["nom"].astype(str))
        zone, perimetre = new["cids"], "commune"
    else:
        keys = sorted(parcelles["commune"].unique())
        names = keys
        code_of = {k: i + 1 for i, k in enumerate(keys)}
        lut = np.array([0] + [code_of[k] for k in parcelles["commune"]], np.int32)
        zone, perimetre = lut[new["ids"]], "parcelles"
    n = len(keys) + 1
    counts = class_counts(zone, new["labels"], len(keys))
    artif = np.bincount(zone.ravel(), weights=new["artif"].ravel(), minlength=n)
    if old is not None:
        gained, lost = (np.bincount(zone.ravel(), weights=f.ravel(), minlength=n) for f in new["flux"])
    for i, (k, name) in enumerate(zip(keys, names, strict=True), start=1):
        p = parcelles[parcelles["commune"] == k]
        surface = counts[i, 1:].sum() * px
        row: dict[str, Any] = {
            "insee_com": k,
            "nom": name,
            "annee": y_new,
            "perimetre": perimetre,
            "surface_ha": surface / 1e4,
            "artif_ha": artif[i] * px / 1e4,
            "artif_pct": 100 * artif[i] * px / surface if surface else 0.0,
            "n_parcelles": len(p),
            **{k: int((p.statut == status).sum()) for k, status in COUNT_FIELDS.items()},
        }
        for cls in CLASSES:
            row[f"{cls.slug}_ha"] = counts[i, cls.code] * px / 1e4
        row["regles"], row["regles_version"] = rs.name, rs.version
        if old is not None:
            row.update(
                {
                    "annee_old": y_old,
                    "annee_new": y_new,
                    "flux_artif_ha": gained[i] * px / 1e4,
                    "flux_desartif_ha": lost[i] * px / 1e4,
                    "flux_artif_net_ha": (gained[i] - lost[i]) * px / 1e4,
                    "n_parcelles_nouvellement_artif": int(
                        ((p.statut == ARTIF) & (p.statut_old != ARTIF)).sum()
                    ),
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)
