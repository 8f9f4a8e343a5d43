"""Vectorizing line-work: stained paper, faded and broken lines, text, crosses -> shared boundaries."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from PIL import Image, ImageDraw, ImageFont
from shapely.geometry import box

from digitize.vectorize import close_gaps, darkness, ink_mask, split_linework, vectorize
from gis.errors import DigitizeError

PPMM = 200 / 25.4  # 200 dpi
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _sheet(broken: bool = True, faded: bool = True, stain: bool = True):
    """A 3 x 3 block of 25 mm cells at 200 dpi, with the damage a real sheet has."""
    cell = int(25 * PPMM)
    x0 = y0 = 60
    size = x0 * 2 + 3 * cell
    img = Image.new("L", (size, size), 235)
    d = ImageDraw.Draw(img)
    lw = 2
    for i in range(4):
        v = x0 + i * cell
        fill = 150 if (faded and i == 1) else 35
        d.line([(v, y0), (v, y0 + 3 * cell)], fill=fill, width=lw)
        d.line([(x0, v), (x0 + 3 * cell, v)], fill=35, width=lw)
    if broken:  # a 1.5 mm gap in an inner line
        g = int(1.5 * PPMM)
        d.rectangle([x0 + 2 * cell - 3, y0 + cell // 2, x0 + 2 * cell + 3, y0 + cell // 2 + g], fill=235)
    font = ImageFont.truetype(FONT, int(2 * 1.45 * PPMM))
    for r in range(3):
        for c in range(3):
            cx, cy = x0 + c * cell + cell / 2, y0 + r * cell + cell / 2
            d.text((cx, cy - 3), f"{r * 3 + c + 1}", font=font, fill=30, anchor="ms")  # as drawn on sheets:
            d.line([(cx - 20, cy), (cx + 20, cy)], fill=30, width=1)  # number over area, 0.4 mm apart
            d.text((cx, cy + 4), "312.5", font=font, fill=30, anchor="mt")
    arm = int(3 * PPMM)  # a grid cross in a cell, its arms 3 mm from the lines
    gx, gy = x0 + cell + cell // 4, y0 + 2 * cell + cell // 4
    d.line([(gx - arm, gy), (gx + arm, gy)], fill=35, width=lw)
    d.line([(gx, gy - arm), (gx, gy + arm)], fill=35, width=lw)
    a = np.asarray(img, dtype=np.float32)
    if stain:
        yy, xx = np.mgrid[0:size, 0:size]
        a -= 70 * np.exp(-((xx - size * 0.3) ** 2 + (yy - size * 0.6) ** 2) / (2 * (size * 0.15) ** 2))
        a -= 25 * xx / size
    a += np.random.default_rng(0).normal(0, 3, a.shape)
    cells = [box(x0 + c * cell, y0 + r * cell, x0 + (c + 1) * cell, y0 + (r + 1) * cell)
             for r in range(3) for c in range(3)]
    return np.clip(a, 0, 255).astype(np.uint8), cells


def _matches(regions, cells):
    got = []
    for c in cells:
        best = max(regions.geometry, key=lambda g: g.intersection(c).area)
        got.append(best.intersection(c).area / best.union(c).area)
    return np.array(got)


def test_cells_come_back_through_damage():
    img, cells = _sheet()
    v = vectorize(img, px_per_mm=PPMM)
    iou = _matches(v.regions, cells)
    assert (iou > 0.95).all(), iou
    inner = v.regions[v.regions.geometry.apply(lambda g: any(g.intersection(c).area > 0.5 * g.area for c in cells))]
    assert len(inner) == 9


def test_neighbours_share_their_boundary_exactly():
    img, _ = _sheet()
    v = vectorize(img, px_per_mm=PPMM)
    geoms = np.asarray(v.regions.geometry.values)
    total = shapely.union_all(geoms)
    assert total.area == pytest.approx(sum(g.area for g in geoms), rel=1e-9)  # no overlaps
    assert shapely.get_num_interior_rings(total) == 0
    assert total.area == pytest.approx(img.shape[0] * img.shape[1], rel=1e-9)  # no gaps


def test_without_gap_closing_the_broken_line_merges_two_cells():
    img, _ = _sheet(faded=False, stain=False)
    ink = ink_mask(darkness(img, px_per_mm=PPMM))
    lines, _ = split_linework(ink, px_per_mm=PPMM)
    from digitize.vectorize import partition

    open_ = partition(lines, min_area_px=int(4 * PPMM**2))
    closed = partition(close_gaps(lines, px_per_mm=PPMM), min_area_px=int(4 * PPMM**2))
    assert closed.max() == open_.max() + 1


def test_faded_line_survives_but_stain_is_not_ink():
    img, cells = _sheet(broken=False)
    ink = ink_mask(darkness(img, px_per_mm=PPMM))
    cell = int(25 * PPMM)
    assert ink[60 + cell // 2, 60 + cell - 1:60 + cell + 2].any()  # the faded vertical line
    stain_spot = (int(img.shape[0] * 0.6) + 15, int(img.shape[1] * 0.3) + 15)
    assert not ink[stain_spot[0] - 3:stain_spot[0] + 3, stain_spot[1] - 3:stain_spot[1] + 3].any()


def test_text_and_line_work_are_told_apart():
    img, _ = _sheet()
    ink = ink_mask(darkness(img, px_per_mm=PPMM))
    lines, text = split_linework(ink, px_per_mm=PPMM)
    cell = int(25 * PPMM)
    cx, cy = 60 + cell // 2, 60 + cell // 2
    assert text[cy - 20:cy, cx - 10:cx + 10].any() and not lines[cy - 20:cy - 6, cx - 10:cx + 10].any()
    assert lines[60, 100:200].all()


def test_a_blank_page_is_refused():
    with pytest.raises(DigitizeError, match="no line-work"):
        vectorize(np.full((400, 400), 230, np.uint8), px_per_mm=PPMM)
