"""Reference layers for the consumer systems: administrative units, roads, monitoring
stations and their readings, planning zones, from a district's base layers.

Every GeoPackage of a directory is read; the layers are recognised by name
(``province``/``district``/``commune``, ``roads``, ``stations``, ``readings``,
``zones``) and other layers are left alone.  Reference layers are not versioned: a
reload replaces each recognised table's content, in one transaction.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Connection

from cadastre.register import Register
from gis.errors import InputError, MissingFileError
from gis.io import list_layers, read_vector

__all__ = ["load_reference"]

_ADMIN = ("province", "district", "commune")


def _to_store(reg: Register, gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise InputError(f"{what} has no CRS", hint="assign its CRS and export again")
    return gdf if gdf.crs == reg.crs else gdf.to_crs(reg.crs)


def _multi(geoms, kind: str) -> list:
    out = []
    for g in geoms:
        if g is None or g.is_empty:
            out.append(None)
        elif kind == "line" and g.geom_type == "LineString":
            out.append(shapely.MultiLineString([g]))
        elif kind == "polygon" and g.geom_type == "Polygon":
            out.append(shapely.MultiPolygon([g]))
        else:
            out.append(g)
    return out


def _col(df: pd.DataFrame, name: str) -> list:
    if name not in df.columns:
        return [None] * len(df)
    return [None if pd.isna(v) else v for v in df[name].tolist()]


def _time(value) -> datetime:
    when = pd.Timestamp(value)
    if when.tzinfo is not None:
        when = when.tz_convert(UTC).tz_localize(None)
    return when.to_pydatetime()


def _admin_rows(reg: Register, layers: dict[str, gpd.GeoDataFrame]) -> list[dict]:
    rows = []
    parents: gpd.GeoDataFrame | None = None
    for level in _ADMIN:
        gdf = layers.get(level)
        if gdf is None:
            continue
        gdf = _to_store(reg, gdf, f"layer {level}")
        geoms = _multi(gdf.geometry, "polygon")
        for i, (code, name) in enumerate(zip(_col(gdf, "code"), _col(gdf, "name"))):
            parent = _col(gdf, "parent_code")[i]
            if parent is None and parents is not None and geoms[i] is not None:
                inside = parents[parents.geometry.covers(geoms[i].point_on_surface())]
                parent = str(inside["code"].iloc[0]) if len(inside) else None
            rows.append({"code": str(code), "name": name or str(code), "level": level,
                         "parent_code": parent, "geom": geoms[i]})
        parents = gdf
    return rows


def load_reference(reg: Register, directory: str | os.PathLike) -> dict[str, int]:
    """Load the recognised reference layers of every GeoPackage in ``directory``; counts by table."""
    root = Path(directory)
    if not root.is_dir():
        raise MissingFileError(f"{root} is not a directory", hint="give a district's base-layer directory")
    layers: dict[str, gpd.GeoDataFrame] = {}
    for path in sorted(root.glob("*.gpkg")):
        for name in list_layers(path):
            if name in (*_ADMIN, "roads", "stations", "readings", "zones"):
                layers[name] = read_vector(path, layer=name)
    if not layers:
        raise InputError(f"{root} holds no reference layer",
                         hint="expected layers: province/district/commune, roads, stations, readings, zones")
    tables: dict[str, list[dict]] = {}
    if any(level in layers for level in _ADMIN):
        tables["admin_unit"] = _admin_rows(reg, layers)
    if "roads" in layers:
        g = _to_store(reg, layers["roads"], "layer roads")
        tables["road"] = [{"name": n, "kind": k, "width_m": w, "geom": geom} for n, k, w, geom in zip(
            _col(g, "name"), _col(g, "road_class"), _col(g, "width_m"), _multi(g.geometry, "line"))]
    if "stations" in layers:
        g = _to_store(reg, layers["stations"], "layer stations")
        tables["monitoring_station"] = [{"code": str(c), "name": n, "kind": k, "geom": geom} for c, n, k, geom in zip(
            _col(g, "station_id"), _col(g, "name"), _col(g, "kind"), g.geometry)]
    if "readings" in layers:
        r = layers["readings"]
        tables["station_reading"] = [
            {"station_code": str(c), "at": _time(t), "parameter": p, "value": v, "unit": u}
            for c, t, p, v, u in zip(_col(r, "station_id"), _col(r, "observed_at"), _col(r, "parameter"),
                                     _col(r, "value"), _col(r, "unit"))]
    if "zones" in layers:
        g = _to_store(reg, layers["zones"], "layer zones")
        tables["planning_zone"] = [{"code": c, "name": n, "land_use": u, "geom": geom} for c, n, u, geom in zip(
            _col(g, "zone_id"), _col(g, "name"), _col(g, "planned_use"), _multi(g.geometry, "polygon"))]
    with reg.engine.begin() as conn:
        for name, rows in tables.items():
            _replace(reg, conn, name, rows)
    return {name: len(rows) for name, rows in tables.items()}


def _replace(reg: Register, conn: Connection, name: str, rows: list[dict]) -> None:
    table = reg.table(name)
    conn.execute(table.delete())
    if rows:
        conn.execute(table.insert(), rows)
