"""Drawings made on the fly for the legacy-import tests: a parcel fabric with its truth,
written as DXF (ezdxf) and DGN v7 (GDAL's writer, through ogr2ogr)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import ezdxf
import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from shapely.geometry import LineString, Point

#: a 1:1000 sheet in Bắc Giang (VN-2000 TM-3 107-00): 361561-4-b
SHEET = "361561-4-b"
ORIGIN_E, ORIGIN_N = 561520.0, 2359520.0
CODES = ["LUC", "ONT", "CLN", "BHK", "NTS", "ODT"]


@dataclass
class Fabric:
    """Truth parcels and the line-work and labels that draw them."""

    truth: gpd.GeoDataFrame  # parcel_no, area_m2, land_use, geometry
    lines: list[LineString]
    labels: list[tuple[str, str, Point]]  # (role, text, where)


def make_fabric(nx: int = 4, ny: int = 3, size: float = 25.0, *, jitter: float = 0.03, seed: int = 1,
                doubled: bool = True) -> Fabric:
    """Irregular quadrilateral parcels; boundaries drawn as long runs across the block,
    with ends that miss or overshoot by up to ``jitter`` metres and some lines drawn twice."""
    rng = np.random.default_rng(seed)
    xs = ORIGIN_E + np.arange(nx + 1) * size
    ys = ORIGIN_N + np.arange(ny + 1) * size
    X, Y = np.meshgrid(xs, ys)
    inner = (slice(1, -1), slice(1, -1))
    X[inner] += rng.uniform(-size / 6, size / 6, X[inner].shape)
    Y[inner] += rng.uniform(-size / 6, size / 6, Y[inner].shape)
    polys, rows = [], []
    n = 0
    for j in range(ny):
        for i in range(nx):
            n += 1
            ring = [(X[j, i], Y[j, i]), (X[j, i + 1], Y[j, i + 1]), (X[j + 1, i + 1], Y[j + 1, i + 1]),
                    (X[j + 1, i], Y[j + 1, i])]
            poly = shapely.Polygon(ring)
            polys.append(poly)
            rows.append({"parcel_no": n, "area_m2": poly.area, "land_use": CODES[n % len(CODES)]})
    truth = gpd.GeoDataFrame(rows, geometry=polys, crs="EPSG:9214")

    def wobble(p, towards):
        """An end moved by up to `jitter` along its line (overshoot or undershoot)."""
        d = np.asarray(p) - np.asarray(towards)
        d /= np.hypot(*d)
        return tuple(np.asarray(p) + d * rng.uniform(-jitter, jitter))

    lines = []
    for j in range(ny + 1):  # rows of boundaries, one long run each
        pts = [(X[j, i], Y[j, i]) for i in range(nx + 1)]
        pts[0], pts[-1] = wobble(pts[0], pts[1]), wobble(pts[-1], pts[-2])
        lines.append(LineString(pts))
    for i in range(nx + 1):  # columns, one segment per parcel edge
        for j in range(ny):
            a, b = (X[j, i], Y[j, i]), (X[j + 1, i], Y[j + 1, i])
            lines.append(LineString([wobble(a, b), wobble(b, a)]))
    if doubled:
        lines += lines[: ny + 1 : 2]  # some runs drawn twice
    labels = []
    for row, poly in zip(rows, polys):
        c = poly.centroid
        labels.append(("number", str(row["parcel_no"]), Point(c.x, c.y + 1.0)))
        labels.append(("area", f"{row['area_m2']:.1f}", Point(c.x, c.y - 1.0)))
        labels.append(("land_use", row["land_use"], Point(c.x + 3.0, c.y)))
    return Fabric(truth, lines, labels)


ANNEX18_LEVELS = {"boundary": "10", "number": "11", "land_use": "2", "area": "4"}


def write_dxf(path: Path, fabric: Fabric, *, layers: dict[str, str] = ANNEX18_LEVELS, extra=None) -> Path:
    """The fabric as a DXF: boundaries as LWPOLYLINE/LINE, labels as TEXT, on the given layers."""
    doc = ezdxf.new("R2010")
    msp = doc.modelspace()
    for k, line in enumerate(fabric.lines):
        c = list(line.coords)
        if len(c) == 2 and k % 2:
            msp.add_line(c[0], c[1], dxfattribs={"layer": layers["boundary"]})
        else:
            msp.add_lwpolyline(c, dxfattribs={"layer": layers["boundary"]})
    for role, text, pt in fabric.labels:
        msp.add_text(text, dxfattribs={"layer": layers[role], "height": 1.0, "insert": (pt.x, pt.y)})
    if extra:
        extra(msp)
    doc.saveas(path)
    return path


def write_dgn(path: Path, fabric: Fabric, *, levels: dict[str, str] = ANNEX18_LEVELS, texts=None) -> Path:
    """The fabric as a DGN v7 with the Annex 18 working units (m, mm) and an origin that
    keeps VN-2000 northings inside the 32-bit design plane."""
    geoms, lv, txt = [], [], []
    for line in fabric.lines:
        geoms.append(line)
        lv.append(int(levels["boundary"]))
        txt.append(None)
    for role, text, pt in (texts if texts is not None else fabric.labels):
        geoms.append(pt)
        lv.append(int(levels[role]))
        txt.append(text)
    tmp = path.with_suffix(".src.gpkg")
    src = gpd.GeoDataFrame({"Level": lv, "Text": txt}, geometry=geoms)
    pyogrio.write_dataframe(src, tmp, driver="GPKG")
    subprocess.run(
        ["ogr2ogr", "-f", "DGN", str(path), str(tmp), "-dsco", "ORIGIN=-500000,-2000000,0",
         "-dsco", "MASTER_UNIT_NAME=m", "-dsco", "SUB_UNIT_NAME=mm", "-dsco", "SUB_UNITS_PER_MASTER_UNIT=1000",
         "-dsco", "UOR_PER_SUB_UNIT=1"],
        check=True, capture_output=True,
    )
    tmp.unlink()
    return path


def test_fabric_tiles_without_gaps():
    fab = make_fabric()
    assert shapely.union_all(fab.truth.geometry.values).area == fab.truth.area.sum()
    assert len(fab.labels) == 3 * len(fab.truth)


def test_dgn_writer_keeps_vn2000_coordinates(tmp_path):
    fab = make_fabric(2, 1)
    path = write_dgn(tmp_path / "t.dgn", fab)
    back = pyogrio.read_dataframe(path)
    assert back.total_bounds[1] > 2_359_000 and back.total_bounds[3] < 2_360_000
    assert set(back["Level"]) == {10, 11, 2, 4}
