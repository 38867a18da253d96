"""ZAN figures in the national tool's terms (sparte, "Mon Diagnostic Artificialisation").

sparte publishes, per commune, ``surface_artif`` (ha), ``pourcent_artif`` (%), ``flux_artif``,
``flux_desartif``, ``flux_artif_net`` (ha between ``millesime_debut`` and ``millesime_fin``) and
the same for impermeable surfaces (``*_imper``). :func:`sparte_table` gives costa's figures
under those names and units, per commune, rolled up to any grouping (EPCI, SCoT: a commune →
group table) and, optionally, crossed with the planning zones of a local plan (U, AU, A, N).

* **Artificialised** figures come from ``costa zan compute`` (rules, thresholds, usage).
* **Impermeable** surfaces are the classes OCS GE codes CS1.1.1 (zones imperméables):
  :data:`IMPERMEABLE` = bâtiment, zone imperméable, piscine, serre — the nomenclature's
  built and sealed classes. No usage or threshold applies: a pixel is impermeable or not.
  Their stock comes from the ZAN GeoPackage; their flux needs both rasters
  (``landcover``, ``landcover_before``) and is counted pixel by pixel.
* **Zones**: a parcel belongs to the zone holding its representative point; figures per
  zone sum the parcels' (the non-cadastred public domain, roads mostly, has no parcel and
  so no zone).

:data:`OCSGE` maps costa's 16 classes to OCS GE cover codes (documented in docs/ocsge.md).

>>> [by_code(c).fr for c in IMPERMEABLE]
['Bâtiment', 'Zone imperméable', 'Piscine', 'Serre']
>>> OCSGE[13]
('CS2.2.1', 'Formations herbacées')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from costa.errors import OutputError, SourceError, SourceReadError, file_error
from costa.nomenclature import CLASSES, ZanCategory, by_code

__all__ = [
    "COLUMNS",
    "IMPERMEABLE",
    "OCSGE",
    "ZONE_TYPES",
    "export",
    "roll_up",
    "sparte_table",
    "zone_type",
]

IMPERMEABLE: tuple[int, ...] = tuple(
    c.code for c in CLASSES if c.zan in (ZanCategory.BUILT, ZanCategory.SEALED)
)
"""Codes counted as impermeable (OCS GE CS1.1.1): built and sealed classes."""

OCSGE: dict[int, tuple[str, str]] = {
    1: ("CS1.1.1.1", "Zones bâties"),
    2: ("CS1.1.1.2", "Zones non bâties"),
    3: ("CS1.1.2.1", "Zones à matériaux minéraux"),
    4: ("CS1.1.1.2", "Zones non bâties"),
    5: ("CS1.1.1.1", "Zones bâties"),
    6: ("CS1.2.1", "Sols nus"),
    7: ("CS1.2.2", "Surfaces d'eau"),
    8: ("CS1.2.3", "Névés et glaciers"),
    9: ("CS2.1.1.2", "Peuplement de conifères"),
    10: ("CS2.1.1.1", "Peuplement de feuillus"),
    11: ("CS2.1.2", "Formations arbustives et sous-arbrisseaux"),
    12: ("CS2.1.2", "Formations arbustives et sous-arbrisseaux"),
    13: ("CS2.2.1", "Formations herbacées"),
    14: ("CS2.2.1", "Formations herbacées"),
    15: ("CS1.2.1", "Sols nus"),
    16: ("CS2.1.3", "Autres formations ligneuses"),
}
"""costa code → (OCS GE cover code, label). Choices are explained in docs/ocsge.md."""

ZONE_TYPES = ("U", "AU", "A", "N")
"""Planning-zone types of a local plan (PLU), as sparte groups them."""

COLUMNS = (
    "type_territoire", "code", "nom", "zone", "surface", "millesime_debut", "millesime_fin",
    "surface_artif", "pourcent_artif", "flux_artif", "flux_desartif", "flux_artif_net",
    "surface_imper", "pourcent_imper", "flux_imper", "flux_desimper", "flux_imper_net",
    "perimetre", "regles", "regles_version",
)  # fmt: skip
"""Columns of the export, in order (surfaces and flux in ha, shares in %)."""
_SUMS = (
    "surface",
    "surface_artif",
    "flux_artif",
    "flux_desartif",
    "surface_imper",
    "flux_imper",
    "flux_desimper",
)
_DECIMALS = {c: 4 for c in COLUMNS if c.startswith(("surface", "flux"))} | {
    "pourcent_artif": 2,
    "pourcent_imper": 2,
}
"""Written precision: 1 m² (10⁻⁴ ha) for surfaces and flux, 0.01 % for shares."""
_ZONE_FIELDS = ("typezone", "TYPEZONE", "type_zone", "zone")
_GROUP_KEYS = ("insee_com", "code_insee", "INSEE_COM", "code_commune")


def zone_type(value: Any) -> str | None:
    """The zone type (U, AU, A, N) of a PLU ``typezone`` such as ``AUc``, ``Nh`` or ``Ua``.

    >>> [zone_type(v) for v in ("U", "Ub", "AUs", "AUc", "A", "Ah", "N", "Nzh", "", None)]
    ['U', 'U', 'AU', 'AU', 'A', 'A', 'N', 'N', None, None]
    """
    text = str(value or "").strip().upper()
    if text.startswith("AU"):
        return "AU"
    return text[:1] if text[:1] in ("U", "A", "N") else None


def _finish(df: Any) -> Any:
    """Shares and net flux from the summed columns; columns in :data:`COLUMNS` order."""
    surface = df["surface"].where(df["surface"] > 0)
    df["pourcent_artif"] = (100 * df["surface_artif"] / surface).fillna(0.0)
    df["pourcent_imper"] = (100 * df["surface_imper"] / surface).fillna(0.0)
    df["flux_artif_net"] = df["flux_artif"] - df["flux_desartif"]
    df["flux_imper_net"] = df["flux_imper"] - df["flux_desimper"]
    return df[list(COLUMNS)].reset_index(drop=True)


def roll_up(communes: Any, groups: Any) -> Any:
    """Sum commune rows into groups (``groups``: columns ``insee_com``, ``groupe``, opt. ``nom_groupe``).

    Shares are recomputed from the sums (never averaged); a flux is missing for a group as
    soon as it is missing for one of its communes.
    """
    g = groups.drop_duplicates("insee_com").set_index("insee_com")
    rows = communes.assign(groupe=communes["code"].map(g["groupe"]))
    unknown = rows[rows["groupe"].isna()]["code"].tolist()
    if unknown:
        raise SourceError(f"communes {', '.join(unknown[:5])} are in no group of the groups table; add them")
    names = g.drop_duplicates("groupe").set_index("groupe").get("nom_groupe")
    agg = rows.groupby(["groupe", "zone"], sort=True, dropna=False)
    out = agg[list(_SUMS)].sum(min_count=1)
    out["millesime_debut"] = agg["millesime_debut"].min()
    out["millesime_fin"] = agg["millesime_fin"].max()
    for col in ("perimetre", "regles", "regles_version"):
        out[col] = agg[col].first()
    out = out.reset_index().rename(columns={"groupe": "code"})
    out["nom"] = out["code"].map(names) if names is not None else out["code"]
    out["type_territoire"] = "groupe"
    return _finish(out)


def _communes_rows(communes: Any, imper: Any | None) -> Any:
    """One export row per commune from the ZAN ``communes`` table."""
    import pandas as pd

    two = "annee_old" in communes.columns
    df = pd.DataFrame(
        {
            "type_territoire": "commune",
            "code": communes["insee_com"].astype(str),
            "nom": communes["nom"].astype(str),
            "zone": "",
            "surface": communes["surface_ha"],
            "millesime_debut": communes["annee_old"] if two else communes["annee"],
            "millesime_fin": communes["annee_new"] if two else communes["annee"],
            "surface_artif": communes["artif_ha"],
            "flux_artif": communes["flux_artif_ha"] if two else np.nan,
            "flux_desartif": communes["flux_desartif_ha"] if two else np.nan,
            "surface_imper": sum(communes[f"{by_code(c).slug}_ha"] for c in IMPERMEABLE),
            "flux_imper": np.nan,
            "flux_desimper": np.nan,
            "perimetre": communes["perimetre"],
            "regles": communes["regles"],
            "regles_version": communes["regles_version"],
        }
    )
    if imper is not None:
        df["flux_imper"] = df["code"].map(imper["flux_imper"])
        df["flux_desimper"] = df["code"].map(imper["flux_desimper"])
    return _finish(df)


def _zone_rows(parcelles: Any, zones: Any, communes: Any) -> Any:
    """Rows per commune × zone type, summing the parcels whose representative point is in the zone."""
    import geopandas as gpd
    import pandas as pd

    field = next((f for f in _ZONE_FIELDS if f in zones.columns), None)
    if field is None:
        raise SourceError(f"the zones layer needs a {' or '.join(_ZONE_FIELDS[:3])} field (U, AU, A, N)")
    z = zones.assign(zone=zones[field].map(zone_type))[["zone", "geometry"]].dropna(subset=["zone"])
    points = gpd.GeoDataFrame(parcelles.drop(columns="geometry"), geometry=parcelles.representative_point())
    hit = gpd.sjoin(points, z.to_crs(parcelles.crs), how="inner", predicate="within")
    hit = hit[~hit.index.duplicated()]  # overlapping zones: the first wins
    two = "flux_artif_m2" in hit.columns
    df = pd.DataFrame(
        {
            "code": hit["commune"].astype(str),
            "zone": hit["zone"],
            "surface": hit["surface_m2"] / 1e4,
            "surface_artif": hit["artif_m2"] / 1e4,
            "flux_artif": hit["flux_artif_m2"] / 1e4 if two else np.nan,
            "flux_desartif": hit["flux_desartif_m2"] / 1e4 if two else np.nan,
            "surface_imper": sum(hit[f"{by_code(c).slug}_m2"] for c in IMPERMEABLE) / 1e4,
            "flux_imper": np.nan,
            "flux_desimper": np.nan,
        }
    )
    agg = df.groupby(["code", "zone"]).sum(min_count=1).reset_index()
    if not two:
        agg[["flux_artif", "flux_desartif"]] = np.nan
    agg[["flux_imper", "flux_desimper"]] = np.nan
    info = communes.set_index("code")
    for col in ("nom", "millesime_debut", "millesime_fin", "regles", "regles_version"):
        agg[col] = agg["code"].map(info[col])
    agg["perimetre"], agg["type_territoire"] = "parcelles", "commune"
    return _finish(agg)


def impermeable_flux(landcover: str | Path, landcover_before: str | Path, zones: Any, keys: list[str]) -> Any:
    """Pixels that became (``flux_imper``) or stopped being (``flux_desimper``) impermeable, ha per zone."""
    import pandas as pd
    import rasterio

    from costa.zan.compute import zone_ids

    with rasterio.open(landcover) as new, rasterio.open(landcover_before) as old:
        if (new.shape, new.transform) != (old.shape, old.transform):
            raise SourceError(
                f"{landcover_before} and {landcover} are not on the same grid; align them first"
            )
        ids = zone_ids(zones, new.crs, new.shape, new.transform)
        now, then = np.isin(new.read(1), IMPERMEABLE), np.isin(old.read(1), IMPERMEABLE)
        px_ha = abs(new.transform.a * new.transform.e) / 1e4
    n = len(keys) + 1
    gained = np.bincount(ids.ravel(), weights=(now & ~then).ravel(), minlength=n)[1:] * px_ha
    lost = np.bincount(ids.ravel(), weights=(then & ~now).ravel(), minlength=n)[1:] * px_ha
    return pd.DataFrame({"flux_imper": gained, "flux_desimper": lost}, index=keys).groupby(level=0).sum()


def _read_layer(path: Path, layer: str | None, what: str, option: str = "--layer") -> Any:
    """``layer`` of ``path``, or its one data layer (:func:`costa.io.gpkg.data_layer`)."""
    import geopandas as gpd

    from costa.io.gpkg import data_layer

    if not Path(path).is_file():
        raise SourceReadError(f"{what} not found: {path}")
    layer = data_layer(path, layer, option=option)
    try:
        return gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as e:
        raise SourceReadError(file_error(path, e)) from None


def sparte_table(
    gpkg: str | Path,
    *,
    groups: str | Path | None = None,
    zones: str | Path | None = None,
    landcover: str | Path | None = None,
    landcover_before: str | Path | None = None,
    communes: str | Path | None = None,
    communes_layer: str | None = None,
    zones_layer: str | None = None,
) -> tuple[Any, Any | None]:
    """The export tables: (communes and groups, commune × zone rows or None).

    Args:
        gpkg: GeoPackage written by ``costa zan compute`` (layers ``communes``, ``parcelles``).
        groups: CSV with ``insee_com`` (or ``code_insee``) and ``groupe`` (opt. ``nom_groupe``).
        zones: planning zones (GeoPackage, field ``typezone``: U, AU…, A, N).
        landcover: the newer vintage's raster, for the impermeable flux.
        landcover_before: the older vintage's raster (same grid), for the impermeable flux.
        communes: commune boundaries for the impermeable flux (default: the parcels' communes).
        communes_layer: the communes' layer in a file with several data layers.
        zones_layer: the zones' layer in a file with several data layers.

    Examples:
        >>> import costa
        >>> terr = costa.demo.make_territory(tmp / "demo", dalles=(1, 2), dalle_px=384)
        >>> old, new = terr.truth[2021], terr.truth[2024]
        >>> r = costa.zan.compute(new, terr.parcels, terr.communes, landcover_before=old)
        >>> _ = costa.zan.write(r, tmp / "zan.gpkg")
        >>> table, _ = sparte_table(tmp / "zan.gpkg")
        >>> table[["code", "millesime_debut", "millesime_fin"]].values.tolist()
        [['99101', 2021, 2024], ['99102', 2021, 2024]]
        >>> bool((table.surface_imper <= table.surface).all() and (table.pourcent_artif > 0).all())
        True

    """
    import pandas as pd
    import pyogrio

    gpkg = Path(gpkg)
    if not gpkg.is_file():
        raise SourceReadError(f"ZAN GeoPackage not found: {gpkg} (make it with costa zan compute)")
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    if not {"communes", "parcelles"} <= layers:
        raise SourceError(f"{gpkg} has no 'communes' and 'parcelles' layers; make it with costa zan compute")
    zan_communes = pyogrio.read_dataframe(gpkg, layer="communes", read_geometry=False)
    imper = None
    if (landcover is None) != (landcover_before is None):
        raise SourceError("the impermeable flux needs both --landcover and --landcover-before")
    parcelles = None
    if landcover is not None and landcover_before is not None:
        if communes is not None:
            zones_gdf = _read_layer(Path(communes), communes_layer, "communes", "--communes-layer")
            key = next((k for k in _GROUP_KEYS if k in zones_gdf.columns), None)
            if key is None:
                raise SourceError(f"{communes} needs INSEE_COM or code_insee")
            keys = [str(v) for v in zones_gdf[key]]
        else:
            zones_gdf = parcelles = _read_layer(gpkg, "parcelles", "ZAN GeoPackage")
            keys = [str(v) for v in zones_gdf["commune"]]
        imper = impermeable_flux(landcover, landcover_before, zones_gdf, keys)
    table = _communes_rows(zan_communes, imper)
    zone_table = None
    if zones is not None:
        parcelles = parcelles if parcelles is not None else _read_layer(gpkg, "parcelles", "ZAN GeoPackage")
        zone_gdf = _read_layer(Path(zones), zones_layer, "zones", "--zones-layer")
        zone_table = _zone_rows(parcelles, zone_gdf, table)
    if groups is not None:
        g = _read_groups(Path(groups))
        table = pd.concat([table, roll_up(table, g)], ignore_index=True)
        if zone_table is not None:
            zone_table = pd.concat([zone_table, roll_up(zone_table, g)], ignore_index=True)
    return table, zone_table


def _read_groups(path: Path) -> Any:
    import pandas as pd

    if not path.is_file():
        raise SourceReadError(f"groups table not found: {path}")
    g = pd.read_csv(path, dtype=str, sep=None, engine="python")
    key = next((k for k in _GROUP_KEYS if k in g.columns), None)
    if key is None or "groupe" not in g.columns:
        raise SourceError(f"{path} needs a commune column (insee_com or code_insee) and a 'groupe' column")
    return g.rename(columns={key: "insee_com"})


def export(gpkg: str | Path, out: str | Path, **options: Any) -> list[Path]:
    """Write :func:`sparte_table` to ``out`` (.csv, or .gpkg with tables ``sparte``, ``sparte_zonage``).

    Surfaces and flux are rounded to 1 m² (10⁻⁴ ha), shares to 0.01 %.

    With zones, a CSV gets a second file ``<stem>_zonage.csv``. Options are
    :func:`sparte_table`'s keyword arguments.
    """
    import pyogrio

    from costa.io.atomic import atomic_path
    from costa.io.styles import add_styles
    from costa.io.writer import check_writable

    out = check_writable(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".gpkg"):
        raise OutputError(f"--out {out}: give a .csv or .gpkg path")
    table, zone_table = (None if df is None else df.round(_DECIMALS) for df in sparte_table(gpkg, **options))
    if suffix == ".gpkg":
        with atomic_path(out, ".gpkg") as tmp:
            pyogrio.write_dataframe(table, tmp, layer="sparte", driver="GPKG")
            if zone_table is not None:
                pyogrio.write_dataframe(zone_table, tmp, layer="sparte_zonage", driver="GPKG", append=True)
            add_styles(tmp)
        return [out]
    written = []
    for df, path in ((table, out), (zone_table, out.with_name(f"{out.stem}_zonage.csv"))):
        if df is not None:
            with atomic_path(path, ".csv") as tmp:
                df.to_csv(tmp, index=False)
            written.append(path)
    return written
