"""Parcel by point after a bulk first load: the spatial index is there and used, the
answers and the stored content hashes are those of a row-by-row load."""

from __future__ import annotations

import pytest
import shapely
from sqlalchemy import text

from cadastre.load import content_hash, load_parcels
from cadastre.queries import parcels_at_point, point_statement
from cadastre.register import init_register
from cadastre.synthetic import tiled_parcels
from gis.crs import resolve_crs
from gis.sheets import sheet_at

CRS_BG = resolve_crs("vn2000:bac-giang")
SHEETS = [sheet_at(560500 + 1000 * i, 2359500, 2000) for i in range(2)]


@pytest.fixture
def loaded(store_url):
    reg = init_register(store_url, CRS_BG)
    gdf = tiled_parcels(SHEETS, crs=CRS_BG, rows=4, cols=5, commune_code="10001", seed=3)
    gdf["address"] = [f"thôn {i % 3}" if i % 2 else None for i in range(len(gdf))]
    load_parcels(reg, gdf, source_ref="first.gpkg")
    yield reg, gdf
    reg.dispose()


def test_point_inside_one_parcel_and_on_a_shared_edge(loaded):
    reg, gdf = loaded
    first = gdf.iloc[0]
    inner = first.geometry.representative_point()
    found = parcels_at_point(reg, inner.x, inner.y)
    assert [(p.sheet_no, p.parcel_no) for p in found] == [(first.sheet_no, int(first.parcel_no))]
    assert found[0].geom.covers(inner) and found[0].geom.geom_type == "MultiPolygon"
    min_x, min_y, max_x, max_y = first.geometry.bounds
    on_edge = parcels_at_point(reg, max_x, (min_y + max_y) / 2)  # parcels 1 and 2 share this edge
    assert [p.parcel_no for p in on_edge] == [1, 2]
    assert parcels_at_point(reg, min_x - 5000, min_y) == []


def test_stored_hashes_are_the_content_hash_of_the_stored_rows(loaded):
    reg, gdf = loaded
    with reg.engine.connect() as conn:
        rows = conn.execute(text("SELECT parcel_no, land_use, address, content_hash, sheet_no FROM parcel")).all()
    assert len(rows) == len(gdf)
    by_key = {(r.sheet_no, r.parcel_no): r for r in rows}
    for g in gdf.itertuples():
        r = by_key[(g.sheet_no, int(g.parcel_no))]
        address = g.address if isinstance(g.address, str) else None  # pandas reads None as NaN
        assert (r.land_use, r.address) == (g.land_use, address)
        multi = shapely.MultiPolygon([g.geometry])
        assert r.content_hash == content_hash(int(g.parcel_no), g.land_use, address, multi)


def test_the_point_query_is_answered_through_the_gist_index(pg_url):
    reg = init_register(pg_url, CRS_BG)
    try:
        gdf = tiled_parcels(SHEETS, crs=CRS_BG, rows=4, cols=5, commune_code="10001")
        load_parcels(reg, gdf, source_ref="first.gpkg")  # a bulk load: the index is built at the end
        p = gdf.geometry.iloc[0].representative_point()
        with reg.engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))
            name = point_statement(conn, None)
            for _ in range(6):  # past the executions after which a generic plan may be chosen
                assert len(parcels_at_point(reg, p.x, p.y, conn=conn)) == 1
            plan = "\n".join(conn.exec_driver_sql(
                f"EXPLAIN EXECUTE {name} (%(x)s, %(y)s, %(srid)s)", {"x": p.x, "y": p.y, "srid": reg.srid}
            ).scalars())
            method = conn.execute(text(
                "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam"
                " WHERE c.relname = 'idx_parcel_geom'")).scalar_one()
    finally:
        reg.dispose()
    assert "idx_parcel_geom" in plan, plan
    assert method == "gist"
