"""The vector ground truth of the sample district: admin units, parcels, base layers.

Everything is a pure function of a seed: same seed, same objects.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from gis.crs import resolve_crs
from gis.errors import InputError
from gis.sheets import Sheet, parse_sheet
from sample_data import fabric, people, plan

__all__ = [
    "PARCEL_COLUMNS",
    "admin",
    "parcels",
    "planning_zones",
    "readings",
    "roads",
    "sheets",
    "stations",
    "waterways",
]

PARCEL_COLUMNS = ["commune_code", "sheet_no", "sheet_local_no", "parcel_no", "area_m2", "land_use",
                  "owner_name", "owner_id", "address"]
_HAMLET_AT = {
    "Thôn Đông": (561750.0, 2359250.0), "Thôn Đoài": (561750.0, 2359780.0), "Thôn Bãi": (561450.0, 2358500.0),
    "Xóm Cầu": (562500.0, 2358450.0), "Thôn Chợ": (562370.0, 2359620.0), "Thôn Trung": (562630.0, 2359620.0),
    "Xóm Đình": (562700.0, 2359950.0),
}


def _crs():
    return resolve_crs(plan.CRS_KEY)


def sheets(plans: Sequence[plan.SheetPlan] | None = None) -> list[tuple[plan.SheetPlan, Sheet]]:
    """The sample's sheets: plan and Circular 25/2014 sheet (number, scale, extent).

    ``plans`` draws the same sheets another way (fonts, resolution, layout); their numbers
    must be the sample's, which the parcel fabric is numbered by.
    """
    plans = plan.SHEETS if plans is None else tuple(plans)
    if sorted(p.number for p in plans) != sorted(p.number for p in plan.SHEETS):
        raise InputError("sheet plans must draw the sample's own sheets",
                         hint=f"use the numbers {', '.join(p.number for p in plan.SHEETS)}")
    return [(p, parse_sheet(p.number, northing_hint=2_359_000.0)) for p in plans]


def _wobbly(points: list[tuple[float, float]], amp: float, wave: float) -> list[tuple[float, float]]:
    """Densify a polyline and push it sideways by a smooth wave: a natural-looking boundary."""
    out = []
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        n = max(2, int(math.hypot(x1 - x0, y1 - y0) / 20))
        nx, ny = (y0 - y1), (x1 - x0)
        norm = math.hypot(nx, ny)
        for t in np.linspace(0, 1, n, endpoint=False):
            s = amp * math.sin(2 * math.pi * t * math.hypot(x1 - x0, y1 - y0) / wave) * math.sin(math.pi * t)
            out.append((round(x0 + t * (x1 - x0) + s * nx / norm, 3), round(y0 + t * (y1 - y0) + s * ny / norm, 3)))
    out.append(points[-1])
    return out


def admin() -> dict[str, gpd.GeoDataFrame]:
    """Layers ``province``, ``district``, ``commune`` (code, name, geometry)."""
    x0, y0, x1, y1 = plan.REGION
    ring = _wobbly([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)], 25.0, 700.0)
    district = Polygon(ring)
    cut = _wobbly([(562120.0, y1 + 200), (562120.0, 2359250.0), (x1 + 200, 2359250.0)], 15.0, 400.0)
    east = Polygon(cut + [(x1 + 200, y1 + 200)])
    b = district.intersection(east)
    a = district.difference(east)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    prov_pts = [(cx + r * math.cos(t), cy + r * math.sin(t)) for t, r in
                zip(np.linspace(0, 2 * math.pi, 48, endpoint=False),
                    22_000 + 6_000 * np.sin(np.linspace(0, 6 * math.pi, 48, endpoint=False)))]
    prov = Polygon(np.round(prov_pts, 3)).union(district)
    crs = _crs()

    def frame(code, name, geom):
        return gpd.GeoDataFrame({"code": [code], "name": [name]}, geometry=[geom], crs=crs)

    communes = gpd.GeoDataFrame({"code": [c.code for c in plan.COMMUNES], "name": [c.name for c in plan.COMMUNES]},
                                geometry=[a, b], crs=crs)
    return {"province": frame(plan.PROVINCE["code"], plan.PROVINCE["name"], prov),
            "district": frame(plan.DISTRICT["code"], plan.DISTRICT["name"], district),
            "commune": communes}


def parcels(seed: int) -> gpd.GeoDataFrame:
    """The district's parcels, numbered per sheet in reading order, with synthetic owners."""
    rng = np.random.default_rng(seed)
    lots = fabric.make_lots(rng)
    communes = admin()["commune"]
    sheet_list = sheets()
    geoms = np.array([g for g, _, _ in lots], dtype=object)
    shares = np.column_stack([shapely.area(shapely.intersection(geoms, box(*s.extent))) for _, s in sheet_list])
    owner_idx = shares.argmax(axis=1)
    points = np.empty(len(lots), dtype=object)
    for k, (_, s) in enumerate(sheet_list):
        mine = owner_idx == k
        points[mine] = fabric.label_points(geoms[mine], s.extent)[0]
    rows = []
    for (geom, code, _scale), k, lp in zip(lots, owner_idx, points):
        sp, sh = sheet_list[k]
        commune = next(c for c in plan.COMMUNES if c.code == sp.commune)
        hamlet = min(commune.hamlets, key=lambda h: math.dist(_HAMLET_AT[h], (lp.x, lp.y)))
        name, pid = people.owner(rng, code, commune.name, hamlet)
        rows.append({"commune_code": sp.commune, "sheet_no": sh.number, "sheet_local_no": sp.local_no,
                     "land_use": code, "owner_name": name, "owner_id": pid,
                     "address": f"{hamlet}, {commune.name.replace('Xã', 'xã')}", "area_m2": round(geom.area, 1),
                     "_band": int((sh.extent[3] - lp.y) // (sh.size_m / 20)), "_x": lp.x, "geometry": geom})
    df = pd.DataFrame(rows).sort_values(["sheet_no", "_band", "_x"], kind="stable")
    df["parcel_no"] = df.groupby("sheet_no").cumcount() + 1
    df = df.drop(columns=["_band", "_x"]).reset_index(drop=True)
    inside = gpd.GeoSeries(df.geometry).representative_point()
    assert communes.geometry.union_all().contains(inside).all()
    return gpd.GeoDataFrame(df[PARCEL_COLUMNS], geometry=df["geometry"].values, crs=_crs())


def _clip_region(geom):
    return geom.intersection(box(*plan.REGION))


def roads() -> gpd.GeoDataFrame:
    """Road centre lines: road_id, name, road_class, width_m (their buffers are the road gaps)."""
    ways = [w for w in fabric.way_lines() if w["kind"] == "road"]
    return gpd.GeoDataFrame({"road_id": [w["way_id"] for w in ways], "name": [w["name"] for w in ways],
                             "road_class": [w["way_class"] for w in ways], "width_m": [w["width_m"] for w in ways]},
                            geometry=[_clip_region(w["geometry"]) for w in ways], crs=_crs())


def waterways() -> gpd.GeoDataFrame:
    """Canal and stream centre lines: way_id, name, kind, width_m."""
    ways = [w for w in fabric.way_lines() if w["kind"] == "water"]
    return gpd.GeoDataFrame({"way_id": [w["way_id"] for w in ways], "name": [w["name"] for w in ways],
                             "kind": [w["way_class"] for w in ways], "width_m": [w["width_m"] for w in ways]},
                            geometry=[_clip_region(w["geometry"]) for w in ways], crs=_crs())


_STATIONS = (
    ("AIR-01", "Trạm không khí chợ Phúc Lâm", "air", (562480.0, 2359660.0)),
    ("AIR-02", "Trạm không khí trường THCS Tân Hòa", "air", (561845.0, 2359190.0)),
    ("WAT-01", "Điểm quan trắc nước Kênh N2", "water", (562010.0, 2358778.0)),
    ("WAT-02", "Điểm quan trắc nước Ngòi Ba Tổng", "water", (561381.0, 2358420.0)),
    ("NOI-01", "Điểm đo ồn ĐT299", "noise", (561300.0, 2359008.0)),
    ("NOI-02", "Điểm đo ồn Đường huyện 12", "noise", (562605.0, 2358100.0)),
)
_PARAMS = {"air": (("PM2.5", "µg/m³", 35.0, 18.0), ("NO2", "µg/m³", 28.0, 10.0)),
           "water": (("pH", "", 7.1, 0.3), ("DO", "mg/L", 5.8, 0.9), ("COD", "mg/L", 14.0, 4.0)),
           "noise": (("noise_dB", "dBA", 62.0, 6.0),)}


def stations() -> gpd.GeoDataFrame:
    """Environment monitoring stations: station_id, name, kind (air/water/noise)."""
    return gpd.GeoDataFrame({"station_id": [s[0] for s in _STATIONS], "name": [s[1] for s in _STATIONS],
                             "kind": [s[2] for s in _STATIONS]},
                            geometry=[Point(s[3]) for s in _STATIONS], crs=_crs())


def readings(seed: int) -> pd.DataFrame:
    """Three weeks of readings: hourly for air and noise, daily for water."""
    rng = np.random.default_rng(seed + 101)
    start = datetime(2024, 3, 1, tzinfo=timezone(timedelta(hours=7)))
    rows = []
    for sid, _, kind, _ in _STATIONS:
        step, count = (timedelta(days=1), 21) if kind == "water" else (timedelta(hours=1), 21 * 24)
        for param, unit, mean, sd in _PARAMS[kind]:
            t = np.arange(count)
            daily = np.sin(2 * np.pi * (t % 24 - 8) / 24) if kind != "water" else 0.0
            vals = mean + 0.6 * sd * daily + 0.5 * sd * rng.standard_normal(count)
            vals = np.clip(vals, 0.0, None)
            for i, v in enumerate(vals):
                rows.append({"station_id": sid, "observed_at": (start + i * step).isoformat(),
                             "parameter": param, "value": round(float(v), 2), "unit": unit})
    return pd.DataFrame(rows)


def planning_zones() -> gpd.GeoDataFrame:
    """Approved planning zones, with a planned road corridor that crosses many parcels."""
    corridor = LineString([(561020.0, 2358260.0), (561900.0, 2358640.0), (562980.0, 2358900.0)]).buffer(
        15.0, cap_style="flat")
    zones = [
        ("QH-01", "Khu dân cư mới Đồng Bãi", "ONT", "2021-06-15", box(561180.0, 2358160.0, 561540.0, 2358330.0)),
        ("QH-02", "Mở rộng trường THCS Tân Hòa", "DGD", "2022-03-02", box(561790.0, 2359100.0, 561900.0, 2359190.0)),
        ("QH-03", "Khu thương mại dịch vụ chợ Phúc Lâm", "TMD", "2020-11-20",
         box(562400.0, 2359645.0, 562560.0, 2359700.0)),
        ("QH-04", "Vùng chuyên canh lúa chất lượng cao", "LUC", "2019-08-09",
         box(562260.0, 2358000.0, 562780.0, 2358130.0)),
        ("QH-05", "Hành lang tuyến đường vành đai Tân Hòa – Phúc Lâm", "DGT", "2023-01-10", corridor),
    ]
    return gpd.GeoDataFrame({"zone_id": [z[0] for z in zones], "name": [z[1] for z in zones],
                             "planned_use": [z[2] for z in zones], "approved_on": [z[3] for z in zones]},
                            geometry=[z[4] for z in zones], crs=_crs())
