"""The QA report a land officer is handed: one HTML file (pictures embedded) and a PNG.

:func:`write_qa_report` is shared by the scan and the legacy pipelines.  The report
shows the parcels over the georeferenced scan (flagged parcels in red), the scores
when there are any, the control-point residuals when given, and the list of what
needs a human: every open finding and every parcel read with low confidence, each
with a thumbnail of the place.  Text is Vietnamese first, English second.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from PIL import Image, ImageDraw, ImageFont
from shapely.geometry import box

from digitize.raster import resample
from gis.topology import EDGE_CUT, Finding, flag_masks

__all__ = ["FINDING_TEXT", "LOW_CONFIDENCE", "render_overview", "write_qa_report"]

#: a parcel read with less confidence than this is listed for a human
LOW_CONFIDENCE = 0.6
#: at most this many thumbnails (the rest are listed without a picture)
MAX_THUMBNAILS = 150

#: what each finding code means, Vietnamese / English
FINDING_TEXT: dict[str, tuple[str, str]] = {
    "invalid_geometry": ("Hình thửa không hợp lệ", "invalid geometry"),
    "overlap": ("Các thửa chồng đè nhau", "parcels overlap"),
    "gap": ("Hở giữa các thửa", "gap between parcels"),
    "sliver": ("Thửa quá hẹp hoặc quá nhỏ (mảnh vụn)", "sliver"),
    "duplicate_number": ("Số thửa bị trùng trong tờ bản đồ", "duplicate parcel number"),
    "unlabeled": ("Không đọc được số thửa", "no parcel number read"),
    "multiple_labels": ("Một thửa có nhiều nhãn", "several labels in one parcel"),
    "area_mismatch": ("Diện tích ghi trên nhãn khác diện tích tính được", "label area differs from computed area"),
    "unknown_land_use": ("Mã loại đất không có trong bảng", "land-use code not in the table"),
    "cut_by_sheet_edge": ("Thửa bị khung tờ bản đồ cắt", "parcel cut by the sheet frame"),
    "dangle": ("Đường ranh treo", "dangling line"),
    "unclosed": ("Đường ranh không khép kín", "unclosed boundary"),
    "outside_province": ("Nằm ngoài tỉnh", "outside the province"),
    "merged_piece": ("Đã ghép mảnh không nhãn vào thửa theo diện tích trên nhãn (kiểm tra đường ranh)",
                     "unlabelled piece joined by the label's area (check the line)"),
    "restored_boundary": ("Đường ranh mờ, dựng lại theo hai nhãn và diện tích (kiểm tra đường ranh)",
                          "faint boundary drawn again from two labels and their areas (check the line)"),
    "low_confidence": ("Độ tin cậy đọc nhãn thấp", "label read with low confidence"),
}

#: a scan and its map -> scan pixel function (e.g. :meth:`Georeference.to_pixel <digitize.georef.Georeference.to_pixel>`)
_Background = tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]] | None

#: the overview's fonts (Debian's fonts-dejavu-core); Pillow's own font when they are missing
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
#: colours (RGB) of the pictures: parcels, flagged parcels and their fill, the item of a thumbnail, numbers,
#: parcels cut by the sheet frame
_BLUE, _RED, _FILL, _ITEM, _NUMBER = (21, 101, 192), (183, 28, 28), (229, 57, 53), (229, 57, 53), (13, 71, 161)
_ORANGE = (239, 108, 0)
#: parcels going on across the sheet frame (EDGE_CUT): no error but a task of its own, edge matching
#: with the neighbouring sheet, so they are listed apart and outlined orange, not filled red


class _Scan:
    """The scan behind the pictures, with its 2x, 4x, ... reductions (means of pixel blocks) made when first needed.

    Each picture is resampled from the scan itself (no warped copy of the whole sheet),
    from the reduction just finer than the picture, so a thumbnail of a large item does
    not average millions of pixels and no thin line is skipped.
    """

    def __init__(self, image: np.ndarray, to_pixel: Callable[[np.ndarray], np.ndarray]) -> None:
        self.levels, self.to_pixel = [image], to_pixel

    def _level(self, n: int) -> tuple[np.ndarray, int]:
        """The scan reduced 2**n times, or as far as it goes, and that n."""
        while len(self.levels) <= n:
            a = self.levels[-1]
            h, w = a.shape[0] // 2, a.shape[1] // 2
            if min(h, w) < 1:
                break
            self.levels.append(cv2.resize(a[:2 * h, :2 * w], (w, h), interpolation=cv2.INTER_AREA))
        n = min(n, len(self.levels) - 1)
        return self.levels[n], n

    def picture(self, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
        """The scan on the picture grid ``transform`` of ``shape`` (rows, cols), RGB; white off the scan."""
        rows, cols = shape
        mid = transform.f + transform.e * rows / 2
        ends = self.to_pixel(np.array([[transform.c, mid], [transform.c + transform.a * cols, mid]]))
        ratio = float(np.hypot(*(ends[1] - ends[0]))) / max(cols, 1)  # scan pixels a picture pixel
        image, n = self._level(int(np.floor(np.log2(ratio))) if ratio >= 2 else 0)
        pic = resample(image, lambda xy: self.to_pixel(xy) / 2**n, transform, shape, step=8)
        return pic if pic.ndim == 3 else cv2.cvtColor(pic, cv2.COLOR_GRAY2RGB)


class _Canvas:
    """An RGB picture of the map window ``bounds``, ``k`` picture pixels a map unit, drawn with OpenCV."""

    def __init__(self, bounds: tuple[float, float, float, float], k: float, size: tuple[int, int]) -> None:
        self.bounds, self.k = bounds, k
        self.img = np.full((size[1], size[0], 3), 255, np.uint8)

    def px(self, xy: np.ndarray) -> np.ndarray:
        """Map -> picture pixels (OpenCV's: a pixel's centre at its index), with 4 bits of sub-pixel (its ``shift``)."""
        return np.round((np.column_stack([(xy[:, 0] - self.bounds[0]) * self.k,
                                          (self.bounds[3] - xy[:, 1]) * self.k]) - 0.5) * 16).astype(np.int32)

    def paths(self, rings: list[np.ndarray]) -> list[np.ndarray]:
        """Rings in picture pixels (one transform for all of them)."""
        if not rings:
            return []
        return np.split(self.px(np.concatenate(rings)), np.cumsum([len(r) for r in rings])[:-1])

    def background(self, background: _Background | _Scan) -> None:
        """The scan under the picture."""
        if background is not None:
            scan = background if isinstance(background, _Scan) else _Scan(*background)
            self.img[:] = scan.picture(Affine(1 / self.k, 0, self.bounds[0], 0, -1 / self.k, self.bounds[3]),
                                       self.img.shape[:2])

    def lines(self, rings: list[np.ndarray], colour: tuple[int, int, int], width: int) -> None:
        if rings:
            cv2.polylines(self.img, self.paths(rings), False, colour, width, cv2.LINE_AA, shift=4)

    def fill(self, polygons: list[list[np.ndarray]], colour: tuple[int, int, int], alpha: float) -> None:
        """Polygons (each its rings, holes left open) blended over the picture."""
        if not polygons:
            return
        mask = np.zeros(self.img.shape[:2], np.uint8)
        for rings in polygons:
            cv2.fillPoly(mask, self.paths(rings), 255, cv2.LINE_AA, shift=4)
        a = mask.astype(np.float32)[..., None] * (alpha / 255.0)
        self.img[:] = np.round(self.img * (1 - a) + np.array(colour, np.float32) * a).astype(np.uint8)


def _rings(geoms) -> list[np.ndarray]:
    """Every ring of (multi)polygons (or every line of lines, every point of points) as coordinate arrays."""
    return [r for rings in _rings_by_geom(geoms) for r in rings]


def _rings_by_geom(geoms) -> list[list[np.ndarray]]:
    """The rings (lines) of each geometry, as (n, 2) coordinate arrays, for all of them at once."""
    geoms = np.asarray(geoms, dtype=object)
    out: list[list[np.ndarray]] = [[] for _ in range(len(geoms))]
    ok = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    if not len(ok):
        return out
    g = geoms[ok]
    areal = np.isin(shapely.get_type_id(g), (3, 6))  # polygons: their rings; lines, points: themselves
    g = np.where(areal, shapely.boundary(g), g)
    parts, owner = shapely.get_parts(g, return_index=True)
    xy, at = shapely.get_coordinates(parts, return_index=True)
    cut = np.flatnonzero(np.diff(at)) + 1
    for i, coords in zip(owner[at[np.r_[0, cut]]] if len(at) else [], np.split(xy, cut)):
        out[ok[i]].append(coords)
    return out


def _flags(parcels: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Which parcels are flagged for a human, and which are cut by the sheet frame."""
    if "qa_flags" not in parcels.columns:
        none = np.zeros(len(parcels), dtype=bool)
        return none, none
    return flag_masks(parcels["qa_flags"])


def _font(px: float) -> ImageFont.FreeTypeFont:
    size = max(6, round(px))
    return ImageFont.truetype(str(FONT), size) if FONT.exists() else ImageFont.load_default(size)


def _ticks(lo: float, hi: float, most: int = 8) -> np.ndarray:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) within [lo, hi], at most ``most``."""
    span = max(hi - lo, 1e-9)
    step = 0.0
    for p in range(int(np.floor(np.log10(span / most))), int(np.ceil(np.log10(span))) + 2):
        step = next((m * 10.0**p for m in (1, 2, 2.5, 5) if span / (m * 10.0**p) <= most), 0.0)
        if step:
            break
    return np.arange(np.ceil(lo / step) * step, hi + step * 1e-9, step)


def render_overview(parcels: gpd.GeoDataFrame, *, background: _Background | _Scan = None, title: str = "",
                    max_px: int = 1800) -> bytes:
    """PNG bytes: the parcels over the scan, flagged parcels filled red, those cut by the sheet
    frame outlined orange, numbers shown when legible.

    ``max_px`` wide, with map coordinates along the left and bottom edges and the title above.
    """
    bounds = tuple(float(v) for v in parcels.total_bounds)
    w, h = max(bounds[2] - bounds[0], 1e-9), max(bounds[3] - bounds[1], 1e-9)
    pt = max_px / 12.0 / 72.0  # pixels a typographic point, on a 12-inch-wide picture
    tick_font, title_font = _font(6 * pt), _font(10 * pt)
    xt, yt = _ticks(bounds[0], bounds[2]), _ticks(bounds[1], bounds[3])
    fmt = (lambda v: f"{v:.0f}") if all(float(v).is_integer() for v in np.r_[xt, yt]) else (lambda v: f"{v:g}")
    left = int(max(tick_font.getlength(fmt(v)) for v in yt) + 12 * pt)
    top = int(22 * pt) if title else int(8 * pt)
    bottom, right = int(16 * pt), int(10 * pt)
    k = (max_px - left - right) / w
    mw, mh = max_px - left - right, max(1, round(h * k))
    c = _Canvas(bounds, k, (mw, mh))
    c.background(background)
    flagged, edge = _flags(parcels)
    rings = _rings_by_geom(parcels.geometry.values)
    c.fill([rings[i] for i in np.flatnonzero(flagged)], _FILL, 0.35)
    c.lines([r for i in np.flatnonzero(~flagged & ~edge) for r in rings[i]], _BLUE, max(1, round(0.6 * pt)))
    c.lines([r for i in np.flatnonzero(edge & ~flagged) for r in rings[i]], _ORANGE, max(1, round(1.0 * pt)))
    c.lines([r for i in np.flatnonzero(flagged) for r in rings[i]], _RED, max(1, round(1.0 * pt)))
    page = Image.new("RGB", (max_px, mh + top + bottom), "white")
    page.paste(Image.fromarray(c.img), (left, top))
    draw = ImageDraw.Draw(page)
    if len(parcels) <= 400 and "parcel_no" in parcels.columns:
        font = _font(5 * pt)
        pts = shapely.get_coordinates(shapely.point_on_surface(np.asarray(parcels.geometry.values, dtype=object)))
        for (x, y), n in zip(c.px(pts) / 16.0 + 0.5, parcels["parcel_no"]):
            if not pd.isna(n):
                draw.text((left + x, top + y), str(n), fill=_NUMBER, font=font, anchor="mm")
    draw.rectangle((left - 1, top - 1, left + mw, top + mh), outline="black")
    tick = max(2, round(3.5 * pt))
    for v in xt:
        x = left + (v - bounds[0]) * k
        draw.line((x, top + mh, x, top + mh + tick), fill="black")
        draw.text((x, top + mh + tick + 2), fmt(v), fill="black", font=tick_font, anchor="mt")
    for v in yt:
        y = top + (bounds[3] - v) * k
        draw.line((left - 1 - tick, y, left - 1, y), fill="black")
        draw.text((left - tick - 4, y), fmt(v), fill="black", font=tick_font, anchor="rm")
    if title:
        draw.text((left + mw / 2, top / 2), title, fill="black", font=title_font, anchor="mm")
    _, png = cv2.imencode(".png", cv2.cvtColor(np.asarray(page), cv2.COLOR_RGB2BGR))
    return png.tobytes()


#: side of a thumbnail, pixels
THUMB_PX = 192


def _thumbnail(geom, parcels: gpd.GeoDataFrame, rings: list[list[np.ndarray]], background: _Scan | None,
               margin: float) -> bytes:
    """PNG bytes: the place of one item, its neighbours in blue and the item in red, over the scan.

    ``rings`` are the rings of every parcel (:func:`_rings_by_geom`), computed once for all thumbnails.
    """
    x0, y0, x1, y1 = geom.bounds
    side = max(x1 - x0, y1 - y0, 1e-9) + 2 * margin
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    b = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    c = _Canvas(b, THUMB_PX / side, (THUMB_PX, THUMB_PX))
    c.background(background)
    if len(parcels):
        c.lines([r for i in parcels.sindex.query(box(*b)) for r in rings[i]], _BLUE, 1)
    c.lines(_rings([geom]), _ITEM, 2)
    if geom.geom_type in ("Point", "MultiPoint"):
        for q in c.px(shapely.get_coordinates(geom)):
            cv2.circle(c.img, (int(q[0]), int(q[1])), 5 * 16, _ITEM, -1, cv2.LINE_AA, shift=4)
    _, png = cv2.imencode(".png", cv2.cvtColor(c.img, cv2.COLOR_RGB2BGR))
    return png.tobytes()


def _img(png: bytes, alt: str, cls: str = "") -> str:
    return (f'<img class="{cls}" alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode()}">')


def _describe(parcels: gpd.GeoDataFrame, fid) -> str:
    if fid not in parcels.index:
        return str(fid)
    row = parcels.loc[fid]
    n = row.get("parcel_no")
    n = "?" if n is None or str(n) in ("<NA>", "nan") else str(n)
    return f"thửa số {n} (#{fid})"


def write_qa_report(path_html: str | os.PathLike, parcels: gpd.GeoDataFrame, findings: Sequence[Finding], *,
                    title: str, background: _Background = None, scores: dict | None = None,
                    residuals: Sequence[dict] | None = None, summary: dict | None = None,
                    picture_path: str | os.PathLike | None = None) -> None:
    """Write the QA report.

    ``parcels`` follows the parcel-layer contract (``parcel_no``, ``confidence``,
    ``qa_flags``...); ``findings`` come from :func:`gis.topology.check_parcels`;
    ``background`` is the scan and its map -> scan pixel function in the parcels' CRS,
    e.g. ``(image, georef.to_pixel)``: each picture is resampled from the scan itself.
    ``scores`` (e.g. PQ against a truth), ``residuals`` (control-point rows) and
    ``summary`` (key -> value facts such as the georeferencing RMS) add their own sections.  With ``picture_path`` the overview PNG is also written there.
    """
    background = None if background is None else _Scan(*background)  # its reductions shared by all pictures
    overview = render_overview(parcels, background=background, title=title)
    if picture_path is not None:
        Path(picture_path).write_bytes(overview)
    open_f = [f for f in findings if f.severity != "repaired" and f.code != EDGE_CUT]
    repaired = [f for f in findings if f.severity == "repaired"]
    edge_ids = [fid for f in findings if f.code == EDGE_CUT for fid in f.feature_ids]
    flagged_ids = {fid for f in open_f for fid in f.feature_ids}
    low = []
    if "confidence" in parcels.columns:
        low = [i for i, c in parcels["confidence"].items() if i not in flagged_ids and float(c) < LOW_CONFIDENCE]
    items = [(f.code, f.severity, f.message, f.geometry, f.feature_ids) for f in open_f]
    items += [("low_confidence", "warning", f"{_describe(parcels, i)}: độ tin cậy {float(parcels.loc[i, 'confidence']):.2f}",
               parcels.geometry.loc[i], (i,)) for i in low]
    items.sort(key=lambda t: (t[1] != "error", t[0]))
    rings = _rings_by_geom(parcels.geometry.values)
    scale_m = max(float(np.ptp(parcels.total_bounds[[0, 2]])), 1.0) / 60 if len(parcels) else 5.0
    e = html.escape
    out = [
        "<!DOCTYPE html>", '<html lang="vi"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        "<style>body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;max-width:1200px}"
        "h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:28px}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        "th{background:#f0f0f0}.err{color:#b71c1c;font-weight:bold}.warn{color:#e65100}"
        ".item{display:inline-block;width:250px;vertical-align:top;margin:6px;font-size:12px}"
        ".thumb{width:240px;height:240px;border:1px solid #999}.overview{max-width:100%;border:1px solid #999}"
        ".en{color:#777;font-size:0.85em}</style></head><body>",
        f"<h1>Báo cáo kiểm tra chất lượng số hóa <span class='en'>QA report</span><br>{e(title)}</h1>",
    ]
    n_flag = int(_flags(parcels)[0].sum())
    facts = {"Số thửa / parcels": len(parcels), "Thửa cần kiểm tra / parcels flagged": n_flag,
             "Mục cần người xem / items for review": len(items), "Đã tự sửa / repaired": len(repaired),
             "Thửa cần tiếp biên / parcels to edge-match": len(edge_ids)}
    facts.update(summary or {})
    out.append("<h2>Tóm tắt <span class='en'>summary</span></h2><table>")
    out += [f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in facts.items()]
    out.append("</table>")
    if scores:
        out.append("<h2>Điểm so với số liệu chuẩn <span class='en'>scores against the truth</span></h2><table>")
        out += [f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in scores.items()]
        out.append("</table>")
    out.append("<h2>Thửa đất trên bản quét <span class='en'>parcels over the scan "
               "(đỏ = cần kiểm tra / red = flagged; cam = bị khung tờ cắt / orange = cut by the frame)</span></h2>")
    out.append(_img(overview, "parcels over the scan", "overview"))
    out.append(f"<h2>Danh sách cần người kiểm tra <span class='en'>what needs a human</span> ({len(items)})</h2>")
    if not items:
        out.append("<p>Không có mục nào. <span class='en'>Nothing to review.</span></p>")
    for k, (code, sev, msg, geom, fids) in enumerate(items):
        vi, en = FINDING_TEXT.get(code, (code, code))
        who = ", ".join(_describe(parcels, f) for f in fids[:4]) + (" …" if len(fids) > 4 else "")
        pic = ""
        if geom is not None and not geom.is_empty and k < MAX_THUMBNAILS:
            pic = _img(_thumbnail(geom, parcels, rings, background, scale_m), code, "thumb") + "<br>"
        cls = "err" if sev == "error" else "warn"
        out.append(f"<div class='item'>{pic}<span class='{cls}'>{e(vi)}</span> <span class='en'>{e(en)}</span><br>"
                   f"{e(who)}<br><span class='en'>{e(msg)}</span></div>")
    if edge_ids:
        out.append(f"<h2>Thửa bị khung tờ cắt, cần tiếp biên với tờ bên cạnh <span class='en'>parcels cut by the"
                   f" sheet frame: edge-match them with the neighbouring sheets</span> ({len(edge_ids)})</h2>")
        out.append(f"<p>{e(', '.join(_describe(parcels, f) for f in edge_ids))}</p>")
    if residuals:
        cols = list(residuals[0].keys())
        out.append("<h2>Sai số điểm khống chế <span class='en'>control-point residuals</span></h2><table><tr>")
        out += [f"<th>{e(c)}</th>" for c in cols] + ["</tr>"]
        for r in residuals:
            bad = r.get("outlier")
            out.append("<tr" + (" class='err'" if bad else "") + ">" +
                       "".join(f"<td>{e(_fmt(r[c]))}</td>" for c in cols) + "</tr>")
        out.append("</table>")
    if repaired:
        out.append(f"<h2>Đã tự động sửa <span class='en'>repaired automatically</span> ({len(repaired)})</h2><ul>")
        out += [f"<li>{e(FINDING_TEXT.get(f.code, (f.code,))[0])}: {e(f.message)}</li>" for f in repaired[:300]]
        out.append("</ul>")
    out.append("</body></html>")
    Path(path_html).write_text("\n".join(out), encoding="utf-8")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)
