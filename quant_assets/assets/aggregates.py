"""Monthly, quarterly and yearly bars: refresh one bucket with one set-based SQL statement.

Each bucket (a month, quarter or year partition) is rebuilt from `ohlcv_data` as a whole: in one
transaction its rows are deleted and re-inserted by a single INSERT ... SELECT ... GROUP BY ticker
over that bucket's days only, the way a TimescaleDB continuous aggregate refreshes a window. The
current bucket works too (it aggregates the days loaded so far and is refreshed as days arrive).
Prices are RAW (as traded, not split-adjusted): a bucket that contains a split mixes bases, so use
`ohlcv_adjusted` for returns across corporate actions.

The module also holds the small reporting helpers shared by the derived-price assets
(`ranges.py`, `factors.py`): per-partition materialization events for ranged runs and a
MaterializeResult for single-partition runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd
import psycopg

from quant_assets.assets.daily import BUCKET_CONDITION
from quant_assets.assets.reporting import report_partitions
from quant_assets.calendar import (
    KST,
    monthly_partitions,
    quarterly_partitions,
    trading_days,
    yearly_partitions,
)
from quant_assets.resources.warehouse import Warehouse, lock_partition

OHLCV = dg.AssetKey("ohlcv")


# -- shared helpers for derived assets ---------------------------------------------------------
def table_schema(*columns: tuple[str, str, str]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=n, type=t, description=d) for n, t, d in columns])


def partition_metadata(table: str, row_count: int, preview: pd.DataFrame, schema: dg.TableSchema,
                       **extra) -> dict:
    return {
        "dagster/row_count": int(row_count),
        "dagster/column_schema": schema,
        "dagster/table_name": f"quant.public.{table}",
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "(no rows)"),
        **extra,
    }


@dataclass
class RunReport:
    """What a (possibly ranged) run of a derived asset did, partition by partition."""

    metadata: dict[str, dict] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def emit(context: dg.AssetExecutionContext, report: RunReport,
         checks: Sequence[dg.AssetCheckResult] = ()) -> Iterator:
    """Per-partition materializations of a derived asset (see assets/reporting.py)."""
    landed = {key: [(context.asset_key, meta)] for key, meta in report.metadata.items()}
    yield from report_partitions(context, landed, report.failures, checks)


class InputMissing(Exception):
    """The inputs of a derived partition are not loaded (as opposed to a market-closed day)."""


def read(conn: psycopg.Connection, query: str, params=None) -> pd.DataFrame:
    cur = conn.execute(query, params)
    return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def ohlcv_state(conn: psycopg.Connection, day: dt.date) -> str:
    """'loaded' when ohlcv_data has rows for `day`, 'market_closed' when the ingest recorded that
    the market did not trade, else raise InputMissing (a derived partition would be wrong)."""
    found = read(
        conn,
        """SELECT EXISTS (SELECT 1 FROM ohlcv_data WHERE date = %(d)s) AS loaded,
                  EXISTS (SELECT 1 FROM partition_status WHERE asset = 'ohlcv' AND partition_date = %(d)s
                          AND status = 'market_closed') AS closed""",
        {"d": day},
    ).iloc[0]
    if found["loaded"]:
        return "loaded"
    if found["closed"]:
        return "market_closed"
    raise InputMissing(f"ohlcv for {day} is not loaded; materialize ohlcv {day} first")


def for_each_day(context: dg.AssetExecutionContext, warehouse: Warehouse,
                 process: Callable[[dt.date, psycopg.Connection], dict]) -> RunReport:
    """Run `process(day, conn)` for every partition key of the run, on one autocommit connection:
    `process` writes its day inside `with conn.transaction():` (one transaction per day) and returns
    the partition's metadata. A day whose inputs are missing fails alone; the others are stored."""
    report = RunReport()
    with warehouse.connect(autocommit=True) as conn:
        for key in context.partition_keys:
            try:
                report.metadata[key] = process(dt.date.fromisoformat(key), conn)
            except InputMissing as exc:
                report.failures.append(f"{key}: {exc}")
                context.log.error(f"{key}: {exc}")
    return report


# -- aggregates --------------------------------------------------------------------------------
AGGREGATE_SCHEMA = table_schema(
    ("ticker", "varchar(6)", "KRX short code"),
    ("period_start", "date", "first calendar day of the bucket"),
    ("asset_type", "text", "STOCK | ETF (on the last day)"),
    ("open", "bigint", "open of the first day with a non-null open (raw KRW)"),
    ("high", "bigint", "max daily high (raw KRW)"),
    ("low", "bigint", "min daily low (raw KRW)"),
    ("close", "bigint", "close of the last trading day (raw KRW)"),
    ("volume", "bigint", "sum of daily volume (shares, unadjusted)"),
    ("value", "bigint", "sum of daily traded value (KRW)"),
    ("market_cap", "bigint", "market cap on last_date (KRW)"),
    ("trading_days", "integer", "days the ticker has a bar in the bucket"),
    ("first_date", "date", "first trading date in the bucket"),
    ("last_date", "date", "last trading date in the bucket"),
)

BUCKET_INSERT = """
INSERT INTO {table} (ticker, period_start, asset_type, open, high, low, close, volume, value, market_cap,
                     trading_days, first_date, last_date)
SELECT ticker,
       %(start)s::date,
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
       max(date)
FROM ohlcv_data
WHERE date >= %(start)s AND date < %(end)s
GROUP BY ticker
"""

RECONCILE = """
SELECT (SELECT count(*) FROM ohlcv_data WHERE date >= %(start)s AND date < %(end)s) AS daily_rows,
       (SELECT coalesce(sum(volume), 0) FROM ohlcv_data WHERE date >= %(start)s AND date < %(end)s) AS daily_volume,
       coalesce(sum(trading_days), 0) AS agg_rows,
       coalesce(sum(volume), 0) AS agg_volume,
       count(*) FILTER (WHERE low > high OR close > high OR close < low OR open > high OR open < low)
           AS inconsistent
FROM {table} WHERE period_start = %(start)s
"""


def refresh_bucket(warehouse: Warehouse, table: str, start: dt.date, end: dt.date) -> int:
    """Replace one bucket's rows: DELETE + one INSERT ... SELECT ... GROUP BY, one transaction."""
    with warehouse.connect() as conn, conn.transaction():
        lock_partition(conn, table, start)
        conn.execute(f"DELETE FROM {table} WHERE period_start = %s", (start,))
        return conn.execute(BUCKET_INSERT.format(table=table), {"start": start, "end": end}).rowcount


def missing_days(warehouse: Warehouse, start: dt.date, end: dt.date) -> list[dt.date]:
    """KRX trading days of [start, end) up to yesterday (KST) with no ohlcv rows and no
    'market_closed' record: holes that make the bucket's sums and counts incomplete."""
    horizon = min(end - dt.timedelta(days=1), dt.datetime.now(tz=KST).date() - dt.timedelta(days=1))
    expected = trading_days(start, horizon) if start <= horizon else []
    if not expected:
        return []
    seen = warehouse.read_frame(
        """SELECT DISTINCT date FROM ohlcv_data WHERE date >= %(s)s AND date < %(e)s
           UNION SELECT partition_date FROM partition_status
           WHERE asset = 'ohlcv' AND status = 'market_closed' AND partition_date >= %(s)s AND partition_date < %(e)s""",
        {"s": start, "e": end},
    )
    have = {pd.Timestamp(d).date() for d in seen.iloc[:, 0]} if len(seen) else set()
    return [d for d in expected if d not in have]


def _aggregate_asset(name: str, partitions_def: dg.TimeWindowPartitionsDefinition, period: str):
    checks = [
        dg.AssetCheckSpec(
            "reconciles_with_daily", asset=name,
            description=f"Per {period}: summed trading days and volume equal the daily rows of ohlcv_data "
                        "in the bucket, and every bar has low <= open, close <= high.",
        ),
        dg.AssetCheckSpec(
            "no_missing_days", asset=name,
            description=f"WARN when a KRX trading day inside the {period} (up to yesterday) has no ohlcv rows "
                        "and is not recorded as market-closed: the bucket's sums would be short.",
        ),
    ]

    @dg.asset(
        name=name,
        partitions_def=partitions_def,
        deps=[dg.AssetDep(OHLCV, partition_mapping=dg.TimeWindowPartitionMapping())],
        kinds={"postgres", "sql"},
        group_name="aggregates",
        description=(
            f"{period.capitalize()} bars per ticker (table `{name}`, PK (ticker, period_start)) from RAW, "
            "unadjusted daily prices in `ohlcv_data`: first open, max high, min low, last close, summed volume "
            "and traded value, trading-day count and first/last trading date. One SQL statement per bucket; "
            f"the current {period} aggregates the days loaded so far."
        ),
        metadata={"dagster/table_name": f"quant.public.{name}", "price_basis": "raw"},
        backfill_policy=dg.BackfillPolicy.single_run(),
        # Requested when the bucket's loaded trading days are all present and one of them changed,
        # while the bucket is the latest one (so the current month refreshes every evening and
        # closes with its last trading day). History: backfill the bucket with its days.
        automation_condition=BUCKET_CONDITION,
        check_specs=checks,
    )
    def _asset(context, warehouse: Warehouse):  # context: AssetExecutionContext
        report = RunReport()
        bad, holes = [], {}
        for key in context.partition_keys:
            window = partitions_def.time_window_for_partition_key(key)
            start, end = window.start.date(), window.end.date()
            rows = refresh_bucket(warehouse, name, start, end)
            rec = warehouse.read_frame(RECONCILE.format(table=name), {"start": start, "end": end}).iloc[0]
            if (int(rec["daily_rows"]) != int(rec["agg_rows"]) or int(rec["daily_volume"]) != int(rec["agg_volume"])
                    or int(rec["inconsistent"])):
                bad.append(f"{key}: {rec.to_dict()}")
            gaps = missing_days(warehouse, start, end)
            if gaps:
                holes[key] = [str(d) for d in gaps]
            preview = warehouse.read_frame(
                f"SELECT * FROM {name} WHERE period_start = %s ORDER BY value DESC, ticker LIMIT 5", (start,)
            )
            report.metadata[key] = partition_metadata(
                name, rows, preview, AGGREGATE_SCHEMA, period_start=str(start), period_end=str(end),
                price_basis="raw", missing_days=len(gaps),
            )
            context.log.info(f"{name} {key}: {rows} rows")
        results = [
            dg.AssetCheckResult(
                check_name="reconciles_with_daily", passed=not bad,
                metadata={"buckets": len(context.partition_keys), "mismatches": "\n".join(bad[:20]) or "none"},
            ),
            dg.AssetCheckResult(
                check_name="no_missing_days", passed=not holes, severity=dg.AssetCheckSeverity.WARN,
                metadata={"missing": dg.MetadataValue.json(holes)},
                description=None if not holes else f"{sum(map(len, holes.values()))} trading day(s) without ohlcv",
            ),
        ]
        yield from emit(context, report, results)

    return _asset


ohlcv_monthly = _aggregate_asset("ohlcv_monthly", monthly_partitions, "month")
ohlcv_quarterly = _aggregate_asset("ohlcv_quarterly", quarterly_partitions, "quarter")
ohlcv_yearly = _aggregate_asset("ohlcv_yearly", yearly_partitions, "year")

ASSETS = [ohlcv_monthly, ohlcv_quarterly, ohlcv_yearly]
CHECKS: list = []  # declared on the assets (check_specs), evaluated in the same step
