"""``landrec digitize scan`` / ``district`` end to end, and every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image, ImageDraw, ImageFont

from gis.io import read_vector

LANDREC = str(Path(sys.executable).parent / "landrec")
SHEET = "361561-4-b"  # 1:1000, E 561500-562000, N 2359500-2360000
E0, N1 = 561500.0, 2360000.0
DPI = 150
PPMM = DPI / 25.4
MARGIN = 40.0  # mm of paper around the frame
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _px(e: float, n: float) -> tuple[float, float]:
    return ((MARGIN + (e - E0)) * PPMM, (MARGIN + (N1 - n)) * PPMM)  # 1 m = 1 mm at 1:1000


def _make_sheet(folder: Path, *, blank: bool = False) -> tuple[Path, Path]:
    """A 1:1000 sheet of 4 x 4 parcels of 125 m, drawn at 150 dpi, with its grid-cross control points."""
    size = int((500 + 2 * MARGIN) * PPMM)
    img = Image.new("RGB", (size, size), (236, 229, 210))
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, int(2.5 * 1.45 * PPMM))
    if not blank:
        for k in range(5):
            d.line([_px(E0 + 125 * k, N1), _px(E0 + 125 * k, N1 - 500)], fill=(30, 28, 26), width=2)
            d.line([_px(E0, N1 - 125 * k), _px(E0 + 500, N1 - 125 * k)], fill=(30, 28, 26), width=2)
        for j in range(4):
            for i in range(4):
                x, y = _px(E0 + 125 * i + 62.5, N1 - 125 * j - 62.5)
                half = d.textlength("15625.0", font=font) / 2 + 3
                d.text((x, y - 3), str(j * 4 + i + 1), font=font, anchor="ms", fill=(25, 25, 25))
                d.line([(x - half, y), (x + half, y)], fill=(25, 25, 25), width=1)
                d.text((x, y + 4), "15625.0", font=font, anchor="mt", fill=(25, 25, 25))
                d.text((x + half + 6, y), ("LUC", "ONT", "CLN", "BHK")[(i + j) % 4], font=font, anchor="lm",
                       fill=(25, 25, 25))
        # a brown stain over a corner of the sheet
        a = np.asarray(img, dtype=np.float32)
        yy, xx = np.mgrid[0:size, 0:size]
        a -= (np.exp(-((xx - 900) ** 2 + (yy - 1100) ** 2) / (2 * 300.0**2)) * 60)[..., None] * [0.3, 0.7, 1.0]
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    path = folder / "scan.png"
    img.save(path)
    rows = ["pixel_x,pixel_y,map_x,map_y"]
    for j in range(6):
        for i in range(6):
            e, n = E0 + 100 * i, N1 - 100 * j
            x, y = _px(e, n)
            rows.append(f"{x:.2f},{y:.2f},{e},{n}")
    gcps = folder / "gcps.csv"
    gcps.write_text("\n".join(rows) + "\n")
    return path, gcps


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LANDREC, *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def sheet(tmp_path_factory) -> tuple[Path, Path]:
    return _make_sheet(tmp_path_factory.mktemp("sheet"))


@pytest.fixture(scope="module")
def scanned(sheet, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    image, gcps = sheet
    out = tmp_path_factory.mktemp("out") / "sheet.gpkg"
    res = _run("-q", "digitize", "scan", str(image), "--gcps", str(gcps), "--crs", "vn2000:bac-giang",
               "--sheet-no", SHEET, "--out", str(out), "--json")
    return res, out


def test_scan_writes_parcels_cog_residuals_and_report(scanned):
    res, out = scanned
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["sheet_no"] == SHEET and summary["scale"] == 1000
    assert summary["georeference"]["within_norm"]
    parcels = read_vector(out, layer="parcels")
    assert len(parcels) == 16
    assert list(parcels.columns[:7]) == ["parcel_no", "area_label_m2", "land_use", "area_m2", "sheet_no",
                                        "confidence", "qa_flags"]
    assert parcels.crs.name == "VN-2000 / TM-3 107-00"
    read = parcels[parcels["parcel_no"].notna()]
    assert len(read) >= 12
    c = read.geometry.centroid
    expected = ((N1 - c.y) // 125).astype(int) * 4 + ((c.x - E0) // 125).astype(int) + 1
    assert (read["parcel_no"].astype(int) == expected).all()  # what is read is right
    assert (read["land_use"].notna()).all() and (read["area_label_m2"] == 15625.0).all()
    assert parcels["area_m2"].between(15625 * 0.98, 15625 * 1.02).all()
    assert (parcels["sheet_no"] == SHEET).all()
    assert parcels["confidence"].between(0, 1).all()
    stem = out.with_suffix("")
    with rasterio.open(f"{stem}.scan.tif") as src:
        assert src.crs is not None and src.overviews(1)
        assert abs(src.bounds.left - 561460) < 5 and abs(src.bounds.top - 2360040) < 5
    assert "residual_mm" in Path(f"{stem}.residuals.csv").read_text().splitlines()[0]
    report = Path(f"{stem}.qa.html").read_text(encoding="utf-8")
    assert "Báo cáo kiểm tra chất lượng" in report and "data:image/png;base64," in report
    assert Path(f"{stem}.qa.png").stat().st_size > 10_000
    cps = read_vector(out, layer="control_points")
    assert len(cps) == 36 and "residual_m" in cps.columns


def test_an_existing_output_is_refused_without_overwrite(sheet, scanned):
    image, gcps = sheet
    _, out = scanned
    res = _run("digitize", "scan", str(image), "--gcps", str(gcps), "--crs", "vn2000:bac-giang", "--out", str(out))
    assert res.returncode == 2 and "exists" in res.stderr and "--overwrite" in res.stderr


def _gcps(folder: Path, rows: list[tuple[float, float, float, float]]) -> Path:
    p = folder / "bad.csv"
    p.write_text("pixel_x,pixel_y,map_x,map_y\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return p


@pytest.mark.parametrize("rows,words", [
    ([(100, 100, 561500, 2360000), (2000, 100, 561900, 2360000)], "at least 3 are needed"),
    ([(100, 100, 561500, 2360000), (200, 200, 561600, 2359900), (300, 300, 561700, 2359800)], "collinear"),
    ([(100, 100, 561500, 2360000), (9000, 100, 561900, 2360000), (100, 2000, 561500, 2359600)],
     "outside the image"),
    ([(100, 100, 106.1, 21.3), (2000, 100, 106.2, 21.3), (100, 2000, 106.1, 21.2)], "longitude/latitude"),
])
def test_bad_control_points_fail_with_a_reason_and_leave_nothing(sheet, tmp_path, rows, words):
    image, _ = sheet
    out = tmp_path / "o" / "x.gpkg"
    res = _run("digitize", "scan", str(image), "--gcps", str(_gcps(tmp_path, rows)), "--crs", "vn2000:bac-giang",
               "--out", str(out))
    assert res.returncode == 2, res.stderr
    assert words in res.stderr and "hint:" in res.stderr
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_bad_images_fail_with_a_reason_and_leave_nothing(sheet, tmp_path):
    _, gcps = sheet
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"II*\x00 not really a tiff")
    dot = tmp_path / "dot.png"
    Image.new("L", (1, 1)).save(dot)
    bomb = tmp_path / "bomb.tif"
    with rasterio.open(bomb, "w", driver="GTiff", width=20000, height=15000, count=1, dtype="uint8", tiled=True,
                       sparse_ok=True) as dst:
        dst.write(np.zeros((1, 256, 256), np.uint8), window=rasterio.windows.Window(0, 0, 256, 256))
    assert bomb.stat().st_size < 2_000_000
    for image, words in ((junk, "cannot be read"), (dot, "too small"), (bomb, "too large"),
                         (tmp_path / "missing.png", "does not exist")):
        out = tmp_path / "o" / "x.gpkg"
        res = _run("digitize", "scan", str(image), "--gcps", str(gcps), "--crs", "vn2000:bac-giang", "--out", str(out))
        assert res.returncode == 2, (image, res.stderr)
        assert words in res.stderr, res.stderr
        assert not out.parent.exists() or not any(out.parent.iterdir())


def test_a_sheet_without_parcels_fails_and_leaves_nothing(tmp_path):
    image, gcps = _make_sheet(tmp_path, blank=True)
    out = tmp_path / "o" / "x.gpkg"
    res = _run("digitize", "scan", str(image), "--gcps", str(gcps), "--crs", "vn2000:bac-giang", "--out", str(out))
    assert res.returncode == 2 and "line-work" in res.stderr
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_district_runs_the_sheets_and_resumes(sheet, tmp_path):
    image, gcps = sheet
    d = tmp_path / "district" / "sheets" / SHEET
    d.mkdir(parents=True)
    (d / "scan.png").write_bytes(image.read_bytes())
    (d / "gcps.csv").write_bytes(gcps.read_bytes())
    (d / "sheet.json").write_text(json.dumps({"number": SHEET, "scale": 1000}))
    res = _run("-q", "digitize", "district", str(tmp_path / "district"), "--crs", "vn2000:bac-giang",
               "--workers", "1", "--json")
    assert res.returncode == 0, res.stderr
    first = json.loads(res.stdout)
    assert first["done"] == 1 and first["sheets"][0]["parcels"] == 16
    assert (tmp_path / "district" / "digitized" / f"{SHEET}.gpkg").exists()
    again = json.loads(_run("-q", "digitize", "district", str(tmp_path / "district"), "--crs", "vn2000:bac-giang",
                            "--json").stdout)
    assert again["skipped"] == 1 and again["done"] == 0


def test_district_on_a_dask_cluster_scores_against_the_truth(sheet, tmp_path):
    from dask.distributed import LocalCluster

    from digitize.district import run_district
    from gis.crs import resolve_crs

    image, gcps = sheet
    d = tmp_path / "district" / SHEET
    d.mkdir(parents=True)
    (d / "scan.png").write_bytes(image.read_bytes())
    (d / "gcps.csv").write_bytes(gcps.read_bytes())
    (d / "sheet.json").write_text(json.dumps({"number": SHEET, "scale": 1000}))
    import geopandas as gpd
    from shapely.geometry import box

    truth = gpd.GeoDataFrame({"parcel_no": list(range(1, 17)), "land_use": ["LUC"] * 16, "area_m2": [15625.0] * 16},
                             geometry=[box(E0 + 125 * i, N1 - 125 * (j + 1), E0 + 125 * (i + 1), N1 - 125 * j)
                                       for j in range(4) for i in range(4)], crs=resolve_crs("vn2000:bac-giang"))
    truth.to_file(d / "truth.gpkg", layer="parcels")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        result = run_district(tmp_path / "district", tmp_path / "out", crs="vn2000:bac-giang",
                              scheduler=cluster.scheduler_address, truth=True)
    assert result["done"] == 1 and result["failed"] == 0
    scores = result["sheets"][0]["scores"]
    assert scores["tp"] == 16 and scores["pq"] > 0.95 and scores["hausdorff_median_m"] < 0.5
