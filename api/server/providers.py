"""pygeoapi provider plugins (loaded by dotted path): one class for both stores.

``api.server.providers.LandrecFeatureProvider`` serves a collection's items and single
features to pygeoapi (HTML pages, the item endpoint, queryables); the lean items route
in :mod:`api.server.app` serves the JSON items through the same query builder
(:mod:`api.server.features`).  ``LandrecTileProvider`` serves vector tiles.
"""

from __future__ import annotations

from typing import Any

from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
)
from pygeoapi.provider.base_mvt import BaseMVTProvider
from pygeoapi.provider.mvt_postgresql import MVTPostgreSQLProvider

from api.server import features, tiles
from api.server.layers import engine_for, layers_for
from gis.errors import InputError

__all__ = ["LandrecFeatureProvider", "LandrecTileProvider"]


def _layer(provider_def: dict):
    layer = layers_for(provider_def["data"]).get(provider_def["table"])
    if layer is None:
        raise ProviderQueryError(f"collection {provider_def['table']!r} is not in the store")
    return layer


class LandrecFeatureProvider(BaseProvider):
    """Features of one landrec collection on a GeoPackage or PostGIS store."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.layer = _layer(provider_def)
        self.id_field = self.layer.id_col
        self.geom_field = self.layer.geom_col
        self.get_fields()

    def get_fields(self) -> dict:
        if not self._fields:
            fmt = {"date-time": {"type": "string", "format": "date-time"}}
            self._fields = {n: fmt.get(t, {"type": t}) for n, t in self.layer.fields.items()}
        return self._fields

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results", bbox: list | None = None,
              datetime_: str | None = None, properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False, q: str | None = None,
              filterq: Any = None, crs_transform_spec: Any = None, **kwargs) -> dict:
        if filterq is not None or q:
            raise ProviderInvalidQueryError(user_msg="filter and q are served with f=json")
        out = self._out(crs_transform_spec)
        req = features.ItemsRequest(limit=min(max(int(limit), 1), features.MAX_LIMIT), offset=int(offset),
                                    skip_geometry=bool(skip_geometry), out=out,
                                    properties=list(select_properties) or None,
                                    sortby=[(s["property"], s["order"] == "-") for s in (sortby or [])],
                                    equals=[(k, str(v)) for k, v in (properties or [])])
        if bbox:
            req.bbox = tuple(float(v) for v in bbox[:4]) if len(bbox) == 4 else (bbox[0], bbox[1], bbox[3], bbox[4])
        try:
            feats, matched = features.feature_collection_sync(engine_for(self.data), self.layer, req)
        except InputError as exc:
            raise ProviderInvalidQueryError(user_msg=exc.message) from None
        if resulttype == "hits":
            feats = []
        out_fc = {"type": "FeatureCollection", "features": feats, "numberReturned": len(feats)}
        if matched is not None:
            out_fc["numberMatched"] = matched
        return out_fc

    def get(self, identifier: Any, **kwargs) -> dict:
        out = self._out(kwargs.get("crs_transform_spec"))
        feat = features.get_feature_sync(engine_for(self.data), self.layer, str(identifier), out)
        if feat is None:
            raise ProviderItemNotFoundError(user_msg=f"no feature {str(identifier)[:40]!r}")
        return feat

    def _out(self, spec: Any) -> features.OutputCRS:
        # pygeoapi gives no transform spec when the requested CRS is the storage CRS
        uri = getattr(spec, "target_crs_uri", None)
        if spec is None and self.layer.epsg:
            uri = features.epsg_uri(self.layer.epsg)
        try:
            return features._crs_kind(self.layer, uri, "crs")
        except InputError as exc:
            raise ProviderInvalidQueryError(user_msg=exc.message) from None

    def __repr__(self) -> str:
        return f"<LandrecFeatureProvider {self.layer.id}>"


class LandrecTileProvider(BaseMVTProvider):
    """Vector tiles (WebMercatorQuad) of one landrec collection."""

    def __init__(self, provider_def: dict) -> None:
        super().__init__(provider_def)
        self.layer = _layer(provider_def)
        self.options = {"zoom": {"min": 0, "max": tiles.MAX_ZOOM}, "schemes": ["WebMercatorQuad"],
                        **(provider_def.get("options") or {})}

    def get_layer(self) -> str:
        return self.layer.id

    def get_tiling_schemes(self) -> list:
        return [TileMatrixSetEnum.WEBMERCATORQUAD.value]

    def get_tiles_service(self, baseurl=None, servicepath=None, dirpath=None, tile_type=None) -> dict:
        BaseMVTProvider.get_tiles_service(self, baseurl, servicepath, dirpath, tile_type)
        self._service_url = servicepath
        return self.get_tms_links()

    def get_tiles(self, layer=None, tileset=None, z=None, y=None, x=None, format_=None) -> bytes:
        from sqlalchemy import text
        zi, yi, xi = tiles.check_tile(str(tileset), str(z), str(y), str(x))
        engine = engine_for(self.data)
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                return bytes(conn.execute(text(tiles.pg_tile_sql(self.layer)), {"z": zi, "x": xi, "y": yi}).scalar() or b"")
            return tiles.gpkg_tile(conn, self.layer, zi, yi, xi)

    get_html_metadata = MVTPostgreSQLProvider.get_html_metadata
    get_default_metadata = MVTPostgreSQLProvider.get_default_metadata

    def __repr__(self) -> str:
        return f"<LandrecTileProvider {self.layer.id}>"
