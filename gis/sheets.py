"""Map-sheet numbering of Circular 25/2014/TT-BTNMT, Art. 5.

Vietnamese surveying calls the northing X and the easting Y; this module keeps GIS
order everywhere it returns coordinates: ``(easting, northing)``, extents as
``(min_e, min_n, max_e, max_n)`` in metres of the sheet's VN-2000 TM-3 zone.

=========  ==================  ==========================================
scale      sheet on the ground number
=========  ==================  ==========================================
1:10000    6 x 6 km            ``10-`` + X km (3 digits) + Y km (3 digits)
1:5000     3 x 3 km            X km (3 digits) + Y km (3 digits)
1:2000     1 x 1 km            1:5000 number + ``-1`` .. ``-9``
1:1000     0.5 x 0.5 km        1:2000 number + ``-a`` .. ``-d``
1:500      0.25 x 0.25 km      1:2000 number + ``-(1)`` .. ``-(16)``
1:200      0.1 x 0.1 km        1:2000 number + ``-1`` .. ``-100``
=========  ==================  ==========================================

X and Y are the top-left corner of the sheet, in whole kilometres; sub-sheets are
counted left to right, then top to bottom.  The 1:10000 and 1:5000 sheets are taken
on a grid of their own size from the zone origin.  Three digits of X leave the
thousands of kilometres open (a northing of 1361 km and of 2361 km both write
``361``): pass ``northing_hint`` (any northing in the area, e.g. from the province's
latitude) to choose.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from gis.errors import InputError

__all__ = ["Sheet", "SCALES", "parse_sheet", "sheet_at", "sheets_covering"]

#: sheet side on the ground in metres, by scale denominator
SCALES: dict[int, float] = {10000: 6000.0, 5000: 3000.0, 2000: 1000.0, 1000: 500.0, 500: 250.0, 200: 100.0}
_SUBDIV = {1000: 2, 500: 4, 200: 10}  # pieces per side of the 1:2000 sheet

_RE = re.compile(
    r"^(?P<p10>10-)?(?P<x>\d{3})(?P<y>\d{3})"
    r"(?:-(?P<s2>[1-9])(?:-(?P<s1>[a-d])|-\((?P<s05>\d{1,2})\)|-(?P<s02>\d{1,3}))?)?$"
)


@dataclass(frozen=True)
class Sheet:
    """One map sheet: its number, scale and extent (min_e, min_n, max_e, max_n) in metres."""

    number: str
    scale: int
    extent: tuple[float, float, float, float]

    @property
    def size_m(self) -> float:
        """Side of the sheet on the ground, in metres."""
        return SCALES[self.scale]

    @property
    def top_left(self) -> tuple[float, float]:
        """(easting, northing) of the top-left corner."""
        return self.extent[0], self.extent[3]


def _thousands(x3: int, northing_hint: float | None) -> float:
    """Full northing in metres from the 3-digit kilometre value and a hint."""
    if northing_hint is None:
        raise InputError(
            "a 3-digit sheet number does not say which thousand kilometres of northing it is in",
            hint="give the province (or any northing in the area) so the sheet can be placed",
        )
    base = math.floor(northing_hint / 1_000_000) * 1000
    candidates = [(base + k) * 1000 + x3 * 1000 for k in (-1000, 0, 1000)]
    return min(candidates, key=lambda n: abs(n - northing_hint))


def parse_sheet(number: str, *, northing_hint: float | None = None) -> Sheet:
    """Read a sheet number and give the sheet's scale and extent.

    >>> s = parse_sheet("361561-4-b", northing_hint=2_360_000)
    >>> s.scale, s.extent
    (1000, (561500.0, 2359500.0, 562000.0, 2360000.0))
    """
    text = number.strip().replace(" ", "")
    m = _RE.match(text)
    if not m:
        raise InputError(
            f"{number!r} is not a sheet number of Circular 25/2014",
            hint="examples: 10-360558 (1:10000), 361560 (1:5000), 361560-5 (1:2000), "
            "361560-5-b (1:1000), 361560-5-(7) (1:500), 361560-5-42 (1:200)",
        )
    top = _thousands(int(m["x"]), northing_hint)
    left = int(m["y"]) * 1000.0
    if m["p10"]:
        if m["s2"]:
            raise InputError(f"{number!r}: a 1:10000 sheet has no sub-sheets")
        return _sheet(text, 10000, left, top)
    if not m["s2"]:
        return _sheet(text, 5000, left, top)
    i = int(m["s2"]) - 1
    left2, top2 = left + (i % 3) * 1000.0, top - (i // 3) * 1000.0
    if m["s1"]:
        scale, k = 1000, "abcd".index(m["s1"])
    elif m["s05"]:
        scale, k = 500, int(m["s05"]) - 1
    elif m["s02"]:
        scale, k = 200, int(m["s02"]) - 1
    else:
        return _sheet(text, 2000, left2, top2)
    n = _SUBDIV[scale]
    if not 0 <= k < n * n:
        raise InputError(f"{number!r}: a 1:{scale} sub-sheet is numbered 1 to {n * n}")
    size = SCALES[scale]
    return _sheet(text, scale, left2 + (k % n) * size, top2 - (k // n) * size)


def _sheet(number: str, scale: int, left: float, top: float) -> Sheet:
    size = SCALES[scale]
    return Sheet(number, scale, (left, top - size, left + size, top))


def sheet_at(easting: float, northing: float, scale: int) -> Sheet:
    """The sheet of a given scale that contains a point.

    >>> sheet_at(561700, 2359800, 1000).number
    '361561-4-b'
    """
    if scale not in SCALES:
        raise InputError(f"no sheet series at 1:{scale}", hint=f"scales are {sorted(SCALES)}")
    grid = 6000.0 if scale == 10000 else 3000.0
    left = math.floor(easting / grid) * grid
    top = math.ceil(northing / grid) * grid
    if top == northing and northing % grid == 0:
        top += grid
    x3, y3 = int(top / 1000) % 1000, int(left / 1000)
    if y3 > 999:
        raise InputError(f"easting {easting} is outside a TM-3 zone")
    base = f"{x3:03d}{y3:03d}"
    if scale == 10000:
        return _sheet("10-" + base, 10000, left, top)
    if scale == 5000:
        return _sheet(base, 5000, left, top)
    col2 = min(int((easting - left) // 1000), 2)
    row2 = min(int((top - northing) // 1000), 2)
    n2 = f"{base}-{row2 * 3 + col2 + 1}"
    left2, top2 = left + col2 * 1000.0, top - row2 * 1000.0
    if scale == 2000:
        return _sheet(n2, 2000, left2, top2)
    n, size = _SUBDIV[scale], SCALES[scale]
    col = min(int((easting - left2) // size), n - 1)
    row = min(int((top2 - northing) // size), n - 1)
    k = row * n + col
    suffix = "abcd"[k] if scale == 1000 else f"({k + 1})" if scale == 500 else str(k + 1)
    return _sheet(f"{n2}-{suffix}", scale, left2 + col * size, top2 - row * size)


def sheets_covering(bounds: tuple[float, float, float, float], scale: int) -> list[Sheet]:
    """All sheets of a scale that meet a box (min_e, min_n, max_e, max_n), top row first."""
    size = SCALES.get(scale)
    if size is None:
        raise InputError(f"no sheet series at 1:{scale}", hint=f"scales are {sorted(SCALES)}")
    min_e, min_n, max_e, max_n = bounds
    out = []
    n = math.ceil(max_n / size) * size - size / 2
    while n > min_n:
        e = math.floor(min_e / size) * size + size / 2
        while e < max_e:
            out.append(sheet_at(e, n, scale))
            e += size
        n -= size
    return out
