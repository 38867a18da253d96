"""``costa demo``: the whole chain on the embedded synthetic territory.

Generates (or reuses) the territory, predicts both vintages with the bundled model,
evaluates each against its truth and writes ``run.json``.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from costa.__about__ import __version__
from costa.demo.territory import make_territory
from costa.evaluation import evaluate
from costa.inference.engine import Progress, predict
from costa.inference.options import PredictOptions
from costa.inference.runtime import open_model
from costa.io.atomic import write_atomic
from costa.models.zoo import demo_model_path

__all__ = ["run_demo"]


def run_demo(
    out: str | Path = "out/demo",
    seed: int = 0,
    dalles: tuple[int, int] = (2, 2),
    dalle_px: int = 1500,
    provider: str = "auto",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the demo into ``out``; returns the run summary also written to ``run.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    terr = make_territory(out, seed=seed, dalles=dalles, dalle_px=dalle_px)  # cached per seed
    t_gen = time.perf_counter() - t0
    model = open_model(demo_model_path(), provider)  # type: ignore[arg-type]
    vintages = []
    for year in terr.years:
        target = out / f"landcover_{year}.tif"
        # the card's tile, not one planned for the memory budget: the demo's figures stay the published ones
        card_tile = PredictOptions(tile=model.card.tile_size)
        rep = predict(terr.ortho[year], model, target, card_tile, progress=progress)
        m = evaluate(target, terr.truth[year])
        vintages.append(
            {
                "year": year,
                "ortho": str(terr.ortho[year]),
                "landcover": str(target),
                "truth": str(terr.truth[year]),
                "mpx_per_s": round(rep.mpx_per_s, 2),
                "seconds": round(rep.seconds, 2),
                "overlap": round(rep.overlap, 3),
                "miou": round(m.miou, 4),
                "overall_accuracy": round(m.overall_accuracy, 4),
                "iou": {str(k): round(v, 4) for k, v in m.iou.items()},
            }
        )
    from costa.zan.compute import compute
    from costa.zan.io import write

    y_old, y_new = terr.years
    zan = compute(
        out / f"landcover_{y_new}.tif",
        terr.parcels,
        terr.communes,
        landcover_before=out / f"landcover_{y_old}.tif",
        year=y_new,
        year_before=y_old,
    )
    write(zan, out / "zan.gpkg")
    planners = _planners_outputs(out, terr.communes, y_old=y_old, y_new=y_new)
    truth = compute(terr.truth[y_new], terr.parcels, terr.communes, landcover_before=terr.truth[y_old])
    zan_vs_truth = [
        {
            "insee_com": p.insee_com,
            "artif_ha": round(p.artif_ha, 4),
            "artif_ha_truth": round(t.artif_ha, 4),
            "flux_artif_ha": round(p.flux_artif_ha, 4),
            "flux_artif_ha_truth": round(t.flux_artif_ha, 4),
        }
        for p, t in zip(zan.communes.itertuples(), truth.communes.itertuples(), strict=True)
    ]
    h, w = terr.size_px
    summary = {
        "costa_version": __version__,
        "model": str(model.path),
        "model_sha256": model.sha256,
        "provider": model.provider,
        "machine": platform.platform(),
        "seed": seed,
        "area_km2": round(h * w * 0.04 / 1e6, 4),
        "generate_seconds": round(t_gen, 2),
        "total_seconds": round(time.perf_counter() - t0, 2),
        "parcels": str(terr.parcels),
        "communes": str(terr.communes),
        "vintages": vintages,
        "zan": str(out / "zan.gpkg"),
        "zan_vs_truth": zan_vs_truth,
        **planners,
    }
    from costa.report import build_report

    summary["report"] = str(
        build_report(
            out / "zan.gpkg",
            out / f"landcover_{y_new}.tif",
            out / "report",
            out / f"landcover_{y_old}.tif",
            ortho=terr.ortho[y_new],
            ortho_before=terr.ortho[y_old],
        )
    )
    write_atomic(out / "run.json", json.dumps(summary, indent=1, ensure_ascii=False))
    return summary


def _planners_outputs(out: Path, communes: Path, *, y_old: int, y_new: int) -> dict[str, Any]:
    """Class polygons of the newest map and the sparte-style export, as planners open them."""
    from costa.vector.polygons import vectorize
    from costa.zan.sparte import export

    poly = vectorize(out / f"landcover_{y_new}.tif", out / f"occupation_sol_{y_new}.gpkg", communes=communes)
    sparte = export(
        out / "zan.gpkg",
        out / "zan_sparte.csv",
        landcover=out / f"landcover_{y_new}.tif",
        landcover_before=out / f"landcover_{y_old}.tif",
        communes=communes,
    )
    return {
        "polygons": {"path": str(poly.path), "n": poly.polygons, "per_km2": round(poly.per_km2)},
        "sparte": [str(p) for p in sparte],
    }
