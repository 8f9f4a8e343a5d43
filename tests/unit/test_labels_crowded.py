"""Reading labels on crowded sheets: codes over a boundary, underlined numbers, fractions split by a line."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from digitize.labels import Token, assemble_labels, read_labels
from digitize.vectorize import darkness, ink_mask, split_linework

PPMM = 220 / 25.4
FONTS = "/usr/share/fonts/truetype/"
FACES = [("dejavu/DejaVuSerif.ttf", 2.0), ("liberation/LiberationSans-Regular.ttf", 2.4),
         ("dejavu/DejaVuSans.ttf", 1.8)]


def _read(img: Image.Image, regions: np.ndarray, m_per_px: float | None = None, cut: frozenset[int] = frozenset()):
    grey = np.asarray(img)
    dark = darkness(grey, px_per_mm=PPMM)
    lines, text = split_linework(ink_mask(dark), px_per_mm=PPMM)
    return read_labels(text, regions, px_per_mm=PPMM, lines=lines, dark=dark, m_per_px=m_per_px, cut=cut)


def _fraction(d: ImageDraw.ImageDraw, f: ImageFont.FreeTypeFont, x: float, y: float, num: int, area: str) -> float:
    """Number over area centred on (x, y); returns the bar's half length."""
    bar = max(f.getlength(str(num)), f.getlength(area)) + 5
    d.text((x, y - 3), str(num), font=f, anchor="ms", fill=30)
    d.line([(x - bar / 2, y), (x + bar / 2, y)], fill=30, width=1)
    d.text((x, y + 4), area, font=f, anchor="mt", fill=30)
    return bar / 2


@pytest.mark.parametrize("font,size_mm", FACES)
def test_a_code_over_the_boundary_belongs_to_the_label_it_follows(font, size_mm):
    # cell 1's label sits at its right edge, so its code lies across the line in cell 2,
    # just left of cell 2's own label (whose code lies on the usual side, the right)
    f = ImageFont.truetype(FONTS + font, round(size_mm * 1.45 * PPMM))
    cell, h = int(40 * PPMM), int(24 * PPMM)
    img = Image.new("L", (3 * cell, h), 238)
    d = ImageDraw.Draw(img)
    y = h / 2
    # an easy label in cell 3 and a first one in cell 1 teach the usual side
    half = _fraction(d, f, 2.5 * cell, y, 9, "1204.5")
    d.text((2.5 * cell + half + 7, y), "BHK", font=f, anchor="lm", fill=30)
    edge = cell - 4  # the line between cells 1 and 2
    half = _fraction(d, f, edge - f.getlength("1630.4") / 2 - 12, y, 17, "1630.4")
    x_code = edge + 6
    d.text((x_code, y), "CLN", font=f, anchor="lm", fill=30)
    x2 = x_code + f.getlength("CLN") + 8 + f.getlength("302.1") / 2 + 3
    half = _fraction(d, f, x2, y, 18, "302.1")
    d.text((x2 + half + 7, y), "ONT", font=f, anchor="lm", fill=30)
    for x in (edge, 2 * cell):
        d.line([(x, 0), (x, h)], fill=30, width=2)
    regions = np.ones((h, 3 * cell), np.int32)
    regions[:, edge:] = 2
    regions[:, 2 * cell:] = 3
    got = _read(img, regions)
    assert (got[1].parcel_no, got[1].area_label_m2, got[1].land_use) == (17, 1630.4, "CLN"), got[1].text
    assert (got[2].parcel_no, got[2].area_label_m2, got[2].land_use) == (18, 302.1, "ONT"), got[2].text
    assert (got[3].parcel_no, got[3].land_use) == (9, "BHK")


@pytest.mark.parametrize("font,size_mm", FACES)
@pytest.mark.parametrize("num", [1, 4, 7, 21, 135])
def test_an_underlined_number_is_read(font, size_mm, num):
    # the fraction bar touches the digits over it
    f = ImageFont.truetype(FONTS + font, round(size_mm * 1.45 * PPMM))
    cell = int(30 * PPMM)
    img = Image.new("L", (cell, cell), 238)
    d = ImageDraw.Draw(img)
    x = y = cell / 2
    area = "806.2"
    bar = max(f.getlength(str(num)), f.getlength(area)) + 5
    d.text((x, y), str(num), font=f, anchor="ms", fill=30)
    d.line([(x - bar / 2, y), (x + bar / 2, y)], fill=30, width=2)
    d.text((x, y + 4), area, font=f, anchor="mt", fill=30)
    got = _read(img, np.ones((cell, cell), np.int32))
    assert (got[1].parcel_no, got[1].area_label_m2) == (num, 806.2), got[1].text


@pytest.mark.parametrize("font,size_mm", FACES[:2])
@pytest.mark.parametrize("owner", [1, 2])
def test_a_fraction_split_by_a_boundary_goes_to_the_region_whose_area_it_gives(font, size_mm, owner):
    # the bar lies on a boundary, so number and area are read apart, on two sides of the line
    f = ImageFont.truetype(FONTS + font, round(size_mm * 1.45 * PPMM))
    w, h = int(40 * PPMM), int(40 * PPMM)
    img = Image.new("L", (w, h), 238)
    d = ImageDraw.Draw(img)
    split = int(0.4 * h)
    d.line([(0, split), (w, split)], fill=30, width=2)
    d.text((w / 2, split - 3), "57", font=f, anchor="ms", fill=30)
    d.text((w / 2, split + 4), "412.5", font=f, anchor="mt", fill=30)
    regions = np.ones((h, w), np.int32)
    regions[split:] = 2
    m_per_px = float(np.sqrt(412.5 / (regions == owner).sum()))
    got = _read(img, regions, m_per_px=m_per_px)
    assert list(got) == [owner]
    assert (got[owner].parcel_no, got[owner].area_label_m2) == (57, 412.5), got[owner].text


def _fraction_of(top: str, bottom: str = "304.6") -> tuple:
    """What a number word read over an area word (characters 10 px tall) gives."""
    got = assemble_labels([Token(top, (0, 0, 8 * len(top), 10), 0.9), Token(bottom, (0, 14, 40, 24), 0.9)])
    return [(lab.parcel_no, lab.area_label_m2) for lab, _ in got]


def test_a_neighbours_letters_fused_to_a_number_are_dropped():
    assert _fraction_of("IT214") == [(214, 304.6)]
    assert _fraction_of("UC27") == [(27, 304.6)]
    assert _fraction_of("214NT") == [(214, 304.6)]
    # a single O or I at an end is a misread digit, not a neighbour's letter
    assert _fraction_of("1O") == [(10, 304.6)]
    # a speck read as a point after the number
    assert _fraction_of("312.") == [(312, 304.6)]


def test_the_number_is_the_integer_just_above_the_area():
    # a stray digit higher up is not the number
    toks = [Token("1", (8, -20, 14, -10)), Token("758", (4, 0, 28, 10)), Token("209.2", (0, 14, 36, 24))]
    got = assemble_labels(toks)
    assert (758, 209.2) in [(lab.parcel_no, lab.area_label_m2) for lab, _ in got]
    # a code on a row of its own between the number and the area
    toks = [Token("36", (8, 0, 24, 10)), Token("LUC", (30, 7, 55, 17)), Token("1040.7", (0, 14, 42, 24))]
    got = assemble_labels(toks)
    assert [(lab.parcel_no, lab.area_label_m2, lab.land_use) for lab, _ in got] == [(36, 1040.7, "LUC")]


@pytest.mark.parametrize("font,size_mm", FACES)
def test_a_code_cut_by_a_boundary_line_is_joined(font, size_mm):
    # the boundary runs between the second and the third letter of the code
    f = ImageFont.truetype(FONTS + font, round(size_mm * 1.45 * PPMM))
    cell, h = int(40 * PPMM), int(24 * PPMM)
    img = Image.new("L", (2 * cell, h), 238)
    d = ImageDraw.Draw(img)
    y = h / 2
    half = _fraction(d, f, 1.5 * cell, y, 12, "845.0")  # a label on the other side, code on its right
    d.text((1.5 * cell + half + 7, y), "ONT", font=f, anchor="lm", fill=30)
    x = cell - f.getlength("LU") - 4 - 7 - f.getlength("716.2") / 2
    half = _fraction(d, f, x, y, 35, "716.2")
    d.text((x + half + 7, y), "LU", font=f, anchor="lm", fill=30)
    d.text((cell + 4, y), "C", font=f, anchor="lm", fill=30)
    d.line([(cell, 0), (cell, h)], fill=30, width=2)
    regions = np.ones((h, 2 * cell), np.int32)
    regions[:, cell:] = 2
    got = _read(img, regions)
    assert (got[1].parcel_no, got[1].area_label_m2, got[1].land_use) == (35, 716.2, "LUC"), got[1].text
    assert (got[2].parcel_no, got[2].land_use) == (12, "ONT")


@pytest.mark.parametrize("font,size_mm", FACES)
def test_a_neighbours_code_on_the_area_row_is_not_the_number(font, size_mm):
    # the left label's code (centred on its bar) runs up to the right label's area, on its
    # baseline; the right label's own code lies half-way between its number and area
    f = ImageFont.truetype(FONTS + font, round(size_mm * 1.45 * PPMM))
    cell, h = int(45 * PPMM), int(24 * PPMM)
    img = Image.new("L", (cell, h), 238)
    d = ImageDraw.Draw(img)
    y = h / 2
    x = cell * 0.62
    half = _fraction(d, f, x, y, 199, "298.4")
    d.text((x + half + 7, y), "ONT", font=f, anchor="lm", fill=30)
    code_right = x - f.getlength("298.4") / 2 - 3
    y2 = y + 4 + f.getbbox("298.4", anchor="mt")[3] / 2  # the neighbour's bar at the height of this area
    d.text((code_right, y2), "CLN", font=f, anchor="rm", fill=30)
    x2 = code_right - f.getlength("CLN") - 7 - f.getlength("1145.2") / 2 - 3
    _fraction(d, f, x2, y2, 114, "1145.2")
    got = _read(img, np.ones((h, cell), np.int32))
    assert (got[1].parcel_no, got[1].area_label_m2, got[1].land_use) == (199, 298.4, "ONT"), got[1].text


@pytest.mark.parametrize("font", ["dejavu/DejaVuSansMono.ttf", "liberation/LiberationMono-Regular.ttf",
                                  "dejavu/DejaVuSansMono-Bold.ttf"])
def test_a_decimal_point_in_a_monospaced_font_is_read(font):
    # a monospaced font gives the point a whole cell: the gap across it is wider than a character
    f = ImageFont.truetype(FONTS + font, round(2.0 * 1.45 * PPMM))
    cell = int(30 * PPMM)
    img = Image.new("L", (cell, cell), 238)
    d = ImageDraw.Draw(img)
    _fraction(d, f, cell / 2, cell / 2, 41, "1338.7")
    got = _read(img, np.ones((cell, cell), np.int32))
    assert (got[1].parcel_no, got[1].area_label_m2) == (41, 1338.7), got[1].text


def _masks(img: Image.Image):
    grey = np.asarray(img)
    dark = darkness(grey, px_per_mm=PPMM)
    lines, text = split_linework(ink_mask(dark), px_per_mm=PPMM)
    return dark, lines, text


@pytest.mark.parametrize("font,size_mm", FACES)
def test_strokes_the_line_work_took_from_a_number_are_read(font, size_mm):
    # the line-work step takes the stems of the ones standing on a bar that meets a
    # boundary: they come back from the line-work into the number's row
    f = ImageFont.truetype(FONTS + font, round(size_mm * 1.45 * PPMM))
    cell = int(30 * PPMM)
    img = Image.new("L", (cell, cell), 238)
    d = ImageDraw.Draw(img)
    x = y = cell / 2
    half = _fraction(d, f, x, y, 118, "132.4")
    d.line([(x + half, 0), (x + half, cell)], fill=30, width=2)
    dark, lines, text = _masks(img)
    left, top, right, _ = f.getbbox("11", anchor="ms")
    stems = np.zeros_like(text)
    stems[int(y - 3 + top):int(y), int(x - f.getlength("118") / 2 + left):int(x - f.getlength("118") / 2 + right)] = True
    stems &= text
    regions = np.ones((cell, cell), np.int32)
    regions[:, int(x + half):] = 2
    got = read_labels(text & ~stems, regions, px_per_mm=PPMM, lines=lines | stems, dark=dark)
    assert (got[1].parcel_no, got[1].area_label_m2) == (118, 132.4), got[1].text


@pytest.mark.parametrize("font,size_mm", FACES)
def test_a_code_the_line_work_took_is_read_where_the_codes_stand(font, size_mm):
    # codes below the area; the second label's code touches the boundary under it, and the
    # line-work step took it whole
    f = ImageFont.truetype(FONTS + font, round(size_mm * 1.45 * PPMM))
    cell, h = int(30 * PPMM), int(30 * PPMM)
    img = Image.new("L", (2 * cell, h), 238)
    d = ImageDraw.Draw(img)
    y = h / 2
    codes = []
    for k, (num, area, code) in enumerate([(35, "716.2", "LUC"), (36, "845.0", "BHK")]):
        x = k * cell + cell / 2
        _fraction(d, f, x, y, num, area)
        top = y + 4 + f.getbbox(area, anchor="mt")[3] + 0.3 * size_mm * PPMM
        d.text((x, top), code, font=f, anchor="mt", fill=30)
        codes.append((x, top + f.getbbox(code, anchor="mt")[3]))
    bottom = int(codes[1][1]) + 1
    d.line([(cell, bottom), (2 * cell, bottom)], fill=30, width=2)
    d.line([(cell, 0), (cell, h)], fill=30, width=2)
    dark, lines, text = _masks(img)
    taken = np.zeros_like(text)
    taken[int(y + 4 + f.getbbox("845.0", anchor="mt")[3]) + 2:bottom, cell:] = True
    taken &= text
    regions = np.ones((h, 2 * cell), np.int32)
    regions[:, cell:] = 2
    got = read_labels(text & ~taken, regions, px_per_mm=PPMM, lines=lines | taken, dark=dark)
    assert (got[1].parcel_no, got[1].land_use) == (35, "LUC"), got[1].text
    assert (got[2].parcel_no, got[2].area_label_m2, got[2].land_use) == (36, 845.0, "BHK"), got[2].text


def _one_fraction(font: str, size_mm: float) -> tuple[Image.Image, np.ndarray]:
    """Label 57 / 412.5 alone in a 30 mm region (region 1)."""
    f = ImageFont.truetype(FONTS + font, round(size_mm * 1.45 * PPMM))
    cell = int(30 * PPMM)
    img = Image.new("L", (cell, cell), 238)
    _fraction(ImageDraw.Draw(img), f, cell / 2, cell / 2, 57, "412.5")
    return img, np.ones((cell, cell), np.int32)


@pytest.mark.parametrize("font,size_mm", FACES)
def test_an_area_that_disagrees_with_the_region_is_kept_and_trusted_less(font, size_mm):
    # the check against the computed area is evidence: the label says what it says
    img, regions = _one_fraction(font, size_mm)
    agree = _read(img, regions, m_per_px=float(np.sqrt(412.5 / regions.size)))[1]
    differ = _read(img, regions, m_per_px=float(np.sqrt(300.0 / regions.size)))[1]
    assert (agree.parcel_no, agree.area_label_m2) == (differ.parcel_no, differ.area_label_m2) == (57, 412.5)
    assert differ.confidence == pytest.approx(agree.confidence / 2)


def test_a_region_cut_by_the_frame_may_be_smaller_than_its_label_says():
    # the label of a parcel that goes on across the sheet frame gives the whole parcel's area
    font, size_mm = FACES[0]
    img, regions = _one_fraction(font, size_mm)
    agree = _read(img, regions, m_per_px=float(np.sqrt(412.5 / regions.size)))[1]
    smaller = _read(img, regions, m_per_px=float(np.sqrt(300.0 / regions.size)), cut=frozenset({1}))[1]
    larger = _read(img, regions, m_per_px=float(np.sqrt(600.0 / regions.size)), cut=frozenset({1}))[1]
    assert smaller.confidence == pytest.approx(agree.confidence)
    assert larger.confidence == pytest.approx(agree.confidence / 2)
