"""Large synthetic districts for benchmarks: the sample's fabric tiled over many sheets.

Two tiles come from the sample district: the rural one (the two 1:2000 sheets, 2 x 1 km)
and the village one (the two 1:1000 sheets, 0.5 x 1 km).  A strip of one of each is
2.5 km wide; strips are laid out row by row from (E 520 km, N 2300 km) up, every copy
shifted by whole sheets so each copy lands on sheets of its own: parcel numbers stay
unique within their sheet and sheet numbers follow Circular 25/2014.  Owners are drawn
afresh for every copy.  Vectors only.  Within a tile the fabric is an exact coverage; at
the seams between tiles the parcels meet along the straight sheet edge but do not share
vertices (a coverage check flags them there).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.sheets import parse_sheet, sheet_at
from sample_data import district, people

__all__ = ["ROW_M", "STRIP_M", "large_parcels"]

STRIP_M = 2500.0
ROW_M = 1000.0
_ORIGIN = (520_000.0, 2_300_000.0)
_TILES = (("rural", ("361561-7", "361561-8"), (561000.0, 2358000.0)),
          ("village", ("361561-4-b", "361561-4-d"), (561500.0, 2359000.0)))
_TILE_DX = {"rural": 0.0, "village": 2000.0}


def _tiles(seed: int) -> list[tuple[str, gpd.GeoDataFrame, tuple[float, float]]]:
    parcels = district.parcels(seed)
    return [(name, parcels[parcels["sheet_no"].isin(sheets)].reset_index(drop=True), origin)
            for name, sheets, origin in _TILES]


def _owners(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    fam, w = zip(*people.FAMILY)
    w = np.asarray(w, float) / sum(w)
    female = rng.random(n) < 0.45
    family = np.asarray(fam, dtype=object)[rng.choice(len(fam), n, p=w)]
    middle = np.where(female, np.asarray(people.MIDDLE_F, dtype=object)[rng.integers(0, len(people.MIDDLE_F), n)],
                      np.asarray(people.MIDDLE_M, dtype=object)[rng.integers(0, len(people.MIDDLE_M), n)])
    given = np.where(female, np.asarray(people.GIVEN_F, dtype=object)[rng.integers(0, len(people.GIVEN_F), n)],
                     np.asarray(people.GIVEN_M, dtype=object)[rng.integers(0, len(people.GIVEN_M), n)])
    names = family + " " + middle + " " + given
    year = rng.integers(1940, 2004, n)
    century = np.where(year >= 2000, 2, 0) + female.astype(int)
    serial = rng.integers(0, 1_000_000, n)
    ids = pd.Series(century).astype(str).radd("024") + pd.Series(year % 100).map("{:02d}".format) \
        + pd.Series(serial).map("{:06d}".format)
    return names, ids.to_numpy(dtype=object)


def large_parcels(n: int, *, seed: int = 1, chunk: int = 100_000) -> Iterator[gpd.GeoDataFrame]:
    """``n`` parcels in chunks of about ``chunk`` rows, columns as the sample's truth."""
    if n < 1:
        raise ValueError("n must be at least 1")
    tiles = _tiles(seed)
    per_strip = sum(len(t) for _, t, _ in tiles)
    strips = math.ceil(n / per_strip)
    cols = max(1, math.ceil(math.sqrt(strips * ROW_M / STRIP_M)))
    rng = np.random.default_rng([seed, 7])
    crs = tiles[0][1].crs
    pending: list[gpd.GeoDataFrame] = []
    left = n
    for s in range(strips):
        row, col = divmod(s, cols)
        for name, tile, (e0, n0) in tiles:
            if left <= 0:
                break
            part = tile.iloc[:left]
            dx = _ORIGIN[0] + col * STRIP_M + _TILE_DX[name] - e0
            dy = _ORIGIN[1] + row * ROW_M - n0
            geoms = shapely.transform(part.geometry.values, lambda c, d=(dx, dy): c + d)
            sheet_map = {}
            for number in part["sheet_no"].unique():
                old = parse_sheet(number, northing_hint=n0)
                ce, cn = (old.extent[0] + old.extent[2]) / 2, (old.extent[1] + old.extent[3]) / 2
                sheet_map[number] = sheet_at(ce + dx, cn + dy, old.scale).number
            names, ids = _owners(rng, len(part))
            commune = f"9{row % 100:02d}{col % 100:02d}"
            df = pd.DataFrame({
                "commune_code": commune, "sheet_no": part["sheet_no"].map(sheet_map).to_numpy(),
                "sheet_local_no": part["sheet_local_no"].to_numpy() + 100 * s,
                "parcel_no": part["parcel_no"].to_numpy(), "area_m2": part["area_m2"].to_numpy(),
                "land_use": part["land_use"].to_numpy(), "owner_name": names,
                "owner_id": np.where(part["owner_id"].isna(), None, ids),
                "address": f"Thôn {s + 1}, xã mẫu {commune}"})
            pending.append(gpd.GeoDataFrame(df, geometry=geoms, crs=crs))
            left -= len(part)
            if sum(len(p) for p in pending) >= chunk:
                yield pd.concat(pending, ignore_index=True)
                pending = []
    if pending:
        yield pd.concat(pending, ignore_index=True)
