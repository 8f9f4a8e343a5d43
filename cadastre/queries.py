"""Lookups in the register: by number, point, address; a parcel's history; an area as of a date.

Point and area lookups use the store's spatial index: the GiST index on PostGIS, the
GeoPackage R-tree (``rtree_parcel_geom``) then an exact shapely test on GeoPackage.
Both give the same answers.  Every lookup takes ``at``: the state of the register at
that (naive UTC) time; ``None`` means now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import shapely
from sqlalchemy import Connection, column, func, or_, select, table

from cadastre.parties import current_owners
from cadastre.register import Register
from gis.errors import InputError, NotFoundError

__all__ = [
    "POINT_STATEMENTS",
    "History",
    "ParcelRef",
    "ParcelVersion",
    "alive",
    "in_box",
    "parcel_by_number",
    "parcel_by_uid",
    "parcel_history",
    "parcels_at_point",
    "parcels_by_address",
    "parcels_in_area",
    "parse_ref",
    "point_statement",
    "resolve",
]


@dataclass(frozen=True)
class ParcelVersion:
    """One version of a parcel (public fields, lifespan, where it came from)."""

    parcel_uid: str
    version: int
    commune_code: str
    sheet_no: str
    parcel_no: int
    area_m2: float
    land_use: str | None
    address: str | None
    begin_lifespan: datetime
    end_lifespan: datetime | None
    transaction_id: int
    geom: shapely.Geometry = field(repr=False)

    @property
    def ref(self) -> str:
        """``COMMUNE/SHEET/NUMBER``, the reference officers use."""
        return f"{self.commune_code}/{self.sheet_no}/{self.parcel_no}"

    def as_dict(self, *, geometry: bool = True) -> dict:
        """A JSON-ready dict; the geometry as GeoJSON when asked."""
        d = {k: getattr(self, k) for k in (
            "parcel_uid", "version", "commune_code", "sheet_no", "parcel_no", "area_m2", "land_use",
            "address", "begin_lifespan", "end_lifespan", "transaction_id")}
        d["ref"] = self.ref
        if geometry:
            d["geometry"] = shapely.geometry.mapping(self.geom)
        return d


@dataclass(frozen=True)
class ParcelRef:
    """A parcel named by (commune, sheet, number) or by its ``parcel_uid``."""

    commune_code: str | None = None
    sheet_no: str | None = None
    parcel_no: int | None = None
    parcel_uid: str | None = None


_UID = re.compile(r"^[0-9a-f]{32}$")


def parse_ref(text_ref: str) -> ParcelRef:
    """Read ``COMMUNE/SHEET/NUMBER`` or a 32-hex ``parcel_uid``.

    >>> parse_ref("10001/361560-4/12")
    ParcelRef(commune_code='10001', sheet_no='361560-4', parcel_no=12, parcel_uid=None)
    """
    text_ref = text_ref.strip()
    if _UID.match(text_ref):
        return ParcelRef(parcel_uid=text_ref)
    parts = text_ref.split("/")
    if len(parts) != 3 or not parts[2].isdigit():
        raise InputError(f"{text_ref!r} does not name a parcel",
                         hint="write COMMUNE/SHEET/NUMBER (e.g. 10001/361560-4/12) or a parcel_uid")
    return ParcelRef(parts[0], parts[1], int(parts[2]))


def _row(r) -> ParcelVersion:
    return ParcelVersion(r.parcel_uid, r.version, r.commune_code, r.sheet_no, r.parcel_no, r.area_m2,
                         r.land_use, r.address, r.begin_lifespan, r.end_lifespan, r.transaction_id, r.geom)


def _cols(reg: Register):
    p = reg.table("parcel")
    return [p.c.parcel_uid, p.c.version, p.c.commune_code, p.c.sheet_no, p.c.parcel_no, p.c.area_m2,
            p.c.land_use, p.c.address, p.c.begin_lifespan, p.c.end_lifespan, p.c.transaction_id, p.c.geom]


def alive(table, at: datetime | None):
    """The condition "this row was current at ``at``" (now when None)."""
    if at is None:
        return table.c.end_lifespan.is_(None)
    return (table.c.begin_lifespan <= at) & or_(table.c.end_lifespan.is_(None), table.c.end_lifespan > at)


def resolve(reg: Register, conn: Connection, ref: ParcelRef, *, at: datetime | None = None) -> ParcelVersion:
    """The version of the referenced parcel alive at ``at`` (now when None)."""
    p = reg.table("parcel")
    q = select(*_cols(reg)).where(alive(p, at))
    if ref.parcel_uid is not None:
        q = q.where(p.c.parcel_uid == ref.parcel_uid)
        name = ref.parcel_uid
    else:
        q = q.where(p.c.commune_code == ref.commune_code, p.c.sheet_no == ref.sheet_no,
                    p.c.parcel_no == ref.parcel_no)
        name = f"{ref.commune_code}/{ref.sheet_no}/{ref.parcel_no}"
    row = conn.execute(q).first()
    if row is None:
        when = f" at {at.isoformat()}" if at else ""
        raise NotFoundError(f"no parcel {name}{when}",
                            hint="check the commune, sheet and number; `landrec parcel history` shows retired ones")
    return _row(row)


def parcel_by_number(reg: Register, commune_code: str, sheet_no: str, parcel_no: int, *,
                     at: datetime | None = None) -> ParcelVersion:
    """The parcel (commune, sheet, number), now or at ``at``."""
    with reg.engine.connect() as conn:
        return resolve(reg, conn, ParcelRef(commune_code, sheet_no, parcel_no), at=at)


def parcel_by_uid(reg: Register, parcel_uid: str, *, at: datetime | None = None) -> ParcelVersion:
    """The parcel with this uid, now or at ``at``."""
    with reg.engine.connect() as conn:
        return resolve(reg, conn, ParcelRef(parcel_uid=parcel_uid), at=at)


def in_box(reg: Register, q, box: tuple[float, float, float, float]):
    """Restrict a parcel query to rows whose envelope meets ``box`` (via the spatial index)."""
    p = reg.table("parcel")
    minx, miny, maxx, maxy = box
    if reg.kind == "postgis":
        env = func.ST_MakeEnvelope(minx, miny, maxx, maxy, reg.srid)
        return q.where(p.c.geom.op("&&")(env))
    rt = table("rtree_parcel_geom", column("id"), column("minx"), column("maxx"), column("miny"), column("maxy"))
    return q.where(p.c.id.in_(select(rt.c.id).where(rt.c.minx <= maxx, rt.c.maxx >= minx,
                                                    rt.c.miny <= maxy, rt.c.maxy >= miny)))


#: the point lookup on PostGIS, prepared once a connection (no parsing or planning a query):
#: name -> (parameter types, condition on the lifespan)
POINT_STATEMENTS = {
    "landrec_point_now": ("float8, float8, int", "end_lifespan IS NULL"),
    "landrec_point_at": ("float8, float8, int, timestamp",
                         "begin_lifespan <= $4 AND (end_lifespan IS NULL OR end_lifespan > $4)"),
}
_POINT_SQL = (
    "SELECT parcel_uid, version, commune_code, sheet_no, parcel_no, area_m2, land_use, address,"
    " begin_lifespan, end_lifespan, transaction_id, ST_AsBinary(geom) AS geom FROM parcel"
    " WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint($1, $2), $3)) AND {alive}"
    " ORDER BY commune_code, sheet_no, parcel_no"
)


def point_statement(conn: Connection, at: datetime | None) -> str:
    """The name of the point lookup statement, prepared on ``conn`` (PostGIS) if not yet."""
    name = "landrec_point_now" if at is None else "landrec_point_at"
    prepared = conn.connection.info.setdefault("landrec_prepared", set())  # lives with the DBAPI connection
    if name not in prepared:
        types, alive_sql = POINT_STATEMENTS[name]
        conn.exec_driver_sql(f"PREPARE {name} ({types}) AS {_POINT_SQL.format(alive=alive_sql)}")
        prepared.add(name)
    return name


def parcels_at_point(reg: Register, x: float, y: float, *, at: datetime | None = None,
                     conn: Connection | None = None) -> list[ParcelVersion]:
    """The parcels covering the point (x, y) in the store's CRS: one, or two on a boundary.

    The hot lookup: on PostGIS one prepared statement on the GiST index; on GeoPackage
    the R-tree, then an exact shapely test.
    """
    if conn is None:
        with reg.engine.connect() as c:
            return parcels_at_point(reg, x, y, at=at, conn=c)
    if reg.kind == "postgis":
        name = point_statement(conn, at)
        # straight on the driver's cursor: SQLAlchemy's result machinery doubled the time
        cur = conn.connection.dbapi_connection.cursor()
        try:
            if at is None:
                cur.execute(f"EXECUTE {name} (%s, %s, %s)", (x, y, reg.srid))
            else:
                cur.execute(f"EXECUTE {name} (%s, %s, %s, %s)", (x, y, reg.srid, at))
            rows = cur.fetchall()
        finally:
            cur.close()
        return [ParcelVersion(*r[:11], shapely.from_wkb(bytes(r[11]))) for r in rows]
    p = reg.table("parcel")
    q = in_box(reg, select(*_cols(reg)).where(alive(p, at)), (x, y, x, y))
    q = q.order_by(p.c.commune_code, p.c.sheet_no, p.c.parcel_no)
    pt = shapely.Point(x, y)
    return [v for v in (_row(r) for r in conn.execute(q)) if v.geom.covers(pt)]


def parcels_by_address(reg: Register, words: str, *, at: datetime | None = None,
                       limit: int = 100) -> list[ParcelVersion]:
    """Parcels whose address contains ``words`` (case-insensitive), by commune, sheet, number."""
    p = reg.table("parcel")
    needle = words.strip()
    if not needle:
        raise InputError("empty address text", hint="give a few words of the address")
    pattern = "%" + needle.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    folded = func.lower(p.c.address) if reg.kind == "postgis" else func.landrec_casefold(p.c.address)
    q = (select(*_cols(reg)).where(alive(p, at), folded.like(pattern, escape="\\"))
         .order_by(p.c.commune_code, p.c.sheet_no, p.c.parcel_no).limit(limit))
    with reg.engine.connect() as conn:
        return [_row(r) for r in conn.execute(q)]


def parcels_in_area(reg: Register, box: tuple[float, float, float, float], *,
                    at: datetime | None = None) -> list[ParcelVersion]:
    """The state of an area: the parcels meeting ``box`` (min_e, min_n, max_e, max_n) at ``at``."""
    p = reg.table("parcel")
    q = in_box(reg, select(*_cols(reg)).where(alive(p, at)), box)
    if reg.kind == "postgis":
        q = q.where(func.ST_Intersects(p.c.geom, func.ST_MakeEnvelope(*box, reg.srid)))
    q = q.order_by(p.c.commune_code, p.c.sheet_no, p.c.parcel_no)
    with reg.engine.connect() as conn:
        found = [_row(r) for r in conn.execute(q)]
    if reg.kind == "gpkg":
        area = shapely.box(*box)
        found = [v for v in found if v.geom.intersects(area)]
    return found


@dataclass
class History:
    """Every version of a parcel, the edits behind them, its parents and children, its owners."""

    parcel_uid: str
    versions: list[ParcelVersion]
    transactions: list[dict]
    parents: list[dict]
    children: list[dict]
    owners: list[dict]

    def as_dict(self) -> dict:
        """A JSON-ready dict (versions without geometry)."""
        return {
            "parcel_uid": self.parcel_uid,
            "versions": [v.as_dict(geometry=False) for v in self.versions],
            "transactions": self.transactions,
            "parents": self.parents,
            "children": self.children,
            "owners": self.owners,
        }


def parcel_history(reg: Register, ref: ParcelRef) -> History:
    """The full history of a parcel: named by uid, or by number (its latest parcel)."""
    p, lin = reg.table("parcel"), reg.table("parcel_lineage")
    et, src = reg.table("edit_transaction"), reg.table("source")
    with reg.engine.connect() as conn:
        uid = ref.parcel_uid
        if uid is None:
            uid = conn.execute(
                select(p.c.parcel_uid).where(p.c.commune_code == ref.commune_code, p.c.sheet_no == ref.sheet_no,
                                             p.c.parcel_no == ref.parcel_no)
                .order_by(p.c.begin_lifespan.desc(), p.c.id.desc()).limit(1)).scalar()
        if uid is None:
            raise NotFoundError(f"no parcel {ref.commune_code}/{ref.sheet_no}/{ref.parcel_no} was ever registered")
        versions = [_row(r) for r in conn.execute(select(*_cols(reg)).where(p.c.parcel_uid == uid)
                                                  .order_by(p.c.version))]
        if not versions:
            raise NotFoundError(f"no parcel {uid}")

        def links(mine, other):
            q = (select(other.label("parcel_uid"), lin.c.kind, lin.c.transaction_id, et.c.at)
                 .join(et, et.c.id == lin.c.transaction_id).where(mine == uid).order_by(et.c.at, lin.c.id))
            out = []
            for r in conn.execute(q):
                d = dict(r._mapping)
                last = conn.execute(select(p.c.commune_code, p.c.sheet_no, p.c.parcel_no)
                                    .where(p.c.parcel_uid == d["parcel_uid"])
                                    .order_by(p.c.version.desc()).limit(1)).first()
                d["ref"] = f"{last.commune_code}/{last.sheet_no}/{last.parcel_no}" if last else None
                out.append(d)
            return out

        parents = links(lin.c.child_uid, lin.c.parent_uid)
        children = links(lin.c.parent_uid, lin.c.child_uid)
        txn_ids = sorted({v.transaction_id for v in versions} | {d["transaction_id"] for d in children})
        transactions = [dict(r._mapping) for r in conn.execute(
            select(et.c.id, et.c.kind, et.c.at, et.c.officer, src.c.kind.label("source_kind"),
                   src.c.reference.label("source_reference"), src.c.description.label("source_description"))
            .join(src, src.c.id == et.c.source_id).where(et.c.id.in_(txn_ids)).order_by(et.c.at, et.c.id))]
        owners = _owner_history(reg, conn, uid)
    return History(uid, versions, transactions, parents, children, owners)


def _owner_history(reg: Register, conn: Connection, uid: str) -> list[dict]:
    rrr, party = reg.table("rrr"), reg.table("party")
    q = (select(rrr.c.type, rrr.c.share, rrr.c.certificate_no, rrr.c.begin_lifespan, rrr.c.end_lifespan,
                party.c.name, party.c.id_number)
         .join(party, (party.c.party_uid == rrr.c.party_uid) & (party.c.begin_lifespan <= rrr.c.begin_lifespan)
               & or_(party.c.end_lifespan.is_(None), party.c.end_lifespan > rrr.c.begin_lifespan))
         .where(rrr.c.parcel_uid == uid).order_by(rrr.c.begin_lifespan))
    return [dict(r._mapping) for r in conn.execute(q)]


def owners_of(reg: Register, ref: ParcelRef, *, at: datetime | None = None) -> list[dict]:
    """Who holds rights on a parcel now (or at ``at``): personal data, for officers only."""
    with reg.engine.connect() as conn:
        v = resolve(reg, conn, ref, at=at)
        return current_owners(reg, conn, v.parcel_uid, at=at)
