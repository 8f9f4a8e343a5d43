"""Checking and preparing one sheet before it is written (no store needed)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import CRS

from cadastre.load import (
    content_hash,
    new_uids,
    parcel_layer,
    prepare_sheet,
    read_parcel_layer,
    registry_crs,
    wkb_hex,
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
    geoms = shapely.from_wkb(prepared.rows["wkb"])
    assert set(shapely.get_type_id(geoms)) == {6}
    assert shapely.equals_exact(geoms, shapely.multipolygons(gdf.geometry.to_numpy()[:, None]), tolerance=0).all()
    assert np.allclose(prepared.rows["area_m2"], 1_000_000 / 6)
    assert prepared.extent.equals(shapely.box(*SHEET.extent))


def test_the_hash_sees_every_field():
    wkb = wkb_hex(shapely.box(0, 0, 1, 1))
    base = content_hash(1, "LUC", "thôn A", wkb)
    assert base == content_hash(1, "LUC", "thôn A", wkb)
    assert len({base, content_hash(2, "LUC", "thôn A", wkb), content_hash(1, "ONT", "thôn A", wkb),
                content_hash(1, "LUC", "thôn B", wkb),
                content_hash(1, "LUC", "thôn A", wkb_hex(shapely.box(0, 0, 1, 1.001)))}) == 5


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
    geom = shapely.from_wkb(prepare_sheet("10001", SHEET.number, _rows(gdf)).rows["wkb"][0])
    assert geom.is_valid and geom.geom_type == "MultiPolygon" and geom.area > 0


def test_epsg_tm3_maps_to_the_registry_crs():
    assert srid_of(registry_crs(CRS.from_epsg(9214))) == 980700
    assert registry_crs(CRS.from_epsg(4326)) == CRS.from_epsg(4326)


def test_missing_text_values_are_none_not_nan():
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=1, cols=3)
    gdf["owner_id"] = ["001", None, float("nan")]
    gdf["address"] = ["  thôn A ", "", None]
    rows = prepare_sheet("10001", SHEET.number, _rows(gdf)).rows
    assert rows["owner_id"].tolist() == ["001", None, None]
    assert rows["address"].tolist() == ["thôn A", None, None]


def test_wkb_hex_is_shapelys_hex_wkb():
    geoms = np.array([shapely.box(0, 0, 1, 1), shapely.MultiPolygon([shapely.box(2, 2, 3, 3.5)])])
    assert list(wkb_hex(geoms)) == list(shapely.to_wkb(geoms, hex=True, byte_order=1))
    assert wkb_hex(geoms[0]) == shapely.to_wkb(geoms[0], hex=True, byte_order=1)


def test_geometries_read_from_a_geopackage_keep_their_wkb(tmp_path):
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=2, cols=2)
    gdf.loc[1, "geometry"] = shapely.MultiPolygon([gdf.geometry.iloc[1]])
    gdf.loc[2, "geometry"] = shapely.Polygon([(x, y, 5.0) for x, y in gdf.geometry.iloc[2].exterior.coords])
    to_vector(gdf, tmp_path / "p.gpkg", "parcels")
    layer = read_parcel_layer(tmp_path / "p.gpkg")
    rows = prepare_sheet("10001", SHEET.number, layer.rows).rows
    expect = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([shapely.force_2d(g)])
              for g in gdf.geometry]
    assert list(rows["wkb"]) == list(shapely.to_wkb(expect, byte_order=1))  # a 3D polygon loses its Z
    assert list(rows["content_hash"]) == [
        content_hash(n, lu, None, wkb_hex(g)) for n, lu, g in zip(gdf.parcel_no, gdf.land_use, expect)]


def test_new_uids_are_unique_and_increasing():
    uids = new_uids(5000)
    assert len(set(uids)) == 5000 and uids == sorted(uids) and {len(u) for u in uids} == {32}
    later = new_uids(3)
    assert later[0] > uids[-1] or later[0][:12] == uids[-1][:12]  # same millisecond: no order promised


def test_a_parcel_number_beyond_the_integer_column_is_refused():
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=1, cols=2)
    gdf.loc[1, "parcel_no"] = 2**31
    with pytest.raises(InputError, match="parcel number 2147483648 is out of range"):
        prepare_sheet("10001", SHEET.number, _rows(gdf))
