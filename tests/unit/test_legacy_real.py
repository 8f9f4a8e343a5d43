"""Real CAD files no one here wrote (GDAL's DXF test files): they import, or fail with a
clear landrec error; never a crash.  Read from /work/shared/real-cad, never copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from digitize.legacy import assemble, import_elements, parse_levels
from digitize.legacy_read import read_drawing
from gis.crs import resolve_crs
from gis.errors import LandrecError

REAL = Path("/work/shared/real-cad/gdal-autotest-dxf")
#: GDAL's own DGN v7 seed files, as installed by gdal-bin
SEEDS = [Path("/usr/share/gdal/seed_2d.dgn"), Path("/usr/share/gdal/seed_3d.dgn")]
FILES = sorted(REAL.glob("*.dxf")) + SEEDS


def test_the_real_files_are_there():
    assert len(FILES) >= 7 and all(p.exists() for p in SEEDS)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("levels", [None, parse_levels("annex18")], ids=["auto", "annex18"])
def test_real_files_import_or_fail_clearly(path, levels):
    crs = resolve_crs("EPSG:3857")
    try:
        drawing = read_drawing(path)
        result = import_elements(drawing.elements.set_crs(crs, allow_override=True), levels=levels, crs=crs,
                                 scale=1000, sheet_no="361561-4-b")
        parcels, findings = assemble([result], scale=1000)
    except LandrecError as exc:
        assert exc.message and exc.hint, f"{path.name}: error without a message or hint: {exc!r}"
        return
    assert len(parcels) >= 1
    assert parcels.geometry.is_valid.all()
    assert all(f.code and f.message for f in findings)


def test_closed_polyline_with_bulge_becomes_one_parcel():
    path = REAL / "closed_polyline_with_bulge.dxf"
    crs = resolve_crs("EPSG:3857")
    drawing = read_drawing(path, arc_tolerance_m=0.001)
    result = import_elements(drawing.elements.set_crs(crs, allow_override=True), levels=None, crs=crs, scale=1000,
                             sheet_no="361561-4-b")
    assert len(result.parcels) == 1
    assert result.parcels.geometry.iloc[0].area > 0
