"""``costa vectorize``: land-cover polygons (a clean coverage) in a styled GeoPackage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costa.cli._common import app, out


@app.command("vectorize")
def vectorize_cmd(
    landcover: Annotated[Path, typer.Argument(help="Land-cover raster (class codes 1–16, 0 = no data).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output GeoPackage (.gpkg).")],
    communes: Annotated[
        Path | None, typer.Option(help="Commune boundaries: cut polygons there, add insee_com.")
    ] = None,
    min_area: Annotated[float, typer.Option(help="Minimum mapping unit (m²); 0 keeps every pixel.")] = 0.0,
    window: Annotated[int, typer.Option(help="Window side (px) read at a time; bounds memory.")] = 2048,
    tolerance: Annotated[
        float, typer.Option(help="Simplification tolerance (px); 0 keeps pixel steps.")
    ] = 1.0,
    communes_layer: Annotated[
        str | None, typer.Option(help="The communes' layer, in a file with several data layers.")
    ] = None,
) -> None:
    """Write class polygons (code, classe, surface_m2) as a valid coverage, styled for QGIS."""
    from costa.vector.polygons import vectorize

    rep = vectorize(
        landcover,
        out_path,
        communes=communes,
        min_area=min_area,
        window=window,
        tolerance=tolerance,
        communes_layer=communes_layer,
    )
    out.print(
        f"wrote {rep.path}: {rep.polygons:,} polygons ({rep.per_km2:,.0f} per km², "
        f"{rep.vertices:,} vertices) over {rep.area_km2:.3f} km² in {rep.windows} windows"
    )
