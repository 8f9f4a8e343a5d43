"""Parcel by point on 1M parcels: p50/p99 of `cadastre.queries.parcels_at_point`.

On PostGIS (target: p99 at most 5 ms), beside the same point-in-polygon query sent as
raw SQL (psycopg2, ``ST_Covers``) to the table `ogr2ogr` loaded, as a user would type it:
planned on every call (EXPLAIN ANALYZE there: 8-13 ms planning, 0.2 ms on the GiST index;
landrec's lookup is a prepared statement); and on the embedded
GeoPackage store (90 000 parcels) for information.  Uses the databases of bench/load.py (built here if
that bench did not run first).
"""

from __future__ import annotations

import os
import random
import time

import psycopg2

from bench.common import BenchContext, percentile, table
from bench.load import LANDREC_DB, OGR_DB, load_landrec, load_ogr2ogr, sheets_gpkg

TARGET_P99_MS = 5.0


def _has(ctx: BenchContext, db: str, tbl: str, n: int) -> bool:
    exists = ctx.cluster.psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'").strip()
    if not exists:
        return False
    got = ctx.cluster.psql(f"SELECT count(*) FROM pg_class WHERE relname = '{tbl}'", db=db).strip()
    return got == "1" and int(ctx.cluster.psql(f"SELECT count(*) FROM {tbl}", db=db)) >= n


def _points(n: int, km: int, seed: int = 11) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(560000 + rng.random() * km * 1000, 2340000 + rng.random() * km * 1000) for _ in range(n)]


def _time_library(url: str, points: list[tuple[float, float]]) -> tuple[list[float], int]:
    from cadastre.queries import parcels_at_point
    from cadastre.register import open_register

    reg = open_register(url)
    try:
        with reg.engine.connect() as conn:
            for x, y in points[:100]:  # warm up
                parcels_at_point(reg, x, y, conn=conn)
            times, hits = [], 0
            for x, y in points:
                t0 = time.perf_counter()
                found = parcels_at_point(reg, x, y, conn=conn)
                times.append((time.perf_counter() - t0) * 1000)
                hits += bool(found)
    finally:
        reg.dispose()
    return times, hits


def _time_raw_sql(ctx: BenchContext, points: list[tuple[float, float]]) -> tuple[list[float], int]:
    conn = psycopg2.connect(host="localhost", port=ctx.cluster.port, user="postgres", dbname=OGR_DB)
    cur = conn.cursor()
    srid = int(ctx.cluster.psql("SELECT srid FROM geometry_columns WHERE f_table_name = 'parcel'", db=OGR_DB))
    sql = ("SELECT parcel_no, sheet_no, land_use, area_m2, ST_AsBinary(geom) FROM parcel"
           " WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), %s))")
    for x, y in points[:100]:
        cur.execute(sql, (x, y, srid))
        cur.fetchall()
    times, hits = [], 0
    for x, y in points:
        t0 = time.perf_counter()
        cur.execute(sql, (x, y, srid))
        rows = cur.fetchall()
        times.append((time.perf_counter() - t0) * 1000)
        hits += bool(rows)
    conn.close()
    return times, hits


def _gpkg_store(ctx: BenchContext, path, km: int):
    """The same parcels in a GeoPackage store (built once, cached): (path, load seconds or None)."""
    from cadastre.load import load_file
    from cadastre.register import init_register

    store = ctx.cache / f"store_{km}km.gpkg"
    if store.exists():
        init_register(store, None).dispose()  # a store cached by an older landrec is upgraded
        return store, None
    tmp = ctx.cache / f"store_{km}km.tmp.gpkg"
    tmp.unlink(missing_ok=True)
    t0 = time.perf_counter()
    load_file(tmp, path, commune="10001")
    seconds = time.perf_counter() - t0
    tmp.rename(store)
    return store, seconds


def run(ctx: BenchContext) -> dict:
    path, n = sheets_gpkg(ctx)
    km = 6 if ctx.quick else 20
    if not _has(ctx, LANDREC_DB, "parcel", n):
        load_landrec(ctx, path)
    if not _has(ctx, OGR_DB, "parcel", n):
        load_ogr2ogr(ctx, path)
    points = _points(500 if ctx.quick else 2000, km)
    rows, result = [], {"parcels": n, "queries": len(points)}
    for label, key, (times, hits) in (
        ("landrec parcels_at_point, PostGIS", "postgis", _time_library(ctx.cluster.url(LANDREC_DB), points)),
        ("raw SQL ST_Covers on the ogr2ogr table, planned each call", "raw_sql", _time_raw_sql(ctx, points)),
    ):
        rows.append({"query": label, "p50 ms": percentile(times, 50), "p99 ms": percentile(times, 99),
                     "found": f"{hits}/{len(points)}"})
        result[f"{key}_p50_ms"] = round(percentile(times, 50), 3)
        result[f"{key}_p99_ms"] = round(percentile(times, 99), 3)
    # the GeoPackage store is filled row by row through SQLAlchemy: 90 000 parcels, for information
    small, small_n = sheets_gpkg(ctx, 6)
    store, load_s = _gpkg_store(ctx, small, 6)
    times, hits = _time_library(str(store), _points(len(points), 6))
    rows.append({"query": f"landrec parcels_at_point, GeoPackage of {small_n} parcels (information)",
                 "p50 ms": percentile(times, 50),
                 "p99 ms": percentile(times, 99), "found": f"{hits}/{len(points)}"})
    result["gpkg_p50_ms"] = round(percentile(times, 50), 3)
    result["gpkg_p99_ms"] = round(percentile(times, 99), 3)
    if load_s is not None:
        result["gpkg_load_s"] = round(load_s, 1)
    result["gpkg_parcels"] = small_n
    print(table(rows, ["query", "p50 ms", "p99 ms", "found"]))
    result["loadavg"] = os.getloadavg()
    result["targets_met"] = result["postgis_p99_ms"] <= TARGET_P99_MS
    return result
