"""Synthetic scanned sheets with a frame and grid crosses, in styles unlike the sample's.

Each drawing knows where every grid node truly is in the scan, so tests can measure
:mod:`digitize.gridcross` to a fraction of a pixel.  Lines are drawn anti-aliased at
sub-pixel positions (cv2 fixed-point coordinates) through a rotation, a paper shrink
and a smooth warp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gis.sheets import Sheet

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
MARGIN_MM = 45.0
_SHIFT = 4  # cv2 fixed-point bits


@dataclass(frozen=True)
class Style:
    """How a synthetic sheet is drawn and scanned."""

    dpi: float = 200.0
    rotation_deg: float = 0.0
    shrink: tuple[float, float] = (0.0, 0.0)  # paper shrink across, down (fraction)
    warp_px: float = 0.0  # amplitude of a smooth non-linear warp
    line_mm: float = 0.15
    frame_mm: float | None = None  # neat-line width (default line_mm)
    arm_mm: float = 5.0  # half-length of a cross
    tick_mm: float = 3.0  # frame ticks outside the frame (0: none)
    outer_frame_mm: float | None = None  # distance of a thick outer frame, or none
    parcels_mm: float | None = None  # a grid of parcel boundaries every so many mm of paper
    clutter: int = 0  # random straight boundaries across the sheet
    labels: bool = False  # parcel labels (number / area, land-use code) in a parcels grid
    stain: bool = False
    seed: int = 0


class SyntheticSheet:
    """A drawn sheet: ``image`` (uint8 grey, ink dark) and the true paper -> scan mapping."""

    def __init__(self, sheet: Sheet, style: Style) -> None:
        self.sheet, self.style = sheet, style
        e0, n0, e1, n1 = sheet.extent
        self.wmm, self.hmm = (e1 - e0) / sheet.scale * 1000.0, (n1 - n0) / sheet.scale * 1000.0
        self.ppmm = style.dpi / 25.4
        self.size = (round((self.wmm + 2 * MARGIN_MM) * self.ppmm), round((self.hmm + 2 * MARGIN_MM) * self.ppmm))
        self.image = self._draw()

    def to_pixel(self, xy_mm: np.ndarray) -> np.ndarray:
        """Scan pixels (origin top-left corner, as digitize.georef) of paper points (mm from the frame's top-left)."""
        s = self.style
        p = np.asarray(xy_mm, dtype=float).reshape(-1, 2)
        c = np.array([self.wmm, self.hmm]) / 2
        q = (p - c) * (1 - np.array(s.shrink))
        a = math.radians(s.rotation_deg)
        r = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        q = q @ r.T
        u = np.clip(p / [self.wmm, self.hmm], -0.2, 1.2)
        warp = s.warp_px / self.ppmm * np.column_stack([np.sin(2.1 * u[:, 1] + 0.4) * np.sin(1.3 * u[:, 0]),
                                                        np.sin(1.7 * u[:, 0] + 1.1) * np.cos(1.1 * u[:, 1])])
        q = q + warp + np.array(self.size) / self.ppmm / 2
        return q * self.ppmm

    def nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Every grid node: (paper mm (n, 2), map metres (n, 2)), row by row from the top-left."""
        k = round(self.wmm / 100.0)
        xy = np.array([(100.0 * i, 100.0 * j) for j in range(k + 1) for i in range(k + 1)])
        e0, n1, sc = self.sheet.extent[0], self.sheet.extent[3], self.sheet.scale
        return xy, np.column_stack([e0 + xy[:, 0] * sc / 1000.0, n1 - xy[:, 1] * sc / 1000.0])

    def _line(self, img: np.ndarray, a, b, width_mm: float) -> None:
        n = max(2, int(math.dist(a, b) / 5.0))  # every 5 mm, so the warp bends the line
        pts = self.to_pixel(np.linspace(a, b, n)) - 0.5
        fixed = np.round(pts * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [fixed], False, 255, max(1, round(width_mm * self.ppmm)), cv2.LINE_AA, _SHIFT)

    def _draw(self) -> np.ndarray:
        s, w, h = self.style, self.wmm, self.hmm
        rng = np.random.default_rng(s.seed)
        ink = np.zeros(self.size[::-1], dtype=np.uint8)
        fw = s.frame_mm or s.line_mm
        for a, b in (((0, 0), (w, 0)), ((w, 0), (w, h)), ((w, h), (0, h)), ((0, h), (0, 0))):
            self._line(ink, a, b, fw)
        if s.outer_frame_mm:
            g = s.outer_frame_mm
            for a, b in (((-g, -g), (w + g, -g)), ((w + g, -g), (w + g, h + g)), ((w + g, h + g), (-g, h + g)),
                         ((-g, h + g), (-g, -g))):
                self._line(ink, a, b, 0.8)
        k = round(w / 100.0)
        for i in range(k + 1):
            x = 100.0 * i
            if s.tick_mm:
                self._line(ink, (x, 0), (x, -s.tick_mm), s.line_mm)
                self._line(ink, (x, h), (x, h + s.tick_mm), s.line_mm)
                self._line(ink, (0, x), (-s.tick_mm, x), s.line_mm)
                self._line(ink, (w, x), (w + s.tick_mm, x), s.line_mm)
            for j in range(1, k):
                if s.arm_mm and 0 < i < k:
                    y = 100.0 * j
                    self._line(ink, (x - s.arm_mm, y), (x + s.arm_mm, y), s.line_mm)
                    self._line(ink, (x, y - s.arm_mm), (x, y + s.arm_mm), s.line_mm)
        if s.parcels_mm:
            m = round(w / s.parcels_mm)
            for i in range(1, m):
                self._line(ink, (i * s.parcels_mm, 0), (i * s.parcels_mm, h), s.line_mm)
                self._line(ink, (0, i * s.parcels_mm), (w, i * s.parcels_mm), s.line_mm)
        for _ in range(s.clutter):
            a = rng.uniform(0, w, 2)
            ang = rng.uniform(0, math.pi)
            d = np.array([math.cos(ang), math.sin(ang)]) * rng.uniform(30, 200)
            self._line(ink, tuple(np.clip(a - d, 0, w)), tuple(np.clip(a + d, 0, w)), s.line_mm)
        grey = 236.0 - ink.astype(np.float32) * (206.0 / 255.0)
        if s.stain:
            yy, xx = np.mgrid[0:self.size[1], 0:self.size[0]].astype(np.float32)
            cx, cy, r = self.size[0] * 0.3, self.size[1] * 0.6, self.size[0] * 0.12
            grey -= 70.0 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        grey += rng.normal(0, 3.0, grey.shape).astype(np.float32)
        img = np.clip(grey, 0, 255).astype(np.uint8)
        if s.labels and s.parcels_mm:
            img = self._labels(img)
        return img

    def _labels(self, img: np.ndarray) -> np.ndarray:
        s = self.style
        pil = Image.fromarray(img)
        d = ImageDraw.Draw(pil)
        font = ImageFont.truetype(FONT, max(8, round(2.5 * 1.45 * self.ppmm)))
        m = round(self.wmm / s.parcels_mm)
        area = (s.parcels_mm * self.sheet.scale / 1000.0) ** 2
        for j in range(m):
            for i in range(m):
                (x, y), = self.to_pixel([((i + 0.5) * s.parcels_mm, (j + 0.35) * s.parcels_mm)])
                text = f"{area:.1f}"
                half = d.textlength(text, font=font) / 2 + 3
                d.text((x, y - 3), str(j * m + i + 1), font=font, anchor="ms", fill=30)
                d.line([(x - half, y), (x + half, y)], fill=30, width=1)
                d.text((x, y + 4), text, font=font, anchor="mt", fill=30)
                d.text((x + half + 6, y), ("LUC", "ONT", "CLN", "BHK")[(i + j) % 4], font=font, anchor="lm", fill=30)
        return np.asarray(pil)
