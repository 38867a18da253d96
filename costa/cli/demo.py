"""``costa demo`` and ``costa serve``: the whole chain on the synthetic territory; its report over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costa.cli._common import (
    ProviderOpt,
    QuietOpt,
    _progress,
    app,
    err,
    out,
    warner,
)
from costa.errors import OptionError


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/demo"),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic territory.")] = 0,
    dalle_px: Annotated[int, typer.Option(help="Side of each of the 2 × 2 dalles, in 20 cm pixels.")] = 1500,
    provider: ProviderOpt = "auto",
    quiet: QuietOpt = False,
) -> None:
    """Run the whole chain on the embedded synthetic territory (two vintages)."""
    from costa.demo.run import run_demo
    from costa.nomenclature import by_code

    if not 256 <= dalle_px <= 10_000:
        raise OptionError(f"--dalle-px {dalle_px}: choose between 256 and 10000")
    warner(quiet)  # with --quiet, library warnings are silenced too
    with _progress(not quiet and err.is_terminal) as bar:
        task = bar.add_task("demo", total=None)
        s = run_demo(
            out_dir,
            seed=seed,
            dalle_px=dalle_px,
            provider=provider,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if quiet:
        return
    out.print(
        f"[bold]costa demo[/] — synthetic territory seed {s['seed']}, {s['area_km2']} km², "
        f"provider {s['provider']}, {s['total_seconds']} s"
    )
    for v in s["vintages"]:
        worst = min(v["iou"].items(), key=lambda kv: kv[1])
        out.print(
            f"  {v['year']}: {v['landcover']}  {v['mpx_per_s']} Mpx/s  mIoU {v['miou']:.3f} vs truth "
            f"(lowest: {by_code(int(worst[0])).fr} {worst[1]:.3f})"
        )
    for z in s["zan_vs_truth"]:
        out.print(
            f"  ZAN {z['insee_com']}: {z['artif_ha']:.2f} ha artificialised "
            f"(truth {z['artif_ha_truth']:.2f}), +{z['flux_artif_ha']:.2f} ha since "
            f"{s['vintages'][0]['year']} (truth +{z['flux_artif_ha_truth']:.2f})"
        )
    out.print(
        f"  run report: {out_dir / 'run.json'}   ZAN GeoPackage: {s['zan']}   query: costa zan query "
        f"{s['zan']} --commune 99101"
    )
    out.print(
        f"  class polygons: {s['polygons']['path']} ({s['polygons']['n']} polygons)   "
        f"sparte-style figures: {', '.join(s['sparte'])}"
    )
    out.print("  open the landcover_*.tif and the GeoPackages in QGIS: colours and styles are embedded")
    out.print(f"  report: {s['report']}  (or browse it with: costa serve {out_dir})")


@app.command()
def serve(
    folder: Annotated[
        Path, typer.Argument(help="Report folder from costa zan report (or a costa demo output folder).")
    ],
    host: Annotated[str, typer.Option(help="Address to bind (localhost only by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve a report folder and a read-only JSON API (/communes, /communes/INSEE, /parcels/ID)."""
    from costa.report.serve import serve as run

    run(folder, host=host, port=port, announce=lambda url: err.print(f"costa serve: {url} (Ctrl-C to stop)"))
