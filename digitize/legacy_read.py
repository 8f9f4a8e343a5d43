"""Reading legacy drawings into one element table (the reading side of the legacy import).

This is the only part of the legacy import that touches files; the CLI calls
:func:`read_drawing` and hands the result to the pure steps of :mod:`digitize.legacy`.
Every format goes through pyogrio (GDAL): DGN v7, DXF, Shapefile, MapInfo TAB/MIF,
GeoJSON, GeoPackage, KML.  Damaged input (empty, truncated, not the format its name
says, DGN v8) raises :class:`~gis.errors.FormatError` with a hint, never a crash.
"""

from __future__ import annotations

import codecs
import math
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import ezdxf
import ezdxf.path
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS
from shapely.geometry import LineString

from gis.errors import FormatError
from gis.io import require_file

__all__ = ["FORMATS", "Drawing", "read_drawing"]

#: file suffix -> format name
FORMATS: dict[str, str] = {
    ".dgn": "DGN", ".dxf": "DXF", ".shp": "Shapefile", ".tab": "MapInfo", ".mif": "MapInfo",
    ".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage", ".kml": "KML",
}

#: largest arc radius (m) for which GDAL's arc stroking stays within the arc tolerance
_MAX_ARC_RADIUS_M = 200.0


@dataclass
class Drawing:
    """One source file as a table of elements.

    ``elements`` has the columns ``level`` (str: DGN level number, DXF layer, or the
    layer name of other formats), ``etype`` (DGN element type or DXF subclass, may be
    empty), ``text`` (raw label text as read, or None) and ``geometry``;
    ``attributes`` holds the other columns of vector formats (for polygon sources).
    """

    path: Path
    format: str
    elements: gpd.GeoDataFrame
    crs: CRS | None
    notes: list[str] = field(default_factory=list)


def read_drawing(path: str | os.PathLike, *, arc_tolerance_m: float = 0.1) -> Drawing:
    """Read a legacy drawing or vector file into a :class:`Drawing`.

    ``arc_tolerance_m`` bounds how far the chords of DXF arcs, circles, bulges and
    splines may stray from the true curve (the snapping tolerance of the map scale,
    :func:`gis.topology.tolerances`): an arc drawn through measured vertices whose
    chords are within it stays those chords.
    """
    p = require_file(path, "drawing")
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise FormatError(f"{p.name}: unknown drawing format {p.suffix!r}",
                          hint="give a .dgn, .dxf, .shp, .tab, .mif, .geojson, .gpkg or .kml file")
    if p.stat().st_size == 0:
        raise FormatError(f"{p} is empty (0 bytes)", hint="export the drawing again from the CAD program")
    notes: list[str] = []
    if fmt == "DGN":
        notes += _check_dgn(p)
    elif fmt == "DXF":
        _check_dxf(p)
    step = math.degrees(2 * math.acos(1 - min(arc_tolerance_m, _MAX_ARC_RADIUS_M) / _MAX_ARC_RADIUS_M))
    frames = []
    crs = None
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(p)]
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise FormatError(f"{p} cannot be read as {fmt}: {_short(exc)}",
                          hint=f"check that the file is a complete {fmt} file; export it again") from None
    # GDAL's own recoding of DXF text loses the last letter of cp1258 strings; take the raw
    # bytes (as Latin-1) and decode them here with the code page the file declares
    options = {"OGR_ARC_STEPSIZE": f"{step:.4f}", "DXF_ENCODING": "ISO-8859-1"}
    old = {k: pyogrio.get_gdal_config_option(k) for k in options}
    pyogrio.set_gdal_config_options(options)
    try:
        for layer in layers:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                df = pyogrio.read_dataframe(p, layer=layer, encoding="latin1" if fmt == "DGN" else None)
            if crs is None and df.crs is not None:
                crs = CRS(df.crs)
            frames.append(_normalize(df, fmt, layer))
    except (DataSourceError, DataLayerError, OSError, ValueError, RuntimeError) as exc:
        raise FormatError(f"{p} cannot be read as {fmt}: {_short(exc)}",
                          hint=f"check that the file is a complete {fmt} file; export it again") from None
    finally:
        pyogrio.set_gdal_config_options(old)
    if fmt == "DXF":
        codec = _dxf_codec(p)
        curves = _dxf_curves(p, arc_tolerance_m)
        for df in frames:
            if curves and "handle" in df.columns:
                fix = df["handle"].map(curves)
                lines = np.isin(shapely.get_type_id(np.asarray(df.geometry.values, dtype=object)), (1, 2))
                use = np.flatnonzero(fix.notna().to_numpy() & lines)
                for k in use:  # GDAL closes some polylines ezdxf reads as open: keep GDAL's closure
                    new = fix.iloc[k]
                    if df.geometry.iloc[k].is_closed and not new.is_closed:
                        new = LineString([*new.coords, new.coords[0]])
                    df.loc[df.index[k], "geometry"] = new
            df["level"] = df["level"].map(lambda t: _dxf_text(t, codec))
            df["text"] = df["text"].map(lambda t: _dxf_text(t, codec))
    for df in frames:
        df.drop(columns=["handle"], errors="ignore", inplace=True)
    elements = pd.concat(frames, ignore_index=True) if frames else _empty()
    elements = gpd.GeoDataFrame(elements, geometry="geometry")
    if len(elements) == 0:
        raise FormatError(f"{p} holds no drawing elements", hint="check that this is the right file")
    return Drawing(p, fmt, elements, crs, notes)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _empty() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"level": [], "etype": [], "text": [], "attributes": []}, geometry=[])


def _normalize(df: gpd.GeoDataFrame, fmt: str, layer: str) -> gpd.GeoDataFrame:
    """The common element columns from a driver's own columns."""
    cols = set(df.columns)
    if fmt == "DGN":
        level = df["Level"].astype("Int64").astype(str)
        etype = df["Type"].astype("Int64").astype(str)
        text = df["Text"] if "Text" in cols else pd.Series([None] * len(df))
    elif fmt == "DXF":
        level = df["Layer"].astype(str) if "Layer" in cols else pd.Series([layer] * len(df))
        etype = df["SubClasses"].fillna("").astype(str) if "SubClasses" in cols else pd.Series([""] * len(df))
        text = df["Text"] if "Text" in cols else pd.Series([None] * len(df))
    else:
        level = pd.Series([layer] * len(df))
        etype = pd.Series([""] * len(df))
        text = pd.Series([None] * len(df))
    skip = {"geometry", "Layer", "SubClasses", "Text", "Level", "Type", "PaperSpace", "Linetype", "EntityHandle"}
    attrs = [c for c in df.columns if c not in skip] if fmt not in ("DGN", "DXF") else []
    records = df[attrs].to_dict("records") if attrs else [{}] * len(df)
    geoms = np.asarray(df.geometry.values, dtype=object)
    if len(geoms):
        geoms = shapely.force_2d(geoms)
    text = text.where(text.notna(), None)
    out = gpd.GeoDataFrame(
        {"level": level.to_numpy(), "etype": etype.to_numpy(), "text": text.to_numpy(dtype=object),
         "attributes": records},
        geometry=list(geoms), crs=None,
    )
    if fmt == "DXF" and "EntityHandle" in cols:
        out["handle"] = df["EntityHandle"].to_numpy()
    return out


def _check_dgn(p: Path) -> list[str]:
    """Walk the element chain of a DGN v7 file: refuse v8, truncation and non-DGN files."""
    data = p.read_bytes()
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise FormatError(f"{p.name} is a MicroStation V8 DGN, which GDAL cannot read",
                          hint="save it as DGN V7 in MicroStation, or export DXF and import that")
    if len(data) < 4 or data[1] != 0x09 or data[0] not in (0x08, 0xC8):
        raise FormatError(f"{p.name} is not a DGN v7 file (no design-file header)",
                          hint="check the file; a DGN v7 file starts with its type-9 control block")
    pos = 0
    while pos + 4 <= len(data) and data[pos:pos + 2] != b"\xff\xff":
        pos += 4 + 2 * int.from_bytes(data[pos + 2:pos + 4], "little")
    if pos <= len(data) and (pos == len(data) or data[pos:pos + 2] == b"\xff\xff"):
        return []  # an end-of-design marker, or the last element ends with the file
    raise FormatError(
        f"{p.name} is truncated: its last element runs past the end of the file ({len(data)} bytes)",
        hint="the copy is incomplete; copy or export the drawing again",
    )


def _dxf_curves(p: Path, tol: float) -> dict[str, LineString]:
    """Curved DXF entities (bulged polylines, arcs, circles, ellipses, splines) flattened by
    ezdxf within ``tol``, by entity handle: GDAL strokes polyline bulges several
    centimetres off the true arc, which moves areas by more than 0.1 m²."""
    try:
        doc = ezdxf.readfile(p)
    except (OSError, ezdxf.DXFError, ValueError, UnicodeDecodeError):
        return {}
    out = {}
    for e in doc.modelspace():
        kind = e.dxftype()
        if kind not in _CURVED or (kind in ("LWPOLYLINE", "POLYLINE") and not _has_bulge(e)):
            continue
        try:
            pts = [(v.x, v.y) for v in ezdxf.path.make_path(e).flattening(tol, segments=1)]
        except (ValueError, TypeError, ZeroDivisionError, ezdxf.DXFError):
            continue
        if len(pts) >= 2 and kind in ("LWPOLYLINE", "POLYLINE") and e.is_closed and pts[0] != pts[-1]:
            pts.append(pts[0])
        if len(pts) >= 2:
            out[e.dxf.handle] = LineString(pts)
    return out


_CURVED = ("LWPOLYLINE", "POLYLINE", "ARC", "CIRCLE", "ELLIPSE", "SPLINE")


def _has_bulge(e) -> bool:
    if e.dxftype() == "LWPOLYLINE":
        return any(b for *_, b in e.get_points("xyb"))
    return any(v.dxf.get("bulge", 0) for v in e.vertices)


def _dxf_codec(p: Path) -> str | None:
    """The Python codec of a DXF's text: UTF-8 from AutoCAD 2007 (AC1021) on, else its
    ``$DWGCODEPAGE`` (``ANSI_1258`` -> cp1258); None for Western code pages, whose bytes
    legacy Vietnamese fonts (TCVN3, VNI) reuse and :mod:`gis.textenc` decodes."""
    with open(p, "rb") as fh:
        head = fh.read(65536).decode("latin-1")
    ver = re.search(r"\$ACADVER\s*\r?\n\s*1\s*\r?\n\s*AC(\d{4})", head)
    if ver and int(ver.group(1)) >= 1021:
        return "utf-8"
    page = re.search(r"\$DWGCODEPAGE\s*\r?\n\s*3\s*\r?\n\s*ANSI_(\d+)", head)
    if page is None or page.group(1) in ("1252", "28591"):
        return None
    codec = f"cp{page.group(1)}"
    try:
        codecs.lookup(codec)
    except LookupError:
        return None
    return codec


_DXF_UNICODE = re.compile(r"\\U\+([0-9A-Fa-f]{4})")


def _dxf_text(text, codec: str | None):
    """Raw DXF text (bytes as Latin-1 characters) to a string: code page, then ``\\U+XXXX``."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    text = str(text)
    if codec is not None:
        try:
            text = unicodedata.normalize("NFC", text.encode("latin-1").decode(codec))
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return _DXF_UNICODE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _check_dxf(p: Path) -> None:
    """A DXF must have an ENTITIES section and end with EOF; else it is cut short."""
    with open(p, "rb") as fh:
        head = fh.read(22)
        fh.seek(max(0, p.stat().st_size - 64))
        tail = fh.read()
    if head.startswith(b"AutoCAD Binary DXF"):
        return
    if b"EOF" not in tail.upper():
        raise FormatError(f"{p.name} is truncated: the DXF has no EOF marker at its end",
                          hint="the copy is incomplete; export the drawing as DXF again")
