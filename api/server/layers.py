"""The published collections: which tables, which columns, and nothing else.

A :class:`Layer` is what the server knows of one collection: its table, its primary
key, its geometry column and SRID, and the *whitelist* of columns it may publish,
with their JSON types read from the store.  Personal data (``party``, ``rrr``,
officers, lifespans) is never in a whitelist, so it cannot leave through any endpoint
built on layers: items, tiles, queryables, filters and sort keys all resolve column
names through :attr:`Layer.fields` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from pyproj import CRS
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy import types as satypes
from sqlalchemy.exc import OperationalError

from cadastre.schema import CURRENT, PUBLIC_PARCEL_FIELDS
from gis.crs import crs_from_srid, registry
from gis.errors import StoreError
from gis.store import open_engine, store_kind

__all__ = ["SPECS", "Layer", "LayerSpec", "discover_layers", "engine_for", "layers_for"]


@dataclass(frozen=True)
class LayerSpec:
    """A collection to publish when its table exists in the store."""

    id: str
    table: str
    title: str
    description: str
    columns: tuple[str, ...]
    where: str | None = None  # fixed SQL written here, never from a request
    tiles: bool = False
    keywords: tuple[str, ...] = ()


#: every collection the server may publish; nothing outside these columns is ever read
SPECS: tuple[LayerSpec, ...] = (
    LayerSpec("parcels", "parcel", "Land parcels",
              "Current cadastral parcels: number, sheet, commune, area, land use, address.",
              PUBLIC_PARCEL_FIELDS, where=CURRENT, tiles=True, keywords=("cadastre", "parcel")),
    LayerSpec("map_sheets", "map_sheet", "Map sheets", "Cadastral map sheets (Circular 25/2014).",
              ("sheet_no", "scale", "commune_code", "local_no"), keywords=("sheet",)),
    LayerSpec("admin_units", "admin_unit", "Administrative units", "Province, district and communes.",
              ("code", "name", "level", "parent_code"), keywords=("administrative",)),
    LayerSpec("land_use_classes", "land_use_class", "Land-use classes",
              "Land-use codes of Circular 25/2014 with their map colours.",
              ("code", "group", "name_vi", "name_en", "color"), keywords=("land use",)),
    LayerSpec("roads", "road", "Road network", "Roads of the district.",
              ("name", "kind", "width_m"), keywords=("traffic",)),
    LayerSpec("monitoring_stations", "monitoring_station", "Environmental monitoring stations",
              "Stations; their readings are the station_readings collection.",
              ("code", "name", "kind"), keywords=("environment",)),
    LayerSpec("station_readings", "station_reading", "Station readings",
              "Readings of the environmental monitoring stations (join on station_code).",
              ("station_code", "at", "parameter", "value", "unit"), keywords=("environment",)),
    LayerSpec("planning_zones", "planning_zone", "Planning zones", "Zones of the land-use plan.",
              ("code", "name", "land_use"), tiles=True, keywords=("planning",)),
)


@dataclass(frozen=True)
class Layer:
    """One published collection, resolved against a store."""

    spec: LayerSpec
    id_col: str
    id_type: str  # "integer" or "string"
    fields: dict[str, str]  # public column -> JSON type: integer, number, string, boolean, date-time
    geom_col: str | None
    srid: int | None
    extent: tuple[float, float, float, float] | None = None  # in the store CRS
    rtree: str | None = None  # GeoPackage R-tree table
    count_hint: int = 0
    _meta: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def table(self) -> str:
        return self.spec.table

    @property
    def crs(self) -> CRS | None:
        return _crs(self.srid) if self.srid is not None else None

    @property
    def epsg(self) -> int | None:
        """The EPSG code with the store's coordinates (EPSG:9214 for TM-3 107-00), for CRS URIs."""
        return _epsg(self.srid) if self.srid is not None else None


@lru_cache(maxsize=16)
def _crs(srid: int) -> CRS:
    return crs_from_srid(srid)


@lru_cache(maxsize=16)
def _epsg(srid: int) -> int | None:
    for entry in registry():  # registry SRIDs name their EPSG equivalent: no CRS comparison needed
        if entry.srid == srid:
            return entry.epsg
    return _crs(srid).to_epsg(min_confidence=100)


def _json_type(col_type) -> str:
    if isinstance(col_type, satypes.Boolean):
        return "boolean"
    if isinstance(col_type, satypes.Integer):
        return "integer"
    if isinstance(col_type, (satypes.Float, satypes.Numeric)):
        return "number"
    if isinstance(col_type, (satypes.DateTime, satypes.Date)):
        return "date-time"
    return "string"


def q(name: str) -> str:
    """Quote an identifier that comes from the code or a whitelist (never raw input)."""
    return '"' + name.replace('"', '""') + '"'


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine per store URL per process (providers are created per request).

    On GeoPackage the connection also gets the shapely predicates CQL2 compiles to.
    """
    engine = open_engine(url, create=False, readonly=True)
    if engine.dialect.name == "sqlite":
        from api.server.cql2 import sqlite_functions

        def _register(dbapi_conn, _record) -> None:
            for name, fn in sqlite_functions().items():
                dbapi_conn.create_function(name, 2, fn, deterministic=True)

        event.listen(engine, "connect", _register)
        engine.dispose()
    return engine


def discover_layers(engine: Engine) -> dict[str, Layer]:
    """The collections whose tables exist in the store, with their column types."""
    sqlite = engine.dialect.name == "sqlite"
    out: dict[str, Layer] = {}
    with engine.connect() as conn:  # one connection: a GeoPackage transaction locks the file
        insp = inspect(conn)
        tables = set(insp.get_table_names())
        for spec in SPECS:
            if spec.table not in tables:
                continue
            cols = {c["name"]: c for c in insp.get_columns(spec.table)}
            pk = insp.get_pk_constraint(spec.table)["constrained_columns"]
            if len(pk) != 1:
                raise StoreError(f"table {spec.table} needs a single-column primary key to be served")
            geom_col, srid = _geometry_column(conn, spec.table, cols, sqlite)
            fields = {c: ("string" if c == geom_col else _json_type(cols[c]["type"]))
                      for c in spec.columns if c in cols and c != geom_col}
            id_type = "integer" if isinstance(cols[pk[0]]["type"], satypes.Integer) else "string"
            extent = _extent(conn, spec, geom_col, sqlite) if geom_col else None
            rtree = f"rtree_{spec.table}_{geom_col}" if sqlite and geom_col else None
            if rtree and rtree not in tables:
                rtree = None
            out[spec.id] = Layer(spec, pk[0], id_type, fields, geom_col, srid, extent, rtree,
                                 _count_hint(conn, spec.table, sqlite))
    return out


def _geometry_column(conn, table: str, cols: dict, sqlite: bool) -> tuple[str | None, int | None]:
    if sqlite:
        row = conn.execute(text("SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = :t"),
                           {"t": table}).first()
        return (row[0], int(row[1])) if row else (None, None)
    row = conn.execute(text("SELECT f_geometry_column, srid FROM geometry_columns"
                            " WHERE f_table_schema = current_schema() AND f_table_name = :t"),
                       {"t": table}).first()
    return (row[0], int(row[1])) if row else (None, None)


def _extent(conn, spec: LayerSpec, geom_col: str, sqlite: bool) -> tuple[float, float, float, float] | None:
    if sqlite:
        rt = f"rtree_{spec.table}_{geom_col}"
        try:
            row = conn.execute(text(f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {q(rt)}")).first()
        except OperationalError:  # no R-tree: read the envelopes
            row = conn.execute(text(f"SELECT min(ST_MinX({q(geom_col)})), min(ST_MinY({q(geom_col)})),"
                                    f" max(ST_MaxX({q(geom_col)})), max(ST_MaxY({q(geom_col)})) FROM {q(spec.table)}")).first()
    else:
        row = conn.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM"
                                " (SELECT ST_EstimatedExtent(:t, :c)::geometry AS e) s"),
                           {"t": spec.table, "c": geom_col}).first()
        if row is None or row[0] is None:
            row = conn.execute(text(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM"
                                    f" (SELECT ST_Extent({q(geom_col)})::geometry AS e FROM {q(spec.table)}) s")).first()
    if row is None or row[0] is None:
        return None
    return tuple(float(v) for v in row)


def _count_hint(conn, table: str, sqlite: bool) -> int:
    if sqlite:
        return int(conn.execute(text(f"SELECT count(*) FROM {q(table)}")).scalar_one())
    est = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}).scalar()
    return max(int(est or 0), 0)


@lru_cache(maxsize=8)
def layers_for(url: str) -> dict[str, Layer]:
    """The layers of a store, read once per process."""
    return discover_layers(engine_for(url))


def is_postgis(url: str) -> bool:
    """Whether the store URL names PostGIS."""
    return store_kind(url).kind == "postgis"
