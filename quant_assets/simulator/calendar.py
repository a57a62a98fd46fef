"""Trading days of the simulated exchange: XKRX sessions minus configured extra closures."""

from __future__ import annotations

import datetime as dt
import functools

import exchange_calendars as xc
import numpy as np
import pandas as pd


@functools.lru_cache(maxsize=1)
def _xkrx():
    # Building the calendar costs ~2 s; one instance per process is plenty.
    return xc.get_calendar("XKRX")


def trading_days(start: dt.date, end: dt.date, extra_closures=()) -> list[dt.date]:
    cal = _xkrx()
    lo = max(pd.Timestamp(start), cal.first_session)
    hi = min(pd.Timestamp(end), cal.last_session)
    if hi < lo:
        return []
    sessions = cal.sessions_in_range(lo, hi)
    closed = {dt.date.fromisoformat(str(d)) for d in extra_closures}
    return [d.date() for d in sessions if d.date() not in closed]


def ordinals(days: list[dt.date]) -> np.ndarray:
    return np.fromiter((d.toordinal() for d in days), dtype=np.int64, count=len(days))
