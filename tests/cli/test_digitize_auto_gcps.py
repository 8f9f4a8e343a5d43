"""``landrec digitize scan --auto-gcps`` and ``digitize district`` on sheets without a gcps file."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gis.io import read_vector
from gis.sheets import parse_sheet
from tests.gridsheet import Style, SyntheticSheet

LANDREC = str(Path(sys.executable).parent / "landrec")
SHEET = "361561-4-b"  # 1:1000, E 561500-562000, N 2359500-2360000
CRS = "vn2000:bac-giang"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LANDREC, *args], check=False, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> Path:
    """A 1:1000 sheet of 4 x 4 labelled parcels with frame, ticks and grid crosses, skewed, at 150 dpi."""
    sheet = parse_sheet(SHEET, northing_hint=2_360_000)
    drawn = SyntheticSheet(sheet, Style(dpi=150, rotation_deg=1.2, warp_px=2.0, line_mm=0.2, parcels_mm=125.0,
                                        labels=True, stain=True, seed=2))
    path = tmp_path_factory.mktemp("auto") / "scan.png"
    Image.fromarray(drawn.image).save(path)
    return path


@pytest.fixture(scope="module")
def scanned(scan, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("out") / "sheet.gpkg"
    return _run("-q", "digitize", "scan", str(scan), "--auto-gcps", "--sheet-no", SHEET, "--crs", CRS,
                "--out", str(out), "--json"), out


def test_auto_gcps_georeference_and_digitize_the_sheet(scanned):
    res, out = scanned
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["gcps"] == "auto" and summary["sheet_no"] == SHEET
    g = summary["georeference"]
    assert g["points"] == 36 and g["within_norm"], g  # 4 corners, 16 ticks, 16 crosses
    parcels = read_vector(out, layer="parcels")
    assert len(parcels) == 16
    c = parcels.geometry.centroid
    assert c.x.between(561500, 562000).all() and c.y.between(2359500, 2360000).all()
    assert parcels["area_m2"].between(15625 * 0.98, 15625 * 1.02).all()
    cps = read_vector(out, layer="control_points")
    assert len(cps) == 36 and cps["id"].str.match(r"^E\d+ N\d+$").all()
    with open(out.with_suffix(".residuals.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 36 and max(float(r["residual_mm"]) for r in rows) < 0.1
    report = out.with_suffix(".qa.html").read_text(encoding="utf-8")
    assert "found on the frame and grid" in report


def _refused(res: subprocess.CompletedProcess, *words: str) -> None:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "hint:" in res.stderr
    for w in words:
        assert w in res.stderr, res.stderr


def test_auto_gcps_needs_the_sheet_number(scan, tmp_path):
    out = tmp_path / "o" / "x.gpkg"
    _refused(_run("digitize", "scan", str(scan), "--auto-gcps", "--crs", CRS, "--out", str(out)),
             "sheet number", "--sheet-no")
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_gcps_and_auto_gcps_together_are_refused(scan, tmp_path):
    gcps = tmp_path / "g.csv"
    gcps.write_text("pixel_x,pixel_y,map_x,map_y\n1,1,561500,2360000\n")
    _refused(_run("digitize", "scan", str(scan), "--auto-gcps", "--gcps", str(gcps), "--sheet-no", SHEET,
                  "--crs", CRS, "--out", str(tmp_path / "x.gpkg")), "not both")
    _refused(_run("digitize", "scan", str(scan), "--crs", CRS, "--out", str(tmp_path / "x.gpkg")),
             "no control points", "--auto-gcps")


def test_a_scan_without_frame_or_crosses_fails_clearly_and_leaves_nothing(tmp_path):
    blank = tmp_path / "blank.png"
    rng = np.random.default_rng(0)
    Image.fromarray((232 + rng.integers(0, 8, (1500, 1500))).astype(np.uint8)).save(blank)
    out = tmp_path / "o" / "x.gpkg"
    _refused(_run("digitize", "scan", str(blank), "--auto-gcps", "--sheet-no", SHEET, "--crs", CRS, "--out", str(out)),
             "--gcps")
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_an_unplaceable_sheet_number_asks_for_the_province(scan, tmp_path):
    _refused(_run("digitize", "scan", str(scan), "--auto-gcps", "--sheet-no", "100580-1-a", "--crs", "vn2000:tm3:105",
                  "--out", str(tmp_path / "x.gpkg")), "could lie at", "--province")


def test_district_finds_control_points_where_there_is_no_gcps_file_or_when_asked(scan, tmp_path):
    root = tmp_path / "district" / "sheets"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        (root / name / "scan.png").write_bytes(scan.read_bytes())
        (root / name / "sheet.json").write_text(json.dumps({"number": SHEET, "scale": 1000}))
    # b has a control-point file, a useless one (three collinear points)
    (root / "b" / "gcps.csv").write_text("pixel_x,pixel_y,map_x,map_y\n100,100,561500,2360000\n"
                                         "200,200,561600,2359900\n300,300,561700,2359800\n")
    out = tmp_path / "district" / "digitized"
    res = _run("-q", "digitize", "district", str(tmp_path / "district"), "--crs", CRS, "--workers", "1", "--json")
    assert res.returncode == 1, res.stderr
    first = {s["sheet"]: s for s in json.loads(res.stdout)["sheets"]}
    assert first["a"]["status"] == "done" and first["a"]["parcels"] == 16
    assert first["b"]["status"] == "failed" and "collinear" in first["b"]["error"]
    summary = json.loads((out / "a.json").read_text(encoding="utf-8"))
    assert summary["gcps"] == "auto" and summary["georeference"]["points"] == 36
    res = _run("-q", "digitize", "district", str(tmp_path / "district"), "--crs", CRS, "--workers", "1",
               "--auto-gcps", "--json")
    assert res.returncode == 0, res.stderr
    again = {s["sheet"]: s for s in json.loads(res.stdout)["sheets"]}
    assert again["a"]["status"] == "skipped" and again["b"]["status"] == "done"
    assert json.loads((out / "b.json").read_text(encoding="utf-8"))["gcps"] == "auto"
