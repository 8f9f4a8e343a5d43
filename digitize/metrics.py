"""Scores of a digitized sheet against its ground truth.

* Panoptic quality (as in ICDAR 2021 MapSeg): a digitized parcel and a true one match
  when their IoU exceeds 0.5 (such a match is necessarily unique); ``SQ`` is the mean
  IoU of the matches, ``RQ = TP / (TP + FP/2 + FN/2)``, ``PQ = SQ x RQ``.
* Parcel-number, land-use and area-label accuracy: the share of *true* parcels whose
  match carries the right value (an unmatched true parcel counts as wrong).
* Hausdorff distance between matched outlines, metres: median and 95th percentile.
* Georeferencing error against the true warp: RMS and max, metres, over a grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import geopandas as gpd
import numpy as np
import shapely

__all__ = ["SheetScores", "match_parcels", "score_parcels", "georef_error", "hausdorff_targets"]


@dataclass(frozen=True)
class SheetScores:
    """The scores of one sheet."""

    true_parcels: int
    found_parcels: int
    tp: int
    fp: int
    fn: int
    sq: float
    rq: float
    pq: float
    number_accuracy: float
    land_use_accuracy: float
    area_label_accuracy: float
    hausdorff_median_m: float
    hausdorff_p95_m: float

    def to_dict(self) -> dict:
        """JSON-ready scores."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def hausdorff_targets(scale: int) -> tuple[float, float]:
    """(median, p95) Hausdorff targets in metres: 0.15 m and 0.5 m at 1:1000, scaled."""
    return 0.15 * scale / 1000.0, 0.5 * scale / 1000.0


def match_parcels(found: gpd.GeoSeries, truth: gpd.GeoSeries) -> list[tuple[int, int, float]]:
    """Pairs (found position, truth position, IoU) with IoU > 0.5."""
    f = np.asarray(found.values, dtype=object)
    t = np.asarray(truth.values, dtype=object)
    if len(f) == 0 or len(t) == 0:
        return []
    tree = shapely.STRtree(t)
    fi, ti = tree.query(f, predicate="intersects")
    inter = shapely.area(shapely.intersection(f[fi], t[ti]))
    union = shapely.area(f[fi]) + shapely.area(t[ti]) - inter
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    keep = iou > 0.5
    return [(int(a), int(b), float(c)) for a, b, c in zip(fi[keep], ti[keep], iou[keep])]


def score_parcels(found: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, *, area_decimals: int = 1) -> SheetScores:
    """Score digitized parcels (the parcel-layer contract) against true ones.

    ``truth`` needs ``parcel_no``, ``land_use`` and ``area_m2`` (the area written on the
    label, rounded to ``area_decimals``).
    """
    if found.crs is not None and truth.crs is not None and found.crs != truth.crs:
        found = found.to_crs(truth.crs)
    pairs = match_parcels(found.geometry, truth.geometry)
    tp = len(pairs)
    fp, fn = len(found) - tp, len(truth) - tp
    sq = float(np.mean([p[2] for p in pairs])) if pairs else 0.0
    denom = tp + 0.5 * fp + 0.5 * fn
    rq = tp / denom if denom else 0.0
    fg, tg = found.geometry.values, truth.geometry.values
    haus = [shapely.hausdorff_distance(fg[a].boundary, tg[b].boundary) for a, b, _ in pairs]
    n_ok = lu_ok = area_ok = 0
    tol = 0.5 * 10.0 ** -area_decimals + 1e-6
    for a, b, _ in pairs:
        f, t = found.iloc[a], truth.iloc[b]
        if _eq(f.get("parcel_no"), t.get("parcel_no")):
            n_ok += 1
        if f.get("land_use") is not None and str(f.get("land_use")) == str(t.get("land_use")):
            lu_ok += 1
        fa, ta = f.get("area_label_m2"), t.get("area_m2")
        if fa is not None and ta is not None and np.isfinite(fa) and abs(float(fa) - round(float(ta), area_decimals)) <= tol:
            area_ok += 1
    n = max(len(truth), 1)
    return SheetScores(
        true_parcels=len(truth), found_parcels=len(found), tp=tp, fp=fp, fn=fn, sq=sq, rq=rq, pq=sq * rq,
        number_accuracy=n_ok / n, land_use_accuracy=lu_ok / n, area_label_accuracy=area_ok / n,
        hausdorff_median_m=float(np.median(haus)) if haus else float("nan"),
        hausdorff_p95_m=float(np.percentile(haus, 95)) if haus else float("nan"),
    )


def _eq(a, b) -> bool:
    try:
        return a is not None and b is not None and not (np.isnan(a) or np.isnan(b)) and int(a) == int(b)
    except (TypeError, ValueError):
        return False


def georef_error(to_map, true_to_map, pixels: np.ndarray) -> dict[str, float]:
    """Error of a fitted pixel -> map function against the true one, metres, at ``pixels`` (n, 2)."""
    got = np.asarray(to_map(pixels), dtype=float)
    want = np.asarray(true_to_map(pixels), dtype=float)
    d = np.hypot(*(got - want).T)
    return {"rms_m": float(np.sqrt(np.mean(d**2))), "max_m": float(d.max()), "p95_m": float(np.percentile(d, 95))}
