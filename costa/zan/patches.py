r"""Pass 2 of rule set ``cosia-2023`` v2: patches per window, merged across window edges.

Per window, the 8-connected patches of artificialised and of non-artificialised pixels (one
``cc3d`` sweep labels both) and of built pixels (a second one); their sizes, first pixels and
8-adjacencies; their
labels along the window's edges. Fragments are merged across window edges with a union-find
(``scipy.sparse.csgraph.connected_components``), so sizes and neighbourhoods are those of
whole patches, and :func:`costa.zan.rules.absorb_small_patches` decides each patch once
(patches a window can decide alone, such as isolated noise pixels, are settled there and never
enter the merge, so its tables grow with the structure, not with the noise). The same pass
counts the figures of the pixels the window decides (:class:`Partial`) and lists the others
grouped by parcel and undecided patch; the merge's decisions complete them (:func:`resolve`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from costa.tiling.tiles import Box
from costa.zan.rules import (
    BUILT,
    absorb_small_patches,
    in_codes,
)

__all__ = ["Fragments", "Partial", "decide", "resolve", "window_patches"]

from costa.zan.windows import Burnt, Pixels, Plan, commune_counts, count, load, raw_artificialised

# --------------------------------------------------------------------------- pass 2: patches


@dataclass
class Fragments:
    """Patches of one window and vintage that the window alone cannot decide.

    ``local`` holds, per local patch label, its final category when the window decides it
    (0 or 1) or -1; the undecided ones are renumbered 1..m in label order, and the other
    arrays describe them (``pairs`` and ``edges`` in that numbering). The same for built
    patches (``built_local``: 1 when at least 50 m², 0 when not, -1 when it crosses an edge).
    """

    local: np.ndarray
    size: np.ndarray
    key: np.ndarray
    artif: np.ndarray
    pairs: np.ndarray
    edges: tuple[np.ndarray, ...]
    built_local: np.ndarray
    built_size: np.ndarray
    built_edges: tuple[np.ndarray, ...]


def _components(cat: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, int]:
    """Patch labels and their count, first pixels, built-patch labels and their count.

    One ``cc3d`` sweep labels the patches of both categories at once (``cat``: 0 = no data,
    1 = not artificialised, 2 = artificialised; 8-connected components of equal values), a
    second one the built pixels. Labels are ``int32`` (``cc3d``'s ``uint32``, viewed): ``uint64``
    labels would spare ``bincount`` and the gathers a conversion, but hold 130 MB more per
    4096² window at the peak for no measurable gain. First pixels:
    row-major index in the window of each patch's first pixel (entry 0 unused).
    """
    import cc3d

    comp, n = cc3d.connected_components(cat, connectivity=8, return_N=True, out_dtype=np.uint32)
    built, n_b = cc3d.connected_components(
        in_codes(labels, BUILT), connectivity=8, return_N=True, out_dtype=np.uint32
    )
    patches = comp.view(np.int32)
    return patches, int(n), _first_pixels(patches, cat, int(n)), built.view(np.int32), int(n_b)


def _edges(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return a[0].copy(), a[-1].copy(), a[:, 0].copy(), a[:, -1].copy()


def _first_pixels(lab: np.ndarray, cat: np.ndarray, n: int) -> np.ndarray:
    """Row-major index of the first pixel of labels 1..n, as ``(n + 1,)`` (entry 0 unused).

    A patch's first pixel has no pixel of its patch among the four neighbours a raster scan
    meets before it (left, and the three above). Two 8-adjacent pixels of the same category
    are in the same patch, so those pixels are found on the uint8 categories ``cat``; they
    are few (a few per patch), and the first of each label among them is its first pixel,
    whatever order the labeller numbered patches in.
    """
    first = np.zeros(n + 1, np.int64)
    if n == 0:
        return first
    start = cat > 0
    start[:, 1:] &= cat[:, 1:] != cat[:, :-1]
    start[1:] &= cat[1:] != cat[:-1]
    start[1:, 1:] &= cat[1:, 1:] != cat[:-1, :-1]
    start[1:, :-1] &= cat[1:, :-1] != cat[:-1, 1:]
    candidates = np.flatnonzero(start)
    values, at = np.unique(lab.ravel()[candidates], return_index=True)
    first[values] = candidates[at]
    return first


def _adjacent(comp: np.ndarray, cat: np.ndarray, small: np.ndarray) -> np.ndarray:
    """8-adjacent pairs of distinct patches (a, b), at least one of them small, as ``(m, 2)``.

    Two 8-adjacent valid pixels of the same category are in the same patch, so two pixels are
    in distinct patches exactly when both are valid and their categories differ: ``cat``
    (0 = no data, 1, 2) finds them cheaply (``1 ^ 2 == 3``) and only there are labels looked up.
    Pairs may repeat.
    """
    width = comp.shape[1]
    flat, cats = comp.ravel(), cat.ravel()
    us, vs = [], []
    # right, down, down-right, down-left as flat offsets; the column that would wrap is cut
    for step, wraps in ((1, width - 1), (width, None), (width + 1, width - 1), (width - 1, 0)):
        if step == 0:  # a window one pixel wide has no down-left neighbour
            continue
        m = (cats[:-step] ^ cats[step:]) == 3
        if wraps is not None:
            m[wraps::width] = False
        at = np.flatnonzero(m)
        u, v = flat[at], flat[at + step]
        keep = small[u] | small[v]
        us.append(u[keep])
        vs.append(v[keep])
    return np.stack([np.concatenate(us), np.concatenate(vs)], axis=1).astype(np.int64)


def _unique_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """Distinct unordered pairs of numbers below ``n``, as ``(m, 2)`` with u < v."""
    u, v = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    code = np.unique(u * n + v)
    return np.stack([code // n, code % n], axis=1)


@dataclass
class Partial:
    """One window's figures from the patch pass: pixels decided there, counted; the rest listed.

    A pixel is decided in the window when its patch is (settled there, or at least
    ``patch_px`` there, so keeping its category) and so is its built patch, or when either
    makes it artificialised for sure. The others are listed by (local parcel, commune, then
    per vintage patch label and built-patch label) with a pixel count per row, and counted
    once the merge has decided their patches (:func:`resolve`).
    """

    pindex: np.ndarray
    per_parcel: list[np.ndarray]
    per_commune: list[np.ndarray]
    rows: np.ndarray
    weight: np.ndarray


def window_patches(
    plan: Plan, box: Box, urban: list[np.ndarray], burnt: tuple[Burnt, ...] | None = None
) -> tuple[list[Fragments], Partial]:
    """One window's patches per vintage (what the merge needs) and the figures it can count.

    ``burnt``: the window's zone ids from pass 1 (rasterised again when None).
    """
    w = load(plan, box, burnt)
    out = []
    states: list[_State] = []
    for lab, urb in zip(w.labels, urban, strict=True):
        raw = raw_artificialised(plan, w, urb, lab)
        cat = (lab > 0).view(np.uint8) + raw.view(np.uint8)  # 0 no data, 1 not, 2 artificialised
        comp, n, first, built, n_b = _components(cat, lab)
        size = np.bincount(comp.ravel(), minlength=n + 1)
        artif = cat.ravel()[first] == 2
        artif[0] = False
        row, col = np.divmod(first, box.width)
        key = (box.row + row) * plan.grid.width + box.col + col  # over the whole raster
        small = size < plan.patch_px
        pairs = _adjacent(comp, cat, small)
        local = _settled(small, artif, pairs, _edges(comp))
        keep = np.flatnonzero(local < 0)
        renum = np.zeros(n + 1, np.int64)
        renum[keep] = np.arange(1, len(keep) + 1)
        both = (local[pairs[:, 0]] < 0) & (local[pairs[:, 1]] < 0)
        b_size = np.bincount(built.ravel()[np.flatnonzero(built)], minlength=n_b + 1)  # (entry 0 unused)
        b_local = (b_size >= plan.built_px).astype(np.int8)
        b_edges = _edges(built)
        b_local[np.concatenate(b_edges)] = -1
        b_local[0] = 0
        b_keep = np.flatnonzero(b_local < 0)
        b_renum = np.zeros(n_b + 1, np.int64)
        b_renum[b_keep] = np.arange(1, len(b_keep) + 1)
        out.append(
            Fragments(
                local=local,
                size=np.r_[0, size[keep]],
                key=np.r_[0, key[keep]],
                artif=np.r_[False, artif[keep]],
                pairs=_unique_pairs(renum[pairs[both]], len(keep) + 1),
                edges=tuple(renum[e] for e in _edges(comp)),
                built_local=b_local,
                built_size=np.r_[0, b_size[b_keep]],
                built_edges=tuple(b_renum[e] for e in b_edges),
            )
        )
        known = np.where((local < 0) & ~small, artif, local).astype(np.int8)  # large: keep category
        b_known = np.where(b_size >= plan.built_px, 1, b_local).astype(np.int8)
        b_known[0] = 0
        states.append(_State(comp, built, known, b_known))
    return out, _partial(plan, w, states)


@dataclass
class _State:
    """One vintage of a window in the patch pass: labels, and what the window knows of them."""

    comp: np.ndarray
    built: np.ndarray
    known: np.ndarray
    """Per patch label: its final category when the window knows it (0, 1), else -1."""
    b_known: np.ndarray
    """Per built-patch label: 1 if at least 50 m² for sure, 0 if less (or no building), else -1."""


def _partial(plan: Plan, w: Pixels, states: list[_State]) -> Partial:
    """Count the decided pixels of a window per parcel and commune; list the others."""
    artif = []
    und = np.zeros(w.pid.shape, bool)
    for st in states:
        fa = st.known[st.comp]
        yes, unsure = fa == 1, fa < 0
        at = np.flatnonzero(st.built)  # built pixels: the only ones a built patch can decide
        fb = st.b_known[st.built.ravel()[at]]
        yes.ravel()[at] |= fb == 1
        unsure.ravel()[at] |= fb < 0
        artif.append(yes)
        und |= ~yes & unsure
    decided = ~und
    layers = list(artif)
    if len(artif) == 2:
        layers += [artif[0] & ~artif[1], artif[1] & ~artif[0]]  # gained, lost
    k, nz = len(w.pindex) + 1, plan.n_communes + 1
    masks = [a & decided for a in layers]
    per_parcel = [count(w.pid, m, k) for m in masks]
    per_commune = [commune_counts(plan, w, m, p) for m, p in zip(masks, per_parcel, strict=True)]
    rows, weight = _listed(w, states, und, nz)
    return Partial(w.pindex, per_parcel, per_commune, rows, weight)


_KEY_LIMIT = 2**62
"""Largest group key :func:`_listed` builds (int64); past it, rows are grouped column-wise."""


def _listed(w: Pixels, states: list[_State], und: np.ndarray, nz: int) -> tuple[np.ndarray, np.ndarray]:
    """Undecided pixels grouped by what decides them: one row per group, and its pixel count.

    Rows hold (local parcel, commune, then per vintage a patch label and a built label); pixels
    whose parcel, commune and per-vintage states (a known 0/1, or which undecided patch) agree
    end the same, so they are grouped on one integer key when it fits in 63 bits.
    """
    pid = w.pid[und].astype(np.int64)
    cid = w.communes_of_parcels[pid] if w.cid is None else w.cid[und]
    cols = [pid, cid.astype(np.int64)]
    key = cols[0] * nz + cols[1]
    top = (len(w.pindex) + 1) * nz
    for st in states:
        comp, built = st.comp[und], st.built[und]
        cols += [comp.astype(np.int64), built.astype(np.int64)]
        for lab, known in ((comp, st.known), (built, st.b_known)):
            unknown = known < 0
            code = known.astype(np.int64)
            code[unknown] = np.arange(2, int(unknown.sum()) + 2)
            key = key * (int(unknown.sum()) + 2) + code[lab]
            top *= int(unknown.sum()) + 2
    table = np.stack(cols, axis=1)
    if not len(table):
        return table, np.zeros(0, np.int64)
    if top < _KEY_LIMIT:
        _, first, weight = np.unique(key, return_index=True, return_counts=True)
        return table[first], weight
    rows, weight = np.unique(table, axis=0, return_counts=True)
    return rows, weight


def resolve(plan: Plan, part: Partial, decided: list[tuple[np.ndarray, np.ndarray]]) -> Partial:
    """The window's figures once the merge has decided every patch: decided + listed pixels."""
    artif = [
        final[part.rows[:, 2 + 2 * v]] | big[part.rows[:, 3 + 2 * v]]
        for v, (final, big) in enumerate(decided)
    ]
    layers = list(artif)
    if len(artif) == 2:
        layers += [artif[0] & ~artif[1], artif[1] & ~artif[0]]
    k, nz = len(part.pindex) + 1, plan.n_communes + 1
    pid, cid, wt = part.rows[:, 0], part.rows[:, 1], part.weight
    per_parcel = [
        p + np.bincount(pid[a], weights=wt[a], minlength=k).astype(np.int64)
        for p, a in zip(part.per_parcel, layers, strict=True)
    ]
    per_commune = [
        c + np.bincount(cid[a], weights=wt[a], minlength=nz).astype(np.int64)
        for c, a in zip(part.per_commune, layers, strict=True)
    ]
    return Partial(part.pindex, per_parcel, per_commune, part.rows[:0], part.weight[:0])


def _settled(
    small: np.ndarray, artif: np.ndarray, pairs: np.ndarray, edges: tuple[np.ndarray, ...]
) -> np.ndarray:
    """Patches the window decides alone: small, inside the window, with no small neighbour.

    Such a patch is whole (it meets no edge), so its size is its true size; its neighbours all
    lie in the window and are at least ``patch_px`` there, so they keep their category and it
    takes theirs (all neighbours of a patch have the opposite category); with no neighbour it
    keeps its own. No small patch has it as a neighbour, so nobody else's decision needs it.
    This settles isolated noise pixels, the bulk of the patches of a real prediction.
    """
    n = len(small)
    edge = np.zeros(n, bool)
    edge[np.concatenate(edges)] = True
    u, v = pairs[:, 0], pairs[:, 1]
    small_nbr = np.zeros(n, bool)
    small_nbr[u[small[v]]] = True
    small_nbr[v[small[u]]] = True
    has_nbr = np.zeros(n, bool)
    has_nbr[u] = True
    has_nbr[v] = True
    local = np.full(n, -1, np.int8)
    settle = small & ~edge & ~small_nbr
    local[settle] = np.where(has_nbr, ~artif, artif)[settle]
    local[0] = 0
    return local


# --------------------------------------------------------------------------- merging fragments


def _offsets(sizes: Sequence[int]) -> np.ndarray:
    """Global number of each window's fragment 0 (fragment k of window i is ``off[i] + k``)."""
    off: np.ndarray = np.r_[0, np.cumsum([s - 1 for s in sizes])][:-1].astype(np.int64)
    return off


def _seams(
    boxes: list[Box], edges: list[tuple[np.ndarray, ...]], off: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (u, v) of global fragment numbers 8-adjacent across window edges."""
    glob = [tuple(np.where(e > 0, e + o, 0) for e in es) for es, o in zip(edges, off, strict=True)]
    us, vs = [], []

    def touch(x: np.ndarray, y: np.ndarray) -> None:  # two facing lines of pixels, offsets -1, 0, 1
        for a, b in ((x, y), (x[:-1], y[1:]), (x[1:], y[:-1])):
            m = (a > 0) & (b > 0)
            us.append(a[m])
            vs.append(b[m])

    by_pos = {(b.row, b.col): i for i, b in enumerate(boxes)}
    rows = sorted({b.row for b in boxes})
    for r_up, r_down in itertools.pairwise(rows):
        up = sorted((b.col, i) for i, b in enumerate(boxes) if b.row == r_up)
        down = sorted((b.col, i) for i, b in enumerate(boxes) if b.row == r_down)
        touch(np.concatenate([glob[i][1] for _, i in up]), np.concatenate([glob[i][0] for _, i in down]))
    for i, b in enumerate(boxes):
        j = by_pos.get((b.row, b.col_stop))
        if j is not None:
            touch(glob[i][3], glob[j][2])
    if not us:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(us).astype(np.int64), np.concatenate(vs).astype(np.int64)


def _roots(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Union-find over ``n`` fragments joined by pairs (u, v): one root number per fragment."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(u), np.int8), (u, v)), shape=(n, n))
    _, root = connected_components(graph, directed=False)
    out: np.ndarray = root.astype(np.int64)
    return out


def decide(plan: Plan, boxes: list[Box], frags: list[Fragments]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per window, the final category of each local patch and whether each built patch is big."""
    off = _offsets([len(f.size) for f in frags])
    n = int(off[-1] + len(frags[-1].size))
    size = np.zeros(n, np.int64)
    key = np.full(n, np.iinfo(np.int64).max)
    artif = np.zeros(n, bool)
    for f, o in zip(frags, off, strict=True):
        size[o + 1 : o + len(f.size)] = f.size[1:]
        key[o + 1 : o + len(f.size)] = f.key[1:]
        artif[o + 1 : o + len(f.size)] = f.artif[1:]
    u, v = _seams(boxes, [f.edges for f in frags], off)
    same = artif[u] == artif[v]
    root = _roots(n, u[same], v[same])
    nr = int(root.max()) + 1
    r_size = np.bincount(root, weights=size, minlength=nr).astype(np.int64)
    r_key = np.full(nr, np.iinfo(np.int64).max)
    np.minimum.at(r_key, root, key)
    r_artif = np.zeros(nr, bool)
    r_artif[root] = artif
    pairs = [f.pairs + o for f, o in zip(frags, off, strict=True)] + [np.stack([u[~same], v[~same]], 1)]
    rp = root[np.concatenate(pairs)] if pairs else np.zeros((0, 2), np.int64)
    final = absorb_small_patches(r_size, r_key, r_artif, rp, plan.patch_px)
    final_frag = final[root]
    b_off = _offsets([len(f.built_size) for f in frags])
    nb = int(b_off[-1] + len(frags[-1].built_size))
    b_size = np.zeros(nb, np.int64)
    for f, o in zip(frags, b_off, strict=True):
        b_size[o + 1 : o + len(f.built_size)] = f.built_size[1:]
    bu, bv = _seams(boxes, [f.built_edges for f in frags], b_off)
    b_root = _roots(nb, bu, bv)
    big = (np.bincount(b_root, weights=b_size) >= plan.built_px)[b_root]
    per_win, per_win_b = [], []
    for f, o, bo in zip(frags, off, b_off, strict=True):
        final_local = f.local.astype(bool)
        final_local[f.local < 0] = final_frag[o + 1 : o + len(f.size)]
        big_local = f.built_local.astype(bool)
        big_local[f.built_local < 0] = big[bo + 1 : bo + len(f.built_size)]
        per_win.append(final_local)
        per_win_b.append(big_local)
    return per_win, per_win_b
