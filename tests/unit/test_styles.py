"""Land-use styles: SLD 1.1, QGIS QML and MapLibre JSON all follow the one table."""

from __future__ import annotations

import json
import re

import pytest
from lxml import etree

from gis.landuse import land_uses
from styles import FORMATS, maplibre_style, qml_document, sld_document, style_text
from styles.symbology import OTHER_FILL

NS = {"sld": "http://www.opengis.net/sld", "se": "http://www.opengis.net/se",
      "ogc": "http://www.opengis.net/ogc"}

# The structure of SLD 1.1 / SE 1.1 that GeoServer reads, for the elements landrec
# writes: element names, namespaces, order and cardinality as in the OGC schemas.
SLD_RNG = """
<grammar xmlns="http://relaxng.org/ns/structure/1.0"
         datatypeLibrary="http://www.w3.org/2001/XMLSchema-datatypes">
  <start>
    <element name="StyledLayerDescriptor" ns="http://www.opengis.net/sld">
      <attribute name="version"><value>1.1.0</value></attribute>
      <optional><attribute name="xsi:schemaLocation"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><text/></attribute></optional>
      <oneOrMore>
        <element name="NamedLayer" ns="http://www.opengis.net/sld">
          <ref name="seName"/>
          <oneOrMore>
            <element name="UserStyle" ns="http://www.opengis.net/sld">
              <optional><ref name="seName"/></optional>
              <optional><ref name="seDescription"/></optional>
              <oneOrMore><ref name="featureTypeStyle"/></oneOrMore>
            </element>
          </oneOrMore>
        </element>
      </oneOrMore>
    </element>
  </start>
  <define name="seName"><element name="Name" ns="http://www.opengis.net/se"><data type="string"/></element></define>
  <define name="seDescription">
    <element name="Description" ns="http://www.opengis.net/se">
      <optional><element name="Title" ns="http://www.opengis.net/se"><text/></element></optional>
      <optional><element name="Abstract" ns="http://www.opengis.net/se"><text/></element></optional>
    </element>
  </define>
  <define name="featureTypeStyle">
    <element name="FeatureTypeStyle" ns="http://www.opengis.net/se">
      <oneOrMore>
        <element name="Rule" ns="http://www.opengis.net/se">
          <optional><ref name="seName"/></optional>
          <optional><ref name="seDescription"/></optional>
          <choice>
            <element name="Filter" ns="http://www.opengis.net/ogc"><ref name="predicate"/></element>
            <element name="ElseFilter" ns="http://www.opengis.net/se"><empty/></element>
          </choice>
          <element name="PolygonSymbolizer" ns="http://www.opengis.net/se">
            <element name="Fill" ns="http://www.opengis.net/se"><ref name="colorParam"/></element>
            <element name="Stroke" ns="http://www.opengis.net/se">
              <ref name="colorParam"/>
              <element name="SvgParameter" ns="http://www.opengis.net/se">
                <attribute name="name"><value>stroke-width</value></attribute>
                <data type="decimal"/>
              </element>
            </element>
          </element>
        </element>
      </oneOrMore>
    </element>
  </define>
  <define name="propertyName">
    <element name="PropertyName" ns="http://www.opengis.net/ogc"><data type="string"/></element>
  </define>
  <define name="predicate">
    <choice>
      <element name="PropertyIsEqualTo" ns="http://www.opengis.net/ogc">
        <ref name="propertyName"/>
        <element name="Literal" ns="http://www.opengis.net/ogc"><text/></element>
      </element>
      <element name="PropertyIsNull" ns="http://www.opengis.net/ogc"><ref name="propertyName"/></element>
      <element name="Not" ns="http://www.opengis.net/ogc"><ref name="predicate"/></element>
      <element name="Or" ns="http://www.opengis.net/ogc">
        <ref name="predicate"/><oneOrMore><ref name="predicate"/></oneOrMore>
      </element>
    </choice>
  </define>
  <define name="colorParam">
    <element name="SvgParameter" ns="http://www.opengis.net/se">
      <attribute name="name"><choice><value>fill</value><value>stroke</value></choice></attribute>
      <data type="string"><param name="pattern">#[0-9A-Fa-f]{6}</param></data>
    </element>
  </define>
</grammar>
"""

_PARSER = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)


def _xml(text: str) -> etree._Element:
    return etree.fromstring(text.encode("utf-8"), parser=_PARSER)


def test_sld_is_valid_sld_1_1_structure():
    doc = _xml(sld_document())
    schema = etree.RelaxNG(etree.fromstring(SLD_RNG.encode()))
    assert schema.validate(doc), schema.error_log


def test_the_structure_check_rejects_a_broken_sld():
    doc = _xml(sld_document())
    rule = doc.find(".//se:Rule", NS)
    rule.remove(rule.find("se:PolygonSymbolizer", NS))
    assert not etree.RelaxNG(etree.fromstring(SLD_RNG.encode())).validate(doc)


def test_sld_has_one_rule_per_land_use_with_the_table_colour():
    doc = _xml(sld_document(layer="thua_dat"))
    assert doc.findtext("sld:NamedLayer/se:Name", namespaces=NS) == "thua_dat"
    rules = doc.findall(".//se:Rule", NS)
    *classes, last = rules
    got = {r.findtext("ogc:Filter/ogc:PropertyIsEqualTo/ogc:Literal", namespaces=NS):
           r.findtext("se:PolygonSymbolizer/se:Fill/se:SvgParameter[@name='fill']", namespaces=NS)
           for r in classes}
    assert got == {u.code: u.color for u in land_uses()}
    assert {p.text for p in doc.iterfind(".//ogc:PropertyName", NS)} == {"land_use"}
    # the catch-all: null, or none of the codes (explicit, so QGIS reads it right too)
    assert last.find("ogc:Filter/ogc:Or/ogc:PropertyIsNull", NS) is not None
    others = last.findall("ogc:Filter/ogc:Or/ogc:Not/ogc:Or/ogc:PropertyIsEqualTo/ogc:Literal", NS)
    assert [o.text for o in others] == [u.code for u in land_uses()]
    assert last.findtext(".//se:SvgParameter[@name='fill']", namespaces=NS) == OTHER_FILL
    titles = [r.findtext("se:Description/se:Title", namespaces=NS) for r in rules]
    assert "LUC - Đất chuyên trồng lúa nước / Paddy land (rice only)" in titles


def _rgb(hex_color: str) -> str:
    return ",".join(str(int(hex_color[i:i + 2], 16)) for i in (1, 3, 5)) + ",255"


def test_qml_is_a_categorized_renderer_with_the_table_colours():
    text = qml_document()
    assert text.startswith("<!DOCTYPE qgis")
    doc = _xml(text)
    renderer = doc.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "land_use"
    symbols = {s.get("name"): s for s in renderer.findall("symbols/symbol")}
    colours = {}
    for cat in renderer.findall("categories/category"):
        layer = symbols[cat.get("symbol")].find("layer")
        assert layer.get("class") == "SimpleFill"
        colours[cat.get("value")] = layer.find("Option[@type='Map']/Option[@name='color']").get("value")
    expected = {u.code: _rgb(u.color) for u in land_uses()}
    expected[""] = _rgb(OTHER_FILL)  # QGIS: the empty value catches every other value
    assert colours == expected
    assert len(symbols) == len(expected)


def _match_table(expr: list) -> tuple[dict[str, str], str]:
    assert expr[0] == "match"
    branches, fallback = expr[2:-1], expr[-1]
    table: dict[str, str] = {}
    for labels, colour in zip(branches[::2], branches[1::2]):
        for code in labels:
            assert code not in table, f"{code} in two branches"
            table[code] = colour
    return table, fallback


def test_maplibre_style_structure_and_match_on_land_use():
    style = maplibre_style(tiles_url="http://x/tiles/{z}/{y}/{x}?f=mvt")
    assert style["version"] == 8
    assert style["sources"]["parcels"] == {"type": "vector", "tiles": ["http://x/tiles/{z}/{y}/{x}?f=mvt"],
                                           "minzoom": 12, "maxzoom": 18}
    ids = [layer["id"] for layer in style["layers"]]
    assert len(ids) == len(set(ids))
    for layer in style["layers"]:
        assert layer["type"] in {"background", "fill", "line"}  # no glyphs or sprites needed
        assert layer.get("source", "parcels") in style["sources"]
    assert "glyphs" not in style and "sprite" not in style
    fill = next(layer for layer in style["layers"] if layer["type"] == "fill")
    expr = fill["paint"]["fill-color"]
    assert expr[1] == ["upcase", ["to-string", ["coalesce", ["get", "land_use"], ""]]]
    table, fallback = _match_table(expr)
    assert table == {u.code: u.color.upper() for u in land_uses()}
    assert fallback == OTHER_FILL
    legend = fill["metadata"]["landrec:legend"]
    assert [e["code"] for e in legend] == [u.code for u in land_uses()]
    assert all(re.fullmatch(r"#[0-9A-F]{6}", e["color"]) for e in legend)


def test_style_text_gives_each_format_as_file_text():
    assert style_text("sld", layer="thua") == sld_document(layer="thua")
    assert style_text("qml") == qml_document()
    assert json.loads(style_text("maplibre", layer="thua"))["layers"][1]["source-layer"] == "thua"
    assert FORMATS == ("sld", "qml", "maplibre")


def test_style_text_refuses_an_unknown_format():
    with pytest.raises(ValueError, match="unknown style format 'mapbox'"):
        style_text("mapbox")
