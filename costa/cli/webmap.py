"""``costa map``: a land-cover COG as a full-resolution PMTiles web map."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costa.cli._common import app, out
from costa.errors import OptionError


@app.command("map")
def web_map(
    landcover: Annotated[Path, typer.Argument(help="Land-cover raster (costa's COG).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output archive (.pmtiles).")],
    min_zoom: Annotated[int | None, typer.Option(help="Coarsest zoom (default: about one tile).")] = None,
    max_zoom: Annotated[int | None, typer.Option(help="Deepest zoom (default: the raster's pixel).")] = None,
    workers: Annotated[int | None, typer.Option(help="Threads (default: CPU count, at most 8).")] = None,
) -> None:
    """Write a PMTiles archive of the map in Web Mercator, down to the raster's own pixels."""
    from costa.report.tiles import write_pmtiles

    if out_path.suffix != ".pmtiles":
        raise OptionError(f"--out {out_path}: give a .pmtiles file name")
    a = write_pmtiles(landcover, out_path, min_zoom=min_zoom, max_zoom=max_zoom, workers=workers)
    out.print(f"wrote {a.path} (zooms {a.min_zoom}–{a.max_zoom}, {a.tiles} tiles, {a.bytes / 1e6:.1f} MB)")
