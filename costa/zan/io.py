"""ZAN outputs: a GeoPackage for QGIS (``parcelles``, ``communes``), CSV and Parquet tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from costa.errors import OutputError, SourceReadError
from costa.io.atomic import atomic_path
from costa.io.styles import add_styles
from costa.io.writer import check_writable
from costa.zan.compute import ZanResult

__all__ = ["query", "write"]


def write(result: ZanResult, out: str | Path) -> list[Path]:
    """Write ``out`` (.gpkg, atomically) and ``<stem>_{parcelles,communes}.{csv,parquet}`` beside it.

    Each GeoPackage layer carries a default QGIS style (:func:`costa.io.styles.add_styles`): the
    ``communes`` layer, with each commune's shape, a graduated map of the artificialised share.
    The tables beside it hold the same rows without geometry.
    """
    import pandas as pd
    import pyogrio

    out = check_writable(out)
    if out.suffix.lower() != ".gpkg":
        raise OutputError(f"--out {out}: give a GeoPackage path ending in .gpkg")
    with atomic_path(out, ".gpkg") as tmp:
        pyogrio.write_dataframe(result.parcelles, tmp, layer="parcelles", driver="GPKG")
        pyogrio.write_dataframe(result.communes, tmp, layer="communes", driver="GPKG", append=True)
        add_styles(tmp)  # QGIS opens each layer with its default style (layer_styles)
    written = [out]
    tables = (("parcelles", result.parcelles), ("communes", result.communes))
    for name, df in ((n, pd.DataFrame(t.drop(columns="geometry", errors="ignore"))) for n, t in tables):
        for ext in ("csv", "parquet"):
            p = out.with_name(f"{out.stem}_{name}.{ext}")
            df.to_csv(p, index=False) if ext == "csv" else df.to_parquet(p, index=False)
            written.append(p)
    return written


def query(gpkg: str | Path, commune: str) -> Any:
    """Rows of the ``communes`` layer for an INSEE code or a name (case-insensitive).

    Examples:
        >>> import costa
        >>> terr = costa.demo.make_territory(tmp / "demo", dalles=(1, 2), dalle_px=384)
        >>> result = costa.zan.compute(terr.truth[2024], terr.parcels, terr.communes)
        >>> written = write(result, tmp / "zan.gpkg")
        >>> query(tmp / "zan.gpkg", "costa-sur-orge")[["insee_com", "nom"]].values.tolist()
        [['99102', 'Costa-sur-Orge']]

    """
    import pyogrio

    from costa.zan.lookup import match

    gpkg = Path(gpkg)
    if not gpkg.is_file():
        raise SourceReadError(f"ZAN GeoPackage not found: {gpkg} (make it with costa zan compute)")
    df = pyogrio.read_dataframe(gpkg, layer="communes", read_geometry=False)
    keys = [str(k) for k in df.insee_com]
    names = [n if isinstance(n, str) else None for n in df.nom]
    return df.iloc[match(keys, names, commune, gpkg.name)]
