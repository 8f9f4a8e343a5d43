"""Outlines fitted to the ink: a rendered sheet whose true parcels are known, to a fraction of a pixel."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from digitize.georef import fit_georeference, read_gcps
from digitize.raster import ink_channel
from digitize.scan import regions_to_map
from digitize.vectorize import vectorize
from gis.crs import resolve_crs
from gis.sheets import parse_sheet
from sample_data.render import Damage, Style, render_sheet

SHEET = parse_sheet("361561-5-(6)", northing_hint=2_359_000)  # 1:500, E 562250-562500, N 2359500-2359750
CRS = resolve_crs("vn2000:bac-giang")
E0, N0 = 562310.0, 2359605.0  # clear of the grid crosses (every 50 m)
DAMAGE = Damage(rotation_deg=1.1, shrink_x=0.004, shrink_y=0.002, noise=3.0,
                warp=((0, 2.0, 0.7, 0.4, 0.3), (1, 1.5, 0.5, 0.9, 1.1)))


def _parcels() -> gpd.GeoDataFrame:
    """Four lots with an oblique side and two T-junctions, and a round pond inside the fourth."""
    pond = Point(E0 + 45, N0 + 30).buffer(6.0, 64)
    lots = [Polygon([(0, 0), (22, 0), (26, 20), (0, 20)]), Polygon([(22, 0), (60, 0), (60, 20), (26, 20)]),
            box(0, 20, 30, 40), box(30, 20, 60, 40)]
    geoms = [shapely.affinity.translate(p, E0, N0) for p in lots]
    geoms[3] = geoms[3].difference(pond)
    geoms.append(pond)
    return gpd.GeoDataFrame({"parcel_no": range(1, 6), "area_m2": [round(g.area, 1) for g in geoms],
                             "land_use": ["ONT"] * 5}, geometry=geoms, crs=CRS)


def _drawn(dpi: int, line_mm: float):
    """The scan around the lots (a crop, so the test stays fast), its offset, and the true lots in its pixels."""
    parcels = _parcels()
    image, gcps, model = render_sheet(parcels, SHEET, dpi=dpi, style=Style(line_mm=line_mm), damage=DAMAGE, seed=2)
    truth = [shapely.transform(shapely.segmentize(g, 0.1),
                               lambda xy: np.column_stack(model.map_to_pixel(xy[:, 0], xy[:, 1])))
             for g in parcels.geometry]
    x0, y0, x1, y1 = shapely.total_bounds(truth)
    ox, oy = int(x0) - 40, int(y0) - 40
    crop = ink_channel(image)[oy:int(y1) + 40, ox:int(x1) + 40]
    return crop, (ox, oy), [shapely.affinity.translate(g, -ox, -oy) for g in truth], gcps


def _best(regions: np.ndarray, g) -> tuple[float, object]:
    iou = shapely.area(shapely.intersection(regions, g)) / shapely.area(shapely.union(regions, g))
    return float(iou.max()), regions[int(np.argmax(iou))]


@pytest.mark.parametrize(("dpi", "line_mm"), [(150, 0.2), (200, 0.2), (300, 0.35)])  # lines of 1.2, 1.6, 4 px
def test_outlines_run_on_the_ink_to_a_fraction_of_a_pixel(dpi, line_mm):
    crop, _, truth, _ = _drawn(dpi, line_mm)
    regions = np.asarray(vectorize(crop, px_per_mm=dpi / 25.4).regions.geometry.values)
    for k, g in enumerate(truth):
        iou, r = _best(regions, g)
        assert iou > 0.99
        haus = shapely.hausdorff_distance(r.boundary, g.boundary)
        along = shapely.points(shapely.get_coordinates(shapely.segmentize(g.boundary, 0.5)))
        mean = float(shapely.distance(along, r.boundary).mean())
        # measured: straight lots 0.07-0.18 px (corners at the junctions included), the pond and the
        # lot around it 0.38-0.43 px (chords within the fitting tolerance of 0.5 px); the partition's
        # staircase: ~1 px
        assert haus < (0.6 if k >= 3 else 0.35), (k, haus)
        assert mean < 0.15, (k, mean)
        if k < 4:  # straight sides come out straight: one vertex per corner (a junction on a side adds one)
            assert shapely.get_num_coordinates(r.exterior) <= 6, (k, r)


def test_the_outlines_are_an_exact_coverage_of_the_scan():
    crop, _, _, _ = _drawn(200, 0.2)
    regions = np.asarray(vectorize(crop, px_per_mm=200 / 25.4).regions.geometry.values)
    assert shapely.coverage_is_valid(regions)  # neighbours share every vertex: no gap, no overlap
    assert shapely.area(shapely.union_all(regions)) == pytest.approx(crop.shape[0] * crop.shape[1], rel=1e-12)
    assert shapely.area(regions).sum() == pytest.approx(crop.shape[0] * crop.shape[1], rel=1e-12)


def test_on_the_map_neighbours_still_share_their_vertices(tmp_path):
    crop, (ox, oy), _, gcps = _drawn(200, 0.2)
    path = tmp_path / "gcps.csv"
    gcps.assign(pixel_x=gcps.pixel_x - ox, pixel_y=gcps.pixel_y - oy).to_csv(path, index=False)
    georef = fit_georeference(read_gcps(path), scale=SHEET.scale)
    regions = regions_to_map(vectorize(crop, px_per_mm=200 / 25.4).regions, georef, crs=CRS)
    assert shapely.coverage_is_valid(np.asarray(regions.geometry.values))
    for g in _parcels().geometry:  # with the georeference from noisy control points: within 0.2 mm at 1:500
        iou, r = _best(np.asarray(regions.geometry.values), g)
        assert iou > 0.98 and shapely.hausdorff_distance(r.boundary, g.boundary) < 0.1
