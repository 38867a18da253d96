"""ZAN for many communes (a metropolis, a département): one task per commune, resumable.

Each commune is measured on its own bounding box of the land-cover raster (its boundary and
its parcels), by windows, and written to ``<out>/communes/<insee>.gpkg`` (with its CSV and
Parquet tables) as :func:`costa.zan.compute` + :func:`costa.zan.write` would for that commune
alone; patches end at that box. The job manifest (:class:`costa.jobs.manifest.Manifest`,
SQLite, survives ``kill -9``) records each finished commune, so a rerun into the same folder
computes only the others. Then the per-commune tables are gathered into one summary,
``<out>/zan.gpkg`` (``parcelles`` and ``communes`` layers, CSV and Parquet beside it), which
``costa zan query`` and ``costa zan report`` read like any ZAN GeoPackage.

Communes run in this process, or in ``workers`` processes (each with GDAL's block cache
bounded by ``GDAL_CACHEMAX``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costa.errors import CostaError, OutputError, first_line
from costa.jobs.manifest import Manifest, sha256_file
from costa.tiling.tiles import Box
from costa.zan.compute import (
    ZanResult,
    check_sources,
    compute,
    read_communes,
    read_parcels,
    rules_named,
    scale_notes,
)
from costa.zan.io import write
from costa.zan.pool import GDAL_CACHEMAX_MB, process_pool
from costa.zan.rules import DEFAULT_RULES

__all__ = ["GDAL_CACHEMAX_MB", "BatchReport", "compute_by_commune"]


Echo = Callable[[str], None]


@dataclass(frozen=True)
class CommuneTask:
    """One commune to measure: its parcels, its boundary, the pixels of its bounding box."""

    key: str
    parcels: Any
    commune: Any | None
    area: Box
    options: dict[str, Any]
    out: Path


@dataclass(frozen=True)
class BatchReport:
    """What one invocation did."""

    summary: Path
    files: list[Path]
    computed: list[str]
    skipped: list[str]
    failed: dict[str, str]
    result: ZanResult


def _run_task(task: CommuneTask) -> tuple[str, str, float, float]:
    """Measure and write one commune; ``(key, sha256 of its parcel table, seconds, peak RSS MB)``."""
    from costa.jobs.worker import _peak_rss_mb

    t0 = time.perf_counter()
    res = compute(
        parcels=task.parcels,
        communes=task.commune,
        area=task.area,
        **task.options,
    )
    write(res, task.out / f"{task.key}.gpkg")
    sha = sha256_file(task.out / f"{task.key}_parcelles.parquet")
    return task.key, sha, time.perf_counter() - t0, _peak_rss_mb()


def _settings(**kw: Any) -> str:
    """The job's settings as stored in the manifest (paths made absolute; not the window)."""
    return json.dumps(
        {k: str(Path(v).resolve()) if isinstance(v, Path) else v for k, v in kw.items()},
        sort_keys=True,
    )


def compute_by_commune(
    landcover: str | Path,
    parcels: str | Path,
    communes: str | Path | None,
    out: str | Path,
    *,
    landcover_before: str | Path | None = None,
    rules: str = DEFAULT_RULES,
    year: int | None = None,
    year_before: int | None = None,
    window: int | None = None,
    workers: int = 1,
    say: Echo | None = None,
    parcels_layer: str | None = None,
    communes_layer: str | None = None,
) -> BatchReport:
    """Compute the ZAN tables commune by commune into the folder ``out`` (resumable).

    Arguments as :func:`costa.zan.compute`; ``workers`` processes measure communes in parallel.
    A rerun into ``out`` with the same inputs and rules skips the communes already written (the
    window may differ: it changes no figure).

    Examples:
        >>> import costa
        >>> terr = costa.demo.make_territory(tmp / "demo", dalles=(1, 2), dalle_px=384)
        >>> rep = compute_by_commune(terr.truth[2024], terr.parcels, terr.communes, tmp / "zan")
        >>> rep.computed, rep.summary.name, sorted(p.name for p in (tmp / "zan" / "communes").glob("*.gpkg"))
        (['99101', '99102'], 'zan.gpkg', ['99101.gpkg', '99102.gpkg'])
        >>> compute_by_commune(terr.truth[2024], terr.parcels, terr.communes, tmp / "zan").skipped
        ['99101', '99102']

    """
    from costa.io.atomic import remove_stale

    rs = rules_named(rules)
    say = say or (lambda _m: None)
    sources = [landcover] + ([landcover_before] if landcover_before else [])
    grid = check_sources(sources)
    gp = read_parcels(parcels, parcels_layer)
    gc = read_communes(communes, communes_layer) if communes is not None else None
    keys = list(gc["insee_com"].astype(str)) if gc is not None else sorted(gp["commune"].astype(str).unique())
    folder = Path(out)
    if folder.suffix.lower() == ".gpkg":
        raise OutputError(
            f"--out {folder}: with --by-commune, give a folder (it gets zan.gpkg and communes/)"
        )
    parts = folder / "communes"
    try:
        parts.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {parts}: {first_line(e)}") from None
    remove_stale(parts)
    settings = _settings(
        landcover=Path(landcover),
        landcover_before=landcover_before and Path(landcover_before),
        parcels=Path(parcels),
        communes=communes and Path(communes),
        rules=rules,
        year=year,
        year_before=year_before,
        # the layers only when named: runs begun before --layer existed resume
        **{k: v for k, v in (("parcels_layer", parcels_layer), ("communes_layer", communes_layer)) if v},
    )
    options = {
        "landcover": landcover,
        "landcover_before": landcover_before,
        "rules": rules,
        "year": year,
        "year_before": year_before,
        "window": window,
    }
    with Manifest(folder) as man:
        stored = man.meta("zan_settings")
        if stored is not None and stored != settings:
            raise OutputError(
                f"{folder} holds a ZAN run with other inputs or rules; use another --out folder or delete it"
            )
        man.set_meta("zan_settings", settings)
        run = man.start_run(keys)
        done = {
            r.name
            for r in man.rows()
            if r.status == "done" and (parts / f"{r.name}_parcelles.parquet").is_file()
        }
        todo = [k for k in keys if k not in done]
        skipped = [k for k in keys if k in done]
        if skipped:
            say(f"{len(skipped)} commune(s) already computed in {folder}, {len(todo)} to go")
        tasks = _tasks(todo, gp, gc, grid, options, parts)
        computed: list[str] = []
        failed: dict[str, str] = {}
        for key, outcome in _execute(tasks, workers):
            if isinstance(outcome, BaseException):
                msg = first_line(outcome) if isinstance(outcome, CostaError) else repr(outcome)
                man.failed(key, msg, final=True)
                failed[key] = msg
                say(f"commune {key} failed: {msg}")
                continue
            _, sha, seconds, rss = outcome
            man.done(key, run=run, sha256=sha, seconds=seconds, worker=f"pid {os.getpid()} rss {rss:.0f} MB")
            computed.append(key)
            say(f"commune {key}: {seconds:.1f} s, peak RSS {rss:.0f} MB")
    result = gather(parts, [k for k in keys if k not in failed], rs)
    files = write(result, folder / "zan.gpkg")
    return BatchReport(folder / "zan.gpkg", files, computed, skipped, failed, result)


def _tasks(
    keys: list[str], gp: Any, gc: Any | None, grid: Any, options: dict[str, Any], out: Path
) -> Iterator[CommuneTask]:
    """One task per commune: its parcels, its boundary, its bounding box on the raster grid."""
    by_commune = dict(tuple(gp.groupby(gp["commune"].astype(str), sort=False)))
    for key in keys:
        sub = by_commune.get(key, gp.iloc[:0])
        shapes = sub.to_crs(grid.crs).geometry
        commune = None
        if gc is not None:
            commune = gc[gc["insee_com"].astype(str) == key]
            shapes = list(shapes) + list(commune.to_crs(grid.crs).geometry)
        import shapely

        bounds = shapely.GeometryCollection(list(shapes)).bounds if len(shapes) else (0.0, 0.0, 0.0, 0.0)
        area = Box.from_bounds(bounds, grid.transform, grid.height, grid.width)
        yield CommuneTask(key, sub.reset_index(drop=True), commune, area, options, out)


def _execute(
    tasks: Iterator[CommuneTask], workers: int
) -> Iterator[tuple[str, tuple[str, str, float, float] | BaseException]]:
    """Run tasks here (``workers`` = 1) or in a process pool; outcomes as they finish."""
    if workers <= 1:
        for task in tasks:
            try:
                yield task.key, _run_task(task)
            except CostaError as e:
                yield task.key, e
        return
    with process_pool(workers) as pool:
        pending: dict[Future[tuple[str, str, float, float]], str] = {}
        for task in tasks:
            pending[pool.submit(_run_task, task)] = task.key
        for fut in as_completed(pending):
            try:
                yield pending[fut], fut.result()
            except Exception as e:
                yield pending[fut], e


def gather(parts: Path, keys: list[str], rules: Any) -> ZanResult:
    """The summary of per-commune outputs: all parcels and all communes, in ``keys`` order."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    parcelles = [pyogrio.read_dataframe(parts / f"{k}.gpkg", layer="parcelles") for k in keys]
    communes = [pd.read_parquet(parts / f"{k}_communes.parquet") for k in keys]
    if not parcelles:
        raise OutputError(f"no commune could be computed into {parts}")
    p = gpd.GeoDataFrame(pd.concat(parcelles, ignore_index=True), crs=parcelles[0].crs)
    p.attrs["invalid_geometries_repaired"] = 0
    shapes = [g for k, t in zip(keys, communes, strict=True) for g in _shapes(parts / f"{k}.gpkg", len(t))]
    c = gpd.GeoDataFrame(pd.concat(communes, ignore_index=True), geometry=shapes, crs=p.crs)
    return ZanResult(p, c, rules, scale_notes(c, rules))


def _shapes(gpkg: Path, n: int) -> list[Any]:
    """The shapes of a commune's ``communes`` layer (None each if written without: an older run)."""
    import pyogrio

    if pyogrio.read_info(gpkg, layer="communes").get("geometry_type") is None:
        return [None] * n
    return list(pyogrio.read_dataframe(gpkg, layer="communes", columns=[]).geometry)
