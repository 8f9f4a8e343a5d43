"""Legacy Vietnamese text encodings to Unicode: TCVN3 (ABC, ``.VnTime`` fonts) and VNI.

Old drawings store label texts as 8-bit bytes meant for a Vietnamese font: the bytes
arrive as Latin-1/cp1252 characters (``"B¶o Th¾ng"``), and only the font made them
Vietnamese.  This module maps them back to Unicode (NFC):

* TCVN3 / ABC: one byte per letter; tone-marked lower-case letters in 0xB5-0xFE,
  ``ă â ê ô ơ ư đ`` in 0xA8-0xAE, ``Ă Â Ê Ô Ơ Ư Đ`` in 0xA1-0xA7.  Upper-case
  toned letters were drawn with the same bytes in an upper-case font (``.VnTimeH``)
  and come back lower-case: the bytes alone cannot say.
* VNI (``VNI-Times``): a base letter followed by a mark byte (``"aù"`` = á,
  ``"aâ"`` = â, ``"aá"`` = ấ), plus single bytes for ``ơ ư đ`` and some ``i``/``y``.

:func:`to_unicode` picks the encoding from the font name when there is one, else
from the text itself, and raises :class:`~gis.errors.FormatError` for text that no
encoding explains (replacement characters, control bytes).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Literal

from gis.errors import FormatError

__all__ = ["Encoding", "decode_tcvn3", "decode_vni", "detect_encoding", "encoding_of_font", "to_unicode"]

Encoding = Literal["unicode", "tcvn3", "vni"]

# TCVN3 byte (as a Latin-1 character) -> Unicode letter, in groups of the base letter.
_TCVN3_ROWS = (
    # plain, grave, acute, hook, tilde, dot
    ("", "\xb5à", "\xb8á", "\xb6ả", "\xb7ã", "\xb9ạ"),
    ("\xa8ă", "\xbbằ", "\xbeắ", "\xbcẳ", "\xbdẵ", "\xc6ặ"),
    ("\xa9â", "\xc7ầ", "\xcaấ", "\xc8ẩ", "\xc9ẫ", "\xcbậ"),
    ("", "\xccè", "\xd0é", "\xceẻ", "\xcfẽ", "\xd1ẹ"),
    ("\xaaê", "\xd2ề", "\xd5ế", "\xd3ể", "\xd4ễ", "\xd6ệ"),
    ("", "\xd7ì", "\xddí", "\xd8ỉ", "\xdcĩ", "\xdeị"),
    ("", "\xdfò", "\xe3ó", "\xe1ỏ", "\xe2õ", "\xe4ọ"),
    ("\xabô", "\xe5ồ", "\xe8ố", "\xe6ổ", "\xe7ỗ", "\xe9ộ"),
    ("\xacơ", "\xeaờ", "\xedớ", "\xebở", "\xecỡ", "\xeeợ"),
    ("", "\xefù", "\xf3ú", "\xf1ủ", "\xf2ũ", "\xf4ụ"),
    ("\xadư", "\xf5ừ", "\xf8ứ", "\xf6ử", "\xf7ữ", "\xf9ự"),
    ("", "\xfaỳ", "\xfdý", "\xfbỷ", "\xfcỹ", "\xfeỵ"),
    ("\xaeđ", "\xa1Ă", "\xa2Â", "\xa3Ê", "\xa4Ô", "\xa5Ơ"),
    ("\xa6Ư", "\xa7Đ"),
)
_TCVN3: dict[str, str] = {pair[0]: pair[1] for row in _TCVN3_ROWS for pair in row if pair}

# VNI: base letter + mark byte.  Tone marks after a, e, o, u, y, ô (ơ), ö (ư):
_VNI_TONES = {"ù": "\u0301", "ø": "\u0300", "û": "\u0309", "õ": "\u0303", "ï": "\u0323"}
# circumflex with tones (after a, e, o): â plain, á acute, à grave, å hook, ã tilde, ä dot
_VNI_HAT = {"â": "", "á": "\u0301", "à": "\u0300", "å": "\u0309", "ã": "\u0303", "ä": "\u0323"}
# breve with tones (after a only): ê plain, é acute, è grave, ú hook, ü tilde, ë dot
_VNI_BREVE = {"ê": "", "é": "\u0301", "è": "\u0300", "ú": "\u0309", "ü": "\u0303", "ë": "\u0323"}
# single bytes
_VNI_SINGLE = {"ô": "ơ", "ö": "ư", "ñ": "đ", "í": "í", "ì": "ì", "æ": "ỉ", "ó": "ĩ", "ò": "ị", "î": "ỵ"}


@lru_cache(maxsize=1)
def _vni_table() -> dict[str, str]:
    """Every VNI sequence (lower and upper case) -> its Unicode letter; longest first."""
    out: dict[str, str] = {}

    def add(seq: str, uni: str) -> None:
        out[seq] = unicodedata.normalize("NFC", uni)
        out[seq.upper()] = unicodedata.normalize("NFC", uni).upper()

    for base in "aeouy":
        for mark, comb in _VNI_TONES.items():
            add(base + mark, base + comb)
    for base in "aeo":
        for mark, comb in _VNI_HAT.items():
            add(base + mark, base + "\u0302" + comb)
    for mark, comb in _VNI_BREVE.items():
        add("a" + mark, "a\u0306" + comb)
    for horn, letter in (("ô", "o\u031b"), ("ö", "u\u031b")):
        for mark, comb in _VNI_TONES.items():
            add(horn + mark, letter + comb)
    for seq, uni in _VNI_SINGLE.items():
        add(seq, uni)
    return dict(sorted(out.items(), key=lambda kv: -len(kv[0])))


@lru_cache(maxsize=1)
def _vni_re() -> re.Pattern[str]:
    return re.compile("|".join(re.escape(k) for k in _vni_table()))


def decode_tcvn3(text: str) -> str:
    """TCVN3 (ABC) text, read as Latin-1 characters, to Unicode.

    >>> decode_tcvn3("B\\xb6o Th\\xbeng")
    'Bảo Thắng'
    """
    return "".join(_TCVN3.get(c, c) for c in _latin1_chars(text))


def decode_vni(text: str) -> str:
    """VNI text, read as Latin-1 characters, to Unicode.

    >>> decode_vni("Xin chaøo caùc baïn")
    'Xin chào các bạn'
    """
    table = _vni_table()
    return _vni_re().sub(lambda m: table[m.group(0)], _latin1_chars(text))


def _latin1_chars(text: str) -> str:
    """cp1252 punctuation (€, ‚, …) back to the Latin-1 characters of their bytes."""
    if all(ord(c) < 0x100 for c in text):
        return text
    out = []
    for c in text:
        if ord(c) < 0x100:
            out.append(c)
            continue
        try:
            out.append(c.encode("cp1252").decode("latin-1"))
        except UnicodeEncodeError:
            out.append(c)
    return "".join(out)


_PLAIN_VIET_LATIN1 = set("àáâãèéêìíòóôõùúýÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ")
_TCVN3_ONLY = {chr(b) for b in range(0xA1, 0xC0)} | set("×ÝÞßÐ")
_VNI_MARKS = set("ùøûõïâáàåãäêéèúüë") | {c.upper() for c in "ùøûõïâáàåãäêéèúüë"}
_VNI_AFTER_AE = re.compile("[aeAE][" + "".join(sorted(_VNI_MARKS)) + "]")


def detect_encoding(text: str) -> Encoding:
    """Guess the encoding of a label text: ``unicode``, ``tcvn3`` or ``vni``.

    Text with letters beyond Latin-1, or only Latin-1 letters Vietnamese also uses,
    is taken as Unicode.  Otherwise the decoding that leaves the fewest stray
    Latin-1 symbols wins (ties go to TCVN3 when one of its own bytes is present).

    >>> detect_encoding("Bảo"), detect_encoding("B\\xb6o"), detect_encoding("Vieät Nam")
    ('unicode', 'tcvn3', 'vni')
    """
    chars = _latin1_chars(text)
    high = [c for c in chars if 0xA0 <= ord(c) < 0x100]
    # a or e followed by a mark byte never happens in Unicode Vietnamese ("ai", "ao", "eo" carry
    # the tone on the first vowel), so it marks VNI even when every character is a Vietnamese one
    vni_only = bool(_VNI_AFTER_AE.search(chars))
    if any(ord(c) >= 0x100 for c in chars) or (all(c in _PLAIN_VIET_LATIN1 for c in high) and not vni_only):
        return "unicode"
    vni_pairs = len(re.findall(r"[aeiouyAEIOUYôöÔÖ][" + "".join(_VNI_MARKS) + "]", chars))
    tcvn_only = sum(c in _TCVN3_ONLY for c in chars)
    if tcvn_only > vni_pairs:
        return "tcvn3"
    if vni_pairs > tcvn_only:
        return "vni"
    return "tcvn3" if tcvn_only else ("vni" if _stray(decode_vni(chars)) < _stray(decode_tcvn3(chars)) else "tcvn3")


def _stray(text: str) -> int:
    return sum(1 for c in text if 0x80 <= ord(c) < 0x100 and c not in _PLAIN_VIET_LATIN1)


def encoding_of_font(font: str | None) -> Encoding | None:
    """The encoding a font name implies: ``.VnTime``/``VnArial`` -> TCVN3, ``VNI-*`` -> VNI.

    >>> encoding_of_font(".VnTimeH"), encoding_of_font("VNI-Times"), encoding_of_font("Arial")
    ('tcvn3', 'vni', None)
    """
    if not font:
        return None
    name = font.strip().lower()
    if name.startswith(("vni", "vn-i")):
        return "vni"
    if name.startswith(".vn") or re.match(r"^vn[a-z]", name) or "abc" in name or "tcvn" in name:
        return "tcvn3"
    return None


def _unmojibake(text: str) -> str:
    """UTF-8 bytes that were decoded as cp1252/Latin-1, decoded again as UTF-8."""
    raw = _latin1_chars(text)
    if all(ord(c) < 0x80 for c in raw) or any(ord(c) >= 0x100 for c in raw):
        return text
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return text


def to_unicode(text: str | bytes | None, *, encoding: Encoding | Literal["auto"] = "auto",
               font: str | None = None) -> str | None:
    """Decode a label text to NFC Unicode.

    ``text`` may be bytes (tried as UTF-8, else read as Latin-1) or a string; a
    string that is UTF-8 read as cp1252 (``"Ä‘áº¥t"``) is repaired first.  With
    ``encoding="auto"`` the font name decides when it names a Vietnamese font, else
    :func:`detect_encoding`.  Raises :class:`FormatError` for text that cannot be
    Vietnamese in any encoding (U+FFFD replacement characters, control bytes).

    >>> to_unicode(b"S\\xe8 th\\xf6a", font=".VnTime")
    'Số thửa'
    """
    if text is None:
        return None
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            text = text.decode("latin-1")
    text = _unmojibake(text)
    bad = [c for c in text if c == "\ufffd" or (unicodedata.category(c) == "Cc" and c not in "\t\n\r")]
    if bad:
        raise FormatError(
            f"text {text!r} has bytes no Vietnamese encoding explains ({len(bad)} broken character(s))",
            hint="the drawing's texts were damaged or saved in another code page; give the encoding "
                 "explicitly (--text-encoding tcvn3|vni|unicode) or fix the texts in the CAD program",
        )
    enc = encoding if encoding != "auto" else (encoding_of_font(font) or detect_encoding(text))
    if enc == "tcvn3":
        text = decode_tcvn3(text)
    elif enc == "vni":
        text = decode_vni(text)
    elif enc != "unicode":
        raise ValueError(f"encoding must be 'auto', 'unicode', 'tcvn3' or 'vni', not {encoding!r}")
    return unicodedata.normalize("NFC", text)
