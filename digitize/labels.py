"""Read parcel labels (nhãn thửa): parcel number, area and land-use code.

A label is the parcel number over its area (a fraction), with the land-use code beside
it or below.  On a crowded sheet labels are small, overlap their neighbours' labels and
cross boundary lines, so reading goes from the characters up and never groups ink by
mere nearness:

1. characters: the connected pieces of the text ink, fraction bars taken out;
2. text rows (:func:`text_rows`): characters of about one height standing on one
   baseline, less than about a character apart, chained; a code drawn half-way between
   the number and the area stands on a baseline of its own, so it makes a row of its
   own.  Small marks (decimal points, pieces of characters cut by a line) join the row
   they sit in;
3. words: every row of the sheet read by tesseract in a few batched calls, each word
   with its box on the scan;
4. labels (:func:`assemble_labels`): a number directly over an area and centred on it
   makes a fraction; the code is the three-letter word nearest to a fraction, on the
   side where the sheet draws its codes;
5. a second look (:func:`_second_look`) where a label misses its number or code, or its
   number and area are read off each other's centre: characters that touch a boundary
   or a bar often went to the line-work, and are read there from the ink no row took;
6. the numbers of the sheet against each other (:func:`_check_numbers`): a sheet numbers
   its parcels 1..N, each once, so a number far beyond the others lost a stray character
   at an end, and a number read twice or missing is read again where it stands (once more
   without the ink of a land-use code printed across it: the sheet's codes are learnt from
   the codes it read surely, :func:`_code_templates`); then (:func:`_numbers_in_rows`) a
   number missing, read twice or out of order is put right by its neighbours in the row
   (a sheet numbers its parcels in rows from the top left), where they leave one number
   free that its reading fits, or where the sheet's own digits drawn over the area say
   which (:class:`_NumberJudge`); a fraction bar in a region with no label is a label read
   blind (:func:`_unread_labels`), numbered only that way, and so, once those have their
   numbers, is the text ink of a region still without a label (:func:`_inked_regions`).

What was read is then checked, as evidence rather than as answers: the area against the
region's computed area, the code against the land-use table, the number against the
other numbers of the sheet.  A reading that fails gets a low confidence (and
:func:`gis.topology.check_parcels` flags it for a human).  No value is made up from
nothing: a number the row infers is one its reading fits, one the sheet's digits drawn over
the area pick, or the one number the row leaves free over an area that was read; it keeps
a quarter of the label's confidence.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from gis.errors import DigitizeError
from gis.landuse import is_land_use_code, land_uses

__all__ = ["Label", "Token", "assemble_labels", "read_labels", "restore_decimal", "text_rows"]

_ROW_HEIGHT = 36  # pixels of a text row handed to tesseract
_WEAK_INK = 31  # darkness (0-255) of the faintest ink, as :func:`digitize.vectorize.ink_mask` has it
_WHITELIST = "0123456789.,ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TO_DIGIT = str.maketrans({"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "T": "7", "Z": "2", "S": "5",
                           "B": "8", "G": "6", "A": "4"})
_TO_LETTER = str.maketrans({"0": "O", "1": "L", "2": "Z", "5": "S", "8": "B", "6": "G", "4": "A", "7": "T"})
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in scan pixels


@dataclass(frozen=True)
class Token:
    """One word, or a piece of one, read on the sheet: its text, box and confidence (0..1)."""

    text: str
    box: Box
    conf: float = 1.0


@dataclass
class Label:
    """What was read for one region."""

    region: int
    parcel_no: int | None = None
    area_label_m2: float | None = None
    land_use: str | None = None
    confidence: float = 0.0
    text: str = ""
    bbox: Box | None = None
    tokens: list[Token] = field(default_factory=list)  # number, area, code: the tokens read for them


# --- characters and rows ---------------------------------------------------------------------------------------

def text_rows(text: np.ndarray, *, px_per_mm: float,
              lines: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, float, float]]]:
    """Chain the characters of the text ink into rows.

    Characters are the connected pieces 0.7-5 mm tall.  Two of them chain when their
    heights differ by less than a third, their tops and their bottoms by less than a
    quarter of a character, and the gap between them is under 0.8 of a character height,
    or, its columns of ink (``lines``, the line-work, crossing it; what a line left of a
    character) not counted, under 0.35 of one: a code drawn over a boundary stays one
    word, the labels of two parcels either side of the boundary do not join.  A decimal
    point in the gap bridges up to 0.8 of a character on either side (monospaced fonts
    give it a whole cell).  A piece that is no character on its own (a decimal point, a
    comma, what a boundary line left of a character) joins the row whose band holds most
    of it, if it lies within a character of the row's ends.  Returns the image of pieces
    (connected-component labels), their stats (OpenCV's: x, y, width, height, area) and
    the rows, in no order: the ids of a row's pieces and its band (the median top and
    bottom of its characters).
    """
    n, cc, stats, _ = cv2.connectedComponentsWithStats(text.astype(np.uint8), connectivity=8)
    x0, y0 = stats[:, 0].astype(float), stats[:, 1].astype(float)
    w, h = stats[:, 2].astype(float), stats[:, 3].astype(float)
    x1, y1 = x0 + w, y0 + h
    ids = np.arange(n)
    main = (ids > 0) & (h >= 0.7 * px_per_mm) & (h <= 5.0 * px_per_mm) & (stats[:, 4] >= 0.08 * h * h)
    m = ids[main]
    if len(m) == 0:
        return cc, stats, []
    tree = cKDTree(np.column_stack([x0[m], (y0[m] + y1[m]) / 2]))
    near = tree.query_ball_point(np.column_stack([x1[m], (y0[m] + y1[m]) / 2]), r=2.2 * h[m])
    a = np.repeat(np.arange(len(m)), [len(q) for q in near])
    b = np.fromiter((j for q in near for j in q), dtype=np.int64, count=len(a))
    i, j = m[a], m[b]
    hi, lo = np.maximum(h[i], h[j]), np.minimum(h[i], h[j])
    gap = x0[j] - x1[i]
    ok = ((i != j) & (hi <= 1.35 * lo) & (np.abs(y0[i] - y0[j]) <= 0.25 * hi) & (np.abs(y1[i] - y1[j]) <= 0.25 * hi)
          & (gap >= -0.35 * hi))
    wide = ok & (gap > 0.8 * hi)
    marks = np.flatnonzero((ids > 0) & (h < 0.7 * px_per_mm) & (w < 0.7 * px_per_mm) & (stats[:, 4] >= 2))
    dots = cKDTree(np.column_stack([(x0[marks] + x1[marks]) / 2, (y0[marks] + y1[marks]) / 2])) if len(marks) else None
    for k in np.flatnonzero(wide & (gap <= 2.0 * hi)):
        a_, b_, hk = i[k], j[k], hi[k]
        if dots is not None:  # a decimal point in a wide gap (a monospaced font gives it a whole cell)
            base = max(y1[a_], y1[b_])
            q = marks[dots.query_ball_point(((x1[a_] + x0[b_]) / 2, base - 0.15 * hk), r=max(gap[k] / 2, 0.3 * hk))]
            q = q[(h[q] < 0.35 * hk) & (w[q] < 0.35 * hk) & (y1[q] >= base - 0.2 * hk) & (y0[q] <= base + 0.1 * hk)
                  & (x0[q] - x1[a_] <= 0.8 * hk) & (x0[b_] - x1[q] <= 0.8 * hk)]
            if len(q):
                wide[k] = False
                continue
        # a gap crossed by a boundary line, or holding what it left of a character: its columns of ink do not count
        ya, yb = int(max(y0[a_], y0[b_])), int(min(y1[a_], y1[b_]))
        wide[k] = gap[k] - _ink_columns(text, lines, ya, yb, int(x1[a_]), int(x0[b_])) > 0.35 * hk
    ok &= ~wide
    graph = coo_matrix((np.ones(int(ok.sum())), (a[ok], b[ok])), shape=(len(m), len(m)))
    _, comp = connected_components(graph, directed=False)
    order = np.argsort(comp, kind="stable")
    rows = np.split(m[order], np.flatnonzero(np.diff(comp[order])) + 1)
    # a row's band: its pieces' median top and bottom
    top, bot = _group_median(y0, rows), _group_median(y1, rows)
    left = np.array([x0[r].min() for r in rows])
    right = np.array([x1[r].max() for r in rows])
    size = np.array([len(r) for r in rows])
    rh = bot - top
    # pieces to attach: those too small for a character, and lone pieces
    small = (ids > 0) & ~main & (h < 0.7 * px_per_mm) & (stats[:, 4] >= 2)
    cand = np.concatenate([ids[small], [int(r[0]) for r in rows if len(r) == 1]]).astype(np.int64)
    if len(cand) == 0:
        return cc, stats, [(r, float(t), float(b)) for r, t, b in zip(rows, top, bot)]
    tree = cKDTree(np.column_stack([(x0[cand] + x1[cand]) / 2, (y0[cand] + y1[cand]) / 2]))
    cx, cy = (left + right) / 2, (top + bot) / 2
    reach = np.hypot((right - left) / 2 + 0.6 * rh, 1.2 * rh)
    best: dict[int, tuple[float, int]] = {}
    for r, q in enumerate(tree.query_ball_point(np.column_stack([cx, cy]), r=reach)):
        if not q:
            continue
        p = cand[q]
        inside = np.minimum(y1[p], bot[r]) - np.maximum(y0[p], top[r])
        fits = (inside >= 0.6 * h[p]) & (h[p] - inside <= 0.45 * rh[r]) & (h[p] <= 1.4 * rh[r])
        if size[r] == 1:  # a lone character takes only what is clearly smaller than itself
            fits &= (p != rows[r][0]) & (h[p] < 0.8 * rh[r])
        gap = np.maximum(left[r] - x1[p], x0[p] - right[r])
        # a mark (a decimal point, a comma) lies between characters, or just after one on the baseline
        low = (y0[p] + y1[p]) / 2 >= bot[r] - 0.35 * rh[r]
        mark = (h[p] < 0.35 * rh[r]) & (w[p] < 0.35 * rh[r])
        fits &= mark | (w[p] <= rh[r])  # a mark, or a piece of one character at most
        near_ = fits & (gap <= np.where(~mark, 0.6, np.where(low, 0.2, 0.0)) * rh[r])
        for k in np.flatnonzero(fits & ~near_ & ~mark & (gap <= 2.0 * rh[r])):  # as above
            xa, xb = (int(x1[p[k]]), int(left[r])) if x1[p[k]] <= left[r] else (int(right[r]), int(x0[p[k]]))
            near_[k] = gap[k] - _ink_columns(text, lines, int(top[r]), int(bot[r]), xa, xb) <= 0.35 * rh[r]
        for piece in p[near_]:
            d = abs((y0[piece] + y1[piece]) / 2 - cy[r]) / rh[r]
            if piece not in best or d < best[piece][0]:
                best[piece] = (d, r)
    # a lone piece joins its row with whatever it took itself: rows merge, the band of the largest holds
    solo = {int(rows[r][0]): r for r in np.flatnonzero(size == 1)}
    graph = coo_matrix((np.ones(len(best)), ([solo.get(p, r) for p, (_, r) in best.items()],
                                             [r for _, r in best.values()])), shape=(len(rows), len(rows)))
    _, group = connected_components(graph, directed=False)
    pieces: dict[int, list[np.ndarray]] = {}
    for r, g in enumerate(group):
        pieces.setdefault(g, []).append(rows[r])
    for p, (_, r) in best.items():
        if p not in solo:
            pieces[group[r]].append(np.array([p], dtype=rows[r].dtype))
    lead = {}
    for r, g in enumerate(group):
        if g not in lead or (size[r], rh[r]) > (size[lead[g]], rh[lead[g]]):
            lead[g] = r
    out = [(np.concatenate(pieces[g]), float(top[r]), float(bot[r])) for g, r in lead.items()]
    return cc, stats, out


def _group_median(values: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """The median of ``values`` over each group of indices (the upper one of an even count's two middles)."""
    sizes = np.array([len(g) for g in groups])
    which = np.repeat(np.arange(len(groups)), sizes)
    v = values[np.concatenate(groups)]
    order = np.lexsort((v, which))
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return v[order][start + sizes // 2]


def _ink_columns(text: np.ndarray, lines: np.ndarray | None, ya: int, yb: int, xa: int, xb: int) -> int:
    """How many columns of the box ``[ya, yb) x [xa, xb)`` hold ink: text, or line-work when given."""
    ink = text[ya:yb, xa:xb]
    if lines is not None:
        ink = ink | lines[ya:yb, xa:xb]
    return int(ink.any(axis=0).sum())


def _cut_tall(text: np.ndarray, *, px_per_mm: float) -> np.ndarray:
    """The text ink with characters of two rows that touch cut apart.

    A piece taller than the characters around it (1.2 times their median height)
    is two characters, one over the other, touching: it is cut across at its narrowest
    row between where one character of normal height ends and the other begins.
    """
    _, cc, stats, _ = cv2.connectedComponentsWithStats(text.astype(np.uint8), connectivity=8)
    h = stats[:, 3].astype(float)
    ok = np.flatnonzero((h >= 0.7 * px_per_mm) & (h <= 8.0 * px_per_mm))
    ok = ok[ok > 0]
    if len(ok) < 3:
        return text
    centres = stats[ok, :2] + stats[ok, 2:4] / 2
    _, nb = cKDTree(centres).query(centres, k=min(9, len(ok)))
    local = np.median(h[ok][nb], axis=1)
    out = text.copy()
    for k in np.flatnonzero(h[ok] >= 1.2 * local):
        i, med = ok[k], local[k]
        x, y, w, hh, _ = stats[i]
        comp = cc[y:y + hh, x:x + w] == i
        widths = comp.sum(axis=1)
        lo = max(1, int(min(hh - med, med) - 0.25 * med))
        hi = min(hh - 1, int(max(hh - med, med) + 0.25 * med) + 1)
        if hi <= lo:
            continue
        r = lo + int(np.argmin(widths[lo:hi]))
        if hh > 1.6 * med or widths[r] <= max(2, 0.25 * np.median(widths)):
            out[y + r, x:x + w] &= ~comp[r]
    return out


def _row_crop(cc: np.ndarray, owner: np.ndarray, k: int, row: tuple[np.ndarray, float, float], stats: np.ndarray,
              lines: np.ndarray | None, dark: np.ndarray | None = None) -> tuple[Box, np.ndarray, np.ndarray | None]:
    """The box around row ``k`` (its pieces' ids and band; ``owner`` gives each piece's row), the
    mask of its ink in that box, and the same with the boundaries that cross the row drawn in
    (None when none does).

    The ink is the row's pieces, and the strokes of its characters that went to the
    line-work (the stem of a ``1`` standing on a fraction bar that touches a boundary
    goes with the bar): line-work in the row's band, within a character of its ends,
    that does not run on upwards out of the band as a boundary crossing the row does
    (nor lies flat along the band as a bar).  With ``dark``, only ink runs on: line-work
    that bridges a gap (a ``1`` under a boundary joined to it) does not.
    """
    s = stats[row[0]]
    top, bot = row[1], row[2]
    x0, y0 = int(s[:, 0].min()), int(s[:, 1].min())
    x1, y1 = int((s[:, 0] + s[:, 2]).max()), int((s[:, 1] + s[:, 3]).max())
    h = max(bot - top, 1.0)
    extra = None
    if lines is not None:
        ex0, ex1 = max(0, int(x0 - 1.2 * h)), min(lines.shape[1], int(x1 + 1.2 * h))
        ey0, ey1 = max(0, int(top - 0.1 * h)), min(lines.shape[0], int(np.ceil(bot)))
        up, down = max(0, int(top - 0.5 * h)), min(lines.shape[0], int(bot + 0.6 * h))
        if lines[ey0:ey1, ex0:ex1].any() and ey0 > up and down > ey1:
            # line-work off the horizontal (bars, boundaries along the row), over and under the band too
            near = lines[up:down, ex0:ex1].astype(np.uint8)
            flat = cv2.morphologyEx(near, cv2.MORPH_OPEN, np.ones((1, max(3, round(0.8 * h))), np.uint8))
            steep = near.astype(bool) & ~flat.astype(bool)
            crop = steep[ey0 - up:ey1 - up]
            n, lab, st, _ = cv2.connectedComponentsWithStats(crop.astype(np.uint8), connectivity=8)
            if dark is not None:  # line-work that bridges a gap is no ink, and carries no boundary on
                steep &= dark[up:down, ex0:ex1] > _WEAK_INK
            above = steep[:ey0 - up].any(axis=0)
            below = steep[int(bot + 0.4 * h) - up:].any(axis=0)
            own = cv2.dilate((owner[cc[ey0:ey1, ex0:ex1]] == k).astype(np.uint8), np.ones((5, 5), np.uint8))
            # touching the row's own ink, or a stroke standing in the band just beyond its ends
            keep = np.bincount(lab[own.astype(bool) & crop], minlength=n) > 0
            keep |= ((st[:, 3] >= 0.6 * h) & (st[:, 0] + st[:, 2] >= x0 - ex0 - 0.6 * h)
                     & (st[:, 0] <= x1 - ex0 + 0.6 * h))
            for j in np.flatnonzero(keep):
                c0, c1 = max(0, st[j, 0] - round(0.3 * h)), st[j, 0] + st[j, 2] + round(0.3 * h)
                keep[j] = (j > 0 and st[j, 2] <= h and not (st[j, 1] == 0 and above[c0:c1].any())
                           and not (st[j, 1] + st[j, 3] >= crop.shape[0] and below[c0:c1].any()))
            band = keep[lab]
            cross = crop & ~band  # boundaries crossing the row, between its ends
            cross[:, :max(0, x0 - ex0)] = False
            cross[:, x1 - ex0:] = False
            if band.any():
                ys, xs = np.nonzero(band)
                x0, x1 = min(x0, ex0 + int(xs.min())), max(x1, ex0 + int(xs.max()) + 1)
                y0, y1 = min(y0, ey0 + int(ys.min())), max(y1, ey0 + int(ys.max()) + 1)
            extra = (ex0, ey0, band, cross)
    mask = owner[cc[y0:y1, x0:x1]] == k
    crossed = None
    if extra is not None:
        ex0, ey0, band, cross = extra
        ys, xs = np.nonzero(band)
        mask[ys + ey0 - y0, xs + ex0 - x0] = True
        ys, xs = np.nonzero(cross)
        inside = (ys + ey0 >= y0) & (ys + ey0 < y1)
        if inside.any():
            crossed = mask.copy()
            crossed[ys[inside] + ey0 - y0, xs[inside] + ex0 - x0] = True
    return (x0, y0, x1, y1), mask, crossed


def _row_image(mask: np.ndarray, dark: np.ndarray | None) -> tuple[np.ndarray, float, float]:
    """A text row scaled to :data:`_ROW_HEIGHT`, black on white, trimmed and padded.

    With ``dark`` (the scan's darkness over the same pixels) the row keeps its grey
    edges, which tesseract reads better than a hard mask; pixels away from the row's
    own characters (lines, neighbouring labels) are blanked either way.  Also returns
    where the image's column 0 lies in the mask's columns and the scale factor, so a
    column ``c`` of the image is column ``left + c / scale`` of the mask.
    """
    if dark is not None:
        near = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        ink = np.where(near, dark, 0).astype(np.float32)
        vals = ink[mask]
        k = int(0.9 * (len(vals) - 1))
        top = max(float(np.partition(vals, k)[k]), 1.0)  # the 90th percentile, without sorting
        img = 255 - np.clip(ink * (255.0 / top), 0, 255)
    else:
        img = np.where(mask, 0, 255).astype(np.float32)
    pad = max(2, mask.shape[0] // 6)
    img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    f = _ROW_HEIGHT / img.shape[0]
    img = cv2.resize(img, (max(1, round(img.shape[1] * f)), _ROW_HEIGHT),
                     interpolation=cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA).clip(0, 255).astype(np.uint8)
    return img, float(-pad), f


# --- reading ---------------------------------------------------------------------------------------------------

def _crop_item(crop: tuple[tuple[int, int, int, int], np.ndarray], dark: np.ndarray | None) -> tuple:
    """A crop ``((x0, y0, x1, y1), mask)`` as :func:`_read_images` takes it: (row image,
    scan column of its column 0, scale, band)."""
    (x0, y0, x1, y1), mask = crop
    img, left, f = _row_image(mask, None if dark is None else dark[y0:y1, x0:x1])
    return img, x0 + left, f, (y0, y1)


def _tesseract_tsv(image: np.ndarray) -> list[dict[str, str]]:
    """Run Debian's tesseract on a grey image; the word rows of its TSV output.

    One thread per run (``OMP_THREAD_LIMIT=1``): the batches already run side by side,
    and OpenMP threads fighting over two cores make tesseract several times slower.  No
    second try on the inverted image of a line read badly (dark text on light paper only):
    a tenth of the time, and it changed only stray letters.
    """
    _, png = cv2.imencode(".png", image)
    cmd = ["tesseract", "stdin", "stdout", "--psm", "6", "-c", f"tessedit_char_whitelist={_WHITELIST}",
           "-c", "load_system_dawg=0", "-c", "load_freq_dawg=0", "-c", "tessedit_do_invert=0", "tsv"]
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


def _read_images(items: Iterable[tuple[np.ndarray, float, float, tuple[float, float]]], *, workers: int,
                 batch_rows: int) -> list[list[Token]]:
    """Read row images (image, scan column of its column 0, scale, band) with tesseract; the words
    of each, boxed in scan pixels.  A batch goes to tesseract as soon as it is full, while the
    next rows are cut; a list of rows is shared out evenly between the workers."""
    workers = max(1, workers)
    if isinstance(items, list) and items:
        batches = workers * -(-len(items) // (workers * batch_rows))
        batch_rows = -(-len(items) // batches)
    places, batch, jobs = [], [], []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for img, xl, f, band in items:
            places.append((xl, f, band))
            batch.append(img)
            if len(batch) >= batch_rows:
                jobs.append(pool.submit(_ocr_batch, batch))
                batch = []
        if batch:
            jobs.append(pool.submit(_ocr_batch, batch))
        read = [w for job in jobs for w in job.result()]
    return [[Token(word, (int(xl + lo / f), round(top), int(np.ceil(xl + hi / f)), round(bot)), c)
             for word, lo, hi, c in found] for (xl, f, (top, bot)), found in zip(places, read)]


def _read_rows(text: np.ndarray, dark: np.ndarray | None, lines: np.ndarray | None, *, px_per_mm: float, workers: int,
               batch_rows: int) -> tuple[list[Token], list[Token], np.ndarray, np.ndarray]:
    """Every word on the sheet, with its box: the text rows read by tesseract.

    Also returns the codes read again in rows crossed by a boundary, the image of text
    pieces and, per piece, whether a word was read from it.
    """
    text = _cut_tall(text, px_per_mm=px_per_mm)
    cc, stats, rows = text_rows(text, px_per_mm=px_per_mm, lines=lines)

    crossed = {}
    owner = np.full(len(stats), -1, np.int32)
    for k, row in enumerate(rows):
        owner[row[0]] = k

    def items():
        for k, row in enumerate(rows):
            (x0, y0, x1, y1), mask, cross = _row_crop(cc, owner, k, row, stats, lines, dark)
            if cross is not None:
                crossed[k] = (x0, y0, x1, y1), cross
            img, left, f = _row_image(mask, None if dark is None else dark[y0:y1, x0:x1])
            yield img, x0 + left, f, row[1:]

    read = _read_images(items(), workers=workers, batch_rows=batch_rows)
    used = np.zeros(len(stats), bool)
    for row, found in zip(rows, read):
        used[row[0]] = bool(found)
    # rows of letters crossed by a boundary, that gave no code for sure: read again with the
    # boundary drawn in, for the strokes of the letters that lie along it (an M or N with a line through it)
    again = [(k, *crossed[k]) for k, found in enumerate(read) if k in crossed
             and any(c.isalpha() for w in found for c in w.text)
             and not any(len(_code_options(w.text)[0]) == 1 for w in found)]
    letters = []
    if again:
        items2 = []
        for k, (x0, y0, x1, y1), mask in again:
            img, left, f = _row_image(mask, None if dark is None else dark[y0:y1, x0:x1])
            items2.append((img, x0 + left, f, rows[k][1:]))
        letters = [w for found in _read_images(items2, workers=workers, batch_rows=batch_rows) for w in found
                   if _code_options(w.text)[0]]
    return [w for found in read for w in found], letters, cc, used


# --- what a word is --------------------------------------------------------------------------------------------

def _as_int(t: str) -> int | None:
    """An integer, with letters misread for digits put right and a speck read as ``.`` or ``,`` at an end dropped."""
    s = t.translate(_TO_DIGIT).strip(".,")
    return int(s) if s.isdigit() and len(s) <= 6 else None


def _as_area(t: str) -> float | None:
    """An area: digits with at most two decimals (``,`` read as ``.``), misread letters put right."""
    s = t.translate(_TO_DIGIT).replace(",", ".").strip(".")
    if re.fullmatch(r"\d{1,7}(\.\d{1,2})?", s):
        return float(s)
    return None


def _as_code(t: str) -> str | None:
    """A land-use code: three letters in the table, or one letter away from exactly one code of it."""
    s = t.upper().translate(_TO_LETTER)
    if len(s) == 3 and s.isalpha():
        if is_land_use_code(s):
            return s
        close = [u.code for u in land_uses() if sum(a != b for a, b in zip(u.code, s)) == 1]
        return close[0] if len(close) == 1 else None
    return None


def _is_code_piece(p: str) -> bool:
    """A land-use code, or two letters of one."""
    return bool(_as_code(p)) if len(p) == 3 else len(p) == 2 and any(p in u.code for u in land_uses())


def _pieces(t: Token) -> list[Token]:
    """A word cut into what it holds: a land-use code (or a two-letter piece of one) fused
    with a number (``94CLN``, ``UC27`` where a neighbour's code runs into the number) cut
    off; each piece gets its share of the word's box."""
    if _as_code(t.text):
        return [t]
    runs = re.findall(r"[A-Z]{2,}|(?:[^A-Z]|[A-Z](?![A-Z]))+", t.text)
    if len(runs) < 2 or not any(r.isalpha() and _is_code_piece(r) for r in runs):
        return [t]
    out = []
    k = 0
    x0, y0, x1, y1 = t.box
    cw = (x1 - x0) / len(t.text)
    for r in runs:
        k = t.text.find(r, k)
        out.append(Token(r, (int(x0 + k * cw), y0, int(np.ceil(x0 + (k + len(r)) * cw)), y1), t.conf))
        k += len(r)
    return out


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
    cw = (t.box[2] - t.box[0]) / len(t.text)
    box = (int(t.box[0] + a * cw), t.box[1], int(np.ceil(t.box[0] + (a + len(text)) * cw)), t.box[3])
    return Token(text, box, t.conf * 0.8)


def _numeric(t: Token) -> Token | None:
    """The token as a number (mostly digits, neighbours' letters cut off), or None."""
    q = _unfused(t)
    letters = sum(c.isalpha() for c in q.text)
    digits = sum(c.isdigit() for c in q.text)
    if digits == 0 or 2 * letters > len(q.text):
        return None
    return q if _as_int(q.text) is not None or _as_area(q.text) is not None else None


def _has_point(t: Token) -> bool:
    """Whether a number is written with decimals (an area)."""
    s = t.text.strip(".,")
    return "." in s or "," in s


# --- labels from words -----------------------------------------------------------------------------------------

def _height(t: Token) -> float:
    return float(max(t.box[3] - t.box[1], 1))


def _centre_x(t: Token) -> float:
    return (t.box[0] + t.box[2]) / 2


def _fractions(nums: list[Token]) -> list[tuple[int, int]]:
    """Pairs (number, area) of numeric tokens that make a fraction: the number directly
    over the area, centred on it, about a bar's thickness above it; best pairs first,
    each token in one pair at most."""
    if len(nums) < 2:
        return []
    box = np.array([t.box for t in nums], dtype=float)
    h = box[:, 3] - box[:, 1]
    cx = (box[:, 0] + box[:, 2]) / 2
    width = box[:, 2] - box[:, 0]
    point = np.array([_has_point(t) for t in nums])
    whole = np.array([_as_int(t.text) is not None for t in nums])
    tree = cKDTree(np.column_stack([cx, box[:, 1]]))  # the tops of the areas
    near = tree.query_ball_point(np.column_stack([cx, box[:, 3]]), r=2.0 * h + 0.5 * width)
    cands = []
    for i, q in enumerate(near):  # i over j
        if not whole[i]:
            continue
        for j in q:
            if i == j:
                continue
            hi, lo = max(h[i], h[j]), min(h[i], h[j])
            dy = box[j, 1] - box[i, 3]
            dx = abs(cx[i] - cx[j])
            if hi > 1.4 * lo or not -0.25 * hi <= dy <= 1.3 * hi or dx > 0.3 * max(width[i], width[j]) + 0.5 * hi:
                continue
            cost = dx / hi + abs(dy - 0.4 * hi) / hi + (0.0 if point[j] else 0.8) + (1.5 if point[i] else 0.0)
            cands.append((cost, i, j))
    used: set[int] = set()
    out = []
    for _, i, j in sorted(cands):
        if i in used or j in used:
            continue
        used.update((i, j))
        out.append((i, j))
    return out


def assemble_labels(words: list[Token], codes: list[Token] = ()) -> list[tuple[Label, list[Token]]]:
    """Labels from the words of a sheet: fractions, then lone numbers and lone areas; codes given out.

    A lone number that a fraction also gives is that number read twice and is dropped, unless
    it stands elsewhere and was read far more surely (by 0.5): a misread number in a fraction
    must not take a number read whole away; both then go to the numbers' check
    (:func:`_check_numbers`), where the surer reading stands.
    ``codes`` are further readings of codes only (a row read again).  Returns (label,
    anchors) with ``region`` still 0: the anchors are the tokens of the number and the
    area (the number first), whose place decides the region.
    """
    pieces = [p for w in words for p in _pieces(w)]
    nums: list[Token] = []
    src: list[int] = []
    for k, p in enumerate(pieces):
        if len(p.text) == 3 and sum(c.isalpha() for c in p.text) >= 2 and _as_code(p.text):
            continue
        q = _numeric(p)
        if q is not None:
            nums.append(q)
            src.append(k)
    found: list[tuple[Label, list[Token]]] = []
    used: set[int] = set()
    for i, j in _fractions(nums):
        n, a = nums[i], nums[j]
        found.append((Label(0, _as_int(n.text), _as_area(a.text)), [n, a]))
        used.update((src[i], src[j]))
    paired: dict[int | None, list[Token]] = {}
    for lab, anchors in found:
        paired.setdefault(lab.parcel_no, []).append(anchors[0])
    for t, k in zip(nums, src):
        if k in used:
            continue
        if _has_point(t):
            found.append((Label(0, None, _as_area(t.text)), [t]))
            used.add(k)
        elif (v := _as_int(t.text)) is not None and v > 0 and all(
                t.conf > p.conf + 0.5 and not _overlap(t.box, p.box) for p in paired.get(v, ())):
            found.append((Label(0, v, None), [t]))
            used.add(k)
    given = _assign_codes(found, [p for k, p in enumerate(pieces) if k not in used] + list(codes))
    for i, (lab, anchors) in enumerate(found):
        lab.tokens = list(anchors)
        if i in given:
            lab.land_use, code_token, code_conf = given[i]
            lab.tokens.append(Token(code_token.text, code_token.box, code_conf))
        _settle(lab)
    return found


def _overlap(a: Box, b: Box) -> bool:
    """Whether two boxes share pixels."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _settle(lab: Label) -> None:
    """A label's text, box and confidence from its tokens: their mean confidence, times the share of
    the three values found."""
    have = sum(v is not None for v in (lab.parcel_no, lab.area_label_m2, lab.land_use))
    lab.confidence = float(np.mean([t.conf for t in lab.tokens])) * have / 3
    lab.text = " | ".join(t.text for t in lab.tokens)
    lab.bbox = _union(t.box for t in lab.tokens)


def _union(boxes) -> Box:
    """The box around boxes."""
    b = list(boxes)
    return min(x[0] for x in b), min(x[1] for x in b), max(x[2] for x in b), max(x[3] for x in b)


def _one_edit(read: str, code: str) -> bool:
    """Whether a word read is one letter off a code: one letter changed, lost or added, or one
    letter read as two (an ``N`` crossed by a boundary line reads ``I1``)."""
    if len(read) == len(code):
        return sum(x != y for x, y in zip(read, code)) == 1
    if len(read) + 1 == len(code):
        return any(code[:i] + code[i + 1:] == read for i in range(len(code)))
    if len(read) == len(code) + 1:
        return any(read[:i] + read[i + 1:] == code or (read[:i] == code[:i] and read[i + 2:] == code[i + 1:])
                   for i in range(len(code)))
    return False


def _code_options(text: str) -> tuple[tuple[str, ...], int]:
    """The land-use codes a word may be, and how sure: the code itself (rank 0); every code
    one letter away (rank 1: a letter misread, lost to a boundary line, or a line read as
    one); for two letters, every code with two neighbouring letters one misread away
    (rank 2: the third letter lost as well)."""
    if not 2 <= len(text) <= 4 or sum(c.isalpha() for c in text) < len(text) - 1:
        return (), 0
    s = text.upper().translate(_TO_LETTER)
    if not s.isalpha():
        return (), 0
    if is_land_use_code(s):
        return (s,), 0
    near = tuple(u.code for u in land_uses() if _one_edit(s, u.code))
    if near or len(s) != 2:
        return near, 1
    return tuple(u.code for u in land_uses()
                 if any(sum(a != b for a, b in zip(s, u.code[i:i + 2])) <= 1 for i in (0, 1))), 2


def _code_candidates(words: list[Token]) -> list[tuple[tuple[str, ...], int, tuple, Token]]:
    """Every land-use code read on the sheet: (codes it may be, rank, word ids used, token).

    A word is a code (rank 0) or near some (ranks 1 and 2, see :func:`_code_options`);
    so are two short words on one line either side of a boundary (``LU`` | ``C``).
    """
    out = []
    short = []
    for k, t in enumerate(words):
        options, rank = _code_options(t.text)
        if options:
            out.append((options, rank, (k,), t))
        if t.text.isalpha() and len(t.text) <= 2:
            short.append(k)
    for a in short:
        for b in short:
            ta, tb = words[a], words[b]
            gap = tb.box[0] - ta.box[2]
            overlap = min(ta.box[3], tb.box[3]) - max(ta.box[1], tb.box[1])
            if a != b and -2 <= gap <= 0.8 * _height(ta) and overlap >= 0.5 * _height(ta):
                options, rank = _code_options(ta.text + tb.text)
                if options and len(ta.text + tb.text) == 3:
                    out.append((options, rank, (a, b), Token(ta.text + tb.text, _union([ta.box, tb.box]),
                                                             min(ta.conf, tb.conf))))
    return out


def _side(piece: Box, stack: Box) -> str:
    """Where a code lies against a number/area stack: right, left, below, above or inside."""
    cx, cy = (piece[0] + piece[2]) / 2, (piece[1] + piece[3]) / 2
    if stack[1] <= cy <= stack[3]:
        return "right" if cx > stack[2] else "left" if cx < stack[0] else "inside"
    return "below" if cy > stack[3] else "above"


def _assign_codes(found: list[tuple[Label, list[Token]]], words: list[Token]) -> dict[int, tuple[str, Token, float]]:
    """Give each label the land-use code beside its number and area: {label index: (code, token, confidence)}.

    The code sits beside, under or between the number and the area, and on a crowded
    sheet it often crosses a boundary into the neighbour's text, next to the
    neighbour's own number.  So the sheet's layout is learnt first: the side of the
    stack where codes lie when only one stack is near.  Then every code read on the
    sheet goes to a stack within two character heights, those on the learnt side
    first, whole codes before near misses, nearest pairs first, one code per label.  A
    near miss (letters misread, or lost to a boundary line) stands for the one code it
    is near, else for the one of them read most often on this sheet, at a half (rank 1)
    or a third (rank 2) of its confidence; when two are read as often, for none.
    """
    pieces = _code_candidates(words)
    seen = Counter(options[0] for options, rank, _, _ in pieces if rank == 0)
    stacks = {i: _union(t.box for t in a) for i, (_, a) in enumerate(found)}
    near: dict[int, list[tuple[float, int]]] = {}
    if pieces and stacks:
        p = np.array([pc[3].box for pc in pieces], dtype=float)[:, None, :]
        ids = list(stacks)
        b = np.array([stacks[i] for i in ids], dtype=float)[None, :, :]
        gap = np.maximum(np.maximum(np.maximum(p[..., 0], b[..., 0]) - np.minimum(p[..., 2], b[..., 2]),
                                    np.maximum(p[..., 1], b[..., 1]) - np.minimum(p[..., 3], b[..., 3])), 0)
        reach = 2.0 * (p[..., 3] - p[..., 1])
        for a, c in zip(*np.nonzero(gap <= reach)):
            near.setdefault(int(a), []).append((float(gap[a, c]), ids[c]))
    sides = Counter(_side(pieces[k][3].box, stacks[v[0][1]]) for k, v in near.items()
                    if pieces[k][1] == 0 and len(v) == 1)
    usual = sides.most_common(1)[0][0] if sides else None
    pairs = sorted((_side(pieces[k][3].box, stacks[i]) != usual, pieces[k][1], d, k, i)
                   for k, v in near.items() for d, i in v)
    out: dict[int, tuple[str, Token, float]] = {}
    used: set[int] = set()
    for *_, k, i in pairs:
        options, rank, ws, t = pieces[k]
        if used.intersection(ws) or i in out:
            continue
        ranked = sorted(options, key=lambda c: -seen[c])
        if len(ranked) > 1 and seen[ranked[0]] == seen[ranked[1]]:
            continue
        used.update(ws)
        out[i] = (ranked[0], t, t.conf / (1 + rank))
    return out


# --- a second look where a number or a code is missing ---------------------------------------------------------

def _zones(found: list[tuple[Label, list[Token]]]) -> list[tuple[int, str, Box, float]]:
    """Where the missing number or code of each label should be: (label index, "number",
    "digits", "area digits" or "code", box, character height).  The number lies over the
    area, centred on it (a number and an area read off each other's centre lost a digit
    at an end: both are read again); the code on the side of the number and area where
    this sheet's labels have theirs."""
    sides = Counter()
    for lab, anchors in found:
        if lab.land_use is not None and len(lab.tokens) > len(anchors):
            sides[_side(lab.tokens[-1].box, _union(t.box for t in anchors))] += 1
    usual = sides.most_common(1)[0][0] if sides else None
    out = []
    for i, (lab, anchors) in enumerate(found):
        h = float(np.median([_height(t) for t in anchors]))
        x0, y0, x1, y1 = _union(t.box for t in anchors)
        if lab.parcel_no is None and lab.area_label_m2 is not None:
            out.append((i, "number", (int(x0 - 0.3 * h), int(y0 - 1.9 * h), int(x1 + 0.3 * h), int(y0 - 0.05 * h)), h))
        elif lab.parcel_no is not None and lab.area_label_m2 is not None and len(anchors) == 2:
            n, a = anchors
            if abs(_centre_x(n) - _centre_x(a)) > 0.4 * h:  # off each other's centre: a digit lost at an end
                xa, xb = int(min(n.box[0], a.box[0]) - 0.3 * h), int(max(n.box[2], a.box[2]) + 0.3 * h)
                out.append((i, "digits", (xa, int(n.box[1] - 0.2 * h), xb, int(n.box[3] + 0.1 * h)), h))
                out.append((i, "area digits", (xa, int(a.box[1] - 0.1 * h), xb, int(a.box[3] + 0.2 * h)), h))
        if lab.land_use is None and lab.parcel_no is not None and lab.area_label_m2 is not None:
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            box = {"right": (x1 + 0.05 * h, cy - 0.9 * h, x1 + 3.5 * h, cy + 0.9 * h),
                   "left": (x0 - 3.5 * h, cy - 0.9 * h, x0 - 0.05 * h, cy + 0.9 * h),
                   "below": (cx - 2.2 * h, y1 + 0.05 * h, cx + 2.2 * h, y1 + 1.6 * h),
                   "above": (cx - 2.2 * h, y0 - 1.6 * h, cx + 2.2 * h, y0 - 0.05 * h)}.get(usual)
            if box is not None:
                out.append((i, "code", tuple(int(v) for v in box), h))
    return out


def _zone_crop(zone: Box, h: float, text: np.ndarray, lines: np.ndarray, cc: np.ndarray,
               used: np.ndarray) -> tuple[Box, np.ndarray] | None:
    """The characters standing in a zone: ink no word was read from (line-work, or text left
    over), without straight runs longer than a character (bars, boundaries), in pieces that
    lie inside the zone (what goes on beyond it is a boundary or a neighbour's text)."""
    m = round(0.5 * h)
    hgt, wid = text.shape
    ex0, ey0, ex1, ey1 = max(0, zone[0] - m), max(0, zone[1] - m), min(wid, zone[2] + m), min(hgt, zone[3] + m)
    if ex1 - ex0 < 3 or ey1 - ey0 < 3:
        return None
    ink = lines[ey0:ey1, ex0:ex1] | (text[ey0:ey1, ex0:ex1] & ~used[cc[ey0:ey1, ex0:ex1]])
    if not ink.any():
        return None
    u = ink.astype(np.uint8)
    runs = (cv2.morphologyEx(u, cv2.MORPH_OPEN, np.ones((1, max(3, round(1.2 * h))), np.uint8))
            | cv2.morphologyEx(u, cv2.MORPH_OPEN, np.ones((max(3, round(1.5 * h)), 1), np.uint8)))
    ink &= ~runs.astype(bool)
    _, lab, st, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    s = 0.15 * h
    inside = ((st[:, 0] >= zone[0] - ex0 - s) & (st[:, 1] >= zone[1] - ey0 - s) & (st[:, 4] >= 3)
              & (st[:, 0] + st[:, 2] <= zone[2] - ex0 + s) & (st[:, 1] + st[:, 3] <= zone[3] - ey0 + s))
    inside[0] = False
    if not inside.any():
        return None
    keep = inside[lab]
    ys, xs = np.nonzero(keep)
    if ys.max() - ys.min() < 0.5 * h:
        return None
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return (ex0 + int(x0), ey0 + int(y0), ex0 + int(x1), ey0 + int(y1)), keep[y0:y1, x0:x1]


def _second_look(found: list[tuple[Label, list[Token]]], text: np.ndarray, lines: np.ndarray,
                 dark: np.ndarray | None, cc: np.ndarray, used: np.ndarray, *, workers: int,
                 batch_rows: int) -> None:
    """Read the numbers and codes that no row gave, where each label should have them.

    A boundary that touches a label takes the characters touching it into the line-work
    (a number standing on a bar that meets a boundary, a code drawn against one), and no
    text row holds them.  Each label missing its number or code is looked at again where
    that should be (:func:`_zones`); what is read there counts only as what was missing (an
    integer, a code; for a number or an area read off the centre, a longer one holding its
    digits and better centred), at half its confidence.
    """
    zones, items = [], []
    everything = np.zeros_like(used)
    for i, kind, box, h in _zones(found):
        crop = _zone_crop(box, h, text, lines, cc, everything if kind.endswith("digits") else used)
        if crop is None:
            continue
        zones.append((i, kind))
        items.append(_crop_item(crop, dark))
    if not items:
        return
    seen = Counter(lab.land_use for lab, _ in found if lab.land_use is not None)
    for (i, kind), words in zip(zones, _read_images(items, workers=workers, batch_rows=batch_rows)):
        lab, anchors = found[i]
        for w in words:
            if kind.endswith("digits"):  # read whole: the digits read before and more, better centred
                k = 1 if kind == "area digits" else 0
                q = _numeric(w)
                if q is None or _has_point(q) != bool(k) or (_as_area(q.text) if k else _as_int(q.text)) is None:
                    continue
                mine, other = anchors[k], anchors[1 - k]
                before, now = mine.text.strip(".,").replace(",", "."), q.text.strip(".,").replace(",", ".")
                if (len(now) > len(before) and before in now
                        and abs(_centre_x(q) - _centre_x(other)) < abs(_centre_x(mine) - _centre_x(other))):
                    if k:
                        lab.area_label_m2 = _as_area(q.text)
                    else:
                        lab.parcel_no = _as_int(q.text)
                    anchors[k] = q
                    lab.tokens[k] = Token(q.text, q.box, q.conf / 2)
                    break
            elif kind == "number":
                q = _numeric(w)
                if q is not None and not _has_point(q) and (v := _as_int(q.text)):
                    lab.parcel_no = v
                    anchors.insert(0, q)
                    lab.tokens.insert(0, Token(q.text, q.box, q.conf / 2))
                    break
            else:
                options, rank = _code_options(w.text)
                ranked = sorted(options, key=lambda c: -seen[c])
                if ranked and (len(ranked) == 1 or seen[ranked[0]] > seen[ranked[1]]):
                    lab.land_use = ranked[0]
                    lab.tokens.append(Token(w.text, w.box, w.conf / (2 * (1 + rank))))
                    break
        _settle(lab)


def _read_again(found: list[tuple[Label, list[Token]]], area_of, text: np.ndarray, lines: np.ndarray | None,
                dark: np.ndarray | None, cc: np.ndarray, *, workers: int, batch_rows: int) -> None:
    """Read once more, on their own, the areas that disagree with their region's computed area.

    Tesseract reads a row a little differently in another batch; a second reading that
    agrees with the region replaces the first (at half its confidence), one that does not
    is dropped: the check picks between readings, it makes none up.
    """
    todo, items = [], []
    everything = np.zeros(int(cc.max()) + 1, bool)  # the zone's text read before counts too
    for i, (lab, anchors) in enumerate(found):
        if lab.region == 0 or _agrees(lab.area_label_m2, area_of(lab.region)) is not False:
            continue
        a = anchors[-1]  # the area comes after the number
        h = _height(a)
        box = (int(a.box[0] - 0.6 * h), int(a.box[1] - 0.1 * h), int(a.box[2] + 0.6 * h), int(a.box[3] + 0.1 * h))
        crop = _zone_crop(box, h, text, lines if lines is not None else np.zeros_like(text), cc, everything)
        if crop is None:
            continue
        todo.append(i)
        items.append(_crop_item(crop, dark))
    if not items:
        return
    for i, words in zip(todo, _read_images(items, workers=workers, batch_rows=batch_rows)):
        lab, anchors = found[i]
        for w in words:
            q = _numeric(w)
            v = _as_area(q.text) if q is not None else None
            if v is not None and _agrees(v, area_of(lab.region)):
                lab.area_label_m2 = v
                anchors[-1] = q
                lab.tokens[len(anchors) - 1] = Token(q.text, q.box, q.conf / 2)
                _settle(lab)
                break


# --- the land-use codes of a sheet, as drawn on it ------------------------------------------------------------

def _code_templates(words: list[Token], dark: np.ndarray, *, size: int = 24, most: int = 150,
                    least: int = 5) -> dict[str, np.ndarray]:
    """What each land-use code looks like on this sheet (a code repeats hundreds of times): the
    mean darkness of the codes read surely (a whole code, confidence 0.85 or more), each scaled to
    ``size`` pixels tall and the code's median width, 0..1; only codes read surely ``least`` times."""
    boxes: dict[str, list[Box]] = {}
    for t in words:
        if t.conf >= 0.85 and is_land_use_code(t.text) and t.box[2] > t.box[0] and t.box[3] > t.box[1]:
            boxes.setdefault(t.text, []).append(t.box)
    out = {}
    for code, bs in boxes.items():
        if len(bs) < least:
            continue
        bs = bs[:most]
        w = max(3, round(size * float(np.median([(b[2] - b[0]) / (b[3] - b[1]) for b in bs]))))
        glyph = _mean_glyph([cv2.resize(dark[y0:y1, x0:x1].astype(np.float32), (w, size), interpolation=cv2.INTER_AREA)
                             for x0, y0, x1, y1 in bs])
        if glyph is not None:
            out[code] = glyph
    return out


def _mean_glyph(cells: list[np.ndarray]) -> np.ndarray | None:
    """The mean of a glyph's cells (darkness, all of one size), 0..1 against its 98th percentile;
    None when the cells hold no ink."""
    m = np.mean(cells, axis=0)
    top = float(np.percentile(m, 98))
    return np.clip(m / top, 0.0, 1.0) if top > 0 else None


def _codes_in(zone: Box, templates: dict[str, np.ndarray], heights: list[int], dark: np.ndarray, *,
             least: float = 0.6) -> list[tuple[Box, np.ndarray]]:
    """The land-use codes printed across a zone (a neighbour's code over a number): the sheet's
    ``templates`` of its codes, at the ``heights`` its codes are drawn at, matched against the
    scan's darkness around the zone (correlation ``least`` or more, the best match of each place
    only); (box, mask of the pixels the code covers) in scan pixels."""
    x0, y0, x1, y1 = zone
    hmax = max(heights)
    wx0, wy0 = max(0, x0 - 3 * hmax), max(0, y0 - hmax)
    wx1, wy1 = min(dark.shape[1], x1 + 3 * hmax), min(dark.shape[0], y1 + hmax)
    win = dark[wy0:wy1, wx0:wx1].astype(np.float32)
    hits = []
    for tpl in templates.values():
        for h in heights:
            t = cv2.resize(tpl, (max(3, round(tpl.shape[1] * h / tpl.shape[0])), h), interpolation=cv2.INTER_AREA)
            if t.shape[0] > win.shape[0] or t.shape[1] > win.shape[1]:
                continue
            score = cv2.matchTemplate(win, t, cv2.TM_CCOEFF_NORMED)
            for by, bx in zip(*np.nonzero(score >= least)):
                box = (wx0 + int(bx), wy0 + int(by), wx0 + int(bx) + t.shape[1], wy0 + int(by) + t.shape[0])
                if box[0] < x1 and box[2] > x0 and box[1] < y1 and box[3] > y0:
                    hits.append((float(score[by, bx]), box, t))
    out: list[tuple[Box, np.ndarray]] = []
    for sc, box, t in sorted(hits, key=lambda q: -q[0]):  # the best match of each place
        if any(min(box[2], b[2]) - max(box[0], b[0]) > 0.3 * (box[2] - box[0])
               and min(box[3], b[3]) - max(box[1], b[1]) > 0.3 * (box[3] - box[1]) for b, _ in out):
            continue
        out.append((box, t > 0.45))
    return out


def _code_heights(words: list[Token]) -> list[int]:
    """The heights (pixels) the sheet draws its land-use codes at: those of the codes read surely, a few."""
    hs = [t.box[3] - t.box[1] for t in words if t.conf >= 0.85 and is_land_use_code(t.text)]
    if len(hs) < 5:
        return []
    return sorted({max(3, round(float(v))) for v in np.percentile(hs, [10, 50, 90])})


def _without_codes(crop: tuple[Box, np.ndarray],
                   codes: list[tuple[Box, np.ndarray]]) -> tuple[Box, np.ndarray] | None:
    """A crop (box, ink mask) with the ink of the codes that reach into it taken out, cut to
    what is left (None when nothing is)."""
    (x0, y0, x1, y1), ink = crop
    ink = ink.copy()
    for (cx0, cy0, cx1, cy1), m in codes:
        ax0, ay0, ax1, ay1 = max(x0, cx0), max(y0, cy0), min(x1, cx1), min(y1, cy1)
        if ax1 > ax0 and ay1 > ay0:
            ink[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0] &= ~m[ay0 - cy0:ay1 - cy0, ax0 - cx0:ax1 - cx0]
    ys, xs = np.nonzero(ink)
    if len(ys) == 0:
        return None
    return ((x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1),
            ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1])


# --- the numbers of a sheet, checked against each other ------------------------------------------------------

def _number_limit(numbers: list[int]) -> float:
    """The largest parcel number this sheet can plausibly carry.

    A sheet numbers its parcels 1..N, so the numbers read spread evenly below N: a
    tenth of them lie above 0.9 N.  Readings with a stray character (a neighbour's letter
    or a boundary's tick read as a digit) lie far above, and are too few to move the
    estimate; the limit leaves a fifth of N (and ten) for numbers never read.
    """
    if len(numbers) < 10:
        return float("inf")
    return 1.2 * float(np.quantile(numbers, 0.9)) / 0.9 + 10


def _trimmed(t: Token, other: Token | None, limit: float, taken: set[int]) -> int | None:
    """A number read with stray characters at its ends, without them: the longest reading
    by dropping one edge character (two from five) that lies within the sheet's ``limit`` and that
    no other label of the sheet has; when readings as long remain, the one without the
    letters read as digits, or else the one whose ink is centred over the area
    (``other``) as a number is.  None when no reading, or no one reading, does."""
    raw = t.text.strip(".,")
    s = raw.translate(_TO_DIGIT)
    if not s.isdigit():
        return None
    for drop in (1, 2) if len(s) >= 5 else (1,):  # two only from five digits: a number keeps three
        cands = []
        for a in range(drop + 1):
            sub = s[a:len(s) - (drop - a)]
            if sub and sub[0] != "0" and int(sub) <= limit and int(sub) not in taken:
                cands.append((a, drop - a, int(sub)))
        # a letter read as a digit (the O of a neighbour's ONT as 0) is the stray one
        letters = [c for c in cands if not any(ch.isdigit() for ch in raw[:c[0]] + raw[len(raw) - c[1]:])]
        if letters:
            cands = letters
        if len(cands) > 1 and other is not None:
            # the characters dropped should be those that take the reading off the area's centre
            cw = (t.box[2] - t.box[0]) / len(s)
            off = [abs(t.box[0] + (a + (len(s) - b)) * cw / 2 - _centre_x(other)) for a, b, _ in cands]
            order = np.argsort(off)
            if off[order[1]] - off[order[0]] >= 0.5 * cw:
                cands = [cands[order[0]]]
        if len(cands) == 1:
            return cands[0][2]
        if cands:
            return None
    return None


def _clip_crop(zone: Box, h: float, text: np.ndarray, lines: np.ndarray | None) -> tuple[Box, np.ndarray] | None:
    """All the ink in a zone, cut at its edges, without straight runs longer than a character (bars, boundaries)."""
    hgt, wid = text.shape
    x0, y0, x1, y1 = max(0, zone[0]), max(0, zone[1]), min(wid, zone[2]), min(hgt, zone[3])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    ink = text[y0:y1, x0:x1] if lines is None else text[y0:y1, x0:x1] | lines[y0:y1, x0:x1]
    u = ink.astype(np.uint8)
    runs = (cv2.morphologyEx(u, cv2.MORPH_OPEN, np.ones((1, max(3, round(1.2 * h))), np.uint8))
            | cv2.morphologyEx(u, cv2.MORPH_OPEN, np.ones((max(3, round(1.5 * h)), 1), np.uint8)))
    ink &= ~runs.astype(bool)
    ys, xs = np.nonzero(ink)
    if len(ys) == 0 or ys.max() - ys.min() < 0.5 * h:
        return None
    return ((x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1),
            ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1])


def _free_reading(w: Token, area: Token, limit: float, taken: set[int]) -> tuple[int | None, Token]:
    """A number no other label has, within the sheet's limit, read in a word that may hold a
    neighbour's letters too: the runs of digits between letters no digit is misread as
    (``1N571``: a neighbour's ``N`` with a boundary's tick), the longest that fits first,
    then a run beyond the limit without stray characters at its ends (:func:`_trimmed`)."""
    runs = [(m.start(), m.group()) for m in re.finditer(r"[0-9OQDILTZSBGA]+", w.text.upper())]
    cw = (w.box[2] - w.box[0]) / max(len(w.text), 1)
    toks = [Token(r, (int(w.box[0] + k * cw), w.box[1], int(np.ceil(w.box[0] + (k + len(r)) * cw)), w.box[3]), w.conf)
            for k, r in runs if 2 * sum(c.isdigit() for c in r) > len(r)]
    for t in sorted(toks, key=lambda t: -len(t.text)):
        v = _as_int(t.text)
        if v and v <= limit and v not in taken:
            return v, t
    for t in sorted(toks, key=lambda t: -len(t.text)):  # too large: stray characters at an end
        if (_as_int(t.text) or 0) > limit and (v := _trimmed(t, area, limit, taken)) is not None:
            return v, Token(str(v), t.box, t.conf)
    return None, w


def _check_numbers(labels: list[Label], text: np.ndarray, lines: np.ndarray | None, dark: np.ndarray | None, *,
                   workers: int, batch_rows: int, area_of: Callable[[int], float | None] | None = None,
                   templates: dict[str, np.ndarray] | None = None,
                   heights: list[int] = ()) -> dict[int, list[str]]:
    """Check the numbers of a sheet against each other: each is unique, and they run 1..N.

    A number with no area under it that gives the region's area (``area_of``) with a
    decimal point put in, to a tenth when far beyond the others (:func:`_number_limit`), to
    a hundredth when not, is that area read without its point.  A number far beyond the others is read without the stray
    characters at its ends, if one reading does (:func:`_trimmed`).  A number read twice,
    or still beyond the limit, and a missing number over an area, are read again on their
    own, from all the ink standing over the area's centre; the new reading is kept when it
    lies within the limit and no other label has it; where a land-use code crosses the ink
    read (a neighbour's code printed over the number: :func:`_codes_in`, from the sheet's
    ``templates`` of its codes at the ``heights`` it draws them), it is read once more without
    the code's ink; the digits the code crossed are cut there, so that reading is returned
    (see below) but never taken on its own.  Either way the label keeps half its
    confidence: every value comes from ink read, none is made up.  Returns what was read
    again and not kept, per label (by position in ``labels``), for :func:`_numbers_in_rows`.
    """
    limit = _number_limit([lab.parcel_no for lab in labels if lab.parcel_no is not None])
    for lab in labels:  # an area read without its point, taken for a number: the region's area says so
        # (within the sheet's numbers, only when it gives the region's area to a hundredth)
        if (lab.parcel_no is not None and lab.parcel_no >= 100 and lab.area_label_m2 is None and area_of is not None
                and (area := area_of(lab.region))):
            tol = 0.1 if lab.parcel_no > limit else 0.01
            fits = [lab.parcel_no / 10**k for k in (1, 2) if abs(lab.parcel_no / 10**k - area) <= tol * area]
            if fits:
                lab.parcel_no, lab.area_label_m2 = None, fits[0]
                lab.tokens[0] = Token(lab.tokens[0].text, lab.tokens[0].box, lab.tokens[0].conf / 2)
                _settle(lab)
    count = Counter(lab.parcel_no for lab in labels if lab.parcel_no is not None)
    for lab in labels:
        if lab.parcel_no is not None and lab.parcel_no > limit:
            other = lab.tokens[1] if lab.area_label_m2 is not None and len(lab.tokens) > 1 else None
            v = _trimmed(lab.tokens[0], other, limit, {k for k, c in count.items() if c > 0})
            if v is not None:
                count[lab.parcel_no] -= 1
                count[v] += 1
                lab.parcel_no = v
                lab.tokens[0] = Token(str(v), lab.tokens[0].box, lab.tokens[0].conf / 2)
                _settle(lab)
    # of a number read twice, the reading clearly surest stands
    best: dict[int, list[float]] = {}
    for lab in labels:
        if lab.parcel_no is not None:
            best.setdefault(lab.parcel_no, []).append(lab.tokens[0].conf)
    sure = {v: max(c) for v, c in best.items() if len(c) > 1 and sorted(c)[-2] < max(c) - 0.1}
    todo, items = [], []
    for i, lab in enumerate(labels):
        if lab.area_label_m2 is None:
            continue
        if lab.parcel_no is None:
            a = lab.tokens[0]
            h = _height(a)
            zones = [_number_zone(a)]
        elif (count[lab.parcel_no] > 1 and lab.tokens[0].conf < sure.get(lab.parcel_no, 2.0)) or lab.parcel_no > limit:
            # over the area; and, the number being centred over the area, as far either side of its
            # centre as the end of the reading farther from it (a neighbour's letter touching the
            # other end is cut off)
            n, a = lab.tokens[0], lab.tokens[1]
            h = _height(a)
            c = _centre_x(a)
            half = max(n.box[2] - c, c - n.box[0]) + 0.15 * h
            y0, y1 = int(n.box[1] - 0.2 * h), int(n.box[3] + 0.1 * h)
            zones = [(int(min(a.box[0], n.box[0]) - 0.3 * h), y0, int(max(a.box[2], n.box[2]) + 0.3 * h), y1),
                     (int(c - half), y0, int(np.ceil(c + half)), y1)]
        else:
            continue
        for zone in zones:
            crop = _clip_crop(zone, h, text, lines)
            if crop is None:
                continue
            todo.append((i, False))
            items.append(_crop_item(crop, dark))
            if not templates or not heights or dark is None:
                continue
            masks = _codes_in(crop[0], templates, heights, dark)
            bare = _without_codes(crop, masks) if masks else None
            if bare is not None:
                todo.append((i, True))
                items.append(_crop_item(bare, dark))
    readings: dict[int, list[str]] = {}
    if not items:
        return readings
    found: dict[int, list[tuple[int, Token]]] = {}
    for (i, bare), words in zip(todo, _read_images(items, workers=workers, batch_rows=batch_rows)):
        lab = labels[i]
        area = lab.tokens[0 if lab.parcel_no is None else 1]
        readings.setdefault(i, []).extend(w.text for w in words)
        if bare:  # digits cut where the code crossed them: evidence for the row's numbers only
            continue
        for w in words:
            v, q = _free_reading(w, area, limit, {k for k, c in count.items() if c > 0})
            if v is not None:
                found.setdefault(i, []).append((v, q))
                break
    for i, got in found.items():  # one new reading from the crops, or none
        lab = labels[i]
        if len({v for v, _ in got}) != 1 or count[got[0][0]] > 0:
            continue
        v, q = got[0]
        if lab.parcel_no is None:
            lab.tokens.insert(0, Token(q.text, q.box, q.conf / 2))
        else:
            count[lab.parcel_no] -= 1
            lab.tokens[0] = Token(q.text, q.box, q.conf / 2)
        lab.parcel_no = v
        count[v] += 1
        _settle(lab)
        readings.pop(i, None)
    return readings


def _number_zone(area: Token) -> Box:
    """Where a label's number stands: over its area (the token), a character and a bar above it."""
    h = _height(area)
    return (int(area.box[0] - 0.3 * h), int(area.box[1] - 1.9 * h), int(area.box[2] + 0.3 * h),
            int(area.box[1] - 0.05 * h))


def _read_over(labels: list[Label], text: np.ndarray, lines: np.ndarray | None, dark: np.ndarray | None, *,
               workers: int, batch_rows: int) -> dict[int, list[str]]:
    """What stands over the area of labels whose number no row read (:func:`_unread_labels`):
    all the ink of the number's place, the line-work's too, without straight runs
    (:func:`_clip_crop`: a boundary along the digits, whose mask took their strokes), read on
    its own; the words read, per label (by position in ``labels``)."""
    todo, items = [], []
    for i, lab in enumerate(labels):
        a = lab.tokens[0]
        if (crop := _clip_crop(_number_zone(a), _height(a), text, lines)) is not None:
            todo.append(i)
            items.append(_crop_item(crop, dark))
    if not items:
        return {}
    return {i: [w.text for w in words]
            for i, words in zip(todo, _read_images(items, workers=workers, batch_rows=batch_rows)) if words}


def _fits_reading(read: str, v: int) -> int | None:
    """How well a number read with digits lost or misread fits ``v``: 0 the same, 1 ``v`` with
    one or two digits lost at an end (a neighbour's code printed over them), 2 one digit lost
    inside or one misread; None when it does not fit (nothing read fits nothing)."""
    s = re.sub(r"[^0-9]", "", read.translate(_TO_DIGIT))
    c = str(v)
    if not s:
        return None
    if s == c:
        return 0
    if (c.endswith(s) or c.startswith(s)) and len(c) - len(s) <= 2:
        return 1
    rest = iter(c)
    if (len(c) == len(s) + 1 and all(ch in rest for ch in s)) or (
            len(c) == len(s) and sum(a != b for a, b in zip(s, c)) == 1):
        return 2
    return None


def _stack(lab: Label) -> tuple[float, float, float] | None:
    """The centre and character height of a label's number and area (its code left out), or of the
    ink under its bar when it has neither (:func:`_unread_labels`); None without any."""
    k = max(1, (lab.parcel_no is not None) + (lab.area_label_m2 is not None))
    if len(lab.tokens) < k:
        return None
    x0, y0, x1, y1 = _union(t.box for t in lab.tokens[:k])
    return (x0 + x1) / 2, (y0 + y1) / 2, float(np.median([_height(t) for t in lab.tokens[:k]]))


def _numbers_in_rows(labels: list[Label], readings: dict[int, list[str]] | None = None, *, max_gap: int = 25,
                     rounds: int = 3, judge: Callable[[Label, list[int]], int | None] | None = None,
                     blind: frozenset[int] = frozenset()) -> None:
    """Numbers put right by their neighbours in the row: a sheet numbers its parcels in rows,
    left to right, from the top.

    A label whose number is missing, read twice, beyond the sheet's limit, or outside the
    numbers of its nearest neighbours left and right at its height (each read once, at most
    ``max_gap`` apart) takes the number between them that no other label has and that its
    own reading fits best (:func:`_fits_reading`: a digit or two lost at an end under a
    neighbour's code, one lost or misread inside), when one fits best; a label with an area
    and no number read takes the only number left free between them.  A number so inferred
    keeps a quarter of the label's confidence, one read in part a half.  Labels put right
    count as neighbours in the next round.  ``readings`` are further readings of a label's
    number (by position in ``labels``: the crops :func:`_check_numbers` read and did not keep),
    its digits among a neighbour's letters; they count as the label's own reading does, and so
    does, under a number of one digit, an "area" read without a point (a stray digit over the
    number, paired with it as a fraction: the number, if taken, is then no area).
    Where the readings leave more than one number, ``judge`` (:class:`_NumberJudge`) may pick
    one by the ink over the area; so it does alone at the end of a row, where the neighbours
    are far apart, or where they are out of order (one misread: then among the numbers after
    the left one).  ``blind`` labels (by position in ``labels``: a bar with ink
    under it, nothing read, :func:`_unread_labels`) take a number only from the judge.
    """
    readings = readings or {}
    stacks = [_stack(lab) for lab in labels]
    idx = [i for i, s in enumerate(stacks) if s is not None]
    if len(idx) < 3:
        return
    pos = np.array([stacks[i] for i in idx])
    for _ in range(rounds):
        nums = [labels[i].parcel_no for i in idx if labels[i].parcel_no is not None]
        limit = _number_limit(nums)
        count = Counter(nums)
        no = np.array([labels[i].parcel_no if labels[i].parcel_no is not None else -1 for i in idx])
        trusted = np.array([v > 0 and count[v] == 1 and v <= limit for v in no])
        # of a number read twice, a reading of its digits alone stands against one with letters taken for digits
        clean = Counter(labels[i].parcel_no for i in idx
                        if labels[i].parcel_no is not None and labels[i].tokens[0].text == str(labels[i].parcel_no))
        changes = []
        for k, i in enumerate(idx):
            lab = labels[i]
            v = lab.parcel_no
            if v is None and lab.area_label_m2 is None and i not in blind:
                continue
            x, y, h = pos[k]
            row = trusted & (np.abs(pos[:, 1] - y) <= 1.5 * h)
            row[k] = False
            left, right = np.flatnonzero(row & (pos[:, 0] < x)), np.flatnonzero(row & (pos[:, 0] > x))
            lo = no[left[np.argmax(pos[left, 0])]] if len(left) else None
            hi = no[right[np.argmin(pos[right, 0])]] if len(right) else None
            bounded = lo is not None and hi is not None and 2 <= hi - lo <= max_gap
            if not bounded:  # the end of a row, neighbours far apart or out of order: by the look of the digits
                if lo is not None and hi is not None and hi < lo:
                    hi = None  # out of order (one of them misread): after the left one, a row runs left to right
                if judge is None or (lo is None and hi is None) or (lo is not None and hi is not None and hi - lo < 2):
                    continue
                lo = hi - max_gap - 1 if lo is None else lo
                hi = lo + max_gap + 1 if hi is None or hi - lo > 4 * max_gap else hi
            if v is not None and ((lo < v < hi and count[v] == 1)
                                  or (count[v] > 1 and clean[v] == 1 and lab.tokens[0].text == str(v))):
                continue
            free = [c for c in range(max(lo, 0) + 1, hi) if count[c] == (c == v)]
            read = ([lab.tokens[0].text] if v is not None else []) + [
                r for w in readings.get(i, []) for r in re.findall(r"\d+", w)]
            if v is not None and v < 10 and lab.area_label_m2 is not None and len(lab.tokens) > 1 \
                    and lab.tokens[1].text.isdigit():
                read.append(lab.tokens[1].text)  # a stray digit over the number, the number taken for the area
            fit = [(f, c) for c in free if (f := min((_fits_reading(r, c) for r in read
                                                        if _fits_reading(r, c) is not None), default=None)) is not None]
            if fit:
                best = [c for f, c in fit if f == min(f for f, _ in fit)]
            else:  # nothing read, or a reading that cannot stand (read twice, beyond the sheet) and fits nothing
                best = free if v is None or count[v] > 1 or v > limit else []
            if i in blind and judge is None:
                continue
            sure = i in blind and len(fit) > 0 and [f for f, _ in fit].count(0) == 1  # its digits read whole
            if (len(best) > 1 or (best and (not bounded or i in blind) and not sure)) and judge is not None:
                # against the number read, if any: the ink over the area may say it was right
                own = [v] if v is not None and v not in best else []
                best = [c] if (c := judge(lab, best + own)) is not None else []
            if len(best) == 1 and best[0] != v:
                changes.append((i, best[0]))
        taken = Counter(c for _, c in changes)  # a number two labels take at once goes to none read blind
        changes = [(i, c) for i, c in changes if taken[c] == 1 or i not in blind]
        if not changes:
            return
        for i, c in changes:
            lab = labels[i]
            if lab.parcel_no is None:
                a = lab.tokens[0]
                h = _height(a)
                box = (a.box[0], int(a.box[1] - 1.1 * h), a.box[2], int(a.box[1] - 0.1 * h))
                lab.tokens.insert(0, Token(str(c), box, a.conf / 4))
            elif len(lab.tokens) > 1 and lab.tokens[1].text == str(c):  # the number, under a stray digit
                t = lab.tokens[1]
                lab.tokens[:2] = [Token(t.text, t.box, t.conf / 2)]
                lab.area_label_m2 = None
            else:
                t = lab.tokens[0]
                lab.tokens[0] = Token(t.text, t.box, t.conf / 2)
            lab.parcel_no = c
            _settle(lab)


def _digit_templates(labels: list[Label], dark: np.ndarray, *, size: int = 24,
                     least: int = 5) -> tuple[dict[str, np.ndarray], float, float, float] | None:
    """The digits as this sheet draws them, from its numbers read surely (read once, whole,
    confidence 0.85 or more, over an area): each digit's cell (a number's box cut in equal
    widths: the digits of a font are as wide as each other) scaled to ``size`` pixels tall and
    averaged, 0..1; with the cell's width and the gap from a number's foot to its area's top,
    both in character heights, and the darkness of the ink.  None when a digit was read surely
    fewer than ``least`` times (or its cells hold no ink)."""
    once = Counter(lab.parcel_no for lab in labels if lab.parcel_no is not None)
    cells: dict[str, list[np.ndarray]] = {d: [] for d in "0123456789"}
    widths, gaps, inks = [], [], []
    for lab in labels:
        if lab.parcel_no is None or lab.area_label_m2 is None or len(lab.tokens) < 2 or once[lab.parcel_no] != 1:
            continue
        t, a = lab.tokens[0], lab.tokens[1]
        if t.text != str(lab.parcel_no) or t.conf < 0.85:
            continue
        x0, y0, x1, y1 = t.box
        n = len(t.text)
        if y1 - y0 < 4 or x1 - x0 < 2 * n:
            continue
        box = dark[y0:y1, x0:x1]
        ink = float(np.percentile(box, 98))
        # the digits' centres: its pieces of ink when there is one per digit, else equal cells
        _, _, st, cen = cv2.connectedComponentsWithStats((box > 0.5 * ink).astype(np.uint8), connectivity=8)
        tall = [c[0] for c, s_ in zip(cen[1:], st[1:]) if s_[3] >= 0.6 * (y1 - y0)]
        centres = sorted(tall) if len(tall) == n else [(j + 0.5) * (x1 - x0) / n for j in range(n)]
        cw = float(np.median(np.diff(centres))) if n > 1 else float(x1 - x0)
        if cw < 2:
            continue
        widths.append(cw / (y1 - y0))
        inks.append(ink)
        gaps.append((a.box[1] - y1) / _height(a))
        for c, ch in zip(centres, t.text):
            lo, hi = int(round(x0 + c - cw / 2)), int(round(x0 + c + cw / 2))
            cell = dark[y0:y1, max(0, lo):hi]
            if cell.size:
                cells[ch].append(cv2.resize(cell.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA))
    if any(len(c) < least for c in cells.values()):
        return None
    out = {d: _mean_glyph(c[:300]) for d, c in cells.items()}
    if any(g is None for g in out.values()):
        return None
    return out, float(np.median(widths)), float(np.median(gaps)), float(np.median(inks))


class _NumberJudge:
    """Which of some numbers stands over a label's area, by the look of the sheet's own digits
    (:func:`_digit_templates`): each number drawn with them, at the area's character height,
    is moved over the place a number stands (centred over the area, its foot the sheet's gap
    above it; for a number of three characters or more read with no area under it, where it
    was read) to where it explains the most ink; the ink of a land-use code crossing the place
    (``codes``) counts for none of them, nor does that of the line-work (``lines``: a boundary
    along the digits, whose mask takes their strokes where it runs, would speak for the digits
    with a bar there, a 7 or a 5).  The number that explains most wins when it explains
    at least ``least`` of its own ink where ink can be seen, and more than the next; else None.
    A third is enough (a half refused numbers the top of whose digits a boundary or a code had
    hidden; on the twelve sheets measured a third named four more numbers right and lost one).  No
    margin over the next is asked: the numbers weighed are those the row leaves free and the
    readings fit, and where a code or a boundary hides a digit the right one wins by little (on
    the twelve sheets measured, a margin of 0.03 of its ink refused twelve right answers and no
    wrong one).  A number so found keeps a quarter of the label's confidence, for a human to see."""

    def __init__(self, digits: tuple[dict[str, np.ndarray], float, float, float], dark: np.ndarray,
                 codes: Callable[[Box], list[tuple[Box, np.ndarray]]], *, lines: np.ndarray | None = None,
                 least: float = 0.3) -> None:
        self.shapes, self.cell, self.gap, self.ink = digits
        self.dark, self.codes, self.lines, self.least = dark, codes, lines, least

    def scores(self, lab: Label, cands: list[int]) -> list[tuple[float, float, int]]:
        """(ink explained, ink of the number drawn where ink can be seen, number) for each number that
        fits the place, best first."""
        if not cands or not lab.tokens:
            return []
        dark, cell = self.dark, self.cell
        over = lab.parcel_no is None or (lab.area_label_m2 is not None and len(lab.tokens) > 1)
        if not over and len(lab.tokens[0].text) < 3:
            return []  # a digit or two read alone is no number's place
        # over the area (read blind: the ink under its bar), or where a number with no area was read
        a = lab.tokens[1 if lab.parcel_no is not None else 0] if over else lab.tokens[0]
        h = _height(a)
        cx, foot = _centre_x(a), (a.box[1] - self.gap * h if over else float(a.box[3]))
        half = max(len(str(c)) for c in cands) * cell * h / 2
        x0, x1 = max(0, int(cx - half - 0.6 * h)), min(dark.shape[1], int(cx + half + 0.6 * h))
        y0, y1 = max(0, int(foot - 1.5 * h)), min(dark.shape[0], int(foot + 0.5 * h))
        if x1 - x0 < 4 or y1 - y0 < 4:
            return []
        win = dark[y0:y1, x0:x1].astype(np.float32)
        win = np.clip(win / max(float(np.percentile(win, 98)), 0.5 * self.ink, 1.0), 0.0, 1.0)
        keep = np.ones_like(win) if self.lines is None else (~self.lines[y0:y1, x0:x1]).astype(np.float32)
        for (cx0, cy0, cx1, cy1), m in self.codes((x0, y0, x1, y1)):
            ax0, ay0, ax1, ay1 = max(x0, cx0), max(y0, cy0), min(x1, cx1), min(y1, cy1)
            if ax1 > ax0 and ay1 > ay0:
                keep[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0] *= ~m[ay0 - cy0:ay1 - cy0, ax0 - cx0:ax1 - cx0]
        seen = win * keep
        cw, ch = max(2, round(cell * h)), max(2, round(h))
        shapes = {d: cv2.resize(t, (cw, ch), interpolation=cv2.INTER_AREA) for d, t in self.shapes.items()}
        r = max(1, round(0.12 * h))  # how far each digit may move from its cell
        out = []
        for c in cands:
            s = str(c)
            t = np.hstack([shapes[d] for d in s])
            if t.shape[0] > win.shape[0] or t.shape[1] > win.shape[1]:
                continue
            # ink explained: 2 sum(t * seen) - sum(t^2 over kept pixels); the number at its best place,
            # then each digit at its own best place near its cell
            shown = cv2.matchTemplate(keep, t * t, cv2.TM_CCORR)  # the number's ink where ink can be seen
            gain = 2 * cv2.matchTemplate(seen, t, cv2.TM_CCORR) - shown
            _, _, _, (bx, by) = cv2.minMaxLoc(gain)
            total = 0.0
            for k, d in enumerate(s):
                dx0, dy0 = max(0, bx + k * cw - r), max(0, by - r)
                dx1, dy1 = min(win.shape[1], bx + (k + 1) * cw + r), min(win.shape[0], by + ch + r)
                g = shapes[d]
                if dx1 - dx0 < cw or dy1 - dy0 < ch:
                    continue
                part = (2 * cv2.matchTemplate(seen[dy0:dy1, dx0:dx1], g, cv2.TM_CCORR)
                        - cv2.matchTemplate(keep[dy0:dy1, dx0:dx1], g * g, cv2.TM_CCORR))
                total += float(part.max())
            out.append((total, float(shown[by, bx]), c))
        return sorted(out, reverse=True)

    def __call__(self, lab: Label, cands: list[int]) -> int | None:
        scores = self.scores(lab, cands)
        if not scores:
            return None
        g, own, c = scores[0]
        if g < self.least * own or (len(scores) > 1 and g <= scores[1][0]):
            return None
        return c



def _unread_labels(bars: np.ndarray, text: np.ndarray, regions: np.ndarray, have: set[int]) -> dict[int, Label]:
    """Labels nothing was read from: a fraction bar in a region with no label, the ink under it
    (a neighbour's code printed across both the number and the area leaves no word to read).
    Each is a label with no value, its one token the box of the ink under the bar (text ``""``),
    by region; the longest bar of a region stands for it."""
    n, _, st, _ = cv2.connectedComponentsWithStats(bars.astype(np.uint8), connectivity=8)
    out: dict[int, Label] = {}
    for k in np.argsort(-st[1:, 2]) + 1:
        x, y, w, hb = (int(v) for v in st[k, :4])
        under = min(regions.shape[0] - 1, y + hb + 1)
        region = int(regions[under, x + w // 2])
        if region == 0 or region in have or region in out:
            continue
        y0, y1 = y + hb, min(text.shape[0], y + hb + w // 2 + 1)
        rows = text[y0:y1, x:x + w].any(axis=1)
        if not rows.any():
            continue
        top = int(np.argmax(rows))
        gap = np.flatnonzero(~rows[top:])
        bottom = top + (int(gap[0]) if len(gap) else len(rows) - top)
        if bottom - top < 3:
            continue
        cols = np.flatnonzero(text[y0 + top:y0 + bottom, x:x + w].any(axis=0))
        box = (x + int(cols[0]), y0 + top, x + int(cols[-1]) + 1, y0 + bottom)
        out[region] = Label(region, tokens=[Token("", box, 0.2)])
    return out


def _inked_regions(text: np.ndarray, regions: np.ndarray, have: set[int], char_h: float, *,
                   most: float = 40.0) -> dict[int, Label]:
    """Labels of regions with no label and no bar (:func:`_unread_labels`), from the text ink they
    hold: a number and area printed across a boundary, their bar and strokes taken into the
    line-work, leave pieces no row reads whole.  The region's largest cluster of text ink, one
    to three characters tall, stands for the label, its area row (:func:`_area_top`) for the area;
    each is a label with no value, its one token that row (text ``""``), by region.  Only
    regions within ``most`` character heights each way are looked at: a label overruns a
    parcel too small to hold it."""
    gap = np.ones((max(1, round(0.6 * char_h)), max(1, round(0.8 * char_h))), np.uint8)
    out: dict[int, Label] = {}
    for r, sl in enumerate(ndi.find_objects(regions), 1):
        if sl is None or r in have or max(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start) > most * char_h:
            continue
        mine = (regions[sl] == r) & text[sl]
        if mine.sum() < 0.6 * char_h**2:
            continue
        n, cc = cv2.connectedComponents(cv2.dilate(mine.astype(np.uint8), gap))
        k = int(np.argmax(np.bincount(cc[mine], minlength=n)[1:])) + 1
        ink = mine & (cc == k)
        ys, xs = np.nonzero(ink)
        if not 0.8 * char_h <= ys.max() + 1 - ys.min() <= 3.5 * char_h:
            continue
        top = _area_top(ink, char_h)
        low = ys >= top
        x0, x1 = sl[1].start + int(xs[low].min()), sl[1].start + int(xs[low].max()) + 1
        y0, y1 = sl[0].start + top, sl[0].start + int(ys.max()) + 1
        out[r] = Label(r, tokens=[Token("", (x0, y0, x1, y1), 0.1)])
    return out


def _area_top(ink: np.ndarray, char_h: float) -> int:
    """The row where a label's area starts in ``ink`` (one cluster of its text, pixel rows as given).

    Under the cluster's own fraction bar, a row that runs across most of it with ink over and
    under (a small parcel's label is drawn smaller than the sheet's ``char_h``, and its bar may
    touch the digits, leaving no blank row between); else under the last blank row at least
    0.6 ``char_h`` over its foot; else ``char_h`` over its foot.  An area is one row of
    characters, 0.45 to 1.3 ``char_h`` tall, as wide as one ``char_h`` or more.
    """
    ys, xs = np.nonzero(ink)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    box = ink[y0:y1, x0:x1].astype(np.uint8)
    run = cv2.morphologyEx(box, cv2.MORPH_OPEN, np.ones((1, max(5, round(0.6 * (x1 - x0)))), np.uint8))
    bar = np.flatnonzero(run.any(axis=1))
    bar = bar[(bar >= 0.25 * (y1 - y0)) & (bar <= 0.75 * (y1 - y0))]
    if len(bar) and x1 - x0 >= char_h:
        under = np.flatnonzero(box[bar.max() + 1:].any(axis=1))
        if len(under) and under[0] <= 0.5 * char_h:
            top = y0 + int(bar.max()) + 1 + int(under[0])
            if 0.45 * char_h <= y1 - top <= 1.3 * char_h:
                return top
    rows = np.zeros(y1, bool)
    rows[ys] = True
    blank = np.flatnonzero(~rows[: y1 - max(1, round(0.6 * char_h))])
    top = int(blank[-1]) + 1 if len(blank) and blank[-1] >= y0 else y0
    return top if y1 - top <= 1.3 * char_h else int(y1 - char_h)


# --- the step --------------------------------------------------------------------------------------------------

def restore_decimal(area_label: float | None, area_m2: float, *, decimals: int = 1) -> float | None:
    """An area read without its decimal point (``5123`` for ``512.3``), put right.

    Only when the label has no fraction, the computed area is more than 5x smaller,
    and moving the point by ``decimals`` places brings the two within 10 %.
    """
    if area_label is None or area_label != int(area_label) or area_m2 <= 0 or area_label < 5 * area_m2:
        return area_label
    fixed = area_label / 10**decimals
    return fixed if abs(fixed - area_m2) <= 0.1 * area_m2 else area_label


def _char_height(text: np.ndarray, px_per_mm: float) -> float | None:
    """The median height (pixels) of the text pieces between 0.8 and 10 mm tall: the sheet's character
    height (measured at half resolution: a median needs no more)."""
    half = cv2.resize(text.astype(np.uint8), (max(1, text.shape[1] // 2), max(1, text.shape[0] // 2)),
                      interpolation=cv2.INTER_AREA)
    _, _, stats, _ = cv2.connectedComponentsWithStats(half, connectivity=8)
    h = 2.0 * stats[1:, cv2.CC_STAT_HEIGHT]
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


def _slanted_bars(text: np.ndarray, char_h: float) -> np.ndarray:
    """Fraction bars of ``text`` that :func:`_without_bars` leaves in it: a little slanted (a scan
    turned by a degree breaks a thin bar's rows) or short (a small label's), 1.3 character
    heights long once each column is grown a pixel up and down."""
    grown = cv2.dilate(text.astype(np.uint8), np.ones((3, 1), np.uint8))
    runs = cv2.morphologyEx(grown, cv2.MORPH_OPEN, np.ones((1, max(5, round(1.3 * char_h))), np.uint8))
    return runs.astype(bool) & text


def _region_under(box: Box, text: np.ndarray, labels: np.ndarray) -> int:
    """The region holding most of the text ink in ``box`` (0 when none)."""
    x0, y0, x1, y1 = box
    regs = labels[y0:y1, x0:x1][text[y0:y1, x0:x1]]
    regs = regs[regs > 0]
    if len(regs) == 0:
        regs = labels[y0:y1, x0:x1].ravel()
        regs = regs[regs > 0]
    return int(np.bincount(regs).argmax()) if len(regs) else 0


def _agrees(area_label: float | None, area_m2: float | None) -> bool | None:
    """Whether an area label fits a computed area (within 10 %, its decimal point lost or not); None when unknown."""
    if area_label is None or not area_m2:
        return None
    return min(abs(area_label - area_m2), abs(area_label / 10 - area_m2)) <= 0.1 * area_m2


def _score(lab: Label, area_m2: float | None) -> float:
    """How good a reading is, to choose among the labels of one region: its number and area found,
    its code at half (a code is printed beside the stack, and often is a neighbour's), how surely
    its words were read, and (strongly) an area label that agrees with the region's.  A label
    pieced together from misreadings (a neighbour's code and a number read from an area it
    covers, at confidence 0) must not outweigh a number read surely on its own."""
    sure = float(np.mean([t.conf for t in lab.tokens])) if lab.tokens else 0.0
    return ((lab.parcel_no is not None) + (lab.area_label_m2 is not None) + 0.5 * (lab.land_use is not None)
            + sure + 3 * bool(_agrees(lab.area_label_m2, area_m2)))


def read_labels(text: np.ndarray, labels: np.ndarray, *, px_per_mm: float, lines: np.ndarray | None = None,
                dark: np.ndarray | None = None, m_per_px: float | None = None, workers: int = 2,
                batch_rows: int = 150, cut: frozenset[int] = frozenset(),
                others: list[Label] | None = None) -> dict[int, Label]:
    """Read the label of every region that has text; returns {region id: Label}.

    ``text`` is the non-line ink (see :func:`digitize.vectorize.split_linework`),
    ``labels`` the region partition, ``lines`` the line-work and ``dark`` the ink
    darkness (0 = paper), all in scan pixels.  A label belongs to the region under its
    parcel number (its text may spill over the boundary; a fraction split by a line goes
    to the side whose area it gives).  With ``m_per_px`` (ground metres per scan pixel),
    a region holding several labels keeps the one whose area agrees with the region's,
    and a label whose area does not agree loses half its confidence, unless its region is
    one of ``cut`` (regions the sheet frame cuts: their labels give the whole parcel) and
    the label gives more; the labels it does not keep are added to ``others`` (a list, if
    given: a region holding several labels may be parcels whose boundary was not found).
    The numbers are then checked against each other
    (:func:`_check_numbers`); one still read twice on the sheet loses half its confidence
    in both places.
    """
    char_h = _char_height(text, px_per_mm)
    bars = np.zeros_like(text)
    if char_h is not None:
        bare = _without_bars(text, char_h)
        bars, text = text & ~bare, bare
    words, codes, cc, used = _read_rows(text, dark, lines, px_per_mm=px_per_mm, workers=workers,
                                        batch_rows=batch_rows)
    found = assemble_labels(words, codes)
    if lines is not None:
        _second_look(found, text, lines, dark, cc, used, workers=workers, batch_rows=batch_rows)
    pixels = np.bincount(labels.ravel()) if m_per_px else None

    def area_of(region: int) -> float | None:
        return float(pixels[region]) * m_per_px**2 if pixels is not None and 0 < region < len(pixels) else None

    for lab, anchors in found:
        under = [r for r in (_region_under(t.box, text, labels) for t in anchors) if r]
        lab.region = under[0] if under else 0
        if lab.area_label_m2 and len(set(under)) > 1 and pixels is not None:
            # number and area on two sides of a line: the region whose area the label gives
            lab.region = min(under, key=lambda r: abs(np.log(max(pixels[r], 1) * m_per_px**2 / lab.area_label_m2)))
    if pixels is not None:
        _read_again(found, area_of, text, lines, dark, cc, workers=workers, batch_rows=batch_rows)
    out: dict[int, Label] = {}
    for lab, _ in found:
        if lab.region == 0:
            continue
        area_m2 = area_of(lab.region)
        if _agrees(lab.area_label_m2, area_m2) is False and not (lab.region in cut and lab.area_label_m2 > area_m2):
            lab.confidence *= 0.5
        old = out.get(lab.region)
        if old is None or _score(lab, area_m2) > _score(old, area_m2):
            out[lab.region] = lab
            old, lab = lab, old
        if lab is not None and others is not None:
            others.append(lab)
    final = list(out.values())
    heights = _code_heights(words)
    templates = _code_templates(words, dark) if dark is not None and heights else {}
    readings = _check_numbers(final, text, lines, dark, workers=workers, batch_rows=batch_rows,
                              area_of=area_of if pixels is not None else None, templates=templates, heights=heights)
    digits = None if dark is None else _digit_templates(final, dark)
    judge = None if digits is None else _NumberJudge(
        digits, dark, lambda box: _codes_in(box, templates, heights, dark) if templates else [], lines=lines)
    # (not in the regions the frame cuts: a piece of a parcel of the next sheet shows no label of its own)
    unread = _unread_labels(bars, text, labels, set(out) | set(cut)) if judge is not None else {}
    if judge is not None and char_h is not None:  # then the bars a turned scan or a small label left in the text
        unread |= _unread_labels(_slanted_bars(text, char_h), text, labels, set(out) | set(cut) | set(unread))
    blind = list(unread.values())
    readings |= {len(final) + i: r for i, r in _read_over(blind, text, lines, dark, workers=workers,
                                                           batch_rows=batch_rows).items()}
    _numbers_in_rows(final + blind, readings, judge=judge,
                     blind=frozenset(range(len(final), len(final) + len(unread))))
    if judge is not None and char_h is not None:  # then the regions still without a label, from their ink
        inked = _inked_regions(text, labels, set(out) | set(cut) | set(unread), char_h)
        more = list(inked.values())
        base = len(final) + len(blind)
        readings |= {base + i: r for i, r in _read_over(more, text, lines, dark, workers=workers,
                                                         batch_rows=batch_rows).items()}
        _numbers_in_rows(final + blind + more, readings, judge=judge,
                         blind=frozenset(range(base, base + len(more))))
        unread |= inked
    for region, lab in unread.items():
        if lab.parcel_no is not None:
            out[region] = lab
    twice = Counter(lab.parcel_no for lab in out.values() if lab.parcel_no is not None)
    for lab in out.values():
        if lab.parcel_no is not None and twice[lab.parcel_no] > 1:
            lab.confidence *= 0.5
    return out
