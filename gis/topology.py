"""The one topology check of landrec: parcel polygons as a coverage, and line-work.

Used by the scan pipeline, the legacy importer, ``landrec qa`` and the database.  It
works on any GeoDataFrame of polygons whose column names are given; it knows nothing
of parcels beyond those columns.

Tolerances (all in one place, :func:`tolerances`)
--------------------------------------------------
* snapping: 0.1 mm at map scale, at least 10 cm (1:500 -> 0.10 m, 1:1000 -> 0.10 m,
  1:2000 -> 0.20 m): drafting misses and overshoots of a few centimetres are closed at
  every scale.  Only loose ends move (ends that already meet a vertex exactly stay),
  so genuine vertices closer than the tolerance survive.
* label area against computed area: the Circular's permitted area error
  ``dP = 0.0004 * M * sqrt(P)`` m² (M the scale denominator, P the area in m²;
  *unverified*, change :func:`area_tolerance` only).
* slivers: a polygon thinner than two snapping tolerances (mean width ``2A/L``) or
  smaller than ``(0.5 mm at scale)²``.
* gaps: holes in the coverage bigger than ``snap²`` that the allowed-gap polygons
  (roads, water) do not explain.
* arcs and curves are densified so that no chord strays further from the curve than
  the snapping tolerance: a drawn arc whose vertices a surveyor measured stays the
  chain of chords between them.

Speed: validity is vectorized; the coverage is checked by hashing edges (in a clean
coverage each edge is drawn by exactly two polygons), only the parcels with an odd
edge are compared pair by pair, and gaps are the faces of the edges drawn once that
no polygon covers.  No Python loop per parcel, no union of the whole layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from gis.errors import InputError
from gis.landuse import land_uses

__all__ = [
    "CODES",
    "EDGE_CUT",
    "Finding",
    "Tolerances",
    "area_tolerance",
    "check_linework",
    "check_parcels",
    "findings_frame",
    "flag_masks",
    "qa_flags",
    "repair_parcels",
    "snap_tolerance",
    "summarize",
    "tolerances",
]

Severity = Literal["error", "warning", "repaired"]

#: the finding of a parcel that goes on across its sheet's frame (edge matching with the next sheet)
EDGE_CUT = "cut_by_sheet_edge"
#: every finding code, stable strings, with the severity it has when it is found
CODES: dict[str, str] = {
    "invalid_geometry": "error",
    "overlap": "error",
    "gap": "error",
    "sliver": "warning",
    "duplicate_number": "error",
    "unlabeled": "error",
    "multiple_labels": "error",
    "area_mismatch": "warning",
    "unknown_land_use": "warning",
    "cut_by_sheet_edge": "warning",
    "dangle": "warning",
    "unclosed": "error",
    "outside_province": "error",
    "merged_piece": "warning",
    "restored_boundary": "warning",
}


@dataclass(frozen=True)
class Finding:
    """One problem found (or repaired): what, how bad, where, and which features.

    ``feature_ids`` are index values of the checked GeoDataFrame; ``geometry`` is
    where to look (for a picture), in the layer's CRS.
    """

    code: str
    severity: Severity
    message: str
    geometry: BaseGeometry | None = None
    feature_ids: tuple = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown finding code {self.code!r}; codes are {sorted(CODES)}")
        if self.severity not in ("error", "warning", "repaired"):
            raise ValueError(f"severity must be 'error', 'warning' or 'repaired', not {self.severity!r}")

    def to_dict(self) -> dict:
        """A JSON-friendly dict (geometry as WKT)."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "geometry": None if self.geometry is None else self.geometry.wkt,
            "feature_ids": [_plain(v) for v in self.feature_ids],
        }


def _plain(v):
    return v.item() if hasattr(v, "item") else v


@dataclass(frozen=True)
class Tolerances:
    """The scale-aware tolerances of one check; see the module docstring."""

    scale: int
    snap_m: float
    sliver_width_m: float
    sliver_area_m2: float
    gap_min_area_m2: float
    arc_m: float


def snap_tolerance(scale: int) -> float:
    """Snapping tolerance in metres: 0.1 mm at map scale, at least 10 cm.

    >>> snap_tolerance(1000), snap_tolerance(500), snap_tolerance(2000)
    (0.1, 0.1, 0.2)
    """
    _check_scale(scale)
    return max(0.1, round(0.0001 * scale, 6))


def area_tolerance(area_m2, scale: int):
    """The Circular's permitted area error, ``0.0004 * M * sqrt(P)`` m² (scalar or array).

    >>> float(area_tolerance(400.0, 1000))
    8.0
    """
    _check_scale(scale)
    return 0.0004 * scale * np.sqrt(np.abs(area_m2))


def tolerances(scale: int) -> Tolerances:
    """All tolerances for a map scale (denominator, e.g. 1000 for 1:1000)."""
    snap = snap_tolerance(scale)
    return Tolerances(
        scale=scale,
        snap_m=snap,
        sliver_width_m=2 * snap,
        sliver_area_m2=(0.0005 * scale) ** 2,
        gap_min_area_m2=snap * snap,
        arc_m=snap,
    )


def _check_scale(scale: int) -> None:
    if not isinstance(scale, (int, np.integer)) or not 50 <= scale <= 100_000:
        raise InputError(f"map scale 1:{scale} is not usable", hint="give the scale denominator, e.g. 1000 for 1:1000")


# --------------------------------------------------------------------------- checks


def check_parcels(
    gdf: gpd.GeoDataFrame,
    *,
    scale: int,
    number_col: str | None = "parcel_no",
    group_col: str | None = "sheet_no",
    area_label_col: str | None = "area_label_m2",
    land_use_col: str | None = "land_use",
    sheet_extent: tuple[float, float, float, float] | Mapping[str, tuple[float, float, float, float]] | None = None,
    allowed_gaps: gpd.GeoSeries | gpd.GeoDataFrame | BaseGeometry | None = None,
    labels: gpd.GeoSeries | None = None,
) -> list[Finding]:
    """Check a polygon layer as a cadastral coverage; return every finding.

    * ``invalid_geometry``: not a valid, non-empty (multi)polygon;
    * ``overlap``, ``gap`` (holes in the coverage not explained by ``allowed_gaps``:
      the area outside the outer edge of the data is never a gap), ``sliver``;
    * ``duplicate_number`` (same number twice in one ``group_col`` value),
      ``unlabeled`` (no number; or, when label points ``labels`` are given, no label
      inside), ``multiple_labels`` (more than one label point inside);
    * ``area_mismatch`` (label area against computed area beyond :func:`area_tolerance`;
      a parcel cut by its sheet's frame only when drawn larger than its label says),
      ``unknown_land_use`` (a code not in the land-use table);
    * ``cut_by_sheet_edge``: a polygon running along or across its sheet's frame.

    A column name given as ``None``, or missing from ``gdf``, turns its check off.
    ``sheet_extent`` is one extent for all, or a mapping ``group value -> extent``.

    >>> from shapely.geometry import box
    >>> df = gpd.GeoDataFrame({"parcel_no": [1, 1], "sheet_no": ["A", "A"]},
    ...                       geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10)])
    >>> [f.code for f in check_parcels(df, scale=1000)]
    ['duplicate_number']
    """
    tol = tolerances(scale)
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError("check_parcels needs a GeoDataFrame of polygons")
    if len(gdf) == 0:
        return []
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    ids = gdf.index.to_numpy()
    findings: list[Finding] = []

    ok = _valid_polygons(geoms)
    for i in np.flatnonzero(~ok):
        g = geoms[i]
        why = "empty or missing" if g is None or shapely.is_empty(g) else (
            "not a polygon" if shapely.get_type_id(g) not in (3, 6) else shapely.is_valid_reason(g))
        findings.append(Finding("invalid_geometry", "error", f"feature {ids[i]}: geometry is {why}", g, (ids[i],)))

    good = np.flatnonzero(ok)
    gg = geoms[good]
    flagged, open_edges = _coverage_flags(gg)
    findings += _overlaps(gg, ids[good], flagged, tol)
    findings += _gaps(gdf.iloc[good], gg, open_edges, tol, allowed_gaps)
    findings += _slivers(gg, ids[good], tol)
    findings += _numbers(gdf, geoms, number_col, group_col, labels)
    edges = [] if sheet_extent is None else _sheet_edges(gdf.iloc[good], gg, group_col, sheet_extent, tol)
    findings += _attributes(gdf, geoms, area_label_col, land_use_col, scale,
                            cut={fid for f in edges for fid in f.feature_ids})
    return findings + edges


def _valid_polygons(geoms: np.ndarray) -> np.ndarray:
    tid = shapely.get_type_id(geoms)
    return np.isin(tid, (3, 6)) & ~shapely.is_empty(geoms) & shapely.is_valid(geoms)


def _coverage_flags(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge matching by hashing: in a clean coverage every edge is drawn by exactly two
    polygons, except on the outer boundary.  Returns which polygons have an edge drawn
    once or more than twice, and the edges drawn once (as line strings).

    Sorting the edges does in seconds for a million parcels what a pairwise
    comparison does in minutes.
    """
    n = len(geoms)
    rings, owner_of_ring = shapely.get_rings(geoms, return_index=True)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    if len(xy) < 2:
        return np.zeros(n, dtype=bool), np.empty(0, dtype=object)
    same = ring[1:] == ring[:-1]
    a, b, owner = xy[:-1][same], xy[1:][same], owner_of_ring[ring[:-1][same]]
    real = (a != b).any(axis=1)
    a, b, owner = a[real], b[real], owner[real]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    seg = np.ascontiguousarray(np.hstack([np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)]))
    _, inverse, counts = np.unique(seg.view(np.dtype((np.void, 32))).ravel(), return_inverse=True,
                                   return_counts=True)
    drawn = counts[inverse.ravel()]
    flagged = np.zeros(n, dtype=bool)
    flagged[owner[drawn != 2]] = True
    once = seg[drawn == 1]
    return flagged, shapely.linestrings(once.reshape(-1, 2, 2))


def _gap_faces(geoms: np.ndarray, open_edges: np.ndarray) -> np.ndarray:
    """The faces that the edges drawn once enclose and no polygon covers: the holes."""
    if len(open_edges) == 0:
        return np.empty(0, dtype=object)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(open_edges))))
    if len(faces) == 0:
        return faces
    inside, _ = shapely.STRtree(geoms).query(shapely.point_on_surface(faces), predicate="intersects")
    covered = np.zeros(len(faces), dtype=bool)
    covered[inside] = True
    return faces[~covered]


def _overlaps(geoms: np.ndarray, ids: np.ndarray, flagged: np.ndarray, tol: Tolerances) -> list[Finding]:
    if len(geoms) < 2:
        return []
    bad = np.flatnonzero(flagged)
    out: list[Finding] = []
    dup = _exact_duplicates(geoms)
    bad = np.union1d(bad, dup)
    if len(bad) == 0:
        return out
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms[bad], predicate="intersects")
    a = bad[a]
    is_bad = np.zeros(len(geoms), dtype=bool)
    is_bad[bad] = True
    keep = (a < b) | ((a != b) & ~is_bad[b])  # each pair once, also when only one side is flagged
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return out
    inter = shapely.intersection(geoms[a], geoms[b])
    area = shapely.area(inter)
    for i, j, g, ar in zip(a, b, inter, area):
        if ar > tol.gap_min_area_m2:
            out.append(Finding("overlap", "error", f"features {ids[i]} and {ids[j]} overlap by {ar:.2f} m²",
                               _polygonal(g), (ids[i], ids[j])))
    return out


def _exact_duplicates(geoms: np.ndarray) -> np.ndarray:
    """Indices of polygons drawn twice (same normalized shape); only equal boxes are compared."""
    key = pd.DataFrame(np.column_stack([shapely.bounds(geoms), shapely.area(geoms)]))
    cand = np.flatnonzero(key.duplicated(keep=False).to_numpy())
    if len(cand) == 0:
        return cand
    wkb = pd.Series(shapely.to_wkb(shapely.normalize(geoms[cand])))
    return cand[wkb.duplicated(keep=False).to_numpy()]


def _gaps(gdf: gpd.GeoDataFrame, geoms: np.ndarray, open_edges: np.ndarray, tol: Tolerances,
          allowed_gaps) -> list[Finding]:
    if len(geoms) == 0:
        return []
    cand = _gap_faces(geoms, open_edges)
    if len(cand) == 0:
        return []
    if allowed_gaps is not None:
        allowed = _as_geometry(allowed_gaps)
        cand = shapely.difference(cand, allowed)
        cand = np.asarray([p for c in cand for p in shapely.get_parts(c) if shapely.get_type_id(p) == 3], dtype=object)
    if len(cand) == 0:
        return []
    area = shapely.area(cand)
    cand, area = cand[area > tol.gap_min_area_m2], area[area > tol.gap_min_area_m2]
    if len(cand) == 0:
        return []
    tree = shapely.STRtree(geoms)
    ci, gi = tree.query(cand, predicate="intersects")
    ids = gdf.index.to_numpy()
    around: dict[int, list] = {}
    for c, g in zip(ci, gi):
        around.setdefault(int(c), []).append(ids[g])
    out = []
    for k, (g, ar) in enumerate(zip(cand, area)):
        width = 2 * ar / max(shapely.length(g), 1e-12)
        kind = "narrow gap" if width < tol.sliver_width_m else "gap"
        out.append(Finding("gap", "error", f"{kind} of {ar:.2f} m² between parcels, not a road or water",
                           g, tuple(around.get(k, ()))))
    return out


def _as_geometry(obj) -> BaseGeometry:
    if isinstance(obj, BaseGeometry):
        return obj
    if isinstance(obj, gpd.GeoDataFrame):
        obj = obj.geometry
    return shapely.union_all(np.asarray(obj.values, dtype=object))


def _slivers(geoms: np.ndarray, ids: np.ndarray, tol: Tolerances) -> list[Finding]:
    area = shapely.area(geoms)
    width = 2 * area / np.maximum(shapely.length(geoms), 1e-12)
    mask = (width < tol.sliver_width_m) | (area < tol.sliver_area_m2)
    return [
        Finding("sliver", "warning", f"feature {ids[i]} is a sliver ({area[i]:.2f} m², mean width {width[i]:.2f} m)",
                geoms[i], (ids[i],))
        for i in np.flatnonzero(mask)
    ]


def _has(gdf: gpd.GeoDataFrame, col: str | None) -> bool:
    return col is not None and col in gdf.columns


def _numbers(gdf, geoms, number_col, group_col, labels) -> list[Finding]:
    out: list[Finding] = []
    ids = gdf.index.to_numpy()
    unlabeled = np.zeros(len(gdf), dtype=bool)
    if _has(gdf, number_col):
        num = gdf[number_col]
        unlabeled |= num.isna().to_numpy()
        keyed = pd.DataFrame({"n": num.to_numpy(), "g": gdf[group_col].to_numpy() if _has(gdf, group_col) else ""})
        keyed = keyed[keyed["n"].notna()]
        dup = keyed[keyed.duplicated(["g", "n"], keep=False)]
        for (grp, n), rows in dup.groupby(["g", "n"], sort=True).groups.items():
            pos = np.asarray(rows)
            where = f" in sheet {grp}" if grp != "" else ""
            out.append(Finding("duplicate_number", "error", f"parcel number {_plain(n)} appears {len(pos)} times{where}",
                               shapely.union_all(geoms[pos]), tuple(ids[pos])))
    if labels is not None:
        pts = np.asarray(labels.values, dtype=object)
        tree = shapely.STRtree(geoms)
        _, poly = tree.query(pts, predicate="within")
        counts = np.bincount(poly, minlength=len(gdf))
        unlabeled |= counts == 0
        for i in np.flatnonzero(counts > 1):
            out.append(Finding("multiple_labels", "error", f"feature {ids[i]} holds {counts[i]} labels",
                               geoms[i], (ids[i],)))
    for i in np.flatnonzero(unlabeled):
        out.append(Finding("unlabeled", "error", f"feature {ids[i]} has no parcel number", geoms[i], (ids[i],)))
    return out


def _attributes(gdf, geoms, area_label_col, land_use_col, scale, *, cut: set = frozenset()) -> list[Finding]:
    """Area and land-use findings; the features in ``cut`` go on across their sheet's frame, so
    their labels give their whole area: only one drawn larger than its label is a mismatch."""
    out: list[Finding] = []
    ids = gdf.index.to_numpy()
    if _has(gdf, area_label_col):
        label = pd.to_numeric(gdf[area_label_col], errors="coerce").to_numpy(dtype=float)
        area = shapely.area(geoms).astype(float)
        allowed = area_tolerance(area, scale)
        diff = np.abs(label - area)
        partial = np.isin(ids, list(cut)) & (label > area)
        for i in np.flatnonzero(np.isfinite(diff) & (diff > allowed) & ~partial):
            out.append(Finding("area_mismatch", "warning",
                               f"feature {ids[i]}: label says {label[i]:.1f} m², drawn {area[i]:.1f} m² "
                               f"(difference {diff[i]:.1f} m², allowed {allowed[i]:.1f} m²)", geoms[i], (ids[i],)))
    if _has(gdf, land_use_col):
        codes = gdf[land_use_col]
        table = _known_codes()
        unknown = {v for v in pd.unique(codes.dropna()) if not all(  # "ONT+CLN" is known
            p.strip().upper() in table for p in str(v).split("+"))}
        for i in np.flatnonzero(codes.isin(unknown).to_numpy()):
            code = str(codes.iloc[i])
            out.append(Finding("unknown_land_use", "warning", f"feature {ids[i]}: land-use code {code!r} is unknown",
                               geoms[i], (ids[i],)))
    return out


def _known_codes() -> set[str]:
    return {u.code for u in land_uses()}


def _extents(gdf: gpd.GeoDataFrame, group_col: str | None, sheet_extent) -> dict:
    if isinstance(sheet_extent, Mapping):
        return dict(sheet_extent)
    return {None: tuple(sheet_extent)}


def _sheet_edges(gdf, geoms, group_col, sheet_extent, tol: Tolerances) -> list[Finding]:
    out: list[Finding] = []
    ids = gdf.index.to_numpy()
    groups = gdf[group_col].to_numpy() if (_has(gdf, group_col) and isinstance(sheet_extent, Mapping)) else None
    tree = shapely.STRtree(geoms)
    for key, ext in _extents(gdf, group_col, sheet_extent).items():
        frame = box(*ext)
        zone = shapely.buffer(frame.exterior, tol.snap_m)
        hit = tree.query(zone, predicate="intersects")
        if groups is not None:
            hit = hit[groups[hit] == key]
        if len(hit) == 0:
            continue
        along = shapely.length(shapely.intersection(shapely.boundary(geoms[hit]), zone))
        outside = shapely.area(shapely.difference(geoms[hit], frame))
        for i, ln, ar in zip(hit, along, outside):
            if ln > 2 * tol.snap_m or ar > tol.gap_min_area_m2:
                out.append(Finding(EDGE_CUT, "warning",
                                   f"feature {ids[i]} runs along or across the sheet edge", geoms[i], (ids[i],)))
    return out


def check_linework(lines: gpd.GeoSeries | Sequence[BaseGeometry], *, scale: int) -> list[Finding]:
    """Find dangles in boundary line-work: line ends that meet no other line.

    An end within the snapping tolerance of another line (or of the same line's other
    end) is connected; anything else is a ``dangle``.  The index values of ``lines``
    (or positions, for a plain sequence) are the ``feature_ids``.
    """
    tol = tolerances(scale)
    values = np.asarray(lines.values if isinstance(lines, gpd.GeoSeries) else list(lines), dtype=object)
    ids = lines.index.to_numpy() if isinstance(lines, gpd.GeoSeries) else np.arange(len(values))
    if len(values) == 0:
        return []
    parts = shapely.get_parts(shapely.line_merge(shapely.union_all(values)))
    parts = parts[np.isin(shapely.get_type_id(parts), (1, 2))]
    if len(parts) == 0:
        return []
    closed = shapely.is_closed(parts)
    ends = np.concatenate([shapely.get_point(parts, 0), shapely.get_point(parts, -1)])
    owner = np.concatenate([np.arange(len(parts)), np.arange(len(parts))])
    tree = shapely.STRtree(parts)
    pi, li = tree.query(ends, predicate="dwithin", distance=tol.snap_m)
    connected = np.zeros(len(ends), dtype=bool)
    other = li != owner[pi]
    connected[pi[other]] = True
    connected[np.concatenate([closed, closed])] = True
    src_tree = shapely.STRtree(values)
    out = []
    for k in np.flatnonzero(~connected):
        near = src_tree.query(ends[k], predicate="dwithin", distance=tol.snap_m)
        out.append(Finding("dangle", "warning", f"a boundary line ends at ({ends[k].x:.2f}, {ends[k].y:.2f}) "
                           "without meeting another line", ends[k], tuple(ids[near])))
    return out


# --------------------------------------------------------------------------- repairs


def repair_parcels(gdf: gpd.GeoDataFrame, *, scale: int) -> tuple[gpd.GeoDataFrame, list[Finding]]:
    """Apply the safe repairs and record each as a ``repaired`` finding.

    1. ``make_valid`` on invalid polygons (keeping the polygonal parts);
    2. snapping: a polygon flagged by the coverage check is snapped to its
       neighbours within the snapping tolerance, then cut out of the neighbours it
       still overlaps by no more than a sliver;
    3. sliver merge: an unnumbered sliver polygon, and a narrow gap enclosed by
       polygons, joins the neighbour it shares the longest boundary with.

    Returns a new GeoDataFrame (same columns; merged slivers dropped) and the
    findings.  Nothing else is changed: what is left is for :func:`check_parcels`.
    """
    tol = tolerances(scale)
    out = gdf.copy()
    geoms = np.asarray(out.geometry.values, dtype=object).copy()
    ids = out.index.to_numpy()
    findings: list[Finding] = []

    fixable = ~_valid_polygons(geoms) & ~pd.isna(geoms) & ~shapely.is_empty(np.where(pd.isna(geoms), None, geoms))
    for i in np.flatnonzero(fixable):
        fixed = _polygonal(shapely.make_valid(geoms[i]))
        if not shapely.is_empty(fixed):
            findings.append(Finding("invalid_geometry", "repaired", f"feature {ids[i]}: made valid", fixed, (ids[i],)))
            geoms[i] = fixed

    ok = np.flatnonzero(_valid_polygons(geoms))
    if len(ok) > 1:
        _snap(geoms, ok, ids, tol, findings)

    keep = np.ones(len(geoms), dtype=bool)
    numbers = out["parcel_no"].to_numpy() if "parcel_no" in out.columns else None
    _merge_slivers(geoms, ids, numbers, keep, tol, findings)
    _fill_narrow_gaps(geoms, ids, keep, tol, findings)

    out = out.iloc[np.flatnonzero(keep)].copy()
    out = out.set_geometry(gpd.GeoSeries(geoms[keep], index=out.index, crs=gdf.crs))
    return out, findings


def _polygonal(g: BaseGeometry) -> BaseGeometry:
    parts = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) in (3, 6)]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def _snap(geoms, ok, ids, tol: Tolerances, findings) -> None:
    bad = ok[~shapely.is_empty(shapely.coverage_invalid_edges(geoms[ok], gap_width=tol.sliver_width_m))]
    if len(bad) == 0:
        return
    tree = shapely.STRtree(geoms[ok])
    for i in bad:
        near = ok[tree.query(geoms[i], predicate="dwithin", distance=tol.snap_m)]
        near = near[near != i]
        if len(near) == 0:
            continue
        before = geoms[i]
        snapped = shapely.snap(before, shapely.union_all(geoms[near]), tol.snap_m)
        snapped = _polygonal(shapely.make_valid(snapped))
        for j in near:
            over = shapely.intersection(snapped, geoms[j])
            ar = shapely.area(over)
            if ar > 0 and 2 * ar / max(shapely.length(over), 1e-12) < tol.sliver_width_m:
                snapped = _polygonal(shapely.difference(snapped, geoms[j]))
        if shapely.is_empty(snapped) or shapely.equals_exact(snapped, before, 0.0):
            continue
        geoms[i] = snapped
        moved = abs(shapely.area(snapped) - shapely.area(before))
        findings.append(Finding("overlap", "repaired",
                                f"feature {ids[i]}: snapped to its neighbours within {tol.snap_m:.2f} m "
                                f"(area changed by {moved:.3f} m²)", snapped, (ids[i], *ids[near])))


def _best_neighbour(g: BaseGeometry, geoms: np.ndarray, candidates: np.ndarray) -> int | None:
    if len(candidates) == 0:
        return None
    shared = shapely.length(shapely.intersection(shapely.boundary(g), shapely.boundary(geoms[candidates])))
    k = int(np.argmax(shared))
    return int(candidates[k]) if shared[k] > 0 else None


def _merge_slivers(geoms, ids, numbers, keep, tol: Tolerances, findings) -> None:
    valid = _valid_polygons(geoms)
    area = np.where(valid, shapely.area(np.where(valid, geoms, None)), 0.0)
    length = np.where(valid, shapely.length(np.where(valid, geoms, None)), 1.0)
    width = 2 * area / np.maximum(length, 1e-12)
    sliver = valid & ((width < tol.sliver_width_m) | (area < tol.sliver_area_m2))
    if numbers is not None:
        sliver &= pd.isna(numbers)
    if not sliver.any():
        return
    tree = shapely.STRtree(np.where(valid, geoms, None))
    for i in np.flatnonzero(sliver):
        cand = tree.query(geoms[i], predicate="intersects")
        cand = cand[(cand != i) & keep[cand] & ~sliver[cand]]
        j = _best_neighbour(geoms[i], geoms, cand)
        if j is None:
            continue
        geoms[j] = _polygonal(shapely.union(geoms[j], geoms[i]))
        keep[i] = False
        findings.append(Finding("sliver", "repaired", f"unnumbered sliver {ids[i]} ({area[i]:.3f} m²) merged into "
                                f"feature {ids[j]}", geoms[i], (ids[i], ids[j])))


def _fill_narrow_gaps(geoms, ids, keep, tol: Tolerances, findings) -> None:
    live = np.flatnonzero(keep & _valid_polygons(geoms))
    if len(live) == 0:
        return
    holes = _gap_faces(geoms[live], _coverage_flags(geoms[live])[1])
    tree = shapely.STRtree(geoms[live])
    for h in holes:
        ar = shapely.area(h)
        if ar <= 0 or 2 * ar / shapely.length(h) >= tol.sliver_width_m:
            continue
        j = _best_neighbour(h, geoms, live[tree.query(h, predicate="intersects")])
        if j is None:
            continue
        geoms[j] = _polygonal(shapely.union(geoms[j], h))
        findings.append(Finding("gap", "repaired", f"narrow gap of {ar:.3f} m² filled into feature {ids[j]}",
                                h, (ids[j],)))


# --------------------------------------------------------------------------- results


def qa_flags(findings: Sequence[Finding], index: pd.Index) -> pd.Series:
    """The ``qa_flags`` column: comma-separated codes of the open findings per feature.

    Repaired findings are not flags; a feature with none gets ``''``.
    """
    per: dict = {}
    for f in findings:
        if f.severity == "repaired":
            continue
        for fid in f.feature_ids:
            codes = per.setdefault(fid, [])
            if f.code not in codes:
                codes.append(f.code)
    return pd.Series([",".join(sorted(per.get(i, ()))) for i in index], index=index, dtype=object)


def flag_masks(flags: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """From a ``qa_flags`` column: which features need a human (a flag other than
    :data:`EDGE_CUT`), and which go on across their sheet's frame (to edge-match)."""
    codes = [set(filter(None, str(f).split(","))) for f in flags.fillna("")]
    return (np.array([bool(c - {EDGE_CUT}) for c in codes], dtype=bool),
            np.array([EDGE_CUT in c for c in codes], dtype=bool))


def findings_frame(findings: Sequence[Finding], crs=None) -> gpd.GeoDataFrame:
    """Findings as a layer: ``code``, ``severity``, ``message``, ``feature_ids`` (comma-separated)."""
    return gpd.GeoDataFrame(
        {"code": [f.code for f in findings], "severity": [f.severity for f in findings],
         "message": [f.message for f in findings],
         "feature_ids": [",".join(str(_plain(v)) for v in f.feature_ids) for f in findings]},
        geometry=[f.geometry for f in findings], crs=crs,
    )


def summarize(findings: Sequence[Finding]) -> dict[str, dict[str, int]]:
    """Counts by severity and code: ``{"error": {"gap": 2}, "repaired": {...}}``."""
    out: dict[str, dict[str, int]] = {}
    for f in findings:
        by = out.setdefault(f.severity, {})
        by[f.code] = by.get(f.code, 0) + 1
    return out

