"""Checking and preparing one sheet before it is written (no store needed)."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest
import shapely
from pyproj import CRS

from cadastre.load import (
    _convex_rings,
    _heads,
    content_hash,
    new_uids,
    parcel_layer,
    prepare_sheet,
    read_parcel_layer,
    registry_crs,
)
from cadastre.synthetic import tiled_parcels
from gis.crs import resolve_crs, srid_of
from gis.errors import InputError
from gis.io import to_vector
from gis.sheets import sheet_at

CRS_BG = resolve_crs("vn2000:bac-giang")
SHEET = sheet_at(560500, 2359500, 2000)


def _rows(gdf):
    return parcel_layer(gdf).rows


def test_a_good_sheet_is_prepared_as_multipolygons():
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=2, cols=3)
    prepared = prepare_sheet("10001", SHEET.number, _rows(gdf))
    assert prepared.scale == 2000 and len(prepared) == 6
    geoms = shapely.from_wkb(prepared.rows["wkb"].to_numpy())
    assert set(shapely.get_type_id(geoms)) == {6}
    assert shapely.equals_exact(geoms, shapely.multipolygons(gdf.geometry.to_numpy()[:, None]), tolerance=0).all()
    assert np.allclose(prepared.rows["area_m2"].to_numpy(), 1_000_000 / 6)
    assert prepared.extent.equals(shapely.box(*SHEET.extent))


def test_the_hash_sees_every_field():
    geom = shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])
    base = content_hash(1, "LUC", "thôn A", geom)
    assert base == content_hash(1, "LUC", "thôn A", geom)
    assert len({base, content_hash(2, "LUC", "thôn A", geom), content_hash(1, "ONT", "thôn A", geom),
                content_hash(1, "LUC", "thôn B", geom), content_hash(1, "LUC", None, geom),
                content_hash(1, "LUC", "thôn A", shapely.MultiPolygon([shapely.box(0, 0, 1, 1.001)]))}) == 6


def test_the_hash_is_md5_of_the_fields_and_the_hex_wkb():
    """The stored hashes of earlier loads stay valid: the definition does not move."""
    geom = shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])
    text = "7|LUC||" + shapely.to_wkb(geom, hex=True, byte_order=1)
    assert content_hash(7, "LUC", None, geom) == hashlib.md5(text.encode()).hexdigest()


def test_a_sheet_far_from_its_number_is_refused():
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=2, cols=2)
    other = sheet_at(560500, 2362500, 2000).number
    with pytest.raises(InputError, match=f"sheet number {other} does not match its extent: 4 of 4"):
        prepare_sheet("10001", other, _rows(gdf))


def test_a_parcel_slightly_over_the_frame_is_accepted():
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=2, cols=2)
    gdf.loc[0, "geometry"] = shapely.affinity.translate(gdf.geometry.iloc[0], xoff=-5)
    assert len(prepare_sheet("10001", SHEET.number, _rows(gdf))) == 4


def test_an_unreadable_sheet_number_is_refused():
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=1, cols=1)
    with pytest.raises(InputError, match="not a sheet number"):
        prepare_sheet("10001", "tờ 12", _rows(gdf))


def test_an_invalid_polygon_is_repaired():
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=1, cols=2)
    x0, y0, x1, y1 = gdf.geometry.iloc[0].bounds
    gdf.loc[0, "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # bow-tie
    geom = shapely.from_wkb(prepare_sheet("10001", SHEET.number, _rows(gdf)).rows["wkb"][0].as_py())
    assert geom.is_valid and geom.geom_type == "MultiPolygon" and geom.area > 0


def test_epsg_tm3_maps_to_the_registry_crs():
    assert srid_of(registry_crs(CRS.from_epsg(9214))) == 980700
    assert registry_crs(CRS.from_epsg(4326)) == CRS.from_epsg(4326)


def test_missing_text_values_are_none_not_nan():
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=1, cols=3)
    gdf["owner_id"] = ["001", None, float("nan")]
    gdf["address"] = ["  thôn A ", "", None]
    rows = prepare_sheet("10001", SHEET.number, _rows(gdf)).rows
    assert rows["owner_id"].to_pylist() == ["001", None, None]
    assert rows["address"].to_pylist() == ["thôn A", None, None]


def test_geometries_read_from_a_geopackage_keep_their_wkb(tmp_path):
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=2, cols=2)
    gdf.loc[1, "geometry"] = shapely.MultiPolygon([gdf.geometry.iloc[1]])
    gdf.loc[2, "geometry"] = shapely.Polygon([(x, y, 5.0) for x, y in gdf.geometry.iloc[2].exterior.coords])
    to_vector(gdf, tmp_path / "p.gpkg", "parcels")
    layer = read_parcel_layer(tmp_path / "p.gpkg")
    rows = prepare_sheet("10001", SHEET.number, layer.rows).rows
    expect = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([shapely.force_2d(g)])
              for g in gdf.geometry]
    assert rows["wkb"].to_pylist() == list(shapely.to_wkb(expect, byte_order=1))  # a 3D polygon loses its Z
    assert rows["content_hash"].to_pylist() == [
        content_hash(n, lu, None, g) for n, lu, g in zip(gdf.parcel_no, gdf.land_use, expect)]


def test_new_uids_are_unique_and_increasing():
    uids = new_uids(5000).to_pylist()
    assert len(set(uids)) == 5000 and uids == sorted(uids) and {len(u) for u in uids} == {32}
    later = new_uids(3).to_pylist()
    assert later[0] > uids[-1] or later[0][:12] == uids[-1][:12]  # same millisecond: no order promised


def test_a_parcel_number_beyond_the_integer_column_is_refused():
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=1, cols=2)
    gdf.loc[1, "parcel_no"] = 2**31
    with pytest.raises(InputError, match="parcel number 2147483648 is out of range"):
        prepare_sheet("10001", SHEET.number, _rows(gdf))


def _shapes() -> tuple[list[shapely.Geometry], list[shapely.Geometry]]:
    """Convex polygons (random hulls, both ways round, some as one-part multipolygons) and
    polygons that are not a single convex ring, at VN-2000 coordinates (where rounding bites)."""
    rng = np.random.default_rng(5)
    x, y = 560600.0, 2359600.0
    convex = []
    for _ in range(300):
        scale = rng.choice([0.001, 1.0, 50.0])
        hull = shapely.convex_hull(shapely.MultiPoint(rng.normal(size=(rng.integers(3, 12), 2)) * scale + (x, y)))
        if hull.geom_type == "Polygon":
            convex += [hull, hull.reverse(), shapely.MultiPolygon([hull])]
    square = [(x, y), (x + 10, y), (x + 10, y + 10), (x, y + 10)]
    other = [
        shapely.Polygon([(x, y), (x + 10, y + 10), (x + 10, y), (x, y + 10)]),  # bow-tie
        shapely.Polygon([(x + 10 * np.cos(a), y + 10 * np.sin(a))  # pentagram: every turn alike, around twice
                         for a in np.arange(5) * 4 * np.pi / 5]),
        shapely.Polygon([(x, y), (x + 20, y), (x + 20, y + 10), (x + 10, y + 10), (x + 10, y + 20), (x, y + 20)]),
        shapely.Polygon([(x, y), (x + 5, y), (x + 10, y), (x + 10, y + 10), (x, y + 10)]),  # a point on an edge
        shapely.Polygon([(x, y), (x + 10, y), (x + 10, y), (x + 10, y + 10), (x, y + 10)]),  # a repeated point
        shapely.Polygon([(x, y), (x + 10, y), (x + 10, y + 10), (x + 10, y + 20), (x + 10, y + 10), (x, y + 10)]),
        shapely.Polygon([(x, y), (x + 1, y + 1e-11), (x + 2, y), (x + 1, y + 5)]),  # a turn too slight to be sure of
        shapely.Polygon(square, [[(x + 2, y + 2), (x + 4, y + 2), (x + 4, y + 4)]]),  # a hole
        shapely.MultiPolygon([shapely.Polygon(square), shapely.box(x + 20, y, x + 30, y + 10)]),
        shapely.Polygon([(px, py, 5.0) for px, py in square]),  # 3D
        shapely.Polygon([(x, y), (x + 10, y), (x, y + 1e-30)]),  # degenerate
    ]
    return convex, other


def test_convex_rings_are_read_from_the_wkb_as_geos_reads_them():
    convex, other = _shapes()
    wkb = pa.array(shapely.to_wkb(convex + other, byte_order=1), type=pa.binary())
    fast, bounds, area = _convex_rings(wkb, _heads(wkb))
    geoms = np.array(convex + other)
    assert fast[:len(convex)].mean() > 0.9 and not fast[len(convex):].any()
    assert shapely.is_valid(geoms[fast]).all()
    assert np.array_equal(bounds[fast], shapely.bounds(geoms[fast]))
    assert np.array_equal(area[fast], shapely.area(geoms[fast]))  # bit for bit: stored areas do not depend on the path


def test_a_sheet_mixing_both_paths_keeps_geos_areas():
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=2, cols=3)
    x0, y0, x1, y1 = gdf.geometry.iloc[0].bounds
    gdf.loc[0, "geometry"] = shapely.Polygon([(x0, y0), (x1, y0), (x1, y1), ((x0 + x1) / 2, (y0 + y1) / 2), (x0, y1)])
    rows = prepare_sheet("10001", SHEET.number, _rows(gdf)).rows
    assert np.array_equal(rows["area_m2"].to_numpy(), shapely.area(gdf.geometry.to_numpy()))
    assert rows["wkb"].to_pylist() == list(shapely.to_wkb(shapely.multipolygons(gdf.geometry.to_numpy()[:, None]),
                                                          byte_order=1))
