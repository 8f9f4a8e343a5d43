"""Synthetic parcel layers (the parcel layer contract) tiled over map sheets.

For tests and benchmarks: a sheet cut into a regular grid of rectangular parcels,
numbered left to right, top to bottom, as ``landrec digitize`` would deliver them.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gis.landuse import land_uses
from gis.sheets import Sheet

__all__ = ["tiled_parcels"]


def tiled_parcels(sheets: list[Sheet], *, crs: CRS, rows: int, cols: int,
                  commune_code: str | None = None, seed: int = 0) -> gpd.GeoDataFrame:
    """Cut every sheet into ``rows`` x ``cols`` parcels; land use drawn at random (seeded)."""
    rng = np.random.default_rng(seed)
    codes = np.array([u.code for u in land_uses()])
    parts = []
    for sheet in sheets:
        min_e, min_n, max_e, max_n = sheet.extent
        w, h = (max_e - min_e) / cols, (max_n - min_n) / rows
        r, c = np.divmod(np.arange(rows * cols), cols)
        x0 = min_e + c * w
        y1 = max_n - r * h
        geoms = shapely.box(x0, y1 - h, x0 + w, y1)
        n = len(geoms)
        parts.append(gpd.GeoDataFrame({
            "parcel_no": np.arange(1, n + 1, dtype="int64"),
            "area_label_m2": np.round(shapely.area(geoms)),
            "land_use": rng.choice(codes, n),
            "area_m2": shapely.area(geoms),
            "sheet_no": sheet.number,
            "confidence": 1.0,
            "qa_flags": "",
        }, geometry=geoms, crs=crs))
    if not parts:
        raise ValueError("no sheets given")
    gdf = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)
    if commune_code is not None:
        gdf["commune_code"] = commune_code
    return gdf
