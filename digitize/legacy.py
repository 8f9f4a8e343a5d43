"""Legacy drawings (line-work plus loose label texts) to the ``parcels`` layer.

Pure steps, in the order :func:`import_elements` runs them:

1. :func:`resolve_levels`: which levels (DGN) or layers (DXF) hold the boundaries,
   the parcel numbers, the land-use codes and the areas: Circular 25/2014 Annex 18
   (10, 11, 2, 4), a user mapping, or detected from the content;
2. :func:`boundary_lines`: every boundary element as line strings; DGN arcs and
   ellipses re-stroked within the scale's arc tolerance;
3. :func:`polygonize_linework`: endpoints that miss or overshoot by up to the
   snapping tolerance are snapped, lines drawn twice or in long runs are noded, and
   the closed faces become polygons;
4. :func:`read_labels` and :func:`attach_labels`: each text goes to the polygon that
   holds it; two numbers in one polygon, or none, are reported, never guessed;
5. :func:`gis.topology.repair_parcels` and :func:`gis.topology.check_parcels`.

Polygon sources (Shapefile, MapInfo, GeoJSON...) skip 2-4: their attribute columns
are mapped with :func:`parcels_from_polygons`.  :func:`check_location` explains data
that lands outside its province (global origin not applied, HN-72 Gauss-Krüger
coordinates, X/Y swapped, millimetres).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry import LineString

from digitize.edgematch import join_across_sheets
from gis.crs import Province, resolve_crs, to_wgs84
from gis.errors import DigitizeError, FormatError, InputError
from gis.landuse import is_land_use_code
from gis.sheets import SCALES, Sheet, parse_sheet, sheet_at
from gis.textenc import to_unicode
from gis.topology import Finding, check_parcels, qa_flags, repair_parcels, tolerances

__all__ = [
    "ANNEX18",
    "PARCEL_COLUMNS",
    "LegacyResult",
    "LevelMap",
    "adjust_coordinates",
    "assemble",
    "attach_labels",
    "boundary_lines",
    "check_location",
    "guess_sheet",
    "import_elements",
    "parcels_from_polygons",
    "parse_levels",
    "polygonize_linework",
    "read_labels",
    "resolve_levels",
]

#: the columns of the ``parcels`` layer, in order
PARCEL_COLUMNS = ["parcel_no", "area_label_m2", "land_use", "area_m2", "sheet_no", "confidence", "qa_flags"]

_ROLES = ("boundary", "number", "land_use", "area")


@dataclass(frozen=True)
class LevelMap:
    """Which levels/layers (or, for polygon sources, which columns) play which part."""

    boundary: tuple[str, ...] = ()
    number: tuple[str, ...] = ()
    land_use: tuple[str, ...] = ()
    area: tuple[str, ...] = ()

    def describe(self) -> str:
        """``boundary=10,number=11,...`` (the form ``--levels`` takes)."""
        return ",".join(f"{r}={'+'.join(getattr(self, r)) or '-'}" for r in _ROLES)


#: Circular 25/2014 Annex 18: boundaries 10, parcel number 11, land use 2, area 4
ANNEX18 = LevelMap(("10",), ("11",), ("2",), ("4",))


def parse_levels(spec: str) -> LevelMap | None:
    """``annex18``, ``auto`` (None: detect) or a mapping ``boundary=10,number=11,area=4,land_use=2``.

    A role may list several levels joined by ``+`` (``boundary=10+12``); level names
    may be DXF layer names or, for polygon sources, column names.

    >>> parse_levels("boundary=RANHTHUA,number=SOTHUA").boundary
    ('RANHTHUA',)
    """
    text = spec.strip()
    if text.lower() == "annex18":
        return ANNEX18
    if text.lower() == "auto":
        return None
    roles: dict[str, tuple[str, ...]] = {}
    aliases = {"landuse": "land_use", "use": "land_use", "code": "land_use", "parcel_no": "number",
               "boundaries": "boundary", "area_label": "area"}
    for part in filter(None, (s.strip() for s in text.split(","))):
        key, sep, value = part.partition("=")
        key = aliases.get(key.strip().lower(), key.strip().lower())
        if not sep or key not in _ROLES or not value.strip():
            raise InputError(
                f"cannot read --levels {spec!r} at {part!r}",
                hint="give annex18, auto, or a mapping like boundary=10,number=11,land_use=2,area=4",
            )
        roles[key] = tuple(v.strip() for v in value.split("+") if v.strip())
    return LevelMap(**roles)


def _level_key(name: str) -> str:
    """A layer name reduced for matching: ``"Level 10"``, ``"LV_10"``, ``"10"`` -> ``"10"``."""
    low = str(name).strip().lower()
    m = re.fullmatch(r"(?:level|lev|lv|l)?[\s_\-]*0*(\d+)", low)
    return m.group(1) if m else low


def _matches(levels: pd.Series, wanted: Sequence[str]) -> np.ndarray:
    keys = {_level_key(w) for w in wanted}
    return levels.map(_level_key).isin(keys).to_numpy()


_INT = re.compile(r"^\s*(\d{1,6})\s*$")
_DEC = re.compile(r"^\s*(\d{1,9}(?:[.,]\d+)?)\s*(?:m2|m²)?\s*$", re.IGNORECASE)
_FRACTION = re.compile(r"^\s*(\d{1,6})\s*[/\n]\s*(\d{1,9}(?:[.,]\d+)?)\s*(?:m2|m²)?\s*$", re.IGNORECASE)
_CODE = re.compile(r"^\s*([A-Za-z]{2,4}(?:\s*\+\s*[A-Za-z]{2,4})*)\s*$")

_NAME_HINTS = {
    "boundary": ("ranh", "thua_", "boundary", "parcel", "ranhthua", "duongthua"),
    "number": ("sothua", "so_thua", "sohieu", "number", "nhan", "label"),
    "area": ("dientich", "dien_tich", "area", "dt"),
    "land_use": ("loaidat", "loai_dat", "mdsd", "landuse", "land_use", "mucdich"),
}


def resolve_levels(elements: gpd.GeoDataFrame, levels: LevelMap | None) -> LevelMap:
    """The level map to use: the one given, completed, or detected from the content.

    Raises :class:`DigitizeError` when nothing is on the boundary level, naming the
    levels that do hold line-work.
    """
    is_line = _is_line(elements)
    if levels is None:
        levels = _detect_levels(elements)
    if not (is_line & _matches(elements["level"], levels.boundary)).any():
        raise DigitizeError(
            f"nothing is drawn on the boundary level ({'+'.join(levels.boundary) or 'none found'}); "
            f"line-work is on: {_census(elements, is_line)}",
            hint="name the boundary level: --levels boundary=<level>,number=<level>,land_use=<level>,area=<level>, "
                 "or --levels auto to detect it",
        )
    return levels


def _census(elements: gpd.GeoDataFrame, mask: np.ndarray) -> str:
    counts = elements.loc[mask, "level"].value_counts()
    if counts.empty:
        return "no level"
    return ", ".join(f"{lv} ({n})" for lv, n in counts.head(8).items())


def _is_line(elements: gpd.GeoDataFrame) -> np.ndarray:
    t = shapely.get_type_id(np.asarray(elements.geometry.values, dtype=object))
    return np.isin(t, (1, 2, 3, 5, 6)) & elements["text"].isna().to_numpy()


def _is_text(elements: gpd.GeoDataFrame) -> np.ndarray:
    return elements["text"].notna().to_numpy()


def _detect_levels(elements: gpd.GeoDataFrame) -> LevelMap:
    """Detect the roles from the content: most line-work, integer texts, decimals, codes."""
    lines = _is_line(elements)
    texts = _is_text(elements)
    level = elements["level"]
    names = {r: tuple(lv for lv in level.unique() if any(h in str(lv).lower() for h in _NAME_HINTS[r]))
             for r in _ROLES}
    boundary = names["boundary"] if names["boundary"] and (lines & level.isin(names["boundary"]).to_numpy()).any() \
        else tuple(level[lines].value_counts().head(1).index)
    stats = []
    for lv, grp in elements[texts].groupby("level"):
        vals = [_safe_text(t) for t in grp["text"]]
        n = len(vals)
        ints = [int(m.group(1)) for v in vals if (m := _INT.match(v))]
        decs = sum(bool(_DEC.match(v)) and not _INT.match(v) for v in vals)
        fracs = sum(bool(_FRACTION.match(v)) for v in vals)
        codes = sum(bool(_CODE.match(v)) and all(is_land_use_code(c) for c in re.split(r"\s*\+\s*", v.strip()))
                    for v in vals)
        stats.append({"level": lv, "n": n, "ints": len(ints), "decs": decs, "fracs": fracs, "codes": codes,
                      "median": float(np.median(ints)) if ints else math.inf})
    stats_df = pd.DataFrame(stats)
    roles: dict[str, tuple[str, ...]] = {"boundary": boundary}
    if not stats_df.empty:
        codes = stats_df[stats_df.codes >= 0.5 * stats_df.n].sort_values("codes", ascending=False)
        if len(codes):
            roles["land_use"] = (codes.iloc[0].level,)
        fr = stats_df[stats_df.fracs >= 0.5 * stats_df.n].sort_values("fracs", ascending=False)
        numeric = stats_df[(stats_df.ints + stats_df.decs >= 0.5 * stats_df.n) & (stats_df.ints + stats_df.decs > 0)]
        if len(fr):
            roles["number"] = (fr.iloc[0].level,)
        elif len(numeric):
            with_decs = numeric[numeric.decs > 0]
            if len(with_decs):
                roles["area"] = (with_decs.sort_values("decs", ascending=False).iloc[0].level,)
            rest = numeric[~numeric.level.isin(roles.get("area", ()))].sort_values(["median", "ints"],
                                                                                   ascending=[True, False])
            if len(rest):
                roles["number"] = (rest.iloc[0].level,)
                if "area" not in roles and len(rest) > 1:
                    roles["area"] = (rest.iloc[1].level,)
    for r in ("number", "area", "land_use"):
        if names[r] and (texts & level.isin(names[r]).to_numpy()).any():
            roles[r] = names[r]
    return LevelMap(**roles)


def _safe_text(t) -> str:
    try:
        return to_unicode(t) or ""
    except FormatError:
        return ""


# --------------------------------------------------------------------------- line-work


def boundary_lines(elements: gpd.GeoDataFrame, levels: LevelMap, *, scale: int) -> gpd.GeoSeries:
    """Every boundary element as line strings (polygons give their rings).

    DGN arcs and circular ellipses (types 15, 16), stroked coarsely by GDAL, are
    re-stroked so that no chord strays more than the scale's arc tolerance.
    """
    tol = tolerances(scale)
    mask = _is_line(elements) & _matches(elements["level"], levels.boundary)
    sel = elements[mask]
    out: list = []
    for geom, etype in zip(sel.geometry.values, sel["etype"].to_numpy()):
        if shapely.get_type_id(geom) in (3, 6):
            geom = shapely.boundary(geom)
        for part in shapely.get_parts(geom):
            if shapely.get_type_id(part) not in (1, 2):
                continue
            if str(etype) in ("15", "16"):
                part = _restroke_arc(part, tol.arc_m)
            out.append(part)
    lines = np.asarray(out, dtype=object)
    if len(lines):
        lines = lines[shapely.length(lines) > 0]
    return gpd.GeoSeries(lines)


def _restroke_arc(line: LineString, tol_m: float) -> LineString:
    """A stroked circular arc, stroked again finely; non-circular lines come back as they were."""
    pts = np.asarray(line.coords)[:, :2]
    n = len(pts)
    if n < 4:
        return line
    closed = np.allclose(pts[0], pts[-1])
    i1, i2 = (n // 3, 2 * n // 3) if closed else (n // 2, n - 1)
    centre = _circle_centre(pts[0], pts[i1], pts[i2])
    if centre is None:
        return line
    r = np.hypot(*(pts - centre).T)
    if r.mean() <= 0 or np.abs(r - r.mean()).max() > 1e-3 * max(r.mean(), 1.0) + 1e-6:
        return line
    rad = float(r.mean())
    ang = np.unwrap(np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0]))
    sweep = ang[-1] - ang[0]
    if closed:
        sweep = math.copysign(2 * math.pi, ang[1] - ang[0])
    step = 2 * math.acos(max(-1.0, 1 - tol_m / rad)) if tol_m < rad else math.pi / 2
    k = max(math.ceil(abs(sweep) / step), len(pts) - 1)
    t = ang[0] + np.linspace(0.0, sweep, k + 1)
    new = np.column_stack([centre[0] + rad * np.cos(t), centre[1] + rad * np.sin(t)])
    new[0], new[-1] = pts[0], pts[-1]
    return LineString(new)


def _circle_centre(a, b, c) -> np.ndarray | None:
    d = 2 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]))
    if abs(d) < 1e-12:
        return None
    sa, sb, sc = a @ a, b @ b, c @ c
    ux = (sa * (b[1] - c[1]) + sb * (c[1] - a[1]) + sc * (a[1] - b[1])) / d
    uy = (sa * (c[0] - b[0]) + sb * (a[0] - c[0]) + sc * (b[0] - a[0])) / d
    return np.array([ux, uy])


def polygonize_linework(lines: gpd.GeoSeries, *, scale: int) -> tuple[np.ndarray, list[Finding]]:
    """Close boundary line-work into polygons.

    Endpoints within the snapping tolerance of another line's vertex are moved onto
    it (onto the mean, when only loose ends meet); ends that stop short of a line
    are extended to it; then everything is noded (lines drawn twice merge, long
    runs split at every junction) and the faces are polygonized.  Left-over
    dangles longer than the tolerance are ``dangle`` findings.  Raises
    :class:`DigitizeError` (code ``unclosed``) when no face closes.
    """
    tol = tolerances(scale)
    geoms = np.asarray(lines.values, dtype=object)
    if len(geoms) == 0:
        raise DigitizeError("there are no boundary lines to close into parcels",
                            hint="check --levels: the boundary level may be another one")
    geoms = geoms[~pd.Series(shapely.to_wkb(shapely.normalize(geoms))).duplicated().to_numpy()]
    geoms = _snap_endpoints(geoms, tol.snap_m)
    noded = _node(geoms)
    noded = _node(np.concatenate([noded, _extensions(noded, tol.snap_m)]))
    polys, cuts, dangles, invalid = shapely.polygonize_full(noded)
    polys = shapely.get_parts(polys)
    findings: list[Finding] = []
    loose = np.concatenate([shapely.get_parts(dangles), shapely.get_parts(cuts), shapely.get_parts(invalid)])
    loose = loose[shapely.length(loose) > 2 * tol.snap_m] if len(loose) else loose
    if len(loose):
        merged = shapely.get_parts(shapely.line_merge(shapely.union_all(loose)))
        for g in merged:
            findings.append(Finding("dangle", "warning", f"a boundary line of {shapely.length(g):.2f} m closes no parcel",
                                    g, ()))
    if len(polys) == 0:
        raise DigitizeError(
            f"the boundary lines never close into a polygon ({len(loose)} open line(s)); "
            f"ends further apart than the snapping tolerance ({tol.snap_m:.2f} m at 1:{scale}) are not joined",
            hint="check --levels (the boundary level may be another one) and --scale, or close the line-work "
                 "in the CAD program",
        )
    return polys, findings


def _snap_endpoints(geoms: np.ndarray, tol: float) -> np.ndarray:
    """Move loose line ends onto the line-work within ``tol``.

    An end that already meets another vertex exactly is connected and never moves
    (real fabrics have genuine vertices closer than any tolerance).  A loose end goes
    to the nearest vertex of another line within ``tol``; loose ends that only meet
    each other go to the corner their lines make (else to their mean).
    """
    coords, idx = shapely.get_coordinates(geoms, return_index=True)
    n = len(coords)
    if n == 0:
        return geoms
    first = np.r_[True, idx[1:] != idx[:-1]]
    last = np.r_[idx[1:] != idx[:-1], True]
    is_end = first | last
    _, inverse, counts = np.unique(coords, axis=0, return_inverse=True, return_counts=True)
    loose = is_end & (counts[inverse.ravel()] == 1)
    if not loose.any():
        return geoms
    inward = coords[np.arange(n) + np.where(first, 1, -1) * is_end]
    pts = shapely.points(coords)
    tree = shapely.STRtree(pts)
    a, b = tree.query(pts[loose], predicate="dwithin", distance=tol)
    a = np.flatnonzero(loose)[a]
    keep = idx[a] != idx[b]
    a, b = a[keep], b[keep]
    moved = coords.copy()
    fixed = ~loose[b]
    dist = np.hypot(*(coords[a] - coords[b]).T)
    done = np.zeros(n, dtype=bool)
    order = np.lexsort((dist, a))
    for k in order[fixed[order]]:  # nearest fixed vertex first
        if not done[a[k]]:
            moved[a[k]] = coords[b[k]]
            done[a[k]] = True
    pa, pb = a[~fixed & ~done[a] & ~done[b]], b[~fixed & ~done[a] & ~done[b]]
    if len(pa):
        graph = coo_matrix((np.ones(len(pa)), (pa, pb)), shape=(n, n))
        _, label = connected_components(graph, directed=False)
        members = np.unique(np.concatenate([pa, pb]))
        members = members[np.argsort(label[members], kind="stable")]
        for group in np.split(members, np.flatnonzero(np.diff(label[members])) + 1):
            moved[group] = _corner(coords[group], inward[group], tol)
    out = shapely.linestrings(moved, indices=idx)
    return out[shapely.length(out) > 0]


def _corner(ends: np.ndarray, inward: np.ndarray, tol: float) -> np.ndarray:
    """Where loose ends that meet only each other belong: the point nearest to every
    end's line (the corner their extensions make), else their mean."""
    d = ends - inward
    d /= np.maximum(np.hypot(*d.T), 1e-12)[:, None]
    normals = np.column_stack([-d[:, 1], d[:, 0]])
    a = normals.T @ normals
    if np.linalg.cond(a) < 1e4:
        corner = np.linalg.solve(a, normals.T @ (normals * ends).sum(axis=1))
        if np.hypot(*(ends - corner).T).max() <= 2 * tol:
            return corner
    return ends.mean(axis=0)


def _node(geoms: np.ndarray) -> np.ndarray:
    """Node line-work: split at every crossing and merge lines drawn twice."""
    union = shapely.union_all(geoms)
    parts = shapely.get_parts(union)
    return parts[np.isin(shapely.get_type_id(parts), (1, 2))]


def _extensions(edges: np.ndarray, tol: float) -> np.ndarray:
    """Short segments that carry a dangling end on to a line it stops short of."""
    if len(edges) == 0:
        return edges
    starts = shapely.get_point(edges, 0)
    ends = shapely.get_point(edges, -1)
    pts = np.concatenate([starts, ends])
    key = pd.Series(shapely.to_wkb(pts))
    dangling = (key.map(key.value_counts()) == 1).to_numpy()
    tree = shapely.STRtree(edges)
    out = []
    m = len(edges)
    for k in np.flatnonzero(dangling):
        e = k % m
        near = tree.query(pts[k], predicate="dwithin", distance=tol)
        if not (near != e).any():
            continue
        c = np.asarray(edges[e].coords)
        tip, prev = (c[0], c[1]) if k < m else (c[-1], c[-2])
        d = tip - prev
        length = float(np.hypot(*d))
        if length == 0:
            continue
        out.append(LineString([tip, tip + d / length * 1.5 * tol]))
    return np.asarray(out, dtype=object)


# --------------------------------------------------------------------------- labels


def read_labels(elements: gpd.GeoDataFrame, levels: LevelMap, *, text_encoding: str = "auto"
                ) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The label texts as points: columns ``role`` (number, area, land_use), ``value``, ``text``.

    Number texts must be whole numbers (a ``number/area`` fraction gives both); area
    texts decimals (``123.4`` or ``123,4``, optional ``m2``); land-use texts codes.
    Texts on those levels that are none of these are returned in the second value,
    as messages.  Raises :class:`FormatError` for a text whose encoding is broken.
    """
    rows: list[dict] = []
    unread: list[str] = []
    texts = _is_text(elements)
    for role in ("number", "area", "land_use"):
        mask = texts & _matches(elements["level"], getattr(levels, role))
        for text, geom, lv in zip(elements.loc[mask, "text"], elements.loc[mask].geometry.values,
                                  elements.loc[mask, "level"]):
            value = to_unicode(text, encoding=text_encoding)  # type: ignore[arg-type]
            pt = shapely.point_on_surface(geom) if shapely.get_type_id(geom) != 0 else geom
            parsed = _parse(role, value)
            if parsed is None:
                unread.append(f"text {value!r} on level {lv} is not a {role.replace('_', '-')}")
                continue
            for r, v in parsed:
                rows.append({"role": r, "value": v, "text": value, "geometry": pt})
    df = gpd.GeoDataFrame(rows, columns=["role", "value", "text", "geometry"], geometry="geometry")
    return df, unread


def _parse(role: str, text: str) -> list[tuple[str, object]] | None:
    if role == "number":
        if m := _INT.match(text):
            return [("number", int(m.group(1)))]
        if m := _FRACTION.match(text):
            return [("number", int(m.group(1))), ("area", float(m.group(2).replace(",", ".")))]
        return None
    if role == "area":
        m = _DEC.match(text)
        return [("area", float(m.group(1).replace(",", ".")))] if m else None
    m = _CODE.match(text)
    return [("land_use", re.sub(r"\s+", "", m.group(1)).upper())] if m else None


def attach_labels(polygons: np.ndarray, labels: gpd.GeoDataFrame, *, scale: int) -> gpd.GeoDataFrame:
    """Give each polygon the labels that belong to it.

    A parcel number goes to the polygon that holds it (or, just outside every
    polygon, to the nearest within two snapping tolerances).  An area or land-use
    text belongs to the label it is part of: it follows its parcel number (a code
    drawn beside a small parcel's number may sit
    in the neighbour), found where the drawing's label layout puts it (the median
    offset of such texts from their nearest number), else the polygon that holds it.  Two different values of one
    role in a polygon leave the value
    empty and put the message in the column ``label_problem`` (kept through repairs
    and edge matching; :func:`assemble` turns it into ``multiple_labels`` findings).
    """
    tol = tolerances(scale)
    n = len(polygons)
    df = gpd.GeoDataFrame({"parcel_no": pd.array([pd.NA] * n, dtype="Int64"),
                           "area_label_m2": np.full(n, np.nan), "land_use": pd.Series([None] * n, dtype=object),
                           "label_problem": pd.Series([None] * n, dtype=object)},
                          geometry=list(polygons))
    if len(labels) == 0 or n == 0:
        return df
    tree = shapely.STRtree(polygons)
    pts = np.asarray(labels.geometry.values, dtype=object)
    li, pi = tree.query(pts, predicate="intersects")
    owner = np.full(len(pts), -1)
    owner[li] = pi
    lost = np.flatnonzero(owner < 0)
    if len(lost):
        near_l, near_p = tree.query_nearest(pts[lost], max_distance=2 * tol.snap_m, all_matches=False)
        owner[lost[near_l]] = near_p
    role = labels["role"].to_numpy()
    numbers = np.flatnonzero((role == "number") & (owner >= 0))
    if len(numbers):
        number_tree = shapely.STRtree(pts[numbers])
        xy = shapely.get_coordinates(pts)
        for kind in ("area", "land_use"):
            mine = np.flatnonzero(role == kind)
            if len(mine) == 0:
                continue
            # the drawing's label layout: where this text sits relative to its number
            near_o, near_n = number_tree.query_nearest(pts[mine], max_distance=0.01 * scale, all_matches=False)
            if len(near_o) == 0:
                continue
            offset = np.median(xy[mine[near_o]] - xy[numbers[near_n]], axis=0)
            expected = shapely.points(xy[mine] - offset)
            near_o, near_n = number_tree.query_nearest(expected, max_distance=0.005 * scale, all_matches=False)
            owner[mine[near_o]] = owner[numbers[near_n]]
    col = {"number": "parcel_no", "area": "area_label_m2", "land_use": "land_use"}
    what = {"number": "parcel numbers", "area": "areas", "land_use": "land-use codes"}
    frame = pd.DataFrame({"owner": owner, "role": labels["role"].to_numpy(), "value": labels["value"].to_numpy()})
    frame = frame[frame.owner >= 0]
    for (p, role), grp in frame.groupby(["owner", "role"]):
        values = list(dict.fromkeys(grp["value"]))
        if len(values) == 1:
            df.at[p, col[role]] = values[0]
        else:
            msg = f"{len(values)} {what[role]} in one parcel: {', '.join(map(str, values))}"
            old = df.at[p, "label_problem"]
            df.at[p, "label_problem"] = msg if old is None else f"{old}; {msg}"
    return df


# --------------------------------------------------------------------------- polygon sources

_COLUMN_HINTS = {
    "number": ("parcel_no", "so_thua", "sothua", "sohieuthua", "shthua", "so_hieu_thua", "thua", "parcel", "number"),
    "area": ("area_label_m2", "dien_tich", "dientich", "dt", "area", "area_m2"),
    "land_use": ("land_use", "loai_dat", "loaidat", "mdsd", "kh_mdsd", "muc_dich", "mucdich", "landuse"),
}


def parcels_from_polygons(elements: gpd.GeoDataFrame, levels: LevelMap | None
                          ) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Parcels from a polygon layer: attribute columns mapped to number, area, land use.

    Columns come from ``levels`` (``number=SoThua,area=DienTich,land_use=LoaiDat``)
    or are recognized by name.  Returns the parcels and notes on what was mapped.
    """
    poly = np.isin(shapely.get_type_id(np.asarray(elements.geometry.values, dtype=object)), (3, 6))
    sel = elements[poly]
    attrs = pd.DataFrame(list(sel["attributes"]), index=sel.index)
    lower = {str(c).lower(): c for c in attrs.columns}
    notes = []
    out = pd.DataFrame(index=sel.index)
    for role, col in (("number", "parcel_no"), ("area", "area_label_m2"), ("land_use", "land_use")):
        given = getattr(levels, role) if levels is not None and levels is not ANNEX18 else ()
        name = next((lower[g.lower()] for g in given if g.lower() in lower), None)
        if given and name is None:
            raise InputError(f"column {given[0]!r} (for {role}) is not in the layer",
                             hint=f"columns are: {', '.join(map(str, attrs.columns))}")
        if name is None:
            name = next((lower[h] for h in _COLUMN_HINTS[role] if h in lower), None)
        if name is not None:
            notes.append(f"{role} from column {name!r}")
        out[col] = attrs[name] if name is not None else None
    out["parcel_no"] = pd.to_numeric(out["parcel_no"], errors="coerce").astype("Int64")
    out["area_label_m2"] = pd.to_numeric(
        out["area_label_m2"].astype(str).str.replace(",", ".", regex=False), errors="coerce")
    out["land_use"] = out["land_use"].map(lambda v: None if v is None or pd.isna(v) else str(v).strip().upper())
    gdf = gpd.GeoDataFrame(out, geometry=list(sel.geometry.values)).reset_index(drop=True)
    return gdf, notes


# --------------------------------------------------------------------------- sheet and location


def adjust_coordinates(elements: gpd.GeoDataFrame, *, offset: tuple[float, float] | None = None,
                       swap_xy: bool = False, factor: float = 1.0) -> gpd.GeoDataFrame:
    """Fix legacy coordinates: scale by ``factor`` (mm -> m), swap X/Y, then add ``offset``."""
    if offset is None and not swap_xy and factor == 1.0:
        return elements
    dx, dy = offset or (0.0, 0.0)

    def fix(xy: np.ndarray) -> np.ndarray:
        xy = xy * factor
        if swap_xy:
            xy = xy[:, ::-1]
        return xy + np.array([dx, dy])

    out = elements.copy()
    out["geometry"] = shapely.transform(np.asarray(elements.geometry.values, dtype=object), fix)
    return out

_SHEET_TEXT = re.compile(r"(?:^|\s)((?:10-)?\d{6}(?:-[1-9](?:-[a-d]|-\(\d{1,2}\)|-\d{1,3})?)?)(?:\s|$)")


def guess_sheet(bounds: tuple[float, float, float, float], texts: Sequence[str], *, scale: int | None = None,
                ends: np.ndarray | None = None) -> Sheet:
    """The map sheet of a drawing.

    In order: a sheet number written in the drawing that fits the data; the sheet
    (of ``scale`` if given) at the data's centre whose frame the most boundary line
    ``ends`` lie on (line-work cut at the sheet edge); the sheet of ``scale`` at the
    centre; the smallest sheet that holds the data.
    """
    min_e, min_n, max_e, max_n = bounds
    cx, cy = (min_e + max_e) / 2, (min_n + max_n) / 2
    for text in texts:
        for m in _SHEET_TEXT.finditer(str(text)):
            try:
                sheet = parse_sheet(m.group(1), northing_hint=cy)
            except InputError:
                continue
            e = sheet.extent
            if (scale is None or sheet.scale == scale) and e[0] <= cx <= e[2] and e[1] <= cy <= e[3]:
                return sheet
    scales = [scale] if scale is not None else sorted(SCALES)
    if ends is not None and len(ends):
        on_frame = {s: int((shapely.distance(ends, shapely.box(*sheet_at(cx, cy, s).extent).exterior) < 0.01).sum())
                    for s in scales}
        best = max(on_frame, key=lambda s: (on_frame[s], -s))
        if on_frame[best] >= 4:
            return sheet_at(cx, cy, best)
    if scale is not None:
        return sheet_at(cx, cy, scale)
    slack = 0.02
    for s in sorted(SCALES):
        sheet = sheet_at(cx, cy, s)
        e, pad = sheet.extent, SCALES[s] * slack
        if e[0] - pad <= min_e and min_n >= e[1] - pad and max_e <= e[2] + pad and max_n <= e[3] + pad:
            return sheet
    return sheet_at(cx, cy, 10000)


def check_location(bounds: tuple[float, float, float, float], crs: CRS, province: Province) -> Finding | None:
    """An ``outside_province`` finding when the data's centre is not in the province, with the likely cause.

    Causes tried: DGN global origin not applied (coordinates 500 km / 1000 km short),
    HN-72 Gauss-Krüger 6° coordinates, easting and northing swapped, millimetres.
    """
    min_e, min_n, max_e, max_n = bounds
    cx, cy = (min_e + max_e) / 2, (min_n + max_n) / 2
    if _inside(cx, cy, crs, province):
        return None
    causes = []
    if _inside(cx + 500_000, cy + 1_000_000, crs, province):
        causes.append("the DGN global origin (X 500000, Y 1000000) was not applied: try --offset 500000,1000000")
    for key in ("hn72:gk18", "hn72:gk19"):
        src = resolve_crs(key)
        x, y = Transformer.from_crs(src, crs, always_xy=True).transform(cx, cy)
        if math.isfinite(x) and _inside(x, y, crs, province):
            causes.append(f"the coordinates look like HN-72 Gauss-Krüger: try --src-crs {key}")
    if _inside(cy, cx, crs, province):
        causes.append("easting and northing are swapped (Vietnamese X is the northing): try --swap-xy")
    if _inside(cx / 1000, cy / 1000, crs, province):
        causes.append("the coordinates are in millimetres: try --units mm")
    lon, lat = to_wgs84(crs).transform(cx, cy)
    why = "; ".join(causes) if causes else "no simple cause found (wrong zone or CRS?)"
    return Finding("outside_province", "error",
                   f"the data lies at {lat:.3f}°N {lon:.3f}°E, outside {province.name} "
                   f"(around {province.approx_lat:.1f}°N {province.central_meridian:.2f}°E): {why}",
                   shapely.box(*bounds), ())


def _inside(e: float, n: float, crs: CRS, province: Province) -> bool:
    lon, lat = to_wgs84(crs).transform(e, n)
    return (math.isfinite(lon) and abs(lat - province.approx_lat) <= 1.0
            and abs(lon - province.central_meridian) <= 1.6)


# --------------------------------------------------------------------------- the whole import


@dataclass
class LegacyResult:
    """One imported drawing: its parcels (before the final checks), findings so far, sheet."""

    parcels: gpd.GeoDataFrame
    findings: list[Finding]
    sheet: Sheet
    levels: LevelMap
    notes: list[str] = field(default_factory=list)


def import_elements(
    elements: gpd.GeoDataFrame,
    *,
    levels: LevelMap | None,
    crs: CRS,
    scale: int | None = None,
    sheet_no: str | None = None,
    text_encoding: str = "auto",
) -> LegacyResult:
    """Turn one drawing's elements (already in ``crs``) into parcels, with the safe repairs.

    Line-work sources are polygonized and labelled; polygon sources are mapped by
    column.  The checks run in :func:`assemble`, once every sheet is in.
    """
    notes: list[str] = []
    types = shapely.get_type_id(np.asarray(elements.geometry.values, dtype=object))
    polygon_source = not _is_line(elements).any() or (
        np.isin(types, (3, 6)).all() and elements["text"].isna().all() and elements["attributes"].map(bool).any())
    texts = [t for t in elements["text"].dropna().map(_safe_text)]
    bounds = tuple(elements.total_bounds)
    if not all(map(math.isfinite, bounds)):
        raise DigitizeError("the drawing has no coordinates", hint="check that this is the right file")
    line_ends = None
    if not polygon_source:
        parts = shapely.get_parts(shapely.boundary(np.asarray(elements.geometry.values[_is_line(elements)])))
        line_ends = parts[shapely.get_type_id(parts) == 0]
    try:
        sheet = parse_sheet(sheet_no, northing_hint=bounds[1]) if sheet_no else \
            guess_sheet(bounds, texts, scale=scale, ends=line_ends)
    except InputError as exc:
        raise DigitizeError(f"the drawing cannot be placed on a map sheet: {exc.message}",
                            hint="check --crs (is the drawing in a VN-2000 TM-3 zone?) or give --sheet") from None
    scale = scale or sheet.scale
    findings: list[Finding] = []
    if polygon_source:
        parcels, notes = parcels_from_polygons(elements, levels)
        if len(parcels) == 0:
            raise DigitizeError("the file has neither boundary lines nor polygons",
                                hint="check the file, or --levels for the boundary level")
        parcels["label_problem"] = None
        parcels["edge_piece"] = False
        used = levels or LevelMap()
    else:
        used = resolve_levels(elements, levels)
        notes.append(f"levels: {used.describe()}")
        lines = boundary_lines(elements, used, scale=scale)
        frame = shapely.box(*sheet.extent).exterior
        tol = tolerances(scale)
        ends = np.concatenate([shapely.get_point(lines.values, 0), shapely.get_point(lines.values, -1)])
        if (shapely.distance(ends, frame) <= tol.snap_m).sum() >= 2:
            # boundaries cut at the sheet edge: the frame closes the cut parcels
            lines = gpd.GeoSeries(np.append(lines.values, frame))
            notes.append(f"boundaries end on the frame of sheet {sheet.number}: the frame closes them")
        polys, line_findings = polygonize_linework(lines, scale=scale)
        findings += line_findings
        labels, unread = read_labels(elements, used, text_encoding=text_encoding)
        notes += unread
        parcels = attach_labels(polys, labels, scale=scale)
        unlabelled = (parcels["parcel_no"].isna() & parcels["area_label_m2"].isna()
                      & parcels["land_use"].isna()).to_numpy()
        parcels["edge_piece"] = unlabelled & (shapely.distance(polys, frame) <= tol.snap_m)
    parcels = parcels.set_crs(crs, allow_override=True)
    parcels["sheet_no"] = sheet.number
    # pieces at the sheet edge wait for edge matching: a thin one is not a sliver to merge here
    pieces = parcels[parcels["edge_piece"].to_numpy(dtype=bool)]
    parcels, repaired = repair_parcels(parcels[~parcels["edge_piece"].to_numpy(dtype=bool)], scale=scale)
    parcels = gpd.GeoDataFrame(pd.concat([parcels, pieces]), geometry="geometry", crs=crs)
    findings += [Finding(f.code, f.severity, f.message, f.geometry, ()) for f in repaired]
    return LegacyResult(parcels.reset_index(drop=True), findings, sheet, used, notes)


def assemble(results: Sequence[LegacyResult], *, scale: int | None = None
             ) -> tuple[gpd.GeoDataFrame, list[Finding]]:
    """All sheets into one ``parcels`` layer: join parcels across sheet edges, run every
    topology check, and fill ``area_m2``, ``confidence`` and ``qa_flags``."""
    if not results:
        raise DigitizeError("nothing was imported")
    scale = scale or min(r.sheet.scale for r in results)
    parcels = gpd.GeoDataFrame(pd.concat([r.parcels for r in results], ignore_index=True),
                               geometry="geometry", crs=results[0].parcels.crs)
    findings = [f for r in results for f in r.findings]
    extents = {r.sheet.number: r.sheet.extent for r in results}
    parcels, joined = join_across_sheets(parcels, extents, scale=scale)
    pieces = (parcels["edge_piece"].astype(bool) & parcels["parcel_no"].isna()).to_numpy()
    for g, sheet in zip(parcels.geometry.values[pieces], parcels["sheet_no"].to_numpy()[pieces]):
        findings.append(Finding("cut_by_sheet_edge", "warning",
                                f"an unlabelled piece ({g.area:.1f} m²) at the edge of sheet {sheet} is left out: "
                                "a road or water, or a parcel of a sheet that was not imported", g, ()))
    new_id = pd.Series(np.cumsum(~pieces) - 1, index=parcels.index)
    joined = [Finding(f.code, f.severity, f.message, f.geometry, tuple(int(new_id[i]) for i in f.feature_ids))
              for f in joined if not pieces[f.feature_ids[0]]]
    findings += joined
    parcels = parcels[~pieces].reset_index(drop=True)
    problems = parcels["label_problem"]
    two_numbers = {i for i, v in problems.items() if isinstance(v, str) and "parcel numbers" in v}
    whole = {i for f in joined for i in f.feature_ids}  # joined across an edge: complete again
    findings += [f for f in check_parcels(parcels, scale=scale, sheet_extent=extents)
                 if not (f.code == "unlabeled" and f.feature_ids[0] in two_numbers)
                 and not (f.code == "cut_by_sheet_edge" and f.feature_ids[0] in whole)]
    for i in np.flatnonzero([isinstance(v, str) for v in problems]):
        findings.append(Finding("multiple_labels", "error", str(parcels["label_problem"].iloc[i]),
                                parcels.geometry.iloc[i], (parcels.index[i],)))
    parcels["area_m2"] = parcels.geometry.area.round(2)
    parcels["qa_flags"] = qa_flags(findings, parcels.index)
    parcels["confidence"] = np.where(parcels["qa_flags"] == "", 1.0, 0.5)
    parcels["parcel_no"] = parcels["parcel_no"].astype("Int64")
    return parcels[PARCEL_COLUMNS + ["geometry"]], findings
