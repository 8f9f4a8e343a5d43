"""The parcel fabric: roads and water cut each zone into blocks, blocks into lots.

Lots come from recursive splits of a block across its long axis (a slightly tilted
cut, sometimes bent), until a lot is below a size drawn for its kind.  The result is
made an exact coverage: every vertex where one lot meets the side of another is
inserted in both (no T-junctions), and all coordinates are rounded to the millimetre,
so neighbours share their boundaries vertex for vertex.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.ops import split

from sample_data import plan

__all__ = ["gap_polygon", "label_points", "make_lots", "stream_line", "way_lines"]


def _arc_points(cx: float, cy: float, r: float, a0: float, a1: float, step_m: float = 2.0) -> list[tuple[float, float]]:
    n = max(2, math.ceil(abs(math.radians(a1 - a0)) * r / step_m) + 1)
    return [(cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a)))
            for a in np.linspace(a0, a1, n)]


def stream_line() -> LineString:
    """Centre line of the meandering stream."""
    s = plan.STREAM
    ns = np.arange(s["n0"], s["n1"] + 1e-9, 5.0)
    es = (s["base_e"] + s["a1"] * np.sin(2 * np.pi * (ns - s["n0"]) / s["l1"])
          + s["a2"] * np.sin(2 * np.pi * (ns - s["n0"]) / s["l2"] + 1.0))
    return LineString(np.column_stack([es, ns]).round(3))


def way_lines() -> list[dict]:
    """All roads and waterways as records: way_id, name, way_class, width_m, geometry, kind."""
    out = []
    for w in plan.MAIN_ROADS + plan.WATERWAYS:
        pts = _arc_points(*w.arc) if w.arc else list(w.points)
        kind = "water" if w in plan.WATERWAYS else "road"
        out.append({"way_id": w.way_id, "name": w.name, "way_class": w.way_class, "width_m": w.width_m,
                    "geometry": LineString(np.round(pts, 3)), "kind": kind})
    s = plan.STREAM
    out.append({"way_id": s["way_id"], "name": s["name"], "way_class": "stream", "width_m": s["width_m"],
                "geometry": stream_line(), "kind": "water"})
    for scale, lines in plan.SECONDARY.items():
        width, cls, prefix = plan.SECONDARY_STYLE[scale]
        x0, y0, x1, y1 = plan.ZONES[scale]
        for i, (axis, pos) in enumerate(lines, start=1):
            geom = LineString([(pos, y0 - 1), (pos + 0.002 * (y1 - y0), y1 + 1)]) if axis == "E" \
                else LineString([(x0 - 1, pos), (x1 + 1, pos - 0.003 * (x1 - x0))])
            out.append({"way_id": f"S{scale}-{i:02d}", "name": f"{prefix} {scale // 100}-{i}", "way_class": cls,
                        "width_m": width, "geometry": geom, "kind": "road"})
    return out


def gap_polygon(ways: list[dict]) -> Polygon | MultiPolygon:
    """The land taken by roads and water: each centre line buffered by half its width."""
    return shapely.union_all([shapely.buffer(w["geometry"], w["width_m"] / 2, cap_style="flat", join_style="round",
                                             quad_segs=16) for w in ways])


def _special_shape(shape: str, args: tuple) -> Polygon:
    if shape == "box":
        return box(*args)
    cx, cy, r = args
    return Point(cx, cy).buffer(r, quad_segs=24)


def _pick(rng: np.random.Generator, mix: tuple[tuple[str, int], ...]) -> str:
    codes, weights = zip(*mix)
    w = np.asarray(weights, float)
    return str(rng.choice(list(codes), p=w / w.sum()))


def _thin(p: Polygon, min_w: float) -> bool:
    rect = p.minimum_rotated_rectangle
    xy = np.asarray(rect.exterior.coords)[:3]
    sides = np.hypot(*(xy[1:] - xy[:-1]).T)
    return sides.min() < min_w or p.area / max(rect.area, 1e-9) < 0.3


def _try_split(p: Polygon, lo: float, min_w: float, rng: np.random.Generator) -> list[Polygon] | None:
    rect = p.minimum_rotated_rectangle
    xy = np.asarray(rect.exterior.coords)
    e1, e2 = xy[1] - xy[0], xy[2] - xy[1]
    axis, length = (e1, np.hypot(*e1)) if np.hypot(*e1) >= np.hypot(*e2) else (e2, np.hypot(*e2))
    axis = axis / np.hypot(*axis)
    centre = np.asarray(rect.centroid.coords[0])
    reach = 2.0 * math.hypot(*(np.asarray(p.bounds[2:]) - p.bounds[:2]))
    for _ in range(4):
        at = centre + (rng.uniform(0.35, 0.65) - 0.5) * length * axis
        ang = math.atan2(axis[1], axis[0]) + math.pi / 2 + math.radians(rng.normal(0, 4))
        d = np.array([math.cos(ang), math.sin(ang)])
        if rng.random() < 0.15:  # a bent cut: two straight pieces meeting at the block's middle
            bend = math.radians(rng.uniform(-12, 12))
            d2 = np.array([math.cos(ang + bend), math.sin(ang + bend)])
            line = LineString([at - reach * d, at, at + reach * d2])
        else:
            line = LineString([at - reach * d, at + reach * d])
        parts = [g for g in split(p, line).geoms if isinstance(g, Polygon)]
        if len(parts) >= 2 and all(g.area >= lo and not _thin(g, min_w) for g in parts):
            return parts
    return None


def _subdivide(block: Polygon, kind: str, rng: np.random.Generator) -> list[tuple[Polygon, str]]:
    (lo, hi), mix = plan.KINDS[kind]
    min_w = 4.0 if hi <= 500 else 8.0
    out, stack = [], [block]
    while stack:
        p = stack.pop()
        target = rng.uniform(2.0 * lo, hi) if kind in ("paddy", "residential", "core") else hi
        parts = _try_split(p, lo, min_w, rng) if p.area > target else None
        if parts:
            stack.extend(sorted(parts, key=lambda g: (g.centroid.x, g.centroid.y)))
        elif p.area >= 5.0:
            out.append((p, _pick(rng, mix)))
    return out


def _polygons(g) -> list[Polygon]:
    if isinstance(g, Polygon):
        return [g] if not g.is_empty else []
    if isinstance(g, MultiPolygon) or g.geom_type == "GeometryCollection":
        return [q for q in g.geoms if isinstance(q, Polygon) and not q.is_empty]
    return [q for q in getattr(g, "geoms", []) if isinstance(q, Polygon) and not q.is_empty]


def make_lots(rng: np.random.Generator) -> list[tuple[Polygon, str, int]]:
    """Every lot of the district: (polygon in mm-exact coverage, land-use code, zone scale)."""
    gaps = gap_polygon(way_lines())
    specials = [(kind, _special_shape(shape, args)) for kind, shape, args in plan.SPECIAL]
    raw: list[tuple[Polygon, str, int]] = []
    for scale, extent in plan.ZONES.items():
        zone = box(*extent).difference(gaps)
        for block in _polygons(zone):
            pieces = []
            rest = block
            for kind, shape in specials:
                if shape.intersects(block):
                    pieces += [(q, kind) for q in _polygons(block.intersection(shape))]
                    rest = rest.difference(shape)
            pieces += [(q, plan.ZONE_KIND[scale]) for q in _polygons(rest)]
            for piece, kind in pieces:
                if piece.area < 20.0:
                    continue
                raw += [(g, code, scale) for g, code in _subdivide(piece, kind, rng)]
    polys = _exact_coverage([g for g, _, _ in raw])
    return [(g, code, scale) for g, (_, code, scale) in zip(polys, raw)]


def _exact_coverage(polys: list[Polygon]) -> list[Polygon]:
    """Insert shared vertices into neighbours and round everything to the millimetre."""
    arr = np.asarray(polys, dtype=object)
    tree = shapely.STRtree(arr)
    out = []
    for i, p in enumerate(arr):
        near = [j for j in tree.query(p, predicate="dwithin", distance=1e-3) if j != i]
        if near:
            ref = shapely.union_all(shapely.extract_unique_points(arr[near]))
            p = shapely.snap(p, ref, 1e-4)
        p = shapely.set_precision(p, 0.001, mode="pointwise")
        if not p.is_valid:
            p = shapely.make_valid(p)
            p = max(_polygons(p), key=lambda q: q.area)
        out.append(shapely.normalize(p))
    return out


def label_points(geoms, extent: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Where the labels of parcels go on a sheet, and how much room they have: the centre
    and radius (m) of the largest circle inside each parcel's largest part within the frame."""
    parts = shapely.intersection(np.asarray(geoms, dtype=object), box(*extent))
    parts = np.array([max(_polygons(g) or [Point(g.centroid)], key=lambda q: q.area) for g in parts], dtype=object)
    circles = shapely.maximum_inscribed_circle(parts, tolerance=0.1)
    return shapely.get_point(circles, 0), shapely.length(circles)
