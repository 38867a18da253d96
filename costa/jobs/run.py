"""Jobs over many dalles: plan chunks, run them here or on Dask, resume, report.

A job reads one or more products (RVB, IRC...) as mosaics, cuts the work into chunks (one
per dalle, or per national grid cell for one large raster), predicts each chunk with its
halo read from the neighbours, and writes one COG per chunk, a ``landcover.vrt`` mosaic,
a manifest (:mod:`costa.jobs.manifest`) and ``run.json``.

The outputs may go to an ``s3://`` prefix instead of a folder: each worker writes its COG (and
side-cars) on its own disk and uploads them whole, the COG last; the mosaic and ``run.json``
follow. The manifest then lives in the local ``state`` folder and records each COG's ETag,
which a rerun compares with the store's listing.

Rerunning the same job into the same folder skips chunks whose output is there with the
checksum the manifest recorded and recomputes the rest; a chunk that fails is retried, then
marked failed with its error while the others go on.

Chunks run (:mod:`costa.jobs.executors`, each by :func:`costa.jobs.worker.run_chunk`) in this process
(``workers=None``), on a :class:`dask.distributed.LocalCluster` of ``workers`` processes (one
ONNX Runtime session each, threads split so they do not oversubscribe the cores, one worker
per GPU), or on an existing scheduler.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from costa.errors import OutputError
from costa.inference.engine import provenance
from costa.io.atomic import remove_stale, write_atomic
from costa.io.remote import etags, is_remote, put_file
from costa.io.writer import check_writable, write_vrt
from costa.jobs.energy import EnergyMeter, EnergyReading, gpu_count
from costa.jobs.executors import Echo, drive, open_executor
from costa.jobs.manifest import Manifest, Row, sha256_file
from costa.jobs.plan import Plan, plan_job, settle_workers
from costa.jobs.report import RunReport, make_report
from costa.jobs.spec import Job, JobProgress
from costa.jobs.worker import ChunkTask
from costa.nomenclature import colormap
from costa.tiling.chunks import Chunk

__all__ = ["run_job", "status"]


def run_job(
    job: Job,
    *,
    progress: JobProgress | None = None,
    echo: Echo | None = None,
    warn: Echo | None = None,
) -> RunReport:
    """Run (or resume) a job; returns its report, also written to ``out/run.json``.

    Raises CostaError for a job that cannot start (bad sources, model, options, busy folder).
    Chunks that fail do not raise: they are counted in the report (``report.failed``).

    Example:
        >>> import costa
        >>> terr = costa.demo.make_territory(tmp / "demo", dalles=(1, 2), dalle_px=384)
        >>> job = costa.Job({"main": str(terr.root / "dalles_2024")}, costa.demo_model_path(),
        ...                 tmp / "job", options=costa.PredictOptions(tile=256, halo=64))
        >>> report = costa.run_job(job)
        >>> report.chunks.done, sorted(p.name for p in (tmp / "job").glob("*.vrt"))
        (2, ['landcover.vrt'])
        >>> costa.run_job(job).chunks.skipped  # rerun: verified, not recomputed
        2

    """
    say, warn_ = echo or (lambda s: None), warn or (lambda s: None)
    t0 = time.perf_counter()
    # absolute paths: the tasks run in worker processes that may have another working directory
    job = settle_workers(
        dataclasses.replace(
            job,
            model=_absolute(job.model),
            out=_absolute(job.out),
            state=None if job.state is None else job.state.absolute(),
        )
    )
    plan = plan_job(job, warn_)
    out = job.folder
    for folder in {out, *([] if job.remote else [Path(job.out)])}:
        folder.mkdir(parents=True, exist_ok=True)
    check_writable(out / "run.json")
    with _lock(out), Manifest(out) as man:
        previous = man.meta("fingerprint")
        if previous is not None and previous != plan.fingerprint:
            raise OutputError(
                f"{out} holds a job with other sources, model or settings; "
                "give a new --out folder (or delete this one to start over)"
            )
        man.set_meta("fingerprint", plan.fingerprint)
        for folder in {out, *([] if job.remote else [Path(job.out)])}:
            remove_stale(folder)
        names = [name for name, _ in plan.cells]
        all_names = names + sorted(set(plan.broken) - set(names))
        run = man.start_run(all_names)
        done_before = _verified(man, job, warn_)
        for name in sorted(set(plan.broken) - done_before):
            man.started(name)
            man.failed(name, plan.broken[name], final=True)
        tasks = [
            _task(job, plan, name, chunk)
            for name, chunk in zip(names, plan.chunks, strict=True)
            if name not in done_before and name not in plan.broken
        ]
        meter = EnergyMeter()
        meter.start()
        gpus = gpu_count() if plan.model.provider != "cpu" else 0
        with open_executor(job, say, gpus=gpus, chunks=len(tasks)) as ex:
            stats = drive(
                ex,
                tasks,
                man=man,
                run=run,
                retries=job.retries,
                total=len(all_names),
                finished=len(all_names) - len(tasks),
                progress=progress,
                warn=warn_,
            )
        energy = (
            meter.stop()
            if job.scheduler is None
            else EnergyReading(None, (), "workers run on a remote cluster; measure energy there")
        )
        rows = man.rows()
    _write_mosaic(job, plan, rows)
    report = make_report(
        job=job,
        plan=plan,
        run=run,
        stats=stats,
        rows=rows,
        skipped=len(done_before),
        energy=energy,
        wall=time.perf_counter() - t0,
    )
    write_atomic(out / "run.json", json.dumps(report.as_dict(), indent=1, ensure_ascii=False))
    if job.remote:
        put_file(out / "run.json", f"{job.remote}/run.json")
    return report


def _absolute(path: Path | str) -> Path | str:
    """A local path made absolute; a URL as it is."""
    return path if is_remote(str(path)) else Path(path).absolute()


def _task(job: Job, plan: Plan, name: str, chunk: Chunk) -> ChunkTask:
    """A chunk's task: only the dalles its reads meet, and the provenance of its own dalles."""
    own = [d.path for m in plan.source.subset(chunk.core).values() for d in m.dalles]
    return ChunkTask(
        name=name,
        chunk=chunk,
        out=Path(f"{name}.tif") if job.remote else Path(job.out) / f"{name}.tif",
        upload=job.remote,
        products=plan.source.subset(chunk.read),
        recipe=plan.recipe,
        model=job.model,
        options=job.options,
        tags=provenance(plan.model, own, bands=plan.bands, tile=plan.geometry.tile, halo=plan.geometry.halo),
    )


def _write_mosaic(job: Job, plan: Plan, rows: list[Row]) -> None:
    """``landcover.vrt`` over the finished chunks (built aside and uploaded, for outputs on a store)."""
    done = [r.name for r in rows if r.status == "done"]
    if not done:
        return
    if not job.remote:
        _vrt(Path(job.out), done, plan, job)
        return
    with tempfile.TemporaryDirectory(prefix="costa-vrt-") as scratch:
        put_file(_vrt(Path(scratch), done, plan, job), f"{job.remote}/landcover.vrt")


def _vrt(folder: Path, done: list[str], plan: Plan, job: Job) -> Path:
    """``folder/landcover.vrt`` over the COGs ``done`` (referred to by name, beside it)."""
    main, boxes = plan.main, dict(plan.cells)
    return write_vrt(
        folder / "landcover.vrt",
        [folder / f"{name}.tif" for name in done],
        width=main.width,
        height=main.height,
        transform=main.transform,
        crs_wkt=main.crs.to_wkt(),
        count=2 if job.options.confidence else 1,
        offsets=[(b.row, b.col, b.height, b.width) for b in (boxes[name] for name in done)],
        palette=colormap(),
    )


def _verified(man: Manifest, job: Job, warn: Echo) -> set[str]:
    """Chunks recorded done whose output is present with the recorded checksum (and full context).

    A local COG is checksummed again; an uploaded one must be listed with the ETag it was given.
    """
    rows = [r for r in man.rows() if r.status == "done"]
    listed = etags(job.remote) if job.remote and rows else {}
    ok = set()
    for r in rows:
        name = f"{r.name}.tif"
        if r.error:  # done with a neighbour unreadable: its borders lacked context
            warn(f"{name} was predicted with a neighbour unreadable ({r.error}): recomputing it")
            man.failed(r.name, r.error, final=False)
        elif listed.get(name) == r.etag if job.remote else _intact(Path(job.out) / name, r.sha256):
            ok.add(r.name)
        else:
            warn(f"{name} is missing or does not match its checksum: recomputing it")
            man.failed(r.name, "output missing or corrupt", final=False)
    return ok


def _intact(path: Path, sha256: str | None) -> bool:
    return path.is_file() and sha256_file(path) == sha256


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """One job at a time per output folder."""
    with (out / ".costa.lock").open("w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(
                f"another costa job is writing to {out}; wait for it or use another --out"
            ) from None
        yield


def status(out: str | Path) -> dict[str, Any]:
    """Progress of the job in ``out`` (running or stopped), from its manifest.

    Returns counts by status, failures with their errors and the last update time.

    Example:
        >>> import costa
        >>> st = costa.job_status(tmp / "job")  # the job of run_job's example (run before)
        >>> st["done"], st["total"], st["failed"]
        (2, 2, 0)

    """
    with Manifest(Path(out), readonly=True) as man:
        rows = man.rows()
        runs = man.meta("runs")
    counts = {s: sum(r.status == s for r in rows) for s in ("done", "running", "pending", "failed")}
    return {
        "folder": str(out),
        "runs": int(runs or 0),
        "total": len(rows),
        **counts,
        "failures": [
            {"chunk": r.name, "attempts": r.attempts, "error": r.error} for r in rows if r.status == "failed"
        ],
        "updated": max((r.updated for r in rows if r.updated), default=None),
    }
