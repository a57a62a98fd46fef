"""Regions and their canonical symbol forms — the Python side of `symbol_is_canonical()`.

The warehouse enforces one canonical form per region with a CHECK on `tickers` (sql/008); this
module repeats the same patterns so a frame is rejected before a write with an error that names
the ticker, and turns the legacy forms Spock stored ('0700.HK', '600519.SS', '2.SZ', '5930',
'BRK-B') into the canonical one. `quant_assets_tests/test_symbols.py` keeps both definitions equal.
"""

from __future__ import annotations

import re

REGIONS: tuple[str, ...] = ("KR", "US", "CN", "HK", "JP", "VN")
CURRENCY = {"KR": "KRW", "US": "USD", "CN": "CNY", "HK": "HKD", "JP": "JPY", "VN": "VND"}

CANONICAL: dict[str, re.Pattern[str]] = {
    "KR": re.compile(r"^[0-9][0-9A-Z]{5}$"),
    "US": re.compile(r"^[A-Z][A-Z0-9]{0,9}(/[A-Z0-9]{1,4})?$"),
    "CN": re.compile(r"^[0-9]{6}$"),
    "HK": re.compile(r"^([0-9]{4}|[1-9][0-9]{4})$"),
    "JP": re.compile(r"^[0-9][0-9A-Z]{3}$"),
    "VN": re.compile(r"^[A-Z0-9]{3,10}$"),
}

# Exchange suffixes of Yahoo-style symbols and the region each implies.
_SUFFIX_REGION = {"HK": "HK", "SS": "CN", "SZ": "CN", "SH": "CN", "T": "JP", "VN": "VN",
                  "KS": "KR", "KQ": "KR"}


class SymbolError(ValueError):
    """A symbol that cannot be put in its region's canonical form."""


def is_canonical(region: str, ticker: str) -> bool:
    pattern = CANONICAL.get(region)
    return bool(pattern and isinstance(ticker, str) and pattern.match(ticker))


def split_suffix(raw: str) -> tuple[str, str | None]:
    """'0700.HK' -> ('0700', 'HK'); 'BRK.B' keeps its class ('BRK.B', None).

    A doubled suffix ('0001.HK.HK', left behind by one of Spock's HK migrations) is removed whole;
    two suffixes of different regions are left for the caller to reject.
    """
    head, dot, tail = raw.rpartition(".")
    if not (dot and head and tail.upper() in _SUFFIX_REGION):
        return raw, None
    region = _SUFFIX_REGION[tail.upper()]
    inner, inner_region = split_suffix(head)
    if inner_region == region:
        return inner, region
    return head, region


def suffix_region(raw: object) -> str | None:
    """The region a Yahoo-style suffix names ('600519.SS' -> 'CN'), else None."""
    return split_suffix(str(raw).strip().upper())[1] if isinstance(raw, str) else None


def candidates(raw: object) -> list[str]:
    """Regions in which `raw` has a canonical form (used to place a symbol that came without one)."""
    found = []
    for region in REGIONS:
        try:
            normalise(region, raw)
        except SymbolError:
            continue
        found.append(region)
    return found


def normalise(region: str, raw: object) -> str:
    """The canonical symbol of `raw` in `region`, or SymbolError naming both.

    KR: zero-padded to 6 ('5930' -> '005930', 'A005930' -> '005930'); HK: 4 digits (5 when
    needed: '00005' -> '0005', '0700.HK' -> '0700'); CN: 6 digits ('2.SZ' -> '000002'); US: share
    classes after '/' ('BRK-B', 'BRK.B' -> 'BRK/B').
    """
    if region not in CANONICAL:
        raise SymbolError(f"unknown region {region!r} (known: {', '.join(REGIONS)})")
    if raw is None or (isinstance(raw, float) and raw != raw):
        raise SymbolError(f"region {region}: empty symbol")
    text = str(raw).strip().upper()
    if isinstance(raw, float) and raw.is_integer():  # SQLite sometimes hands back 5930.0
        text = str(int(raw))
    base, suffix_region = split_suffix(text)
    if suffix_region and suffix_region != region:
        raise SymbolError(f"region {region}: symbol {raw!r} carries the suffix of region {suffix_region}")
    if region == "KR":
        if len(base) == 7 and base[0] == "A" and base[1:].isdigit():    # KIS/DART 'A005930'
            base = base[1:]
        base = base.zfill(6) if base.isdigit() else base
    elif region == "HK" and base.isdigit():
        base = base.lstrip("0").zfill(4)
    elif region == "CN" and base.isdigit():
        base = base.zfill(6)
    elif region == "US":
        base = re.sub(r"[-.]([A-Z0-9]{1,4})$", r"/\1", base)
    if not is_canonical(region, base):
        raise SymbolError(f"region {region}: symbol {raw!r} does not fit the canonical form")
    return base
