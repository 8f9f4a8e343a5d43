"""digitize.crowded: a region holding two parcels' labels is cut along the boundary it lost."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from digitize.crowded import split_crowded
from digitize.labels import Label

M_PER_PX = 0.1  # 1:1000 at 254 dpi
H, W = 300, 400


def _scene(line_darkness: int, *, tilt: float = 0.0):
    """One region 380 x 280 px (38 x 28 m) with the label of parcel 7 on the left and of 8 on the right;
    their boundary, a 1 px line at x = 150 (tilted by ``tilt`` px over the height), drawn ``line_darkness``."""
    regions = gpd.GeoDataFrame({"region": [1]}, geometry=[box(10, 10, 390, 290)])
    dark = np.zeros((H, W), dtype=np.uint8)
    rng = np.random.default_rng(0)
    dark += rng.integers(0, 4, dark.shape, dtype=np.uint8)  # paper grain
    for y in range(10, 290):
        dark[y, round(150 + tilt * (y - 10) / 280)] = line_darkness
    text = np.zeros((H, W), dtype=bool)
    left = Label(1, parcel_no=7, area_label_m2=14.0 * 28.0, confidence=0.9, bbox=(50, 130, 110, 170))
    right = Label(1, parcel_no=8, area_label_m2=24.0 * 28.0, confidence=0.8, bbox=(240, 130, 320, 170))
    for lab in (left, right):
        x0, y0, x1, y1 = lab.bbox
        text[y0:y1, x0:x1] = True
        dark[y0:y1, x0:x1] = 200  # the labels' ink: dark, but no line
    return regions, {1: left}, [right], dark, text


@pytest.mark.parametrize("darkness,tilt", [(30, 0.0), (30, 12.0), (120, 0.0)])
def test_a_faint_boundary_between_two_labels_is_drawn_again(darkness, tilt):
    regions, labels, others, dark, text = _scene(darkness, tilt=tilt)
    out, got, cuts = split_crowded(regions, labels, others, dark, text, m_per_px=M_PER_PX)
    assert len(out) == 2 and len(cuts) == 1
    by_no = {lab.parcel_no: out.geometry[out["region"] == r].iloc[0] for r, lab in got.items()}
    assert by_no[7].area * M_PER_PX**2 == pytest.approx(14.0 * 28.0, rel=0.05)
    assert by_no[8].area * M_PER_PX**2 == pytest.approx(24.0 * 28.0, rel=0.05)
    assert abs(cuts[0].line.centroid.x - (150 + tilt / 2)) < 2.0
    assert by_no[7].covers(box(50, 130, 110, 170)) and by_no[8].covers(box(240, 130, 320, 170))


def test_the_stubs_of_a_boundary_a_label_was_printed_over_are_no_letters():
    """The line-work took none of the boundary: a label printed over it, what shows of it beside
    the label went to the text ink, as the labels did.  It is looked for all the same."""
    regions, labels, others, dark, text = _scene(120)
    text[10:290, 150] = True  # the boundary's ink, taken for text
    dark[100:200, 130:175] = 200  # a neighbour's label over it
    text[100:200, 130:175] = True
    out, got, cuts = split_crowded(regions, labels, others, dark, text, m_per_px=M_PER_PX)
    assert len(cuts) == 1 and abs(cuts[0].line.centroid.x - 150) < 2.0
    by_no = {lab.parcel_no: out.geometry[out["region"] == r].iloc[0] for r, lab in got.items()}
    assert by_no[7].area * M_PER_PX**2 == pytest.approx(14.0 * 28.0, rel=0.05)


def test_no_line_no_cut():
    regions, labels, others, dark, text = _scene(0)
    out, got, cuts = split_crowded(regions, labels, others, dark, text, m_per_px=M_PER_PX)
    assert cuts == [] and len(out) == 1 and got == labels


def test_a_faint_line_that_does_not_give_the_labels_their_areas_is_no_boundary():
    regions, labels, others, dark, text = _scene(30)
    others[0].area_label_m2 = 200.0  # the right parcel would be 24 m x 28 m, its label says 200 m²
    _, _, cuts = split_crowded(regions, labels, others, dark, text, m_per_px=M_PER_PX)
    assert cuts == []


def test_a_label_without_an_area_cuts_nothing():
    """A road's name or a coordinate read as a number is no parcel's label."""
    regions, labels, others, dark, text = _scene(120)
    others[0].area_label_m2 = None
    labels[1].area_label_m2 = 38.0 * 28.0  # and the one label gives the whole region
    _, _, cuts = split_crowded(regions, labels, others, dark, text, m_per_px=M_PER_PX)
    assert cuts == []


def test_a_region_twice_its_label_is_cut_along_a_whole_line_clear_of_the_label():
    """The right parcel's label was not read: the left one's area and a drawn line still part them."""
    regions, labels, _, dark, text = _scene(60)
    out, got, cuts = split_crowded(regions, labels, [], dark, text, m_per_px=M_PER_PX)
    assert len(cuts) == 1 and len(out) == 2
    left = out.geometry[out["region"] == 1].iloc[0]
    assert left.area * M_PER_PX**2 == pytest.approx(14.0 * 28.0, rel=0.05)
    assert list(got) == [1]  # the other side has no label: a parcel for a human to number


def test_a_region_its_one_label_fits_is_left_whole():
    regions, labels, _, dark, text = _scene(60)
    labels[1].area_label_m2 = 38.0 * 28.0
    _, _, cuts = split_crowded(regions, labels, [], dark, text, m_per_px=M_PER_PX)
    assert cuts == []


def test_the_outline_of_a_hole_is_no_lost_boundary():
    """A pond inside the region, its outline dark and straight between the labels: not a line to cut along."""
    regions, labels, others, dark, text = _scene(0)
    regions = gpd.GeoDataFrame({"region": [1]}, geometry=[box(10, 10, 390, 290).difference(box(145, 40, 200, 260))])
    dark[40:260, 144:147] = 150  # the pond's west shore, where the boundary would be
    others[0].area_label_m2 = 565.0  # and the right parcel's label fits what lies east of it
    _, _, cuts = split_crowded(regions, labels, others, dark, text, m_per_px=M_PER_PX)
    assert cuts == []
