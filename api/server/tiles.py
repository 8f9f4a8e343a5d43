"""Mapbox vector tiles (WebMercatorQuad) of a layer: ST_AsMVT on PostGIS, Python on GeoPackage.

Only whitelisted columns go into a tile (:attr:`Layer.fields`).  Geometries reach Web
Mercator through landrec's CRS (the Decision 05/2007 shift): on PostGIS via the store's
``spatial_ref_sys`` row, on GeoPackage via :func:`gis.crs.to_wgs84`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import shapely
from pyproj import Transformer
from shapely.geometry import box

from api.server.layers import Layer, q
from gis.crs import to_wgs84
from gis.errors import InputError
from gis.store import gpkg_geometry

__all__ = ["MAX_ZOOM", "check_tile", "gpkg_tile", "pg_tile_sql", "tile_bounds_3857"]

MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64
_HALF = 20037508.342789244


def check_tile(matrix: str, z: str, y: str, x: str) -> tuple[int, int, int]:
    """Validate a WebMercatorQuad tile address."""
    if matrix != "WebMercatorQuad":
        raise InputError(f"tile matrix set {matrix[:40]!r} is not offered", hint="use WebMercatorQuad")
    try:
        zi, yi, xi = int(z), int(y), int(x)
    except ValueError:
        raise InputError("tileMatrix, tileRow and tileCol must be whole numbers") from None
    if not 0 <= zi <= MAX_ZOOM or not 0 <= yi < 2 ** zi or not 0 <= xi < 2 ** zi:
        raise InputError(f"tile {zi}/{yi}/{xi} is outside WebMercatorQuad (zoom 0..{MAX_ZOOM})")
    return zi, yi, xi


def tile_bounds_3857(z: int, y: int, x: int) -> tuple[float, float, float, float]:
    size = 2 * _HALF / 2 ** z
    minx = -_HALF + x * size
    maxy = _HALF - y * size
    return minx, maxy - size, minx + size, maxy


def pg_tile_sql(layer: Layer) -> str:
    """SQL for one tile; binds ``:z :x :y``."""
    g = q(layer.geom_col)
    cols = ", ".join(f"t.{q(c)}" for c in layer.fields if layer.fields[c] != "date-time")
    where = f" AND ({layer.spec.where})" if layer.spec.where else ""
    return (
        f"WITH b AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env),"
        f" m AS (SELECT ST_AsMVTGeom(ST_Transform(t.{g}, 3857), b.env, {EXTENT}, {BUFFER}, true) AS mvtgeom,"
        f" t.{q(layer.id_col)} AS fid{', ' + cols if cols else ''}"
        f" FROM {q(layer.table)} t, b WHERE t.{g} && ST_Transform(b.env, {int(layer.srid)}){where})"
        f" SELECT ST_AsMVT(m, '{layer.id}', {EXTENT}, 'mvtgeom', 'fid') FROM m"
    )


@lru_cache(maxsize=16)
def _to_3857(srid: int) -> tuple[Transformer, Transformer]:
    from gis.crs import crs_from_srid
    crs = crs_from_srid(srid)
    return to_wgs84(crs), Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)


def gpkg_tile(conn, layer: Layer, z: int, y: int, x: int) -> bytes:
    """Encode one tile from a GeoPackage connection (SQLAlchemy) in Python."""
    import mapbox_vector_tile
    import numpy as np
    from sqlalchemy import text

    bounds = tile_bounds_3857(z, y, x)
    pad = (bounds[2] - bounds[0]) * BUFFER / EXTENT
    clip = box(bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
    to84, to3857 = _to_3857(layer.srid)
    lon0, lat0 = to3857.transform(clip.bounds[0], clip.bounds[1], direction="INVERSE")
    lon1, lat1 = to3857.transform(clip.bounds[2], clip.bounds[3], direction="INVERSE")
    ex0, ey0, ex1, ey1 = to84.transform_bounds(lon0, lat0, lon1, lat1, densify_pts=11, direction="INVERSE")
    if not all(math.isfinite(v) for v in (ex0, ey0, ex1, ey1)):
        return b""
    cols = [c for c in layer.fields if layer.fields[c] != "date-time"]
    sel = ", ".join([q(layer.id_col), q(layer.geom_col)] + [q(c) for c in cols])
    conds = [(f"{q(layer.id_col)} IN (SELECT id FROM {q(layer.rtree)} WHERE minx <= :x1 AND maxx >= :x0"
              " AND miny <= :y1 AND maxy >= :y0)")] if layer.rtree else []
    if layer.spec.where:
        conds.append(f"({layer.spec.where})")
    sql = f"SELECT {sel} FROM {q(layer.table)}" + (" WHERE " + " AND ".join(conds) if conds else "")
    rows = conn.execute(text(sql), {"x0": ex0, "y0": ey0, "x1": ex1, "y1": ey1}).all()

    def move(xy):
        lon, lat = to84.transform(xy[:, 0], xy[:, 1])
        return np.column_stack(to3857.transform(lon, lat))

    features = []
    for r in rows:
        g = gpkg_geometry(r[1])
        if g is None or g.is_empty:
            continue
        g = shapely.transform(g, move).intersection(clip)
        if g.is_empty:
            continue
        props = {c: v for c, v in zip(cols, r[2:]) if v is not None}
        features.append({"geometry": g, "properties": props, "id": r[0]})
    if not features:
        return b""
    return mapbox_vector_tile.encode(
        [{"name": layer.id, "features": features}],
        default_options={"quantize_bounds": bounds, "extents": EXTENT},
    )
