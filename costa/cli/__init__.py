"""The ``costa`` command line: parse and validate, call the library, print.

Every :class:`costa.errors.CostaError` becomes one line on stderr and exit status 2;
set ``COSTA_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import os
import sys
import warnings

from costa.__about__ import __version__
from costa.cli._common import app, err, out, parse_bands, show_warning
from costa.errors import CostaError

# Each module registers its commands; this order is the order of `costa --help`.
# isort: off
from costa.cli import predict, model, evaluate, zan, sparte, vectorize, webmap, demo  # noqa: F401
# isort: on

__all__ = ["app", "bound_memory", "main", "parse_bands"]


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
    if not os.environ.get("COSTA_DEBUG"):
        warnings.showwarning = show_warning
    try:
        app()
    except (CostaError, ImportError) as e:  # ImportError: a missing extra, with the install hint
        if os.environ.get("COSTA_DEBUG"):
            raise
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
