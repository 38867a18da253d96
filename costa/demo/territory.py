"""Write the synthetic territory to disk: dalles, VRT mosaics, truth, parcels, communes.

The I/O side of :mod:`costa.demo.synthetic`. Two fictional communes side by side in
Lambert-93 at 20 cm, cut into dalles like a national ortho product, for two vintages.
Outputs are cached: rerunning with the same parameters reuses them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform_geom

from costa.demo.synthetic import Parcel, make_scene
from costa.io.writer import write_cog, write_vrt
from costa.tiling.tiles import Box

__all__ = ["COMMUNES", "Territory", "make_territory"]

COMMUNES = (("99101", "Saint-Costa-les-Vignes"), ("99102", "Costa-sur-Orge"))
"""Fictional communes (INSEE département 99 is not used by French communes)."""
GSD = 0.2


@dataclass(frozen=True)
class Territory:
    """Paths of a generated territory."""

    root: Path
    seed: int
    years: tuple[int, int]
    ortho: dict[int, Path]
    truth: dict[int, Path]
    parcels: Path
    communes: Path
    size_px: tuple[int, int]


def make_territory(
    root: str | Path,
    seed: int = 0,
    dalles: tuple[int, int] = (2, 2),
    dalle_px: int = 1000,
    years: tuple[int, int] = (2021, 2024),
    origin: tuple[float, float] = (840000.0, 6521000.0),
) -> Territory:
    """Write (or reuse) a synthetic territory under ``root``: two communes, two vintages.

    Each vintage is ``dalles`` = (rows, cols) GeoTIFF dalles of ``dalle_px`` pixels at 20 cm in
    Lambert-93, joined by a VRT mosaic, with its truth COG; parcels (Etalab-cadastre-like
    GeoJSON) and communes (ADMIN EXPRESS-like) come with them. Same arguments, same bytes;
    a second call with the same arguments reuses the files.

    Args:
        root: output folder (created).
        seed: scene seed.
        dalles: dalle rows and columns.
        dalle_px: side of one dalle in pixels.
        years: the two vintages.
        origin: top-left corner (x, y) in Lambert-93 metres.

    Returns:
        The :class:`~costa.demo.territory.Territory` paths: ``ortho[year]``, ``truth[year]``,
        ``parcels``, ``communes``.

    Examples:
        >>> terr = make_territory(tmp / "demo", dalles=(1, 2), dalle_px=384)
        >>> terr.size_px, terr.ortho[2024].name, terr.communes.name
        ((384, 768), 'ortho_2024.vrt', 'communes.geojson')

    """
    root = Path(root)
    rows, cols = dalles
    h, w = rows * dalle_px, cols * dalle_px
    transform = from_origin(origin[0], origin[1], GSD, GSD)
    crs = rasterio.crs.CRS.from_epsg(2154)
    t = Territory(
        root=root,
        seed=seed,
        years=years,
        ortho={y: root / f"ortho_{y}.vrt" for y in years},
        truth={y: root / f"truth_{y}.tif" for y in years},
        parcels=root / "parcelles.geojson",
        communes=root / "communes.geojson",
        size_px=(h, w),
    )
    stamp = root / "territory.json"
    params = {
        "seed": seed,
        "dalles": list(dalles),
        "dalle_px": dalle_px,
        "years": list(years),
        "origin": list(origin),
    }
    if stamp.exists() and json.loads(stamp.read_text()).get("params") == params:
        return t
    root.mkdir(parents=True, exist_ok=True)
    scene = None
    for v, year in enumerate(years):
        scene = make_scene(seed, h, w, vintage=v)
        paths, offsets = [], []
        (root / f"dalles_{year}").mkdir(exist_ok=True)
        for r in range(rows):
            for c in range(cols):
                x_km, y_km = (
                    origin[0] / 1000 + c * dalle_px * GSD / 1000,
                    origin[1] / 1000 - r * dalle_px * GSD / 1000,
                )
                p = root / f"dalles_{year}" / f"SYN-{year}-{x_km:07.2f}-{y_km:08.2f}-LA93-0M20.tif"
                box = Box(r * dalle_px, c * dalle_px, dalle_px, dalle_px)
                with rasterio.open(
                    p,
                    "w",
                    driver="GTiff",
                    width=dalle_px,
                    height=dalle_px,
                    count=4,
                    dtype="uint8",
                    crs=crs,
                    transform=box.transform(transform),
                    tiled=True,
                    compress="deflate",
                    photometric="MINISBLACK",
                ) as dst:
                    dst.write(scene.image[(slice(None), *box.slices())])
                    dst.descriptions = ("R", "G", "B", "NIR")
                paths.append(p)
                offsets.append((box.row, box.col, box.height, box.width))
        write_vrt(
            t.ortho[year],
            paths,
            width=w,
            height=h,
            transform=transform,
            crs_wkt=crs.to_wkt(),
            count=4,
            offsets=offsets,
        )
        with write_cog(
            t.truth[year],
            crs=crs,
            transform=transform,
            width=w,
            height=h,
            confidence=False,
            tags={"SOURCE": f"costa.demo.synthetic seed {seed} vintage {v}", "YEAR": str(year)},
        ) as sink:
            sink(Box(0, 0, h, w), scene.truth)
    assert scene is not None
    _write_vectors(t, scene.parcels, transform, w)
    stamp.write_text(
        json.dumps(
            {"params": params, "paths": {k: str(v) for k, v in asdict(t).items() if isinstance(v, Path)}},
            indent=1,
        )
    )
    return t


def _write_vectors(t: Territory, parcels: tuple[Parcel, ...], transform: rasterio.Affine, width: int) -> None:
    """Parcels as Etalab-cadastre-like GeoJSON (WGS84) and the two communes (Lambert-93)."""
    feats = []
    counters = {code: 0 for code, _ in COMMUNES}
    for p in parcels:
        code = COMMUNES[0][0] if (p.col0 + p.col1) / 2 < width / 2 else COMMUNES[1][0]
        counters[code] += 1
        n = counters[code]
        section = "A" + "ABCDEFGHJKLMNPQRSTUVWXYZ"[(n - 1) // 60 % 24]
        x0, y0 = transform * (p.col0, p.row0)
        x1, y1 = transform * (p.col1, p.row1)
        ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
        geom = transform_geom(
            "EPSG:2154", "EPSG:4326", {"type": "Polygon", "coordinates": [ring]}, precision=8
        )
        feats.append(
            {
                "type": "Feature",
                "geometry": geom,
                "properties": {
                    "id": f"{code}000{section}{n:04d}",
                    "commune": code,
                    "prefixe": "000",
                    "section": section,
                    "numero": f"{n:04d}",
                    "contenance": round(abs((x1 - x0) * (y1 - y0))),
                },
            }
        )
    t.parcels.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    r1 = t.size_px[0]
    xs = [transform * (c, 0) for c in (0, width // 2, width)]
    y_bottom = (transform * (0, r1))[1]
    communes = []
    for (code, name), (xa, xb) in zip(COMMUNES, [(xs[0][0], xs[1][0]), (xs[1][0], xs[2][0])], strict=True):
        ring = [[xa, xs[0][1]], [xb, xs[0][1]], [xb, y_bottom], [xa, y_bottom], [xa, xs[0][1]]]
        communes.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"INSEE_COM": code, "NOM": name},
            }
        )
    t.communes.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": communes,
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}},
            }
        )
    )
