"""What every style shares: the attribute, the outline, the fill for unknown codes."""

from __future__ import annotations

from gis.landuse import LandUse

__all__ = ["ATTRIBUTE", "OTHER_FILL", "OTHER_LABEL", "OUTLINE", "OUTLINE_WIDTH_MM", "label"]

#: the parcel attribute that holds the land-use code
ATTRIBUTE = "land_use"
#: parcel outline colour and width (in millimetres on paper/screen at 96 dpi)
OUTLINE = "#6E5A46"
OUTLINE_WIDTH_MM = 0.26
#: fill of a parcel whose code is missing or not in the table
OTHER_FILL = "#D9D9D9"
OTHER_LABEL = "Khác / Other"


def label(use: LandUse) -> str:
    """A legend label naming the class in both languages: ``LUC - Vietnamese / English``."""
    return f"{use.code} - {use.name_vi} / {use.name_en}"

