"""The KRX trading calendar and the partitions built on it.

Trading days come from exchange-calendars' XKRX (weekends, Korean public holidays, the year-end
closing day, election days). Dagster's `DailyPartitionsDefinition` takes them as `exclusions`, so
partition keys are exactly the trading days and a Friday partition is a one-day window (the
weekday-cron alternative makes Friday's window run to Monday, dagster issue #17464).

XKRX misses some ad-hoc closures; when the source proves a listed day had no trading the
partition is recorded as `market_closed` in `partition_status` rather than silently skipped.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import pandas as pd
from dagster import (
    DailyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    TimeWindowPartitionsDefinition,
)

from quant_assets.config import start_date

KST = ZoneInfo("Asia/Seoul")
TIMEZONE = "Asia/Seoul"


@functools.cache
def _calendar(start: str) -> xcals.ExchangeCalendar:
    # XKRX data before 1986 is not needed; the calendar reaches about a year past today.
    return xcals.get_calendar("XKRX", start=min(pd.Timestamp(start), pd.Timestamp("2010-01-01")))


def trading_days(start: dt.date | str, end: dt.date | str) -> list[dt.date]:
    """XKRX sessions in [start, end]."""
    cal = _calendar(start_date())
    s = max(pd.Timestamp(start), cal.first_session)
    e = min(pd.Timestamp(end), cal.last_session)
    if s > e:
        return []
    return [ts.date() for ts in cal.sessions_in_range(s, e)]


def is_trading_day(day: dt.date) -> bool:
    cal = _calendar(start_date())
    return bool(cal.is_session(pd.Timestamp(day)))


def previous_trading_days(day: dt.date, n: int) -> list[dt.date]:
    """The n trading days ending at `day` (inclusive if it is one), oldest first."""
    days = trading_days(day - dt.timedelta(days=int(n * 1.6) + 15), day)
    return days[-n:] if n > 0 else []


# When KRX publishes trading day D's data (KST): (days after D, time). A backfill never asks for
# a day before this, so `quant backfill` at 02:00 does not request yesterday's AUM (published on
# the morning of D+1) and fail it; the publication sensors request it once it is out.
PUBLISHED_AT = {
    "ohlcv": (0, dt.time(15, 45)),
    "etf_daily": (0, dt.time(15, 45)),
    "stock_fundamentals": (0, dt.time(15, 45)),
    "etf_holdings": (0, dt.time(18, 0)),
    "etf_aum": (1, dt.time(6, 0)),
}


def published(asset: str, day: dt.date, now: dt.datetime) -> bool:
    """Whether `asset`'s data of trading day `day` is published at `now` (assets without a
    publication time: always)."""
    if asset not in PUBLISHED_AT:
        return True
    lag, at = PUBLISHED_AT[asset]
    return dt.datetime.combine(day + dt.timedelta(days=lag), at, tzinfo=KST) <= now


def now_kst() -> dt.datetime:
    return dt.datetime.now(tz=KST)


@functools.cache
def _holiday_exclusions(start: str) -> list[dt.datetime]:
    """Weekdays XKRX does not trade, as naive datetimes (read in the partitions' timezone)."""
    cal = _calendar(start)
    weekdays = pd.bdate_range(pd.Timestamp(start), cal.last_session)
    sessions = cal.sessions_in_range(pd.Timestamp(start), cal.last_session)
    closed = weekdays.difference(sessions)
    return [ts.to_pydatetime() for ts in closed]


def _trading_day_partitions(start: str) -> DailyPartitionsDefinition:
    return DailyPartitionsDefinition(
        start_date=start,
        timezone=TIMEZONE,
        # end_offset=1 makes today's partition exist once prices publish (~15:45 KST) instead of
        # after midnight. With exclusions, 1.13.27 then shows the *next* Monday on weekends
        # (dagster #33551); sensors only request days the source has published, so no run is
        # ever launched for that phantom key.
        end_offset=1,
        exclusions=["0 0 * * 6", "0 0 * * 0", *_holiday_exclusions(start)],
    )


trading_day_partitions = _trading_day_partitions(start_date())
# Aggregate buckets use end_offset=1 so the current (partial) month, quarter and year exist too.
monthly_partitions = MonthlyPartitionsDefinition(
    start_date=start_date()[:8] + "01", timezone=TIMEZONE, end_offset=1
)
quarterly_partitions = TimeWindowPartitionsDefinition(
    start=start_date()[:5] + "01-01", fmt="%Y-%m-%d", cron_schedule="0 0 1 1,4,7,10 *", timezone=TIMEZONE,
    end_offset=1,
)
yearly_partitions = TimeWindowPartitionsDefinition(
    start=start_date()[:5] + "01-01", fmt="%Y-%m-%d", cron_schedule="0 0 1 1 *", timezone=TIMEZONE, end_offset=1
)
