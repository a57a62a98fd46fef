"""The SQL of the month/quarter/year bars: every bucket of a range in ONE statement.

Why: a ranged run (a backfill of ten years of months, 120 buckets) used to rebuild its buckets one
after another - a DELETE, an INSERT ... SELECT ... GROUP BY ticker and three follow-up queries per
bucket. The bucket of a daily bar is a pure function of its date (`date_trunc(unit, date)`, which
is exactly the partition window's start for Dagster's month / quarter / year partitions), so the
whole range is one `INSERT ... SELECT ... GROUP BY ticker, region, bucket` over the range's days,
one DELETE before it and one reconciliation and one preview query after it, in one transaction.
A one-bucket run is the same statement over one bucket, so per-bucket and ranged runs write
identical rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import pandas as pd
import psycopg

from quant_assets.calendar import KST, trading_days
from quant_assets.resources.warehouse import lock_partition

# A bucket table's key column (seed 001's names) and its date_trunc unit.
BUCKET_COLUMN = {"ohlcv_monthly": "month", "ohlcv_quarterly": "quarter", "ohlcv_yearly": "year"}
UNIT = {"ohlcv_monthly": "month", "ohlcv_quarterly": "quarter", "ohlcv_yearly": "year"}


def bucket_of(table: str, column: str = "date") -> str:
    """SQL: the bucket start of `column` (a date), in the session's calendar, as a date."""
    return f"date_trunc('{UNIT[table]}', {column}::timestamp)::date"


def is_bucket_start(table: str, day: dt.date) -> bool:
    unit = UNIT[table]
    return day.day == 1 and (unit == "month" or (unit == "quarter" and day.month in (1, 4, 7, 10))
                             or (unit == "year" and day.month == 1))


def bucket_insert(table: str) -> str:
    """INSERT ... SELECT ... GROUP BY ticker, bucket for every bucket of one region whose days lie in
    [start, end) (params start, end, region; start and end are bucket boundaries)."""
    quarter_cols = ", price_volatility, quarter_range_pct" if table == "ohlcv_quarterly" else ""
    quarter_values = (""",
       stddev_samp(close)::float8,
       ((max(high) - min(low)) / nullif((array_agg(open ORDER BY date) FILTER (WHERE open IS NOT NULL))[1], 0)
           * 100)::float8""" if table == "ohlcv_quarterly" else "")
    return f"""
INSERT INTO {table} (ticker, region, {BUCKET_COLUMN[table]}, asset_type, open, high, low, close, volume, value,
                     market_cap, trading_days, first_date, last_date, ma5_start, ma20_end, ma60_end,
                     rsi_14_end{quarter_cols})
SELECT ticker,
       region,
       {bucket_of(table)},
       (array_agg(asset_type ORDER BY date DESC))[1],
       (array_agg(open ORDER BY date) FILTER (WHERE open IS NOT NULL))[1],
       max(high),
       min(low),
       (array_agg(close ORDER BY date DESC))[1],
       sum(volume)::bigint,
       sum(value)::bigint,
       (array_agg(market_cap ORDER BY date DESC))[1],
       count(*)::integer,
       min(date),
       max(date),
       (array_agg(ma5 ORDER BY date))[1],
       (array_agg(ma20 ORDER BY date DESC))[1],
       (array_agg(ma60 ORDER BY date DESC))[1],
       (array_agg(rsi_14 ORDER BY date DESC))[1]{quarter_values}
FROM ohlcv_data
WHERE region = %(region)s AND timeframe = 'D' AND date >= %(start)s AND date < %(end)s
GROUP BY ticker, region, {bucket_of(table)}
"""


def reconcile_sql(table: str) -> str:
    """Per bucket of the range: the daily rows and volume against the bucket rows' trading days and
    volume, bucket rows inconsistent with their own high/low, rows without ma20_end."""
    bucket = BUCKET_COLUMN[table]
    return f"""
WITH daily AS (
    SELECT {bucket_of(table)} AS b, count(*) AS n, coalesce(sum(volume), 0) AS volume,
           count(*) FILTER (WHERE ma20 IS NOT NULL) AS with_ma20
    FROM ohlcv_data WHERE region = %(region)s AND timeframe = 'D' AND date >= %(start)s AND date < %(end)s
    GROUP BY 1
), agg AS (
    SELECT {bucket} AS b, count(*) AS bucket_rows, coalesce(sum(trading_days), 0) AS agg_rows,
           coalesce(sum(volume), 0) AS agg_volume,
           count(*) FILTER (WHERE low > high OR close > high OR close < low OR open > high OR open < low)
               AS inconsistent,
           count(*) FILTER (WHERE ma20_end IS NULL) AS without_ma20_end
    FROM {table} WHERE region = %(region)s AND {bucket} = ANY(%(starts)s)
    GROUP BY 1
)
SELECT s.b AS bucket, coalesce(d.n, 0) AS daily_rows, coalesce(d.volume, 0) AS daily_volume,
       coalesce(d.with_ma20, 0) AS daily_with_ma20, coalesce(a.bucket_rows, 0) AS bucket_rows,
       coalesce(a.agg_rows, 0) AS agg_rows, coalesce(a.agg_volume, 0) AS agg_volume,
       coalesce(a.inconsistent, 0) AS inconsistent, coalesce(a.without_ma20_end, 0) AS without_ma20_end
FROM unnest(%(starts)s::date[]) AS s (b) LEFT JOIN daily d USING (b) LEFT JOIN agg a USING (b)
ORDER BY s.b
"""


def preview_sql(table: str) -> str:
    """The 5 rows of largest traded value of every bucket of the range."""
    bucket = BUCKET_COLUMN[table]
    return f"""
SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY {bucket} ORDER BY value DESC NULLS LAST, ticker) AS _rank
               FROM {table} WHERE region = %(region)s AND {bucket} = ANY(%(starts)s)) p
WHERE _rank <= 5 ORDER BY {bucket}, _rank
"""


def _frame(cur: psycopg.Cursor) -> pd.DataFrame:
    return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def refresh_buckets(conn: psycopg.Connection, table: str, starts: Sequence[dt.date], end: dt.date,
                    region: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replace the rows of region's contiguous buckets `starts` (sorted; the last ends at `end`):
    one DELETE and one INSERT ... SELECT in one transaction, then the reconciliation and the
    previews. Returns (reconcile rows per bucket, preview rows)."""
    if not all(is_bucket_start(table, s) for s in starts):
        raise ValueError(f"{table}: {list(starts)} are not {UNIT[table]} starts")
    params = {"region": region, "start": starts[0], "end": end, "starts": list(starts)}
    bucket = BUCKET_COLUMN[table]
    with conn.transaction():
        for start in starts:   # the same per-bucket locks as a one-bucket run, in date order
            lock_partition(conn, table, (region, start))
        conn.execute(f"DELETE FROM {table} WHERE region = %(region)s AND {bucket} = ANY(%(starts)s)", params)
        conn.execute(bucket_insert(table), params)
        rec = _frame(conn.execute(reconcile_sql(table), params))
        preview = _frame(conn.execute(preview_sql(table), params)).drop(columns="_rank")
    return rec, preview


def missing_days(conn: psycopg.Connection, start: dt.date, end: dt.date, region: str, *,
                 sessions: Callable[[dt.date, dt.date], list[dt.date]] = trading_days,
                 status_asset: str = "ohlcv", tz: dt.tzinfo = KST) -> list[dt.date]:
    """KRX trading days of [start, end) up to yesterday (KST) with no ohlcv rows and no
    'market_closed' record in `region`: holes that make the buckets' sums and counts incomplete.
    Another region passes its own `sessions(start, end)` calendar, the partition_status asset of its
    daily bars and its time zone (assets/overseas/aggregates.py)."""
    horizon = min(end - dt.timedelta(days=1), dt.datetime.now(tz=tz).date() - dt.timedelta(days=1))
    expected = sessions(start, horizon) if start <= horizon else []
    if not expected:
        return []
    # one index probe per expected day: DISTINCT date over a ten-year range would read every bar
    rows = conn.execute(
        """SELECT d.day FROM unnest(%(days)s::date[]) AS d (day)
           WHERE NOT EXISTS (SELECT 1 FROM ohlcv_data WHERE region = %(r)s AND timeframe = 'D' AND date = d.day)
             AND NOT EXISTS (SELECT 1 FROM partition_status WHERE asset = %(a)s AND region = %(r)s
                             AND status = 'market_closed' AND partition_date = d.day)
           ORDER BY d.day""",
        {"days": expected, "r": region, "a": status_asset},
    ).fetchall()
    return [row[0] for row in rows]
