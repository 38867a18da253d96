"""Area-per-class bar chart as plain geometry, drawn as inline SVG by the page template.

No chart library and no CDN: the page stays readable offline and in any browser, and the
numbers drawn are the numbers in the table beside the chart.
"""

from __future__ import annotations

from dataclasses import dataclass

from costa.nomenclature import CLASSES

__all__ = ["Bar", "Chart", "class_chart"]


@dataclass(frozen=True)
class Bar:
    """One bar: position and size in SVG user units, colour, opacity and its tooltip."""

    x: float
    y: float
    width: float
    height: float
    color: str
    opacity: float
    title: str


@dataclass(frozen=True)
class Chart:
    """A grouped horizontal bar chart: one row per class, one bar per vintage."""

    width: int
    height: int
    label_width: int
    rows: list[tuple[float, str]]
    """(y of the row's label baseline, French class name)."""
    bars: list[Bar]
    series: list[tuple[str, float]]
    """(vintage label, opacity) for the chart's own legend."""


def class_chart(series: list[tuple[str, list[float]]], width: int = 640, bar: int = 9) -> Chart:
    """Lay out the area (ha) of each class for each vintage; the newest vintage is opaque.

    >>> c = class_chart([("2021", [1.0] + [0.0] * 15), ("2024", [2.0] + [0.0] * 15)])
    >>> len(c.rows), len(c.bars), c.bars[1].width == 2 * c.bars[0].width
    (16, 32, True)
    """
    label_width, pad = 150, 6
    span = width - label_width - 90
    top = max((max(v) for _, v in series), default=0.0) or 1.0
    group = bar * len(series) + pad
    rows, bars = [], []
    opacities = [1.0 if i == len(series) - 1 else 0.45 for i in range(len(series))]
    for k, cls in enumerate(CLASSES):
        y0 = k * group + pad / 2
        rows.append((y0 + bar * len(series) / 2 + 4, cls.fr))
        for s, (label, values) in enumerate(series):
            v = values[k]
            title = f"{cls.fr} {label} : {v:.2f} ha".replace(".", ",")
            bars.append(
                Bar(label_width, y0 + s * bar, span * v / top, bar - 1, cls.color, opacities[s], title)
            )
    return Chart(
        width,
        int(group * len(CLASSES) + pad),
        label_width,
        rows,
        bars,
        [(label, opacities[s]) for s, (label, _) in enumerate(series)],
    )
