"""``landrec init``, ``landrec load`` and ``landrec parcel``: the land register."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
import shapely
import shapely.errors
import shapely.geometry

from api.cli.options import crs_option, db_option, emit, json_option
from cadastre.edits import (
    SourceDoc,
    change_owner,
    merge_parcels,
    move_boundary,
    set_land_use,
    split_parcel,
)
from cadastre.load import LoadReport, load_file
from cadastre.queries import (
    owners_of,
    parcel_by_number,
    parcel_by_uid,
    parcel_history,
    parcels_at_point,
    parcels_by_address,
    parcels_in_area,
    parse_ref,
)
from cadastre.reference import load_reference
from cadastre.register import SCHEMA_VERSION, Register, init_register, open_register
from gis.crs import resolve_crs
from gis.errors import InputError


@click.command()
@crs_option
@db_option
@json_option
def init(crs: str, db: str, as_json: bool) -> None:
    """Create the land register in a store (or upgrade an older one)."""
    reg = init_register(db, resolve_crs(crs))
    try:
        data = {"store": db, "kind": reg.kind, "srid": reg.srid, "crs": reg.crs.name,
                "schema_version": SCHEMA_VERSION}
    finally:
        reg.dispose()
    emit(data, as_json, lambda d: f"{d['kind']} register {d['store']}: {d['crs']} (SRID {d['srid']}),"
                                  f" schema version {d['schema_version']}")


def _load_text(d: dict) -> str:
    lines = []
    for s in d["sheets"]:
        if s["status"] == "refused":
            lines.append(f"{s['commune_code']} {s['sheet_no']}: REFUSED: {s['reason']}")
        else:
            kept = f", {s['kept_edits']} register edits kept" if s["kept_edits"] else ""
            lines.append(f"{s['commune_code']} {s['sheet_no']}: {s['status']} (+{s['inserted']} new,"
                         f" {s['changed']} changed, {s['retired']} retired, {s['unchanged']} unchanged{kept})")
    t = d["totals"]
    if d["reprojected_from"]:
        lines.append(f"reprojected from {d['reprojected_from']}")
    if d["unnumbered"]:
        lines.append(f"{d['unnumbered']} parcels without a number were not loaded")
    if d["held"]:
        lines.append(f"{d['held']} parcels with a missing or repeated number held back for a land officer")
    lines.append(f"total: {t['inserted']} new, {t['changed']} changed, {t['retired']} retired,"
                 f" {t['unchanged']} unchanged, {t['owners_changed']} owner changes")
    return "\n".join(lines)


@click.command()
@click.argument("path", type=click.Path())
@db_option
@click.option("--commune", default=None, help="Commune code, when the layer has no commune_code column.")
@click.option("--officer", default=None, help="Who loads (recorded with the source document).")
@click.option("--hold-ambiguous", is_flag=True,
              help="Load a sheet without its parcels whose number is missing or repeated (held for a "
                   "land officer) instead of refusing the sheet.")
@click.option("--overwrite-edits", is_flag=True,
              help="Where the input changes a parcel that was edited in the register since the sheet was "
                   "last loaded, replace the edit (it stays in the history) instead of refusing the sheet.")
@click.option("--reference", is_flag=True,
              help="PATH is a directory of reference layers (admin units, roads, stations, zones).")
@json_option
def load(path: str, db: str, commune: str | None, officer: str | None, hold_ambiguous: bool,
         overwrite_edits: bool, reference: bool, as_json: bool) -> None:
    """Load the parcels of PATH (a `landrec digitize` output) into the register, one
    transaction per sheet; a new store takes the input's CRS.  With --reference, load
    the reference layers of the directory PATH instead."""
    if reference:
        with _register(db) as reg:
            counts = load_reference(reg, path)
        emit(counts, as_json, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))
        return
    report: LoadReport = load_file(db, path, commune=commune, officer=officer, hold_ambiguous=hold_ambiguous,
                                   overwrite_edits=overwrite_edits)
    emit(report.as_dict(), as_json, _load_text)
    if report.refused:
        raise InputError(f"{len(report.refused)} sheet(s) refused: "
                         + "; ".join(f"{s.sheet_no}: {s.reason}" for s in report.refused[:5]),
                         hint="fix those sheets and load again; the other sheets are loaded")


# --- landrec parcel ------------------------------------------------------------------

def _at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"cannot read the date {value!r}", hint="write it as 2026-05-01 or 2026-05-01T08:30Z") from None
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


at_option = click.option("--at", "at", default=None, help="State as of this UTC date/time (ISO 8601); default now.")
officer_option = click.option("--officer", default=None, help="Who makes the edit.")


def _source_options(fn):
    fn = click.option("--source", "source_ref", required=True,
                      help="Reference of the document behind the edit (decision, survey record).")(fn)
    fn = click.option("--source-kind", default="decision", show_default=True, help="Kind of that document.")(fn)
    return officer_option(fn)


def _doc(source_ref: str, source_kind: str, officer: str | None) -> SourceDoc:
    return SourceDoc(source_kind, source_ref, officer=officer)


def _geometry(wkt: str, what: str) -> shapely.Geometry:
    try:
        return shapely.from_wkt(wkt)
    except shapely.errors.GEOSException as exc:
        raise InputError(f"cannot read the {what} {wkt[:40]!r}: {exc}", hint="give WKT in the store's CRS") from None


def _version_text(v: dict) -> str:
    end = v["end_lifespan"].isoformat() if v["end_lifespan"] else "current"
    return (f"{v['ref']}  v{v['version']}  {v['area_m2']:.1f} m²  {v['land_use'] or '-'}  "
            f"{v['address'] or ''}  [{v['begin_lifespan'].isoformat()} .. {end}]  uid {v['parcel_uid']}")


def _list_text(rows: list[dict]) -> str:
    return "\n".join(_version_text(r) for r in rows) if rows else "no parcel"


def _feature_collection(rows: list) -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": v.parcel_uid, "geometry": shapely.geometry.mapping(v.geom),
         "properties": v.as_dict(geometry=False)} for v in rows]}


def _edit_text(d: dict) -> str:
    ended = ", ".join(f"{e['ref']} v{e['version']}" for e in d["ended"])
    created = ", ".join(f"{c['ref']} v{c['version']} ({c['area_m2']:.1f} m²)" for c in d["created"])
    return f"{d['kind']} (transaction {d['transaction_id']}): ended {ended}; now {created}"


@contextmanager
def _register(db: str) -> Iterator[Register]:
    reg = open_register(db)
    try:
        yield reg
    finally:
        reg.dispose()


@click.group()
def parcel() -> None:
    """Look up and edit parcels (show, at, find, area, history, split, merge...).

    A parcel is named COMMUNE/SHEET/NUMBER (e.g. 10001/361558-6/12) or by its uid.
    """


@parcel.command("show")
@click.argument("ref")
@at_option
@click.option("--owners", is_flag=True, help="Also show who holds rights (personal data).")
@db_option
@json_option
def show(ref: str, at: str | None, owners: bool, db: str, as_json: bool) -> None:
    """Show one parcel, now or as of --at."""
    when = _at(at)
    with _register(db) as reg:
        pref = parse_ref(ref)
        v = parcel_by_uid(reg, pref.parcel_uid, at=when) if pref.parcel_uid else \
            parcel_by_number(reg, pref.commune_code, pref.sheet_no, pref.parcel_no, at=when)
        data = v.as_dict()
        if owners:
            data["owners"] = owners_of(reg, pref, at=when)
    emit(data, as_json, lambda d: _version_text(d) + "".join(
        f"\n  {o['type']}: {o['name']} ({o['id_number'] or '-'}) share {o['share']}" for o in d.get("owners", [])))


@parcel.command("at")
@click.argument("easting", type=float)
@click.argument("northing", type=float)
@at_option
@db_option
@json_option
def at_point(easting: float, northing: float, at: str | None, db: str, as_json: bool) -> None:
    """The parcel(s) at the point EASTING NORTHING (store CRS)."""
    with _register(db) as reg:
        rows = parcels_at_point(reg, easting, northing, at=_at(at))
    emit([v.as_dict() for v in rows], as_json, _list_text)


@parcel.command("find")
@click.argument("address")
@at_option
@db_option
@json_option
def find(address: str, at: str | None, db: str, as_json: bool) -> None:
    """Parcels whose address contains ADDRESS (case-insensitive)."""
    with _register(db) as reg:
        rows = parcels_by_address(reg, address, at=_at(at))
    emit([v.as_dict(geometry=False) for v in rows], as_json, _list_text)


@parcel.command("area")
@click.argument("bbox", nargs=4, type=float)
@at_option
@db_option
@json_option
def area(bbox: tuple[float, float, float, float], at: str | None, db: str, as_json: bool) -> None:
    """The parcels of the box MIN_E MIN_N MAX_E MAX_N as of --at (GeoJSON with --json)."""
    with _register(db) as reg:
        rows = parcels_in_area(reg, bbox, at=_at(at))
    if as_json:
        emit(_feature_collection(rows), True)
    else:
        emit([v.as_dict(geometry=False) for v in rows], False, _list_text)


def _history_text(d: dict) -> str:
    lines = [f"parcel {d['parcel_uid']}"]
    lines += ["  " + _version_text(v) for v in d["versions"]]
    lines += [f"  from {p['ref']} ({p['kind']}, {p['at'].isoformat()})" for p in d["parents"]]
    lines += [f"  into {c['ref']} ({c['kind']}, {c['at'].isoformat()})" for c in d["children"]]
    lines += [f"  transaction {t['id']} {t['kind']} {t['at'].isoformat()} by {t['officer'] or '-'}:"
              f" {t['source_kind']} {t['source_reference']}" for t in d["transactions"]]
    return "\n".join(lines)


@parcel.command("history")
@click.argument("ref")
@click.option("--owners", is_flag=True, help="Also list the owners over time (personal data).")
@db_option
@json_option
def history(ref: str, owners: bool, db: str, as_json: bool) -> None:
    """Every version of a parcel, its parents and children, and the edits behind them."""
    with _register(db) as reg:
        data = parcel_history(reg, parse_ref(ref)).as_dict()
    if not owners:
        data.pop("owners")
    emit(data, as_json, _history_text)


@parcel.command("split")
@click.argument("ref")
@click.option("--line", "line_wkt", required=True, help="The split line, WKT in the store's CRS.")
@click.option("--expect-version", type=int, required=True, help="The version you read (optimistic locking).")
@_source_options
@db_option
@json_option
def split(ref: str, line_wkt: str, expect_version: int, source_ref: str, source_kind: str,
          officer: str | None, db: str, as_json: bool) -> None:
    """Split parcel REF by a line into new parcels."""
    with _register(db) as reg:
        result = split_parcel(reg, ref, _geometry(line_wkt, "split line"), expect_version=expect_version,
                              source=_doc(source_ref, source_kind, officer))
    emit(result.as_dict(), as_json, _edit_text)


@parcel.command("merge")
@click.argument("refs", nargs=-1, required=True)
@click.option("--expect-version", "expect_versions", type=int, multiple=True, required=True,
              help="The version you read of each parcel, in the same order.")
@click.option("--land-use", default=None, help="Land use of the merged parcel (default: the first's).")
@_source_options
@db_option
@json_option
def merge(refs: tuple[str, ...], expect_versions: tuple[int, ...], land_use: str | None, source_ref: str,
          source_kind: str, officer: str | None, db: str, as_json: bool) -> None:
    """Merge neighbouring parcels REFS into one new parcel."""
    with _register(db) as reg:
        result = merge_parcels(reg, list(refs), expect_versions=list(expect_versions), land_use=land_use,
                               source=_doc(source_ref, source_kind, officer))
    emit(result.as_dict(), as_json, _edit_text)


@parcel.command("move-boundary")
@click.argument("ref_a")
@click.argument("ref_b")
@click.option("--geometry", "geometry_wkt", required=True, help="The new shape of REF_A, WKT (store CRS).")
@click.option("--expect-version", "expect_versions", type=int, multiple=True, required=True,
              help="The versions you read of REF_A and REF_B.")
@_source_options
@db_option
@json_option
def move_boundary_cmd(ref_a: str, ref_b: str, geometry_wkt: str, expect_versions: tuple[int, ...], source_ref: str,
                      source_kind: str, officer: str | None, db: str, as_json: bool) -> None:
    """Move the boundary between neighbours REF_A and REF_B (their union is kept)."""
    if len(expect_versions) != 2:
        raise InputError("give --expect-version twice: for REF_A, then for REF_B")
    with _register(db) as reg:
        result = move_boundary(reg, ref_a, ref_b, _geometry(geometry_wkt, "geometry"),
                               expect_versions=(expect_versions[0], expect_versions[1]),
                               source=_doc(source_ref, source_kind, officer))
    emit(result.as_dict(), as_json, _edit_text)


@parcel.command("set-land-use")
@click.argument("ref")
@click.argument("code")
@click.option("--expect-version", type=int, required=True, help="The version you read.")
@_source_options
@db_option
@json_option
def set_land_use_cmd(ref: str, code: str, expect_version: int, source_ref: str, source_kind: str,
                     officer: str | None, db: str, as_json: bool) -> None:
    """Change the land use of parcel REF to CODE."""
    with _register(db) as reg:
        result = set_land_use(reg, ref, code, expect_version=expect_version,
                              source=_doc(source_ref, source_kind, officer))
    emit(result.as_dict(), as_json, _edit_text)


@parcel.command("set-owner")
@click.argument("ref")
@click.option("--name", required=True, help="The new owner's name.")
@click.option("--id-number", default=None, help="The new owner's ID number.")
@click.option("--address", default=None, help="The new owner's address.")
@click.option("--certificate", "certificate_no", default=None, help="Certificate number of the new right.")
@click.option("--expect-version", type=int, required=True, help="The version you read.")
@_source_options
@db_option
@json_option
def set_owner_cmd(ref: str, name: str, id_number: str | None, address: str | None, certificate_no: str | None,
                  expect_version: int, source_ref: str, source_kind: str, officer: str | None, db: str,
                  as_json: bool) -> None:
    """Transfer parcel REF to a new sole owner."""
    with _register(db) as reg:
        result = change_owner(reg, ref, name=name, id_number=id_number, address=address,
                              certificate_no=certificate_no, expect_version=expect_version,
                              source=_doc(source_ref, source_kind, officer))
    emit(result.as_dict(), as_json, _edit_text)
