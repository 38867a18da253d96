"""The ``costa`` command line: parse and validate, call the library, print.

Every :class:`costa.errors.CostaError` becomes one line on stderr and exit status 2;
set ``COSTA_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from costa.__about__ import __version__
from costa.errors import CostaError, OptionError

if TYPE_CHECKING:
    from costa.export import ExportReport
    from costa.jobs import Job

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="costa: land-cover maps from 20 cm orthophotos with ONNX U-Nets.",
)
model_app = typer.Typer(no_args_is_help=True, help="Inspect and export models.")
app.add_typer(model_app, name="model")
err = Console(stderr=True)
out = Console()

# Options shared by several commands, defined once.
ModelOpt = Annotated[Path, typer.Option("--model", "-m", help="ONNX model with costa metadata.")]
ProviderOpt = Annotated[str, typer.Option(help="Execution provider: auto, cpu, cuda or tensorrt.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]


def parse_bands(text: str | None) -> tuple[int, ...] | None:
    """Parse ``--bands 1,2,3,4`` into a tuple of 1-based band numbers.

    >>> parse_bands("4, 1,2")
    (4, 1, 2)
    """
    if text is None:
        return None
    try:
        bands = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise OptionError(
            f"--bands {text!r}: expected comma-separated band numbers such as 1,2,3,4"
        ) from None
    return bands


def _progress(enabled: bool, unit: str = "tiles") -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeRemainingColumn(),
        console=err,
        disable=not enabled,
        transient=False,
    )


def _warn(msg: str) -> None:
    err.print(f"[yellow]warning:[/] {msg}", highlight=False, soft_wrap=True)


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


@app.command()
def predict(
    src: Annotated[
        list[str],
        typer.Argument(help="Source raster, or dalles: folder(s), glob, list file (.txt) or VRT."),
    ],
    model: ModelOpt,
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Output COG (.tif), or a folder for one COG per dalle.")
    ],
    tile: Annotated[int | None, typer.Option(help="Tile size in px (default: the model's).")] = None,
    halo: Annotated[
        int | None, typer.Option(help="Context px around each tile (default: the model's).")
    ] = None,
    batch: Annotated[
        int | None, typer.Option(help="Tiles per inference call (default 1 on CPU, 8 on GPU).")
    ] = None,
    chunk: Annotated[int, typer.Option(help="Side of the block read and written at once (px).")] = 2048,
    provider: ProviderOpt = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads for ONNX Runtime.")] = None,
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
    retries: Annotated[int, typer.Option(help="Extra attempts for a failing chunk.")] = 2,
    grid: Annotated[
        str, typer.Option(help="Dalle grid to cut one large raster: auto (by CRS), none, or a preset name.")
    ] = "auto",
    force: Annotated[bool, typer.Option(help="Accept a pixel size far from the model's GSD.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Predict a 16-class land-cover map, tile by tile, without seams.

    One raster and --out FILE.tif write one COG. Dalles (a folder, glob, list file or VRT)
    and --out FOLDER run a resumable job: one COG per dalle, landcover.vrt, manifest and
    run.json; rerun the same command to resume.
    """
    from costa.engine import PredictOptions

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
    )
    if out_path.suffix.lower() not in (".tif", ".tiff"):
        from costa.jobs import Job

        job = Job(
            {"main": src[0] if len(src) == 1 else tuple(src), **parse_products(product or [])},
            model,
            out_path,
            bands,
            opts,
            grid,
            workers,
            scheduler,
            retries,
        )
        _run_job(job, quiet)
        return
    if len(src) > 1 or product or workers or scheduler:
        raise OptionError(
            f"--out {out_path} is one file, but several sources, --product, --workers or --scheduler make "
            "a job that writes one COG per dalle: give --out a folder (e.g. --out out/landcover/)"
        )
    from costa.engine import predict as run

    opts = dataclasses.replace(opts, bands=parse_bands(bands))
    show = not quiet and err.is_terminal
    with _progress(show) as bar:
        task = bar.add_task("predict", total=None)
        report = run(
            src[0],
            model,
            out_path,
            opts,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            warn=_warn,
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
            warn=_warn,
        )
    if not quiet:
        err.print(f"{job.out}/landcover.vrt: {report.summary()}", highlight=False, soft_wrap=True)
    if report.failed:
        for f in report.data["failures"]:
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


@model_app.command("inspect")
def model_inspect(
    path: Annotated[Path, typer.Argument(help="ONNX model.")],
    provider: ProviderOpt = "cpu",
) -> None:
    """Show what a model expects and produces (from its metadata)."""
    import onnxruntime as ort

    from costa.nomenclature import NODATA, by_code
    from costa.runtime import open_model

    m = open_model(path, provider)  # type: ignore[arg-type]
    c = m.card
    names = [("no data" if k == NODATA else by_code(k).fr) for k in c.classes]
    out.print(f"[bold]{c.name}[/]  {path}  ({path.stat().st_size / 1e6:.1f} MB, sha256 {m.sha256[:16]}…)")
    out.print(f"  bands          {', '.join(c.bands)} ({c.input_dtype})")
    out.print(f"  normalisation  mean {list(c.mean)}  std {list(c.std)}")
    out.print(
        f"  classes        {len(c.classes)}: "
        + ", ".join(f"{k} {n}" for k, n in zip(c.classes, names, strict=True))
    )
    out.print(f"  GSD            {c.gsd_m} m   tile {c.tile_size}   halo {c.halo}   stride {c.stride}")
    out.print(f"  input          {m.session.get_inputs()[0].type} {m.session.get_inputs()[0].shape}")
    try:
        import onnx

        opset = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in onnx.load(str(path)).opset_import)
    except ImportError:
        opset = "unknown (pip install onnx to read it)"
    out.print(f"  opset          {opset}   precision {c.extra.get('precision', 'fp32')}")
    out.print(f"  licence        {c.license}   source {c.source}")
    out.print(
        f"  providers      available here: {', '.join(ort.get_available_providers())}; "
        f"this session ran on {m.provider}"
    )


@model_app.command("export")
def model_export(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output .onnx file.")],
    encoder: Annotated[str, typer.Option(help="smp encoder name, e.g. resnet34.")] = "resnet34",
    in_channels: Annotated[int, typer.Option(help="Model inputs (bands).")] = 4,
    weights: Annotated[Path | None, typer.Option(help="State dict (.pt/.pth), read weights-only.")] = None,
    bands: Annotated[str, typer.Option(help="Input band names, in order.")] = "R,G,B,NIR",
    mean: Annotated[str, typer.Option(help="Per-band mean (source units).")] = "128,128,128,128",
    std: Annotated[str, typer.Option(help="Per-band std (source units).")] = "64,64,64,64",
    tile: Annotated[int, typer.Option(help="Default tile size.")] = 1024,
    halo: Annotated[int, typer.Option(help="Default halo.")] = 128,
    name: Annotated[str, typer.Option(help="Model name in the metadata.")] = "costa-unet",
    precision: Annotated[str, typer.Option(help="fp32, fp16 (GPU) or int8 (CPU).")] = "fp32",
) -> None:
    """Export a segmentation-models-pytorch U-Net (16 costa classes) to ONNX with metadata."""
    from costa.export import export_onnx, make_unet
    from costa.flair import load_state_dict
    from costa.model_card import ModelCard

    card = ModelCard(
        name=name,
        classes=tuple(range(1, 17)),
        bands=tuple(bands.split(",")),
        mean=_floats(mean, "--mean"),
        std=_floats(std, "--std"),
        tile_size=tile,
        halo=halo,
        stride=32,
    )
    model = make_unet(encoder, in_channels, 16)
    if weights is not None:
        model.load_state_dict(load_state_dict(weights), strict=True)
    if precision not in ("fp32", "fp16", "int8"):
        raise OptionError(f"--precision {precision!r}: choose fp32, fp16 or int8")
    rep = export_onnx(model, card, out_path)
    _say_export(rep)
    if precision != "fp32":
        _reduce(out_path, out_path, precision)


@model_app.command("import-flair")
def model_import_flair(
    checkpoint: Annotated[Path, typer.Argument(help="FLAIR-style smp U-Net checkpoint (.ckpt/.pth).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output .onnx file.")],
    encoder: Annotated[str, typer.Option(help="smp encoder of the checkpoint.")] = "resnet34",
) -> None:
    """Import a FLAIR-1 checkpoint (5 bands, 19 classes mapped to costa's 16) as ONNX."""
    from costa.errors import ModelError
    from costa.flair import import_flair

    if not checkpoint.is_file():
        raise ModelError(f"checkpoint not found: {checkpoint}")
    rep = import_flair(checkpoint, out_path, encoder)
    _say_export(rep)


@model_app.command("quantize")
def model_quantize(
    path: Annotated[Path, typer.Argument(help="fp32 costa ONNX model.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output INT8 .onnx file.")],
    scenes: Annotated[int, typer.Option(help="Synthetic calibration scenes (512² each).")] = 8,
) -> None:
    """Quantise a model to INT8 for CPU (static, calibrated on synthetic scenes)."""
    _reduce(path, out_path, "int8", scenes)


def _reduce(src: Path, dst: Path, precision: str, scenes: int = 8) -> None:
    """Write an int8 or fp16 copy of ``src`` to ``dst``."""
    from costa.quantize import convert_fp16, quantize_int8
    from costa.runtime import open_model
    from costa.synthetic import make_scene

    if precision == "fp16":
        convert_fp16(src, dst)
    else:
        m = open_model(src, "cpu")
        calib = [make_scene(5000 + i, 512, 512).image[: m.card.n_bands] for i in range(scenes)]
        quantize_int8(src, dst, calib)
    out.print(f"wrote {dst} ({precision}, {dst.stat().st_size / 1e6:.1f} MB)")


def _say_export(rep: ExportReport) -> None:
    out.print(
        f"wrote {rep.path} ({rep.size_bytes / 1e6:.1f} MB); "
        f"ONNX Runtime vs torch max |Δ| = {rep.max_abs_diff:.2e}"
    )


def _floats(text: str, opt: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise OptionError(f"{opt} {text!r}: expected comma-separated numbers") from None


zan_app = typer.Typer(no_args_is_help=True, help="ZAN figures per parcel and commune.")
app.add_typer(zan_app, name="zan")

_LABELS = {
    "insee_com": "Code INSEE",
    "nom": "Commune",
    "annee": "Année",
    "perimetre": "Périmètre",
    "surface_ha": "Surface (ha)",
    "artif_ha": "Surface artificialisée (ha)",
    "artif_pct": "Part artificialisée (%)",
    "n_parcelles": "Parcelles",
    "n_parcelles_artif": "Parcelles artificialisées",
    "n_parcelles_partielles": "Parcelles partiellement artificialisées",
    "n_parcelles_non_artif": "Parcelles non artificialisées",
    "flux_artif_ha": "Flux d'artificialisation (ha)",
    "flux_desartif_ha": "Flux de désartificialisation (ha)",
    "flux_artif_net_ha": "Artificialisation nette (ha)",
    "regles": "Règles",
    "regles_version": "Version des règles",
}


@zan_app.command("compute")
def zan_compute(
    landcover: Annotated[Path, typer.Option(help="Land-cover raster (newest vintage).")],
    parcels: Annotated[Path, typer.Option(help="Parcels (Etalab cadastre GeoJSON, GeoPackage...).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output GeoPackage (.gpkg).")],
    communes: Annotated[Path | None, typer.Option(help="Commune boundaries (INSEE_COM, NOM).")] = None,
    landcover_before: Annotated[Path | None, typer.Option(help="Older vintage, same grid.")] = None,
    rules: Annotated[str, typer.Option(help="cosia-2023 (thresholds) or cosia-2023-pixel.")] = "cosia-2023",
    year: Annotated[int | None, typer.Option(help="Vintage year (default: the raster's YEAR tag).")] = None,
    year_before: Annotated[int | None, typer.Option(help="Older vintage year.")] = None,
) -> None:
    """Compute artificialised area and parcels per commune (GeoPackage, CSV, Parquet)."""
    from costa.errors import SourceReadError
    from costa.zan.compute import compute
    from costa.zan.io import write

    for p in (landcover, landcover_before):
        if p is not None and not p.is_file():
            raise SourceReadError(f"land-cover raster not found: {p}")
    res = compute(
        landcover,
        parcels,
        communes,
        landcover_before=landcover_before,
        rules=rules,
        year=year,
        year_before=year_before,
    )
    files = write(res, out_path)
    out.print(
        f"wrote {', '.join(str(f) for f in files)} (rules {res.rules.name} v{res.rules.version}, "
        f"{len(res.parcelles)} parcels, {res.parcelles.attrs['invalid_geometries_repaired']} invalid "
        f"geometries repaired, {int(res.parcelles.sans_pixel.sum())} without any pixel)"
    )
    for note in res.notes:
        _warn(note)


@zan_app.command("query")
def zan_query(
    gpkg: Annotated[Path, typer.Argument(help="GeoPackage from costa zan compute.")],
    commune: Annotated[str, typer.Option(help="INSEE code or name.")],
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Show a commune's ZAN figures (French labels)."""
    from rich.table import Table

    from costa.zan.io import query

    if fmt not in ("table", "json", "csv"):
        raise OptionError(f"--format {fmt!r}: choose table, json or csv")
    rows = query(gpkg, commune)
    if fmt == "json":
        out.print_json(rows.to_json(orient="records", force_ascii=False))
        return
    if fmt == "csv":
        print(rows.to_csv(index=False), end="")
        return
    for _, row in rows.iterrows():
        t = Table("indicateur", "valeur", title=f"{row['nom']} ({row['insee_com']}) — {row['annee']}")
        for k, label in _LABELS.items():
            if k in row and row[k] == row[k]:  # skip NaN
                v = row[k]
                t.add_row(label, f"{v:,.2f}".replace(",", " ") if isinstance(v, float) else str(v))
        out.print(t)


@zan_app.command("report")
def zan_report(
    gpkg: Annotated[Path, typer.Argument(help="GeoPackage from costa zan compute.")],
    landcover: Annotated[Path, typer.Option(help="Land-cover raster the GeoPackage was computed on.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")],
    landcover_before: Annotated[Path | None, typer.Option(help="Older vintage, same grid.")] = None,
    max_px: Annotated[int, typer.Option(help="Longest side of the map overlay (px).")] = 1500,
) -> None:
    """Write an offline HTML report: one page per commune (map, legend, chart, figures) and an index."""
    from costa.report import build_report

    if not 64 <= max_px <= 4096:
        raise OptionError(f"--max-px {max_px}: choose between 64 and 4096")
    index = build_report(gpkg, landcover, out_dir, landcover_before=landcover_before, max_px=max_px)
    out.print(f"wrote {index} (open it in a browser, or: costa serve {out_dir})")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/demo"),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic territory.")] = 0,
    provider: ProviderOpt = "auto",
    quiet: QuietOpt = False,
) -> None:
    """Run the whole chain on the embedded synthetic territory (two vintages)."""
    from costa.demo import run_demo
    from costa.nomenclature import by_code

    with _progress(not quiet and err.is_terminal) as bar:
        task = bar.add_task("demo", total=None)
        s = run_demo(
            out_dir,
            seed=seed,
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
    out.print("  open the landcover_*.tif in QGIS: the 16-class colormap is embedded")
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
    from costa.serve import serve as run

    run(folder, host=host, port=port, announce=lambda url: err.print(f"costa serve: {url} (Ctrl-C to stop)"))


@app.command()
def evaluate(
    pred: Annotated[Path, typer.Argument(help="Predicted land-cover raster.")],
    truth: Annotated[Path, typer.Argument(help="Truth raster on the same grid.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Confusion matrix, per-class IoU, mIoU and overall accuracy of a prediction."""
    import json

    from rich.table import Table

    from costa.errors import SourceReadError
    from costa.evaluation import evaluate as run
    from costa.nomenclature import by_code

    for p in (pred, truth):
        if not p.is_file():
            raise SourceReadError(f"raster not found: {p}")
    m = run(pred, truth)
    if as_json:
        out.print_json(json.dumps(m.to_dict(), ensure_ascii=False))
        return
    table = Table(
        "code", "classe", "IoU", title=f"mIoU {m.miou:.4f} — overall accuracy {m.overall_accuracy:.4f}"
    )
    for code, v in m.iou.items():
        table.add_row(str(code), by_code(code).fr, f"{v:.4f}")
    out.print(table)
    codes = [0, *m.iou]
    cm = Table("truth \\ pred", *map(str, codes), title="confusion matrix (pixels)")
    for c in codes[1:]:
        cm.add_row(str(c), *(str(m.matrix[c, k]) for k in codes))
    out.print(cm)


@app.command()
def version() -> None:
    """Print costa's version."""
    out.print(__version__)


def bound_memory() -> None:
    """Keep peak memory independent of raster size (measured in benchmarks/RESULTS.md).

    Each pixel block is read once, so a large GDAL block cache only makes memory grow with
    the raster (GDAL's default is 5 % of RAM); and glibc's malloc (one arena per thread, a
    mmap threshold that drifts up to 32 MiB) fragments the chunk-sized arrays passed between
    the reader thread and the main one.
    """
    os.environ.setdefault("GDAL_CACHEMAX", "16")
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(-8, 2)  # M_ARENA_MAX = 2
            libc.mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD = 4 MiB: chunk-sized arrays go back to the OS
        except (OSError, AttributeError):
            pass


def main() -> None:
    """Console-script entry point: run the app, turning costa errors into one line."""
    bound_memory()
    try:
        app()
    except (CostaError, ImportError) as e:  # ImportError: a missing extra, with the install hint
        if os.environ.get("COSTA_DEBUG"):
            raise
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
