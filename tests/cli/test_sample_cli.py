"""``landrec sample``: the committed sample is reproduced byte for byte; large districts."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pyogrio

from tests.conftest import REPO, SAMPLE

LANDREC = str(Path(sys.executable).with_name("landrec"))


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generate_reproduces_the_committed_sample(tmp_path):
    out = tmp_path / "district"
    res = subprocess.run([LANDREC, "sample", "generate", "--out", str(out)], capture_output=True, text=True, check=False,
                         cwd=REPO, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert res.returncode == 0, res.stderr
    committed, fresh = _hashes(SAMPLE), _hashes(out)
    assert sorted(fresh) == sorted(committed)
    differ = [name for name in committed if committed[name] != fresh[name]]
    assert differ == []


def test_generate_refuses_to_replace_without_overwrite(tmp_path):
    (tmp_path / "district.json").write_text("{}")
    res = subprocess.run([LANDREC, "sample", "generate", "--out", str(tmp_path)], capture_output=True, text=True, check=False)
    assert res.returncode == 2
    assert "--overwrite" in res.stderr


def test_large_district(tmp_path):
    out = tmp_path / "big.gpkg"
    res = subprocess.run([LANDREC, "sample", "large", "--parcels", "5000", "--out", str(out)],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    df = pyogrio.read_dataframe(out, layer="parcels")
    assert len(df) == 5000
    assert df.groupby("sheet_no")["parcel_no"].apply(lambda s: s.is_unique).all()
    assert df["sheet_no"].nunique() >= 3
    assert df.geometry.is_valid.all()
    again = subprocess.run([LANDREC, "sample", "large", "--parcels", "10", "--out", str(out)],
                           capture_output=True, text=True, check=False)
    assert again.returncode == 2
