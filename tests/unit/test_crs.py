"""The CRS registry: names, zones, and the VN-2000 datum-shift convention."""

from __future__ import annotations

import math

import pytest
from pyproj import CRS, Transformer
from pyproj.transformer import TransformerGroup

from gis.crs import (
    VN2000_TO_WGS84,
    crs_from_srid,
    epsg_equivalent,
    province,
    provinces,
    registry,
    resolve_crs,
    srid_of,
    to_wgs84,
    vn2000_tm3,
)
from gis.errors import CRSError


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Ground distance between two nearby lon/lat points, in metres."""
    dy = (lat2 - lat1) * 110_574.0
    dx = (lon2 - lon1) * 111_320.0 * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


def test_all_63_provinces_have_a_zone():
    ps = provinces()
    assert len(ps) == 63
    assert len({p.code for p in ps}) == 63
    for p in ps:
        assert 102.0 <= p.central_meridian <= 109.5
        assert resolve_crs(f"vn2000:{p.slug}").name.startswith("VN-2000 / TM-3 ")


@pytest.mark.parametrize(
    ("name", "meridian"),
    [
        ("Bắc Giang", 107.0), ("Long An", 105.75), ("Bà Rịa–Vũng Tàu", 107.75),
        ("Bình Thuận", 108.5), ("Hà Nội", 105.0), ("TP Hồ Chí Minh", 105.75),
        ("Đồng Nai", 107.75), ("Bình Dương", 105.75), ("Quảng Ninh", 107.75),
        ("Kiên Giang", 104.5), ("Cà Mau", 104.5),
    ],
)
def test_domain_meridians(name, meridian):
    """The meridians DOMAIN.md quotes from Circular 25/2014 Annex 02."""
    assert province(name).central_meridian == meridian


@pytest.mark.parametrize("spec", ["vn2000:bac-giang", "vn2000:Bắc Giang", "vn2000:bac giang",
                                  "VN2000:BAC-GIANG", "vn2000:bacgiang", "vn2000:24",
                                  "vn2000:tm3:107", "vn2000:tm3:107-00", "vn2000:tm3:107.0"])
def test_spellings_of_one_zone(spec):
    crs = resolve_crs(spec)
    assert crs == vn2000_tm3(107.0)
    assert srid_of(crs) == 980700


def test_epsg_proj_and_wkt_inputs():
    assert resolve_crs("EPSG:9214") == CRS.from_epsg(9214)
    assert resolve_crs(9214) == CRS.from_epsg(9214)
    assert resolve_crs("4326") == CRS.from_epsg(4326)
    wkt = vn2000_tm3(105.75).to_wkt()
    assert resolve_crs(wkt) == vn2000_tm3(105.75)
    assert resolve_crs("+proj=utm +zone=48 +datum=WGS84").is_projected


def test_unknown_names_list_close_matches():
    with pytest.raises(CRSError) as err:
        resolve_crs("vn2000:bac-gaing")
    assert "bac-giang" in err.value.hint
    with pytest.raises(CRSError) as err:
        resolve_crs("vn2000:tm3:99")
    assert "quarter degrees" in err.value.hint
    with pytest.raises(CRSError):
        resolve_crs("EPSG:999999")
    with pytest.raises(CRSError):
        resolve_crs("not a crs at all")


def test_srids_are_private_unique_and_invertible():
    srids = [e.srid for e in registry()]
    assert len(set(srids)) == len(srids)
    for e in registry():
        assert 980000 <= e.srid <= 989999
        assert crs_from_srid(e.srid) == e.crs
    assert srid_of(CRS.from_epsg(4326)) == 4326


def test_tm3_parameters():
    crs = resolve_crs("vn2000:long-an")
    params = {p.name: p.value for p in crs.source_crs.coordinate_operation.params}
    assert params["Longitude of natural origin"] == 105.75
    assert params["Scale factor at natural origin"] == 0.9999
    assert params["False easting"] == 500000
    assert params["False northing"] == 0
    assert crs.source_crs.ellipsoid.semi_major_metre == 6378137.0


# --- the datum shift convention ------------------------------------------------------

POINTS = [(560000.0, 2360000.0), (450000.0, 1200000.0), (530000.0, 1110000.0)]


@pytest.mark.parametrize("meridian", [103.0, 104.5, 105.75, 107.0, 107.75, 108.5])
def test_vn2000_shift_is_epsg_6960_to_the_millimetre(meridian):
    """Our +towgs84 (Position Vector) equals EPSG:6960 (Coordinate Frame), signs and all."""
    ours = vn2000_tm3(meridian)
    projection = Transformer.from_crs(ours.source_crs, ours.source_crs.geodetic_crs, always_xy=True)
    group = TransformerGroup("EPSG:4756", "EPSG:4326", always_xy=True)
    by_code = [t for t in group.transformers if "VN-2000 to WGS 84 (2)" in t.description]
    assert by_code, "PROJ's database lacks EPSG:6960"
    epsg = by_code[0]
    for e, n in POINTS:
        lon, lat = projection.transform(e, n)
        want = epsg.transform(lon, lat)
        got = to_wgs84(ours).transform(e, n)
        assert _metres(*want, *got) < 0.001


def test_flipped_rotation_signs_would_be_caught():
    """The other sign set moves points by decimetres: the test above can tell them apart."""
    dx, dy, dz, rx, ry, rz, ds = VN2000_TO_WGS84
    flipped = CRS.from_proj4(
        f"+proj=tmerc +lon_0=107 +k=0.9999 +x_0=500000 +ellps=WGS84 "
        f"+towgs84={dx},{dy},{dz},{-rx},{-ry},{-rz},{ds} +units=m")
    bad = Transformer.from_crs(flipped, "EPSG:4326", always_xy=True).transform(560000, 2360000)
    good = to_wgs84(vn2000_tm3(107.0)).transform(560000, 2360000)
    assert _metres(*good, *bad) > 0.2


@pytest.mark.parametrize("code", range(9205, 9219))
def test_epsg_tm3_zones_give_the_same_projected_coordinates(code):
    """EPSG:9205-9218 and our zones project VN-2000 lon/lat identically."""
    epsg = CRS.from_epsg(code)
    ours = resolve_crs(code)
    assert ours == epsg  # an EPSG code resolves to EPSG's own CRS
    meridian = next(p.value for p in epsg.coordinate_operation.params
                    if p.name == "Longitude of natural origin")
    zone = vn2000_tm3(meridian)
    assert epsg_equivalent(zone) == code
    geog = zone.source_crs.geodetic_crs
    a = Transformer.from_crs(geog, zone.source_crs, always_xy=True)
    b = Transformer.from_crs("EPSG:4756", epsg, always_xy=True)
    for lon, lat in [(meridian + 0.4, 21.2), (meridian - 0.7, 10.8)]:
        e1, n1 = a.transform(lon, lat)
        e2, n2 = b.transform(lon, lat)
        assert math.hypot(e1 - e2, n1 - n2) < 0.001


def test_epsg_9214_differs_from_05_2007_by_its_default_operation():
    """STACK.md: EPSG:9214 through PROJ's default op lands ~0.7 m from the 05/2007 shift.

    landrec always uses the 05/2007 parameters (EPSG:6960); this pins the difference so
    nobody mistakes one for the other.
    """
    ours = to_wgs84(vn2000_tm3(107.0)).transform(560000, 2360000)
    default = Transformer.from_crs("EPSG:9214", "EPSG:4326", always_xy=True).transform(560000, 2360000)
    assert _metres(*ours, *default) < 2.0


def test_hn72_is_krassowsky_with_epsg_1544_shift():
    crs = resolve_crs("hn72:gk18")
    assert crs.source_crs.ellipsoid.semi_major_metre == 6378245.0
    assert round(crs.source_crs.ellipsoid.inverse_flattening, 1) == 298.3
    params = {p.name: p.value for p in crs.source_crs.coordinate_operation.params}
    assert params["Longitude of natural origin"] == 105.0
    # HN-72 -> WGS 84 lands within a few metres of EPSG:1544 (translation only)
    lon, lat = to_wgs84(resolve_crs("hn72")).transform(105.8, 21.0)
    group = TransformerGroup("EPSG:4147", "EPSG:4326", always_xy=True)
    epsg1544 = next(t for t in group.transformers if "Hanoi 1972 to WGS 84 (1)" in t.description)
    lon2, lat2 = epsg1544.transform(105.8, 21.0)
    assert _metres(lon, lat, lon2, lat2) < 0.01
