"""``landrec qa``: the topology checks of gis.topology on any parcel layer."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import emit, json_option, overwrite_option
from digitize.report import write_qa_report
from gis.errors import InputError
from gis.io import Outputs, read_vector
from gis.sheets import parse_sheet
from gis.topology import check_parcels, summarize


@click.command()
@click.argument("parcels", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--layer", default="parcels", show_default=True, help="Layer to check.")
@click.option("--scale", type=int, default=None,
              help="Map scale denominator for the tolerances (default: from the sheet numbers).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the QA report (HTML with a picture of every finding) here.")
@overwrite_option
@json_option
def qa(parcels: Path, layer: str, scale: int | None, out: Path | None, overwrite: bool, as_json: bool) -> None:
    """Check the topology of the parcel layer in PARCELS (a GeoPackage or any vector file).

    Invalid geometry, overlaps, gaps, slivers, duplicate numbers in a sheet, unlabeled
    parcels, label area against computed area (the Circular's tolerance), unknown
    land-use codes, parcels cut by the sheet edge.  Exits 1 when there are errors.
    """
    gdf = read_vector(parcels, layer=layer)
    extents = None
    if "sheet_no" in gdf.columns and gdf["sheet_no"].notna().any() and len(gdf):
        hint_n = float(gdf.total_bounds[1])
        sheets = {s: parse_sheet(s, northing_hint=hint_n) for s in gdf["sheet_no"].dropna().unique()}
        extents = {k: v.extent for k, v in sheets.items()}
        scale = scale or min(v.scale for v in sheets.values())
    if scale is None:
        raise InputError("the layer has no sheet numbers to take the map scale from", hint="give --scale, e.g. 1000")
    findings = check_parcels(gdf, scale=scale, sheet_extent=extents)
    if out is not None:
        with Outputs(overwrite=overwrite) as outputs:
            write_qa_report(outputs.path(out), gdf, findings, title=f"landrec qa: {parcels.name}")
    result = {"file": str(parcels), "layer": layer, "report": None if out is None else str(out), "features": len(gdf), "scale": scale,
              "summary": summarize(findings), "findings": [f.to_dict() for f in findings]}
    emit(result, as_json, _text)
    if any(f.severity == "error" for f in findings):
        raise SystemExit(1)


def _text(r: dict) -> str:
    lines = [f"{r['features']} features in {r['file']}:{r['layer']} checked at 1:{r['scale']}"]
    if not r["findings"]:
        lines.append("  clean")
    for severity, counts in sorted(r["summary"].items()):
        lines.append(f"  {severity}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for f in r["findings"][:50]:
        lines.append(f"  [{f['severity']}] {f['code']}: {f['message']}")
    if len(r["findings"]) > 50:
        lines.append(f"  ... {len(r['findings']) - 50} more (use --json)")
    return "\n".join(lines)
