"""``costa zan ...``: ZAN figures per parcel and commune, queries and the HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costa.cli._common import (
    _warn,
    app,
    err,
    out,
)
from costa.errors import OptionError
from costa.zan.schema import DEFAULT_RULES, DEFAULT_WINDOW

zan_app = typer.Typer(no_args_is_help=True, help="ZAN figures per parcel and commune.")
app.add_typer(zan_app, name="zan")


@zan_app.command("compute")
def zan_compute(
    landcover: Annotated[Path, typer.Option(help="Land-cover raster (newest vintage).")],
    parcels: Annotated[Path, typer.Option(help="Parcels (Etalab cadastre GeoJSON, GeoPackage...).")],
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Output GeoPackage (.gpkg); a folder with --by-commune.")
    ],
    communes: Annotated[Path | None, typer.Option(help="Commune boundaries (INSEE_COM, NOM).")] = None,
    layer: Annotated[
        str | None, typer.Option(help="The parcels' layer, in a file with several data layers.")
    ] = None,
    communes_layer: Annotated[
        str | None, typer.Option(help="The communes' layer, in a file with several data layers.")
    ] = None,
    landcover_before: Annotated[Path | None, typer.Option(help="Older vintage, same grid.")] = None,
    rules: Annotated[
        str,
        typer.Option(
            help="cosia-2023-v2 (default: thresholds on the patch graph, exact by windows), cosia-2023 "
            "(version 1: thresholds by GDAL's sieve over the area, file to file) or cosia-2023-pixel."
        ),
    ] = DEFAULT_RULES,
    year: Annotated[int | None, typer.Option(help="Vintage year (default: the raster's YEAR tag).")] = None,
    year_before: Annotated[int | None, typer.Option(help="Older vintage year.")] = None,
    window: Annotated[
        int,
        typer.Option(
            help="Window side (px), rounded to the raster's blocks; memory ≈ 40 B × window² per process "
            "(2048: ≈ 0.17 GB). Figures do not depend on it."
        ),
    ] = DEFAULT_WINDOW,
    by_commune: Annotated[
        bool,
        typer.Option(
            "--by-commune",
            help="One task per commune into the folder --out (communes/<insee>.gpkg + zan.gpkg summary); "
            "a rerun resumes.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            help="Processes: measuring communes (with --by-commune), or the windows of the area. "
            "Figures do not depend on it."
        ),
    ] = 1,
) -> None:
    """Compute artificialised area and parcels per commune (GeoPackage, CSV, Parquet)."""
    from costa.errors import SourceReadError
    from costa.zan.compute import compute
    from costa.zan.io import write

    for p in (landcover, landcover_before):
        if p is not None and not p.exists():
            raise SourceReadError(f"land-cover raster not found: {p}")
    if not 16 <= window <= 65536:
        raise OptionError(f"--window {window}: choose between 16 and 65536 px (default {DEFAULT_WINDOW})")
    if workers < 1:
        raise OptionError(f"--workers {workers}: give at least 1")
    if by_commune:
        from costa.zan.batch import compute_by_commune

        rep = compute_by_commune(
            landcover,
            parcels,
            communes,
            out_path,
            landcover_before=landcover_before,
            rules=rules,
            year=year,
            year_before=year_before,
            window=window,
            workers=workers,
            say=lambda m: err.print(m, highlight=False, soft_wrap=True),
            parcels_layer=layer,
            communes_layer=communes_layer,
        )
        out.print(
            f"wrote {rep.summary} and {len(rep.computed)} commune(s) in {out_path / 'communes'} "
            f"({len(rep.skipped)} already done, {len(rep.failed)} failed; rules {rep.result.rules.name} "
            f"v{rep.result.rules.version})"
        )
        for note in rep.result.notes:
            _warn(note)
        if rep.failed:
            raise typer.Exit(1)
        return
    res = compute(
        landcover,
        parcels,
        communes,
        landcover_before=landcover_before,
        rules=rules,
        year=year,
        year_before=year_before,
        window=window,
        workers=workers,
        parcels_layer=layer,
        communes_layer=communes_layer,
    )
    files = write(res, out_path)
    out.print(
        f"wrote {', '.join(str(f) for f in files)} (rules {res.rules.name} v{res.rules.version}, "
        f"{len(res.parcelles)} parcels, {res.parcelles.attrs['invalid_geometries_repaired']} invalid "
        f"geometries repaired, {int(res.parcelles.sans_pixel.sum())} without any pixel)"
    )
    for note in res.notes:
        _warn(note)


@zan_app.command("query")
def zan_query(
    gpkg: Annotated[Path, typer.Argument(help="GeoPackage from costa zan compute.")],
    commune: Annotated[str, typer.Option(help="INSEE code or name.")],
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Show a commune's ZAN figures (French labels)."""
    from rich.table import Table

    from costa.zan.lookup import find_communes, to_csv, to_json
    from costa.zan.schema import FIELDS, cli_label

    if fmt not in ("table", "json", "csv"):
        raise OptionError(f"--format {fmt!r}: choose table, json or csv")
    found = find_communes(gpkg, commune)  # sqlite3 only: no pandas or GDAL to import
    if fmt == "json":
        out.print_json(to_json(found))
        return
    if fmt == "csv":
        print(to_csv(found), end="")
        return
    for row in found.records:
        t = Table("indicateur", "valeur", title=f"{row['nom']} ({row['insee_com']}) — {row['annee']}")
        for k in FIELDS:
            if k in row and row[k] == row[k]:  # skip NaN
                v = row[k]
                t.add_row(cli_label(k), f"{v:,.2f}".replace(",", " ") if isinstance(v, float) else str(v))
        out.print(t)


@zan_app.command("report")
def zan_report(
    gpkg: Annotated[Path, typer.Argument(help="GeoPackage from costa zan compute.")],
    landcover: Annotated[Path, typer.Option(help="Land-cover raster the GeoPackage was computed on.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")],
    landcover_before: Annotated[Path | None, typer.Option(help="Older vintage, same grid.")] = None,
    max_px: Annotated[int, typer.Option(help="Longest side of the map overlay (px).")] = 1500,
    tiles: Annotated[
        bool, typer.Option(help="Add the full-resolution PMTiles map of each raster (shown when served).")
    ] = True,
    downloads: Annotated[
        bool,
        typer.Option(
            help="Add each commune's downloads: land cover (COG), class polygons, parcels, figures."
        ),
    ] = True,
    ortho: Annotated[
        Path | None, typer.Option(help="Orthophoto mosaic of --landcover, shown under the map when served.")
    ] = None,
    ortho_before: Annotated[
        Path | None, typer.Option(help="Orthophoto mosaic of --landcover-before (a swipe compares the two).")
    ] = None,
) -> None:
    """Write an offline HTML report: one page per commune (map, legend, chart, figures) and an index."""
    from costa.report import build_report

    if not 64 <= max_px <= 4096:
        raise OptionError(f"--max-px {max_px}: choose between 64 and 4096")
    index = build_report(
        gpkg,
        landcover,
        out_dir,
        landcover_before=landcover_before,
        max_px=max_px,
        tiles=tiles,
        downloads=downloads,
        ortho=ortho,
        ortho_before=ortho_before,
    )
    out.print(f"wrote {index} (open it in a browser, or: costa serve {out_dir})")
