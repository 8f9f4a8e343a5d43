"""Scan images in and georeferenced rasters out: every pixel as the file has it, a COG that GDAL reads as one."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image, ImageFilter

from digitize.georef import ControlPoints, fit_georeference
from digitize.raster import read_scan, warp_scan, write_cog
from gis.crs import resolve_crs

CRS = resolve_crs("vn2000:bac-giang")


def _picture(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Noise with structure (so a swapped band, row or column shows)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_a_scan_reads_pixel_for_pixel_as_the_file_holds_it(tmp_path, mode):
    shape = (301, 257, {"RGB": 3, "RGBA": 4, "L": 1}[mode])
    data = _picture(shape)
    path = tmp_path / "scan.png"
    Image.fromarray(data if mode != "L" else data[..., 0], mode).save(path)
    got = read_scan(path)
    want = data[..., 0] if mode == "L" else data[..., :3]
    assert got.dtype == np.uint8 and got.shape == want.shape and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)


def test_a_palette_scan_reads_as_its_colours(tmp_path):
    idx = _picture((240, 260)) % 4
    colours = [(250, 240, 220), (20, 20, 20), (200, 30, 30), (30, 200, 30)]
    img = Image.fromarray(idx, "P")
    img.putpalette([c for rgb in colours for c in rgb])
    img.save(tmp_path / "scan.png")
    np.testing.assert_array_equal(read_scan(tmp_path / "scan.png"), np.array(colours, np.uint8)[idx])


@pytest.mark.parametrize("bands", [1, 3])
def test_the_cog_holds_the_array_its_place_and_its_overviews(tmp_path, bands):
    shape = (1300, 1100) if bands == 1 else (1300, 1100, 3)
    data = _picture(shape, seed=bands)
    transform = Affine(0.125, 0, 561400.0, 0, -0.125, 2360100.0)
    path = tmp_path / "scan.tif"
    write_cog(path, data, transform, CRS)
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"  # GDAL's own check of the layout
        assert src.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "ZSTD"
        assert src.count == bands and src.block_shapes[0] == (512, 512)
        assert src.transform == transform and src.crs == rasterio.CRS.from_wkt(CRS.to_wkt())
        assert src.overviews(1) == [2, 4]
        got = src.read()
        if bands == 3:
            assert [c.name for c in src.colorinterp] == ["red", "green", "blue"]
        half = src.read(out_shape=(bands, 650, 550))  # the first overview: 2 x 2 averages
    np.testing.assert_array_equal(got, data[np.newaxis] if bands == 1 else data.transpose(2, 0, 1))
    mean = data.reshape(650, 2, 550, 2, -1).astype(float).mean(axis=(1, 3))
    assert np.abs(half.transpose(1, 2, 0).astype(float) - mean).max() <= 1.0


def test_every_warped_pixel_is_where_the_model_puts_it():
    """The model is evaluated every 16 pixels and interpolated: the same as evaluating it at every pixel."""
    img = _picture((900, 1100, 3), seed=5)
    img = np.asarray(Image.fromarray(img).resize((1100, 900)).filter(ImageFilter.GaussianBlur(1.5)))  # smooth
    gx, gy = np.meshgrid(np.linspace(0, 1100, 7), np.linspace(0, 900, 6))
    pix = np.column_stack([gx.ravel(), gy.ravel()])
    x, y = pix[:, 0], pix[:, 1]
    world = np.column_stack([561000 + 0.1 * x + 0.004 * y + 2e-6 * x * y + 3e-6 * y * y,
                             2360000 - 0.1 * y + 0.003 * x + 4e-6 * x * x])  # rotated, sheared and bent
    g = fit_georeference(ControlPoints(pix, world), method="poly2", scale=1000)
    coarse, transform = warp_scan(img, g, strip=256)  # strips of 256 rows: their seams are checked too
    fine, same = warp_scan(img, g, step=1)
    assert same == transform
    diff = np.abs(coarse.astype(int) - fine.astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.05
