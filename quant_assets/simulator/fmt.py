"""Value formatting for the two wire formats.

KRX: every value is a string; integers carry thousands commas (`"1,234,567"`), decimals keep commas
in the integer part (`"43,079.14"`), negatives are signed (`"-1,300"`), dates are `YYYY/MM/DD` and a
missing value is `"-"`. KIS: strings without separators (`"36127.30"`), dates `YYYYMMDD`.
"""

from __future__ import annotations

import datetime as dt

DASH = "-"


def ci(v) -> str:
    """KRX comma integer."""
    return f"{int(v):,}"


def cf(v, dp: int = 2) -> str:
    """KRX comma decimal (`43,079.14`)."""
    return f"{float(v):,.{dp}f}"


def rate(v, dp: int = 2) -> str:
    """KRX rate: plain decimal, signed, no commas needed for realistic magnitudes."""
    return f"{float(v):.{dp}f}"


def kdate(d: dt.date) -> str:
    """KRX date `YYYY/MM/DD`."""
    return d.strftime("%Y/%m/%d")


def sdate(d: dt.date) -> str:
    """KIS date `YYYYMMDD`."""
    return d.strftime("%Y%m%d")


def parse_yyyymmdd(s: str) -> dt.date | None:
    """`YYYYMMDD` (also tolerates `YYYY-MM-DD`/`YYYY/MM/DD`) -> date, None when unparsable."""
    s = (s or "").strip().replace("-", "").replace("/", "")
    if len(s) != 8 or not s.isdigit():
        return None
    try:
        return dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
    except ValueError:
        return None


def krx_now(now: dt.datetime) -> str:
    """`CURRENT_DATETIME` format: `2026.01.25 PM 08:25:14` (KST, 12-hour clock)."""
    return now.strftime("%Y.%m.%d %p %I:%M:%S")


def fluc_tp(change: int, *, etf: bool = False) -> str:
    """KRX FLUC_TP_CD: 1 up, 2 down, 3 unchanged."""
    if change > 0:
        return "1"
    if change < 0:
        return "2"
    return "3"


def kis_sign(change: float, *, upper: bool = False, lower: bool = False) -> str:
    """KIS *_vrss_sign: 1 upper limit, 2 up, 3 flat, 4 lower limit, 5 down."""
    if upper:
        return "1"
    if lower:
        return "4"
    if change > 0:
        return "2"
    if change < 0:
        return "5"
    return "3"
