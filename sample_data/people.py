"""Synthetic owners: Vietnamese names with diacritics and 12-digit citizen ids.

The names are drawn from common family, middle and given names; the ids follow the
shape of the citizen identity number (3-digit province of birth, a century/sex digit,
two digits of the birth year, six random digits) but are invented.
"""

from __future__ import annotations

import numpy as np

__all__ = ["owner"]

FAMILY = (("Nguyễn", 38), ("Trần", 11), ("Lê", 9), ("Phạm", 7), ("Hoàng", 5), ("Vũ", 4), ("Đặng", 3),
          ("Bùi", 3), ("Đỗ", 3), ("Hồ", 2), ("Ngô", 2), ("Dương", 2), ("Lý", 1), ("Giáp", 2), ("Thân", 2))
MIDDLE_M = ("Văn", "Đức", "Minh", "Hữu", "Quang", "Xuân", "Thành", "Công", "Mạnh")
MIDDLE_F = ("Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Hồng", "Kim")
GIVEN_M = ("An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hùng", "Huy", "Khánh", "Long", "Nam", "Phong",
           "Quân", "Sơn", "Thắng", "Tuấn", "Việt", "Vinh", "Toàn", "Lực", "Chiến", "Thủy")
GIVEN_F = ("Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương", "Lan", "Liên", "Linh",
           "Loan", "Mai", "Nga", "Nhung", "Oanh", "Phương", "Thảo", "Thúy", "Trang", "Yến")
PUBLIC = {"DGD": "UBND {commune}", "NTD": "UBND {commune}", "DCH": "UBND {commune}",
          "TIN": "Cộng đồng dân cư {hamlet}", "SON": "UBND {commune}"}


def owner(rng: np.random.Generator, land_use: str, commune: str, hamlet: str) -> tuple[str, str | None]:
    """A synthetic (owner_name, owner_id); public land goes to the commune or hamlet, without id."""
    if land_use in PUBLIC:
        return PUBLIC[land_use].format(commune=commune.replace("Xã", "xã"), hamlet=hamlet[0].lower() + hamlet[1:]), None
    fam, w = zip(*FAMILY)
    family = str(rng.choice(fam, p=np.asarray(w, float) / sum(w)))
    female = bool(rng.random() < 0.45)
    middle = str(rng.choice(MIDDLE_F if female else MIDDLE_M))
    given = str(rng.choice(GIVEN_F if female else GIVEN_M))
    year = int(rng.integers(1940, 2004))
    century = (0 if year < 2000 else 2) + int(female)
    pid = f"024{century}{year % 100:02d}{int(rng.integers(0, 1_000_000)):06d}"
    return f"{family} {middle} {given}", pid
