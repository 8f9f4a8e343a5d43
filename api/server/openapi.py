"""A self-contained OpenAPI document: pygeoapi's remote ``$ref``s replaced by local definitions.

pygeoapi's document points at schemas.opengis.net and GitHub for shared parameters and
responses.  A server on a closed network (and every client that validates the document,
such as the OGC test suite or schemathesis) cannot resolve those, so each remote
reference is replaced by an equivalent local definition written here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["offline"]

_PATH_STRING = {"in": "path", "required": True, "schema": {"type": "string"}}
_PARAMETERS: dict[str, dict] = {
    "featureId": {"name": "featureId", "description": "Local identifier of a feature", **_PATH_STRING},
    "sortby": {"name": "sortby", "in": "query", "required": False, "style": "form", "explode": False,
               "description": "Comma-separated property names, each optionally prefixed by + or -",
               "schema": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": r"[+-]?[A-Za-z_]\w*"}}},
    "tileMatrixSetId": {"name": "tileMatrixSetId", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": ["WebMercatorQuad"]}},
    "tileMatrix": {"name": "tileMatrix", "in": "path", "required": True,
                   "schema": {"type": "string", "pattern": r"^\d{1,2}$"}},
    "tileRow": {"name": "tileRow", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}},
    "tileCol": {"name": "tileCol", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}},
}
_EXCEPTION = {"type": "object", "required": ["code"],
              "properties": {"code": {"type": "string"}, "description": {"type": "string"}}}
_LINK = {"type": "object", "required": ["href"],
         "properties": {"href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
                        "title": {"type": "string"}}}


def _response(name: str) -> dict:
    media = "application/geo+json" if name in ("Feature", "Features") else "application/json"
    schema = _EXCEPTION if name in ("InvalidParameter", "NotFound", "ServerError") else {"type": "object"}
    return {"description": name, "content": {media: {"schema": schema}}}


def _local(ref: str, where: str) -> dict:
    name = ref.rsplit("/", 1)[-1].removesuffix(".yaml")
    if where == "parameters" and name in _PARAMETERS:
        return dict(_PARAMETERS[name])
    if where == "responses":
        return _response(name)
    if name == "link":
        return dict(_LINK)
    if name == "exception":
        return dict(_EXCEPTION)
    return {"type": "object"}


def offline(doc: Any, where: str = "") -> Any:
    """A copy of ``doc`` with every remote ``$ref`` replaced by a local definition."""
    if isinstance(doc, dict):
        ref = doc.get("$ref")
        if isinstance(ref, str) and ref.startswith(("http://", "https://")):
            return _local(ref, where)
        return {k: offline(v, k if isinstance(v, (dict, list)) else where) for k, v in doc.items()}
    if isinstance(doc, list):
        return [offline(v, where) for v in doc]
    return doc
