"""``landrec sheet``: map-sheet numbers of Circular 25/2014."""

from __future__ import annotations

import click
from pyproj import Transformer

from api.cli.options import emit, json_option
from gis.crs import province as find_province
from gis.sheets import parse_sheet, sheet_at


def _northing_hint(province: str) -> float:
    p = find_province(province)
    tm3 = f"+proj=tmerc +lon_0={p.central_meridian} +k=0.9999 +x_0=500000 +ellps=WGS84"
    return Transformer.from_crs("EPSG:4326", tm3, always_xy=True).transform(p.central_meridian, p.approx_lat)[1]


def _text(d: dict) -> str:
    e = d["extent"]
    return f"{d['number']}  1:{d['scale']}  E {e[0]:.0f}-{e[2]:.0f}  N {e[1]:.0f}-{e[3]:.0f}"


@click.group()
def sheet() -> None:
    """Map-sheet numbers of Circular 25/2014: extent and lookup."""


@sheet.command("show")
@click.argument("number")
@click.option("--province", required=True, help="Province, to place the 3-digit northing.")
@json_option
def show(number: str, province: str, as_json: bool) -> None:
    """Give the scale and extent of sheet NUMBER."""
    s = parse_sheet(number, northing_hint=_northing_hint(province))
    emit({"number": s.number, "scale": s.scale, "extent": s.extent}, as_json, _text)


@sheet.command("at")
@click.argument("easting", type=float)
@click.argument("northing", type=float)
@click.option("--scale", type=int, required=True, help="Scale denominator: 200 to 10000.")
@json_option
def at(easting: float, northing: float, scale: int, as_json: bool) -> None:
    """Give the sheet of a scale that contains the point EASTING NORTHING."""
    s = sheet_at(easting, northing, scale)
    emit({"number": s.number, "scale": s.scale, "extent": s.extent}, as_json, _text)
