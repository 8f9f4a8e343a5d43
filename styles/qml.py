"""QGIS QML: a categorized renderer on ``land_use``, one category per class."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from gis.landuse import land_uses
from styles.symbology import (
    ATTRIBUTE,
    OTHER_FILL,
    OTHER_LABEL,
    OUTLINE,
    OUTLINE_WIDTH_MM,
    label,
)

__all__ = ["qml_document"]

_QGIS_VERSION = "3.28.0-Firenze"  # the oldest QGIS LTR whose Option-map symbol layers this follows


def _rgba(hex_color: str) -> str:
    h = hex_color.lstrip("#")
    return ",".join(str(int(h[i:i + 2], 16)) for i in (0, 2, 4)) + ",255"


def _option(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, "Option", {"name": name, "type": "QString", "value": value})


def _fill_symbol(parent: ET.Element, tag: str, name: str, color: str) -> None:
    symbol = ET.SubElement(parent, tag, {"type": "fill", "name": name, "alpha": "1",
                                         "clip_to_extent": "1", "force_rhr": "0"})
    layer = ET.SubElement(symbol, "layer", {"class": "SimpleFill", "enabled": "1",
                                            "locked": "0", "pass": "0"})
    opts = ET.SubElement(layer, "Option", {"type": "Map"})
    for key, value in (("color", _rgba(color)), ("joinstyle", "bevel"), ("offset", "0,0"),
                       ("offset_unit", "MM"), ("outline_color", _rgba(OUTLINE)),
                       ("outline_style", "solid"), ("outline_width", str(OUTLINE_WIDTH_MM)),
                       ("outline_width_unit", "MM"), ("style", "solid")):
        _option(opts, key, value)


def qml_document() -> str:
    """A QGIS layer style (QML) colouring polygons by their ``land_use`` code.

    The last category, with an empty value, catches missing and unknown codes.
    """
    root = ET.Element("qgis", {"version": _QGIS_VERSION, "styleCategories": "Symbology"})
    renderer = ET.SubElement(root, "renderer-v2", {
        "type": "categorizedSymbol", "attr": ATTRIBUTE, "symbollevels": "0",
        "enableorderby": "0", "forceraster": "0", "referencescale": "-1"})
    cats = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    uses = list(land_uses())
    for i, use in enumerate(uses):
        ET.SubElement(cats, "category", {"symbol": str(i), "value": use.code, "label": label(use),
                                         "render": "true", "type": "string"})
        _fill_symbol(symbols, "symbol", str(i), use.color)
    other = str(len(uses))
    ET.SubElement(cats, "category", {"symbol": other, "value": "", "label": OTHER_LABEL,
                                     "render": "true", "type": "string"})
    _fill_symbol(symbols, "symbol", other, OTHER_FILL)
    _fill_symbol(ET.SubElement(renderer, "source-symbol"), "symbol", "0", OTHER_FILL)
    ET.SubElement(root, "layerGeometryType").text = "2"
    ET.indent(root)
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"
