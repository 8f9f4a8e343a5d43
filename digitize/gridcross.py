"""Control points without a human: the frame and the grid crosses of a scanned sheet.

A cadastral sheet of Circular 25/2014 carries a neat line (the frame: the sheet's
extent), ticks on the frame and crosses inside it every 10 cm of paper.  The sheet
number fixes the frame's map coordinates, so every tick and cross has known map
coordinates too.  :func:`find_control_points` finds them in the scan:

1. :func:`find_frame`: on a max-pooled ink image at about 2 px per mm, the skew of
   long straight lines (projection profiles over angles), the long lines themselves,
   and among the rectangles they form the one with the sheet's aspect ratio (and size,
   when the dpi is known) whose predicted grid nodes carry crosses: so a thicker outer
   frame, or a road running the width of the sheet, is not taken for the neat line.
2. A rough paper -> pixel model (a homography) from the frame's corners predicts every
   grid node: the crosses inside, the ticks on the frame edges, the four corners.
3. Each node is measured in the full-resolution scan, to sub-pixel: the two strokes
   through it (the arms of a cross; the frame line and its tick; two frame lines at a
   corner) are each fitted as a straight line to the centroids of their ink across
   the stroke, and the two lines are intersected.
4. Nodes not found, or not where a second-order model of the others puts them
   (iterative rejection), are dropped; then every node is measured again from that
   model, with a tighter search, and checked again.

Sizes are derived from the scan's resolution (px per mm, estimated from the frame and
the sheet's scale when the dpi is not given), never from a particular drawing style.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from pyproj import CRS, Transformer

from digitize.georef import ControlPoints, poly_terms
from digitize.vectorize import darkness
from gis.crs import province as find_province
from gis.crs import provinces
from gis.errors import GeoreferenceError, InputError
from gis.sheets import Sheet, parse_sheet

__all__ = ["GRID_MM", "MIN_POINTS", "Frame", "find_control_points", "find_frame", "place_sheet", "refine_control_points"]

#: grid spacing on the paper, millimetres (crosses every 10 cm)
GRID_MM = 100.0
#: fewest control points worth returning (a second-order model needs 6, plus spares)
MIN_POINTS = 8
_COARSE_PX_PER_MM = 2.0  # resolution of the frame search
_MAX_SKEW_DEG = 8.0


@dataclass(frozen=True)
class Frame:
    """The neat line found in a scan: corners (top-left, top-right, bottom-right, bottom-left), image pixels."""

    corners: np.ndarray
    px_per_mm: float


def _frame_mm(sheet: Sheet) -> tuple[float, float]:
    e0, n0, e1, n1 = sheet.extent
    return (e1 - e0) / sheet.scale * 1000.0, (n1 - n0) / sheet.scale * 1000.0


def _maxpool(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape[0] // f, a.shape[1] // f
    return a[: h * f, : w * f].reshape(h, f, w, f).max(axis=(1, 3))


def _skew(ys: np.ndarray, xs: np.ndarray) -> float:
    """Angle (radians) of the long lines running along x, from ink pixel coordinates."""

    def sharpness(a: float) -> float:
        r = np.round(ys - xs * math.tan(a)).astype(np.int64)
        h = np.bincount(r - r.min())
        return float(np.dot(h, h))

    best = max(np.radians(np.arange(-_MAX_SKEW_DEG, _MAX_SKEW_DEG + 1e-9, 0.25)), key=sharpness)
    fine = best + np.radians(np.arange(-0.3, 0.3 + 1e-9, 0.02))
    return float(max(fine, key=sharpness))


@dataclass
class _Line:
    offset: float  # r in y = r + x tan(a) (or c in x = c + y tan(b))
    occupied: np.ndarray  # bool along the other axis


def _long_lines(ys: np.ndarray, xs: np.ndarray, angle: float, length: int) -> list[_Line]:
    """Candidate long lines at one angle: peaks of the projection profile, with their ink along x."""
    r = ys - xs * math.tan(angle)
    lo = math.floor(r.min())
    bins = np.round(r - lo).astype(np.int64)
    prof = np.bincount(bins).astype(float)
    prof = np.convolve(prof, [0.5, 1.0, 0.5], mode="same")
    floor = 0.25 * prof.max()
    peaks = [i for i in range(1, len(prof) - 1) if prof[i] >= floor and prof[i] >= prof[i - 1] and prof[i] > prof[i + 1]]
    out = []
    for i in sorted(peaks, key=lambda i: -prof[i]):
        if any(abs(i - (ln.offset - lo)) < 3 for ln in out):
            continue
        sel = np.abs(r - lo - i) <= 1.5
        occ = np.zeros(length, dtype=bool)
        occ[np.clip(xs[sel], 0, length - 1).astype(np.int64)] = True
        occ = np.convolve(occ, np.ones(5), mode="same") > 0  # bridge junction-sized gaps
        out.append(_Line(float(i + lo), occ))
        if len(out) >= 24:
            break
    return out


def _corner(h: _Line, v: _Line, ta: float, tb: float) -> tuple[float, float]:
    y = (h.offset + v.offset * ta) / (1 - ta * tb)
    return v.offset + y * tb, y


def _homography(corners: np.ndarray, wmm: float, hmm: float) -> np.ndarray:
    paper = np.array([[0, 0], [wmm, 0], [wmm, hmm], [0, hmm]], dtype=np.float32)
    return cv2.getPerspectiveTransform(paper, corners.astype(np.float32))


def _apply(hm: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(np.asarray(xy, dtype=np.float64).reshape(-1, 1, 2), hm).reshape(-1, 2)


def _nodes(wmm: float, hmm: float) -> list[tuple[int, int, float, float]]:
    """Grid nodes (column, row, x mm, y mm) over the frame, corners and edges included."""
    ni, nj = max(1, round(wmm / GRID_MM)), max(1, round(hmm / GRID_MM))
    return [(i, j, wmm * i / ni, hmm * j / nj) for j in range(nj + 1) for i in range(ni + 1)]


def _cross_support(ink: np.ndarray, hm: np.ndarray, wmm: float, hmm: float) -> float:
    """Share of the grid nodes of a candidate frame that carry ink along both grid directions.

    A node inside counts when at least 3 of its 4 arms show ink (at 0.8, 1.3 and 1.8 mm
    from it, 2 of 3); a node on an edge when a tick shows outside the frame.
    """
    nodes = _nodes(wmm, hmm)
    inner = np.array([(x, y) for _, _, x, y in nodes if 0 < x < wmm and 0 < y < hmm]).reshape(-1, 2)
    edge = [(x, y, (-1, 0) if x == 0 else (1, 0) if x == wmm else (0, -1) if y == 0 else (0, 1))
            for _, _, x, y in nodes if (x in (0, wmm)) != (y in (0, hmm))]
    if not len(inner) and not edge:
        return 0.0
    reach = np.array([0.8, 1.3, 1.8])
    dirs = np.array([(1, 0), (-1, 0), (0, 1), (0, -1)], dtype=float)
    pts = [(inner[:, None, None, :] + dirs[None, :, None, :] * reach[None, None, :, None]).reshape(-1, 2)]
    if edge:
        e = np.array([(x, y) for x, y, _ in edge])
        d = np.array([o for _, _, o in edge], dtype=float)
        pts.append((e[:, None, :] + d[:, None, :] * reach[None, :, None]).reshape(-1, 2))
    p = np.round(_apply(hm, np.concatenate(pts))).astype(int)
    h, w = ink.shape
    ok = (p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)
    hit = np.zeros(len(p), dtype=bool)
    hit[ok] = ink[p[ok, 1], p[ok, 0]]
    n_in = len(inner) * 12
    arms = hit[:n_in].reshape(len(inner), 4, 3).sum(axis=2) >= 2
    score = int((arms.sum(axis=1) >= 3).sum())
    if edge:
        score += int((hit[n_in:].reshape(len(edge), 3).sum(axis=1) >= 2).sum())
    return score / (len(inner) + len(edge))


def _rough_px_per_mm(shape: tuple[int, ...], sheet: Sheet, dpi_hint: float | None) -> float:
    """The dpi given, else a guess: the frame fills about 85 % of the scan's shorter side."""
    return dpi_hint / 25.4 if dpi_hint else min(shape[:2]) / (max(_frame_mm(sheet)) / 0.85)


def find_frame(image_grey: np.ndarray, sheet: Sheet, *, dpi_hint: float | None = None) -> Frame:
    """Find the sheet's neat line in a scan (ink dark); raises GeoreferenceError when there is none."""
    ppmm = _rough_px_per_mm(image_grey.shape, sheet, dpi_hint)
    return _find_frame(darkness(image_grey, px_per_mm=ppmm), sheet, ppmm, dpi_hint)


def _find_frame(dark: np.ndarray, sheet: Sheet, ppmm_guess: float, dpi_hint: float | None) -> Frame:
    wmm, hmm = _frame_mm(sheet)
    h, w = dark.shape
    f = max(1, round(ppmm_guess / _COARSE_PX_PER_MM))
    ink = _maxpool(dark, f) > 0.35 * 255
    ys, xs = np.nonzero(ink)
    if len(xs) < 100:
        raise GeoreferenceError("no ink found on the scan: no frame to find",
                                hint="check the image, or give hand-picked control points with --gcps")
    ch, cw = ink.shape
    ta = math.tan(_skew(ys.astype(float), xs.astype(float)))
    tb = math.tan(_skew(xs.astype(float), ys.astype(float)))  # vertical lines: x = c + y tan(b)
    hl = _long_lines(ys.astype(float), xs.astype(float), math.atan(ta), cw)
    vl = _long_lines(xs.astype(float), ys.astype(float), math.atan(tb), ch)
    cppmm = ppmm_guess / f
    want = wmm / hmm
    found = []  # (corners, cross support, width)
    for top in hl:
        for bottom in hl:
            if bottom.offset - top.offset < 0.4 * ch:
                continue
            for left in vl:
                for right in vl:
                    if right.offset - left.offset < 0.4 * cw:
                        continue
                    c = np.array([_corner(top, left, ta, tb), _corner(top, right, ta, tb),
                                  _corner(bottom, right, ta, tb), _corner(bottom, left, ta, tb)])
                    width = (np.hypot(*(c[1] - c[0])) + np.hypot(*(c[2] - c[3]))) / 2
                    height = (np.hypot(*(c[3] - c[0])) + np.hypot(*(c[2] - c[1]))) / 2
                    if abs(width / height / want - 1) > 0.06:
                        continue
                    if dpi_hint and abs(width / (wmm * cppmm) - 1) > 0.035:  # paper shrink, scanner scale
                        continue
                    cover = min(
                        top.occupied[int(c[0, 0]):int(c[1, 0])].mean(), bottom.occupied[int(c[3, 0]):int(c[2, 0])].mean(),
                        left.occupied[int(c[0, 1]):int(c[3, 1])].mean(), right.occupied[int(c[1, 1]):int(c[2, 1])].mean())
                    if cover < 0.7:
                        continue
                    found.append((c, _cross_support(ink, _homography(c, wmm, hmm), wmm, hmm), width))
    if not found:
        raise GeoreferenceError(
            f"no frame (neat line) of the sheet's shape found on the scan ({w} x {h} px)",
            hint="check that the image is the whole scanned sheet, or give hand-picked control points with --gcps")
    # the neat line: the largest rectangle whose grid nodes carry crosses about as well as the
    # best one's (a regular block of parcel lines inside can mimic crosses too, but is smaller)
    top_support = max(sup for _, sup, _ in found)
    best = max((x for x in found if x[1] >= 0.6 * top_support), key=lambda x: x[2])[0]
    corners = (best + 0.5) * f - 0.5
    side = (np.hypot(*(corners[1] - corners[0])) + np.hypot(*(corners[2] - corners[3]))) / 2
    return Frame(corners + 0.5, float(side / wmm))


# -- measuring one node ----------------------------------------------------------------

def _sample(dark: np.ndarray, p: np.ndarray, u: np.ndarray, n: np.ndarray, t: np.ndarray,
            d: np.ndarray) -> np.ndarray:
    """Darkness at p + u t + n d for a grid (len(d), len(t)), bilinear, cv pixel coordinates."""
    tt, dd = np.meshgrid(t, d)
    mx = (p[0] + u[0] * tt + n[0] * dd).astype(np.float32)
    my = (p[1] + u[1] * tt + n[1] * dd).astype(np.float32)
    return cv2.remap(dark, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(float)


def _offset(dark: np.ndarray, p: np.ndarray, u: np.ndarray, n: np.ndarray, t: np.ndarray,
            search: float) -> float | None:
    """Offset across direction u (along n) of the straight stroke nearest p, from the mean profile."""
    d = np.arange(-search, search + 0.5, 0.5)
    prof = _sample(dark, p, u, n, t, d).mean(axis=1)
    prof = prof - np.median(prof)
    top = prof.max()
    if top < 20:  # < 8 % darkness on average along the stroke: no stroke
        return None
    peaks = [i for i in range(1, len(d) - 1) if prof[i] >= 0.5 * top and prof[i] >= prof[i - 1] and prof[i] >= prof[i + 1]]
    if not peaks:
        return None
    return float(d[min(peaks, key=lambda i: abs(d[i]))])


def _stroke(dark: np.ndarray, p: np.ndarray, u: np.ndarray, n: np.ndarray, t: np.ndarray,
            band: float) -> tuple[float, float] | None:
    """A stroke along u through about p: (a, b) of its centre line d = a + b t, fitted to per-column centroids."""
    d = np.arange(-band - 2, band + 2.01, 0.5)
    v = _sample(dark, p, u, n, t, d)
    v = v - v.min(axis=0, keepdims=True)
    inner = np.abs(d) <= band
    wgt = v[inner]
    mass = wgt.sum(axis=0)
    peak = wgt.max(axis=0)
    edge = np.maximum(v[~inner].max(axis=0), 0)
    inked = peak >= 25  # 10 % darker than the paper
    if not inked.any():
        return None
    ok = (mass > 0) & inked & (peak >= 0.4 * np.median(peak[inked])) & (edge < 0.5 * peak)
    if ok.sum() < max(5, len(t) // 4):
        return None
    tc, dc = t[ok], (wgt[:, ok] * d[inner][:, None]).sum(axis=0) / mass[ok]
    keep = np.ones(len(tc), dtype=bool)
    for _ in range(4):
        a, b = np.polyfit(tc[keep], dc[keep], 1)
        res = np.abs(dc - (a * tc + b))
        mad = 1.4826 * np.median(res[keep])
        new = res <= max(0.6, 3 * mad)
        if new.sum() < max(5, len(t) // 4):
            return None
        if (new == keep).all():
            break
        keep = new
    return float(b), float(a)


def _intersect(p: np.ndarray, u: np.ndarray, nu: np.ndarray, su: tuple[float, float], v: np.ndarray,
               nv: np.ndarray, sv: tuple[float, float]) -> np.ndarray:
    """Intersection of the lines p + u t + nu (a + b t) and p + v s + nv (c + e s)."""
    (a, b), (c, e) = su, sv
    # p + (u + b nu) t + a nu = p + (v + e nv) s + c nv
    m = np.column_stack([u + b * nu, -(v + e * nv)])
    rhs = c * nv - a * nu
    t, _ = np.linalg.solve(m, rhs)
    return p + (u + b * nu) * t + a * nu


def _measure(dark: np.ndarray, p: np.ndarray, ux: np.ndarray, uy: np.ndarray, arms: tuple[tuple[float, float], ...],
             ppmm: float, search_mm: float) -> np.ndarray | None:
    """Measure a node predicted at p: arms are the t-ranges (mm) of the x-stroke and the y-stroke."""
    tx, ty = (np.concatenate([np.arange(lo * ppmm, hi * ppmm + 0.5, 1.0) for lo, hi in a]) for a in arms)
    search = search_mm * ppmm
    # first where the strokes are (the other stroke adds the same to every offset: no gap needed)
    dy = _offset(dark, p, ux, uy, tx, search)
    dx = _offset(dark, p, uy, ux, ty, search)
    if dx is None or dy is None:
        return None
    q = p + ux * dx + uy * dy
    gap = max(0.5 * ppmm, 4.0)
    band = max(2.0, 0.25 * ppmm)
    sx = _stroke(dark, q, ux, uy, tx[np.abs(tx) >= gap], band)
    sy = _stroke(dark, q, uy, ux, ty[np.abs(ty) >= gap], band)
    if sx is None or sy is None:
        return None
    try:
        node = _intersect(q, ux, uy, sx, uy, ux, sy)
    except np.linalg.LinAlgError:
        return None
    return node if np.hypot(*(node - p)) <= search + 1 else None


def _arms(i: int, j: int, ni: int, nj: int) -> tuple[tuple[tuple[float, float], ...], ...]:
    """Where to look for the two strokes of node (i, j), mm along +x and +y from the node.

    Inside: both arms of the cross.  On an edge: the frame line both ways and the tick
    outside the frame.  At a corner: the two frame lines, inside the frame.
    """
    both, frame_len, tick = ((-4.0, 4.0),), 6.0, 4.0
    ex, ey = i in (0, ni), j in (0, nj)
    if ex and ey:
        return ((((0.0, frame_len),) if i == 0 else ((-frame_len, 0.0),)),
                (((0.0, frame_len),) if j == 0 else ((-frame_len, 0.0),)))
    if ex:
        return ((((-tick, 0.0),) if i == 0 else ((0.0, tick),)), ((-frame_len, frame_len),))
    if ey:
        return (((-frame_len, frame_len),), (((-tick, 0.0),) if j == 0 else ((0.0, tick),)))
    return both, both


def _consistent(paper: np.ndarray, pix: np.ndarray, ppmm: float) -> np.ndarray:
    """Points where a second-order paper -> pixel model of the others puts them (iterative rejection)."""
    keep = np.ones(len(paper), dtype=bool)
    s = paper / max(float(np.abs(paper).max()), 1.0)
    while keep.sum() > MIN_POINTS - 2:
        coef, *_ = np.linalg.lstsq(poly_terms(s[keep], 2), pix[keep], rcond=None)
        res = np.hypot(*(poly_terms(s, 2) @ coef - pix).T)
        sigma = 1.4826 * float(np.median(res[keep]))
        limit = max(0.5 * ppmm, 4 * sigma)  # 0.5 mm of paper: beyond any scanner warp
        worst = int(np.argmax(np.where(keep, res, -1)))
        if res[worst] <= limit:
            break
        keep[worst] = False
    return keep


def _predict(paper: np.ndarray, pix: np.ndarray, keep: np.ndarray, at: np.ndarray) -> np.ndarray:
    scale = max(float(np.abs(paper).max()), 1.0)
    coef, *_ = np.linalg.lstsq(poly_terms(paper[keep] / scale, 2), pix[keep], rcond=None)
    return poly_terms(at / scale, 2) @ coef


def find_control_points(image_grey: np.ndarray, sheet: Sheet, *, dpi_hint: float | None = None) -> ControlPoints:
    """Control points of a scanned sheet from its frame, frame ticks and grid crosses.

    ``image_grey`` is the scan as uint8, ink dark (``digitize.raster.ink_channel`` of a
    colour scan); ``sheet`` gives the map coordinates (its number fixes the extent).
    Pixel coordinates follow :mod:`digitize.georef` (origin at the top-left corner of
    the image).  Ids read ``E<easting> N<northing>``.  Raises
    :class:`~gis.errors.GeoreferenceError` when no frame, or too few nodes, are found.
    """
    if image_grey.ndim != 2:
        raise InputError("find_control_points needs a single-channel image", hint="pass ink_channel(image)")
    rough = _rough_px_per_mm(image_grey.shape, sheet, dpi_hint)
    dark = darkness(image_grey, px_per_mm=rough)  # the paper's brightness needs only a rough scale
    frame = _find_frame(dark, sheet, rough, dpi_hint)
    ppmm = frame.px_per_mm
    wmm, hmm = _frame_mm(sheet)
    nodes = _nodes(wmm, hmm)
    ni, nj = nodes[-1][0], nodes[-1][1]
    paper = np.array([(x, y) for _, _, x, y in nodes])
    hm = _homography(frame.corners - 0.5, wmm, hmm)  # cv pixel coordinates (centres at integers) inside
    pred = _apply(hm, paper)
    found = np.full((len(nodes), 2), np.nan)
    keep = np.zeros(len(nodes), dtype=bool)
    best = 0
    for search_mm in (2.5, 1.0):  # from the frame's corners, then from a model of the nodes found
        got = np.full((len(nodes), 2), np.nan)
        for k, (i, j, x, y) in enumerate(nodes):
            ux = _apply(hm, [[x + 1, y]])[0] - _apply(hm, [[x - 1, y]])[0]
            uy = _apply(hm, [[x, y + 1]])[0] - _apply(hm, [[x, y - 1]])[0]
            ux, uy = ux / np.hypot(*ux), uy / np.hypot(*uy)
            node = _measure(dark, pred[k], ux, uy, _arms(i, j, ni, nj), ppmm, search_mm)
            if node is not None:
                got[k] = node
        ok = np.isfinite(got[:, 0])
        good = np.zeros(len(nodes), dtype=bool)
        if ok.sum() >= MIN_POINTS:
            good[ok] = _consistent(paper[ok], got[ok], ppmm)
        best = max(best, int(good.sum()) or int(ok.sum()))
        if good.sum() < MIN_POINTS:
            break
        found, keep = got, good
        pred = _predict(paper, found, keep, paper)
    if keep.sum() < MIN_POINTS:
        raise GeoreferenceError(
            f"only {best} of the sheet's {len(nodes)} frame corners, frame ticks and grid crosses "
            f"were found (at least {MIN_POINTS} are needed)",
            hint="check --sheet-no and the scan, or give hand-picked control points with --gcps instead")
    e0, n1 = sheet.extent[0], sheet.extent[3]
    world = np.column_stack([e0 + paper[:, 0] * sheet.scale / 1000.0, n1 - paper[:, 1] * sheet.scale / 1000.0])
    idx = np.flatnonzero(keep)
    ids = tuple(f"E{world[k, 0]:.0f} N{world[k, 1]:.0f}" for k in idx)
    return ControlPoints(found[idx] + 0.5, world[idx], ids)


def refine_control_points(image_grey: np.ndarray, points: ControlPoints, sheet: Sheet, *,
                          search_mm: float = 1.0) -> ControlPoints:
    """Hand-picked control points measured on the scan: each on the cross, tick or frame corner it marks.

    A point whose map coordinates are a grid node of ``sheet`` (a frame corner, a frame
    tick, a grid cross) is measured as :func:`find_control_points` measures a node (its
    two strokes fitted to sub-pixel and intersected), within ``search_mm`` of paper of
    where it was picked; other points, and nodes whose strokes are not found there, stay
    as picked.  The result keeps the picked positions (``picked``), so the residual
    table can show how far each point moved.  A hand pick carries about half a pixel
    of noise; a measured node a tenth or two.
    """
    if image_grey.ndim != 2:
        raise InputError("refine_control_points needs a single-channel image", hint="pass ink_channel(image)")
    wmm, hmm = _frame_mm(sheet)
    ni, nj = max(1, round(wmm / GRID_MM)), max(1, round(hmm / GRID_MM))
    e0, _, _, n1 = sheet.extent
    paper = np.column_stack([(points.world[:, 0] - e0) / sheet.scale * 1000.0,
                             (n1 - points.world[:, 1]) / sheet.scale * 1000.0])
    coef, *_ = np.linalg.lstsq(poly_terms(paper, 1), points.pixel, rcond=None)  # pixel = a + paper @ [ex; ey]
    ex, ey = coef[1], coef[2]
    ppmm = float((np.hypot(*ex) + np.hypot(*ey)) / 2)
    ux, uy = ex / np.hypot(*ex), ey / np.hypot(*ey)
    half = int(math.ceil((8.0 + search_mm + 4.0) * ppmm))  # the longest arm (6 mm), the search and the paper's
    h, w = image_grey.shape
    out = points.pixel.copy()
    for k, ((x, y), (px, py)) in enumerate(zip(paper, points.pixel)):
        i, j = round(x / (wmm / ni)), round(y / (hmm / nj))
        if not (0 <= i <= ni and 0 <= j <= nj) or np.hypot(x - i * wmm / ni, y - j * hmm / nj) > 0.5:
            continue  # not a node of the grid (0.5 mm of paper: a typo of the coordinates is not one either)
        x0, y0 = max(0, int(px) - half), max(0, int(py) - half)
        crop = image_grey[y0:min(h, int(py) + half), x0:min(w, int(px) + half)]
        if crop.size == 0:
            continue
        node = _measure(darkness(crop, px_per_mm=ppmm), np.array([px - 0.5 - x0, py - 0.5 - y0]), ux, uy,
                        _arms(i, j, ni, nj), ppmm, search_mm)
        if node is not None:
            out[k] = node + [x0 + 0.5, y0 + 0.5]
    return ControlPoints(out, points.world, points.ids, picked=points.pixel.copy())


def place_sheet(number: str, crs: CRS, *, province: str | None = None) -> Sheet:
    """The sheet of a Circular 25/2014 number, its 3-digit northing placed without a scan.

    A 3-digit northing leaves the thousands of kilometres open.  ``province`` places it;
    otherwise the provinces on the central meridian of ``crs`` (a VN-2000 TM-3 zone) do,
    when only one reading of the number falls near one of them.
    """
    proj = crs.source_crs if crs.is_bound else crs
    op = proj.coordinate_operation if proj.is_projected else None
    lon0 = next((p.value for p in (op.params if op else []) if "longitude of natural origin" in p.name.lower()), None)
    if province is not None:
        lats = [find_province(province).approx_lat]
    else:
        lats = [p.approx_lat for p in provinces() if lon0 is not None and abs(p.central_meridian - lon0) < 1e-6]
    if not lats:
        raise InputError(f"cannot tell where sheet {number} lies: {crs.name} is not a VN-2000 TM-3 zone",
                         hint="give --crs vn2000:<province>, or --province")
    to_geo = Transformer.from_crs(proj, proj.geodetic_crs, always_xy=True)
    readings = []
    for hint in (1_000_000.0, 2_000_000.0, 3_000_000.0):
        s = parse_sheet(number, northing_hint=hint)
        lat = to_geo.transform(500_000.0, (s.extent[1] + s.extent[3]) / 2)[1]
        if any(abs(lat - la) <= 1.5 for la in lats) and s not in readings:
            readings.append(s)
    if len(readings) != 1:
        where = " or ".join(f"N {s.extent[3]:.0f}" for s in readings) or "nowhere near a province on this meridian"
        raise InputError(f"sheet {number} could lie at {where}",
                         hint="name the province (--province) so the 3-digit northing can be placed")
    return readings[0]
