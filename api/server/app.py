"""The ASGI application: pygeoapi publishes the OGC API, landrec's routes take the hot paths.

:func:`create_app` generates and validates the pygeoapi configuration of a store,
writes it (and the OpenAPI document) to a work directory, and builds one Starlette app:

* ``GET /collections/{id}/items`` (JSON) and ``GET /collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}``
  are served here directly (asyncpg on PostGIS, the GeoPackage through SQLAlchemy) with
  the same query builder as the provider plugin; HTML goes to pygeoapi;
* everything else (landing page, conformance, collections, queryables, single items,
  tiles metadata, processes, jobs, OpenAPI) is pygeoapi's Starlette app;
* the web map is mounted at ``/map`` through ``api.web.mount(app)`` when that package is
  installed;
* :class:`api.server.auth.AuthMiddleware` refuses changes without the land-officer role.

pygeoapi reads its configuration once per process, so one process serves one store;
production runs several uvicorn/gunicorn workers of :func:`create_app_from_env`.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from api.server import config as config_mod
from api.server import features, tiles
from api.server.auth import AuthMiddleware, get_auth_settings
from api.server.layers import Layer, engine_for, is_postgis, layers_for
from api.server.openapi import offline
from api.server.processes import PROCESSES
from gis.errors import InputError, StoreError

__all__ = ["create_app", "create_app_from_env", "prepare_pygeoapi"]

_PG_PARAM = re.compile(r"(?<![:\w]):(p\d+|z|x|y)\b")


def ogc_error(status: int, code: str, description: str, hint: str | None = None) -> JSONResponse:
    """An OGC exception body."""
    body = {"type": code, "code": code, "description": description}
    if hint:
        body["hint"] = hint
    return JSONResponse(body, status_code=status)


def _positional(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """``:name`` binds -> asyncpg ``$n`` binds, in order of first use."""
    order: dict[str, int] = {}

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name not in order:
            order[name] = len(order) + 1
        return f"${order[name]}"
    out = _PG_PARAM.sub(sub, sql)
    return out, [params[n] for n in order]


def _wants_html(request: Request) -> bool:
    f = request.query_params.get("f")
    if f is not None:
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


class Lean:
    """The hot paths: items and tiles, off pygeoapi's per-request plugin loading."""

    def __init__(self, url: str, base_url: str, pygeoapi_module: Any) -> None:
        self.url = url
        self.base_url = base_url.rstrip("/")
        self.pg = pygeoapi_module
        self.postgis = is_postgis(url)
        self._pool = None

    async def pool(self):
        if self._pool is None:
            import asyncpg
            from sqlalchemy.engine import make_url
            u = make_url(self.url)
            self._pool = await asyncpg.create_pool(
                host=u.host, port=u.port, user=u.username, password=u.password, database=u.database,
                min_size=1, max_size=8, server_settings={"jit": "off"})
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    def layer(self, cid: str) -> Layer | None:
        return layers_for(self.url).get(cid)

    async def items(self, request: Request) -> Response:
        cid = request.path_params["collection_id"]
        if _wants_html(request):
            return await self.pg.collection_items(request)
        layer = self.layer(cid)
        if layer is None:
            return ogc_error(404, "NotFound", f"no collection {cid[:60]!r}")
        try:
            params = _single(request)
            req = features.parse_items(layer, params)
            if self.postgis and not req.empty:
                body, matched, returned, last = await self._pg_items(layer, req)
            else:
                body, matched, returned, last = await run_in_threadpool(self._sync_items, layer, req)
        except InputError as exc:
            return ogc_error(400, "InvalidParameterValue", exc.message, exc.hint)
        except _DbInputError as exc:
            return ogc_error(400, "InvalidParameterValue", str(exc))
        links = features.links(self.base_url, layer, req, returned, last, matched)
        tail = {"numberReturned": returned, "timeStamp": features.now_stamp(), "links": links}
        if matched is not None:
            tail["numberMatched"] = matched
        text = '{"type":"FeatureCollection","features":[' + body + "]," + json.dumps(tail)[1:]
        return Response(text, media_type="application/geo+json",
                        headers={"Content-Crs": f"<{req.out.uri}>"})

    def _sync_items(self, layer: Layer, req: features.ItemsRequest) -> tuple[str, int | None, int, Any]:
        feats, matched = features.feature_collection_sync(engine_for(self.url), layer, req)
        body = ",".join(json.dumps(f, ensure_ascii=False, default=str) for f in feats)
        return body, matched, len(feats), feats[-1]["id"] if feats else None

    async def _pg_items(self, layer: Layer, req: features.ItemsRequest) -> tuple[str, int | None, int, Any]:
        import asyncpg
        query = features.build_query(layer, req, postgis=True)
        sql, args = _positional(query.sql, query.params)
        pool = await self.pool()
        try:
            async with pool.acquire() as conn:
                rows = await conn.fetch(sql, *args)
                matched = await self._pg_matched(conn, layer, req, query, len(rows))
        except (asyncpg.DataError, asyncpg.SyntaxOrAccessError) as exc:
            raise _DbInputError(f"the filter cannot be applied: {exc.__class__.__name__}") from None
        body = ",".join(r[1] for r in rows)
        return body, matched, len(rows), rows[-1][0] if rows else None

    async def _pg_matched(self, conn, layer: Layer, req: features.ItemsRequest, query: features.Query,
                          returned: int) -> int | None:
        if req.cursor is not None:
            return None
        if req.offset == 0 and returned < req.limit:
            return returned
        sql, args = _positional(features.explain_sql(layer, query.where), query.params)
        est = features._plan_rows(await conn.fetchval(sql, *args))
        if est >= features.EXACT_COUNT_BELOW:
            return est
        sql, args = _positional(features.count_sql(layer, query.where, features.EXACT_COUNT_BELOW * 4), query.params)
        return int(await conn.fetchval(sql, *args))

    async def tile(self, request: Request) -> Response:
        p = request.path_params
        layer = self.layer(p["collection_id"])
        if layer is None or not layer.spec.tiles or layer.geom_col is None:
            return ogc_error(404, "NotFound", f"no tiles for collection {p['collection_id'][:60]!r}")
        try:
            z, y, x = tiles.check_tile(p["tileMatrixSetId"], p["tile_matrix"], p["tileRow"], p["tileCol"])
        except InputError as exc:
            return ogc_error(400, "InvalidParameterValue", exc.message, exc.hint)
        if self.postgis:
            sql, args = _positional(tiles.pg_tile_sql(layer), {"z": z, "x": x, "y": y})
            pool = await self.pool()
            async with pool.acquire() as conn:
                data = await conn.fetchval(sql, *args)
        else:
            data = await run_in_threadpool(self._gpkg_tile, layer, z, y, x)
        return Response(bytes(data or b""), media_type="application/vnd.mapbox-vector-tile")

    async def execute(self, request: Request) -> Response:
        """Check that an execute request is a JSON object before pygeoapi reads it."""
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return ogc_error(400, "InvalidParameterValue", "the execute request is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("inputs", {}), dict):
            return ogc_error(400, "InvalidParameterValue", 'the execute request is a JSON object {"inputs": {...}}')
        return await self.pg.execute_process_jobs(request)

    def _gpkg_tile(self, layer: Layer, z: int, y: int, x: int) -> bytes:
        with engine_for(self.url).connect() as conn:
            return tiles.gpkg_tile(conn, layer, z, y, x)


class _DbInputError(Exception):
    """The database refused a value of the request (bad type, out of range)."""


def _single(request: Request) -> dict[str, str]:
    items = request.query_params.multi_items()
    out: dict[str, str] = {}
    for k, v in items:
        if k in out:
            raise InputError(f"{k}: given more than once")
        out[k] = v
    return out


def prepare_pygeoapi(url: str, *, base_url: str, workdir: Path) -> dict:
    """Generate, validate and write the pygeoapi config and OpenAPI document; set the env."""
    import yaml
    from pygeoapi.openapi import get_oas
    cfg = config_mod.build_config(url, base_url=base_url, workdir=workdir)
    config_mod.validate(cfg)
    cfg_path = workdir / "pygeoapi-config.yml"
    cfg_path.write_text(config_mod.to_yaml(cfg), encoding="utf-8")
    oas_path = workdir / "openapi.yml"
    oas = offline(get_oas(cfg))
    oas_path.write_text(yaml.safe_dump(oas, sort_keys=False, allow_unicode=True), encoding="utf-8")
    os.environ["PYGEOAPI_CONFIG"] = str(cfg_path)
    os.environ["PYGEOAPI_OPENAPI"] = str(oas_path)
    return cfg


def create_app(url: str, *, base_url: str, workdir: Path | None = None) -> Starlette:
    """The whole server for one store (one per process: pygeoapi keeps module state)."""
    if "pygeoapi.starlette_app" in sys.modules:
        raise StoreError("pygeoapi is already configured in this process",
                         hint="serve one store per process (run more workers, not more apps)")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="landrec-serve-"))
    prepare_pygeoapi(url, base_url=base_url, workdir=workdir)
    pg = importlib.import_module("pygeoapi.starlette_app")
    lean = Lean(url, base_url, pg)
    routes = [
        Route("/collections/{collection_id}/items", lean.items, methods=["GET", "HEAD"]),
        Route("/collections/{collection_id}/tiles/{tileMatrixSetId}/{tile_matrix}/{tileRow}/{tileCol}",
              lean.tile, methods=["GET", "HEAD"]),
        Route("/processes/{process_id}/execution", lean.execute, methods=["POST"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        await lean.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    _mount_web(app)
    app.router.routes.append(Mount("/", app=pg.APP))
    tokens = get_auth_settings().api_tokens
    public = set(PROCESSES)  # read-only processes; EDIT_PROCESSES need the land-officer role
    return AuthMiddleware(app, tokens=tokens, public_processes=public)


def _mount_web(app: Starlette) -> None:
    """Mount the web map (``api.web.mount(app)``) when the web package is present."""
    try:
        web = importlib.import_module("api.web")
    except ModuleNotFoundError as exc:
        if exc.name in ("api.web",):
            return
        raise
    mount = getattr(web, "mount", None)
    if mount is not None:
        mount(app)


def create_app_from_env() -> Any:
    """uvicorn/gunicorn factory: ``LANDREC_DATABASE_URL``, ``LANDREC_BASE_URL``, ``LANDREC_SERVE_DIR``."""
    url = os.environ.get("LANDREC_DATABASE_URL", "landrec.gpkg")
    base = os.environ.get("LANDREC_BASE_URL", "http://127.0.0.1:5000")
    workdir = os.environ.get("LANDREC_SERVE_DIR")
    return create_app(url, base_url=base, workdir=Path(workdir) if workdir else None)
