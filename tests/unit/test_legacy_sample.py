"""The sample district's legacy drawings (sample_data/district): every parcel with its exact
number, area within 0.1 m² of the truth."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest

from digitize.legacy import ANNEX18, assemble, import_elements
from digitize.legacy_read import read_drawing
from gis.crs import resolve_crs
from tests.conftest import SAMPLE

CRS = resolve_crs("vn2000:bac-giang")


def run(kind: str, sheets: list[str]):
    results, truths = [], []
    for s in sheets:
        d = read_drawing(SAMPLE / "sheets" / s / f"sheet.{kind}")
        results.append(import_elements(d.elements.set_crs(CRS, allow_override=True), levels=ANNEX18, crs=CRS))
        truths.append(gpd.read_file(SAMPLE / "sheets" / s / "truth.gpkg"))
    parcels, findings = assemble(results)
    truth = pd.concat(truths, ignore_index=True)
    m = truth.merge(parcels, on=["sheet_no", "parcel_no"], how="left", suffixes=("_t", ""))
    return parcels, findings, truth, m


def test_two_adjacent_dgn_sheets_joined_at_their_edge():
    parcels, findings, truth, m = run("dgn", ["361561-4-b", "361561-4-d"])
    assert m["area_m2"].notna().all(), "missing: " + str(m.loc[m["area_m2"].isna(), "parcel_no"].tolist()[:20])
    assert len(parcels) == len(truth) and parcels["parcel_no"].notna().all()
    assert (m["area_m2"] - gpd.GeoSeries(m["geometry_t"]).area).abs().max() < 0.1
    assert (m["land_use"] == m["land_use_t"]).all()
    assert sum(f.code == "cut_by_sheet_edge" and f.severity == "repaired" for f in findings) > 10


@pytest.mark.parametrize("kind", ["dxf", "dgn"])
def test_sheet_with_arcs(kind):
    # 1:2000 sheet whose DXF draws the curved road edges as bulged polylines
    parcels, _, truth, m = run(kind, ["361561-8"])
    assert m["area_m2"].notna().all() and len(parcels) == len(truth)
    whole = m["qa_flags"] == ""  # parcels cut by the sheet edge are only whole with the next sheet
    assert whole.sum() > 0.8 * len(m)
    assert (m.loc[whole, "area_m2"] - gpd.GeoSeries(m.loc[whole, "geometry_t"]).area).abs().max() < 0.1
