from __future__ import annotations

from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely

from costa.errors import OptionError, OutputError
from costa.nomenclature import CODES
from costa.vector.polygons import LAYER, vectorize
from tests.conftest import write_raster

PX = 0.04  # m² per 20 cm pixel


def blocky_labels(seed: int, size: int, noise: float = 0.01) -> np.ndarray:
    """Class regions of ~24 px with ``noise`` of isolated pixels and some no data."""
    rng = np.random.default_rng(seed)
    small = rng.choice(np.array(CODES, np.uint8), (size // 24 + 1, size // 24 + 1))
    labels = np.kron(small, np.ones((24, 24), np.uint8))[:size, :size].copy()
    flip = rng.random(labels.shape) < noise
    labels[flip] = rng.choice(np.array(CODES, np.uint8), int(flip.sum()))
    labels[:5, :7] = 0  # a corner of no data
    return labels


def raster_areas(labels: np.ndarray) -> dict[int, float]:
    counts = np.bincount(labels.ravel(), minlength=17)
    return {c: counts[c] * PX for c in CODES if counts[c]}


def polygon_areas(path: Path) -> tuple[dict[int, float], object]:
    df = pyogrio.read_dataframe(path, layer=LAYER)
    return {int(c): float(a) for c, a in df.groupby("code").surface_m2.sum().items()}, df


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    # with 1 % noise, rare classes drift ~1 % (simplification turns 1-px squares into triangles)
    labels = blocky_labels(0, 300, noise=0.003)
    path = write_raster(tmp_path_factory.mktemp("vec") / "lc.tif", labels[None])
    return path, labels


@pytest.mark.parametrize("window", [64, 100, 4096])
def test_valid_coverage_with_raster_areas(
    noisy: tuple[Path, np.ndarray], tmp_path: Path, window: int
) -> None:
    path, labels = noisy
    rep = vectorize(path, tmp_path / "p.gpkg", window=window)
    areas, df = polygon_areas(tmp_path / "p.gpkg")
    assert bool(shapely.coverage_is_valid(df.geometry.values))
    assert (~shapely.is_valid(df.geometry.values)).sum() == 0
    expected = raster_areas(labels)
    assert areas.keys() == expected.keys()
    for code, a in expected.items():
        assert areas[code] == pytest.approx(a, rel=0.01), code
    assert rep.polygons == len(df) and rep.area_km2 == pytest.approx(sum(expected.values()) / 1e6, rel=1e-3)
    assert set(df.classe) >= {"Bâtiment", "Pelouse"}


def test_windowed_equals_whole(noisy: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, _ = noisy
    vectorize(path, tmp_path / "w.gpkg", window=64, tolerance=0)
    vectorize(path, tmp_path / "a.gpkg", window=4096, tolerance=0)
    (win, dw), (whole, da) = polygon_areas(tmp_path / "w.gpkg"), polygon_areas(tmp_path / "a.gpkg")
    assert win == pytest.approx(whole, abs=1e-6)
    assert len(dw) == len(da)  # patches crossing window edges are dissolved back into one polygon


def test_min_area_sieves_small_patches(noisy: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, labels = noisy
    raw = vectorize(path, tmp_path / "raw.gpkg", window=128)
    mmu = vectorize(path, tmp_path / "mmu.gpkg", window=128, min_area=1.0)  # 25 pixels
    _, df = polygon_areas(tmp_path / "mmu.gpkg")
    assert mmu.polygons < raw.polygons / 2
    assert df.surface_m2.min() >= 1.0 - 0.2  # simplification moves a few tenths of a pixel
    assert bool(shapely.coverage_is_valid(df.geometry.values))
    assert df.surface_m2.sum() == pytest.approx(float((labels > 0).sum()) * PX, rel=0.01)


def test_communes_cut_polygons(noisy: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    path, _ = noisy
    x0, y1 = 840000, 6520000
    communes = gpd.GeoDataFrame(
        {"INSEE_COM": ["99101", "99102"]},
        geometry=[box(x0, y1 - 60, x0 + 25, y1), box(x0 + 25, y1 - 60, x0 + 60, y1)],
        crs="EPSG:2154",
    )
    communes.to_file(tmp_path / "communes.gpkg")
    vectorize(path, tmp_path / "c.gpkg", communes=tmp_path / "communes.gpkg", window=100)
    df = pyogrio.read_dataframe(tmp_path / "c.gpkg", layer=LAYER)
    assert set(df.insee_com) == {"99101", "99102"}
    assert bool(shapely.coverage_is_valid(df.geometry.values))
    per = df.groupby("insee_com").surface_m2.sum()
    assert per["99101"] == pytest.approx(125 * 300 * PX - 5 * 7 * PX, rel=0.01)
    left = df[df.insee_com == "99101"].geometry.union_all()
    assert left.bounds[2] <= x0 + 25 + 1e-6


def test_errors(noisy: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, _ = noisy
    with pytest.raises(OutputError, match=r"\.gpkg"):
        vectorize(path, tmp_path / "p.shp")
    with pytest.raises(OptionError, match="--min-area"):
        vectorize(path, tmp_path / "p.gpkg", min_area=-1)
    assert not (tmp_path / "p.gpkg").exists()


def test_cli(noisy: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    from tests.conftest import assert_clean_error, costa

    path, _ = noisy
    res = costa("vectorize", path, "--out", tmp_path / "v.gpkg", "--min-area", "0.5", "--window", "128")
    assert res.returncode == 0, res.stderr
    assert "polygons" in res.stdout and "per km²" in res.stdout
    assert_clean_error(costa("vectorize", path, "--out", tmp_path / "v.gpkg", "--window", "8"), "--window 8")
