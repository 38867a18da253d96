"""``costa evaluate``: score a land-cover raster against a truth on the same grid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costa.cli._common import app, out


@app.command()
def evaluate(
    pred: Annotated[Path, typer.Argument(help="Predicted land-cover raster.")],
    truth: Annotated[Path, typer.Argument(help="Truth raster on the same grid.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Confusion matrix, per-class IoU, mIoU and overall accuracy of a prediction."""
    import json

    from rich.table import Table

    from costa.errors import SourceReadError
    from costa.evaluation import evaluate as run
    from costa.nomenclature import by_code

    for p in (pred, truth):
        if not p.is_file():
            raise SourceReadError(f"raster not found: {p}")
    m = run(pred, truth)
    if as_json:
        out.print_json(json.dumps(m.to_dict(), ensure_ascii=False))
        return
    table = Table(
        "code", "classe", "IoU", title=f"mIoU {m.miou:.4f} — overall accuracy {m.overall_accuracy:.4f}"
    )
    for code, v in m.iou.items():
        table.add_row(str(code), by_code(code).fr, f"{v:.4f}")
    out.print(table)
    codes = [0, *m.iou]
    cm = Table("truth \\ pred", *map(str, codes), title="confusion matrix (pixels)")
    for c in codes[1:]:
        cm.add_row(str(c), *(str(m.matrix[c, k]) for k in codes))
    out.print(cm)
