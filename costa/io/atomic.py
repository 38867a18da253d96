"""Every file costa writes appears whole or not at all: write a temporary, then rename.

Like rio-cogeo's ``TemporaryRasterFile``, one idiom for every writer (COGs, GeoPackages,
report pages, ``run.json``). Temporaries sit beside their target (same filesystem, so the
rename is atomic), start with a dot and carry a random token, so two writers — two
processes, or two hosts with the same process id on a shared filesystem — never share one.
A run killed mid-write leaves only dot-files that :func:`remove_stale` (or the next job run
in the same folder) deletes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["TEMP_MARK", "atomic_path", "remove_stale", "temp_name", "write_atomic"]

TEMP_MARK = ".costa-tmp-"
"""In the name of every temporary costa writes (and of nothing else)."""


def temp_name(target: Path, suffix: str = "") -> Path:
    """A fresh temporary path beside ``target``.

    >>> p = temp_name(Path("out/landcover.tif"), ".tif")
    >>> p.parent.as_posix(), p.name.startswith(".landcover.tif.costa-tmp-"), p.suffix
    ('out', True, '.tif')
    >>> temp_name(Path("a.tif")) != temp_name(Path("a.tif"))
    True
    """
    return target.with_name(f".{target.name}{TEMP_MARK}{secrets.token_hex(8)}{suffix}")


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on clean exit it replaces ``target``, on error it is removed.

    ``suffix`` keeps the extension drivers look at (``.gpkg``, ``.tif``).
    """
    target = Path(target)
    tmp = temp_name(target, suffix)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_atomic(target: str | Path, data: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to ``target`` atomically; returns the path."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(target)


def remove_stale(folder: Path) -> int:
    """Delete the temporaries a killed run left in ``folder``; returns how many.

    Call it only where nobody else writes (a locked job folder).
    """
    stale = list(folder.glob(f".*{TEMP_MARK}*"))
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)
