"""The pygeoapi configuration, generated from the store and validated.

:func:`build_config` reads which collections the store holds (:mod:`api.server.layers`)
and writes one pygeoapi resource per collection, with landrec's provider plugins by
dotted path, the processes, and the CRS list of OGC API Features Part 2.
:func:`write_config` writes it as YAML for a production deployment (gunicorn/uvicorn
workers with ``PYGEOAPI_CONFIG`` pointing at it).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from jsonschema.exceptions import ValidationError
from pygeoapi.config import validate_config

from api.server.features import CRS84, DEFAULT_LIMIT, MAX_LIMIT, epsg_uri, supported_crs
from api.server.layers import Layer, layers_for
from api.server.processes import EDIT_PROCESSES, PROCESSES
from gis.crs import to_wgs84
from gis.errors import StoreError

__all__ = ["build_config", "to_yaml", "validate"]

FEATURE_PROVIDER = "api.server.providers.LandrecFeatureProvider"
TILE_PROVIDER = "api.server.providers.LandrecTileProvider"


def _bbox84(layer: Layer) -> list[float]:
    if layer.extent is None or layer.crs is None:
        return [102.0, 8.0, 110.0, 24.0]  # Viet Nam
    x0, y0, x1, y1 = to_wgs84(layer.crs).transform_bounds(*layer.extent, densify_pts=21)
    return [round(v, 7) for v in (x0, y0, x1, y1)]


def _resource(url: str, layer: Layer) -> dict:
    providers = [{
        "type": "feature",
        "name": FEATURE_PROVIDER,
        "data": url,
        "table": layer.id,
        "id_field": layer.id_col,
        "crs": supported_crs(layer),
        **({"storage_crs": epsg_uri(layer.epsg)} if layer.epsg else {}),
    }]
    if layer.spec.tiles and layer.geom_col:
        providers.append({
            "type": "tile",
            "name": TILE_PROVIDER,
            "data": url,
            "table": layer.id,
            "options": {"zoom": {"min": 0, "max": 22}, "schemes": ["WebMercatorQuad"]},
            "format": {"name": "pbf", "mimetype": "application/vnd.mapbox-vector-tile"},
        })
    return {
        "type": "collection",
        "title": layer.spec.title,
        "description": layer.spec.description,
        "keywords": list(layer.spec.keywords) or [layer.id],
        "links": [],
        "extents": {"spatial": {"bbox": _bbox84(layer), "crs": CRS84}},
        "limits": {"default_items": DEFAULT_LIMIT, "max_items": MAX_LIMIT, "on_exceed": "error"},
        "providers": providers,
    }


def build_config(url: str, *, base_url: str, workdir: Path, host: str = "127.0.0.1", port: int = 5000) -> dict:
    """The pygeoapi configuration of a store (``workdir`` holds the jobs database)."""
    layers = layers_for(url)
    if not layers:
        raise StoreError(f"the store {url} holds no collection to serve",
                         hint="create the cadastre first: `landrec init` / `landrec load`")
    (workdir / "jobs").mkdir(parents=True, exist_ok=True)
    cfg = {
        "server": {
            "bind": {"host": host, "port": port},
            "url": base_url.rstrip("/"),
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US", "vi-VN"],
            "limits": {"default_items": DEFAULT_LIMIT, "max_items": MAX_LIMIT, "on_exceed": "error"},
            "pretty_print": False,
            "cors": True,
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    "attribution": "OpenStreetMap contributors"},
            "manager": {"name": "TinyDB", "connection": str(workdir / "jobs.db"),
                        "output_dir": str(workdir / "jobs")},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "landrec cadastre",
                "description": "The land-records database: parcels, map sheets, administrative units,"
                               " land use, and the district's base layers, over OGC APIs.",
                "keywords": ["cadastre", "land records", "VN-2000"],
                "keywords_type": "theme",
                "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                "url": base_url.rstrip("/"),
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "landrec", "url": base_url.rstrip("/")},
            "contact": {"name": "Land registration office", "position": "Land officer",
                        "email": "cadastre@example.org", "url": base_url.rstrip("/"), "role": "pointOfContact"},
        },
        "resources": {layer.id: _resource(url, layer) for layer in layers.values()},
    }
    for pid, cls in {**PROCESSES, **EDIT_PROCESSES}.items():
        cfg["resources"][pid] = {"type": "process", "processor": {"name": cls, "data": url}}
    return cfg


def validate(cfg: dict) -> None:
    """Check a configuration against pygeoapi's schema; StoreError if it does not fit."""
    try:
        validate_config(cfg)
    except ValidationError as exc:
        raise StoreError(f"generated pygeoapi configuration is invalid: {exc.message}") from None


def to_yaml(cfg: dict) -> str:
    """The configuration as pygeoapi YAML (for ``PYGEOAPI_CONFIG``)."""
    return yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)
