"""``landrec init``, ``landrec load`` and ``landrec parcel`` driven as a user would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from cadastre.synthetic import tiled_parcels
from gis.crs import resolve_crs
from gis.io import to_vector
from gis.sheets import sheet_at

LANDREC = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "landrec")
CRS_BG = resolve_crs("vn2000:bac-giang")
SHEETS = [sheet_at(560500 + 1000 * i, 2359500, 2000) for i in range(2)]


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([LANDREC, *args], check=False, capture_output=True, text=True)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def sheets_gpkg(tmp_path: Path) -> Path:
    path = tmp_path / "out.gpkg"
    gdf = tiled_parcels(SHEETS, crs=CRS_BG, rows=4, cols=5, commune_code="10001")
    gdf["address"] = [f"thôn Đồng {i % 3}, xã Tân Sơn" for i in range(len(gdf))]
    to_vector(gdf, path, "parcels")
    return path


def test_init_then_load_twice(tmp_path: Path, sheets_gpkg: Path):
    store = str(tmp_path / "store.gpkg")
    info = json.loads(run("init", "--crs", "vn2000:bac-giang", "--db", store, "--json").stdout)
    assert info["srid"] == 980700 and info["schema_version"] >= 2
    first = json.loads(run("load", str(sheets_gpkg), "--db", store, "--json").stdout)
    assert first["totals"]["inserted"] == 40
    second = json.loads(run("load", str(sheets_gpkg), "--db", store, "--json").stdout)
    assert second["totals"]["unchanged"] == 40 and second["totals"]["inserted"] == 0
    text = run("load", str(sheets_gpkg), "--db", store).stdout
    assert "total: 0 new, 0 changed, 0 retired, 40 unchanged" in text


def test_load_into_a_new_store_takes_the_input_crs(tmp_path: Path, sheets_gpkg: Path):
    store = str(tmp_path / "new.gpkg")
    run("load", str(sheets_gpkg), "--db", store)
    info = json.loads(run("init", "--crs", "vn2000:bac-giang", "--db", store, "--json").stdout)
    assert info["srid"] == 980700
    refused = run("init", "--crs", "vn2000:ha-noi", "--db", store, ok=False)
    assert refused.returncode == 2 and "keeps the CRS" in refused.stderr


def test_a_refused_sheet_exits_nonzero_and_says_why(tmp_path: Path):
    path = tmp_path / "bad.gpkg"
    gdf = tiled_parcels(SHEETS, crs=CRS_BG, rows=2, cols=2, commune_code="10001")
    gdf.loc[gdf.sheet_no == SHEETS[1].number, "sheet_no"] = "361600-1"
    to_vector(gdf, path, "parcels")
    proc = run("load", str(path), "--db", str(tmp_path / "s.gpkg"), ok=False)
    assert proc.returncode == 2
    assert "361600-1: REFUSED: sheet number 361600-1 does not match its extent" in proc.stdout
    assert "1 sheet(s) refused" in proc.stderr


def test_load_of_a_missing_file_is_a_clear_error(tmp_path: Path):
    proc = run("load", str(tmp_path / "nope.gpkg"), "--db", str(tmp_path / "s.gpkg"), ok=False)
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_parcel_show_split_history_and_conflict(tmp_path: Path, sheets_gpkg: Path):
    store = str(tmp_path / "store.gpkg")
    run("load", str(sheets_gpkg), "--db", store)
    sheet = SHEETS[0].number  # 200 m x 250 m parcels; parcel 7 is E 560200-560400, N 2359500-2359750
    ref = f"10001/{sheet}/7"
    shown = json.loads(run("parcel", "show", ref, "--db", store, "--json").stdout)
    assert shown["version"] == 1 and shown["geometry"]["type"] == "MultiPolygon"
    at = json.loads(run("parcel", "at", "560300", "2359600", "--db", store, "--json").stdout)
    assert [p["ref"] for p in at] == [ref]
    split = json.loads(run("parcel", "split", ref, "--line", "LINESTRING(560300 2359800, 560300 2359400)",
                           "--expect-version", "1", "--source", "QĐ 7/2026", "--officer", "B",
                           "--db", store, "--json").stdout)
    children = [c["ref"] for c in split["created"]]
    assert children == [f"10001/{sheet}/21", f"10001/{sheet}/22"]
    stale = run("parcel", "set-land-use", ref, "ONT", "--expect-version", "1", "--source", "x", "--db", store,
                ok=False)
    assert stale.returncode == 3 and "no parcel" in stale.stderr  # it was split: not current any more
    history = json.loads(run("parcel", "history", ref, "--db", store, "--json").stdout)
    assert [c["ref"] for c in history["children"]] == children
    assert history["transactions"][-1]["source_reference"] == "QĐ 7/2026"
    run("parcel", "set-land-use", children[0], "ONT", "--expect-version", "1", "--source", "x", "--db", store)
    conflict = run("parcel", "set-land-use", children[0], "CLN", "--expect-version", "1", "--source", "y",
                   "--db", store, ok=False)
    assert conflict.returncode == 4 and "at version 2, not 1" in conflict.stderr
    found = json.loads(run("parcel", "find", "THÔN ĐỒNG 1", "--db", store, "--json").stdout)
    assert found and all("Đồng 1" in p["address"] for p in found)
    old = json.loads(run("parcel", "area", "560250", "2359550", "560350", "2359650", "--at",
                         shown["begin_lifespan"], "--db", store, "--json").stdout)
    assert [f["properties"]["ref"] for f in old["features"]] == [ref]


def test_merge_of_parcels_apart_is_refused(tmp_path: Path, sheets_gpkg: Path):
    store = str(tmp_path / "store.gpkg")
    run("load", str(sheets_gpkg), "--db", store)
    sheet = SHEETS[0].number
    proc = run("parcel", "merge", f"10001/{sheet}/1", f"10001/{sheet}/20", "--expect-version", "1",
               "--expect-version", "1", "--source", "x", "--db", store, ok=False)
    assert proc.returncode == 2 and "must share boundaries" in proc.stderr
    merged = json.loads(run("parcel", "merge", f"10001/{sheet}/1", f"10001/{sheet}/2", "--expect-version", "1",
                            "--expect-version", "1", "--source", "x", "--db", store, "--json").stdout)
    assert merged["created"][0]["area_m2"] == pytest.approx(100000)


def test_reference_layers_need_a_register(tmp_path: Path):
    base = tmp_path / "base"
    base.mkdir()
    to_vector(gpd.GeoDataFrame({"zone_id": ["Z1"], "name": ["Khu A"], "planned_use": ["ONT"]},
                               geometry=[shapely.box(560100, 2359100, 560400, 2359400)], crs=CRS_BG),
              base / "planning.gpkg", "zones")
    store = str(tmp_path / "ref.gpkg")
    missing = run("load", str(base), "--reference", "--db", store, ok=False)
    assert missing.returncode == 2 and "landrec init" in missing.stderr
    run("init", "--crs", "vn2000:bac-giang", "--db", store)
    counts = json.loads(run("load", str(base), "--reference", "--db", store, "--json").stdout)
    assert counts == {"planning_zone": 1}


def test_a_reload_over_a_register_edit(tmp_path: Path, sheets_gpkg: Path):
    store = str(tmp_path / "store.gpkg")
    run("load", str(sheets_gpkg), "--db", store)
    sheet = SHEETS[0].number
    run("parcel", "set-land-use", f"10001/{sheet}/7", "ONT", "--expect-version", "1", "--source", "QĐ 9/2026",
        "--db", store)
    assert "1 register edits kept" in run("load", str(sheets_gpkg), "--db", store).stdout

    redigitized = tmp_path / "again.gpkg"
    gdf = gpd.read_file(sheets_gpkg, layer="parcels")
    gdf.loc[(gdf.sheet_no == sheet) & (gdf.parcel_no == 7), "land_use"] = "CLN"
    to_vector(gdf, redigitized, "parcels")
    refused = run("load", str(redigitized), "--db", store, ok=False)
    assert refused.returncode != 0 and "parcel(s) 7 were edited in the register" in refused.stderr
    assert "Traceback" not in refused.stderr
    run("load", str(redigitized), "--db", store, "--overwrite-edits")
    shown = json.loads(run("parcel", "show", f"10001/{sheet}/7", "--db", store, "--json").stdout)
    assert (shown["land_use"], shown["version"]) == ("CLN", 3)
