"""The CRS registry: VN-2000 (TM-3 zones of all 63 provinces, UTM 48N/49N), HN-72,
and anything pyproj understands (EPSG codes, PROJ strings, WKT).

Datum shift convention (read this before touching the numbers)
---------------------------------------------------------------
Decision 05/2007/QĐ-BTNMT publishes the VN-2000 -> WGS 84 seven parameters.  The EPSG
dataset records them as transformation EPSG:6960 "VN-2000 to WGS 84 (2)" with method
9607 *Coordinate Frame rotation* and rotations (-0.00928836, +0.01975479, -0.00427372)
arc-seconds.  PROJ's ``+towgs84`` and WKT1 ``TOWGS84[...]`` use the *Position Vector*
convention (EPSG method 9606), whose rotations have the opposite sign.  So the one set
of parameters here, :data:`VN2000_TO_WGS84`, is in Position Vector form:
rotations (+0.00928836, -0.01975479, +0.00427372).  ``tests/unit/test_crs.py`` checks
every registry CRS against EPSG:6960 itself, to the millimetre, and checks that the
other sign set is off by decimetres, so a flipped sign cannot pass unnoticed.

SRIDs
-----
Registry CRSs are stored under landrec's own SRIDs (980000-989999), never under an
EPSG number: PostGIS resolves an ``EPSG`` row through PROJ's database, which picks its
own VN-2000 -> WGS 84 operation (EPSG:5194 or 6960) and would disagree with ours by up
to a metre.  Under a private authority the stored WKT, with its TOWGS84, is what every
reader uses.  Each entry still names its EPSG equivalent (same projected coordinates)
for OGC CRS URIs.
"""

from __future__ import annotations

import csv
import difflib
import re
import unicodedata
import warnings
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from pyproj import CRS, Transformer
from pyproj.crs import BoundCRS, GeographicCRS, ProjectedCRS
from pyproj.crs.coordinate_operation import (
    ToWGS84Transformation,
    TransverseMercatorConversion,
)
from pyproj.crs import Ellipsoid, PrimeMeridian
from pyproj.crs.datum import CustomDatum
from pyproj.exceptions import CRSError as PyprojCRSError

from gis.errors import CRSError

__all__ = [
    "VN2000_TO_WGS84",
    "HN72_TO_WGS84",
    "Province",
    "RegistryEntry",
    "provinces",
    "province",
    "registry",
    "resolve_crs",
    "srid_of",
    "crs_from_srid",
    "epsg_equivalent",
    "vn2000_tm3",
    "to_wgs84",
    "proj_string",
    "slugify",
]

#: VN-2000 -> WGS 84, Decision 05/2007/QĐ-BTNMT = EPSG:6960, in the Position Vector
#: convention of PROJ's +towgs84: dx, dy, dz (m), rx, ry, rz (arc-seconds), ds (ppm).
VN2000_TO_WGS84: tuple[float, ...] = (
    -191.90441429, -39.30318279, -111.45032835,
    0.00928836, -0.01975479, 0.00427372,
    0.252906278,
)
#: HN-72 -> WGS 84, EPSG:1544 "Hanoi 1972 to WGS 84 (1)" (geocentric translation, 5 m).
HN72_TO_WGS84: tuple[float, ...] = (-17.51, -108.32, -62.39, 0.0, 0.0, 0.0, 0.0)

#: Private SRID ranges (see module docstring).
_SRID_TM3_BASE = 970000  # + degrees*100 + minutes: 107°45' -> 980745
_SRID_VN2000_GEOG = 984756
_SRID_VN2000_UTM = {48: 983405, 49: 983406}
_SRID_HN72_GEOG = 984147
_SRID_HN72_GK = {18: 981418, 19: 981419}


@dataclass(frozen=True)
class Province:
    """A province with its VN-2000 TM-3 central meridian (Circular 25/2014, Annex 02).

    ``approx_lat`` is the rough latitude of its centre (±0.5°): enough to tell which
    thousand kilometres of northing a 3-digit sheet number means, nothing more.
    """

    code: str
    name: str
    slug: str
    central_meridian: float
    approx_lat: float


@dataclass(frozen=True)
class RegistryEntry:
    """One named CRS of the registry."""

    key: str
    name: str
    srid: int
    crs: CRS
    epsg: int | None = None


def slugify(text: str) -> str:
    """Fold a Vietnamese name to an ASCII slug: ``"Bà Rịa–Vũng Tàu"`` -> ``"ba-ria-vung-tau"``.

    >>> slugify("Bắc Giang")
    'bac-giang'
    """
    text = text.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@lru_cache(maxsize=1)
def provinces() -> tuple[Province, ...]:
    """All 63 provinces, in the order of their administrative codes."""
    text = resources.files("gis.data").joinpath("provinces.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return tuple(
        Province(r["code"], r["name"], r["slug"], float(r["central_meridian"]), float(r["approx_lat"])) for r in rows
    )


def province(name: str) -> Province:
    """Find a province by name (with or without diacritics), slug or code."""
    wanted = re.sub(r"^(tp|thanh-pho|tinh)-", "", slugify(name))
    compact = wanted.replace("-", "")
    for p in provinces():
        if wanted in (p.slug, p.code) or compact == p.slug.replace("-", ""):
            return p
    close = difflib.get_close_matches(wanted, [p.slug for p in provinces()], n=4, cutoff=0.6)
    raise CRSError(
        f"unknown province {name!r}",
        hint=("did you mean: " + ", ".join(close)) if close else "see `landrec crs list`",
    )


def _dm(deg: float) -> str:
    d = int(deg)
    return f"{d}-{round((deg - d) * 60):02d}"


@lru_cache(maxsize=1)
def _vn2000_geographic() -> GeographicCRS:
    # Not EPSG's datum name on purpose: GDAL recognises "Vietnam 2000", strips the TOWGS84
    # on reading a GeoPackage, and leaves the shift to whatever operation the reader's PROJ
    # prefers (EPSG:5194 or 6960, up to ~0.7 m apart).  Under this name the 05/2007
    # parameters travel with every GeoPackage (tests/integration/test_store_crs.py).
    # ESRI .prj files cannot carry a TOWGS84 at all: landrec writes GeoPackages.
    datum = CustomDatum(name="VN-2000 (TOWGS84 of EPSG:6960)", ellipsoid=Ellipsoid.from_epsg(7030),  # WGS 84
                        prime_meridian=PrimeMeridian.from_epsg(8901))
    return GeographicCRS(name="VN-2000", datum=datum)


@lru_cache(maxsize=1)
def _hn72_geographic() -> GeographicCRS:
    # Not EPSG's name on purpose: GDAL recognises "Hanoi 1972" with a TOWGS84 equal to
    # EPSG:1544, strips the TOWGS84 as redundant, and PROJ then finds no operation and
    # moves nothing (a 55 m error, caught by tests/integration/test_store_crs.py).
    datum = CustomDatum(name="HN-72 (TOWGS84 of EPSG:1544)", ellipsoid=Ellipsoid.from_epsg(7024),  # Krassowsky 1940
                        prime_meridian=PrimeMeridian.from_epsg(8901))
    return GeographicCRS(name="HN-72", datum=datum)


def _bound(source: CRS, params: tuple[float, ...]) -> CRS:
    dx, dy, dz, rx, ry, rz, ds = params
    op = ToWGS84Transformation(
        source.geodetic_crs,
        x_axis_translation=dx, y_axis_translation=dy, z_axis_translation=dz,
        x_axis_rotation=rx, y_axis_rotation=ry, z_axis_rotation=rz,
        scale_difference=ds,
    )
    return CRS(BoundCRS(source_crs=source, target_crs="EPSG:4326", transformation=op))


def _tm(name: str, geog: GeographicCRS, lon0: float, k: float, params: tuple[float, ...]) -> CRS:
    conv = TransverseMercatorConversion(
        latitude_natural_origin=0.0, longitude_natural_origin=lon0,
        false_easting=500000.0, false_northing=0.0, scale_factor_natural_origin=k,
    )
    return _bound(ProjectedCRS(conversion=conv, geodetic_crs=geog, name=name), params)


def vn2000_tm3(central_meridian: float) -> CRS:
    """The VN-2000 TM-3 zone with this central meridian (scale 0.9999, FE 500 km)."""
    if not 100.0 <= central_meridian <= 112.0 or round(central_meridian * 4) != central_meridian * 4:
        raise CRSError(
            f"{central_meridian} is not a VN-2000 TM-3 central meridian",
            hint="TM-3 meridians are whole quarter degrees between 102°E and 110°E, e.g. 107.75",
        )
    return _entry_tm3(central_meridian).crs


@lru_cache(maxsize=None)
def _entry_tm3(cm: float) -> RegistryEntry:
    name = f"VN-2000 / TM-3 {_dm(cm)}"
    srid = _SRID_TM3_BASE + int(cm) * 100 + round((cm - int(cm)) * 60)
    crs = _tm(name, _vn2000_geographic(), cm, 0.9999, VN2000_TO_WGS84)
    return RegistryEntry(f"vn2000:tm3:{_dm(cm)}", name, srid, crs, _epsg_tm3().get(cm))


@lru_cache(maxsize=1)
def _epsg_tm3() -> dict[float, int]:
    """EPSG codes of the TM-3 zones EPSG names by meridian (EPSG:9205-9218)."""
    out = {}
    for code in range(9205, 9219):
        m = re.search(r"TM-3 (\d+)-(\d+)", CRS.from_epsg(code).name)
        if m:
            out[int(m.group(1)) + int(m.group(2)) / 60] = code
    return out


@lru_cache(maxsize=1)
def registry() -> tuple[RegistryEntry, ...]:
    """Every named CRS: one TM-3 zone per distinct meridian, UTM, geographic, HN-72."""
    entries = [_entry_tm3(cm) for cm in sorted({p.central_meridian for p in provinces()})]
    vgeog = _vn2000_geographic()
    entries.append(RegistryEntry("vn2000", "VN-2000", _SRID_VN2000_GEOG, _bound(vgeog, VN2000_TO_WGS84), 4756))
    for zone, srid in _SRID_VN2000_UTM.items():
        name = f"VN-2000 / UTM zone {zone}N"
        crs = _tm(name, vgeog, zone * 6 - 183, 0.9996, VN2000_TO_WGS84)
        entries.append(RegistryEntry(f"vn2000:utm{zone}", name, srid, crs, 3405 + zone - 48))
    hgeog = _hn72_geographic()
    entries.append(RegistryEntry("hn72", "HN-72", _SRID_HN72_GEOG, _bound(hgeog, HN72_TO_WGS84), 4147))
    for zone, srid in _SRID_HN72_GK.items():
        name = f"HN-72 / Gauss-Kruger zone {zone}"
        crs = _tm(name, hgeog, zone * 6 - 3, 1.0, HN72_TO_WGS84)  # GK zones count from Greenwich
        entries.append(RegistryEntry(f"hn72:gk{zone}", name, srid, crs))
    return tuple(entries)


def _names() -> list[str]:
    return [e.key for e in registry()] + [f"vn2000:{p.slug}" for p in provinces()]


def resolve_crs(spec: str | int | CRS) -> CRS:
    """Turn a user's CRS name into a :class:`pyproj.CRS`.

    Accepts ``vn2000:<province>`` (``vn2000:bac-giang``, ``vn2000:Bắc Giang``),
    ``vn2000:tm3:<meridian>`` (``107.75`` or ``107-45``), ``vn2000:utm48``/``utm49``,
    ``vn2000``, ``hn72``, ``hn72:gk18``/``gk19``, and anything pyproj takes: an EPSG
    code (``EPSG:9214`` or ``9214``), a PROJ string, WKT.

    >>> resolve_crs("vn2000:bac-giang").name
    'VN-2000 / TM-3 107-00'
    """
    if isinstance(spec, CRS):
        return spec
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        spec = f"EPSG:{int(spec)}"
    text = spec.strip()
    key = text.lower()
    if key.startswith(("vn2000", "vn-2000", "hn72", "hn-72")) and not key.startswith(("vn-2000 /", "hn-72 /")):
        return _resolve_named(text)
    try:
        return CRS.from_user_input(text)
    except PyprojCRSError:
        close = difflib.get_close_matches(key, _names(), n=4, cutoff=0.5)
        raise CRSError(
            f"unknown CRS {text!r}",
            hint=("close matches: " + ", ".join(close)) if close
            else "give vn2000:<province>, vn2000:tm3:<meridian>, an EPSG code, a PROJ string or WKT",
        ) from None


def _resolve_named(text: str) -> CRS:
    head, _, rest = text.partition(":")
    head = head.lower().replace("-", "")
    rest = rest.strip()
    if head == "vn2000":
        low = rest.lower()
        if low in ("", "geographic", "geog"):
            return _by_key("vn2000").crs
        if low in ("utm48", "utm49"):
            return _by_key(f"vn2000:{low}").crs
        if low.startswith("tm3:"):
            return vn2000_tm3(_parse_meridian(rest[4:]))
        return vn2000_tm3(province(rest).central_meridian)
    if head == "hn72" and rest.lower() in ("", "gk18", "gk19"):
        return _by_key("hn72" + (f":{rest.lower()}" if rest else "")).crs
    close = difflib.get_close_matches(text.lower(), _names(), n=4, cutoff=0.5)
    raise CRSError(f"unknown CRS {text!r}", hint=("close matches: " + ", ".join(close)) if close else None)


def _parse_meridian(text: str) -> float:
    m = re.fullmatch(r"\s*(\d{2,3})(?:[-°:](\d{1,2})'?|\.(\d+))?\s*", text)
    if not m:
        raise CRSError(f"cannot read central meridian {text!r}", hint="write it as 107.75 or 107-45")
    deg = int(m.group(1))
    if m.group(2):
        return deg + int(m.group(2)) / 60
    if m.group(3):
        return float(f"{deg}.{m.group(3)}")
    return float(deg)


def _by_key(key: str) -> RegistryEntry:
    for e in registry():
        if e.key == key:
            return e
    raise CRSError(f"unknown CRS {key!r}")


def _entry_for(crs: CRS) -> RegistryEntry | None:
    for e in registry():
        if e.crs == crs:
            return e
    return None


def srid_of(crs: CRS) -> int:
    """The SRID a CRS is stored under: landrec's own for registry CRSs, else its EPSG code."""
    entry = _entry_for(crs)
    if entry is not None:
        return entry.srid
    code = crs.to_epsg(min_confidence=100)
    if code is None:
        raise CRSError(
            f"CRS {crs.name!r} has no SRID",
            hint="use a registry CRS (vn2000:<province>) or one with an EPSG code",
        )
    return code


def crs_from_srid(srid: int) -> CRS:
    """Inverse of :func:`srid_of`."""
    for e in registry():
        if e.srid == srid:
            return e.crs
    try:
        return CRS.from_epsg(srid)
    except PyprojCRSError:
        raise CRSError(f"unknown SRID {srid}") from None


def epsg_equivalent(crs: CRS) -> int | None:
    """The EPSG code with the same coordinates (for OGC CRS URIs), if any."""
    entry = _entry_for(crs)
    return entry.epsg if entry is not None else crs.to_epsg(min_confidence=100)


def proj_string(crs: CRS) -> str:
    """The PROJ string of a CRS (with +towgs84), without pyproj's lossy-format warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return crs.to_proj4()


@lru_cache(maxsize=64)
def to_wgs84(crs: CRS) -> Transformer:
    """A transformer from ``crs`` to WGS 84 lon/lat, through the CRS's own TOWGS84."""
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
