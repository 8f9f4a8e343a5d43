"""The one land-use table (Circular 25/2014, Annex 01, item 13) with its map colours.

Colours follow a public planning-map palette and are *unverified* as official: change
them in ``gis/data/land_use.csv`` and every style (SLD, QML, MapLibre) follows.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

__all__ = ["LandUse", "land_uses", "land_use", "is_land_use_code"]


@dataclass(frozen=True)
class LandUse:
    """One land-use class: code, group, Vietnamese and English names, fill colour."""

    code: str
    group: str
    name_vi: str
    name_en: str
    color: str


@lru_cache(maxsize=1)
def land_uses() -> tuple[LandUse, ...]:
    """All land-use classes, in the Annex's order."""
    text = resources.files("gis.data").joinpath("land_use.csv").read_text(encoding="utf-8")
    return tuple(LandUse(**row) for row in csv.DictReader(text.splitlines()))


def land_use(code: str) -> LandUse | None:
    """The class of a code (case-insensitive), or None."""
    wanted = code.strip().upper()
    return next((u for u in land_uses() if u.code == wanted), None)


def is_land_use_code(code: str) -> bool:
    """Whether ``code`` is in the land-use table."""
    return land_use(code) is not None
