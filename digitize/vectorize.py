"""Line-work of a scanned sheet -> a partition of the sheet into regions (parcel candidates).

Works in scan pixels, so no resampling blurs the lines; the caller moves the polygons
to the map with the georeference.  The steps, each a pure function:

1. :func:`darkness`, :func:`ink_mask`: divide out the paper (stains, yellowing, uneven lighting), then
   hysteresis thresholding keeps faded strokes that touch dark ones; :func:`faint_strokes`
   keeps apart those too faint to be ink.
2. :func:`split_linework`: connected pieces of ink are line-work when they are long,
   enclose a real area, or are thin straight fragments of a broken line; the rest
   (text, grid crosses, symbols, specks) is kept apart for label reading.
3. :func:`close_gaps`: each dangling line end is extended to the ink it points at,
   within ``max_gap_mm``: faded or broken boundaries close again.
4. :func:`partition`: the regions between the lines, each line pixel then given to
   the nearest region, so neighbours share one boundary along the line's centre
   (no gaps, no overlaps); regions under the minimum area are absorbed likewise,
   but for the pieces of a narrow road cut by the letters of its name (one region).
5. :func:`digitize.outline.fit_outlines`: one polygon per region, in pixel coordinates,
   its boundaries fitted to the centre lines of the ink (neighbours still share them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import geopandas as gpd
import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from digitize.outline import fit_outlines
from gis.errors import DigitizeError

__all__ = ["Vectorized", "darkness", "ink_mask", "faint_strokes", "split_linework", "close_gaps", "partition",
           "vectorize"]

#: darkness (0..1) of a faded stroke that is not ink but may be a line (see :func:`faint_strokes`)
FAINT = 0.08
#: darkness (0..1) a character-sized piece of weak ink must reach to be ink (see :func:`ink_mask`)
FADED_GLYPH = 0.3
#: of the runs only a thin-stroked sheet's loose pooling finds, those kept: at least this long (mm)
LOOSE_MIN_MM = 0.8
#: ... and this many times longer than wide (a stretch of line, not a letter a line ran into)
LOOSE_ELONGATION = 4.0


@dataclass
class Vectorized:
    """What :func:`vectorize` found: masks and the region partition, in scan pixels."""

    dark: np.ndarray  # uint8: darkness against the paper (0 = paper)
    lines: np.ndarray  # bool: line-work after gap closing
    text: np.ndarray  # bool: ink that is not line-work (labels, crosses, symbols)
    labels: np.ndarray  # int32: region id per pixel, 0 = none
    regions: gpd.GeoDataFrame  # column region, geometry in pixel coordinates


def _background(grey: np.ndarray, px_per_mm: float) -> np.ndarray:
    """The paper's brightness under the ink: a grey closing over ~2 mm, at low resolution."""
    f = max(1, int(round(px_per_mm / 2)))  # work at ~2 px per mm
    small = cv2.resize(grey, (max(1, grey.shape[1] // f), max(1, grey.shape[0] // f)), interpolation=cv2.INTER_AREA)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, k)
    bg = cv2.dilate(bg, k)
    bg = cv2.GaussianBlur(bg, (0, 0), 2.0)
    return cv2.resize(bg, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_LINEAR)


def darkness(grey: np.ndarray, *, px_per_mm: float) -> np.ndarray:
    """How dark each pixel is against the paper around it: uint8, 0 = paper, 255 = black.

    Dividing by the local paper brightness removes stains, yellowing, fold shadows and
    uneven lighting.
    """
    bg = _background(grey, px_per_mm)
    dark = 255 - cv2.divide(grey, np.maximum(bg, 1), scale=255)
    return cv2.GaussianBlur(dark, (3, 3), 0.6)


def ink_mask(dark: np.ndarray, *, strong: float = 0.45, weak: float = 0.12,
             glyph_px: tuple[float, float] | None = None, glyph_strong: float = FADED_GLYPH) -> np.ndarray:
    """Ink pixels from :func:`darkness`: hysteresis thresholding.

    ``strong`` and ``weak`` are darkness thresholds (0 = paper, 1 = black): a pixel is
    ink if it is strongly dark, or weakly dark and connected to strong ink, so faded
    strokes survive but stains and noise do not.  With ``glyph_px`` (a character's least
    and greatest height, pixels), a weakly dark piece of a character's size that reaches
    ``glyph_strong`` is ink too: the thin strokes of a small label, printed light or
    blurred by a low-resolution scan, can stay under ``strong`` in every pixel.
    """
    n, lab, st, _ = cv2.connectedComponentsWithStats((dark > weak * 255).astype(np.uint8), connectivity=8,
                                                     ltype=cv2.CV_32S)
    keep = np.zeros(n, dtype=bool)
    keep[lab[dark > strong * 255]] = True
    if glyph_px is not None:
        lo, hi = glyph_px
        faded = np.zeros(n, dtype=bool)
        faded[lab[dark > glyph_strong * 255]] = True
        h, w = st[:, cv2.CC_STAT_HEIGHT], st[:, cv2.CC_STAT_WIDTH]
        keep |= faded & (h >= lo) & (h <= hi) & (w <= hi)
    keep[0] = False
    return keep[lab]


def faint_strokes(dark: np.ndarray, ink: np.ndarray, *, level: float = FAINT, apart_px: int = 2) -> np.ndarray:
    """Pixels darker than ``level`` (0..1, under the ink's) and ``apart_px`` or more from any ink.

    A faded thin line can stay under the ink threshold all along; its pixels are kept
    apart from the ink's soft edges, for :func:`split_linework` to take back the
    straight ones that join the line-work.
    """
    k = np.ones((2 * apart_px + 1, 2 * apart_px + 1), np.uint8)
    return (dark > level * 255) & ~cv2.dilate(ink.view(np.uint8), k).astype(bool)


def _hole_area(comp: np.ndarray) -> int:
    """Largest enclosed background area of a component mask."""
    filled = ndi.binary_fill_holes(comp)
    holes = filled & ~comp
    if not holes.any():
        return 0
    lab, _ = ndi.label(holes)
    return int(np.bincount(lab.ravel())[1:].max())


def _line_kernels(length: int) -> Iterator[tuple[float, np.ndarray]]:
    """Straight-line structuring elements ``length`` px long: (image angle in degrees, kernel).

    The directions are close enough that a one-pixel line between two of them drifts at
    most half a pixel from the nearer one over the run.
    """
    c = (length - 1) / 2
    angles = max(12, int(np.ceil(np.pi / np.arctan(1.0 / max(c, 1.0)))))
    for a in np.arange(angles) * np.pi / angles:
        k = np.zeros((length, length), np.uint8)
        dx, dy = np.cos(a) * c, np.sin(a) * c
        cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1, 1)
        yield float(np.degrees(a)), k


def _directional_open(mask: np.ndarray, length: int, within: tuple[float, float] = (0.0, 180.0)) -> np.ndarray:
    """Pixels of ``mask`` on a straight run of at least ``length`` px in some direction
    (of those ``within`` the given image angles, degrees, lower bound included)."""
    out = np.zeros_like(mask)
    for deg, k in _line_kernels(length):
        if within[0] <= deg < within[1]:
            out |= cv2.morphologyEx(mask, cv2.MORPH_OPEN, k)
    return out


def _bands(lab: np.ndarray, rows: int = 1024):
    """The labelled pixels of ``lab``, a band of rows at a time: (first row, ids, rows in band, columns)."""
    for r0 in range(0, lab.shape[0], rows):
        band = lab[r0:r0 + rows]
        ys, xs = np.nonzero(band)
        yield r0, band[ys, xs], ys, xs


def _piece_means(lab: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``values`` over each labelled piece (ids below ``n``), without full-size temporaries."""
    total, count = np.zeros(n), np.zeros(n)
    for r0, ids, ys, xs in _bands(lab):
        total += np.bincount(ids, values[r0 + ys, xs].astype(np.float64), n)
        count += np.bincount(ids, None, n)
    return total / np.maximum(count, 1)


def _pieces(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label the 8-connected pieces of ``mask``; per piece: centroid, unit axis, length, width.

    Returns (label image, (n, 6) array of cx, cy, ax, ay, length, width), row 0 unused.
    Length and width come from the second moments (a uniform bar of length L has
    variance L^2/12 along its axis), so they are sub-pixel and need no loop.
    """
    n, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    m = np.zeros((6, n))  # raw moments: count, x, y, xx, yy, xy
    for r0, ids, ys, xs in _bands(lab):
        x, y = xs.astype(np.float64), ys.astype(np.float64) + r0
        for k, wgt in enumerate((None, x, y, x * x, y * y, x * y)):
            m[k] += np.bincount(ids, wgt, n)
    cnt = np.maximum(m[0], 1)
    mx, my = m[1] / cnt, m[2] / cnt
    sxx = m[3] / cnt - mx**2 + 1 / 12
    syy = m[4] / cnt - my**2 + 1 / 12
    sxy = m[5] / cnt - mx * my
    tr, det = sxx + syy, sxx * syy - sxy**2
    disc = np.sqrt(np.maximum(tr**2 / 4 - det, 0))
    l1, l2 = tr / 2 + disc, np.maximum(tr / 2 - disc, 0)
    theta = 0.5 * np.arctan2(2 * sxy, sxx - syy)
    stats = np.column_stack([mx, my, np.cos(theta), np.sin(theta), np.sqrt(12 * l1), np.sqrt(12 * l2)])
    return lab, stats


def _ray_hit(support: np.ndarray, blocked: np.ndarray, start: np.ndarray, step: np.ndarray,
             reach: int, own: int) -> tuple[int, np.ndarray | None]:
    """Walk from ``start`` along ``step`` for up to ``reach`` px; the first thing met.

    ``support`` holds -1 for line-work, a piece id (> 0) for candidate pieces, 0 else;
    ``blocked`` is any other ink.  Returns (what was met: -1, a piece id, or 0 for
    nothing or other ink; the point met).
    """
    h, w = support.shape
    for k in range(1, reach + 1):
        x, y = int(round(start[0] + step[0] * k)), int(round(start[1] + step[1] * k))
        if not (0 <= x < w and 0 <= y < h):
            return 0, None
        v = support[y, x]
        if v != 0 and v != own:
            return int(v), np.array([x, y], float)
        if v == 0 and blocked[y, x]:
            return 0, None
    return 0, None


def _straight_links(rest: np.ndarray, lines: np.ndarray, *, px_per_mm: float, stroke: int,
                    max_gap_mm: float, text_gap_mm: float = 0.8, run_mm: float = 3.5) -> np.ndarray:
    """Straight thin pieces of ``rest`` that belong to the line-work, with the gaps they leave.

    A piece is kept when it is a thin bar (a short boundary edge, a fragment of a
    broken or faded line) and each of its ends reaches line-work, or another kept bar
    on the same line, within ``max_gap_mm`` along its own axis with no other ink in
    between.  A letter touching a line is not a bar; a bar with other text within
    ``text_gap_mm`` along most of it is a stroke of a letter or a fraction bar.  A wide
    piece (letters touching a stretch of line) has its straight runs of ``run_mm`` or
    more cut apart from the rest of it first (in ``rest``, in place), to be judged so.
    Returns the kept pieces and the segments bridging their gaps.
    """
    lab, st = _pieces(rest)
    width_max = _thickness(lines) + 1.0  # measured as the pieces' widths are, from the whole outline
    run = max(5, int(round(run_mm * px_per_mm)) | 1)
    wide = (st[:, 4] >= run) & (st[:, 5] > width_max)
    wide[0] = False
    cuts = []
    if wide.any():  # a stretch of line that letters touch comes apart from them, to be judged as a bar
        for i, box in enumerate(ndi.find_objects(lab), start=1):
            if box is not None and wide[i]:
                piece = lab[box] == i
                runs = _cut_runs(rest, piece, box, run, float(np.degrees(np.arctan2(st[i, 3], st[i, 2]))))
                if runs.any():
                    cuts.append((box, piece, runs))
        del lab
        lab, st = _pieces(rest)
    length, width = st[:, 4], st[:, 5].copy()
    letters, cut = np.zeros(len(st), dtype=bool), np.zeros(len(st), dtype=bool)
    for box, piece, runs in cuts:  # a long cut run bends with the scan: its width is its area over its length
        ran = np.unique(lab[box][runs])
        ran = ran[ran > 0]
        cut[ran] = True
        for k in ran:
            width[k] = min(width[k], np.count_nonzero(lab[box] == k) / max(length[k], 1.0))
        letters[np.setdiff1d(np.unique(lab[box][piece]), ran)] = True  # what the runs were cut from
    cand = (length >= max(4.0, 0.5 * px_per_mm)) & (width <= width_max) & (length >= 2 * width) & ~letters
    cand[0] = False
    if cand.any():  # a stroke of a letter or a fraction bar has other text right beside it
        others = (rest & ~cand[lab]).astype(np.uint8)
        r = max(1, int(round(text_gap_mm * px_per_mm)))
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        share = _piece_means(lab, cv2.dilate(others, disc), len(cand))
        if (cut & cand).any():  # beside another bar, a run cut from letters is text as they are
            others |= (cut & cand)[lab].astype(np.uint8)
            share = np.where(cut, share, _piece_means(lab, cv2.dilate(others, disc), len(cand)))
        del others
        cand &= share < 0.3
    if not cand.any():
        return np.zeros_like(rest)
    blocks = ~cand & (length >= px_per_mm)  # letters block a ray, specks do not
    blocks[0] = False
    blocked = blocks[lab]
    keep_lab = np.where(cand, np.arange(len(cand)), 0).astype(np.float32)[lab]  # ids exact below 2**24
    del lab  # (an A0 scan: every full-size label image is half a gigabyte)
    grow = max(1, int(round(stroke / 2)))
    k = np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)
    support = cv2.dilate(keep_lab, k)  # ids, grown by half a stroke
    support[cv2.dilate(lines.astype(np.uint8), k).astype(bool)] = -1
    own = keep_lab > 0
    support[own] = keep_lab[own]
    del own
    reach = int(round(max_gap_mm * px_per_mm))
    cos_max = np.cos(np.radians(12))
    ends: dict[int, list[tuple[int, np.ndarray, np.ndarray | None]]] = {}
    for i in np.flatnonzero(cand):
        c, a, half = st[i, :2], st[i, 2:4], st[i, 4] / 2
        hits = []
        for sign in (1.0, -1.0):
            end = c + sign * a * max(half - 1.0, 0.0)
            what, at = _ray_hit(support, blocked, end, sign * a, reach + 1, int(i))
            if what > 0:  # another bar: only one on the same line, the shorter one's centre off the longer
                long_, short = (i, what) if st[i, 4] >= st[what, 4] else (what, i)  # one's line (a faded line drifts)
                dx, dy = st[short, :2] - st[long_, :2]
                off = abs(float(st[long_, 2] * dy - st[long_, 3] * dx))
                if abs(float(a @ st[what, 2:4])) < cos_max or off > width_max + 1:
                    what = 0
            hits.append((what, end, at))
        ends[int(i)] = hits
    alive = {i for i, hits in ends.items() if all(w != 0 for w, _, _ in hits)}
    changed = True
    while changed:
        changed = False
        for i in list(alive):
            if any(w > 0 and w not in alive for w, _, _ in ends[i]):
                alive.discard(i)
                changed = True
    del support, blocked
    keep = np.zeros(len(st), dtype=np.uint8)
    keep[list(alive)] = 1
    out = keep[keep_lab.astype(np.int32)]
    del keep_lab
    for i in alive:
        for _, end, at in ends[i]:
            if at is not None:
                cv2.line(out, (int(round(end[0])), int(round(end[1]))), (int(at[0]), int(at[1])), 1, thickness=stroke)
    return out.astype(bool)


def _cut_runs(rest: np.ndarray, piece: np.ndarray, box: tuple[slice, slice], run: int,
              axis_deg: float) -> np.ndarray:
    """Cut the straight runs of ``run`` px or more of a piece of ``rest`` (``piece``, its mask in
    ``box``) along its axis (``axis_deg``, within 15 degrees) apart from the rest of it: its other
    pixels touching them are taken out of ``rest``.  Returns the runs (in ``box``)."""
    runs = _oriented_runs(piece.view(np.uint8), run, axis_deg, 15.0)[0].astype(bool)
    if runs.any():
        moat = cv2.dilate(runs.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & piece & ~runs
        rest[box] &= ~moat
    return runs


def _words(text: np.ndarray, *, px_per_mm: float) -> np.ndarray:
    """Words of text: characters side by side on one line, as boxes (n, 5) of x0, y0, x1, y1, character height.

    Characters are the text pieces 0.7 to 8 mm tall; two join one word when they
    overlap vertically by half the smaller one's height, differ in height by less
    than half and lie closer than 0.45 of the taller one's height side by side (a
    word space is wider, so a land-use code beside the number stays a word of its own).
    Smaller pieces (a decimal point) join the character beside them the same way.
    Horizontal strokes longer than 1.6 character heights (bars, underlines) are left out.
    """
    t = text.astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(t, connectivity=8)
    tall, wide = stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_WIDTH]
    tall = tall[(tall >= 0.8 * px_per_mm) & (tall <= 8 * px_per_mm) & (wide <= 1.2 * tall)]  # characters
    # bars and underlines off first: a fraction whose digits touch its bar is no character
    bar = max(5, int(round(1.6 * (np.median(tall) if len(tall) else 2.0 * px_per_mm))))
    t &= ~cv2.morphologyEx(t, cv2.MORPH_OPEN, np.ones((1, bar), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(t, connectivity=8)
    x, y, w, h = (stats[1:, k].astype(np.float64) for k in range(4))
    ok = (h <= 8 * px_per_mm) & (w <= 3 * h) & (np.maximum(w, h) >= 0.2 * px_per_mm)
    x, y, w, h = x[ok], y[ok], w[ok], h[ok]
    char = h >= 0.7 * px_per_mm
    if not char.any():
        return np.zeros((0, 5))
    c = np.column_stack([x + w / 2, y + h / 2])
    pairs = cKDTree(c).query_pairs(r=3 * float(np.median(h[char])), output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    i, j = i[char[i] | char[j]], j[char[i] | char[j]]  # a speck joins a character, never another speck
    hi, hj = h[i], h[j]
    overlap = np.minimum(y[i] + hi, y[j] + hj) - np.maximum(y[i], y[j])
    gap = np.maximum(x[i], x[j]) - np.minimum(x[i] + w[i], x[j] + w[j])
    alike = (np.maximum(hi, hj) <= 1.5 * np.minimum(hi, hj)) | ~(char[i] & char[j])  # a dot joins its number
    join = (overlap >= 0.5 * np.minimum(hi, hj)) & alike & (gap <= 0.45 * np.maximum(hi, hj))
    m = len(x)
    _, word = connected_components(coo_matrix((np.ones(join.sum()), (i[join], j[join])), shape=(m, m)), directed=False)
    k = word.max() + 1
    out = np.column_stack([np.full(k, np.inf), np.full(k, np.inf), np.full(k, -np.inf), np.full(k, -np.inf),
                           np.zeros(k)])
    np.minimum.at(out[:, 0], word, x)
    np.minimum.at(out[:, 1], word, y)
    np.maximum.at(out[:, 2], word, x + w)
    np.maximum.at(out[:, 3], word, y + h)
    np.maximum.at(out[:, 4], word, h)
    return out[out[:, 4] >= 0.7 * px_per_mm]


def _stacks(words: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """Fraction stacks: a word centred over another just under it (number over area), as (n, 5) boxes.

    Each row is x0, x1 (the wider word's extent), the upper word's bottom, the lower
    word's top, and the character height (the smaller word's).  The two words are as
    tall as each other within a half, at most 1.2 character heights apart, and their
    centres are closer across than a quarter of the wider one's width plus a third of
    a character; a word is in one stack at most.  Pairs with a bar between them (``ink``
    under half the narrower word or more) come first, then the closest: a land-use code
    written beside the next label can sit right over that label's number, closer than
    its area under the bar.
    """
    if len(words) < 2:
        return np.zeros((0, 5))
    cx, cy = (words[:, 0] + words[:, 2]) / 2, (words[:, 1] + words[:, 3]) / 2
    wd, ht = words[:, 2] - words[:, 0], words[:, 4]
    pairs = cKDTree(np.column_stack([cx, cy])).query_pairs(r=4 * float(np.median(ht)), output_type="ndarray")
    a, b = pairs[:, 0], pairs[:, 1]
    top = np.where(cy[a] <= cy[b], a, b)
    bot = np.where(cy[a] <= cy[b], b, a)
    hh = np.maximum(ht[top], ht[bot])
    gap = words[bot, 1] - words[top, 3]
    ok = ((gap >= -0.15 * hh) & (gap <= 1.2 * hh) & (np.maximum(ht[top], ht[bot]) <= 1.5 * np.minimum(ht[top], ht[bot]))
          & (np.abs(cx[top] - cx[bot]) <= 0.25 * np.maximum(wd[top], wd[bot]) + hh / 3))
    top, bot = top[ok], bot[ok]
    hh = np.minimum(ht[top], ht[bot])
    barred = np.array([_bar_between(ink, words[t], words[b]) for t, b in zip(top, bot)], dtype=bool)
    # a word is in one fraction at most: those with a bar first, the closest pairs first
    order = np.lexsort(((np.maximum(gap[ok], 0) + np.abs(cx[top] - cx[bot])) / hh, ~barred))
    used = np.zeros(len(words), dtype=bool)
    keep = []
    for q in order:
        if not (used[top[q]] or used[bot[q]]):
            used[top[q]] = used[bot[q]] = True
            keep.append(q)
    top, bot, hh = top[keep], bot[keep], hh[keep]
    return np.column_stack([np.minimum(words[top, 0], words[bot, 0]), np.maximum(words[top, 2], words[bot, 2]),
                            words[top, 3], words[bot, 1], hh])


def _bar_between(ink: np.ndarray, top: np.ndarray, bot: np.ndarray) -> bool:
    """Whether ink runs between two word boxes (x0, y0, x1, y1, ...) under half the narrower one or more."""
    narrow = top if top[2] - top[0] <= bot[2] - bot[0] else bot
    y0, y1 = int(top[3]), int(bot[1])
    if y1 <= y0:  # the boxes touch or overlap: the rows where they meet
        y0, y1 = (y0 + y1) // 2 - 1, (y0 + y1) // 2 + 1
    cols = ink[max(0, y0):max(0, y1), int(narrow[0]):int(narrow[2])]
    return cols.size > 0 and cols.any(axis=0).mean() >= 0.5


def _stack_bars(lines: np.ndarray, stacks: np.ndarray, *, stroke: int, max_gap: float, margin: float = 1.0,
                near: float = 0.7) -> np.ndarray:
    """Line-work pixels that are the bars of fraction stacks (and the bits of digits touching them).

    Between the two words of a stack, a straight run of line-work across the stack
    (within 15 degrees of the words' direction; cut where another line crosses it) is
    the stack's bar when all of this holds:

    - it lies within ``near`` character heights under the upper word and over the lower one;
    - it spans at least half the stack and stays within ``margin`` character heights
      of its sides; an end that does not stop at a crossing line is a drawn end and
      lies within ``margin`` of the stack's side (the bar is as wide as the wider word);
    - no line-work goes on along it (a run of two character heights or more) beyond
      the stack within ``max_gap`` pixels: a boundary edge goes on, junction to
      junction or through a break, whatever text lies beside it.

    Line-work on straight runs in other directions (a boundary the label overlaps) stays.
    """
    out = np.zeros(lines.shape, dtype=bool)
    hgt, wid = lines.shape
    for x0, x1, yt, yb, ch in stacks:
        m = margin * ch
        reach = int(np.ceil(m + max_gap + stroke))
        bx0, bx1 = int(max(0, x0 - reach)), int(min(wid, np.ceil(x1 + reach)))
        band0, band1 = int(max(0, np.floor(min(yt, yb) - stroke))), int(min(hgt, np.ceil(max(yt, yb) + stroke + 1)))
        if band1 <= band0 or not lines[band0:band1, int(max(0, x0)):int(min(wid, x1 + 1))].any():
            continue
        by0, by1 = int(max(0, band0 - 2 * ch)), int(min(hgt, band1 + 2 * ch))
        crop = lines[by0:by1, bx0:bx1].astype(np.uint8)
        length = max(5, int(round(1.5 * ch)) | 1)
        across, other = _oriented_runs(crop, length, 0.0, 15.0)
        crossing = cv2.dilate(other, np.ones((3, 3), np.uint8)).astype(bool)
        _, lab, st, cen = cv2.connectedComponentsWithStats(across & ~other, connectivity=8)
        rows = slice(band0 - by0, band1 - by0)
        lo, hi = x0 - m - bx0, x1 + m - bx0  # the stack's sides with their margin, crop columns
        for k in np.unique(lab[rows][lab[rows] > 0]):
            left, right, y = st[k, 0], st[k, 0] + st[k, 2], cen[k, 1] + by0
            if not (y - yt <= near * ch and yb - y <= near * ch and left >= lo and right <= hi
                    and right - left >= 0.5 * (x1 - x0)):
                continue
            r0, r1 = int(max(0, cen[k, 1] - stroke - 1)), int(cen[k, 1] + stroke + 2)
            free_l = not crossing[r0:r1, max(0, left - 2):left + 1].any()
            free_r = not crossing[r0:r1, right - 1:right + 2].any()
            if (free_l and left > lo + 2 * m) or (free_r and right < hi - 2 * m):
                continue  # a drawn end short of the words' side
            ahead = np.isin(lab[r0:r1], np.flatnonzero(st[1:, 2] >= 2 * ch) + 1) & (lab[r0:r1] != k)
            before = ahead[:, max(0, int(lo - max_gap)):max(0, int(lo))]
            after = ahead[:, int(hi) + 1:int(hi + max_gap) + 1]
            if before.any() or after.any():
                continue  # the line goes on past the stack: a boundary
            out[by0:by1, bx0:bx1] |= (lab == k)
        sub = out[by0:by1, bx0:bx1]
        if sub.any():  # the stack itself: digit bits that came with the bar
            box = np.zeros_like(sub)
            box[max(0, int(yt - 1.2 * ch) - by0):max(0, int(yb + 1.2 * ch) - by0), max(0, int(lo)):int(hi) + 1] = True
            sub |= box & crop.astype(bool) & ~other.astype(bool) & ~across.astype(bool)
    return out & lines


def _oriented_runs(mask: np.ndarray, length: int, axis_deg: float, within_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of ``mask`` on straight runs of ``length`` px: (within ``within_deg`` of ``axis_deg``, further off it).

    Angles are image angles in degrees (x right, y down), taken modulo 180.
    """
    along = np.zeros_like(mask)
    off = np.zeros_like(mask)
    for deg, k in _line_kernels(length):
        target = along if abs((deg - axis_deg + 90) % 180 - 90) <= within_deg else off
        target |= cv2.morphologyEx(mask, cv2.MORPH_OPEN, k)
    return along, off

def _grid_crosses(ink: np.ndarray, lines: np.ndarray, crosses: np.ndarray, *, stroke: int, px_per_mm: float,
                  search_px: int = 4) -> np.ndarray:
    """The ink of the grid crosses, where it is not also a boundary.

    ``crosses`` holds, per cross, its two arms as tip-to-tip segments in pixel
    coordinates ((n, 2, 2, 2), GDAL's convention: a pixel's centre at +0.5), as the
    georeference puts them.  Each arm is looked for within ``search_px`` across its
    predicted line; each half arm (centre to tip) is the cross's when the ink along
    it stops near the tip, and a boundary when it goes on well past the tip (a
    boundary drawn along a grid line).  Line-work crossing an arm on a straight run
    in another direction is a boundary and stays.  Returns the pixels to take away.
    """
    out = np.zeros(ink.shape, dtype=bool)
    hgt, wid = ink.shape
    half_w = stroke / 2 + 1.0
    run = max(int(round(1.2 * px_per_mm)), 3 * (stroke + 2)) | 1  # a crossing line, not the arm's own width
    for arms in np.asarray(crosses, dtype=np.float64) - 0.5:  # to array indices
        centre = arms.reshape(-1, 2).mean(axis=0)
        reach = 1.7 * max(np.hypot(*(arms[k, 1] - arms[k, 0])) / 2 for k in range(2)) + run
        x0, y0 = int(max(0, centre[0] - reach)), int(max(0, centre[1] - reach))
        x1, y1 = int(min(wid, centre[0] + reach + 1)), int(min(hgt, centre[1] + reach + 1))
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        ink_c = ink[y0:y1, x0:x1]
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        corridors = []
        for a, b in arms:
            u = (b - a) / max(np.hypot(*(b - a)), 1e-9)
            nrm = np.array([-u[1], u[0]])
            half = np.hypot(*(b - a)) / 2
            mid = (a + b) / 2
            t = np.arange(-half, half + 1)
            best, best_cov = 0, 0.0
            for o in range(-search_px, search_px + 1):
                px = np.round(mid[0] + t * u[0] + o * nrm[0]).astype(int)
                py = np.round(mid[1] + t * u[1] + o * nrm[1]).astype(int)
                ok = (px >= 0) & (px < wid) & (py >= 0) & (py < hgt)
                cov = ink[py[ok], px[ok]].mean() if ok.any() else 0.0
                if cov > best_cov:
                    best, best_cov = o, cov
            if best_cov < 0.5:
                corridors.append(None)
                continue
            along = (xx - mid[0]) * u[0] + (yy - mid[1]) * u[1]
            across = (xx - mid[0]) * nrm[0] + (yy - mid[1]) * nrm[1] - best
            on_axis = np.abs(across) <= half_w
            sides = []
            for sign in (1.0, -1.0):  # a half arm whose ink goes on past its tip is a boundary
                tt = sign * np.arange(half + 2, 1.6 * half)
                px = np.round(mid[0] + tt * u[0] + best * nrm[0]).astype(int)
                py = np.round(mid[1] + tt * u[1] + best * nrm[1]).astype(int)
                ok = (px >= 0) & (px < wid) & (py >= 0) & (py < hgt)
                goes_on = ok.any() and ink[py[ok], px[ok]].mean() >= 0.6
                if not goes_on:
                    sides.append(on_axis & (sign * along >= -half_w) & (sign * along <= half + half_w + 1))
            corridors.append((np.any(sides, axis=0) if sides else np.zeros_like(on_axis), u, on_axis))
        for k, c in enumerate(corridors):
            if c is None or not c[0].any():
                continue
            mask, u, on_axis = c
            other = corridors[1 - k]
            lines_c = lines[y0:y1, x0:x1] & ~(other[2] if other is not None else False)
            _, keep = _oriented_runs(lines_c.astype(np.uint8), run, float(np.degrees(np.arctan2(u[1], u[0]))), 30.0)
            out[y0:y1, x0:x1] |= mask & ink_c & ~keep.astype(bool)
    return out


def _drop_small(lines: np.ndarray, lim: float, hole: float, near: np.ndarray | None = None) -> np.ndarray:
    """``lines`` without its pieces shorter than ``lim`` px that enclose no hole of ``hole`` px.

    With ``near``, only the pieces touching it are looked at.
    """
    n, lab, stats, _ = cv2.connectedComponentsWithStats(lines.astype(np.uint8), connectivity=8)
    small = np.zeros(n, dtype=bool)
    look = np.maximum(stats[:, 2], stats[:, 3]) < lim
    if near is not None:
        touched = np.zeros(n, dtype=bool)
        touched[lab[near.astype(bool)]] = True
        look &= touched
    for i in np.flatnonzero(look):
        if i == 0:
            continue
        x, y, ww, hh, _ = stats[i]
        small[i] = _hole_area(lab[y:y + hh, x:x + ww] == i) < hole
    return lines & ~small[lab]


def _half(u: np.ndarray, *, loose: bool) -> np.ndarray:
    """``u`` (uint8 0/1) at half resolution, where a pixel is ink when 2 of its 4 are, or any of them with ``loose``."""
    h, w = u.shape
    half = cv2.resize(u * 255, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    return (half >= (1 if loose else 128)).astype(np.uint8)


def _full(runs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Half-resolution ``runs`` back at the resolution of ``u``, grown a pixel, within the ink of ``u``."""
    runs = cv2.resize(runs, (u.shape[1], u.shape[0]), interpolation=cv2.INTER_NEAREST)
    return cv2.dilate(runs, np.ones((3, 3), np.uint8)) & u


def _run_px(px_per_mm: float, run_mm: float) -> int:
    """The length at half resolution (odd, in pixels) of a straight run of ``run_mm``."""
    return max(3, int(run_mm * px_per_mm / 2)) | 1


def _runs(u: np.ndarray, px_per_mm: float, run_mm: float) -> np.ndarray:
    """Ink (uint8 0/1) on a straight run of at least ``run_mm``, found at half resolution where a
    pixel is ink when 2 of its 4 are (see :func:`_half`), grown back a pixel at full resolution,
    within the ink."""
    return _full(_directional_open(_half(u, loose=False), _run_px(px_per_mm, run_mm)), u)


def _stretches(st: np.ndarray, px_per_mm: float) -> np.ndarray:
    """Which pieces (stats of :func:`_pieces`) are stretches of a thin line: long, and thin for their length."""
    ok = (st[:, 4] >= LOOSE_MIN_MM * px_per_mm) & (st[:, 4] >= LOOSE_ELONGATION * st[:, 5])
    ok[0] = False
    return ok


def _loose_stretches(u: np.ndarray, lines: np.ndarray, *, px_per_mm: float, run_mm: float,
                     bin_deg: float = 30.0, text_gap_mm: float = 0.8, reach_mm: float = 0.4) -> np.ndarray:
    """The stretches of thin lines (uint8 0/1) that straight runs of ``run_mm`` at the loose pooling
    find beyond ``lines``; not the letters that pooling fattened into a line they touch.

    A piece of those runs is taken when it is a stretch (:func:`_stretches`).  Where lines of
    different directions meet (a corner, a junction, a crossing) their stretches are one piece,
    not thin as a whole: such a piece is split into its runs within ``bin_deg`` of one another,
    and of those a stretch is taken when both its ends reach line-work within ``reach_mm`` (an
    edge runs junction to junction, a letter's stroke ends free) and it has no text within
    ``text_gap_mm`` on both sides along much of it (a fraction bar between its words).  Two
    rounds: an edge may end on another one found only this way.
    """
    half = _half(u, loose=True)
    length = _run_px(px_per_mm, run_mm)
    lab, st = _pieces(_full(_directional_open(half, length), u) & ~lines)
    thin = _stretches(st, px_per_mm)
    out = thin[lab].astype(np.uint8)
    again = (st[:, 4] >= LOOSE_MIN_MM * px_per_mm) & ~thin
    again[0] = False
    if not again.any():
        return out
    again = again[lab]
    del lab
    r = max(1, int(round(text_gap_mm * px_per_mm)))
    reach = max(2, int(round(reach_mm * px_per_mm)))
    bins = []  # per direction: its runs at half resolution (the same in both rounds) and its two sides
    for lo in np.arange(0.0, 180.0, bin_deg):
        ang = np.radians(lo + bin_deg / 2)
        nx, ny = -r * np.sin(ang), r * np.cos(ang)  # across the bin's direction
        sides = [np.zeros((2 * r + 1, 2 * r + 1), np.uint8) for _ in range(2)]
        for k, sign in zip(sides, (1, -1)):
            cv2.line(k, (r, r), (int(round(r + sign * nx)), int(round(r + sign * ny))), 1)
        bins.append((_directional_open(half, length, (lo, lo + bin_deg)), sides))
    del half
    for _ in range(2):
        for opened, sides in bins:
            runs = _full(opened, u) & again & ~out
            lab, st = _pieces(runs)
            ok = _stretches(st, px_per_mm)
            for i, box in enumerate(ndi.find_objects(lab), start=1):
                if box is not None and ok[i]:
                    ok[i] = (_ends_on(lines, out, st[i], reach)
                             and _text_both_sides(u, lines, out, runs, lab[box] == i, box, sides, r) < 0.3)
            out |= ok[lab].astype(np.uint8)
            del lab
    return out


def _ends_on(lines: np.ndarray, out: np.ndarray, st: np.ndarray, reach: int) -> bool:
    """Whether both ends of a piece (stats of :func:`_pieces`) reach ``lines`` or ``out`` within ``reach`` px."""
    h, w = lines.shape
    c, ax, half_len = st[:2], st[2:4], st[4] / 2
    for sign in (1.0, -1.0):
        pts = c + sign * ax * (half_len + np.arange(-2, reach + 1))[:, None]
        x = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
        y = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
        if not (lines[y, x].any() or out[y, x].any()):
            return False
    return True


def _text_both_sides(u: np.ndarray, lines: np.ndarray, out: np.ndarray, runs: np.ndarray, piece: np.ndarray,
                     box: tuple[slice, slice], sides: list[np.ndarray], r: int) -> float:
    """Share of a piece (``piece``, its mask in ``box``) with other ink, not ``lines``, ``out`` or
    ``runs``, within ``r`` px on each side (``sides``: the two one-sided kernels), in a local window."""
    y0, x0 = max(0, box[0].start - r), max(0, box[1].start - r)
    win = slice(y0, box[0].stop + r), slice(x0, box[1].stop + r)
    other = u[win] & ~lines[win] & ~out[win] & ~runs[win]
    both = cv2.dilate(other, sides[0]) & cv2.dilate(other, sides[1])
    at = np.zeros(other.shape, bool)
    at[box[0].start - y0:box[0].stop - y0, box[1].start - x0:box[1].stop - x0] = piece
    return float(both[at].mean())


def split_linework(ink: np.ndarray, *, px_per_mm: float, run_mm: float = 5.5, piece_min_mm: float = 20.0,
                   hole_min_mm: float = 2.5, max_gap_mm: float = 2.5, crosses: np.ndarray | None = None,
                   faint: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Split ink into (line-work, other).

    Line-work is ink on a straight run of at least ``run_mm`` (a directional opening,
    at half resolution: lines are long, letters short; when the runs' strokes are under
    3 px, also the long thin pieces of runs 1.4 times longer found at a looser pooling,
    and the fragments of a faded line joined across the ink where the runs lost it),
    so text that touches or crosses a boundary comes off it.
    Pieces left on their own and shorter than ``piece_min_mm`` (fraction bars,
    underlines, grid crosses, strokes of letters) go to the other ink unless they
    enclose an area.  The grid crosses (``crosses``, see
    :func:`_grid_crosses`) and the bars of the labels' fractions (:func:`_stack_bars`,
    found from the words over and under them) come off the line-work where they touch
    it, and what is left of their pieces goes too.  Then straight thin bars of the
    other ink whose two ends reach the line-work (short boundary edges, the pieces of
    a broken or faded line) come back, their gaps bridged (:func:`_straight_links`);
    so do those of ``faint``, strokes too faint to be ink (a faded thin line), when given.
    """
    u = ink.astype(np.uint8)
    # a half-resolution pixel is ink when 2 of its 4 are: "any" would fatten the glyphs of a
    # label into a block that long straight runs cross.  Strokes thinner than 3 px need "any"
    # to stay whole, and then runs 1.4 times longer, past the height of a label's stack; of
    # what that finds beyond the runs of "2 of 4", only long thin pieces are taken (a thin
    # line's stretches), not the letters it fattened into a line they touch
    lim, hole = piece_min_mm * px_per_mm, (hole_min_mm * px_per_mm) ** 2
    lines = _runs(u, px_per_mm, run_mm)
    if _line_width(lines) < 3:  # (measured on the runs: a crop full of text would pass for thick lines)
        lines |= _loose_stretches(u, lines, px_per_mm=px_per_mm, run_mm=1.4 * run_mm)
        # a faded thin line meeting another one loses its last pixels there from the runs: its
        # fragments, each too short to stay, join the line-work their ends point at across ink
        # (the line's own; a fraction bar or a letter ends apart from a boundary, across paper)
        whole = lines.astype(bool)
        lines = close_gaps(whole, px_per_mm=px_per_mm, max_gap_mm=max_gap_mm,
                           ends_in=whole & ~_drop_small(whole, lim, hole), through=ink)
        del whole
    del u
    lines = _drop_small(lines.astype(bool), lim, hole)
    if lines.any():
        stroke = _line_width(lines)
        gone = np.zeros_like(lines)
        if crosses is not None and len(crosses):
            gone = _grid_crosses(ink, lines, crosses, stroke=stroke, px_per_mm=px_per_mm)
        marks = gone.copy()
        stacks = _stacks(_words(ink & ~lines, px_per_mm=px_per_mm), ink)
        gone |= _stack_bars(lines & ~gone, stacks, stroke=stroke, max_gap=max_gap_mm * px_per_mm)
        if gone.any():  # what is left of a piece that was mostly cross or bar goes too
            near = cv2.dilate(gone.astype(np.uint8), np.ones((3, 3), np.uint8))
            lines = _drop_small(lines & ~gone, lim, hole, near=near)
        rest = ink & ~lines & ~marks
        if faint is not None:
            rest |= faint
        lines |= _straight_links(rest, lines, px_per_mm=px_per_mm, stroke=stroke, max_gap_mm=max_gap_mm)
    return lines, ink & ~lines


_NEIGH = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.uint8)
_STEPS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def _trace(skel: np.ndarray, y: int, x: int, length: int) -> tuple[list[tuple[int, int]], bool]:
    """Walk from an end point along the skeleton; returns the path and whether it ran its length."""
    path = [(y, x)]
    seen = {(y, x)}
    h, w = skel.shape
    while len(path) < length:
        cy, cx = path[-1]
        nxt = [(cy + dy, cx + dx) for dy, dx in _STEPS
               if 0 <= cy + dy < h and 0 <= cx + dx < w and skel[cy + dy, cx + dx] and (cy + dy, cx + dx) not in seen]
        if len(nxt) != 1:
            return path, False
        path.append(nxt[0])
        seen.add(nxt[0])
    return path, True


def close_gaps(lines: np.ndarray, *, px_per_mm: float, max_gap_mm: float = 2.5,
               min_branch_mm: float = 1.5, max_angle_deg: float = 25.0,
               ends_in: np.ndarray | None = None, through: np.ndarray | None = None) -> np.ndarray:
    """Bridge breaks in the line-work: extend each dangling end to the ink it points at.

    An end is extended only when its branch runs straight for ``min_branch_mm`` (so
    spurs of text or noise are not), and only to ink within ``max_gap_mm`` inside a
    cone of ``max_angle_deg`` around its direction.  With ``ends_in``, only the ends on it
    are extended; with ``through``, only across it (every pixel of the bridge's centre line).
    """
    skel = skeletonize(lines)
    nb = cv2.filter2D(skel.astype(np.uint8), -1, _NEIGH, borderType=cv2.BORDER_CONSTANT)
    tips = skel & (nb == 1)
    if ends_in is not None:
        tips &= ends_in.astype(bool)
    ends = np.argwhere(tips)
    del tips
    if len(ends) == 0:
        return lines
    out = lines.copy().astype(np.uint8)
    gap = max_gap_mm * px_per_mm
    branch = max(4, int(round(min_branch_mm * px_per_mm)))
    thick = _line_width(lines)
    skel_pts = np.argwhere(skel)
    tree = cKDTree(skel_pts)
    cos_max = np.cos(np.radians(max_angle_deg))
    for y, x in ends:
        path, ok = _trace(skel, int(y), int(x), branch)
        if not ok:
            continue
        d = np.array(path[0], float) - np.array(path[-1], float)
        d /= np.hypot(*d) or 1.0
        own = set(path)
        best, best_cost = None, np.inf
        for j in tree.query_ball_point((y, x), gap):
            q = tuple(skel_pts[j])
            if q in own:
                continue
            v = np.array(q, float) - (y, x)
            dist = np.hypot(*v)
            if dist < 1.5:
                continue
            c = float(v @ d) / dist
            if c < cos_max:
                continue
            cost = dist * (2.0 - c)
            if cost < best_cost and (through is None or _segment_on(through, (int(y), int(x)), q)):
                best, best_cost = q, cost
        if best is not None:
            # extend along the end's own direction to the target's projection
            cv2.line(out, (int(x), int(y)), (int(best[1]), int(best[0])), 1, thickness=thick)
    return out.astype(bool)


def _segment_on(mask: np.ndarray, p: tuple[int, int], q: tuple[int, int]) -> bool:
    """Whether every pixel of the straight segment from ``p`` to ``q`` (row, column) is on ``mask``."""
    t = np.linspace(0.0, 1.0, int(np.ceil(np.hypot(q[0] - p[0], q[1] - p[1]))) + 1)
    ys = np.round(p[0] + t * (q[0] - p[0])).astype(int)
    xs = np.round(p[1] + t * (q[1] - p[1])).astype(int)
    return bool(mask[ys, xs].all())


def _thickness(lines: np.ndarray) -> float:
    """Mean thickness of the line-work in pixels: twice its area over its outline's length."""
    contours, _ = cv2.findContours(lines.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outline = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * float(np.count_nonzero(lines)) / outline if outline else 1.0


def _line_width(lines: np.ndarray) -> int:
    """Typical stroke width of the line-work, in pixels (2 x median distance to paper on the skeleton)."""
    sample = lines[:: max(1, lines.shape[0] // 1500)] if lines.shape[0] > 3000 else lines
    dist = cv2.distanceTransform(sample.astype(np.uint8), cv2.DIST_L2, 3)
    vals = dist[dist > 0]
    if len(vals) == 0:
        return 1
    return max(1, int(round(2 * np.percentile(vals, 75))))


def partition(lines: np.ndarray, *, min_area_px: int, bridge_px: int = 0, strip: int = 1024,
              reach: int = 256) -> np.ndarray:
    """Label the regions between lines and give every line pixel to its nearest region.

    Regions smaller than ``min_area_px`` are dissolved into their neighbours the same
    way, unless they are pieces of a narrow strip (:func:`_strip_pieces`, with
    ``bridge_px``): those are one region together.  Returns an int32 label image (ids
    1..n, consecutive; 0 only if nothing).  The nearest region is looked for within
    ``reach`` pixels, a strip of rows at a time, so an A0 scan needs a few hundred
    megabytes here, not gigabytes.
    """
    free = (~lines).astype(np.uint8)
    _, lab, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=4, ltype=cv2.CV_32S)
    del free
    small = stats[:, cv2.CC_STAT_AREA] < min_area_px
    small[0] = True
    ids = np.where(small, 0, np.cumsum(~small)).astype(np.int32)
    strips = _strip_pieces(lab, stats, small, min_area_px=min_area_px, bridge_px=bridge_px) if bridge_px > 0 else None
    if strips is not None:  # a strip and the narrow regions it joins are one region
        pieces, joins = strips
        n, m = len(ids), int(pieces.max())
        graph = coo_matrix((np.ones(len(joins)), (n + joins[:, 0], joins[:, 1])), shape=(n + m + 1, n + m + 1))
        keep = np.concatenate([ids > 0, [False], np.ones(m, dtype=bool)])
        _, number = np.unique(connected_components(graph, directed=False)[1][keep], return_inverse=True)
        ids = np.zeros(n + m + 1, dtype=np.int32)
        ids[keep] = number.ravel() + 1
    for r0 in range(0, lab.shape[0], strip):  # in place, a band at a time (take would copy as int64)
        lab[r0:r0 + strip] = ids[lab[r0:r0 + strip]]
    if strips is not None:
        at = pieces > 0
        lab[at] = ids[n + pieces[at]]
        del at, pieces
    if not lab.any():
        return lab
    seeds_all = (lab == 0).astype(np.uint8)  # to be given a region
    h = lab.shape[0]
    for r0 in range(0, h, strip):
        r1 = min(h, r0 + strip)
        inner = seeds_all[r0:r1].astype(bool)
        if not inner.any():
            continue
        w0, w1 = max(0, r0 - reach), min(h, r1 + reach)
        seeds = seeds_all[w0:w1]
        _, nearest = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        given = seeds == 0
        lut = np.zeros(int(nearest.max()) + 1, dtype=np.int32)
        lut[nearest[given]] = lab[w0:w1][given]
        rows = lab[r0:r1]
        rows[inner] = lut[nearest[r0 - w0:r1 - w0][inner]]
    return lab


def _strip_pieces(lab: np.ndarray, stats: np.ndarray, small: np.ndarray, *, min_area_px: int, bridge_px: int,
                  elongation: float = 6.5) -> tuple[np.ndarray, np.ndarray] | None:
    """The small regions that are pieces of a narrow strip: (strip number per pixel, 0 else; joins).

    A road or ditch drawn narrower than its name is cut into pieces by the letters'
    strokes that cross it between its two lines; each piece is under the minimum
    area and would be dissolved into the parcels beside it, which would then reach
    into the road.  Small regions at most ``2 * bridge_px`` apart make a group.  A
    group joins each region of ``lab`` it touches across such a gap that is about as
    narrow as the group (the rest of the road); ``joins`` holds (strip number, region)
    pairs.  A group is a strip when it has the minimum area and is ``elongation``
    times longer than wide; a group that is not joins a region 1.5 times longer than
    that (clearly a road: the group is a piece of it at a junction or a short name), or
    one it goes on along (within 30°) when the two together are that long (a ditch whose
    name cuts it into cells alternately under and over the minimum area), else it is
    dissolved.  Returns None when there is no strip.
    """
    pick = small.copy()
    pick[0] = False
    mask = pick[lab].view(np.uint8)
    if not mask.any():
        return None
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * bridge_px + 1, 2 * bridge_px + 1))
    group, st = _pieces(cv2.dilate(mask, k).astype(bool))
    area = np.zeros(len(st))
    for r0, ids, ys, xs in _bands(group):
        area += np.bincount(ids, mask[r0 + ys, xs], len(st))
    width = np.maximum(st[:, 5] - bridge_px, 1.0)  # with half of each side line (a stroke), as its region will be
    is_strip = (area >= min_area_px) & (st[:, 4] >= elongation * width)
    touch = (group > 0) & (mask == 0) & ~small[lab]
    pairs = np.unique(np.column_stack([group[touch], lab[touch]]), axis=0)
    del touch
    # a region as narrow as the group: at least its area over its box's diagonal
    box_len = np.hypot(stats[pairs[:, 1], 2], stats[pairs[:, 1], 3])
    pairs = pairs[stats[pairs[:, 1], 4] <= 1.5 * width[pairs[:, 0]] * box_len]
    joins = []
    along = np.cos(np.radians(30.0))
    for g, r in pairs:
        x, y, w, h = stats[r, :4]
        _, one = _pieces(lab[y:y + h, x:x + w] == r)
        k = 1 + int(np.argmax(one[1:, 4]))
        length, wide = one[k, 4], one[1:, 5].max()
        # the group goes on along the region: together they are a strip (a ditch cut by its hatching)
        continues = (abs(one[k, 2] * st[g, 2] + one[k, 3] * st[g, 3]) >= along
                     and st[g, 4] + length >= elongation * width[g])
        if wide <= 1.5 * width[g] and (is_strip[g] or continues or length >= 1.5 * elongation * wide):
            joins.append((g, r))
    joins = np.array(joins, dtype=np.int64).reshape(-1, 2)
    is_strip[joins[:, 0]] = True
    is_strip[0] = False
    if not is_strip.any():
        return None
    number = np.where(is_strip, np.cumsum(is_strip), 0).astype(np.int32)
    out = number[group]
    del group
    out[mask == 0] = 0
    joins[:, 0] = number[joins[:, 0]]
    return out, joins


def vectorize(grey: np.ndarray, *, px_per_mm: float, min_area_mm2: float = 4.0, max_gap_mm: float = 2.5,
              crosses: np.ndarray | None = None) -> Vectorized:
    """Scan (grey, ink dark) -> regions between the line-work, in pixel coordinates.

    ``crosses`` are the grid crosses where the georeference puts them, per cross its
    two arms tip to tip in pixel coordinates ((n, 2, 2, 2)); their ink is kept out of
    the line-work (see :func:`split_linework`).
    """
    dark = darkness(grey, px_per_mm=px_per_mm)
    ink = ink_mask(dark, glyph_px=(0.8 * px_per_mm, 5.0 * px_per_mm))
    lines, text = split_linework(ink, px_per_mm=px_per_mm, max_gap_mm=max_gap_mm, crosses=crosses,
                                 faint=faint_strokes(dark, ink))
    del ink  # an A0 scan's mask: not kept through the steps after
    if not lines.any():
        raise DigitizeError("no line-work found on the sheet", hint="check that the image is a cadastral sheet scan")
    lines = close_gaps(lines, px_per_mm=px_per_mm, max_gap_mm=max_gap_mm)
    stroke = _line_width(lines)
    labels = partition(lines, min_area_px=int(min_area_mm2 * px_per_mm**2), bridge_px=stroke)
    if labels.max() == 0:
        raise DigitizeError("the line-work encloses no region", hint="check the scan and its resolution")
    regions = fit_outlines(labels, dark, lines, stroke=stroke)
    return Vectorized(dark, lines, text, labels, regions)
