"""ZAN on a real cadastre: Épinay-sur-Orge's 4,241 Etalab parcels tiled 2 × 2 into four communes.

The land cover is painted over the parcels at 1 m (37 Mpx, so the suite stays fast; the
benchmark runs the same scene at 20 cm): real geometries, slivers and holes, with the patch
rule's 2,500 m² at 2,500 px and 50 m² buildings at 50 px.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.features import rasterize

from costa.demo.cadastre import INSEE, tile_communes, write_landcover
from costa.zan.compute import compute

CADASTRE = Path(__file__).parents[1] / "data" / "cadastre-91216-parcelles.json.gz"


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    parcels = tile_communes(CADASTRE)
    raster = write_landcover(parcels, tmp_path_factory.mktemp("real") / "lc_1m.tif", gsd=1.0)
    return {"parcels": parcels, "raster": raster}


@pytest.fixture(scope="module")
def run(real: dict[str, Any]) -> Callable[..., Any]:
    """``compute`` on the real case, each set of options run once for the module."""

    @functools.cache
    def go(rules: str | None = None, window: int = 1024, workers: int = 1) -> Any:
        options = {"rules": rules} if rules else {}  # None: the default rule set
        return compute(real["raster"], real["parcels"], window=window, workers=workers, **options)

    return go


def tables(res: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    return res.parcelles.drop(columns="geometry"), res.communes


def test_four_communes_of_real_parcels(real: dict[str, Any]) -> None:
    p = real["parcels"]
    assert len(p) == 4 * 4241 == 16964
    assert sorted(p.commune.unique()) == list(INSEE)
    assert p.id.str[:5].equals(p.commune)


def test_the_same_tables_for_any_window(run: Callable[..., Any]) -> None:
    small, large = (tables(run(window=w)) for w in (1024, 8192))
    pd.testing.assert_frame_equal(small[0], large[0], check_exact=True)
    pd.testing.assert_frame_equal(small[1], large[1], check_exact=True)
    assert (large[1].artif_ha > 0).all() and (large[1].regles_version == 2).all()


def test_versions_1_and_2_give_the_same_tables(run: Callable[..., Any]) -> None:
    v1, v2 = tables(run("cosia-2023", window=4096)), tables(run("cosia-2023-v2"))
    pd.testing.assert_frame_equal(v1[0], v2[0], check_exact=True)
    pd.testing.assert_frame_equal(
        v1[1].drop(columns="regles_version"), v2[1].drop(columns="regles_version"), check_exact=True
    )
    pixel = run("cosia-2023-pixel")
    assert (pixel.parcelles.artif_m2 != v2[0].artif_m2).sum() > 1000  # the thresholds matter here


def test_pixel_rule_equals_an_independent_count(real: dict[str, Any], run: Callable[..., Any]) -> None:
    """Artificialised ha per commune counted here on the whole raster at once: classes 1–5,
    and lawn (13) in parcels with ≥ 50 m² of classes 1 and 5 or ≥ 50 % of classes 1–5."""
    res = run("cosia-2023-pixel")
    with rasterio.open(real["raster"]) as ds:
        lab, transform = ds.read(1), ds.transform
    geoms = list(real["parcels"].geometry)
    ids = rasterize(zip(geoms, range(1, len(geoms) + 1), strict=True), lab.shape, transform=transform)
    n = len(geoms) + 1
    counts = np.bincount(ids.ravel().astype(np.int64) * 17 + lab.ravel(), minlength=n * 17).reshape(n, 17)
    a15 = counts[:, 1:6].sum(1)
    urban = (counts[:, [1, 5]].sum(1) >= 50) | (a15 >= 0.5 * np.maximum(counts[:, 1:].sum(1), 1))
    artif = a15 + np.where(urban, counts[:, 13], 0)
    commune = np.r_[-1, np.searchsorted(INSEE, real["parcels"].commune)]
    expected = [artif[1:][commune[1:] == k].sum() / 1e4 for k in range(4)]
    np.testing.assert_allclose(res.communes.artif_ha, expected, rtol=0, atol=1e-9)


def test_the_same_tables_with_windows_in_two_processes(run: Callable[..., Any]) -> None:
    one, two = (tables(run(window=1024, workers=n)) for n in (1, 2))
    pd.testing.assert_frame_equal(one[0], two[0], check_exact=True)
    pd.testing.assert_frame_equal(one[1], two[1], check_exact=True)
