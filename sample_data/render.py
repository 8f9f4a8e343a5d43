"""Render a parcel sheet as a scanned paper cadastral map, with known damage.

The sheet is first drawn on ideal paper (pixel = paper millimetres x dpi / 25.4, top-left
origin, y down), as ink layers: frame, coordinate annotations, grid crosses every 10 cm,
parcel line-work, road names and parcel labels.  The damage model then maps ideal paper
pixels to scan pixels:

    centred ideal point  p = (X - cx, Y - cy)
    shrink               q = (p.x * (1 - shrink_x), p.y * (1 - shrink_y))
    rotate on the bed    r = R(rotation_deg) q
    smooth warp          s = r + w(X / W, Y / H)      (sum of sinusoids, a few pixels)
    placement            (u, v) = s + (cx_out, cy_out) + offset_px

and the ink is resampled through its inverse (fixed-point iteration, exact to well below
0.01 px).  Paper tone (yellowing, gradient, fold shadow, stains) and noise are made in scan
space.  :class:`TrueModel` is that mapping, map coordinates in, scan pixels out (and back),
so georeferencing can be scored against it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from PIL import Image, ImageChops, ImageDraw, ImageFont
from shapely.geometry import LineString, MultiLineString, box

from gis.errors import InputError
from gis.sheets import Sheet
from sample_data.fabric import label_points

__all__ = ["FONT_DIR", "LABEL_LAYOUTS", "Damage", "Style", "TrueModel", "page_layout", "render_sheet"]

FONT_DIR = Path("/usr/share/fonts/truetype")
LABEL_LAYOUTS = ("code_right", "code_below", "code_left")
#: paper margins around the 50 cm frame, millimetres: left, top, right, bottom
MARGINS_MM = (40.0, 70.0, 40.0, 45.0)
GRID_MM = 100.0


@dataclass(frozen=True)
class Style:
    """How a sheet is drawn: fonts, label layout, sizes, colour, title block text."""

    font: str = "dejavu/DejaVuSans.ttf"
    label_layout: str = "code_right"
    text_mm: float = 2.0
    line_mm: float = 0.2
    colour: bool = False
    commune: str = ""
    district: str = ""
    province: str = ""
    local_no: int | None = None


@dataclass(frozen=True)
class Damage:
    """What the paper and the scanner did to the sheet.  ``Damage()`` is a perfect scan."""

    rotation_deg: float = 0.0
    shrink_x: float = 0.0  # fraction: 0.004 = the paper shrank 0.4 % across
    shrink_y: float = 0.0
    offset_px: tuple[float, float] = (0.0, 0.0)
    #: smooth warp: terms (axis 0=x/1=y, amplitude px, cycles across, cycles down, phase rad)
    warp: tuple[tuple[int, float, float, float, float], ...] = ()
    yellowing: float = 0.0  # 0..1
    gradient: float = 0.0  # grey levels from one side to the other
    fold_shadow: float = 0.0  # grey levels of the darkest point of the fold
    fold_at: float = 0.5  # fold position as a fraction of the width
    stains: tuple[tuple[float, float, float, float, float], ...] = ()  # x, y (fractions), rx, ry (px), depth
    noise: float = 0.0  # sd of pixel noise, grey levels
    faded: float = 0.0  # fraction of line segments drawn faded
    broken: float = 0.0  # fraction of line segments with a gap

    @classmethod
    def random(cls, rng: np.random.Generator, *, size_px: tuple[int, int]) -> Damage:
        """A plausible damage of an archive sheet (rotation 0.3-2°, shrinkage 0.2-1 %...)."""
        sign = 1 if rng.random() < 0.5 else -1
        warp = tuple((axis, float(rng.uniform(1.0, 3.0)), float(rng.uniform(0.3, 1.5)),
                      float(rng.uniform(0.3, 1.5)), float(rng.uniform(0, 2 * math.pi)))
                     for axis in (0, 0, 1, 1))
        w, h = size_px
        stains = tuple((float(rng.uniform(0.05, 0.95)), float(rng.uniform(0.05, 0.95)),
                        float(rng.uniform(0.01, 0.06) * w), float(rng.uniform(0.01, 0.06) * h),
                        float(rng.uniform(12, 45))) for _ in range(int(rng.integers(2, 7))))
        return cls(
            rotation_deg=round(sign * float(rng.uniform(0.3, 2.0)), 3),
            shrink_x=round(float(rng.uniform(0.002, 0.01)), 4),
            shrink_y=round(float(rng.uniform(0.002, 0.01)), 4),
            offset_px=(round(float(rng.uniform(-20, 20)), 2), round(float(rng.uniform(-20, 20)), 2)),
            warp=tuple(tuple(round(v, 4) if isinstance(v, float) else v for v in t) for t in warp),
            yellowing=round(float(rng.uniform(0.2, 0.9)), 3),
            gradient=round(float(rng.uniform(6, 22)), 2),
            fold_shadow=round(float(rng.uniform(10, 35)), 2),
            fold_at=round(float(rng.uniform(0.4, 0.6)), 3),
            stains=tuple(tuple(round(v, 3) for v in s) for s in stains),
            noise=round(float(rng.uniform(1.5, 3.0)), 2),
            faded=round(float(rng.uniform(0.03, 0.10)), 3),
            broken=round(float(rng.uniform(0.02, 0.06)), 3),
        )

    def to_dict(self) -> dict:
        """JSON-ready parameters."""
        return asdict(self)


def page_layout(sheet: Sheet, dpi: int) -> tuple[float, int, int]:
    """(pixels per paper mm, page width px, page height px) of a sheet at ``dpi``."""
    ppmm = dpi / 25.4
    frame_mm = sheet.size_m / sheet.scale * 1000.0
    ml, mt, mr, mb = MARGINS_MM
    return ppmm, round((ml + frame_mm + mr) * ppmm), round((mt + frame_mm + mb) * ppmm)


@dataclass(frozen=True)
class TrueModel:
    """The true mapping between map coordinates (E, N metres) and scan pixels."""

    sheet: Sheet
    dpi: int
    damage: Damage
    page_size: tuple[int, int]  # ideal page (width, height) px
    image_size: tuple[int, int]  # scan (width, height) px

    @property
    def ppmm(self) -> float:
        return self.dpi / 25.4

    def map_to_paper(self, e, n):
        """Ideal paper pixels of map points."""
        mm = 1000.0 / self.sheet.scale
        x = (MARGINS_MM[0] + (np.asarray(e, float) - self.sheet.extent[0]) * mm) * self.ppmm
        y = (MARGINS_MM[1] + (self.sheet.extent[3] - np.asarray(n, float)) * mm) * self.ppmm
        return x, y

    def paper_to_map(self, x, y):
        """Map points of ideal paper pixels."""
        m = self.sheet.scale / 1000.0
        e = self.sheet.extent[0] + (np.asarray(x, float) / self.ppmm - MARGINS_MM[0]) * m
        n = self.sheet.extent[3] - (np.asarray(y, float) / self.ppmm - MARGINS_MM[1]) * m
        return e, n

    def _warp(self, x, y):
        w, h = self.page_size
        dx = np.zeros_like(x, dtype=float)
        dy = np.zeros_like(y, dtype=float)
        for axis, amp, fx, fy, ph in self.damage.warp:
            term = amp * np.sin(2 * np.pi * (fx * x / w + fy * y / h) + ph)
            if axis == 0:
                dx = dx + term
            else:
                dy = dy + term
        return dx, dy

    def _affine(self):
        d = self.damage
        t = math.radians(d.rotation_deg)
        c, s = math.cos(t), math.sin(t)
        a = np.array([[c * (1 - d.shrink_x), -s * (1 - d.shrink_y)], [s * (1 - d.shrink_x), c * (1 - d.shrink_y)]])
        pc = (self.page_size[0] / 2, self.page_size[1] / 2)
        oc = (self.image_size[0] / 2 + d.offset_px[0], self.image_size[1] / 2 + d.offset_px[1])
        return a, pc, oc

    def paper_to_pixel(self, x, y):
        """Scan pixels of ideal paper pixels (the forward damage)."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        a, pc, oc = self._affine()
        px, py = x - pc[0], y - pc[1]
        wx, wy = self._warp(x, y)
        return a[0, 0] * px + a[0, 1] * py + wx + oc[0], a[1, 0] * px + a[1, 1] * py + wy + oc[1]

    def pixel_to_paper(self, u, v, iterations: int = 6):
        """Ideal paper pixels of scan pixels (inverse of :meth:`paper_to_pixel`)."""
        u, v = np.asarray(u, float), np.asarray(v, float)
        a, pc, oc = self._affine()
        inv = np.linalg.inv(a)
        x, y = u * 0 + pc[0], v * 0 + pc[1]
        for _ in range(iterations):
            wx, wy = self._warp(x, y)
            ru, rv = u - oc[0] - wx, v - oc[1] - wy
            x = inv[0, 0] * ru + inv[0, 1] * rv + pc[0]
            y = inv[1, 0] * ru + inv[1, 1] * rv + pc[1]
        return x, y

    def map_to_pixel(self, e, n):
        """Scan pixel coordinates of map points, as GDAL and QGIS count them.

        x right, y down, origin at the top-left CORNER of the image, so the centre of
        pixel (row r, column c) is (c + 0.5, r + 0.5).  The drawing and the damage work on
        array indices (a pixel's centre at its index): :meth:`paper_to_pixel` and
        :meth:`pixel_to_paper` are in indices, hence the half pixel here.
        """
        u, v = self.paper_to_pixel(*self.map_to_paper(e, n))
        return u + 0.5, v + 0.5

    def pixel_to_map(self, u, v):
        """Map points (easting, northing) of scan pixel coordinates (GDAL's corner origin)."""
        return self.paper_to_map(*self.pixel_to_paper(np.asarray(u, float) - 0.5, np.asarray(v, float) - 0.5))

    def grid(self, step_mm: float = 10.0) -> pd.DataFrame:
        """True correspondences on a grid every ``step_mm`` of paper over the frame."""
        size = self.sheet.size_m
        k = round(size / (step_mm * self.sheet.scale / 1000.0))
        ee, nn = np.meshgrid(np.linspace(self.sheet.extent[0], self.sheet.extent[2], k + 1),
                             np.linspace(self.sheet.extent[3], self.sheet.extent[1], k + 1))
        u, v = self.map_to_pixel(ee.ravel(), nn.ravel())
        return pd.DataFrame({"pixel_x": np.round(u, 3), "pixel_y": np.round(v, 3),
                             "map_x": np.round(ee.ravel(), 3), "map_y": np.round(nn.ravel(), 3)})


@lru_cache(maxsize=32)
def _font(name: str, px: int) -> ImageFont.FreeTypeFont:
    path = Path(name) if Path(name).is_absolute() else FONT_DIR / name
    if not path.exists():
        raise InputError(f"font {path} does not exist", hint="install fonts-dejavu-core and fonts-liberation")
    return ImageFont.truetype(str(path), px)


class _Canvas:
    """Ink layers on ideal paper and the drawing verbs of a cadastral sheet."""

    def __init__(self, sheet: Sheet, dpi: int, style: Style, rng: np.random.Generator, damage: Damage):
        self.sheet, self.style, self.rng, self.damage = sheet, style, rng, damage
        self.ppmm, self.w, self.h = page_layout(sheet, dpi)
        self.ink = Image.new("L", (self.w, self.h), 0)
        self.blue = Image.new("L", (self.w, self.h), 0) if style.colour else self.ink
        self.d_ink = ImageDraw.Draw(self.ink)
        self.d_blue = ImageDraw.Draw(self.blue)
        # line-work is drawn apart, anti-aliased at 1/16 px (PIL truncates a line's
        # coordinates to whole pixels and shifts one of even width by half a pixel either
        # way with its direction: up to 1.5 px off); text and label bars stay PIL's
        self.pen = {"ink": np.zeros((self.h, self.w), np.uint8)}
        self.pen["blue"] = np.zeros((self.h, self.w), np.uint8) if style.colour else self.pen["ink"]
        self.line_px = max(1, round(style.line_mm * self.ppmm))
        self.model = TrueModel(sheet, dpi, damage, (self.w, self.h), (0, 0))
        self.placed: list[tuple[float, ...]] = []

    def mm(self, v: float) -> int:
        return max(1, round(v * self.ppmm))

    def xy(self, coords) -> list[tuple[float, float]]:
        """Paper positions (array indices: a pixel's centre at its index) of map points."""
        c = np.asarray(coords, float)
        x, y = self.model.map_to_paper(c[:, 0], c[:, 1])
        return list(zip(x.tolist(), y.tolist()))

    def stroke(self, a, b, *, fill: int = 255, width: int | None = None, layer: str = "ink") -> None:
        """A straight stroke from ``a`` to ``b`` (paper positions), centred on the true line."""
        s = 16  # cv2's 4 fractional bits
        cv2.line(self.pen[layer], (round(a[0] * s), round(a[1] * s)), (round(b[0] * s), round(b[1] * s)), fill,
                 width or self.line_px, cv2.LINE_AA, shift=4)

    def layer(self, name: str) -> np.ndarray:
        """An ink layer as an array: PIL's text and the strokes together."""
        return np.maximum(np.asarray(self.ink if name == "ink" else self.blue), self.pen[name])

    def font(self, text_mm: float, name: str | None = None) -> ImageFont.FreeTypeFont:
        return _font(name or self.style.font, max(6, round(text_mm * 1.45 * self.ppmm)))

    def text(self, xy, s: str, size_mm: float, anchor: str = "mm", draw=None, name: str | None = None,
             fill: int = 255) -> None:
        (draw or self.d_ink).text(xy, s, font=self.font(size_mm, name), anchor=anchor, fill=fill)

    def rotated_text(self, xy, s: str, size_mm: float, angle_deg: float, layer: Image.Image) -> None:
        font = self.font(size_mm, "dejavu/DejaVuSerif-Italic.ttf" if "Serif" in self.style.font
                         else "dejavu/DejaVuSans-Oblique.ttf")
        l, t, r, b = font.getbbox(s)
        tile = Image.new("L", (r - l + 8, b - t + 8), 0)
        ImageDraw.Draw(tile).text((4 - l, 4 - t), s, font=font, fill=255)
        tile = tile.rotate(angle_deg, resample=Image.BILINEAR, expand=True)
        x0, y0 = int(xy[0] - tile.width / 2), int(xy[1] - tile.height / 2)
        region = layer.crop((x0, y0, x0 + tile.width, y0 + tile.height))
        layer.paste(ImageChops.lighter(region, tile), (x0, y0))

    # -- the furniture of the sheet -------------------------------------------------------
    def frame(self) -> None:
        s, st = self.sheet, self.style
        (x0, y0), (x1, y1) = self.xy([(s.extent[0], s.extent[3]), (s.extent[2], s.extent[1])])
        for a, b in itertools.pairwise([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]):
            self.stroke(a, b)
        g = self.mm(12)
        self.d_ink.rectangle([x0 - g, y0 - g, x1 + g, y1 + g], outline=255, width=self.mm(0.9))
        step = GRID_MM * s.scale / 1000.0
        k = round(s.size_m / step)
        small = 2.2
        for i in range(k + 1):
            e = s.extent[0] + i * step
            n = s.extent[3] - i * step
            (xe, _), = self.xy([(e, s.extent[3])])
            (_, yn), = self.xy([(s.extent[0], n)])
            for yy, sgn in ((y0, -1), (y1, 1)):  # ticks and easting values, top and bottom
                self.stroke((xe, yy), (xe, yy + sgn * self.mm(3)))
                self.text((xe, yy + sgn * self.mm(6)), _km(e, step), small, "mm")
            for xx, sgn in ((x0, -1), (x1, 1)):  # ticks and northing values, left and right
                self.stroke((xx, yn), (xx + sgn * self.mm(3), yn))
                self.rotated_text((xx + sgn * self.mm(6.5), yn), _km(n, step), small, 90, self.ink)
        corners = [((x0, y0), s.extent[0], s.extent[3]), ((x1, y1), s.extent[2], s.extent[1])]
        for (cx, cy), e, n in corners:
            dy = -1 if cy == y0 else 1
            self.text((cx, cy + dy * self.mm(16)), f"X = {n:,.0f}".replace(",", " ") + f"   Y = {e:,.0f}".replace(",", " "),
                      2.4, "mm")
        mid = (x0 + x1) / 2
        title = "BẢN ĐỒ ĐỊA CHÍNH"
        self.text((mid, y0 - self.mm(48)), title, 7.0, "mm", name=_bold(st.font))
        place = ", ".join(p for p in (st.commune, st.district, st.province) if p)
        if place:
            self.text((mid, y0 - self.mm(38)), place.upper(), 3.2, "mm", name=_vi(st.font))
        if st.local_no is not None:
            self.text((mid, y0 - self.mm(30)), f"Tờ số: {st.local_no}", 4.0, "mm", name=_bold(st.font))
        self.text((x1, y0 - self.mm(40)), s.number, 4.5, "rm", name=_bold(st.font))
        self.text((x0, y0 - self.mm(40)), "Mảnh bản đồ số:", 2.8, "lm", name=_vi(st.font))
        self.text((mid, y1 + self.mm(22)), f"TỶ LỆ 1:{s.scale}", 4.0, "mm", name=_bold(st.font))
        self.text((x0, y1 + self.mm(30)),
                  "Hệ tọa độ VN-2000, kinh tuyến trục 107°00', múi chiếu 3°", 2.4, "lm", name=_vi(st.font))
        self.text((x1, y1 + self.mm(30)), "Bản đồ mẫu tổng hợp - không dùng cho giao dịch", 2.4, "rm",
                  name=_vi(st.font))

    def grid_crosses(self) -> None:
        s = self.sheet
        step = GRID_MM * s.scale / 1000.0
        k = round(s.size_m / step)
        arm = self.mm(5)
        for i in range(1, k):
            for j in range(1, k):
                (x, y), = self.xy([(s.extent[0] + i * step, s.extent[3] - j * step)])
                self.stroke((x - arm, y), (x + arm, y))
                self.stroke((x, y - arm), (x, y + arm))

    def lines(self, geom, layer: str = "ink") -> None:
        """Line-work, with faded and broken segments as the damage asks."""
        parts = geom.geoms if isinstance(geom, MultiLineString) else [geom]
        gap = self.mm(1.2)
        for line in parts:
            pts = self.xy(line.coords)
            for a, b in itertools.pairwise(pts):
                r = self.rng.random()
                fill = int(self.rng.uniform(70, 140)) if r < self.damage.faded else 255
                seg_len = math.dist(a, b)
                if self.rng.random() < self.damage.broken and seg_len > 4 * gap:
                    t = self.rng.uniform(0.2, 0.8)
                    g = gap * self.rng.uniform(0.5, 2.0) / seg_len
                    m1 = (a[0] + (b[0] - a[0]) * (t - g / 2), a[1] + (b[1] - a[1]) * (t - g / 2))
                    m2 = (a[0] + (b[0] - a[0]) * (t + g / 2), a[1] + (b[1] - a[1]) * (t + g / 2))
                    self.stroke(a, m1, fill=fill, layer=layer)
                    self.stroke(m2, b, fill=fill, layer=layer)
                else:
                    self.stroke(a, b, fill=fill, layer=layer)

    def way_names(self, ways: gpd.GeoDataFrame, layer: Image.Image) -> None:
        frame = box(*self.sheet.extent).buffer(-self.sheet.size_m * 0.02)
        for _, w in ways.iterrows():
            g = w.geometry.intersection(frame)
            for part in getattr(g, "geoms", [g]):
                if part.is_empty or not isinstance(part, LineString):
                    continue
                length_mm = part.length * 1000.0 / self.sheet.scale
                if length_mm < 45:
                    continue
                for f in ((0.5,) if length_mm < 200 else (0.25, 0.75)):
                    p0 = part.interpolate(f - 0.02, normalized=True)
                    p1 = part.interpolate(f + 0.02, normalized=True)
                    mid = part.interpolate(f, normalized=True)
                    ang = math.degrees(math.atan2(p1.y - p0.y, p1.x - p0.x))
                    if ang > 90:
                        ang -= 180
                    elif ang < -90:
                        ang += 180
                    (x, y), = self.xy([(mid.x, mid.y)])
                    self.rotated_text((x, y), str(w["name"]), 2.3, ang, layer)

    def label(self, xy, number: str, area: str, code: str, size_mm: float) -> None:
        """Parcel number over area as a fraction, land-use code beside or below; a label that
        would cover an earlier one is tried a little smaller, then left as drawn."""
        for size in (size_mm, size_mm * 0.85, size_mm * 0.72):
            boxes = self._label_boxes(xy, number, area, code, size)
            if not any(_overlap(b, o) for b in boxes for o in self.placed):
                break
        self.placed.extend(boxes)
        f = self.font(size)
        x, y = xy
        bar = boxes[0][2] - boxes[0][0]
        self.d_ink.text((x, y - self.mm(0.35 * size / 2)), number, font=f, anchor="ms", fill=255)
        self.d_ink.line([(x - bar / 2, y), (x + bar / 2, y)], fill=255, width=max(1, self.line_px - 1))
        self.d_ink.text((x, y + self.mm(0.45 * size / 2)), area, font=f, anchor="mt", fill=255)
        cx, cy, anchor = self._code_at(xy, bar, size)
        self.d_ink.text((cx, cy), code, font=f, anchor=anchor, fill=255)

    def _code_at(self, xy, bar: float, size: float) -> tuple[float, float, str]:
        x, y = xy
        layout = self.style.label_layout
        if layout == "code_right":
            return x + bar / 2 + self.mm(0.4 * size), y, "lm"
        if layout == "code_left":
            return x - bar / 2 - self.mm(0.4 * size), y, "rm"
        return x, y + self.mm(0.45 * size / 2) + self.mm(size * 1.35), "mt"

    def _label_boxes(self, xy, number: str, area: str, code: str, size: float) -> list[tuple[float, ...]]:
        f = self.font(size)
        x, y = xy
        h = self.mm(size * 1.2)
        bar = max(f.getlength(number), f.getlength(area)) + self.mm(0.3 * size)
        cx, cy, anchor = self._code_at(xy, bar, size)
        wc = f.getlength(code)
        code_box = {"lm": (cx, cy - h / 2, cx + wc, cy + h / 2), "rm": (cx - wc, cy - h / 2, cx, cy + h / 2),
                    "mt": (cx - wc / 2, cy, cx + wc / 2, cy + h)}[anchor]
        return [(x - bar / 2, y - h, x + bar / 2, y + h), code_box]


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _vi(font: str) -> str:
    """A font of the same family that has every Vietnamese letter (Liberation here lacks some)."""
    if "Serif" in font:
        return "dejavu/DejaVuSerif.ttf"
    return "dejavu/DejaVuSans.ttf" if "Liberation" in font or "Mono" in font else font


def _bold(font: str) -> str:
    font = _vi(font)
    bolds = {"dejavu/DejaVuSans.ttf": "dejavu/DejaVuSans-Bold.ttf", "dejavu/DejaVuSerif.ttf": "dejavu/DejaVuSerif-Bold.ttf",
             "dejavu/DejaVuSansMono.ttf": "dejavu/DejaVuSansMono-Bold.ttf",
             "liberation/LiberationSans-Regular.ttf": "liberation/LiberationSans-Bold.ttf",
             "liberation/LiberationSerif-Regular.ttf": "liberation/LiberationSerif-Bold.ttf"}
    return bolds.get(font, font)


def _km(v: float, step: float) -> str:
    """A frame annotation: kilometres with as many decimals as the grid step needs."""
    decimals = 0 if step >= 1000 else 1 if step % 100 == 0 else 2
    return f"{v / 1000.0:.{decimals}f}"


def _owned(parcels: gpd.GeoDataFrame, sheet: Sheet) -> gpd.GeoDataFrame:
    has_no = parcels["parcel_no"].notna()
    if "sheet_no" in parcels.columns:
        return parcels[has_no & (parcels["sheet_no"] == sheet.number)]
    return parcels[has_no]


def render_sheet(parcels: gpd.GeoDataFrame, sheet: Sheet, *, dpi: int = 200, style: Style | None = None,
                 damage: Damage | None = None, seed: int = 0, roads: gpd.GeoDataFrame | None = None,
                 waterways: gpd.GeoDataFrame | None = None) -> tuple[np.ndarray, pd.DataFrame, TrueModel]:
    """Draw ``parcels`` on ``sheet`` as a scanned paper sheet.

    ``parcels`` needs ``parcel_no``, ``area_m2``, ``land_use`` and polygon geometry in the
    sheet's CRS; with a ``sheet_no`` column only the parcels of this sheet are labelled
    (pieces of neighbours' parcels cut by the frame are drawn unlabelled).  ``roads`` and
    ``waterways`` (centre lines with ``name``) add their names; water is drawn blue in a
    colour scan.  Returns the scan (uint8, H x W grey or H x W x 3 RGB), the control points
    (``pixel_x, pixel_y, map_x, map_y``: the grid crosses and frame ticks at their true
    scan positions plus ~0.5 px of picking noise) and the :class:`TrueModel`.

    >>> from gis.sheets import parse_sheet                      # doctest: +SKIP
    >>> img, gcps, model = render_sheet(parcels, parse_sheet("361561-7", northing_hint=2.36e6))
    """
    style = style or Style()
    damage = damage or Damage()
    if style.label_layout not in LABEL_LAYOUTS:
        raise InputError(f"unknown label layout {style.label_layout!r}", hint=f"use one of {', '.join(LABEL_LAYOUTS)}")
    if dpi < 50 or dpi > 1200:
        raise InputError(f"dpi {dpi} is out of range", hint="scans are 100-600 dpi")
    missing = {"parcel_no", "area_m2", "land_use"} - set(parcels.columns)
    if missing:
        raise InputError(f"parcels lack columns {sorted(missing)}", hint="give parcel_no, area_m2 and land_use")
    rng = np.random.default_rng(seed)
    cv = _Canvas(sheet, dpi, style, rng, damage)
    frame_box = box(*sheet.extent)
    cv.frame()
    cv.grid_crosses()
    near = parcels[parcels.intersects(frame_box)]
    if len(near):
        edges = shapely.union_all(shapely.boundary(near.geometry.values)).intersection(frame_box)
        edges = shapely.line_merge(edges) if not edges.is_empty else edges
        if not edges.is_empty:
            cv.lines(edges)
    if waterways is not None and len(waterways):
        wet = waterways[waterways.intersects(frame_box)]
        if len(wet):
            banks = shapely.union_all([g.buffer(wd / 2, cap_style="flat") for g, wd in zip(wet.geometry, wet["width_m"])])
            banks = banks.boundary.intersection(frame_box)
            if not banks.is_empty:
                cv.lines(shapely.line_merge(banks), "blue")
            cv.way_names(wet, cv.blue)
    if roads is not None and len(roads):
        cv.way_names(roads[roads.intersects(frame_box)], cv.ink)
    own = _owned(near, sheet)
    points, radii = label_points(own.geometry.values, sheet.extent)
    for pt, radius, no, area, code in zip(points, radii, own["parcel_no"], own["area_m2"], own["land_use"]):
        (x, y), = cv.xy([(pt.x, pt.y)])
        jitter = rng.normal(0, 0.4, 2) * cv.ppmm
        room_mm = radius * 1000.0 / sheet.scale  # the drafter writes smaller in small parcels
        size = float(np.clip(room_mm / 2.2, 1.3, style.text_mm))
        cv.label((x + jitter[0], y + jitter[1]), str(int(no)), f"{float(area):.1f}", str(code), size)
    return _scan(cv, damage, rng)


def _scan(cv: _Canvas, damage: Damage, rng: np.random.Generator) -> tuple[np.ndarray, pd.DataFrame, TrueModel]:
    w, h = cv.w, cv.h
    pad = math.ceil(abs(math.sin(math.radians(damage.rotation_deg))) * max(w, h) / 2 + 40)
    out_w, out_h = w + 2 * pad, h + 2 * pad
    model = TrueModel(cv.sheet, round(cv.ppmm * 25.4), damage, (w, h), (out_w, out_h))
    # inverse map on a coarse grid, then linear up-sampling (the mapping is smooth)
    step = 16
    cols, rows = -(-out_w // step), -(-out_h // step)
    # sample the mapping where cv2.resize puts its source pixel centres: k * step + (step - 1) / 2
    gu, gv = np.meshgrid(np.arange(cols) * step + (step - 1) / 2.0, np.arange(rows) * step + (step - 1) / 2.0)
    gx, gy = model.pixel_to_paper(gu, gv)
    mx = cv2.resize(gx.astype(np.float32), (cols * step, rows * step), interpolation=cv2.INTER_LINEAR)[:out_h, :out_w]
    my = cv2.resize(gy.astype(np.float32), (cols * step, rows * step), interpolation=cv2.INTER_LINEAR)[:out_h, :out_w]
    ink = cv2.remap(cv.layer("ink"), mx, my, cv2.INTER_LINEAR, borderValue=0).astype(np.float32) / 255.0
    on_paper = ((mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)).astype(np.float32)
    on_paper = cv2.GaussianBlur(on_paper, (0, 0), 1.2)
    tone = _paper_tone(out_w, out_h, damage, rng)
    noise = rng.standard_normal((out_h, out_w), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.8) * np.float32(1.8 * damage.noise)
    ink *= np.float32(0.86)
    keep = 1 - ink
    if cv.style.colour:
        blue = cv2.remap(cv.layer("blue"), mx, my, cv2.INTER_LINEAR, borderValue=0).astype(np.float32)
        blue *= np.float32(0.8 / 255.0)
        layers = []
        for base, ink_c, blue_c in ((tone + 6, 30, 40), (tone - 2, 26, 80), (tone - 2 - 38 * damage.yellowing, 24, 170)):
            c = base * keep + ink_c * ink
            c = c * (1 - blue) + blue_c * blue + noise
            layers.append(c * on_paper + 243 * (1 - on_paper))
        img = np.stack(layers, axis=-1)
    else:
        img = tone * keep + 28 * ink + noise
        img = img * on_paper + 243 * (1 - on_paper)
    image = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return image, _gcps(model, rng), model


def _paper_tone(out_w: int, out_h: int, damage: Damage, rng: np.random.Generator) -> np.ndarray:
    """Paper brightness in scan space: base, yellowing at the edges, gradient, fold, stains."""
    sw, sh = max(2, out_w // 8), max(2, out_h // 8)
    x = np.linspace(0, 1, sw, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, sh, dtype=np.float32)[:, None]
    base = 236.0 - 10.0 * damage.yellowing
    edge = np.minimum(np.minimum(x, 1 - x), np.minimum(y, 1 - y))
    tone = base - 14.0 * damage.yellowing * np.exp(-edge / 0.06) + damage.gradient * (x * 0.7 + y * 0.3 - 0.5)
    tone = tone - damage.fold_shadow * np.exp(-(((x - damage.fold_at) / 0.012) ** 2))
    for fx, fy, rx, ry, depth in damage.stains:
        r2 = ((x - fx) * out_w / max(rx, 1)) ** 2 + ((y - fy) * out_h / max(ry, 1)) ** 2
        blob = np.exp(-r2 * 1.5) * (1 + 0.35 * np.sin(7 * np.sqrt(r2 + 1e-6)))
        tone = tone - depth * np.clip(blob, 0, None)
    blotch = cv2.GaussianBlur(rng.standard_normal((sh, sw)).astype(np.float32), (0, 0), 6) * 20
    tone = (tone + blotch).astype(np.float32)
    return cv2.resize(tone, (out_w, out_h), interpolation=cv2.INTER_CUBIC)


def _gcps(model: TrueModel, rng: np.random.Generator) -> pd.DataFrame:
    s = model.sheet
    step = GRID_MM * s.scale / 1000.0
    k = round(s.size_m / step)
    ee, nn = np.meshgrid(s.extent[0] + step * np.arange(k + 1), s.extent[3] - step * np.arange(k + 1))
    u, v = model.map_to_pixel(ee.ravel(), nn.ravel())
    u = u + rng.normal(0, 0.5, u.shape)
    v = v + rng.normal(0, 0.5, v.shape)
    return pd.DataFrame({"pixel_x": np.round(u, 2), "pixel_y": np.round(v, 2),
                         "map_x": ee.ravel().round(3), "map_y": nn.ravel().round(3)})
