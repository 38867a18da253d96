"""xarray glue: georeferenced DataArrays in and out, without requiring rioxarray.

A class map comes back as a 2-D ``uint8`` :class:`xarray.DataArray` (dims ``y``, ``x``,
pixel-centre coordinates) that carries everything needed to use or save it:

* ``attrs["crs"]`` (WKT) and ``attrs["transform"]`` (the six affine coefficients
  ``a, b, c, d, e, f`` in rasterio's order), plus a CF ``spatial_ref`` coordinate
  (``crs_wkt``, ``GeoTransform``) so that ``da.rio.crs`` and ``da.rio.transform()`` work
  when rioxarray is installed, and ``da.rio.to_raster(...)`` writes a GeoTIFF;
* the nomenclature as CF flags (``flag_values``, ``flag_meanings``) and as
  ``class_names_fr``, ``class_names_en`` and ``class_colors`` (0 = no data).

Georeferencing is read back from the same places (``spatial_ref`` coordinate, then
``attrs``, then regularly spaced ``x``/``y`` coordinates), so DataArrays made by
rioxarray's ``open_rasterio``, by costa, or by hand all work. xarray is imported only
when one of these functions runs.

Examples:
    >>> import numpy as np
    >>> from affine import Affine
    >>> t = Affine(0.2, 0, 840000, 0, -0.2, 6521000)
    >>> da = labels_dataarray(np.ones((2, 3), np.uint8), "EPSG:2154", t)
    >>> da.dims, float(da.x[0]), da.attrs["class_names_en"][0]
    (('y', 'x'), 840000.1, 'building')
    >>> georef(da)[1] == t
    True

"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from affine import Affine

from costa.errors import SourceError
from costa.nomenclature import CLASSES, NODATA

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["class_attrs", "georef", "is_dataarray", "labels_dataarray", "spatial_ref"]


def is_dataarray(obj: object) -> bool:
    """True for an :class:`xarray.DataArray`, without importing xarray when it is not loaded.

    >>> is_dataarray([1, 2])
    False
    """
    cls = type(obj)
    return cls.__module__.startswith("xarray") and cls.__name__ == "DataArray"


def class_attrs() -> dict[str, Any]:
    """The nomenclature as DataArray attributes (CF flags, names in both languages, colours).

    Examples:
        >>> a = class_attrs()
        >>> a["flag_values"][:3], a["flag_meanings"].split()[0], a["class_colors"][0]
        ((1, 2, 3), 'batiment', '#ce7079')

    """
    return {
        "long_name": "land cover (CoSIA, 16 classes)",
        "flag_values": tuple(c.code for c in CLASSES),
        "flag_meanings": " ".join(c.slug for c in CLASSES),
        "class_names_fr": tuple(c.fr for c in CLASSES),
        "class_names_en": tuple(c.en for c in CLASSES),
        "class_colors": tuple(c.color for c in CLASSES),
        "nodata": NODATA,
    }


def _wkt(crs: Any) -> str:
    from rasterio.crs import CRS

    return str(CRS.from_user_input(crs).to_wkt())


def spatial_ref(crs: Any, transform: Affine) -> dict[str, Any]:
    """Attributes of a CF ``spatial_ref`` grid-mapping coordinate, as rioxarray writes them."""
    wkt = _wkt(crs)
    return {
        "crs_wkt": wkt,
        "spatial_ref": wkt,
        "GeoTransform": " ".join(repr(v) for v in transform.to_gdal()),
    }


def _coords(transform: Affine, height: int, width: int) -> dict[str, np.ndarray]:
    """Pixel-centre coordinates of a north-up grid."""
    if transform.b or transform.d:
        raise SourceError("rotated or sheared grids are not supported; warp the raster north-up first")
    return {
        "y": transform.f + transform.e * (np.arange(height) + 0.5),
        "x": transform.c + transform.a * (np.arange(width) + 0.5),
    }


def labels_dataarray(
    labels: np.ndarray,
    crs: Any | None,
    transform: Affine | None,
    *,
    attrs: dict[str, Any] | None = None,
    like: xr.DataArray | None = None,
) -> xr.DataArray:
    """Wrap ``(H, W)`` class codes (or ``(2, H, W)`` codes + confidence) as a georeferenced DataArray.

    Args:
        labels: uint8 class codes; a leading axis of 2 adds a ``band`` dim (1 = class, 2 = confidence).
        crs: anything rasterio's ``CRS.from_user_input`` takes, or None.
        transform: affine transform of the top-left pixel corner, or None.
        attrs: extra attributes (model name, source...).
        like: the input DataArray whose ``y``/``x`` coordinates are reused as they are.

    """
    import xarray as xr

    h, w = labels.shape[-2:]
    coords: dict[str, Any] = {} if transform is None else _coords(transform, h, w)
    if like is not None:
        coords.update({d: like.coords[d].variable for d in ("y", "x") if d in like.coords})
    all_attrs = {**class_attrs(), **(attrs or {})}
    if crs is not None and transform is not None:
        all_attrs["crs"] = _wkt(crs)
        all_attrs["transform"] = tuple(transform)[:6]
        all_attrs["grid_mapping"] = "spatial_ref"
        coords["spatial_ref"] = xr.Variable((), np.int64(0), spatial_ref(crs, transform))
    dims: tuple[str, ...] = ("y", "x")
    if labels.ndim == 3:
        dims = ("band", "y", "x")
        coords["band"] = np.arange(1, labels.shape[0] + 1)
    return xr.DataArray(labels, dims=dims, coords=coords, attrs=all_attrs, name="landcover")


def georef(da: xr.DataArray) -> tuple[str | None, Affine | None]:
    """CRS (WKT) and affine transform of a DataArray, from ``spatial_ref``, ``attrs`` or coordinates.

    Returns ``(None, None)`` parts for what the DataArray does not say.
    """
    crs: str | None = None
    transform: Affine | None = None
    ref_name = da.attrs.get("grid_mapping", da.encoding.get("grid_mapping", "spatial_ref"))
    if ref_name in da.coords:
        ref = da.coords[ref_name].attrs
        crs = ref.get("crs_wkt") or ref.get("spatial_ref")
        if ref.get("GeoTransform"):
            transform = Affine.from_gdal(*(float(v) for v in str(ref["GeoTransform"]).split()))
    if crs is None and da.attrs.get("crs") is not None:
        crs = _wkt(da.attrs["crs"])
    if transform is None and da.attrs.get("transform") is not None:
        transform = Affine(*list(da.attrs["transform"])[:6])
    if (
        transform is None
        and {"x", "y"} <= set(da.coords)
        and da.sizes.get("x", 0) > 1
        and da.sizes.get("y", 0) > 1
    ):
        x, y = np.asarray(da.x, float), np.asarray(da.y, float)
        dx, dy = float(x[1] - x[0]), float(y[1] - y[0])
        if np.allclose(np.diff(x), dx) and np.allclose(np.diff(y), dy):
            transform = Affine(dx, 0.0, float(x[0]) - dx / 2, 0.0, dy, float(y[0]) - dy / 2)
    return crs, transform
