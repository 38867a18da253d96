"""GeoPackages as people make them: which tables hold data, read with the standard library.

A GeoPackage is an SQLite file whose ``gpkg_contents`` table lists its layers. Files saved
from QGIS also hold tables that are not data: ``layer_styles`` (the styles, registered as
an ``attributes`` table), ``qgis_projects`` (not registered at all). Handed such a file
without a layer name, GDAL picks the first table and pyogrio warns "More than one layer
found"; :func:`data_layer` instead names the one layer of features, or stops with one line
listing them and the option that picks one.

Reading the small tables costa writes (``costa zan query``) through :mod:`sqlite3` answers in
milliseconds, where importing GDAL and pandas takes a second (:func:`rows`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TypeAlias

from costa.errors import SourceError, SourceReadError, file_error

__all__ = ["SqlValue", "columns", "data_layer", "data_layers", "is_geopackage", "rows"]

SqlValue: TypeAlias = int | float | str | bytes | None
"""A value as :mod:`sqlite3` returns it."""

_MAGIC = b"SQLite format 3\x00"
_KINDS = {
    "BOOLEAN": "bool",
    "TINYINT": "int",
    "SMALLINT": "int",
    "MEDIUMINT": "int",
    "INT": "int",
    "INTEGER": "int",
    "BIGINT": "int",
    "FLOAT": "float",
    "DOUBLE": "float",
    "REAL": "float",
}
"""GeoPackage column types (its spec, table 1) → the Python type a value reads as; the rest are text."""


def is_geopackage(path: str | Path) -> bool:
    """True for an SQLite file (a GeoPackage) by its first bytes, whatever its suffix."""
    try:
        with open(path, "rb") as f:
            return f.read(len(_MAGIC)) == _MAGIC
    except OSError:
        return False


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection (never creates the file, never takes a write lock)."""
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise SourceReadError(f"cannot read {path}: {e}") from None
    with closing(con):
        yield con


def data_layers(path: str | Path) -> list[str]:
    """The layers of features in a GeoPackage, in ``gpkg_contents`` order (styles, projects left out).

    Other vector files (GeoJSON, Shapefile…) are asked through pyogrio: their layers that have
    a geometry type.
    """
    if not is_geopackage(path):
        import pyogrio

        try:
            listed = pyogrio.list_layers(str(path))  # as given: Path() would spoil /vsigzip//abs
        except Exception as e:
            raise SourceReadError(file_error(path, e)) from None
        return [str(name) for name, geometry in listed if geometry]
    with _connect(Path(path)) as con:
        try:
            found = con.execute(
                "SELECT table_name FROM gpkg_contents WHERE data_type = 'features' ORDER BY rowid"
            ).fetchall()
        except sqlite3.Error as e:
            raise SourceReadError(f"{path} is not a GeoPackage ({e})") from None
    return [str(name) for (name,) in found]


def data_layer(path: str | Path, layer: str | None = None, *, option: str = "--layer") -> str | None:
    """The layer of ``path`` to read: ``layer`` if it is one of its data layers, else the only one.

    Args:
        path: a vector file (GeoPackage, GeoJSON, Shapefile…).
        layer: the layer asked for (None: the file's only data layer).
        option: the command-line option that names the layer, for the error line.

    Returns:
        The layer name, or None for a single-layer file that is not a GeoPackage (read it as is).

    Raises:
        SourceError: several data layers and none asked for; the one asked for is not there; none.

    Examples:
        >>> import geopandas as gpd, shapely
        >>> g = gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=2154)
        >>> g.to_file(tmp / "two.gpkg", layer="a"); g.to_file(tmp / "two.gpkg", layer="b")
        >>> data_layer(tmp / "two.gpkg", "b")
        'b'
        >>> data_layer(tmp / "two.gpkg")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        costa.errors.SourceError: ... holds several data layers (a, b): choose one with --layer NAME

    """
    names = data_layers(path)
    gpkg = is_geopackage(path)
    if layer is not None:
        if layer not in names:
            known = ", ".join(names) if names else "none"
            raise SourceError(f"{path} has no data layer {layer!r}; its data layers: {known}")
        return layer
    if len(names) > 1:
        raise SourceError(
            f"{path} holds several data layers ({', '.join(names)}): choose one with {option} NAME"
        )
    if not names:
        if not gpkg:
            return None
        raise SourceError(f"{path} holds no data layer (no table of features in gpkg_contents)")
    return names[0] if gpkg else None


def rows(path: str | Path, table: str) -> tuple[list[str], list[tuple[SqlValue, ...]]]:
    """Column names and rows of one table of a GeoPackage (attributes only, geometry left as bytes).

    Raises:
        SourceError: the file has no table ``table``.

    """
    path = Path(path)
    with _connect(path) as con:
        try:
            cur = con.execute(f'SELECT * FROM "{table}"')  # a table name costa chose
        except sqlite3.Error:
            raise SourceError(f"{path} has no {table!r} table; make it with costa zan compute") from None
        names = [d[0] for d in cur.description]
        return names, cur.fetchall()


def columns(path: str | Path, table: str) -> dict[str, str]:
    """A table's attribute columns and their kind (``int``, ``float``, ``bool``, ``str``), in order.

    The primary key (``fid``) and the geometry column are left out, as pyogrio leaves them out of
    a table read without geometry.
    """
    path = Path(path)
    with _connect(path) as con:
        info = con.execute(f'PRAGMA table_info("{table}")').fetchall()
        if not info:
            raise SourceError(f"{path} has no {table!r} table; make it with costa zan compute")
        try:
            geometry = {
                str(g)
                for (g,) in con.execute(
                    "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (table,)
                )
            }
        except sqlite3.Error:  # a table without geometry in a file with none
            geometry = set()
    kinds = {}
    for _, name, declared, _, _, pk in info:
        if pk or name in geometry:
            continue
        kinds[str(name)] = _KINDS.get(str(declared).split("(")[0].upper(), "str")
    return kinds
