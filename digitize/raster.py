"""Scan images in and georeferenced rasters out: ``read_scan`` / ``warp_scan`` / ``write_cog``.

A scan is held as a ``uint8`` array, (rows, cols) for grey or (rows, cols, 3) for colour.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.io import MemoryFile
from rasterio.shutil import copy as rio_copy

from digitize.georef import Georeference
from gis.errors import FormatError
from gis.io import require_file

__all__ = ["MAX_PIXELS", "MIN_SIDE", "read_scan", "ink_channel", "warp_scan", "resample", "write_cog"]

#: largest image accepted: A0 at 400 dpi (13244 x 18724 px); beyond is not a scan
MAX_PIXELS = 250_000_000
#: smallest side accepted, in pixels
MIN_SIDE = 200


def read_scan(path: str | Path) -> np.ndarray:
    """Read a scanned sheet (TIFF/GeoTIFF, JPEG, PNG; grey, colour or palette) as uint8.

    Refuses unreadable files, images too small to hold a sheet and images too large to
    be a scan (a decompression-bomb guard checked before any pixel is decoded).
    """
    p = require_file(path, "image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(p) as src:
                w, h, n = src.width, src.height, src.count
                if w * h > MAX_PIXELS:
                    raise FormatError(
                        f"image {p.name} is {w} x {h} px ({w * h / 1e6:.0f} Mpx): too large to be a scanned sheet",
                        hint=f"the limit is {MAX_PIXELS / 1e6:.0f} Mpx (A0 at 400 dpi); rescan at 300 dpi or less",
                    )
                if min(w, h) < MIN_SIDE:
                    raise FormatError(f"image {p.name} is only {w} x {h} px: too small to be a scanned sheet",
                                      hint="scan the sheet at 200-400 dpi")
                cmap = None
                if n == 1 and src.colorinterp[0].name == "palette":
                    cmap = src.colormap(1)
                dtype = src.dtypes[0]
                if n >= 3 and dtype == "uint8":  # straight into pixel-interleaved rows: no reordering copy
                    rgb = np.empty((h, w, 3), dtype=np.uint8)
                    src.read([1, 2, 3], out=rgb.transpose(2, 0, 1))
                    return rgb
                bands = [1] if n < 3 else [1, 2, 3]
                data = src.read(bands)
    except RasterioIOError as exc:
        raise FormatError(f"image {p.name} cannot be read: {exc}", hint="give a TIFF, JPEG or PNG scan") from None
    if cmap is not None:
        lut = np.array([cmap.get(i, (0, 0, 0, 255))[:3] for i in range(256)], dtype=np.uint8)
        return lut[data[0]]
    if dtype != "uint8":
        data = data.astype(np.float32)
        lo, hi = np.percentile(data, (0.1, 99.9))
        data = np.clip((data - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).astype(np.uint8)
    if len(bands) == 1:
        return data[0]
    return np.ascontiguousarray(np.moveaxis(data, 0, -1))


def ink_channel(image: np.ndarray) -> np.ndarray:
    """The grey level in which ink is dark and paper, stains and colour fills are light.

    For colour scans this is the brightest channel of each pixel: black ink is dark in
    every channel, while yellowed paper, brown stains and land-use tints stay bright in
    at least one.
    """
    if image.ndim == 2:
        return image
    return cv2.max(cv2.max(image[..., 0], image[..., 1]), image[..., 2])


def warp_scan(image: np.ndarray, georef: Georeference, *, pixel_size: float | None = None,
              strip: int = 512, step: int = 16) -> tuple[np.ndarray, Affine]:
    """Resample a scan onto a north-up map grid; returns (array, transform).

    The map -> pixel model is evaluated every ``step`` output pixels and interpolated
    in between (as GDAL's approximate transformer does), in strips of ``strip`` rows so
    an A0 scan stays within a few hundred megabytes beyond its own size.  Outside the
    scan is white (paper).
    """
    h, w = image.shape[:2]
    res = pixel_size or georef.pixel_size_m()
    corners = georef.to_map(np.array([[0, 0], [w, 0], [w, h], [0, h], [w / 2, 0], [w, h / 2], [w / 2, h], [0, h / 2]],
                                     dtype=float))
    x0, y1 = corners[:, 0].min(), corners[:, 1].max()
    cols = int(np.ceil((corners[:, 0].max() - x0) / res))
    rows = int(np.ceil((y1 - corners[:, 1].min()) / res))
    transform = Affine(res, 0, x0, 0, -res, y1)
    out = np.empty((rows, cols) + image.shape[2:], dtype=np.uint8)
    for r0 in range(0, rows, strip):
        out[r0:r0 + strip] = resample(image, georef.to_pixel, transform, (min(strip, rows - r0), cols), first_row=r0,
                                      step=step)
    return out, transform


def resample(image: np.ndarray, to_pixel: Callable[[np.ndarray], np.ndarray], transform: Affine,
             shape: tuple[int, int], *, first_row: int = 0, step: int = 16) -> np.ndarray:
    """``image`` resampled (bilinear) onto rows ``first_row`` onwards of the north-up grid ``transform``.

    ``to_pixel`` maps map points (n, 2) to ``image`` pixels (GDAL's convention: the first
    pixel's centre at 0.5, 0.5); it is evaluated every ``step`` output pixels and
    interpolated in between (as GDAL's approximate transformer does).  ``shape`` is
    (rows, cols) of the result; outside the image is white (paper).
    """
    rows, cols = shape
    # the model at the centres of step x step blocks of output pixels, one block beyond each edge: OpenCV's
    # bilinear resize of that grid by exactly ``step`` then gives every output pixel its own position
    off = (step - 1) / 2 - step
    gx = off + step * np.arange(-(-cols // step) + 2)
    gy = first_row + off + step * np.arange(-(-rows // step) + 2)
    mx, my = np.meshgrid(transform.c + (gx + 0.5) * transform.a, transform.f + (gy + 0.5) * transform.e)
    pix = to_pixel(np.column_stack([mx.ravel(), my.ravel()])).reshape(len(gy), len(gx), 2) - 0.5
    full = cv2.resize(pix.astype(np.float32), (len(gx) * step, len(gy) * step),
                      interpolation=cv2.INTER_LINEAR)[step:step + rows, step:step + cols]
    return cv2.remap(image, np.ascontiguousarray(full[..., 0]), np.ascontiguousarray(full[..., 1]), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255)).reshape((rows, cols) + image.shape[2:])


def write_cog(path: str | Path, array: np.ndarray, transform: Affine, crs: CRS) -> None:
    """Write a uint8 grey or RGB array as a Cloud-Optimized GeoTIFF (lossless ZSTD, fast level; overviews).

    The array goes into an in-memory (MEM) dataset, from which GDAL's COG driver writes the
    tiles and their overviews in one pass.
    """
    bands = 1 if array.ndim == 2 else array.shape[2]
    with MemoryFile() as mem, mem.open(driver="MEM", width=array.shape[1], height=array.shape[0], count=bands,
                                       dtype="uint8", crs=crs.to_wkt(), transform=transform) as dst:
        dst.write(array[np.newaxis] if bands == 1 else array.transpose(2, 0, 1))
        if bands == 3:
            dst.colorinterp = [rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green,
                               rasterio.enums.ColorInterp.blue]
        rio_copy(dst, str(path), driver="COG", compress="ZSTD", level=1, overview_resampling="average",
                 blocksize=512)
