"""The register on both stores: init, migrations, load with history, idempotency, refusals."""

from __future__ import annotations

import pyogrio
import pytest
import shapely
from sqlalchemy import func, inspect, select, text

from cadastre.load import load_parcels
from cadastre.register import SCHEMA_VERSION, init_register, open_register
from cadastre.synthetic import tiled_parcels
from gis.crs import resolve_crs
from gis.errors import CRSError, MissingFileError, StoreError
from gis.sheets import sheet_at

CRS_BG = resolve_crs("vn2000:bac-giang")
SHEETS = [sheet_at(560500 + 1000 * i, 2359500, 2000) for i in range(3)]


def _layer(rows: int = 6, cols: int = 5):
    return tiled_parcels(SHEETS, crs=CRS_BG, rows=rows, cols=cols, commune_code="10001")


def _count(reg, table: str, where: str = "1=1") -> int:
    with reg.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one()


@pytest.fixture
def reg(store_url):
    r = init_register(store_url, CRS_BG)
    yield r
    r.dispose()


def test_init_creates_the_schema_and_keeps_its_crs(store_url):
    reg = init_register(store_url, CRS_BG)
    assert reg.srid == 980700
    assert _count(reg, "land_use_class") > 50
    assert _count(reg, "schema_version") == SCHEMA_VERSION
    reg.dispose()
    with pytest.raises(CRSError, match="not VN-2000 / TM-3 105-00"):
        init_register(store_url, resolve_crs("vn2000:ha-noi"))
    again = init_register(store_url, None)  # idempotent, CRS from the store
    assert again.srid == 980700 and _count(again, "schema_version") == SCHEMA_VERSION
    again.dispose()


def test_open_refuses_a_store_without_register(store_url):
    if store_url.endswith(".gpkg"):
        with pytest.raises(MissingFileError, match="does not exist"):
            open_register(store_url)
    else:
        with pytest.raises(StoreError, match="holds no land register"):
            open_register(store_url)


def test_init_upgrades_an_older_store(store_url):
    old = init_register(store_url, CRS_BG, target=1)
    assert _count(old, "schema_version") == 1
    old.dispose()
    with pytest.raises(StoreError, match="schema is version 1"):
        open_register(store_url)
    new = init_register(store_url, None)
    assert _count(new, "schema_version") == SCHEMA_VERSION
    assert _count(new, "parcel_current") == 0
    new.dispose()


def test_load_then_reload_keeps_history_and_is_idempotent(reg):
    gdf = _layer()
    first = load_parcels(reg, gdf, source_ref="first.gpkg")
    assert first.totals()["inserted"] == 90 and [s.status for s in first.sheets] == ["loaded"] * 3
    assert _count(reg, "parcel_current") == 90
    sources, txns = _count(reg, "source"), _count(reg, "edit_transaction")

    same = load_parcels(reg, gdf, source_ref="first.gpkg")
    assert same.totals() == {"inserted": 0, "changed": 0, "retired": 0, "unchanged": 90, "owners_changed": 0,
                             "kept_edits": 0}
    assert (_count(reg, "parcel"), _count(reg, "source"), _count(reg, "edit_transaction")) == (90, sources, txns)

    gdf2 = gdf.copy()
    target = gdf2.index[(gdf2.sheet_no == SHEETS[0].number) & (gdf2.parcel_no == 3)][0]
    gdf2.loc[target, "land_use"] = "ODT" if gdf2.loc[target, "land_use"] != "ODT" else "ONT"
    gone = gdf2.index[(gdf2.sheet_no == SHEETS[1].number) & (gdf2.parcel_no == 7)][0]
    gdf2 = gdf2.drop(index=gone)
    second = load_parcels(reg, gdf2, source_ref="second.gpkg")
    by_sheet = {s.sheet_no: s for s in second.sheets}
    assert by_sheet[SHEETS[0].number].changed == 1 and by_sheet[SHEETS[0].number].unchanged == 29
    assert by_sheet[SHEETS[1].number].retired == 1
    assert by_sheet[SHEETS[2].number].status == "unchanged"
    assert _count(reg, "parcel_current") == 89
    assert _count(reg, "parcel") == 91  # the old version of parcel 3 is kept
    with reg.engine.connect() as conn:
        versions = conn.execute(text(
            "SELECT version, land_use, end_lifespan IS NULL FROM parcel"
            " WHERE sheet_no = :s AND parcel_no = 3 ORDER BY version"), {"s": SHEETS[0].number}).all()
        uids = conn.execute(text("SELECT count(DISTINCT parcel_uid) FROM parcel"
                                 " WHERE sheet_no = :s AND parcel_no = 3"), {"s": SHEETS[0].number}).scalar_one()
    assert [(v[0], bool(v[2])) for v in versions] == [(1, False), (2, True)]
    assert versions[1][1] == gdf2.loc[target, "land_use"] and uids == 1
    assert _count(reg, "map_sheet") == 3


def test_coordinates_survive_the_store_unchanged(reg):
    gdf = tiled_parcels([SHEETS[0]], crs=CRS_BG, rows=3, cols=3, commune_code="10001")
    gdf.loc[0, "geometry"] = shapely.Polygon([(560000.123, 2359999.987), (560333.331, 2359999.987),
                                              (560333.331, 2359666.669), (560000.123, 2359666.669)])
    load_parcels(reg, gdf, source_ref="x")
    parcel = reg.table("parcel")
    with reg.engine.connect() as conn:
        geom = conn.execute(select(parcel.c.geom).where(parcel.c.parcel_no == 1)).scalar_one()
    assert geom.geom_type == "MultiPolygon"
    assert shapely.equals_exact(geom.geoms[0], gdf.geometry.iloc[0], tolerance=0)


def test_a_sheet_number_that_does_not_match_its_extent_is_refused(reg):
    gdf = _layer()
    wrong = sheet_at(575500, 2359500, 2000).number  # 15 km east of the parcels
    gdf.loc[gdf.sheet_no == SHEETS[2].number, "sheet_no"] = wrong
    report = load_parcels(reg, gdf, source_ref="x")
    refused = report.refused
    assert [s.sheet_no for s in refused] == [wrong]
    assert "does not match its extent" in refused[0].reason
    assert _count(reg, "parcel_current") == 60


def test_duplicate_numbers_and_unnumbered_parcels(reg):
    gdf = _layer()
    gdf["parcel_no"] = gdf["parcel_no"].astype("Int64")
    first = gdf.index[gdf.sheet_no == SHEETS[0].number]
    gdf.loc[first[1], "parcel_no"] = 1
    gdf.loc[gdf.index[gdf.sheet_no == SHEETS[1].number][0], "parcel_no"] = None
    report = load_parcels(reg, gdf, source_ref="x")
    assert [s.sheet_no for s in report.refused] == [SHEETS[0].number]
    assert "1 appear more than once" in report.refused[0].reason
    assert report.unnumbered == 1
    assert _count(reg, "parcel_current") == 59


def test_a_sheet_in_another_crs_is_reprojected(reg):
    hanoi = resolve_crs("vn2000:ha-noi")
    from pyproj import Transformer
    tr = Transformer.from_crs(CRS_BG, hanoi, always_xy=True)
    e, n = tr.transform(560500, 2359500)
    sheet = sheet_at(e, n, 2000)
    gdf = tiled_parcels([sheet], crs=hanoi, rows=2, cols=2, commune_code="10001")
    report = load_parcels(reg, gdf, source_ref="x")
    assert report.reprojected_from == hanoi.name
    assert report.totals()["inserted"] == 4
    parcel = reg.table("parcel")
    with reg.engine.connect() as conn:
        geoms = conn.execute(select(parcel.c.geom).order_by(parcel.c.parcel_no)).scalars().all()
    back = Transformer.from_crs(hanoi, CRS_BG, always_xy=True)
    expect = back.transform(*gdf.geometry.iloc[0].exterior.coords[0])
    assert shapely.Point(expect).distance(geoms[0].boundary) < 1e-6
    assert abs(geoms[0].area - gdf.geometry.iloc[0].area) / gdf.geometry.iloc[0].area < 0.01
    again = load_parcels(reg, gdf, source_ref="x")
    assert again.totals()["unchanged"] == 4


def test_owners_go_to_party_and_rrr_with_history(reg):
    gdf = _layer(2, 2).iloc[:4].copy()
    gdf["owner_name"] = ["Nguyễn Văn A", "Trần Thị B", "Nguyễn Văn A", None]
    gdf["owner_id"] = ["001", "002", "001", None]
    report = load_parcels(reg, gdf, source_ref="x")
    assert report.totals()["owners_changed"] == 3
    assert _count(reg, "party") == 2 and _count(reg, "rrr", "end_lifespan IS NULL") == 3
    assert load_parcels(reg, gdf, source_ref="x").totals()["owners_changed"] == 0
    gdf.loc[gdf.index[1], ["owner_name", "owner_id"]] = ["Lê Văn C", "003"]
    assert load_parcels(reg, gdf, source_ref="x").totals()["owners_changed"] == 1
    assert _count(reg, "rrr") == 4 and _count(reg, "rrr", "end_lifespan IS NULL") == 3
    assert _count(reg, "parcel") == 4  # the parcels themselves did not change


def test_the_geopackage_store_opens_as_a_geopackage(tmp_path):
    path = tmp_path / "store.gpkg"
    reg = init_register(path, CRS_BG)
    load_parcels(reg, _layer(), source_ref="x")
    reg.dispose()
    layers = dict(pyogrio.list_layers(path))
    assert layers["parcel"] == "MultiPolygon" and layers["parcel_current"] == "MultiPolygon"
    df = pyogrio.read_dataframe(path, layer="parcel_current")
    assert len(df) == 90 and df.crs is not None
    with init_register(path, None).engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(text("rtree_parcel_geom"))).scalar_one() == 90


def test_text_values_survive_the_store_exactly(reg):
    gdf = tiled_parcels([SHEETS[0]], crs=CRS_BG, rows=1, cols=4, commune_code="10001")
    addresses = ["thôn Đông\txóm 2", "a\\b\nc", None, "ngõ 5, \"Bắc\" 'Giang'"]
    land_uses = ["LUC", None, "ONT", "ODT"]
    gdf["address"], gdf["land_use"] = addresses, land_uses
    load_parcels(reg, gdf, source_ref="x")
    with reg.engine.connect() as conn:
        rows = conn.execute(text("SELECT parcel_no, address, land_use FROM parcel ORDER BY parcel_no")).all()
    assert [tuple(r) for r in rows] == list(zip([1, 2, 3, 4], addresses, land_uses))
    assert load_parcels(reg, gdf, source_ref="x").totals()["unchanged"] == 4


def test_upgrade_rebuilds_the_sheet_indexes_sheet_number_first(store_url):
    old = init_register(store_url, CRS_BG, target=2)
    with old.engine.begin() as conn:  # the indexes as version 2 built them
        conn.execute(text("DROP INDEX ix_parcel_sheet"))
        conn.execute(text("DROP INDEX ix_parcel_key_current"))
        conn.execute(text("CREATE INDEX ix_parcel_sheet ON parcel (commune_code, sheet_no)"))
        conn.execute(text("CREATE UNIQUE INDEX ix_parcel_key_current ON parcel (commune_code, sheet_no, parcel_no)"
                          " WHERE end_lifespan IS NULL"))
    load_parcels(old, _layer(2, 2), source_ref="x")
    old.dispose()
    new = init_register(store_url, None)
    with new.engine.connect() as conn:
        columns = {i["name"]: i["column_names"] for i in inspect(conn).get_indexes("parcel")}
    assert columns["ix_parcel_sheet"] == ["sheet_no"]
    assert columns["ix_parcel_key_current"] == ["sheet_no", "parcel_no", "commune_code"]
    assert load_parcels(new, _layer(2, 2), source_ref="x").totals()["unchanged"] == 12
    new.dispose()
