"""Triage of a digitized parcel layer before it enters the register.

A register identifies a parcel by (commune, sheet, number), so a parcel whose number
was not read, or was read the same as another's on its sheet, cannot be registered
until a person decides which is which.  :func:`hold_ambiguous` splits a layer into the
parcels that can be loaded and those held back for a human, with the reason.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

__all__ = ["hold_ambiguous"]


def hold_ambiguous(parcels: gpd.GeoDataFrame, *, number_col: str = "parcel_no",
                   sheet_col: str = "sheet_no") -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Split ``parcels`` into (loadable, held); ``held`` has a ``hold_reason`` column.

    >>> import shapely
    >>> df = gpd.GeoDataFrame({"parcel_no": [1, 2, 2, None], "sheet_no": ["s"] * 4},
    ...                       geometry=[shapely.box(i, 0, i + 1, 1) for i in range(4)])
    >>> ok, held = hold_ambiguous(df)
    >>> ok["parcel_no"].tolist(), held["hold_reason"].tolist()
    ([1.0], ['duplicate number', 'duplicate number', 'number not read'])
    """
    number = parcels[number_col]
    unread = number.isna()
    duplicate = ~unread & parcels.duplicated(subset=[sheet_col, number_col], keep=False)
    reason = pd.Series(None, index=parcels.index, dtype=object)
    reason[duplicate] = "duplicate number"
    reason[unread] = "number not read"
    held = parcels[reason.notna()].copy()
    held["hold_reason"] = reason[reason.notna()]
    return parcels[reason.isna()].copy(), held
