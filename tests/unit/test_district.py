"""run_sheet: the georeferenced scan is written beside the digitizing, from the georeference the parcels use."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import rasterio
from PIL import Image

from digitize.district import run_sheet
from digitize.georef import read_gcps
from digitize.raster import read_scan, warp_scan
from digitize.scan import digitize_scan
from gis.crs import resolve_crs
from gis.sheets import parse_sheet
from tests.gridsheet import Style, SyntheticSheet

SHEET = "361561-4-b"  # 1:1000
CRS = "vn2000:bac-giang"


@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    """A 1:1000 sheet of 4 x 4 parcels (no labels), skewed, at 100 dpi, with its grid nodes as control points."""
    drawn = SyntheticSheet(parse_sheet(SHEET, northing_hint=2_360_000),
                           Style(dpi=100, rotation_deg=0.8, warp_px=1.0, line_mm=0.25, parcels_mm=125.0, seed=4))
    folder = tmp_path_factory.mktemp("sheet")
    Image.fromarray(drawn.image).save(folder / "scan.png")
    paper, world = drawn.nodes()
    pix = drawn.to_pixel(paper)
    with open(folder / "gcps.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["pixel_x", "pixel_y", "map_x", "map_y"])
        w.writerows(np.column_stack([pix, world]).round(3).tolist())
    return folder / "scan.png", folder / "gcps.csv"


def test_the_georeference_is_handed_over_before_the_line_work(sheet):
    image, gcps = sheet
    events, seen = [], []
    result = digitize_scan(read_scan(image), read_gcps(gcps), crs=resolve_crs(CRS), sheet_no=SHEET,
                           progress=events.append, on_georeference=lambda g: (seen.append(g), events.append("hook")))
    assert seen == [result.georef]
    assert events[:3] == ["georeference", "hook", "vectorize"]


def test_the_written_scan_is_the_scan_warped_by_the_parcels_georeference(sheet, tmp_path):
    image, gcps = sheet
    out = tmp_path / "sheet.gpkg"
    summary = run_sheet(image, out, gcps=gcps, crs=CRS, sheet_no=SHEET)
    assert summary["parcels"] > 0
    result = digitize_scan(read_scan(image), read_gcps(gcps), crs=resolve_crs(CRS), sheet_no=SHEET)
    want, transform = warp_scan(read_scan(image), result.georef)
    with rasterio.open(tmp_path / "sheet.scan.tif") as src:
        assert src.transform.almost_equals(transform)
        np.testing.assert_array_equal(src.read(1), want)
    assert {p.name for p in tmp_path.iterdir()} == {"sheet.gpkg", "sheet.scan.tif", "sheet.residuals.csv",
                                                     "sheet.qa.html", "sheet.qa.png", "sheet.json"}
