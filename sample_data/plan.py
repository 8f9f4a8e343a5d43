"""The design of the synthetic district: where everything is, in one place.

Everything here is invented (names, codes, people); only the numbering rules, the CRS
and the conventions are real.  Coordinates are VN-2000 / TM-3 107-00 metres
(``vn2000:bac-giang``), easting first.  All six sheets lie in the 1:5000 sheet
``361561`` (E 561-564 km, N 2358-2361 km).
"""

from __future__ import annotations

from dataclasses import dataclass

CRS_KEY = "vn2000:bac-giang"
PROVINCE = {"code": "24", "name": "Tỉnh Bắc Giang"}
DISTRICT = {"code": "299", "name": "Huyện Yên Phúc"}
#: the area the district's base layers cover (min_e, min_n, max_e, max_n)
REGION = (560900.0, 2357900.0, 563100.0, 2360100.0)


@dataclass(frozen=True)
class Commune:
    """A commune (xã) of the sample district and its hamlets (thôn)."""

    code: str
    name: str
    hamlets: tuple[str, ...]


COMMUNES = (
    Commune("29901", "Xã Tân Hòa", ("Thôn Đông", "Thôn Đoài", "Thôn Bãi", "Xóm Cầu")),
    Commune("29902", "Xã Phúc Lâm", ("Thôn Chợ", "Thôn Trung", "Xóm Đình")),
)


@dataclass(frozen=True)
class SheetPlan:
    """One map sheet of the sample and how its scan is made."""

    number: str
    commune: str  # commune code
    local_no: int  # "tờ bản đồ số"
    dpi: int
    image_format: str  # "jpeg" | "png" | "tiff"
    colour: bool
    font: str  # file name under /usr/share/fonts/truetype
    label_layout: str  # see render.LABEL_LAYOUTS
    text_mm: float = 2.0  # label text height on paper (smaller in small parcels)
    line_mm: float = 0.2  # line-work width on paper

    @property
    def slug(self) -> str:
        """Directory name of the sheet: its number with brackets dropped."""
        return self.number.replace("(", "").replace(")", "")


SHEETS = (
    SheetPlan("361561-4-b", "29901", 12, 220, "jpeg", True, "dejavu/DejaVuSerif.ttf", "code_right"),
    SheetPlan("361561-4-d", "29901", 15, 200, "png", False, "liberation/LiberationSans-Regular.ttf", "code_below"),
    SheetPlan("361561-7", "29901", 21, 200, "tiff", False, "dejavu/DejaVuSansMono.ttf", "code_right"),
    SheetPlan("361561-8", "29901", 22, 240, "jpeg", False, "liberation/LiberationSerif-Regular.ttf", "code_left"),
    SheetPlan("361561-5-(6)", "29902", 4, 300, "jpeg", True, "dejavu/DejaVuSans.ttf", "code_below"),
    SheetPlan("361561-5-(7)", "29902", 5, 220, "png", False, "dejavu/DejaVuSerif.ttf", "code_right"),
)

#: The same sheets drawn as nobody tuned for (other fonts, resolutions, line widths, label
#: layouts and formats), from another seed (another fabric, other damage): the benchmark's
#: stand-in for sheets never seen.  Not committed; ``--unseen`` generates it.
UNSEEN_SEED = 7_250_613
UNSEEN_SHEETS = (
    SheetPlan("361561-4-b", "29901", 12, 250, "png", False, "liberation/LiberationSansNarrow-Regular.ttf",
              "code_below", text_mm=1.8),
    SheetPlan("361561-4-d", "29901", 15, 300, "jpeg", True, "dejavu/DejaVuSansCondensed.ttf", "code_left",
              line_mm=0.25),
    SheetPlan("361561-7", "29901", 21, 250, "jpeg", False, "liberation/LiberationMono-Regular.ttf", "code_below"),
    SheetPlan("361561-8", "29901", 22, 200, "tiff", False, "dejavu/DejaVuSerifCondensed.ttf", "code_right",
              line_mm=0.15),
    SheetPlan("361561-5-(6)", "29902", 4, 200, "png", False, "dejavu/DejaVuSans-Oblique.ttf", "code_left",
              text_mm=2.2),
    SheetPlan("361561-5-(7)", "29902", 5, 300, "tiff", False, "liberation/LiberationSans-Bold.ttf", "code_below"),
)

#: scale zones: each is mapped at one scale and is generated on its own
ZONES = {
    2000: (561000.0, 2358000.0, 563000.0, 2359000.0),
    1000: (561500.0, 2359000.0, 562000.0, 2360000.0),
    500: (562250.0, 2359500.0, 562750.0, 2359750.0),
}


@dataclass(frozen=True)
class Way:
    """A road or waterway centre line; its buffer of ``width_m / 2`` is a gap in the fabric."""

    way_id: str
    name: str
    way_class: str
    width_m: float
    points: tuple[tuple[float, float], ...] = ()
    arc: tuple[float, float, float, float, float] | None = None  # cx, cy, r, a0, a1 (deg)


#: main roads; the curved district road has a true circular arc (drawn as an ARC in DXF)
MAIN_ROADS = (
    Way("DT299", "Đường tỉnh 299", "provincial", 9.0,
        ((560900.0, 2359000.0), (562150.0, 2359000.0), (562210.0, 2359060.0),
         (562225.0, 2359640.0), (563100.0, 2359640.0))),
    Way("DH12a", "Đường huyện 12", "district", 7.0, ((562600.0, 2357900.0), (562600.0, 2358250.0))),
    Way("DH12b", "Đường huyện 12", "district", 7.0, arc=(562300.0, 2358250.0, 300.0, 0.0, 90.0)),
    Way("DH12c", "Đường huyện 12", "district", 7.0, ((562300.0, 2358550.0), (560900.0, 2358550.0))),
    Way("TD01", "Đường thôn Đông", "commune", 5.0, ((561760.0, 2359000.0), (561772.0, 2360100.0))),
)
WATERWAYS = (
    Way("KN2", "Kênh N2", "canal", 5.0, ((560900.0, 2358785.0), (563100.0, 2358770.0))),
)
#: the meandering stream: E = base + a1 sin(...) + a2 sin(...), along N
STREAM = {"way_id": "NBT", "name": "Ngòi Ba Tổng", "width_m": 12.0, "base_e": 561350.0,
          "n0": 2357900.0, "n1": 2358995.5, "a1": 45.0, "l1": 420.0, "a2": 18.0, "l2": 170.0}

#: secondary ways per zone: ("E"|"N", position, width, class, name prefix); generated
#: lines run across the whole zone; positions avoid the shared sheet edges on purpose
SECONDARY = {
    2000: (("E", 561150.0), ("E", 561560.0), ("E", 561790.0), ("E", 562240.0), ("E", 562790.0),
           ("N", 2358140.0), ("N", 2358350.0)),
    1000: (("N", 2359095.0), ("N", 2359190.0), ("N", 2359285.0), ("N", 2359385.0),
           ("N", 2359610.0), ("N", 2359705.0), ("N", 2359800.0)),
    500: (("E", 562310.0), ("E", 562385.0), ("E", 562445.0), ("E", 562570.0), ("E", 562650.0),
          ("N", 2359565.0), ("N", 2359705.0)),
}
SECONDARY_STYLE = {2000: (3.0, "field", "Đường nội đồng"), 1000: (3.0, "alley", "Ngõ"),
                   500: (3.0, "alley", "Ngõ")}

#: lot kinds: (min, max) lot area in m² and the land-use mix (code, weight)
KINDS = {
    "paddy": ((300.0, 3000.0), (("LUC", 80), ("BHK", 7), ("NTS", 6), ("CLN", 5), ("LUK", 2))),
    "residential": ((80.0, 400.0), (("ONT", 66), ("CLN", 20), ("BHK", 8), ("TMD", 6))),
    "core": ((80.0, 260.0), (("ONT", 78), ("TMD", 14), ("CLN", 6), ("SKC", 2))),
    "school": ((2500.0, 7000.0), (("DGD", 1),)),
    "cemetery": ((1500.0, 4000.0), (("NTD", 1),)),
    "pond": ((1500.0, 6000.0), (("NTS", 1),)),
    "market": ((900.0, 3000.0), (("DCH", 1),)),
    "temple": ((400.0, 2000.0), (("TIN", 1),)),
}
#: the kind of land of each zone, and special areas cut out of it (kind, shape, args)
ZONE_KIND = {2000: "paddy", 1000: "residential", 500: "core"}
SPECIAL = (
    ("cemetery", "box", (561820.0, 2358040.0, 561905.0, 2358115.0)),
    ("residential", "circle", (562420.0, 2358420.0, 95.0)),
    ("residential", "box", (562805.0, 2358560.0, 563000.0, 2358690.0)),
    ("pond", "circle", (561470.0, 2358660.0, 34.0)),
    ("pond", "circle", (562880.0, 2358230.0, 40.0)),
    ("paddy", "box", (561500.0, 2359805.0, 562000.0, 2360000.0)),
    ("school", "box", (561800.0, 2359105.0, 561890.0, 2359180.0)),
    ("pond", "circle", (561590.0, 2359450.0, 28.0)),
    ("temple", "box", (561900.0, 2359710.0, 561960.0, 2359760.0)),
    ("school", "box", (562590.0, 2359650.0, 562645.0, 2359700.0)),
    ("market", "box", (562455.0, 2359575.0, 562530.0, 2359630.0)),
)
