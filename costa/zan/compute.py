"""ZAN tables per parcel and per commune from one or two land-cover rasters.

I/O at the edges: vectors are read with geopandas/pyogrio, the rasters with rasterio; the
arithmetic is :mod:`costa.zan.rules`. A pixel belongs to the parcel (and commune) holding
its centre. Output field names follow the stable schema of docs/zan.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.features import rasterize

from costa.errors import SourceError, SourceReadError, file_error
from costa.io.gpkg import data_layer
from costa.nomenclature import CLASSES
from costa.tiling.tiles import Box
from costa.zan.rules import DEFAULT_RULES, RULESETS, RuleSet, parcel_status
from costa.zan.schema import ARTIF, COUNT_FIELDS
from costa.zan.windowed import Measure, measure
from costa.zan.windows import Grid, Plan, Zones, landcover_source, open_grid

__all__ = [
    "ZanResult",
    "check_sources",
    "compute",
    "read_communes",
    "read_parcels",
    "rules_named",
    "zone_ids",
]

_COMMUNE_FIELDS = (("INSEE_COM", "NOM"), ("code_insee", "nom_officiel"), ("insee_com", "nom"))


@dataclass(frozen=True)
class ZanResult:
    """Per-parcel and per-commune tables (GeoDataFrames: parcels, communes' shapes), and the rules used.

    A commune's shape is its boundary given, else the union of its parcels (:mod:`costa.zan.shapes`).
    """

    parcelles: Any
    communes: Any
    rules: RuleSet
    notes: tuple[str, ...] = ()
    """Caveats on the figures (e.g. communes too small for the rule set's patch threshold)."""


def _read(path: Any, what: str, layer: str | None = None, option: str = "--layer") -> Any:
    """A vector file's one data layer (``layer`` if given) as a GeoDataFrame (:func:`data_layer`)."""
    import geopandas as gpd

    if isinstance(path, gpd.GeoDataFrame):
        return path.copy()
    p = Path(path)
    if not p.exists():
        raise SourceReadError(f"{what} file not found: {p}")
    src = f"/vsigzip/{p}" if p.suffix.lower() == ".gz" else str(p)  # Etalab: *.json.gz
    name = data_layer(p if src == str(p) else src, layer, option=option)
    try:
        gdf = gpd.read_file(src, layer=name) if name else gpd.read_file(src)
    except Exception as e:
        raise SourceReadError(file_error(p, e)) from None
    if gdf.empty:
        raise SourceError(f"{p} holds no {what}")
    if gdf.crs is None:
        raise SourceError(f"{p} has no CRS; set one (Etalab cadastre is EPSG:4326)")
    return gdf


def read_parcels(parcels: Any, layer: str | None = None) -> Any:
    """Parcels as a GeoDataFrame with ``id`` and ``commune``, invalid geometries repaired.

    ``layer``: the layer of a file with several (``--layer``). The number of geometries
    repaired is kept in ``attrs["invalid_geometries_repaired"]``.
    """
    gp = _read(parcels, "parcels", layer)
    for name in ("id", "commune"):
        if name not in gp.columns:
            raise SourceError(
                f"{parcels} has no '{name}' field (Etalab cadastre: id, commune, section, numero)"
            )
    invalid = int((~gp.geometry.is_valid).sum())
    gp["geometry"] = gp.geometry.make_valid()
    gp.attrs["invalid_geometries_repaired"] = gp.attrs.get("invalid_geometries_repaired", 0) + invalid
    return gp


def read_communes(communes: Any, layer: str | None = None) -> Any:
    """Commune boundaries as a GeoDataFrame with ``insee_com`` and ``nom`` (ADMIN EXPRESS 3 or 4).

    ``layer``: the layer of a file with several (``--communes-layer``).
    """
    gc = _read(communes, "communes", layer, "--communes-layer")
    if {"insee_com", "nom"} <= set(gc.columns):
        return gc
    pair = next((f for f in _COMMUNE_FIELDS if set(f) <= set(gc.columns)), None)
    if pair is None:
        raise SourceError(f"{communes} needs INSEE_COM/NOM (ADMIN EXPRESS 3) or code_insee/nom_officiel (4)")
    return gc.rename(columns={pair[0]: "insee_com", pair[1]: "nom"})


def zone_ids(zones: Any, crs: Any, shape: tuple[int, int], transform: Any) -> np.ndarray:
    """1-based row number of the polygon holding each pixel centre (0 = none), on the raster grid."""
    geoms = zones.to_crs(crs).geometry
    ids: np.ndarray = rasterize(
        ((g, i + 1) for i, g in enumerate(geoms)), out_shape=shape, transform=transform, fill=0, dtype="int32"
    )
    return ids


def check_sources(sources: list[Any]) -> Grid:
    """Check the land-cover input(s) (one line per misfit) and return the grid they share."""
    grids = [open_grid(landcover_source(s), Path(s).name) for s in sources]
    g = grids[0]
    if len(grids) == 2:
        o = grids[1]
        if (o.crs, o.transform, o.height, o.width) != (g.crs, g.transform, g.height, g.width):
            raise SourceError(f"{sources[1]} and {sources[0]} are not on the same grid; align them first")
    return g


def _plan(sources: list[Any], gp: Any, gc: Any | None, rs: RuleSet) -> tuple[Plan, list[str]]:
    """Open and check the rasters, put parcels and communes on their grid; the commune keys."""
    g = check_sources(sources)
    srcs = [landcover_source(s) for s in sources]
    names = [Path(s).name for s in sources]
    parcels = Zones(np.asarray(gp.to_crs(g.crs).geometry.values))
    if gc is not None:
        keys = list(gc["insee_com"].astype(str))
        communes, commune_of = Zones(np.asarray(gc.to_crs(g.crs).geometry.values)), np.zeros(1, np.int32)
    else:
        keys = sorted(gp["commune"].astype(str).unique())
        code_of = {k: i + 1 for i, k in enumerate(keys)}
        communes = None
        commune_of = np.array([0] + [code_of[k] for k in gp["commune"].astype(str)], np.int32)
    plan = Plan(
        sources=tuple(srcs),
        names=tuple(names),
        grid=g,
        parcels=parcels,
        communes=communes,
        commune_of=commune_of,
        n_communes=len(keys),
        rules=rs,
        patch_px=max(1, round(rs.patch_m2 / g.pixel_area)),
        built_px=max(1, round(rs.built_patch_m2 / g.pixel_area)),
    )
    return plan, keys


def rules_named(rules: str) -> RuleSet:
    """The rule set ``--rules`` names (one line listing them otherwise)."""
    if rules not in RULESETS:
        raise SourceError(f"--rules {rules!r}: choose one of {', '.join(RULESETS)}")
    return RULESETS[rules]


def compute(
    landcover: str | Path,
    parcels: str | Path,
    communes: str | Path | None = None,
    *,
    landcover_before: str | Path | None = None,
    rules: str = DEFAULT_RULES,
    year: int | None = None,
    year_before: int | None = None,
    window: int | None = None,
    area: Box | None = None,
    workers: int = 1,
    parcels_layer: str | None = None,
    communes_layer: str | None = None,
) -> ZanResult:
    """Compute the ZAN tables (one vintage, or two with flux).

    The rasters are read window by window (:mod:`costa.zan.windowed`): the tables do not
    depend on ``window``, memory does.

    Args:
        landcover: class raster of the (newer) vintage, e.g. from :func:`costa.predict`; a
            file, a VRT or a folder of same-grid rasters.
        parcels: parcels (Etalab cadastre GeoJSON or any OGR source with ``id`` and ``commune``,
            or a GeoDataFrame).
        communes: commune boundaries (``INSEE_COM``/``NOM``); default: communes of the parcels.
        landcover_before: class raster of the older vintage on the same grid, for the flux.
        rules: rule set name (see :data:`costa.zan.RULESETS`).
        year: vintage of ``landcover`` (default: its ``YEAR`` tag).
        year_before: vintage of ``landcover_before`` (default: its ``YEAR`` tag).
        window: window side in pixels (default :data:`costa.zan.windows.DEFAULT_WINDOW`).
        area: pixel box of the raster to measure (default: all of it); patches end at its edge.
        workers: processes measuring the windows of the area in parallel (the same tables).
        parcels_layer: the parcels' layer in a file with several (default: its one data layer,
            :func:`costa.io.gpkg.data_layer`).
        communes_layer: the communes' layer in a file with several.

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
        >>> v2 = compute(terr.truth[2024], terr.parcels, terr.communes, rules="cosia-2023-v2", window=128)
        >>> v2.communes[["regles", "regles_version"]].values.tolist()[0]
        ['cosia-2023', 2]

    """
    import geopandas as gpd
    import pandas as pd

    rs = rules_named(rules)
    gp = read_parcels(parcels, parcels_layer)
    gc = read_communes(communes, communes_layer) if communes is not None else None
    sources = [landcover] + ([landcover_before] if landcover_before else [])
    plan, keys = _plan(sources, gp, gc, rs)
    m = measure(plan, area=area, window=window, workers=workers)
    if not m.counts[0][1:, 1:].any():
        what = parcels if isinstance(parcels, str | Path) else "the parcels"
        raise SourceError(f"no parcel of {what} overlaps {landcover} (check CRS and extent)")
    two = landcover_before is not None
    y_new = year or _int(m.grid.year, "--year", landcover)
    y_old = (year_before or _int(_year(plan, 1), "--year-before", landcover_before)) if two else None
    px = m.grid.pixel_area
    c = m.counts[0][1:]
    table = pd.DataFrame(
        {
            "id": gp["id"].astype(str),
            "commune": gp["commune"].astype(str),
            "section": gp.get("section", pd.Series([""] * len(gp))).astype(str),
            "numero": gp.get("numero", pd.Series([""] * len(gp))).astype(str),
            "contenance": pd.to_numeric(gp.get("contenance", pd.Series([np.nan] * len(gp))), errors="coerce"),
            "surface_m2": c[:, 1:].sum(1) * px,
            "artif_m2": m.artif[0][1:] * px,
        }
    ).reset_index(drop=True)
    table["artif_pct"] = np.where(
        table.surface_m2 > 0, 100 * table.artif_m2 / table.surface_m2.where(table.surface_m2 > 0, 1), 0.0
    )
    table["usage_urbain"] = m.urban[0][1:]
    table["sans_pixel"] = c.sum(1) == 0  # holds no pixel centre: outside the raster or sliver (docs/zan.md)
    table["statut"] = parcel_status(table.artif_m2.to_numpy(), table.surface_m2.to_numpy())
    for cls in CLASSES:
        table[f"{cls.slug}_m2"] = c[:, cls.code] * px
    if two:
        table["statut_old"] = parcel_status(m.artif[1][1:] * px, table.surface_m2.to_numpy())
        table["flux_artif_m2"] = m.artif[2][1:] * px
        table["flux_desartif_m2"] = m.artif[3][1:] * px
    parcelles = gpd.GeoDataFrame(table, geometry=gp.to_crs(m.grid.crs).geometry.values)
    parcelles.attrs["invalid_geometries_repaired"] = gp.attrs["invalid_geometries_repaired"]
    communes_df = _communes(parcelles, m, keys, gc, rs, y_new, y_old)
    return ZanResult(parcelles, communes_df, rs, scale_notes(communes_df, rs))


def _year(plan: Plan, i: int) -> str | None:
    return open_grid(plan.sources[i], plan.names[i]).year


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
    m: Measure,
    keys: list[str],
    gc: Any | None,
    rs: RuleSet,
    y_new: int,
    y_old: int | None,
) -> Any:
    import pandas as pd

    px = m.grid.pixel_area
    names = list(gc["nom"].astype(str)) if gc is not None else keys
    perimetre = "commune" if gc is not None else "parcelles"
    counts, artif = m.zone_counts[0], m.zone_artif[0]
    by_commune = dict(tuple(parcelles.groupby("commune", sort=False)))
    empty = parcelles.iloc[:0]
    rows = []
    for i, (k, name) in enumerate(zip(keys, names, strict=True), start=1):
        p = by_commune.get(k, empty)
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
        if y_old is not None:
            gained, lost = m.zone_artif[2][i], m.zone_artif[3][i]
            row.update(
                {
                    "annee_old": y_old,
                    "annee_new": y_new,
                    "flux_artif_ha": gained * px / 1e4,
                    "flux_desartif_ha": lost * px / 1e4,
                    "flux_artif_net_ha": (gained - lost) * px / 1e4,
                    "n_parcelles_nouvellement_artif": int(
                        ((p.statut == ARTIF) & (p.statut_old != ARTIF)).sum()
                    ),
                }
            )
        rows.append(row)
    import geopandas as gpd

    from costa.zan.shapes import commune_shapes

    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=commune_shapes(keys, parcelles, gc).values)
