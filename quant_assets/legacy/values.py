"""Spock's value conventions, turned into ours: dates, timestamps, timeframes, flags, leverage.

Spock stored everything as SQLite TEXT/REAL, written by several generations of code. The two
timestamp styles are the subtle one: Python's `datetime.now().isoformat()` ('2025-10-20T10:00:00.123456',
local Korean time) and SQLite's CURRENT_TIMESTAMP ('2025-10-20 01:00:00', UTC). Ordering re-fetches
by the raw text would let an older KST row win over a newer UTC one, so both become UTC first.
"""

from __future__ import annotations

import datetime as dt
import functools
import numbers
import re
from typing import Any
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")
UTC = dt.UTC

_DATE = re.compile(r"^(\d{4})[-/.]?(\d{2})[-/.]?(\d{2})(?:[ T].*)?$")
TIMEFRAMES = {"D": "D", "1D": "D", "DAY": "D", "DAILY": "D", "W": "W", "1W": "W", "1WK": "W", "WEEKLY": "W",
              "M": "M", "1M": "M", "1MO": "M", "MONTHLY": "M"}
_MULTIPLES = {1.0, 1.5, 2.0, 3.0, -1.0, -2.0, -3.0}


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


@functools.lru_cache(maxsize=65_536)
def to_date(value: Any) -> str | None:
    """'YYYY-MM-DD', 'YYYYMMDD', 'YYYY/MM/DD' (with or without a time) -> ISO date, else None."""
    if is_missing(value) or isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        value = str(int(value))
    m = _DATE.match(str(value).strip())
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        return None


def to_utc(value: Any) -> dt.datetime | None:
    """A Spock timestamp as an aware UTC datetime (see the module docstring for the two styles)."""
    if is_missing(value) or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        ts = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if ts.tzinfo is None:
        # isoformat() output carries a 'T' and was Spock's local (KST) clock; SQLite's
        # CURRENT_TIMESTAMP is 'YYYY-MM-DD HH:MM:SS' in UTC.
        ts = ts.replace(tzinfo=KST if "T" in text else UTC)
    return ts.astimezone(UTC)


def stamp_key(value: Any) -> str:
    """Sortable UTC text of a timestamp ('' when there is none: such rows sort oldest)."""
    ts = to_utc(value)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f") if ts else ""


@functools.lru_cache(maxsize=64)
def timeframe(value: Any) -> str | None:
    """Spock's 'D'/'W'/'M' and the PostgreSQL side's '1d' spelling -> 'D'/'W'/'M'."""
    if is_missing(value):
        return "D"                       # the column's only observed value; absent in old files
    return TIMEFRAMES.get(str(value).strip().upper())


def flag(value: Any) -> bool | None:
    if is_missing(value):
        return None
    return str(value).strip().upper() in {"1", "1.0", "Y", "YES", "TRUE", "T"}


def multiple(leverage: Any, name: Any = None, inverse: Any = None) -> tuple[float, str]:
    """(multiple, where it came from): '2x', '-1x', '2배', '-1배', 2.0 -> that; else the name; else 1.

    `inverse` is the `etfs.is_inverse` flag, which makes a positive leverage_ratio negative.
    """
    if not is_missing(leverage):
        m = re.search(r"-?\d+(?:\.\d+)?", str(leverage))
        if m and float(m[0]) in _MULTIPLES:
            value = float(m[0])
            if flag(inverse) and value > 0:
                value = -value
            return value, "leverage_ratio"
    text = str(name or "").upper().replace(" ", "")
    if "인버스" in text or "INVERSE" in text or flag(inverse):
        return (-2.0 if re.search(r"2X|곱버스", text) else -1.0), "name"
    if "레버리지" in text or "LEVERAGE" in text:
        return 2.0, "name"
    return 1.0, "default"


# DART report codes as Spock kept them in data_source ('DART-2024-11011'): period end, quarter.
DART_REPORTS = {"11013": ("03-31", 1), "11012": ("06-30", 2), "11014": ("09-30", 3), "11011": ("12-31", 4)}
PERIOD_TYPES = {"DAILY": "DAILY", "QUARTERLY": "QUARTERLY", "QUARTER": "QUARTERLY", "Q": "QUARTERLY",
                "SEMI-ANNUAL": "SEMI-ANNUAL", "SEMI_ANNUAL": "SEMI-ANNUAL", "SEMIANNUAL": "SEMI-ANNUAL",
                "HALF": "SEMI-ANNUAL", "ANNUAL": "ANNUAL", "YEARLY": "ANNUAL", "A": "ANNUAL"}


@functools.lru_cache(maxsize=64)
def period_type(value: Any) -> str | None:
    return None if is_missing(value) else PERIOD_TYPES.get(str(value).strip().upper())


def fundamentals_date(period: Any, fiscal_year: Any, date: Any, source: Any) -> tuple[str | None, str | None]:
    """(row date, how it was found) of a ticker_fundamentals row.

    DAILY rows keep their day. Statement rows are keyed by their fiscal period's end: from the
    DART report code when Spock kept it, else 31 Dec / 30 Jun of fiscal_year for ANNUAL /
    SEMI-ANNUAL (assumed December year-end), else the collection date Spock stored.
    """
    kind, day = period_type(period), to_date(date)
    if kind in (None, "DAILY") or is_missing(fiscal_year):
        return day, (None if kind in (None, "DAILY") else "statement_date_is_collection_date")
    year = int(float(fiscal_year))
    m = re.search(r"DART-\d{4}-(\d{5})", str(source or ""))
    if m and m[1] in DART_REPORTS:
        return f"{year}-{DART_REPORTS[m[1]][0]}", None
    if kind == "ANNUAL":
        return f"{year}-12-31", "period_end_assumed_december"
    if kind == "SEMI-ANNUAL":
        return f"{year}-06-30", "period_end_assumed_december"
    return day, "statement_date_is_collection_date"


def dart_quarter(source: Any) -> int | None:
    m = re.search(r"DART-\d{4}-(\d{5})", str(source or ""))
    return DART_REPORTS[m[1]][1] if m and m[1] in DART_REPORTS else None
