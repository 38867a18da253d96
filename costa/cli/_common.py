"""What every costa command shares: the app, the consoles, options defined once, helpers."""

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

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


def _console(stderr: bool = False) -> Console:
    """Rich in a terminal; in a pipe or a file, whole lines: no wrapping, no escape codes.

    Outside a terminal rich would wrap at ``COLUMNS`` (80 by default) in the middle of a phrase,
    so the same run would print different lines in CI, cron or ``| tee``.
    """
    console = Console(stderr=stderr)
    if console.is_terminal:
        return console
    return Console(
        stderr=stderr, soft_wrap=True, color_system=None, width=100_000, highlight=False, emoji=False
    )


err = _console(stderr=True)
out = _console()

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


def warner(quiet: bool) -> Callable[[str], None]:
    """Where a command's warnings go: one ``warning:`` line each, or nowhere with ``--quiet``."""
    if quiet:
        warnings.simplefilter("ignore")
        return lambda msg: None
    return _warn


def show_warning(
    message: Any, category: Any, filename: Any, lineno: Any, file: Any = None, line: Any = None
) -> None:
    """Replacement for :func:`warnings.showwarning`: a library warning becomes one costa line.

    The raw form (file, line number, source line) is for developers; ``COSTA_DEBUG=1`` keeps it.
    """
    text = str(message).strip().splitlines()
    _warn(text[0] if text else getattr(category, "__name__", "warning"))
