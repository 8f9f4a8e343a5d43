"""A throwaway PostgreSQL 15 + PostGIS 3 cluster for the tests and the benchmarks.

PostgreSQL refuses to run as root, so when we are root the cluster's files belong to
the ``postgres`` user and initdb/pg_ctl run through ``su postgres``.  Nothing here
skips: if the server cannot start, :func:`start` raises with the server's log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.netutil import free_port

PG_BIN = Path(os.environ.get("LANDREC_PG_BIN", "/usr/lib/postgresql/15/bin"))


@dataclass
class Cluster:
    """A running cluster: ``url(db)`` gives an SQLAlchemy URL for one database."""

    root: Path
    port: int
    as_postgres: bool

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@localhost:{self.port}/{db}"

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = subprocess.run(
            [str(PG_BIN / "psql"), "-h", "localhost", "-p", str(self.port), "-U", "postgres",
             "-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            capture_output=True, text=True, check=True,
        )
        return out.stdout

    def create_database(self, name: str) -> str:
        """A fresh database with PostGIS, copied from the cluster's template."""
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE template_postgis')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        _run(self, [str(PG_BIN / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop"],
             check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _run(cluster: Cluster, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    if cluster.as_postgres:
        cmd = " ".join(_q(a) for a in argv)
        argv = ["su", "postgres", "-s", "/bin/bash", "-c", cmd]
    return subprocess.run(argv, capture_output=True, text=True, check=check, stdin=subprocess.DEVNULL)


def _q(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def start(port: int | None = None) -> Cluster:
    """initdb and start a cluster on localhost, with a ``template_postgis`` database."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"PostgreSQL 15 binaries not found in {PG_BIN}: run `make test`, "
                           "which installs postgresql-15 and postgresql-15-postgis-3")
    root = Path(tempfile.mkdtemp(prefix="landrec-pg-"))
    as_postgres = os.geteuid() == 0
    cluster = Cluster(root, port or free_port(), as_postgres)
    (root / "data").mkdir()
    (root / "sock").mkdir()
    if as_postgres:
        shutil.chown(root, "postgres")
        for sub in ("data", "sock"):
            shutil.chown(root / sub, "postgres")
    os.chmod(root / "data", 0o700)
    os.chmod(root, 0o755)
    try:
        _run(cluster, [str(PG_BIN / "initdb"), "-D", str(root / "data"), "-U", "postgres",
                       "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
        opts = (f"-p {cluster.port} -k {root / 'sock'} -c listen_addresses=localhost "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200 -c shared_buffers=256MB")
        _run(cluster, [str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "pg.log"),
                       "-o", opts, "-w", "-t", "60", "start"])
    except subprocess.CalledProcessError as exc:
        log = (root / "pg.log").read_text() if (root / "pg.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{log}") from None
    deadline = time.monotonic() + 30
    while True:
        try:
            cluster.psql("SELECT 1")
            break
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                cluster.stop()
                raise RuntimeError("PostgreSQL started but does not answer") from None
            time.sleep(0.2)
    try:
        cluster.psql("CREATE DATABASE template_postgis")
        cluster.psql("CREATE EXTENSION postgis", db="template_postgis")
    except subprocess.CalledProcessError as exc:
        cluster.stop()
        raise RuntimeError(f"PostGIS is not available: {exc.stderr.strip()} "
                           "(install postgresql-15-postgis-3)") from None
    return cluster
