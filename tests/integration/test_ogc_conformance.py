"""Third-party suites against a running `landrec serve`: the OGC `ogctests` Features Part 1
Core suite and schemathesis fuzzing the OpenAPI document (no 5xx answer).

ogctests validates every feature against a GeoJSON schema without null geometries, so
this store holds only the spatial collections (the attribute tables land_use_class and
station_reading, served with ``geometry: null`` as GeoJSON allows, are dropped here).
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from gis.store import open_engine
from tests.integration.test_serve import (
    OFFICER_TOKEN,
    REPO,
    Served,
    build_store,
    start_server,
)

ATTRIBUTE_TABLES = ("land_use_class", "station_reading")


def _drop_attribute_tables(url: str) -> None:
    engine = open_engine(url, create=False)
    with engine.begin() as c:
        for t in ATTRIBUTE_TABLES:
            c.execute(text(f'DROP TABLE "{t}"'))
            if engine.dialect.name == "sqlite":
                c.execute(text("DELETE FROM gpkg_contents WHERE table_name = :t"), {"t": t})
    engine.dispose()


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def spatial_served(request, tmp_path_factory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("ogc")
    if request.param == "gpkg":
        store, name = str(work / "store.gpkg"), None
    else:
        name = "ogc_" + uuid.uuid4().hex[:10]
        store = request.getfixturevalue("pg_cluster").create_database(name)
    build_store(store)
    _drop_attribute_tables(store)
    proc, base = start_server(store, {OFFICER_TOKEN: "land_officer"}, work / "serve.log")
    yield Served(request.param, store, base)
    proc.terminate()
    proc.wait(timeout=30)
    if name:
        request.getfixturevalue("pg_cluster").drop_database(name)


def test_ogctests_features_core_passes(spatial_served, tmp_path):
    code = (
        "import sys\n"
        "from ogctests.main import run_ogctests\n"
        f"sys.exit(run_ogctests('features/core', {spatial_served.base!r},"
        " ['-q', '-p', 'no:cacheprovider', '-W', 'ignore', '--junitxml', 'ogc.xml']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    report = (tmp_path / "ogc.xml").read_text()
    assert 'failures="0"' in report and 'errors="0"' in report and 'skipped="0"' in report
    assert 'tests="29"' in report  # the whole Core suite ran


def test_schemathesis_finds_no_server_error(spatial_served, tmp_path):
    st = REPO / ".venv" / "bin" / "schemathesis"
    out = subprocess.run(
        [str(st), "run", f"{spatial_served.base}/openapi?f=json", "--url", spatial_served.base,
         "--checks", "not_a_server_error", "--max-examples", "4", "--request-timeout", "30",
         # the parcels (items, item, tiles, schema, queryables), one reference layer, the processes
         "--include-path-regex", "^/(collections/(parcels|roads)(/.*)?|processes/.*|conformance|collections)$",
         "--phases", "examples,coverage,fuzzing", "--generation-deterministic", "--no-color"],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=900)
    assert out.returncode == 0, out.stdout[-6000:]
    assert "Server error" not in out.stdout
    tested = re.search(r"Tested: (\d+)", out.stdout)
    assert tested and int(tested.group(1)) >= 15, out.stdout[-3000:]  # the operations really ran
