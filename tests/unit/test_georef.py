"""Georeferencing: models, residuals, outliers, bad control points, warped COG."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from digitize.georef import ControlPoints, fit_georeference, parse_gcps, read_gcps
from digitize.raster import read_scan, warp_scan, write_cog
from gis.crs import resolve_crs
from gis.errors import FormatError, GeoreferenceError


def _true(p: np.ndarray) -> np.ndarray:
    """A scan 0.1 m/px, slightly rotated, sheared and bent (paper shrink, scanner)."""
    x, y = p[:, 0], p[:, 1]
    return np.column_stack([561000 + 0.1016 * x + 0.001 * y + 1e-7 * x * y,
                            2360000 - 0.1015 * y + 0.0008 * x + 2e-8 * x * x])


def _grid(n: int = 6, noise: float = 0.0, seed: int = 0) -> ControlPoints:
    gx, gy = np.meshgrid(np.linspace(200, 4800, n), np.linspace(200, 4800, n))
    pix = np.column_stack([gx.ravel(), gy.ravel()])
    world = _true(pix) + np.random.default_rng(seed).normal(0, noise, pix.shape)
    return ControlPoints(pix, world)


def test_affine_recovers_an_affine_exactly():
    pix = np.array([[0, 0], [1000, 0], [0, 1000], [1000, 1000], [500, 300.0]])
    world = np.column_stack([500000 + 0.2 * pix[:, 0] + 0.01 * pix[:, 1], 2300000 - 0.2 * pix[:, 1]])
    g = fit_georeference(ControlPoints(pix, world), method="affine", scale=2000)
    assert g.rms_m < 1e-6
    np.testing.assert_allclose(g.to_map(np.array([[250.0, 750.0]])), [[500000 + 50 + 7.5, 2300000 - 150]])
    np.testing.assert_allclose(g.to_pixel(g.to_map(pix)), pix, atol=1e-6)
    assert g.pixel_size_m() == pytest.approx(0.2, rel=0.01)


@pytest.mark.parametrize("method", ["poly2", "poly3", "tps"])
def test_curved_models_follow_a_bent_sheet(method):
    g = fit_georeference(_grid(noise=0.005), method=method)
    test = np.random.default_rng(1).uniform(300, 4700, (500, 2))
    err = np.hypot(*(g.to_map(test) - _true(test)).T)
    assert err.max() < 0.05
    assert g.within_norm and not g.outliers
    np.testing.assert_allclose(g.to_pixel(g.to_map(test)), test, atol=0.05)


def test_affine_misses_the_bend_and_reports_it():
    g = fit_georeference(_grid(), method="affine")
    assert g.rms_mm > 0.1 and not g.within_norm
    assert g.residuals[0].residual_mm == pytest.approx(g.residuals[0].residual_m, rel=1e-9)  # 1:1000


def test_residuals_in_mm_follow_the_scale():
    g = fit_georeference(_grid(), method="affine", scale=500)
    r = g.residuals[3]
    assert r.residual_mm == pytest.approx(r.residual_m * 2)


def test_auto_picks_a_curved_model_and_drops_the_blunder():
    cp = _grid(noise=0.01)
    cp.world[5] += [3.0, -2.0]
    g = fit_georeference(cp, method="auto")
    assert g.method in ("poly2", "poly3")
    assert g.outliers == ["6"]
    bad = g.residuals[5]
    assert bad.outlier and bad.residual_m > 3.0
    test = np.random.default_rng(2).uniform(300, 4700, (200, 2))
    assert np.hypot(*(g.to_map(test) - _true(test)).T).max() < 0.05


def test_tps_is_exact_at_its_points_but_judged_leave_one_out():
    cp = _grid(noise=0.05)
    g = fit_georeference(cp, method="tps")
    assert max(r.residual_m for r in g.residuals) < 1e-6
    assert min(r.loo_m for r in g.residuals) > 0.0
    assert g.rms_m > 0.01


@pytest.mark.parametrize("pix,world,size,words", [
    ([[0, 0], [10, 10]], [[5e5, 2.3e6], [5e5 + 1, 2.3e6 + 1]], None, "at least 3"),
    ([[0, 0], [10, 10], [20, 20]], [[5e5, 2.3e6], [5e5 + 1, 2.3e6], [5e5, 2.3e6 + 5]], None, "collinear in pixel"),
    ([[0, 0], [10, 0], [0, 10]], [[5e5, 2.3e6], [5e5 + 1, 2.3e6], [5e5 + 2, 2.3e6]], None, "collinear in map"),
    ([[0, 0], [100, 0], [0, 900]], [[5e5, 2.3e6], [5e5 + 1, 2.3e6], [5e5, 2.3e6 + 5]], (500, 500), "outside the image"),
    ([[0, 0], [100, 0], [0, 100]], [[106.1, 21.2], [106.2, 21.2], [106.1, 21.3]], None, "longitude/latitude"),
])
def test_bad_control_points_are_refused_with_a_reason(pix, world, size, words):
    with pytest.raises(GeoreferenceError, match=words) as exc:
        fit_georeference(ControlPoints(np.array(pix, float), np.array(world, float)), image_size=size)
    assert exc.value.hint


def test_poly3_needs_ten_points():
    with pytest.raises(GeoreferenceError, match="at least 10"):
        fit_georeference(_grid(n=3), method="poly3")


def test_csv_and_qgis_points_read_the_same(tmp_path):
    csv_text = "pixel_x,pixel_y,map_x,map_y\n10,20,561000.5,2360000.25\n300,20,561030,2360000\n10,400,561000,2359960\n"
    qgis = ("#CRS: PROJCS[...]\nmapX,mapY,pixelX,pixelY,enable,dX,dY,residual\n"
            "561000.5,2360000.25,10,-20,1,0,0,0\n561030,2360000,300,-20,1,0,0,0\n"
            "561000,2359960,10,-400,1,0,0,0\n1,1,1,-1,0,0,0,0\n")
    (tmp_path / "g.csv").write_text(csv_text)
    (tmp_path / "g.points").write_text(qgis)
    a, b = read_gcps(tmp_path / "g.csv"), read_gcps(tmp_path / "g.points")
    np.testing.assert_array_equal(a.pixel, b.pixel)
    np.testing.assert_array_equal(a.world, b.world)
    assert len(b) == 3 and a.pixel[1].tolist() == [300, 20]


@pytest.mark.parametrize("text,words", [("", "empty"), ("x,y\n1,2\n", "unknown header"),
                                        ("pixel_x,pixel_y,map_x,map_y\n1,2,a,4\n", "not a number")])
def test_malformed_gcp_files_are_named(text, words):
    with pytest.raises(FormatError, match=words):
        parse_gcps(text)


def test_warped_scan_is_a_cog_that_lands_where_the_points_say(tmp_path):
    img = np.full((600, 800), 255, np.uint8)
    img[290:311, 390:411] = 0  # a black square centred at pixel (400, 300)
    pix = np.array([[0, 0], [800, 0], [0, 600], [800, 600.0]])
    world = np.column_stack([561000 + 0.25 * pix[:, 0], 2360000 - 0.25 * pix[:, 1]])
    g = fit_georeference(ControlPoints(pix, world), method="affine")
    arr, transform = warp_scan(img, g)
    path = tmp_path / "scan.tif"
    write_cog(path, arr, transform, resolve_crs("vn2000:bac-giang"))
    with rasterio.open(path) as src:
        assert src.crs is not None and src.overviews(1) is not None
        row, col = src.index(561100.0, 2359925.0)  # map of pixel (400, 300)
        assert src.read(1)[row, col] == 0
        row, col = src.index(561050.0, 2359925.0)
        assert src.read(1)[row, col] == 255
    rgb = read_scan(path)
    assert rgb.dtype == np.uint8 and rgb.shape == arr.shape


def test_images_that_are_not_scans_are_refused(tmp_path):
    from PIL import Image

    Image.new("L", (1, 1)).save(tmp_path / "dot.png")
    with pytest.raises(FormatError, match="too small"):
        read_scan(tmp_path / "dot.png")
    (tmp_path / "junk.tif").write_bytes(b"not an image at all")
    with pytest.raises(FormatError, match="cannot be read"):
        read_scan(tmp_path / "junk.tif")


def test_the_summary_says_how_its_rms_was_measured():
    assert fit_georeference(_grid(noise=0.05), method="affine", scale=1000).summary()["rms_kind"] == "fit"
    tps = fit_georeference(_grid(noise=0.05), method="tps", scale=1000)
    assert tps.summary()["rms_kind"] == "leave-one-out" and tps.rms_m > 0.01  # a spline's own residuals are 0
