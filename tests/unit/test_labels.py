"""Reading parcel labels: number over area with the land-use code, in several fonts and layouts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from digitize.labels import Label, Token, _score, assemble_labels, read_labels
from digitize.vectorize import darkness, ink_mask, split_linework

PPMM = 220 / 25.4
FONTS = "/usr/share/fonts/truetype/"


def _labels_sheet(font: str, layout: str, items: list[tuple[int, str, str]]):
    """One label per 30 mm cell, drawn as cadastral sheets draw them; a line between cells."""
    cell = int(30 * PPMM)
    img = Image.new("L", (cell * len(items), cell), 238)
    d = ImageDraw.Draw(img)
    f = ImageFont.truetype(FONTS + font, int(2.0 * 1.45 * PPMM))
    for k, (num, area, code) in enumerate(items):
        x, y = k * cell + cell / 2, cell / 2
        bar = max(f.getlength(str(num)), f.getlength(area)) + 5
        d.text((x, y - 3), str(num), font=f, anchor="ms", fill=30)
        d.line([(x - bar / 2, y), (x + bar / 2, y)], fill=30, width=1)
        d.text((x, y + 4), area, font=f, anchor="mt", fill=30)
        if layout == "code_right":
            d.text((x + bar / 2 + 7, y), code, font=f, anchor="lm", fill=30)
        elif layout == "code_left":
            d.text((x - bar / 2 - 7, y), code, font=f, anchor="rm", fill=30)
        else:
            d.text((x, y + 4 + int(2.3 * PPMM)), code, font=f, anchor="mt", fill=30)
        if k:
            d.line([(k * cell, 0), (k * cell, cell)], fill=30, width=2)
    grey = np.asarray(img)
    regions = np.repeat(np.arange(1, len(items) + 1, dtype=np.int32), cell)[None, :].repeat(cell, axis=0)
    return grey, regions


ITEMS = [(7, "512.3", "LUC"), (48, "1204.0", "ONT"), (135, "96.5", "CLN"), (906, "2381.7", "BHK")]


@pytest.mark.parametrize("font,layout", [
    ("dejavu/DejaVuSerif.ttf", "code_right"),
    ("liberation/LiberationSans-Regular.ttf", "code_below"),
    ("dejavu/DejaVuSansMono.ttf", "code_left"),
])
def test_labels_are_read_in_any_layout(font, layout):
    grey, regions = _labels_sheet(font, layout, ITEMS)
    dark = darkness(grey, px_per_mm=PPMM)
    lines, text = split_linework(ink_mask(dark), px_per_mm=PPMM)
    got = read_labels(text, regions, px_per_mm=PPMM, lines=lines, dark=dark)
    assert sorted(got) == [1, 2, 3, 4]
    for k, (num, area, code) in enumerate(ITEMS, start=1):
        lab = got[k]
        assert (lab.parcel_no, lab.area_label_m2, lab.land_use) == (num, float(area), code), lab.text
        assert 0.5 < lab.confidence <= 1.0


def _values(words: list[Token]) -> list[tuple]:
    return sorted(((lab.parcel_no, lab.area_label_m2, lab.land_use) for lab, _ in assemble_labels(words)),
                  key=str)


def test_words_are_sorted_by_what_they_look_like_and_where():
    # number over area (characters 10 px tall), the code to the right, half-way between
    words = [Token("23", (10, 0, 30, 10), 0.9), Token("LUC", (45, 7, 70, 17), 0.9), Token("808.7", (2, 14, 42, 24), 0.9)]
    assert _values(words) == [(23, 808.7, "LUC")]
    # a misread letter in a number and a digit in a code are put right
    words = [Token("1O4", (10, 0, 34, 10), 0.9), Token("0NT", (50, 7, 75, 17), 0.9), Token("95,1", (8, 14, 38, 24), 0.9)]
    assert _values(words) == [(104, 95.1, "ONT")]
    # a piece of a code cut by a boundary is no number
    words = [Token("2", (10, 0, 18, 10), 0.9), Token("L", (30, 7, 36, 17), 0.9), Token("423.6", (0, 14, 30, 24), 0.9)]
    assert _values(words) == [(2, 423.6, None)]


def test_a_fraction_is_a_number_centred_over_an_area():
    # two numbers side by side are no fraction; the one over the area is its number
    words = [Token("17", (0, 0, 16, 10)), Token("18", (40, 0, 56, 10)), Token("302.1", (30, 14, 66, 24))]
    got = assemble_labels(words)
    assert sorted((lab.parcel_no, lab.area_label_m2) for lab, _ in got) == [(17, None), (18, 302.1)]


def test_a_number_read_surely_on_its_own_stands_against_a_doubtful_reading_of_it_in_a_fraction():
    # 658 over 243.8, a neighbour's code over its last digit: read 656 with no confidence;
    # elsewhere 656 read surely, its area lost under a code: both stand, for the numbers' check
    frac = [Token("656", (200, 70, 230, 80), 0.0), Token("243.8", (196, 84, 234, 94), 0.95)]
    lone = Token("656", (20, 0, 50, 10), 0.96)
    assert _values(frac + [lone]) == [(656, 243.8, None), (656, None, None)]
    # no surer than the fraction's reading, or on the same ink: the same number read twice, dropped
    assert _values([frac[0], frac[1], Token("656", (20, 0, 50, 10), 0.4)]) == [(656, 243.8, None)]
    assert _values([frac[0], frac[1], Token("656", (202, 69, 231, 80), 0.96)]) == [(656, 243.8, None)]


def test_a_region_keeps_the_label_read_surely_over_one_pieced_from_misreadings():
    # 656 read surely, its area lost under a code; beside it "QNT575": a neighbour's code and
    # its area misread as a number, at confidence 0
    sure = Label(7, 656, None, None, 0.32, tokens=[Token("656", (20, 0, 50, 10), 0.96)])
    pieced = Label(7, 575, None, "ONT", 0.0, tokens=[Token("575", (40, 12, 75, 26), 0.0),
                                                   Token("QNT", (5, 12, 40, 26), 0.0)])
    assert _score(sure, 300.0) > _score(pieced, 300.0)
    # a whole label read surely beats a lone number, and an area that agrees with the region beats all
    whole = Label(7, 657, 94.3, "ONT", 0.9, tokens=[Token("657", (20, 0, 50, 10), 0.9),
                                                   Token("94.3", (18, 14, 52, 24), 0.9), Token("ONT", (0, 6, 16, 16), 0.9)])
    assert _score(whole, 300.0) > _score(sure, 300.0)
    assert _score(whole, 94.0) > _score(whole, 300.0) and _score(whole, 94.0) > _score(sure, 94.0) + 3


def test_nothing_read_gives_nothing():
    assert assemble_labels([Token("..", (0, 0, 10, 10), 0.2)]) == []
