"""A sheet as a legacy drawing: MicroStation DGN v7 and an AutoCAD DXF export.

Both carry LINE-WORK, not polygons, the way the old Famis drawings did: parcel edges are
chained into runs through the junctions where they continue straight (so one run often
borders several parcels); some runs are exploded into single-segment lines, some are
drawn twice, and a few run ends stop short of, or overshoot, the line they should meet
by 2-8 cm.  Texts sit at the parcel's label point: parcel number, area and land-use code.

Levels (Circular 25/2014, Annex 18): 10 parcel boundaries, 11 parcel numbers, 2 land-use
codes, 4 areas, 14 building outlines.  The DXF uses the level numbers as layer names
("10", "11", "2", "4", "14") plus "ROAD_NAME" for street names.

DGN working units: master unit m, sub-unit mm, 1000 mm per m, 1 UOR per mm, and the
design plane shifted by (500000, 1000000) m so VN-2000 northings fit the 32-bit design
coordinates.  GDAL's ``ORIGIN`` creation option is the value *added* to master
coordinates, hence ``ORIGIN=-500000,-1000000,0``.  GDAL's writer truncates to whole UORs,
so coordinates are written 0.4 mm high: a millimetre coordinate reads back exactly.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import ezdxf
import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from shapely.geometry import LineString, MultiLineString, Point, Polygon, box

from gis.errors import LandrecError
from gis.sheets import Sheet
from sample_data import plan
from sample_data.fabric import label_points

__all__ = ["DGN_OPTIONS", "LEVELS", "buildings", "linework", "texts", "write_dgn", "write_dxf"]

LEVELS = {"boundary": 10, "number": 11, "land_use": 2, "area": 4, "building": 14}
DGN_OPTIONS = {"MASTER_UNIT_NAME": "m", "SUB_UNIT_NAME": "mm", "SUB_UNITS_PER_MASTER_UNIT": "1000",
               "UOR_PER_SUB_UNIT": "1", "ORIGIN": "-500000,-1000000,0"}
_TRUNC_PAD = 0.0004  # see module docstring


def _edges(parcels: gpd.GeoDataFrame, sheet: Sheet) -> list[LineString]:
    frame = box(*sheet.extent)
    near = parcels[parcels.intersects(frame)]
    lines = shapely.union_all(shapely.boundary(near.geometry.values)).intersection(frame)
    parts = getattr(lines, "geoms", [lines])
    return [g for g in parts if isinstance(g, LineString) and g.length > 0.0005]


def _key(xy) -> tuple[int, int]:
    return round(xy[0] * 1000), round(xy[1] * 1000)


def _chain(edges: list[LineString], max_turn_deg: float = 8.0) -> list[np.ndarray]:
    """Join edges into runs through nodes where the line goes on (almost) straight."""
    coords = [np.asarray(e.coords) for e in edges]
    at: dict[tuple[int, int], list[int]] = {}
    for i, c in enumerate(coords):
        at.setdefault(_key(c[0]), []).append(i)
        at.setdefault(_key(c[-1]), []).append(i)
    used = np.zeros(len(coords), bool)

    def extend(run: np.ndarray) -> np.ndarray:
        while True:
            end, prev = run[-1], run[-2]
            heading = math.atan2(end[1] - prev[1], end[0] - prev[0])
            best, best_turn = None, math.radians(max_turn_deg)
            for j in at.get(_key(end), []):
                if used[j]:
                    continue
                c = coords[j] if _key(coords[j][0]) == _key(end) else coords[j][::-1]
                turn = abs((math.atan2(c[1][1] - c[0][1], c[1][0] - c[0][0]) - heading + math.pi) % (2 * math.pi)
                           - math.pi)
                if turn < best_turn:
                    best, best_turn = (j, c), turn
            if best is None:
                return run
            used[best[0]] = True
            run = np.vstack([run, best[1][1:]])

    runs = []
    for i in np.argsort([-len(c) for c in coords], kind="stable"):
        if used[i]:
            continue
        used[i] = True
        run = extend(coords[i])
        run = extend(run[::-1])[::-1]
        runs.append(run)
    return runs


def linework(parcels: gpd.GeoDataFrame, sheet: Sheet, rng: np.random.Generator) -> list[dict]:
    """The sheet's boundary line-work as a drafter left it: runs, single lines, doubles, flaws.

    Each record: ``coords`` (n x 2 array), ``kind`` ("run" | "line" | "double"), ``flaw``
    ("" | "short" | "overshoot").
    """
    frame = box(*sheet.extent).boundary
    out = []
    for run_id, run in enumerate(_chain(_edges(parcels, sheet))):
        run = run.copy()
        flaw = ""
        r = rng.random()
        if r < 0.06 and len(run) >= 2:
            end = 0 if rng.random() < 0.5 else -1
            nb = 1 if end == 0 else -2
            if Point(run[end]).distance(frame) > 0.5:
                d = run[end] - run[nb]
                d = d / max(np.hypot(*d), 1e-9)
                dist = rng.uniform(0.02, 0.08)
                flaw = "short" if r < 0.03 else "overshoot"
                run[end] = np.round(run[end] + (dist if flaw == "overshoot" else -dist) * d, 3)
        pieces = [run[k:k + 100] if k == 0 else run[k - 1:k + 100] for k in range(0, len(run) - 1, 100)] \
            if len(run) > 101 else [run]
        r = rng.random()
        for piece in pieces:
            if r < 0.25:
                out += [{"coords": piece[k:k + 2], "kind": "line", "flaw": flaw, "run": run_id}
                        for k in range(len(piece) - 1)]
            else:
                out.append({"coords": piece, "kind": "run", "flaw": flaw, "run": run_id})
                if r > 0.95:
                    out.append({"coords": piece[::-1].copy(), "kind": "double", "flaw": flaw, "run": run_id})
    return out


def texts(parcels: gpd.GeoDataFrame, sheet: Sheet) -> list[dict]:
    """Label texts of the sheet's own parcels: number (level 11), area (4), code (2)."""
    mine = parcels[parcels["sheet_no"] == sheet.number]
    points, _ = label_points(mine.geometry.values, sheet.extent)
    h = 1.8 * sheet.scale / 1000.0  # 1.8 mm on paper, in metres
    out = []
    for pt, no, area, code in zip(points, mine["parcel_no"], mine["area_m2"], mine["land_use"]):
        x, y = pt.x, pt.y
        out.append({"text": str(int(no)), "level": LEVELS["number"], "xy": _mm(x, y + 0.15 * h), "height": h})
        out.append({"text": f"{float(area):.1f}", "level": LEVELS["area"], "xy": _mm(x, y - 1.15 * h), "height": h})
        out.append({"text": str(code), "level": LEVELS["land_use"], "xy": _mm(x + 2.6 * h, y - 0.5 * h), "height": h})
    return out


def _mm(x: float, y: float) -> tuple[float, float]:
    return round(x, 3), round(y, 3)


def buildings(parcels: gpd.GeoDataFrame, seed: int) -> gpd.GeoDataFrame:
    """A house on most residential and commercial parcels: a rectangle set into the lot."""
    rng = np.random.default_rng(seed)
    rows = []
    for sheet_no, no, code, geom in zip(parcels["sheet_no"], parcels["parcel_no"], parcels["land_use"],
                                        parcels.geometry):
        if code not in ("ONT", "TMD", "DGD", "DCH") or rng.random() < 0.15:
            continue
        rect = geom.minimum_rotated_rectangle
        c = rect.centroid
        scale = rng.uniform(0.35, 0.6)
        house = shapely.affinity.scale(rect, scale, scale, origin=c)
        house = house.intersection(geom.buffer(-0.8))
        if isinstance(house, Polygon) and house.area > 12:
            rows.append({"sheet_no": sheet_no, "parcel_no": int(no),
                         "geometry": shapely.set_precision(house.minimum_rotated_rectangle, 0.001)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=parcels.crs)


@contextmanager
def _tempdir():
    d = tempfile.mkdtemp(prefix="landrec-dgn-")
    try:
        yield Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _ring_lines(house_geoms) -> list[np.ndarray]:
    return [np.asarray(g.exterior.coords) for g in house_geoms]


def write_dgn(parcels: gpd.GeoDataFrame, sheet: Sheet, path: str | os.PathLike, *, seed: int,
              houses: gpd.GeoDataFrame | None = None) -> dict:
    """Write the sheet as a DGN v7 drawing (through GDAL's ``ogr2ogr``); return counts."""
    rng = np.random.default_rng(seed)
    lines = linework(parcels, sheet, rng)
    labels = texts(parcels, sheet)
    rings = _ring_lines(houses.geometry) if houses is not None else []
    geoms, levels, colours, styles = [], [], [], []
    for rec in lines:
        geoms.append(LineString(rec["coords"] + _TRUNC_PAD))
        levels.append(LEVELS["boundary"])
        colours.append(0)
        styles.append(None)
    for ring in rings:
        geoms.append(LineString(ring + _TRUNC_PAD))
        levels.append(LEVELS["building"])
        colours.append(3)
        styles.append(None)
    for t in labels:
        geoms.append(Point(t["xy"][0] + _TRUNC_PAD, t["xy"][1] + _TRUNC_PAD))
        levels.append(t["level"])
        colours.append(1 if t["level"] == LEVELS["number"] else 2)
        styles.append(f'LABEL(t:"{t["text"]}",s:{t["height"]:.3f}g)')
    df = gpd.GeoDataFrame({"Level": np.asarray(levels, np.int32), "ColorIndex": np.asarray(colours, np.int32),
                           "sty": styles}, geometry=geoms, crs=parcels.crs)
    exe = shutil.which("ogr2ogr")
    if exe is None:
        raise LandrecError("ogr2ogr (gdal-bin) is needed to write DGN files", hint="apt-get install gdal-bin")
    with _tempdir() as tmp:
        src = tmp / "elements.gpkg"
        pyogrio.write_dataframe(df, src, layer="e", driver="GPKG")
        out = tmp / "sheet.dgn"
        cmd = [exe, "-q", "-f", "DGN", str(out), str(src), "-dialect", "OGRSQL",
               "-sql", "SELECT Level, ColorIndex, sty AS OGR_STYLE FROM e"]
        for k, v in DGN_OPTIONS.items():
            cmd += ["-dsco", f"{k}={v}"]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0 or not out.exists():
            raise LandrecError(f"ogr2ogr could not write {path}: {res.stderr.strip()[-400:]}")
        shutil.move(str(out), path)
    return _counts(lines, labels, rings)


def _counts(lines: list[dict], labels: list[dict], rings: list) -> dict:
    return {"boundary_elements": len(lines), "runs": sum(r["kind"] == "run" for r in lines),
            "single_lines": sum(r["kind"] == "line" for r in lines),
            "doubled": sum(r["kind"] == "double" for r in lines),
            "short_ends": len({r["run"] for r in lines if r["flaw"] == "short"}),
            "overshoots": len({r["run"] for r in lines if r["flaw"] == "overshoot"}),
            "texts": len(labels), "buildings": len(rings)}


def _circles() -> list[tuple[float, float, float]]:
    """Circles the plan's curved boundaries lie on: road-arc edges and round specials."""
    out = []
    for w in plan.MAIN_ROADS:
        if w.arc:
            cx, cy, r, _, _ = w.arc
            out += [(cx, cy, r - w.width_m / 2), (cx, cy, r + w.width_m / 2)]
    out += [args for _, shape, args in plan.SPECIAL if shape == "circle"]
    return out


def _bulges(coords: np.ndarray) -> list[float] | None:
    """Bulge values that turn the chords of a run lying on one of the plan's circles into
    true arcs (segments off the circles stay straight); None when nothing is curved."""
    if len(coords) < 3:
        return None
    bulges = np.zeros(len(coords))
    for cx, cy, r in _circles():
        on = np.abs(np.hypot(coords[:, 0] - cx, coords[:, 1] - cy) - r) < 0.02
        seg = on[:-1] & on[1:]
        seg &= np.hypot(*np.diff(coords, axis=0).T) < 0.1 * r
        seg &= np.r_[False, seg[:-1]] | np.r_[seg[1:], False]  # three vertices in a row on the circle
        if seg.any():
            a = np.arctan2(coords[:, 1] - cy, coords[:, 0] - cx)
            sweep = (np.diff(a) + np.pi) % (2 * np.pi) - np.pi
            bulges[:-1] = np.where(seg, np.tan(sweep / 4), bulges[:-1])
    return bulges.tolist() if bulges.any() else None


@contextmanager
def _fixed_dxf_metadata():
    old = ezdxf.options.write_fixed_meta_data_for_testing
    ezdxf.options.write_fixed_meta_data_for_testing = True
    try:
        yield
    finally:
        ezdxf.options.write_fixed_meta_data_for_testing = old


def write_dxf(parcels: gpd.GeoDataFrame, sheet: Sheet, path: str | os.PathLike, *, seed: int,
              roads: gpd.GeoDataFrame | None = None, houses: gpd.GeoDataFrame | None = None) -> dict:
    """Write the sheet as an AutoCAD R2000 DXF export (code page ANSI_1258); return counts."""
    with _fixed_dxf_metadata():  # ezdxf stamps the creation time at new() and the write time at save
        return _write_dxf(parcels, sheet, path, seed=seed, roads=roads, houses=houses)


def _write_dxf(parcels: gpd.GeoDataFrame, sheet: Sheet, path: str | os.PathLike, *, seed: int,
               roads: gpd.GeoDataFrame | None, houses: gpd.GeoDataFrame | None) -> dict:
    rng = np.random.default_rng(seed + 7)
    lines = linework(parcels, sheet, rng)
    labels = texts(parcels, sheet)
    doc = ezdxf.new("R2000")
    doc.header["$INSUNITS"] = 6  # metres
    doc.encoding = "cp1258"  # $DWGCODEPAGE ANSI_1258; letters outside it are written as \\U+XXXX
    for name, colour in (("10", 7), ("11", 1), ("2", 3), ("4", 5), ("14", 4), ("ROAD_NAME", 6)):
        doc.layers.add(name, color=colour)
    msp = doc.modelspace()
    arcs = 0
    for rec in lines:
        c = rec["coords"]
        if rec["kind"] == "line":
            msp.add_line(tuple(c[0]), tuple(c[1]), dxfattribs={"layer": "10"})
            continue
        bulges = _bulges(c)
        if bulges is not None:
            arcs += 1
            msp.add_lwpolyline([(x, y, 0, 0, b) for (x, y), b in zip(c.tolist(), bulges)], format="xyseb",
                               dxfattribs={"layer": "10"})
        else:
            msp.add_lwpolyline(c.tolist(), format="xy", dxfattribs={"layer": "10"})
    rings = _ring_lines(houses.geometry) if houses is not None else []
    for ring in rings:
        msp.add_lwpolyline(ring[:-1].tolist(), format="xy", close=True, dxfattribs={"layer": "14"})
    for t in labels:
        msp.add_text(t["text"], height=t["height"], dxfattribs={"layer": str(t["level"]), "insert": t["xy"]})
    if roads is not None:
        frame = box(*sheet.extent)
        for name, geom in zip(roads["name"], roads.geometry):
            g = geom.intersection(frame.buffer(-sheet.size_m * 0.02))
            if isinstance(g, MultiLineString):
                g = max(g.geoms, key=lambda q: q.length)
            if not isinstance(g, LineString) or g.is_empty or g.length < sheet.size_m * 0.1:
                continue
            mid = g.interpolate(0.5, normalized=True)
            p0, p1 = g.interpolate(0.48, normalized=True), g.interpolate(0.52, normalized=True)
            ang = math.degrees(math.atan2(p1.y - p0.y, p1.x - p0.x))
            ang = ang - 180 if ang > 90 else ang + 180 if ang < -90 else ang
            msp.add_text(str(name), height=2.2 * sheet.scale / 1000.0,
                         dxfattribs={"layer": "ROAD_NAME", "insert": (mid.x, mid.y), "rotation": ang})
    doc.saveas(path)
    counts = _counts(lines, labels, rings)
    counts["arc_polylines"] = arcs
    return counts
