"""Embedding the land-use styles in a GeoPackage's layer_styles table (read back by GDAL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from lxml import etree
from shapely.geometry import box
from sqlalchemy import Column, Integer, MetaData, String, Table

from gis.errors import InputError, MissingFileError
from gis.io import to_vector
from gis.store import Geometry, create_all, open_engine
from styles import embed_styles, qml_document, sld_document
from styles.embed import STYLE_NAME


def _gdal_gpkg(path: Path) -> Path:
    df = gpd.GeoDataFrame({"parcel_no": [1, 2], "land_use": ["LUC", "ONT"]},
                          geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10)], crs="EPSG:9214")
    to_vector(df, path, "parcels")
    to_vector(df[["parcel_no", "geometry"]], path, "labels", mode="a")
    return path


def _rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as con:
        return con.execute(
            "SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName,"
            " useAsDefault, styleQML, styleSLD FROM layer_styles ORDER BY id").fetchall()


def test_embed_writes_qml_and_sld_that_gdal_reads(tmp_path):
    gpkg = _gdal_gpkg(tmp_path / "parcels.gpkg")
    assert embed_styles(gpkg) == ["parcels"]  # "labels" has no land_use column
    rows = _rows(gpkg)
    assert len(rows) == 1
    catalog, schema, table, geom, name, default, qml, sld = rows[0]
    assert (catalog, schema, table, geom, name, default) == ("", "", "parcels", "geom", STYLE_NAME, 1)
    assert qml == qml_document() and sld == sld_document(layer="parcels")
    parser = etree.XMLParser(no_network=True, load_dtd=False)
    assert etree.fromstring(qml.encode(), parser).find("renderer-v2").get("attr") == "land_use"
    assert dict(pyogrio.list_layers(gpkg).tolist()) == {"parcels": "Polygon", "labels": "Polygon",
                                                         "layer_styles": None}
    styles = pyogrio.read_dataframe(gpkg, layer="layer_styles")
    assert styles["styleName"].tolist() == [STYLE_NAME]
    assert len(pyogrio.read_dataframe(gpkg, layer="parcels")) == 2


def test_embed_again_replaces_its_own_row_and_keeps_other_styles(tmp_path):
    gpkg = _gdal_gpkg(tmp_path / "parcels.gpkg")
    embed_styles(gpkg)
    with sqlite3.connect(gpkg) as con:
        con.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name,"
                    " f_geometry_column, styleName, styleQML, useAsDefault)"
                    " VALUES ('', '', 'parcels', 'geom', 'officer', '<qgis/>', 0)")
    embed_styles(gpkg, layers=["parcels"])
    names = sorted(r[4] for r in _rows(gpkg))
    assert names == [STYLE_NAME, "officer"]
    with sqlite3.connect(gpkg) as con:
        assert con.execute("SELECT count(*) FROM gpkg_contents WHERE table_name = 'layer_styles'").fetchone() == (1,)


def test_embed_in_a_landrec_store(tmp_path):
    url = str(tmp_path / "store.gpkg")
    meta = MetaData()
    Table("parcel", meta, Column("id", Integer, primary_key=True), Column("land_use", String(8)),
          Column("shape", Geometry("MULTIPOLYGON", srid=4326)))
    engine = open_engine(url)
    create_all(engine, meta)
    engine.dispose()
    assert embed_styles(url) == ["parcel"]
    assert [r[2:4] for r in _rows(Path(url))] == [("parcel", "shape")]


def test_embed_names_the_layers_it_can_style(tmp_path):
    gpkg = _gdal_gpkg(tmp_path / "parcels.gpkg")
    with pytest.raises(InputError) as err:
        embed_styles(gpkg, layers=["labels"])
    assert "labels" in err.value.message and err.value.hint == "layers with land_use: parcels"


def test_embed_refuses_postgis_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="not a GeoPackage"):
        embed_styles("postgresql://nobody@localhost/none")
    with pytest.raises(MissingFileError):
        embed_styles(tmp_path / "absent.gpkg")
    assert not (tmp_path / "absent.gpkg").exists()
