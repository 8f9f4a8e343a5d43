"""Scanned sheets: landrec's scan pipeline beside the plain GIS way, on every sample sheet.

The plain way is what a GIS user tries first: a first-order (affine) fit to the
control points, one global (Otsu) threshold, and GDAL's polygonize of the paper
between the lines (rasterio.features.shapes is GDALPolygonize); no label reading.
Both are scored by digitize.metrics against the sheet's truth: PQ, parcel-number
accuracy, Hausdorff median / p95, land-use and area-label accuracy; landrec's
georeferencing error is measured against the true warp (truth_warp.csv), inside the
sheet frame: from the hand-picked control points measured on their crosses, as the
pipeline uses them (``georef_rms_m``), from the points as picked (``picked_rms_m``), and
from the ones ``--auto-gcps`` finds on the scan (``auto_georef_rms_m``, in ``auto_gcps_s``).
landrec's time is end to end (read, digitize, write all outputs).  landrec's scores are
those of the district's output: a sheet shows only its part of a parcel that goes on
across its frame, and the truth holds the whole parcel, so the sheets are joined as
``digitize district`` joins them and each sheet's parcels are scored whole (the p95 of
each sheet alone is reported beside them).  The same is measured on
the unseen district: the same sheets drawn in other fonts, resolutions, line widths and label
layouts from another seed (``sample_data.plan.UNSEEN_SHEETS``), generated once into the
bench cache: the stand-in for sheets no one has tuned for.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import cv2
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from affine import Affine
from shapely.geometry import box

from bench.common import REPO, BenchContext, table
from digitize.district import run_sheet, write_district
from digitize.georef import fit_georeference, read_gcps
from digitize.gridcross import find_control_points, place_sheet, refine_control_points
from digitize.metrics import georef_error, hausdorff_targets, score_parcels
from digitize.raster import ink_channel, read_scan
from gis.crs import resolve_crs
from gis.io import read_vector
from sample_data import plan
from sample_data.generate import generate

DISTRICT = REPO / "sample_data" / "district"


def naive(image: np.ndarray, gcps_path: Path, extent: tuple[float, float, float, float], crs) -> gpd.GeoDataFrame:
    """Affine fit + global Otsu threshold + GDAL polygonize of the paper regions inside the frame."""
    g = fit_georeference(read_gcps(gcps_path), method="affine", scale=1000)
    o, ex, ey = g.to_map(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    transform = Affine(ex[0] - o[0], ey[0] - o[0], o[0], ex[1] - o[1], ey[1] - o[1], o[1])
    grey = ink_channel(image)
    _, paper = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    frame = box(*extent)
    geoms = [shapely.geometry.shape(s) for s, v in rasterio.features.shapes(paper, mask=paper.astype(bool),
                                                                           transform=transform) if v == 1]
    geoms = [gg for gg in geoms if gg.area > 1.0 and frame.contains(gg.representative_point())]
    return gpd.GeoDataFrame({"parcel_no": pd.array([None] * len(geoms), dtype="Int64"),
                             "land_use": [None] * len(geoms), "area_label_m2": [np.nan] * len(geoms)},
                            geometry=geoms, crs=crs)


def unseen_district(ctx: BenchContext) -> Path:
    """The sample's sheets drawn in styles no one tuned for (``plan.UNSEEN_SHEETS``), generated once."""
    root = ctx.cache / "unseen"
    if not (root / "district.json").exists():
        print("generating the unseen district (once) ...", flush=True)
        generate(root, seed=plan.UNSEEN_SEED, sheets=plan.UNSEEN_SHEETS, overwrite=True)
    return root


def _score_sheet(district: Path, s: dict, crs_key: str, tmp: Path) -> tuple[list[dict], dict, bool]:
    """landrec and the plain GIS way on one sheet of ``district``: two table rows, the JSON, targets met."""
    crs = resolve_crs(crs_key)
    d = district / s["dir"]
    truth = read_vector(d / "truth.gpkg", layer="parcels")
    t0 = time.perf_counter()
    summary = run_sheet(district / s["scan"], tmp / f"{Path(s['dir']).name}.gpkg", gcps=district / s["gcps"],
                        crs=crs_key, sheet_no=s["number"], truth=d / "truth.gpkg", overwrite=True)
    seconds = time.perf_counter() - t0
    sc = summary["scores"]
    image = read_scan(district / s["scan"])
    picked = read_gcps(district / s["gcps"])
    refined = refine_control_points(ink_channel(image), picked, place_sheet(s["number"], crs))  # as digitize_scan does
    warp = pd.read_csv(district / s["truth_warp"])
    meta = json.loads((d / "sheet.json").read_text(encoding="utf-8"))
    ext = meta["extent"]
    inside = warp[(warp.map_x >= ext[0]) & (warp.map_x <= ext[2]) & (warp.map_y >= ext[1]) & (warp.map_y <= ext[3])]
    true_map, at_pixels = inside[["map_x", "map_y"]].to_numpy(float), inside[["pixel_x", "pixel_y"]].to_numpy(float)
    gerr = georef_error(fit_georeference(refined, scale=s["scale"]).to_map, lambda p, m=true_map: m, at_pixels)
    perr = georef_error(fit_georeference(picked, scale=s["scale"]).to_map, lambda p, m=true_map: m, at_pixels)
    t2 = time.perf_counter()
    auto = find_control_points(ink_channel(image), place_sheet(s["number"], crs))
    auto_s = time.perf_counter() - t2
    aerr = georef_error(fit_georeference(auto, scale=s["scale"]).to_map, lambda p, m=true_map: m, at_pixels)
    t1 = time.perf_counter()
    base = score_parcels(naive(image, district / s["gcps"], tuple(ext), crs), truth).to_dict()
    base_s = time.perf_counter() - t1
    med, p95 = hausdorff_targets(s["scale"])
    met = bool(sc["targets_met"])
    style = f"{Path(meta.get('font', '?')).stem}, {meta.get('label_layout', '?')}"
    common = {"sheet": s["number"], "scale": s["scale"], "dpi": s["dpi"], "size": f"{image.shape[1]}x{image.shape[0]}"}
    rows = [{**common, "tool": "landrec", "style": style, "PQ": sc["pq"], "numbers": sc["number_accuracy"],
             "land_use": sc["land_use_accuracy"], "area_lbl": sc["area_label_accuracy"],
             "haus_med_m": sc["hausdorff_median_m"], "haus_p95_m": sc["hausdorff_p95_m"], "georef_rms_m": gerr["rms_m"],
             "picked_rms_m": perr["rms_m"],
             "auto_georef_rms_m": aerr["rms_m"], "auto_gcps_s": auto_s, "s": seconds,
             "targets": "met" if met else "MISSED"},
            {**common, "tool": "plain GIS", "PQ": base["pq"], "numbers": base["number_accuracy"],
             "land_use": base["land_use_accuracy"], "area_lbl": base["area_label_accuracy"],
             "haus_med_m": base["hausdorff_median_m"], "haus_p95_m": base["hausdorff_p95_m"], "s": base_s}]
    result = {"landrec": {**sc, "georef_vs_truth": gerr, "georef_as_picked_vs_truth": perr, "seconds": round(seconds, 2),
                          "auto_gcps": {"points": len(auto), "georef_vs_truth": aerr, "seconds": round(auto_s, 2)},
                          "timings_s": summary["timings_s"], "method": summary["georeference"], "style": style,
                          "targets": {"pq": 0.97, "numbers": 0.97, "haus_med_m": med, "haus_p95_m": p95}},
              "plain_gis": {**base, "seconds": round(base_s, 2)}}
    return rows, result, met


COLUMNS = ["sheet", "tool", "scale", "dpi", "size", "PQ", "numbers", "land_use", "area_lbl", "haus_med_m",
           "haus_p95_m", "georef_rms_m", "picked_rms_m", "auto_georef_rms_m", "auto_gcps_s", "s", "targets"]


def run(ctx: BenchContext) -> dict:
    """Every sheet of the sample district (the targets) and of the unseen one (the stand-in for new sheets)."""
    out: dict = {}
    all_met = True
    for name, district in (("sample", DISTRICT), ("unseen", unseen_district(ctx))):
        manifest = json.loads((district / "district.json").read_text(encoding="utf-8"))
        sheets = manifest["sheets"][:2] if ctx.quick else manifest["sheets"]
        rows = []
        out[name] = {}
        with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
            for s in sheets:
                got, out[name][s["number"]], _ = _score_sheet(district, s, manifest["crs"], Path(tmp))
                rows.extend(got)
                print(table(got, COLUMNS), flush=True)
            # as `digitize district` does: parcels cut by a sheet edge made whole from the neighbours' pieces
            t0 = time.perf_counter()
            joined = write_district(Path(tmp), [{"slug": Path(s["dir"]).name, "truth": district / s["dir"] / "truth.gpkg"}
                                                for s in sheets], truth=True)
            print(f"\n{name}: {joined['joined_across_edges']} parcels joined across sheet edges "
                  f"in {time.perf_counter() - t0:.1f} s", flush=True)
        for s, row in zip(sheets, rows[::2]):
            whole = joined["scores"][Path(s["dir"]).name]
            out[name][s["number"]]["landrec"]["whole"] = whole
            row.update({"p95_alone": row["haus_p95_m"], "PQ": whole["pq"], "numbers": whole["number_accuracy"],
                        "land_use": whole["land_use_accuracy"], "area_lbl": whole["area_label_accuracy"],
                        "haus_med_m": whole["hausdorff_median_m"], "haus_p95_m": whole["hausdorff_p95_m"],
                        "targets": "met" if whole["targets_met"] else "MISSED"})
            if name == "sample":
                all_met &= whole["targets_met"]
        print(f"\n{name} district ({'the targets' if name == 'sample' else 'styles no one tuned for: reported, not a target'};"
              " landrec's scores are of the parcels made whole across sheet edges, p95_alone of each sheet alone):")
        print(table(rows, COLUMNS + ["p95_alone", "style"]))
    out["targets_met"] = bool(all_met)
    return out
