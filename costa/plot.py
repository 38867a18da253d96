"""Figures for notebooks and reports: class maps, confusion matrices, ZAN charts per commune.

matplotlib only, imported when a function runs (``pip install "costa-landcover[research]"``).
Colours and class names come from :mod:`costa.nomenclature`; legends and axis labels are
in French (``lang="fr"``, the default) or English (``lang="en"``). Every function draws on
``ax`` when given one, else on a new figure, and returns the axes.

Examples:
    >>> cmap, norm = class_colormap()
    >>> cmap.N, [round(float(v), 3) for v in cmap(norm(1))]
    (17, [0.808, 0.439, 0.475, 1.0])

"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from costa.errors import OptionError, require
from costa.evaluation import Metrics
from costa.nomenclature import CLASSES, by_code

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import BoundaryNorm, ListedColormap

__all__ = ["Lang", "class_colormap", "confusion", "landcover", "zan"]

Lang = Literal["fr", "en"]

_TEXT: dict[str, dict[str, str]] = {
    "fr": {
        "truth": "référence",
        "pred": "prédiction",
        "miou": "mIoU {miou:.1%}, précision globale {oa:.1%}",
        "artif_pct": "surface artificialisée (% de la commune)",
        "flux": "flux {old} → {new} (ha)",
        "flux_artif_ha": "artificialisation",
        "flux_desartif_ha": "désartificialisation",
        "flux_artif_net_ha": "solde net",
        "classes": "occupation du sol (ha)",
        "x": "x (m)",
        "y": "y (m)",
    },
    "en": {
        "truth": "truth",
        "pred": "prediction",
        "miou": "mIoU {miou:.1%}, overall accuracy {oa:.1%}",
        "artif_pct": "artificialised area (% of the commune)",
        "flux": "flux {old} → {new} (ha)",
        "flux_artif_ha": "artificialisation",
        "flux_desartif_ha": "de-artificialisation",
        "flux_artif_net_ha": "net balance",
        "classes": "land cover (ha)",
        "x": "x (m)",
        "y": "y (m)",
    },
}
_FLUX = ("flux_artif_ha", "flux_desartif_ha", "flux_artif_net_ha")
_FLUX_COLORS = ("#ce7079", "#4c9129", "#555555")


def _mpl() -> Any:
    """``matplotlib.pyplot``, or an error saying how to install it."""
    require("matplotlib", "research", "costa.plot")
    return importlib.import_module("matplotlib.pyplot")


def _text(lang: str) -> dict[str, str]:
    if lang not in _TEXT:
        raise OptionError(f"lang={lang!r}: choose 'fr' or 'en'")
    return _TEXT[lang]


def _name(code: int, lang: str) -> str:
    c = by_code(code)
    return c.fr if lang == "fr" else c.en


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _, new = _mpl().subplots(figsize=figsize, layout="constrained")
    return new  # type: ignore[no-any-return]


def class_colormap() -> tuple[ListedColormap, BoundaryNorm]:
    """Colormap and norm mapping class codes 0–16 to the nomenclature colours (0 transparent)."""
    _mpl()
    from matplotlib.colors import BoundaryNorm, ListedColormap

    colors = [(0.0, 0.0, 0.0, 0.0)] + [c.color for c in CLASSES]
    return ListedColormap(colors, name="costa"), BoundaryNorm(np.arange(-0.5, len(colors)), len(colors))


def _read_labels(data: Any, max_pixels: int) -> tuple[np.ndarray, tuple[float, float, float, float] | None]:
    """Class codes to draw (decimated past ``max_pixels``) and their map extent, if known."""
    if isinstance(data, str | os.PathLike):
        import rasterio
        from rasterio.enums import Resampling

        from costa.errors import SourceReadError

        if not Path(data).is_file():
            raise SourceReadError(f"class raster not found: {data}")
        with rasterio.open(data) as src:
            f = max(1.0, float(np.sqrt(src.width * src.height / max_pixels)))
            shape = (max(1, round(src.height / f)), max(1, round(src.width / f)))
            labels = src.read(1, out_shape=shape, resampling=Resampling.mode if f > 1 else Resampling.nearest)
            b = src.bounds
            return labels, (b.left, b.right, b.bottom, b.top)
    extent = None
    from costa.io.xr import georef, is_dataarray

    if is_dataarray(data):
        _, t = georef(data)
        if t is not None:
            h, w = data.shape[-2:]
            x0, y0 = t * (0, 0)
            x1, y1 = t * (w, h)
            extent = (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))
    arr = np.asarray(data)
    if arr.ndim == 3:  # (band, y, x): band 1 holds the classes, band 2 the confidence
        arr = arr[0]
    if arr.ndim != 2:
        raise OptionError(f"expected (height, width) class codes, got shape {arr.shape}")
    step = max(1, int(np.ceil(np.sqrt(arr.size / max_pixels))))
    return arr[::step, ::step], extent


def landcover(
    data: Any,
    ax: Axes | None = None,
    lang: Lang = "fr",
    *,
    legend: Literal["present", "all", "none"] = "present",
    title: str | None = None,
    max_pixels: int = 4_000_000,
) -> Axes:
    """Draw a class map with the nomenclature colours and a legend of class names.

    Args:
        data: a class raster path, a DataArray from :func:`costa.predict`, or ``(H, W)`` codes.
        ax: axes to draw on (default: a new figure).
        lang: ``fr`` or ``en`` class names.
        legend: the classes ``present`` in the map, ``all`` 16, or ``none``.
        title: axes title.
        max_pixels: larger maps are decimated for drawing (files by mode resampling).

    Georeferenced inputs are drawn in map coordinates (metres).

    Examples:
        >>> import numpy as np
        >>> ax = landcover(np.array([[1, 2], [13, 13]], np.uint8), lang="en")
        >>> [t.get_text() for t in ax.get_legend().get_texts()]
        ['building', 'impervious surface', 'herbaceous']

    """
    text = _text(lang)
    labels, extent = _read_labels(data, max_pixels)
    ax = _axes(ax, (8, 6))
    cmap, norm = class_colormap()
    ax.imshow(labels, cmap=cmap, norm=norm, interpolation="nearest", extent=extent)
    if extent is not None:
        ax.set_xlabel(text["x"])
        ax.set_ylabel(text["y"])
        ax.ticklabel_format(useOffset=False, style="plain")
        ax.locator_params(nbins=4)  # Lambert-93 metres are 7-digit numbers
    if title:
        ax.set_title(title)
    if legend != "none":
        codes = [c.code for c in CLASSES]
        if legend == "present":
            present = set(np.unique(labels).tolist())
            codes = [c for c in codes if c in present]
        from matplotlib.patches import Patch

        handles = [Patch(facecolor=by_code(c).color, label=_name(c, lang)) for c in codes]
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False
        )
    return ax


def confusion(
    metrics: Metrics | np.ndarray,
    ax: Axes | None = None,
    lang: Lang = "fr",
    *,
    normalize: bool = True,
) -> Axes:
    """Draw a confusion matrix (rows: truth, columns: prediction) of the classes that occur.

    Args:
        metrics: :class:`~costa.evaluation.Metrics` from :func:`costa.evaluate`, or its 17 × 17 matrix.
        ax: axes to draw on (default: a new figure).
        lang: ``fr`` or ``en`` class names.
        normalize: show each truth row in % (recall per class) rather than pixel counts.

    Examples:
        >>> import numpy as np
        >>> from costa.evaluation import Metrics
        >>> m = Metrics.from_arrays(np.array([1, 1, 2, 2]), np.array([1, 2, 2, 2]))
        >>> ax = confusion(m, lang="en")
        >>> [t.get_text() for t in ax.get_yticklabels()], ax.texts[0].get_text()
        (['building', 'impervious surface'], '100')

    """
    text = _text(lang)
    m = metrics if isinstance(metrics, Metrics) else Metrics.from_matrix(np.asarray(metrics))
    matrix = m.matrix
    codes = [c.code for c in CLASSES if matrix[c.code, :].sum() or matrix[1:, c.code].sum()]
    sub = matrix[np.ix_(codes, codes)].astype(float)
    if normalize:
        rows = sub.sum(axis=1, keepdims=True)
        sub = np.divide(100 * sub, rows, out=np.zeros_like(sub), where=rows > 0)
    size = 2.0 + 0.45 * len(codes)
    ax = _axes(ax, (size + 1.5, size))
    ax.imshow(sub, cmap="Blues", vmin=0, vmax=100 if normalize else None)
    names = [_name(c, lang) for c in codes]
    ax.set_xticks(range(len(codes)), names, rotation=60, ha="right", fontsize="small")
    ax.set_yticks(range(len(codes)), names, fontsize="small")
    ax.set_xlabel(text["pred"])
    ax.set_ylabel(text["truth"])
    ax.set_title(text["miou"].format(miou=m.miou, oa=m.overall_accuracy), fontsize="medium")
    top = sub.max() or 1.0
    for (i, j), v in np.ndenumerate(sub):
        if v >= (0.5 if normalize else 1):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize="x-small",
                    color="white" if v > 0.6 * top else "black")  # fmt: skip
    return ax


def zan(
    communes: Any,
    ax: Axes | None = None,
    lang: Lang = "fr",
    *,
    kind: Literal["auto", "artif", "flux", "classes"] = "auto",
) -> Axes:
    """Chart ZAN figures per commune from the ``communes`` table of :func:`costa.zan.compute`.

    Args:
        communes: the commune DataFrame (or several vintages concatenated: one bar per year).
        ax: axes to draw on (default: a new figure).
        lang: ``fr`` or ``en`` labels.
        kind: ``artif`` (artificialised share of each commune), ``flux`` (artificialisation,
            de-artificialisation and net balance between two vintages, in ha), ``classes``
            (land-cover areas stacked in the class colours); ``auto`` is ``flux`` when the
            table has flux columns, else ``artif``.

    Examples:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"nom": ["A", "B"], "annee": [2024, 2024], "artif_pct": [12.5, 30.0]})
        >>> ax = zan(df, kind="artif")
        >>> [float(p.get_width()) for p in ax.patches]
        [12.5, 30.0]

    """
    text = _text(lang)
    df = communes
    if kind == "auto":
        kind = "flux" if all(c in df.columns for c in _FLUX) else "artif"
    if kind not in ("artif", "flux", "classes"):
        raise OptionError(f"kind={kind!r}: choose auto, artif, flux or classes")
    need = {"artif": ["artif_pct"], "flux": list(_FLUX), "classes": [f"{c.slug}_ha" for c in CLASSES]}[kind]
    missing = [c for c in ["nom", *need] if c not in df.columns]
    if missing:
        raise OptionError(
            f"the communes table has no {', '.join(missing)} column(s); pass the communes table of "
            "costa.zan.compute (with two vintages for kind='flux')"
        )
    names = list(dict.fromkeys(df["nom"].astype(str)))
    y = np.arange(len(names))
    rows = len(names) * (2 if kind == "flux" else 1)
    ax = _axes(ax, (8, max(1.2 + 0.6 * rows, 4.5 if kind == "classes" else 0.0)))
    if kind == "artif":
        years = sorted(df["annee"].unique()) if "annee" in df.columns else [None]
        h = 0.8 / len(years)
        for k, year in enumerate(years):
            sel = df if year is None else df[df["annee"] == year]
            vals = sel.set_index(sel["nom"].astype(str))["artif_pct"].reindex(names).to_numpy(float)
            pos = y - 0.4 + h * (k + 0.5)
            bars = ax.barh(pos, vals, height=h, label=None if year is None else str(year))
            ax.bar_label(bars, fmt="%.1f %%", fontsize="small", padding=2)
        ax.set_xlabel(text["artif_pct"])
        if years != [None]:
            ax.legend(frameon=False)
    elif kind == "flux":
        h = 0.8 / len(_FLUX)
        for k, (col, color) in enumerate(zip(_FLUX, _FLUX_COLORS, strict=True)):
            vals = df[col].to_numpy(float)
            bars = ax.barh(y - 0.4 + h * (k + 0.5), vals, height=h, color=color, label=text[col])
            ax.bar_label(bars, fmt="%.2f", fontsize="small", padding=2)
        ax.axvline(0, color="black", linewidth=0.8)
        old = df["annee_old"].iloc[0] if "annee_old" in df.columns else "?"
        new = df["annee_new"].iloc[0] if "annee_new" in df.columns else "?"
        ax.set_xlabel(text["flux"].format(old=old, new=new))
        ax.legend(frameon=False, fontsize="small")
    else:
        left = np.zeros(len(names))
        for c in CLASSES:
            vals = df[f"{c.slug}_ha"].to_numpy(float)
            ax.barh(y, vals, left=left, color=c.color, label=_name(c.code, lang), height=0.7)
            left += vals
        ax.set_xlabel(text["classes"])
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    return ax
