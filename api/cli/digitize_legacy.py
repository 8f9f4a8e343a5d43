"""``landrec digitize legacy``: DGN/DXF/Shapefile/MapInfo/GeoJSON/GeoPackage/KML to parcels."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import crs_option, emit, json_option, overwrite_option
from digitize.legacy import (
    adjust_coordinates,
    assemble,
    check_location,
    import_elements,
    parse_levels,
)
from digitize.legacy_read import read_drawing
from digitize.report import write_qa_report
from gis.crs import province as find_province
from gis.crs import resolve_crs
from gis.errors import CRSError, DigitizeError, InputError
from gis.io import Outputs, to_vector
from gis.topology import findings_frame, snap_tolerance, summarize


def _pair(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        dx, dy = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--offset {text!r} is not two numbers", hint="write it as DX,DY, e.g. 500000,1000000") from None
    return dx, dy


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@crs_option
@click.option("--src-crs", default=None, help="CRS of the drawings when not --crs (e.g. hn72:gk18); reprojected to --crs.")
@click.option("--levels", default="annex18", show_default=True,
              help="annex18, auto, or boundary=10,number=11,land_use=2,area=4 (DXF layer or column names allowed).")
@click.option("--scale", type=int, default=None, help="Map scale denominator (default: from the sheet number or extent).")
@click.option("--sheet", "sheet_no", default=None, help="Sheet number (only with one FILE; default: found in the drawing).")
@click.option("--text-encoding", type=click.Choice(["auto", "tcvn3", "vni", "unicode"]), default="auto",
              show_default=True, help="Encoding of the label texts.")
@click.option("--offset", default=None, help="DX,DY added to every coordinate (e.g. a global origin not applied).")
@click.option("--swap-xy", is_flag=True, help="Swap the two coordinates (Vietnamese X is the northing).")
@click.option("--units", type=click.Choice(["m", "mm"]), default="m", show_default=True,
              help="Unit of the drawing's coordinates.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output GeoPackage (layers parcels and qa_findings).")
@click.option("--report", "report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="QA report (HTML with pictures) [default: OUT with .qa.html].")
@overwrite_option
@json_option
def legacy(files, crs, src_crs, levels, scale, sheet_no, text_encoding, offset, swap_xy, units, out, report,
           overwrite, as_json) -> None:
    """Import legacy cadastral drawings FILE... into the parcels layer, with topology QA.

    DGN v7 (Circular 25/2014 Annex 18 levels by default), DXF (layers as levels),
    Shapefile, MapInfo TAB/MIF, GeoJSON, GeoPackage, KML.  Parcels cut by the edges
    of adjacent sheets given together are joined.
    """
    dst = resolve_crs(crs)
    level_map = parse_levels(levels)
    if sheet_no and len(files) > 1:
        raise InputError("--sheet names one sheet but several files were given", hint="import one file per --sheet")
    province = _province_of(crs)
    results = []
    for path in files:
        drawing = read_drawing(path, arc_tolerance_m=snap_tolerance(scale or 1000))
        elements = adjust_coordinates(drawing.elements, offset=_pair(offset), swap_xy=swap_xy,
                                      factor=0.001 if units == "mm" else 1.0)
        source = resolve_crs(src_crs) if src_crs else (drawing.crs or dst)
        elements = elements.set_crs(source, allow_override=True).to_crs(dst)
        if province is not None:
            problem = check_location(tuple(elements.total_bounds), dst, province)
            if problem is not None:
                raise DigitizeError(f"{path.name}: {problem.message}",
                                    hint="fix the coordinates with the option named above, or check --crs")
        try:
            results.append(import_elements(elements, levels=level_map, crs=dst, scale=scale, sheet_no=sheet_no,
                                           text_encoding=text_encoding))
        except InputError as exc:
            raise type(exc)(f"{path.name}: {exc.message}", hint=exc.hint) from None
    parcels, findings = assemble(results, scale=scale)
    report = report or out.with_suffix(".qa.html")
    with Outputs(overwrite=overwrite) as outputs:
        tmp = outputs.path(out)
        tmp_report = outputs.path(report)
        to_vector(parcels, tmp, "parcels")
        to_vector(findings_frame(findings, dst), tmp, "qa_findings")
        write_qa_report(tmp_report, parcels, findings,
                        title=f"landrec digitize legacy: {', '.join(p.name for p in files)}")
    summary = {
        "out": str(out), "report": str(report), "parcels": len(parcels), "numbered": int(parcels["parcel_no"].notna().sum()),
        "sheets": [r.sheet.number for r in results], "levels": [r.levels.describe() for r in results],
        "findings": summarize(findings), "notes": [n for r in results for n in r.notes],
    }
    emit(summary, as_json, _text)


def _province_of(spec: str):
    """The province a ``vn2000:<province>`` CRS names, else None."""
    head, _, rest = spec.partition(":")
    if head.lower().replace("-", "") != "vn2000" or not rest or rest.lower().startswith(("tm3", "utm")):
        return None
    try:
        return find_province(rest)
    except CRSError:
        return None


def _text(s: dict) -> str:
    lines = [f"{s['parcels']} parcels ({s['numbered']} numbered) from sheet(s) {', '.join(s['sheets'])} -> {s['out']}"]
    for severity in ("error", "warning", "repaired"):
        counts = s["findings"].get(severity)
        if counts:
            lines.append(f"  {severity}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return "\n".join(lines)
