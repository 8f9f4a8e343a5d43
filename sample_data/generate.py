"""Write the sample district: ``python -m sample_data.generate --out DIR [--seed N] [--overwrite]``.

Same seed, same bytes: GeoPackage timestamps come from ``SOURCE_DATE_EPOCH`` (set to a
fixed value when unset), the raster encoders are deterministic, DXF metadata is pinned.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyogrio
from PIL import Image

from gis.errors import OutputExistsError
from gis.io import Outputs, to_vector
from sample_data import cad, district, plan
from sample_data.render import (
    GRID_MM,
    MARGINS_MM,
    Damage,
    Style,
    page_layout,
    render_sheet,
)

__all__ = ["DEFAULT_SEED", "FIXED_EPOCH", "generate", "main"]

DEFAULT_SEED = 20241121
#: 2024-11-21T00:00:00Z: the date stamped in generated files unless SOURCE_DATE_EPOCH says otherwise
FIXED_EPOCH = 1732147200
_EXT = {"jpeg": "scan.jpg", "png": "scan.png", "tiff": "scan.tif"}


@contextmanager
def _gdal_date() -> Iterator[None]:
    """Pin OGR_CURRENT_DATE for writes that do not go through gis.io.to_vector."""
    stamp = datetime.fromtimestamp(int(os.environ["SOURCE_DATE_EPOCH"]), tz=UTC)
    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp.strftime("%Y-%m-%dT%H:%M:%SZ")})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def write_scan(image: np.ndarray, path: Path, fmt: str, dpi: int) -> None:
    """Encode a scan deterministically: JPEG q75; PNG and TIFF (deflate) in 16 grey levels."""
    if fmt == "jpeg":
        Image.fromarray(image).save(path, format="JPEG", quality=75, dpi=(dpi, dpi))
        return
    levels = (image // 16 * 16 + 8).astype(np.uint8)  # 4-bit scanner output, kept in 8-bit samples
    if fmt == "png":
        Image.fromarray(levels).save(path, format="PNG", compress_level=6, dpi=(dpi, dpi))
    elif fmt == "tiff":
        Image.fromarray(levels).save(path, format="TIFF", compression="tiff_adobe_deflate", dpi=(dpi, dpi))
    else:
        raise ValueError(f"unknown image format {fmt!r}")


def _sheet(job: tuple) -> str:
    """Draw one sheet: scan, control points, true warp, truth, DGN, DXF, sheet.json."""
    (seed, parcels, houses, roads, water), (k, sp, sheet, paths) = job
    communes = {c.code: c for c in plan.COMMUNES}
    rng = np.random.default_rng([seed, k])
    _, w, h = page_layout(sheet, sp.dpi)
    damage = Damage.random(rng, size_px=(w, h))
    style = Style(font=sp.font, label_layout=sp.label_layout, colour=sp.colour, text_mm=sp.text_mm, line_mm=sp.line_mm,
                  commune=communes[sp.commune].name, district=plan.DISTRICT["name"],
                  province=plan.PROVINCE["name"], local_no=sp.local_no)
    image, gcps, model = render_sheet(parcels, sheet, dpi=sp.dpi, style=style, damage=damage,
                                      seed=seed * 10 + k, roads=roads, waterways=water)
    image_name = _EXT[sp.image_format]
    write_scan(image, paths[image_name], sp.image_format, sp.dpi)
    gcps.to_csv(paths["gcps.csv"], index=False, lineterminator="\n")
    model.grid(20.0).to_csv(paths["truth_warp.csv"], index=False, lineterminator="\n")
    mine = parcels[parcels["sheet_no"] == sheet.number].reset_index(drop=True)
    my_houses = houses[houses["sheet_no"] == sheet.number].reset_index(drop=True)
    to_vector(mine, paths["truth.gpkg"], "parcels", SPATIAL_INDEX="NO")
    to_vector(my_houses, paths["truth.gpkg"], "buildings", SPATIAL_INDEX="NO")
    dgn = cad.write_dgn(parcels, sheet, paths["sheet.dgn"], seed=seed * 10 + k, houses=my_houses)
    dxf = cad.write_dxf(parcels, sheet, paths["sheet.dxf"], seed=seed * 10 + k, roads=roads, houses=my_houses)
    info = {
        "number": sheet.number, "scale": sheet.scale, "extent": list(sheet.extent),
        "commune_code": sp.commune, "commune": communes[sp.commune].name, "local_no": sp.local_no,
        "crs": plan.CRS_KEY, "dpi": sp.dpi, "image": image_name, "image_format": sp.image_format,
        "colour": sp.colour, "image_size": [int(image.shape[1]), int(image.shape[0])],
        "page_size": list(model.page_size), "margins_mm": list(MARGINS_MM), "grid_mm": GRID_MM,
        "font": sp.font, "label_layout": sp.label_layout, "text_mm": sp.text_mm, "line_mm": sp.line_mm,
        "parcel_count": len(mine),
        "damage": damage.to_dict(),
        "files": {"gcps": "gcps.csv", "truth_warp": "truth_warp.csv", "truth": "truth.gpkg",
                  "dgn": "sheet.dgn", "dxf": "sheet.dxf"},
        "dgn": {"levels": cad.LEVELS, "creation_options": cad.DGN_OPTIONS, **dgn},
        "dxf": {"layers": {str(v): k for k, v in cad.LEVELS.items()} | {"ROAD_NAME": "road names"},
                "codepage": "ANSI_1258", **dxf},
    }
    _write_json(info, paths["sheet.json"])
    return sheet.number


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def generate(out_dir: str | os.PathLike, *, seed: int = DEFAULT_SEED, overwrite: bool = False,
             progress: Callable[[str], None] | None = None, jobs: int = 2,
             sheets: Sequence[plan.SheetPlan] | None = None) -> dict:
    """Write the whole sample district into ``out_dir``; return its manifest.

    ``jobs`` sheets are drawn at a time (separate processes); the output does not depend on it.
    ``sheets`` draws the sample's sheets in other styles (see :func:`sample_data.district.sheets`).
    """
    sheet_list = district.sheets(sheets)
    if not os.environ.get("SOURCE_DATE_EPOCH"):
        os.environ["SOURCE_DATE_EPOCH"] = str(FIXED_EPOCH)
    say = progress or (lambda _msg: None)
    root = Path(out_dir)
    if (root / "district.json").exists() and not overwrite:
        raise OutputExistsError(f"a sample district is already in {root}", hint="pass --overwrite to replace it")
    say("parcel fabric")
    parcels = district.parcels(seed)
    houses = cad.buildings(parcels, seed)
    roads, water = district.roads(), district.waterways()
    admin = district.admin()
    manifest: dict = {
        "name": "sample district (synthetic)", "province": plan.PROVINCE, "district": plan.DISTRICT,
        "crs": plan.CRS_KEY, "seed": seed,
        "communes": [{"code": c.code, "name": c.name, "hamlets": list(c.hamlets)} for c in plan.COMMUNES],
        "sheets": [], "parcel_count": len(parcels),
    }
    with Outputs(overwrite=overwrite) as out:
        truth = root / "truth"
        admin_path = out.path(truth / "admin.gpkg")
        for layer, df in admin.items():
            to_vector(df, admin_path, layer)
        parcels_path = out.path(truth / "parcels.gpkg")
        to_vector(parcels, parcels_path, "parcels")
        to_vector(houses, parcels_path, "buildings")
        base = root / "base"
        to_vector(roads, out.path(base / "roads.gpkg"), "roads")
        to_vector(water, out.path(base / "water.gpkg"), "waterways")
        env = out.path(base / "environment.gpkg")
        to_vector(district.stations(), env, "stations")
        with _gdal_date():
            pyogrio.write_dataframe(district.readings(seed), env, layer="readings", driver="GPKG")
        to_vector(district.planning_zones(), out.path(base / "planning.gpkg"), "zones")
        manifest["truth"] = {"admin": "truth/admin.gpkg", "parcels": "truth/parcels.gpkg",
                             "layers": {"admin.gpkg": list(admin), "parcels.gpkg": ["parcels", "buildings"]}}
        manifest["base"] = {"roads": "base/roads.gpkg", "waterways": "base/water.gpkg",
                            "environment": "base/environment.gpkg", "planning": "base/planning.gpkg"}
        communes = {c.code: c for c in plan.COMMUNES}
        tasks = []
        for k, (sp, sheet) in enumerate(sheet_list):
            d = root / "sheets" / sp.slug
            paths = {name: out.path(d / name) for name in (_EXT[sp.image_format], "gcps.csv", "truth_warp.csv",
                                                          "truth.gpkg", "sheet.dgn", "sheet.dxf", "sheet.json")}
            tasks.append((k, sp, sheet, paths))
            files = {"gcps": "gcps.csv", "truth_warp": "truth_warp.csv", "truth": "truth.gpkg",
                     "dgn": "sheet.dgn", "dxf": "sheet.dxf"}
            manifest["sheets"].append({"number": sheet.number, "scale": sheet.scale, "local_no": sp.local_no,
                                       "commune": sp.commune, "commune_name": communes[sp.commune].name,
                                       "dpi": sp.dpi, "dir": _rel(d, root),
                                       "scan": _rel(d / _EXT[sp.image_format], root),
                                       **{key: _rel(d / name, root) for key, name in files.items()},
                                       "sheet_json": _rel(d / "sheet.json", root)})
        shared = (seed, parcels, houses, roads, water)
        if jobs > 1:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                for number in pool.map(_sheet, [(shared, t) for t in tasks]):
                    say(f"sheet {number}")
        else:
            for t in tasks:
                say(f"sheet {_sheet((shared, t))}")
        _write_json(manifest, out.path(root / "district.json"))
    return manifest


def _write_json(data: dict, path: Path) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m sample_data.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory, e.g. sample_data/district")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    parser.add_argument("--jobs", type=int, default=2, help="sheets drawn at a time")
    parser.add_argument("--unseen", action="store_true",
                        help="the sheets in the styles no one tuned for, from their own seed (plan.UNSEEN_SHEETS)")
    args = parser.parse_args(argv)
    seed = plan.UNSEEN_SEED if args.unseen and args.seed == DEFAULT_SEED else args.seed
    manifest = generate(args.out, seed=seed, overwrite=args.overwrite, jobs=args.jobs,
                        sheets=plan.UNSEEN_SHEETS if args.unseen else None,
                        progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"{manifest['parcel_count']} parcels on {len(manifest['sheets'])} sheets in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
