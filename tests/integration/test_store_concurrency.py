"""GeoPackage stores: many readers at once, and a writer beside them."""

from __future__ import annotations

import threading

import shapely
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text

from gis.store import Geometry, create_all, open_engine


def test_readers_do_not_lock_each_other_out(tmp_path):
    path = tmp_path / "r.gpkg"
    md = MetaData()
    t = Table("probe", md, Column("id", Integer, primary_key=True), Column("geom", Geometry("POINT", srid=980700)))
    writer = open_engine(path)
    create_all(writer, md)
    with writer.begin() as conn:
        conn.execute(insert(t), [{"geom": shapely.Point(560000 + i, 2360000)} for i in range(200)])
    reader = open_engine(path, create=False, readonly=True)
    errors: list[BaseException] = []
    counts: list[int] = []
    hold = threading.Barrier(8)

    def read() -> None:
        try:
            with reader.connect() as conn:
                hold.wait(timeout=30)  # all eight inside a read transaction at once
                counts.append(len(conn.execute(select(t.c.id)).all()))
                hold.wait(timeout=30)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert counts == [200] * 8
    # the reader cannot write
    with reader.connect() as conn:
        try:
            conn.execute(text("DELETE FROM probe"))
            raised = False
        except Exception:  # noqa: BLE001 - sqlite3 readonly error wrapped by SQLAlchemy
            raised = True
    assert raised
    with writer.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM probe")).scalar_one() == 200
