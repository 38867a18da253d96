"""Mosaics of dalles: find them, check they fit together, read any window across them.

A national ortho product comes as thousands of dalles (1 km, 5000 × 5000 px at 20 cm),
often as several products with the same dalle names (RVB and IRC). A :class:`Mosaic` is
the header-level view of one product on one pixel grid; a :class:`BandRecipe` says which
band of which product feeds each model input; a :class:`MosaicSource` reads any pixel box
across dalles and products, so a chunk's halo comes from its neighbours.

Reading is fault-isolated: a dalle that cannot be read fails the chunks it belongs to,
with its file name, while neighbours that only need it for context read it as no data.
"""

from __future__ import annotations

import dataclasses
import glob
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioError

from costa.errors import SourceError, SourceReadError, file_error
from costa.io.remote import gdal_path, is_remote, list_objects, opened, read_text
from costa.io.sources import check_crs, check_dtype, check_gsd, dataset_mask
from costa.models.card import ModelCard
from costa.tiling.tiles import Box

__all__ = ["MAIN", "BandRecipe", "Dalle", "Mosaic", "MosaicSource", "find_dalles", "scan"]

MAIN = "main"
"""Name of the product given as the job's source (others are named by the user)."""
RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")
LIST_SUFFIXES = (".txt", ".lst", ".list")


@dataclass(frozen=True)
class BandRecipe:
    """Which ``(product, 1-based band)`` feeds each model input, in model order.

    >>> BandRecipe.parse("1,2,3,irc:1")
    BandRecipe(inputs=(('main', 1), ('main', 2), ('main', 3), ('irc', 1)))
    >>> BandRecipe.parse("1,2,3,irc:1").bands("irc")
    (1,)
    """

    inputs: tuple[tuple[str, int], ...]

    @classmethod
    def parse(cls, text: str) -> BandRecipe:
        """Parse ``1,2,3,irc:1`` (a bare number is a band of the main product)."""
        inputs = []
        for item in text.split(","):
            product, _, band = item.strip().rpartition(":")
            try:
                inputs.append((product.strip() or MAIN, int(band)))
            except ValueError:
                raise SourceError(
                    f"--bands {text!r}: expected band numbers such as 1,2,3,4 "
                    "or, across products, 1,2,3,irc:1"
                ) from None
        return cls(tuple(inputs))

    @property
    def products(self) -> tuple[str, ...]:
        """Products used, in order of first use."""
        return tuple(dict.fromkeys(p for p, _ in self.inputs))

    def bands(self, product: str) -> tuple[int, ...]:
        """Bands read from ``product`` (each once, in order of first use)."""
        return tuple(dict.fromkeys(b for p, b in self.inputs if p == product))


@dataclass(frozen=True)
class Dalle:
    """One source file of a mosaic and where it sits on the mosaic's pixel grid."""

    path: Path
    box: Box
    count: int
    dtypes: tuple[str, ...]

    @property
    def name(self) -> str:
        """The dalle name (file stem), shared by products of the same dalle."""
        return self.path.stem


@dataclass(frozen=True)
class Mosaic:
    """Dalles of one product on one pixel grid (same CRS and resolution)."""

    crs: Any
    transform: Any
    height: int
    width: int
    dalles: tuple[Dalle, ...]
    broken: tuple[tuple[Path, str], ...] = ()

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y) in CRS units."""
        return abs(self.transform.a), abs(self.transform.e)

    def box_of(self, other: Mosaic, dalle: Dalle) -> Box:
        """Where ``other``'s dalle sits on this mosaic's grid (products share resolution)."""
        dc = round((other.transform.c - self.transform.c) / self.transform.a)
        dr = round((other.transform.f - self.transform.f) / self.transform.e)
        return Box(dalle.box.row + dr, dalle.box.col + dc, dalle.box.height, dalle.box.width)


def find_dalles(spec: str | Path) -> list[Path]:
    """Files of a mosaic given as a directory, a glob, a list file, a VRT or one raster.

    A VRT stands for the files it mosaics; a list file holds one path per line (relative to
    the list file, ``#`` comments allowed).
    """
    text = str(spec)
    if is_remote(text):
        return [Path(gdal_path(url)) for url in _remote_dalles(text)]
    p = Path(spec)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in RASTER_SUFFIXES and f.is_file())
    elif p.is_file() and p.suffix.lower() in LIST_SUFFIXES:
        lines = [ln.strip() for ln in p.read_text().splitlines()]
        files = [(p.parent / ln) for ln in lines if ln and not ln.startswith("#")]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise SourceReadError(f"{missing[0]} listed in {p} does not exist ({len(missing)} missing)")
    elif p.is_file() and p.suffix.lower() == ".vrt":
        try:
            with rasterio.open(p) as ds:
                files = [Path(f) for f in ds.files[1:]]
        except RasterioError as e:
            raise SourceReadError(file_error(p, e, doing="open")) from None
    elif p.is_file():
        files = [p]
    elif any(ch in text for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(text) if Path(f).is_file())
    else:
        raise SourceReadError(f"source not found: {text}")
    if not files:
        raise SourceError(f"no dalles in {text} (looked for {', '.join(RASTER_SUFFIXES)} files)")
    return [f.absolute() for f in files]  # workers elsewhere (a scheduler's) have another cwd


def _remote_dalles(url: str) -> list[str]:
    """URLs of a mosaic on object storage: a prefix or glob, a list file, a VRT or one raster."""
    suffix = Path(url.split("?")[0]).suffix.lower()
    if url.startswith("s3://") and (any(ch in url for ch in "*?[") or url.endswith("/")):
        files = list_objects(url, RASTER_SUFFIXES)
    elif suffix in LIST_SUFFIXES:
        base = url.rsplit("/", 1)[0]
        lines = [ln.strip() for ln in read_text(url).splitlines()]
        files = [ln if is_remote(ln) else f"{base}/{ln}" for ln in lines if ln and not ln.startswith("#")]
    elif suffix == ".vrt":
        try:
            with opened(gdal_path(url)) as ds:
                return [f.replace("/vsis3/", "s3://", 1) for f in ds.files[1:]]
        except RasterioError as e:
            raise SourceReadError(file_error(Path(url), e, doing="open")) from None
    elif suffix in RASTER_SUFFIXES:
        files = [url]
    else:
        files = list_objects(url.rstrip("/") + "/", RASTER_SUFFIXES)
    if not files:
        raise SourceError(f"no dalles in {url} (looked for {', '.join(RASTER_SUFFIXES)} objects)")
    return files


def scan(paths: Sequence[Path], product: str = MAIN) -> Mosaic:
    """Read the headers of ``paths`` and place them on one pixel grid.

    Raises SourceError naming the first file whose CRS, resolution or pixel grid differs from
    the first readable one. Files whose header cannot be read are kept aside in ``broken``:
    they fail alone when the job reaches them.
    """
    heads: list[tuple[Path, Any, Any, int, int, int, tuple[str, ...]]] = []
    broken = []
    for path in paths:
        try:
            with opened(path) as ds:
                heads.append((path, ds.crs, ds.transform, ds.height, ds.width, ds.count, tuple(ds.dtypes)))
        except RasterioError as e:
            broken.append((path, file_error(path, e, doing="open")))
    if not heads:
        raise SourceReadError(f"none of the {len(paths)} {product} file(s) can be opened: {broken[0][1]}")
    ref_path, crs, tr, *_ = heads[0]
    check_crs(crs, str(ref_path), reproject=None)
    for path, c, t, *_ in heads[1:]:
        if c != crs:
            raise SourceError(
                f"{path} is in {c.to_string() if c else 'no CRS'} but {ref_path} is in {crs.to_string()}: "
                "all dalles of a job must share one CRS"
            )
        if not (math.isclose(t.a, tr.a, rel_tol=1e-6) and math.isclose(t.e, tr.e, rel_tol=1e-6)):
            raise SourceError(
                f"{path} has {abs(t.a):g} × {abs(t.e):g} pixels but {ref_path} has "
                f"{abs(tr.a):g} × {abs(tr.e):g}: all dalles of a job must share one resolution"
            )
        if t.b or t.d:
            raise SourceError(f"{path} is rotated; costa reads north-up rasters only")
    x0 = min(t.c for _, _, t, *_ in heads)
    y0 = max(t.f for _, _, t, *_ in heads)
    dalles = []
    for path, _, t, h, w, count, dtypes in heads:
        col, row = (t.c - x0) / tr.a, (t.f - y0) / tr.e
        if abs(col - round(col)) > 1e-3 or abs(row - round(row)) > 1e-3:
            raise SourceError(
                f"{path} is not on the pixel grid of {ref_path} (offset by a fraction of a pixel)"
            )
        dalles.append(Dalle(path, Box(round(row), round(col), h, w), count, dtypes))
    height = max(d.box.row_stop for d in dalles)
    width = max(d.box.col_stop for d in dalles)
    transform = rasterio.Affine(tr.a, 0.0, x0, 0.0, tr.e, y0)
    return Mosaic(crs, transform, height, width, tuple(dalles), tuple(broken))


@dataclass
class MosaicSource:
    """Model inputs read across the dalles of one or more products.

    Args:
        products: one mosaic per product; ``MAIN`` sets the output grid.
        recipe: which band of which product feeds each model input.
        card: the model, to check dtypes and GSD against.
        force: accept a GSD more than 50 % away from the model's.
        warn: called with soft warnings.

    """

    products: dict[str, Mosaic]
    recipe: BandRecipe
    card: ModelCard
    force: bool = False
    warn: Callable[[str], None] | None = None
    _index: dict[str, _Index] = field(init=False, repr=False)
    unreadable: set[Path] = field(init=False, default_factory=set)
    """Neighbouring dalles that could not be read and were taken as no data (context only)."""

    def __post_init__(self) -> None:
        main = self.products[MAIN]
        self.height, self.width = main.height, main.width
        self.crs, self.transform = main.crs, main.transform
        if len(self.recipe.inputs) != self.card.n_bands:
            raise SourceError(
                f"--bands lists {len(self.recipe.inputs)} inputs but model '{self.card.name}' takes "
                f"{self.card.n_bands} ({','.join(self.card.bands)})"
            )
        unknown = [p for p in self.recipe.products if p not in self.products]
        if unknown:
            raise SourceError(
                f"--bands uses product '{unknown[0]}' but no such source was given "
                f"(add it with --product {unknown[0]}=DIR)"
            )
        self._index = {}
        for name in self.recipe.products:
            mosaic = self.products[name]
            self._check(name, mosaic, main)
            self._index[name] = _Index([(main.box_of(mosaic, d), d) for d in mosaic.dalles])

    def _check(self, name: str, mosaic: Mosaic, main: Mosaic) -> None:
        if not mosaic.dalles:  # a chunk's subset may miss an auxiliary dalle: read as no data
            return
        first = mosaic.dalles[0].path
        if mosaic.crs != main.crs:
            raise SourceError(f"{first} ({name}) is not in the CRS of {main.dalles[0].path} ({main.crs})")
        if not all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(mosaic.res, main.res, strict=True)):
            raise SourceError(
                f"{first} ({name}) has {mosaic.res[0]:g} m pixels but {main.dalles[0].path} has "
                f"{main.res[0]:g} m: resample one product to the other's grid"
            )
        msg = check_gsd(mosaic.res, self.card.gsd_m, self.force, str(first))
        if msg and self.warn:
            self.warn(msg)
        bands = self.recipe.bands(name)
        for d in mosaic.dalles:
            if max(bands) > d.count or min(bands) < 1:
                raise SourceError(f"--bands uses {name} band {max(bands)} but {d.path} has bands 1–{d.count}")
            check_dtype({d.dtypes[b - 1] for b in bands}, self.card, str(d.path))

    def subset(self, box: Box) -> dict[str, Mosaic]:
        """The products cut down to the dalles meeting ``box``: all a chunk's worker needs."""
        return {
            name: dataclasses.replace(
                self.products[name], dalles=tuple(d for _, d in self._index[name].meeting(box)), broken=()
            )
            for name in self.recipe.products
        }

    def read(self, box: Box, own: Box | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Read ``box`` (inputs in model order) and its validity mask.

        A dalle that fails to read raises SourceReadError if it meets ``own`` (default: the
        whole box); otherwise its pixels are left invalid and a warning names it.
        """
        own = own or box
        raw = np.zeros((self.card.n_bands, box.height, box.width), np.dtype(self.card.input_dtype))
        valid = np.ones((box.height, box.width), bool)
        for name in self.recipe.products:
            bands = self.recipe.bands(name)
            where = [i for i, (p, _) in enumerate(self.recipe.inputs) if p == name]
            order = [bands.index(b) for p, b in self.recipe.inputs if p == name]
            covered = np.zeros_like(valid)
            for at, dalle in self._index[name].meeting(box):
                part = at.intersect(box)
                try:
                    px, ok = _read_dalle(dalle.path, bands, part.relative_to(at))
                except SourceReadError as e:
                    if at.intersect(own).height and at.intersect(own).width:
                        raise
                    self.unreadable.add(dalle.path)
                    if self.warn:
                        self.warn(f"{e}; read as no data for the context of a neighbouring dalle")
                    continue
                sl = part.slices(box)
                raw[(where, *sl)] = px[order]
                covered[sl] = ok
            valid &= covered
        return raw, valid


class _Index:
    """Boxes of dalles bucketed on a coarse grid, to find those meeting a box quickly."""

    def __init__(self, items: Iterable[tuple[Box, Dalle]]) -> None:
        self.items = list(items)
        self.cell = max(
            max((b.height for b, _ in self.items), default=1),
            max((b.width for b, _ in self.items), default=1),
        )
        self.cells: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, (b, _) in enumerate(self.items):
            for key in self._keys(b):
                self.cells[key].append(i)

    def _keys(self, b: Box) -> Iterable[tuple[int, int]]:
        c = self.cell
        for r in range(b.row // c, (b.row_stop - 1) // c + 1):
            for k in range(b.col // c, (b.col_stop - 1) // c + 1):
                yield r, k

    def meeting(self, box: Box) -> list[tuple[Box, Dalle]]:
        """Dalles whose box meets ``box``, in input order."""
        hits = sorted({i for key in self._keys(box) for i in self.cells.get(key, ())})
        out = []
        for i in hits:
            b, d = self.items[i]
            part = b.intersect(box)
            if part.height and part.width:
                out.append((b, d))
        return out


def _read_dalle(path: Path, bands: Sequence[int], box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Read ``bands`` of one dalle in ``box`` (its own pixels) with GDAL's validity mask."""
    window = box.window()
    try:
        with opened(path) as ds:
            px = ds.read(list(bands), window=window)
            if all(MaskFlags.all_valid in ds.mask_flag_enums[b - 1] for b in bands):
                ok = np.ones(px.shape[1:], bool)
            else:
                ok = dataset_mask(ds, window)
    except RasterioError as e:
        raise SourceReadError(file_error(path, e)) from None
    return px, ok
