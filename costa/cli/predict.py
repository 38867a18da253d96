"""``costa predict``, ``costa run`` and ``costa status``: one raster, or a resumable job over dalles."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from costa.errors import OptionError

if TYPE_CHECKING:
    from costa.jobs import Job
    from costa.jobs.clusters import ClusterSpec

from costa.cli._common import (
    ProviderOpt,
    QuietOpt,
    _progress,
    app,
    err,
    out,
    parse_bands,
    warner,
)


def parse_products(items: list[str]) -> dict[str, str]:
    """Parse ``--product irc=DIR`` options into a name → dalles mapping.

    >>> parse_products(["irc=/data/IRC"])
    {'irc': '/data/IRC'}
    """
    out = {}
    for item in items:
        name, sep, spec = item.partition("=")
        if not sep or not name.strip().isidentifier() or not spec:
            raise OptionError(f"--product {item!r}: expected NAME=DALLES, e.g. --product irc=/data/IRC")
        out[name.strip()] = spec
    return out


def parse_cluster(kind: str | None, pairs: list[str]) -> ClusterSpec | None:
    """``--cluster KIND`` and its ``--cluster-option KEY=VALUE`` pairs (None without --cluster)."""
    from costa.jobs.clusters import parse_options

    if kind is None:
        if pairs:
            raise OptionError("--cluster-option needs --cluster (e.g. --cluster slurm)")
        return None
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"--cluster-option {pair!r} must be KEY=VALUE (e.g. queue=gpu)")
        options[key.strip()] = value.strip()
    return parse_options(kind, options)


@app.command()
def predict(
    src: Annotated[
        list[str],
        typer.Argument(help="Source raster, or dalles: folder(s), glob, list file (.txt) or VRT."),
    ],
    model: Annotated[
        str, typer.Option("--model", "-m", help="ONNX model with costa metadata (a file or s3:// URL).")
    ],
    out_path: Annotated[
        str,
        typer.Option(
            "--out", "-o", help="Output COG (.tif), or a folder (or s3:// prefix) for one COG per dalle."
        ),
    ],
    tile: Annotated[
        int | None,
        typer.Option(
            help="Tile size in px (default: the largest that fits --memory, laid out for the raster)."
        ),
    ] = None,
    halo: Annotated[
        int | None, typer.Option(help="Context px around each tile (default: the model's).")
    ] = None,
    batch: Annotated[
        int | None, typer.Option(help="Tiles per inference call (default 1 on CPU, 8 on GPU).")
    ] = None,
    chunk: Annotated[int, typer.Option(help="Side of the block read and written at once (px).")] = 2048,
    provider: ProviderOpt = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads for ONNX Runtime.")] = None,
    memory: Annotated[
        int | None,
        typer.Option(help="Memory budget of one CPU worker in MB, for planning tiles (default 2048)."),
    ] = None,
    confidence: Annotated[bool, typer.Option(help="Add a band with the max class probability (%).")] = False,
    bands: Annotated[
        str | None,
        typer.Option(
            help="Source bands feeding the model inputs, e.g. 1,2,3,4 or across products 1,2,3,irc:1."
        ),
    ] = None,
    product: Annotated[
        list[str] | None,
        typer.Option(
            help="Another product of the same dalles, NAME=DALLES (e.g. irc=/data/IRC); repeatable."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Run on a local Dask cluster of N worker processes.")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Run on an existing Dask scheduler (tcp://host:8786).")
    ] = None,
    cluster: Annotated[
        str | None, typer.Option(help="Start the workers as batch jobs: slurm (--workers of them).")
    ] = None,
    cluster_option: Annotated[
        list[str] | None,
        typer.Option(
            help="A --cluster setting KEY=VALUE (queue, account, walltime, cores, memory, gpus, "
            "max_workers, extra); repeatable."
        ),
    ] = None,
    retries: Annotated[int, typer.Option(help="Extra attempts for a failing chunk.")] = 2,
    grid: Annotated[
        str, typer.Option(help="Dalle grid to cut one large raster: auto (by CRS), none, or a preset name.")
    ] = "auto",
    force: Annotated[bool, typer.Option(help="Accept a pixel size far from the model's GSD.")] = False,
    state: Annotated[
        Path | None,
        typer.Option(help="Local folder of the job's manifest (default: --out; needed for an s3:// --out)."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Predict a 16-class land-cover map, tile by tile, without seams.

    One raster and --out FILE.tif write one COG. Dalles (a folder, glob, list file or VRT)
    and --out FOLDER run a resumable job: one COG per dalle, landcover.vrt, manifest and
    run.json; rerun the same command to resume.
    """
    from costa.inference.options import PredictOptions

    opts = PredictOptions(
        tile=tile,
        halo=halo,
        batch=batch,
        chunk=chunk,
        provider=provider,  # type: ignore[arg-type]
        threads=threads,
        confidence=confidence,
        bands=None,
        force=force,
        memory_mb=memory,
    )
    from costa.io.remote import is_remote

    if Path(out_path).suffix.lower() not in (".tif", ".tiff"):
        from costa.jobs import Job

        job = Job(
            sources={"main": src[0] if len(src) == 1 else tuple(src), **parse_products(product or [])},
            model=model if is_remote(model) else Path(model),
            out=out_path if is_remote(out_path) else Path(out_path),
            state=state,
            bands=bands,
            options=opts,
            grid=grid,
            workers=workers,
            scheduler=scheduler,
            retries=retries,
            cluster=parse_cluster(cluster, cluster_option or []),
        )
        _run_job(job, quiet)
        return
    if is_remote(out_path):
        raise OptionError(
            f"--out {out_path}: one COG is written to local disk; give an s3:// folder for a job"
        )
    if len(src) > 1 or product or workers or scheduler or cluster or state:
        raise OptionError(
            f"--out {out_path} is one file, but several sources, --product, --workers, --scheduler, "
            "--cluster or --state make a job that writes one COG per dalle: give --out a folder "
            "(e.g. --out out/landcover/)"
        )
    from costa.inference.engine import predict as run

    opts = dataclasses.replace(opts, bands=parse_bands(bands))
    show = not quiet and err.is_terminal
    with _progress(show) as bar:
        task = bar.add_task("predict", total=None)
        report = run(
            src[0],
            model,
            Path(out_path),
            opts,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            warn=warner(quiet),
        )
    if not quiet:
        err.print(
            f"wrote {report.out} ({report.width}×{report.height} px) with provider "
            f"[bold]{report.provider}[/]: {report.mpx_per_s:.2f} Mpx/s through the model, "
            f"{report.seconds:.1f} s, overlap ×{report.overlap:.2f}, "
            f"{report.tiles_skipped}/{report.tiles} empty tiles skipped"
        )


def _run_job(job: Job, quiet: bool) -> None:
    from costa.jobs import run_job

    with _progress(not quiet and err.is_terminal, "chunks") as bar:
        task = bar.add_task("job", total=None)
        report = run_job(
            job,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            echo=(lambda s: None) if quiet else (lambda s: err.print(s, highlight=False, soft_wrap=True)),
            warn=warner(quiet),
        )
    if not quiet:
        err.print(f"{job.out}/landcover.vrt: {report.summary()}", highlight=False, soft_wrap=True)
    if report.failed:
        for f in report.failures:
            err.print(f"[bold red]failed:[/] {f['chunk']}: {f['error']}", highlight=False, soft_wrap=True)
        err.print(f"{report.failed} chunk(s) failed; fix them and rerun the same command to finish the job")
        raise typer.Exit(1)


@app.command("run")
def run_job_file(
    job_file: Annotated[Path, typer.Argument(help="YAML job file (see the README).")],
    workers: Annotated[int | None, typer.Option(help="Override the job's worker count.")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Override the job's Dask scheduler.")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Run or resume the job described in a YAML file."""
    from costa.jobs import Job

    job = Job.from_file(job_file)
    if workers is not None or scheduler is not None:
        job = dataclasses.replace(job, workers=workers or job.workers, scheduler=scheduler or job.scheduler)
    _run_job(job, quiet)


@app.command()
def status(
    folder: Annotated[Path, typer.Argument(help="Output folder of a job.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Progress of a running or stopped job, from its manifest."""
    import json

    from costa.jobs import status as job_status

    st = job_status(folder)
    if as_json:
        out.print_json(json.dumps(st))
        return
    pct = 100 * st["done"] / max(st["total"], 1)
    out.print(
        f"{st['folder']}: {st['done']}/{st['total']} chunks done ({pct:.0f} %), {st['running']} running, "
        f"{st['pending']} pending, {st['failed']} failed; {st['runs']} run(s), last update {st['updated']}",
        highlight=False,
    )
    for f in st["failures"]:
        out.print(f"failed: {f['chunk']} ({f['attempts']} attempts): {f['error']}", highlight=False)
