"""Load digitized sheets into the register, one transaction per sheet, keeping history.

A parcel is identified across loads by (commune, sheet, parcel number).  Loading a
sheet compares it with the sheet's current parcels through a content hash (number,
land use, address, geometry): a changed parcel gets a new version (same
``parcel_uid``), a parcel gone from the sheet is retired (its lifespan ends), a new
one starts at version 1, and an unchanged one is left alone, so loading the same
input twice changes nothing.  Owners (``owner_name``, ``owner_id`` columns) go to
``party`` and ``rrr``.  A reload compares three ways (the input, what the last load
wrote, the register now): edits made in the register since the last load are kept
where the input did not change, and refuse the sheet where it did (unless
``overwrite_edits``).

The layer stays in Arrow arrays from the file to the database: no Python object is
made per parcel.  Every parcel is checked: a polygon of one convex ring from its WKB
alone, any other geometry through GEOS (and repaired when invalid).  On PostGIS the
new rows travel by binary ``COPY`` (the geometry as the WKB read from the file, a
polygon wrapped as a one-part multipolygon without being rebuilt); a sheet is written
in one transaction under an advisory lock, so a load killed half-way leaves each sheet
entirely old or entirely new.  When the parcel table is empty the load is a bulk load:
its indexes and constraints are dropped and built again once at the end, as
``pg_restore`` does (three groups of indexes on connections of their own), under a
lock that makes other loads wait; every load first rebuilds them if a bulk load was
killed before the end, and each of its sheets goes to the server as one query.  The
next sheets are checked and prepared in a worker thread while this one is written.
"""

from __future__ import annotations

import binascii
import hashlib
import io
import json
import os
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS, Transformer
from sqlalchemy import Connection, and_, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cadastre import triage
from cadastre.parties import set_owner
from cadastre.register import (
    BULK_LOCK,
    LOCK_SHEET,
    SHEET_INDEXES,
    Register,
    init_register,
    open_register,
    sheet_lock_key,
    utcnow,
)
from gis.crs import registry
from gis.errors import (
    ConflictError,
    CRSError,
    FormatError,
    InputError,
    MissingFileError,
    StoreError,
)
from gis.io import list_layers, require_file
from gis.sheets import parse_sheet

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["LoadReport", "ParcelLayer", "SheetResult", "load_file", "load_layer", "load_parcels", "parcel_layer",
           "prepare_sheet", "read_parcel_layer"]

PARCEL_LAYER = "parcels"
#: how far (fraction of the sheet's side) a parcel's inner point may lie outside its sheet
SHEET_TOLERANCE = 0.02
_REQUIRED = ("sheet_no", "parcel_no")
#: the columns a load reads (any others in the layer are left in the file)
_LOADED = (*_REQUIRED, "commune_code", "sheet_local_no", "land_use", "address", "owner_name", "owner_id")
#: how many sheets are prepared ahead of the one being written (a busy machine's pauses
#: fall on one side or the other without stopping both)
_AHEAD = 3
#: a WKB this short holds no coordinates (an empty polygon or multipolygon: byte order, type, 0 parts)
_EMPTY_WKB_LEN = 9
#: a polygon's WKB behind this is the WKB of the one-part multipolygon holding it
_ONE_PART_MULTI = b"\x01\x06\x00\x00\x00\x01\x00\x00\x00"


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
    #: parcels edited in the register since the last load and left so (the input had not changed them)
    kept_edits: int = 0
    reason: str | None = None


@dataclass
class LoadReport:
    """What a load did, sheet by sheet."""

    source: str
    sheets: list[SheetResult] = field(default_factory=list)
    reprojected_from: str | None = None
    unnumbered: int = 0
    held: int = 0  # parcels held back for a human (see cadastre.triage)
    held_by_sheet: dict[str, int] = field(default_factory=dict)

    @property
    def refused(self) -> list[SheetResult]:
        """The sheets that were not loaded, with their reasons."""
        return [s for s in self.sheets if s.status == "refused"]

    def totals(self) -> dict[str, int]:
        """Parcel counts over all sheets."""
        keys = ("inserted", "changed", "retired", "unchanged", "owners_changed", "kept_edits")
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

@dataclass
class ParcelLayer:
    """A parcel layer as a load takes it: ``rows`` holds the loaded columns and ``wkb``,
    each geometry as WKB (an Arrow-backed binary column, null when missing), in ``crs``."""

    rows: pd.DataFrame
    crs: CRS


def parcel_layer(gdf: gpd.GeoDataFrame) -> ParcelLayer:
    """A GeoDataFrame (the parcel layer contract) as a :class:`ParcelLayer`."""
    if gdf.crs is None:
        raise CRSError("the parcel layer has no CRS", hint="assign the sheet's CRS and export again")
    rows = pd.DataFrame({c: gdf[c].to_numpy() for c in _LOADED if c in gdf.columns}, index=gdf.index)
    wkb = pa.array(shapely.to_wkb(gdf.geometry.to_numpy(), byte_order=1), type=pa.binary())
    rows["wkb"] = pd.Series(pd.arrays.ArrowExtensionArray(wkb), index=gdf.index)
    return ParcelLayer(rows, gdf.crs)


def read_parcel_layer(path: str | os.PathLike, *, layer: str = PARCEL_LAYER) -> ParcelLayer:
    """Read the ``parcels`` layer of a digitized or legacy output (or ground truth):
    the columns a load uses, and the geometry as the file's WKB, all as Arrow-backed
    columns (no Python object per parcel)."""
    p = require_file(path, "dataset")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            meta, table = pyogrio.read_arrow(p, layer=layer, columns=list(_LOADED))
    except DataLayerError as exc:
        raise FormatError(f"{p} has no layer {layer!r}", hint=f"layers are: {', '.join(list_layers(p))}") from exc
    except DataSourceError as exc:
        raise FormatError(f"{p} cannot be read as vector data: {exc}") from None
    missing = [c for c in _REQUIRED if c not in table.column_names]
    if missing:
        raise FormatError(f"{path}: layer {layer!r} lacks the column(s) {', '.join(missing)}",
                          hint="give the output of `landrec digitize` (the parcel layer contract)")
    if not meta["crs"]:
        raise CRSError(f"{path}: layer {layer!r} has no CRS", hint="assign the sheet's CRS and export again")
    geom = meta["geometry_name"] or "wkb_geometry"
    table = table.rename_columns(["wkb" if name == geom else name for name in table.column_names])
    return ParcelLayer(table.to_pandas(types_mapper=pd.ArrowDtype), CRS.from_user_input(meta["crs"]))


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


def _multi(geoms: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """2D MultiPolygons; the invalid ones (``valid`` False) repaired, keeping their polygonal part."""
    geoms = shapely.force_2d(geoms)
    bad = ~valid
    if bad.any():
        geoms[bad] = [_polygonal(g) for g in shapely.make_valid(geoms[bad])]
    single = shapely.get_type_id(geoms) == 3
    if single.any():
        geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(int(single.sum())))
    return geoms


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    polys = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.MultiPolygon()


def content_hashes(parcel_no: Sequence[int], land_use: pa.Array, address: pa.Array, wkb: pa.Array) -> pa.Array:
    """The hashes that tell whether a parcel changed between two loads or edits: the MD5
    (in hex) of ``parcel_no|land_use|address|WKB``, a missing text as '' and the
    MultiPolygon's little-endian ISO WKB in upper-case hex."""
    number = pc.cast(pa.array(np.asarray(parcel_no, dtype=np.int64)), pa.string())
    fields = pc.binary_join_element_wise(number, land_use, address, "", "|",  # up to the WKB: "n|lu|ad|"
                                         null_handling="replace", null_replacement="")
    (field_ends, fields), (hex_ends, hexes) = _buffers(fields), _buffers(_hex(wkb, upper=True))
    fields, hexes, md5 = memoryview(fields), memoryview(hexes), hashlib.md5
    digests = []
    for a, b, c, d in zip(*_pairs(field_ends), *_pairs(hex_ends)):
        h = md5(fields[a:b])
        h.update(hexes[c:d])
        digests.append(h.digest())
    return _fixed_width(binascii.hexlify(b"".join(digests)), 32).cast(pa.string())


def _pairs(offsets: np.ndarray) -> tuple[list[int], list[int]]:
    """Where each value begins and ends, as lists (the fastest to loop over)."""
    ends = offsets.tolist()
    return ends[:-1], ends[1:]


def content_hash(parcel_no: int, land_use: str | None, address: str | None, geom: shapely.Geometry) -> str:
    """:func:`content_hashes` of one parcel (``geom``: its MultiPolygon)."""
    return content_hashes([parcel_no], pa.array([land_use], pa.string()), pa.array([address], pa.string()),
                          pa.array([shapely.to_wkb(geom, byte_order=1)], pa.binary()))[0].as_py()


def _hex(values: pa.Array, *, upper: bool = False) -> pa.Array:
    """Binary values written in hex, as (large) binary values."""
    offsets, data = _buffers(values)
    digits = binascii.hexlify(data)
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(values), [
        None, pa.py_buffer(2 * offsets), pa.py_buffer(digits.upper() if upper else digits)])


def _buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A binary or string array's value offsets (int64, the first 0) and bytes, as numpy
    arrays without a copy (a null is an empty value)."""
    large = pa.types.is_large_binary(values.type) or pa.types.is_large_string(values.type)
    _, offsets, data = values.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int64 if large else np.int32)[values.offset:values.offset + len(values) + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, dtype=np.uint8)
    return (offsets - offsets[0]).astype(np.int64), data[offsets[0]:offsets[-1]]


def _arrow_array(values) -> pa.Array | None:
    """An Arrow-backed column (pandas or Arrow) as one Arrow array, without a copy; None for another column."""
    if isinstance(values, pd.Series):
        values = values.array
    if isinstance(values, pd.arrays.ArrowExtensionArray):
        values = values.__arrow_array__()
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values if isinstance(values, pa.Array) else None


def _arrow(values, type: pa.DataType) -> pa.Array:
    """A column (pandas, numpy or Arrow) as one Arrow array of ``type``."""
    arrow = _arrow_array(values)
    if arrow is None:
        arrow = pa.array(np.asarray(values, dtype=object), type=type, from_pandas=True)
    return arrow if arrow.type == type else arrow.cast(type)


@dataclass
class PreparedSheet:
    """One sheet's parcels, checked and ready to write (in the store's CRS)."""

    commune_code: str
    sheet_no: str
    scale: int
    extent: shapely.Polygon
    local_no: int | None
    #: parcel_no, area_m2, land_use, address (null when missing), wkb (the MultiPolygon
    #: as little-endian ISO WKB), content_hash, owner_name, owner_id
    rows: pa.Table
    #: on a bulk load, the rows ready for COPY (all new parcels), built while the sheet before is written
    copy: _CopyRows | None = None

    def __len__(self) -> int:
        return self.rows.num_rows


def prepare_sheet(commune_code: str, sheet_no: str, part: Mapping[str, Sequence], *,
                  transform: Callable[[np.ndarray], np.ndarray] | None = None) -> PreparedSheet:
    """Check one sheet (number against extent, unique numbers) and build its rows.

    ``part``: the sheet's rows of a :class:`ParcelLayer` (a DataFrame, or its columns
    as arrays), in the sheet's own CRS (where its number means something); ``transform`` reprojects geometries to the store's
    CRS.  A valid 2D polygon or multipolygon keeps the WKB it came with (a polygon
    wrapped as a one-part multipolygon); any other geometry is repaired and written
    again by GEOS.  A polygon of one convex ring is checked from its WKB alone
    (:func:`_convex_rings`), the others through GEOS.  Raises :class:`InputError` with
    the reason when the sheet cannot be loaded.
    """
    wkb = _arrow(part["wkb"], pa.binary())
    numbers = np.asarray(part["parcel_no"]).astype("int64")
    head = _heads(wkb)
    simple, bounds, area = _convex_rings(wkb, head)
    if transform is not None:
        simple[:] = False
    geos = np.flatnonzero(~simple)  # the parcels GEOS reads
    geoms = shapely.from_wkb(wkb.take(geos).to_numpy(zero_copy_only=False))
    bounds[geos] = shapely.bounds(geoms)
    sheet, min_e, min_n, max_e, max_n = _check_extent(sheet_no, bounds, wkb)
    uniq, counts = np.unique(numbers, return_counts=True)
    if (counts > 1).any():
        dup = ", ".join(str(n) for n in uniq[counts > 1][:10])
        raise InputError(f"sheet {sheet_no}: parcel number(s) {dup} appear more than once",
                         hint="a parcel number is unique within its sheet; fix the labels and load again")
    if uniq[0] < 0 or uniq[-1] > 2**31 - 1:
        raise InputError(f"sheet {sheet_no}: parcel number {uniq[0] if uniq[0] < 0 else uniq[-1]} is out of range",
                         hint="a parcel number is a positive whole number below 2 147 483 648")
    extent = shapely.box(min_e, min_n, max_e, max_n)
    if transform is not None:
        geoms = transform(geoms)
        extent = transform(np.array([extent]))[0]
    valid = simple.copy()
    valid[geos] = shapely.is_valid(geoms)
    if transform is None:
        kind = _le_type(head)
        multi, poly = valid & (kind == 6), valid & (kind == 3)
    else:
        multi = poly = np.zeros(len(wkb), dtype=bool)
    again = ~(multi | poly)
    if again.any():
        redo = again[geos]
        geoms[redo] = _multi(geoms[redo], valid[geos][redo])
        wkb = pc.replace_with_mask(wkb, pa.array(again), pa.array(shapely.to_wkb(geoms[redo], byte_order=1)))
    area[geos] = shapely.area(geoms)
    wkb = pc.if_else(pa.array(poly), pc.binary_join_element_wise(_ONE_PART_MULTI, wkb, b""), wkb)
    land_use, address = _text_column(part, "land_use"), _text_column(part, "address")
    rows = pa.table({"parcel_no": numbers, "area_m2": area, "land_use": land_use, "address": address, "wkb": wkb,
                     "content_hash": content_hashes(numbers, land_use, address, wkb),
                     "owner_name": _text_column(part, "owner_name"), "owner_id": _text_column(part, "owner_id")})
    local = pd.Series(np.asarray(part["sheet_local_no"], dtype=object)).dropna() if "sheet_local_no" in part else []
    return PreparedSheet(commune_code, sheet_no, sheet.scale, extent,
                         int(local.iloc[0]) if len(local) else None, rows)


#: the WKB header bytes the checks read: a multipolygon's (9), its first polygon's (9) and ring's point count (4)
_HEAD = 22


def _heads(wkb: pa.Array) -> np.ndarray:
    """The first bytes of each WKB (zeros past its end), as rows of a uint8 array."""
    offsets, data = _buffers(wkb)
    padded = np.concatenate([data, np.zeros(_HEAD, dtype=np.uint8)])
    return padded[offsets[:-1, None] + np.arange(_HEAD)]


def _u32(head: np.ndarray, at: int) -> np.ndarray:
    """The little-endian 32-bit integer at byte ``at`` of each row of ``head``."""
    return np.ascontiguousarray(head[:, at:at + 4]).view("<u4")[:, 0].astype(np.int64)


def _le_type(head: np.ndarray, at: int = 0) -> np.ndarray:
    """The geometry type (ISO WKB code) of the little-endian WKB at byte ``at`` of each row; 0 when big-endian."""
    return np.where(head[:, at] == 1, _u32(head, at + 1), 0)


#: Shewchuk's bound on the relative error of an orientation determinant in doubles
#: ("Adaptive precision floating-point arithmetic and fast robust geometric predicates", 1997: ccwerrboundA)
_ORIENTATION_ERROR = (3 + 16 * 2.0**-53) * 2.0**-53


def _convex_rings(wkb: pa.Array, head: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which WKB (little-endian 2D ISO) are a polygon, or a one-part multipolygon, of one
    strictly convex ring, and their bounds and area, read from the WKB without GEOS.

    Such a ring is simple, so GEOS finds the polygon valid: it is closed, its coordinates
    are finite, every vertex turns the same way (the sign of each turn is certain:
    Shewchuk's error bound) and the edges turn once around (their x extent changes sign
    twice; a ring turning twice or more crosses itself).  Bounds and area are the values
    GEOS computes, bit for bit (its shoelace sum, in its order).  Returns (mask, bounds,
    area); bounds and area are NaN where mask is False.
    """
    n = len(wkb)
    offsets, data = _buffers(wkb)
    mask, bounds, area = np.zeros(n, dtype=bool), np.full((n, 4), np.nan), np.full(n, np.nan)
    kind, parts = _le_type(head), _u32(head, 5)
    multi = (kind == 6) & (parts == 1) & (_le_type(head, 9) == 3) & (_u32(head, 14) == 1)
    ring = np.where(multi, 18, 9)  # where the ring's point count is
    points = np.where(multi, _u32(head, 18), _u32(head, 9))
    candidate = (((kind == 3) & (parts == 1)) | multi) & (points >= 4) & (np.diff(offsets) == ring + 4 + 16 * points)
    for k in np.unique(points[candidate]):
        rows = np.flatnonzero(candidate & (points == k))
        windows = np.lib.stride_tricks.sliding_window_view(data, 16 * k)
        # coordinates as (x or y, point, ring): each point's values over the rings are contiguous
        xy = np.ascontiguousarray(windows[offsets[rows] + ring[rows] + 4].view("<f8").reshape(-1, k, 2).T)
        x, y = xy
        # the turn at each vertex b (points 0..k-2) from a (the vertex before) to c (the one after)
        bx, by, cx, cy = x[:-1], y[:-1], x[1:], y[1:]
        ax, ay = np.concatenate([x[-2:-1], x[:-2]]), np.concatenate([y[-2:-1], y[:-2]])
        left, right = (ax - cx) * (by - cy), (ay - cy) * (bx - cx)
        turn, error = left - right, _ORIENTATION_ERROR * (np.abs(left) + np.abs(right))
        # the sign of each edge's x extent, against the edge before (past a vertical edge:
        # there are never two in a row when every turn is strict)
        side = np.sign(cx - bx)
        behind = np.concatenate([side[-2:], side])
        before = np.where(behind[1:-1] == 0, behind[:-2], behind[1:-1])
        ok = ((x[0] == x[-1]) & (y[0] == y[-1]) & np.isfinite(xy).all(axis=(0, 1))
              & (((side != 0) & (before != side)).sum(axis=0) == 2)
              & ((turn > error).all(axis=0) | (-turn > error).all(axis=0)))
        total = np.zeros(len(rows))
        for i in range(1, k - 1):  # GEOS's Area::ofRingSigned
            total += (x[i] - x[0]) * (y[i - 1] - y[i + 1])
        mask[rows[ok]] = True
        bounds[rows[ok]] = np.column_stack([x.min(axis=0), y.min(axis=0), x.max(axis=0), y.max(axis=0)])[ok]
        area[rows[ok]] = np.abs(total / 2.0)[ok]
    return mask, bounds, area


def _check_extent(sheet_no: str, bounds: np.ndarray, wkb: pa.Array):
    """The sheet of ``sheet_no`` and its extent; refuses a sheet whose parcels' inner
    points lie outside it (beyond the tolerance).  A parcel whose bounding box lies
    within the tolerated extent needs no inner point: it lies inside its box."""
    cx, cy = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    sheet = parse_sheet(sheet_no, northing_hint=float(np.median(cy)))
    min_e, min_n, max_e, max_n = sheet.extent
    tol = SHEET_TOLERANCE * sheet.size_m
    lo_e, lo_n, hi_e, hi_n = min_e - tol, min_n - tol, max_e + tol, max_n + tol
    boxed = (bounds[:, 0] >= lo_e) & (bounds[:, 1] >= lo_n) & (bounds[:, 2] <= hi_e) & (bounds[:, 3] <= hi_n)
    outside = np.zeros(len(bounds), dtype=bool)
    if not boxed.all():
        inner = shapely.point_on_surface(shapely.from_wkb(wkb.filter(pa.array(~boxed)).to_numpy(zero_copy_only=False)))
        xs, ys = shapely.get_x(inner), shapely.get_y(inner)
        outside[~boxed] = (xs < lo_e) | (xs > hi_e) | (ys < lo_n) | (ys > hi_n)
    if outside.any():
        raise InputError(
            f"sheet number {sheet_no} does not match its extent: {int(outside.sum())} of {len(bounds)}"
            f" parcels lie outside E {min_e:.0f}-{max_e:.0f} N {min_n:.0f}-{max_n:.0f}"
            f" (parcels around E {np.median(cx):.0f} N {np.median(cy):.0f})",
            hint="check the sheet number read from the sheet's title, or the georeference",
        )
    return sheet, min_e, min_n, max_e, max_n


def _text_column(part: Mapping[str, Sequence], name: str) -> pa.Array:
    """A text column, stripped, null where the value is missing or blank."""
    n = len(part["parcel_no"])
    if name not in part:
        return pa.nulls(n, pa.string())
    arrow = _arrow_array(part[name])
    if arrow is None or not (pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type)):
        values = np.asarray(part[name] if arrow is None else arrow.to_numpy(zero_copy_only=False), dtype=object)
        out = np.full(n, None, dtype=object)
        present = ~pd.isna(values)
        out[present] = [s.strip() or None for s in map(str, values[present])]
        return pa.array(out, type=pa.string())
    # Python's strip only for the values that are empty or begin or end with a byte that
    # may be part of a space (ASCII up to 0x20, or any byte of a non-ASCII character)
    offsets, data = _buffers(arrow)
    padded = np.concatenate([data, np.zeros(1, dtype=np.uint8)])
    first, last = padded[offsets[:-1]], padded[np.maximum(offsets[1:] - 1, 0)]
    odd = (arrow.is_valid().to_numpy(zero_copy_only=False)
           & ((offsets[1:] == offsets[:-1]) | (first <= 0x20) | (first >= 0x80) | (last <= 0x20) | (last >= 0x80)))
    if odd.any():
        stripped = [s.strip() or None for s in arrow.filter(pa.array(odd)).to_pylist()]
        arrow = pc.replace_with_mask(arrow, pa.array(odd), pa.array(stripped, type=arrow.type))
    return arrow.cast(pa.string())


def _sheets(rows: pd.DataFrame, commune: str | None) -> Iterator[tuple[str, str, dict[str, Sequence]]]:
    """The rows of each (commune, sheet), as columns, in sorted order."""
    if "commune_code" in rows.columns and commune is None:
        if rows["commune_code"].isna().any():
            raise InputError("some parcels have no commune_code", hint="give --commune CODE for them")
        communes, commune_names = pd.factorize(rows["commune_code"].astype(str))
    elif commune is not None:
        communes, commune_names = np.zeros(len(rows), dtype=np.int64), np.array([commune], dtype=object)
    else:
        raise InputError("the parcel layer has no commune_code column",
                         hint="give the commune with --commune CODE")
    sheets, sheet_names = pd.factorize(rows["sheet_no"].astype(str))
    commune_names, sheet_names = np.asarray(commune_names, dtype=object), np.asarray(sheet_names, dtype=object)
    # each (commune, sheet) as one number that sorts as the pair of names does
    key = np.argsort(np.argsort(commune_names))[communes] * len(sheet_names) + np.argsort(np.argsort(sheet_names))[sheets]
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    # Arrow-backed columns stay Arrow, in one chunk (taking from many chunks is slow)
    columns = {name: _arrow_array(rows[name]) for name in rows.columns}
    columns = {name: rows[name].to_numpy() if values is None else values for name, values in columns.items()}
    for group in np.split(order, bounds):
        first, n = group[0], len(group)
        together = group[-1] - first + 1 == n  # a sheet's rows one after another in the layer: no copy
        yield (commune_names[communes[first]], sheet_names[sheets[first]],
               {name: values[first:first + n] if together else values.take(group) for name, values in columns.items()})


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
        #: the input replaces register edits it conflicts with (instead of the sheet being refused)
        self.overwrite_edits = False
        #: ids drawn ahead from the sequences of ``source`` and ``edit_transaction`` (bulk load)
        self._ids: dict[str, list[int]] = {}

    def _source(self, now: datetime) -> int:
        if self.source_id is None:
            src = self.t["source"]
            self.source_id = self.conn.execute(src.insert().returning(src.c.id), {
                "kind": "digitized_sheet", "reference": self.source_ref, "date": now,
                "description": "load of digitized sheets", "officer": self.officer,
            }).scalar_one()
        return self.source_id

    def write(self, sheet: PreparedSheet) -> SheetResult:
        """One sheet in one transaction; a sheet with no change leaves no trace.

        Each parcel number is compared three ways: the input, the sheet as the last load
        left it, and the sheet now.  Where the input is what the last load wrote, the
        parcel is left as it is now (edits made in the register since are kept).  Where
        the input changed, the change is applied if the parcel was not edited since;
        if it was, the sheet is refused naming those parcels, unless
        ``overwrite_edits`` (then the input wins, and the edit stays in the history).
        """
        if self.bulk and sheet.copy is not None and not _has_owners(sheet):
            return self._write_new(sheet)
        conn = self.conn
        source_before = self.source_id
        result = SheetResult(sheet.commune_code, sheet.sheet_no, "unchanged")
        with conn.begin() as trans:
            if self.reg.kind == "postgis":
                conn.exec_driver_sql(_LOCK_SHEET, _sheet_lock(sheet))
            current, base = ([], {}) if self.bulk else self._states(sheet)
            by_no = {r.parcel_no: r for r in current}
            now_hash = {r.parcel_no: r.content_hash for r in current}
            numbers = sheet.rows["parcel_no"].to_pylist()
            hash_of = dict(zip(numbers, sheet.rows["content_hash"].to_pylist()))
            if base is None:  # never loaded, or loaded before loads were recorded: the sheet now is the base
                base = now_hash
            apply, kept, conflicts = set(), {}, []
            for no in hash_of.keys() | base.keys() | now_hash.keys():
                new, old, cur = hash_of.get(no), base.get(no), now_hash.get(no)
                if new == cur:
                    continue
                if new == old:
                    kept[no] = new
                elif cur == old or self.overwrite_edits:
                    apply.add(no)
                else:
                    conflicts.append(no)
            if conflicts:
                trans.rollback()
                conflicts.sort()
                listed = ", ".join(str(n) for n in conflicts[:10]) + (" ..." if len(conflicts) > 10 else "")
                return SheetResult(sheet.commune_code, sheet.sheet_no, "refused", reason=(
                    f"parcel(s) {listed} were edited in the register since the sheet was last loaded and"
                    " changed in the input too; load again with --overwrite-edits to replace those edits"
                    " (they stay in the history), or bring the input in line with the register"))
            result.kept_edits = len(kept)
            keep = np.array([no not in apply for no in numbers], dtype=bool)
            close = [r for r in current if r.parcel_no in apply]
            new_rows = sheet.rows.filter(pa.array(~keep)) if keep.any() else sheet.rows
            result.unchanged = int(keep.sum())
            result.retired = sum(1 for r in close if r.parcel_no not in hash_of)
            result.changed = len(close) - result.retired
            result.inserted = int((~keep).sum()) - result.changed
            now = utcnow(after=max((r.begin_lifespan for r in close), default=None))
            if apply:
                txn = self._transaction(now)
                self._close(close, now)
                self._insert(sheet, new_rows, by_no, now, txn)
                self._map_sheet(sheet, now, kept)
            else:
                txn = None
            try:
                result.owners_changed, kept_owners = self._owners(sheet, now, txn)
            except _OwnerConflict as exc:
                trans.rollback()
                self.source_id = source_before
                listed = ", ".join(str(n) for n in exc.numbers[:10]) + (" ..." if len(exc.numbers) > 10 else "")
                return SheetResult(sheet.commune_code, sheet.sheet_no, "refused", reason=(
                    f"the owner of parcel(s) {listed} was changed in the register since the sheet was last loaded"
                    " and the input changes it too; load again with --overwrite-edits to replace those changes"
                    " (they stay in the history), or bring the input in line with the register"))
            result.kept_edits += kept_owners
            if txn is None and result.owners_changed == 0:
                trans.rollback()
                self.source_id = source_before
                return result
            result.status = "loaded"
        return result

    def _states(self, sheet: PreparedSheet) -> tuple[list, dict[int, str] | None]:
        """The sheet's current parcels, and each number's content hash as the sheet's last
        load left it or, where that load kept an edit, as its input had it (None when no
        load of the sheet was recorded)."""
        parcel, map_sheet = self.t["parcel"], self.t["map_sheet"]
        of_sheet = (parcel.c.commune_code == sheet.commune_code, parcel.c.sheet_no == sheet.sheet_no)
        current = self.conn.execute(
            select(parcel.c.id, parcel.c.parcel_uid, parcel.c.version, parcel.c.parcel_no, parcel.c.content_hash,
                   parcel.c.begin_lifespan)
            .where(*of_sheet, parcel.c.end_lifespan.is_(None))).all()
        last = self.conn.execute(select(map_sheet.c.loaded_at, map_sheet.c.kept_input).where(
            map_sheet.c.commune_code == sheet.commune_code, map_sheet.c.sheet_no == sheet.sheet_no)).first()
        loaded_at = last.loaded_at if last is not None else None
        if loaded_at is None:  # loaded before schema 5 recorded it: the sheet's last load that wrote parcels
            txn = self.t["edit_transaction"]
            loaded_at = self.conn.execute(
                select(func.max(parcel.c.begin_lifespan)).join(txn, txn.c.id == parcel.c.transaction_id)
                .where(*of_sheet, txn.c.kind == "load")).scalar()
            if loaded_at is None:
                return current, None
        base = dict(self.conn.execute(select(parcel.c.parcel_no, parcel.c.content_hash).where(
            *of_sheet, parcel.c.begin_lifespan <= loaded_at,
            or_(parcel.c.end_lifespan.is_(None), parcel.c.end_lifespan > loaded_at))).all())
        for no, h in json.loads(last.kept_input or "{}").items():
            if h is None:
                base.pop(int(no), None)
            else:
                base[int(no)] = h
        return current, base

    def _write_new(self, sheet: PreparedSheet) -> SheetResult:
        """A sheet of a bulk load (every parcel new, no owners) sent as one query: its
        locks, edit transaction, map sheet and parcels (COPY), then the commit.  Two round
        trips to the server instead of seven: on a busy machine each waits for both sides
        to be woken, which bounded a bulk load more than the server's work did."""
        dbapi = self.conn.connection.dbapi_connection
        now, first = utcnow(), self.source_id is None
        dbapi.autocommit = True  # the query holds its own BEGIN and COMMIT
        cur = dbapi.cursor()
        try:
            source_id = self._next_id(cur, "source") if first else self.source_id
            txn = self._next_id(cur, "edit_transaction")
            statements = [cur.mogrify(_LOCK_SHEET, _sheet_lock(sheet))]
            if first:
                statements.append(cur.mogrify(
                    "INSERT INTO source (id, kind, reference, date, description, officer)"
                    " VALUES (%s, 'digitized_sheet', %s, %s, 'load of digitized sheets', %s)",
                    (source_id, self.source_ref, now, self.officer)))
            statements += [
                cur.mogrify("INSERT INTO edit_transaction (id, kind, source_id, officer, at)"
                            " VALUES (%s, 'load', %s, %s, %s)", (txn, source_id, self.officer, now)),
                cur.mogrify("INSERT INTO map_sheet (sheet_no, scale, commune_code, local_no, geom, loaded_at)"
                            " VALUES (%s, %s, %s, %s, ST_GeomFromWKB(%s, %s), %s)"
                            " ON CONFLICT (commune_code, sheet_no) DO UPDATE SET loaded_at = EXCLUDED.loaded_at",
                            (sheet.sheet_no, sheet.scale, sheet.commune_code, sheet.local_no,
                             shapely.to_wkb(sheet.extent), self.reg.srid, now)),
                _COPY_SQL.encode()]
            query = b"; ".join([b"BEGIN", *statements, b"COMMIT"])
            try:
                cur.copy_expert(query, io.BytesIO(sheet.copy.stamped(now, txn, source_id)), size=1 << 20)
            except Exception:
                if not dbapi.closed:
                    cur.execute("ROLLBACK")
                raise
        finally:
            cur.close()
            dbapi.autocommit = False
        self.source_id = source_id
        return SheetResult(sheet.commune_code, sheet.sheet_no, "loaded", inserted=len(sheet))

    def _next_id(self, cur, table: str) -> int:
        """The next id of ``table``'s sequence, drawn 64 at a time."""
        ids = self._ids.setdefault(table, [])
        if not ids:
            cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, 64)", (table,))
            ids.extend(reversed([r[0] for r in cur.fetchall()]))
        return ids.pop()

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

    def _insert(self, sheet: PreparedSheet, rows: pa.Table, by_no: dict, now: datetime, txn: int) -> None:
        n = rows.num_rows
        if not n:
            return
        source_id = self._source(now)
        if self.reg.kind == "postgis" and sheet.copy is not None and n == len(sheet) and not by_no:
            copy = sheet.copy  # built ahead by the preparing thread (a bulk load)
        else:
            uids, versions = self._identities(rows, by_no)
            copy = _copy_rows(sheet, rows, uids, versions) if self.reg.kind == "postgis" else None
        if copy is not None:
            cur = self.conn.connection.dbapi_connection.cursor()
            cur.copy_expert(_COPY_SQL, io.BytesIO(copy.stamped(now, txn, source_id)), size=1 << 20)
            cur.close()
            return
        self.conn.execute(self.t["parcel"].insert(), [
            {"parcel_uid": u, "version": v, "commune_code": sheet.commune_code, "sheet_no": sheet.sheet_no,
             "parcel_no": no, "area_m2": area, "land_use": lu, "address": ad, "begin_lifespan": now,
             "end_lifespan": None, "source_id": source_id, "transaction_id": txn, "content_hash": h, "geom": g}
            for u, v, no, area, lu, ad, h, g in zip(
                uids.to_pylist(), versions.tolist(), *(rows[c].to_pylist() for c in (
                    "parcel_no", "area_m2", "land_use", "address", "content_hash")),
                shapely.from_wkb(rows["wkb"].to_numpy()))
        ])

    @staticmethod
    def _identities(rows: pa.Table, by_no: dict) -> tuple[pa.Array, np.ndarray]:
        """Each new row's parcel uid and version: the parcel's next version when the sheet had it, else a new uid."""
        n = rows.num_rows
        uids, versions = new_uids(n), np.ones(n, dtype=np.int32)
        if by_no:
            uid_list = uids.to_pylist()
            for i, no in enumerate(rows["parcel_no"].to_pylist()):
                old = by_no.get(no)
                if old is not None:
                    uid_list[i], versions[i] = old.parcel_uid, old.version + 1
            uids = pa.array(uid_list, type=pa.string())
        return uids, versions

    def _map_sheet(self, sheet: PreparedSheet, now: datetime, kept: dict[int, str | None]) -> None:
        """Record the sheet (once), when this load wrote it and the input of the edits it kept."""
        insert = (pg_insert if self.reg.kind == "postgis" else sqlite_insert)(self.t["map_sheet"])
        last = {"loaded_at": insert.excluded.loaded_at, "kept_input": insert.excluded.kept_input}
        self.conn.execute(insert.on_conflict_do_update(index_elements=["commune_code", "sheet_no"], set_=last),
                          {"sheet_no": sheet.sheet_no, "scale": sheet.scale, "commune_code": sheet.commune_code,
                           "local_no": sheet.local_no, "geom": sheet.extent, "loaded_at": now,
                           "kept_input": json.dumps({str(k): v for k, v in sorted(kept.items())}) if kept else None})

    def _owners(self, sheet: PreparedSheet, now: datetime, txn: int | None) -> tuple[int, int]:
        """Bring the sheet's ownership rights in line with the input; the counts changed and kept.

        As for the parcels, three ways: an input owner that is what the last load gave the
        parcel leaves an owner changed in the register since as it is (kept); an input
        that changes an owner changed in the register since raises :class:`_OwnerConflict`,
        unless ``overwrite_edits``.
        """
        wanted = sheet.rows.filter(pc.or_(sheet.rows["owner_name"].is_valid(), sheet.rows["owner_id"].is_valid()))
        if not wanted.num_rows:
            return 0, 0
        t = self.t
        parcel, party, rrr, txns = t["parcel"], t["party"], t["rrr"], t["edit_transaction"]
        uid_of = dict(self.conn.execute(
            select(parcel.c.parcel_no, parcel.c.parcel_uid)
            .where(parcel.c.commune_code == sheet.commune_code, parcel.c.sheet_no == sheet.sheet_no,
                   parcel.c.end_lifespan.is_(None))).all())
        uids = list(uid_of.values())
        holders = (select(rrr.c.parcel_uid, rrr.c.begin_lifespan, rrr.c.end_lifespan, party.c.name,
                          party.c.id_number)
                   .join(party, and_(party.c.party_uid == rrr.c.party_uid, party.c.end_lifespan.is_(None)))
                   .where(rrr.c.parcel_uid.in_(uids), rrr.c.type == "ownership"))
        held: dict[str, set] = {}
        for r in self.conn.execute(holders.where(rrr.c.end_lifespan.is_(None))):
            held.setdefault(r.parcel_uid, set()).add((r.name, r.id_number))
        # the owners each parcel got from loads, by when; the last of them is what the input said last
        by_load: dict[str, dict[datetime, set]] = {}
        for r in self.conn.execute(holders.join(txns, txns.c.id == rrr.c.transaction_id).where(txns.c.kind == "load")):
            by_load.setdefault(r.parcel_uid, {}).setdefault(r.begin_lifespan, set()).add((r.name, r.id_number))
        loaded = {uid: when[max(when)] for uid, when in by_load.items()}
        changed = kept = 0
        todo, conflicts = [], []
        for no, name, id_number in zip(*(wanted[c].to_pylist() for c in ("parcel_no", "owner_name", "owner_id"))):
            puid = uid_of[no]
            new, cur = {(name or "", id_number)}, held.get(puid, set())
            if new == cur:
                continue
            last = loaded.get(puid)
            if last is not None and cur != last:  # changed in the register since the last load
                if new == last:
                    kept += 1
                    continue
                if not self.overwrite_edits:
                    conflicts.append(no)
                    continue
            elif last is None and cur and not self.overwrite_edits:  # an owner the register gave, no load
                conflicts.append(no)
                continue
            todo.append((puid, name, id_number))
        if conflicts:
            raise _OwnerConflict(sorted(conflicts))
        for puid, name, id_number in todo:
            if txn is None:
                txn = self._transaction(now)
            set_owner(self.reg, self.conn, puid, name=name or "", id_number=id_number, address=None,
                      now=now, source_id=self._source(now), transaction_id=txn)
            changed += 1
        return changed, kept


class _OwnerConflict(Exception):
    """Input owners that would replace owners changed in the register since the last load."""

    def __init__(self, numbers: list[int]) -> None:
        super().__init__(numbers)
        self.numbers = numbers


#: a sheet's write waits for a bulk load of another process and for other writes of the
#: same sheet; its commit need not wait for its WAL flush: a crash of the server may lose
#: the last sheets loaded, never a part of one (a killed client never commits)
_LOCK_SHEET = LOCK_SHEET + ", set_config('synchronous_commit', 'off', true)"


def _sheet_lock(sheet: PreparedSheet) -> dict[str, str]:
    return {"b": BULK_LOCK, "k": sheet_lock_key(sheet.commune_code, sheet.sheet_no)}


def _has_owners(sheet: PreparedSheet) -> bool:
    return any(sheet.rows[c].null_count < len(sheet) for c in ("owner_name", "owner_id"))


def new_uids(n: int) -> pa.Array:
    """``n`` new 128-bit identifiers in hex, in increasing order: the time in milliseconds
    (48 bits) then 80 random bits, so the rows of a load arrive sorted by identifier and
    the unique index on them is built by a merge, not a sort of random keys."""
    stamp = np.frombuffer(f"{time.time_ns() // 1_000_000:012x}".encode(), dtype=np.uint8)
    random = np.frombuffer(binascii.hexlify(np.sort(np.frombuffer(os.urandom(10 * n), dtype="S10"))), dtype=np.uint8)
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, :12], digits[:, 12:] = stamp, random.reshape(n, 20)
    return _fixed_width(digits, 32).cast(pa.string())


# --- COPY in binary format ------------------------------------------------------------
# A row: the field count, then each field as its length (-1: NULL) and its bytes, all
# integers big-endian.  The fields of fixed width travel as one numpy record per row;
# text and geometry fields are joined on by Arrow, so no Python code runs per parcel.

#: the columns, in the order the rows carry them (fixed-width fields first)
_COPY_COLUMNS = ("version", "commune_code", "sheet_no", "parcel_no", "area_m2", "begin_lifespan", "source_id",
                 "transaction_id", "content_hash", "parcel_uid", "land_use", "address", "geom")
_COPY_SQL = f"COPY parcel ({', '.join(_COPY_COLUMNS)}) FROM STDIN WITH (FORMAT binary)"
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
_COPY_TRAILER = b"\xff\xff"
_PG_EPOCH = datetime(2000, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


@dataclass
class _CopyRows:
    """One sheet's new parcel rows in COPY's binary format, to be stamped with the
    transaction's time, source and transaction id (fields at fixed places in each row)."""

    data: np.ndarray  # uint8: the rows
    starts: np.ndarray  # where each row begins in ``data``
    places: dict[str, int]  # where the stamped fields (begin, source, txn) begin in a row

    def stamped(self, now: datetime, txn: int, source_id: int) -> bytes:
        """The COPY data, rows stamped."""
        for name, value, dtype in (("begin", (now - _PG_EPOCH) // _MICROSECOND, ">i8"),
                                   ("source", source_id, ">i4"), ("txn", txn, ">i4")):
            raw = np.array([value], dtype=dtype).view(np.uint8)
            self.data[(self.starts + self.places[name])[:, None] + np.arange(raw.size)] = raw
        return b"".join((_COPY_HEADER, self.data, _COPY_TRAILER))


def _copy_rows(sheet: PreparedSheet, rows: pa.Table, uids: pa.Array, versions: np.ndarray) -> _CopyRows:
    """One sheet's new parcel rows for COPY, not yet stamped."""
    n = rows.num_rows
    commune, sheet_no = sheet.commune_code.encode(), sheet.sheet_no.encode()
    fixed = np.zeros(n, dtype=np.dtype([
        ("fields", ">i2"),
        ("version_len", ">i4"), ("version", ">i4"),
        ("commune_len", ">i4"), ("commune", f"V{len(commune)}"),
        ("sheet_len", ">i4"), ("sheet", f"V{len(sheet_no)}"),
        ("parcel_no_len", ">i4"), ("parcel_no", ">i4"),
        ("area_len", ">i4"), ("area", ">f8"),
        ("begin_len", ">i4"), ("begin", ">i8"),
        ("source_len", ">i4"), ("source", ">i4"),
        ("txn_len", ">i4"), ("txn", ">i4"),
        ("hash_len", ">i4"), ("hash", "S32"),
    ]))
    fixed["fields"] = len(_COPY_COLUMNS)
    fixed["version_len"], fixed["version"] = 4, versions
    fixed["commune_len"], fixed["commune"] = len(commune), np.void(commune)
    fixed["sheet_len"], fixed["sheet"] = len(sheet_no), np.void(sheet_no)
    fixed["parcel_no_len"], fixed["parcel_no"] = 4, rows["parcel_no"].to_numpy()
    fixed["area_len"], fixed["area"] = 8, rows["area_m2"].to_numpy()
    fixed["begin_len"], fixed["source_len"], fixed["txn_len"] = 8, 4, 4
    fixed["hash_len"], fixed["hash"] = 32, _buffers(rows["content_hash"].combine_chunks())[1].view("S32")
    geoms = rows["wkb"].combine_chunks()
    joined = pc.binary_join_element_wise(
        _fixed_width(fixed, fixed.dtype.itemsize),
        *_text_field(uids), *_text_field(rows["land_use"].combine_chunks()),
        *_text_field(rows["address"].combine_chunks()), _lengths(geoms), geoms,
        b"", null_handling="replace", null_replacement=b"")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)[joined.offset:joined.offset + n + 1]
    data = np.frombuffer(joined.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]].copy()
    places = {name: fixed.dtype.fields[name][1] for name in ("begin", "source", "txn")}
    return _CopyRows(data, (offsets[:-1] - offsets[0]).astype(np.int64), places)


def _fixed_width(values: np.ndarray | bytes, width: int) -> pa.Array:
    """Values of ``width`` bytes each, one after another in ``values``, as a binary array."""
    data = pa.py_buffer(np.ascontiguousarray(values).view(np.uint8) if isinstance(values, np.ndarray) else values)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(data) // width, [None, data]).cast(pa.binary())


def _lengths(values: pa.Array) -> pa.Array:
    """Each value's length as a field length (-1 for NULL)."""
    lengths = pc.fill_null(pc.binary_length(values), -1).to_numpy(zero_copy_only=False).astype(">i4")
    return _fixed_width(lengths, 4)


def _text_field(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """A text field: its lengths and its UTF-8 bytes (NULL for null)."""
    data = values.cast(pa.binary())
    return _lengths(data), data


# --- the load -----------------------------------------------------------------------

def load_parcels(reg: Register, gdf: gpd.GeoDataFrame, *, source_ref: str, commune: str | None = None,
                 officer: str | None = None, overwrite_edits: bool = False,
                 on_sheet: Callable[[SheetResult], None] | None = None) -> LoadReport:
    """Load a parcel layer (a GeoDataFrame) sheet by sheet, each sheet in its own transaction.

    A sheet that cannot be loaded (number not matching its extent, duplicate parcel
    numbers, an input change to a parcel edited in the register since the last load
    unless ``overwrite_edits``) is refused with its reason and the others go on.
    Parcels without a number cannot be identified and are counted in ``unnumbered``,
    not loaded.
    """
    return load_layer(reg, parcel_layer(gdf), source_ref=source_ref, commune=commune, officer=officer,
                      overwrite_edits=overwrite_edits, on_sheet=on_sheet)


def load_layer(reg: Register, layer: ParcelLayer, *, source_ref: str, commune: str | None = None,
               officer: str | None = None, overwrite_edits: bool = False,
               on_sheet: Callable[[SheetResult], None] | None = None) -> LoadReport:
    """:func:`load_parcels` for a :class:`ParcelLayer` (as :func:`read_parcel_layer` reads it)."""
    report = LoadReport(source=source_ref)
    rows = layer.rows
    sizes = pc.fill_null(pc.binary_length(_arrow(rows["wkb"], pa.binary())), 0).to_numpy()
    numbered = rows["parcel_no"].notna().to_numpy() & (sizes > _EMPTY_WKB_LEN)
    report.unnumbered = int((~numbered).sum())
    rows = rows[numbered]
    if not len(rows):
        return report
    transform = None
    centre = shapely.from_wkb(rows["wkb"].iloc[0]).representative_point()
    if not _same_coordinates(layer.crs, reg.crs, (centre.x, centre.y)):
        report.reprojected_from = layer.crs.name
        tr = Transformer.from_crs(layer.crs, reg.crs, always_xy=True)
        transform = lambda g: shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))

    def prepare(item: tuple[str, str, dict[str, Sequence]]) -> PreparedSheet | SheetResult:
        commune_code, sheet_no, part = item
        try:
            prepared = prepare_sheet(commune_code, sheet_no, part, transform=transform)
        except InputError as exc:
            return SheetResult(commune_code, sheet_no, "refused", reason=exc.message)
        if bulk:  # every parcel is new
            prepared.copy = _copy_rows(prepared, prepared.rows, new_uids(len(prepared)),
                                       np.ones(len(prepared), dtype=np.int32))
        return prepared

    with reg.engine.connect() as conn, ThreadPoolExecutor(max_workers=1) as pool:
        bulk = _begin_bulk(reg, conn)
        writer = _Writer(reg, conn, source_ref, officer)
        writer.bulk, writer.overwrite_edits = bulk, overwrite_edits
        try:
            # the next sheets are prepared while this one is written (by the server, mostly)
            pending: deque[Future] = deque()
            for item in _sheets(rows, commune):
                pending.append(pool.submit(prepare, item))
                if len(pending) > _AHEAD:
                    _write_one(writer, pending.popleft().result(), report, on_sheet)
            while pending:
                _write_one(writer, pending.popleft().result(), report, on_sheet)
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
              officer: str | None = None, hold_ambiguous: bool = False, overwrite_edits: bool = False,
              on_sheet: Callable[[SheetResult], None] | None = None) -> LoadReport:
    """Load a GeoPackage's ``parcels`` layer; a new store takes the layer's CRS.

    With ``hold_ambiguous``, parcels whose number is missing or repeated on its sheet
    are held back for a human (:func:`cadastre.triage.hold_ambiguous`) and the rest of
    the sheet is loaded; without it such a sheet is refused whole.  ``overwrite_edits``:
    see :func:`load_parcels`.
    """
    layer = read_parcel_layer(path)
    held = layer.rows.iloc[:0]
    if hold_ambiguous:
        rows, held = triage.hold_ambiguous(layer.rows)
        layer = ParcelLayer(rows, layer.crs)
    try:
        reg = open_register(url)
    except (StoreError, MissingFileError):
        reg = init_register(url, registry_crs(layer.crs))
    try:
        report = load_layer(reg, layer, source_ref=os.fspath(path), commune=commune, officer=officer,
                            overwrite_edits=overwrite_edits, on_sheet=on_sheet)
    finally:
        reg.dispose()
    report.held = len(held)
    report.held_by_sheet = {str(k): int(v) for k, v in held["sheet_no"].value_counts().items()} if len(held) else {}
    return report


# --- bulk loads on PostGIS ----------------------------------------------------------

#: what a bulk load drops and builds once at the end instead of row by row: indexes
#: (name, SQL) in groups, each group built on a connection of its own at the same time
#: (CREATE INDEX takes a lock that does not exclude another), as ``pg_restore -j`` does;
#: then the constraints that take them over or check the table (name, SQL).
#: The GiST index is built with ``buffering = off``: parcels inserted one by one in
#: load order (sheet by sheet), the tree a row-by-row load grows, without its cost
#: during COPY (PostGIS's sorted build, the default on a full table, was measured
#: ten times slower to query on 1M parcels).
_INDEX_GROUPS = (
    (("idx_parcel_geom", "CREATE INDEX idx_parcel_geom ON parcel USING gist (geom) WITH (buffering = off)"),),
    (("parcel_pkey", "CREATE UNIQUE INDEX parcel_pkey ON parcel (id)"),
     ("uq_parcel_version", "CREATE UNIQUE INDEX uq_parcel_version ON parcel (parcel_uid, version)")),
    SHEET_INDEXES,
)
_CONSTRAINTS = (
    ("parcel_pkey", "ALTER TABLE parcel ADD CONSTRAINT parcel_pkey PRIMARY KEY USING INDEX parcel_pkey"),
    ("uq_parcel_version", "ALTER TABLE parcel ADD CONSTRAINT uq_parcel_version UNIQUE USING INDEX uq_parcel_version"),
    ("parcel_source_id_fkey", ("ALTER TABLE parcel ADD CONSTRAINT parcel_source_id_fkey"
                              " FOREIGN KEY (source_id) REFERENCES source (id)")),
    ("parcel_transaction_id_fkey", ("ALTER TABLE parcel ADD CONSTRAINT parcel_transaction_id_fkey"
                                   " FOREIGN KEY (transaction_id) REFERENCES edit_transaction (id)")),
)
#: each build sorts in memory, in its own process (the groups already use the cores)
_MAINTENANCE = ("SET LOCAL maintenance_work_mem = '256MB'", "SET LOCAL max_parallel_maintenance_workers = 0")


def _begin_bulk(reg: Register, conn: Connection) -> bool:
    """On PostGIS, take the bulk lock (or leave it to the load holding it: this load's
    sheets wait for it), rebuild what a killed bulk load left dropped, and if the parcel
    table is empty keep the lock and drop the indexes and constraints built faster once
    at the end.  Whether this load is a bulk load."""
    if reg.kind != "postgis":
        return False
    locked = conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:b))"), {"b": BULK_LOCK}).scalar_one()
    conn.commit()
    if not locked:
        return False
    _rebuild_indexes(reg, conn)
    with conn.begin():
        empty = conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM parcel)")).scalar_one()
        if empty:
            for name, _ in _CONSTRAINTS:
                conn.execute(text(f"ALTER TABLE parcel DROP CONSTRAINT {name}"))
            for name, _ in (index for group in _INDEX_GROUPS for index in group):
                conn.execute(text(f"DROP INDEX IF EXISTS {name}"))  # the constraints' went with them
    if not empty:
        _unlock_bulk(conn)
    return bool(empty)


def _unlock_bulk(conn: Connection) -> None:
    conn.execute(text("SELECT pg_advisory_unlock(hashtext(:b))"), {"b": BULK_LOCK})
    conn.commit()


def _end_bulk(reg: Register, conn: Connection) -> None:
    if conn.in_transaction():
        conn.rollback()
    _rebuild_indexes(reg, conn)
    _unlock_bulk(conn)
    with conn.begin():
        conn.execute(text("ANALYZE parcel"))


def _rebuild_indexes(reg: Register, conn: Connection) -> None:
    """Build what a bulk load dropped (also after a bulk load that was killed): each
    group of indexes on a connection of its own (the last on ``conn``), then the
    constraints."""
    with conn.begin():
        present = set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'parcel'")).scalars())
        constraints = set(conn.execute(text(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'parcel'::regclass")).scalars())
    groups = [[sql for name, sql in group if name not in present] for group in _INDEX_GROUPS]
    with ThreadPoolExecutor(max_workers=len(groups) - 1) as pool:
        others = [pool.submit(_build_on_own_connection, reg, group) for group in groups[:-1] if group]
        _build(conn, groups[-1])
        for done in others:
            done.result()
    with conn.begin():
        for name, sql in _CONSTRAINTS:
            if name not in constraints:
                conn.execute(text(sql))


def _build_on_own_connection(reg: Register, statements: list[str]) -> None:
    with reg.engine.connect() as conn:
        _build(conn, statements)


def _build(conn: Connection, statements: list[str]) -> None:
    """Run index builds in one transaction."""
    if statements:
        with conn.begin():
            for setting in _MAINTENANCE:
                conn.execute(text(setting))
            for sql in statements:
                conn.execute(text(sql))


def count_current(reg: Register) -> int:
    """How many parcels are current."""
    parcel = reg.table("parcel")
    with reg.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(parcel).where(parcel.c.end_lifespan.is_(None))
                            ).scalar_one()
