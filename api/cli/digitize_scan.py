"""``landrec digitize scan`` (one sheet) and ``landrec digitize district`` (a folder of sheets)."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import (
    crs_option,
    emit,
    json_option,
    overwrite_option,
    progress_enabled,
)
from digitize.georef import METHODS

_METHOD = click.option("--method", type=click.Choice([*METHODS, "auto"]), default="auto", show_default=True,
                       help="Georeferencing model; auto picks the best by leave-one-out error.")


def _steps(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not progress_enabled(), leave=False)


def _rms_name(g: dict) -> str:
    """How the georeference's RMS was measured: at the points, or each point predicted from
    the others (a spline passes through its points: pessimistic, twice the point spacing)."""
    return "leave-one-out RMS" if g.get("rms_kind") == "leave-one-out" else "RMS"


def _text(d: dict) -> str:
    g = d["georeference"]
    lines = [f"sheet {d['sheet_no']} (1:{d['scale']}): {d['parcels']} parcels, {d['flagged']} flagged,"
             f" {d['edge_match']} to edge-match with the neighbouring sheets",
             f"georeference {g['method']}: {_rms_name(g)} {g['rms_m']:.3f} m = {g['rms_mm']:.3f} mm at scale "
             f"(norm {g['norm_mm']} mm: {'ok' if g['within_norm'] else 'EXCEEDED'})"
             + (f"; outliers {', '.join(g['outliers'])}" if g["outliers"] else "")]
    lines += [f"  {k}: {v}" for k, v in d["outputs"].items()]
    return "\n".join(lines)


@click.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--gcps", "gcps_path", type=click.Path(dir_okay=False), default=None,
              help="Control points: CSV pixel_x,pixel_y,map_x,map_y or a QGIS .points file.")
@click.option("--auto-gcps", is_flag=True,
              help="Find the control points on the scan instead: frame corners, frame ticks and grid crosses, "
              "with map coordinates from --sheet-no (required). Not together with --gcps.")
@crs_option
@click.option("--scale", type=int, default=None, help="Scale denominator (default: from --sheet-no, else 1000).")
@click.option("--sheet-no", default=None, help="Circular 25/2014 sheet number (default: the sheet under the scan).")
@click.option("--province", default=None,
              help="With --auto-gcps: the province, to place the sheet number's 3-digit northing when the "
              "CRS's zone alone cannot.")
@_METHOD
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output GeoPackage (.gpkg).")
@overwrite_option
@json_option
def scan(image: str, gcps_path: str | None, auto_gcps: bool, crs: str, scale: int | None, sheet_no: str | None,
         province: str | None, method: str, out: str, overwrite: bool, as_json: bool) -> None:
    """Digitize one scanned cadastral sheet IMAGE into parcels.

    Control points come from --gcps FILE (hand-picked), or with --auto-gcps from the
    sheet itself: its frame corners, the grid ticks on the frame and the grid crosses
    every 10 cm, their map coordinates fixed by --sheet-no.  Either one, not both.

    Writes OUT (layer parcels, layer control_points), the georeferenced scan as a
    Cloud-Optimized GeoTIFF (OUT without .gpkg + .scan.tif), the control-point
    residuals (.residuals.csv) and the QA report (.qa.html, .qa.png).
    """
    from digitize.district import run_sheet

    bar = _steps(6 if auto_gcps else 5, "digitize")
    try:
        result = run_sheet(image, out, gcps=gcps_path, crs=crs, scale=scale, sheet_no=sheet_no, method=method,
                           overwrite=overwrite, progress=lambda name: (bar.set_postfix_str(name), bar.update(1)),
                           auto_gcps=auto_gcps, province=province)
    finally:
        bar.close()
    emit(result, as_json, _text)


def _district_text(d: dict) -> str:
    rows = [f"{s['sheet']}: {s['status']}" + (f", {s['parcels']} parcels" if "parcels" in s else "")
            + (f" ({s['error']})" if s.get("error") else "") + _scores_text(s.get("scores_joined") or s.get("scores"))
            for s in d["sheets"]]
    rows.append(f"done {d['done']}, skipped {d['skipped']}, failed {d['failed']}")
    if "district" in d:
        j = d["district"]
        rows.append(f"district: {j['parcels']} parcels, {j['joined_across_edges']} joined across sheet edges, "
                    f"{j['flagged']} to check, {j['still_cut']} still cut by a frame -> {j['path']} ({j['picture']})")
    return "\n".join(rows)


def _scores_text(s: dict | None) -> str:
    """A sheet's scores in one phrase (whole across sheet edges when the district joined them)."""
    if not s:
        return ""
    return (f"; PQ {s['pq']:.3f}, numbers {s['number_accuracy']:.3f}, Hausdorff median {s['hausdorff_median_m']:.3f} m,"
            f" p95 {s['hausdorff_p95_m']:.3f} m, targets {'met' if s['targets_met'] else 'MISSED'}")


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: FOLDER/digitized).")
@crs_option
@_METHOD
@click.option("--workers", type=int, default=2, show_default=True, help="Local worker processes.")
@click.option("--scheduler", default=None, help="Address of a Dask distributed scheduler (tcp://host:8786).")
@click.option("--truth", is_flag=True, help="Score each sheet against its truth.gpkg and print the scores.")
@click.option("--auto-gcps", is_flag=True,
              help="Find every sheet's control points on its scan (grid crosses), even where a gcps file exists.")
@json_option
def district(folder: str, out: str | None, crs: str, method: str, workers: int, scheduler: str | None,
             truth: bool, auto_gcps: bool, as_json: bool) -> None:
    """Digitize every sheet of a district FOLDER, in parallel and resumable.

    FOLDER holds one sub-folder per sheet: an image, and gcps.csv or .points, or a
    sheet.json naming the sheet (number), whose control points are then found on the
    scan (frame and grid crosses).  A re-run skips sheets already done.  The sheets are
    then joined into OUT/district.gpkg: a parcel cut by the edge between two sheets
    is made whole from its pieces.
    """
    from digitize.district import run_district

    result = run_district(Path(folder), Path(out) if out else Path(folder) / "digitized", crs=crs, method=method,
                          workers=workers, scheduler=scheduler, truth=truth, progress=progress_enabled(),
                          auto_gcps=auto_gcps)
    emit(result, as_json, _district_text)
    if result["failed"]:
        raise SystemExit(1)
