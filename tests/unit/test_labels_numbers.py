"""The numbers of a sheet checked against each other: unique, and running 1..N."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from digitize.labels import (
    Label,
    Token,
    _check_numbers,
    _code_heights,
    _code_templates,
    _codes_in,
    _digit_templates,
    _NumberJudge,
    _fits_reading,
    _numbers_in_rows,
    _read_over,
    _free_reading,
    _inked_regions,
    _number_limit,
    _trimmed,
    _unread_labels,
    _slanted_bars,
    _without_bars,
    _without_codes,
)
from digitize.vectorize import darkness, ink_mask, split_linework

PPMM = 220 / 25.4
FONTS = "/usr/share/fonts/truetype/"


def _label(no: int | None, number: Token | None = None, area: Token | None = None, conf: float = 0.97) -> Label:
    tokens = [t for t in (number or Token(str(no), (0, 0, 10, 10), conf), area) if t is not None]
    return Label(1, no, None if area is None else float(area.text), None, conf, tokens=tokens)


def test_the_limit_follows_the_numbers_read():
    assert _number_limit(list(range(1, 301))) == pytest.approx(1.2 * 270.1 / 0.9 + 10, rel=0.01)
    # a few stray readings far beyond do not move it
    assert _number_limit(list(range(1, 301)) + [7130, 1167, 11613]) < 400
    assert _number_limit([3, 4, 5]) == float("inf")


def test_a_stray_character_at_an_end_is_dropped_when_one_reading_fits():
    area = Token("105.2", (100, 20, 150, 34))
    # a letter's remains read as 7 before the number: only 130 is free and within the sheet
    assert _trimmed(Token("7130", (92, 0, 140, 14)), area, 900, {713}) == 130
    # trailing: a neighbour's code read as a digit after the number
    assert _trimmed(Token("3034", (110, 0, 158, 14)), area, 900, {34}) == 303
    # two readings fit: the one centred over the area
    assert _trimmed(Token("1760", (92, 0, 140, 14)), Token("220.4", (100, 20, 148, 34)), 900, set()) == 760
    # both taken: none
    assert _trimmed(Token("7130", (92, 0, 140, 14)), area, 900, {713, 130}) is None
    # a letter read as a digit is the stray character (the O of a neighbour's code after 397)
    assert _trimmed(Token("397O", (100, 0, 160, 14)), area, 2000, set()) == 397


def test_a_number_in_a_word_with_a_neighbours_letters():
    area = Token("192.4", (100, 20, 150, 34))
    assert _free_reading(Token("1N571", (90, 0, 150, 14)), area, 900, set())[0] == 571
    assert _free_reading(Token("N42", (100, 0, 136, 14)), area, 900, {42})[0] is None
    # within the limit, a number is never cut down to a free one
    assert _free_reading(Token("37", (100, 0, 124, 14)), area, 900, {37})[0] is None


def test_an_area_read_without_its_point_within_the_sheets_numbers_needs_the_region_to_a_hundredth():
    blank = np.zeros((60, 300), bool)
    for region_area, expect in ((127.6, (None, 127.5)), (131.0, (1275, None))):
        labels = [_label(k) for k in range(1, 1401) if k != 1275]
        lone = _label(1275, Token("1275", (100, 20, 140, 34), 0.5))
        lone.region = 7
        _check_numbers(labels + [lone], blank, blank, None, workers=1, batch_rows=10,
                       area_of=lambda r, a=region_area: a if r == 7 else None)
        assert (lone.parcel_no, lone.area_label_m2) == expect


def test_numbers_beyond_the_sheet_lose_their_stray_characters_and_nothing_else_changes():
    labels = [_label(k) for k in range(1, 301) if k != 130]
    odd = _label(7130, Token("7130", (92, 0, 140, 14), 0.4), Token("105.2", (100, 20, 150, 34)))
    twice = _label(25, Token("25", (200, 0, 224, 14), 0.5), Token("98.1", (196, 20, 236, 34)))
    labels += [odd, twice]
    blank = np.zeros((60, 300), bool)
    _check_numbers(labels, blank, blank, None, workers=1, batch_rows=10)
    assert odd.parcel_no == 130 and odd.confidence < 0.4
    assert twice.parcel_no == 25  # read twice, but no ink says otherwise
    assert [lab.parcel_no for lab in labels[:-2]] == [k for k in range(1, 301) if k != 130]


def test_an_area_read_without_its_point_is_no_number():
    labels = [_label(k) for k in range(1, 301)]
    lone = _label(2956, Token("2956", (100, 20, 140, 34), 0.5))
    lone.region = 7
    labels.append(lone)
    blank = np.zeros((60, 300), bool)
    _check_numbers(labels, blank, blank, None, workers=1, batch_rows=10, area_of=lambda r: 295.0 if r == 7 else None)
    assert (lone.parcel_no, lone.area_label_m2) == (None, 295.6)
    # without the region's area to say so it stays what it was read as
    other = _label(2956, Token("2956", (100, 20, 140, 34), 0.5))
    _check_numbers([_label(k) for k in range(1, 301)] + [other], blank, blank, None, workers=1, batch_rows=10)
    assert (other.parcel_no, other.area_label_m2) == (2956, None)


@pytest.mark.parametrize("font", ["dejavu/DejaVuSerif.ttf", "liberation/LiberationSans-Regular.ttf"])
def test_a_number_read_twice_is_read_again_where_it_stands(font):
    # the first reading of 242 lost its first digit, and 42 is read elsewhere on the sheet
    f = ImageFont.truetype(FONTS + font, round(2.0 * 1.45 * PPMM))
    img = Image.new("L", (int(40 * PPMM), int(20 * PPMM)), 238)
    d = ImageDraw.Draw(img)
    x, y = img.width / 2, img.height / 2
    d.text((x, y - 3), "242", font=f, anchor="ms", fill=30)
    d.line([(x - f.getlength("192.4") / 2 - 3, y), (x + f.getlength("192.4") / 2 + 3, y)], fill=30, width=1)
    d.text((x, y + 4), "192.4", font=f, anchor="mt", fill=30)
    n0, n1 = d.textbbox((x, y - 3), "242", font=f, anchor="ms"), d.textbbox((x, y + 4), "192.4", font=f, anchor="mt")
    dark = darkness(np.asarray(img), px_per_mm=PPMM)
    lines, text = split_linework(ink_mask(dark), px_per_mm=PPMM)
    cut = n0[0] + (n0[2] - n0[0]) // 3
    lost = _label(42, Token("42", (cut, n0[1], n0[2], n0[3]), 0.2), Token("192.4", n1, 0.96), conf=0.2)
    labels = [_label(k) for k in range(1, 301) if k != 242] + [lost]
    _check_numbers(labels, text, lines, dark, workers=1, batch_rows=10)
    assert lost.parcel_no == 242
    assert labels[41].parcel_no == 42  # the sure reading stands


@pytest.mark.parametrize("font", ["dejavu/DejaVuSans.ttf", "liberation/LiberationSans-Regular.ttf"])
def test_a_number_whose_last_digit_a_neighbours_code_touches_is_read_again(font):
    # the neighbour's code runs into the 7 of 247: the first reading gave 24, read elsewhere too
    f = ImageFont.truetype(FONTS + font, round(2.2 * 1.45 * PPMM))
    img = Image.new("L", (int(40 * PPMM), int(20 * PPMM)), 238)
    d = ImageDraw.Draw(img)
    x, y = img.width / 2, img.height / 2
    d.text((x, y - 3), "247", font=f, anchor="ms", fill=30)
    n0 = d.textbbox((x, y - 3), "247", font=f, anchor="ms")
    d.text((n0[2] - 1, y - 3), "ONT", font=f, anchor="ls", fill=30)
    d.line([(x - f.getlength("85.6") / 2 - 3, y), (x + f.getlength("85.6") / 2 + 3, y)], fill=30, width=1)
    d.text((x, y + 4), "85.6", font=f, anchor="mt", fill=30)
    n1 = d.textbbox((x, y + 4), "85.6", font=f, anchor="mt")
    dark = darkness(np.asarray(img), px_per_mm=PPMM)
    lines, text = split_linework(ink_mask(dark), px_per_mm=PPMM)
    cut = n0[2] - (n0[2] - n0[0]) // 3
    lost = _label(24, Token("24", (n0[0], n0[1], cut, n0[3]), 0.2), Token("85.6", n1, 0.96), conf=0.2)
    labels = [_label(k) for k in range(1, 301) if k != 247] + [lost]
    _check_numbers(labels, text, lines, dark, workers=1, batch_rows=10)
    assert lost.parcel_no == 247


def _in_row(no: int | None, x: int, *, read: str | None = None, area: str = "120.5") -> Label:
    """A label whose number (``read`` as text, ``no`` as value) stands over its area at column ``x`` of one row."""
    number = None if no is None else Token(read or str(no), (x, 100, x + 30, 114), 0.9)
    a = Token(area, (x - 5, 120, x + 35, 134), 0.9)
    return Label(1, no, float(area), None, 0.9, tokens=[t for t in (number, a) if t is not None])


def test_a_number_with_digits_lost_takes_the_one_its_row_leaves_free():
    # 175 read as 75 (its 1 under a neighbour's code): 75 is read elsewhere, 175 is free between 174 and 176
    row = [_in_row(174, 100), _in_row(75, 200, read="75"), _in_row(176, 300), _in_row(75, 900)]
    far = [_in_row(k, 60 * (k % 10), area="99.9") for k in range(100, 200) if not 174 <= k <= 176]
    for lab in far:  # other rows, far above
        lab.tokens = [Token(t.text, (t.box[0], t.box[1] - 2000, t.box[2], t.box[3] - 2000), t.conf) for t in lab.tokens]
    labels = row + far
    _numbers_in_rows(labels)
    assert [lab.parcel_no for lab in row] == [174, 175, 176, 75]
    assert row[1].confidence < 0.9


def test_a_missing_number_is_the_one_its_row_leaves_free_and_only_then():
    one = [_in_row(40, 100), _in_row(None, 200), _in_row(42, 300)]
    _numbers_in_rows(one)
    assert one[1].parcel_no == 41 and one[1].tokens[0].text == "41"
    two = [_in_row(40, 100), _in_row(None, 200), _in_row(43, 300)]  # 41 and 42 both free: no guess
    _numbers_in_rows(two)
    assert two[1].parcel_no is None


def test_a_number_its_row_agrees_with_is_kept():
    labels = [_in_row(40, 100), _in_row(41, 200), _in_row(43, 300)]
    _numbers_in_rows(labels)
    assert [lab.parcel_no for lab in labels] == [40, 41, 43]
    # a reading that fits no free number in the row is kept too
    odd = [_in_row(40, 100), _in_row(97, 200), _in_row(43, 300)]
    _numbers_in_rows(odd)
    assert odd[1].parcel_no == 97


def test_how_a_reading_fits_a_number():
    assert _fits_reading("175", 175) == 0
    assert _fits_reading("75", 175) == 1 and _fits_reading("5", 175) == 1 and _fits_reading("1O", 107) == 1
    assert _fits_reading("15", 175) == 2 and _fits_reading("176", 175) == 2 and _fits_reading("T93", 193) == 2
    assert _fits_reading("3", 175) is None and _fits_reading("", 175) is None and _fits_reading("1", 1175) is None


def test_a_reading_that_cannot_stand_takes_the_only_number_its_row_leaves_free():
    # 611 read as 24 (a neighbour's code over its 6 and 1), 24 read elsewhere too: 611 is the only one free
    labels = [_in_row(610, 100), _in_row(24, 200, read=",24"), _in_row(612, 300), _in_row(24, 900)]
    for k in range(500, 650):
        if not 610 <= k <= 612:
            labels.append(_in_row(k, 50 * (k % 20), area="99.9"))
            labels[-1].tokens = [Token(t.text, (t.box[0], t.box[1] + 3000, t.box[2], t.box[3] + 3000), t.conf)
                                 for t in labels[-1].tokens]
    _numbers_in_rows(labels)
    assert [lab.parcel_no for lab in labels[:4]] == [610, 611, 612, 24]


def test_a_code_learnt_on_the_sheet_is_found_over_a_number_and_taken_out():
    """ONT drawn eight times alone teaches the sheet's ONT; one more, printed over a small 126, is found there."""
    f = ImageFont.truetype(FONTS + "dejavu/DejaVuSerif.ttf", round(2.4 * 1.45 * PPMM))
    small = ImageFont.truetype(FONTS + "dejavu/DejaVuSerif.ttf", round(1.6 * 1.45 * PPMM))
    img = Image.new("L", (int(120 * PPMM), int(30 * PPMM)), 238)
    d = ImageDraw.Draw(img)
    words = []
    for k in range(8):
        at = (int((8 + 13 * k) * PPMM), int(8 * PPMM))
        d.text(at, "ONT", font=f, anchor="ls", fill=30)
        words.append(Token("ONT", d.textbbox(at, "ONT", font=f, anchor="ls"), 0.95))
    num_at = (int(60 * PPMM), int(22 * PPMM))
    d.text(num_at, "126", font=small, anchor="ls", fill=30)
    number = d.textbbox(num_at, "126", font=small, anchor="ls")
    over = d.textbbox((number[0] - 3 * (number[2] - number[0]) // 4, num_at[1]), "ONT", font=f, anchor="ls")
    d.text((over[0], num_at[1]), "ONT", font=f, anchor="ls", fill=30)
    alone_at = (int(100 * PPMM), int(22 * PPMM))
    d.text(alone_at, "127", font=small, anchor="ls", fill=30)
    alone = d.textbbox(alone_at, "127", font=small, anchor="ls")
    dark = 255 - np.asarray(img).astype(np.uint8)
    templates, heights = _code_templates(words, dark), _code_heights(words)
    assert set(templates) == {"ONT"} and heights
    hits = _codes_in(number, templates, heights, dark)
    assert len(hits) == 1
    (hx0, hy0, hx1, hy1), _ = hits[0]
    assert abs(hx0 - over[0]) <= 3 and abs(hx1 - over[2]) <= 3
    assert _codes_in(alone, templates, heights, dark) == []
    # taken out: little of the code's ink is left in the number's box, beyond the number's own ink
    x0, y0, x1, y1 = number
    ink = dark[y0:y1, x0:x1] > 100
    left = _without_codes((number, ink), hits)
    assert left is not None
    (lx0, ly0, lx1, ly1), rest = left
    assert rest.sum() < 0.8 * ink.sum()
    assert _without_codes((number, ink), [((x0, y0, x1, y1), np.ones((y1 - y0, x1 - x0), bool))]) is None


def _fraction_sheet(numbers: list[int], font: str) -> tuple[np.ndarray, list[Label]]:
    """Labels (number over area) drawn in a grid, black on white: the darkness image and the labels read."""
    f = ImageFont.truetype(FONTS + font, round(2.0 * 1.45 * PPMM))
    img = Image.new("L", (int(20 * PPMM) * 10, int(14 * PPMM) * (len(numbers) // 10 + 1)), 238)
    d = ImageDraw.Draw(img)
    labels = []
    for k, no in enumerate(numbers):
        x, y = int((10 + 20 * (k % 10)) * PPMM), int((7 + 14 * (k // 10)) * PPMM)
        area = f"{100 + 7 * k % 300}.{k % 10}"
        d.text((x, y - 3), str(no), font=f, anchor="ms", fill=30)
        d.text((x, y + 4), area, font=f, anchor="mt", fill=30)
        n, a = d.textbbox((x, y - 3), str(no), font=f, anchor="ms"), d.textbbox((x, y + 4), area, font=f, anchor="mt")
        labels.append(Label(1, no, float(area), None, 0.9, tokens=[Token(str(no), n, 0.95), Token(area, a, 0.95)]))
    return 255 - np.asarray(img).astype(np.uint8), labels


@pytest.mark.parametrize("font", ["dejavu/DejaVuSerif.ttf", "liberation/LiberationSans-Regular.ttf"])
def test_the_sheets_digits_tell_which_number_stands_over_an_area(font):
    dark, labels = _fraction_sheet(list(range(101, 161)), font)
    digits = _digit_templates(labels, dark)
    assert digits is not None and set(digits[0]) == set("0123456789")
    judge = _NumberJudge(digits, dark, lambda box: [])
    right = 0
    for lab in labels[::6]:  # its number not read: the area only
        v = lab.parcel_no
        bare = Label(1, None, lab.area_label_m2, None, 0.5, tokens=[lab.tokens[1]])
        got = judge(bare, [v - 1, v, v + 1, v + 10])
        assert got in (v, None)
        right += got == v
    assert right >= 8
    # a place with no number drawn over it gives none
    empty = Label(1, None, 100.0, None, 0.5, tokens=[Token("100.0", (5, 5 + int(12 * PPMM), 40, 20 + int(12 * PPMM)))])
    assert judge(empty, [101, 102]) is None


def _named_with_paper_over(*, top: float, left: float) -> list[tuple[int | None, int]]:
    """Every fifth label of a sheet, paper over the top ``top`` of its number from ``left`` of its
    width on (the digits learnt from the sheet as drawn): what the judge names over its area of
    the number and two differing from it in the last digit, and the number."""
    dark, labels = _fraction_sheet(list(range(101, 161)), "dejavu/DejaVuSerif.ttf")
    digits = _digit_templates(labels, dark)
    hidden = labels[2::5]
    for lab in hidden:
        x0, y0, x1, y1 = lab.tokens[0].box
        dark[y0:int(y0 + top * (y1 - y0)), int(x0 + left * (x1 - x0)):x1 + 1] = 0
    judge = _NumberJudge(digits, dark, lambda box: [])
    out = []
    for lab in hidden:
        v = lab.parcel_no
        bare = Label(1, None, lab.area_label_m2, None, 0.5, tokens=[lab.tokens[1]])
        out.append((judge(bare, sorted({v, v // 10 * 10 + (v + 3) % 10, v // 10 * 10 + (v + 6) % 10})), v))
    return out


def test_a_number_whose_last_digit_is_mostly_hidden_is_named_by_what_shows_of_it():
    """Paper over the top 72 % of the last digit (a neighbour's code, a boundary): the digits the
    row leaves free differ there only, and the right one explains the ink left by little."""
    for named, v in _named_with_paper_over(top=0.72, left=2 / 3):
        assert named == v


def test_a_number_whose_tops_are_hidden_is_named_by_what_shows_of_its_digits():
    """Paper over the top 30 % of each digit: the number explains under half its ink, and is
    still the one that explains the most."""
    for named, v in _named_with_paper_over(top=0.3, left=0.0):
        assert named == v


def test_a_number_read_with_no_area_under_it_is_judged_where_it_was_read():
    """A number read with a stray character and no area under it (a neighbour's code took the
    area's row): the digits weighed are drawn where the number was read; a digit read alone
    gives no place to weigh them."""
    dark, labels = _fraction_sheet(list(range(101, 161)), "dejavu/DejaVuSerif.ttf")
    judge = _NumberJudge(_digit_templates(labels, dark), dark, lambda box: [])
    for lab in labels[4::9]:
        v, n = lab.parcel_no, lab.tokens[0]
        lone = Label(1, int(f"1{v}"), None, None, 0.5, tokens=[Token(f"1{v}", n.box, 0.5)])
        assert judge(lone, [v - 2, v, v + 3, int(f"1{v}")]) == v
        digit = Label(1, v % 10, None, None, 0.5, tokens=[Token(str(v % 10), n.box, 0.5)])
        assert judge(digit, [v - 2, v, v + 3]) is None


def test_at_the_end_of_a_row_only_the_look_of_the_digits_gives_a_missing_number():
    dark, labels = _fraction_sheet(list(range(101, 161)), "dejavu/DejaVuSerif.ttf")
    judge = _NumberJudge(_digit_templates(labels, dark), dark, lambda box: [])
    end = labels[9]  # 110, last of its row: 109 on its left, nothing on its right
    end.parcel_no, end.tokens = None, end.tokens[1:]
    _numbers_in_rows(labels)
    assert end.parcel_no is None  # the row alone does not bound it
    _numbers_in_rows(labels, judge=judge)
    assert end.parcel_no == 110 and end.tokens[0].text == "110"


def test_between_neighbours_out_of_order_the_digits_pick_among_the_numbers_after_the_left_one():
    dark, labels = _fraction_sheet(list(range(101, 161)), "dejavu/DejaVuSerif.ttf")
    judge = _NumberJudge(_digit_templates(labels, dark), dark, lambda box: [])
    lost, right = labels[4], labels[5]  # 105 not read; 106 on its right misread as 61
    lost.parcel_no, lost.tokens = None, lost.tokens[1:]
    right.parcel_no, right.tokens[0] = 61, Token("61", right.tokens[0].box, 0.5)
    _numbers_in_rows(labels, judge=judge)
    assert lost.parcel_no == 105


def test_a_number_read_as_the_area_under_a_stray_digit_is_the_number():
    dark, labels = _fraction_sheet(list(range(101, 161)), "dejavu/DejaVuSerif.ttf")
    lab = labels[14]  # 115 under a stray "7" (a neighbour's stroke), read as the fraction 7 / 115
    n = lab.tokens[0]
    lab.parcel_no, lab.area_label_m2 = 7, 115.0
    lab.tokens = [Token("7", (n.box[0], n.box[1] - 20, n.box[0] + 6, n.box[1] - 6), 0.9), Token("115", n.box, 0.9)]
    _numbers_in_rows(labels)
    assert lab.parcel_no == 115 and lab.area_label_m2 is None and [t.text for t in lab.tokens] == ["115"]


def test_a_label_nothing_was_read_from_is_found_by_its_bar_and_numbered_by_its_digits():
    """A row of fractions, bars drawn; one of them read not at all: its bar and the ink under it
    make a label, and the sheet's digits give it the number its row leaves free."""
    f = ImageFont.truetype(FONTS + "dejavu/DejaVuSerif.ttf", round(2.0 * 1.45 * PPMM))
    numbers = list(range(101, 161))
    img = Image.new("L", (int(20 * PPMM) * 10, int(14 * PPMM) * 7), 238)
    d = ImageDraw.Draw(img)
    regions = np.zeros((img.height, img.width), np.int32)
    labels = []
    for k, no in enumerate(numbers):
        x, y = int((10 + 20 * (k % 10)) * PPMM), int((7 + 14 * (k // 10)) * PPMM)
        area = f"{100 + 7 * k % 300}.{k % 10}"
        d.text((x, y - 3), str(no), font=f, anchor="ms", fill=30)
        half = f.getlength(area) / 2 + 3
        d.line([(x - half, y), (x + half, y)], fill=30, width=2)
        d.text((x, y + 4), area, font=f, anchor="mt", fill=30)
        n, a = d.textbbox((x, y - 3), str(no), font=f, anchor="ms"), d.textbbox((x, y + 4), area, font=f, anchor="mt")
        regions[y - int(6 * PPMM):y + int(6 * PPMM), x - int(9 * PPMM):x + int(9 * PPMM)] = k + 1
        labels.append(Label(k + 1, no, float(area), None, 0.9, tokens=[Token(str(no), n, 0.95), Token(area, a, 0.95)]))
    dark = 255 - np.asarray(img).astype(np.uint8)
    ink = dark > 100
    text = _without_bars(ink, 2.0 * 1.45 * PPMM * 0.7)
    lost = labels.pop(24)  # 125, in the middle of its row
    found = _unread_labels(ink & ~text, text, regions, {lab.region for lab in labels})
    assert set(found) == {lost.region}
    blind = found[lost.region]
    assert blind.parcel_no is None and abs(blind.tokens[0].box[1] - lost.tokens[1].box[1]) <= 3
    judge = _NumberJudge(_digit_templates(labels, dark), dark, lambda box: [])
    _numbers_in_rows(labels + [blind], judge=judge, blind=frozenset({len(labels)}))
    assert blind.parcel_no == 125
    # without the judge a label read blind gets no number, though its row leaves one free
    again = _unread_labels(ink & ~text, text, regions, {lab.region for lab in labels})[lost.region]
    _numbers_in_rows(labels + [again], blind=frozenset({len(labels)}))
    assert again.parcel_no is None


def test_a_label_with_no_bar_nothing_was_read_from_is_found_by_its_ink_and_numbered_by_its_digits():
    """A fraction whose bar the line-work took and whose words no row read: the text ink of its
    region, read blind, takes the number its row leaves free from the sheet's digits."""
    dark, labels = _fraction_sheet(list(range(101, 161)), "dejavu/DejaVuSerif.ttf")
    regions = np.zeros(dark.shape, np.int32)
    for k, lab in enumerate(labels):
        x, y = int((10 + 20 * (k % 10)) * PPMM), int((7 + 14 * (k // 10)) * PPMM)
        regions[y - int(6 * PPMM):y + int(6 * PPMM), x - int(9 * PPMM):x + int(9 * PPMM)] = k + 1
        lab.region = k + 1
    regions[-int(5 * PPMM):, :int(20 * PPMM)] = len(labels) + 1  # a region with no ink
    text = dark > 100
    char_h = 2.0 * 1.45 * PPMM * 0.7
    lost = labels.pop(24)  # 125, in the middle of its row
    have = {lab.region for lab in labels}
    found = _inked_regions(text, regions, have, char_h)
    assert set(found) == {lost.region}
    ink = found[lost.region]
    assert ink.parcel_no is None and abs(ink.tokens[0].box[3] - lost.tokens[1].box[3]) <= 3  # the area's row
    judge = _NumberJudge(_digit_templates(labels, dark), dark, lambda box: [])
    _numbers_in_rows(labels + [ink], judge=judge, blind=frozenset({len(labels)}))
    assert ink.parcel_no == 125
    # a region too large for a label to overrun it is not looked at
    assert _inked_regions(text, regions, have, char_h, most=5.0) == {}


def test_a_small_label_read_blind_gives_its_own_area_row():
    """A small parcel's label is drawn smaller than the sheet's characters: read blind from its
    region's ink, its area is the row under its own bar (or under its last blank row when the
    bar is gone), not a sheet's character height up from its foot, and the digits number it."""
    dark, labels = _fraction_sheet(list(range(101, 161)), "dejavu/DejaVuSerif.ttf")
    img = Image.fromarray(255 - dark)
    d = ImageDraw.Draw(img)
    small = ImageFont.truetype(FONTS + "dejavu/DejaVuSerif.ttf", round(0.6 * 2.0 * 1.45 * PPMM))
    regions = np.zeros(dark.shape, np.int32)
    areas = {}
    for k, lab in enumerate(labels):
        x, y = int((10 + 20 * (k % 10)) * PPMM), int((7 + 14 * (k // 10)) * PPMM)
        regions[y - int(6 * PPMM):y + int(6 * PPMM), x - int(9 * PPMM):x + int(9 * PPMM)] = k + 1
        lab.region = k + 1
        if k in (24, 36):  # 125 with its bar, 137 with none: drawn small
            d.rectangle([x - int(9 * PPMM), y - int(6 * PPMM), x + int(9 * PPMM), y + int(6 * PPMM)], fill=238)
            area, gap = lab.tokens[1].text, 0 if k == 24 else 3  # the bar touching the digits: no blank row
            d.text((x, y - gap), str(lab.parcel_no), font=small, anchor="ms", fill=30)
            if k == 24:
                half = small.getlength(area) / 2 + 2
                d.line([(x - half, y), (x + half, y)], fill=30, width=2)
            d.text((x, y + gap), area, font=small, anchor="mt", fill=30)
            areas[k + 1] = d.textbbox((x, y + gap), area, font=small, anchor="mt")
    dark = 255 - np.asarray(img).astype(np.uint8)
    text = dark > 100
    char_h = 2.0 * 1.45 * PPMM * 0.7
    lost = [labels.pop(36), labels.pop(24)]
    found = _inked_regions(text, regions, {lab.region for lab in labels}, char_h)
    assert set(found) == set(areas)
    judge = _NumberJudge(_digit_templates(labels, dark), dark, lambda box: [])
    for lab in lost:
        ink = found[lab.region]
        top, foot = areas[lab.region][1], areas[lab.region][3]
        assert abs(ink.tokens[0].box[1] - top) <= 2 and abs(ink.tokens[0].box[3] - foot) <= 2
        _numbers_in_rows(labels + [ink], judge=judge, blind=frozenset({len(labels)}))
        assert ink.parcel_no == lab.parcel_no


def _along_the_tops(dark: np.ndarray, labels: list[Label]) -> tuple[np.ndarray, np.ndarray]:
    """A boundary drawn along the top of each label's number, touching it, and the line-work's
    mask as a scan gives it: the line and the top third of the digits."""
    dark, lines = dark.copy(), np.zeros(dark.shape, bool)
    for lab in labels:
        x0, y0, x1, y1 = lab.tokens[0].box
        dark[y0 - 4:y0, x0 - 60:x1 + 60] = 225
        lines[y0 - 5:y0 + (y1 - y0) // 3, x0 - 60:x1 + 60] = True
    return dark, lines & (dark > 100)


def test_a_number_whose_tops_the_line_work_took_is_read_over_its_area():
    dark, labels = _fraction_sheet(list(range(101, 161)), "dejavu/DejaVuSerif.ttf")
    lost = labels[3::7]
    dark, lines = _along_the_tops(dark, lost)
    text = (dark > 100) & ~lines
    blind = [Label(1, None, None, None, 0.2, tokens=[lab.tokens[1]]) for lab in lost]  # the ink under the bar
    got = _read_over(blind, text, lines, dark, workers=2, batch_rows=4)
    assert [got.get(i) for i in range(len(lost))] == [[str(lab.parcel_no)] for lab in lost]
    # from what the line-work left of the digits alone, most are misread
    alone = _read_over(blind, text, None, dark, workers=2, batch_rows=4)
    assert sum(alone.get(i) == [str(lab.parcel_no)] for i, lab in enumerate(lost)) < len(lost) // 2


def test_the_ink_the_line_work_took_speaks_for_no_number():
    dark, labels = _fraction_sheet(list(range(101, 161)), "dejavu/DejaVuSerif.ttf")
    digits = _digit_templates(labels, dark)
    crossed, lines = _along_the_tops(dark, labels[3::7])
    for lab in labels[3::7]:
        bare = Label(1, None, lab.area_label_m2, None, 0.5, tokens=[lab.tokens[1]])
        v = lab.parcel_no
        cands = sorted({v, v // 10 * 10 + 7, v // 10 * 10 + 5})
        with_line = _NumberJudge(digits, crossed, lambda box: [], lines=lines).scores(bare, cands)
        without = _NumberJudge(digits, dark, lambda box: [], lines=lines).scores(bare, cands)
        assert with_line == pytest.approx(without)
        assert with_line[0][2] == v


def test_a_label_read_blind_takes_the_number_its_digits_read_whole():
    row = [_in_row(120, 100), _in_row(124, 400)]
    blind = _in_row(122, 250)
    blind.parcel_no, blind.tokens = None, [Token("", blind.tokens[1].box, 0.2)]
    labels = row + [_in_row(k, 60 * (k % 10), area="99.9") for k in range(1, 100)] + [blind]
    for lab in labels[2:-1]:
        lab.tokens = [Token(t.text, (t.box[0], t.box[1] - 2000, t.box[2], t.box[3] - 2000), t.conf) for t in lab.tokens]
    k = len(labels) - 1
    _numbers_in_rows(labels, {k: ["1Z2", "122"]}, judge=lambda lab, cands: None, blind=frozenset({k}))
    assert blind.parcel_no == 122
    # a reading that fits more than one number free in the row leaves it to the judge
    blind.parcel_no, blind.tokens = None, blind.tokens[1:]
    _numbers_in_rows(labels, {k: ["12"]}, judge=lambda lab, cands: None, blind=frozenset({k}))
    assert blind.parcel_no is None


def test_of_a_number_read_twice_the_reading_of_digits_alone_stands():
    # 477 read cleanly between 475 and 478, and read again elsewhere with letters taken for digits
    row = [_in_row(475, 100), _in_row(477, 200, read="477"), _in_row(478, 300), _in_row(477, 900, read="D4T7")]
    far = [_in_row(k, 60 * (k % 10), area="99.9") for k in range(400, 500) if not 475 <= k <= 478]
    for lab in far:
        lab.tokens = [Token(t.text, (t.box[0], t.box[1] - 2000, t.box[2], t.box[3] - 2000), t.conf) for t in lab.tokens]
    _numbers_in_rows(row + far)
    assert row[1].parcel_no == 477


def test_a_bar_a_turned_scan_slants_is_found_and_the_stroke_of_a_letter_is_not():
    """A thin bar 1.5 character heights long, dropping a pixel every 12 (a scan turned by about
    5 degrees): no row of it is long enough for :func:`_without_bars`, grown a pixel up and down
    it is a bar; the top of a T (0.8 character heights) is not."""
    char_h = 18.0
    text = np.zeros((60, 120), bool)
    for x in range(10, 37):  # the bar, 27 px long and 2 thick
        y = 20 + (x - 10) // 12
        text[y:y + 2, x] = True
    text[20:26, 60:75] = True  # the top of a T, 15 px wide, and its stem
    text[20:38, 66:69] = True
    assert not (text & ~_without_bars(text, char_h)).any()
    found = _slanted_bars(text, char_h)
    assert found[:, 10:37].sum() >= 0.9 * text[:, 10:37].sum()
    assert not found[:, 50:].any()
