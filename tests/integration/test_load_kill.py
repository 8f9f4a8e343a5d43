"""A real `landrec load` on a real PostGIS, killed with SIGKILL half-way: every sheet is
then entirely at its old state or entirely at its new one, and loading again finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from cadastre.load import load_parcels
from cadastre.register import init_register
from cadastre.synthetic import tiled_parcels
from gis.crs import resolve_crs
from gis.io import to_vector
from gis.sheets import sheets_covering

LANDREC = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "landrec")
CRS_BG = resolve_crs("vn2000:bac-giang")
SHEETS = sheets_covering((560000, 2354000, 566000, 2360000), 2000)  # 36 sheets
ROWS = COLS = 20  # 400 parcels a sheet, 14 400 in all


def _layers(tmp_path: Path) -> tuple:
    old = tiled_parcels(SHEETS, crs=CRS_BG, rows=ROWS, cols=COLS, commune_code="10001", seed=1)
    new = old.copy()
    new["land_use"] = ["ONT" if lu != "ONT" else "ODT" for lu in old["land_use"]]  # every parcel changes
    path = tmp_path / "new.gpkg"
    to_vector(new, path, "parcels")
    return old, new, path


def _sheet_states(url: str) -> dict[str, tuple[int, int, int]]:
    """sheet -> (current parcels, of them at version 1, of them at version 2)."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT sheet_no, count(*), count(*) FILTER (WHERE version = 1), count(*) FILTER (WHERE version = 2)"
            " FROM parcel WHERE end_lifespan IS NULL GROUP BY sheet_no")).all()
    engine.dispose()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _kill_when(url: str, path: Path, ready) -> subprocess.Popen:
    proc = subprocess.Popen([LANDREC, "load", str(path), "--db", url], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if ready(_sheet_states(url)):
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the load ended on its own: {proc.stderr.read().decode()[-500:]}"
    return proc


def test_reload_killed_half_way_leaves_each_sheet_old_or_new(pg_url: str, tmp_path: Path):
    old, _, path = _layers(tmp_path)
    reg = init_register(pg_url, CRS_BG)
    load_parcels(reg, old, source_ref="old.gpkg")
    reg.dispose()

    _kill_when(pg_url, path, lambda states: any(v2 for _, _, v2 in states.values()))

    states = _sheet_states(pg_url)
    assert len(states) == len(SHEETS)
    new_sheets = [s for s, (n, v1, v2) in states.items() if (n, v1, v2) == (ROWS * COLS, 0, ROWS * COLS)]
    old_sheets = [s for s, (n, v1, v2) in states.items() if (n, v1, v2) == (ROWS * COLS, ROWS * COLS, 0)]
    assert sorted(new_sheets + old_sheets) == sorted(states), f"sheets between states: {states}"
    assert new_sheets and old_sheets, "the kill did not land half-way"

    subprocess.run([LANDREC, "load", str(path), "--db", pg_url], check=True, capture_output=True)
    assert all(v == (ROWS * COLS, 0, ROWS * COLS) for v in _sheet_states(pg_url).values())


def test_first_load_killed_half_way_then_finished(pg_url: str, tmp_path: Path):
    _, _, path = _layers(tmp_path)
    init_register(pg_url, CRS_BG).dispose()
    _kill_when(pg_url, path, lambda states: len(states) >= 2)  # a bulk load: b-tree indexes, FKs off

    states = _sheet_states(pg_url)
    assert 2 <= len(states) < len(SHEETS), "the kill did not land half-way"
    assert all(v == (ROWS * COLS, ROWS * COLS, 0) for v in states.values()), f"a sheet is partial: {states}"

    subprocess.run([LANDREC, "load", str(path), "--db", pg_url], check=True, capture_output=True)
    states = _sheet_states(pg_url)
    assert len(states) == len(SHEETS) and all(v == (ROWS * COLS, ROWS * COLS, 0) for v in states.values())
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as conn:
        names = set(conn.execute(text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'parcel'"
            " UNION SELECT conname FROM pg_constraint WHERE conrelid = 'parcel'::regclass")).scalars())
    engine.dispose()
    # what the killed bulk load had dropped is back
    assert {"idx_parcel_geom", "ix_parcel_sheet", "ix_parcel_key_current", "uq_parcel_version",
            "parcel_source_id_fkey", "parcel_transaction_id_fkey"} <= names
