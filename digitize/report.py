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
import io
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import geopandas as gpd
import matplotlib
import numpy as np
import rasterio
import rasterio.windows
from affine import Affine
from rasterio.enums import Resampling
from shapely.geometry import box

from gis.topology import Finding

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402

__all__ = ["write_qa_report", "render_overview", "FINDING_TEXT", "LOW_CONFIDENCE"]

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
    "low_confidence": ("Độ tin cậy đọc nhãn thấp", "label read with low confidence"),
}

_Background = str | os.PathLike | tuple[np.ndarray, Affine] | None


def _open_background(background: _Background, bounds: tuple[float, float, float, float], max_px: int):
    """(array HxW[x3], extent for imshow) of the background inside ``bounds``, at most ``max_px`` wide."""
    if background is None:
        return None, None
    x0, y0, x1, y1 = bounds
    if isinstance(background, tuple):
        arr, t = background
        inv = ~t
        c0, r0 = inv @ (x0, y1)
        c1, r1 = inv @ (x1, y0)
        r0, r1 = sorted((max(0, int(r0)), min(arr.shape[0], int(np.ceil(r1)))))
        c0, c1 = sorted((max(0, int(c0)), min(arr.shape[1], int(np.ceil(c1)))))
        if r1 <= r0 or c1 <= c0:
            return None, None
        step = max(1, int(np.ceil(max(c1 - c0, r1 - r0) / max_px)))
        sub = arr[r0:r1:step, c0:c1:step]
        ext = (t.c + c0 * t.a, t.c + c1 * t.a, t.f + r1 * t.e, t.f + r0 * t.e)
        return sub, ext
    with rasterio.open(background) as src:
        win = rasterio.windows.from_bounds(x0, y0, x1, y1, src.transform).round_offsets().round_lengths()
        win = win.intersection(rasterio.windows.Window(0, 0, src.width, src.height))
        scale = max(1.0, max(win.width, win.height) / max_px)
        shape = (src.count, max(1, int(win.height / scale)), max(1, int(win.width / scale)))
        data = src.read(out_shape=shape, window=win, resampling=Resampling.average)
        b = rasterio.windows.bounds(win, src.transform)
    arr = data[0] if data.shape[0] == 1 else np.moveaxis(data[:3], 0, -1)
    return arr, (b[0], b[2], b[1], b[3])


def _rings(geoms) -> list[np.ndarray]:
    """Every ring of (multi)polygons (or lines) as coordinate arrays, for a LineCollection."""
    out = []
    for g in geoms:
        if g is None or g.is_empty:
            continue
        b = g.boundary if g.geom_type in ("Polygon", "MultiPolygon") else g
        for part in getattr(b, "geoms", [b]):
            out.append(np.asarray(part.coords)[:, :2])
    return out


def _draw(ax, geoms, *, edge: str, width: float, fill: str | None = None) -> None:
    """Outlines (and optionally fills) of polygons, drawn in one collection each."""
    rings = _rings(geoms)
    if fill is not None:
        polys = []
        for g in geoms:
            for part in getattr(g, "geoms", [g]):
                if part.geom_type == "Polygon":
                    polys.append(np.asarray(part.exterior.coords)[:, :2])
        ax.add_collection(PolyCollection(polys, facecolors=fill, edgecolors="none", alpha=0.35))
    ax.add_collection(LineCollection(rings, colors=edge, linewidths=width))


def _flagged(parcels: gpd.GeoDataFrame) -> np.ndarray:
    flags = parcels["qa_flags"].fillna("") if "qa_flags" in parcels.columns else None
    return (flags != "").to_numpy() if flags is not None else np.zeros(len(parcels), dtype=bool)


def render_overview(parcels: gpd.GeoDataFrame, *, background: _Background = None, title: str = "",
                    max_px: int = 1800) -> bytes:
    """PNG bytes: the parcels over the scan, flagged parcels filled red, numbers shown when legible."""
    bounds = tuple(parcels.total_bounds)
    arr, ext = _open_background(background, bounds, max_px)
    w, h = bounds[2] - bounds[0], bounds[3] - bounds[1]
    fig_w = 12.0
    fig, ax = plt.subplots(figsize=(fig_w, fig_w * h / max(w, 1e-9) + 0.6), dpi=max_px / fig_w)
    if arr is not None:
        ax.imshow(arr, extent=ext, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    flagged = _flagged(parcels)
    geoms = np.asarray(parcels.geometry.values, dtype=object)
    _draw(ax, geoms[~flagged], edge="#1565c0", width=0.6)
    if flagged.any():
        _draw(ax, geoms[flagged], edge="#b71c1c", width=1.0, fill="#e53935")
    if len(parcels) <= 400 and "parcel_no" in parcels.columns:
        pts = parcels.geometry.representative_point()
        for p, n in zip(pts, parcels["parcel_no"]):
            if n is not None and not (isinstance(n, float) and np.isnan(n)) and str(n) != "<NA>":
                ax.annotate(str(n), (p.x, p.y), fontsize=5, color="#0d47a1", ha="center", va="center")
    ax.set_xlim(bounds[0], bounds[2])
    ax.set_ylim(bounds[1], bounds[3])
    ax.set_aspect("equal")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=6)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


#: side of a thumbnail, pixels
THUMB_PX = 192


def _thumbnail(geom, parcels: gpd.GeoDataFrame, background: _Background, margin: float) -> bytes:
    """PNG bytes: the place of one item, its neighbours in blue and the item in red, over the scan."""
    x0, y0, x1, y1 = geom.bounds
    side = max(x1 - x0, y1 - y0, 1e-9) + 2 * margin
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    b = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    k = THUMB_PX / side  # pixels per map unit

    def px(xy: np.ndarray) -> np.ndarray:  # map -> thumbnail pixels, 4 bits of sub-pixel (cv2 shift)
        return np.round(np.column_stack([(xy[:, 0] - b[0]) * k, (b[3] - xy[:, 1]) * k]) * 16).astype(np.int32)

    img = np.full((THUMB_PX, THUMB_PX, 3), 255, np.uint8)
    arr, ext = _open_background(background, b, 2 * THUMB_PX)
    if arr is not None:
        rgb = arr if arr.ndim == 3 else np.repeat(arr[..., None], 3, axis=2)
        (c0, r0), (c1, r1) = (np.round(px(np.array([[ext[0], ext[3]], [ext[1], ext[2]]])) / 16).astype(int))
        c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, THUMB_PX), min(r1, THUMB_PX)
        if c1 > c0 and r1 > r0:
            img[r0:r1, c0:c1] = cv2.resize(np.ascontiguousarray(rgb[..., :3]), (c1 - c0, r1 - r0),
                                           interpolation=cv2.INTER_AREA)
    if len(parcels):
        near = parcels.geometry.values[parcels.sindex.query(box(*b))]
        cv2.polylines(img, [px(r) for r in _rings(near)], False, (21, 101, 192), 1, cv2.LINE_AA, shift=4)
    cv2.polylines(img, [px(r) for r in _rings([geom])], False, (229, 57, 53), 2, cv2.LINE_AA, shift=4)
    if geom.geom_type in ("Point", "MultiPoint"):
        for q in px(np.array([(p.x, p.y) for p in getattr(geom, "geoms", [geom])])):
            cv2.circle(img, (int(q[0]), int(q[1])), 5 * 16, (229, 57, 53), -1, cv2.LINE_AA, shift=4)
    ok, png = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
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
    ``background`` is a georeferenced raster path, or ``(array, transform)``, in the
    parcels' CRS.  ``scores`` (e.g. PQ against a truth), ``residuals`` (control-point
    rows) and ``summary`` (key -> value facts such as the georeferencing RMS) add
    their own sections.  With ``picture_path`` the overview PNG is also written there.
    """
    overview = render_overview(parcels, background=background, title=title)
    if picture_path is not None:
        Path(picture_path).write_bytes(overview)
    open_f = [f for f in findings if f.severity != "repaired"]
    repaired = [f for f in findings if f.severity == "repaired"]
    flagged_ids = {fid for f in open_f for fid in f.feature_ids}
    low = []
    if "confidence" in parcels.columns:
        low = [i for i, c in parcels["confidence"].items() if i not in flagged_ids and float(c) < LOW_CONFIDENCE]
    items = [(f.code, f.severity, f.message, f.geometry, f.feature_ids) for f in open_f]
    items += [("low_confidence", "warning", f"{_describe(parcels, i)}: độ tin cậy {float(parcels.loc[i, 'confidence']):.2f}",
               parcels.geometry.loc[i], (i,)) for i in low]
    items.sort(key=lambda t: (t[1] != "error", t[0]))
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
    n_flag = int(_flagged(parcels).sum())
    facts = {"Số thửa / parcels": len(parcels), "Thửa cần kiểm tra / parcels flagged": n_flag,
             "Mục cần người xem / items for review": len(items), "Đã tự sửa / repaired": len(repaired)}
    facts.update(summary or {})
    out.append("<h2>Tóm tắt <span class='en'>summary</span></h2><table>")
    out += [f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in facts.items()]
    out.append("</table>")
    if scores:
        out.append("<h2>Điểm so với số liệu chuẩn <span class='en'>scores against the truth</span></h2><table>")
        out += [f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in scores.items()]
        out.append("</table>")
    out.append("<h2>Thửa đất trên bản quét <span class='en'>parcels over the scan "
               "(đỏ = cần kiểm tra / red = flagged)</span></h2>")
    out.append(_img(overview, "parcels over the scan", "overview"))
    out.append(f"<h2>Danh sách cần người kiểm tra <span class='en'>what needs a human</span> ({len(items)})</h2>")
    if not items:
        out.append("<p>Không có mục nào. <span class='en'>Nothing to review.</span></p>")
    for k, (code, sev, msg, geom, fids) in enumerate(items):
        vi, en = FINDING_TEXT.get(code, (code, code))
        who = ", ".join(_describe(parcels, f) for f in fids[:4]) + (" …" if len(fids) > 4 else "")
        pic = ""
        if geom is not None and not geom.is_empty and k < MAX_THUMBNAILS:
            pic = _img(_thumbnail(geom, parcels, background, scale_m), code, "thumb") + "<br>"
        cls = "err" if sev == "error" else "warn"
        out.append(f"<div class='item'>{pic}<span class='{cls}'>{e(vi)}</span> <span class='en'>{e(en)}</span><br>"
                   f"{e(who)}<br><span class='en'>{e(msg)}</span></div>")
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
