"""digitize.legacy: line-work and labels to parcels, on drawings made here."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
import shapely.affinity
from shapely.geometry import LineString, Point

from digitize.legacy import (
    ANNEX18,
    LevelMap,
    adjust_coordinates,
    assemble,
    boundary_lines,
    check_location,
    guess_sheet,
    import_elements,
    parse_levels,
    polygonize_linework,
    resolve_levels,
)
from digitize.legacy_read import read_drawing
from gis.crs import province, resolve_crs
from gis.errors import DigitizeError, FormatError, InputError
from tests.unit.test_legacy_support import SHEET, make_fabric, write_dgn, write_dxf

CRS = resolve_crs("vn2000:bac-giang")


def run(path, levels=ANNEX18, **kw):
    d = read_drawing(path)
    elements = d.elements.set_crs(CRS, allow_override=True)
    return assemble([import_elements(elements, levels=levels, crs=CRS, scale=1000, **kw)])


def compare(parcels, truth):
    """Every truth parcel found with its number; the worst area error."""
    m = truth.merge(parcels, on="parcel_no", how="left", suffixes=("_t", ""))
    assert m["area_m2"].notna().all(), "parcels missing: " + str(m.loc[m["area_m2"].isna(), "parcel_no"].tolist())
    assert len(parcels) == len(truth)
    return float((m["area_m2"] - m["area_m2_t"]).abs().max())


@pytest.mark.parametrize("writer", [write_dxf, write_dgn])
def test_every_parcel_with_its_number_and_area(tmp_path, writer):
    fab = make_fabric(5, 4, jitter=0.04, seed=3)
    path = writer(tmp_path / ("s.dxf" if writer is write_dxf else "s.dgn"), fab)
    parcels, _ = run(path)
    assert compare(parcels, fab.truth) < 0.1
    assert (parcels["qa_flags"] == "").all(), parcels["qa_flags"].tolist()
    assert set(parcels["land_use"]) <= {"LUC", "ONT", "CLN", "BHK", "NTS", "ODT"}
    m = fab.truth.merge(parcels, on="parcel_no", suffixes=("_t", ""))
    assert (m["area_label_m2"] - m["area_m2_t"]).abs().max() <= 0.05
    assert (m["land_use"] == m["land_use_t"]).all()
    assert list(parcels.columns) == ["parcel_no", "area_label_m2", "land_use", "area_m2", "sheet_no", "confidence",
                                     "qa_flags", "geometry"]


def test_snapping_tolerance_follows_the_scale(tmp_path):
    fab = make_fabric(3, 2, jitter=0.18, seed=5)
    elements = read_drawing(write_dxf(tmp_path / "s.dxf", fab)).elements
    lines = boundary_lines(elements, ANNEX18, scale=2000)
    polys, _ = polygonize_linework(lines, scale=2000)  # 20 cm: every miss up to 18 cm is closed
    assert len(polys) == 6
    polys, _ = polygonize_linework(lines, scale=500)  # 10 cm: some are not
    assert len(polys) < 6


def test_nothing_on_the_boundary_level_names_the_levels(tmp_path):
    fab = make_fabric(2, 1)
    path = write_dxf(tmp_path / "s.dxf", fab, layers={"boundary": "RANH", "number": "11", "land_use": "2",
                                                       "area": "4"})
    with pytest.raises(DigitizeError) as exc:
        run(path)
    assert "RANH" in exc.value.message and "--levels" in exc.value.hint


def test_levels_detected_from_layer_names_and_content(tmp_path):
    fab = make_fabric(3, 2)
    named = write_dxf(tmp_path / "n.dxf", fab, layers={"boundary": "RanhThua", "number": "SoThua",
                                                        "land_use": "LoaiDat", "area": "DienTich"})
    parcels, _ = run(named, levels=None)
    assert compare(parcels, fab.truth) < 0.1
    odd = write_dxf(tmp_path / "o.dxf", fab, layers={"boundary": "A", "number": "B", "land_use": "C", "area": "D"})
    assert resolve_levels(read_drawing(odd).elements, None) == LevelMap(("A",), ("B",), ("C",), ("D",))
    parcels, _ = run(odd, levels=parse_levels("boundary=A,number=B,landuse=C,area=D"))
    assert compare(parcels, fab.truth) < 0.1


def test_parse_levels():
    assert parse_levels("annex18") == ANNEX18 and parse_levels("auto") is None
    assert parse_levels("boundary=10+12,number=11").boundary == ("10", "12")
    with pytest.raises(InputError):
        parse_levels("boundary")
    with pytest.raises(InputError):
        parse_levels("walls=3")


def test_two_numbers_or_none_are_reported_not_guessed(tmp_path):
    fab = make_fabric(3, 1)
    labels = [lb for lb in fab.labels if not (lb[0] == "number" and lb[1] == "3")]  # parcel 3 loses its number
    c = fab.truth.geometry.iloc[0].centroid
    labels.append(("number", "77", Point(c.x - 2, c.y)))  # parcel 1 gets a second number
    path = write_dgn(tmp_path / "s.dgn", fab, texts=labels)
    parcels, findings = run(path)
    assert sorted(parcels["parcel_no"].dropna().tolist()) == [2]
    flags = dict(zip(parcels.geometry.centroid.x.round(), parcels["qa_flags"]))
    assert sorted(flags.values()) == ["", "multiple_labels", "unlabeled"]
    multi = [f for f in findings if f.code == "multiple_labels"]
    assert len(multi) == 1 and "1, 77" in multi[0].message


def test_arcs_are_restroked_within_the_arc_tolerance():
    # a quarter circle of radius 500 m, stroked by GDAL at 5° steps (DGN arc, type 16): chords 48 cm off
    t = np.radians(np.arange(0, 90.1, 5))
    coarse = LineString(np.column_stack([500 * np.cos(t), 500 * np.sin(t)]))
    elements = gpd.GeoDataFrame({"level": ["10", "10", "10"], "etype": ["16", "4", "4"], "text": [None] * 3,
                                 "attributes": [{}] * 3},
                                geometry=[coarse, LineString([(0, 500), (0, 0)]), LineString([(0, 0), (500, 0)])])
    lines = boundary_lines(elements, ANNEX18, scale=1000)
    arc = lines.iloc[0]
    assert len(arc.coords) > len(coarse.coords)
    xy = np.asarray(arc.coords)
    mids = (xy[1:] + xy[:-1]) / 2  # the chords' midpoints are their furthest points from the arc
    assert (500 - np.hypot(*mids.T)).max() <= 0.1 + 1e-9
    assert np.abs(np.hypot(*xy.T) - 500).max() < 1e-6  # the vertices are on the arc
    polys, _ = polygonize_linework(lines, scale=1000)
    assert abs(polys[0].area - np.pi * 500**2 / 4) < 0.1 * 785 * 2 / 3 + 1


def test_polygon_source_columns_are_mapped(tmp_path):
    fab = make_fabric(2, 2)
    src = gpd.GeoDataFrame({"SoThua": fab.truth["parcel_no"], "DienTich": fab.truth["area_m2"].round(1),
                            "LoaiDat": fab.truth["land_use"].str.lower()}, geometry=list(fab.truth.geometry),
                           crs=CRS)
    path = tmp_path / "p.shp"
    src.to_file(path, engine="pyogrio")
    parcels, _ = run(path, levels=None)
    assert compare(parcels, fab.truth) < 0.01
    assert set(parcels["land_use"]) <= {"LUC", "ONT", "CLN", "BHK", "NTS", "ODT"}
    with pytest.raises(InputError):
        run(path, levels=parse_levels("number=NoSuchColumn"))


def test_location_explained():
    bac_giang = province("bac-giang")
    good = (561500.0, 2359500.0, 561600.0, 2359600.0)
    assert check_location(good, CRS, bac_giang) is None
    no_origin = check_location((61500.0, 1359500.0, 61600.0, 1359600.0), CRS, bac_giang)
    assert no_origin.code == "outside_province" and "--offset 500000,1000000" in no_origin.message
    swapped = check_location((2359500.0, 561500.0, 2359600.0, 561600.0), CRS, bac_giang)
    assert "--swap-xy" in swapped.message
    hn72 = resolve_crs("hn72:gk18")
    from pyproj import Transformer

    e, n = Transformer.from_crs(CRS, hn72, always_xy=True).transform(561550.0, 2359550.0)
    gk = check_location((e - 50, n - 50, e + 50, n + 50), CRS, bac_giang)
    assert "--src-crs hn72:gk18" in gk.message


def test_adjust_coordinates():
    el = gpd.GeoDataFrame({"level": ["1"]}, geometry=[Point(1000.0, 2000.0)])
    out = adjust_coordinates(el, offset=(10.0, 20.0), swap_xy=True, factor=0.001)
    assert (out.geometry.iloc[0].x, out.geometry.iloc[0].y) == (12.0, 21.0)


def test_sheet_from_text_or_extent():
    bounds = (561520.0, 2359520.0, 561640.0, 2359600.0)
    assert guess_sheet(bounds, ["Tờ số 12", SHEET]).number == SHEET
    assert guess_sheet(bounds, [], scale=1000).number == SHEET
    assert guess_sheet(bounds, []).scale == 500


def test_read_errors_are_clear(tmp_path):
    empty = tmp_path / "e.dgn"
    empty.write_bytes(b"")
    with pytest.raises(FormatError, match="empty"):
        read_drawing(empty)
    good = write_dgn(tmp_path / "g.dgn", make_fabric(2, 1))
    data = good.read_bytes()
    for cut in (len(data) // 2, len(data) - 5, 700):
        bad = tmp_path / f"t{cut}.dgn"
        bad.write_bytes(data[:cut])
        with pytest.raises(FormatError, match="truncated"):
            read_drawing(bad)
    v8 = tmp_path / "v8.dgn"
    v8.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    with pytest.raises(FormatError, match="V8"):
        read_drawing(v8)
    notdxf = tmp_path / "n.dxf"
    notdxf.write_text("this is not a drawing\n")
    with pytest.raises(FormatError):
        read_drawing(notdxf)
    dxf = write_dxf(tmp_path / "d.dxf", make_fabric(2, 1))
    cut = tmp_path / "c.dxf"
    cut.write_bytes(dxf.read_bytes()[: dxf.stat().st_size * 2 // 3])
    with pytest.raises(FormatError, match="truncated"):
        read_drawing(cut)
    doc = tmp_path / "x.doc"
    doc.write_text("x")
    with pytest.raises(FormatError, match="unknown drawing format"):
        read_drawing(doc)


def test_boundaries_that_never_close(tmp_path):
    fab = make_fabric(2, 1)
    fab.lines = [LineString([(561520 + 10 * k, 2359520), (561525 + 10 * k, 2359530)]) for k in range(5)]
    with pytest.raises(DigitizeError) as exc:
        run(write_dxf(tmp_path / "open.dxf", fab))
    assert "never close" in exc.value.message and "--levels" in exc.value.hint


def test_broken_text_encoding_is_an_error(tmp_path):
    fab = make_fabric(2, 1)
    labels = [*fab.labels, ("land_use", "L\ufffdC", Point(561530, 2359530))]
    with pytest.raises(FormatError) as exc:
        run(write_dgn(tmp_path / "b.dgn", fab, texts=labels))
    assert "--text-encoding" in exc.value.hint


def test_lines_drawn_twice_and_long_runs(tmp_path):
    # one long run across three parcels, drawn twice (a few mm apart once), plus cross lines
    lines = [LineString([(0, 0), (30, 0)]), LineString([(0, 0), (30, 0)]), LineString([(0, 10), (30, 10)]),
             LineString([(-5, 10.004), (35, 10.004)])]
    lines += [LineString([(x, -0.03), (x, 10.03)]) for x in (0, 10, 20, 30)]
    elements = gpd.GeoDataFrame({"level": ["10"] * len(lines), "etype": [""] * len(lines),
                                 "text": [None] * len(lines), "attributes": [{}] * len(lines)}, geometry=lines)
    res = import_elements(elements.set_crs(CRS), levels=ANNEX18, crs=CRS, scale=1000, sheet_no=SHEET)
    areas = sorted(res.parcels.geometry.area.round(2))
    assert len(areas) == 3 and all(abs(a - 100.0) < 0.05 for a in areas)
    assert any(f.code == "sliver" and f.severity == "repaired" for f in res.findings)


def test_parcel_outside_its_sheet_is_flagged_cut(tmp_path):
    fab = make_fabric(2, 1)
    parcels, _ = run(write_dxf(tmp_path / "s.dxf", fab), sheet_no="361561-4-(7)")
    assert "cut_by_sheet_edge" not in ",".join(parcels["qa_flags"])
    fab.lines = [shapely.affinity.translate(line, xoff=-30) for line in fab.lines]
    fab.labels = [(r, t, shapely.affinity.translate(p, xoff=-30)) for r, t, p in fab.labels]
    parcels, _ = run(write_dxf(tmp_path / "c.dxf", fab), sheet_no="361561-4-(7)")
    assert "cut_by_sheet_edge" in ",".join(parcels["qa_flags"])
