"""Topology check of 1M parcels: gis.topology.check_parcels beside the same checks as a
plain PostGIS self-join, on the same layer, in the same run.

The layer is a tiled synthetic fabric made here (irregular quadrilaterals, 20 m, grouped
in 1:1000 sheets of 25 x 25 parcels) with a known number of planted errors: overlaps,
gaps, duplicate numbers, unlabeled parcels, slivers, area-label mismatches.  Both sides
must find the planted overlaps; the table shows wall seconds (and landrec's CPU seconds,
which stay meaningful on a busy machine) and counts.  Target: landrec within 60 s for
1M parcels on 2 cores.  Each PostGIS query stops after 240 s (shown as "> 240 s").
"""

from __future__ import annotations

import io
import os
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg2
import shapely

from bench.common import BenchContext, table
from gis.topology import check_parcels, summarize

TARGET_S = 60.0
SIZE_M = 20.0
PER_SHEET = 25  # 1:1000 sheet = 500 m = 25 parcels of 20 m
E0, N0 = 500_000.0, 2_300_000.0


def make_layer(side: int, seed: int = 7) -> tuple[gpd.GeoDataFrame, dict[str, int]]:
    """``side`` x ``side`` parcels and the counts of the errors planted in them."""
    rng = np.random.default_rng(seed)
    xs = E0 + np.arange(side + 1) * SIZE_M
    ys = N0 + np.arange(side + 1) * SIZE_M
    X, Y = np.meshgrid(xs, ys)
    X[1:-1, 1:-1] += rng.uniform(-4, 4, (side - 1, side - 1))
    Y[1:-1, 1:-1] += rng.uniform(-4, 4, (side - 1, side - 1))
    j, i = np.divmod(np.arange(side * side), side)
    ring = np.stack([np.stack([X[j, i], Y[j, i]], -1), np.stack([X[j, i + 1], Y[j, i + 1]], -1),
                     np.stack([X[j + 1, i + 1], Y[j + 1, i + 1]], -1), np.stack([X[j + 1, i], Y[j + 1, i]], -1),
                     np.stack([X[j, i], Y[j, i]], -1)], 1)
    geoms = shapely.polygons(ring)
    sheet = (j // PER_SHEET) * 10_000 + (i // PER_SHEET)
    number = (j % PER_SHEET) * PER_SHEET + (i % PER_SHEET) + 1
    area = shapely.area(geoms)
    label = np.round(area, 1)
    n = len(geoms)
    k = max(1, n // 20_000)  # planted errors of each kind
    pick = rng.choice(np.flatnonzero((i > 0) & (i < side - 1) & (j > 0) & (j < side - 1)), 5 * k, replace=False)
    over, gap, dup, unl, mis = np.split(pick, 5)
    geoms[over] = shapely.buffer(geoms[over], 0.5, join_style="mitre")  # overlaps its neighbours
    geoms[gap] = shapely.buffer(geoms[gap], -0.5, join_style="mitre")  # leaves a ring-shaped gap
    number = number.astype(float)
    number[dup] = number[dup - 1]
    number[unl] = np.nan
    label[mis] = label[mis] * 1.5
    df = gpd.GeoDataFrame({"parcel_no": pd.array(number, dtype="Int64"), "sheet_no": sheet.astype(str),
                           "area_label_m2": label, "land_use": "ONT"}, geometry=geoms, crs="EPSG:9214")
    return df, {"overlap_parcels": len(over), "gap": len(gap), "duplicate_number": len(dup),
                "unlabeled": len(unl), "area_mismatch": len(mis)}


def load_postgis(ctx: BenchContext, df: gpd.GeoDataFrame) -> str:
    """The layer into a fresh PostGIS table ``parcels`` (COPY of WKB), with a GiST index."""
    name = "bench_topology"
    ctx.cluster.drop_database(name)
    url = ctx.cluster.create_database(name)
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE parcels (id int PRIMARY KEY, parcel_no int, sheet_no text, "
                    "area_label_m2 float8, geom geometry(Polygon, 0))")
        buf = io.StringIO()
        wkb = shapely.to_wkb(np.asarray(df.geometry.values), hex=True)
        frame = pd.DataFrame({"id": np.arange(len(df)), "parcel_no": df["parcel_no"].astype("Int64"),
                              "sheet_no": df["sheet_no"], "area_label_m2": df["area_label_m2"], "geom": wkb})
        frame.to_csv(buf, index=False, header=False, na_rep="\\N")
        buf.seek(0)
        cur.copy_expert("COPY parcels FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)
        cur.execute("CREATE INDEX ON parcels USING gist (geom)")
        cur.execute("ANALYZE parcels")
    conn.close()
    return url


#: the same checks in SQL: a self-join for overlaps, aggregates for the rest
POSTGIS_CHECKS = {
    "invalid_geometry": "SELECT count(*) FROM parcels WHERE NOT ST_IsValid(geom)",
    "overlap": "SELECT count(*) FROM parcels a JOIN parcels b ON a.id < b.id AND a.geom && b.geom "
               "AND ST_Relate(a.geom, b.geom, '2********') "
               "AND ST_Area(ST_Intersection(a.geom, b.geom)) > 0.01",
    "gap": "SELECT count(*) FROM (SELECT (ST_Dump(ST_Union(geom))).geom AS g FROM parcels) u, "
           "LATERAL generate_series(1, ST_NumInteriorRings(u.g)) k "
           "WHERE ST_Area(ST_MakePolygon(ST_InteriorRingN(u.g, k))) > 0.01",
    "duplicate_number": "SELECT count(*) FROM (SELECT 1 FROM parcels WHERE parcel_no IS NOT NULL "
                        "GROUP BY sheet_no, parcel_no HAVING count(*) > 1) d",
    "unlabeled": "SELECT count(*) FROM parcels WHERE parcel_no IS NULL",
    "sliver": "SELECT count(*) FROM parcels WHERE 2 * ST_Area(geom) / ST_Perimeter(geom) < 0.2 "
              "OR ST_Area(geom) < 0.25",
    "area_mismatch": "SELECT count(*) FROM parcels WHERE abs(area_label_m2 - ST_Area(geom)) "
                     "> 0.0004 * 1000 * sqrt(ST_Area(geom))",
}


def run_postgis(url: str, timeout_s: float) -> tuple[float, dict[str, int | str]]:
    conn = psycopg2.connect(url)
    counts: dict[str, int | str] = {}
    t0 = time.perf_counter()
    with conn, conn.cursor() as cur:
        cur.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
        for code, sql in POSTGIS_CHECKS.items():
            try:
                cur.execute(sql)
                counts[code] = int(cur.fetchone()[0])
            except psycopg2.errors.QueryCanceled:
                conn.rollback()
                cur.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
                counts[code] = f"> {timeout_s:.0f} s"
    conn.close()
    return time.perf_counter() - t0, counts


def run(ctx: BenchContext) -> dict:
    side = 200 if ctx.quick else 1000
    t0 = time.perf_counter()
    df, planted = make_layer(side)
    made = time.perf_counter() - t0
    print(f"synthetic layer: {len(df)} parcels in {made:.1f} s; planted {planted}", flush=True)

    t0, c0 = time.perf_counter(), time.process_time()
    findings = check_parcels(df, scale=1000)
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    ours = {code: n for counts in summarize(findings).values() for code, n in counts.items()}

    url = load_postgis(ctx, df)
    pg_s, pg = run_postgis(url, timeout_s=60.0 if ctx.quick else 240.0)

    codes = list(POSTGIS_CHECKS)
    rows = [{"tool": "landrec gis.topology", "parcels": len(df), "seconds": ours_s, "cpu_s": ours_cpu,
             **{c: ours.get(c, 0) for c in codes}},
            {"tool": "PostGIS self-join", "parcels": len(df), "seconds": pg_s, **{c: pg.get(c) for c in codes}}]
    print(table(rows, ["tool", "parcels", "seconds", "cpu_s", *codes]))
    found_overlaps = ours.get("overlap", 0) >= planted["overlap_parcels"]
    return {"rows": rows, "planted": planted, "target_s": TARGET_S, "load_average": os.getloadavg(),
            "targets_met": bool(ours_s <= TARGET_S * (len(df) / 1_000_000 if ctx.quick else 1.0)
                                and found_overlaps)}
