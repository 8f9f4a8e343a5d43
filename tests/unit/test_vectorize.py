"""Vectorizing line-work: stained paper, faded and broken lines, text, crosses -> shared boundaries."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from scipy import ndimage as ndi
from shapely.geometry import box

from digitize.vectorize import (_straight_links, close_gaps, darkness, ink_mask, partition, split_linework,
                                vectorize)
from gis.errors import DigitizeError

PPMM = 200 / 25.4  # 200 dpi
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _sheet(broken: bool = True, faded: bool = True, stain: bool = True):
    """A 3 x 3 block of 25 mm cells at 200 dpi, with the damage a real sheet has."""
    cell = int(25 * PPMM)
    x0 = y0 = 60
    size = x0 * 2 + 3 * cell
    img = Image.new("L", (size, size), 235)
    d = ImageDraw.Draw(img)
    lw = 2
    for i in range(4):
        v = x0 + i * cell
        fill = 150 if (faded and i == 1) else 35
        d.line([(v, y0), (v, y0 + 3 * cell)], fill=fill, width=lw)
        d.line([(x0, v), (x0 + 3 * cell, v)], fill=35, width=lw)
    if broken:  # a 1.5 mm gap in an inner line
        g = int(1.5 * PPMM)
        d.rectangle([x0 + 2 * cell - 3, y0 + cell // 2, x0 + 2 * cell + 3, y0 + cell // 2 + g], fill=235)
    font = ImageFont.truetype(FONT, int(2 * 1.45 * PPMM))
    for r in range(3):
        for c in range(3):
            cx, cy = x0 + c * cell + cell / 2, y0 + r * cell + cell / 2
            d.text((cx, cy - 3), f"{r * 3 + c + 1}", font=font, fill=30, anchor="ms")  # as drawn on sheets:
            d.line([(cx - 20, cy), (cx + 20, cy)], fill=30, width=1)  # number over area, 0.4 mm apart
            d.text((cx, cy + 4), "312.5", font=font, fill=30, anchor="mt")
    arm = int(3 * PPMM)  # a grid cross in a cell, its arms 3 mm from the lines
    gx, gy = x0 + cell + cell // 4, y0 + 2 * cell + cell // 4
    d.line([(gx - arm, gy), (gx + arm, gy)], fill=35, width=lw)
    d.line([(gx, gy - arm), (gx, gy + arm)], fill=35, width=lw)
    a = np.asarray(img, dtype=np.float32)
    if stain:
        yy, xx = np.mgrid[0:size, 0:size]
        a -= 70 * np.exp(-((xx - size * 0.3) ** 2 + (yy - size * 0.6) ** 2) / (2 * (size * 0.15) ** 2))
        a -= 25 * xx / size
    a += np.random.default_rng(0).normal(0, 3, a.shape)
    cells = [box(x0 + c * cell, y0 + r * cell, x0 + (c + 1) * cell, y0 + (r + 1) * cell)
             for r in range(3) for c in range(3)]
    return np.clip(a, 0, 255).astype(np.uint8), cells


def _matches(regions, cells):
    got = []
    for c in cells:
        best = max(regions.geometry, key=lambda g: g.intersection(c).area)
        got.append(best.intersection(c).area / best.union(c).area)
    return np.array(got)


def test_cells_come_back_through_damage():
    img, cells = _sheet()
    v = vectorize(img, px_per_mm=PPMM)
    iou = _matches(v.regions, cells)
    assert (iou > 0.95).all(), iou
    inner = v.regions[v.regions.geometry.apply(lambda g: any(g.intersection(c).area > 0.5 * g.area for c in cells))]
    assert len(inner) == 9


def test_neighbours_share_their_boundary_exactly():
    img, _ = _sheet()
    v = vectorize(img, px_per_mm=PPMM)
    geoms = np.asarray(v.regions.geometry.values)
    total = shapely.union_all(geoms)
    assert total.area == pytest.approx(sum(g.area for g in geoms), rel=1e-9)  # no overlaps
    assert shapely.get_num_interior_rings(total) == 0
    assert total.area == pytest.approx(img.shape[0] * img.shape[1], rel=1e-9)  # no gaps


def test_without_gap_closing_the_broken_line_merges_two_cells():
    img, _ = _sheet(faded=False, stain=False)
    ink = ink_mask(darkness(img, px_per_mm=PPMM))
    lines, _ = split_linework(ink, px_per_mm=PPMM)
    from digitize.vectorize import partition

    open_ = partition(lines, min_area_px=int(4 * PPMM**2))
    closed = partition(close_gaps(lines, px_per_mm=PPMM), min_area_px=int(4 * PPMM**2))
    assert closed.max() == open_.max() + 1


def test_faded_line_survives_but_stain_is_not_ink():
    img, cells = _sheet(broken=False)
    ink = ink_mask(darkness(img, px_per_mm=PPMM))
    cell = int(25 * PPMM)
    assert ink[60 + cell // 2, 60 + cell - 1:60 + cell + 2].any()  # the faded vertical line
    stain_spot = (int(img.shape[0] * 0.6) + 15, int(img.shape[1] * 0.3) + 15)
    assert not ink[stain_spot[0] - 3:stain_spot[0] + 3, stain_spot[1] - 3:stain_spot[1] + 3].any()


def test_text_and_line_work_are_told_apart():
    img, _ = _sheet()
    ink = ink_mask(darkness(img, px_per_mm=PPMM))
    lines, text = split_linework(ink, px_per_mm=PPMM)
    cell = int(25 * PPMM)
    cx, cy = 60 + cell // 2, 60 + cell // 2
    assert text[cy - 20:cy, cx - 10:cx + 10].any() and not lines[cy - 20:cy - 6, cx - 10:cx + 10].any()
    assert lines[60, 100:200].all()


def test_a_blank_page_is_refused():
    with pytest.raises(DigitizeError, match="no line-work"):
        vectorize(np.full((400, 400), 230, np.uint8), px_per_mm=PPMM)


_M = 40  # margin around the two cells, px


def _two_cells(draw_inner, lw: int = 2) -> np.ndarray:
    """Two 20 x 12 mm cells side by side at 200 dpi, lines ``lw`` px wide.

    ``draw_inner(d, x, y0, y1)`` draws their shared side.
    """
    w, h = int(40 * PPMM), int(12 * PPMM)
    m = _M
    img = Image.new("L", (w + 2 * m, h + 2 * m), 235)
    d = ImageDraw.Draw(img)
    d.rectangle([m, m, m + w, m + h], outline=35, width=lw)
    draw_inner(d, m + w // 2, m, m + h)
    return np.asarray(img)


def _cells(v) -> int:
    """Regions of more than 20 mm2 inside the two cells' frame."""
    frame = box(_M + 2, _M + 2, _M + 40 * PPMM - 2, _M + 12 * PPMM - 2)
    return int(sum(1 for g in v.regions.geometry if g.area > 20 * PPMM**2 and frame.contains(g.representative_point())))


@pytest.mark.parametrize("lw,dash_mm", [(2, 1.2), (3, 1.5), (4, 3.0), (5, 3.0)])
def test_a_dashed_boundary_closes_and_text_beside_it_does_not(lw, dash_mm):
    """A boundary drawn as dashes (broken or faded ink), thin or thick, still divides; the label is not line-work."""
    def dashes(d, x, y0, y1):
        gap = 0.8 * PPMM
        n = max(2, round((y1 - y0 + gap) / (dash_mm * PPMM + gap)))  # whole dashes from end to end
        pitch = (y1 - y0 + gap) / n
        for k in range(n):
            d.line([(x, y0 + k * pitch), (x, y0 + k * pitch + pitch - gap)], fill=60, width=lw)

    img = _two_cells(dashes, lw)
    font = ImageFont.truetype(FONT, int(2.5 * PPMM))
    pil = Image.fromarray(img)
    ImageDraw.Draw(pil).text((60, 60), "11 ILI", font=font, fill=30)
    pil = pil.filter(ImageFilter.GaussianBlur(0.8))  # a scan's blur: ink fades towards a line's edges
    v = vectorize(np.asarray(pil), px_per_mm=PPMM)
    assert _cells(v) == 2


def _solid(d, x, y0, y1):
    d.line([(x, y0), (x, y1)], fill=35, width=2)


def test_a_label_bar_touching_a_boundary_does_not_split_the_parcel():
    """The fraction bar of a crowded label runs into the boundary: it stays text."""
    img = Image.fromarray(_two_cells(_solid))
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, int(2.2 * PPMM))
    x_line = img.width // 2
    y = img.height // 2
    d.text((x_line - int(9 * PPMM), y - 2), "1234", font=font, fill=30, anchor="ls")
    d.line([(x_line - int(9 * PPMM), y), (x_line, y)], fill=30, width=2)  # bar touches the boundary
    d.text((x_line - int(9 * PPMM), y + 3), "567.8", font=font, fill=30, anchor="lt")
    v = vectorize(np.asarray(img), px_per_mm=PPMM)
    assert _cells(v) == 2


def test_letters_touching_a_line_are_not_line_work():
    img = Image.fromarray(_two_cells(_solid))
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, int(2.5 * PPMM))
    x_line = img.width // 2
    d.text((x_line + 1, img.height // 2), "DNK", font=font, fill=30, anchor="lm")  # D's stem on the line
    ink = ink_mask(darkness(np.asarray(img), px_per_mm=PPMM))
    lines, text = split_linework(ink, px_per_mm=PPMM)
    strip = slice(x_line + int(1.2 * PPMM), x_line + int(8 * PPMM))  # beyond the D's stem
    letters = ink[:, strip] & ~lines[:, strip]
    on_lines = lines[:, strip] & ink[:, strip]
    # the horizontal frame lines run through this strip too: compare only the text rows
    rows = slice(img.height // 2 - int(2 * PPMM), img.height // 2 + int(2 * PPMM))
    assert letters[rows].sum() > 0
    assert on_lines[rows].sum() == 0


def _big_regions(v, frame: tuple[float, float, float, float], min_mm2: float = 10.0) -> int:
    """Regions of more than ``min_mm2`` whose inner point lies in ``frame`` (x0, y0, x1, y1 px)."""
    inside = box(*frame)
    return int(sum(1 for g in v.regions.geometry if g.area > min_mm2 * PPMM**2
                   and inside.contains(g.representative_point())))


def _fraction(d: ImageDraw.ImageDraw, f: ImageFont.FreeTypeFont, x: float, y: float, number: str, area: str,
              bar: float | None = None, width: int = 1) -> float:
    """A label's fraction as sheets draw it: number over area, the bar as wide as the wider; returns the bar."""
    size = f.size / PPMM
    bar = bar or max(f.getlength(number), f.getlength(area)) + 0.2 * size * PPMM
    d.text((x, y - 0.12 * size * PPMM), number, font=f, anchor="ms", fill=30)
    d.line([(x - bar / 2, y), (x + bar / 2, y)], fill=30, width=width)
    d.text((x, y + 0.16 * size * PPMM), area, font=f, anchor="mt", fill=30)
    return bar


FACES = [("dejavu/DejaVuSans.ttf", 2), ("liberation/LiberationSerif-Regular.ttf", 3),
         ("dejavu/DejaVuSansMono.ttf", 2)]


def _narrow_parcel(width: int, lw: int) -> tuple[Image.Image, ImageDraw.ImageDraw, tuple[int, int, int, int, int]]:
    """A 20 mm tall block with a narrow parcel ``width`` px wide between two wider ones, lines ``lw`` px:
    the image, its drawing, and (margin, height, width of the block, narrow parcel's left and right x)."""
    m, h = 40, int(20 * PPMM)
    xa = m + int(15 * PPMM)
    xb = xa + width
    w = xb + int(15 * PPMM) - m
    img = Image.new("L", (w + 2 * m, h + 2 * m), 235)
    d = ImageDraw.Draw(img)
    d.rectangle([m, m, m + w, m + h], outline=35, width=lw)
    for x in (xa, xb):
        d.line([(x, m), (x, m + h)], fill=35, width=lw)
    return img, d, (m, h, w, xa, xb)


@pytest.mark.parametrize("face,lw", FACES)
def test_a_bar_spanning_a_narrow_parcel_stays_text(face, lw):
    """A label as wide as its parcel: its bar runs from boundary to boundary and is still no boundary."""
    f = ImageFont.truetype("/usr/share/fonts/truetype/" + face, int(2.0 * 1.45 * PPMM))
    bar = max(f.getlength("57"), f.getlength("1226.4")) + 0.4 * PPMM
    img, d, (m, h, w, xa, xb) = _narrow_parcel(int(round(bar)), lw)
    _fraction(d, f, (xa + xb) / 2, m + h / 2, "57", "1226.4", bar=xb - xa, width=lw)
    v = vectorize(np.asarray(img), px_per_mm=PPMM)
    assert _big_regions(v, (m, m, m + w, m + h)) == 3


@pytest.mark.parametrize("face,lw", FACES)
def test_a_short_boundary_edge_between_two_labels_stays_line_work(face, lw):
    """A short edge, junction to junction, with one parcel's area just over it and the next one's number just under."""
    f = ImageFont.truetype("/usr/share/fonts/truetype/" + face, int(1.8 * 1.45 * PPMM))
    m = 40
    col = int(6.5 * PPMM)  # a narrow strip cut by a short edge
    h, w = int(30 * PPMM), 3 * col
    img = Image.new("L", (w + 2 * m, h + 2 * m), 235)
    d = ImageDraw.Draw(img)
    d.rectangle([m, m, m + w, m + h], outline=35, width=lw)
    xa, xb, y = m + col, m + 2 * col, m + h // 2
    for x in (xa, xb):
        d.line([(x, m), (x, m + h)], fill=35, width=lw)
    d.line([(xa, y), (xb, y)], fill=35, width=lw)
    cx, gap = (xa + xb) / 2, 0.6 * PPMM
    f_h = f.getbbox("0", anchor="lt")[3]
    _fraction(d, f, cx, y - gap - f_h - 0.16 * f.size, "14", "98.5")  # the upper parcel's area just over the edge
    _fraction(d, f, cx, y + gap + f_h + 0.12 * f.size, "15", "96.1")  # the lower one's number just under it
    v = vectorize(np.asarray(img), px_per_mm=PPMM)
    assert _big_regions(v, (xa, m, xb, m + h)) == 2


@pytest.mark.parametrize("lw", [1, 2, 3])
def test_a_word_across_a_boundary_does_not_break_it(lw):
    """A land-use code written over a boundary line (its letters on both sides) leaves the line whole."""
    img = Image.fromarray(_two_cells(lambda d, x, y0, y1: d.line([(x, y0), (x, y1)], fill=35, width=lw)))
    d = ImageDraw.Draw(img)
    f = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", int(2.2 * 1.45 * PPMM))
    x_line = img.width // 2
    d.text((x_line - f.getlength("LU") - 1, img.height // 2), "LUC", font=f, fill=30, anchor="lm")
    v = vectorize(np.asarray(img), px_per_mm=PPMM)
    assert _cells(v) == 2


def _cross(d: ImageDraw.ImageDraw, x: float, y: float, lw: int) -> np.ndarray:
    """A grid cross (1 cm wide) drawn at (x, y); returns its arms tip to tip in pixel coordinates."""
    arm = 5 * PPMM
    d.line([(x - arm, y), (x + arm, y)], fill=35, width=lw)
    d.line([(x, y - arm), (x, y + arm)], fill=35, width=lw)
    return np.array([[[[x - arm, y], [x + arm, y]], [[x, y - arm], [x, y + arm]]]]) + 0.5


@pytest.mark.parametrize("lw", [1, 2, 3])
def test_a_grid_cross_on_a_parcel_is_not_a_boundary(lw):
    """A cross whose arm spans a narrow parcel cuts it unless the crosses are given; its arms stop at the tips."""
    m, h, w = 40, int(24 * PPMM), int(30 * PPMM)
    img = Image.new("L", (w + 2 * m, h + 2 * m), 235)
    d = ImageDraw.Draw(img)
    d.rectangle([m, m, m + w, m + h], outline=35, width=lw)
    xa, xb = m + int(10 * PPMM), m + int(18 * PPMM)  # 8 mm wide: the 1 cm arm crosses it
    for x in (xa, xb):
        d.line([(x, m), (x, m + h)], fill=35, width=lw)
    crosses = _cross(d, (xa + xb) / 2 + 3, m + h / 2, lw)
    grey = np.asarray(img)
    frame = (xa, m, xb, m + h)
    assert _big_regions(vectorize(grey, px_per_mm=PPMM), frame) == 2  # the arm closes two pieces
    assert _big_regions(vectorize(grey, px_per_mm=PPMM, crosses=crosses + [2.0, -1.5]), frame) == 1


@pytest.mark.parametrize("lw", [1, 2, 3])
def test_a_boundary_through_a_grid_cross_stays(lw):
    """Boundaries crossing a cross, one along an arm and one across the other, still divide the parcels."""
    m, s = 40, int(30 * PPMM)
    img = Image.new("L", (s + 2 * m, s + 2 * m), 235)
    d = ImageDraw.Draw(img)
    d.rectangle([m, m, m + s, m + s], outline=35, width=lw)
    c = m + s / 2
    d.line([(m, c), (m + s, c)], fill=35, width=lw)  # along the horizontal arm, through the cross
    d.line([(c + 2.5 * PPMM, m), (c + 2.5 * PPMM, c)], fill=35, width=lw)  # across that arm, 2.5 mm off the centre
    crosses = _cross(d, c, c, lw)
    v = vectorize(np.asarray(img), px_per_mm=PPMM, crosses=crosses)
    assert _big_regions(v, (m, m, m + s, m + s)) == 3


@pytest.mark.parametrize("lw,name", [(2, "Đường 202 Tân Hòa"), (3, "Đường 202 Tân Hòa"), (2, "Kênh N2")])
def test_a_narrow_road_under_its_name_stays_apart_from_the_parcels(lw, name):
    """A road drawn narrower than its name, written along it over both its lines: the parcels stop at its lines.

    The letters' strokes across the road cut it into pieces under the minimum area; they
    must stay one region (a short name's pieces: with the road on either side), not be
    shared out to the parcels beside it.
    """
    m, cell, road = 40, int(25 * PPMM), round(1.3 * PPMM)
    w, h = 2 * cell + road, int(40 * PPMM)
    img = Image.new("L", (w + 2 * m, h + 2 * m), 235)
    d = ImageDraw.Draw(img)
    d.rectangle([m, m, m + w, m + h], outline=35, width=lw)
    xl, xr = m + cell, m + cell + road  # the road's two lines
    for x in (xl, xr):
        d.line([(x, m), (x, m + h)], fill=35, width=lw)
    f = ImageFont.truetype(FONT, int(2.3 * 1.45 * PPMM))
    drawn = Image.new("L", (int(f.getlength(name)) + 8, int(2.3 * 1.45 * PPMM) + 8), 0)
    ImageDraw.Draw(drawn).text((4, drawn.height / 2), name, font=f, fill=205, anchor="lm")
    drawn = drawn.rotate(90, expand=True)
    at = (int((xl + xr) / 2 - drawn.width / 2), m + (h - drawn.height) // 2)
    img.paste(Image.new("L", drawn.size, 30), at, drawn)
    v = vectorize(np.asarray(img), px_per_mm=PPMM)
    left = max(v.regions.geometry, key=lambda g: g.intersection(box(m, m, xl, m + h)).area)
    right = max(v.regions.geometry, key=lambda g: g.intersection(box(xr, m, m + w, m + h)).area)
    assert left.bounds[2] <= xl + 1.5  # on the road's line, not into the road (its middle is 5 px further)
    assert right.bounds[0] >= xr - 1.5


def _textured(img: np.ndarray, seed: int = 0) -> np.ndarray:
    """Paper with a blotchy texture (specks up to ~6 % darker than the paper) and scanner noise."""
    rng = np.random.default_rng(seed)
    blot = ndi.gaussian_filter(rng.normal(0, 1, img.shape), 1.2)
    a = img - 3.5 * np.clip(blot / blot.std(), 0, None) + rng.normal(0, 1.5, img.shape)
    return np.clip(a, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("grey", [195, 205])
def test_a_faded_thin_line_still_divides_but_paper_texture_does_not(grey):
    """A 1 px line faded to a few percent under the paper (never ink) is a boundary; the paper's blotches are not."""
    faded = _textured(_two_cells(lambda d, x, y0, y1: d.line([(x, y0), (x, y1)], fill=grey, width=1)))
    assert not ink_mask(darkness(faded, px_per_mm=PPMM))[_M + 20:_M + int(12 * PPMM) - 20, _M + int(20 * PPMM)].any()
    assert _cells(vectorize(faded, px_per_mm=PPMM)) == 2
    blank = _textured(_two_cells(lambda d, x, y0, y1: None))
    assert _cells(vectorize(blank, px_per_mm=PPMM)) == 1


@pytest.mark.parametrize("bar", [1, 2])
def test_a_ditch_cut_by_the_letters_of_its_name_stays_one_strip(bar):
    """A ditch between two close lines, cut by its name's strokes (``bar`` px, thinner than the
    lines: 3 px) into cells that
    alternate under and over the minimum area, none alone long enough to be a road: together
    they are one strip, so the parcels on either side stop at the ditch's lines."""
    lines = np.zeros((700, 200), dtype=bool)
    lines[[0, -1], :] = lines[:, [0, -1]] = True
    xl, xr = 90, 99  # the ditch's lines, 3 px wide; its inside 6 px (columns 93-98)
    lines[:, xl:xl + 3] = lines[:, xr:xr + 3] = True
    y, short = 20, True
    lines[y - bar:y, xl:xr + 3] = True
    while y < 600:  # cells of 32 px (192 px², under the minimum) and 47 px (282 px², over it)
        y += (32 if short else 47) + bar
        lines[y - bar:y, xl:xr + 3] = True
        short = not short
    lab = partition(lines, min_area_px=248, bridge_px=3)
    left, right = lab[350, 40], lab[350, 160]
    inside = lab[20:y - bar, xl + 3:xr]
    assert not (inside == left).any() and not (inside == right).any()


def test_a_faded_line_broken_where_it_bends_a_little_still_divides():
    """A faded 1 px side in two pieces with a small break between them: a long one leaning 10 degrees
    and a short straight one at its foot.  Each piece lies on the other's line, measured from
    the long one (the short one's own axis, carried to the long one's middle, misses it by more
    than a stroke)."""
    def side(d, x, y0, y1):
        d.line([(x, y0), (x + 14, y1 - 13)], fill=200, width=1)
        d.line([(x + 14, y1 - 9), (x + 14, y1)], fill=200, width=1)

    faded = _textured(_two_cells(side))
    assert _cells(vectorize(faded, px_per_mm=PPMM)) == 2


@pytest.mark.parametrize("lw", [1, 2])
def test_a_code_right_over_a_number_leaves_its_bar_to_the_fraction_under_it(lw):
    """The next label's land-use code sits just over a number, closer than the area under the bar: the bar,
    touching one side of a narrow parcel and closed to the other by gap closing, is still the fraction's."""
    f = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerifCondensed.ttf", int(2.0 * 1.45 * PPMM))
    size = f.size / PPMM
    bar = max(f.getlength("1016"), f.getlength("430.3")) + 0.4 * PPMM
    img, d, (m, h, w, xa, xb) = _narrow_parcel(int(round(bar + 1.2 * PPMM)), lw)  # the bar stops 1.2 mm short
    y = m + h / 2
    _fraction(d, f, xa + bar / 2, y, "1016", "430.3", bar=bar, width=lw)
    top = y - 0.12 * size * PPMM + f.getbbox("1016", anchor="ls")[1]  # the number's top
    d.text((xa + bar / 2, top - 2), "LUC", font=f, anchor="ms", fill=30)
    v = vectorize(np.asarray(img), px_per_mm=PPMM)
    assert _big_regions(v, (xa, m, xb, m + h)) == 1


def test_a_label_printed_light_is_ink_but_a_light_smudge_is_not():
    """A label whose strokes never reach the strong threshold (printed light, thin at 200 dpi)
    is ink when its pieces are a character's size; a smudge as light but longer is not."""
    img = Image.new("L", (int(40 * PPMM), int(20 * PPMM)), 235)
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerifCondensed.ttf", round(2.0 * 1.45 * PPMM))
    d.text((int(5 * PPMM), int(5 * PPMM)), "187.4", font=font, fill=150)  # about 0.36 dark at its darkest
    d.line([(int(5 * PPMM), int(15 * PPMM)), (int(30 * PPMM), int(15 * PPMM) + 3)], fill=150, width=2)
    dark = darkness(np.asarray(img), px_per_mm=PPMM)
    label = (slice(int(4 * PPMM), int(9 * PPMM)), slice(int(4 * PPMM), int(20 * PPMM)))
    smudge = (slice(int(14 * PPMM), int(17 * PPMM)), slice(int(4 * PPMM), int(31 * PPMM)))
    assert 0.3 * 255 < dark[label].max() < 0.45 * 255
    assert not ink_mask(dark)[label].any()  # under the strong threshold everywhere
    ink = ink_mask(dark, glyph_px=(0.8 * PPMM, 5.0 * PPMM))
    assert ink[label].sum() > 0.8 * (dark[label] > 0.3 * 255).sum()
    assert not ink[smudge].any()


def test_a_stretch_of_broken_line_a_code_touches_comes_back():
    """The stretch of a broken line between two lines, with a land-use code touching it, is one piece of
    the other ink with the letters: cut apart from them, it is a bar, and comes back as line-work."""
    f = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerifCondensed.ttf", int(1.8 * 1.45 * PPMM))
    h, w = 160, 200
    lines = np.zeros((h, w), bool)
    lines[20:22, 10:190] = lines[120:122, 10:190] = True  # the lines it runs between
    img = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(img)
    d.line([(100, 22), (100, 119)], fill=255, width=2)
    stretch = np.asarray(img) > 128
    d.text((100, 70), "CLN", font=f, anchor="lm", fill=255)  # its C touches the stretch
    rest = np.asarray(img) > 128
    out = _straight_links(rest, lines, px_per_mm=PPMM, stroke=2, max_gap_mm=2.5)
    assert (out & stretch).sum() >= 0.9 * stretch.sum()
    assert not out[:, 104:].any()  # the letters stay text
