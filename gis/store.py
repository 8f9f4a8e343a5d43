"""Storage backends: one SQLAlchemy engine over a GeoPackage file or a PostGIS database.

The GeoPackage is the embedded default (no server).  This Python's ``sqlite3`` cannot
load mod_spatialite, so the GeoPackage side speaks the format itself: geometry blobs
are encoded here (GeoPackage header + ISO WKB), the ``gpkg_*`` bookkeeping tables are
written here, and the few SQL functions that GeoPackage R-tree triggers call
(``ST_MinX`` ... ``ST_IsEmpty``) are registered on every connection, the way GDAL does.
The file opens in QGIS and GDAL as an ordinary GeoPackage.

One column type, :class:`Geometry`, holds shapely geometries on both: a GeoAlchemy2
``Geometry`` on PostGIS, a GeoPackage blob on SQLite.  Tables are defined once with it
(see :mod:`cadastre.schema`), and :func:`create_all` creates them on either store.
"""

from __future__ import annotations

import os
import re
import sqlite3
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import shapely
from geoalchemy2 import Geometry as GA2Geometry
from geoalchemy2.elements import WKBElement
from pyproj import CRS
from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Float,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.types import TypeDecorator, UserDefinedType

from gis.crs import crs_from_srid, proj_string, srid_of
from gis.errors import MissingFileError, StoreError

__all__ = [
    "GPKG_APPLICATION_ID",
    "Geometry",
    "StoreInfo",
    "create_all",
    "ensure_srid",
    "gpkg_blob",
    "gpkg_geometry",
    "open_engine",
    "store_kind",
]

GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
GPKG_USER_VERSION = 10300  # 1.3: read without warnings by GDAL 3.6 and later
_ENVELOPE_XY = 1


# --- GeoPackage geometry blobs -------------------------------------------------------

def gpkg_blob(geom: shapely.Geometry | None, srid: int) -> bytes | None:
    """Encode a shapely geometry as a GeoPackage binary (header, XY envelope, ISO WKB)."""
    if geom is None:
        return None
    if geom.is_empty:
        flags = 0b0001_0001  # little endian, empty, no envelope
        return b"GP\x00" + bytes([flags]) + struct.pack("<i", srid) + shapely.to_wkb(geom, flavor="iso")
    minx, miny, maxx, maxy = geom.bounds
    flags = 0b0000_0001 | (_ENVELOPE_XY << 1)
    header = b"GP\x00" + bytes([flags]) + struct.pack("<i4d", srid, minx, maxx, miny, maxy)
    return header + shapely.to_wkb(geom, flavor="iso", byte_order=1)


def _header(blob: bytes) -> tuple[int, int, bool, tuple[float, ...] | None]:
    """(wkb offset, srid, empty, envelope (minx, maxx, miny, maxy) or None)."""
    if len(blob) < 8 or blob[:2] != b"GP":
        raise StoreError("not a GeoPackage geometry blob")
    flags = blob[3]
    endian = "<" if flags & 1 else ">"
    env_kind = (flags >> 1) & 0b111
    n = {0: 0, 1: 4, 2: 6, 3: 6, 4: 8}.get(env_kind)
    if n is None:
        raise StoreError(f"bad GeoPackage envelope indicator {env_kind}")
    srid = struct.unpack(endian + "i", blob[4:8])[0]
    env = struct.unpack(endian + f"{n}d", blob[8:8 + 8 * n])[:4] if n else None
    return 8 + 8 * n, srid, bool(flags & 0b1_0000), env


def gpkg_geometry(blob: bytes | None) -> shapely.Geometry | None:
    """Decode a GeoPackage binary into a shapely geometry."""
    if blob is None:
        return None
    offset, _, _, _ = _header(blob)
    return shapely.from_wkb(bytes(blob[offset:]))


def _envelope(blob: bytes | None) -> tuple[float, ...] | None:
    if blob is None:
        return None
    _, _, empty, env = _header(blob)
    if empty:
        return None
    if env is None:
        minx, miny, maxx, maxy = gpkg_geometry(blob).bounds
        return minx, maxx, miny, maxy
    return env


def _st(index: int):
    def fn(blob):
        env = _envelope(blob)
        return None if env is None else env[index]
    return fn


def _st_is_empty(blob):
    if blob is None:
        return None
    return int(_header(blob)[2])


def _register_sqlite_functions(dbapi_conn: sqlite3.Connection) -> None:
    for name, idx in (("ST_MinX", 0), ("ST_MaxX", 1), ("ST_MinY", 2), ("ST_MaxY", 3)):
        dbapi_conn.create_function(name, 1, _st(idx), deterministic=True)
    dbapi_conn.create_function("ST_IsEmpty", 1, _st_is_empty, deterministic=True)


# --- the one geometry column type ----------------------------------------------------

class Geometry(TypeDecorator):
    """A geometry column holding shapely geometries on PostGIS and GeoPackage alike.

    >>> col_type = Geometry("MULTIPOLYGON", srid=980700)
    """

    impl = LargeBinary
    cache_ok = True
    # read by GeoAlchemy2's create-table events on PostGIS: a GiST index, typmod column
    spatial_index = True
    use_N_D_index = False
    use_typmod = None

    def __init__(self, geometry_type: str = "GEOMETRY", *, srid: int) -> None:
        super().__init__()
        self.geometry_type = geometry_type.upper()
        self.srid = srid

    def load_dialect_impl(self, dialect):
        if dialect is None:  # GeoAlchemy2 asks without a dialect (is it a raster?)
            return _GpkgGeometryType(self.geometry_type)
        if dialect.name == "postgresql":
            return dialect.type_descriptor(
                GA2Geometry(self.geometry_type, srid=self.srid, spatial_index=True)
            )
        return dialect.type_descriptor(_GpkgGeometryType(self.geometry_type))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "postgresql":
            return WKBElement(shapely.to_wkb(value, include_srid=False), srid=self.srid, extended=False)
        return gpkg_blob(value, self.srid)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "postgresql":
            data = value.data if isinstance(value, WKBElement) else value
            return shapely.from_wkb(data if isinstance(data, str) else bytes(data))
        return gpkg_geometry(value)


class _GpkgGeometryType(UserDefinedType):
    """A GeoPackage geometry column: declared with its geometry type name, holds a blob."""

    cache_ok = True

    def __init__(self, geometry_type: str) -> None:
        self.geometry_type = geometry_type

    def get_col_spec(self, **kw) -> str:
        return self.geometry_type


# GeoPackage allows only a few declared column types; SQLAlchemy's sqlite defaults
# (VARCHAR, NUMERIC, JSON) make GDAL ignore or misread a column.
@compiles(String, "sqlite")
def _gpkg_text(type_, compiler, **kw) -> str:
    return f"TEXT({type_.length})" if type_.length else "TEXT"


@compiles(Numeric, "sqlite")
@compiles(Float, "sqlite")
def _gpkg_real(type_, compiler, **kw) -> str:
    return "DOUBLE"


@compiles(JSON, "sqlite")
def _gpkg_json(type_, compiler, **kw) -> str:
    return "TEXT"



# --- engines ------------------------------------------------------------------------

@dataclass(frozen=True)
class StoreInfo:
    """What a store URL names: ``kind`` is ``"gpkg"`` or ``"postgis"``."""

    kind: str
    url: str
    path: Path | None = None


def store_kind(url: str | os.PathLike) -> StoreInfo:
    """Classify a store location: a ``.gpkg`` path (or ``gpkg:`` URL) or a PostgreSQL URL."""
    text = os.fspath(url)
    if re.match(r"^postgres(ql)?(\+\w+)?://", text):
        u = make_url(text).set(drivername="postgresql+psycopg2")
        return StoreInfo("postgis", u.render_as_string(hide_password=False))
    if text.startswith("gpkg:"):
        text = re.sub(r"^gpkg:(//)?", "", text)
    path = Path(text)
    if path.suffix.lower() != ".gpkg":
        raise StoreError(
            f"{text!r} is neither a GeoPackage (.gpkg) nor a PostgreSQL URL",
            hint="give a path ending in .gpkg, or postgresql://user@host/db",
        )
    return StoreInfo("gpkg", f"sqlite:///{path}", path)


def open_engine(url: str | os.PathLike, *, create: bool = True, readonly: bool = False) -> Engine:
    """An SQLAlchemy engine on a GeoPackage file or a PostGIS database.

    A GeoPackage that does not exist is created (with its ``gpkg_*`` tables) when
    ``create`` is true; otherwise :class:`MissingFileError`.  A PostGIS database must
    exist; the ``postgis`` extension is created when missing.

    On a GeoPackage, a writing engine starts every transaction with ``BEGIN IMMEDIATE``
    (writers queue instead of failing half-way); a ``readonly`` engine (the server's)
    starts plain deferred transactions, so any number of readers run side by side.
    """
    info = store_kind(url)
    if info.kind == "postgis":
        engine = create_engine(info.url, pool_pre_ping=True, future=True)
        try:
            with engine.begin() as conn:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except OperationalError as exc:
            raise StoreError(
                f"cannot reach the PostGIS database {make_url(info.url).render_as_string()}: "
                f"{str(exc.orig).strip().splitlines()[0]}",
                hint="check LANDREC_DATABASE_URL / --db, and that the server is running",
            ) from None
        return engine
    assert info.path is not None
    exists = info.path.exists()
    if not exists and not create:
        raise MissingFileError(f"GeoPackage {info.path} does not exist",
                               hint="run `landrec load` or `landrec init` first, or check the path")
    if exists and not _is_gpkg(info.path):
        raise StoreError(f"{info.path} is not a GeoPackage (wrong SQLite application id)")
    info.path.parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(info.url, future=True)
    except ArgumentError as exc:  # pragma: no cover - malformed path
        raise StoreError(str(exc)) from None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below drive transactions
        _register_sqlite_functions(dbapi_conn)
        dbapi_conn.execute("PRAGMA foreign_keys = ON")
        dbapi_conn.execute("PRAGMA busy_timeout = 10000")
        if readonly:
            dbapi_conn.execute("PRAGMA query_only = ON")

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    if not exists:
        if readonly:
            raise MissingFileError(f"GeoPackage {info.path} does not exist")
        with engine.begin() as conn:
            _init_gpkg(conn)
    return engine


def _is_gpkg(path: Path) -> bool:
    try:
        with sqlite3.connect(path) as con:
            return con.execute("PRAGMA application_id").fetchone()[0] == GPKG_APPLICATION_ID
    except sqlite3.DatabaseError:
        return False


def _init_gpkg(conn: Connection) -> None:
    conn.exec_driver_sql(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
    conn.exec_driver_sql(f"PRAGMA user_version = {GPKG_USER_VERSION}")
    conn.exec_driver_sql(
        "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,"
        " organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,"
        " definition TEXT NOT NULL, description TEXT)")
    conn.exec_driver_sql(
        "CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,"
        " identifier TEXT UNIQUE, description TEXT DEFAULT '',"
        " last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
        " min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,"
        " CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))")
    conn.exec_driver_sql(
        "CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,"
        " geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL,"
        " m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),"
        " CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),"
        " CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))")
    conn.exec_driver_sql(
        "CREATE TABLE gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL,"
        " definition TEXT NOT NULL, scope TEXT NOT NULL,"
        " CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))")
    conn.exec_driver_sql(
        "INSERT INTO gpkg_spatial_ref_sys VALUES "
        "('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),"
        "('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system')")
    ensure_srid(conn, CRS.from_epsg(4326))


def ensure_srid(conn: Connection, crs: CRS) -> int:
    """Make the store know ``crs`` (our WKT with its TOWGS84) and return its SRID."""
    srid = srid_of(crs)
    wkt1 = crs.to_wkt("WKT1_GDAL")
    if conn.dialect.name == "postgresql":
        exists = conn.execute(text("SELECT 1 FROM spatial_ref_sys WHERE srid = :s"), {"s": srid}).first()
        if not exists:
            auth = "EPSG" if crs.to_epsg(min_confidence=100) == srid else "LANDREC"
            conn.execute(
                text("INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text)"
                     " VALUES (:s, :a, :s, :w, :p) ON CONFLICT (srid) DO NOTHING"),
                {"s": srid, "a": auth, "w": wkt1, "p": proj_string(crs)},
            )
        return srid
    exists = conn.execute(text("SELECT 1 FROM gpkg_spatial_ref_sys WHERE srs_id = :s"), {"s": srid}).first()
    if not exists:
        org = "EPSG" if crs.to_epsg(min_confidence=100) == srid else "LANDREC"
        conn.execute(
            text("INSERT INTO gpkg_spatial_ref_sys VALUES (:n, :s, :o, :s, :w, :d)"),
            {"n": crs.name, "s": srid, "o": org, "w": wkt1,
             "d": "VN-2000 -> WGS 84 per Decision 05/2007 (EPSG:6960)" if org == "LANDREC" else ""},
        )
    return srid


def create_all(engine: Engine, metadata: MetaData) -> None:
    """Create the tables of ``metadata`` on the store, with the GeoPackage bookkeeping.

    Idempotent: existing tables are left alone.
    """
    with engine.begin() as conn:
        srids = {c.type.srid for t in metadata.sorted_tables for c in t.columns if isinstance(c.type, Geometry)}
        for srid in srids:
            ensure_srid(conn, crs_from_srid(srid))
        metadata.create_all(conn, checkfirst=True)
        if conn.dialect.name == "sqlite":
            for table in metadata.sorted_tables:
                _register_gpkg_table(conn, table)


def _register_gpkg_table(conn: Connection, table) -> None:
    name = table.name
    if conn.execute(text("SELECT 1 FROM gpkg_contents WHERE table_name = :t"), {"t": name}).first():
        return
    geoms = [c for c in table.columns if isinstance(c.type, Geometry)]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if not geoms:
        conn.execute(text("INSERT INTO gpkg_contents (table_name, data_type, identifier, last_change)"
                          " VALUES (:t, 'attributes', :t, :now)"), {"t": name, "now": now})
        return
    col = geoms[0]
    pk = [c.name for c in table.primary_key.columns]
    if len(pk) != 1:
        raise StoreError(f"GeoPackage feature table {name} needs a single integer primary key")
    conn.execute(text("INSERT INTO gpkg_contents (table_name, data_type, identifier, last_change, srs_id)"
                      " VALUES (:t, 'features', :t, :now, :s)"), {"t": name, "now": now, "s": col.type.srid})
    conn.execute(text("INSERT INTO gpkg_geometry_columns VALUES (:t, :c, :g, :s, 0, 0)"),
                 {"t": name, "c": col.name, "g": col.type.geometry_type, "s": col.type.srid})
    _create_rtree(conn, name, col.name, pk[0])


def _create_rtree(conn: Connection, t: str, c: str, i: str) -> None:
    r = f"rtree_{t}_{c}"
    conn.exec_driver_sql(f'CREATE VIRTUAL TABLE "{r}" USING rtree(id, minx, maxx, miny, maxy)')
    vals = f"NEW.\"{i}\", ST_MinX(NEW.\"{c}\"), ST_MaxX(NEW.\"{c}\"), ST_MinY(NEW.\"{c}\"), ST_MaxY(NEW.\"{c}\")"
    conn.exec_driver_sql(
        f'CREATE TRIGGER "{r}_insert" AFTER INSERT ON "{t}" WHEN (NEW."{c}" NOT NULL AND NOT ST_IsEmpty(NEW."{c}"))'
        f' BEGIN INSERT OR REPLACE INTO "{r}" VALUES ({vals}); END')
    conn.exec_driver_sql(
        f'CREATE TRIGGER "{r}_update" AFTER UPDATE ON "{t}"'
        f' BEGIN DELETE FROM "{r}" WHERE id = OLD."{i}";'
        f' INSERT INTO "{r}" SELECT {vals.replace("NEW.", "n.")} FROM (SELECT NEW."{i}" AS "{i}", NEW."{c}" AS "{c}") n'
        f' WHERE n."{c}" NOT NULL AND NOT ST_IsEmpty(n."{c}"); END')
    conn.exec_driver_sql(
        f'CREATE TRIGGER "{r}_delete" AFTER DELETE ON "{t}" WHEN OLD."{c}" NOT NULL'
        f' BEGIN DELETE FROM "{r}" WHERE id = OLD."{i}"; END')
    conn.execute(text("INSERT INTO gpkg_extensions VALUES (:t, :c, 'gpkg_rtree_index',"
                      " 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')"),
                 {"t": t, "c": c})
