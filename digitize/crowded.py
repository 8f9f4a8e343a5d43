"""Regions holding the labels of several parcels: the boundary between them, found again.

A boundary drawn too faint or too broken for the line-work leaves two parcels as one
region, with both labels in it.  The labels say where the parcels are and how large
each is, so the lost boundary can be looked for where it must be: the straight line
between the two labels along which the scan is darkest (a Radon transform of the
region's darkness, the labels' own ink left out: the text ink in their boxes, not all of
it, for the stubs of a boundary a label was printed over went to the text too).  The
region is cut there only when the line stands out from the paper, runs on across the
region, and each side's area agrees with its labels' (or the line is as dark and whole as
a drawn one: the areas may be misread).  A region with one label, much larger than the
label says, is looked at the same way: a line as whole as a drawn one, clear of the label,
that leaves the label's side its area cuts off a parcel whose label was not read (it goes
on, unnumbered, for a human).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Polygon

from digitize.labels import Label, restore_decimal

__all__ = ["Cut", "split_crowded"]

#: each side's area within this share of its labels' areas
AREA_TOL = 0.1
#: the line's mean darkness (0-255) above the region's paper, at least, and in robust spreads
MIN_CONTRAST = 6.0
MIN_SPREADS = 4.0
#: share of the line's pixels that must be dark (a line, not a blot); a line this dark and this
#: whole is the boundary even when the labels' areas, misread, cannot confirm it
MIN_WHOLE = 0.45
STRONG, STRONG_WHOLE = 40.0, 0.85
#: a region more than MAX_OVER times larger than its labels say is no set of parcels; one with one
#: label is looked at when MIN_OVER to MAX_OVER_ONE times larger than it says; pixels sampled at
#: most, per region
MAX_OVER, MIN_OVER, MAX_OVER_ONE = 2.0, 1.3, 3.0
MAX_PIXELS = 200_000
#: the smaller side of a cut, at least this share of the region
MIN_SHARE = 0.2
#: angles tried, degrees; the darkest lines tried, darkest first, until one fits the areas
ANGLE_STEP = 0.5
MAX_TRIED = 40


@dataclass(frozen=True)
class Cut:
    """A region cut in two: the region id, the new region's id, the line (pixel coordinates), its contrast."""

    region: int
    new_region: int
    line: shapely.LineString
    contrast: float


def split_crowded(regions: gpd.GeoDataFrame, labels: Mapping[int, Label], others: Sequence[Label],
                  dark: np.ndarray, text: np.ndarray, *, m_per_px: float) -> tuple[gpd.GeoDataFrame, dict[int, Label],
                                                                                    list[Cut]]:
    """Cut the regions that hold several numbered labels along the boundary they lost.

    ``regions`` (column ``region``, pixel polygons) and ``labels`` ({region: Label}) are as
    :func:`digitize.vectorize.vectorize` and :func:`digitize.labels.read_labels` give them;
    ``others`` the labels read_labels did not keep for their region; ``dark`` the darkness
    image and ``text`` the text ink.  Returns the regions (the cut-off sides as new rows
    with new ids), the labels (each on its side) and the cuts made.
    """
    geoms = dict(zip(regions["region"].to_numpy(), regions.geometry.values))
    crowd: dict[int, list[Label]] = {}
    for lab in others:
        if _parcel_label(lab) and lab.region in labels:
            crowd.setdefault(lab.region, []).append(lab)
    # a region much larger than its one label says: a parcel beside it whose label was not read
    for region, lab in labels.items():
        if region not in crowd and _parcel_label(lab) and region in geoms:
            crowd[region] = []
    out_labels = dict(labels)
    next_id = int(regions["region"].max()) + 1 if len(regions) else 1
    cuts: list[Cut] = []
    for region, extra in crowd.items():
        kept = labels[region]
        if not _parcel_label(kept) or region not in geoms:
            continue
        area = geoms[region].area * m_per_px**2
        want = sum(restore_decimal(lab.area_label_m2, area / (1 + len(extra))) for lab in [kept, *extra])
        if area > (MAX_OVER if extra else MAX_OVER_ONE) * want or (not extra and area < MIN_OVER * want):
            continue  # a road network or the land outside the frame with numbers on it; or one parcel
        todo = [(region, geoms[region], [kept, *extra])]
        while todo:
            rid, poly, labs = todo.pop()
            if not isinstance(poly, Polygon) or (len(labs) < 2 and extra):
                continue
            found = _best_cut(poly, labs, dark, text, m_per_px)
            if found is None:
                continue
            line, contrast, (side_a, labs_a), (side_b, labs_b) = found
            # the side with the region's kept label (or the first) keeps the region's id
            if any(lab is labels.get(rid) for lab in labs_b) or not labs_a:
                side_a, labs_a, side_b, labs_b = side_b, labs_b, side_a, labs_a
            new = next_id
            next_id += 1
            geoms[rid], geoms[new] = side_a, side_b
            for group, where in ((labs_a, rid), (labs_b, new)):
                if group:
                    best = max(group, key=lambda x: x.confidence)
                    best.region = where
                    out_labels[where] = best
            cuts.append(Cut(rid, new, line, contrast))
            if extra:
                todo += [(rid, side_a, labs_a), (new, side_b, labs_b)]
    if not cuts:
        return regions, out_labels, []
    # the regions in their order, then the cut-off sides in the order they were made
    out = gpd.GeoDataFrame({"region": list(geoms)}, geometry=list(geoms.values()), crs=regions.crs)
    return out, out_labels, cuts


def _parcel_label(lab: Label) -> bool:
    """A parcel's label: a number and an area (not a road's name or a coordinate on the frame)."""
    return lab.parcel_no is not None and bool(lab.area_label_m2) and lab.bbox is not None


def _share(lab: Label, side: Polygon) -> float:
    """How much of a label's box lies on ``side`` (a label may spill over its region's boundary)."""
    return shapely.box(*lab.bbox).intersection(side).area


def _anchor(lab: Label) -> np.ndarray:
    x0, y0, x1, y1 = lab.bbox
    return np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])


def _best_cut(poly: Polygon, labs: list[Label], dark: np.ndarray, text: np.ndarray, m_per_px: float):
    """The darkest straight line across ``poly`` between its two farthest labels (with one label:
    clear of it), if it stands out and each side's area fits its labels; else None."""
    pts = np.array([_anchor(lab) for lab in labs])
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    i, j = np.unravel_index(int(np.argmax(d)), d.shape)
    if len(labs) > 1 and d[i, j] < 4:
        return None
    bw, bh = (labs[0].bbox[2] - labs[0].bbox[0]) / 2.0, (labs[0].bbox[3] - labs[0].bbox[1]) / 2.0
    x0, y0, x1, y1 = (int(v) for v in poly.bounds)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1 + 1, dark.shape[1]), min(y1 + 1, dark.shape[0])
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    inside = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    ring = np.round(np.asarray(poly.exterior.coords) - [x0, y0]).astype(np.int32)
    cv2.fillPoly(inside, [ring], 1)
    for hole in poly.interiors:  # a pond or another parcel inside: its outline is no lost boundary
        cv2.fillPoly(inside, [np.round(np.asarray(hole.coords) - [x0, y0]).astype(np.int32)], 0)
    inside = cv2.erode(inside, np.ones((5, 5), np.uint8))  # off the region's own boundary lines
    crop = dark[y0:y1, x0:x1].astype(np.float32)
    own = np.zeros((y1 - y0, x1 - x0), dtype=bool)  # the labels' boxes (the stubs of the lost line beside
    for lab in labs:                                  # them are text ink too, and dark as the line is)
        bx0, by0, bx1, by1 = (int(v) for v in lab.bbox)
        own[max(by0 - y0 - 2, 0):max(by1 - y0 + 2, 0), max(bx0 - x0 - 2, 0):max(bx1 - x0 + 2, 0)] = True
    letters = text[y0:y1, x0:x1] & own
    crop[letters] = 0.0  # the labels' ink is not a line
    crop = cv2.dilate(crop, np.ones((3, 3), np.uint8))  # a thin line within a pixel of the ray
    inside[cv2.dilate(letters.view(np.uint8), np.ones((5, 5), np.uint8)) > 0] = 0  # nor is what is beside it
    ys, xs = np.nonzero(inside)
    if len(xs) < 64:
        return None
    if len(xs) > MAX_PIXELS:  # a line's mean darkness needs no more
        pick = np.random.default_rng(0).choice(len(xs), MAX_PIXELS, replace=False)
        xs, ys = xs[pick], ys[pick]
    vals = crop[ys, xs]
    paper = float(np.median(vals))
    spread = float(np.median(np.abs(vals - paper))) * 1.4826 + 1.0
    a, b = pts[i] - [x0, y0], pts[j] - [x0, y0]
    peaks = []  # per angle, the darkest line between the two labels: (contrast, angle, offset)
    for theta in np.radians(np.arange(0.0, 180.0, ANGLE_STEP)):
        nx, ny = np.cos(theta), np.sin(theta)
        s = np.round(xs * nx + ys * ny).astype(np.int64)
        smin = s.min()
        count = np.bincount(s - smin)
        total = np.bincount(s - smin, vals)
        k = np.arange(len(count)) + smin
        share = np.cumsum(count) / len(s)
        ok = (count >= 24) & (share > MIN_SHARE) & (share < 1 - MIN_SHARE)  # not along the region's edge
        if len(labs) > 1:  # between the two labels
            lo, hi = sorted((a @ (nx, ny), b @ (nx, ny)))
            ok &= (k > lo + 2) & (k < hi - 2)
        else:  # clear of the one label
            ok &= np.abs(k - a @ (nx, ny)) > abs(bw * nx) + abs(bh * ny) + 2
        if ok.any():
            mean = np.where(ok, total / np.maximum(count, 1), -1.0)
            m = int(np.argmax(mean))
            on = s == k[m]
            whole = float(np.mean(vals[on] > paper + max(MIN_CONTRAST, MIN_SPREADS * spread)))
            peaks.append((float(mean[m]) - paper, theta, float(k[m]), whole))
    far = float(np.hypot(x1 - x0, y1 - y0)) + 10.0
    for contrast, theta, s0, whole in sorted(peaks, reverse=True)[:MAX_TRIED]:
        if contrast < MIN_CONTRAST or contrast < MIN_SPREADS * spread:
            return None
        strong = contrast >= STRONG and whole >= STRONG_WHOLE
        if whole < (MIN_WHOLE if len(labs) > 1 else STRONG_WHOLE):
            continue
        n = np.array([np.cos(theta), np.sin(theta)])
        t = np.array([-n[1], n[0]])
        foot = np.array([x0, y0], dtype=float) + n * s0  # the line: {p : (p - (x0, y0)) . n = s0}
        half = Polygon([foot - t * far, foot + t * far, foot + t * far - 2 * far * n, foot - t * far - 2 * far * n])
        sides = _sides(poly, half, labs, m_per_px, check_areas=not strong or len(labs) == 1)
        if sides is not None:
            line = poly.intersection(shapely.LineString([foot - t * far, foot + t * far]))
            return line, contrast, *sides
    return None


def _sides(poly: Polygon, half: Polygon, labs: list[Label], m_per_px: float, *, check_areas: bool = True):
    """``poly`` cut by the half-plane ``half`` into two polygons, each holding labels whose areas
    (a decimal point lost put right) its own fits (unless not ``check_areas``: then each side
    only needs a fifth of the whole); else None."""
    side_a, side_b = poly.intersection(half), poly.difference(half)
    if not (isinstance(side_a, Polygon) and isinstance(side_b, Polygon)) or side_a.is_empty or side_b.is_empty:
        return None
    groups = []
    for side in (side_a, side_b):
        other = side_b if side is side_a else side_a
        group = [lab for lab in labs if _share(lab, side) > _share(lab, other)]
        area = side.area * m_per_px**2
        groups.append(group)
        if not group:  # the side cut off a region with one label: a parcel whose label was not read
            if len(labs) > 1 or side.area < MIN_SHARE * poly.area:
                return None
            continue
        if not check_areas:
            if side.area < MIN_SHARE * poly.area:
                return None
            continue
        want = sum(restore_decimal(lab.area_label_m2, area / len(group)) for lab in group)
        if abs(area - want) > AREA_TOL * want:
            return None
    if sum(map(len, groups)) != len(labs):
        return None
    return (side_a, groups[0]), (side_b, groups[1])
