"""Edits of the register, each one transaction with its source document.

Split a parcel by a line, merge parcels, move the boundary between two parcels,
change land use, change owner.  Every edit names the version of each parcel it read
(``expect_version``, optimistic locking): if another edit got there first the edit
raises :class:`ConflictError` and changes nothing.  An edit that would break the
fabric (a split line that does not cross the parcel, parcels that do not touch, a new
boundary reaching into a third parcel) raises :class:`TopologyError` and changes
nothing.  Parents end their lifespan, children begin theirs at the same instant, and
``parcel_lineage`` records which parcel came from which.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import shapely
from shapely.ops import split as split_by_line
from sqlalchemy import Connection, func, select

from cadastre.load import content_hash
from cadastre.parties import carry_rights, set_owner
from cadastre.queries import ParcelRef, ParcelVersion, alive, in_box, parse_ref, resolve
from cadastre.register import Register, lock_sheets, utcnow
from gis.errors import ConflictError, InputError, TopologyError
from gis.landuse import is_land_use_code

__all__ = [
    "AREA_TOLERANCE_M2",
    "MIN_PARCEL_M2",
    "EditResult",
    "SourceDoc",
    "change_owner",
    "merge_parcels",
    "move_boundary",
    "set_land_use",
    "split_parcel",
]

#: overlaps and gaps smaller than this (m²) are rounding, not topology
AREA_TOLERANCE_M2 = 0.01
#: a piece smaller than this (m²) is a sliver, not a parcel
MIN_PARCEL_M2 = 1.0


@dataclass(frozen=True)
class SourceDoc:
    """The document behind an edit (LA_Source): e.g. a decision, a survey record."""

    kind: str
    reference: str
    officer: str | None = None
    date: datetime | None = None
    description: str | None = None


@dataclass
class EditResult:
    """What an edit did: its transaction, the versions it ended and those it created."""

    transaction_id: int
    kind: str
    ended: list[dict] = field(default_factory=list)
    created: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        """A JSON-ready dict."""
        return {"transaction_id": self.transaction_id, "kind": self.kind, "ended": self.ended,
                "created": self.created}


def _ref(ref: ParcelRef | str) -> ParcelRef:
    return parse_ref(ref) if isinstance(ref, str) else ref


class _Edit:
    """One edit transaction: source, transaction row, locked parents, new versions."""

    def __init__(self, reg: Register, conn: Connection, kind: str, source: SourceDoc) -> None:
        self.reg, self.conn, self.kind = reg, conn, kind
        self.now = utcnow()
        src, et = reg.table("source"), reg.table("edit_transaction")
        self.source_id = conn.execute(src.insert().returning(src.c.id), {
            "kind": source.kind, "reference": source.reference, "date": source.date or self.now,
            "description": source.description, "officer": source.officer}).scalar_one()
        self.txn = conn.execute(et.insert().returning(et.c.id), {
            "kind": kind, "source_id": self.source_id, "officer": source.officer, "at": self.now}).scalar_one()
        self.result = EditResult(self.txn, kind)

    def take(self, refs: list[ParcelRef], expect_versions: list[int]) -> list[ParcelVersion]:
        """Read current parcels and end their lifespans, if each is still at its expected
        version.  Their sheets are locked first (on PostGIS), so edits and loads of a
        sheet go one after the other and new numbers drawn on it are unique."""
        found = [resolve(self.reg, self.conn, ref) for ref in refs]
        if len({v.parcel_uid for v in found}) != len(found):
            raise InputError("the same parcel is named twice")
        lock_sheets(self.reg, self.conn, {(v.commune_code, v.sheet_no) for v in found})
        later = utcnow(after=max(v.begin_lifespan for v in found))
        if later > self.now:  # the parcels changed this very tick: this edit's instant is the next one
            self.now = later
            et = self.reg.table("edit_transaction")
            self.conn.execute(et.update().where(et.c.id == self.txn).values(at=later))
        p = self.reg.table("parcel")
        for current, expect_version in zip(found, expect_versions):
            if current.version != expect_version:
                raise ConflictError(
                    f"parcel {current.ref} is at version {current.version}, not {expect_version}:"
                    " someone changed it since you read it",
                    hint="look at it again (`landrec parcel show`) and redo the edit on the new version")
            n = self.conn.execute(p.update().where(p.c.parcel_uid == current.parcel_uid,
                                                   p.c.version == expect_version, p.c.end_lifespan.is_(None))
                                  .values(end_lifespan=self.now)).rowcount
            if n != 1:
                raise ConflictError(f"parcel {current.ref} was changed by another edit at the same time",
                                    hint="look at it again and redo the edit on the new version")
            self.result.ended.append({"parcel_uid": current.parcel_uid, "version": current.version,
                                      "ref": current.ref})
        return found

    def check_no_overlap(self, geom: shapely.Geometry, what: str) -> None:
        """Refuse a geometry that overlaps a current parcel (the taken ones are no longer current)."""
        p = self.reg.table("parcel")
        q = select(p.c.commune_code, p.c.sheet_no, p.c.parcel_no, p.c.geom).where(alive(p, None))
        if self.reg.kind == "postgis":
            q = q.where(func.ST_Intersects(p.c.geom, func.ST_GeomFromWKB(
                shapely.to_wkb(geom), self.reg.srid)))
        else:
            q = in_box(self.reg, q, geom.bounds)
        for r in self.conn.execute(q):
            overlap = r.geom.intersection(geom).area
            if overlap > AREA_TOLERANCE_M2:
                raise TopologyError(
                    f"{what} would overlap parcel {r.commune_code}/{r.sheet_no}/{r.parcel_no} by {overlap:.2f} m²",
                    hint="draw the new boundary inside the parcels being edited")

    def add(self, base: ParcelVersion, geom: shapely.Geometry, *, uid: str | None = None,
            version: int = 1, parcel_no: int | None = None, land_use: str | None = None,
            keep_land_use: bool = True) -> dict:
        """Insert a new parcel version (a new parcel when ``uid`` is None)."""
        geom = shapely.MultiPolygon([geom]) if geom.geom_type == "Polygon" else geom
        number = base.parcel_no if parcel_no is None else parcel_no
        lu = land_use if land_use is not None else (base.land_use if keep_land_use else None)
        row = {
            "parcel_uid": uid or uuid.uuid4().hex, "version": version, "commune_code": base.commune_code,
            "sheet_no": base.sheet_no, "parcel_no": number, "area_m2": geom.area, "land_use": lu,
            "address": base.address, "begin_lifespan": self.now, "end_lifespan": None,
            "source_id": self.source_id, "transaction_id": self.txn,
            "content_hash": content_hash(number, lu, base.address, geom),
            "geom": geom,
        }
        self.conn.execute(self.reg.table("parcel").insert(), row)
        created = {k: row[k] for k in ("parcel_uid", "version", "parcel_no", "area_m2", "land_use")}
        created["ref"] = f"{base.commune_code}/{base.sheet_no}/{number}"
        self.result.created.append(created)
        return row

    def lineage(self, parent: str, child: str, kind: str) -> None:
        self.conn.execute(self.reg.table("parcel_lineage").insert(),
                          {"parent_uid": parent, "child_uid": child, "transaction_id": self.txn, "kind": kind})

    def next_numbers(self, base: ParcelVersion, n: int) -> list[int]:
        """``n`` parcel numbers never used on the parcel's sheet."""
        p = self.reg.table("parcel")
        top = self.conn.execute(select(func.max(p.c.parcel_no)).where(
            p.c.commune_code == base.commune_code, p.c.sheet_no == base.sheet_no)).scalar() or 0
        return list(range(top + 1, top + 1 + n))


def _polygonal(geom: shapely.Geometry) -> list[shapely.Polygon]:
    return [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and g.area > 0]


def split_parcel(reg: Register, ref: ParcelRef | str, line: shapely.LineString, *, expect_version: int,
                 source: SourceDoc) -> EditResult:
    """Split a parcel by a line into two or more new parcels (new numbers on its sheet).

    The pieces cover the parent exactly; each child inherits the land use, address
    and rights of the parent.
    """
    if line.geom_type not in ("LineString", "MultiLineString"):
        raise InputError(f"a split needs a line, not a {line.geom_type}")
    with reg.engine.begin() as conn:
        edit = _Edit(reg, conn, "split", source)
        [parent] = edit.take([_ref(ref)], [expect_version])
        parts = _polygonal(parent.geom)
        pieces = _polygonal(shapely.GeometryCollection(list(split_by_line(parent.geom, line).geoms)))
        if len(pieces) <= len(parts):
            raise TopologyError(f"the split line does not cross parcel {parent.ref}",
                                hint="draw a line that enters and leaves the parcel")
        small = [p for p in pieces if p.area < MIN_PARCEL_M2]
        if small:
            raise TopologyError(f"the split of parcel {parent.ref} would leave a sliver of {small[0].area:.2f} m²",
                                hint=f"pieces must be at least {MIN_PARCEL_M2} m²")
        gap = shapely.union_all(pieces).symmetric_difference(parent.geom).area
        if gap > AREA_TOLERANCE_M2:
            raise TopologyError(f"the pieces of parcel {parent.ref} do not cover it ({gap:.3f} m² off)")
        numbers = edit.next_numbers(parent, len(pieces))
        children = []
        for piece, number in zip(sorted(pieces, key=lambda g: (-g.centroid.y, g.centroid.x)), numbers):
            edit.check_no_overlap(piece, f"piece {number} of parcel {parent.ref}")
            child = edit.add(parent, piece, parcel_no=number)
            edit.lineage(parent.parcel_uid, child["parcel_uid"], "split")
            children.append(child["parcel_uid"])
        carry_rights(reg, conn, [parent.parcel_uid], children, now=edit.now, source_id=edit.source_id,
                     transaction_id=edit.txn)
        return edit.result


def merge_parcels(reg: Register, refs: list[ParcelRef | str], *, expect_versions: list[int],
                  source: SourceDoc, land_use: str | None = None) -> EditResult:
    """Merge parcels that share boundaries into one new parcel (a new number on the
    first parcel's sheet, its land use unless ``land_use`` is given)."""
    if len(refs) < 2:
        raise InputError("a merge needs at least two parcels")
    if len(refs) != len(expect_versions):
        raise InputError("give one expected version per parcel",
                         hint="--expect-version once per parcel, in the same order")
    if land_use is not None and not is_land_use_code(land_use):
        raise InputError(f"unknown land-use code {land_use!r}", hint="see the land-use table")
    with reg.engine.begin() as conn:
        edit = _Edit(reg, conn, "merge", source)
        parents = edit.take([_ref(r) for r in refs], list(expect_versions))
        for i, a in enumerate(parents):
            for b in parents[i + 1:]:
                if a.geom.intersection(b.geom).area > AREA_TOLERANCE_M2:
                    raise TopologyError(f"parcels {a.ref} and {b.ref} overlap; they cannot be merged as they are")
        union = shapely.union_all([p.geom for p in parents])
        pieces = _polygonal(union)
        if len(pieces) != 1:
            apart = [p.ref for p in parents if not any(
                p is not q and p.geom.intersection(q.geom).length > 0 for q in parents)]
            names = ", ".join(apart) if apart else ", ".join(p.ref for p in parents)
            raise TopologyError(f"parcels to merge must share boundaries; {names} do(es) not touch the others",
                                hint="merge only neighbouring parcels")
        merged = pieces[0]
        edit.check_no_overlap(merged, "the merged parcel")
        number = edit.next_numbers(parents[0], 1)[0]
        child = edit.add(parents[0], merged, parcel_no=number, land_use=land_use)
        for p in parents:
            edit.lineage(p.parcel_uid, child["parcel_uid"], "merge")
        carry_rights(reg, conn, [p.parcel_uid for p in parents], [child["parcel_uid"]], now=edit.now,
                     source_id=edit.source_id, transaction_id=edit.txn)
        return edit.result


def move_boundary(reg: Register, ref_a: ParcelRef | str, ref_b: ParcelRef | str, new_a: shapely.Geometry, *,
                  expect_versions: tuple[int, int], source: SourceDoc) -> EditResult:
    """Move the boundary between neighbours A and B: A takes ``new_a``, B the rest of
    their union.  Both keep their numbers (new versions); the union does not change."""
    with reg.engine.begin() as conn:
        edit = _Edit(reg, conn, "boundary", source)
        a, b = edit.take([_ref(ref_a), _ref(ref_b)], list(expect_versions))
        if a.geom.intersection(b.geom).length == 0:
            raise TopologyError(f"parcels {a.ref} and {b.ref} share no boundary",
                                hint="a boundary move is between two neighbouring parcels")
        if not new_a.is_valid or not _polygonal(new_a):
            raise InputError("the new geometry of the first parcel is not a valid polygon")
        union = shapely.union_all([a.geom, b.geom])
        edit.check_no_overlap(new_a, f"the new boundary of parcel {a.ref}")
        outside = new_a.difference(union).area
        if outside > AREA_TOLERANCE_M2:
            raise TopologyError(f"the new parcel {a.ref} reaches {outside:.2f} m² outside {a.ref} and {b.ref}",
                                hint="a boundary move keeps the two parcels' union")
        new_a = shapely.MultiPolygon(_polygonal(new_a.intersection(union)))
        new_b = shapely.MultiPolygon(_polygonal(union.difference(new_a)))
        if new_b.area < MIN_PARCEL_M2 or new_a.area < MIN_PARCEL_M2:
            raise TopologyError(f"the move would leave parcel {b.ref if new_b.area < MIN_PARCEL_M2 else a.ref}"
                                " without land", hint="use a merge to join two parcels")
        edit.add(a, new_a, uid=a.parcel_uid, version=a.version + 1)
        edit.add(b, new_b, uid=b.parcel_uid, version=b.version + 1)
        edit.lineage(a.parcel_uid, b.parcel_uid, "boundary")
        edit.lineage(b.parcel_uid, a.parcel_uid, "boundary")
        return edit.result


def set_land_use(reg: Register, ref: ParcelRef | str, code: str, *, expect_version: int,
                 source: SourceDoc) -> EditResult:
    """Change a parcel's land use (a new version)."""
    if not is_land_use_code(code):
        raise InputError(f"unknown land-use code {code!r}", hint="see the land-use table (e.g. ONT, LUC, CLN)")
    with reg.engine.begin() as conn:
        edit = _Edit(reg, conn, "land_use", source)
        [p] = edit.take([_ref(ref)], [expect_version])
        if p.land_use == code.upper():
            raise InputError(f"parcel {p.ref} already has land use {p.land_use}")
        edit.add(p, p.geom, uid=p.parcel_uid, version=p.version + 1, land_use=code.upper())
        return edit.result


def change_owner(reg: Register, ref: ParcelRef | str, *, name: str, id_number: str | None,
                 address: str | None = None, certificate_no: str | None = None, expect_version: int,
                 source: SourceDoc) -> EditResult:
    """Transfer a parcel to a new sole owner (a new version of the parcel; the old
    ownership right ends, a new one begins)."""
    if not name.strip():
        raise InputError("the new owner needs a name")
    with reg.engine.begin() as conn:
        edit = _Edit(reg, conn, "owner", source)
        [p] = edit.take([_ref(ref)], [expect_version])
        edit.add(p, p.geom, uid=p.parcel_uid, version=p.version + 1)
        set_owner(reg, conn, p.parcel_uid, name=name.strip(), id_number=id_number, address=address,
                  now=edit.now, source_id=edit.source_id, transaction_id=edit.txn,
                  certificate_no=certificate_no)
        return edit.result
