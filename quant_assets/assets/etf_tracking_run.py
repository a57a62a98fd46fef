"""`etf_tracking`'s run: read etf_daily once, compute the whole range, write it in one transaction.

Why a module: the statistics (quant_assets/tracking.py) are rolling windows over a dates x ETFs
panel, so a ranged run computes every day of a chunk from ONE read of the chunk plus its 250-day
look-back. What used to cost per day - one pandera call, one DELETE + COPY, one
`refresh_etf_latest` (which rescans the last 40 days of four tables) and a coverage query on a new
connection - is now paid once per chunk: one validation of the chunk's rows, one DELETE + COPY,
one partition_status row per day and ONE `refresh_etf_latest`, all in one transaction (a reader
sees the chunk's days all before or all after), under every day's usual advisory lock.

The look-back of a day does not depend on how the run was ranged (the same 251 trading days end
at D), so a ranged run writes the same rows as per-day runs. The read is a binary COPY
(quant_assets/pgbinary.py), parsed by numpy; an unexpected row shape (a non-ASCII ticker) falls
back to the DataFrame read.
"""

from __future__ import annotations

import datetime as dt
import io
import math

import dagster as dg
import pandas as pd
import psycopg
from psycopg import sql

from quant_assets import pgbinary
from quant_assets.calendar import previous_trading_days
from quant_assets.errors import SourceDataError
from quant_assets.metadata import preview, table_metadata, tracking_numbers
from quant_assets.resources.warehouse import (
    Warehouse,
    copy_frame,
    lock_partition,
    record_status,
    refresh_etf_latest,
    run_after,
)
from quant_assets.schemas.etf import EtfTrackingSchema
from quant_assets.schemas.validation import validate
from quant_assets.tracking import WINDOWS, tracking_panel, tracking_rows

TABLE = "etf_tracking"
CHUNK_DAYS = 250
HISTORY_FIELDS = [("ticker", "char20"), ("date", "date"), ("close", "float8"), ("nav", "float8"),
                  ("index_close", "float8")]
# NULL index levels arrive as NaN (binary COPY rows must keep one width); NAV and close are NOT NULL.
HISTORY_SQL = ("SELECT ticker::char(20), date, close::float8, nav::float8, coalesce(index_close::float8, 'NaN') "
               "FROM etf_daily WHERE region = {region} AND date BETWEEN {start} AND {end}")


def read_history(conn: psycopg.Connection, region: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """etf_daily's (date, ticker, close, nav, index_close) of region in [start, end]; date as datetime64."""
    lit = {"region": sql.Literal(region), "start": sql.Literal(start), "end": sql.Literal(end)}
    select = sql.SQL(HISTORY_SQL).format(**lit)
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(select)) as copy:
        for chunk in copy:
            buf.write(chunk)
    cols = pgbinary.decode(HISTORY_FIELDS, buf.getvalue())
    if cols is None:   # a ticker that is not 20 single-byte characters: the plain read
        cur = conn.execute(sql.SQL("SELECT date, ticker, close::float8, nav::float8, index_close::float8 "
                                   "FROM etf_daily WHERE region = {region} AND date BETWEEN {start} AND {end}"
                                   ).format(**lit))
        frame = pd.DataFrame(cur.fetchall(), columns=["date", "ticker", "close", "nav", "index_close"])
        return frame.astype({"date": "datetime64[ns]", "close": float, "nav": float, "index_close": float})
    ticker = pd.Series(cols["ticker"]).str.decode("ascii").str.rstrip(" ")
    return pd.DataFrame({"date": cols["date"].astype("datetime64[ns]"), "ticker": ticker, "close": cols["close"],
                         "nav": cols["nav"], "index_close": cols["index_close"]})


def check_tracking_inputs(history: pd.DataFrame, days: list[dt.date], region: str) -> None:
    """A zero NAV, or a benchmark that vanishes while the ETF still trades, is a source error."""
    wanted = history["date"].isin(pd.to_datetime(days))
    today = history[wanted]
    bad_nav = today[~(today["nav"] > 0)]
    if len(bad_nav):
        row = bad_nav.iloc[0]
        raise SourceDataError(TABLE, f"NAV is {row['nav']}", region=region, date=str(row["date"].date()),
                              ticker=row["ticker"], field="nav")
    prior = history.sort_values("date").groupby("ticker")["index_close"].shift(1)
    gap = history[wanted & history["index_close"].isna() & prior.notna()]
    if len(gap):
        row = gap.iloc[0]
        raise SourceDataError(TABLE, "benchmark level missing for a day after it was reported", region=region,
                              date=str(row["date"].date()), ticker=row["ticker"], field="index_close")


def compute(history: pd.DataFrame, days: list[dt.date], multiple: pd.Series, region: str) -> pd.DataFrame:
    """The validated etf_tracking rows of `days` from `history` (which holds their look-back)."""
    wide = {c: history.pivot(index="date", columns="ticker", values=c).astype(float)
            for c in ("nav", "close", "index_close")}
    known = multiple.reindex(wide["nav"].columns).fillna(1.0)
    panel = tracking_panel(wide["nav"], wide["close"], wide["index_close"], known)
    rows = tracking_rows(panel, wide["nav"], list(pd.to_datetime(days)), known).assign(region=region)
    columns = list(EtfTrackingSchema.to_schema().columns)
    frame = rows[columns].sort_values(["date", "ticker"]).reset_index(drop=True)
    return validate(EtfTrackingSchema, frame, dataset=TABLE, date=str(days[0]) if len(days) == 1 else None)


def write(warehouse: Warehouse, frame: pd.DataFrame, days: list[dt.date], region: str) -> None:
    """Replace the rows of `days` with `frame`, one transaction: every day's lock (the key
    Warehouse.replace_partition uses), one DELETE, one COPY, a 'loaded' status per day and one
    refresh of etf_details' latest figures."""
    warehouse.ensure_month_partitions(TABLE, days)
    counts = frame.groupby(frame["date"].dt.date).size()
    with warehouse.connect() as conn, conn.transaction():
        for day in days:
            lock_partition(conn, TABLE, {"region": region, "date": day})
        conn.execute(f"DELETE FROM {TABLE} WHERE region = %s AND date = ANY(%s)", (region, days))
        copy_frame(conn, TABLE, frame)
        for day in days:
            record_status(conn, TABLE, day, "loaded", region=region, row_count=int(counts.get(day, 0)),
                          source="etf_daily")
        run_after(conn, [refresh_etf_latest(region, [TABLE], max(days))])


def _plottable(values: dict) -> dict:
    return {k: dg.MetadataValue.float(float(v)) for k, v in values.items()
            if v is not None and not pd.isna(v) and math.isfinite(float(v))}


def day_metadata(frame: pd.DataFrame, universe: int, url: str) -> dict:
    """What metadata.partition_metadata shows for one day, from what the run already holds (the
    day's etf_daily ETFs are in `history`): no query per day."""
    coverage = round(100.0 * len(frame) / universe, 2) if universe else None
    return {"dagster/row_count": len(frame), **table_metadata(TABLE, url), "preview": preview(frame),
            **_plottable({"coverage_pct": coverage, **(tracking_numbers(frame) if len(frame) else {})})}


def run(warehouse: Warehouse, days: list[dt.date], region: str, log=None) -> tuple[dict[str, dict], dict]:
    """Compute and write etf_tracking for `days` (sorted), chunk by chunk. Returns (metadata per
    partition key, run totals). Raises SourceDataError naming the day on bad inputs."""
    multiple = warehouse.read_frame("SELECT ticker, multiple FROM etf_details WHERE region = %s",
                                    (region,)).set_index("ticker")["multiple"]
    metadata, total, tickers = {}, 0, set()
    for c in range(0, len(days), CHUNK_DAYS):
        chunk = days[c:c + CHUNK_DAYS]
        start = previous_trading_days(chunk[0], max(WINDOWS) + 1)[0]
        with warehouse.connect(autocommit=True) as conn:
            history = read_history(conn, region, start, chunk[-1])
        if history.empty:
            raise SourceDataError(TABLE, "no etf_daily rows for these days; materialize etf_daily first",
                                  region=region, date=str(chunk[0]))
        check_tracking_inputs(history, chunk, region)
        frame = compute(history, chunk, multiple, region)
        write(warehouse, frame, chunk, region)
        total += len(frame)
        tickers |= set(history["ticker"].unique())
        universe = history[history["date"].isin(pd.to_datetime(chunk))].groupby("date").size()
        by_day = {d.date(): g for d, g in frame.groupby("date")}
        for day in chunk:
            rows = by_day.get(day, frame.iloc[:0])
            metadata[day.isoformat()] = day_metadata(rows, int(universe.get(pd.Timestamp(day), 0)), warehouse.url())
        if log:
            log.info(f"{TABLE} {region} {chunk[0]}..{chunk[-1]}: {len(frame)} rows, one write")
    missing = sorted(t for t in tickers if t not in multiple.index)
    return metadata, {"rows_in_run": total, "days": len(days), "etfs_without_multiple": len(missing)}
