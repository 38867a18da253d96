"""``costa zan query`` without pandas or GDAL: a commune's row read from the GeoPackage with sqlite3.

The ``communes`` table of a ZAN GeoPackage is a few hundred rows of numbers and names; reading it
through pyogrio and pandas cost a second of imports for a millisecond of reading. Values come back
as pyogrio would give them (an integer column holding a null reads as floats, a null number or
text as NaN), so the three formats print exactly what they printed through pandas.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from costa.errors import CostaError, SourceReadError
from costa.io.gpkg import SqlValue, columns, rows

__all__ = ["CommuneRows", "find_communes", "match", "to_csv", "to_json"]

Value = str | int | float | bool | None


@dataclass(frozen=True)
class CommuneRows:
    """Rows of the ``communes`` table, as records in the table's column order."""

    fields: tuple[str, ...]
    records: tuple[dict[str, Value], ...]


def match(keys: list[str], names: list[str | None], commune: str, where: str) -> list[int]:
    """Indices of the rows whose INSEE code is ``commune`` or whose name is, case aside.

    Raises:
        CostaError: none does; the line suggests close names, or lists the codes.

    >>> match(["99101", "99102"], ["Saint-Costa", "Costa-sur-Orge"], "costa-sur-orge", "z.gpkg")
    [1]
    >>> match(["99101"], ["Saint-Costa"], "Sant-Costa", "z.gpkg")
    Traceback (most recent call last):
    ...
    costa.errors.CostaError: no commune 'Sant-Costa' in z.gpkg; did you mean Saint-Costa?

    """
    wanted = commune.lower()
    hits = [
        i
        for i, (k, n) in enumerate(zip(keys, names, strict=True))
        if k == commune or (n or "").lower() == wanted
    ]
    if hits:
        return hits
    near = difflib.get_close_matches(commune, [*keys, *(n for n in names if n is not None)], n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(near)}?" if near else f"; known: {', '.join(keys)}"
    raise CostaError(f"no commune {commune!r} in {where}{hint}")


def find_communes(gpkg: str | Path, commune: str) -> CommuneRows:
    """The ``communes`` rows of a ZAN GeoPackage for an INSEE code or a name (case-insensitive).

    Examples:
        >>> import costa
        >>> terr = costa.demo.make_territory(tmp / "demo", dalles=(1, 2), dalle_px=384)
        >>> result = costa.zan.compute(terr.truth[2024], terr.parcels, terr.communes)
        >>> _ = costa.zan.write(result, tmp / "zan.gpkg")
        >>> [(r["insee_com"], r["nom"]) for r in find_communes(tmp / "zan.gpkg", "99102").records]
        [('99102', 'Costa-sur-Orge')]

    """
    gpkg = Path(gpkg)
    if not gpkg.is_file():
        raise SourceReadError(f"ZAN GeoPackage not found: {gpkg} (make it with costa zan compute)")
    kinds = columns(gpkg, "communes")
    names, table = rows(gpkg, "communes")
    keep = [i for i, n in enumerate(names) if n in kinds]
    fields = tuple(names[i] for i in keep)
    # pyogrio reads an integer column holding a null as floats (NaN for the nulls)
    floats = {f for f in fields if kinds[f] == "int" and any(r[names.index(f)] is None for r in table)}
    records = [
        {f: _value(r[i], "float" if f in floats else kinds[f]) for f, i in zip(fields, keep, strict=True)}
        for r in table
    ]
    hits = match(
        ["" if _null(r.get("insee_com")) else str(r["insee_com"]) for r in records],
        [None if _null(r.get("nom")) else str(r["nom"]) for r in records],
        commune,
        gpkg.name,
    )
    return CommuneRows(fields, tuple(records[i] for i in hits))


def _value(v: SqlValue, kind: str) -> Value:
    """A value as sqlite3 returns it, as pyogrio and pandas give it (NaN for a null number or text)."""
    if v is None:
        return None if kind == "bool" else math.nan
    if isinstance(v, bytes):
        v = v.decode(errors="replace")
    if kind == "float":
        return float(v)
    if kind == "int":
        return int(v)
    if kind == "bool":
        return bool(v)
    return str(v)


def _null(v: Value) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def to_json(found: CommuneRows) -> str:
    """The records as JSON, floats to 10 decimals and NaN as null (pandas' ``to_json``)."""
    records = [
        {k: None if _null(v) else round(v, 10) if isinstance(v, float) else v for k, v in r.items()}
        for r in found.records
    ]
    return json.dumps(records, ensure_ascii=False)


def to_csv(found: CommuneRows) -> str:
    """The records as CSV with a header, nulls empty (pandas' ``to_csv``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(found.fields)
    for r in found.records:
        writer.writerow(["" if _null(v) else v for v in r.values()])
    return buf.getvalue()
