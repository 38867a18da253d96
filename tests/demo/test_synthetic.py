from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio

from costa.demo.synthetic import make_scene
from costa.demo.territory import make_territory
from costa.evaluation import Metrics, evaluate


def test_scene_is_deterministic_and_has_all_classes() -> None:
    a, b = make_scene(11, 1200, 1200), make_scene(11, 1200, 1200)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.truth, b.truth)
    assert set(np.unique(a.truth)) == set(range(1, 17))
    assert not np.array_equal(make_scene(12, 1200, 1200).truth, a.truth)


def test_second_vintage_changes_a_few_parcels() -> None:
    old, new = make_scene(5, 1200, 1200), make_scene(5, 1200, 1200, vintage=1)
    changed = [p for p, q in zip(old.parcels, new.parcels, strict=True) if p.use != q.use]
    assert 2 <= len(changed) <= 6
    assert [p.index for p in old.parcels] == [p.index for p in new.parcels]
    diff = old.truth != new.truth
    assert 0.001 < diff.mean() < 0.2
    inside = np.zeros_like(diff)
    for p in changed:
        inside[p.row0 : p.row1, p.col0 : p.col1] = True
    assert not (diff & ~inside).any()  # only changed parcels differ


def test_colour_alone_does_not_separate_the_classes() -> None:
    train, test = make_scene(21, 900, 900), make_scene(22, 900, 900)
    means = np.stack([train.image[:, train.truth == c].mean(1) for c in range(1, 17)])
    x = test.image.reshape(4, -1).T.astype(np.float32)
    pred = (((x[:, None] - means[None]) ** 2).sum(-1).argmin(1) + 1).reshape(test.truth.shape)
    assert Metrics.from_arrays(pred, test.truth).miou <= 0.5


def test_territory_files(tmp_path: Path) -> None:
    t = make_territory(tmp_path / "t", seed=2, dalles=(2, 2), dalle_px=400)
    assert len(list((tmp_path / "t" / "dalles_2021").glob("*.tif"))) == 4
    with rasterio.open(t.ortho[2021]) as vrt, rasterio.open(t.truth[2021]) as truth:
        assert vrt.shape == truth.shape == (800, 800) and vrt.count == 4 and vrt.res == (0.2, 0.2)
        img, lab = vrt.read(), truth.read(1)
    scene = make_scene(2, 800, 800)
    assert np.array_equal(img, scene.image) and np.array_equal(lab, scene.truth)
    assert evaluate(t.truth[2021], t.truth[2021]).miou == 1.0
    parcels = json.loads(t.parcels.read_text())["features"]
    assert {"id", "commune", "prefixe", "section", "numero", "contenance"} <= parcels[0]["properties"].keys()
    assert -180 < parcels[0]["geometry"]["coordinates"][0][0][0] < 180  # WGS84 like Etalab
    communes = json.loads(t.communes.read_text())["features"]
    assert [c["properties"]["INSEE_COM"] for c in communes] == ["99101", "99102"]
    mtime = t.truth[2021].stat().st_mtime
    make_territory(tmp_path / "t", seed=2, dalles=(2, 2), dalle_px=400)  # cached
    assert t.truth[2021].stat().st_mtime == mtime


def test_scene_is_identical_across_processes() -> None:
    """Python's str hash is salted per process: nothing in the generator may depend on it."""
    import hashlib
    import subprocess
    import sys

    code = (
        "import hashlib; from costa.demo import make_scene; s = make_scene(8, 600, 600, vintage=1); "
        "print(hashlib.sha256(s.image.tobytes() + s.truth.tobytes()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(seed), "PATH": ""},
        ).stdout
        for seed in (1, 2)
    }
    s = make_scene(8, 600, 600, vintage=1)
    assert digests == {hashlib.sha256(s.image.tobytes() + s.truth.tobytes()).hexdigest() + "\n"}
