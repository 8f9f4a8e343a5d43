"""QGIS itself (Debian's python3-qgis) opens a styled GeoPackage with the land-use colours."""

from __future__ import annotations

import json
import subprocess

import pytest

from gis.io import to_vector
from gis.landuse import land_uses
from styles import embed_styles, sld_document

# Runs in Debian's system Python, where PyQGIS lives (it is not on PyPI).
QGIS_SCRIPT = r"""
import json, os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
layer = QgsVectorLayer(sys.argv[1] + "|layername=parcels", "parcels", "ogr")
if len(sys.argv) > 2:  # an SLD file: QGIS's own SLD reader
    message, ok = layer.loadSldStyle(sys.argv[2])
    rules = layer.renderer().rootRule().children() if layer.renderer().type() == "RuleRenderer" else []
    print(json.dumps({"loaded": ok, "message": message, "type": layer.renderer().type(),
                      "rules": [[x.filterExpression(), x.isElse(), x.symbol().color().name().upper(),
                                 x.symbol().symbolLayer(0).strokeColor().name().upper()] for x in rules]}),
          flush=True)
    os._exit(0)
message, ok = layer.loadDefaultStyle()
r = layer.renderer()
out = {"valid": layer.isValid(), "loaded": ok, "message": message, "type": r.type(),
       "attr": r.classAttribute() if r.type() == "categorizedSymbol" else None,
       "categories": [[c.value(), c.symbol().color().name().upper(), c.label()] for c in r.categories()]
       if r.type() == "categorizedSymbol" else []}
print(json.dumps(out), flush=True)
os._exit(0)  # PyQGIS may crash tearing down at interpreter exit; the answer is out
"""


def qgis_open(path, sld=None) -> dict:
    try:
        proc = subprocess.run(["/usr/bin/python3", "-c", QGIS_SCRIPT, str(path), *([str(sld)] if sld else [])],
                              capture_output=True,
                              text=True, timeout=300, check=False)
    except FileNotFoundError:
        pytest.fail("/usr/bin/python3 is missing", pytrace=False)
    if "No module named 'qgis'" in proc.stderr:
        pytest.fail("PyQGIS is missing: apt-get install python3-qgis qgis-providers", pytrace=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_qgis_opens_the_geopackage_styled_by_land_use(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    gpkg = tmp_path / "parcels.gpkg"
    df = gpd.GeoDataFrame({"parcel_no": [1, 2], "land_use": ["LUC", "ONT"]},
                          geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10)], crs="EPSG:9214")
    to_vector(df, gpkg, "parcels")
    unstyled = qgis_open(gpkg)
    assert unstyled["valid"] and unstyled["type"] == "singleSymbol"  # what QGIS does without us
    embed_styles(gpkg)
    styled = qgis_open(gpkg)
    assert styled["valid"] and styled["loaded"], styled["message"]
    assert styled["type"] == "categorizedSymbol" and styled["attr"] == "land_use"
    got = {value: colour for value, colour, _ in styled["categories"]}
    expected = {u.code: u.color.upper() for u in land_uses()}
    assert {k: v for k, v in got.items() if k} == expected
    assert got[""] == "#D9D9D9"
    labels = {value: label for value, _, label in styled["categories"]}
    assert labels["LUC"] == "LUC - Đất chuyên trồng lúa nước / Paddy land (rice only)"


def test_qgis_reads_the_sld_as_one_rule_per_land_use(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    gpkg = tmp_path / "parcels.gpkg"
    gpd.GeoDataFrame({"land_use": ["LUC"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:9214").to_file(gpkg, layer="parcels")
    sld = tmp_path / "parcels.sld"
    sld.write_text(sld_document(), encoding="utf-8")
    got = qgis_open(gpkg, sld)
    assert got["loaded"] and got["type"] == "RuleRenderer", got["message"]
    *classes, other = got["rules"]
    assert [r[0] for r in classes] == [f"land_use = '{u.code}'" for u in land_uses()]
    assert [r[2] for r in classes] == [u.color.upper() for u in land_uses()]
    assert other[0].startswith("land_use IS NULL OR NOT ") and "'NCS'" in other[0]  # not a match-all
    assert other[2] == "#D9D9D9"
    assert {r[3] for r in got["rules"]} == {"#6E5A46"}
