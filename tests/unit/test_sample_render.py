"""render_sheet: a small sheet drawn with known damage, and its true model."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from gis.crs import resolve_crs
from gis.errors import InputError
from gis.sheets import parse_sheet
from sample_data.render import Damage, Style, render_sheet

SHEET = parse_sheet("361561-5-(6)", northing_hint=2_359_000)  # E 562250-562500, N 2359500-2359750


def _parcels() -> gpd.GeoDataFrame:
    e0, n0 = 562300.0, 2359600.0
    geoms = [box(e0 + 20 * i, n0 + 15 * j, e0 + 20 * (i + 1), n0 + 15 * (j + 1)) for j in range(2) for i in range(3)]
    return gpd.GeoDataFrame({"parcel_no": range(1, 7), "area_m2": [300.0] * 6, "land_use": ["ONT"] * 6},
                            geometry=geoms, crs=resolve_crs("vn2000:bac-giang"))


@pytest.fixture(scope="module")
def damaged():
    damage = Damage(rotation_deg=1.2, shrink_x=0.006, shrink_y=0.003, offset_px=(5.0, -3.0),
                    warp=((0, 2.0, 0.7, 0.4, 0.3), (1, 1.5, 0.5, 0.9, 1.1)), noise=2.0, gradient=10.0,
                    fold_shadow=20.0, stains=((0.3, 0.4, 30.0, 20.0, 30.0),))
    return render_sheet(_parcels(), SHEET, dpi=100, style=Style(colour=True), damage=damage, seed=1)


def test_outputs_shapes(damaged):
    image, gcps, model = damaged
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert (image.shape[1], image.shape[0]) == model.image_size
    assert list(gcps.columns) == ["pixel_x", "pixel_y", "map_x", "map_y"]
    assert len(gcps) == 36  # 6 x 6 grid nodes every 10 cm of paper, frame included


def test_true_model_round_trip_and_gcp_noise(damaged):
    _, gcps, model = damaged
    u, v = model.map_to_pixel(gcps.map_x, gcps.map_y)
    e, n = model.pixel_to_map(u, v)
    assert np.abs(e - gcps.map_x).max() < 1e-6 and np.abs(n - gcps.map_y).max() < 1e-6
    err = np.hypot(u - gcps.pixel_x, v - gcps.pixel_y)
    assert 0.1 < err.mean() < 1.5
    # the damage is real: a plain similarity does not explain the points to a pixel
    ideal_x, ideal_y = model.map_to_paper(gcps.map_x, gcps.map_y)
    a = np.column_stack([ideal_x, ideal_y, np.ones(len(gcps))])
    sol, *_ = np.linalg.lstsq(a, np.column_stack([u, v]), rcond=None)
    resid = np.hypot(*(a @ sol - np.column_stack([u, v])).T)
    assert resid.max() > 0.5


def test_ink_lands_where_the_model_says(damaged):
    image, _, model = damaged
    grey = image.mean(axis=2)
    # a parcel corner shared by four lines, and a point in the middle of a parcel
    u, v = model.map_to_pixel(562320.0, 2359615.0)
    r, c = round(float(v)), round(float(u))
    assert grey[r - 1:r + 2, c - 1:c + 2].min() < 130  # within a pixel of the true position
    u, v = model.map_to_pixel(562345.0, 2359622.0)
    assert grey[round(float(v)), round(float(u))] > 170


def test_perfect_scan_is_the_plain_page():
    image, _gcps, model = render_sheet(_parcels(), SHEET, dpi=60, seed=0)
    assert image.ndim == 2
    u, v = model.map_to_pixel(SHEET.extent[0], SHEET.extent[3])
    x, y = model.map_to_paper(SHEET.extent[0], SHEET.extent[3])
    pad = (model.image_size[0] - model.page_size[0]) / 2
    # paper positions are array indices (a pixel's centre at its index), scan positions GDAL's (centre at +0.5)
    assert abs(float(u) - float(x) - pad - 0.5) < 1e-6 and abs(float(v) - float(y) - pad - 0.5) < 1e-6


def test_bad_arguments_are_input_errors():
    with pytest.raises(InputError):
        render_sheet(_parcels().drop(columns=["area_m2"]), SHEET, dpi=60)
    with pytest.raises(InputError):
        render_sheet(_parcels(), SHEET, dpi=60, style=Style(label_layout="sideways"))


@pytest.mark.parametrize("dpi", [150, 200, 400])  # line widths of 1, 2 and 3 pixels
def test_lines_are_centred_where_the_model_says_in_gdal_pixels(dpi):
    """The ink of a parcel edge is centred, in GDAL's pixel coordinates (a pixel's centre
    at +0.5), where the model puts the edge: the digitizers are scored against it."""
    image, _, model = render_sheet(_parcels(), SHEET, dpi=dpi, seed=0)
    errors = []
    for e in (562300.0, 562320.0, 562340.0, 562360.0):  # vertical edges, between the labels
        for n in (2359601.5, 2359613.5, 2359616.5, 2359628.5):
            u, v = model.map_to_pixel(e, n)
            c = np.arange(int(u) - 4, int(u) + 5)
            ink = 255.0 - image[int(v), c].astype(float)
            errors.append(float((ink * (c + 0.5)).sum() / ink.sum()) - float(u))
    for n in (2359600.0, 2359615.0, 2359630.0):  # horizontal edges
        for e in (562302.5, 562317.5, 562342.5):
            u, v = model.map_to_pixel(e, n)
            r = np.arange(int(v) - 4, int(v) + 5)
            ink = 255.0 - image[r, int(u)].astype(float)
            errors.append(float((ink * (r + 0.5)).sum() / ink.sum()) - float(v))
    assert max(abs(x) for x in errors) < 0.25
