"""MapLibre GL style JSON (style spec version 8) for parcels coloured by land use.

No symbol layers, so the style needs no glyphs or sprites and works with no outside
network: parcel numbers go in the web map's HTML panels instead.
"""

from __future__ import annotations

from typing import Any

from gis.landuse import land_uses
from styles.symbology import ATTRIBUTE, OTHER_FILL, OUTLINE

__all__ = ["DEFAULT_TILES_URL", "FILL_LAYER", "OUTLINE_LAYER", "SELECTED_LAYER", "SOURCE", "maplibre_style"]

SOURCE = "parcels"
FILL_LAYER = "parcels-fill"
OUTLINE_LAYER = "parcels-outline"
SELECTED_LAYER = "parcels-selected"
#: the OGC API Tiles URL template of landrec's server, relative to its root
DEFAULT_TILES_URL = "/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt"


def _fill_color() -> list:
    """``["match", code, [codes...], colour, ..., fallback]``: codes sharing a colour share a branch."""
    by_color: dict[str, list[str]] = {}
    for use in land_uses():
        by_color.setdefault(use.color.upper(), []).append(use.code)
    expr: list[Any] = ["match", ["upcase", ["to-string", ["coalesce", ["get", ATTRIBUTE], ""]]]]
    for color, codes in by_color.items():
        expr += [codes, color]
    expr.append(OTHER_FILL)
    return expr


def maplibre_style(*, tiles_url: str | None = None, source_layer: str = "parcels",
                   minzoom: int = 12, maxzoom: int = 18) -> dict[str, Any]:
    """A MapLibre style: parcels from vector tiles at ``tiles_url``, filled by land use.

    ``tiles_url`` defaults to landrec's OGC API Tiles path (relative: a client makes it
    absolute against its server). The fill layer's ``metadata["landrec:legend"]`` lists
    every class (code, Vietnamese and English names, colour) for a legend.
    """
    legend = [{"code": u.code, "group": u.group, "name_vi": u.name_vi, "name_en": u.name_en,
               "color": u.color.upper()} for u in land_uses()]
    return {
        "version": 8,
        "name": "landrec land use",
        "metadata": {"landrec:attribute": ATTRIBUTE},
        "sources": {
            SOURCE: {"type": "vector", "tiles": [tiles_url or DEFAULT_TILES_URL],
                     "minzoom": minzoom, "maxzoom": maxzoom},
        },
        "layers": [
            {"id": "background", "type": "background",
             "paint": {"background-color": "#F4F3EE"}},
            {"id": FILL_LAYER, "type": "fill", "source": SOURCE, "source-layer": source_layer,
             "metadata": {"landrec:legend": legend, "landrec:other": OTHER_FILL},
             "paint": {"fill-color": _fill_color(), "fill-opacity": 1}},
            {"id": OUTLINE_LAYER, "type": "line", "source": SOURCE, "source-layer": source_layer,
             "paint": {"line-color": OUTLINE,
                       "line-width": ["interpolate", ["linear"], ["zoom"], 14, 0.4, 19, 1.5]}},
            {"id": SELECTED_LAYER, "type": "line", "source": SOURCE, "source-layer": source_layer,
             "filter": ["==", ["get", "parcel_no"], -1],
             "paint": {"line-color": "#D7191C", "line-width": 3}},
        ],
    }
