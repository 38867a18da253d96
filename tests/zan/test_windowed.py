"""ZAN by windows: the same tables for any window, a folder of COGs, one line per unfit input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from costa.tiling.tiles import Box
from costa.zan.compute import compute
from costa.zan.rules import RULESETS, absorb_small_patches
from costa.zan.windows import plan_windows
from tests.conftest import assert_clean_error, costa, write_raster

N = 640  # 128 m × 128 m at 20 cm: 1.6 ha, so 2,500 m² patches (62,500 px) both exist and matter
X0, Y0 = 840000.0, 6520000.0


def scene(seed: int) -> np.ndarray:
    """Crops and scrub served by a branching road that crosses every 64-px window (one patch
    over 2,500 m²), houses, sheds, a yard, a sealed square with a tree, lawns, noise, no data."""
    rng = np.random.default_rng(seed)
    lab = np.full((N, N), 14, np.uint8)
    lab[:, 320:] = 12
    lab[60:85, 60:300] = 13  # lawns
    lab[230:250, 100:250] = 3  # a 120 m² gravel yard in the fields: not artificialised
    lab[290:320, 380:620] = 2  # a sealed square along the road ...
    lab[295:310, 450:470] = 10  # ... with a tree: artificialised
    for _ in range(40):  # houses (64 m², always artificialised) and sheds (1 m²)
        r, c = rng.integers(0, N - 40, 2)
        s = 40 if rng.random() < 0.5 else 5
        lab[r : r + s, c : c + s] = 1
    lab[rng.random((N, N)) < 0.01] = 7  # noise
    lab[:, 27:39] = 2  # a road, 2.4 m wide, and its branches: one patch in every 64-px window
    for r in range(27, N, 64):
        lab[r : r + 12, 39 : N - 40] = 2
    lab[:20, :20] = 0
    return lab


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("win")
    new = scene(1)
    old = new.copy()
    old[320:][new[320:] == 1] = 14  # the houses of the south are new
    paths = {
        "new": write_raster(d / "new.tif", new[None], nodata=0),
        "old": write_raster(d / "old.tif", old[None], nodata=0),
    }
    for p, y in ((paths["new"], "2024"), (paths["old"], "2021")):
        with rasterio.open(p, "r+") as ds:
            ds.update_tags(YEAR=y)
    feats, step = [], 64 * 0.2  # parcels of 12.8 m, edges on pixel edges
    for i in range(N // 64):
        for j in range(N // 64):
            x, y = X0 + j * step, Y0 - i * step
            ring = [[x, y], [x + step, y], [x + step, y - step], [x, y - step], [x, y]]
            props = {"id": f"p{i}_{j}", "commune": "99001" if j < 5 else "99002", "section": "A"}
            feats.append(
                {
                    "type": "Feature",
                    "properties": props,
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                }
            )
    paths["parcels"] = d / "parcels.geojson"
    paths["parcels"].write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}},
                "features": feats,
            }
        )
    )
    folder = d / "dalles"
    folder.mkdir()
    for r in (0, N // 2):
        for c in (0, N // 2):
            prof = {"transform": from_origin(X0 + c * 0.2, Y0 - r * 0.2, 0.2, 0.2), "crs": "EPSG:2154"}
            with rasterio.open(
                folder / f"d_{r}_{c}.tif",
                "w",
                driver="GTiff",
                width=N // 2,
                height=N // 2,
                count=1,
                dtype="uint8",
                nodata=0,
                tiled=True,
                blockxsize=64,
                blockysize=64,
                **prof,
            ) as ds:
                ds.write(new[None, r : r + N // 2, c : c + N // 2])
                ds.update_tags(YEAR="2024")
    paths["folder"] = folder
    return paths


def tables(res) -> tuple[pd.DataFrame, pd.DataFrame]:  # type: ignore[no-untyped-def]
    return res.parcelles.drop(columns="geometry"), res.communes


def test_the_same_tables_for_any_window_with_thresholds(inputs: dict[str, Path]) -> None:
    assert len(plan_windows(Box(0, 0, N, N), 64, (256, 256))) == 100  # the road grid crosses all
    run = {
        w: compute(
            inputs["new"], inputs["parcels"], landcover_before=inputs["old"], rules="cosia-2023-v2", window=w
        )
        for w in (64, 4096)
    }
    (p64, c64), (pw, cw) = tables(run[64]), tables(run[4096])
    pd.testing.assert_frame_equal(p64, pw, check_exact=True)
    pd.testing.assert_frame_equal(c64, cw, check_exact=True)
    assert (cw.regles == "cosia-2023").all() and (cw.regles_version == 2).all()
    pixel = compute(
        inputs["new"], inputs["parcels"], landcover_before=inputs["old"], rules="cosia-2023-pixel"
    )
    assert not np.allclose(pixel.communes.artif_ha, cw.artif_ha)  # the thresholds did something
    assert cw.flux_artif_ha.sum() > 0
    odd = compute(
        inputs["new"], inputs["parcels"], landcover_before=inputs["old"], rules="cosia-2023-v2", window=37
    )
    pd.testing.assert_frame_equal(tables(odd)[1], cw, check_exact=True)


def test_a_folder_of_cogs_gives_the_tables_of_the_file(inputs: dict[str, Path]) -> None:
    for rules in ("cosia-2023-pixel", "cosia-2023-v2"):
        a = compute(inputs["new"], inputs["parcels"], rules=rules, window=128)
        b = compute(inputs["folder"], inputs["parcels"], rules=rules, window=128)
        pd.testing.assert_frame_equal(tables(a)[0], tables(b)[0], check_exact=True)
        pd.testing.assert_frame_equal(tables(a)[1], tables(b)[1], check_exact=True)


def test_v2_keeps_version_1_behaviour_on_the_textbook_cases(tmp_path: Path, inputs: dict[str, Path]) -> None:
    lab = np.full((400, 400), 14, np.uint8)  # a field
    lab[10:30, 10:30] = 2  # 16 m² of asphalt: not artificialised
    lab[100:140, 100:140] = 1  # 64 m² building: always
    lab[300:310, 300:310] = 1  # 4 m² shed: dropped
    town = np.full((400, 400), 2, np.uint8)
    town[50:80, 50:80] = 10  # a tree in a sealed square: artificialised
    for labels, expected in ((lab, 1600), (town, 400 * 400)):
        path = write_raster(tmp_path / "l.tif", labels[None], nodata=0)
        for rules in ("cosia-2023", "cosia-2023-v2"):
            res = compute(path, inputs["parcels"], rules=rules, year=2024, window=64)
            assert res.communes.artif_ha.sum() == pytest.approx(expected * 0.04 / 1e4)


def test_absorb_follows_chains_and_breaks_mutual_ties() -> None:
    size = np.array([3, 3, 50])
    key = np.array([7, 2, 0])
    artif = np.array([True, False, True])
    # two small patches only touching each other: the first in raster order wins the tie
    assert absorb_small_patches(size[:2], key[:2], artif[:2], np.array([[0, 1]]), 10).tolist() == [
        False,
        False,
    ]
    # a lone small patch keeps its category; chains end at the large patch
    assert absorb_small_patches(size, key, artif, np.zeros((0, 2), int), 10).tolist() == [True, False, True]
    assert absorb_small_patches(size, key, artif, np.array([[0, 1], [1, 2]]), 10).tolist() == [True] * 3
    assert RULESETS["cosia-2023-v2"].method == "graph" and RULESETS["cosia-2023"].method == "sieve"


def _bad(tmp_path: Path, case: str) -> tuple[Path, str]:
    lab = np.full((1, 64, 64), 14, np.uint8)
    if case == "bands":
        return write_raster(tmp_path / "rgb.tif", np.repeat(lab, 3, 0)), (
            "rgb.tif is not a class raster: it has 3 band(s) of uint8; give a single-band class map such as "
            "costa predict writes"
        )
    if case == "float":
        return write_raster(tmp_path / "f.tif", lab.astype("float32")), (
            "f.tif is not a class raster: it has 1 band(s) of float32; give a single-band class map such as "
            "costa predict writes"
        )
    if case == "geographic":
        return write_raster(tmp_path / "g.tif", lab, crs="EPSG:4326", res=1e-5), (
            "g.tif is in a geographic CRS (EPSG:4326); ZAN areas need a metric CRS such as EPSG:2154: "
            "reproject it (nearest neighbour) first"
        )
    if case == "coarse":
        return write_raster(tmp_path / "c.tif", lab, res=10.0), (
            "c.tif has 10 m pixels: the ZAN rules (50 m² buildings, parcels) need pixels of 1 m or finer "
            "(costa's class maps are 0.2 m)"
        )
    if case == "nodata":
        return write_raster(tmp_path / "n.tif", lab, nodata=255), (
            "n.tif declares no-data 255, but class 0 is costa's no data: recode 255 to 0 and declare 0 "
            "(gdal_edit.py -a_nodata 0 n.tif)"
        )
    lab[0, :5, :5] = 255  # undeclared no-data
    return write_raster(tmp_path / "u.tif", lab), (
        "u.tif holds value 255, which is no class of costa's nomenclature (1–16, 0 = no data); if 255 marks "
        "no data, recode it to 0 and declare it (-a_nodata 0)"
    )


@pytest.mark.parametrize("case", ["bands", "float", "geographic", "coarse", "nodata", "undeclared"])
def test_unfit_land_cover_gives_one_line_and_no_output(
    tmp_path: Path, inputs: dict[str, Path], case: str
) -> None:
    path, message = _bad(tmp_path, case)
    res = costa(
        "zan",
        "compute",
        "--landcover",
        path,
        "--parcels",
        inputs["parcels"],
        "--year",
        "2024",
        "-o",
        tmp_path / "z.gpkg",
    )
    assert_clean_error(res, message)
    assert res.stderr.strip() == f"error: {message}"
    assert not (tmp_path / "z.gpkg").exists()


def test_v2_by_windows_equals_the_gdal_sieve_on_a_noisy_raster(
    tmp_path: Path, inputs: dict[str, Path]
) -> None:
    rng = np.random.default_rng(5)
    blobs = rng.choice([1, 2, 3, 13, 14, 10, 12], size=(97, 97), p=[0.08, 0.12, 0.05, 0.15, 0.3, 0.2, 0.1])
    lab = np.repeat(np.repeat(blobs, 8, 0), 8, 1)[:N, :N].astype(np.uint8)
    noise = rng.random((N, N)) < 0.05
    lab[noise] = rng.integers(1, 17, int(noise.sum()))
    path = write_raster(tmp_path / "noisy.tif", lab[None], nodata=0)
    v1 = compute(path, inputs["parcels"], rules="cosia-2023", year=2024)
    v2 = compute(path, inputs["parcels"], rules="cosia-2023-v2", year=2024, window=128)
    pd.testing.assert_series_equal(v1.parcelles.artif_m2, v2.parcelles.artif_m2, check_exact=True)
    pixel = compute(path, inputs["parcels"], rules="cosia-2023-pixel", year=2024)
    assert (pixel.parcelles.artif_m2 != v2.parcelles.artif_m2).sum() > 10


def test_pixel_figures_from_counts_equal_the_figures_pass(inputs: dict[str, Path]) -> None:
    one = compute(inputs["new"], inputs["parcels"], rules="cosia-2023-pixel", window=256)  # one pass
    two = compute(  # the same vintage twice: artificialised pixels counted in the figures pass
        inputs["new"],
        inputs["parcels"],
        landcover_before=inputs["new"],
        year_before=2024,
        rules="cosia-2023-pixel",
    )
    pd.testing.assert_frame_equal(one.communes, two.communes[one.communes.columns], check_exact=True)
    pd.testing.assert_series_equal(one.parcelles.artif_m2, two.parcelles.artif_m2, check_exact=True)


def _v1_in_memory(inputs: dict[str, Path], area: Box) -> list[np.ndarray]:
    """Per-parcel artificialised pixels (new, old, gained, lost) of version 1 over ``area`` at once."""
    from costa.zan.compute import read_parcels, zone_ids
    from costa.zan.rules import artificialised, class_counts, urban_usage

    gp = read_parcels(inputs["parcels"])
    out = []
    for key in ("new", "old"):
        with rasterio.open(inputs[key]) as ds:
            lab = ds.read(1, window=area.window())
            ids = zone_ids(gp, ds.crs, lab.shape, area.transform(ds.transform))
        urban = urban_usage(class_counts(ids, lab, len(gp)), 0.04)
        out.append(artificialised(lab, urban[ids], RULESETS["cosia-2023"], 0.04))
    layers = [*out, out[0] & ~out[1], out[1] & ~out[0]]
    return [np.bincount(ids[a], minlength=len(gp) + 1)[1:] for a in layers]


@pytest.mark.parametrize(
    ("window", "area"), [(64, None), (37, None), (4096, None), (64, Box(100, 50, 400, 500))]
)
def test_v1_by_windows_is_the_gdal_sieve_over_the_whole_area(
    inputs: dict[str, Path], window: int, area: Box | None
) -> None:
    """Version 1 sieves the area file to file: the tables of one in-memory sieve, for any window."""
    res = compute(
        inputs["new"],
        inputs["parcels"],
        landcover_before=inputs["old"],
        rules="cosia-2023",
        window=window,
        area=area,
    )
    new, old, gained, lost = _v1_in_memory(inputs, area or Box(0, 0, N, N))
    p = res.parcelles
    for column, expected in (
        ("artif_m2", new),
        ("flux_artif_m2", gained),
        ("flux_desartif_m2", lost),
    ):
        np.testing.assert_array_equal(np.rint(p[column].to_numpy() / 0.04).astype(int), expected)
    assert (res.communes.regles_version == 1).all()
    assert new.sum() > 0 and gained.sum() > 0 and old.sum() > 0


def test_undecided_pixels_group_the_same_with_or_without_one_integer_key(
    inputs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """v2 counts the pixels its windows cannot decide after the merge, grouped on one integer
    key, or row-wise when the key would overflow: the same tables either way."""
    import costa.zan.patches as patches

    def run() -> tuple[pd.DataFrame, pd.DataFrame]:
        new, old = inputs["new"], inputs["old"]
        return tables(compute(new, inputs["parcels"], landcover_before=old, rules="cosia-2023-v2", window=64))

    keyed = run()
    monkeypatch.setattr(patches, "_KEY_LIMIT", 0)
    rowwise = run()
    pd.testing.assert_frame_equal(keyed[0], rowwise[0], check_exact=True)
    pd.testing.assert_frame_equal(keyed[1], rowwise[1], check_exact=True)


def test_v1_on_an_area_under_its_patch_threshold_is_one_clean_error(inputs: dict[str, Path]) -> None:
    """GDAL's sieve refuses a threshold larger than its raster: one line naming the way out."""
    from costa.errors import SourceError

    with pytest.raises(SourceError, match=r"under the 62,500-pixel patch threshold .* --rules cosia-2023-v2"):
        compute(inputs["new"], inputs["parcels"], rules="cosia-2023", area=Box(0, 0, 200, 200))
    small = compute(inputs["new"], inputs["parcels"], rules="cosia-2023-v2", area=Box(0, 0, 200, 200))
    assert small.communes.surface_ha.sum() > 0
