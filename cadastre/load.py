"""Load digitized sheets into the register, one transaction per sheet, keeping history.

A parcel is identified across loads by (commune, sheet, parcel number).  Loading a
sheet compares it with the sheet's current parcels through a content hash (number,
land use, address, geometry): a changed parcel gets a new version (same
``parcel_uid``), a parcel gone from the sheet is retired (its lifespan ends), a new
one starts at version 1, and an unchanged one is left alone, so loading the same
input twice changes nothing.  Owners (``owner_name``, ``owner_id`` columns) go to
``party`` and ``rrr``.

On PostGIS the new rows travel by ``COPY``; a sheet is written in one transaction
under an advisory lock, so a load killed half-way leaves each sheet entirely old or
entirely new.  When the parcel table is empty the load is a bulk load: its b-tree
indexes and foreign keys are dropped and built again once at the end, as
``pg_restore`` does, under a lock that makes other loads wait; every load first
rebuilds them if a bulk load was killed before the end.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from sqlalchemy import Connection, and_, func, select, text

from cadastre import triage
from cadastre.parties import set_owner
from cadastre.register import Register, init_register, open_register, utcnow
from gis.crs import registry
from gis.errors import (
    ConflictError,
    CRSError,
    FormatError,
    InputError,
    MissingFileError,
    StoreError,
)
from gis.io import read_vector
from gis.sheets import parse_sheet

__all__ = ["LoadReport", "SheetResult", "load_file", "load_parcels", "prepare_sheet", "read_parcel_layer"]

PARCEL_LAYER = "parcels"
#: how far (fraction of the sheet's side) a parcel's inner point may lie outside its sheet
SHEET_TOLERANCE = 0.02
_REQUIRED = ("sheet_no", "parcel_no")
#: the columns a load reads (any others in the layer are left in the file)
_LOADED = (*_REQUIRED, "commune_code", "sheet_local_no", "land_use", "address", "owner_name", "owner_id")


@dataclass
class SheetResult:
    """What loading one sheet did.  ``status``: loaded, unchanged or refused."""

    commune_code: str
    sheet_no: str
    status: str
    inserted: int = 0
    changed: int = 0
    retired: int = 0
    unchanged: int = 0
    owners_changed: int = 0
    reason: str | None = None


@dataclass
class LoadReport:
    """What a load did, sheet by sheet."""

    source: str
    sheets: list[SheetResult] = field(default_factory=list)
    reprojected_from: str | None = None
    unnumbered: int = 0
    held: int = 0  # parcels held back for a human (see cadastre.triage)

    @property
    def refused(self) -> list[SheetResult]:
        """The sheets that were not loaded, with their reasons."""
        return [s for s in self.sheets if s.status == "refused"]

    def totals(self) -> dict[str, int]:
        """Parcel counts over all sheets."""
        keys = ("inserted", "changed", "retired", "unchanged", "owners_changed")
        return {k: sum(getattr(s, k) for s in self.sheets) for k in keys}

    def as_dict(self) -> dict:
        """A JSON-ready summary."""
        return {
            "source": self.source,
            "reprojected_from": self.reprojected_from,
            "unnumbered": self.unnumbered,
            "held": self.held,
            "totals": self.totals(),
            "sheets": [s.__dict__ for s in self.sheets],
        }


# --- input --------------------------------------------------------------------------

def read_parcel_layer(path: str | os.PathLike, *, layer: str = PARCEL_LAYER) -> gpd.GeoDataFrame:
    """Read the ``parcels`` layer of a digitized or legacy output (or ground truth):
    the columns a load uses, and the geometry."""
    gdf = read_vector(path, layer=layer, columns=list(_LOADED))
    missing = [c for c in _REQUIRED if c not in gdf.columns]
    if missing:
        raise FormatError(f"{path}: layer {layer!r} lacks the column(s) {', '.join(missing)}",
                          hint="give the output of `landrec digitize` (the parcel layer contract)")
    if gdf.crs is None:
        raise CRSError(f"{path}: layer {layer!r} has no CRS", hint="assign the sheet's CRS and export again")
    return gdf


def registry_crs(crs: CRS) -> CRS:
    """The registry's own CRS for an EPSG CRS with the same coordinates (a GeoPackage
    written by GDAL names VN-2000 / TM-3 107-00 as EPSG:9214), else ``crs`` itself."""
    code = crs.to_epsg(min_confidence=90)
    for entry in registry():
        if code is not None and entry.epsg == code:
            return entry.crs
    return crs


def _same_coordinates(src: CRS, dst: CRS, xy: tuple[float, float]) -> bool:
    """Whether two CRSs give the same coordinates near ``xy`` (to the millimetre)."""
    if src == dst:
        return True
    x, y = Transformer.from_crs(src, dst, always_xy=True).transform(*xy)
    return abs(x - xy[0]) < 1e-3 and abs(y - xy[1]) < 1e-3


def _multi(geoms: np.ndarray) -> np.ndarray:
    """Polygons as MultiPolygons; invalid ones repaired, keeping their polygonal part."""
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        fixed = shapely.make_valid(geoms[bad])
        geoms = geoms.copy()
        geoms[bad] = [_polygonal(g) for g in fixed]
    single = shapely.get_type_id(geoms) == 3
    if single.any():
        geoms = geoms.copy()
        geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(int(single.sum())))
    return geoms


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    polys = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.MultiPolygon()


def content_hash(parcel_no: int, land_use: str | None, address: str | None, wkb_hex: str) -> str:
    """The hash that tells whether a parcel changed between two loads or edits
    (``wkb_hex``: the MultiPolygon as little-endian ISO WKB in hex, see :func:`wkb_hex`)."""
    return hashlib.md5(f"{parcel_no}|{land_use or ''}|{address or ''}|{wkb_hex}".encode()).hexdigest()


def wkb_hex(geoms):
    """Geometries as little-endian ISO WKB in upper-case hex (what the hash and COPY use).

    Same text as ``shapely.to_wkb(hex=True)``, four times faster: GEOS's hex writer is slow.
    """
    wkb = shapely.to_wkb(geoms, byte_order=1)
    if isinstance(wkb, bytes):
        return wkb.hex().upper()
    return np.array([w.hex().upper() for w in wkb], dtype=object)


@dataclass
class PreparedSheet:
    """One sheet's parcels, checked and ready to write (in the store's CRS)."""

    commune_code: str
    sheet_no: str
    scale: int
    extent: shapely.Polygon
    local_no: int | None
    frame: pd.DataFrame  # parcel_no, land_use, address, area_m2, geom, content_hash, owners


def prepare_sheet(commune_code: str, sheet_no: str, part: gpd.GeoDataFrame, *,
                  transform: Callable[[np.ndarray], np.ndarray] | None = None) -> PreparedSheet:
    """Check one sheet (number against extent, unique numbers) and build its rows.

    ``part`` is in the sheet's own CRS (where its number means something);
    ``transform`` reprojects geometries to the store's CRS.  Raises :class:`InputError`
    with the reason when the sheet cannot be loaded.
    """
    geoms = part.geometry.to_numpy()
    inner = shapely.point_on_surface(geoms)
    xs, ys = shapely.get_x(inner), shapely.get_y(inner)
    sheet = parse_sheet(sheet_no, northing_hint=float(np.median(ys)))
    min_e, min_n, max_e, max_n = sheet.extent
    tol = SHEET_TOLERANCE * sheet.size_m
    outside = (xs < min_e - tol) | (xs > max_e + tol) | (ys < min_n - tol) | (ys > max_n + tol)
    if outside.any():
        raise InputError(
            f"sheet number {sheet_no} does not match its extent: {int(outside.sum())} of {len(part)}"
            f" parcels lie outside E {min_e:.0f}-{max_e:.0f} N {min_n:.0f}-{max_n:.0f}"
            f" (parcels around E {np.median(xs):.0f} N {np.median(ys):.0f})",
            hint="check the sheet number read from the sheet's title, or the georeference",
        )
    numbers = part["parcel_no"].astype("int64").to_numpy()
    uniq, counts = np.unique(numbers, return_counts=True)
    if (counts > 1).any():
        dup = ", ".join(str(n) for n in uniq[counts > 1][:10])
        raise InputError(f"sheet {sheet_no}: parcel number(s) {dup} appear more than once",
                         hint="a parcel number is unique within its sheet; fix the labels and load again")
    extent = shapely.box(*sheet.extent)
    if transform is not None:
        geoms = transform(geoms)
        extent = transform(np.array([extent]))[0]
    geoms = _multi(geoms)
    wkb = wkb_hex(geoms)
    land_use = _text_column(part, "land_use")
    address = _text_column(part, "address")
    md5 = hashlib.md5  # content_hash inlined: this runs once a parcel
    hashes = [md5(f"{n}|{lu or ''}|{ad or ''}|{w}".encode()).hexdigest()
              for n, lu, ad, w in zip(numbers.tolist(), land_use.tolist(), address.tolist(), wkb)]
    frame = pd.DataFrame({
        "parcel_no": numbers,
        "land_use": land_use,
        "address": address,
        "area_m2": shapely.area(geoms),
        "geom": geoms,
        # plain Python strings (pandas would copy them into Arrow, and back for COPY)
        "content_hash": pd.Series(hashes, dtype=object),
        "wkb_hex": pd.Series(wkb, dtype=object),
        "owner_name": _text_column(part, "owner_name"),
        "owner_id": _text_column(part, "owner_id"),
    })
    local = part["sheet_local_no"].dropna() if "sheet_local_no" in part.columns else pd.Series([], dtype=float)
    return PreparedSheet(commune_code, sheet_no, sheet.scale, extent,
                         int(local.iloc[0]) if len(local) else None, frame)


def _text_column(part: pd.DataFrame, name: str) -> pd.Series:
    """A text column with None (never NaN) where the value is missing or blank."""
    if name not in part.columns:
        return pd.Series([None] * len(part), dtype=object)
    values = part[name].astype(object).to_numpy()
    missing = pd.isna(values)
    out = np.full(len(values), None, dtype=object)
    text_values = np.char.strip(values[~missing].astype(str)).astype(object)
    text_values[text_values == ""] = None
    out[~missing] = text_values
    return pd.Series(out, dtype=object)


def _sheets(gdf: gpd.GeoDataFrame, commune: str | None) -> Iterator[tuple[str, str, gpd.GeoDataFrame]]:
    if "commune_code" in gdf.columns and commune is None:
        if gdf["commune_code"].isna().any():
            raise InputError("some parcels have no commune_code", hint="give --commune CODE for them")
        keys = gdf["commune_code"].astype(str)
    elif commune is not None:
        keys = pd.Series(commune, index=gdf.index)
    else:
        raise InputError("the parcel layer has no commune_code column",
                         hint="give the commune with --commune CODE")
    for (c, s), part in gdf.groupby([keys, gdf["sheet_no"].astype(str)], sort=True):
        yield c, s, part


# --- writing ------------------------------------------------------------------------

class _Writer:
    """Per-sheet writes of one load, on one connection."""

    def __init__(self, reg: Register, conn: Connection, source_ref: str, officer: str | None) -> None:
        self.reg = reg
        self.conn = conn
        self.source_ref = source_ref
        self.officer = officer
        self.source_id: int | None = None
        self.t = reg.metadata.tables
        #: a bulk load into a table that was empty: no sheet has current parcels yet
        self.bulk = False

    def _source(self, now: datetime) -> int:
        if self.source_id is None:
            src = self.t["source"]
            self.source_id = self.conn.execute(src.insert().returning(src.c.id), {
                "kind": "digitized_sheet", "reference": self.source_ref, "date": now,
                "description": "load of digitized sheets", "officer": self.officer,
            }).scalar_one()
        return self.source_id

    def write(self, sheet: PreparedSheet) -> SheetResult:
        """One sheet in one transaction; a sheet with no change leaves no trace."""
        conn, t = self.conn, self.t
        parcel = t["parcel"]
        source_before = self.source_id
        result = SheetResult(sheet.commune_code, sheet.sheet_no, "unchanged")
        with conn.begin() as trans:
            if self.reg.kind == "postgis":
                conn.execute(text("SELECT pg_advisory_xact_lock_shared(hashtext(:b)),"
                                  " pg_advisory_xact_lock(hashtext(:k))"),
                             {"b": _BULK_LOCK, "k": f"sheet:{sheet.commune_code}:{sheet.sheet_no}"})
            current = [] if self.bulk else conn.execute(
                select(parcel.c.id, parcel.c.parcel_uid, parcel.c.version, parcel.c.parcel_no,
                       parcel.c.content_hash)
                .where(parcel.c.commune_code == sheet.commune_code, parcel.c.sheet_no == sheet.sheet_no,
                       parcel.c.end_lifespan.is_(None))
            ).all()
            by_no = {r.parcel_no: r for r in current}
            frame = sheet.frame
            if current:
                hash_of = dict(zip(frame["parcel_no"].tolist(), frame["content_hash"]))
                keep = np.array([(r := by_no.get(n)) is not None and r.content_hash == h
                                 for n, h in hash_of.items()], dtype=bool)
                close = [r for r in current if hash_of.get(r.parcel_no) != r.content_hash]
            else:  # a sheet loaded for the first time: every parcel is new
                hash_of, keep, close = {}, np.zeros(len(frame), dtype=bool), []
            new_rows = frame[~keep]
            result.unchanged = int(keep.sum())
            result.retired = sum(1 for r in close if r.parcel_no not in hash_of)
            result.changed = len(close) - result.retired
            result.inserted = len(new_rows) - result.changed
            now = utcnow()
            if len(new_rows) or close:
                txn = self._transaction(now)
                self._close(close, now)
                self._insert(sheet, new_rows, by_no, now, txn)
                self._map_sheet(sheet)
            else:
                txn = None
            result.owners_changed = self._owners(sheet, now, txn)
            if txn is None and result.owners_changed == 0:
                trans.rollback()
                self.source_id = source_before
                return result
            result.status = "loaded"
        return result

    def _transaction(self, now: datetime) -> int:
        et = self.t["edit_transaction"]
        return self.conn.execute(et.insert().returning(et.c.id), {
            "kind": "load", "source_id": self._source(now), "officer": self.officer, "at": now,
        }).scalar_one()

    def _close(self, rows: list, now: datetime) -> None:
        parcel = self.t["parcel"]
        ids = [r.id for r in rows]
        for i in range(0, len(ids), 5000):
            chunk = ids[i:i + 5000]
            n = self.conn.execute(parcel.update().where(parcel.c.id.in_(chunk), parcel.c.end_lifespan.is_(None))
                                  .values(end_lifespan=now)).rowcount
            if n != len(chunk):
                raise ConflictError("a parcel of the sheet was edited while the sheet was loading",
                                    hint="load the sheet again")

    def _insert(self, sheet: PreparedSheet, rows: pd.DataFrame, by_no: dict, now: datetime, txn: int) -> None:
        if not len(rows):
            return
        uids = new_uids(len(rows))
        versions = [1] * len(rows)
        if by_no:
            for i, n in enumerate(rows["parcel_no"].tolist()):
                old = by_no.get(n)
                if old is not None:
                    uids[i], versions[i] = old.parcel_uid, old.version + 1
        source_id = self._source(now)
        if self.reg.kind == "postgis":
            self._copy(sheet, rows, uids, versions, now, txn, source_id)
            return
        self.conn.execute(self.t["parcel"].insert(), [
            {"parcel_uid": u, "version": v, "commune_code": sheet.commune_code, "sheet_no": sheet.sheet_no,
             "parcel_no": int(r.parcel_no), "area_m2": float(r.area_m2), "land_use": r.land_use,
             "address": r.address, "begin_lifespan": now, "end_lifespan": None, "source_id": source_id,
             "transaction_id": txn, "content_hash": r.content_hash, "geom": r.geom}
            for u, v, r in zip(uids, versions, rows.itertuples(index=False))
        ])

    def _copy(self, sheet: PreparedSheet, rows: pd.DataFrame, uids: list[str], versions: list[int],
              now: datetime, txn: int, source_id: int) -> None:
        stamp = now.isoformat(sep=" ")
        head = f"{_copy_text(sheet.commune_code)}\t{_copy_text(sheet.sheet_no)}\t"
        tail = f"\t{stamp}\t{source_id}\t{txn}\t"
        srid = f"SRID={self.reg.srid};"
        land_use = _copy_column(rows["land_use"].tolist())
        address = _copy_column(rows["address"].tolist())
        buf = io.StringIO()
        buf.writelines(
            f"{u}\t{v}\t{head}{n}\t{a!r}\t{lu}\t{ad}{tail}{h}\t{srid}{g}\n"
            for u, v, n, a, lu, ad, h, g in zip(uids, versions, rows["parcel_no"].tolist(), rows["area_m2"].tolist(),
                                                 land_use, address, rows["content_hash"].tolist(),
                                                 rows["wkb_hex"].tolist())
        )
        buf.seek(0)
        cur = self.conn.connection.dbapi_connection.cursor()
        cur.copy_expert(
            "COPY parcel (parcel_uid, version, commune_code, sheet_no, parcel_no, area_m2, land_use,"
            " address, begin_lifespan, source_id, transaction_id, content_hash, geom) FROM STDIN", buf)
        cur.close()

    def _map_sheet(self, sheet: PreparedSheet) -> None:
        ms = self.t["map_sheet"]
        exists = self.conn.execute(select(ms.c.id).where(ms.c.commune_code == sheet.commune_code,
                                                         ms.c.sheet_no == sheet.sheet_no)).first()
        if exists is None:
            self.conn.execute(ms.insert(), {"sheet_no": sheet.sheet_no, "scale": sheet.scale,
                                            "commune_code": sheet.commune_code, "local_no": sheet.local_no,
                                            "geom": sheet.extent})

    def _owners(self, sheet: PreparedSheet, now: datetime, txn: int | None) -> int:
        """Bring the sheet's ownership rights in line with the input; the count changed."""
        frame = sheet.frame
        wanted = frame[frame["owner_name"].notna() | frame["owner_id"].notna()]
        if not len(wanted):
            return 0
        t = self.t
        parcel, party, rrr = t["parcel"], t["party"], t["rrr"]
        uid_of = dict(self.conn.execute(
            select(parcel.c.parcel_no, parcel.c.parcel_uid)
            .where(parcel.c.commune_code == sheet.commune_code, parcel.c.sheet_no == sheet.sheet_no,
                   parcel.c.end_lifespan.is_(None))).all())
        held = {}
        for r in self.conn.execute(
                select(rrr.c.rrr_uid, rrr.c.version, rrr.c.parcel_uid, party.c.name, party.c.id_number)
                .join(party, and_(party.c.party_uid == rrr.c.party_uid, party.c.end_lifespan.is_(None)))
                .where(rrr.c.parcel_uid.in_(list(uid_of.values())), rrr.c.end_lifespan.is_(None),
                       rrr.c.type == "ownership")):
            held.setdefault(r.parcel_uid, []).append(r)
        changed = 0
        for no, name, id_number in zip(wanted["parcel_no"], wanted["owner_name"], wanted["owner_id"]):
            puid = uid_of[no]
            rows = held.get(puid, [])
            if len(rows) == 1 and (rows[0].name, rows[0].id_number) == (name, id_number):
                continue
            if txn is None:
                txn = self._transaction(now)
            set_owner(self.reg, self.conn, puid, name=name or "", id_number=id_number, address=None,
                      now=now, source_id=self._source(now), transaction_id=txn)
            changed += 1
        return changed


def new_uids(n: int) -> list[str]:
    """``n`` random 128-bit identifiers in hex (as ``uuid4().hex``, without its cost)."""
    h = os.urandom(16 * n).hex()
    return [h[i:i + 32] for i in range(0, 32 * n, 32)]


def _copy_text(value: object) -> str:
    """A value in COPY's text format (``\\N`` for NULL)."""
    if value is None:
        return r"\N"
    s = str(value)
    if any(c in s for c in _COPY_SPECIAL):
        s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return s


_COPY_SPECIAL = "\\\t\n\r"


def _copy_column(values: list) -> list[str]:
    """A column of strings or None in COPY's text format, escaping only when a value needs it."""
    joined = "".join(v for v in values if v is not None)
    if any(c in joined for c in _COPY_SPECIAL):
        return [_copy_text(v) for v in values]
    return [r"\N" if v is None else v for v in values]


# --- the load -----------------------------------------------------------------------

def load_parcels(reg: Register, gdf: gpd.GeoDataFrame, *, source_ref: str, commune: str | None = None,
                 officer: str | None = None,
                 on_sheet: Callable[[SheetResult], None] | None = None) -> LoadReport:
    """Load a parcel layer sheet by sheet, each sheet in its own transaction.

    A sheet that cannot be loaded (number not matching its extent, duplicate parcel
    numbers) is refused with its reason and the others go on.  Parcels without a
    number cannot be identified and are counted in ``unnumbered``, not loaded.
    """
    report = LoadReport(source=source_ref)
    if gdf.crs is None:
        raise CRSError("the parcel layer has no CRS", hint="assign the sheet's CRS and export again")
    numbered = gdf["parcel_no"].notna() & gdf.geometry.notna() & ~gdf.geometry.is_empty
    report.unnumbered = int((~numbered).sum())
    gdf = gdf[numbered]
    if not len(gdf):
        return report
    transform = None
    centre = gdf.geometry.iloc[0].representative_point()
    if not _same_coordinates(gdf.crs, reg.crs, (centre.x, centre.y)):
        report.reprojected_from = gdf.crs.name
        tr = Transformer.from_crs(gdf.crs, reg.crs, always_xy=True)
        transform = lambda g: shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    def prepare(item: tuple[str, str, gpd.GeoDataFrame]) -> PreparedSheet | SheetResult:
        commune_code, sheet_no, part = item
        try:
            return prepare_sheet(commune_code, sheet_no, part, transform=transform)
        except InputError as exc:
            return SheetResult(commune_code, sheet_no, "refused", reason=exc.message)

    with reg.engine.connect() as conn, ThreadPoolExecutor(max_workers=1) as pool:
        bulk = _begin_bulk(reg, conn)
        writer = _Writer(reg, conn, source_ref, officer)
        writer.bulk = bulk
        try:
            # the next sheet is prepared (vectorised shapely, hashing) while this one is written
            pending = None
            for item in _sheets(gdf, commune):
                ahead = pool.submit(prepare, item)
                if pending is not None:
                    _write_one(writer, pending.result(), report, on_sheet)
                pending = ahead
            if pending is not None:
                _write_one(writer, pending.result(), report, on_sheet)
        finally:
            if bulk:
                _end_bulk(reg, conn)
    return report


def _write_one(writer: _Writer, prepared: PreparedSheet | SheetResult, report: LoadReport,
               on_sheet: Callable[[SheetResult], None] | None) -> None:
    result = prepared if isinstance(prepared, SheetResult) else writer.write(prepared)
    report.sheets.append(result)
    if on_sheet is not None:
        on_sheet(result)


def load_file(url: str | os.PathLike, path: str | os.PathLike, *, commune: str | None = None,
              officer: str | None = None, hold_ambiguous: bool = False,
              on_sheet: Callable[[SheetResult], None] | None = None) -> LoadReport:
    """Load a GeoPackage's ``parcels`` layer; a new store takes the layer's CRS.

    With ``hold_ambiguous``, parcels whose number is missing or repeated on its sheet
    are held back for a human (:func:`cadastre.triage.hold_ambiguous`) and the rest of
    the sheet is loaded; without it such a sheet is refused whole.
    """
    gdf = read_parcel_layer(path)
    held = gdf.iloc[:0]
    if hold_ambiguous:
        gdf, held = triage.hold_ambiguous(gdf)
    try:
        reg = open_register(url)
    except (StoreError, MissingFileError):
        reg = init_register(url, registry_crs(gdf.crs))
    try:
        report = load_parcels(reg, gdf, source_ref=os.fspath(path), commune=commune, officer=officer,
                              on_sheet=on_sheet)
    finally:
        reg.dispose()
    report.held = len(held)
    return report


# --- bulk loads on PostGIS ----------------------------------------------------------

#: held (exclusive, for the session) by a bulk load; every sheet write takes it shared
_BULK_LOCK = "landrec:bulk-load"
#: what a bulk load builds once at the end instead of row by row: name -> (kind, SQL).
#: The GiST index is built with ``buffering = off``: parcels inserted one by one in
#: load order (sheet by sheet), the tree a row-by-row load grows, without its cost
#: during COPY (PostGIS's sorted build, the default on a full table, was measured
#: ten times slower to query on 1M parcels).
_BULK_OBJECTS = {
    "idx_parcel_geom": ("index", "CREATE INDEX idx_parcel_geom ON parcel USING gist (geom) WITH (buffering = off)"),
    "ix_parcel_sheet": ("index", "CREATE INDEX ix_parcel_sheet ON parcel (commune_code, sheet_no)"),
    "ix_parcel_key_current": ("index", ("CREATE UNIQUE INDEX ix_parcel_key_current ON parcel"
                                       " (commune_code, sheet_no, parcel_no) WHERE end_lifespan IS NULL")),
    "uq_parcel_version": ("constraint", ("ALTER TABLE parcel ADD CONSTRAINT uq_parcel_version"
                                        " UNIQUE (parcel_uid, version)")),
    "parcel_source_id_fkey": ("constraint", ("ALTER TABLE parcel ADD CONSTRAINT parcel_source_id_fkey"
                                            " FOREIGN KEY (source_id) REFERENCES source (id)")),
    "parcel_transaction_id_fkey": ("constraint", ("ALTER TABLE parcel ADD CONSTRAINT parcel_transaction_id_fkey"
                                                 " FOREIGN KEY (transaction_id) REFERENCES edit_transaction (id)")),
}


def _begin_bulk(reg: Register, conn: Connection) -> bool:
    """On PostGIS with an empty parcel table, take the bulk lock (other loads wait) and
    drop the indexes and foreign keys that are built faster once at the end."""
    if reg.kind != "postgis":
        return False
    with conn.begin():
        _rebuild_indexes(conn)
    locked = conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:b))"), {"b": _BULK_LOCK}).scalar_one()
    conn.commit()
    if not locked:
        return False
    with conn.begin():
        empty = conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM parcel)")).scalar_one()
        if empty:
            for name, (kind, _) in _BULK_OBJECTS.items():
                drop = f"DROP INDEX {name}" if kind == "index" else f"ALTER TABLE parcel DROP CONSTRAINT {name}"
                conn.execute(text(drop))
    if not empty:
        _unlock_bulk(conn)
    return bool(empty)


def _unlock_bulk(conn: Connection) -> None:
    conn.execute(text("SELECT pg_advisory_unlock(hashtext(:b))"), {"b": _BULK_LOCK})
    conn.commit()


def _end_bulk(reg: Register, conn: Connection) -> None:
    if conn.in_transaction():
        conn.rollback()
    with conn.begin():
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        _rebuild_indexes(conn)
    _unlock_bulk(conn)
    with conn.begin():
        conn.execute(text("ANALYZE parcel"))


def _rebuild_indexes(conn: Connection) -> None:
    """Build what a bulk load dropped (also after a bulk load that was killed)."""
    present = set(conn.execute(text(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'parcel'"
        " UNION SELECT conname FROM pg_constraint WHERE conrelid = 'parcel'::regclass")).scalars())
    for name, (_, sql) in _BULK_OBJECTS.items():
        if name not in present:
            conn.execute(text(sql))


def count_current(reg: Register) -> int:
    """How many parcels are current."""
    parcel = reg.table("parcel")
    with reg.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(parcel).where(parcel.c.end_lifespan.is_(None))
                            ).scalar_one()
