"""``landrec digitize legacy`` end to end, through the installed command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from pyproj import Transformer
from shapely.affinity import translate

from gis.crs import resolve_crs
from tests.unit.test_legacy_support import make_fabric, write_dgn, write_dxf

LANDREC = str(Path(sys.executable).parent / "landrec")


def landrec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LANDREC, *map(str, args)], check=False, capture_output=True, text=True)


def test_dgn_and_dxf_to_parcels(tmp_path):
    fab = make_fabric(4, 3, seed=7)
    dgn = write_dgn(tmp_path / "s.dgn", fab)
    out = tmp_path / "out.gpkg"
    r = landrec("digitize", "legacy", dgn, "--crs", "vn2000:bac-giang", "--scale", "1000", "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["parcels"] == summary["numbered"] == 12
    layers = dict(pyogrio.list_layers(out))
    assert set(layers) == {"parcels", "qa_findings"}
    report = out.with_suffix(".qa.html")
    assert report.exists() and summary["report"] == str(report)
    assert "<img" in report.read_text(encoding="utf-8")
    parcels = pyogrio.read_dataframe(out, layer="parcels")
    assert sorted(parcels["parcel_no"]) == list(range(1, 13))
    assert {"parcel_no", "area_label_m2", "land_use", "area_m2", "sheet_no", "confidence", "qa_flags"} <= set(parcels)
    assert (parcels["sheet_no"] == "361561-4-b").all()
    # refuses to overwrite; --overwrite replaces
    dxf = write_dxf(tmp_path / "s.dxf", fab)
    r = landrec("digitize", "legacy", dxf, "--crs", "vn2000:bac-giang", "--scale", "1000", "--out", out)
    assert r.returncode == 2 and "--overwrite" in r.stderr
    r = landrec("digitize", "legacy", dxf, "--crs", "vn2000:bac-giang", "--scale", "1000", "--out", out, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert out.with_suffix(".qa.html").stat().st_size > 0
    assert "12 parcels (12 numbered)" in r.stdout


def bad(tmp_path, path, *extra):
    out = tmp_path / "bad.gpkg"
    r = landrec("digitize", "legacy", path, "--crs", "vn2000:bac-giang", "--out", out, *extra)
    assert r.returncode != 0
    assert not out.exists() and not out.with_suffix(".qa.html").exists()
    assert not list(tmp_path.glob(".bad.*")), "temporary output left behind"
    assert "Traceback" not in r.stderr
    return r.stderr


def test_bad_input_clear_message_nothing_written(tmp_path):
    fab = make_fabric(2, 2)
    dgn = write_dgn(tmp_path / "g.dgn", fab)
    cut = tmp_path / "cut.dgn"
    cut.write_bytes(dgn.read_bytes()[:900])
    assert "truncated" in bad(tmp_path, cut)
    empty = tmp_path / "empty.dxf"
    empty.write_bytes(b"")
    assert "empty" in bad(tmp_path, empty)
    other = write_dxf(tmp_path / "other.dxf", fab, layers={"boundary": "63", "number": "11", "land_use": "2",
                                                             "area": "4"})
    err = bad(tmp_path, other)
    assert "boundary level" in err and "--levels" in err and "63" in err
    assert "--levels" in bad(tmp_path, other, "--levels", "nonsense")
    missing = tmp_path / "nope.dgn"
    assert "does not exist" in bad(tmp_path, missing)


def test_outside_the_province_is_explained(tmp_path):
    fab = make_fabric(2, 2)
    fab.lines = [translate(g, -500000, -1000000) for g in fab.lines]
    fab.labels = [(r, t, translate(p, -500000, -1000000)) for r, t, p in fab.labels]
    dxf = write_dxf(tmp_path / "o.dxf", fab)
    err = bad(tmp_path, dxf)
    assert "outside" in err and "--offset 500000,1000000" in err
    out = tmp_path / "fixed.gpkg"
    r = landrec("digitize", "legacy", dxf, "--crs", "vn2000:bac-giang", "--offset", "500000,1000000",
                "--scale", "1000", "--out", out)
    assert r.returncode == 0, r.stderr
    assert len(pyogrio.read_dataframe(out, layer="parcels")) == 4


def test_hn72_source_is_reprojected(tmp_path):
    fab = make_fabric(2, 1)
    t = Transformer.from_crs(resolve_crs("vn2000:bac-giang"), resolve_crs("hn72:gk18"), always_xy=True)
    fab.lines = [shapely.transform(g, lambda xy: np.column_stack(t.transform(*xy.T)))
                 for g in fab.lines]
    fab.labels = [(r, s, shapely.Point(t.transform(p.x, p.y))) for r, s, p in fab.labels]
    dxf = write_dxf(tmp_path / "h.dxf", fab)
    assert "--src-crs hn72:gk18" in bad(tmp_path, dxf)
    out = tmp_path / "h.gpkg"
    r = landrec("digitize", "legacy", dxf, "--crs", "vn2000:bac-giang", "--src-crs", "hn72:gk18", "--scale", "1000",
                "--out", out)
    assert r.returncode == 0, r.stderr
    parcels = pyogrio.read_dataframe(out, layer="parcels")
    got = parcels.sort_values("parcel_no").geometry.area.to_numpy()
    assert abs(got - fab.truth.geometry.area.to_numpy()).max() < 0.5  # HN-72 GK 6° has another scale
