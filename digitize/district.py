"""Batch layer of the scan pipeline: one sheet from files to files, and a district of them.

Unlike the pure steps, this module reads and writes: :func:`run_sheet` is the whole
job of ``landrec digitize scan`` (it is what a worker process runs), and
:func:`run_district` farms sheets out to local processes or to a Dask distributed
cluster, skipping sheets whose outputs already exist (a re-run resumes), then joins
the parcels cut by the edges between its sheets into ``district.gpkg``.

Outputs of a sheet ``OUT.gpkg`` (all written together or not at all):
``OUT.gpkg`` (layers ``parcels``, ``control_points`` and, when the frame cuts parcels
labelled on a neighbouring sheet, ``edge_pieces``), ``OUT.scan.tif`` (the
georeferenced scan, a COG), ``OUT.residuals.csv``, ``OUT.qa.html``, ``OUT.qa.png`` and
``OUT.json`` (the summary, written last: its presence marks the sheet done).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import (
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
)
from dataclasses import asdict
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from digitize.edgematch import join_across_sheets
from digitize.georef import Georeference, read_gcps
from digitize.gridcross import find_control_points, place_sheet
from digitize.metrics import hausdorff_targets, score_parcels
from digitize.raster import ink_channel, read_scan, warp_scan, write_cog
from digitize.report import render_overview, write_qa_report
from digitize.scan import EDGE_PIECE, PARCEL_COLUMNS, digitize_scan
from gis.crs import resolve_crs
from gis.errors import InputError, LandrecError
from gis.io import Outputs, list_layers, read_vector, to_vector
from gis.sheets import parse_sheet
from gis.topology import EDGE_CUT, Finding, area_tolerance, findings_frame, flag_masks

__all__ = ["DISTRICT_OUT", "EDGE_PIECES", "IMAGE_SUFFIXES", "find_sheets", "join_sheets", "outputs_of", "run_district",
           "run_sheet", "score_sheet", "write_district"]

IMAGE_SUFFIXES = (".tif", ".tiff", ".jpg", ".jpeg", ".png")
#: the layer of a sheet's output holding the unlabelled pieces at its frame (parts of parcels
#: labelled on a neighbouring sheet)
EDGE_PIECES = "edge_pieces"
#: the district's parcels, joined across sheet edges, beside the sheets' outputs
DISTRICT_OUT = "district.gpkg"


def outputs_of(out: str | os.PathLike) -> dict[str, Path]:
    """The files a sheet's run writes, by kind, for the output GeoPackage ``out``."""
    p = Path(out)
    if p.suffix.lower() != ".gpkg":
        raise InputError(f"output {p} must be a GeoPackage (.gpkg)", hint="e.g. --out sheet.gpkg")
    stem = p.with_suffix("")
    return {"parcels": p, "scan": Path(f"{stem}.scan.tif"), "residuals": Path(f"{stem}.residuals.csv"),
            "report": Path(f"{stem}.qa.html"), "picture": Path(f"{stem}.qa.png"), "summary": Path(f"{stem}.json")}


#: how the georeference's RMS was measured, in the QA report: at the points, or each point
#: predicted from the others (a spline passes through its points; pessimistic: twice the spacing)
_RMS_NAME = {"fit": "RMS", "leave-one-out": "RMS kiểm tra chéo / leave-one-out RMS (bi quan / pessimistic)"}


def run_sheet(image: str | os.PathLike, out: str | os.PathLike, *, gcps: str | os.PathLike | None = None, crs: str,
              scale: int | None = None, sheet_no: str | None = None, method: str = "auto", overwrite: bool = False,
              truth: str | os.PathLike | None = None, progress: Callable[[str], None] | None = None,
              auto_gcps: bool = False, province: str | None = None) -> dict:
    """Digitize one scanned sheet from files to files; returns the summary (also written as JSON).

    ``gcps`` is a control-point file (CSV or QGIS ``.points``); with ``auto_gcps`` instead, the
    control points are the frame corners, frame ticks and grid crosses found on the scan, with
    map coordinates from ``sheet_no`` (``province`` places its 3-digit northing when the CRS's
    zone alone cannot).  ``truth`` is an optional GeoPackage (layer ``parcels``) to score against.
    """
    files = outputs_of(out)
    dst_crs = resolve_crs(crs)
    if auto_gcps == (gcps is not None):
        raise InputError("give either a control-point file or automatic control points, not both" if auto_gcps
                         else "no control points: give a control-point file or ask for automatic ones",
                         hint="use --gcps FILE, or --auto-gcps with --sheet-no")
    if auto_gcps and not sheet_no:
        raise InputError("automatic control points need the sheet number (it fixes the grid's map coordinates)",
                         hint="give --sheet-no, e.g. --sheet-no 361561-4-b")
    # the georeferenced scan is warped and written beside the line-work and label steps, which
    # leave a core idle most of the time; leaving the block waits for it, error or not
    with Outputs(overwrite=overwrite) as o, ThreadPoolExecutor(max_workers=1) as pool:
        tmp = {k: o.path(v) for k, v in files.items()}
        img = read_scan(image)
        scan: list[Future] = []  # the warp and COG job, started once the georeference is known
        if auto_gcps:
            if progress:
                progress("control points")
            points = find_control_points(ink_channel(img), place_sheet(sheet_no, dst_crs, province=province))
        else:
            points = read_gcps(gcps)
        result = digitize_scan(img, points, crs=dst_crs, scale=scale, sheet_no=sheet_no, method=method,
                               progress=progress,
                               on_georeference=partial(_start_scan, pool, scan, img, tmp["scan"], dst_crs))
        if progress:
            progress("write")
        g = result.georef
        to_vector(result.parcels, tmp["parcels"], "parcels")
        cp = gpd.GeoDataFrame([asdict(r) for r in g.residuals], geometry=gpd.points_from_xy(
            [r.map_x for r in g.residuals], [r.map_y for r in g.residuals]), crs=dst_crs)
        to_vector(cp, tmp["parcels"], "control_points")
        pieces = result.dropped[result.dropped["reason"] == EDGE_PIECE]
        if len(pieces):  # for ``digitize district`` to join to the parcels they were cut from
            to_vector(gpd.GeoDataFrame({"sheet_no": result.sheet.number, "area_m2": pieces.geometry.area.round(1)},
                                       geometry=pieces.geometry.values, crs=dst_crs), tmp["parcels"], EDGE_PIECES)
        with open(tmp["residuals"], "w", newline="", encoding="utf-8") as f:
            rows = [asdict(r) for r in g.residuals]
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        flagged, edge = flag_masks(result.parcels["qa_flags"])
        summary = {
            "sheet_no": result.sheet.number, "scale": result.sheet.scale, "image": str(image),
            "gcps": "auto" if auto_gcps else str(gcps),
            "parcels": len(result.parcels), "flagged": int(flagged.sum()), "edge_match": int(edge.sum()),
            "numbers_read": int(result.parcels["parcel_no"].notna().sum()),
            "georeference": g.summary(), "timings_s": result.timings,
            "findings": _count(result.findings),
        }
        scores = None
        if truth is not None:
            scores = summary["scores"] = score_sheet(result.parcels, truth, result.sheet.scale)
        facts = {"Tờ bản đồ / sheet": f"{result.sheet.number} (1:{result.sheet.scale})",
                 "Nắn ảnh / georeference": f"{g.method}, {_RMS_NAME[g.summary()['rms_kind']]} {g.rms_m:.3f} m"
                 f" = {g.rms_mm:.3f} mm "
                 f"({'đạt' if g.within_norm else 'VƯỢT'} hạn sai {g.summary()['norm_mm']} mm)",
                 "Điểm khống chế / control points": f"{len(g.points)}, " + (
                     "tự tìm trên khung và lưới / found on the frame and grid" if auto_gcps else f"từ / from {Path(gcps).name}"),
                 "Điểm thô / outlier points": ", ".join(g.outliers) or "-",
                 "Số thửa đọc được số / numbers read": f"{summary['numbers_read']} / {summary['parcels']}"}
        scan[0].result()
        write_qa_report(tmp["report"], result.parcels, result.findings,
                        title=f"Tờ {result.sheet.number} — {Path(image).name}", background=(img, g.to_pixel),
                        scores=scores, residuals=[_res_row(r) for r in g.residuals], summary=facts,
                        picture_path=tmp["picture"])
        summary["outputs"] = {k: str(v) for k, v in files.items()}
        tmp["summary"].write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return summary


def score_sheet(parcels: gpd.GeoDataFrame, truth: str | os.PathLike, scale: int) -> dict:
    """A sheet's parcels scored against its truth (layer ``parcels``), with whether the issue's targets are met."""
    scores = score_parcels(parcels, read_vector(truth, layer="parcels")).to_dict()
    med, p95 = hausdorff_targets(scale)
    scores["targets_met"] = bool(scores["pq"] >= 0.97 and scores["number_accuracy"] >= 0.97
                                 and scores["hausdorff_median_m"] <= med and scores["hausdorff_p95_m"] <= p95)
    return scores


def join_sheets(outs: Sequence[str | os.PathLike]) -> tuple[gpd.GeoDataFrame, list[Finding]]:
    """The parcels of digitized sheets (``run_sheet`` outputs) as one layer, each parcel cut
    by a sheet edge joined with its unlabelled pieces on the neighbouring sheets.

    A sheet shows only its part of a parcel that runs on across its frame; the sheet
    holding the parcel's label has the parcel, and the others have unlabelled pieces
    (layer ``edge_pieces``).  Pieces that join no parcel are left out (roads, or parcels of
    sheets not given).  A joined parcel, and one along a frame that has all the area its
    label gives, loses its ``cut_by_sheet_edge`` flag; a joined one's area is checked
    against its label again.  Returns the layer and the joins as repaired findings.
    """
    layers, extents, scales = [], {}, []
    for out in outs:
        parcels = read_vector(out, layer="parcels")
        if not len(parcels):
            continue
        number = str(parcels["sheet_no"].iloc[0])
        sheet = parse_sheet(number, northing_hint=float(np.mean(parcels.total_bounds[[1, 3]])))
        extents[number], crs = sheet.extent, parcels.crs
        scales.append(sheet.scale)
        layers.append(parcels.assign(_piece=False))
        if EDGE_PIECES in list_layers(out):
            layers.append(read_vector(out, layer=EDGE_PIECES).assign(_piece=True))
    if not layers:
        raise InputError("no digitized sheets to join", hint="digitize the sheets first")
    df = gpd.GeoDataFrame(pd.concat(layers, ignore_index=True), geometry="geometry", crs=crs)
    df["parcel_no"] = df["parcel_no"].astype("Int64")
    joined, findings = join_across_sheets(df, extents, scale=max(scales))
    heads = np.zeros(len(joined), dtype=bool)
    heads[[f.feature_ids[0] for f in findings]] = True
    heads &= ~joined["_piece"].to_numpy(dtype=bool)
    area = joined.geometry.area.to_numpy()
    label = pd.to_numeric(joined["area_label_m2"], errors="coerce").to_numpy(dtype=float)
    off = np.abs(label - area) > area_tolerance(area, min(scales))
    # whole: joined, or along a frame with all the area its label gives (not across it)
    whole = heads | (~off & np.isfinite(label))
    joined["qa_flags"] = [_reflag(f, o) if w else f for f, w, o in zip(joined["qa_flags"].fillna(""), whole, off)]
    joined["area_m2"] = np.where(heads, np.round(area, 1), joined["area_m2"])
    keep = ~joined["_piece"].to_numpy(dtype=bool)
    new_id = np.cumsum(keep) - 1
    findings = [Finding(f.code, f.severity, f.message, f.geometry, (int(new_id[f.feature_ids[0]]),))
                for f in findings if keep[f.feature_ids[0]]]
    out = joined[keep].drop(columns="_piece").reset_index(drop=True)
    return out[[*PARCEL_COLUMNS, "geometry"]], findings


def _reflag(flags: str, area_off: bool) -> str:
    """A whole parcel's flags: not cut by the edge; its area checked on the whole."""
    codes = [c for c in flags.split(",") if c and c not in (EDGE_CUT, "area_mismatch")]
    return ",".join(codes + (["area_mismatch"] if area_off else []))


def _start_scan(pool: ThreadPoolExecutor, jobs: list[Future], image: np.ndarray, path: Path, crs: CRS,
                georef: Georeference) -> None:
    """Start warping the scan onto the map grid and writing it as a COG (the warped copy lives only in the job)."""

    def job() -> None:
        write_cog(path, *warp_scan(image, georef), crs)

    jobs.append(pool.submit(job))


def _res_row(r) -> dict:
    return {"id": r.id, "pixel_x": r.pixel_x, "pixel_y": r.pixel_y, "map_x": r.map_x, "map_y": r.map_y,
            "residual_m": r.residual_m, "residual_mm": r.residual_mm, "loo_mm": r.loo_mm, "outlier": r.outlier,
            "moved_px": r.moved_px}


def _count(findings) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in findings:
        if f.severity != "repaired":
            out[f.code] = out.get(f.code, 0) + 1
    return out


def find_sheets(folder: Path) -> list[dict]:
    """The sheets of a district folder: one per sub-folder holding a scan image.

    A sub-folder's ``sheet.json`` may give ``number`` (or ``sheet_no``) and ``scale``;
    control points are ``gcps.csv`` or a ``.points`` file (``gcps`` None: found on the
    scan, which needs the sheet number); ``truth.gpkg`` is the truth.
    """
    roots = [folder / "sheets"] if (folder / "sheets").is_dir() else [folder]
    out = []
    for root in roots:
        for d in sorted(p for p in root.iterdir() if p.is_dir()):
            images = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                            and not p.name.endswith(".scan.tif"))
            if not images:
                continue
            meta = json.loads((d / "sheet.json").read_text(encoding="utf-8")) if (d / "sheet.json").exists() else {}
            gcps = next((p for p in [d / "gcps.csv", *sorted(d.glob("*.points"))] if p.exists()), None)
            number = meta.get("number") or meta.get("sheet_no")
            if gcps is None and not number:
                continue
            out.append({"slug": d.name, "image": images[0], "gcps": gcps, "sheet_no": number, "scale": meta.get("scale"),
                        "commune": meta.get("commune_code"),
                        "truth": d / "truth.gpkg" if (d / "truth.gpkg").exists() else None})
    return out


def _job(sheet: dict, out_dir: str, crs: str, method: str, truth: bool, auto_gcps: bool) -> dict:
    """One sheet in a worker: never raises for an expected error, reports it."""
    out = Path(out_dir) / f"{sheet['slug']}.gpkg"
    auto = auto_gcps or sheet["gcps"] is None
    try:
        s = run_sheet(sheet["image"], out, gcps=None if auto else sheet["gcps"], crs=crs, scale=sheet["scale"],
                      sheet_no=sheet["sheet_no"], method=method, overwrite=True,
                      truth=sheet["truth"] if truth else None, auto_gcps=auto)
        return {"sheet": sheet["slug"], "sheet_no": s["sheet_no"], "status": "done", "parcels": s["parcels"],
                "scores": s.get("scores"), "timings_s": s["timings_s"]}
    except LandrecError as exc:
        return {"sheet": sheet["slug"], "status": "failed", "error": exc.message}


def run_district(folder: Path, out_dir: Path, *, crs: str, method: str = "auto", workers: int = 2,
                 scheduler: str | None = None, truth: bool = False, progress: bool = False,
                 auto_gcps: bool = False) -> dict:
    """Digitize every sheet of ``folder`` into ``out_dir``; sheets already done are skipped.

    Sheets run in ``workers`` local processes, or on the Dask distributed cluster at
    ``scheduler``.  A sheet without a control-point file, and every sheet with
    ``auto_gcps``, is georeferenced from the grid crosses found on its scan.  The sheets
    done are then joined into ``out_dir/district.gpkg`` (:func:`write_district`).  Returns
    per-sheet statuses and counts (with ``truth``, the scores of each sheet alone and,
    as ``scores_joined``, of its parcels made whole across the sheet edges).
    """
    from tqdm import tqdm

    resolve_crs(crs)  # fail early on a bad CRS
    sheets = find_sheets(folder)
    if not sheets:
        raise InputError(f"no sheet folders with a scan image under {folder}",
                         hint="give a folder with one sub-folder per sheet (image + gcps.csv, or sheet.json "
                         "with the sheet number)")
    out_dir.mkdir(parents=True, exist_ok=True)
    todo, results = [], []
    for s in sheets:
        done = out_dir / f"{s['slug']}.json"
        if done.exists():
            prev = json.loads(done.read_text(encoding="utf-8"))
            results.append({"sheet": s["slug"], "sheet_no": prev.get("sheet_no"), "status": "skipped",
                            "parcels": prev.get("parcels"), "scores": prev.get("scores")})
        else:
            todo.append(s)
    bar = tqdm(total=len(todo), desc="sheets", unit="sheet", disable=not progress)
    args = (str(out_dir), crs, method, truth, auto_gcps)
    if todo and scheduler:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed

        with Client(scheduler) as client:
            futures = [client.submit(_job, s, *args, pure=False) for s in todo]
            for fut in dask_completed(futures):
                results.append(fut.result())
                bar.update(1)
    elif todo:
        with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(_job, s, *args) for s in todo]
            for fut in as_completed(futures):
                results.append(fut.result())
                bar.update(1)
    bar.close()
    results.sort(key=lambda r: r["sheet"])
    out = {"sheets": results, "done": sum(r["status"] == "done" for r in results),
           "skipped": sum(r["status"] == "skipped" for r in results),
           "failed": sum(r["status"] == "failed" for r in results)}
    ok = {r["sheet"] for r in results if r["status"] != "failed"}
    finished = [s for s in sheets if s["slug"] in ok]
    if finished:
        out["district"] = write_district(out_dir, finished, truth=truth)
        for r in results:
            if r["sheet"] in out["district"]["scores"]:
                r["scores_joined"] = out["district"]["scores"][r["sheet"]]
    return out


def write_district(out_dir: Path, sheets: Sequence[dict], *, truth: bool = False) -> dict:
    """Join the digitized ``sheets`` (as :func:`find_sheets` lists them) into ``out_dir/district.gpkg``.

    Layer ``parcels`` holds every sheet's parcels, those cut by a shared sheet edge joined
    whole (:func:`join_sheets`), with the sheet's ``commune_code`` where its ``sheet.json``
    gives one; layer ``edge_matches`` lists the joins; ``district.qa.png`` shows them all,
    flagged parcels red and those still cut by a frame (no neighbouring sheet) orange.
    With ``truth``, each sheet's parcels are scored against its truth again, whole.
    Returns the path, counts and those scores.
    """
    parcels, joins = join_sheets([out_dir / f"{s['slug']}.gpkg" for s in sheets])
    summaries = {s["slug"]: json.loads((out_dir / f"{s['slug']}.json").read_text(encoding="utf-8")) for s in sheets}
    communes = {summaries[s["slug"]]["sheet_no"]: s.get("commune") for s in sheets}
    if all(communes.values()):
        parcels.insert(0, "commune_code", parcels["sheet_no"].map(communes))
    path = out_dir / DISTRICT_OUT
    picture = path.with_suffix(".qa.png")
    flagged, edge = flag_masks(parcels["qa_flags"])
    with Outputs(overwrite=True) as o:
        tmp = o.path(path)
        to_vector(parcels, tmp, "parcels")
        if joins:
            to_vector(findings_frame(joins, parcels.crs), tmp, "edge_matches")
        o.path(picture).write_bytes(render_overview(
            parcels, title=f"{len(parcels)} thửa / parcels, {len(sheets)} tờ / sheets: {len(joins)} nối / joined, "
            f"{int(flagged.sum())} cần kiểm tra / to check (đỏ / red), {int(edge.sum())} bị khung cắt / cut (cam / orange)"))
    scores = {}
    for s in sheets:
        if truth and s.get("truth") is not None:
            summary = summaries[s["slug"]]
            scores[s["slug"]] = score_sheet(parcels[parcels["sheet_no"] == summary["sheet_no"]], s["truth"],
                                            summary["scale"])
    return {"path": str(path), "picture": str(picture), "parcels": len(parcels), "joined_across_edges": len(joins),
            "flagged": int(flagged.sum()), "still_cut": int(edge.sum()), "scores": scores}
