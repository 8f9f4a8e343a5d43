"""The `landrec` entry point: help, version, CRS and sheet lookups, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LANDREC = str(Path(sys.executable).with_name("landrec"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LANDREC, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)


def test_help_lists_the_subcommands():
    out = run("--help")
    assert out.returncode == 0
    for name in ("crs", "sheet", "digitize", "load", "parcel", "serve", "demo", "sample", "qa", "style"):
        assert f"  {name} " in out.stdout, name


def test_version():
    out = run("--version")
    assert out.returncode == 0 and "landrec" in out.stdout


def test_crs_show_json():
    out = run("crs", "show", "vn2000:Bà Rịa–Vũng Tàu", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["name"] == "VN-2000 / TM-3 107-45"
    assert data["srid"] == 980745
    assert "+towgs84=-191.90441429,-39.30318279,-111.45032835,0.00928836,-0.01975479,0.00427372" in data["proj"]


def test_crs_list_has_every_province():
    data = json.loads(run("crs", "list", "--json").stdout)
    assert len(data["provinces"]) == 63


def test_unknown_crs_is_a_clear_error_without_traceback():
    out = run("crs", "show", "vn2000:long-ann")
    assert out.returncode == 2
    assert "unknown province 'long-ann'" in out.stderr
    assert "long-an" in out.stderr
    assert "Traceback" not in out.stderr


def test_sheet_show_and_at_agree():
    shown = json.loads(run("sheet", "show", "361561-4-b", "--province", "Bắc Giang", "--json").stdout)
    assert shown["scale"] == 1000
    assert shown["extent"] == [561500.0, 2359500.0, 562000.0, 2360000.0]
    at = json.loads(run("sheet", "at", "561700", "2359800", "--scale", "1000", "--json").stdout)
    assert at["number"] == "361561-4-b"


def test_malformed_sheet_number():
    out = run("sheet", "show", "361561-4-z", "--province", "bac-giang")
    assert out.returncode == 2
    assert "not a sheet number" in out.stderr and "Traceback" not in out.stderr
