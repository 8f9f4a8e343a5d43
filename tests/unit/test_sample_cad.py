"""The committed DGN v7 and DXF drawings of the sample sheets."""

from __future__ import annotations

import json

import ezdxf
import numpy as np
import pyogrio
import pytest
import shapely

from gis.io import read_vector
from tests.conftest import SAMPLE

SHEETS = json.loads((SAMPLE / "district.json").read_text(encoding="utf-8"))["sheets"]
#: one sheet of each scale for the slower checks
FEW = [s for s in SHEETS if s["number"] in ("361561-4-d", "361561-8", "361561-5-(6)")]


@pytest.mark.parametrize("entry", SHEETS, ids=[s["number"] for s in SHEETS])
def test_dgn_levels_texts_and_millimetre_coordinates(entry):
    dgn = pyogrio.read_dataframe(SAMPLE / entry["dgn"])
    truth = read_vector(SAMPLE / entry["truth"], layer="parcels")
    assert {10, 11, 2, 4} <= set(dgn["Level"])
    assert set(dgn.loc[dgn["Type"] == 17, "Level"]) == {2, 4, 11}
    numbers = dgn.loc[dgn["Level"] == 11, "Text"].astype(int)
    assert sorted(numbers) == sorted(truth["parcel_no"])
    areas = dgn.loc[dgn["Level"] == 4, "Text"].astype(float)
    assert sorted(areas) == sorted(truth["area_m2"])
    lines = dgn[dgn["Level"] == 10]
    assert set(lines["Type"]) <= {3, 4, 12}
    xy = shapely.get_coordinates(lines.geometry.values)
    assert np.abs(xy * 1000 - np.round(xy * 1000)).max() < 1e-4  # whole millimetres, none lost to overflow
    e0, n0, e1, n1 = entry_extent(entry)
    assert xy[:, 0].min() >= e0 - 0.1 and xy[:, 0].max() <= e1 + 0.1
    assert xy[:, 1].min() >= n0 - 0.1 and xy[:, 1].max() <= n1 + 0.1


@pytest.mark.parametrize("entry", FEW, ids=[s["number"] for s in FEW])
def test_dgn_linework_draws_every_truth_boundary(entry):
    """To the cm, but for the few ends drawn short."""
    dgn = pyogrio.read_dataframe(SAMPLE / entry["dgn"])
    truth = read_vector(SAMPLE / entry["truth"], layer="parcels")
    work = shapely.union_all(dgn.loc[dgn["Level"] == 10].geometry.values).buffer(0.01)
    edges = shapely.union_all(shapely.boundary(truth.geometry.values)).intersection(
        shapely.box(*entry_extent(entry)))
    assert edges.difference(work).length / edges.length < 0.002


def entry_extent(entry: dict) -> tuple[float, float, float, float]:
    info = json.loads((SAMPLE / entry["sheet_json"]).read_text(encoding="utf-8"))
    return tuple(info["extent"])


@pytest.mark.parametrize("entry", FEW, ids=[s["number"] for s in FEW])
def test_dxf_layers_texts_and_code_page(entry):
    doc = ezdxf.readfile(SAMPLE / entry["dxf"])
    assert doc.header["$DWGCODEPAGE"] == "ANSI_1258"
    msp = doc.modelspace()
    truth = read_vector(SAMPLE / entry["truth"], layer="parcels")
    numbers = [int(t.dxf.text) for t in msp.query('TEXT[layer=="11"]')]
    assert sorted(numbers) == sorted(truth["parcel_no"])
    codes = {t.dxf.text for t in msp.query('TEXT[layer=="2"]')}
    assert codes == set(truth["land_use"])
    assert len(msp.query('LWPOLYLINE[layer=="10"]')) + len(msp.query('LINE[layer=="10"]')) > 50


def test_some_dxf_boundaries_are_true_arcs():
    entry = next(s for s in SHEETS if s["number"] == "361561-8")
    msp = ezdxf.readfile(SAMPLE / entry["dxf"]).modelspace()
    bulged = [p for p in msp.query('LWPOLYLINE[layer=="10"]') if any(b for *_, b in p.get_points("xyseb"))]
    assert bulged
    info = json.loads((SAMPLE / entry["sheet_json"]).read_text(encoding="utf-8"))
    assert info["dxf"]["arc_polylines"] == len(bulged)


def test_drafting_flaws_are_present_and_counted():
    info = json.loads((SAMPLE / SHEETS[0]["sheet_json"]).read_text(encoding="utf-8"))
    dgn = info["dgn"]
    assert dgn["runs"] > 0 and dgn["single_lines"] > 0 and dgn["doubled"] > 0
    assert dgn["short_ends"] > 0 and dgn["overshoots"] > 0
