"""A job's figures: :class:`RunReport`, written to ``run.json`` at the end of every run.

The quality indicators of docs/index.md's run report: chunks by outcome, throughput in
Mpx/s and km²/h, the overlap factor (pixels through the model per output pixel), peak
memory per worker and energy (Wh/km²) where a counter is readable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import platform
from dataclasses import dataclass
from typing import Any

from costa.__about__ import __version__
from costa.jobs.energy import EnergyReading
from costa.jobs.executors import RunStats
from costa.jobs.manifest import Row
from costa.jobs.plan import Plan
from costa.jobs.spec import Job

__all__ = ["ChunkCounts", "RunReport", "make_report"]


@dataclass(frozen=True)
class ChunkCounts:
    """Chunks by outcome over the whole job (this run and the ones before)."""

    total: int
    done: int
    computed: int
    skipped: int
    failed: int
    retried: int
    degraded: int


@dataclass(frozen=True)
class RunReport:
    """The run's figures, as written to ``run.json``."""

    costa_version: str
    finished: str
    run: int
    machine: str
    model: str
    model_name: str
    model_sha256: str
    provider: str
    workers: int
    scheduler: str
    dashboard: str | None
    sources: dict[str, dict[str, Any]]
    bands: str
    tile: int
    halo: int
    chunks: ChunkCounts
    failures: list[dict[str, str]]
    mpx: float
    model_mpx: float
    overlap: float
    km2: float
    wall_s: float
    mpx_per_s: float
    km2_per_h: float
    peak_rss_mb_per_worker: dict[str, float]
    energy: dict[str, Any]

    @property
    def failed(self) -> int:
        """Chunks that failed for good."""
        return self.chunks.failed

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of ``run.json``."""
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One paragraph for the end of the run."""
        c, energy = self.chunks, self.energy
        e = (
            f"{energy['wh']} Wh ({energy['wh_per_km2']} Wh/km², {'+'.join(energy['measured_by'])})"
            if energy["joules"] is not None
            else f"energy not measured: {energy['reason']}"
        )
        return (
            f"{c.done} chunk(s) done ({c.computed} computed, "
            f"{c.skipped} already done and verified), "
            f"{c.failed} failed, {c.degraded} with a neighbour unreadable (a rerun redoes them), "
            f"of {c.total}; {self.mpx:.1f} Mpx = {self.km2:.3f} km² in "
            f"{self.wall_s:.1f} s: {self.mpx_per_s:.2f} Mpx/s, {self.km2_per_h:.2f} km²/h "
            f"(overlap {self.overlap:.2f}); provider {self.provider}, {self.workers} worker(s); {e}"
        )


def make_report(
    *,
    job: Job,
    plan: Plan,
    run: int,
    stats: RunStats,
    rows: list[Row],
    skipped: int,
    energy: EnergyReading,
    wall: float,
) -> RunReport:
    """Gather the run's figures from the plan, the executors' stats and the manifest."""
    main, boxes = plan.main, dict(plan.cells)
    done = [r for r in rows if r.status == "done"]
    px = sum(boxes[r.name].height * boxes[r.name].width for r in done)
    km2 = px * main.res[0] * main.res[1] / 1e6
    return RunReport(
        costa_version=__version__,
        finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        run=run,
        machine=platform.platform(),
        model=str(job.model),  # absolute, or a URL (run_job)
        model_name=plan.model.card.name,
        model_sha256=plan.model.sha256,
        provider=",".join(sorted(stats.providers)) or "none",
        workers=stats.workers,
        scheduler=job.scheduler
        or (job.cluster.kind if job.cluster else None)
        or ("local-cluster" if job.workers else "in-process"),
        dashboard=stats.dashboard,
        sources={k: {"spec": v, "dalles": len(plan.products[k].dalles)} for k, v in job.sources.items()},
        bands=plan.bands,
        tile=plan.geometry.tile,
        halo=plan.geometry.halo,
        chunks=ChunkCounts(
            total=len(rows),
            done=len(done),
            computed=stats.computed,
            skipped=skipped,
            failed=sum(r.status == "failed" for r in rows),
            retried=stats.retried,
            degraded=sum(r.status == "done" and bool(r.error) for r in rows),
        ),
        failures=[{"chunk": r.name, "error": r.error or ""} for r in rows if r.status == "failed"],
        mpx=px / 1e6,
        model_mpx=stats.model_px / 1e6,
        overlap=round(stats.model_px / stats.computed_px, 3) if stats.computed_px else 0.0,
        km2=round(km2, 6),
        wall_s=round(wall, 2),
        mpx_per_s=round(px / 1e6 / wall, 3),
        km2_per_h=round(km2 / wall * 3600, 3),
        peak_rss_mb_per_worker={k: round(v, 1) for k, v in sorted(stats.rss_mb.items())},
        energy=energy.as_dict(km2),
    )
