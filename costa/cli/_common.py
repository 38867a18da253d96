"""What every costa command shares: the app, the consoles, options defined once, helpers."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from costa.errors import OptionError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="costa: land-cover maps from 20 cm orthophotos with ONNX U-Nets.",
)
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
