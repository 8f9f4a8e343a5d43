"""Open, create and upgrade a land register on a GeoPackage or PostGIS store.

The store's CRS is chosen once, when the register is initialised, and kept in
``store_info``.  ``schema_version`` records the migration steps applied; opening
an older store with :func:`init_register` applies the missing steps in order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyproj import CRS
from sqlalchemy import Connection, Engine, MetaData, Table, event, inspect, select, text

from cadastre.schema import build_metadata
from gis.crs import crs_from_srid, srid_of
from gis.errors import CRSError, StoreError
from gis.landuse import land_uses
from gis.store import create_all, ensure_srid, open_engine, store_kind

__all__ = ["BULK_LOCK", "LOCK_SHEET", "MIGRATIONS", "SCHEMA_VERSION", "SHEET_INDEXES", "Register", "init_register",
           "lock_sheets", "open_register", "sheet_lock_key", "utcnow"]

#: the register's clock step: times are stored to the millisecond
TICK = timedelta(milliseconds=1)


def utcnow(after: datetime | None = None) -> datetime:
    """Now, as the naive UTC time the register stores (to the millisecond, on both
    stores); at least a tick later than ``after`` (a version that began then must not
    end at the same instant: its lifespan would be empty)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    return now if after is None or now > after else after + TICK


#: held (exclusive, for the session) by a bulk load of PostGIS; every write of a sheet takes it shared
BULK_LOCK = "landrec:bulk-load"
#: what a write of a sheet takes on PostGIS, for its transaction: the bulk lock shared and
#: the sheet's own lock, so loads and edits of one sheet go one after the other
LOCK_SHEET = "SELECT pg_advisory_xact_lock_shared(hashtext(%(b)s)), pg_advisory_xact_lock(hashtext(%(k)s))"


def sheet_lock_key(commune_code: str, sheet_no: str) -> str:
    """The name of a sheet's advisory lock."""
    return f"sheet:{commune_code}:{sheet_no}"


def lock_sheets(reg: Register, conn: Connection, sheets: set[tuple[str, str]]) -> None:
    """Take the locks of these (commune, sheet) pairs for the transaction, in one order
    (two edits of the same two sheets cannot wait for each other); PostGIS only (a
    GeoPackage has one writer at a time)."""
    if reg.kind != "postgis":
        return
    for commune_code, sheet_no in sorted(sheets):
        conn.exec_driver_sql(LOCK_SHEET, {"b": BULK_LOCK, "k": sheet_lock_key(commune_code, sheet_no)})


@dataclass(frozen=True)
class Register:
    """An open land register: its engine, CRS (by SRID) and tables."""

    engine: Engine
    srid: int
    metadata: MetaData

    @property
    def kind(self) -> str:
        """``"gpkg"`` or ``"postgis"``."""
        return "postgis" if self.engine.dialect.name == "postgresql" else "gpkg"

    @property
    def crs(self) -> CRS:
        """The store's CRS."""
        return crs_from_srid(self.srid)

    def table(self, name: str) -> Table:
        """One table of the schema."""
        return self.metadata.tables[name]

    def dispose(self) -> None:
        """Close the engine's connections."""
        self.engine.dispose()


# --- migrations --------------------------------------------------------------------

def _m1_tables(reg: Register, conn: Connection) -> None:
    lu = reg.table("land_use_class")
    conn.execute(lu.insert(), [
        {"code": u.code, "group": u.group, "name_vi": u.name_vi, "name_en": u.name_en, "color": u.color}
        for u in land_uses()
    ])


_CURRENT_VIEW = (
    "CREATE VIEW parcel_current AS SELECT id, parcel_uid, version, commune_code, sheet_no,"
    " parcel_no, area_m2, land_use, address, begin_lifespan, geom FROM parcel"
    " WHERE end_lifespan IS NULL"
)


def _m2_current_view(reg: Register, conn: Connection) -> None:
    conn.exec_driver_sql(_CURRENT_VIEW)
    if reg.kind == "gpkg":
        now = utcnow().strftime("%Y-%m-%dT%H:%M:%S.000Z")
        conn.execute(text("INSERT INTO gpkg_contents (table_name, data_type, identifier, last_change, srs_id)"
                          " VALUES ('parcel_current', 'features', 'parcel_current', :now, :s)"),
                     {"now": now, "s": reg.srid})
        conn.execute(text("INSERT INTO gpkg_geometry_columns VALUES"
                          " ('parcel_current', 'geom', 'MULTIPOLYGON', :s, 0, 0)"), {"s": reg.srid})


#: the parcel indexes by sheet, sheet number first (as cadastre.schema builds them)
SHEET_INDEXES = (
    ("ix_parcel_sheet", "CREATE INDEX ix_parcel_sheet ON parcel (sheet_no)"),
    ("ix_parcel_key_current", ("CREATE UNIQUE INDEX ix_parcel_key_current ON parcel"
                              " (sheet_no, parcel_no, commune_code) WHERE end_lifespan IS NULL")),
)


def _sheet_indexes(reg: Register, conn: Connection) -> None:
    for name, sql in SHEET_INDEXES:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        conn.exec_driver_sql(sql)


def _m5_last_load(reg: Register, conn: Connection) -> None:
    have = {c["name"] for c in inspect(conn).get_columns("map_sheet")}
    for name, kind in (("loaded_at", "DATETIME" if reg.kind == "gpkg" else "timestamp"), ("kept_input", "TEXT")):
        if name not in have:
            conn.exec_driver_sql(f"ALTER TABLE map_sheet ADD COLUMN {name} {kind}")


#: ordered migration steps: (version, description, step)
MIGRATIONS: tuple[tuple[int, str, Callable[[Register, Connection], None]], ...] = (
    (1, "LADM tables and the land-use table", _m1_tables),
    (2, "parcel_current view of the current parcels (public fields only)", _m2_current_view),
    (3, "parcel indexes on (commune, sheet) lead with the sheet number", _sheet_indexes),
    (4, "parcel indexes by sheet: the sheet number alone, and the current key as (sheet, number, commune)",
     _sheet_indexes),
    (5, "map_sheet.loaded_at and kept_input: what a reload is compared with (it keeps the edits made since)",
     _m5_last_load),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def _applied(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    return conn.execute(text("SELECT COALESCE(MAX(version), 0) FROM schema_version")).scalar_one()


def _stored_srid(conn: Connection) -> int | None:
    if not inspect(conn).has_table("store_info"):
        return None
    value = conn.execute(text("SELECT value FROM store_info WHERE key = 'srid'")).scalar()
    return int(value) if value is not None else None


def migrate(reg: Register, *, target: int = SCHEMA_VERSION) -> list[int]:
    """Apply the missing migration steps up to ``target``, each in its own transaction.

    Missing tables are created first (idempotent, so a step interrupted half-way is
    simply run again).
    """
    with reg.engine.connect() as conn:
        if _applied(conn) >= target:
            return []
    create_all(reg.engine, reg.metadata)
    done = []
    for version, description, step in MIGRATIONS:
        if version > target:
            break
        with reg.engine.begin() as conn:
            if _applied(conn) >= version:
                continue
            step(reg, conn)
            if version == 1:
                conn.execute(reg.table("store_info").insert(), [{"key": "srid", "value": str(reg.srid)}])
            conn.execute(reg.table("schema_version").insert(),
                         [{"version": version, "description": description, "applied_at": utcnow()}])
        done.append(version)
    return done


def init_register(url: str | os.PathLike, crs: CRS | None, *, target: int = SCHEMA_VERSION) -> Register:
    """Create the register on a store, or upgrade an older one.

    A new store needs ``crs``; an existing one keeps its CRS and refuses another.
    """
    engine = open_engine(url)
    with engine.begin() as conn:
        stored = _stored_srid(conn)
        if stored is None:
            if crs is None:
                engine.dispose()
                raise CRSError("a new register needs a CRS",
                               hint="give --crs, e.g. --crs vn2000:bac-giang")
            srid = ensure_srid(conn, crs)
        else:
            srid = stored
            if crs is not None and srid_of(crs) != stored:
                engine.dispose()
                raise CRSError(
                    f"the store is in {crs_from_srid(stored).name} (SRID {stored}), not {crs.name}",
                    hint="a register keeps the CRS it was created with; use another store",
                )
    reg = _register(engine, srid)
    migrate(reg, target=target)
    return reg


def open_register(url: str | os.PathLike) -> Register:
    """Open an initialised register; refuses a store without one or with an older schema."""
    info = store_kind(url)
    engine = open_engine(url, create=False)
    with engine.connect() as conn:
        srid = _stored_srid(conn)
        version = _applied(conn)
    if srid is None:
        engine.dispose()
        raise StoreError(f"{info.path or 'the database'} holds no land register",
                         hint="run `landrec init --crs vn2000:<province>` or `landrec load` first")
    if version < SCHEMA_VERSION:
        engine.dispose()
        raise StoreError(f"the register's schema is version {version}, this landrec needs {SCHEMA_VERSION}",
                         hint="run `landrec init` on the store to upgrade it")
    return _register(engine, srid)


def _casefold(value: str | None) -> str | None:
    return None if value is None else value.casefold()


def _register(engine: Engine, srid: int) -> Register:
    """The Register; on SQLite every connection also gets ``landrec_casefold`` (SQLite's
    own ``lower`` folds ASCII only, and addresses are Vietnamese)."""
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.create_function("landrec_casefold", 1, _casefold, deterministic=True)

        engine.dispose()  # pooled connections predate the function
    return Register(engine, srid, build_metadata(srid))


def schema_version(reg: Register) -> int:
    """The schema version of an open register."""
    with reg.engine.connect() as conn:
        return conn.execute(select(reg.table("schema_version").c.version)
                            .order_by(reg.table("schema_version").c.version.desc()).limit(1)).scalar_one()
