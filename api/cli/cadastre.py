"""``landrec init``, ``landrec load`` and ``landrec parcel``: the land register."""

from __future__ import annotations

import click

from api.cli.options import crs_option, db_option, emit, json_option
from cadastre.load import LoadReport, load_file
from cadastre.register import SCHEMA_VERSION, init_register
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
            lines.append(f"{s['commune_code']} {s['sheet_no']}: {s['status']} (+{s['inserted']} new,"
                         f" {s['changed']} changed, {s['retired']} retired, {s['unchanged']} unchanged)")
    t = d["totals"]
    if d["reprojected_from"]:
        lines.append(f"reprojected from {d['reprojected_from']}")
    if d["unnumbered"]:
        lines.append(f"{d['unnumbered']} parcels without a number were not loaded")
    lines.append(f"total: {t['inserted']} new, {t['changed']} changed, {t['retired']} retired,"
                 f" {t['unchanged']} unchanged, {t['owners_changed']} owner changes")
    return "\n".join(lines)


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@db_option
@click.option("--commune", default=None, help="Commune code, when the layer has no commune_code column.")
@click.option("--officer", default=None, help="Who loads (recorded with the source document).")
@json_option
def load(path: str, db: str, commune: str | None, officer: str | None, as_json: bool) -> None:
    """Load the parcels of PATH (a `landrec digitize` output) into the register, one
    transaction per sheet; a new store takes the input's CRS."""
    report: LoadReport = load_file(db, path, commune=commune, officer=officer)
    emit(report.as_dict(), as_json, _load_text)
    if report.refused:
        raise InputError(f"{len(report.refused)} sheet(s) refused: "
                         + "; ".join(f"{s.sheet_no}: {s.reason}" for s in report.refused[:5]),
                         hint="fix those sheets and load again; the other sheets are loaded")
