"""Sheet numbering of Circular 25/2014, Art. 5."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.errors import InputError
from gis.sheets import SCALES, parse_sheet, sheet_at, sheets_covering

HINT = 2_360_000.0


def test_sizes_on_the_ground():
    assert SCALES == {10000: 6000.0, 5000: 3000.0, 2000: 1000.0, 1000: 500.0, 500: 250.0, 200: 100.0}


def test_worked_example_each_scale():
    # The 1:5000 sheet whose top-left corner is X = 2361 km, Y = 561 km.
    assert parse_sheet("361561", northing_hint=HINT).extent == (561000, 2358000, 564000, 2361000)
    # 1:2000 sheets count 1..9 left to right, top to bottom: 5 is the centre.
    assert parse_sheet("361561-5", northing_hint=HINT).extent == (562000, 2359000, 563000, 2360000)
    # 1:1000: a b / c d of the 1:2000 sheet.
    assert parse_sheet("361561-5-c", northing_hint=HINT).extent == (562000, 2359000, 562500, 2359500)
    # 1:500: (1)..(16), four a row.
    assert parse_sheet("361561-5-(6)", northing_hint=HINT).extent == (562250, 2359500, 562500, 2359750)
    # 1:200: 1..100, ten a row.
    assert parse_sheet("361561-5-100", northing_hint=HINT).extent == (562900, 2359000, 563000, 2359100)
    # 1:10000: "10-" + X km + Y km of the top-left corner.
    assert parse_sheet("10-364558", northing_hint=HINT).extent == (558000, 2358000, 564000, 2364000)


def test_thousands_of_km_come_from_the_hint():
    south = parse_sheet("361561", northing_hint=1_300_000)
    assert south.extent[3] == 1_361_000
    with pytest.raises(InputError) as err:
        parse_sheet("361561")
    assert "province" in err.value.hint


@pytest.mark.parametrize("bad", ["", "36156", "361561-0", "361561-5-e", "361561-5-(17)",
                                 "361561-5-101", "10-364558-1", "abc"])
def test_malformed_numbers_are_refused(bad):
    with pytest.raises(InputError):
        parse_sheet(bad, northing_hint=HINT)


@settings(max_examples=300, deadline=None)
@given(e=st.floats(400_000, 700_000), n=st.floats(1_000_000, 2_600_000),
       scale=st.sampled_from(sorted(SCALES)))
def test_sheet_at_and_parse_agree(e, n, scale):
    s = sheet_at(e, n, scale)
    min_e, min_n, max_e, max_n = s.extent
    assert min_e <= e <= max_e and min_n <= n <= max_n
    assert max_e - min_e == SCALES[scale] == max_n - min_n
    assert parse_sheet(s.number, northing_hint=n) == s


def test_sheets_covering_tiles_a_box_exactly():
    sheets = sheets_covering((561000, 2358000, 563000, 2360000), 1000)
    assert len(sheets) == 16
    assert len({s.number for s in sheets}) == 16
    assert sum((s.extent[2] - s.extent[0]) * (s.extent[3] - s.extent[1]) for s in sheets) == 4_000_000
