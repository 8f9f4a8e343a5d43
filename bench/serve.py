"""OGC API Features `items?bbox=` and vector tiles: landrec vs stock pygeoapi vs tipg.

One PostGIS table of tiled parcels (1M; 100k with --quick) in EPSG:9214 (VN-2000 /
TM-3 107-00, registered from pyproj), created with the cadastre schema.  Each server runs
with 2 uvicorn workers on localhost, one after the other; the same bounded load
generator (asyncio, keep-alive connections, a fixed number in flight) sends random
200 m boxes (about 100 parcels each) in CRS84 with limit=1000, and random z16 tiles.
Reported: requests/s, p50/p99 latency, mean features per answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from pyproj import CRS, Transformer

from bench.common import REPO, BenchContext, percentile, table
from tests.netutil import free_port, wait_http

VENV = REPO / ".venv" / "bin"
CELL = 20.0  # parcel size, metres: 100 parcels per 200 m box
X0, Y0 = 400000.0, 2340000.0
BOX = 200.0
WORKERS = 2
CONCURRENCY = 8


def make_table(ctx: BenchContext, n_side: int) -> str:
    """The parcel table (n_side² parcels) in its own database; returns its URL."""
    from cadastre.register import init_register
    name = f"bench_serve_{n_side}"
    ctx.cluster.psql(f'DROP DATABASE IF EXISTS "{name}"')
    url = ctx.cluster.create_database(name)
    t0 = time.perf_counter()
    reg = init_register(url, CRS.from_epsg(9214))
    reg.engine.dispose()
    n = n_side * n_side
    ctx.cluster.psql(
        "INSERT INTO source (id, kind, reference, date) VALUES (1, 'bench', 'bench', now());"
        "INSERT INTO edit_transaction (id, kind, source_id, at) VALUES (1, 'load', 1, now());"
        "INSERT INTO parcel (parcel_uid, version, commune_code, sheet_no, parcel_no, area_m2, land_use, address,"
        " begin_lifespan, source_id, transaction_id, content_hash, geom)"
        f" SELECT 'b' || g, 1, (10000 + g / 100000)::text, (g / 10000)::text, g % 10000 + 1, {CELL * CELL},"
        " (ARRAY['ONT','LUC','CLN','BHK','ODT'])[g % 5 + 1], 'Thôn ' || (g % 50), now(), 1, 1, md5(g::text),"
        f" ST_Multi(ST_MakeEnvelope({X0} + (g % {n_side}) * {CELL}, {Y0} + (g / {n_side}) * {CELL},"
        f" {X0} + (g % {n_side}) * {CELL} + {CELL}, {Y0} + (g / {n_side}) * {CELL} + {CELL}, 9214))"
        f" FROM generate_series(0, {n - 1}) g;", db=name)
    ctx.cluster.psql("VACUUM ANALYZE parcel", db=name)
    print(f"  loaded {n} parcels in {time.perf_counter() - t0:.1f} s", flush=True)
    return url


# --- servers -------------------------------------------------------------------------

def start_landrec(url: str, port: int, work: Path) -> subprocess.Popen:
    return subprocess.Popen([str(VENV / "landrec"), "serve", "--db", url, "--port", str(port),
                             "--workers", str(WORKERS)], stdout=_log(work, "landrec"), stderr=subprocess.STDOUT)


def start_pygeoapi(url: str, port: int, work: Path) -> subprocess.Popen:
    from sqlalchemy.engine import make_url
    u = make_url(url)
    cfg = {
        "server": {"bind": {"host": "127.0.0.1", "port": port}, "url": f"http://127.0.0.1:{port}",
                   "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8", "languages": ["en-US"],
                   "limits": {"default_items": 10, "max_items": 10000}, "map": {"url": "x", "attribution": "x"}},
        "logging": {"level": "ERROR"},
        "metadata": {"identification": {"title": "bench", "description": "bench", "keywords": ["x"],
                                        "keywords_type": "theme", "terms_of_service": "x", "url": "x"},
                     "license": {"name": "x", "url": "x"}, "provider": {"name": "x", "url": "x"},
                     "contact": {"name": "x"}},
        "resources": {"parcels": {
            "type": "collection", "title": "parcels", "description": "parcels", "keywords": ["x"], "links": [],
            "extents": {"spatial": {"bbox": [100, 10, 110, 25], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
            "providers": [{"type": "feature", "name": "PostgreSQL",
                           "data": {"host": u.host, "port": u.port, "dbname": u.database, "user": u.username,
                                    "search_path": ["public"]},
                           "id_field": "id", "table": "parcel", "geom_field": "geom",
                           "storage_crs": "http://www.opengis.net/def/crs/EPSG/0/9214"}]}},
    }
    cfg_path = work / "pygeoapi.yml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    oas = work / "pygeoapi-openapi.yml"
    env = {**os.environ, "PYGEOAPI_CONFIG": str(cfg_path), "PYGEOAPI_OPENAPI": str(oas)}
    subprocess.run([str(VENV / "pygeoapi"), "openapi", "generate", str(cfg_path), "--output-file", str(oas)],
                   env=env, check=True, capture_output=True)
    return subprocess.Popen([str(VENV / "uvicorn"), "pygeoapi.starlette_app:APP", "--port", str(port),
                             "--workers", str(WORKERS), "--log-level", "warning", "--no-access-log"],
                            env=env, stdout=_log(work, "pygeoapi"), stderr=subprocess.STDOUT)


def start_tipg(url: str, port: int, work: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "TIPG_DB_SCHEMAS": '["public"]', "TIPG_DB_TABLES": '["public.parcel"]',
           "TIPG_MAX_FEATURES_PER_QUERY": "10000"}
    return subprocess.Popen([str(VENV / "uvicorn"), "tipg.main:app", "--port", str(port), "--workers", str(WORKERS),
                             "--log-level", "warning", "--no-access-log"],
                            env=env, stdout=_log(work, "tipg"), stderr=subprocess.STDOUT)


def _log(work: Path, name: str):
    """A server's output file (never a pipe nobody reads: a full pipe blocks the server)."""
    return open(work / f"{name}.log", "w")


#: server -> (start, collection id, GeoJSON format parameter, tile URL template or None)
SERVERS = {
    "landrec": (start_landrec, "parcels", "json", "/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}"),
    "pygeoapi": (start_pygeoapi, "parcels", "json", None),
    "tipg": (start_tipg, "public.parcel", "geojson", "/collections/public.parcel/tiles/WebMercatorQuad/{z}/{x}/{y}"),
}


# --- the load generator ---------------------------------------------------------------

async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> tuple[int, bytes]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/geo+json,application/json,*/*\r\n\r\n"
                 .encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    body = b""
    while True:  # chunked
        size = int((await reader.readline()).strip(), 16)
        if size == 0:
            await reader.readline()
            return status, body
        body += await reader.readexactly(size)
        await reader.readline()


async def _load(port: int, paths: list[str], seconds: float, concurrency: int) -> dict:
    latencies: list[float] = []
    errors = 0
    feats: list[int] = []
    stop = time.perf_counter() + seconds
    it = iter(paths)

    async def worker(k: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                path = next(it)
                t0 = time.perf_counter()
                status, body = await _request(reader, writer, path)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors += 1
                elif len(feats) < 50 and body[:1] == b"{":
                    feats.append(len(json.loads(body).get("features", [])))
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    wall = time.perf_counter() - t0
    return {"requests": len(latencies), "rps": len(latencies) / wall, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "errors": errors,
            "features": (sum(feats) / len(feats)) if feats else None}


def bbox_paths(collection: str, fmt: str, n_side: int, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    tr = Transformer.from_crs("EPSG:9214", "OGC:CRS84", always_xy=True)
    span = n_side * CELL - BOX
    out = []
    for _ in range(count):
        x, y = X0 + rng.uniform(0, span), Y0 + rng.uniform(0, span)
        a, b, c, d = tr.transform_bounds(x, y, x + BOX, y + BOX)
        out.append(f"/collections/{collection}/items?bbox={a:.7f},{b:.7f},{c:.7f},{d:.7f}&limit=1000&f={fmt}")
    return out


def tile_paths(template: str, n_side: int, count: int, seed: int, z: int = 16) -> list[str]:
    import math
    rng = random.Random(seed)
    tr = Transformer.from_crs("EPSG:9214", "OGC:CRS84", always_xy=True)
    out = []
    for _ in range(count):
        lon, lat = tr.transform(X0 + rng.uniform(0, n_side * CELL), Y0 + rng.uniform(0, n_side * CELL))
        n = 2 ** z
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        out.append(template.format(z=z, x=x, y=y))
    return out


def run(ctx: BenchContext) -> dict:
    n_side = 316 if ctx.quick else 1000
    seconds = 8.0 if ctx.quick else 20.0
    url = make_table(ctx, n_side)
    rows, result = [], {"parcels": n_side * n_side, "workers": WORKERS, "concurrency": CONCURRENCY,
                        "seconds": seconds}
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    for name, (start, collection, fmt, tiles) in SERVERS.items():
        port = free_port()
        proc = start(url, port, work)
        try:
            wait_http(f"http://127.0.0.1:{port}/collections/{collection}/items?limit=1", proc, timeout=300)
            warm = bbox_paths(collection, fmt, n_side, 200, seed=1)
            asyncio.run(_load(port, warm * 10, 3.0, CONCURRENCY))
            r = asyncio.run(_load(port, bbox_paths(collection, fmt, n_side, 100000, seed=7), seconds, CONCURRENCY))
            rows.append({"server": name, "test": "items?bbox", **r})
            if tiles:
                t = asyncio.run(_load(port, tile_paths(tiles, n_side, 100000, seed=9), seconds, CONCURRENCY))
                rows.append({"server": name, "test": "tiles z16", **t})
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(table(rows, ["server", "test", "requests", "rps", "p50_ms", "p99_ms", "errors", "features"]))
    result["rows"] = rows
    by = {(r["server"], r["test"]): r for r in rows}
    result["targets_met"] = by[("landrec", "items?bbox")]["rps"] >= by[("tipg", "items?bbox")]["rps"]
    ctx.cluster.psql(f'DROP DATABASE IF EXISTS "bench_serve_{n_side}"')
    return result
