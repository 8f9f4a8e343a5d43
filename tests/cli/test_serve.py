"""`landrec serve --write-config`: the generated, validated pygeoapi configuration."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from pygeoapi.config import validate_config

from tests.integration.test_serve import REPO, build_store

LANDREC = REPO / ".venv" / "bin" / "landrec"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LANDREC), *args], capture_output=True, text=True, check=False, timeout=300)


def test_write_config_gives_a_valid_pygeoapi_configuration(tmp_path: Path):
    store = str(tmp_path / "store.gpkg")
    build_store(store)
    out = tmp_path / "pygeoapi.yml"
    r = run("serve", "--db", store, "--write-config", str(out), "--base-url", "https://cadastre.example.org/api")
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(out.read_text())
    assert validate_config(cfg)
    assert cfg["server"]["url"] == "https://cadastre.example.org/api"
    parcels = cfg["resources"]["parcels"]
    names = [p["name"] for p in parcels["providers"]]
    assert names == ["api.server.providers.LandrecFeatureProvider", "api.server.providers.LandrecTileProvider"]
    assert parcels["providers"][0]["storage_crs"] == "http://www.opengis.net/def/crs/EPSG/0/9214"
    assert cfg["resources"]["parcel-edit"]["processor"]["name"] == "api.server.processes.ParcelEditProcessor"
    assert "party" not in cfg["resources"] and "rrr" not in cfg["resources"]
    again = run("serve", "--db", store, "--write-config", str(out))
    assert again.returncode == 2 and "exists" in again.stderr
    assert run("serve", "--db", store, "--write-config", str(out), "--overwrite").returncode == 0


def test_a_store_that_is_not_there_is_a_clear_error(tmp_path: Path):
    r = run("serve", "--db", str(tmp_path / "missing.gpkg"), "--write-config", str(tmp_path / "c.yml"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert not (tmp_path / "c.yml").exists()
