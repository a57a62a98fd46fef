"""Monthly, quarterly and yearly bars: refresh one bucket with one set-based SQL statement.

Each bucket (a month, quarter or year partition) of one region is rebuilt from the daily bars
(timeframe 'D') of `ohlcv_data` as a whole: in one transaction its rows are deleted and re-inserted
by a single INSERT ... SELECT ... GROUP BY ticker over that bucket's days of that region only, the
way a TimescaleDB continuous aggregate refreshes a window. The current bucket works too (it
aggregates the days loaded so far and is refreshed as days arrive). Prices are RAW (as traded, not
split-adjusted): a bucket that contains a split mixes bases, so use `ohlcv_adjusted` for returns
across corporate actions.

Seed 001's indicator columns come from the bars' indicator columns (written by the
`technical_analysis` asset, so the buckets depend on it): ma5_start is ma5 of the ticker's first
trading day in the bucket, ma20_end / ma60_end / rsi_14_end are those of its last trading day (each
on its own day's share basis, NULL where the indicator's window was not yet filled). The quarterly
bucket also has price_volatility (sample stddev of the daily closes, Spock's `stddev(close)`) and
quarter_range_pct ((max high - min low) / first open x 100).

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
from quant_assets.metadata import preview as preview_table
from quant_assets.metadata import table_metadata
from quant_assets.resources.warehouse import Warehouse, lock_partition

OHLCV = dg.AssetKey("ohlcv")
TECHNICAL = dg.AssetKey("technical_analysis")
# The region the KRX-calendar partitions of these assets cover. Every query takes the region as a
# parameter (cross-sections and windows never mix regions); other regions need their own calendar.
REGION = "KR"


# -- shared helpers for derived assets ---------------------------------------------------------
def table_schema(*columns: tuple[str, str, str]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=n, type=t, description=d) for n, t, d in columns])


def partition_metadata(table: str, row_count: int, preview: pd.DataFrame, schema: dg.TableSchema,
                       **extra) -> dict:
    """Row count, the table's schema from the PostgreSQL catalogue (types and sql/014 comments, which
    supersede the hand-written `schema`), column lineage and a formatted preview
    (quant_assets/metadata.py); numeric `extra` values are plotted by Dagster across partitions."""
    return {
        "dagster/row_count": int(row_count),
        **table_metadata(table),
        "preview": preview_table(preview),
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


class PartitionError(Exception):
    """One partition of a derived asset cannot be written; the run's other partitions go on."""


class InputMissing(PartitionError):
    """The inputs of a derived partition are not loaded (as opposed to a market-closed day)."""


def read(conn: psycopg.Connection, query: str, params=None) -> pd.DataFrame:
    cur = conn.execute(query, params)
    return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def ohlcv_state(conn: psycopg.Connection, day: dt.date, region: str = REGION) -> str:
    """'loaded' when ohlcv_data has daily bars of `region` for `day`, 'market_closed' when the
    ingest recorded that the market did not trade, else raise InputMissing (a derived partition
    would be wrong)."""
    found = read(
        conn,
        """SELECT EXISTS (SELECT 1 FROM ohlcv_data WHERE region = %(r)s AND date = %(d)s AND timeframe = 'D')
                      AS loaded,
                  EXISTS (SELECT 1 FROM partition_status WHERE asset = 'ohlcv' AND region = %(r)s
                          AND partition_date = %(d)s AND status = 'market_closed') AS closed""",
        {"d": day, "r": region},
    ).iloc[0]
    if found["loaded"]:
        return "loaded"
    if found["closed"]:
        return "market_closed"
    raise InputMissing(f"ohlcv for {region} {day} is not loaded; materialize ohlcv {day} first")


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
            except PartitionError as exc:
                report.failures.append(f"{key}: {exc}")
                context.log.error(f"{key}: {exc}")
    return report


# -- aggregates --------------------------------------------------------------------------------
# BUCKET_CONDITION, except that the newest trading day of an upstream asset holds the bucket back
# while it is missing although its own inputs have landed (technical_analysis of today, requested
# in the same tick as the bucket but in another run since the partitions differ). BUCKET_CONDITION
# exempts the newest day because it is open (no data yet: today before publication, the phantom
# Monday at weekends); a day whose ohlcv is loaded is not open. Without this the month could be
# rebuilt before today's indicators are written and keep NULL ma20_end / rsi_14_end.
_AWAITED = (dg.AutomationCondition.missing() & dg.AutomationCondition.in_latest_time_window()
            & dg.AutomationCondition.any_deps_match(~dg.AutomationCondition.missing()))
AGGREGATE_CONDITION = BUCKET_CONDITION & ~dg.AutomationCondition.any_deps_match(_AWAITED).with_label(
    "newest_day_awaited")
# A bucket table's key column (seed 001's names).
BUCKET_COLUMN = {"ohlcv_monthly": "month", "ohlcv_quarterly": "quarter", "ohlcv_yearly": "year"}

AGGREGATE_COLUMNS = (
    ("ticker", "varchar(20)", "symbol, canonical for the region"),
    ("region", "varchar(2)", "KR | US | ..."),
    ("asset_type", "text", "STOCK | ETF (on the last day)"),
    ("open", "numeric(20,4)", "open of the first day with a non-null open (raw, local currency)"),
    ("high", "numeric(20,4)", "max daily high (raw)"),
    ("low", "numeric(20,4)", "min daily low (raw)"),
    ("close", "numeric(20,4)", "close of the last trading day (raw)"),
    ("volume", "bigint", "sum of daily volume (shares, unadjusted)"),
    ("value", "bigint", "sum of daily traded value (local currency)"),
    ("market_cap", "bigint", "market cap on last_date"),
    ("trading_days", "integer", "days the ticker has a bar in the bucket"),
    ("first_date", "date", "first trading date in the bucket"),
    ("last_date", "date", "last trading date in the bucket"),
    ("ma5_start", "double precision", "ma5 of first_date (NULL: fewer than 5 bars of history)"),
    ("ma20_end", "double precision", "ma20 of last_date (NULL: fewer than 20 bars)"),
    ("ma60_end", "double precision", "ma60 of last_date (NULL: fewer than 60 bars)"),
    ("rsi_14_end", "double precision", "rsi_14 of last_date (NULL: fewer than 15 bars)"),
)
QUARTER_COLUMNS = (
    ("price_volatility", "double precision", "sample stddev of the daily closes in the quarter (raw)"),
    ("quarter_range_pct", "double precision", "(max high - min low) / first open x 100"),
)


def aggregate_schema(table: str) -> dg.TableSchema:
    bucket = (BUCKET_COLUMN[table], "date", "first calendar day of the bucket")
    extra = QUARTER_COLUMNS if table == "ohlcv_quarterly" else ()
    return table_schema(*AGGREGATE_COLUMNS[:2], bucket, *AGGREGATE_COLUMNS[2:], *extra)


def bucket_insert(table: str) -> str:
    """INSERT ... SELECT ... GROUP BY ticker for one bucket of one region (params start, end, region)."""
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
       max(date),
       (array_agg(ma5 ORDER BY date))[1],
       (array_agg(ma20 ORDER BY date DESC))[1],
       (array_agg(ma60 ORDER BY date DESC))[1],
       (array_agg(rsi_14 ORDER BY date DESC))[1]{quarter_values}
FROM ohlcv_data
WHERE region = %(region)s AND timeframe = 'D' AND date >= %(start)s AND date < %(end)s
GROUP BY ticker, region
"""


RECONCILE = """
WITH daily AS (
    SELECT count(*) AS n, coalesce(sum(volume), 0) AS volume,
           count(*) FILTER (WHERE ma20 IS NOT NULL) AS with_ma20
    FROM ohlcv_data WHERE region = %(region)s AND timeframe = 'D' AND date >= %(start)s AND date < %(end)s
)
SELECT (SELECT n FROM daily) AS daily_rows,
       (SELECT volume FROM daily) AS daily_volume,
       (SELECT with_ma20 FROM daily) AS daily_with_ma20,
       coalesce(sum(trading_days), 0) AS agg_rows,
       coalesce(sum(volume), 0) AS agg_volume,
       count(*) FILTER (WHERE low > high OR close > high OR close < low OR open > high OR open < low)
           AS inconsistent,
       count(*) FILTER (WHERE ma20_end IS NULL) AS without_ma20_end
FROM {table} WHERE region = %(region)s AND {bucket} = %(start)s
"""


def refresh_bucket(warehouse: Warehouse, table: str, start: dt.date, end: dt.date, region: str = REGION) -> int:
    """Replace one bucket's rows of one region: DELETE + one INSERT ... SELECT ... GROUP BY, one
    transaction."""
    with warehouse.connect() as conn, conn.transaction():
        lock_partition(conn, table, (region, start))
        conn.execute(f"DELETE FROM {table} WHERE region = %s AND {BUCKET_COLUMN[table]} = %s", (region, start))
        return conn.execute(bucket_insert(table), {"start": start, "end": end, "region": region}).rowcount


def missing_days(warehouse: Warehouse, start: dt.date, end: dt.date, region: str = REGION) -> list[dt.date]:
    """KRX trading days of [start, end) up to yesterday (KST) with no ohlcv rows and no
    'market_closed' record in `region`: holes that make the bucket's sums and counts incomplete."""
    horizon = min(end - dt.timedelta(days=1), dt.datetime.now(tz=KST).date() - dt.timedelta(days=1))
    expected = trading_days(start, horizon) if start <= horizon else []
    if not expected:
        return []
    seen = warehouse.read_frame(
        """SELECT DISTINCT date FROM ohlcv_data
           WHERE region = %(r)s AND timeframe = 'D' AND date >= %(s)s AND date < %(e)s
           UNION SELECT partition_date FROM partition_status
           WHERE asset = 'ohlcv' AND region = %(r)s AND status = 'market_closed'
             AND partition_date >= %(s)s AND partition_date < %(e)s""",
        {"s": start, "e": end, "r": region},
    )
    have = {pd.Timestamp(d).date() for d in seen.iloc[:, 0]} if len(seen) else set()
    return [d for d in expected if d not in have]


def _aggregate_asset(name: str, partitions_def: dg.TimeWindowPartitionsDefinition, period: str):
    checks = [
        dg.AssetCheckSpec(
            "reconciles_with_daily", asset=name,
            description=f"Per {period} and region: summed trading days and volume equal the daily rows of "
                        "ohlcv_data in the bucket, and every bar has low <= open, close <= high.",
        ),
        dg.AssetCheckSpec(
            "no_missing_days", asset=name,
            description=f"WARN when a KRX trading day inside the {period} (up to yesterday) has no ohlcv rows "
                        "and is not recorded as market-closed: the bucket's sums would be short.",
        ),
    ]

    bucket = BUCKET_COLUMN[name]
    schema = aggregate_schema(name)
    extra = " plus price_volatility and quarter_range_pct" if name == "ohlcv_quarterly" else ""

    @dg.asset(
        name=name,
        partitions_def=partitions_def,
        # The current bucket's later days do not exist yet: without allow_nonexistent the backfill
        # daemon rejects any backfill holding the current month/quarter/year ("depends on
        # non-existent partitions"), e.g. the one automation emits for the catch-up days (#13).
        deps=[dg.AssetDep(OHLCV, partition_mapping=dg.TimeWindowPartitionMapping(
                  allow_nonexistent_upstream_partitions=True)),
              dg.AssetDep(TECHNICAL, partition_mapping=dg.TimeWindowPartitionMapping(
                  allow_nonexistent_upstream_partitions=True))],
        kinds={"postgres", "sql"},
        group_name="aggregates",
        description=(
            f"{period.capitalize()} bars per ticker and region (table `{name}`, PK (ticker, region, {bucket})) "
            "from RAW, unadjusted daily bars in `ohlcv_data`: first open, max high, min low, last close, summed "
            "volume and traded value, trading-day count, first/last trading date, and the indicators of the "
            f"first day (ma5_start) and last day (ma20_end, ma60_end, rsi_14_end) from `technical_analysis`{extra}. "
            f"One SQL statement per bucket and region; the current {period} aggregates the days loaded so far."
        ),
        metadata={"dagster/table_name": f"quant.public.{name}", "price_basis": "raw"},
        backfill_policy=dg.BackfillPolicy.single_run(),
        # Requested when the bucket's loaded trading days are all present and one of them changed,
        # while the bucket is the latest one (so the current month refreshes every evening and
        # closes with its last trading day). History: backfill the bucket with its days.
        automation_condition=AGGREGATE_CONDITION,
        check_specs=checks,
    )
    def _asset(context, warehouse: Warehouse):  # context: AssetExecutionContext
        report = RunReport()
        bad, holes = [], {}
        for key in context.partition_keys:
            window = partitions_def.time_window_for_partition_key(key)
            start, end = window.start.date(), window.end.date()
            params = {"start": start, "end": end, "region": REGION}
            rows = refresh_bucket(warehouse, name, start, end, REGION)
            rec = warehouse.read_frame(RECONCILE.format(table=name, bucket=bucket), params).iloc[0]
            if (int(rec["daily_rows"]) != int(rec["agg_rows"]) or int(rec["daily_volume"]) != int(rec["agg_volume"])
                    or int(rec["inconsistent"])):
                bad.append(f"{key}: {rec.to_dict()}")
            gaps = missing_days(warehouse, start, end, REGION)
            if gaps:
                holes[key] = [str(d) for d in gaps]
            preview = warehouse.read_frame(
                f"SELECT * FROM {name} WHERE region = %s AND {bucket} = %s ORDER BY value DESC NULLS LAST, ticker "
                "LIMIT 5", (REGION, start),
            )
            report.metadata[key] = partition_metadata(
                name, rows, preview, schema, region=REGION, period_start=str(start), period_end=str(end),
                price_basis="raw", missing_days=len(gaps), daily_bars_with_ma20=int(rec["daily_with_ma20"]),
                rows_without_ma20_end=int(rec["without_ma20_end"]),
            )
            context.log.info(f"{name} {REGION} {key}: {rows} rows")
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
