"""The MapLibre style passes MapLibre's own validator, and the web map's assets install."""

from __future__ import annotations

import json
import shutil
import subprocess

from api.web import NODE_MODULES, STATIC_DIR, STYLE_FILE, VENDOR_DIR, ensure_assets
from styles import maplibre_style

VALIDATOR = NODE_MODULES / "@maplibre" / "maplibre-gl-style-spec" / "dist" / "gl-style-validate.mjs"


def validate(path) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("node") or "node", str(VALIDATOR), str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_style_passes_the_maplibre_style_spec_validator(tmp_path):
    ensure_assets()
    good = tmp_path / "style.json"
    good.write_text(json.dumps(maplibre_style(tiles_url="http://x/{z}/{x}/{y}")), encoding="utf-8")
    r = validate(good)
    assert r.returncode == 0, r.stdout + r.stderr
    broken = maplibre_style()
    broken["layers"][1]["paint"]["fill-color"][0] = "matches"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(broken), encoding="utf-8")
    r = validate(bad)
    assert r.returncode == 1 and "fill-color" in r.stdout + r.stderr


def test_ensure_assets_vendors_maplibre_and_writes_the_style():
    (VENDOR_DIR / "maplibre-gl.css").unlink(missing_ok=True)
    assert ensure_assets() == STATIC_DIR
    for name in ("maplibre-gl.mjs", "maplibre-gl-worker.mjs", "maplibre-gl.css"):
        assert (VENDOR_DIR / name).stat().st_size > 10_000
    assert json.loads((STATIC_DIR / STYLE_FILE).read_text(encoding="utf-8")) == maplibre_style()
