"""OGC API Processes: plot lookup, affected parcels, land-use statistics (and the edit).

Each process is a ``PROCESS_METADATA`` dict (JSON Schema of inputs and outputs, with an
example) and a :class:`pygeoapi.process.base.BaseProcessor` subclass, loaded by dotted
path.  The processor definition carries the store URL as ``data``.  Only public parcel
fields ever appear in an output.
"""

from __future__ import annotations

import logging
from typing import Any

import shapely
from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from api.server.layers import Layer, engine_for, layers_for, q
from cadastre.schema import PUBLIC_PARCEL_FIELDS
from gis.crs import to_wgs84
from gis.errors import InputError, NotFoundError
from gis.io import read_geojson_geometry
from gis.landuse import land_use
from gis.store import gpkg_geometry

LOGGER = logging.getLogger(__name__)

__all__ = [
    "EDIT_PROCESSES",
    "PROCESSES",
    "AffectedParcelsProcessor",
    "LandUseStatsProcessor",
    "ParcelEditProcessor",
    "PlotLookupProcessor",
]


class ProcessInputError(ProcessorExecuteError):
    """Bad process input: 400 with an OGC exception."""

    http_status_code = 400
    ogc_exception_code = "InvalidParameterValue"


class ProcessNotFoundError(ProcessorExecuteError):
    """The looked-up object does not exist: 404."""

    http_status_code = 404
    ogc_exception_code = "NotFound"


def _meta(pid: str, title: str, description: str, inputs: dict, outputs: dict, example: dict) -> dict:
    return {
        "version": "1.0.0", "id": pid, "title": {"en": title}, "description": {"en": description},
        "jobControlOptions": ["sync-execute", "async-execute"], "keywords": ["cadastre"],
        "links": [], "inputs": inputs, "outputs": outputs, "example": {"inputs": example},
    }


def _inp(title: str, schema: dict, min_occurs: int = 0) -> dict:
    return {"title": title, "description": title, "schema": schema, "minOccurs": min_occurs, "maxOccurs": 1}


_OUT_JSON = {"result": {"title": "result", "schema": {"type": "object", "contentMediaType": "application/json"}}}


class _LandrecProcessor(BaseProcessor):
    def __init__(self, processor_def: dict, metadata: dict) -> None:
        super().__init__(processor_def, metadata)
        self.url = processor_def["data"]

    @property
    def parcels(self) -> Layer:
        layer = layers_for(self.url).get("parcels")
        if layer is None:
            raise ProcessNotFoundError(user_msg="the store holds no parcels")
        return layer

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        if not isinstance(data, dict):
            raise ProcessInputError(user_msg="inputs must be a JSON object")
        try:
            with engine_for(self.url).connect() as conn:
                return "application/json", self.run(conn, data)
        except InputError as exc:
            raise ProcessInputError(user_msg=exc.message + (f" ({exc.hint})" if exc.hint else "")) from None
        except NotFoundError as exc:
            raise ProcessNotFoundError(user_msg=exc.message) from None
        except SQLAlchemyError:
            LOGGER.exception("process %s failed in the store", self.metadata["id"])
            raise ProcessorExecuteError(user_msg="the store could not answer; see the server log") from None

    def run(self, conn, data: dict) -> dict:
        raise NotImplementedError


def _from_lonlat(layer: Layer, geom: shapely.Geometry) -> shapely.Geometry:
    import numpy as np
    tr = to_wgs84(layer.crs)
    out = shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1], direction="INVERSE")))
    if not all(np.isfinite(out.bounds)):
        raise InputError("the geometry lies outside the area the store's CRS covers")
    return out


def _to_lonlat(layer: Layer, geom: shapely.Geometry) -> dict:
    import numpy as np
    tr = to_wgs84(layer.crs)
    g = shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    return shapely.geometry.mapping(shapely.set_precision(g, 1e-8))


def _candidates(conn, layer: Layer, bounds: tuple[float, ...]) -> list[tuple[dict, shapely.Geometry]]:
    """Current parcels whose envelope meets ``bounds`` (store CRS): (public fields, geometry)."""
    cols = ", ".join(q(c) for c in ("id", *PUBLIC_PARCEL_FIELDS))
    g = q(layer.geom_col)
    x0, y0, x1, y1 = bounds
    params = {"x0": x0, "y0": y0, "x1": x1, "y1": y1}
    if conn.dialect.name == "postgresql":
        sql = (f"SELECT {cols}, ST_AsBinary({g}) FROM {q(layer.table)} WHERE {layer.spec.where}"
               f" AND {g} && ST_MakeEnvelope(:x0, :y0, :x1, :y1, {int(layer.srid)})")
        decode = lambda b: shapely.from_wkb(bytes(b))
    else:
        sql = (f"SELECT {cols}, {g} FROM {q(layer.table)} WHERE {layer.spec.where} AND {q(layer.id_col)} IN"
               f" (SELECT id FROM {q(layer.rtree)} WHERE minx <= :x1 AND maxx >= :x0 AND miny <= :y1 AND maxy >= :y0)")
        decode = gpkg_geometry
    names = ("id", *PUBLIC_PARCEL_FIELDS)
    return [(dict(zip(names, r[:-1])), decode(r[-1])) for r in conn.execute(text(sql), params)]


def _point(data: dict) -> shapely.Geometry | None:
    p = data.get("point")
    if p is None:
        return None
    if isinstance(p, dict) and p.get("type") == "Point":
        coords = p.get("coordinates")
    else:
        coords = p
    if (not isinstance(coords, list) or len(coords) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in coords)):
        raise InputError("point is [lon, lat] or a GeoJSON Point in CRS84")
    lon, lat = coords
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InputError("point: longitude must be within -180..180 and latitude within -90..90")
    return shapely.Point(lon, lat)


PLOT_LOOKUP = _meta(
    "plot-lookup", "Plot lookup",
    "The information sheet of one parcel, found by commune + sheet + parcel number, or by a point (CRS84).",
    {"commune_code": _inp("Commune code", {"type": "string"}),
     "sheet_no": _inp("Map sheet number", {"type": "string"}),
     "parcel_no": _inp("Parcel number", {"type": "integer"}),
     "point": _inp("A point [lon, lat] in CRS84", {"type": "array", "items": {"type": "number"}})},
    _OUT_JSON, {"commune_code": "10001", "sheet_no": "2", "parcel_no": 15},
)


class PlotLookupProcessor(_LandrecProcessor):
    """commune + sheet + number, or a point -> the plot's information sheet."""

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, PLOT_LOOKUP)

    def run(self, conn, data: dict) -> dict:
        layer = self.parcels
        pt = _point(data)
        if pt is not None:
            local = _from_lonlat(layer, pt)
            hits = [(f, g) for f, g in _candidates(conn, layer, local.buffer(0.01).bounds) if g.covers(local)]
        else:
            c, s, n = data.get("commune_code"), data.get("sheet_no"), data.get("parcel_no")
            if not (isinstance(c, str) and isinstance(s, str) and isinstance(n, int) and not isinstance(n, bool)):
                raise InputError("give commune_code (string), sheet_no (string) and parcel_no (integer), or point")
            cols = ", ".join(q(x) for x in ("id", *PUBLIC_PARCEL_FIELDS))
            row = conn.execute(text(
                f"SELECT {cols}, {q(layer.geom_col)} FROM {q(layer.table)} WHERE {layer.spec.where}"
                " AND commune_code = :c AND sheet_no = :s AND parcel_no = :n"), {"c": c, "s": s, "n": n}).first()
            hits = []
            if row is not None:
                hits = [(dict(zip(("id", *PUBLIC_PARCEL_FIELDS), row[:-1])), _geom(conn, row[-1]))]
        if not hits:
            raise NotFoundError("no current parcel there")
        fields, geom = hits[0]
        return {"parcel": {**fields, "land_use_name": _land_use_name(fields["land_use"]),
                           "commune_name": _commune_name(conn, fields["commune_code"]),
                           "geometry": _to_lonlat(layer, geom)}}


def _geom(conn, value) -> shapely.Geometry:
    """A geometry column value read with plain SQL: hex EWKB on PostGIS, a blob on GeoPackage."""
    if conn.dialect.name == "postgresql":
        return shapely.from_wkb(value if isinstance(value, str) else bytes(value))
    return gpkg_geometry(value)


def _land_use_name(code: str | None) -> str | None:
    lu = land_use(code) if code else None
    return lu.name_vi if lu is not None else None


def _tables(conn) -> set[str]:
    return set(inspect(conn).get_table_names())


def _commune_name(conn, code: str) -> str | None:
    if "admin_unit" not in _tables(conn):
        return None
    return conn.execute(text("SELECT name FROM admin_unit WHERE code = :c"), {"c": code}).scalar()


AFFECTED = _meta(
    "affected-parcels", "Affected parcels",
    "Each current parcel's affected area and share under a planned road corridor (a line with a"
    " half width in metres) or a planning zone (a polygon, or the code of a planning_zones feature).",
    {"geometry": _inp("GeoJSON geometry in CRS84", {"type": "object"}),
     "buffer_m": _inp("Half width of the corridor around the geometry, metres", {"type": "number", "minimum": 0}),
     "planning_zone": _inp("Code of a planning zone", {"type": "string"})},
    _OUT_JSON,
    {"geometry": {"type": "LineString", "coordinates": [[106.1, 21.2], [106.11, 21.21]]}, "buffer_m": 10},
)


class AffectedParcelsProcessor(_LandrecProcessor):
    """A corridor or zone -> each parcel's affected area and share."""

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, AFFECTED)

    def run(self, conn, data: dict) -> dict:
        layer = self.parcels
        area = self._area(conn, layer, data)
        out, total = [], 0.0
        for fields, geom in _candidates(conn, layer, area.bounds):
            hit = geom.intersection(area).area
            if hit <= 0:
                continue
            share = hit / geom.area if geom.area else 0.0
            total += hit
            out.append({**fields, "affected_m2": round(hit, 2), "share": round(share, 4)})
        out.sort(key=lambda r: (-r["affected_m2"], r["id"]))
        return {"parcels": out, "count": len(out), "affected_m2": round(total, 2),
                "area_m2": round(area.area, 2)}

    def _area(self, conn, layer: Layer, data: dict) -> shapely.Geometry:
        zone = data.get("planning_zone")
        if zone is not None:
            zl = layers_for(self.url).get("planning_zones")
            if zl is None or not isinstance(zone, str):
                raise InputError("planning_zone is the code of a planning_zones feature")
            row = conn.execute(text(f"SELECT {q(zl.geom_col)} FROM planning_zone WHERE code = :c"), {"c": zone}).first()
            if row is None:
                raise NotFoundError(f"no planning zone {zone[:40]!r}")
            return _geom(conn, row[0])
        gj = data.get("geometry")
        if not isinstance(gj, dict):
            raise InputError("give geometry (GeoJSON, CRS84) or planning_zone")
        geom = read_geojson_geometry(gj)
        lon0, lat0, lon1, lat1 = geom.bounds
        if not (-180 <= lon0 <= lon1 <= 180 and -90 <= lat0 <= lat1 <= 90):
            raise InputError("geometry must be in CRS84 (lon, lat)")
        buf = data.get("buffer_m", 0)
        if isinstance(buf, bool) or not isinstance(buf, (int, float)) or not 0 <= buf <= 5000:
            raise InputError("buffer_m is a number of metres between 0 and 5000")
        local = _from_lonlat(layer, geom)
        if buf:
            local = local.buffer(buf)
        if local.area <= 0:
            raise InputError("a line needs buffer_m > 0 to make a corridor")
        if local.area > 1e9:
            raise InputError("the area is larger than 1000 km²; split the request")
        return shapely.make_valid(local)


STATS = _meta(
    "land-use-statistics", "Land-use statistics",
    "Area and number of current parcels per land-use code for each administrative unit"
    " (a commune, or a district/province summed over its communes).",
    {"admin_unit": _inp("Code of an administrative unit (default: every commune)", {"type": "string"})},
    _OUT_JSON, {"admin_unit": "10001"},
)


class LandUseStatsProcessor(_LandrecProcessor):
    """Land-use statistics per administrative unit."""

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, STATS)

    def run(self, conn, data: dict) -> dict:
        layer = self.parcels
        code = data.get("admin_unit")
        if code is not None and not isinstance(code, str):
            raise InputError("admin_unit is a code (string)")
        rows = conn.execute(text(
            f"SELECT commune_code, land_use, count(*), sum(area_m2) FROM {q(layer.table)}"
            f" WHERE {layer.spec.where} GROUP BY commune_code, land_use ORDER BY commune_code, land_use")).all()
        communes = {c for c, *_ in rows}
        if code is not None:
            members = self._communes_of(conn, code)
            if not members:
                raise NotFoundError(f"no administrative unit {code[:40]!r}")
            groups = {code: members}
        else:
            groups = {c: {c} for c in sorted(communes)}
        units = []
        for unit, members in groups.items():
            per: dict[str | None, list[float]] = {}
            for c, lu, n, a in rows:
                if c in members:
                    acc = per.setdefault(lu, [0, 0.0])
                    acc[0] += int(n)
                    acc[1] += float(a or 0)
            total = sum(v[1] for v in per.values())
            units.append({"admin_unit": unit, "parcels": sum(int(v[0]) for v in per.values()),
                          "area_m2": round(total, 2),
                          "land_use": [{"code": lu, "parcels": v[0], "area_m2": round(v[1], 2),
                                        "share": round(v[1] / total, 4) if total else 0.0}
                                       for lu, v in sorted(per.items(), key=lambda kv: -kv[1][1])]})
        return {"units": units}

    def _communes_of(self, conn, code: str) -> set[str]:
        if "admin_unit" not in _tables(conn):
            return {code}
        found, frontier = set(), {code}
        known = conn.execute(text("SELECT code FROM admin_unit WHERE code = :c"), {"c": code}).first()
        if known is None:
            n = conn.execute(text("SELECT count(*) FROM parcel WHERE commune_code = :c"), {"c": code}).scalar()
            return {code} if n else set()
        while frontier:
            found |= frontier
            kids = conn.execute(text("SELECT code FROM admin_unit WHERE parent_code IN ("
                                     + ", ".join(f":c{i}" for i in range(len(frontier))) + ")"),
                                {f"c{i}": c for i, c in enumerate(sorted(frontier))}).scalars().all()
            frontier = set(kids) - found
        return found


#: process id -> dotted path of its processor
PROCESSES: dict[str, str] = {
    "plot-lookup": "api.server.processes.PlotLookupProcessor",
    "affected-parcels": "api.server.processes.AffectedParcelsProcessor",
    "land-use-statistics": "api.server.processes.LandUseStatsProcessor",
}


EDIT = _meta(
    "parcel-edit", "Edit the register (land officers only)",
    "One edit of the cadastre with its source document, as one transaction with history:"
    " set_land_use, split (by a line in CRS84) or merge.  Needs a land officer's token;"
    " the parcel's current version must be given (optimistic locking).",
    {"operation": _inp("set_land_use, split or merge", {"type": "string", "enum": ["set_land_use", "split", "merge"]}, 1),
     "parcels": _inp("Parcel references COMMUNE/SHEET/NUMBER", {"type": "array", "items": {"type": "string"}}, 1),
     "expect_versions": _inp("The version of each parcel as read", {"type": "array", "items": {"type": "integer"}}, 1),
     "land_use": _inp("New land-use code (set_land_use, optional for merge)", {"type": "string"}),
     "line": _inp("Split line: GeoJSON LineString in CRS84", {"type": "object"}),
     "source_kind": _inp("Kind of source document (decision, survey ...)", {"type": "string"}, 1),
     "source_reference": _inp("Reference of the source document", {"type": "string"}, 1)},
    _OUT_JSON,
    {"operation": "set_land_use", "parcels": ["10001/2/13"], "expect_versions": [1], "land_use": "ODT",
     "source_kind": "decision", "source_reference": "QD-123/2026"},
)


class ParcelEditProcessor(_LandrecProcessor):
    """The cadastre's edit operations (:mod:`cadastre.edits`) for land officers."""

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, EDIT)

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        from cadastre import edits
        from cadastre.register import open_register
        from gis.errors import ConflictError, StoreError
        if not isinstance(data, dict):
            raise ProcessInputError(user_msg="inputs must be a JSON object")
        try:
            op, refs, versions, source = self._common(data)
            reg = open_register(self.url)
            try:
                if op == "set_land_use":
                    if len(refs) != 1 or not isinstance(data.get("land_use"), str):
                        raise InputError("set_land_use takes one parcel and a land_use code")
                    res = edits.set_land_use(reg, refs[0], data["land_use"], expect_version=versions[0], source=source)
                elif op == "split":
                    if len(refs) != 1:
                        raise InputError("split takes one parcel and a line")
                    res = edits.split_parcel(reg, refs[0], self._line(data.get("line")),
                                             expect_version=versions[0], source=source)
                else:
                    lu = data.get("land_use")
                    res = edits.merge_parcels(reg, refs, expect_versions=versions, source=source,
                                              land_use=lu if isinstance(lu, str) else None)
            finally:
                reg.engine.dispose()
        except InputError as exc:
            raise ProcessInputError(user_msg=exc.message + (f" ({exc.hint})" if exc.hint else "")) from None
        except NotFoundError as exc:
            raise ProcessNotFoundError(user_msg=exc.message) from None
        except ConflictError as exc:
            raise ProcessConflictError(user_msg=exc.message) from None
        except StoreError as exc:
            raise ProcessInputError(user_msg=exc.message) from None
        except SQLAlchemyError:
            LOGGER.exception("edit failed in the store")
            raise ProcessorExecuteError(user_msg="the store refused the edit; see the server log") from None
        out = res.as_dict()
        return "application/json", {"transaction_id": out["transaction_id"], "kind": out["kind"],
                                    "ended": [_public(v) for v in out["ended"]],
                                    "created": [_public(v) for v in out["created"]]}

    @staticmethod
    def _common(data: dict):
        from cadastre.edits import SourceDoc
        op = data.get("operation")
        if op not in ("set_land_use", "split", "merge"):
            raise InputError("operation is set_land_use, split or merge")
        refs, versions = data.get("parcels"), data.get("expect_versions")
        if (not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs)
                or not isinstance(versions, list) or len(versions) != len(refs)
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in versions)):
            raise InputError("give parcels (COMMUNE/SHEET/NUMBER strings) and one expected version each")
        kind, ref = data.get("source_kind"), data.get("source_reference")
        if not (isinstance(kind, str) and kind.strip() and isinstance(ref, str) and ref.strip()):
            raise InputError("every edit needs its source document: source_kind and source_reference")
        return op, refs, versions, SourceDoc(kind=kind.strip(), reference=ref.strip(), officer="api:land_officer")

    def _line(self, gj: Any) -> shapely.Geometry:
        if not isinstance(gj, dict) or gj.get("type") != "LineString":
            raise InputError("split needs line: a GeoJSON LineString in CRS84")
        return _from_lonlat(self.parcels, read_geojson_geometry(gj))


class ProcessConflictError(ProcessorExecuteError):
    """The parcel changed since it was read: 409."""

    http_status_code = 409
    ogc_exception_code = "Conflict"


def _public(version: dict) -> dict:
    """Only public identifiers of a parcel version in an edit result."""
    return {k: version[k] for k in ("parcel_uid", "version", "ref", "parcel_no", "area_m2", "land_use")
            if k in version}


#: processes that change the register: only for the land-officer role (see api.server.auth)
EDIT_PROCESSES: dict[str, str] = {"parcel-edit": "api.server.processes.ParcelEditProcessor"}
