"""Data files costa ships: the demo model (``models/``) and the national grids (``tiling/``).

They live at the repository's top level (docs: the layout is fixed) and the wheel carries
them under ``costa/_data/``. Both places are found from the installed package through
:mod:`importlib.resources`, never from a module's ``__file__``, so moving modules cannot
break them.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["data_path"]


def data_path(*parts: str) -> Path:
    """A shipped data file or folder: ``costa/_data/<parts>`` in a wheel, ``<repo>/<parts>`` in a checkout.

    >>> data_path("tiling", "grids").name
    'grids'
    """
    package = Path(str(files("costa")))
    for candidate in (package.joinpath("_data", *parts), package.parent.joinpath(*parts)):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{'/'.join(parts)} is missing from this installation; reinstall costa-landcover")
