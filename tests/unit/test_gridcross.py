"""digitize.gridcross: control points found on the scan, against hand picks and the true warp."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pyproj import CRS

from digitize.georef import NORM_MM, ControlPoints, fit_georeference, read_gcps
from digitize.gridcross import (
    find_control_points,
    find_frame,
    place_sheet,
    refine_control_points,
)
from digitize.metrics import georef_error
from digitize.raster import ink_channel, read_scan
from gis.crs import resolve_crs
from gis.errors import GeoreferenceError, InputError
from gis.sheets import parse_sheet
from tests.conftest import SAMPLE
from tests.gridsheet import Style, SyntheticSheet

SHEETS = sorted(p.name for p in (SAMPLE / "sheets").iterdir() if (p / "sheet.json").exists())


@pytest.fixture(scope="module")
def found() -> dict:
    """Each sample sheet: its metadata, the auto points, the hand points and the true warp."""
    out = {}
    for name in SHEETS:
        d = SAMPLE / "sheets" / name
        meta = json.loads((d / "sheet.json").read_text(encoding="utf-8"))
        sheet = parse_sheet(meta["number"], northing_hint=2_360_000)
        auto = find_control_points(ink_channel(read_scan(d / meta["image"])), sheet)
        out[name] = (meta, sheet, auto, read_gcps(d / "gcps.csv"), pd.read_csv(d / "truth_warp.csv"))
    return out


def _key(world: np.ndarray) -> list[tuple[float, float]]:
    return [tuple(w) for w in np.round(world, 3)]


@pytest.mark.parametrize("name", SHEETS)
def test_auto_points_are_the_hand_picked_nodes_where_they_are(found, name):
    _, _, auto, hand, warp = found[name]
    hand_at = dict(zip(_key(hand.world), hand.pixel))
    true_at = {(round(r.map_x, 3), round(r.map_y, 3)): (r.pixel_x, r.pixel_y) for r in warp.itertuples()}
    keys = _key(auto.world)
    assert set(keys) <= set(hand_at)  # only frame corners, frame ticks and grid crosses
    assert len(auto) >= 31  # of 36: measured 31-36 (4-b: two crosses lie on a boundary line parallel to an arm)
    assert auto.ids[0].startswith("E") and " N" in auto.ids[0]
    to_hand = np.hypot(*(auto.pixel - np.array([hand_at[k] for k in keys])).T)
    to_true = np.hypot(*(auto.pixel - np.array([true_at[k] for k in keys])).T)
    # hand picks carry ~0.5 px of noise; measured: mean 0.5-0.8 px from the truth, max 1.31 px
    assert to_true.mean() < 1.0 and to_true.max() < 1.6
    assert to_hand.max() < 2.5


@pytest.mark.parametrize("name", SHEETS)
def test_georeference_from_auto_points_meets_the_norm_against_the_true_warp(found, name):
    _, sheet, auto, hand, warp = found[name]
    e0, n0, e1, n1 = sheet.extent
    inside = warp[warp.map_x.between(e0, e1) & warp.map_y.between(n0, n1)]
    pix = inside[["pixel_x", "pixel_y"]].to_numpy(float)
    world = inside[["map_x", "map_y"]].to_numpy(float)

    def err(points) -> float:
        g = fit_georeference(points, scale=sheet.scale)
        return georef_error(g.to_map, lambda p: world, pix)["rms_m"] / sheet.scale * 1000.0  # mm at scale

    a, h = err(auto), err(hand)
    # measured: auto 0.064-0.089 mm, hand 0.046-0.082 mm
    assert a <= NORM_MM and a <= 1.6 * h, (a, h)


@pytest.mark.parametrize("name", SHEETS)
def test_hand_points_measured_on_their_crosses_lose_the_picking_noise(found, name):
    meta, sheet, _, hand, warp = found[name]
    d = SAMPLE / "sheets" / name
    refined = refine_control_points(ink_channel(read_scan(d / meta["image"])), hand, sheet)
    true_at = {(round(r.map_x, 3), round(r.map_y, 3)): (r.pixel_x, r.pixel_y) for r in warp.itertuples()}
    truth = np.array([true_at[k] for k in _key(hand.world)])
    before, after = np.hypot(*(hand.pixel - truth).T), np.hypot(*(refined.pixel - truth).T)
    # measured: 0.58-0.76 px from the truth as picked, 0.06-0.21 px as measured (a few stay as picked)
    assert after.mean() < 0.4 * before.mean() and after.mean() < 0.3
    e0, n0, e1, n1 = sheet.extent
    inside = warp[warp.map_x.between(e0, e1) & warp.map_y.between(n0, n1)]
    pix, world = inside[["pixel_x", "pixel_y"]].to_numpy(float), inside[["map_x", "map_y"]].to_numpy(float)
    g = fit_georeference(refined, scale=sheet.scale)
    err = georef_error(g.to_map, lambda p: world, pix)["rms_m"]
    err_hand = georef_error(fit_georeference(hand, scale=sheet.scale).to_map, lambda p: world, pix)["rms_m"]
    assert err < 0.6 * err_hand  # measured: 0.27-0.64 of it
    moved = np.array([r.moved_px for r in g.residuals])  # the residual table says how far each point moved
    assert np.allclose(moved, np.hypot(*(refined.pixel - hand.pixel).T), atol=1e-3) and (moved > 0).sum() >= 30


def test_points_off_the_grid_stay_where_they_were_picked():
    sheet = parse_sheet("361561-4-b", northing_hint=2_360_000)
    drawn = SyntheticSheet(sheet, Style(dpi=200, rotation_deg=1.5, warp_px=2.0, tick_mm=3.0, parcels_mm=37.0))
    paper, world = drawn.nodes()
    rng = np.random.default_rng(4)
    picked = drawn.to_pixel(paper) + rng.normal(0, 0.5, (len(paper), 2))
    odd = np.array([[123.0, 234.0]])  # a point that is no node: a house corner, say
    pts = ControlPoints(np.vstack([picked, drawn.to_pixel(odd)]),
                        np.vstack([world, world[:1] + odd * [1, -1] * sheet.scale / 1000.0]))
    refined = refine_control_points(drawn.image, pts, sheet)
    assert np.array_equal(refined.pixel[-1], pts.pixel[-1])
    err = np.hypot(*(refined.pixel[:-1] - drawn.to_pixel(paper)).T)
    assert np.median(err) < 0.15 and err.max() < 0.8  # measured: median 0.05 px


def test_frame_size_gives_the_resolution(found):
    for meta, sheet, auto, _, _ in found.values():
        wmm = (sheet.extent[2] - sheet.extent[0]) / sheet.scale * 1000.0
        span = np.ptp(auto.pixel[:, 0])  # close to the frame's width in pixels (skew is small)
        assert span / wmm == pytest.approx(meta["dpi"] / 25.4, rel=0.03)


STYLES = {
    # thick lines, small crosses, no frame ticks, 150 dpi, skewed the other way
    "plain": ("361561-4-b", Style(dpi=150, rotation_deg=-2.5, line_mm=0.3, arm_mm=3.0, tick_mm=0.0)),
    # 300 dpi hairlines, long crosses, an outer frame, a regular parcel grid that mimics crosses,
    # random boundaries, a stain, shrink and a smooth warp
    "busy": ("361561-5-(6)", Style(dpi=300, rotation_deg=4.0, shrink=(0.01, 0.004), warp_px=6.0, line_mm=0.1,
                                   arm_mm=6.0, tick_mm=2.0, outer_frame_mm=8.0, parcels_mm=37.0, clutter=40,
                                   stain=True, seed=3)),
    # a 1:5000 sheet (60 cm frame, 7 x 7 nodes) at 120 dpi, thick neat line and a wide outer frame
    "k5000": ("361560", Style(dpi=120, rotation_deg=1.0, line_mm=0.2, frame_mm=0.5, arm_mm=4.0, tick_mm=2.5,
                              outer_frame_mm=15.0, clutter=20, seed=1)),
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_other_drawing_styles_are_measured_to_a_fraction_of_a_pixel(style):
    number, st = STYLES[style]
    sheet = parse_sheet(number, northing_hint=2_360_000)
    drawn = SyntheticSheet(sheet, st)
    paper, world = drawn.nodes()
    true_at = dict(zip(_key(world), drawn.to_pixel(paper)))
    auto = find_control_points(drawn.image, sheet)
    err = np.hypot(*(auto.pixel - np.array([true_at[k] for k in _key(auto.world)])).T)
    assert err.max() < 0.3, err.max()  # measured: max 0.09-0.15 px
    interior_and_corners = (len(paper) - 4 * (round(np.sqrt(len(paper))) - 2))
    expected = interior_and_corners if st.tick_mm == 0 else len(paper) - 1
    assert len(auto) >= expected  # without ticks, the edge nodes cannot be measured


def test_a_known_dpi_rules_out_a_frame_of_the_wrong_size():
    sheet = parse_sheet("361561-4-b", northing_hint=2_360_000)
    drawn = SyntheticSheet(sheet, Style(dpi=150, outer_frame_mm=12.0, tick_mm=3.0))
    frame = find_frame(drawn.image, sheet, dpi_hint=150)
    truth = drawn.to_pixel(np.array([[0, 0], [500, 0], [500, 500], [0, 500]], float))
    assert np.abs(frame.corners - truth).max() < 0.75 * 150 / 25.4  # coarse: 0.75 mm (the outer frame is 12 mm out)
    assert frame.px_per_mm == pytest.approx(150 / 25.4, rel=0.01)
    with pytest.raises(GeoreferenceError, match="no frame"):
        find_frame(drawn.image, sheet, dpi_hint=300)  # nothing of that size on the scan


def test_blank_paper_has_no_frame():
    sheet = parse_sheet("361561-4-b", northing_hint=2_360_000)
    paper = np.full((2000, 2000), 235, np.uint8) + np.random.default_rng(0).integers(0, 6, (2000, 2000), np.uint8)
    with pytest.raises(GeoreferenceError) as exc:
        find_control_points(paper, sheet)
    assert "--gcps" in exc.value.hint


def test_a_scan_without_a_frame_fails_clearly():
    sheet = parse_sheet("361561-4-b", northing_hint=2_360_000)
    drawn = SyntheticSheet(sheet, Style(dpi=120, clutter=60, seed=5))
    img = drawn.image.copy()
    frame = drawn.to_pixel(np.array([[0, 0], [500, 500]], float)).astype(int)
    # keep only the middle of the sheet: no neat line, few crosses
    inner = img[frame[0, 1] + 300:frame[1, 1] - 300, frame[0, 0] + 300:frame[1, 0] - 300].copy()
    with pytest.raises(GeoreferenceError) as exc:
        find_control_points(inner, sheet)
    assert "frame" in str(exc.value) or "found" in str(exc.value)
    assert "--gcps" in exc.value.hint


def test_a_frame_without_grid_crosses_gives_too_few_points():
    sheet = parse_sheet("361561-4-b", northing_hint=2_360_000)
    drawn = SyntheticSheet(sheet, Style(dpi=120, arm_mm=0.0, tick_mm=0.0, parcels_mm=125.0))
    with pytest.raises(GeoreferenceError, match="only 4 of the sheet's 36") as exc:
        find_control_points(drawn.image, sheet)
    assert "--gcps" in exc.value.hint


def test_colour_images_are_refused_with_a_hint():
    with pytest.raises(InputError, match="single-channel"):
        find_control_points(np.zeros((300, 300, 3), np.uint8), parse_sheet("361561-4-b", northing_hint=2.36e6))


def test_place_sheet_from_the_zone_or_the_province():
    bac_giang = resolve_crs("vn2000:bac-giang")
    assert place_sheet("361561-4-b", bac_giang).extent == (561500.0, 2359500.0, 562000.0, 2360000.0)
    assert place_sheet("361561-5-(6)", bac_giang) == parse_sheet("361561-5-(6)", northing_hint=2.36e6)
    # on 105-00 both 1 100 km (Mekong delta) and 2 100 km could hold provinces: ambiguous
    zone = resolve_crs("vn2000:tm3:105")
    with pytest.raises(InputError, match="could lie at"):
        place_sheet("100580-1", zone)
    assert place_sheet("100580-1", zone, province="Cà Mau").extent[3] == 1_100_000.0
    with pytest.raises(InputError, match="not a VN-2000 TM-3 zone"):
        place_sheet("361561-4-b", CRS.from_epsg(4326))
