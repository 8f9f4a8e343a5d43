"""`landrec style write` and `landrec style embed`, driven as a user would."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
from shapely.geometry import box

from gis.io import to_vector
from styles import qml_document, sld_document, style_text

LANDREC = Path(sys.executable).with_name("landrec")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LANDREC), *args], capture_output=True, text=True, timeout=120, check=False)


def test_write_each_format_and_refuse_to_overwrite(tmp_path):
    for fmt, name in (("sld", "parcels.sld"), ("qml", "parcels.qml"), ("maplibre", "style.json")):
        out = tmp_path / name
        r = run("style", "write", "--format", fmt, "--out", str(out))
        assert r.returncode == 0, r.stderr
        assert out.read_text(encoding="utf-8") == style_text(fmt)
    r = run("style", "write", "--format", "sld", "--out", str(tmp_path / "parcels.sld"))
    assert r.returncode == 2 and "exists" in r.stderr and "--overwrite" in r.stderr
    r = run("style", "write", "--format", "maplibre", "--out", str(tmp_path / "style.json"), "--overwrite",
            "--tiles-url", "http://gis.example/t/{z}/{x}/{y}.pbf", "--layer", "thua", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["format"] == "maplibre"
    style = json.loads((tmp_path / "style.json").read_text(encoding="utf-8"))
    assert style["sources"]["parcels"]["tiles"] == ["http://gis.example/t/{z}/{x}/{y}.pbf"]
    assert {lyr.get("source-layer") for lyr in style["layers"]} == {None, "thua"}


def test_write_refuses_an_unknown_format(tmp_path):
    r = run("style", "write", "--format", "mapbox", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "mapbox" in r.stderr
    assert not (tmp_path / "x").exists()


def test_embed_styles_a_geopackage(tmp_path):
    gpkg = tmp_path / "out.gpkg"
    df = gpd.GeoDataFrame({"parcel_no": [7], "land_use": ["CLN"]}, geometry=[box(0, 0, 5, 5)], crs="EPSG:4326")
    to_vector(df, gpkg, "parcels")
    r = run("style", "embed", str(gpkg), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["layers"] == ["parcels"]
    with sqlite3.connect(gpkg) as con:
        qml, sld = con.execute("SELECT styleQML, styleSLD FROM layer_styles WHERE useAsDefault").fetchone()
    assert (qml, sld) == (qml_document(), sld_document(layer="parcels"))
    r = run("style", "embed", str(gpkg), "--layer", "roads")
    assert r.returncode == 2 and "roads" in r.stderr and "hint: layers with land_use: parcels" in r.stderr
    r = run("style", "embed", str(tmp_path / "none.gpkg"))
    assert r.returncode == 2 and "does not exist" in r.stderr
