"""Monthly, quarterly and yearly bars: refresh the buckets of a run with one set-based SQL statement.

Each bucket (a month, quarter or year partition) of one region is rebuilt from the daily bars
(timeframe 'D') of `ohlcv_data` as a whole: in one transaction its rows are deleted and re-inserted
by a single INSERT ... SELECT ... GROUP BY ticker, bucket over the run's days of that region only,
the way a TimescaleDB continuous aggregate refreshes a window; a ranged run (a backfill of many
months) rebuilds all its buckets in that one statement (assets/bucket_sql.py), and each bucket
still gets its own materialization and its own check evaluations. The current bucket works too (it
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
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd
import psycopg

from quant_assets.assets.bucket_sql import BUCKET_COLUMN, missing_days, refresh_buckets
from quant_assets.assets.bucket_sql import bucket_insert as bucket_insert  # re-export (benchmarks)
from quant_assets.assets.daily import BUCKET_CONDITION
from quant_assets.assets.reporting import report_partitions
from quant_assets.calendar import (
    monthly_partitions,
    quarterly_partitions,
    yearly_partitions,
)
from quant_assets.metadata import preview as preview_table
from quant_assets.metadata import table_metadata
from quant_assets.resources.warehouse import Warehouse

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


def emit(context: dg.AssetExecutionContext, report: RunReport, checks: Sequence[dg.AssetCheckResult] = (),
         partition_checks: Mapping[str, Sequence[dg.AssetCheckResult]] | None = None) -> Iterator:
    """Per-partition materializations of a derived asset (see assets/reporting.py). With
    `partition_checks` (key -> that partition's results) each partition gets its own check
    evaluations, and `checks` are ignored, when reporting.py takes them (else `checks`, the run's
    summary, are reported)."""
    landed = {key: [(context.asset_key, meta)] for key, meta in report.metadata.items()}
    if partition_checks is not None and "partition_checks" in inspect.signature(report_partitions).parameters:
        yield from report_partitions(context, landed, report.failures, partition_checks=partition_checks)
    else:
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


STATES_SQL = """
SELECT d.day,
       EXISTS (SELECT 1 FROM ohlcv_data WHERE region = %(r)s AND date = d.day AND timeframe = 'D') AS loaded,
       EXISTS (SELECT 1 FROM partition_status WHERE asset = %(a)s AND region = %(r)s
               AND partition_date = d.day AND status = 'market_closed') AS closed
FROM unnest(%(days)s::date[]) AS d (day)
"""


def ohlcv_states(conn: psycopg.Connection, days: Sequence[dt.date], region: str = REGION, *,
                 status_asset: str = "ohlcv", source: str = "ohlcv") -> dict[dt.date, str | PartitionError]:
    """`ohlcv_state` of many days in one round trip: day -> 'loaded' | 'market_closed', or the
    InputMissing error of that day (a ranged run of 250 days asks once, not 250 times). Another
    region passes the partition_status asset of its daily bars (`overseas_ohlcv`) and the asset
    that loads them (`source`, named in the error)."""
    out: dict[dt.date, str | PartitionError] = {}
    params = {"r": region, "a": status_asset, "days": list(days)}
    for day, loaded, closed in conn.execute(STATES_SQL, params).fetchall():
        out[day] = ("loaded" if loaded else "market_closed" if closed else
                    InputMissing(f"{status_asset} for {region} {day} is not loaded; materialize {source} {day} first"))
    return {day: out[day] for day in days}


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


def refresh_bucket(warehouse: Warehouse, table: str, start: dt.date, end: dt.date, region: str = REGION) -> int:
    """Replace one bucket's rows of one region (bucket_sql.refresh_buckets of one bucket); rows written."""
    with warehouse.connect(autocommit=True) as conn:
        rec, _ = refresh_buckets(conn, table, [start], end, region)
    return int(rec["bucket_rows"].iloc[0])


def bucket_checks(rec: pd.Series, gaps: list[dt.date]) -> list[dg.AssetCheckResult]:
    """The two checks of one bucket, from its reconciliation row and its missing days."""
    counts = {k: int(v) for k, v in rec.items() if k != "bucket"}
    ok = (counts["daily_rows"] == counts["agg_rows"] and counts["daily_volume"] == counts["agg_volume"]
          and not counts["inconsistent"])
    return [
        dg.AssetCheckResult(check_name="reconciles_with_daily", passed=ok,
                            metadata={**counts, "mismatches": "none" if ok else str(counts)}),
        dg.AssetCheckResult(check_name="no_missing_days", passed=not gaps, severity=dg.AssetCheckSeverity.WARN,
                            metadata={"missing": dg.MetadataValue.json([str(d) for d in gaps])},
                            description=f"{len(gaps)} trading day(s) without ohlcv" if gaps else None),
    ]


def run_summary(per_bucket: dict[str, list[dg.AssetCheckResult]]) -> list[dg.AssetCheckResult]:
    """The run's two results when reporting.py cannot take them per partition."""
    bad = [f"{k}: {r.metadata['mismatches'].value}" for k, (r, _) in per_bucket.items() if not r.passed]
    holes = {k: h.metadata["missing"].value for k, (_, h) in per_bucket.items() if not h.passed}
    return [
        dg.AssetCheckResult(check_name="reconciles_with_daily", passed=not bad,
                            metadata={"buckets": len(per_bucket), "mismatches": "\n".join(bad[:20]) or "none"}),
        dg.AssetCheckResult(check_name="no_missing_days", passed=not holes, severity=dg.AssetCheckSeverity.WARN,
                            metadata={"missing": dg.MetadataValue.json(holes)},
                            description=None if not holes else
                            f"{sum(map(len, holes.values()))} trading day(s) without ohlcv"),
    ]


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
        keys = list(context.partition_keys)
        windows = [partitions_def.time_window_for_partition_key(k) for k in keys]
        starts, end = [w.start.date() for w in windows], windows[-1].end.date()
        with warehouse.connect(autocommit=True) as conn:
            rec, preview = refresh_buckets(conn, name, starts, end, REGION)   # the whole range, one statement
            gaps = missing_days(conn, starts[0], end, REGION)
        report, per_bucket = RunReport(), {}
        for key, start, window, (_, row) in zip(keys, starts, windows, rec.iterrows(), strict=True):
            stop = window.end.date()
            holes = [d for d in gaps if start <= d < stop]
            per_bucket[key] = bucket_checks(row, holes)
            report.metadata[key] = partition_metadata(
                name, int(row["bucket_rows"]), preview[preview[bucket] == start].head(5), schema, region=REGION,
                period_start=str(start), period_end=str(stop), price_basis="raw", missing_days=len(holes),
                daily_bars_with_ma20=int(row["daily_with_ma20"]), rows_without_ma20_end=int(row["without_ma20_end"]),
                buckets_in_statement=len(keys),
            )
        context.log.info(f"{name} {REGION} {keys[0]}..{keys[-1]}: {int(rec['bucket_rows'].sum())} rows in "
                         f"{len(keys)} bucket(s), one statement")
        yield from emit(context, report, run_summary(per_bucket), partition_checks=per_bucket)

    return _asset


ohlcv_monthly = _aggregate_asset("ohlcv_monthly", monthly_partitions, "month")
ohlcv_quarterly = _aggregate_asset("ohlcv_quarterly", quarterly_partitions, "quarter")
ohlcv_yearly = _aggregate_asset("ohlcv_yearly", yearly_partitions, "year")

ASSETS = [ohlcv_monthly, ohlcv_quarterly, ohlcv_yearly]
CHECKS: list = []  # declared on the assets (check_specs), evaluated in the same step
