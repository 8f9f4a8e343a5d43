"""``digitize district`` makes a parcel cut by the edge between two scanned sheets whole again.

Two adjacent 1:500 sheets are drawn by the sample generator from known parcels, a row of
which runs across the shared edge (E 562500): each is labelled on the sheet holding its
larger part and drawn unlabelled on the other.  Digitized one by one, those parcels
are cut at the frame; the district joins them with their pieces.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from PIL import Image
from shapely.geometry import box

from digitize.district import DISTRICT_OUT, EDGE_PIECES, run_district
from gis.crs import resolve_crs
from gis.io import list_layers, read_vector
from gis.sheets import parse_sheet
from sample_data.render import render_sheet

CRS = "vn2000:bac-giang"
WEST, EAST = (parse_sheet(n, northing_hint=2.36e6) for n in ("361561-5-(6)", "361561-5-(7)"))
EDGE = WEST.extent[2]  # 562500


def _parcels() -> gpd.GeoDataFrame:
    """Blocks 25 m x 31.25 m over both sheets, their columns offset so one column straddles the edge."""
    xs = [WEST.extent[0], *np.arange(WEST.extent[0] + 12.0, EAST.extent[2], 25.0), EAST.extent[2]]
    ys = np.linspace(WEST.extent[1], WEST.extent[3], 9)
    rows = []
    for j in range(8):
        for i in range(len(xs) - 1):
            g = box(xs[i], ys[j], xs[i + 1], ys[j + 1])
            west = g.intersection(box(*WEST.extent)).area
            rows.append({"sheet_no": (WEST if west >= g.area / 2 else EAST).number, "land_use": "ONT",
                         "area_m2": round(g.area, 1), "geometry": g})
    df = gpd.GeoDataFrame(rows, crs=resolve_crs(CRS))
    df["parcel_no"] = df.groupby("sheet_no").cumcount() + 1
    return df


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    root = tmp_path_factory.mktemp("district")
    parcels = _parcels()
    for k, sheet in enumerate((WEST, EAST)):
        d = root / "sheets" / sheet.number.replace("(", "").replace(")", "")
        d.mkdir(parents=True)
        image, gcps, _ = render_sheet(parcels, sheet, dpi=200, seed=7 + k)
        Image.fromarray(image).save(d / "scan.png")
        gcps.to_csv(d / "gcps.csv", index=False)
        (d / "sheet.json").write_text(json.dumps({"number": sheet.number, "scale": 500, "commune_code": "29901"}))
        parcels[parcels["sheet_no"] == sheet.number].to_file(d / "truth.gpkg", layer="parcels")
    result = run_district(root, root / "out", crs=CRS, workers=2, truth=True)
    return root, parcels, result


def test_the_parcels_across_the_edge_come_out_whole(district):
    root, parcels, result = district
    assert result["failed"] == 0 and result["done"] == 2
    whole = read_vector(root / "out" / DISTRICT_OUT, layer="parcels")
    across = parcels[parcels.geometry.intersects(shapely.LineString([(EDGE, 0), (EDGE, 3e6)]))]
    assert len(across) == 8
    assert EDGE_PIECES in list_layers(root / "out" / "361561-5-7.gpkg")  # the pieces of the west's parcels
    for _, p in across.iterrows():
        got = whole[(whole["sheet_no"] == p["sheet_no"]) & (whole["parcel_no"] == p["parcel_no"])]
        assert len(got) == 1, f"parcel {p['parcel_no']} of {p['sheet_no']}"
        g = got.geometry.iloc[0]
        assert g.geom_type == "Polygon" and g.area == pytest.approx(p.geometry.area, rel=0.02)
        assert shapely.hausdorff_distance(g.boundary, p.geometry.boundary) < 0.25
        assert "cut_by_sheet_edge" not in got["qa_flags"].iloc[0]
    assert result["district"]["joined_across_edges"] == 8
    # along the outer frames every parcel is whole (its label's area): none is left to edge-match
    assert result["district"]["still_cut"] == 0
    with Image.open(result["district"]["picture"]) as pic:
        assert pic.format == "PNG" and pic.width >= 1000
    assert set(whole["commune_code"]) == {"29901"}
    # and no piece is left over as a parcel of its own: every parcel on either sheet once
    assert len(whole) == len(parcels)


def test_the_scores_of_whole_parcels_beat_those_of_each_sheet_alone(district):
    _, _, result = district
    scores = {r["sheet_no"]: (r["scores"], r["scores_joined"]) for r in result["sheets"]}
    alone, joined = scores[WEST.number]  # holds the labels of the parcels across the edge
    assert joined["hausdorff_p95_m"] < alone["hausdorff_p95_m"] and joined["pq"] >= alone["pq"]
    assert joined["hausdorff_p95_m"] < 0.25
    alone, joined = scores[EAST.number]  # gave its pieces away, its own parcels unchanged
    assert joined == alone
