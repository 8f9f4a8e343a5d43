"""Browser tests: the real ``landrec serve`` on a real store, driven in headless Chromium.

Debian's ``chromium`` and ``chromedriver`` through selenium; a fresh profile per run,
no network but the local server.  A missing browser fails the tests (never skips).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

from tests.netutil import free_port, wait_http

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
LANDREC = Path(sys.executable).with_name("landrec")
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                # software WebGL (SwiftShader) for MapLibre, without the deprecation warning
                "--enable-unsafe-swiftshader", "--window-size=1280,900", "--lang=vi",
                # no outside network: every request but to loopback goes to a closed port
                "--proxy-server=http://127.0.0.1:9")

#: the sample district's ground-truth parcels (``make sample``), loaded with ``landrec load``
SAMPLE_PARCELS = Path(__file__).resolve().parents[2] / "sample_data" / "district" / "truth" / "parcels.gpkg"


@dataclass(frozen=True)
class Site:
    """The running server and the parcel layer loaded into its store."""

    base: str  # http://127.0.0.1:PORT
    parcels: pd.DataFrame  # the loaded layer's attributes (owners included: they must not show)

    def get(self, path: str, **params) -> dict:
        """GET a JSON document from the server."""
        with urllib.request.urlopen(f"{self.base}/{path}?{urllib.parse.urlencode(params)}", timeout=60) as r:
            return json.load(r)

    def feature(self, sheet_no: str, parcel_no: int) -> dict:
        """One parcel as the server publishes it (GeoJSON, CRS84)."""
        fc = self.get("collections/parcels/items", f="json", sheet_no=sheet_no, parcel_no=parcel_no)
        assert len(fc["features"]) == 1, fc
        return fc["features"][0]


@pytest.fixture(scope="session")
def site(pg_cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """``landrec load`` the sample district into a PostGIS store, then ``landrec serve`` it.

    PostGIS, not the embedded GeoPackage: on GeoPackage the server's concurrent tile
    reads lock each other (``database is locked``, HTTP 500) at the district-wide view.
    """
    if not SAMPLE_PARCELS.is_file():
        pytest.fail(f"{SAMPLE_PARCELS} is missing: run `make sample`", pytrace=False)
    tmp = tmp_path_factory.mktemp("site")
    db = "e2e_" + uuid.uuid4().hex[:12]
    store = pg_cluster.create_database(db)
    r = subprocess.run([str(LANDREC), "load", str(SAMPLE_PARCELS), "--db", store],
                       capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(tmp / "serve.log", "w") as log:
        proc = subprocess.Popen([str(LANDREC), "serve", "--db", store, "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_http(f"{base}/collections/parcels?f=json", proc, timeout=300)
        except RuntimeError as exc:
            os.killpg(proc.pid, signal.SIGTERM)
            pytest.fail(f"{exc}\n{(tmp / 'serve.log').read_text()}", pytrace=False)
        yield Site(base, pyogrio.read_dataframe(SAMPLE_PARCELS, layer="parcels", read_geometry=False))
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    pg_cluster.drop_database(db)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Headless Chromium (Debian's) with a fresh profile, logging console and network."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for exe in (CHROMIUM, CHROMEDRIVER):
        if not os.access(exe, os.X_OK):
            pytest.fail(f"{exe} is missing: apt-get install chromium chromium-driver", pytrace=False)
    profile = tempfile.mkdtemp(prefix="landrec-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
