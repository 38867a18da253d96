"""Doctest setup for the whole repository: a scratch folder and a headless matplotlib.

Docstring examples write under ``tmp`` (one folder per test session, so the small synthetic
territory they share is generated once) and never into the working tree.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def doctest_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One scratch folder for every doctest of the session."""
    return tmp_path_factory.mktemp("doctest")


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict[str, object], doctest_tmp: Path) -> None:
    doctest_namespace["tmp"] = doctest_tmp


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
