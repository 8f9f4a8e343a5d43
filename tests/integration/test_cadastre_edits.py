"""Queries and edits, the same on GeoPackage and PostGIS: history, locking, refusals."""

from __future__ import annotations

import threading
import time

import pytest
import shapely
from sqlalchemy import text

from cadastre.edits import (
    SourceDoc,
    change_owner,
    merge_parcels,
    move_boundary,
    set_land_use,
    split_parcel,
)
from cadastre.load import load_parcels
from cadastre.queries import (
    ParcelRef,
    parcel_by_number,
    parcel_history,
    parcels_at_point,
    parcels_by_address,
    parcels_in_area,
)
from cadastre.register import init_register, utcnow
from cadastre.synthetic import tiled_parcels
from gis.crs import resolve_crs
from gis.errors import ConflictError, NotFoundError, TopologyError
from gis.sheets import sheet_at

CRS_BG = resolve_crs("vn2000:bac-giang")
SHEET = sheet_at(560500, 2359500, 2000)  # E 560000-561000, N 2359000-2360000
C = "10001"
DOC = SourceDoc("decision", "QĐ 123/2026", officer="officer A")


def ref(no: int) -> str:
    return f"{C}/{SHEET.number}/{no}"


@pytest.fixture
def reg(store_url):
    r = init_register(store_url, CRS_BG)
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=4, cols=4, commune_code=C)  # 250 m squares
    gdf["land_use"] = "LUC"
    gdf["address"] = [f"thôn Đông {i % 2}, xã Tân Sơn" for i in range(16)]
    gdf["owner_name"] = "Nguyễn Văn A"
    gdf["owner_id"] = "0011"
    load_parcels(r, gdf, source_ref="sheets.gpkg")
    yield r
    r.dispose()


def _count(reg, sql: str) -> int:
    with reg.engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_lookups(reg):
    p = parcel_by_number(reg, C, SHEET.number, 6)
    assert p.version == 1 and p.area_m2 == pytest.approx(62500) and p.land_use == "LUC"
    # parcel 6: row 1, col 1 -> E 560250-560500, N 2359500-2359750
    assert [v.parcel_no for v in parcels_at_point(reg, 560300, 2359600)] == [6]
    assert [v.parcel_no for v in parcels_at_point(reg, 560250, 2359600)] == [5, 6]  # on the boundary
    assert parcels_at_point(reg, 559000, 2359600) == []
    found = parcels_by_address(reg, "THÔN ĐÔNG 1")
    assert [v.parcel_no for v in found] == [2, 4, 6, 8, 10, 12, 14, 16]
    area = parcels_in_area(reg, (560100, 2359100, 560400, 2359400))
    assert [v.parcel_no for v in area] == [9, 10, 13, 14]
    with pytest.raises(NotFoundError, match="no parcel"):
        parcel_by_number(reg, C, SHEET.number, 99)


def test_split_keeps_history_and_lineage(reg):
    before = utcnow()
    time.sleep(0.01)
    line = shapely.LineString([(560375, 2359800), (560375, 2359400)])  # cuts parcel 6 in two halves
    result = split_parcel(reg, ref(6), line, expect_version=1, source=DOC)
    assert [c["parcel_no"] for c in result.created] == [17, 18]
    assert [round(c["area_m2"]) for c in result.created] == [31250, 31250]
    with pytest.raises(NotFoundError):
        parcel_by_number(reg, C, SHEET.number, 6)
    assert [v.parcel_no for v in parcels_at_point(reg, 560300, 2359600)] == [17]
    assert [v.parcel_no for v in parcels_at_point(reg, 560300, 2359600, at=before)] == [6]
    assert {v.parcel_no for v in parcels_in_area(reg, (560260, 2359510, 560490, 2359740), at=before)} == {6}
    history = parcel_history(reg, ParcelRef(C, SHEET.number, 6))
    assert len(history.versions) == 1 and history.versions[0].end_lifespan is not None
    assert [c["ref"] for c in history.children] == [ref(17), ref(18)]
    assert [t["kind"] for t in history.transactions] == ["load", "split"]
    assert history.transactions[1]["source_reference"] == "QĐ 123/2026"
    child = parcel_history(reg, ParcelRef(C, SHEET.number, 17))
    assert [p["ref"] for p in child.parents] == [ref(6)] and child.parents[0]["kind"] == "split"
    assert [o["name"] for o in child.owners] == ["Nguyễn Văn A"]  # rights carried to the children


def test_split_refusals_change_nothing(reg):
    n = _count(reg, "SELECT count(*) FROM parcel")
    txns = _count(reg, "SELECT count(*) FROM edit_transaction")
    outside = shapely.LineString([(561500, 2359800), (561500, 2359400)])
    with pytest.raises(TopologyError, match="does not cross parcel"):
        split_parcel(reg, ref(6), outside, expect_version=1, source=DOC)
    into = shapely.LineString([(560375, 2359800), (560375, 2359600)])  # enters, never leaves
    with pytest.raises(TopologyError, match="does not cross parcel"):
        split_parcel(reg, ref(6), into, expect_version=1, source=DOC)
    with pytest.raises(ConflictError, match="at version 1, not 2"):
        split_parcel(reg, ref(6), shapely.LineString([(560375, 2359800), (560375, 2359400)]),
                     expect_version=2, source=DOC)
    assert _count(reg, "SELECT count(*) FROM parcel") == n
    assert _count(reg, "SELECT count(*) FROM edit_transaction") == txns
    assert _count(reg, "SELECT count(*) FROM parcel WHERE end_lifespan IS NULL") == 16


def test_merge(reg):
    result = merge_parcels(reg, [ref(6), ref(7)], expect_versions=[1, 1], source=DOC)
    assert result.created[0]["parcel_no"] == 17 and result.created[0]["area_m2"] == pytest.approx(125000)
    merged = parcel_by_number(reg, C, SHEET.number, 17)
    assert merged.geom.equals(shapely.box(560250, 2359500, 560750, 2359750))
    history = parcel_history(reg, ParcelRef(parcel_uid=merged.parcel_uid))
    assert sorted(p["ref"] for p in history.parents) == [ref(6), ref(7)]


def test_merge_of_parcels_that_do_not_touch_is_refused(reg):
    with pytest.raises(TopologyError, match="must share boundaries"):
        merge_parcels(reg, [ref(1), ref(16)], expect_versions=[1, 1], source=DOC)
    with pytest.raises(TopologyError, match="must share boundaries"):  # corner only
        merge_parcels(reg, [ref(1), ref(6)], expect_versions=[1, 1], source=DOC)
    assert _count(reg, "SELECT count(*) FROM parcel WHERE end_lifespan IS NULL") == 16
    assert _count(reg, "SELECT count(*) FROM parcel_lineage") == 0


def test_boundary_move(reg):
    new6 = shapely.box(560250, 2359500, 560550, 2359750)  # 6 takes a 50 m strip of 7
    result = move_boundary(reg, ref(6), ref(7), new6, expect_versions=(1, 1), source=DOC)
    assert [(c["parcel_no"], c["version"]) for c in result.created] == [(6, 2), (7, 2)]
    p6, p7 = parcel_by_number(reg, C, SHEET.number, 6), parcel_by_number(reg, C, SHEET.number, 7)
    assert p6.area_m2 == pytest.approx(75000) and p7.area_m2 == pytest.approx(50000)
    assert p6.geom.union(p7.geom).equals(shapely.box(560250, 2359500, 560750, 2359750))
    grab = shapely.box(560250, 2359450, 560550, 2359750)  # also reaches into parcel 10
    with pytest.raises(TopologyError, match=f"would overlap parcel {ref(10)}"):
        move_boundary(reg, ref(6), ref(7), grab, expect_versions=(2, 2), source=DOC)
    assert parcel_by_number(reg, C, SHEET.number, 6).version == 2


def test_land_use_and_owner_changes(reg):
    set_land_use(reg, ref(3), "ONT", expect_version=1, source=DOC)
    change_owner(reg, ref(3), name="Trần Thị B", id_number="0022", expect_version=2, source=DOC)
    p = parcel_by_number(reg, C, SHEET.number, 3)
    assert (p.version, p.land_use) == (3, "ONT")
    history = parcel_history(reg, ParcelRef(C, SHEET.number, 3))
    assert [v.land_use for v in history.versions] == ["LUC", "ONT", "ONT"]
    assert [o["name"] for o in history.owners] == ["Nguyễn Văn A", "Trần Thị B"]
    assert history.owners[0]["end_lifespan"] is not None and history.owners[1]["end_lifespan"] is None
    with pytest.raises(ConflictError):
        set_land_use(reg, ref(3), "CLN", expect_version=2, source=DOC)


def test_two_officers_edit_the_same_parcel(reg):
    """Both read version 1; whoever commits second gets a conflict and loses nothing."""
    outcomes: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def officer(name: str, code: str) -> None:
        barrier.wait()
        try:
            outcomes[name] = set_land_use(reg, ref(8), code, expect_version=1,
                                          source=SourceDoc("decision", f"QĐ {name}", officer=name))
        except ConflictError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=officer, args=(n, c)) for n, c in (("A", "ONT"), ("B", "CLN"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [n for n, o in outcomes.items() if not isinstance(o, Exception)]
    losers = [n for n, o in outcomes.items() if isinstance(o, ConflictError)]
    assert len(winners) == 1 and len(losers) == 1
    p = parcel_by_number(reg, C, SHEET.number, 8)
    assert p.version == 2 and p.land_use == {"A": "ONT", "B": "CLN"}[winners[0]]
    assert _count(reg, "SELECT count(*) FROM edit_transaction WHERE kind = 'land_use'") == 1
    # the loser redoes the edit on the version it now sees, and nothing was lost
    loser = losers[0]
    set_land_use(reg, ref(8), {"A": "ONT", "B": "CLN"}[loser], expect_version=2, source=DOC)
    assert [v.land_use for v in parcel_history(reg, ParcelRef(C, SHEET.number, 8)).versions] == \
        ["LUC", p.land_use, {"A": "ONT", "B": "CLN"}[loser]]


def _digitized(**land_use: str):
    """The fixture's sheet as digitized, with some parcels' land use changed (``p3="CLN"``)."""
    gdf = tiled_parcels([SHEET], crs=CRS_BG, rows=4, cols=4, commune_code=C)
    gdf["land_use"] = [land_use.get(f"p{n}", "LUC") for n in gdf.parcel_no]
    gdf["address"] = [f"thôn Đông {i % 2}, xã Tân Sơn" for i in range(16)]
    return gdf


def test_a_reload_keeps_the_edits_made_in_the_register(reg):
    set_land_use(reg, ref(3), "ONT", expect_version=1, source=DOC)
    split_parcel(reg, ref(6), shapely.LineString([(560375, 2359800), (560375, 2359400)]), expect_version=1,
                 source=DOC)  # 6 -> 17, 18
    rows = _count(reg, "SELECT count(*) FROM parcel")

    same = load_parcels(reg, _digitized(), source_ref="sheets.gpkg").sheets[0]
    assert (same.status, same.kept_edits, same.changed, same.inserted) == ("unchanged", 4, 0, 0)
    assert parcel_by_number(reg, C, SHEET.number, 3).land_use == "ONT"
    assert [v.parcel_no for v in parcels_at_point(reg, 560300, 2359600)] == [17]  # parent 6 not back
    assert _count(reg, "SELECT count(*) FROM parcel") == rows

    # the input changes parcel 10, which no one edited: that change is loaded, the edits stay
    second = load_parcels(reg, _digitized(p10="CLN"), source_ref="second.gpkg").sheets[0]
    assert (second.status, second.changed, second.kept_edits) == ("loaded", 1, 4)
    assert parcel_by_number(reg, C, SHEET.number, 10).land_use == "CLN"
    assert parcel_by_number(reg, C, SHEET.number, 3).land_use == "ONT"
    again = load_parcels(reg, _digitized(p10="CLN"), source_ref="second.gpkg").sheets[0]
    assert (again.status, again.changed, again.kept_edits) == ("unchanged", 0, 4)
    assert parcel_by_number(reg, C, SHEET.number, 3).land_use == "ONT"


def test_an_input_change_to_an_edited_parcel_is_refused_unless_told(reg):
    set_land_use(reg, ref(3), "ONT", expect_version=1, source=DOC)
    rows = _count(reg, "SELECT count(*) FROM parcel")
    refused = load_parcels(reg, _digitized(p3="CLN", p10="CLN"), source_ref="second.gpkg").sheets[0]
    assert refused.status == "refused"
    assert "parcel(s) 3 were edited in the register" in refused.reason and "--overwrite-edits" in refused.reason
    assert _count(reg, "SELECT count(*) FROM parcel") == rows  # not even parcel 10 changed
    assert parcel_by_number(reg, C, SHEET.number, 10).land_use == "LUC"

    forced = load_parcels(reg, _digitized(p3="CLN", p10="CLN"), source_ref="second.gpkg",
                          overwrite_edits=True).sheets[0]
    assert (forced.status, forced.changed) == ("loaded", 2)
    assert [v.land_use for v in parcel_history(reg, ParcelRef(C, SHEET.number, 3)).versions] == ["LUC", "ONT", "CLN"]


def _owned(**owners: str):
    """The fixture's input, owners included, with some parcels' owner changed (``p5="Lê Văn C"``)."""
    gdf = _digitized()
    gdf["owner_name"] = [owners.get(f"p{n}", "Nguyễn Văn A") for n in gdf.parcel_no]
    gdf["owner_id"] = gdf["owner_name"].map({"Nguyễn Văn A": "0011", "Lê Văn C": "0033"})
    return gdf


def _owner(reg, no: int) -> str:
    return parcel_history(reg, ParcelRef(C, SHEET.number, no)).owners[-1]["name"]


def test_a_reload_keeps_an_owner_changed_in_the_register(reg):
    change_owner(reg, ref(5), name="Trần Thị B", id_number="0022", expect_version=1, source=DOC)
    same = load_parcels(reg, _owned(), source_ref="sheets.gpkg").sheets[0]
    assert (same.status, same.kept_edits, same.owners_changed) == ("unchanged", 1, 0)
    assert _owner(reg, 5) == "Trần Thị B"

    moved = load_parcels(reg, _owned(p6="Lê Văn C"), source_ref="second.gpkg").sheets[0]
    assert (moved.status, moved.owners_changed, moved.kept_edits) == ("loaded", 1, 1)
    assert (_owner(reg, 6), _owner(reg, 5)) == ("Lê Văn C", "Trần Thị B")

    rows = _count(reg, "SELECT count(*) FROM rrr")
    refused = load_parcels(reg, _owned(p5="Lê Văn C", p6="Lê Văn C"), source_ref="third.gpkg").sheets[0]
    assert refused.status == "refused" and "the owner of parcel(s) 5 was changed" in refused.reason
    assert _count(reg, "SELECT count(*) FROM rrr") == rows and _owner(reg, 5) == "Trần Thị B"
    forced = load_parcels(reg, _owned(p5="Lê Văn C", p6="Lê Văn C"), source_ref="third.gpkg",
                          overwrite_edits=True).sheets[0]
    assert (forced.status, forced.owners_changed) == ("loaded", 1) and _owner(reg, 5) == "Lê Văn C"


def test_a_sheet_loaded_before_loads_were_recorded_keeps_its_edits_too(store_url):
    old = init_register(store_url, CRS_BG, target=4)
    with old.engine.begin() as conn:  # map_sheet as schema 4 had it
        conn.execute(text("ALTER TABLE map_sheet DROP COLUMN loaded_at"))
        conn.execute(text("ALTER TABLE map_sheet DROP COLUMN kept_input"))
    old.dispose()
    reg = init_register(store_url, None)  # the upgrade adds them
    load_parcels(reg, _digitized(), source_ref="sheets.gpkg")
    set_land_use(reg, ref(3), "ONT", expect_version=1, source=DOC)
    with reg.engine.begin() as conn:  # as a sheet loaded by landrec before schema 5
        conn.execute(text("UPDATE map_sheet SET loaded_at = NULL"))
    same = load_parcels(reg, _digitized(), source_ref="sheets.gpkg").sheets[0]
    assert (same.status, same.kept_edits) == ("unchanged", 1)
    assert parcel_by_number(reg, C, SHEET.number, 3).land_use == "ONT"
    reg.dispose()


def test_officers_splitting_parcels_of_one_sheet_at_once_get_distinct_numbers(store_url):
    """Each split draws new numbers on the sheet: two at once must not draw the same ones."""
    reg = init_register(store_url, CRS_BG)
    load_parcels(reg, tiled_parcels([SHEET], crs=CRS_BG, rows=8, cols=8, commune_code=C), source_ref="s")
    errors = []
    go = threading.Barrier(2)

    def work(cols):
        try:
            for no in cols:  # 125 m squares numbered by rows from the north-west, each cut in two
                x0 = 560000 + ((no - 1) % 8) * 125
                y1 = 2360000 - ((no - 1) // 8) * 125
                go.wait(timeout=30)
                line = shapely.LineString([(x0 + 60, y1 + 10), (x0 + 60, y1 - 135)])
                split_parcel(reg, f"{C}/{SHEET.number}/{no}", line, expect_version=1, source=DOC)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            go.abort()

    threads = [threading.Thread(target=work, args=(range(first, 33, 2),)) for first in (1, 2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    numbers = [v.parcel_no for v in parcels_in_area(reg, (560000, 2359000, 561000, 2360000))]
    assert len(numbers) == len(set(numbers)) == 64 + 32 and max(numbers) == 64 + 64
    reg.dispose()
