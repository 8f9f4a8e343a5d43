"""``landrec qa``: topology checks on any parcel layer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
from shapely.geometry import box

LANDREC = str(Path(sys.executable).parent / "landrec")


def layer(tmp_path, geoms, numbers, sheet="361561-4-b"):
    path = tmp_path / "p.gpkg"
    df = gpd.GeoDataFrame({"parcel_no": numbers, "sheet_no": [sheet] * len(geoms),
                           "area_label_m2": [g.area for g in geoms], "land_use": ["ONT"] * len(geoms)},
                          geometry=geoms, crs="EPSG:9214")
    df.to_file(path, layer="parcels", engine="pyogrio")
    return path


def test_clean_layer_exits_zero(tmp_path):
    e, n = 561600.0, 2359600.0
    path = layer(tmp_path, [box(e, n, e + 20, n + 20), box(e + 20, n, e + 40, n + 20)], [1, 2])
    r = subprocess.run([LANDREC, "qa", str(path)], check=False, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "clean" in r.stdout and "1:1000" in r.stdout


def test_errors_are_listed_and_exit_one(tmp_path):
    e, n = 561600.0, 2359600.0
    geoms = [box(e, n, e + 20, n + 20), box(e + 19, n, e + 40, n + 20), box(e + 40, n, e + 60, n + 20)]
    path = layer(tmp_path, geoms, [1, 1, None])
    html = tmp_path / "qa.html"
    r = subprocess.run([LANDREC, "qa", str(path), "--json", "--out", str(html)], check=False, capture_output=True,
                       text=True)
    assert r.returncode == 1
    assert "overlap" in html.read_text(encoding="utf-8")
    out = json.loads(r.stdout)
    assert out["summary"]["error"] == {"overlap": 1, "duplicate_number": 1, "unlabeled": 1}
    assert {tuple(f["feature_ids"]) for f in out["findings"] if f["code"] == "overlap"} == {(0, 1)}


def test_no_scale_and_no_sheet_numbers(tmp_path):
    path = tmp_path / "x.geojson"
    gpd.GeoDataFrame({"parcel_no": [1]}, geometry=[box(0, 0, 10, 10)], crs="EPSG:9214").to_file(path)
    r = subprocess.run([LANDREC, "qa", str(path), "--layer", "x"], check=False, capture_output=True, text=True)
    assert r.returncode == 2 and "--scale" in r.stderr
    r = subprocess.run([LANDREC, "qa", str(path), "--layer", "x", "--scale", "500"], check=False, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
