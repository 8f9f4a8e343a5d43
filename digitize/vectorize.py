"""Line-work of a scanned sheet -> a partition of the sheet into regions (parcel candidates).

Works in scan pixels, so no resampling blurs the lines; the caller moves the polygons
to the map with the georeference.  The steps, each a pure function:

1. :func:`darkness`, :func:`ink_mask`: divide out the paper (stains, yellowing, uneven lighting), then
   hysteresis thresholding keeps faded strokes that touch dark ones.
2. :func:`split_linework`: connected pieces of ink are line-work when they are long,
   enclose a real area, or are thin straight fragments of a broken line; the rest
   (text, grid crosses, symbols, specks) is kept apart for label reading.
3. :func:`close_gaps`: each dangling line end is extended to the ink it points at,
   within ``max_gap_mm``: faded or broken boundaries close again.
4. :func:`partition`: the regions between the lines, each line pixel then given to
   the nearest region, so neighbours share one boundary along the line's centre
   (no gaps, no overlaps); regions under the minimum area are absorbed likewise.
5. :func:`digitize.outline.fit_outlines`: one polygon per region, in pixel coordinates,
   its boundaries fitted to the centre lines of the ink (neighbours still share them).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import geopandas as gpd
import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from digitize.outline import fit_outlines
from gis.errors import DigitizeError

__all__ = ["Vectorized", "darkness", "ink_mask", "split_linework", "close_gaps", "partition", "vectorize"]


@dataclass
class Vectorized:
    """What :func:`vectorize` found: masks and the region partition, in scan pixels."""

    dark: np.ndarray  # uint8: darkness against the paper (0 = paper)
    ink: np.ndarray  # bool: all ink
    lines: np.ndarray  # bool: line-work after gap closing
    text: np.ndarray  # bool: ink that is not line-work (labels, crosses, symbols)
    labels: np.ndarray  # int32: region id per pixel, 0 = none
    regions: gpd.GeoDataFrame  # column region, geometry in pixel coordinates


def _background(grey: np.ndarray, px_per_mm: float) -> np.ndarray:
    """The paper's brightness under the ink: a grey closing over ~2 mm, at low resolution."""
    f = max(1, int(round(px_per_mm / 2)))  # work at ~2 px per mm
    small = cv2.resize(grey, (max(1, grey.shape[1] // f), max(1, grey.shape[0] // f)), interpolation=cv2.INTER_AREA)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, k)
    bg = cv2.dilate(bg, k)
    bg = cv2.GaussianBlur(bg, (0, 0), 2.0)
    return cv2.resize(bg, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_LINEAR)


def darkness(grey: np.ndarray, *, px_per_mm: float) -> np.ndarray:
    """How dark each pixel is against the paper around it: uint8, 0 = paper, 255 = black.

    Dividing by the local paper brightness removes stains, yellowing, fold shadows and
    uneven lighting.
    """
    bg = _background(grey, px_per_mm)
    dark = 255 - cv2.divide(grey, np.maximum(bg, 1), scale=255)
    return cv2.GaussianBlur(dark, (3, 3), 0.6)


def ink_mask(dark: np.ndarray, *, strong: float = 0.45, weak: float = 0.12) -> np.ndarray:
    """Ink pixels from :func:`darkness`: hysteresis thresholding.

    ``strong`` and ``weak`` are darkness thresholds (0 = paper, 1 = black): a pixel is
    ink if it is strongly dark, or weakly dark and connected to strong ink, so faded
    strokes survive but stains and noise do not.
    """
    n, lab = cv2.connectedComponents((dark > weak * 255).astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    keep = np.zeros(n, dtype=bool)
    keep[lab[dark > strong * 255]] = True
    keep[0] = False
    return keep[lab]


def _hole_area(comp: np.ndarray) -> int:
    """Largest enclosed background area of a component mask."""
    filled = ndi.binary_fill_holes(comp)
    holes = filled & ~comp
    if not holes.any():
        return 0
    lab, _ = ndi.label(holes)
    return int(np.bincount(lab.ravel())[1:].max())


def _directional_open(mask: np.ndarray, length: int) -> np.ndarray:
    """Pixels of ``mask`` on a straight run of at least ``length`` px in some direction.

    The directions are close enough that a one-pixel line between two of them drifts at
    most half a pixel from the nearer one over the run.
    """
    out = np.zeros_like(mask)
    c = (length - 1) / 2
    angles = max(12, int(np.ceil(np.pi / np.arctan(1.0 / max(c, 1.0)))))
    for a in np.arange(angles) * np.pi / angles:
        k = np.zeros((length, length), np.uint8)
        dx, dy = np.cos(a) * c, np.sin(a) * c
        cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1, 1)
        out |= cv2.morphologyEx(mask, cv2.MORPH_OPEN, k)
    return out


def _bands(lab: np.ndarray, rows: int = 1024):
    """The labelled pixels of ``lab``, a band of rows at a time: (first row, ids, rows in band, columns)."""
    for r0 in range(0, lab.shape[0], rows):
        band = lab[r0:r0 + rows]
        ys, xs = np.nonzero(band)
        yield r0, band[ys, xs], ys, xs


def _piece_means(lab: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``values`` over each labelled piece (ids below ``n``), without full-size temporaries."""
    total, count = np.zeros(n), np.zeros(n)
    for r0, ids, ys, xs in _bands(lab):
        total += np.bincount(ids, values[r0 + ys, xs].astype(np.float64), n)
        count += np.bincount(ids, None, n)
    return total / np.maximum(count, 1)


def _pieces(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label the 8-connected pieces of ``mask``; per piece: centroid, unit axis, length, width.

    Returns (label image, (n, 6) array of cx, cy, ax, ay, length, width), row 0 unused.
    Length and width come from the second moments (a uniform bar of length L has
    variance L^2/12 along its axis), so they are sub-pixel and need no loop.
    """
    n, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    m = np.zeros((6, n))  # raw moments: count, x, y, xx, yy, xy
    for r0, ids, ys, xs in _bands(lab):
        x, y = xs.astype(np.float64), ys.astype(np.float64) + r0
        for k, wgt in enumerate((None, x, y, x * x, y * y, x * y)):
            m[k] += np.bincount(ids, wgt, n)
    cnt = np.maximum(m[0], 1)
    mx, my = m[1] / cnt, m[2] / cnt
    sxx = m[3] / cnt - mx**2 + 1 / 12
    syy = m[4] / cnt - my**2 + 1 / 12
    sxy = m[5] / cnt - mx * my
    tr, det = sxx + syy, sxx * syy - sxy**2
    disc = np.sqrt(np.maximum(tr**2 / 4 - det, 0))
    l1, l2 = tr / 2 + disc, np.maximum(tr / 2 - disc, 0)
    theta = 0.5 * np.arctan2(2 * sxy, sxx - syy)
    stats = np.column_stack([mx, my, np.cos(theta), np.sin(theta), np.sqrt(12 * l1), np.sqrt(12 * l2)])
    return lab, stats


def _ray_hit(support: np.ndarray, blocked: np.ndarray, start: np.ndarray, step: np.ndarray,
             reach: int, own: int) -> tuple[int, np.ndarray | None]:
    """Walk from ``start`` along ``step`` for up to ``reach`` px; the first thing met.

    ``support`` holds -1 for line-work, a piece id (> 0) for candidate pieces, 0 else;
    ``blocked`` is any other ink.  Returns (what was met: -1, a piece id, or 0 for
    nothing or other ink; the point met).
    """
    h, w = support.shape
    for k in range(1, reach + 1):
        x, y = int(round(start[0] + step[0] * k)), int(round(start[1] + step[1] * k))
        if not (0 <= x < w and 0 <= y < h):
            return 0, None
        v = support[y, x]
        if v != 0 and v != own:
            return int(v), np.array([x, y], float)
        if v == 0 and blocked[y, x]:
            return 0, None
    return 0, None


def _straight_links(rest: np.ndarray, lines: np.ndarray, *, px_per_mm: float, stroke: int,
                    max_gap_mm: float, text_gap_mm: float = 0.8) -> np.ndarray:
    """Straight thin pieces of ``rest`` that belong to the line-work, with the gaps they leave.

    A piece is kept when it is a thin bar (a short boundary edge, a fragment of a
    broken or faded line) and each of its ends reaches line-work, or another kept bar
    on the same line, within ``max_gap_mm`` along its own axis with no other ink in
    between.  A letter touching a line is not a bar; a bar with other text within
    ``text_gap_mm`` along most of it is a stroke of a letter or a fraction bar.
    Returns the kept pieces and the segments bridging their gaps.
    """
    lab, st = _pieces(rest)
    width_max = 1.2 * stroke + 1.0
    length, width = st[:, 4], st[:, 5]
    cand = (length >= max(4.0, 0.5 * px_per_mm)) & (width <= width_max) & (length >= 2 * width)
    cand[0] = False
    if cand.any():  # a stroke of a letter or a fraction bar has other text right beside it
        others = (rest & ~cand[lab]).astype(np.uint8)
        r = max(1, int(round(text_gap_mm * px_per_mm)))
        near = cv2.dilate(others, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        share = _piece_means(lab, near, len(cand))
        cand &= share < 0.3
    if not cand.any():
        return np.zeros_like(rest)
    blocks = ~cand & (length >= px_per_mm)  # letters block a ray, specks do not
    blocks[0] = False
    blocked = blocks[lab]
    keep_lab = np.where(cand, np.arange(len(cand)), 0).astype(np.float32)[lab]  # ids exact below 2**24
    del lab  # (an A0 scan: every full-size label image is half a gigabyte)
    grow = max(1, int(round(stroke / 2)))
    k = np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)
    support = cv2.dilate(keep_lab, k)  # ids, grown by half a stroke
    support[cv2.dilate(lines.astype(np.uint8), k).astype(bool)] = -1
    own = keep_lab > 0
    support[own] = keep_lab[own]
    del own
    reach = int(round(max_gap_mm * px_per_mm))
    cos_max = np.cos(np.radians(12))
    ends: dict[int, list[tuple[int, np.ndarray, np.ndarray | None]]] = {}
    for i in np.flatnonzero(cand):
        c, a, half = st[i, :2], st[i, 2:4], st[i, 4] / 2
        hits = []
        for sign in (1.0, -1.0):
            end = c + sign * a * max(half - 1.0, 0.0)
            what, at = _ray_hit(support, blocked, end, sign * a, reach + 1, int(i))
            if what > 0:  # another bar: only one on the same line
                dx, dy = st[what, :2] - c
                off = abs(float(a[0] * dy - a[1] * dx))  # its centre's distance from this bar's line
                if abs(float(a @ st[what, 2:4])) < cos_max or off > width_max + 1:
                    what = 0
            hits.append((what, end, at))
        ends[int(i)] = hits
    alive = {i for i, hits in ends.items() if all(w != 0 for w, _, _ in hits)}
    changed = True
    while changed:
        changed = False
        for i in list(alive):
            if any(w > 0 and w not in alive for w, _, _ in ends[i]):
                alive.discard(i)
                changed = True
    del support, blocked
    keep = np.zeros(len(st), dtype=np.uint8)
    keep[list(alive)] = 1
    out = keep[keep_lab.astype(np.int32)]
    del keep_lab
    for i in alive:
        for _, end, at in ends[i]:
            if at is not None:
                cv2.line(out, (int(round(end[0])), int(round(end[1]))), (int(at[0]), int(at[1])), 1, thickness=stroke)
    return out.astype(bool)


def _text_bars(lines: np.ndarray, text: np.ndarray, *, px_per_mm: float, stroke: int, max_len_mm: float = 15.0,
               reach_mm: float = 1.2) -> np.ndarray:
    """Line-work pixels of fraction bars and underlines: straight runs with text on both sides.

    The line-work is cut into branches at its junctions; a straight branch no longer
    than ``max_len_mm`` with text within ``reach_mm`` along most of one side and a
    good part of the other is a bar of a label (the number over the area), not a
    boundary, even when it touches one.  ``stroke`` is the line-work's width in pixels.
    Returns the pixels to take out of the line-work.
    """
    skel = skeletonize(lines)
    nb = cv2.filter2D(skel.astype(np.uint8), -1, _NEIGH, borderType=cv2.BORDER_CONSTANT)
    junctions = skel & (nb >= 3)
    lab, st = _pieces(skel & ~cv2.dilate(junctions.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool))
    length, width = st[:, 4], st[:, 5]
    cand = np.flatnonzero((length >= 1.5 * px_per_mm) & (length <= max_len_mm * px_per_mm) & (width <= 2.5))
    cand = cand[cand > 0]
    if len(cand) == 0:
        return np.zeros_like(lines)
    r = max(1, int(round(0.25 * px_per_mm)))
    near = cv2.dilate(text.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    h, w = near.shape
    c, a, half = st[cand, :2], st[cand, 2:4], st[cand, 4] / 2
    normal = np.column_stack([-a[:, 1], a[:, 0]])
    t = np.linspace(-0.8, 0.8, 9)
    d = np.linspace(0.4, reach_mm, 4) * px_per_mm
    sides = []
    for sign in (1.0, -1.0):
        pts = (c[:, None, None, :] + a[:, None, None, :] * (t[None, :, None, None] * half[:, None, None, None])
               + sign * normal[:, None, None, :] * d[None, None, :, None])  # (bars, along, out, 2)
        x = np.clip(np.round(pts[..., 0]).astype(int), 0, w - 1)
        y = np.clip(np.round(pts[..., 1]).astype(int), 0, h - 1)
        sides.append(near[y, x].any(axis=2).mean(axis=1))
    both = np.minimum(sides[0], sides[1]) >= 0.35
    bars = cand[both & (np.maximum(sides[0], sides[1]) >= 0.6)]
    if len(bars) == 0:
        return np.zeros_like(lines)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * stroke + 1, 2 * stroke + 1))
    is_bar = np.zeros(len(st), dtype=np.uint8)
    is_bar[bars] = 1
    drop = cv2.dilate(is_bar[lab], k).astype(bool)
    del lab
    keep = cv2.dilate(junctions.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4 * stroke + 1,) * 2))
    return drop & lines & ~keep.astype(bool)


def split_linework(ink: np.ndarray, *, px_per_mm: float, run_mm: float = 5.5, piece_min_mm: float = 20.0,
                   hole_min_mm: float = 2.5, max_gap_mm: float = 2.5) -> tuple[np.ndarray, np.ndarray]:
    """Split ink into (line-work, other).

    Line-work is ink on a straight run of at least ``run_mm`` (a directional opening,
    at half resolution: lines are long, letters short), so text that touches or
    crosses a boundary comes off it.  Pieces left on their own and shorter than
    ``piece_min_mm`` (fraction bars, underlines, grid crosses, strokes of letters) go
    to the other ink unless they enclose an area, and so do the bars of labels that
    touch a boundary (:func:`_text_bars`).  Then straight thin bars of the
    other ink whose two ends reach the line-work (short boundary edges, the pieces of
    a broken or faded line) come back, their gaps bridged (:func:`_straight_links`).
    """
    u = ink.astype(np.uint8)
    h, w = u.shape
    half = (cv2.resize(u * 255, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    runs = _directional_open(half, max(3, int(run_mm * px_per_mm / 2)) | 1)
    runs = cv2.resize(runs, (w, h), interpolation=cv2.INTER_NEAREST)
    lines = cv2.dilate(runs, np.ones((3, 3), np.uint8)) & u
    del runs, half, u
    n, lab, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    small = np.zeros(n, dtype=bool)
    lim = piece_min_mm * px_per_mm
    for i in np.flatnonzero(np.maximum(stats[:, 2], stats[:, 3]) < lim):
        if i == 0:
            continue
        x, y, ww, hh, _ = stats[i]
        comp = lab[y:y + hh, x:x + ww] == i
        small[i] = _hole_area(comp) < (hole_min_mm * px_per_mm) ** 2
    lines = lines.astype(bool) & ~small[lab]
    del lab
    if lines.any():
        stroke = _line_width(lines)
        lines &= ~_text_bars(lines, ink & ~lines, px_per_mm=px_per_mm, stroke=stroke)
        lines |= _straight_links(ink & ~lines, lines, px_per_mm=px_per_mm, stroke=stroke, max_gap_mm=max_gap_mm)
    return lines, ink & ~lines


_NEIGH = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.uint8)
_STEPS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def _trace(skel: np.ndarray, y: int, x: int, length: int) -> tuple[list[tuple[int, int]], bool]:
    """Walk from an end point along the skeleton; returns the path and whether it ran its length."""
    path = [(y, x)]
    seen = {(y, x)}
    h, w = skel.shape
    while len(path) < length:
        cy, cx = path[-1]
        nxt = [(cy + dy, cx + dx) for dy, dx in _STEPS
               if 0 <= cy + dy < h and 0 <= cx + dx < w and skel[cy + dy, cx + dx] and (cy + dy, cx + dx) not in seen]
        if len(nxt) != 1:
            return path, False
        path.append(nxt[0])
        seen.add(nxt[0])
    return path, True


def close_gaps(lines: np.ndarray, *, px_per_mm: float, max_gap_mm: float = 2.5,
               min_branch_mm: float = 1.5, max_angle_deg: float = 25.0) -> np.ndarray:
    """Bridge breaks in the line-work: extend each dangling end to the ink it points at.

    An end is extended only when its branch runs straight for ``min_branch_mm`` (so
    spurs of text or noise are not), and only to ink within ``max_gap_mm`` inside a
    cone of ``max_angle_deg`` around its direction.
    """
    skel = skeletonize(lines)
    nb = cv2.filter2D(skel.astype(np.uint8), -1, _NEIGH, borderType=cv2.BORDER_CONSTANT)
    ends = np.argwhere(skel & (nb == 1))
    if len(ends) == 0:
        return lines
    out = lines.copy().astype(np.uint8)
    gap = max_gap_mm * px_per_mm
    branch = max(4, int(round(min_branch_mm * px_per_mm)))
    thick = _line_width(lines)
    skel_pts = np.argwhere(skel)
    tree = cKDTree(skel_pts)
    cos_max = np.cos(np.radians(max_angle_deg))
    for y, x in ends:
        path, ok = _trace(skel, int(y), int(x), branch)
        if not ok:
            continue
        d = np.array(path[0], float) - np.array(path[-1], float)
        d /= np.hypot(*d) or 1.0
        own = set(path)
        best, best_cost = None, np.inf
        for j in tree.query_ball_point((y, x), gap):
            q = tuple(skel_pts[j])
            if q in own:
                continue
            v = np.array(q, float) - (y, x)
            dist = np.hypot(*v)
            if dist < 1.5:
                continue
            c = float(v @ d) / dist
            if c < cos_max:
                continue
            cost = dist * (2.0 - c)
            if cost < best_cost:
                best, best_cost = q, cost
        if best is not None:
            # extend along the end's own direction to the target's projection
            cv2.line(out, (int(x), int(y)), (int(best[1]), int(best[0])), 1, thickness=thick)
    return out.astype(bool)


def _line_width(lines: np.ndarray) -> int:
    """Typical stroke width of the line-work, in pixels (2 x median distance to paper on the skeleton)."""
    sample = lines[:: max(1, lines.shape[0] // 1500)] if lines.shape[0] > 3000 else lines
    dist = cv2.distanceTransform(sample.astype(np.uint8), cv2.DIST_L2, 3)
    vals = dist[dist > 0]
    if len(vals) == 0:
        return 1
    return max(1, int(round(2 * np.percentile(vals, 75))))


def partition(lines: np.ndarray, *, min_area_px: int, strip: int = 1024, reach: int = 256) -> np.ndarray:
    """Label the regions between lines and give every line pixel to its nearest region.

    Regions smaller than ``min_area_px`` are dissolved into their neighbours the same
    way.  Returns an int32 label image (ids 1..n, consecutive; 0 only if nothing).
    The nearest region is looked for within ``reach`` pixels, a strip of rows at a
    time, so an A0 scan needs a few hundred megabytes here, not gigabytes.
    """
    free = (~lines).astype(np.uint8)
    _, lab, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=4, ltype=cv2.CV_32S)
    del free
    small = stats[:, cv2.CC_STAT_AREA] < min_area_px
    small[0] = True
    ids = np.where(small, 0, np.cumsum(~small)).astype(np.int32)
    for r0 in range(0, lab.shape[0], strip):  # in place, a band at a time (take would copy as int64)
        lab[r0:r0 + strip] = ids[lab[r0:r0 + strip]]
    if not ids.any():
        return lab
    seeds_all = (lab == 0).astype(np.uint8)  # to be given a region
    h = lab.shape[0]
    for r0 in range(0, h, strip):
        r1 = min(h, r0 + strip)
        inner = seeds_all[r0:r1].astype(bool)
        if not inner.any():
            continue
        w0, w1 = max(0, r0 - reach), min(h, r1 + reach)
        seeds = seeds_all[w0:w1]
        _, nearest = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        given = seeds == 0
        lut = np.zeros(int(nearest.max()) + 1, dtype=np.int32)
        lut[nearest[given]] = lab[w0:w1][given]
        rows = lab[r0:r1]
        rows[inner] = lut[nearest[r0 - w0:r1 - w0][inner]]
    return lab


def vectorize(grey: np.ndarray, *, px_per_mm: float, min_area_mm2: float = 4.0, max_gap_mm: float = 2.5,
              erase: np.ndarray | None = None) -> Vectorized:
    """Scan (grey, ink dark) -> regions between the line-work, in pixel coordinates.

    ``erase`` is an optional bool mask of ink to drop before anything else (e.g. the
    grid crosses found at the control points).
    """
    dark = darkness(grey, px_per_mm=px_per_mm)
    ink = ink_mask(dark)
    if erase is not None:
        ink &= ~erase
    lines, text = split_linework(ink, px_per_mm=px_per_mm, max_gap_mm=max_gap_mm)
    if not lines.any():
        raise DigitizeError("no line-work found on the sheet", hint="check that the image is a cadastral sheet scan")
    lines = close_gaps(lines, px_per_mm=px_per_mm, max_gap_mm=max_gap_mm)
    labels = partition(lines, min_area_px=int(min_area_mm2 * px_per_mm**2))
    if labels.max() == 0:
        raise DigitizeError("the line-work encloses no region", hint="check the scan and its resolution")
    regions = fit_outlines(labels, dark, lines, stroke=_line_width(lines))
    return Vectorized(dark, ink, lines, text, labels, regions)
