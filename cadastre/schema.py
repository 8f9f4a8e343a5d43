"""The cadastre schema, shaped after ISO 19152 LADM, defined once for both stores.

========================  ==============================================================
table                     LADM role
========================  ==============================================================
``admin_unit``            administrative units: province, district, commune
``map_sheet``             map sheets of Circular 25/2014 (number, scale, extent)
``land_use_class``        the land-use table (:mod:`gis.landuse`)
``parcel``                LA_SpatialUnit + LA_BAUnit: one row per version of a parcel
``party``                 LA_Party: owners and users (personal data), versioned
``rrr``                   LA_RRR: rights, restrictions, responsibilities, versioned
``source``                LA_Source: the document behind each change
``edit_transaction``      one change to the register (a load of a sheet, an edit)
``parcel_lineage``        parent -> child parcels of a split, merge or boundary move
``road`` ...              reference layers for the consumer systems
========================  ==============================================================

Every versioned object has ``begin_lifespan`` and ``end_lifespan`` (NULL while
current); a ``*_uid`` names the object across its versions.  Times are naive UTC.
Tables are built by :func:`build_metadata` for the store's SRID; nothing here opens
a database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator, UserDefinedType

from gis.store import Geometry

__all__ = ["CURRENT", "LEVELS", "PUBLIC_PARCEL_FIELDS", "Timestamp", "build_metadata"]

#: the parcel fields that may be published (no personal data lives in ``parcel``)
PUBLIC_PARCEL_FIELDS = ("parcel_no", "sheet_no", "commune_code", "area_m2", "land_use", "address")
#: the SQL condition of a current row
CURRENT = "end_lifespan IS NULL"
LEVELS = ("province", "district", "commune")


class _GpkgDateTime(UserDefinedType):
    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "DATETIME"


class Timestamp(TypeDecorator):
    """A naive UTC time: ``timestamp`` on PostGIS; on GeoPackage the format its
    specification asks for (``YYYY-MM-DDTHH:MM:SS.SSSZ``), so GDAL and QGIS read it."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect is not None and dialect.name == "sqlite":
            return dialect.type_descriptor(_GpkgDateTime())
        return super().load_dialect_impl(dialect)

    def process_bind_param(self, value, dialect):
        if value is None or dialect.name != "sqlite":
            return value
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"

    def process_result_value(self, value, dialect):
        if value is None or dialect.name != "sqlite":
            return value
        return datetime.strptime(value.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")


def _lifespan() -> list[Column]:
    return [
        Column("begin_lifespan", Timestamp, nullable=False),
        Column("end_lifespan", Timestamp),
    ]


def build_metadata(srid: int) -> MetaData:
    """The cadastre's tables, with geometry columns in the store's CRS ``srid``."""
    md = MetaData()
    Table(
        "store_info", md,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )
    Table(
        "schema_version", md,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("description", Text, nullable=False),
        Column("applied_at", Timestamp, nullable=False),
    )
    Table(
        "source", md,
        Column("id", Integer, primary_key=True),
        Column("kind", String(32), nullable=False),
        Column("reference", Text, nullable=False),
        Column("date", Timestamp, nullable=False),
        Column("description", Text),
        Column("officer", String(128)),
    )
    Table(
        "edit_transaction", md,
        Column("id", Integer, primary_key=True),
        Column("kind", String(32), nullable=False),
        Column("source_id", Integer, ForeignKey("source.id"), nullable=False),
        Column("officer", String(128)),
        Column("at", Timestamp, nullable=False),
    )
    Table(
        "land_use_class", md,
        Column("code", String(8), primary_key=True),
        Column("group", String(32), nullable=False),
        Column("name_vi", Text, nullable=False),
        Column("name_en", Text, nullable=False),
        Column("color", String(9), nullable=False),
    )
    Table(
        "admin_unit", md,
        Column("id", Integer, primary_key=True),
        Column("code", String(16), nullable=False, unique=True),
        Column("name", Text, nullable=False),
        Column("level", String(16), nullable=False),
        Column("parent_code", String(16)),
        Column("geom", Geometry("MULTIPOLYGON", srid=srid)),
    )
    Table(
        "map_sheet", md,
        Column("id", Integer, primary_key=True),
        Column("sheet_no", String(32), nullable=False),
        Column("scale", Integer, nullable=False),
        Column("commune_code", String(16), nullable=False),
        Column("local_no", Integer),
        Column("geom", Geometry("POLYGON", srid=srid)),
        # what a reload is compared with: the sheet as the last load that wrote it left it
        # (``loaded_at``), except the parcels whose register edits that load kept, for
        # which ``kept_input`` holds what the input had (JSON: parcel number -> content
        # hash, null when the input had no such parcel)
        Column("loaded_at", Timestamp),
        Column("kept_input", Text),
        UniqueConstraint("commune_code", "sheet_no", name="uq_map_sheet"),
    )
    Table(
        "parcel", md,
        Column("id", Integer, primary_key=True),
        Column("parcel_uid", String(36), nullable=False),
        Column("version", Integer, nullable=False),
        Column("commune_code", String(16), nullable=False),
        Column("sheet_no", String(32), nullable=False),
        Column("parcel_no", Integer, nullable=False),
        Column("area_m2", Float, nullable=False),
        Column("land_use", String(8)),
        Column("address", Text),
        *_lifespan(),
        Column("source_id", Integer, ForeignKey("source.id"), nullable=False),
        Column("transaction_id", Integer, ForeignKey("edit_transaction.id"), nullable=False),
        Column("content_hash", String(32), nullable=False),
        Column("geom", Geometry("MULTIPOLYGON", srid=srid), nullable=False),
        UniqueConstraint("parcel_uid", "version", name="uq_parcel_version"),
        # the sheet number leads: it tells rows apart, where a commune's rows share their
        # commune code; the parcel number comes before the commune code, which it almost
        # always makes needless to compare (these indexes are built after a bulk load: a
        # text column compared on every tie costs a third of the build)
        Index("ix_parcel_key_current", "sheet_no", "parcel_no", "commune_code", unique=True,
              postgresql_where=text(CURRENT), sqlite_where=text(CURRENT)),
        Index("ix_parcel_sheet", "sheet_no"),
    )
    Table(
        "parcel_lineage", md,
        Column("id", Integer, primary_key=True),
        Column("parent_uid", String(36), nullable=False, index=True),
        Column("child_uid", String(36), nullable=False, index=True),
        Column("transaction_id", Integer, ForeignKey("edit_transaction.id"), nullable=False),
        Column("kind", String(16), nullable=False),
    )
    Table(
        "party", md,
        Column("id", Integer, primary_key=True),
        Column("party_uid", String(36), nullable=False, index=True),
        Column("version", Integer, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("name", Text, nullable=False, index=True),
        Column("id_number", String(32), index=True),
        Column("address", Text),
        *_lifespan(),
        Column("source_id", Integer, ForeignKey("source.id"), nullable=False),
        UniqueConstraint("party_uid", "version", name="uq_party_version"),
    )
    Table(
        "rrr", md,
        Column("id", Integer, primary_key=True),
        Column("rrr_uid", String(36), nullable=False),
        Column("version", Integer, nullable=False),
        Column("type", String(32), nullable=False),
        Column("share", Float, nullable=False),
        Column("certificate_no", String(64)),
        Column("party_uid", String(36), nullable=False, index=True),
        Column("parcel_uid", String(36), nullable=False, index=True),
        *_lifespan(),
        Column("source_id", Integer, ForeignKey("source.id"), nullable=False),
        Column("transaction_id", Integer, ForeignKey("edit_transaction.id"), nullable=False),
        UniqueConstraint("rrr_uid", "version", name="uq_rrr_version"),
    )
    # reference layers loaded from a district's base layers, for the consumer systems
    Table(
        "road", md,
        Column("id", Integer, primary_key=True),
        Column("name", Text),
        Column("kind", String(32)),
        Column("width_m", Float),
        Column("geom", Geometry("MULTILINESTRING", srid=srid)),
    )
    Table(
        "monitoring_station", md,
        Column("id", Integer, primary_key=True),
        Column("code", String(32), nullable=False, unique=True),
        Column("name", Text),
        Column("kind", String(32)),
        Column("geom", Geometry("POINT", srid=srid)),
    )
    Table(
        "station_reading", md,
        Column("id", Integer, primary_key=True),
        Column("station_code", String(32), nullable=False, index=True),
        Column("at", Timestamp, nullable=False),
        Column("parameter", String(32), nullable=False),
        Column("value", Float),
        Column("unit", String(16)),
    )
    Table(
        "planning_zone", md,
        Column("id", Integer, primary_key=True),
        Column("code", String(32)),
        Column("name", Text),
        Column("land_use", String(8)),
        Column("geom", Geometry("MULTIPOLYGON", srid=srid)),
    )
    return md
