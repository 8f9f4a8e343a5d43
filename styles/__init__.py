"""Land-use symbology generated from the one land-use table (:mod:`gis.landuse`).

Every style (SLD 1.1 for GeoServer, QGIS QML, MapLibre style JSON) is built from
``gis/data/land_use.csv``: change a colour there and every style follows.
:func:`embed_styles` writes the QML and SLD into a GeoPackage's ``layer_styles``
table, so QGIS opens the data already styled.
"""

from __future__ import annotations

import json

from styles.embed import embed_styles
from styles.maplibre import maplibre_style
from styles.qml import qml_document
from styles.sld import sld_document

__all__ = ["FORMATS", "embed_styles", "maplibre_style", "qml_document", "sld_document", "style_text"]

#: the style formats :func:`style_text` writes
FORMATS = ("sld", "qml", "maplibre")


def style_text(fmt: str, *, layer: str = "parcels", tiles_url: str | None = None) -> str:
    """The style in ``fmt`` (one of :data:`FORMATS`) as the text of a file.

    ``layer`` names the layer (SLD NamedLayer, MapLibre source-layer); ``tiles_url`` is
    the MapLibre vector-tile URL template.

    >>> style_text("maplibre").startswith("{")
    True
    """
    if fmt == "sld":
        return sld_document(layer=layer)
    if fmt == "qml":
        return qml_document()
    if fmt == "maplibre":
        style = maplibre_style(source_layer=layer, tiles_url=tiles_url)
        return json.dumps(style, ensure_ascii=False, indent=2) + "\n"
    raise ValueError(f"unknown style format {fmt!r}; expected one of {', '.join(FORMATS)}")
