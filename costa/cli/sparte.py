"""``costa zan export``: ZAN figures in sparte's column names and units (CSV or GeoPackage)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costa.cli._common import out
from costa.cli.zan import zan_app


@zan_app.command("export")
def zan_export(
    gpkg: Annotated[Path, typer.Argument(help="GeoPackage from costa zan compute.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output table (.csv or .gpkg).")],
    groups: Annotated[
        Path | None, typer.Option(help="CSV commune → group (insee_com, groupe[, nom_groupe]): EPCI, SCoT.")
    ] = None,
    zones: Annotated[
        Path | None, typer.Option(help="Planning zones (GeoPackage, typezone U/AU/A/N).")
    ] = None,
    landcover: Annotated[Path | None, typer.Option(help="Newer raster, for the impermeable flux.")] = None,
    landcover_before: Annotated[Path | None, typer.Option(help="Older raster, same grid.")] = None,
    communes: Annotated[
        Path | None, typer.Option(help="Commune boundaries for the impermeable flux (default: parcels).")
    ] = None,
    communes_layer: Annotated[
        str | None, typer.Option(help="The communes' layer, in a file with several data layers.")
    ] = None,
    zones_layer: Annotated[
        str | None, typer.Option(help="The zones' layer, in a file with several data layers.")
    ] = None,
) -> None:
    """Export surface_artif, pourcent_artif, flux_artif… and *_imper per commune, group and zone."""
    from costa.zan.sparte import export

    files = export(
        gpkg,
        out_path,
        groups=groups,
        zones=zones,
        landcover=landcover,
        landcover_before=landcover_before,
        communes=communes,
        communes_layer=communes_layer,
        zones_layer=zones_layer,
    )
    out.print(f"wrote {', '.join(str(f) for f in files)} (surfaces and flux in ha, shares in %)")
