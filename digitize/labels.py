"""Read parcel labels (nhãn thửa): parcel number, area and land-use code.

A label is a small cluster of text: commonly the parcel number over the area (a
fraction), with the land-use code beside or below.  Layouts, fonts and sizes vary, so
nothing here assumes one: the text pieces of a region are grouped into clusters, each
cluster is cut into rows, all rows of the sheet are read by tesseract in a few batched
calls, and the tokens are then sorted out by what they look like (a three-letter code
from the land-use table, a decimal area, an integer) and where they are (the number
on top, the area under it).

The checks of what was read (area label against computed area, code in the land-use
table, number unique on the sheet) are :func:`gis.topology.check_parcels`'s.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from gis.errors import DigitizeError
from gis.landuse import is_land_use_code, land_uses

__all__ = ["Label", "Token", "find_label_clusters", "parse_label", "read_labels", "restore_decimal"]

_ROW_HEIGHT = 36  # pixels of a text row handed to tesseract
_WHITELIST = "0123456789.,ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TO_DIGIT = str.maketrans({"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "T": "7", "Z": "2", "S": "5",
                           "B": "8", "G": "6", "A": "4"})
_TO_LETTER = str.maketrans({"0": "O", "1": "L", "2": "Z", "5": "S", "8": "B", "6": "G", "4": "A", "7": "T"})


@dataclass(frozen=True)
class Token:
    """One word read by tesseract, with its row in the label and its confidence (0..1)."""

    text: str
    row: int
    x: float
    conf: float
    box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 in scan pixels, when known


@dataclass
class Label:
    """What was read for one region."""

    region: int
    parcel_no: int | None = None
    area_label_m2: float | None = None
    land_use: str | None = None
    confidence: float = 0.0
    text: str = ""
    bbox: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 in scan pixels
    tokens: list[Token] = field(default_factory=list)


def find_label_clusters(text: np.ndarray, labels: np.ndarray, *, px_per_mm: float, lines: np.ndarray | None = None,
                        min_height_mm: float = 1.0) -> list[tuple[int, tuple[int, int, int, int]]]:
    """Group text ink into label clusters and give each its region.

    Characters closer than about a character height join one cluster, but never
    across the line-work (``lines``), so the labels of small neighbouring parcels stay
    apart.  Returns (region id, bbox x0, y0, x1, y1) for each cluster tall enough to
    be text, largest first within a region.
    """
    kx = max(3, round(1.6 * px_per_mm)) | 1
    ky = max(3, round(1.2 * px_per_mm)) | 1
    grown = cv2.dilate(text.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_RECT, (kx, ky)))
    if lines is not None:
        grown &= ~cv2.dilate(lines.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        grown |= text.astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    out = []
    min_h = min_height_mm * px_per_mm
    for i in range(1, n):
        x, y, w, h, _ = stats[i]
        inner = text[y:y + h, x:x + w] & (lab[y:y + h, x:x + w] == i)
        if not inner.any():
            continue
        ys, xs = np.nonzero(inner)
        x0, x1, y0, y1 = x + xs.min(), x + xs.max() + 1, y + ys.min(), y + ys.max() + 1
        if y1 - y0 < min_h:
            continue
        regs = labels[y + ys, x + xs]
        regs = regs[regs > 0]
        if len(regs) == 0:
            continue
        out.append((int(np.bincount(regs).argmax()), (int(x0), int(y0), int(x1), int(y1)), len(ys)))
    return _merge_near(out, 3.0 * px_per_mm)


def _merge_near(clusters: list[tuple[int, tuple[int, int, int, int], int]],
                reach: float) -> list[tuple[int, tuple[int, int, int, int]]]:
    """Merge clusters of one region lying within ``reach`` pixels of each other; largest first."""
    by_region: dict[int, list[list]] = {}
    for region, box, size in clusters:
        by_region.setdefault(region, []).append([*box, size])
    out = []
    for region, boxes in by_region.items():
        merged = True
        while merged:
            merged = False
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    a, b = boxes[i], boxes[j]
                    dx = max(a[0], b[0]) - min(a[2], b[2])
                    dy = max(a[1], b[1]) - min(a[3], b[3])
                    if max(dx, dy) <= reach:
                        boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]), a[4] + b[4]]
                        del boxes[j]
                        merged = True
                        break
                if merged:
                    break
        boxes.sort(key=lambda b: -b[4])
        out.extend((region, (b[0], b[1], b[2], b[3])) for b in boxes)
    return out


def _rows(crop: np.ndarray, px_per_mm: float, char_h: float | None = None) -> list[tuple[int, np.ndarray]]:
    """Cut a binary label crop into text lines, top to bottom.

    Characters (connected pieces, without fraction bars and specks) are chained into
    a line when they overlap vertically by half the smaller height and are less than
    two character heights apart; each line comes back as (top row, mask of its
    characters over the crop's width).  ``char_h`` is the sheet's character height
    (pixels), else the crop's median piece height.
    """
    crop = crop.copy()
    prof = crop.sum(axis=1)
    if prof.any():  # cut where rows of text touch: a neck of a row or two between full rows
        low = np.flatnonzero((prof > 0) & (prof <= max(2, 0.12 * np.median(prof[prof > 0]))))
        full = prof >= 0.3 * np.median(prof[prof > 0])
        for r in low:  # not the thin stem of a lone 1 or 7: full rows just above and just below
            if full[max(0, r - 3):r].any() and full[r + 1:r + 4].any():
                crop[r] = False
    n, lab, stats, _ = cv2.connectedComponentsWithStats(crop.astype(np.uint8), connectivity=8)
    if n > 2:  # characters of two rows that touch: cut a too-tall piece at its narrow waist
        med = char_h or float(np.median(stats[1:, cv2.CC_STAT_HEIGHT]))
        cut = False
        for i in np.flatnonzero(stats[:, cv2.CC_STAT_HEIGHT] > 1.2 * med):
            if i == 0:
                continue
            x, y, w, h, _ = stats[i]
            comp = lab[y:y + h, x:x + w] == i
            widths = comp.sum(axis=1)
            # the neck lies about where one character of normal height ends and the other begins
            lo = max(1, int(min(h - med, med) - 0.25 * med))
            hi = min(h - 1, int(max(h - med, med) + 0.25 * med) + 1)
            if hi <= lo:
                continue
            r = lo + int(np.argmin(widths[lo:hi]))
            if h > 1.6 * med or widths[r] <= max(2, 0.25 * np.median(widths)):
                crop[y + r, x:x + w] &= ~comp[r]
                cut = True
        if cut:
            n, lab, stats, _ = cv2.connectedComponentsWithStats(crop.astype(np.uint8), connectivity=8)
    chars = []
    for i in range(1, n):
        x, y, w, h, a = stats[i]
        if (h < 0.6 * px_per_mm and w > 3 * h) or a < 0.05 * px_per_mm**2:
            continue  # a fraction bar, an underline or a speck
        chars.append((i, x, y, w, h))
    if not chars:
        return []
    tall = float(np.median([c[4] for c in chars]))
    marks = [c for c in chars if c[4] < 0.45 * tall]  # decimal points, commas
    chars = [c for c in chars if c[4] >= 0.45 * tall]
    parent = list(range(len(chars)))

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a_, (_, xa, ya, wa, ha) in enumerate(chars):
        for b_, (_, xb, yb, wb, hb) in enumerate(chars[a_ + 1:], start=a_ + 1):
            overlap = min(ya + ha, yb + hb) - max(ya, yb)
            gap = max(xa, xb) - min(xa + wa, xb + wb)
            small = min(ha, hb)
            if overlap >= 0.7 * small and gap <= 2.0 * max(ha, hb) and max(ha, hb) <= 2.2 * small:
                parent[find(a_)] = find(b_)
    groups: dict[int, list[int]] = {}
    for k in range(len(chars)):
        groups.setdefault(find(k), []).append(k)
    for m, (_, xm, ym, wm, hm) in enumerate(marks):  # a mark joins the line it sits in
        near = [k for k, (_, x, y, w, h) in enumerate(chars)
                if y - 0.2 * h <= ym and ym + hm <= y + 1.2 * h and max(x, xm) - min(x + w, xm + wm) <= 0.6 * h]
        if near:
            groups[find(near[0])].append(-1 - m)
    lines = []
    for members in groups.values():
        items = [chars[k] if k >= 0 else marks[-1 - k] for k in members]
        ids = [c[0] for c in items]
        members = [k for k in members if k >= 0]
        y0 = min(chars[k][2] for k in members)
        y1 = max(chars[k][2] + chars[k][4] for k in members)
        if y1 - y0 < 0.8 * px_per_mm:
            continue
        mask = np.isin(lab[y0:y1], ids)
        lines.append(((y0 + y1) / 2, y0, mask))
    lines.sort(key=lambda t: t[0])
    return [(y0, m) for _, y0, m in lines]


def _row_image(mask: np.ndarray, dark: np.ndarray | None) -> tuple[np.ndarray, float, float]:
    """A text row scaled to :data:`_ROW_HEIGHT`, black on white, trimmed and padded.

    With ``dark`` (the scan's darkness over the same pixels) the row keeps its grey
    edges, which tesseract reads better than a hard mask; pixels away from the row's
    own characters (lines, neighbouring labels) are blanked either way.  Also returns
    where the image's column 0 lies in the mask's columns and the scale factor, so a
    column ``c`` of the image is column ``left + c / scale`` of the mask.
    """
    xs = np.nonzero(mask.any(axis=0))[0]
    mask = mask[:, xs.min():xs.max() + 1]
    if dark is not None:
        near = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        ink = np.where(near, dark[:, xs.min():xs.max() + 1], 0).astype(np.float32)
        vals = ink[mask]
        k = int(0.9 * (len(vals) - 1))
        top = max(float(np.partition(vals, k)[k]), 1.0)  # the 90th percentile, without sorting
        img = 255 - np.clip(ink * (255.0 / top), 0, 255)
    else:
        img = np.where(mask, 0, 255).astype(np.float32)
    pad = max(2, mask.shape[0] // 6)
    img = np.pad(img, pad, constant_values=255)
    f = _ROW_HEIGHT / img.shape[0]
    img = cv2.resize(img, (max(1, round(img.shape[1] * f)), _ROW_HEIGHT),
                     interpolation=cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA).clip(0, 255).astype(np.uint8)
    return img, float(xs.min() - pad), f


def _tesseract_tsv(image: np.ndarray) -> list[dict[str, str]]:
    """Run Debian's tesseract on a grey image; the word rows of its TSV output.

    One thread per run (``OMP_THREAD_LIMIT=1``): the batches already run side by side,
    and OpenMP threads fighting over two cores make tesseract several times slower.
    """
    _, png = cv2.imencode(".png", image)
    cmd = ["tesseract", "stdin", "stdout", "--psm", "6", "-c", f"tessedit_char_whitelist={_WHITELIST}",
           "-c", "load_system_dawg=0", "-c", "load_freq_dawg=0", "tsv"]
    try:
        run = subprocess.run(cmd, input=png.tobytes(), capture_output=True, check=True,
                             env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    except FileNotFoundError:
        raise DigitizeError("tesseract is not installed", hint="apt-get install tesseract-ocr") from None
    except subprocess.CalledProcessError as exc:
        raise DigitizeError(f"tesseract failed: {exc.stderr.decode(errors='replace').strip()[:200]}") from None
    lines = run.stdout.decode("utf-8", errors="replace").splitlines()
    head = lines[0].split("\t") if lines else []
    rows = [dict(zip(head, ln.split("\t"))) for ln in lines[1:]]
    return [r for r in rows if r.get("level") == "5" and r.get("text", "").strip()]


def _ocr_batch(rows: list[np.ndarray]) -> list[list[tuple[str, float, float, float]]]:
    """Read many rows with one tesseract call: (word, left, right, confidence) per row, in row-image columns."""
    gap = _ROW_HEIGHT * 3 // 4
    width = max(r.shape[1] for r in rows) + 2 * gap
    sheet = np.full((len(rows) * (_ROW_HEIGHT + gap) + gap, width), 255, np.uint8)
    for i, r in enumerate(rows):
        top = gap + i * (_ROW_HEIGHT + gap)
        sheet[top:top + _ROW_HEIGHT, gap:gap + r.shape[1]] = r
    out: list[list[tuple[str, float, float, float]]] = [[] for _ in rows]
    for w in _tesseract_tsv(sheet):
        left, top, wd, ht = (int(w[k]) for k in ("left", "top", "width", "height"))
        i = int((top + ht / 2 - gap / 2) // (_ROW_HEIGHT + gap))
        if 0 <= i < len(rows):
            out[i].append((w["text"].strip(), float(left - gap), float(left + wd - gap),
                           max(float(w["conf"]), 0.0) / 100.0))
    return out


def _as_int(t: str) -> int | None:
    """An integer, with letters misread for digits put right and a speck read as ``.`` or ``,`` at an end dropped."""
    s = t.translate(_TO_DIGIT).strip(".,")
    return int(s) if s.isdigit() and len(s) <= 6 else None


def _as_area(t: str) -> float | None:
    s = t.translate(_TO_DIGIT).replace(",", ".")
    if re.fullmatch(r"\d{1,7}(\.\d{1,2})?", s):
        return float(s)
    return None


def _as_code(t: str) -> str | None:
    s = t.upper().translate(_TO_LETTER)
    if len(s) == 3 and s.isalpha():
        if is_land_use_code(s):
            return s
        close = [u.code for u in land_uses() if sum(a != b for a, b in zip(u.code, s)) == 1]
        return close[0] if len(close) == 1 else None
    return None


def restore_decimal(area_label: float | None, area_m2: float, *, decimals: int = 1) -> float | None:
    """An area read without its decimal point (``5123`` for ``512.3``), put right.

    Only when the label has no fraction, the computed area is more than 5x smaller,
    and moving the point by ``decimals`` places brings the two within 10 %.
    """
    if area_label is None or area_label != int(area_label) or area_m2 <= 0 or area_label < 5 * area_m2:
        return area_label
    fixed = area_label / 10**decimals
    return fixed if abs(fixed - area_m2) <= 0.1 * area_m2 else area_label


def _pieces(t: Token) -> list[Token]:
    """A word cut into what it holds: split at ``/``, and a land-use code (or a two-letter
    piece of one) fused with a number (``94CLN``, ``UC27`` where a neighbour's code runs
    into the number) cut off; each piece gets its share of the word's box."""
    out = []
    pos = 0
    for seg in t.text.split("/"):
        runs = [seg] if _as_code(seg) else re.findall(r"[A-Z]{2,}|(?:[^A-Z]|[A-Z](?![A-Z]))+", seg)
        if len(runs) > 1 and not any(r.isalpha() and _is_code_piece(r) for r in runs):
            runs = [seg]
        for r in runs:
            k = seg.find(r) + pos
            box = t.box
            if box is not None and len(runs) > 1:
                w = (box[2] - box[0]) / max(len(t.text), 1)
                box = (int(box[0] + k * w), box[1], int(np.ceil(box[0] + (k + len(r)) * w)), box[3])
            x = t.x + 0.5 * (k + len(r) / 2 - len(t.text) / 2)  # about half a row height per character
            out.append(Token(r, t.row, x, t.conf, box))
        pos += len(seg) + 1
    return [p for p in out if p.text]


def _is_code_piece(p: str) -> bool:
    """A land-use code, or two letters of one."""
    return bool(_as_code(p)) if len(p) == 3 else len(p) == 2 and any(p in u.code for u in land_uses())


def parse_label(tokens: list[Token]) -> tuple[int | None, float | None, str | None, float]:
    """Sort a label's tokens into (parcel number, area, code, confidence).

    The code is the three-letter token; the parcel number is the first integer of the
    top row holding a number; the area is a number of a lower row (one with decimals
    first), or the number after a ``/`` or a second number on the top row.
    """
    number, area, code, conf, _ = _parse(tokens)
    return number, area, code, conf


def _parse(tokens: list[Token]) -> tuple[int | None, float | None, str | None, float, list[Token]]:
    """:func:`parse_label`, and the tokens the number and the area were read from."""
    code, conf = None, []
    numbers: list[Token] = []
    for p in (q for t in tokens for q in _pieces(t)):
        letters = sum(c.isalpha() for c in p.text)
        c = _as_code(p.text) if letters >= 2 and len(p.text) == 3 else None
        if c and code is None:
            code = c
            conf.append(p.conf)
        else:
            q = _unfused(p)
            if 2 * sum(c.isalpha() for c in q.text) <= len(q.text):  # mostly digits: a number
                numbers.append(q)
    number = area = None
    anchors = []
    numbers.sort(key=lambda t: (t.row, t.x))
    decimal = [t for t in numbers if any(ch in t.text for ch in ".,") and _as_area(t.text) is not None]
    if decimal:  # the area, written with decimals; the number is the integer nearest above it
        below = decimal[0]
        above = [t for t in numbers if t.row < below.row and _as_int(t.text) is not None]
        if not above:
            above = [t for t in numbers if t.row == below.row and t.x < below.x and _as_int(t.text) is not None]
        if above:
            row = max(t.row for t in above)
            top = min((t for t in above if t.row == row), key=lambda t: _offset(t, below))
            number = _as_int(top.text)
            anchors.append(top)
            conf.append(top.conf)
        area = _as_area(below.text)
        anchors.append(below)
        conf.append(below.conf)
    else:
        top_row = numbers[0].row if numbers else 0
        if numbers:
            number = _as_int(numbers[0].text)
            if number is not None:
                conf.append(numbers[0].conf)
                anchors.append(numbers[0])
                numbers = numbers[1:]
        candidates = [t for t in numbers if number is None or t.row > top_row]
        candidates += [t for t in numbers if number is not None and t.row == top_row]
        for t in candidates:
            area = _as_area(t.text)
            if area is not None:
                conf.append(t.conf)
                anchors.append(t)
                break
    c = float(np.mean(conf)) if conf else 0.0
    found = sum(v is not None for v in (number, area, code))
    return number, area, code, c * found / 3, anchors


def _unfused(t: Token) -> Token:
    """A number without a neighbour's letters fused to its ends (``IT214``, ``214NT``).

    Letters at an end are dropped when there are two or more, or one that no digit is
    misread as; a single ``O`` or ``I`` stays, read as a digit.
    """
    m = re.fullmatch(r"([A-Z]*)(.*?)([A-Z]*)", t.text)
    lead, core, tail = m.groups() if m else ("", t.text, "")

    def foreign(run: str) -> bool:
        return len(run) >= 2 or (len(run) == 1 and run.translate(_TO_DIGIT) == run)

    if not core or not core[0].isdigit() or not core[-1].isdigit() or not (foreign(lead) or foreign(tail)):
        return t
    a = len(lead) if foreign(lead) else 0
    b = len(tail) if foreign(tail) else 0
    text = t.text[a:len(t.text) - b]
    box = t.box
    if box is not None:
        cw = (box[2] - box[0]) / len(t.text)
        box = (int(box[0] + a * cw), box[1], int(np.ceil(box[0] + (a + len(text)) * cw)), box[3])
    return Token(text, t.row, t.x, t.conf * 0.8, box)


def _offset(a: Token, b: Token) -> float:
    """How far apart two tokens' centres lie across the page (pixels; 0 without boxes)."""
    if a.box is None or b.box is None:
        return 0.0
    return abs((a.box[0] + a.box[2]) - (b.box[0] + b.box[2])) / 2


def _char_height(text: np.ndarray, px_per_mm: float) -> float | None:
    """The median height (pixels) of the text pieces between 0.8 and 10 mm tall: the sheet's character height."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(text.astype(np.uint8), connectivity=8)
    h = stats[1:, cv2.CC_STAT_HEIGHT]
    h = h[(h >= 0.8 * px_per_mm) & (h <= 10 * px_per_mm)]
    return float(np.median(h)) if len(h) else None


def _without_bars(text: np.ndarray, char_h: float) -> np.ndarray:
    """The text ink without fraction bars and underlines (horizontal strokes much longer than a character is tall).

    A bar touching the digits over it joins them into one piece that tesseract misreads
    (an underlined ``21`` comes back as ``5``).
    """
    length = max(5, round(1.6 * char_h))
    bars = cv2.morphologyEx(text.astype(np.uint8), cv2.MORPH_OPEN, np.ones((1, length), np.uint8)).astype(bool)
    return text & ~bars


def _region_under(box: tuple[int, int, int, int], text: np.ndarray, labels: np.ndarray) -> int:
    """The region holding most of the text ink in ``box`` (0 when none)."""
    x0, y0, x1, y1 = box
    regs = labels[y0:y1, x0:x1][text[y0:y1, x0:x1]]
    regs = regs[regs > 0]
    if len(regs) == 0:
        regs = labels[y0:y1, x0:x1].ravel()
        regs = regs[regs > 0]
    return int(np.bincount(regs).argmax()) if len(regs) else 0


def read_labels(text: np.ndarray, labels: np.ndarray, *, px_per_mm: float, lines: np.ndarray | None = None,
                dark: np.ndarray | None = None, m_per_px: float | None = None, workers: int = 2,
                batch_rows: int = 150) -> dict[int, Label]:
    """Read the label of every region that has text; returns {region id: Label}.

    ``text`` is the non-line ink (see :func:`digitize.vectorize.split_linework`),
    ``labels`` the region partition, ``lines`` the line-work and ``dark`` the ink
    darkness (0 = paper), all in scan pixels.  A label belongs to the region under its
    parcel number (its text may spill over the boundary); a land-use code read on its
    own (cut off its label by a boundary line) joins the nearest label that has none.
    With ``m_per_px`` (ground metres per scan pixel), a region holding several labels
    keeps the one whose area agrees with the region's.
    """
    char_h = _char_height(text, px_per_mm)
    if char_h is not None:
        text = _without_bars(text, char_h)
    clusters = find_label_clusters(text, labels, px_per_mm=px_per_mm, lines=lines)
    entries: list[tuple[int, tuple[int, int, int, int], list[tuple[int, int, float, float]]]] = []
    rows: list[np.ndarray] = []
    # batches go to tesseract as soon as they are full, while the next rows are cut
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        jobs = []
        for region, (x0, y0, x1, y1) in clusters:
            geo = []
            for top, m in _rows(text[y0:y1, x0:x1], px_per_mm, char_h):
                img, left, f = _row_image(m, None if dark is None else dark[y0 + top:y0 + top + m.shape[0], x0:x1])
                rows.append(img)
                geo.append((y0 + top, y0 + top + m.shape[0], x0 + left, f))
            if geo:
                entries.append((region, (x0, y0, x1, y1), geo))
            if len(rows) >= batch_rows:
                jobs.append(pool.submit(_ocr_batch, rows))
                rows = []
        if rows:
            jobs.append(pool.submit(_ocr_batch, rows))
        read = [w for job in jobs for w in job.result()]
    if not read:
        return {}
    found: list[tuple[Label, list[Token]]] = []
    k = 0
    for region, bbox, geo in entries:
        tokens = []
        for r, (ya, yb, xl, f) in enumerate(geo):
            tokens.extend(Token(word, r, (lo + hi) / 2 / _ROW_HEIGHT, c,
                                (int(xl + lo / f), ya, int(np.ceil(xl + hi / f)), yb))
                          for word, lo, hi, c in read[k + r])
        text_read = " | ".join(" ".join(w[0] for w in read[k + r]) for r in range(len(geo)))
        k += len(geo)
        number, area, _, _, anchors = _parse(tokens)
        found.append((Label(region, number, area, None, 0.0, text_read, bbox, tokens), anchors))
    found = _join_halves(found, char_h or 2 * px_per_mm)
    pixels = np.bincount(labels.ravel()) if m_per_px else None
    for lab, anchors in found:
        if anchors:
            under = [r for r in (_region_under(t.box, text, labels) for t in anchors) if r]
            lab.region = under[0] if under else lab.region
            if pixels is not None and lab.area_label_m2 and len(set(under)) > 1:
                # number and area on two sides of a line: the region whose area the label gives
                lab.region = min(under, key=lambda r: abs(np.log(max(pixels[r], 1) * m_per_px**2
                                                                 / lab.area_label_m2)))
    codes = _assign_codes(found, char_h or 2 * px_per_mm)
    for i, (lab, anchors) in enumerate(found):
        conf = [t.conf for t in anchors]
        if i in codes:
            lab.land_use, code_conf = codes[i]
            conf.append(code_conf)
        have = sum(v is not None for v in (lab.parcel_no, lab.area_label_m2, lab.land_use))
        lab.confidence = float(np.mean(conf)) * have / 3 if conf else 0.0
    out: dict[int, Label] = {}
    for lab, _ in found:
        if lab.parcel_no is None and lab.area_label_m2 is None:
            continue
        area_m2 = float(pixels[lab.region]) * m_per_px**2 if pixels is not None and lab.region < len(pixels) else None
        old = out.get(lab.region)
        if old is None or _score(lab, area_m2) > _score(old, area_m2):
            out[lab.region] = lab
    return out


def _union(boxes) -> tuple[int, int, int, int]:
    """The box around boxes."""
    b = list(boxes)
    return min(x[0] for x in b), min(x[1] for x in b), max(x[2] for x in b), max(x[3] for x in b)


def _join_halves(found: list[tuple[Label, list[Token]]], char_h: float) -> list[tuple[Label, list[Token]]]:
    """Join a number read without an area to an area read without a number just under it.

    The two halves of a fraction fall apart when its bar is gone (touching a boundary
    line, it went with the line-work) or the number sits over a line; nearest pairs
    first: the area at most a character height under the number, and centred under it.
    """
    tops = [i for i, (lab, a) in enumerate(found) if lab.parcel_no is not None and lab.area_label_m2 is None and a]
    bottoms = [i for i, (lab, a) in enumerate(found) if lab.parcel_no is None and lab.area_label_m2 is not None and a]
    pairs = []
    for i in tops:
        n = found[i][1][0].box
        for j in bottoms:
            b = found[j][1][0].box
            if n is None or b is None:
                continue
            dy = b[1] - n[3]
            dx = abs((b[0] + b[2]) - (n[0] + n[2])) / 2
            if -0.3 * char_h <= dy <= char_h and dx <= 0.6 * char_h:
                pairs.append((max(dy, 0) + dx, i, j))
    gone: set[int] = set()
    joined: set[int] = set()
    for _, i, j in sorted(pairs):
        if i in joined or j in gone:
            continue
        (top, ta), (bottom, ba) = found[i], found[j]
        top.area_label_m2 = bottom.area_label_m2
        top.text = f"{top.text} | {bottom.text}"
        top.tokens = top.tokens + [Token(t.text, t.row + 1000, t.x, t.conf, t.box) for t in bottom.tokens]
        top.bbox = _union([top.bbox, bottom.bbox])
        ta.extend(ba)
        joined.add(i)
        gone.add(j)
    return [f for k, f in enumerate(found) if k not in gone]


def _code_candidates(found: list[tuple[Label, list[Token]]], char_h: float) -> list[tuple[str, int, tuple, Token]]:
    """Every land-use code read on the sheet: (code or piece, rank, token ids used, token).

    Rank 0: a whole code, or two short words on one line either side of a boundary that
    spell one (``LU`` | ``C``); rank 1: two letters of a code; rank 2: two letters
    one misread away from two letters of a code (``JC`` for ``UC``).
    """
    words = [q for lab, _ in found for w in lab.tokens for q in _pieces(w)]
    out = []
    short = []
    for k, t in enumerate(words):
        p = t.text
        if len(p) == 3 and sum(c.isalpha() for c in p) >= 2 and (c := _as_code(p)):
            out.append((c, 0, (k,), t))
        elif p.isalpha() and len(p) <= 2:
            if t.box is not None:
                short.append(k)
            if _is_code_piece(p):
                out.append((p, 1, (k,), t))
            elif len(p) == 2 and any(sum(a != b for a, b in zip(p, u.code[i:i + 2])) <= 1
                                     for u in land_uses() for i in (0, 1)):
                out.append((p, 2, (k,), t))
    for a in short:
        for b in short:
            ta, tb = words[a], words[b]
            gap = tb.box[0] - ta.box[2]
            overlap = min(ta.box[3], tb.box[3]) - max(ta.box[1], tb.box[1])
            if (a != b and -2 <= gap <= 0.8 * char_h and overlap >= 0.5 * (ta.box[3] - ta.box[1])
                    and len(ta.text + tb.text) == 3 and (c := _as_code(ta.text + tb.text))):
                out.append((c, 0, (a, b), Token(c, ta.row, ta.x, min(ta.conf, tb.conf), _union([ta.box, tb.box]))))
    return out


def _side(piece: tuple[int, int, int, int], stack: tuple[int, int, int, int]) -> str:
    """Where a code lies against a number/area stack: right, left, below, above or inside."""
    cx, cy = (piece[0] + piece[2]) / 2, (piece[1] + piece[3]) / 2
    if stack[1] <= cy <= stack[3]:
        return "right" if cx > stack[2] else "left" if cx < stack[0] else "inside"
    return "below" if cy > stack[3] else "above"


def _assign_codes(found: list[tuple[Label, list[Token]]], char_h: float) -> dict[int, tuple[str, float]]:
    """Give each label the land-use code beside its number and area: {label index: (code, confidence)}.

    The code sits beside, under or between the number and the area, and on a crowded
    sheet it often crosses a boundary into the neighbour's text, next to the
    neighbour's own number.  So the sheet's layout is learnt first: the side of the
    stack where codes lie when only one stack is near.  Then every code read on the
    sheet goes to a stack within two character heights, those on the learnt side
    first, whole codes before pieces, nearest pairs first, one code per label.  A letter
    lost to a boundary line leaves a two-letter piece: it stands for the one code that
    contains it, else for the code containing it that is read most often on this sheet,
    at a half (a third when one letter was misread too) of its confidence.
    """
    pieces = _code_candidates(found, char_h)
    seen = Counter(code for code, rank, _, _ in pieces if rank == 0)
    stacks = {i: _union(t.box for t in a) for i, (_, a) in enumerate(found) if a and all(t.box for t in a)}
    near: dict[int, list[tuple[float, int]]] = {}
    ks = [k for k, pc in enumerate(pieces) if pc[3].box is not None]
    if ks and stacks:
        p = np.array([pieces[k][3].box for k in ks], dtype=float)[:, None, :]
        ids = list(stacks)
        b = np.array([stacks[i] for i in ids], dtype=float)[None, :, :]
        gap = np.maximum(np.maximum(np.maximum(p[..., 0], b[..., 0]) - np.minimum(p[..., 2], b[..., 2]),
                                    np.maximum(p[..., 1], b[..., 1]) - np.minimum(p[..., 3], b[..., 3])), 0)
        for a, c in zip(*np.nonzero(gap <= 2.0 * char_h)):
            near.setdefault(ks[a], []).append((float(gap[a, c]), ids[c]))
    sides = Counter(_side(pieces[k][3].box, stacks[v[0][1]]) for k, v in near.items()
                    if pieces[k][1] == 0 and len(v) == 1)
    usual = sides.most_common(1)[0][0] if sides else None
    pairs = sorted((_side(pieces[k][3].box, stacks[i]) != usual, pieces[k][1], d, k, i)
                   for k, v in near.items() for d, i in v)
    out: dict[int, tuple[str, float]] = {}
    used: set[int] = set()
    for *_, k, i in pairs:
        code, rank, words, t = pieces[k]
        if used.intersection(words) or i in out:
            continue
        if rank:
            fits = sorted((u.code for u in land_uses()
                           if any(sum(a != b for a, b in zip(code, u.code[j:j + 2])) < rank for j in (0, 1))),
                          key=lambda c: -seen[c])
            if not fits or (len(fits) > 1 and seen[fits[0]] == seen[fits[1]]):
                continue
            code = fits[0]
        used.update(words)
        out[i] = (code, t.conf / (1 + rank))
    return out


def _score(lab: Label, area_m2: float | None) -> float:
    """How good a reading is: values found, confidence, and (strongly) an area label that agrees with the region."""
    s = sum(v is not None for v in (lab.parcel_no, lab.area_label_m2, lab.land_use)) + lab.confidence
    if area_m2 and lab.area_label_m2:
        a = lab.area_label_m2
        if min(abs(a - area_m2), abs(a / 10 - area_m2)) <= 0.1 * area_m2:
            s += 3
    return s
