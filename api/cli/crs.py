"""``landrec crs``: look up the CRS registry."""

from __future__ import annotations

import click

from api.cli.options import emit, json_option
from gis.crs import (
    epsg_equivalent,
    proj_string,
    provinces,
    registry,
    resolve_crs,
    srid_of,
)


@click.group()
def crs() -> None:
    """Look up coordinate reference systems (VN-2000, HN-72, EPSG)."""


@crs.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List the named CRSs and the provinces' TM-3 zones."""
    entries = [{"key": e.key, "name": e.name, "srid": e.srid, "epsg": e.epsg} for e in registry()]
    zones = [{"key": f"vn2000:{p.slug}", "province": p.name, "central_meridian": p.central_meridian}
             for p in provinces()]
    data = {"crs": entries, "provinces": zones}

    def text(d: dict) -> str:
        lines = [f"{e['key']:<22} {e['name']:<36} srid {e['srid']}" + (f"  (EPSG:{e['epsg']})" if e["epsg"] else "")
                 for e in d["crs"]]
        lines.append("")
        lines += [f"{z['key']:<28} {z['province']:<20} {z['central_meridian']:.2f}°E" for z in d["provinces"]]
        return "\n".join(lines)

    emit(data, as_json, text)


@crs.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """Show one CRS: name, SRID, EPSG equivalent, PROJ string and WKT."""
    c = resolve_crs(name)
    data = {"name": c.name, "srid": srid_of(c), "epsg_equivalent": epsg_equivalent(c),
            "proj": proj_string(c), "wkt": c.to_wkt(pretty=True)}
    emit(data, as_json, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))
