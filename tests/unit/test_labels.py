"""Reading parcel labels: number over area with the land-use code, in several fonts and layouts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from digitize.labels import Token, parse_label, read_labels
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


def test_tokens_are_sorted_by_what_they_look_like_and_where():
    toks = [Token("23", 0, 1.0, 0.9), Token("LUC", 0, 3.0, 0.9), Token("808.7", 1, 1.2, 0.9)]
    assert parse_label(toks)[:3] == (23, 808.7, "LUC")
    # a misread letter in a number and a digit in a code are put right
    toks = [Token("1O4", 0, 1.0, 0.9), Token("0NT", 0, 3.0, 0.9), Token("95,1", 1, 1.2, 0.9)]
    assert parse_label(toks)[:3] == (104, 95.1, "ONT")
    # number and area on one row, split by a slash
    assert parse_label([Token("12/345.6", 0, 1.0, 0.8)])[:2] == (12, 345.6)
    # a piece of a code cut by a boundary is no number
    toks = [Token("2", 0, 1.0, 0.9), Token("L", 1, 1.0, 0.9), Token("423.6", 2, 1.0, 0.9)]
    assert parse_label(toks)[:3] == (2, 423.6, None)


def test_nothing_read_gives_no_confidence():
    number, area, code, conf = parse_label([Token("..", 0, 0.0, 0.2)])
    assert (number, area, code, conf) == (None, None, None, 0.0)
