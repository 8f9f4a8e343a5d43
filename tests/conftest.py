"""Shared fixtures: the throwaway PostGIS cluster, per-test databases, temp stores.

Tests never skip: a test that needs PostGIS or Chromium fails when they are missing,
and a run with any skipped test fails as a whole.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pgcluster

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "district"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.Cluster]:
    """One PostgreSQL + PostGIS server for the whole run, stopped at the end."""
    try:
        cluster = pgcluster.start()
    except RuntimeError as exc:
        pytest.fail(f"PostGIS could not start: {exc}", pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: pgcluster.Cluster) -> Iterator[str]:
    """A fresh PostGIS database for one test, dropped after it."""
    name = "t_" + uuid.uuid4().hex[:12]
    url = pg_cluster.create_database(name)
    yield url
    pg_cluster.drop_database(name)


@pytest.fixture
def gpkg_url(tmp_path: Path) -> str:
    """A path for a fresh GeoPackage store."""
    return str(tmp_path / "store.gpkg")


@pytest.fixture(params=["gpkg", "postgis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store in turn: the same test runs on GeoPackage and on PostGIS."""
    if request.param == "gpkg":
        return str(tmp_path / "store.gpkg")
    return request.getfixturevalue("pg_url")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test is a failure here: PostGIS and Chromium tests must run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        reporter.write_line("FAILED: tests were skipped; in landrec a skip is a failure", red=True)
        session.exitstatus = 1
