"""A job's plan, settled before anything is written: sources scanned, chunks cut, fingerprint.

Everything that can be wrong with a job (options, sources, model, band recipe) raises a
:class:`~costa.errors.CostaError` here, before the output folder is touched.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from costa.errors import OptionError, SourceError
from costa.inference.options import Resolved, settle
from costa.inference.runtime import Model, open_model
from costa.io.mosaic import MAIN, BandRecipe, Mosaic, MosaicSource, find_dalles, scan
from costa.jobs.energy import gpu_count
from costa.jobs.spec import Job
from costa.tiling.chunks import Chunk, plan_box_chunks
from costa.tiling.national import find_grid, grid_cells, square_cells
from costa.tiling.tiles import Box

__all__ = ["Plan", "plan_job", "settle_workers"]


@dataclass(frozen=True)
class Plan:
    """What a job will do."""

    model: Model
    products: dict[str, Mosaic]
    recipe: BandRecipe
    source: MosaicSource
    geometry: Resolved
    cells: list[tuple[str, Box]]
    chunks: list[Chunk]
    broken: dict[str, str]
    fingerprint: str

    @property
    def main(self) -> Mosaic:
        """The product that sets the output grid."""
        return self.products[MAIN]

    @property
    def bands(self) -> str:
        """The band recipe as text, e.g. ``main:1,main:2,main:3,irc:1``."""
        return ",".join(f"{p}:{b}" for p, b in self.recipe.inputs)


def plan_job(job: Job, warn: Callable[[str], None]) -> Plan:
    """Check the options, scan the sources, cut chunks; raises CostaError before any output."""
    if job.retries < 0:
        raise OptionError(f"--retries {job.retries} must be 0 or more")
    if job.workers is not None and job.workers < 1:
        raise OptionError(f"--workers {job.workers} must be at least 1")
    if MAIN not in job.sources:
        raise SourceError(f"a job needs a '{MAIN}' source; got {', '.join(job.sources)}")
    model = open_model(job.model, "cpu", 1)  # metadata and checks only; workers open their own
    products = {
        name: scan([p for s in ((spec,) if isinstance(spec, str) else spec) for p in find_dalles(s)], name)
        for name, spec in job.sources.items()
    }
    main = products[MAIN]
    cells = _cells(job, main)
    # tiles planned for one cell (what a worker predicts at once) within the worker's budget
    cell = max((b for _, b in cells), key=lambda b: b.height * b.width, default=None)
    provider = "cpu" if job.options.provider == "auto" and not gpu_count() else job.options.provider
    geometry = settle(
        job.options,
        model.card,
        provider,
        None if cell is None else (cell.height, cell.width),
        dalle=True,
        footprint=model.footprint,
    )
    recipe = _recipe(job.bands, model, main)
    source = MosaicSource(products, recipe, model.card, force=job.options.force, warn=warn)
    chunks = plan_box_chunks(
        main.height,
        main.width,
        tile=geometry.tile,
        halo=geometry.halo,
        stride=model.card.stride,
        boxes=[b for _, b in cells],
    )
    return Plan(
        model=model,
        products=products,
        recipe=recipe,
        source=source,
        geometry=geometry,
        cells=cells,
        chunks=chunks,
        broken={p.stem: e for m in products.values() for p, e in m.broken},  # they fail alone, by name
        fingerprint=_fingerprint(
            job, model=model, products=products, recipe=recipe, geometry=geometry, cells=cells
        ),
    )


def settle_workers(job: Job) -> Job:
    """One worker per GPU by default; CPU threads split so local workers do not oversubscribe cores."""
    workers = job.workers
    local = job.scheduler is None and job.cluster is None
    if workers is None and local and job.options.provider != "cpu" and gpu_count() > 1:
        workers = gpu_count()
    threads = job.options.threads
    if threads is None and job.cluster is not None:
        threads = job.cluster.cores  # each Slurm worker's own cores
    elif threads is None and workers and job.scheduler is None:
        threads = max(1, (os.cpu_count() or 1) // workers)
    return dataclasses.replace(
        job, workers=workers, options=dataclasses.replace(job.options, threads=threads)
    )


def _fingerprint(
    job: Job,
    *,
    model: Model,
    products: dict[str, Mosaic],
    recipe: BandRecipe,
    geometry: Resolved,
    cells: list[tuple[str, Box]],
) -> str:
    """What makes two runs the same job (a rerun into the same folder must match it)."""
    return json.dumps(
        {
            "model_sha256": model.sha256,
            "sources": {  # broken files included: fixing one and rerunning is the same job
                k: sorted(str(p.resolve()) for p in [*(d.path for d in m.dalles), *(b for b, _ in m.broken)])
                for k, m in products.items()
            },
            "recipe": recipe.inputs,
            "tile": geometry.tile,
            "halo": geometry.halo,
            "confidence": job.options.confidence,
            "chunks": sorted({name for name, _ in cells} | {p.stem for p, _ in products[MAIN].broken}),
        },
        sort_keys=True,
    )


def _recipe(bands: str | None, model: Model, main: Mosaic) -> BandRecipe:
    n = model.card.n_bands
    if bands is not None:
        return BandRecipe.parse(bands)
    have = min(d.count for d in main.dalles)
    if have < n:
        raise SourceError(
            f"{main.dalles[0].path} has {have} band(s) but model '{model.card.name}' takes {n} "
            f"({','.join(model.card.bands)}); add the other product and a band recipe, "
            "e.g. --product irc=DIR --bands 1,2,3,irc:1"
        )
    return BandRecipe(tuple((MAIN, b) for b in range(1, n + 1)))


def _cells(job: Job, main: Mosaic) -> list[tuple[str, Box]]:
    """Chunk names and boxes: the dalles, or a grid over one raster."""
    if len(main.dalles) + len(main.broken) > 1:
        cells = [(d.name, d.box) for d in main.dalles]
        counts = Counter([n for n, _ in cells] + [p.stem for p, _ in main.broken])
        dup = next((n for n, k in counts.items() if k > 1), None)
        if dup:
            raise SourceError(f"two dalles are named {dup}: outputs are named after dalles, rename one")
        return cells
    grid = find_grid(job.grid, main.crs)
    if grid is not None:
        return grid_cells(grid, main.transform, main.height, main.width)
    return square_cells(main.height, main.width, job.options.chunk)
