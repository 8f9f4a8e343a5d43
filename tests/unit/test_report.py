"""The QA report's pictures: the overview and the thumbnails, drawn over the scan where the parcels are."""

from __future__ import annotations

import base64
import re

import cv2
import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from digitize.report import (
    _Canvas,
    _rings_by_geom,
    _ticks,
    render_overview,
    write_qa_report,
)
from gis.crs import resolve_crs
from gis.topology import Finding

CRS = resolve_crs("vn2000:bac-giang")
X0, Y1 = 561500.0, 2360000.0
RES = 0.1  # m a scan pixel


def _png(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _parcels() -> gpd.GeoDataFrame:
    """A 3 x 2 grid of 30 m lots; the middle one of the top row flagged."""
    geoms = [box(X0 + 30 * i, Y1 - 30 * (j + 1), X0 + 30 * (i + 1), Y1 - 30 * j) for j in range(2) for i in range(3)]
    return gpd.GeoDataFrame({"parcel_no": [1, 2, 3, 4, 5, 6], "confidence": [0.9] * 6,
                             "qa_flags": ["", "overlap", "", "", "", ""]}, geometry=geoms, crs=CRS)


def _scan():
    """A paper-coloured scan of the lots, 0.1 m a pixel, with a dark vertical stroke at x = X0 + 45 m; its map -> pixel."""
    arr = np.full((700, 1000, 3), (236, 229, 210), np.uint8)
    arr[:, 500] = 20
    inv = ~Affine(RES, 0, X0 - 5, 0, -RES, Y1 + 5)
    return arr, lambda xy: np.column_stack(inv * (xy[:, 0], xy[:, 1]))


def test_ticks_are_round_values_inside_the_range():
    np.testing.assert_array_equal(_ticks(561500, 562000), np.arange(561500, 562001, 100))
    np.testing.assert_array_equal(_ticks(2359512.3, 2359987.1), np.arange(2359600, 2359901, 100))
    t = _ticks(0.0, 7.3)
    assert len(t) <= 8 and t[0] == 0 and np.allclose(np.diff(t), 1.0)
    assert list(_ticks(10.0, 35.0)) == [10.0, 15.0, 20.0, 25.0, 30.0, 35.0]


def test_rings_of_every_kind_of_geometry():
    holed = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(2, 2), (4, 2), (4, 4), (2, 4)]])
    multi = MultiPolygon([box(20, 0, 21, 1), box(30, 0, 31, 1)])
    rings = _rings_by_geom([holed, None, multi, LineString([(0, 0), (5, 5)]), Point(3, 4), Polygon()])
    assert [len(r) for r in rings] == [2, 0, 2, 1, 1, 0]
    np.testing.assert_array_equal(rings[0][0], np.asarray(holed.exterior.coords))
    np.testing.assert_array_equal(rings[0][1], np.asarray(holed.interiors[0].coords))
    np.testing.assert_array_equal(rings[2][1], np.asarray(multi.geoms[1].exterior.coords))
    np.testing.assert_array_equal(rings[4][0], [[3.0, 4.0]])


@pytest.mark.parametrize("k", [0.7, 2.5, 7.3])  # picture pixels a metre: from the scan reduced 8x, 2x, itself
def test_the_scan_and_the_outlines_lie_where_their_map_coordinates_are(k):
    bounds = (X0 + 41.37, Y1 - 10.03 - 60 / k, X0 + 41.37 + 60 / k, Y1 - 10.03)  # off the scan's pixel grid
    want = (X0 + 45.05 - bounds[0]) * k - 0.5  # the stroke's centre (45.0-45.1 m) in picture pixels (centres at i)
    c = _Canvas(bounds, k, (60, 60))
    c.background(_scan())
    ink = np.clip(236.0 - c.img[30, :, 0], 0, None)  # darker than the paper (white beyond the scan is not)
    # within half a pixel: a reduced scan puts the stroke at the middle of its block (measured: 0.04-0.37 px)
    assert abs((ink * np.arange(60)).sum() / ink.sum() - want) <= 0.5
    c = _Canvas(bounds, k, (60, 60))
    c.lines([np.array([[X0 + 45.05, Y1 - 100], [X0 + 45.05, Y1]])], (0, 0, 255), 1)
    blue = 255.0 - c.img[30, :, 0]
    assert abs((blue * np.arange(60)).sum() / blue.sum() - want) <= 0.1


def test_overview_shows_the_scan_the_outlines_and_the_flagged_parcel():
    parcels = _parcels()
    png = render_overview(parcels, background=_scan(), title="Tờ 361561-4-b — scan.jpg", max_px=900)
    img = _png(png)
    assert img.shape[1] == 900 and 500 < img.shape[0] < 700  # 90 x 60 m: 3 to 2, plus title and axes
    red = (img[..., 0] > 180) & (img[..., 1] < 190) & (img[..., 2] < 190) & (img[..., 0] - img[..., 2] > 40)
    ys, xs = np.nonzero(red)
    # the flagged lot is the middle of the top row: the reddish fill spans its third of the map, and no more
    assert xs.size > 10_000
    span = np.percentile(xs, [1, 99])
    blue = (img[..., 2] > 150) & (img[..., 0] < 90)
    bx = np.nonzero(blue.any(axis=0))[0]
    left, right = bx.min(), bx.max()  # the outer outlines
    third = (right - left) / 3
    assert abs(span[0] - (left + third)) < 6 and abs(span[1] - (left + 2 * third)) < 6
    assert ys.max() < img.shape[0] / 2 + 20
    paper = np.all(np.abs(img.astype(int) - [236, 229, 210]) <= 3, axis=2)
    assert paper.mean() > 0.3  # the scan is under the parcels
    numbers = (img[..., 2] > 120) & (img[..., 0] < 40) & (img[..., 1] < 110)  # the parcel numbers' dark blue
    assert numbers.sum() > 50


def test_report_has_the_overview_and_a_thumbnail_of_each_item(tmp_path):
    parcels = _parcels()
    findings = [Finding("overlap", "error", "thửa 2 chồng đè", parcels.geometry.iloc[1], (1,)),
                Finding("dangle", "warning", "đường treo", Point(X0 + 45, Y1 - 45))]
    out, pic = tmp_path / "qa.html", tmp_path / "qa.png"
    write_qa_report(out, parcels, findings, title="x", background=_scan(), picture_path=pic)
    text = out.read_text(encoding="utf-8")
    images = re.findall(r'<img class="(\w+)" alt="[^"]*" src="data:image/png;base64,([^"]+)"', text)
    assert [c for c, _ in images] == ["overview", "thumb", "thumb"]
    assert base64.b64decode(images[0][1]) == pic.read_bytes()
    for _, data in images[1:]:
        thumb = _png(base64.b64decode(data))
        assert thumb.shape == (192, 192, 3)
        assert ((thumb[..., 0] > 200) & (thumb[..., 1] < 90)).sum() > 60  # the item in red
        assert (np.abs(thumb.astype(int) - [236, 229, 210]).max(axis=2) <= 3).mean() > 0.3  # over the scan


def test_parcels_cut_by_the_frame_are_outlined_orange_and_listed_for_edge_matching(tmp_path):
    parcels = _parcels()
    parcels.loc[3, "qa_flags"] = "cut_by_sheet_edge"
    findings = [Finding("overlap", "error", "thửa 2 chồng đè", parcels.geometry.iloc[1], (1,)),
                Finding("cut_by_sheet_edge", "warning", "feature 3 runs along the sheet edge",
                        parcels.geometry.iloc[3], (3,))]
    out, pic = tmp_path / "qa.html", tmp_path / "qa.png"
    write_qa_report(out, parcels, findings, title="x", background=_scan(), picture_path=pic)
    text = out.read_text(encoding="utf-8")
    assert len(re.findall(r'<img class="thumb"', text)) == 1  # only the overlap is an item
    assert "edge-match them with the neighbouring sheets</span> (1)" in text and "thửa số 4 (#3)" in text
    img = _png(pic.read_bytes())
    orange = (img[..., 0] > 200) & (img[..., 1] > 80) & (img[..., 1] < 140) & (img[..., 2] < 60)
    assert orange.sum() > 300  # the outline of lot 4
    near_orange = cv2.dilate(orange.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    filled = (img[..., 0] > 180) & (img[..., 1] < 190) & (img[..., 0] - img[..., 2] > 40) & ~near_orange
    ys, _ = np.nonzero(filled)
    assert ys.max() < img.shape[0] / 2 + 20  # only the flagged lot of the top row is filled
