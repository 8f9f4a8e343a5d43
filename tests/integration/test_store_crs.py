"""A coordinate stored in each zone, on each store, and read back has not moved.

Read back twice: through landrec's own store, and through a reader that did not write it
(GDAL for the GeoPackage, PostGIS's own ST_Transform for PostGIS), which rebuilds the CRS
from what the store holds: the TOWGS84 round trip trap of DOMAIN.md shows up there.
"""

from __future__ import annotations

import math

import geopandas as gpd
import pyogrio
import pytest
import shapely
from pyproj import CRS, Transformer
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text

from gis.crs import registry, srid_of, to_wgs84
from gis.errors import StoreError
from gis.io import read_vector, to_vector
from gis.store import Geometry, create_all, open_engine

# One point inside each registry zone: (lon, lat) on VN-2000, near the zone's meridian.
ZONES = [e for e in registry()]


def _point_for(crs: CRS) -> shapely.Point:
    base = crs.source_crs if crs.is_bound else crs
    lon0 = 105.5
    if base.is_projected:
        lon0 = next(p.value for p in base.coordinate_operation.params if p.name == "Longitude of natural origin")
    geog = base.geodetic_crs
    lon, lat = lon0 + 0.3137, 16.2718
    if base.is_projected:
        x, y = Transformer.from_crs(geog, base, always_xy=True).transform(lon, lat)
        return shapely.Point(round(x, 3) + 0.0004, round(y, 3) + 0.0007)
    return shapely.Point(lon, lat)


def _table(srid: int) -> tuple[MetaData, Table]:
    md = MetaData()
    t = Table("probe", md, Column("id", Integer, primary_key=True), Column("zone", String),
              Column("geom", Geometry("POINT", srid=srid)))
    return md, t


def _ground_mm(a: tuple[float, float], b: tuple[float, float]) -> float:
    dy = (a[1] - b[1]) * 110_574.0
    dx = (a[0] - b[0]) * 111_320.0 * math.cos(math.radians(a[1]))
    return math.hypot(dx, dy) * 1000


@pytest.mark.parametrize("entry", ZONES, ids=[e.key for e in ZONES])
def test_point_does_not_move_in_geopackage(entry, tmp_path):
    path = tmp_path / "probe.gpkg"
    pt = _point_for(entry.crs)
    md, t = _table(srid_of(entry.crs))
    engine = open_engine(path)
    create_all(engine, md)
    with engine.begin() as conn:
        conn.execute(insert(t), {"zone": entry.key, "geom": pt})
    with engine.connect() as conn:
        back = conn.execute(select(t.c.geom)).scalar_one()
    assert back.equals_exact(pt, tolerance=0)

    # GDAL, which did not write the file, rebuilds the CRS from gpkg_spatial_ref_sys.
    df = pyogrio.read_dataframe(path, layer="probe")
    assert df.geometry.iloc[0].equals_exact(pt, tolerance=1e-9)
    gdal_crs = CRS.from_user_input(df.crs)
    assert gdal_crs.is_bound and gdal_crs == entry.crs  # the TOWGS84 came back with the file
    ours = to_wgs84(entry.crs).transform(pt.x, pt.y)
    theirs = Transformer.from_crs(gdal_crs, "EPSG:4326", always_xy=True).transform(pt.x, pt.y)
    assert _ground_mm(ours, theirs) < 1.0


@pytest.mark.parametrize("entry", ZONES, ids=[e.key for e in ZONES])
def test_point_does_not_move_in_postgis(entry, pg_url):
    pt = _point_for(entry.crs)
    md, t = _table(srid_of(entry.crs))
    engine = open_engine(pg_url)
    create_all(engine, md)
    with engine.begin() as conn:
        conn.execute(insert(t), {"zone": entry.key, "geom": pt})
    with engine.connect() as conn:
        back = conn.execute(select(t.c.geom)).scalar_one()
        lon, lat, srid = conn.execute(text(
            "SELECT ST_X(ST_Transform(geom, 4326)), ST_Y(ST_Transform(geom, 4326)), ST_SRID(geom) FROM probe"
        )).one()
    assert back.equals_exact(pt, tolerance=0)
    assert srid == srid_of(entry.crs)
    ours = to_wgs84(entry.crs).transform(pt.x, pt.y)
    assert _ground_mm(ours, (lon, lat)) < 1.0
    engine.dispose()


@pytest.mark.parametrize("key", ["vn2000:tm3:107-00", "vn2000:utm48", "hn72:gk18"])
def test_files_written_through_gdal_keep_the_shift(key, tmp_path):
    """A GeoPackage written by gis.io (through GDAL) reads back as the registry CRS."""
    entry = next(e for e in ZONES if e.key == key)
    pt = _point_for(entry.crs)
    path = tmp_path / "gdal.gpkg"
    to_vector(gpd.GeoDataFrame({"n": [1]}, geometry=[pt], crs=entry.crs), path, "probe")
    back = read_vector(path, "probe")
    assert back.crs.is_bound and back.crs == entry.crs
    assert srid_of(back.crs) == entry.srid
    assert back.geometry.iloc[0].equals_exact(pt, tolerance=1e-9)


def test_a_failed_transaction_leaves_nothing(store_url):
    md, t = _table(980700)
    engine = open_engine(store_url)
    create_all(engine, md)
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            conn.execute(insert(t), {"zone": "x", "geom": shapely.Point(560000, 2360000)})
            raise RuntimeError("boom")
    with engine.connect() as conn:
        assert conn.execute(select(t)).all() == []
    engine.dispose()


def test_geopackage_is_valid_for_gdal(tmp_path):
    path = tmp_path / "v.gpkg"
    md, t = _table(980700)
    engine = open_engine(path)
    create_all(engine, md)
    create_all(engine, md)  # idempotent
    with engine.begin() as conn:
        conn.execute(insert(t), [{"zone": str(i), "geom": shapely.Point(560000 + i, 2360000)} for i in range(5)])
    info = pyogrio.read_info(path, layer="probe")
    assert info["features"] == 5
    assert info["geometry_type"] == "Point"
    assert info["fields"].tolist() == ["zone"]
    # the R-tree index follows inserts
    df = pyogrio.read_dataframe(path, layer="probe", bbox=(560001.5, 2359999, 560003.5, 2360001))
    assert sorted(df["zone"]) == ["2", "3"]


def test_not_a_store_is_refused(tmp_path):
    with pytest.raises(StoreError):
        open_engine(tmp_path / "x.shp")
    bogus = tmp_path / "bogus.gpkg"
    bogus.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StoreError):
        open_engine(bogus)
    with pytest.raises(StoreError) as err:
        open_engine("postgresql://nobody@127.0.0.1:1/none")
    assert "LANDREC_DATABASE_URL" in err.value.hint
