"""Region outlines fitted to the ink: a partition of the scan -> an exact coverage of polygons.

:func:`vectorize.partition <digitize.vectorize.partition>` gives every pixel to a region, so
two neighbours meet along a staircase of pixel edges in the middle of the line between
them.  :func:`fit_outlines` turns that staircase into the line's own centre line:

1. The partition's boundaries are cut into *arcs*: the runs of pixel edges between two
   *nodes* (pixel corners where three or more regions meet, or the image border), or a
   closed ring around an island.  Each arc is fitted once and drawn by both its
   regions, so neighbours share every vertex: the coverage stays exact.
2. Along each arc, every pixel step, the darkness of the line-work across the
   (smoothed) staircase is sampled, and the darkness-weighted centre of the one stroke
   there found: the ink's centre line to a fraction of a pixel.  Stations near a node
   or a bend (where the profile runs into another line), and those whose stroke is
   wider than the arc's typical one or carries much more ink than the stroke nearby
   (a letter touching the line), are left out.
3. The centre points are cut into runs that a chord follows within ``tolerance_px``
   (as Douglas-Peucker, but a split needs several points in a row off the chord, so a
   short bump does not make one), each run gets its least-squares line (outliers
   dropped), and consecutive lines meet at their intersection where the arc bends:
   straight edges stay straight, arcs of a circle become chords within the tolerance.
4. Each node goes to the point nearest, in least squares, to the end lines of its
   arcs (the intersection of the edges that meet there); nodes joined by an arc
   shorter than a stroke (a crossing the partition split in two) share that point.
5. A region whose fitted outline would cross itself keeps its pixel staircase
   (straightened), and so do its neighbours along it.

Everything is in pixel coordinates (GDAL's convention: the first pixel's centre at
0.5, 0.5), batched over all arcs with numpy; the caller moves the polygons to the map.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely

__all__ = ["fit_outlines"]

#: a bend sharper than this between two fitted runs puts the vertex at their intersection
_CORNER_DEG = 12.0
#: the staircase turning more than this over two strokes each way is a bend: no profile there
_BEND_DEG = 25.0
#: a profile wider than this times its arc's typical one has other ink in it (a letter)
_SPREAD = 1.15


@dataclass
class _Arcs:
    """The boundary network: arcs as lattice point runs, and each ring as arcs."""

    x: np.ndarray  # int: lattice points of all arcs, concatenated (each arc from node to node)
    y: np.ndarray
    start: np.ndarray  # first point of each arc in x, y
    stop: np.ndarray  # one past its last point
    closed: np.ndarray  # bool: a ring without nodes (its last point repeats its first)
    node_a: np.ndarray  # node index of the first and the last point, -1 for a closed arc
    node_b: np.ndarray
    nodes: np.ndarray  # (n, 2) float: lattice position of each node
    rings: list[tuple[int, int, int, list[tuple[int, bool]]]]  # (region, polygon part, ring: 0 shell, [(arc, reversed)])


def fit_outlines(labels: np.ndarray, dark: np.ndarray, lines: np.ndarray, *, stroke: int,
                 tolerance_px: float = 0.5) -> gpd.GeoDataFrame:
    """One polygon per region id of ``labels``, its boundaries on the centre lines of the ink.

    ``dark`` is the darkness image (0 = paper), ``lines`` the line-work mask the partition
    was made from, ``stroke`` the line-work's width in pixels.  Returns a GeoDataFrame
    with column ``region`` in pixel coordinates; neighbours share their boundary vertex
    for vertex (an exact coverage of the image).  Where fitted arcs would make a
    region's outline cross itself, that region keeps its pixel staircase (straightened).
    """
    arcs = _arcs(labels)
    px, py, ok, arc = _centres(arcs, _line_ink(dark, lines), stroke)
    persist = max(3, -(-stroke // 2))  # stations, one every two pixel steps
    runs = _runs(arcs, px, py, ok, arc, tol=tolerance_px, persist=persist)
    node_xy = _place_nodes(arcs, runs, stroke, (labels.shape[1], labels.shape[0]))
    bends = _bends(arcs, runs, stroke=stroke, persist=persist)
    rigid = np.zeros(len(arcs.start), dtype=bool)
    arcs_of: dict[int, list[int]] = {}
    for region, _, _, ring in arcs.rings:
        arcs_of.setdefault(region, []).extend(k for k, _ in ring)
    while True:
        regions = _assemble(arcs, _arc_vertices(arcs, node_xy, bends, rigid))
        bad = [arcs_of[r] for r in regions["region"][~shapely.is_valid(regions.geometry.values)]]
        ks = np.array([k for ks in bad for k in ks if not rigid[k]], dtype=np.int64)
        if len(ks) == 0:
            return regions
        rigid[ks] = True
        nodes = np.concatenate([arcs.node_a[ks], arcs.node_b[ks]])
        nodes = nodes[nodes >= 0]
        node_xy[nodes] = arcs.nodes[nodes]


def _line_ink(dark: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Darkness of the line-work only (its soft edges included): text apart from it is not sampled."""
    near = cv2.dilate(lines.view(np.uint8), np.ones((3, 3), np.uint8))
    return cv2.multiply(dark, near)


# -- 1. the boundary network -------------------------------------------------------------

def _rings(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]]]:
    """The partition's polygon rings as lattice points one pixel step apart.

    Returns the points (n, 2) int, all rings concatenated (a ring's last point not
    repeated), each ring's first index (plus the total at the end), and per ring
    (region, polygon part, ring number: 0 the shell).
    """
    coords, info = [], []
    for part, (geom, value) in enumerate(rasterio.features.shapes(labels, mask=labels > 0, connectivity=4)):
        for k, ring in enumerate(geom["coordinates"]):
            coords.append(np.asarray(ring, dtype=np.int64))
            info.append((int(value), part, k))
    size = np.array([len(c) for c in coords])
    v = np.concatenate(coords)
    last = np.cumsum(size) - 1  # each ring's closing vertex (= its first)
    seg_from = np.delete(np.arange(len(v)), last)
    d = v[seg_from + 1] - v[seg_from]
    n = np.abs(d).sum(axis=1)
    step = d // np.maximum(n, 1)[:, None]
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    pts = np.repeat(v[seg_from], n, axis=0) + np.repeat(step, n, axis=0) * k[:, None]
    ring_of_seg = np.repeat(np.arange(len(coords)), size - 1)
    per_ring = np.bincount(ring_of_seg, weights=n, minlength=len(coords)).astype(np.int64)
    return pts, np.concatenate([[0], np.cumsum(per_ring)]), info


def _is_node(labels: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Whether each lattice point is a node: three or more pixel edges of the partition meet there."""
    h, w = labels.shape
    x, y = pts[:, 0], pts[:, 1]

    def lab(yy, xx):
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        return np.where(inside, labels[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)], -1)

    nw, ne, sw, se = lab(y - 1, x - 1), lab(y - 1, x), lab(y, x - 1), lab(y, x)
    deg = (nw != ne).astype(np.int8) + (sw != se) + (nw != sw) + (ne != se)
    return deg >= 3


def _arcs(labels: np.ndarray) -> _Arcs:
    """Cut the partition's boundaries into arcs between nodes; each ring as its arcs."""
    wk = labels.shape[1] + 1
    pts, ring_at, info = _rings(labels)
    key = pts[:, 1] * wk + pts[:, 0]
    node = _is_node(labels, pts)
    n_rings = len(info)
    size = np.diff(ring_at)
    ring = np.repeat(np.arange(n_rings), size)
    first_node = np.full(n_rings, -1)
    hit = np.flatnonzero(node)
    with_node, first = np.unique(ring[hit], return_index=True)
    first_node[with_node] = hit[first]
    has = first_node >= 0
    # rotate each ring with nodes to start at one, and repeat that node at its end
    rot_size = np.where(has, size + 1, 0)
    rot_at = np.concatenate([[0], np.cumsum(rot_size)])
    rring = np.repeat(np.arange(n_rings), rot_size)
    j = np.arange(int(rot_size.sum())) - rot_at[rring]
    src = ring_at[rring] + (first_node[rring] - ring_at[rring] + j) % size[rring]
    rkey, rnode = key[src], node[src]
    rnode[rot_at[1:][has] - 1] = True
    # arc occurrences: from each node to the next one of its ring
    at = np.flatnonzero(rnode)
    is_last = np.isin(at, rot_at[1:][has] - 1)
    a0, a1 = at[~is_last], at[np.flatnonzero(~is_last) + 1]
    occ_ring = rring[a0]
    fwd = np.column_stack([rkey[a0], rkey[a0 + 1], rkey[a1]])
    rev = np.column_stack([rkey[a1], rkey[a1 - 1], rkey[a0]])
    flipped = (rev[:, 0] < fwd[:, 0]) | ((rev[:, 0] == fwd[:, 0]) & (
        (rev[:, 1] < fwd[:, 1]) | ((rev[:, 1] == fwd[:, 1]) & (rev[:, 2] < fwd[:, 2]))))
    canon = np.where(flipped[:, None], rev, fwd)
    uniq, first_occ, arc_of_occ = np.unique(canon, axis=0, return_index=True, return_inverse=True)
    arc_of_occ = arc_of_occ.ravel()
    # the points of each arc, in its canonical direction, from its first occurrence
    s0, s1, fl = a0[first_occ], a1[first_occ], flipped[first_occ]
    length = s1 - s0 + 1
    t = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
    idx = np.where(np.repeat(fl, length), np.repeat(s1, length) - t, np.repeat(s0, length) + t)
    ax, ay = rkey[idx] % wk, rkey[idx] // wk
    node_key = np.column_stack([uniq[:, 0], uniq[:, 2]])
    # rings without a node: islands, each one closed arc (canonical from its smallest key)
    xs, ys, closed_keys = [ax], [ay], {}
    n_open = len(uniq)
    closed_arcs: list[tuple[int, bool]] = []
    occ_list: list[list[tuple[int, bool]]] = [[] for _ in range(n_rings)]
    for r in np.flatnonzero(~has):
        loop = key[ring_at[r]:ring_at[r + 1]]
        i0 = int(np.argmin(loop))
        loop = np.roll(loop, -i0)
        flip = bool(loop[-1] < loop[1])
        if flip:
            loop = np.concatenate([loop[:1], loop[:0:-1]])
        ck = (int(loop[0]), int(loop[1]))
        if ck not in closed_keys:
            closed_keys[ck] = n_open + len(closed_arcs)
            full = np.append(loop, loop[0])
            xs.append(full % wk)
            ys.append(full // wk)
            closed_arcs.append((len(full), True))
        occ_list[r].append((closed_keys[ck], flip))
    for r, k, f in zip(occ_ring, arc_of_occ, flipped):
        occ_list[r].append((int(k), bool(f)))
    lengths = np.concatenate([length, np.array([c[0] for c in closed_arcs], dtype=np.int64)])
    stop = np.cumsum(lengths)
    used = np.unique(node_key)
    node_of = np.searchsorted(used, node_key)
    minus = -np.ones(len(closed_arcs), dtype=np.int64)
    rings = [(info[r][0], info[r][1], info[r][2], occ_list[r]) for r in range(n_rings)]
    return _Arcs(np.concatenate(xs).astype(float), np.concatenate(ys).astype(float), stop - lengths, stop,
                 np.concatenate([np.zeros(n_open, bool), np.ones(len(closed_arcs), bool)]),
                 np.concatenate([node_of[:, 0], minus]), np.concatenate([node_of[:, 1], minus]),
                 np.column_stack([used % wk, used // wk]).astype(float), rings)


# -- 2. centre points of the ink along each arc --------------------------------------------

def _clamped_window(n_per_arc: np.ndarray, start: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every point: its arc id, and the first and last index of a window of ``half`` each side, kept in its arc."""
    arc = np.repeat(np.arange(len(n_per_arc)), n_per_arc)
    i = np.arange(int(n_per_arc.sum()))
    lo = np.maximum(i - half, np.repeat(start, n_per_arc))
    hi = np.minimum(i + half, np.repeat(start + n_per_arc - 1, n_per_arc))
    return arc, lo, hi


def _sample(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``img`` at GDAL pixel coordinates (any shape), zero outside."""
    shape = x.shape
    fx = (x.ravel() - 0.5).astype(np.float32)
    fy = (y.ravel() - 0.5).astype(np.float32)
    n = len(fx)
    cols = 4096
    rows = -(-n // cols)
    pad = rows * cols - n
    mx = np.pad(fx, (0, pad)).reshape(rows, cols)
    my = np.pad(fy, (0, pad)).reshape(rows, cols)
    out = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.ravel()[:n].reshape(shape)


def _centres(arcs: _Arcs, ink: np.ndarray, stroke: int,
             step: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ink's centre (x, y) across each arc at every ``step``-th lattice point, whether it is trusted, its arc."""
    n = arcs.stop - arcs.start
    half = max(3, stroke)
    arc_all, lo, hi = _clamped_window(n, arcs.start, half)
    i = np.flatnonzero((np.arange(len(arc_all)) - arcs.start[arc_all]) % step == 0)  # the stations
    arc, lo, hi = arc_all[i], lo[i], hi[i]
    cx, cy = np.concatenate([[0], np.cumsum(arcs.x)]), np.concatenate([[0], np.cumsum(arcs.y)])
    cnt = hi - lo + 1
    sx = (cx[hi + 1] - cx[lo]) / cnt  # moving mean of the staircase
    sy = (cy[hi + 1] - cy[lo]) / cnt
    tx, ty = arcs.x[hi] - arcs.x[lo], arcs.y[hi] - arcs.y[lo]
    norm = np.hypot(tx, ty)
    norm[norm == 0] = 1.0
    nx, ny = -ty / norm, tx / norm
    reach = int(np.ceil(stroke / 2)) + 2
    d = (np.arange(-2 * reach, 2 * reach + 1) / 2.0).astype(np.float32)  # half-pixel steps
    v = _sample(ink, sx[:, None] + nx[:, None] * d, sy[:, None] + ny[:, None] * d).astype(np.float32)
    w = _one_stroke(v, d)
    mass = w.sum(axis=1, dtype=np.float64)
    off = (w @ d) / np.maximum(mass, 1e-9)
    px, py = sx + nx * off, sy + ny * off
    # trusted: away from the nodes (other lines cross the profile there), and with ink
    from_end = np.minimum(i - arcs.start[arc], arcs.stop[arc] - 1 - i)
    ok = ((from_end >= stroke + 2) | arcs.closed[arc]) & (v.max(axis=1) >= 40)
    # and away from a bend of the arc: the profile there runs into the other leg
    per_arc = np.bincount(arc, minlength=len(n))
    first = np.cumsum(per_arc) - per_arc
    _, lo, hi = _clamped_window(per_arc, first, -(-2 * half // step))
    bx, by = sx - sx[lo], sy - sy[lo]
    fx, fy = sx[hi] - sx, sy[hi] - sy
    dot = bx * fx + by * fy
    size = np.hypot(bx, by) * np.hypot(fx, fy)
    ok &= ~((size > 0) & (dot < np.cos(np.radians(_BEND_DEG)) * size))
    # and not wider than the arc's typical stroke, nor with much more ink than the stroke nearby
    # along the arc: a letter touching the line adds some
    _, lo, hi = _clamped_window(per_arc, first, -(-4 * half // step))
    cm = np.concatenate([[0], np.cumsum(np.where(ok, mass, 0.0))])
    cn = np.concatenate([[0], np.cumsum(ok)])
    local = (cm[hi + 1] - cm[lo]) / np.maximum(cn[hi + 1] - cn[lo], 1)
    spread = np.sqrt(np.maximum((w @ (d * d)) / np.maximum(mass, 1e-9) - off**2, 0.0))
    typical = pd.Series(np.where(ok, spread, np.nan)).groupby(arc).transform("median").to_numpy()
    ok &= (mass >= 0.3 * local) & (mass <= 1.2 * local) & (spread <= _SPREAD * typical)
    return px, py, ok, arc


def _one_stroke(v: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The samples of the one stroke at the centre of each profile (a row of ``v``; ``d`` its offsets), others zeroed.

    From the profile's peak within 1.5 px of the centre, outwards while the darkness
    stays above zero and does not rise again (beyond 15 % of the peak): a second line
    close by, past the paper between them, is not part of the stroke.
    """
    k = len(d)
    rows = np.arange(len(v))[:, None]
    window = np.flatnonzero(np.abs(d) <= 1.5)
    peak = window[0] + np.argmax(v[:, window], axis=1)
    top = v[rows[:, 0], peak]
    keep = np.zeros(v.shape, dtype=bool)
    keep[rows[:, 0], peak] = top > 0
    steps = np.arange(1, k)
    for direction in (1, -1):
        idx = peak[:, None] + direction * steps
        inside = (idx >= 0) & (idx < k)
        idx = np.clip(idx, 0, k - 1)
        vals = np.where(inside, v[rows, idx], 0.0)
        lowest = np.minimum.accumulate(np.concatenate([top[:, None], vals[:, :-1]], axis=1), axis=1)
        alive = np.logical_and.accumulate(inside & (vals > 0) & (vals <= lowest + 0.15 * top[:, None]), axis=1)
        keep[np.broadcast_to(rows, idx.shape)[alive], idx[alive]] = True
    return np.where(keep, v, np.float32(0.0))


# -- 3. runs, their lines, and the vertices where they meet ---------------------------------

def _split(x: np.ndarray, y: np.ndarray, first: np.ndarray, last: np.ndarray, tol: float,
           persist: int) -> tuple[np.ndarray, np.ndarray]:
    """Douglas-Peucker over many polylines at once: runs (first, last index) whose chord fits the points.

    A run is split at its farthest point only where at least ``persist`` consecutive
    points stray more than ``tol`` from its chord: a bend or a curve does, a short bump
    of a letter touching the line does not.
    """
    done_a, done_b = [], []
    a, b = first.astype(np.int64), last.astype(np.int64)
    while len(a):
        n = b - a + 1
        offs = np.cumsum(n) - n
        seg = np.repeat(np.arange(len(a)), n)
        i = np.arange(int(n.sum())) - np.repeat(offs, n) + np.repeat(a, n)
        x0, y0, x1, y1 = x[a][seg], y[a][seg], x[b][seg], y[b][seg]
        ex, ey = x1 - x0, y1 - y0
        le = np.hypot(ex, ey)
        dist = np.where(le > 1e-9, np.abs((x[i] - x0) * ey - (y[i] - y0) * ex) / np.maximum(le, 1e-9),
                        np.hypot(x[i] - x0, y[i] - y0))
        far = dist > tol
        begins = far & np.concatenate([[True], ~far[:-1]])
        begins[offs] = far[offs]
        run = np.cumsum(begins)
        run_len = np.bincount(run, weights=far, minlength=run[-1] + 1 if len(run) else 1)
        dist = np.where(far & (run_len[run] >= persist), dist, 0.0)
        top = np.maximum.reduceat(dist, offs)
        at = np.minimum.reduceat(np.where(dist >= top[seg], i, np.iinfo(np.int64).max), offs)
        split = (top > 0) & (n > 2)
        done_a.append(a[~split])
        done_b.append(b[~split])
        a, b = np.concatenate([a[split], at[split]]), np.concatenate([at[split], b[split]])
    ra, rb = np.concatenate(done_a), np.concatenate(done_b)
    order = np.argsort(ra, kind="stable")
    return ra[order], rb[order]


def _line_fits(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, ...]:
    """Least-squares line of the points a..b (those in ``use``) of each run: centre (mx, my) and unit direction."""
    n = b - a + 1
    seg = np.repeat(np.arange(len(a)), n)
    i = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n) + np.repeat(a, n)
    wgt = use[i].astype(float)
    offs = np.cumsum(n) - n

    def fit(wgt):
        sw = np.add.reduceat(wgt, offs)
        sw = np.maximum(sw, 1e-9)
        mx = np.add.reduceat(wgt * x[i], offs) / sw
        my = np.add.reduceat(wgt * y[i], offs) / sw
        dx, dy = x[i] - mx[seg], y[i] - my[seg]
        sxx = np.add.reduceat(wgt * dx * dx, offs)
        syy = np.add.reduceat(wgt * dy * dy, offs)
        sxy = np.add.reduceat(wgt * dx * dy, offs)
        ang = 0.5 * np.arctan2(2 * sxy, sxx - syy)
        ux, uy = np.cos(ang), np.sin(ang)
        res = np.abs(dx * -uy[seg] + dy * ux[seg])
        return mx, my, ux, uy, res

    mx, my, ux, uy, res = fit(wgt)
    mad = pd.Series(np.where(wgt > 0, res, np.nan)).groupby(seg).transform("median").to_numpy()
    wgt = wgt * (res <= np.maximum(3 * 1.4826 * mad, 0.5))
    mx, my, ux, uy, _ = fit(wgt)
    # orient each line from its run's first point to its last
    flip = (x[b] - x[a]) * ux + (y[b] - y[a]) * uy < 0
    ux, uy = np.where(flip, -ux, ux), np.where(flip, -uy, uy)
    return mx, my, ux, uy


@dataclass
class _Runs:
    """Straight runs of the trusted centre points: each run's first and last point, its arc, its line."""

    x: np.ndarray  # trusted centre points, arc by arc
    y: np.ndarray
    a: np.ndarray  # first and last point of each run
    b: np.ndarray
    arc: np.ndarray
    mx: np.ndarray  # a point on the run's line, and its unit direction (first point -> last)
    my: np.ndarray
    ux: np.ndarray
    uy: np.ndarray


def _runs(arcs: _Arcs, px: np.ndarray, py: np.ndarray, ok: np.ndarray, arc: np.ndarray, *, tol: float,
          persist: int) -> _Runs:
    """Cut the trusted centre points of each arc (two at least) into straight runs, each with its line."""
    n_arcs = len(arcs.start)
    good = np.flatnonzero(ok)
    fitted = np.bincount(arc[good], minlength=n_arcs) >= 2
    good = good[fitted[arc[good]]]
    garc = arc[good]
    gx, gy = px[good], py[good]
    cnt = np.bincount(garc, minlength=n_arcs)
    first = (np.cumsum(cnt) - cnt)[fitted]
    a, b = _split(gx, gy, first, first + cnt[fitted] - 1, tol, persist)
    mx, my, ux, uy = _line_fits(gx, gy, a, b, np.ones(len(gx), bool))
    # a run of fewer than ``persist`` points (across the gap the trusted points leave at a bend)
    # has no direction to trust: where its arc has longer runs, they alone count
    long = b - a + 1 >= persist
    keep = long | ~np.bincount(garc[a], weights=long, minlength=n_arcs).astype(bool)[garc[a]]
    return _Runs(gx, gy, a[keep], b[keep], garc[a][keep], mx[keep], my[keep], ux[keep], uy[keep])


def _cluster(arcs: _Arcs, stroke: int) -> np.ndarray:
    """Each node's cluster (the smallest node id in it): nodes joined by an arc no longer than a stroke."""
    n_nodes = len(arcs.nodes)
    parent = np.arange(n_nodes)
    short = ~arcs.closed & ((arcs.stop - arcs.start - 1) <= stroke)
    for i in np.flatnonzero(short):
        ra, rb = _root(parent, arcs.node_a[i]), _root(parent, arcs.node_b[i])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([_root(parent, i) for i in range(n_nodes)], dtype=np.int64)


def _place_nodes(arcs: _Arcs, runs: _Runs, stroke: int, size: tuple[int, int], lam: float = 0.05) -> np.ndarray:
    """Node positions (n, 2): the least-squares meeting point of the end lines of their arcs.

    Nodes joined by a short arc (a crossing the partition split in two) are placed
    together; a node moves at most a stroke from where the partition put it.
    """
    n_arcs, n_nodes = len(arcs.start), len(arcs.nodes)
    root = _cluster(arcs, stroke)
    n_runs = len(runs.a)
    first_run = np.full(n_arcs, -1)
    last_run = np.full(n_arcs, -1)
    if n_runs:
        first_run[:] = n_runs
        np.minimum.at(first_run, runs.arc, np.arange(n_runs))
        np.maximum.at(last_run, runs.arc, np.arange(n_runs))
    m = np.zeros((n_nodes, 3))  # sums of n n^T (xx, xy, yy) over the lines' normals n, and of n c
    rhs = np.zeros((n_nodes, 2))
    for node_col, run_of in ((arcs.node_a, first_run), (arcs.node_b, last_run)):
        k = np.flatnonzero((node_col >= 0) & (run_of >= 0) & (run_of < max(n_runs, 1)))
        r = run_of[k]
        nd = root[node_col[k]]
        nx, ny = -runs.uy[r], runs.ux[r]
        c = nx * runs.mx[r] + ny * runs.my[r]
        np.add.at(m[:, 0], nd, nx * nx)
        np.add.at(m[:, 1], nd, nx * ny)
        np.add.at(m[:, 2], nd, ny * ny)
        np.add.at(rhs[:, 0], nd, nx * c)
        np.add.at(rhs[:, 1], nd, ny * c)
    members = np.bincount(root, minlength=n_nodes).astype(float)
    centre = np.zeros((n_nodes, 2))
    np.add.at(centre, root, arcs.nodes)
    centre /= np.maximum(members, 1)[:, None]
    a11, a12, a22 = m[:, 0] + lam, m[:, 1], m[:, 2] + lam
    r1, r2 = rhs[:, 0] + lam * centre[:, 0], rhs[:, 1] + lam * centre[:, 1]
    det = a11 * a22 - a12 * a12
    xy = np.column_stack([(a22 * r1 - a12 * r2) / det, (a11 * r2 - a12 * r1) / det])
    move = xy - centre
    dist = np.hypot(*move.T)
    xy = (centre + move * (np.minimum(dist, stroke) / np.maximum(dist, 1e-12))[:, None])[root]
    on_x = (arcs.nodes[:, 0] == 0) | (arcs.nodes[:, 0] == size[0])  # on the image's border: they slide along it
    on_y = (arcs.nodes[:, 1] == 0) | (arcs.nodes[:, 1] == size[1])
    xy[on_x, 0] = arcs.nodes[on_x, 0]
    xy[on_y, 1] = arcs.nodes[on_y, 1]
    return xy


def _bends(arcs: _Arcs, runs: _Runs, *, stroke: int, persist: int) -> dict[int, np.ndarray]:
    """The vertices inside each fitted arc, where its consecutive runs meet (a closed arc: all its vertices)."""
    out: dict[int, np.ndarray] = {}
    if not len(runs.a):
        return out
    sin_corner = np.sin(np.radians(_CORNER_DEG))
    a, b, x, y = runs.a, runs.b, runs.x, runs.y
    mx, my, ux, uy = runs.mx, runs.my, runs.ux, runs.uy
    for rs in np.split(np.arange(len(a)), np.flatnonzero(np.diff(runs.arc)) + 1):
        k = int(runs.arc[rs[0]])
        pairs = list(itertools.pairwise(rs))
        if arcs.closed[k] and len(rs) > 1:
            pairs.append((rs[-1], rs[0]))
        inner = []
        for r0, r1 in pairs:
            bx, by = x[b[r0]], y[b[r0]]  # where one run ends and the next begins
            cx, cy = x[a[r1]], y[a[r1]]
            cross = ux[r0] * uy[r1] - uy[r0] * ux[r1]
            if abs(cross) >= sin_corner and min(b[r0] - a[r0], b[r1] - a[r1]) >= persist - 1:  # a corner
                t = ((mx[r1] - mx[r0]) * uy[r1] - (my[r1] - my[r0]) * ux[r1]) / cross
                qx, qy = mx[r0] + ux[r0] * t, my[r0] + uy[r0] * t
                if np.hypot(qx - bx, qy - by) <= 2 * stroke + 2 + np.hypot(cx - bx, cy - by):
                    inner.append((qx, qy))
                    continue
            p0 = _project(bx, by, mx[r0], my[r0], ux[r0], uy[r0])
            p1 = _project(cx, cy, mx[r1], my[r1], ux[r1], uy[r1])
            inner.append(((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2))
        out[k] = np.array(inner, dtype=float).reshape(-1, 2)
    return out


def _staircase(arcs: _Arcs, k: int) -> np.ndarray:
    """An arc's own pixel staircase, straightened to within a pixel (its end points included)."""
    s, e = arcs.start[k], arcs.stop[k]
    line = shapely.LineString(np.column_stack([arcs.x[s:e], arcs.y[s:e]]))
    return np.asarray(shapely.simplify(line, 1.0).coords)


def _arc_vertices(arcs: _Arcs, node_xy: np.ndarray, bends: dict[int, np.ndarray], rigid: np.ndarray) -> list[np.ndarray]:
    """The vertices of every arc: fitted (its nodes, its bends), or its staircase where ``rigid`` or unfitted."""
    out = []
    for k in range(len(arcs.start)):
        inner = bends.get(k)
        if arcs.closed[k]:
            out.append(np.vstack([inner, inner[:1]]) if inner is not None and len(inner) >= 3 and not rigid[k]
                       else _staircase(arcs, k))
            continue
        if rigid[k] or (inner is None and arcs.stop[k] - arcs.start[k] > 2):
            inner = _staircase(arcs, k)[1:-1]
        ends = node_xy[[arcs.node_a[k], arcs.node_b[k]]]
        out.append(np.vstack([ends[:1], inner, ends[1:]]) if inner is not None else ends)
    return out


def _root(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return int(i)


def _project(px: float, py: float, mx: float, my: float, ux: float, uy: float) -> tuple[float, float]:
    t = (px - mx) * ux + (py - my) * uy
    return mx + ux * t, my + uy * t


# -- 4. the polygons --------------------------------------------------------------------------

def _assemble(arcs: _Arcs, verts: list[np.ndarray]) -> gpd.GeoDataFrame:
    """Each region's polygon from its rings' arcs (shared arcs give shared vertices)."""
    parts: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {}
    for region, part, number, ring in arcs.rings:  # number 0: the shell of its part
        seq = []
        for k, flipped in ring:
            v = verts[k][::-1] if flipped else verts[k]
            seq.append(v[:-1])
        pts = np.concatenate(seq)
        keep = np.any(pts != np.roll(pts, 1, axis=0), axis=1)
        pts = pts[keep]
        if len(pts) < 3:
            continue
        parts.setdefault((region, part), []).append((number, pts))
    polys: dict[int, list[shapely.Polygon]] = {}
    for (region, _), rings in parts.items():
        if rings[0][0] != 0:  # the shell collapsed
            continue
        polys.setdefault(region, []).append(shapely.Polygon(rings[0][1], [r for _, r in rings[1:]]))
    regions = sorted(polys)
    geoms = [ps[0] if len(ps) == 1 else shapely.MultiPolygon(ps) for ps in (polys[r] for r in regions)]
    return gpd.GeoDataFrame({"region": regions}, geometry=geoms)
