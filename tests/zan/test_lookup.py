"""``costa zan query`` read with sqlite3 prints what it printed through pyogrio and pandas."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from rich.console import Console
from rich.table import Table

from costa.zan.lookup import find_communes
from costa.zan.schema import FIELDS, cli_label
from tests.conftest import assert_clean_error, costa


@pytest.fixture(scope="module")
def tricky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A communes table with what pandas formats its own way: nulls in an integer column, long floats."""
    df = pd.DataFrame(
        {
            "insee_com": ["99101", "99102", "99103"],
            "nom": ['Saint-Costa, "les" Vignes', "Costa-sur-Orge", None],
            "annee": [2024, 2024, 2024],
            "perimetre": ["commune", "parcelles", "commune"],
            "surface_ha": [1 / 3, 123456.789012345678, 1e-12],
            "artif_ha": [0.1 + 0.2, math.nan, 2.5e-7],
            "artif_pct": [100.0, 0.0, 12.3456789012345],
            "n_parcelles": [7.0, math.nan, 12.0],  # an integer column with a null reads as floats
            "regles": ["cosia-2023", "cosia-2023", "cosia-2023"],
            "regles_version": [2, 2, 2],
        }
    )
    path = tmp_path_factory.mktemp("lookup") / "zan.gpkg"
    pyogrio.write_dataframe(df, path, layer="communes", driver="GPKG")
    return path


def _pandas(gpkg: Path, commune: str) -> pd.DataFrame:
    """The rows as ``costa zan query`` found them before it read sqlite3 (pyogrio, pandas)."""
    df = pyogrio.read_dataframe(gpkg, layer="communes", read_geometry=False)
    return df[(df.insee_com == commune) | (df.nom.str.lower() == commune.lower())]


def _pandas_table(rows: pd.DataFrame) -> str:
    """The table as it printed before, on the console costa uses outside a terminal."""
    buf = io.StringIO()
    console = Console(
        file=buf, soft_wrap=True, color_system=None, width=100_000, highlight=False, emoji=False
    )
    for _, row in rows.iterrows():
        t = Table("indicateur", "valeur", title=f"{row['nom']} ({row['insee_com']}) — {row['annee']}")
        for k in FIELDS:
            if k in row and row[k] == row[k]:
                v = row[k]
                t.add_row(cli_label(k), f"{v:,.2f}".replace(",", " ") if isinstance(v, float) else str(v))
        console.print(t)
    return buf.getvalue()


@pytest.mark.parametrize("commune", ["99101", "costa-sur-orge", "99103"])
def test_the_three_formats_print_what_pandas_printed(tricky: Path, commune: str) -> None:
    rows = _pandas(tricky, commune)
    assert len(rows) == 1
    res = costa("zan", "query", tricky, "--commune", commune, "--format", "csv")
    assert res.returncode == 0 and res.stdout == rows.to_csv(index=False), res.stderr
    res = costa("zan", "query", tricky, "--commune", commune, "--format", "json")
    assert json.loads(res.stdout) == json.loads(rows.to_json(orient="records", force_ascii=False))
    res = costa("zan", "query", tricky, "--commune", commune)
    assert res.returncode == 0 and res.stdout == _pandas_table(rows), res.stderr


def test_values_come_back_as_pyogrio_gives_them(tricky: Path) -> None:
    (row,) = find_communes(tricky, "99102").records
    assert math.isnan(row["artif_ha"]) and math.isnan(row["n_parcelles"])  # type: ignore[arg-type]
    assert row["surface_ha"] == 123456.789012345678 and row["regles_version"] == 2
    (row,) = find_communes(tricky, "99101").records
    assert row["n_parcelles"] == 7.0 and isinstance(row["n_parcelles"], float)
    assert list(row) == [c for c in _pandas(tricky, "99101").columns]


def test_unknown_commune_and_missing_file(tricky: Path, tmp_path: Path) -> None:
    res = costa("zan", "query", tricky, "--commune", "Costa sur Orgue")
    assert res.stderr == "error: no commune 'Costa sur Orgue' in zan.gpkg; did you mean Costa-sur-Orge?\n"
    res = costa("zan", "query", tmp_path / "none.gpkg", "--commune", "99101")
    assert_clean_error(res, "ZAN GeoPackage not found", "make it with costa zan compute")
    other = tmp_path / "other.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"a": [1]}), other, layer="sparte", driver="GPKG")
    res = costa("zan", "query", other, "--commune", "99101")
    assert res.stderr == f"error: {other} has no 'communes' table; make it with costa zan compute\n"
