"""The scan pipeline: a scanned sheet and its control points -> the parcel layer.

:func:`digitize_scan` runs the steps in order (georeference, vectorize, read labels,
move to the map, sort parcels from roads and what lies outside the sheet, check) and
returns everything a caller writes out: the parcels (the parcel-layer contract), the
findings, the georeference with its residuals, the sheet, and the step timings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry import box

from digitize.crowded import Cut, split_crowded
from digitize.georef import ControlPoints, Georeference, fit_georeference
from digitize.gridcross import GRID_MM, refine_control_points
from digitize.labels import Label, read_labels, restore_decimal
from digitize.raster import ink_channel
from digitize.vectorize import Vectorized, vectorize
from gis.errors import DigitizeError, InputError
from gis.sheets import SCALES, Sheet, parse_sheet, sheet_at
from gis.topology import EDGE_CUT, Finding, area_tolerance, check_parcels, qa_flags

__all__ = [
    "EDGE_PIECE",
    "PARCEL_COLUMNS",
    "ScanResult",
    "digitize_scan",
    "grid_crosses",
    "merge_pieces",
    "regions_on_frame",
    "regions_to_map",
    "resolve_sheet",
]

PARCEL_COLUMNS = ["parcel_no", "area_label_m2", "land_use", "area_m2", "sheet_no", "confidence", "qa_flags"]
#: a region without a number, thinner than this on paper (mean width 2A/P, mm) and longer than
#: ROAD_ELONGATION times its width, is a road or water; a small parcel whose number was not
#: read is compact and stays a parcel
ROAD_WIDTH_MM = 9.0
ROAD_ELONGATION = 8.0
#: a region as narrow and longer than this many times its width is a network of roads or
#: water, even with a number on it (road names carry numbers: "Đường tỉnh 299"), unless its
#: label's area is its own (a long canal parcel, labelled as parcels are)
ROAD_NETWORK_ELONGATION = 100.0
#: why an unlabelled region at the frame is not a parcel of this sheet: it is the piece of a
#: parcel labelled on the neighbouring sheet, which ``digitize district`` joins to it
EDGE_PIECE = "piece of a parcel of a neighbouring sheet (at the frame, no label)"
#: half the length of a grid cross's arm on paper, mm (the crosses are 1 cm wide)
CROSS_ARM_MM = 5.0
#: an unlabelled piece joins a labelled neighbour when the label's area fits the union within this
#: share (and better than the neighbour alone), along a shared line of at most PIECE_LINE_MM on paper
PIECE_AREA_TOL = 0.03
PIECE_LINE_MM = 15.0


@dataclass
class ScanResult:
    """What one scanned sheet gave."""

    parcels: gpd.GeoDataFrame
    findings: list[Finding]
    georef: Georeference
    sheet: Sheet
    dropped: gpd.GeoDataFrame  # regions that are not parcels, with a ``reason``
    labels: dict[int, Label] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    vectorized: Vectorized | None = None


def resolve_sheet(georef: Georeference, image_size: tuple[int, int], *, scale: int | None,
                  sheet_no: str | None) -> Sheet:
    """The sheet: from its number (placed near the scan) or the one under the scan's centre."""
    w, h = image_size
    ce, cn = georef.to_map(np.array([[w / 2, h / 2]]))[0]
    if sheet_no:
        sheet = parse_sheet(sheet_no, northing_hint=cn)
        if scale is not None and sheet.scale != scale:
            raise InputError(f"sheet {sheet_no} is a 1:{sheet.scale} sheet, but the scale given is 1:{scale}",
                             hint="leave out --scale, or give the sheet's own scale")
        return sheet
    scale = scale or 1000
    if scale not in SCALES:
        raise InputError(f"no sheet series at 1:{scale}", hint=f"scales are {sorted(SCALES)}")
    return sheet_at(ce, cn, scale)


def regions_to_map(regions: gpd.GeoDataFrame, georef: Georeference, *, crs: CRS) -> gpd.GeoDataFrame:
    """Move pixel polygons to the map; shared boundaries stay shared.

    Each distinct vertex goes through the pixel -> map function once, so the vertices
    that neighbours share stay identical.  The outlines are fitted in pixels within a
    fraction of a pixel of the ink (:mod:`digitize.outline`), so a straight edge of the
    scan stays straight on the map: the scan's own warp bends it only where it already
    has a vertex.
    """
    geoms = np.asarray(regions.geometry.values, dtype=object)
    xy = shapely.get_coordinates(geoms)
    distinct, back = np.unique(xy, axis=0, return_inverse=True)
    geoms = shapely.set_coordinates(geoms.copy(), georef.to_map(distinct)[back.ravel()])
    out = regions.drop(columns="geometry").copy()
    return gpd.GeoDataFrame(out, geometry=list(shapely.make_valid(geoms)), crs=crs)


def digitize_scan(image: np.ndarray, gcps: ControlPoints, *, crs: CRS, scale: int | None = None,
                  sheet_no: str | None = None, method: str = "auto",
                  progress: Callable[[str], None] | None = None,
                  on_georeference: Callable[[Georeference], None] | None = None) -> ScanResult:
    """Digitize one scanned sheet: see the module docstring.

    ``image`` is the scan (uint8 grey or RGB), ``gcps`` its control points in ``crs`` (those on
    the sheet's frame corners, ticks and grid crosses are measured on the scan first);
    ``scale`` comes from the sheet number when not given.  ``progress`` is called with
    the name of each step as it starts; ``on_georeference`` with the georeference as soon
    as it is fitted (a caller can start work that needs only it, such as warping the scan,
    beside the line-work and label steps).
    """
    step = progress or (lambda name: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    h, w = image.shape[:2]

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        timings[name] = round(now - t0, 3)
        t0 = now

    step("georeference")
    first = fit_georeference(gcps, method="affine", scale=scale or 1000, image_size=(w, h),
                             projected=crs.is_projected)
    sheet = resolve_sheet(first, (w, h), scale=scale, sheet_no=sheet_no)
    grey = ink_channel(image)
    gcps = refine_control_points(grey, gcps, sheet)  # each on its cross: a fraction of the picking noise
    georef = fit_georeference(gcps, method=method, scale=sheet.scale, image_size=(w, h), projected=crs.is_projected)
    _check_on_sheet(georef, sheet, (w, h))
    px_m = georef.pixel_size_m()
    px_per_mm = sheet.scale / (1000.0 * px_m)
    lap("georeference")
    if on_georeference is not None:
        on_georeference(georef)

    step("vectorize")
    vec = vectorize(grey, px_per_mm=px_per_mm, crosses=grid_crosses(sheet, georef))
    lap("vectorize")

    step("labels")
    others: list[Label] = []
    labels = read_labels(vec.text, vec.labels, px_per_mm=px_per_mm, lines=vec.lines, dark=vec.dark, m_per_px=px_m,
                         cut=regions_on_frame(vec.labels, sheet, georef, px_per_mm=px_per_mm), others=others)
    regions_px, labels, cuts = split_crowded(vec.regions, labels, others, vec.dark, vec.text, m_per_px=px_m)
    lap("labels")

    step("parcels")
    regions = regions_to_map(regions_px, georef, crs=crs)
    parcels, dropped = _sort_regions(regions, labels, sheet, px_m)
    if len(parcels) == 0:
        raise DigitizeError("no parcels were found on the sheet",
                            hint="check that the image is a cadastral sheet and the control points fit it")
    parcels, repairs = merge_pieces(parcels, scale=sheet.scale)
    repairs += _restored(parcels, cuts, georef)
    findings = check_parcels(parcels, scale=sheet.scale, sheet_extent=sheet.extent,
                             allowed_gaps=gpd.GeoSeries(dropped.geometry.values, crs=crs) if len(dropped) else None)
    findings = repairs + findings
    parcels["qa_flags"] = qa_flags(findings, parcels.index)
    # each doubt costs a fifth of the confidence; a parcel going on across the frame is no doubt
    penalty = parcels["qa_flags"].map(lambda f: len(set(filter(None, f.split(","))) - {EDGE_CUT}))
    parcels["confidence"] = (parcels["confidence"] * (0.8 ** penalty)).round(3)
    lap("parcels")
    return ScanResult(parcels, findings, georef, sheet, dropped, labels, timings, vec)


def _restored(parcels: gpd.GeoDataFrame, cuts: list[Cut], georef: Georeference) -> list[Finding]:
    """A ``restored_boundary`` finding on both parcels of each line drawn again between two labels."""
    if not cuts:
        return []
    tree = shapely.STRtree(parcels.geometry.values)
    out = []
    for c in cuts:
        line = shapely.LineString(georef.to_map(np.asarray(shapely.get_coordinates(c.line))))
        ids = tuple(int(parcels.index[k]) for k in tree.query(line.interpolate(0.5, normalized=True),
                                                                predicate="dwithin", distance=0.5))
        numbers = " / ".join(_number(parcels, parcels.index.get_loc(i)) for i in ids) or "?"
        out.append(Finding("restored_boundary", "warning",
                           f"parcels {numbers}: their boundary is too faint on the scan; it was drawn again along the "
                           f"darkest line between their labels (contrast {c.contrast:.0f}/255), each side fitting its "
                           "label's area; check the line", line, ids))
    return out


def regions_on_frame(regions: np.ndarray, sheet: Sheet, georef: Georeference, *, px_per_mm: float) -> frozenset[int]:
    """The ids of the regions (a scan-pixel partition, 0 = line-work) that the sheet frame
    runs along or through: within half a millimetre of paper of the frame's line."""
    e0, n0, e1, n1 = sheet.extent
    t = np.linspace(0.0, 1.0, 65)[:-1]
    ring = np.concatenate([np.column_stack([e0 + (e1 - e0) * t, np.full_like(t, n0)]),
                           np.column_stack([np.full_like(t, e1), n0 + (n1 - n0) * t]),
                           np.column_stack([e1 - (e1 - e0) * t, np.full_like(t, n1)]),
                           np.column_stack([np.full_like(t, e0), n1 - (n1 - n0) * t])])
    band = np.zeros(regions.shape, dtype=np.uint8)
    px = np.round(georef.to_pixel(ring) * 16).astype(np.int32)  # 1/16 px, OpenCV's shift=4
    cv2.polylines(band, [px], True, 1, thickness=max(3, round(px_per_mm)), lineType=cv2.LINE_8, shift=4)
    ids = np.unique(regions[band.astype(bool)])
    return frozenset(int(i) for i in ids if i)


def grid_crosses(sheet: Sheet, georef: Georeference, *, arm_mm: float = CROSS_ARM_MM) -> np.ndarray:
    """The grid crosses inside the frame (every ``GRID_MM`` of paper) in scan pixels: (n, 2 arms, 2 tips, 2)."""
    e0, n0, e1, n1 = sheet.extent
    step = GRID_MM * sheet.scale / 1000.0
    arm = arm_mm * sheet.scale / 1000.0
    ni, nj = max(1, round((e1 - e0) / step)), max(1, round((n1 - n0) / step))
    ee, nn = np.meshgrid(e0 + np.arange(1, ni) * (e1 - e0) / ni, n0 + np.arange(1, nj) * (n1 - n0) / nj)
    c = np.column_stack([ee.ravel(), nn.ravel()])
    if len(c) == 0:
        return np.zeros((0, 2, 2, 2))
    tips = np.stack([c - [arm, 0], c + [arm, 0], c - [0, arm], c + [0, arm]], axis=1)  # (n, 4, 2)
    px = georef.to_pixel(tips.reshape(-1, 2)).reshape(-1, 2, 2, 2)
    return px


def merge_pieces(parcels: gpd.GeoDataFrame, *, scale: int, area_tol: float = PIECE_AREA_TOL,
                 line_mm: float = PIECE_LINE_MM) -> tuple[gpd.GeoDataFrame, list[Finding]]:
    """Join unlabelled pieces to the labelled neighbour they were cut from, by the label's area.

    Text taken for line-work (a label's bar, a digit's stroke) cuts a small piece off a
    parcel; the piece has no label and the parcel's label gives the area of both.  A
    piece joins the neighbour whose area label its union fits within ``area_tol`` and
    better than the neighbour alone, when the line between them is at most ``line_mm``
    on paper.  Each join is a ``merged_piece`` finding on the parcel (a flag for a
    land officer to check the line).  Returns the parcels (new index) and the findings.
    """
    geoms = np.asarray(parcels.geometry.values, dtype=object).copy()
    area = shapely.area(geoms)
    label = parcels["area_label_m2"].to_numpy(dtype=float)
    tree = shapely.STRtree(geoms)
    gone: set[int] = set()
    joined: list[tuple[int, int, float, float, float]] = []
    for i in sorted(np.flatnonzero(parcels["parcel_no"].isna().to_numpy()), key=lambda k: area[k]):
        best = None
        for j in tree.query(geoms[i], predicate="touches"):
            if j in gone or j == i or not label[j] > 0:
                continue
            line = shapely.length(shapely.intersection(shapely.boundary(geoms[i]), shapely.boundary(geoms[j])))
            alone, union = abs(area[j] - label[j]) / label[j], abs(area[j] + area[i] - label[j]) / label[j]
            fits = 0 < line <= line_mm * scale / 1000.0 and union <= area_tol and union < alone
            if fits and (best is None or union < best[0]):
                best = (union, int(j), alone)
        if best is not None:
            union, j, alone = best
            joined.append((int(i), j, float(area[i]), alone, union))
            geoms[j] = shapely.union(geoms[j], geoms[i])
            area[j] += area[i]
            gone.add(int(i))
    if not joined:
        return parcels, []
    out = parcels.copy()
    out["area_m2"] = np.round(area, 1)
    out = out.set_geometry(gpd.GeoSeries(geoms, index=parcels.index, crs=parcels.crs))
    keep = np.array([k not in gone for k in range(len(out))])
    new_id = np.cumsum(keep) - 1
    out = out[keep].reset_index(drop=True)
    findings = [Finding("merged_piece", "warning",
                        f"parcel {_number(out, new_id[j])}: an unlabelled piece of {a:.1f} m² was joined to it, "
                        f"its area label fitting the union ({u:.1%} off) better than the parcel alone ({e:.1%} off); "
                        "check the line between them", parcels.geometry.iloc[i], (int(new_id[j]),))
                for i, j, a, e, u in joined]
    return out, findings


def _number(parcels: gpd.GeoDataFrame, k: int) -> str:
    n = parcels["parcel_no"].iloc[k]
    return "?" if pd.isna(n) else str(int(n))


def _check_on_sheet(georef: Georeference, sheet: Sheet, size: tuple[int, int]) -> None:
    w, h = size
    footprint = shapely.Polygon(georef.to_map(np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=float)))
    frame = box(*sheet.extent)
    if footprint.intersection(frame).area < 0.5 * frame.area:
        raise InputError(f"the scan, placed by its control points, does not cover sheet {sheet.number}",
                         hint="check --sheet-no and the control points' map coordinates")


def _sort_regions(regions: gpd.GeoDataFrame, labels: dict[int, Label], sheet: Sheet,
                  px_m: float) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Parcels, and the regions that are not (outside the frame, roads, pieces of other sheets)."""
    frame = box(*sheet.extent)
    inner = frame.buffer(-2 * px_m)
    geoms = np.asarray(regions.geometry.values, dtype=object)
    rep = shapely.point_on_surface(geoms)
    area = shapely.area(geoms)
    perimeter = shapely.length(geoms)
    width_m = 2 * area / np.maximum(perimeter, 1e-9)  # mean width
    width_mm = width_m / sheet.scale * 1000.0  # on paper
    elongation = perimeter / 2 / np.maximum(width_m, 1e-9)
    touches_edge = ~shapely.within(geoms, inner)
    # a thin region along the frame is the sliver of a parcel going on across it more often than a
    # road: it waits as a piece, and the district's edge matching joins it only where a label fits
    along_frame = touches_edge & shapely.within(geoms, frame.boundary.buffer(ROAD_WIDTH_MM * sheet.scale / 1000.0))
    reasons = []
    for i, region in enumerate(regions["region"]):
        lab = labels.get(int(region))
        if not frame.contains(rep[i]):
            reasons.append("outside the sheet frame")
        elif width_mm[i] < ROAD_WIDTH_MM and elongation[i] > ROAD_NETWORK_ELONGATION and not (
                lab is not None and (own := restore_decimal(lab.area_label_m2, float(area[i]))) is not None
                and abs(own - area[i]) <= area_tolerance(area[i], sheet.scale)):
            reasons.append("road or water network (long and narrow beyond a parcel; no area of its own on it)")
        elif lab is not None and lab.parcel_no is not None:
            reasons.append("")
        elif lab is None and along_frame[i]:
            reasons.append(EDGE_PIECE)
        elif width_mm[i] < ROAD_WIDTH_MM and elongation[i] > ROAD_ELONGATION:
            reasons.append("road or water (long, narrow, no parcel number)")
        elif lab is None and touches_edge[i]:
            reasons.append(EDGE_PIECE)
        else:  # a parcel, labelled or not: one whose label was not read is flagged for a human
            reasons.append("")
    reasons = np.array(reasons, dtype=object)
    keep = reasons == ""
    rows = []
    for i in np.flatnonzero(keep):
        lab = labels.get(int(regions["region"].iloc[i]))
        rows.append({
            "parcel_no": lab.parcel_no if lab else None,
            "area_label_m2": restore_decimal(lab.area_label_m2, float(area[i])) if lab else None,
            "land_use": lab.land_use if lab else None,
            "area_m2": round(float(area[i]), 1),
            "sheet_no": sheet.number,
            "confidence": round(lab.confidence, 3) if lab else 0.0,
            "qa_flags": "",
        })
    parcels = gpd.GeoDataFrame(pd.DataFrame(rows, columns=PARCEL_COLUMNS), geometry=list(geoms[keep]),
                               crs=regions.crs)
    parcels["parcel_no"] = parcels["parcel_no"].astype("Int64")
    parcels["area_label_m2"] = parcels["area_label_m2"].astype("Float64").astype(float)
    dropped = gpd.GeoDataFrame({"reason": reasons[~keep]}, geometry=list(geoms[~keep]), crs=regions.crs)
    return parcels, dropped
