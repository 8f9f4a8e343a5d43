"""Parties (owners, users) and their rights on parcels: LA_Party and LA_RRR.

Personal data lives only here (``party``) and in ``rrr``; the parcel table holds none.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, select

from cadastre.register import Register

__all__ = ["carry_rights", "current_owners", "set_owner"]


def _party(reg: Register, conn: Connection, *, name: str, id_number: str | None, address: str | None,
           now: datetime, source_id: int) -> str:
    """The party_uid of this person: an existing party (a new version if the name or
    address changed) found by ID number, else by name; or a new party."""
    party = reg.table("party")
    key = party.c.id_number == id_number if id_number else (party.c.name == name) & party.c.id_number.is_(None)
    row = conn.execute(select(party).where(key, party.c.end_lifespan.is_(None))).first()
    if row is not None:
        if row.name == name and (address is None or row.address == address):
            return row.party_uid
        conn.execute(party.update().where(party.c.id == row.id).values(end_lifespan=now))
        uid, version, address = row.party_uid, row.version + 1, address if address is not None else row.address
    else:
        uid, version = uuid.uuid4().hex, 1
    conn.execute(party.insert(), {
        "party_uid": uid, "version": version, "kind": "person", "name": name, "id_number": id_number,
        "address": address, "begin_lifespan": now, "end_lifespan": None, "source_id": source_id,
    })
    return uid


def set_owner(reg: Register, conn: Connection, parcel_uid: str, *, name: str, id_number: str | None,
              address: str | None, now: datetime, source_id: int, transaction_id: int,
              certificate_no: str | None = None) -> str:
    """Make ``name`` the sole owner of a parcel: the current ownership rights end, a new one begins.

    Returns the new right's ``rrr_uid``.
    """
    rrr = reg.table("rrr")
    conn.execute(rrr.update().where(rrr.c.parcel_uid == parcel_uid, rrr.c.type == "ownership",
                                    rrr.c.end_lifespan.is_(None)).values(end_lifespan=now))
    party_uid = _party(reg, conn, name=name, id_number=id_number, address=address, now=now, source_id=source_id)
    rrr_uid = uuid.uuid4().hex
    conn.execute(rrr.insert(), {
        "rrr_uid": rrr_uid, "version": 1, "type": "ownership", "share": 1.0, "certificate_no": certificate_no,
        "party_uid": party_uid, "parcel_uid": parcel_uid, "begin_lifespan": now, "end_lifespan": None,
        "source_id": source_id, "transaction_id": transaction_id,
    })
    return rrr_uid


def carry_rights(reg: Register, conn: Connection, parents: list[str], children: list[str], *,
                 now: datetime, source_id: int, transaction_id: int) -> None:
    """End the parents' current rights and give each child a copy of them (split, merge)."""
    rrr = reg.table("rrr")
    rights = conn.execute(select(rrr).where(rrr.c.parcel_uid.in_(parents), rrr.c.end_lifespan.is_(None))).all()
    if not rights:
        return
    conn.execute(rrr.update().where(rrr.c.parcel_uid.in_(parents), rrr.c.end_lifespan.is_(None))
                 .values(end_lifespan=now))
    seen = set()
    rows = []
    for child in children:
        for r in rights:
            key = (child, r.type, r.party_uid)
            if key in seen:
                continue
            seen.add(key)
            rows.append({
                "rrr_uid": uuid.uuid4().hex, "version": 1, "type": r.type, "share": r.share,
                "certificate_no": None, "party_uid": r.party_uid, "parcel_uid": child, "begin_lifespan": now,
                "end_lifespan": None, "source_id": source_id, "transaction_id": transaction_id,
            })
    conn.execute(rrr.insert(), rows)


def current_owners(reg: Register, conn: Connection, parcel_uid: str, *, at: datetime | None = None) -> list[dict]:
    """The parties holding rights on a parcel (now, or at ``at``), with the right's type."""
    rrr, party = reg.table("rrr"), reg.table("party")
    q = (select(rrr.c.type, rrr.c.share, rrr.c.certificate_no, rrr.c.begin_lifespan, party.c.party_uid,
                party.c.name, party.c.id_number, party.c.address)
         .join(party, party.c.party_uid == rrr.c.party_uid)
         .where(rrr.c.parcel_uid == parcel_uid))
    if at is None:
        q = q.where(rrr.c.end_lifespan.is_(None), party.c.end_lifespan.is_(None))
    else:
        for t in (rrr, party):
            q = q.where(t.c.begin_lifespan <= at, (t.c.end_lifespan.is_(None)) | (t.c.end_lifespan > at))
    return [dict(r._mapping) for r in conn.execute(q.order_by(rrr.c.begin_lifespan))]
