"""Trading-day partitions per overseas region, each on its own exchange's calendar.

exchange-calendars has XNYS (NASDAQ, NYSE and AMEX trade on it), XSHG (Shanghai; Shenzhen keeps
the same holidays, an assumption the package cannot confirm), XHKG and XTKS. It has no Vietnamese
calendar: VN partitions are every weekday, and a weekday on which the source returns no bar for
any symbol is recorded as `market_closed` in partition_status (derived from the source, never a
silent gap). Keys are local trading dates in the exchange's time zone, so a US bar of Friday is
partition Friday although it closes on Saturday morning in Seoul.
"""

from __future__ import annotations

import datetime as dt
import functools

import dagster as dg
import exchange_calendars as xcals
import pandas as pd

from quant_assets.config import start_date

CALENDAR = {"US": "XNYS", "CN": "XSHG", "HK": "XHKG", "JP": "XTKS", "VN": None}
TIMEZONE = {"US": "America/New_York", "CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "JP": "Asia/Tokyo",
            "VN": "Asia/Ho_Chi_Minh"}
REGIONS = tuple(CALENDAR)


@functools.cache
def _calendar(name: str) -> xcals.ExchangeCalendar:
    return xcals.get_calendar(name, start=min(pd.Timestamp(start_date()), pd.Timestamp("2010-01-01")))


@functools.cache
def holidays(region: str) -> tuple[dt.date, ...]:
    """Weekdays the region's calendar does not trade (empty for VN: derived from the source)."""
    name = CALENDAR[region]
    if name is None:
        return ()
    cal = _calendar(name)
    weekdays = pd.bdate_range(pd.Timestamp(start_date()), cal.last_session)
    sessions = cal.sessions_in_range(pd.Timestamp(start_date()), cal.last_session)
    return tuple(ts.date() for ts in weekdays.difference(sessions))


def is_session(region: str, day: dt.date) -> bool:
    return day.weekday() < 5 and day not in set(holidays(region))


def sessions(region: str, start: dt.date, end: dt.date) -> list[dt.date]:
    closed = set(holidays(region))
    return [d.date() for d in pd.bdate_range(start, end) if d.date() not in closed]


@functools.cache
def partitions(region: str) -> dg.DailyPartitionsDefinition:
    """Daily partitions of one region: weekdays minus the calendar's holidays, in local time. A
    day's key exists once that local day is over (end_offset 0): sensors then wait for the source."""
    return dg.DailyPartitionsDefinition(
        start_date=start_date(), timezone=TIMEZONE[region],
        exclusions=["0 0 * * 6", "0 0 * * 0", *(dt.datetime.combine(d, dt.time()) for d in holidays(region))],
    )
