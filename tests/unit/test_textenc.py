"""gis.textenc: legacy Vietnamese encodings (TCVN3/ABC, VNI) to Unicode."""

from __future__ import annotations

import pytest

from gis.errors import FormatError
from gis.textenc import (
    decode_tcvn3,
    decode_vni,
    detect_encoding,
    encoding_of_font,
    to_unicode,
)

# the same words in the three encodings (TCVN3 and VNI as the Latin-1 characters of their bytes)
WORDS = [
    ("Đất ở tại nông thôn", "§Êt ë t¹i n«ng th«n", "Ñaát ôû taïi noâng thoân"),
    ("Mường Khương", "M\xad\xeang Kh\xad\xacng", "Möôøng Khöông"),
    ("Bắc Giang", "B¾c Giang", "Baéc Giang"),
    ("Số thửa", "Sè th\xf6a", "Soá thöûa"),
    ("lúa nước", "lóa n\xad\xedc", "luùa nöôùc"),
    ("ĐỒNG", "§åNG", "ÑOÀNG"),
]


@pytest.mark.parametrize(("uni", "tcvn3", "vni"), WORDS)
def test_decoders(uni, tcvn3, vni):
    assert decode_vni(vni) == uni
    # TCVN3 upper-case letters with tones were drawn in an upper-case font: they come back lower-case
    assert decode_tcvn3(tcvn3) == ("ĐồNG" if uni == "ĐỒNG" else uni)


@pytest.mark.parametrize(("uni", "tcvn3", "vni"), WORDS[:5])
def test_detection_and_auto_decoding(uni, tcvn3, vni):
    assert detect_encoding(uni) == "unicode"
    assert detect_encoding(tcvn3) == "tcvn3"
    assert detect_encoding(vni) == "vni"
    assert to_unicode(tcvn3) == to_unicode(vni) == to_unicode(uni) == uni


def test_bytes_and_fonts():
    assert to_unicode("§Êt ë".encode("latin-1"), font=".VnTime") == "Đất ở"
    assert to_unicode("Ñaát".encode("latin-1"), font="VNI-Times") == "Đất"
    assert to_unicode("Đất".encode()) == "Đất"
    assert encoding_of_font("Arial") is None and to_unicode("12") == "12"
    assert to_unicode(None) is None


def test_utf8_read_as_cp1252_is_repaired():
    assert to_unicode("Ä‘áº¥t") == "đất"


def test_cp1252_punctuation_maps_back_to_bytes():
    assert decode_tcvn3("\u201a") == "\x82"  # cp1252 0x82 comes back as its byte


def test_broken_text_is_a_clear_error():
    with pytest.raises(FormatError) as exc:
        to_unicode("S\ufffd th\ufffda")
    assert "--text-encoding" in exc.value.hint
    with pytest.raises(FormatError):
        to_unicode("12\x01")
