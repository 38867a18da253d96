"""Commands that answer at once import nothing heavy (checked on ``sys.modules``, never on time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("numpy", "pandas", "geopandas", "pyogrio", "rasterio", "onnxruntime", "onnx", "scipy", "dask")
"""Modules a second or more of start-up came from (``python -X importtime -m costa ...``)."""

_PROBE = """
import json, sys
sys.argv = ["costa", *json.loads(sys.argv[1])]
from costa.cli import main
try:
    main()
except SystemExit:
    pass
heavy = {heavy!r}
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


def heavy_imports(*args: str | Path) -> tuple[list[str], str]:
    """Heavy modules imported by ``costa ARGS`` in a fresh process, and what it printed."""
    code = _PROBE.format(heavy=HEAVY)
    res = subprocess.run(
        [sys.executable, "-c", code, json.dumps([str(a) for a in args])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    *_, last = res.stderr.strip().splitlines()
    return json.loads(last), res.stdout


def test_help_imports_nothing_heavy() -> None:
    heavy, stdout = heavy_imports("--help")
    assert heavy == [] and "zan" in stdout and "predict" in stdout


@pytest.mark.parametrize("command", [["zan", "--help"], ["predict", "--help"], ["version"]])
def test_subcommand_help_imports_nothing_heavy(command: list[str]) -> None:
    heavy, stdout = heavy_imports(*command)
    assert heavy == [] and stdout


def test_import_costa_is_light_and_the_api_still_there() -> None:
    code = (
        f"import sys, costa, costa.io; before = sorted(m for m in {HEAVY!r} if m in sys.modules); "
        "f = costa.predict; import costa.zan.batch; g = costa.zan.compute; "
        "print(before, callable(f), callable(g), costa.io.data_layer.__name__)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.stdout.split() == ["[]", "True", "True", "data_layer"], res.stderr


def test_zan_query_imports_nothing_heavy(tmp_path: Path) -> None:
    """``costa zan query`` reads the GeoPackage with sqlite3 (:mod:`costa.zan.lookup`)."""
    import pandas as pd
    import pyogrio

    gpkg = tmp_path / "zan.gpkg"
    table = pd.DataFrame({"insee_com": ["99101"], "nom": ["Saint-Costa"], "annee": [2024], "artif_ha": [0.5]})
    pyogrio.write_dataframe(table, gpkg, layer="communes", driver="GPKG")
    for fmt in ("table", "json", "csv"):
        heavy, stdout = heavy_imports("zan", "query", gpkg, "--commune", "99101", "--format", fmt)
        assert heavy == [] and "Saint-Costa" in stdout
