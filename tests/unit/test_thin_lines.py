"""A sheet drawn with thin lines (0.15 mm at 200 dpi: strokes of 2 px) keeps its labels out of the line-work.

Its lines need the loose pooling of :func:`digitize.vectorize.split_linework` to stay whole,
and that pooling fattens the glyphs of a label that touches a line into it.
"""

from __future__ import annotations


import cv2
import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from digitize.vectorize import split_linework, vectorize
from gis.crs import resolve_crs
from gis.sheets import parse_sheet
from sample_data.render import Damage, Style, render_sheet

SHEET = parse_sheet("361561-8", northing_hint=2.36e6)
#: the damage of an archive sheet (rotation, shrinkage, warp, yellowing, stains, noise, faded and broken lines)
DAMAGE = Damage(rotation_deg=0.669, shrink_x=0.0056, shrink_y=0.0055, offset_px=(4.98, -9.67),
                warp=((0, 1.32, 0.74, 1.04, 4.62), (1, 1.58, 1.28, 1.38, 2.56)), yellowing=0.74, gradient=10.4,
                fold_shadow=18.5, fold_at=0.515, stains=((0.15, 0.59, 105.0, 289.0, 37.7),), noise=2.54,
                faded=0.049, broken=0.034)


@pytest.fixture(scope="module")
def scan():
    """A 1:2000 sheet at 200 dpi in thin lines: a block of 80 small labelled parcels (6.5 x 5.5 mm on
    paper, their labels crowding their sides) among large unlabelled ones over the whole sheet."""
    x0, y0 = SHEET.extent[0] + 300, SHEET.extent[1] + 300
    codes = ["ONT", "BHK", "CLN", "LUC"]
    rows = []
    for j in range(8):
        for i in range(10):
            g = box(x0 + 13 * i, y0 + 11 * j, x0 + 13 * (i + 1), y0 + 11 * (j + 1))
            rows.append({"parcel_no": 100 + 10 * j + i, "area_m2": round(g.area, 1), "land_use": codes[(i + j) % 4],
                         "sheet_no": SHEET.number, "geometry": g})
    block = box(x0, y0, x0 + 130, y0 + 88)
    for i in range(25):
        for j in range(25):
            g = box(SHEET.extent[0] + 40 * i, SHEET.extent[1] + 40 * j,
                    SHEET.extent[0] + 40 * (i + 1), SHEET.extent[1] + 40 * (j + 1))
            if not g.intersects(block):  # drawn, not labelled: parcels of the next sheet
                rows.append({"parcel_no": 1, "area_m2": 1600.0, "land_use": "LUC", "sheet_no": "x", "geometry": g})
    parcels = gpd.GeoDataFrame(rows, crs=resolve_crs("vn2000:bac-giang"))
    style = Style(font="dejavu/DejaVuSerifCondensed.ttf", line_mm=0.15)
    image, _, model = render_sheet(parcels, SHEET, dpi=200, style=style, damage=DAMAGE, seed=3)
    return image, model, parcels[parcels["sheet_no"] == SHEET.number]


def test_labels_touching_thin_lines_stay_text_and_the_lines_stay_whole(scan):
    image, model, mine = scan
    v = vectorize(image, px_per_mm=200 / 25.4)
    edges = shapely.union_all(shapely.boundary(mine.geometry.values)).segmentize(0.2)
    xy = shapely.get_coordinates(edges)
    px, py = model.paper_to_pixel(*model.map_to_paper(xy[:, 0], xy[:, 1]))
    on_edge = np.zeros(v.lines.shape, np.uint8)
    on_edge[py.round().astype(int), px.round().astype(int)] = 1
    on_edge = cv2.dilate(on_edge, np.ones((9, 9), np.uint8)).astype(bool)
    inside = np.zeros_like(on_edge)
    inside[int(py.min()):int(py.max()), int(px.min()):int(px.max())] = True
    taken = int((v.lines & inside & ~on_edge).sum())  # line-work away from every boundary: labels' ink
    text = int((v.text & inside).sum())
    assert taken < 0.1 * (taken + text)  # (the loose pooling alone took 10144 of 28684 pixels)
    pts = shapely.get_coordinates(mine.geometry.representative_point())
    cx, cy = model.paper_to_pixel(*model.map_to_paper(pts[:, 0], pts[:, 1]))
    regions = set(v.labels[cy.round().astype(int), cx.round().astype(int)].tolist()) - {0}
    assert len(regions) >= 76  # of 80: the thin lines divide them


def test_faded_thin_lines_meeting_at_a_junction_stay_line_work():
    """Two faded thin lines (half their pixels left) that meet at a junction are one piece of the
    loose pooling's runs, not thin as a whole: they are taken one direction at a time."""
    ppm = 200 / 25.4
    ink = np.zeros((400, 400), np.uint8)
    ink[20:22, 20:382] = ink[378:380, 20:382] = 1  # the sheet's 2 px lines around them
    ink[20:380, 20:22] = ink[20:380, 378:380] = 1
    net = np.zeros_like(ink)
    cv2.line(net, (22, 240), (197, 170), 1, 2)
    cv2.line(net, (180, 22), (220, 378), 1, 2)
    yy, xx = np.mgrid[:400, :400]
    net[(xx + yy) % 2 == 0] = 0
    ink |= net
    lines, _ = split_linework(ink.astype(bool), px_per_mm=ppm)
    assert (lines & net.astype(bool)).sum() >= 0.9 * net.sum()  # (before: 1 %)


def test_faded_thin_lines_broken_at_their_junctions_join_the_line_work_but_bars_do_not():
    """A faded thin line whose half-resolution pixels drift a column just short of the line it meets
    loses its last pixels there from the runs: two such lines, meeting each other at a corner, are
    one piece under the minimum length, joined to the frame across their own ink.  A fraction bar
    ending just short of a line, across paper, stays other ink."""
    ppm = 200 / 25.4
    ink = np.zeros((400, 400), np.uint8)
    ink[20:22, 20:380] = ink[378:380, 20:380] = 1  # the frame: 2 px lines
    ink[20:380, 20:22] = ink[20:380, 378:380] = 1
    net = np.zeros_like(ink)
    for k in range(22, 152):  # 8 half-resolution pixels from the frame, each line drifts a column
        net[k, (150 if k < 38 else 148) + np.arange(2)] = 1  # down from the top of the frame
        net[(150 if k < 38 else 148) + np.arange(2), k] = 1  # right from its left side, to the corner
    bars = np.zeros_like(ink)
    bars[260:262, 300:374] = 1  # 4 px short of the frame's right side
    bars[300:302, 26:90] = 1  # 4 px off its left side
    ink |= net | bars
    lines, _ = split_linework(ink.astype(bool), px_per_mm=ppm)
    assert (lines & net.astype(bool)).sum() == net.sum()  # (before: 4 of 516 pixels)
    assert not (lines & bars.astype(bool)).any()
