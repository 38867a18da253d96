"""Styles QGIS loads by itself: ``layer_styles`` rows in GeoPackages, ``.qml`` and categories for COGs.

QGIS looks for a layer's default style in the GeoPackage's ``layer_styles`` table (the
columns QGIS itself creates: ``f_table_catalog``, ``f_table_schema`` — both the empty string
for GeoPackages —, ``f_table_name``, ``f_geometry_column``, ``styleName``, ``styleQML``,
``styleSLD``, ``useAsDefault``, ``description``, ``owner``, ``ui``, ``update_time``) and, for a
raster, in a ``.qml`` file beside it. Which style a layer gets follows from its fields:

* land-cover polygons (``code``, ``classe``): categorised on ``code``, class colours;
* parcels (``statut``): categorised on the ZAN status, :data:`costa.zan.schema.STATUS_COLORS`;
* communes (``artif_pct``): graduated on the artificialised share;
* anything else: one plain symbol.

Every style names the layer's fields (French aliases from :mod:`costa.zan.schema`), so a
planner reads "Surface artificialisée (ha)" in the attribute table. Rasters get category
names (GDAL ``CategoryNames`` and a thematic raster attribute table in the ``.aux.xml``
GDAL reads beside any GeoTIFF) and a paletted ``.qml``.

>>> qml = vector_qml("parcelles", ["id", "statut"], geometry="Polygon")
>>> "categorizedSymbol" in qml and 'field="statut"' in qml
True
"""

from __future__ import annotations

import datetime as dt
import itertools
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from costa.io.atomic import write_atomic
from costa.nomenclature import CLASSES

__all__ = [
    "SHARE_BREAKS",
    "SHARE_COLORS",
    "add_styles",
    "raster_qml",
    "share_color",
    "vector_qml",
    "vector_sld",
    "write_raster_styles",
]

QGIS_VERSION = "3.34.0-Prizren"
SHARE_BREAKS = (0.0, 10.0, 20.0, 40.0, 60.0, 100.0)
"""Classes of the communes' artificialised share (%), light to dark."""
SHARE_COLORS = ("#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15")
"""The colour of each class of :data:`SHARE_BREAKS` (the QGIS style and the report's index map)."""


def share_color(pct: float) -> str:
    """The colour of an artificialised share (%) on the communes' graduated map.

    >>> share_color(0.0), share_color(15.0), share_color(100.0)
    ('#fee5d9', '#fcae91', '#a50f15')
    """
    for hi, color in zip(SHARE_BREAKS[1:], SHARE_COLORS, strict=True):
        if pct < hi:
            return color
    return SHARE_COLORS[-1]


_HEADER = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
_SLD_NS = (
    'xmlns="http://www.opengis.net/sld" xmlns:ogc="http://www.opengis.net/ogc" '
    'xmlns:se="http://www.opengis.net/se" xmlns:xlink="http://www.w3.org/1999/xlink" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.1.0"'
)


def _rgba(hex_color: str, alpha: int = 255) -> str:
    h = hex_color.lstrip("#")
    return f"{int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha}"


def _symbol(name: str, color: str, geometry: str, *, outline: str | None = None, alpha: int = 255) -> str:
    """One QGIS symbol: filled polygon, line or marker in ``color``."""
    line = outline or color
    if geometry == "Polygon":
        kind, cls = "fill", "SimpleFill"
        opts = {
            "color": _rgba(color, alpha),
            "style": "solid",
            "outline_color": _rgba(line),
            "outline_style": "solid" if outline else "no",
            "outline_width": "0.4" if outline else "0",
            "outline_width_unit": "MM",
        }
    elif geometry == "LineString":
        kind, cls = "line", "SimpleLine"
        opts = {"line_color": _rgba(color), "line_width": "0.5", "line_width_unit": "MM"}
    else:
        kind, cls = "marker", "SimpleMarker"
        opts = {"color": _rgba(color), "name": "circle", "size": "2", "size_unit": "MM"}
    options = "".join(f'<Option name="{k}" type="QString" value="{v}"/>' for k, v in opts.items())
    return (
        f'<symbol type="{kind}" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
        f'<layer class="{cls}" enabled="1" locked="0" pass="0"><Option type="Map">{options}</Option></layer>'
        "</symbol>"
    )


def _renderer(fields: Sequence[str], geometry: str) -> str:
    """The renderer element chosen by the layer's fields (see the module docstring)."""
    from costa.zan.schema import STATUS_COLORS, STATUSES

    if "code" in fields and "classe" in fields:
        attr, cats = "code", [(str(c.code), c.fr, c.color) for c in CLASSES]
        outline = None
    elif "statut" in fields:
        attr, cats = "statut", [(s, s, STATUS_COLORS[s]) for s in STATUSES]
        outline = "on"
    else:
        attr, cats, outline = "", [], None
    if cats:
        rows = "".join(
            f'<category symbol="{i}" value={quoteattr(v)} label={quoteattr(lab)} render="true"/>'
            for i, (v, lab, _) in enumerate(cats)
        )
        syms = "".join(
            _symbol(str(i), col, geometry, outline=col if outline else None, alpha=90 if outline else 255)
            for i, (_, _, col) in enumerate(cats)
        )
        return (
            f'<renderer-v2 type="categorizedSymbol" attr="{attr}" symbollevels="0" enableorderby="0" '
            f'forceraster="0"><categories>{rows}</categories><symbols>{syms}</symbols></renderer-v2>'
        )
    if "artif_pct" in fields:
        bounds = list(itertools.pairwise(SHARE_BREAKS))
        rows = "".join(
            f'<range symbol="{i}" lower="{lo:.2f}" upper="{hi:.2f}" label="{lo:g} – {hi:g} %" render="true"/>'
            for i, (lo, hi) in enumerate(bounds)
        )
        syms = "".join(_symbol(str(i), c, geometry, outline="#444444") for i, c in enumerate(SHARE_COLORS))
        return (
            '<renderer-v2 type="graduatedSymbol" attr="artif_pct" graduatedMethod="GraduatedColor" '
            f'symbollevels="0" enableorderby="0" forceraster="0"><ranges>{rows}</ranges>'
            f"<symbols>{syms}</symbols></renderer-v2>"
        )
    return (
        '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
        f"<symbols>{_symbol('0', '#3388ff', geometry, outline='#1f4e99', alpha=60)}</symbols></renderer-v2>"
    )


def _alias(field: str) -> str:
    from costa.zan.schema import FIELDS, cli_label

    if field in FIELDS:
        return cli_label(field)
    labels = {"code": "Code", "classe": "Classe", "surface_m2": "Surface (m²)", "statut": "Statut"}
    return labels.get(field, "")


def vector_qml(layer: str, fields: Sequence[str], *, geometry: str | None) -> str:
    """The QML document of a vector layer's default style (``geometry`` None: a table).

    >>> import xml.etree.ElementTree as ET
    >>> root = ET.fromstring(vector_qml("communes", ["insee_com", "artif_pct"], geometry="Polygon"))
    >>> root.find("renderer-v2").get("type"), [a.get("field") for a in root.iter("alias")]
    ('graduatedSymbol', ['insee_com', 'artif_pct'])
    """
    kind = {"Point": 0, "LineString": 1, "Polygon": 2}.get(geometry or "", 4)
    renderer = _renderer(fields, geometry) if geometry else ""
    config = "".join(
        f'<field name={quoteattr(f)} configurationFlags="NoFlag"><editWidget type="TextEdit"/></field>'
        for f in fields
    )
    aliases = "".join(
        f'<alias field={quoteattr(f)} index="{i}" name={quoteattr(_alias(f))}/>' for i, f in enumerate(fields)
    )
    return (
        f'{_HEADER}<qgis version="{QGIS_VERSION}" styleCategories="AllStyleCategories">'
        f"{renderer}<fieldConfiguration>{config}</fieldConfiguration><aliases>{aliases}</aliases>"
        f"<layerGeometryType>{kind}</layerGeometryType></qgis>\n"
    )


def vector_sld(layer: str, fields: Sequence[str]) -> str:
    """An SLD 1.1 equivalent (for GeoServer and other OGC clients): one rule per category."""
    from costa.zan.schema import STATUS_COLORS, STATUSES

    if "code" in fields and "classe" in fields:
        rules = [("code", str(c.code), c.fr, c.color) for c in CLASSES]
    elif "statut" in fields:
        rules = [("statut", s, s, STATUS_COLORS[s]) for s in STATUSES]
    else:
        rules = [("", "", layer, "#3388ff")]
    body = ""
    for attr, value, label, color in rules:
        flt = (
            f"<ogc:Filter><ogc:PropertyIsEqualTo><ogc:PropertyName>{attr}</ogc:PropertyName>"
            f"<ogc:Literal>{_xml(value)}</ogc:Literal></ogc:PropertyIsEqualTo></ogc:Filter>"
            if attr
            else ""
        )
        body += (
            f"<se:Rule><se:Name>{_xml(label)}</se:Name>{flt}<se:PolygonSymbolizer><se:Fill>"
            f'<se:SvgParameter name="fill">{color}</se:SvgParameter></se:Fill>'
            "</se:PolygonSymbolizer></se:Rule>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><StyledLayerDescriptor {_SLD_NS}><NamedLayer>'
        f"<se:Name>{_xml(layer)}</se:Name><UserStyle><se:Name>{_xml(layer)}</se:Name>"
        f"<se:FeatureTypeStyle>{body}</se:FeatureTypeStyle></UserStyle></NamedLayer></StyledLayerDescriptor>\n"
    )


def _xml(text: str) -> str:
    return quoteattr(text)[1:-1]


def _geometry_kind(geometry_type: str | None) -> str | None:
    if not geometry_type:
        return None
    for kind in ("Polygon", "LineString", "Point"):
        if kind in geometry_type:
            return kind
    return None


def add_styles(gpkg: str | Path) -> list[str]:
    """Give every layer of a written GeoPackage a default style; returns the layers styled.

    Rows already in ``layer_styles`` for these layers are replaced, so calling it twice
    leaves one default style per layer.
    """
    import pandas as pd
    import pyogrio

    gpkg = Path(gpkg)
    layers = [name for name, _ in pyogrio.list_layers(gpkg) if name != "layer_styles"]
    rows = []
    now = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    for layer in layers:
        info = pyogrio.read_info(gpkg, layer=layer)
        fields = [str(f) for f in info["fields"]]
        geometry = _geometry_kind(info["geometry_type"])
        rows.append(
            {
                "f_table_catalog": "",
                "f_table_schema": "",
                "f_table_name": layer,
                "f_geometry_column": (info.get("geometry_name") or "") if geometry else "",
                "styleName": layer,
                "styleQML": vector_qml(layer, fields, geometry=geometry),
                "styleSLD": vector_sld(layer, fields),
                "useAsDefault": True,
                "description": f"costa default style for {layer}",
                "owner": "costa",
                "ui": "",
                "update_time": now,
            }
        )
    new = pd.DataFrame(rows)
    if any(name == "layer_styles" for name, _ in pyogrio.list_layers(gpkg)):
        old = pyogrio.read_dataframe(gpkg, layer="layer_styles", read_geometry=False)
        old = old[~old.f_table_name.isin(layers)]
        new = pd.concat([old, new], ignore_index=True)
    pyogrio.write_dataframe(new, gpkg, layer="layer_styles", driver="GPKG")
    return layers


def raster_qml() -> str:
    """The paletted QML style of a land-cover raster: one named entry per class.

    >>> import xml.etree.ElementTree as ET
    >>> len(list(ET.fromstring(raster_qml()).iter("paletteEntry")))
    16
    """
    entries = "".join(
        f'<paletteEntry value="{c.code}" color="{c.color}" alpha="255" label={quoteattr(c.fr)}/>'
        for c in CLASSES
    )
    return (
        f'{_HEADER}<qgis version="{QGIS_VERSION}" styleCategories="AllStyleCategories"><pipe>'
        '<rasterrenderer type="paletted" band="1" opacity="1" nodataColor="" alphaBand="-1">'
        f"<colorPalette>{entries}</colorPalette></rasterrenderer></pipe></qgis>\n"
    )


def _pam_band() -> ET.Element:
    band = ET.Element("PAMRasterBand", band="1")
    names = ET.SubElement(band, "CategoryNames")
    by_code = {c.code: c.fr for c in CLASSES}
    for v in range(max(by_code) + 1):
        ET.SubElement(names, "Category").text = by_code.get(v, "")
    rat = ET.SubElement(band, "GDALRasterAttributeTable", tableType="thematic")
    # Type 0 integer, 2 string; Usage 5 = GFU_MinMax value, 2 = GFU_Name, 6-8 = red/green/blue.
    columns = (
        ("value", 0, 5),
        ("classe", 2, 2),
        ("class_en", 2, 0),
        ("red", 0, 6),
        ("green", 0, 7),
        ("blue", 0, 8),
    )
    for i, (name, typ, usage) in enumerate(columns):
        d = ET.SubElement(rat, "FieldDefn", index=str(i))
        ET.SubElement(d, "Name").text = name
        ET.SubElement(d, "Type").text = str(typ)
        ET.SubElement(d, "Usage").text = str(usage)
    for i, c in enumerate(CLASSES):
        row = ET.SubElement(rat, "Row", index=str(i))
        for value in (str(c.code), c.fr, c.en, *map(str, c.rgb)):
            ET.SubElement(row, "F").text = value
    return band


def write_raster_styles(cog: str | Path) -> list[Path]:
    """Write ``<cog>.aux.xml`` (category names, attribute table) and ``<stem>.qml`` beside a COG.

    GDAL keeps a GeoTIFF's category names and attribute table in the ``.aux.xml`` it reads
    beside the file (writing them into a COG would break its layout), so this is how
    ``gdalinfo`` and QGIS see them. An existing ``.aux.xml`` keeps its other entries.
    """
    cog = Path(cog)
    aux = cog.with_name(cog.name + ".aux.xml")
    root = ET.fromstring(aux.read_text()) if aux.is_file() else ET.Element("PAMDataset")
    for old in root.findall("PAMRasterBand[@band='1']"):
        root.remove(old)
    root.append(_pam_band())
    written = [write_atomic(aux, ET.tostring(root, encoding="unicode") + "\n")]
    written.append(write_atomic(cog.with_suffix(".qml"), raster_qml()))
    return written
