"""Items of a collection: request parsing, SQL, CRS negotiation, paging, GeoJSON.

One query builder for every path: the lean ``/items`` route (asyncpg on PostGIS, the
SQLAlchemy engine on GeoPackage) and the pygeoapi provider plugin both call
:func:`parse_items` and :func:`build_query`.  Bad input raises :class:`InputError`,
which the server answers with 400 and an OGC exception body.

CRS: output in CRS84 (default), EPSG:4326 (lat/lon axis order) or the store's TM-3 zone
under its EPSG code (e.g. EPSG:9214 for VN-2000 / TM-3 107-00: same coordinates).
Reprojection to WGS 84 always goes through landrec's CRS with the Decision 05/2007
parameters: on PostGIS through the store's ``spatial_ref_sys`` row written by
:func:`gis.store.ensure_srid`, on GeoPackage through :func:`gis.crs.to_wgs84`.

Paging: the order is always total (sort keys, then the primary key).  Without
``sortby`` the next link carries a keyset ``cursor`` (last id), which stays stable
under concurrent inserts and deletes and costs no OFFSET scan.

``numberMatched``: exact when the page already shows everything (first page shorter
than ``limit``: no count query at all) or when the planner expects fewer than
:data:`EXACT_COUNT_BELOW` rows; otherwise the planner's estimate (PostGIS), never a
count over a whole large table.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import shapely
from pyproj import CRS, Transformer
from shapely.geometry import box

from api.server import cql2
from api.server.layers import Layer, q
from gis.crs import to_wgs84
from gis.errors import InputError
from gis.store import gpkg_geometry

__all__ = [
    "CRS84",
    "DEFAULT_LIMIT",
    "EPSG4326",
    "MAX_LIMIT",
    "ItemsRequest",
    "OutputCRS",
    "Query",
    "build_query",
    "epsg_uri",
    "feature_collection_sync",
    "get_feature_sync",
    "parse_items",
    "supported_crs",
]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
DEFAULT_LIMIT = 10
MAX_LIMIT = 10000
EXACT_COUNT_BELOW = 50000
_KNOWN = {"f", "limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "filter", "filter-lang",
          "filter-crs", "sortby", "properties", "skipGeometry", "cursor", "lang"}


def epsg_uri(code: int) -> str:
    return f"http://www.opengis.net/def/crs/EPSG/0/{code}"


def supported_crs(layer: Layer) -> list[str]:
    """The CRS URIs a collection is served in: CRS84, EPSG:4326 and its store CRS."""
    out = [CRS84, EPSG4326]
    if layer.epsg and layer.epsg != 4326:
        out.append(epsg_uri(layer.epsg))
    return out


def _bad(param: str, msg: str, hint: str | None = None) -> InputError:
    return InputError(f"{param}: {msg}", hint=hint)


@dataclass(frozen=True)
class OutputCRS:
    """How geometries leave: ``kind`` is ``lonlat``, ``latlon`` or ``store``."""

    uri: str
    kind: str

    @property
    def precision(self) -> int:
        return 3 if self.kind == "store" else 8


def _crs_kind(layer: Layer, uri: str | None, param: str) -> OutputCRS:
    if uri is None or uri == CRS84:
        return OutputCRS(CRS84, "lonlat")
    if uri == EPSG4326:
        return OutputCRS(EPSG4326, "latlon")
    if layer.epsg and uri == epsg_uri(layer.epsg):
        return OutputCRS(uri, "store")
    raise _bad(param, f"CRS {uri[:120]!r} is not offered for this collection",
               hint="one of " + ", ".join(supported_crs(layer)))


def _to_storage(layer: Layer, kind: str):
    """A function that moves a geometry given in ``kind`` coordinates into the store CRS."""
    if kind == "store" or layer.crs is None:
        return lambda g: g
    tr = _from_wgs84_srid(layer.srid)

    def move(g: shapely.Geometry) -> shapely.Geometry:
        if kind == "latlon":
            g = shapely.transform(g, lambda xy: xy[:, ::-1])
        out = shapely.transform(g, lambda xy: _stack(tr.transform(xy[:, 0], xy[:, 1])))
        if not shapely.is_valid_input(out) or not all(math.isfinite(v) for v in out.bounds):
            raise _bad("filter", "geometry literal outside the area the store's CRS covers")
        return out
    return move


def _stack(xy) -> Any:
    import numpy as np
    return np.column_stack(xy)


@dataclass
class ItemsRequest:
    """A validated items request."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    bbox: tuple[float, float, float, float] | None = None  # store CRS
    empty: bool = False  # the bbox misses the collection: answer without a query
    filter: cql2.Node | None = None
    filter_kind: str = "lonlat"
    sortby: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    properties: list[str] | None = None
    skip_geometry: bool = False
    out: OutputCRS = OutputCRS(CRS84, "lonlat")
    cursor: Any = None
    equals: list[tuple[str, str]] = field(default_factory=list)
    passthrough: dict[str, str] = field(default_factory=dict)  # params echoed in links


def _int(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\s*\d{1,9}\s*", raw):
        raise _bad(name, f"{raw[:40]!r} is not a whole number between {lo} and {hi}")
    v = int(raw)
    if not lo <= v <= hi:
        raise _bad(name, f"{v} is out of range {lo}..{hi}")
    return v


def _floats(raw: str, name: str) -> list[float]:
    try:
        vals = [float(v) for v in raw.split(",")]
    except ValueError:
        raise _bad(name, "expected comma-separated numbers") from None
    if not all(math.isfinite(v) for v in vals):
        raise _bad(name, "numbers must be finite")
    return vals


def parse_items(layer: Layer, params: Mapping[str, str], *, body: bytes | None = None) -> ItemsRequest:
    """Validate the query parameters of ``/collections/{id}/items``."""
    req = ItemsRequest()
    for k in params:
        if k not in _KNOWN and k not in layer.fields:
            raise _bad(k, "unknown query parameter",
                       hint="known: " + ", ".join(sorted(_KNOWN)) + " and the collection's properties")
    fmt = params.get("f")
    if fmt is not None and fmt not in ("json", "geojson"):
        raise _bad("f", f"unsupported format {fmt[:20]!r}", hint="f=json or f=html")
    req.limit = _int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    req.offset = _int(params, "offset", 0, 0, 10**9)
    req.out = _crs_kind(layer, params.get("crs"), "crs")
    if "datetime" in params:
        _check_datetime(params["datetime"])
    if "skipGeometry" in params:
        v = params["skipGeometry"].lower()
        if v not in ("true", "false"):
            raise _bad("skipGeometry", "true or false")
        req.skip_geometry = v == "true"
    if "bbox" in params:
        _parse_bbox(layer, params, req)
    elif "bbox-crs" in params:
        raise _bad("bbox-crs", "given without bbox")
    if "filter" in params:
        lang = params.get("filter-lang", "cql2-text")
        if lang == "cql2-text":
            req.filter = cql2.parse_text(params["filter"])
        elif lang == "cql2-json":
            req.filter = cql2.parse_json(params["filter"])
        else:
            raise _bad("filter-lang", f"unsupported filter language {lang[:30]!r}", hint="cql2-text or cql2-json")
        req.filter_kind = _crs_kind(layer, params.get("filter-crs"), "filter-crs").kind
    elif "filter-lang" in params or "filter-crs" in params:
        raise _bad("filter-lang", "given without filter")
    if "sortby" in params:
        for item in params["sortby"].split(","):
            item = item.strip()
            desc = item.startswith("-")
            name = item.lstrip("+-").strip()
            if name not in layer.fields and name != "id":
                raise _bad("sortby", f"cannot sort by {name[:64]!r}", hint="sort by one of " + ", ".join(layer.fields))
            req.sortby.append((name, desc))
    if "properties" in params:
        names = [n.strip() for n in params["properties"].split(",") if n.strip()]
        unknown = [n for n in names if n not in layer.fields]
        if unknown:
            raise _bad("properties", f"unknown properties {', '.join(n[:64] for n in unknown)}",
                       hint="choose from " + ", ".join(layer.fields))
        req.properties = names
    if "cursor" in params:
        if req.sortby or req.offset:
            raise _bad("cursor", "cannot be combined with sortby or offset")
        raw = params["cursor"]
        if layer.id_type == "integer":
            if not re.fullmatch(r"-?\d{1,18}", raw):
                raise _bad("cursor", "not a cursor from a next link")
            req.cursor = int(raw)
        else:
            req.cursor = raw
    req.equals = [(k, params[k]) for k in params if k in layer.fields and k not in _KNOWN]
    req.passthrough = {k: v for k, v in params.items() if k not in ("offset", "cursor", "f")}
    return req


_DT = re.compile(r"(\.\.|\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?")


def _check_datetime(raw: str) -> None:
    parts = raw.split("/")
    if len(parts) > 2 or not all(_DT.fullmatch(p) for p in parts) or raw in ("", "/", "../.."):
        raise _bad("datetime", f"{raw[:60]!r} is not an RFC 3339 instant or interval")


def _parse_bbox(layer: Layer, params: Mapping[str, str], req: ItemsRequest) -> None:
    vals = _floats(params["bbox"], "bbox")
    if len(vals) == 6:
        vals = [vals[0], vals[1], vals[3], vals[4]]
    if len(vals) != 4:
        raise _bad("bbox", "needs 4 (or 6) numbers: minx,miny,maxx,maxy")
    kind = _crs_kind(layer, params.get("bbox-crs"), "bbox-crs").kind
    if kind == "latlon":
        vals = [vals[1], vals[0], vals[3], vals[2]]
    minx, miny, maxx, maxy = vals
    if kind != "store":
        if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
            raise _bad("bbox", "longitude must be within -180..180 and latitude within -90..90")
        if miny > maxy:
            raise _bad("bbox", "the lower latitude is above the upper one")
    elif minx > maxx or miny > maxy:
        raise _bad("bbox", "min must not exceed max")
    if layer.geom_col is None:
        raise _bad("bbox", "this collection has no geometry")
    if layer.extent is None:
        req.empty = True
        return
    if kind == "store":
        req.bbox = (minx, miny, maxx, maxy)
        return
    if minx > maxx:  # crosses the antimeridian: never near Viet Nam
        req.empty = True
        return
    ex0, ey0, ex1, ey1 = _extent_lonlat(layer.srid, layer.extent)
    cx0, cy0, cx1, cy1 = max(minx, ex0), max(miny, ey0), min(maxx, ex1), min(maxy, ey1)
    if cx0 > cx1 or cy0 > cy1:
        req.empty = True
        return
    b = _from_wgs84_srid(layer.srid).transform_bounds(cx0, cy0, cx1, cy1, densify_pts=5)
    req.bbox = tuple(float(v) for v in b)


@lru_cache(maxsize=64)
def _extent_lonlat(srid: int, extent: tuple[float, ...]) -> tuple[float, float, float, float]:
    """The collection's extent in lon/lat, with a 0.05° margin: requests are clipped to it."""
    x0, y0, x1, y1 = to_wgs84(_crs_of(srid)).transform_bounds(*extent, densify_pts=21)
    return x0 - 0.05, y0 - 0.05, x1 + 0.05, y1 + 0.05


@lru_cache(maxsize=16)
def _crs_of(srid: int) -> CRS:
    from gis.crs import crs_from_srid
    return crs_from_srid(srid)


@lru_cache(maxsize=16)
def _to_wgs84_srid(srid: int) -> Transformer:
    return to_wgs84(_crs_of(srid))


@lru_cache(maxsize=16)
def _from_wgs84_srid(srid: int) -> Transformer:
    """WGS 84 lon/lat -> the store CRS, through landrec's CRS (keyed by SRID: hashing a CRS is slow)."""
    return Transformer.from_crs("EPSG:4326", _crs_of(srid), always_xy=True)


# --- SQL ---------------------------------------------------------------------------

@dataclass
class Query:
    """SQL for one page: ``rows`` yields (id, json text or columns), ``count`` the match count."""

    sql: str
    params: dict[str, Any]
    where: str
    columns: list[str]
    postgis: bool


def _where(layer: Layer, req: ItemsRequest, parts: cql2.SqlParts, postgis: bool) -> str:
    conds = []
    if layer.spec.where:
        conds.append(f"({layer.spec.where})")
    geom = q(layer.geom_col) if layer.geom_col else None
    if req.bbox is not None:
        minx, miny, maxx, maxy = req.bbox
        if postgis:
            env = (f"ST_MakeEnvelope({parts.bind(minx)}, {parts.bind(miny)}, {parts.bind(maxx)},"
                   f" {parts.bind(maxy)}, {int(layer.srid)})")
            conds.append(f"ST_Intersects({geom}, {env})")
        else:
            wkb = parts.bind(shapely.to_wkb(box(minx, miny, maxx, maxy)))
            if layer.rtree:
                conds.append(f"{q(layer.id_col)} IN (SELECT id FROM {q(layer.rtree)} WHERE minx <= {parts.bind(maxx)}"
                             f" AND maxx >= {parts.bind(minx)} AND miny <= {parts.bind(maxy)}"
                             f" AND maxy >= {parts.bind(miny)})")
            conds.append(f"lr_s_intersects({geom}, {wkb})")
    if req.filter is not None:
        conds.append(cql2.compile_filter(
            req.filter, fields=layer.fields, geom_col=layer.geom_col,
            dialect="postgresql" if postgis else "sqlite", srid=layer.srid,
            to_storage=_to_storage(layer, req.filter_kind), rtree=layer.rtree, id_col=layer.id_col,
            parts=parts))
    for name, raw in req.equals:
        typ = layer.fields[name]
        value: Any = raw
        if typ in ("integer", "number"):
            try:
                value = int(raw) if typ == "integer" else float(raw)
            except ValueError:
                raise _bad(name, f"{raw[:40]!r} is not a number") from None
        conds.append(f"{q(name)} = {parts.bind(value)}")
    if req.cursor is not None:
        conds.append(f"{q(layer.id_col)} > {parts.bind(req.cursor)}")
    return " AND ".join(conds) if conds else "TRUE"


def _order(layer: Layer, req: ItemsRequest) -> str:
    keys = [f"{q(layer.id_col if n == 'id' else n)}{' DESC' if d else ''}" for n, d in req.sortby]
    if not any(n == "id" for n, _ in req.sortby):
        keys.append(q(layer.id_col))
    return ", ".join(keys)


def _pg_geom(layer: Layer, out: OutputCRS) -> str:
    g = q(layer.geom_col)
    if out.kind == "store":
        return g
    g = f"ST_Transform({g}, 4326)"
    return f"ST_FlipCoordinates({g})" if out.kind == "latlon" else g


def build_query(layer: Layer, req: ItemsRequest, *, postgis: bool, parts: cql2.SqlParts | None = None) -> Query:
    """The SQL of one page of items (and its WHERE, for counting)."""
    parts = parts or cql2.SqlParts()
    where = _where(layer, req, parts, postgis)
    props = req.properties if req.properties is not None else list(layer.fields)
    lim, off = parts.bind(req.limit), parts.bind(req.offset)
    order = _order(layer, req)
    if postgis:
        geom = ("'null'" if req.skip_geometry or layer.geom_col is None
                else f"COALESCE(ST_AsGeoJSON({_pg_geom(layer, req.out)}, {req.out.precision}), 'null')")
        pj = ", ".join(f"'{n}', {q(n)}" for n in props)
        # the feature as text, assembled in SQL: no JSON parsing in the database or here
        feat = (f"""'{{"type":"Feature","id":' || to_json({q(layer.id_col)})::text || ',"geometry":' || {geom}"""
                f""" || ',"properties":' || json_build_object({pj})::text || '}}'""")
        sql = (f"SELECT {q(layer.id_col)}, {feat} FROM {q(layer.table)} WHERE {where}"
               f" ORDER BY {order} LIMIT {lim} OFFSET {off}")
        cols = props
    else:
        sel = [q(layer.id_col)]
        if layer.geom_col and not req.skip_geometry:
            sel.append(q(layer.geom_col))
        sel += [q(n) for n in props]
        sql = f"SELECT {', '.join(sel)} FROM {q(layer.table)} WHERE {where} ORDER BY {order} LIMIT {lim} OFFSET {off}"
        cols = props
    return Query(sql, parts.params, where, cols, postgis)


def count_sql(layer: Layer, where: str, cap: int) -> str:
    """A capped exact count: stops after ``cap`` rows."""
    return f"SELECT count(*) FROM (SELECT 1 FROM {q(layer.table)} WHERE {where} LIMIT {int(cap)}) s"


def explain_sql(layer: Layer, where: str) -> str:
    return f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {q(layer.table)} WHERE {where}"


# --- GeoJSON ------------------------------------------------------------------------

def gpkg_feature(layer: Layer, row: Any, req: ItemsRequest) -> dict:
    """One GeoJSON feature from a GeoPackage row (id, [geom], props...)."""
    i = 1
    geometry = None
    if layer.geom_col and not req.skip_geometry:
        g = gpkg_geometry(row[1])
        i = 2
        if g is not None:
            geometry = json.loads(shapely.to_geojson(_reproject(layer, g, req.out), indent=None))
            geometry = _round(geometry, req.out.precision)
    props = req.properties if req.properties is not None else list(layer.fields)
    values = {n: _jsonable(v) for n, v in zip(props, row[i:])}
    return {"type": "Feature", "id": row[0], "geometry": geometry, "properties": values}


def _reproject(layer: Layer, g: shapely.Geometry, out: OutputCRS) -> shapely.Geometry:
    if out.kind == "store":
        return g
    tr = _to_wgs84_srid(layer.srid)
    g = shapely.transform(g, lambda xy: _stack(tr.transform(xy[:, 0], xy[:, 1])))
    if out.kind == "latlon":
        g = shapely.transform(g, lambda xy: xy[:, ::-1])
    return g


def _round(obj: Any, nd: int) -> Any:
    if isinstance(obj, float):
        return round(obj, nd)
    if isinstance(obj, list):
        return [_round(v, nd) for v in obj]
    if isinstance(obj, dict):
        return {k: _round(v, nd) for k, v in obj.items()}
    return obj


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    return v


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def links(base: str, layer: Layer, req: ItemsRequest, returned: int, last_id: Any,
          matched: int | None) -> list[dict]:
    """self / alternate / next / prev / collection links of one page."""
    from urllib.parse import urlencode
    items = f"{base}/collections/{layer.id}/items"
    qs = dict(req.passthrough)
    self_qs = dict(qs)
    if req.offset:
        self_qs["offset"] = str(req.offset)
    if req.cursor is not None:
        self_qs["cursor"] = str(req.cursor)
    out = [
        {"rel": "self", "type": "application/geo+json", "title": "This document as GeoJSON",
         "href": f"{items}?{urlencode({**self_qs, 'f': 'json'})}"},
        {"rel": "alternate", "type": "text/html", "title": "This document as HTML",
         "href": f"{items}?{urlencode({**self_qs, 'f': 'html'})}"},
        {"rel": "collection", "type": "application/json", "title": layer.spec.title,
         "href": f"{base}/collections/{layer.id}"},
    ]
    more = returned == req.limit and not (matched is not None and matched <= req.offset + returned)
    if more:
        if not req.sortby and not req.offset:
            nxt = {**qs, "cursor": str(last_id), "f": "json"}
        else:
            nxt = {**qs, "offset": str(req.offset + req.limit), "f": "json"}
        out.append({"rel": "next", "type": "application/geo+json", "title": "Next page",
                    "href": f"{items}?{urlencode(nxt)}"})
    if req.offset:
        prev = {**qs, "offset": str(max(0, req.offset - req.limit)), "f": "json"}
        out.append({"rel": "prev", "type": "application/geo+json", "title": "Previous page",
                    "href": f"{items}?{urlencode(prev)}"})
    return out


# --- the synchronous path (GeoPackage, and the pygeoapi provider) --------------------

def feature_collection_sync(engine, layer: Layer, req: ItemsRequest) -> tuple[list[dict], int | None]:
    """(features, numberMatched) of one page through an SQLAlchemy engine."""
    from sqlalchemy import text
    if req.empty:
        return [], 0
    postgis = engine.dialect.name == "postgresql"
    query = build_query(layer, req, postgis=postgis)
    with engine.connect() as conn:
        rows = conn.execute(text(query.sql), query.params).all()
        if postgis:
            feats = [json.loads(r[1]) for r in rows]
        else:
            feats = [gpkg_feature(layer, r, req) for r in rows]
        matched = _matched_sync(conn, layer, req, query, len(rows), postgis)
    return feats, matched


def _matched_sync(conn, layer: Layer, req: ItemsRequest, query: Query, returned: int, postgis: bool) -> int | None:
    from sqlalchemy import text
    if req.cursor is not None:
        return None
    if req.offset == 0 and returned < req.limit:
        return returned
    params = {k: v for k, v in query.params.items()}
    if postgis:
        plan = conn.execute(text(explain_sql(layer, query.where)), params).scalar_one()
        est = _plan_rows(plan)
        if est >= EXACT_COUNT_BELOW:
            return est
    n = conn.execute(text(count_sql(layer, query.where, EXACT_COUNT_BELOW * 4)), params).scalar_one()
    return int(n)


def _plan_rows(plan: Any) -> int:
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def get_feature_sync(engine, layer: Layer, identifier: str, out: OutputCRS) -> dict | None:
    """One feature by id, or None."""
    from sqlalchemy import text
    ident: Any = identifier
    if layer.id_type == "integer":
        if not re.fullmatch(r"-?\d{1,18}", identifier):
            return None
        ident = int(identifier)
    req = ItemsRequest(limit=1, out=out)
    postgis = engine.dialect.name == "postgresql"
    parts = cql2.SqlParts()
    query = build_query(layer, req, postgis=postgis, parts=parts)
    sql = query.sql.replace(" WHERE ", f" WHERE {q(layer.id_col)} = :ident AND ", 1)
    with engine.connect() as conn:
        row = conn.execute(text(sql), {**query.params, "ident": ident}).first()
    if row is None:
        return None
    return json.loads(row[1]) if postgis else gpkg_feature(layer, row, req)
