"""An A0 scan at 300 dpi through `landrec digitize scan`: its peak memory and time.

Issue 3 asks that an A0 sheet at 300 dpi (about 10k x 14k px) runs within 4 GB.  The
scan is sheet 361561-4-b of the sample district drawn at 480 dpi (its 60 x 64 cm page
then has as many pixels as A0 at 300 dpi: 11.4k x 12.1k = 138 Mpx), grey, with the
generator's damage; it is made once and cached.  The command runs in a child process
of its own, so its peak resident memory is the children's ``ru_maxrss``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, BenchContext, table

LIMIT_GB = 4.0
SHEET = "361561-4-b"
DPI = 480

_MEASURE = """
import resource, subprocess, sys
run = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, run.returncode)
sys.stderr.write(run.stderr[-2000:])
"""


def a0_scan(ctx: BenchContext) -> tuple[Path, Path]:
    """The cached A0-sized scan and its control points."""
    scan, gcps = ctx.cache / f"a0_{SHEET}_{DPI}.tif", ctx.cache / f"a0_{SHEET}_{DPI}.gcps.csv"
    if scan.exists() and gcps.exists():
        return scan, gcps
    import numpy as np
    from PIL import Image

    from gis.io import read_vector
    from gis.sheets import parse_sheet
    from sample_data.render import Damage, Style, render_sheet

    parcels = read_vector(REPO / "sample_data" / "district" / "truth" / "parcels.gpkg", layer="parcels")
    sheet = parse_sheet(SHEET, northing_hint=2.36e6)
    rng = np.random.default_rng(3)
    image, points, _ = render_sheet(parcels, sheet, dpi=DPI, style=Style(colour=False),
                                    damage=Damage.random(rng, size_px=(11000, 12000)), seed=3)
    tmp = scan.with_suffix(".tmp.tif")
    Image.fromarray(image).save(tmp, format="TIFF", compression="tiff_adobe_deflate")
    points.to_csv(gcps, index=False)
    tmp.replace(scan)
    return scan, gcps


def run(ctx: BenchContext) -> dict:
    if ctx.quick:
        return {"skipped": "not in --quick"}
    scan, gcps = a0_scan(ctx)
    landrec = str(Path(sys.executable).with_name("landrec"))
    with tempfile.TemporaryDirectory(prefix="bench-a0-") as tmp:
        out = Path(tmp) / "a0.gpkg"
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _MEASURE, landrec, "-q", "digitize", "scan", str(scan),
                               "--gcps", str(gcps), "--crs", "vn2000:bac-giang", "--sheet-no", SHEET,
                               "--out", str(out)], capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - t0
        kb, code = (int(v) for v in done.stdout.split()[-2:])
        parcels = None
        if code == 0:
            parcels = json.loads(Path(out).with_suffix(".json").read_text(encoding="utf-8")).get("parcels")
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(scan) as src:
            width, height = src.width, src.height
    row = {"image": f"{width}x{height}", "Mpx": round(width * height / 1e6),
           "exit": code, "parcels": parcels, "peak_GB": round(kb / 1e6, 2), "limit_GB": LIMIT_GB,
           "s": round(seconds, 1)}
    print(table([row], list(row)))
    if code:
        print(done.stderr, file=sys.stderr)
    return {**row, "targets_met": code == 0 and kb / 1e6 <= LIMIT_GB}
