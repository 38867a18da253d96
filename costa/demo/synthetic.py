"""A deterministic synthetic territory: RGBN orthophoto, truth, parcels, two vintages.

numpy only. The scene is planned first (roads between blocks, blocks cut into parcels,
each parcel given a use), then painted into a truth raster, then rendered as a 20 cm
R, G, B, NIR image. Classes share colours on purpose and differ by texture, shape and
context, as in real orthophotos: lawn, crops and meadow are the same greens (crops have
rows); vineyards mix the colours of soil and brush (in 2 m rows); bare soil, gravel and
ploughed land share browns (grain, furrows); flat roofs are the grey of asphalt (with
shadows and parapets); pools and ponds are both blue (pools are small rectangles in
gardens); greenhouses and snow are both bright (greenhouses have ribs).

Same seed → byte-identical outputs. The second vintage keeps the parcels and repaints
a few of them (new houses on fields, a new road, a renatured lot) with a new acquisition.
:func:`costa.demo.make_territory` writes a whole territory to disk (dalles, VRT mosaics, truth,
parcels, communes) for the demo, the notebooks and the tests.

>>> s = make_scene(seed=3, height=600, width=600)
>>> s.image.shape, s.truth.dtype.name, len(s.parcels) > 5
((4, 600, 600), 'uint8', True)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from costa.nomenclature import N_CODES

__all__ = ["Parcel", "Scene", "make_scene"]

# zone → uses its parcels may take (first ones are forced so that every class appears)
_ZONES: dict[str, tuple[str, ...]] = {
    "village": ("house_pool", "house", "house", "commerce", "house", "house_pool"),
    "agri": ("culture", "labour", "vigne", "serre", "prairie", "sol_nu", "culture", "labour"),
    "forest": ("feuillu", "conifere", "coupe", "broussaille", "feuillu", "conifere"),
    "nature": ("etang", "neige", "broussaille", "sol_nu", "prairie"),
}
_BUILT_USES = ("house", "house_pool", "commerce")

# class code → mean R, G, B, NIR; texture; per-object brightness jitter
_LOOK: dict[int, tuple[tuple[int, int, int, int], str, float]] = {
    1: ((150, 95, 90, 95), "roof", 0.18),  # red tiles (or grey flat roofs, see _paint)
    2: ((128, 128, 132, 85), "smooth", 0.10),
    3: ((150, 135, 112, 110), "grain", 0.10),
    4: ((70, 175, 205, 40), "ripple", 0.12),
    5: ((215, 222, 220, 170), "ribs", 0.06),
    6: ((160, 142, 115, 120), "blotch", 0.10),
    7: ((55, 110, 140, 25), "ripple", 0.20),
    8: ((228, 234, 242, 190), "blotch", 0.04),
    9: ((45, 80, 50, 120), "crowns_small", 0.12),
    10: ((75, 115, 55, 170), "crowns_large", 0.12),
    11: ((130, 120, 85, 130), "debris", 0.10),
    12: ((110, 125, 70, 150), "patchy", 0.12),
    13: ((110, 160, 80, 185), "fine", 0.12),
    14: ((115, 158, 82, 180), "rows", 0.12),
    15: ((150, 128, 95, 105), "furrows", 0.10),
    16: ((120, 125, 85, 140), "vines", 0.08),
}


@dataclass(frozen=True)
class Parcel:
    """A cadastral parcel in pixel coordinates (half-open rows/cols) and its use."""

    index: int
    row0: int
    col0: int
    row1: int
    col1: int
    use: str


@dataclass(frozen=True)
class Scene:
    """A rendered scene: ``image`` (4, H, W) uint8 R,G,B,NIR; ``truth`` (H, W) class codes."""

    image: np.ndarray
    truth: np.ndarray
    parcels: tuple[Parcel, ...]
    roads: tuple[tuple[int, int, int, int], ...]


def _split(
    rng: np.random.Generator,
    rect: tuple[int, int, int, int],
    *,
    min_side: int,
    gap: tuple[int, int],
    out: list[tuple[int, int, int, int]],
    cuts: list[tuple[int, int, int, int]] | None,
) -> None:
    """Binary space partition of ``rect`` (r0, c0, r1, c1); ``gap`` px (roads) between halves, in ``cuts``."""
    r0, c0, r1, c1 = rect
    h, w = r1 - r0, c1 - c0
    along_rows = h > w if abs(h - w) > min(h, w) * 0.3 else bool(rng.random() < 0.5)
    side = h if along_rows else w
    g = int(rng.integers(gap[0], gap[1] + 1)) if gap[1] else 0
    if side < 2 * min_side + g:
        out.append((r0, c0, r1, c1))
        return
    cut = int(rng.integers(min_side, side - min_side - g + 1))
    if along_rows:
        if cuts is not None and g:
            cuts.append((r0 + cut, c0, r0 + cut + g, c1))
        _split(rng, (r0, c0, r0 + cut, c1), min_side=min_side, gap=gap, out=out, cuts=cuts)
        _split(rng, (r0 + cut + g, c0, r1, c1), min_side=min_side, gap=gap, out=out, cuts=cuts)
    else:
        if cuts is not None and g:
            cuts.append((r0, c0 + cut, r1, c0 + cut + g))
        _split(rng, (r0, c0, r1, c0 + cut), min_side=min_side, gap=gap, out=out, cuts=cuts)
        _split(rng, (r0, c0 + cut + g, r1, c1), min_side=min_side, gap=gap, out=out, cuts=cuts)


def plan(
    seed: int, height: int, width: int
) -> tuple[tuple[Parcel, ...], tuple[tuple[int, int, int, int], ...]]:
    """Roads and parcels (with uses) of a scene; pure function of the seed and size."""
    rng = np.random.default_rng([seed, 1])
    blocks: list[tuple[int, int, int, int]] = []
    roads: list[tuple[int, int, int, int]] = []
    _split(
        rng,
        (0, 0, height, width),
        min_side=max(120, min(height, width) // 5),
        gap=(24, 40),
        out=blocks,
        cuts=roads,
    )
    zones = list(_ZONES)
    order = rng.permutation(len(blocks))
    parcels: list[Parcel] = []
    forced = {z: 0 for z in zones}
    for rank, b in enumerate(order):
        zone = zones[rank % len(zones)] if rank < len(zones) else zones[int(rng.integers(len(zones)))]
        lots: list[tuple[int, int, int, int]] = []
        _split(rng, blocks[b], min_side=70 if zone == "village" else 130, gap=(0, 0), out=lots, cuts=None)
        for lot in lots:
            uses = _ZONES[zone]
            use = uses[forced[zone]] if forced[zone] < len(uses) else uses[int(rng.integers(len(uses)))]
            forced[zone] += 1
            parcels.append(Parcel(len(parcels), *lot, use))
    return tuple(parcels), tuple(roads)


def changes(parcels: tuple[Parcel, ...], seed: int) -> tuple[Parcel, ...]:
    """The second vintage: fields built on, a field crossed by a new road, a lot renatured."""
    rng = np.random.default_rng([seed, 2])
    fields = [p for p in parcels if p.use in ("culture", "prairie", "labour", "sol_nu")]
    built = [p for p in parcels if p.use in _BUILT_USES]
    new = {p.index: "house" for p in rng.permutation(np.array(fields, dtype=object))[:3]}
    if len(fields) > 3:
        new[fields[int(rng.integers(3, len(fields)))].index] = "new_road"
    if built:
        new[built[int(rng.integers(len(built)))].index] = "renatured"
    return tuple(replace(p, use=new.get(p.index, p.use)) for p in parcels)


class _Painter:
    """Paints classes into the truth raster and records one texture object per stroke."""

    def __init__(self, height: int, width: int) -> None:
        self.truth = np.zeros((height, width), np.uint8)
        self.obj = np.zeros((height, width), np.int32)
        self.params: list[tuple[float, float, float, float, int]] = [(1.0, 0.0, 8.0, 0.0, 0)]
        self.shadows: list[tuple[int, int, int, int]] = []

    def rect(
        self,
        rng: np.random.Generator,
        code: int,
        r0: int,
        c0: int,
        r1: int,
        c1: int,
        mask: np.ndarray | None = None,
        variant: int = 0,
    ) -> None:
        """Paint ``code`` over a rectangle (optionally through a boolean mask of its size)."""
        sl = (slice(r0, r1), slice(c0, c1))
        gain = 1.0 + rng.normal(0, _LOOK[code][2])
        self.params.append(
            (
                gain,
                float(rng.uniform(0, np.pi)),
                float(rng.uniform(5, 9)),
                float(rng.uniform(0, 2 * np.pi)),
                variant,
            )
        )
        m = np.ones((r1 - r0, c1 - c0), bool) if mask is None else mask
        self.truth[sl][m] = code
        self.obj[sl][m] = len(self.params) - 1


def _blob(rng: np.random.Generator, h: int, w: int, fill: float = 0.55) -> np.ndarray:
    """An irregular blob filling about ``fill`` of an ``h × w`` box."""
    yy, xx = np.mgrid[0:h, 0:w]
    d = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2
    wobble = _noise(rng, h, w, max(4, min(h, w) // 4)) * 0.6
    blob: np.ndarray = (d + wobble) < fill * 1.3
    return blob


def _paint_parcel(pt: _Painter, p: Parcel, seed: int) -> None:
    rng = np.random.default_rng([seed, 3, p.index, zlib.crc32(p.use.encode())])  # stable across processes
    r0, c0, r1, c1 = p.row0, p.col0, p.row1, p.col1
    h, w = r1 - r0, c1 - c0
    simple = {
        "culture": 14,
        "labour": 15,
        "vigne": 16,
        "prairie": 13,
        "sol_nu": 6,
        "feuillu": 10,
        "conifere": 9,
        "coupe": 11,
        "broussaille": 12,
    }
    if p.use in simple:
        pt.rect(rng, simple[p.use], r0, c0, r1, c1)
        if p.use in ("coupe", "prairie", "broussaille") and h > 60 and w > 60:  # remnant trees / bushes
            for _ in range(int(rng.integers(1, 4))):
                d = int(rng.integers(14, 30))
                rr, cc = int(rng.integers(r0, r1 - d)), int(rng.integers(c0, c1 - d))
                pt.rect(rng, 10 if p.use != "broussaille" else 12, rr, cc, rr + d, cc + d, _blob(rng, d, d))
        return
    if p.use == "renatured":
        pt.rect(rng, 12, r0, c0, r1, c1)
        pt.rect(rng, 13, r0 + h // 3, c0, r1, c1)
        return
    if p.use == "new_road":
        pt.rect(rng, 14, r0, c0, r1, c1)
        g = int(rng.integers(26, 36))
        if h > w:
            pt.rect(rng, 2, r0, c0 + w // 2 - g // 2, r1, c0 + w // 2 + g // 2, variant=1)
        else:
            pt.rect(rng, 2, r0 + h // 2 - g // 2, c0, r0 + h // 2 + g // 2, c1, variant=1)
        return
    if p.use == "serre":
        pt.rect(rng, 6, r0, c0, r1, c1)
        n = max(1, (w - 20) // 45)
        for i in range(n):
            pt.rect(rng, 5, r0 + 10, c0 + 10 + i * 45, r1 - 10, c0 + 10 + i * 45 + 36)
        return
    if p.use == "etang":
        pt.rect(rng, 12, r0, c0, r1, c1)
        pt.rect(rng, 7, r0 + 8, c0 + 8, r1 - 8, c1 - 8, _blob(rng, h - 16, w - 16, 0.8))
        return
    if p.use == "neige":
        pt.rect(rng, 6, r0, c0, r1, c1)
        pt.rect(rng, 8, r0 + 5, c0 + 5, r1 - 5, c1 - 5, _blob(rng, h - 10, w - 10, 0.9))
        return
    # built lots: lawn, a building, a driveway, sometimes a pool and trees
    flat = p.use == "commerce" or rng.random() < 0.3
    pt.rect(rng, 3 if p.use == "commerce" else 13, r0, c0, r1, c1)
    if p.use == "commerce":
        pt.rect(rng, 2, r0 + h // 2, c0 + 6, r1 - 6, c1 - 6, variant=2)  # car park with stalls
    bh, bw = int(h * rng.uniform(0.3, 0.45)), int(w * rng.uniform(0.3, 0.5))
    br, bc = r0 + int(rng.integers(6, max(7, h // 2 - bh))), c0 + int(rng.integers(6, max(7, w - bw - 6)))
    pt.rect(rng, 1, br, bc, br + bh, bc + bw, variant=1 if flat else 0)
    pt.shadows.append((br, bc, br + bh, bc + bw))
    dw = int(rng.integers(10, 16))
    pt.rect(rng, 3 if rng.random() < 0.5 else 2, br + bh, bc + 4, r1, bc + 4 + dw)
    if p.use == "house_pool" and h > 70:
        ph, pw = int(rng.integers(16, 26)), int(rng.integers(30, 45))
        pr, pc = r1 - ph - 8, min(c1 - pw - 8, bc + bw + 8) if c1 - pw - 8 > bc + bw + 8 else c0 + 6
        pt.rect(rng, 2, pr - 3, pc - 3, pr + ph + 3, pc + pw + 3)  # coping
        pt.rect(rng, 4, pr, pc, pr + ph, pc + pw)
    if rng.random() < 0.7 and h > 50 and w > 50:
        d = int(rng.integers(16, 28))
        pt.rect(rng, 10, r0 + 2, c1 - d - 2, r0 + 2 + d, c1 - 2, _blob(rng, d, d))


def _noise(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Smooth value noise in [-1, 1] with features of about ``scale`` px (bilinear)."""
    s = max(scale, 1.0)
    gh, gw = int(h / s) + 2, int(w / s) + 2
    c = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
    y, x = np.arange(h, dtype=np.float32) / s, np.arange(w, dtype=np.float32) / s
    i, j = y.astype(np.int32), x.astype(np.int32)
    fy, fx = (y - i)[:, None], (x - j)[None, :]
    return (1 - fy) * ((1 - fx) * c[np.ix_(i, j)] + fx * c[np.ix_(i, j + 1)]) + fy * (
        (1 - fx) * c[np.ix_(i + 1, j)] + fx * c[np.ix_(i + 1, j + 1)]
    )


def _render(pt: _Painter, rng: np.random.Generator) -> np.ndarray:
    """Turn truth + texture objects into an R, G, B, NIR uint8 image."""
    h, w = pt.truth.shape
    prm = np.asarray([p[:4] for p in pt.params], np.float32)
    variant = np.asarray([p[4] for p in pt.params], np.int32)
    gain, theta, period, phase = (prm[pt.obj, k] for k in range(4))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = xx * np.cos(theta) + yy * np.sin(theta)
    means = np.zeros((N_CODES, 4), np.float32)
    for code, (m, _, _) in _LOOK.items():
        means[code] = m
    img = means[pt.truth].transpose(2, 0, 1) * gain[None]
    fine, mid, big = _noise(rng, h, w, 1.5), _noise(rng, h, w, 6), _noise(rng, h, w, 40)
    crowns_s, crowns_l = _noise(rng, h, w, 3.5), _noise(rng, h, w, 9)
    tex = np.zeros((h, w), np.float32)  # multiplicative brightness texture
    t = pt.truth
    for code, (_, kind, _) in _LOOK.items():
        m = t == code
        if not m.any():
            continue
        if kind == "rows":
            tex[m] = 0.10 * np.sin(2 * np.pi * u[m] / (period[m] * 0.6) + phase[m])
        elif kind == "furrows":
            tex[m] = 0.22 * np.sign(np.sin(2 * np.pi * u[m] / period[m] + phase[m])) + 0.05 * mid[m]
        elif kind == "vines":
            row = np.sin(2 * np.pi * u[m] / (period[m] * 1.6) + phase[m]) > 0.2
            soil, leaf = np.array([160, 140, 110, 115], np.float32), np.array([70, 110, 55, 175], np.float32)
            img[:, m] = np.where(row[None], leaf[:, None], soil[:, None]) * gain[m][None]
            tex[m] = 0.05 * fine[m]
        elif kind == "ribs":
            tex[m] = 0.12 * np.sign(np.sin(2 * np.pi * xx[m] / 8.0))
        elif kind == "crowns_small":
            tex[m] = 0.55 * crowns_s[m] + 0.1 * fine[m]
        elif kind == "crowns_large":
            tex[m] = 0.35 * crowns_l[m] + 0.08 * fine[m]
        elif kind == "grain":
            tex[m] = 0.18 * fine[m] + 0.06 * mid[m]
        elif kind == "blotch":
            tex[m] = 0.12 * big[m] + 0.06 * mid[m]
        elif kind == "debris":
            tex[m] = 0.25 * mid[m] + 0.15 * fine[m]
        elif kind == "patchy":
            tex[m] = 0.28 * mid[m] + 0.05 * fine[m]
        elif kind == "fine":
            tex[m] = 0.04 * fine[m] + 0.05 * big[m]
        elif kind == "ripple":
            tex[m] = 0.05 * mid[m]
        elif kind == "smooth":
            tex[m] = 0.03 * fine[m] + 0.03 * big[m]
        elif kind == "roof":
            v = variant[pt.obj[m]]
            ridge = np.sign(np.sin(np.pi * yy[m] / 2.5)) * 0.05  # tiles
            tex[m] = np.where(v == 1, 0.02 * fine[m], ridge + 0.04 * fine[m])
            flat = np.array([128, 128, 132, 85], np.float32)
            img[:, m] = np.where((v == 1)[None], flat[:, None] * gain[m][None], img[:, m])
    # road markings and parking stalls on impervious objects of variant 1 / 2
    v = variant[pt.obj]
    dash = (t == 2) & (v == 1) & (np.abs(((xx + yy) % 40) - 20) < 10) & (np.abs(u % 60 - 30) < 1.5)
    stall = (t == 2) & (v == 2) & ((xx % 26) < 2)
    img[:, dash | stall] = 235
    img *= 1 + tex[None]
    # building shadows (sun from the north-west): darken the ground south-east of roofs
    sh = np.zeros((h, w), bool)
    for r0, c0, r1, c1 in pt.shadows:
        d = 10
        sh[min(r0 + d, h) : min(r1 + d, h), min(c0 + d, w) : min(c1 + d, w)] = True
    sh &= t != 1
    img[:, sh] *= 0.55
    img *= rng.uniform(0.94, 1.06, (4, 1, 1)).astype(np.float32)  # acquisition gain
    img += rng.normal(0, 4.0, img.shape).astype(np.float32)
    out: np.ndarray = np.clip(img, 0, 255).astype(np.uint8)
    return out


def make_scene(seed: int, height: int = 1024, width: int = 1024, vintage: int = 0) -> Scene:
    """Generate one scene; ``vintage=1`` gives the same place three years later."""
    parcels, roads = plan(seed, height, width)
    if vintage:
        parcels = changes(parcels, seed)
    pt = _Painter(height, width)
    for r in roads:
        pt.rect(np.random.default_rng([seed, 4, *r]), 2, *r, variant=1)
    for p in parcels:
        _paint_parcel(pt, p, seed)
    image = _render(pt, np.random.default_rng([seed, 5, vintage]))
    return Scene(image=image, truth=pt.truth, parcels=parcels, roads=roads)
