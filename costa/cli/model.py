"""``costa model ...``: inspect, export, import and quantise models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from costa.errors import OptionError

if TYPE_CHECKING:
    from costa.models.export import ExportReport

from costa.cli._common import (
    ProviderOpt,
    app,
    out,
)

model_app = typer.Typer(no_args_is_help=True, help="Inspect and export models.")
app.add_typer(model_app, name="model")


@model_app.command("inspect")
def model_inspect(
    path: Annotated[Path, typer.Argument(help="ONNX model.")],
    provider: ProviderOpt = "cpu",
) -> None:
    """Show what a model expects and produces (from its metadata)."""
    import onnxruntime as ort

    from costa.inference.runtime import open_model
    from costa.nomenclature import NODATA, by_code

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
    out.print(f"  input          {m.input_type} {m.input_shape}")
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
    from costa.models.card import ModelCard
    from costa.models.export import export_onnx, make_unet
    from costa.models.flair import load_state_dict

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
    from costa.models.flair import import_flair

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
    from costa.demo.synthetic import make_scene
    from costa.inference.runtime import open_model
    from costa.models.quantize import convert_fp16, quantize_int8

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
