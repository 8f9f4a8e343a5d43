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
5. :func:`polygonize`: one polygon per region, in pixel coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
from affine import Affine
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from gis.errors import DigitizeError

__all__ = ["Vectorized", "darkness", "ink_mask", "split_linework", "close_gaps", "partition", "polygonize", "vectorize"]


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
    lab, n = ndi.label(holes)
    return int(np.bincount(lab.ravel())[1:].max())


def _directional_open(mask: np.ndarray, length: int, angles: int = 12) -> np.ndarray:
    """Pixels of ``mask`` on a straight run of at least ``length`` px in some direction."""
    out = np.zeros_like(mask)
    c = (length - 1) / 2
    for a in np.arange(angles) * np.pi / angles:
        k = np.zeros((length, length), np.uint8)
        dx, dy = np.cos(a) * c, np.sin(a) * c
        cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1, 1)
        out |= cv2.morphologyEx(mask, cv2.MORPH_OPEN, k)
    return out


def _bridges(rest: np.ndarray, runs: np.ndarray, px_per_mm: float) -> np.ndarray:
    """Pieces of ``rest`` that join line-work at two ends far apart: short boundary edges.

    A letter touching a line touches it in one place; a boundary edge too short for the
    directional opening runs from one line to another.
    """
    n, lab, stats, _ = cv2.connectedComponentsWithStats(rest.astype(np.uint8), connectivity=8)
    near = cv2.dilate(runs.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    keep = np.zeros(n, dtype=bool)
    width = 0.5 * px_per_mm
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        length = float(np.hypot(w, h))
        if length < 0.6 * px_per_mm or area > 1.6 * length * width + 4:
            continue  # a dot, or too thick for a line (a letter)
        comp = lab[y:y + h, x:x + w] == i
        touch = comp & near[y:y + h, x:x + w]
        if not touch.any():
            continue
        ys, xs = np.nonzero(touch)
        d = np.hypot(xs[:, None] - xs[None, :], ys[:, None] - ys[None, :]) if len(xs) < 400 else None
        if d is not None and d.max() >= 0.8 * length:
            keep[i] = True
    return keep[lab]


def split_linework(ink: np.ndarray, *, px_per_mm: float, run_mm: float = 5.5, piece_min_mm: float = 20.0,
                   hole_min_mm: float = 2.5) -> tuple[np.ndarray, np.ndarray]:
    """Split ink into (line-work, other).

    Line-work is ink on a straight run of at least ``run_mm`` (a directional opening,
    at half resolution: lines are long, letters short), so text that touches or
    crosses a boundary comes off it; boundary edges too short for the opening come
    back as pieces joining two lines (:func:`_bridges`).  Pieces left on their own and
    shorter than ``piece_min_mm`` (fraction bars, underlines, grid crosses, strokes of
    letters) go to the other ink unless they enclose an area.
    """
    u = ink.astype(np.uint8)
    h, w = u.shape
    half = (cv2.resize(u * 255, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    runs = _directional_open(half, max(3, int(run_mm * px_per_mm / 2)) | 1)
    runs = cv2.resize(runs, (w, h), interpolation=cv2.INTER_NEAREST)
    lines = cv2.dilate(runs, np.ones((3, 3), np.uint8)) & u
    lines |= _bridges(ink & ~lines.astype(bool), lines.astype(bool), px_per_mm).astype(np.uint8)
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


def partition(lines: np.ndarray, *, min_area_px: int) -> np.ndarray:
    """Label the regions between lines and give every line pixel to its nearest region.

    Regions smaller than ``min_area_px`` are dissolved into their neighbours the same
    way.  Returns an int32 label image (ids 1..n, consecutive; 0 only if nothing).
    """
    free = (~lines).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=4, ltype=cv2.CV_32S)
    small = stats[:, cv2.CC_STAT_AREA] < min_area_px
    small[0] = True
    ids = np.where(small, 0, np.cumsum(~small)).astype(np.int32)
    lab = ids[lab]
    if lab.max() == 0:
        return lab
    seeds = (lab == 0).astype(np.uint8)
    _, nearest = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    lut = np.zeros(int(nearest.max()) + 1, dtype=np.int32)
    zero = seeds == 0
    lut[nearest[zero]] = lab[zero]
    return lut[nearest]


def polygonize(labels: np.ndarray, transform: Affine | None = None) -> gpd.GeoDataFrame:
    """One polygon per region id (pixel coordinates unless ``transform`` is given)."""
    t = transform or Affine.identity()
    geoms, ids = [], []
    for geom, value in rasterio.features.shapes(labels, mask=labels > 0, connectivity=4, transform=t):
        geoms.append(shapely.geometry.shape(geom))
        ids.append(int(value))
    df = gpd.GeoDataFrame({"region": ids}, geometry=geoms)
    return df.dissolve("region", as_index=False) if df["region"].duplicated().any() else df


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
    lines, text = split_linework(ink, px_per_mm=px_per_mm)
    if not lines.any():
        raise DigitizeError("no line-work found on the sheet", hint="check that the image is a cadastral sheet scan")
    lines = close_gaps(lines, px_per_mm=px_per_mm, max_gap_mm=max_gap_mm)
    labels = partition(lines, min_area_px=int(min_area_mm2 * px_per_mm**2))
    if labels.max() == 0:
        raise DigitizeError("the line-work encloses no region", hint="check the scan and its resolution")
    regions = polygonize(labels)
    return Vectorized(dark, ink, lines, text, labels, regions)
