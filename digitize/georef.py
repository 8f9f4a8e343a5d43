"""Georeference a scanned sheet from control points.

Pixel coordinates have their origin at the top-left corner of the image, x to the
right, y down, in pixels (the centre of the top-left pixel is (0.5, 0.5), as in GDAL
and QGIS).  Map coordinates are (easting, northing) in metres of the target CRS.

Four models, fitted in both directions so that vectors (pixel -> map) and the warped
raster (map -> pixel) use the same fit:

``affine``   first order, 3+ points
``poly2``    second order polynomial, 6+ points
``poly3``    third order polynomial, 10+ points
``tps``      thin-plate spline, 3+ points (exact at the points)
``auto``     the model with the smallest leave-one-out RMS among those the points allow

Residuals are reported per point, in metres and in millimetres at map scale, beside the
0.1 mm norm of Circular 25/2014 Art. 7.  Because a spline (and a polynomial with few
spare points) passes through its points, each point is also judged by its
*leave-one-out* residual: the error at that point of the model fitted without it.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from scipy.interpolate import RBFInterpolator
from scipy.spatial import cKDTree

from gis.errors import FormatError, GeoreferenceError
from gis.io import require_file

__all__ = [
    "METHODS",
    "NORM_MM",
    "ControlPoints",
    "Georeference",
    "Residual",
    "parse_gcps",
    "read_gcps",
    "check_gcps",
    "fit_georeference",
    "poly_terms",
]

METHODS = ("affine", "poly2", "poly3", "tps")
_MIN_POINTS = {"affine": 3, "poly2": 6, "poly3": 10, "tps": 3}
_ORDER = {"affine": 1, "poly2": 2, "poly3": 3}
#: control-point error allowed by Circular 25/2014 Art. 7, in mm at map scale
NORM_MM = 0.1


@dataclass(frozen=True)
class ControlPoints:
    """Control points: ``pixel`` (n, 2) in image pixels, ``world`` (n, 2) in map metres.

    ``picked`` is where each point was picked by hand when ``pixel`` has since been
    measured on the scan (:func:`digitize.gridcross.refine_control_points`).
    """

    pixel: np.ndarray
    world: np.ndarray
    ids: tuple[str, ...] = ()
    picked: np.ndarray | None = None  # (n, 2): where the points were picked, when measured on the scan since

    def __post_init__(self) -> None:
        if not self.ids:
            object.__setattr__(self, "ids", tuple(str(i + 1) for i in range(len(self.pixel))))

    def __len__(self) -> int:
        return len(self.pixel)


@dataclass(frozen=True)
class Residual:
    """The misfit of one control point, in metres on the ground and mm on the paper."""

    id: str
    pixel_x: float
    pixel_y: float
    map_x: float
    map_y: float
    dx_m: float
    dy_m: float
    residual_m: float
    residual_mm: float
    loo_m: float
    loo_mm: float
    outlier: bool
    moved_px: float = 0.0  # how far the point moved from where it was picked, measured on the scan


def poly_terms(xy: np.ndarray, order: int) -> np.ndarray:
    """The terms of a bivariate polynomial of ``order`` at points (n, 2): 1, x, y, x², xy, y², …"""
    x, y = xy[:, 0], xy[:, 1]
    cols = [x**i * y**j for n in range(order + 1) for i in range(n, -1, -1) for j in [n - i]]
    return np.stack(cols, axis=1)


class _Norm:
    """Centre and scale coordinates so polynomial fits stay well conditioned."""

    def __init__(self, xy: np.ndarray) -> None:
        self.c = xy.mean(axis=0)
        self.s = float(np.abs(xy - self.c).max()) or 1.0

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        return (xy - self.c) / self.s


class _OneWay:
    """One direction of a model: src (n, 2) -> dst (n, 2)."""

    def __init__(self, method: str, src: np.ndarray, dst: np.ndarray) -> None:
        self.method = method
        self.ns, self.nd = _Norm(src), _Norm(dst)
        s, d = self.ns(src), self.nd(dst)
        if method == "tps":
            self._rbf = RBFInterpolator(s, d, kernel="thin_plate_spline", degree=1)
        else:
            a = poly_terms(s, _ORDER[method])
            self._coef, *_ = np.linalg.lstsq(a, d, rcond=None)

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        s = self.ns(np.asarray(xy, dtype=float).reshape(-1, 2))
        d = self._rbf(s) if self.method == "tps" else poly_terms(s, _ORDER[self.method]) @ self._coef
        return d * self.nd.s + self.nd.c


@dataclass
class Georeference:
    """A fitted model, its residuals, and its map scale."""

    method: str
    points: ControlPoints
    scale: int
    residuals: list[Residual] = field(default_factory=list)
    _fwd: _OneWay | None = field(default=None, repr=False)
    _inv: _OneWay | None = field(default=None, repr=False)

    def to_map(self, pixel_xy: np.ndarray) -> np.ndarray:
        """Pixel (n, 2) -> map (n, 2)."""
        return self._fwd(pixel_xy)

    def to_pixel(self, map_xy: np.ndarray) -> np.ndarray:
        """Map (n, 2) -> pixel (n, 2)."""
        return self._inv(map_xy)

    @property
    def rms_m(self) -> float:
        """Root mean square of the residuals, metres (leave-one-out for a spline)."""
        key = "loo_m" if self.method == "tps" else "residual_m"
        vals = [getattr(r, key) for r in self.residuals if not r.outlier] or [getattr(r, key) for r in self.residuals]
        return float(math.sqrt(np.mean(np.square(vals))))

    @property
    def rms_mm(self) -> float:
        """RMS in millimetres at map scale."""
        return self.rms_m / self.scale * 1000.0

    @property
    def within_norm(self) -> bool:
        """Whether the RMS meets the 0.1 mm control-point norm."""
        return self.rms_mm <= NORM_MM

    @property
    def outliers(self) -> list[str]:
        """Ids of the control points flagged as outliers."""
        return [r.id for r in self.residuals if r.outlier]

    def pixel_size_m(self) -> float:
        """Mean ground size of one pixel, metres (from the affine part of the fit)."""
        c = self.points.pixel.mean(axis=0)
        p = np.array([c, c + [100.0, 0.0], c + [0.0, 100.0]])
        m = self.to_map(p)
        return float((np.hypot(*(m[1] - m[0])) + np.hypot(*(m[2] - m[0]))) / 200.0)

    def summary(self) -> dict:
        """A JSON-ready summary."""
        return {
            "method": self.method, "points": len(self.points), "rms_m": round(self.rms_m, 4),
            "rms_mm": round(self.rms_mm, 4), "rms_kind": "leave-one-out" if self.method == "tps" else "fit",
            "norm_mm": NORM_MM, "within_norm": self.within_norm,
            "outliers": self.outliers,
        }


def parse_gcps(text: str, *, name: str = "control points") -> ControlPoints:
    """Read control points from CSV (``pixel_x,pixel_y,map_x,map_y``) or QGIS ``.points`` text.

    QGIS georeferencer files have the header ``mapX,mapY,pixelX,pixelY,enable[,...]``
    (after an optional ``#CRS:`` line) and store pixel y as a negative number.
    """
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise FormatError(f"{name} is empty", hint="give a CSV with header pixel_x,pixel_y,map_x,map_y")
    header = [h.strip().lower() for h in re.split(r"[,;\t]", lines[0])]
    delim = next((d for d in ",;\t" if d in lines[0]), ",")
    rows = list(csv.DictReader(io.StringIO("\n".join(lines)), delimiter=delim))
    rows = [{k.strip().lower(): (v or "").strip() for k, v in r.items() if k} for r in rows]
    if {"pixel_x", "pixel_y", "map_x", "map_y"} <= set(header):
        keys, flip, enable = ("pixel_x", "pixel_y", "map_x", "map_y"), 1.0, None
    elif {"mapx", "mapy", "pixelx", "pixely"} <= set(header):
        keys, flip, enable = ("pixelx", "pixely", "mapx", "mapy"), -1.0, "enable"
    else:
        raise FormatError(
            f"{name}: unknown header {lines[0].strip()!r}",
            hint="a CSV needs pixel_x,pixel_y,map_x,map_y; a QGIS .points file mapX,mapY,pixelX,pixelY",
        )
    pix, world, ids = [], [], []
    for i, r in enumerate(rows, start=2):
        if enable and r.get(enable, "1") in ("0", "false"):
            continue
        try:
            px, py, mx, my = (float(r[k]) for k in keys)
        except (TypeError, ValueError):
            raise FormatError(f"{name}, line {i}: not a number in {list(r.values())}") from None
        if not all(math.isfinite(v) for v in (px, py, mx, my)):
            raise FormatError(f"{name}, line {i}: coordinates must be finite numbers")
        pix.append((px, py * flip))
        world.append((mx, my))
        ids.append(r.get("id") or r.get("name") or str(len(ids) + 1))
    return ControlPoints(np.array(pix, dtype=float).reshape(-1, 2), np.array(world, dtype=float).reshape(-1, 2),
                         tuple(ids))


def read_gcps(path: str | Path) -> ControlPoints:
    """Read a control-point file (CSV or QGIS ``.points``)."""
    p = require_file(path, "control-point file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise FormatError(f"control-point file {p} is not text") from None
    return parse_gcps(text, name=f"control-point file {p.name}")


def check_gcps(points: ControlPoints, *, image_size: tuple[int, int] | None = None,
               projected: bool = True) -> None:
    """Refuse control points that cannot give a trustworthy transform.

    ``image_size`` is (width, height) in pixels; ``projected`` says the target CRS is
    projected (metres), so lon/lat-looking map coordinates are an error.
    """
    n = len(points)
    if n < 3:
        raise GeoreferenceError(f"{n} control point(s) given; at least 3 are needed",
                                hint="add control points spread over the sheet (grid crosses, frame corners)")
    for what, xy in (("pixel", points.pixel), ("map", points.world)):
        c = xy - xy.mean(axis=0)
        sv = np.linalg.svd(c, compute_uv=False)
        if sv[0] == 0 or sv[1] / sv[0] < 1e-3:
            raise GeoreferenceError(f"the control points are collinear in {what} coordinates",
                                    hint="pick points that span the sheet in both directions")
    if len({tuple(p) for p in points.pixel.round(3)}) < n:
        raise GeoreferenceError("two control points have the same pixel position",
                                hint="remove the duplicate point")
    if image_size is not None:
        w, h = image_size
        bad = [pid for pid, (x, y) in zip(points.ids, points.pixel) if not (0 <= x <= w and 0 <= y <= h)]
        if bad:
            raise GeoreferenceError(
                f"control point(s) {', '.join(bad[:5])} lie outside the image ({w} x {h} px)",
                hint="pixel coordinates count from the top-left corner, y downwards",
            )
    if projected and np.all(np.abs(points.world[:, 0]) <= 180) and np.all(np.abs(points.world[:, 1]) <= 90):
        raise GeoreferenceError(
            "the map coordinates look like longitude/latitude degrees, but the CRS is projected (metres)",
            hint="give easting,northing in metres of --crs (e.g. 561234.5,2359876.1 for VN-2000 TM-3)",
        )


def _fit(method: str, pts: ControlPoints) -> tuple[_OneWay, _OneWay]:
    try:
        return _OneWay(method, pts.pixel, pts.world), _OneWay(method, pts.world, pts.pixel)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise GeoreferenceError(f"the {method} model cannot be fitted to these points: {exc}",
                                hint="use more, better spread control points or a simpler model") from None


def _loo(method: str, pts: ControlPoints) -> np.ndarray:
    """Leave-one-out error vectors (n, 2) in map units; NaN when too few points remain."""
    n = len(pts)
    out = np.full((n, 2), np.nan)
    if n - 1 < _MIN_POINTS[method] + (0 if method == "tps" else 1):
        return out
    for i in range(n):
        keep = np.arange(n) != i
        try:
            f = _OneWay(method, pts.pixel[keep], pts.world[keep])
        except (np.linalg.LinAlgError, ValueError):
            continue
        out[i] = f(pts.pixel[i:i + 1])[0] - pts.world[i]
    return out


def _limit(err_m: np.ndarray, scale: int) -> float:
    """Error beyond which a point is an outlier: 3x the norm and far beyond the others' spread."""
    med = float(np.median(err_m))
    mad = float(np.median(np.abs(err_m - med))) * 1.4826
    return max(3 * NORM_MM * scale / 1000.0, med + 5.0 * mad, 3.0 * med)


def _reach(pixel: np.ndarray) -> np.ndarray:
    """How far each point lies outside the others' convex hull, in typical point spacings (0 inside).

    Left out, such a point is an extrapolation of the others, and its leave-one-out
    error grows with that distance even when the point is right (a frame corner).
    """
    if len(pixel) < 4:
        return np.zeros(len(pixel))
    tree = cKDTree(pixel)
    spacing = float(np.median(tree.query(pixel, k=2)[0][:, 1])) or 1.0
    out = np.zeros(len(pixel))
    for i in range(len(pixel)):
        hull = shapely.MultiPoint(np.delete(pixel, i, axis=0)).convex_hull
        if not hull.covers(shapely.Point(pixel[i])):
            out[i] = hull.distance(shapely.Point(pixel[i])) / spacing
    return out


def _robust_keep(method: str, pts: ControlPoints, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop the worst point while it is an outlier; returns (keep mask, leave-one-out errors).

    A point outside the others' hull is allowed a leave-one-out error larger by twice its
    distance from them in point spacings (:func:`_reach`).
    """
    n = len(pts)
    keep = np.ones(n, dtype=bool)
    while True:
        idx = np.flatnonzero(keep)
        sub = ControlPoints(pts.pixel[idx], pts.world[idx], tuple(pts.ids[i] for i in idx))
        loo = np.hypot(*_loo(method, sub).T)
        if not np.isfinite(loo).all():
            return keep, np.full(n, np.nan)
        allow = 1.0 + 2.0 * _reach(sub.pixel)
        worst = int(np.argmax(loo / allow))
        others = np.delete(loo / allow, worst)
        if len(idx) - 1 < _MIN_POINTS[method] + 1 or loo[worst] <= _limit(others, scale) * allow[worst]:
            out = np.full(n, np.nan)
            out[idx] = loo
            return keep, out
        keep[idx[worst]] = False


def fit_georeference(points: ControlPoints, *, method: str = "auto", scale: int = 1000,
                     image_size: tuple[int, int] | None = None, projected: bool = True) -> Georeference:
    """Fit a pixel <-> map model to control points and measure its residuals.

    Outliers are found by leave-one-out error (worst first, one at a time), reported,
    and left out of the final fit when enough points remain.
    """
    if method not in (*METHODS, "auto"):
        raise GeoreferenceError(f"unknown georeferencing method {method!r}",
                                hint=f"choose from {', '.join(METHODS)}, auto")
    check_gcps(points, image_size=image_size, projected=projected)
    n = len(points)
    if method == "auto":
        scores = {}
        for m in METHODS:
            if n < max(2 * _MIN_POINTS[m], 4) and m != "affine":
                continue
            keep, loo = _robust_keep(m, points, scale)
            if np.isfinite(loo[keep]).all():
                # a richer model must earn its place: 10 % better than the simpler one
                scores[m] = float(np.sqrt(np.mean(loo[keep] ** 2))) * (1 + 0.1 * METHODS.index(m))
        method = min(scores, key=scores.get) if scores else "affine"
    elif n < _MIN_POINTS[method]:
        raise GeoreferenceError(f"{method} needs at least {_MIN_POINTS[method]} control points; {n} given",
                                hint="add control points or choose a simpler --method (affine needs 3)")
    keep, loo = _robust_keep(method, points, scale)
    final = ControlPoints(points.pixel[keep], points.world[keep], tuple(np.array(points.ids)[keep]))
    moved = np.zeros(n) if points.picked is None else np.hypot(*(points.pixel - points.picked).T)
    check_gcps(final, projected=projected)
    fwd, inv = _fit(method, final)
    fit_err = fwd(points.pixel) - points.world
    mm = 1000.0 / scale
    residuals = []
    for i in range(n):
        r = float(np.hypot(*fit_err[i]))
        lo = float(loo[i]) if np.isfinite(loo[i]) else r
        residuals.append(Residual(
            points.ids[i], float(points.pixel[i, 0]), float(points.pixel[i, 1]), float(points.world[i, 0]),
            float(points.world[i, 1]), float(fit_err[i, 0]), float(fit_err[i, 1]), r, r * mm, lo, lo * mm,
            not bool(keep[i]), round(float(moved[i]), 3),
        ))
    return Georeference(method, points, scale, residuals, fwd, inv)
