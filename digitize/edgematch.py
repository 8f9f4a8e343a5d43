"""Edge matching: parcels cut by the edges of adjacent sheets, joined across them.

A parcel that crosses a sheet edge is drawn on both sheets, cut at the frame, and
labelled on one of them (the sheet holding its larger part).  :func:`join_across_sheets`
finds pieces of different sheets that share a stretch of a common sheet edge and
joins them when their labels allow it: one labelled piece and unlabelled ones, or
pieces with the same number.  Two pieces with different numbers are different
parcels whose boundary happens to follow the edge: they stay apart.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry import box

from gis.topology import Finding, tolerances

__all__ = ["join_across_sheets"]

#: two sheets' tracings of their common edge lie up to twice this many snapping tolerances
#: apart (each sheet's georeference is off by a fraction of a millimetre): the slit between
#: the pieces is closed that wide, in a band along the edge only
WELD = 3.0


def join_across_sheets(
    parcels: gpd.GeoDataFrame,
    extents: Mapping[str, tuple[float, float, float, float]],
    *,
    scale: int,
    number_col: str = "parcel_no",
    group_col: str = "sheet_no",
    area_label_col: str = "area_label_m2",
) -> tuple[gpd.GeoDataFrame, list[Finding]]:
    """Join the pieces of parcels cut by sheet edges; record each join as a repaired finding.

    ``extents`` maps each sheet number (values of ``group_col``) to its extent.  An
    unlabelled piece joins a labelled one only if the labelled piece has no area label
    (``area_label_col``) or the union fits that label better than the piece alone: beside
    a parcel cut by the edge lie its neighbours' pieces too.  The joined parcel keeps the
    attributes of its labelled piece (else of its largest); the result has a fresh 0..n-1 index.
    """
    tol = tolerances(scale)
    if len(parcels) == 0 or len(extents) < 2:
        return parcels.reset_index(drop=True), []
    df = parcels.reset_index(drop=True)
    geoms = np.asarray(df.geometry.values, dtype=object)
    sheets = df[group_col].to_numpy()
    numbers = df[number_col].to_numpy() if number_col in df.columns else np.full(len(df), None)
    labels = (pd.to_numeric(df[area_label_col], errors="coerce").to_numpy(dtype=float) if area_label_col in df.columns
              else np.full(len(df), np.nan))
    area = shapely.area(geoms)
    frames = {k: shapely.boundary(box(*e)) for k, e in extents.items()}
    zone = {k: shapely.buffer(f, tol.snap_m) for k, f in frames.items()}
    weld_zone = {k: shapely.buffer(f, 2 * WELD * tol.snap_m) for k, f in frames.items()}
    on_edge = np.zeros(len(df), dtype=bool)
    for k, z in zone.items():
        mine = np.flatnonzero(sheets == k)
        if len(mine):
            on_edge[mine] = shapely.intersects(geoms[mine], z)
    cand = np.flatnonzero(on_edge)
    if len(cand) == 0:
        return df, []
    tree = shapely.STRtree(geoms[cand])
    a, b = tree.query(geoms[cand], predicate="dwithin", distance=tol.snap_m)
    a, b = cand[a], cand[b]
    keep = (a < b) & (sheets[a] != sheets[b])
    a, b = a[keep], b[keep]
    pairs = []
    for i, j in zip(a, b):
        common = shapely.intersection(zone[sheets[i]], zone[sheets[j]])
        shared = shapely.intersection(shapely.boundary(geoms[i]), shapely.buffer(shapely.boundary(geoms[j]), tol.snap_m))
        if shapely.length(shapely.intersection(shared, common)) <= 5 * tol.snap_m:  # more than a corner
            continue
        ni, nj = numbers[i], numbers[j]
        if not (pd.isna(ni) or pd.isna(nj) or ni == nj):
            continue
        if pd.isna(ni) != pd.isna(nj) and not _fits_label(area, labels, *((j, i) if pd.isna(ni) else (i, j))):
            continue
        pairs.append((i, j))
    if not pairs:
        return df, []
    pa, pb = np.array(pairs).T
    n = len(df)
    _, label = connected_components(coo_matrix((np.ones(len(pa)), (pa, pb)), shape=(n, n)), directed=False)
    findings: list[Finding] = []
    drop: list[int] = []
    for comp in np.unique(label[np.concatenate([pa, pb])]):
        members = np.flatnonzero(label == comp)
        labelled = members[~pd.isna(numbers[members])]
        if len(set(numbers[labelled])) > 1:
            continue  # a chain of pieces that reaches two different numbers: leave it to a human
        head = labelled[np.argmax(area[labelled])] if len(labelled) else members[np.argmax(area[members])]
        rest = members[members != head]
        joined = geoms[head]
        for r in rest:
            joined = shapely.union(joined, shapely.snap(geoms[r], joined, tol.snap_m))
        seam = shapely.union_all([shapely.intersection(weld_zone[a], weld_zone[b]) for a in set(sheets[members])
                                  for b in set(sheets[members]) if a < b])
        joined = _solid(_weld(joined, seam, WELD * tol.snap_m), tol.gap_min_area_m2)
        df.at[head, "geometry"] = joined
        drop += list(rest)
        names = ", ".join(f"{sheets[r]}" for r in rest)
        what = f"parcel {numbers[head]}" if not pd.isna(numbers[head]) else "an unnumbered parcel"
        findings.append(Finding("cut_by_sheet_edge", "repaired",
                                f"{what} of sheet {sheets[head]} joined with its piece(s) on sheet {names}",
                                joined, (head, *rest)))
    out = df.drop(index=drop)
    kept = out.index.to_numpy()
    renumber = dict(zip(kept, range(len(kept))))
    findings = [Finding(f.code, f.severity, f.message, f.geometry, (renumber[f.feature_ids[0]],)) for f in findings]
    return out.reset_index(drop=True), findings


def _weld(geom, seam, gap: float):
    """Close the slits narrower than ``2 * gap`` between pieces where they meet, inside ``seam``
    (the band along the shared sheet edges) only: each sheet traced the edge a little apart."""
    closed = shapely.buffer(shapely.buffer(geom, gap, join_style="mitre"), -gap, join_style="mitre")
    return shapely.union(geom, shapely.intersection(closed, seam))


def _fits_label(area: np.ndarray, labels: np.ndarray, labelled: int, piece: int) -> bool:
    """Whether the labelled piece's area label (if any) fits it with the unlabelled piece better than alone."""
    label = labels[labelled]
    if not label > 0:
        return True
    return abs(area[labelled] + area[piece] - label) < abs(area[labelled] - label)


def _solid(geom, min_hole: float):
    """A joined parcel without the hair-line holes and slits left where the pieces met."""
    parts = []
    for p in shapely.get_parts(shapely.make_valid(geom)):
        if shapely.get_type_id(p) != 3:
            continue
        holes = [r for r in p.interiors if shapely.area(shapely.Polygon(r)) > min_hole]
        parts.append(shapely.Polygon(p.exterior, holes))
    if not parts:
        return geom
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
