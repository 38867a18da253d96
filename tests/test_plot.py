"""costa.plot: class maps, confusion matrices and ZAN charts drawn with the nomenclature.

The repository conftest sets MPLBACKEND=Agg: no display is needed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

import costa
from costa.evaluation import Metrics
from costa.nomenclature import CLASSES, by_code
from costa.zan.compute import compute


@pytest.fixture(scope="module")
def territory(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return costa.demo.make_territory(tmp_path_factory.mktemp("plot"), dalles=(1, 2), dalle_px=320)


def _rgba_at(ax: plt.Axes, row: int, col: int) -> tuple[float, ...]:
    image = ax.images[0]
    value = image.get_array()[row, col]
    return tuple(float(v) for v in image.cmap(image.norm(value)))


def test_landcover_colours_and_legend_follow_the_nomenclature() -> None:
    labels = np.array([[0, 1, 7], [13, 13, 16]], np.uint8)
    ax = costa.plot.landcover(labels)
    assert _rgba_at(ax, 0, 1) == pytest.approx(to_rgba(by_code(1).color))
    assert _rgba_at(ax, 1, 0) == pytest.approx(to_rgba(by_code(13).color))
    assert _rgba_at(ax, 0, 0)[3] == 0  # no data is transparent
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["Bâtiment", "Surface eau", "Pelouse", "Vigne"]
    colours = [tuple(p.get_facecolor()) for p in ax.get_legend().get_patches()]
    assert colours == [pytest.approx(to_rgba(by_code(c).color)) for c in (1, 7, 13, 16)]
    ax_en = costa.plot.landcover(labels, lang="en", legend="all")
    assert [t.get_text() for t in ax_en.get_legend().get_texts()] == [c.en for c in CLASSES]
    assert costa.plot.landcover(labels, legend="none").get_legend() is None


def test_landcover_of_a_file_and_a_dataarray_is_drawn_in_map_units(territory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import rasterio

    with rasterio.open(territory.truth[2024]) as src:
        truth, b = src.read(1), src.bounds
    ax = costa.plot.landcover(territory.truth[2024], title="vérité 2024")
    assert ax.images[0].get_extent() == pytest.approx([b.left, b.right, b.bottom, b.top])
    np.testing.assert_array_equal(ax.images[0].get_array(), truth)
    assert ax.get_title() == "vérité 2024" and ax.get_xlabel() == "x (m)"
    da = costa.predict(territory.ortho[2024], costa.demo_model_path(), window=(slice(0, 160), slice(0, 320)))
    ax = costa.plot.landcover(da)
    assert ax.images[0].get_extent() == pytest.approx([b.left, b.left + 64, b.top - 32, b.top])
    # large files are decimated for drawing, keeping the extent
    ax = costa.plot.landcover(territory.truth[2024], max_pixels=20_000)
    assert ax.images[0].get_array().shape == (100, 200)
    assert ax.images[0].get_extent() == pytest.approx([b.left, b.right, b.bottom, b.top])
    ax.figure.savefig(tmp_path / "map.png", dpi=50)
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_confusion_shows_the_classes_that_occur_in_percent() -> None:
    truth = np.array([1, 1, 1, 1, 7, 7, 0, 0])
    pred = np.array([1, 1, 1, 2, 7, 7, 5, 5])
    ax = costa.plot.confusion(Metrics.from_arrays(pred, truth), lang="fr")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Bâtiment", "Zone imperméable", "Surface eau"]
    np.testing.assert_allclose(ax.images[0].get_array(), [[75, 25, 0], [0, 0, 0], [0, 0, 100]])
    assert sorted(t.get_text() for t in ax.texts) == ["100", "25", "75"]
    assert ax.get_xlabel() == "prédiction" and "mIoU" in ax.get_title()
    counts = costa.plot.confusion(Metrics.from_arrays(pred, truth).matrix, lang="en", normalize=False)
    np.testing.assert_allclose(counts.images[0].get_array(), [[3, 1, 0], [0, 0, 0], [0, 0, 2]])


def test_zan_charts_from_a_real_commune_table(territory) -> None:  # type: ignore[no-untyped-def]
    r = compute(
        territory.truth[2024], territory.parcels, territory.communes, landcover_before=territory.truth[2021]
    )
    df = r.communes
    ax = costa.plot.zan(df)  # auto: two vintages → flux
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "artificialisation",
        "désartificialisation",
        "solde net",
    ]
    widths = [p.get_width() for p in ax.patches]
    expected = np.column_stack([df.flux_artif_ha, df.flux_desartif_ha, df.flux_artif_net_ha]).T.ravel()
    np.testing.assert_allclose(widths, expected)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(df.nom)
    assert "2021 → 2024" in ax.get_xlabel()

    old = compute(territory.truth[2021], territory.parcels, territory.communes).communes
    both = pd.concat([old, df[old.columns]])
    ax = costa.plot.zan(both, kind="artif", lang="en")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["2021", "2024"]
    np.testing.assert_allclose([p.get_width() for p in ax.patches], [*old.artif_pct, *df.artif_pct])

    ax = costa.plot.zan(df, kind="classes")
    total = sum(p.get_width() for p in ax.patches)
    assert total == pytest.approx(df.surface_ha.sum())
    assert ax.patches[0].get_facecolor() == pytest.approx(to_rgba(CLASSES[0].color))


def test_plot_errors_say_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(costa.OptionError, match="lang='de'"):
        costa.plot.landcover(np.ones((2, 2), np.uint8), lang="de")  # type: ignore[arg-type]
    with pytest.raises(costa.OptionError, match="no flux_artif_ha"):
        costa.plot.zan(pd.DataFrame({"nom": ["A"], "artif_pct": [1.0]}), kind="flux")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(costa.MissingDependencyError, match=r'pip install "costa-landcover\[research\]"') as e:
        costa.plot.landcover(np.ones((2, 2), np.uint8))
    assert isinstance(e.value, ImportError)
