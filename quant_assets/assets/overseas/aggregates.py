"""`overseas_ohlcv_{monthly,quarterly,yearly}_{us,cn,hk,jp,vn}`: bars of each overseas region.

The same SQL and the same guarantees as the KR `ohlcv_monthly` / `_quarterly` / `_yearly`
(assets/aggregates.py, assets/bucket_sql.py), for one region each: a run rebuilds its buckets
from that region's daily bars (`ohlcv_data` region X, timeframe 'D', written by
`overseas_ohlcv_{x}`) with one DELETE and one INSERT ... SELECT ... GROUP BY ticker, region,
bucket in one transaction (per-bucket, per-region advisory locks), so a re-run writes the same
rows and a cross-section never mixes regions (the same symbol in US and VN is two rows). Rows go
into the shared tables `ohlcv_monthly`, `ohlcv_quarterly`, `ohlcv_yearly` (PK ticker, region,
bucket) with the region's local-currency raw prices.

Completeness is judged the KR way: the `no_missing_days` check WARNs when a session of the
region's own exchange calendar (assets/overseas/calendars.py; VN: weekdays) inside the bucket, up
to yesterday in the exchange's time zone, has no bar of the region and is not recorded
`market_closed` for `overseas_ohlcv` / that region in partition_status; the bucket is still built
from the days that exist (metadata `missing_days`). Buckets are months, quarters and years in the
exchange's time zone (Dagster maps daily to monthly partitions only within one time zone), with
end_offset 1 like the KR ones, so the current bucket exists and aggregates the days loaded so far.

The indicator columns (ma5_start, ma20_end, ma60_end, rsi_14_end) come from the region's
`overseas_technical_{x}` indicators (raw prices, assets/overseas/technical.py): the buckets depend
on them and, like the KR buckets, wait for the newest day's indicators once its bars landed.
"""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo

import dagster as dg

from quant_assets.assets.aggregates import (
    AGGREGATE_CONDITION,
    RunReport,
    aggregate_schema,
    bucket_checks,
    emit,
    partition_metadata,
    run_summary,
)
from quant_assets.assets.bucket_sql import BUCKET_COLUMN, missing_days, refresh_buckets
from quant_assets.assets.overseas import calendars
from quant_assets.assets.overseas.bars import OHLCV_ASSETS, STATUS_ASSET
from quant_assets.assets.overseas.technical import TECHNICAL_ASSETS
from quant_assets.config import start_date
from quant_assets.resources.warehouse import Warehouse

PERIODS = {"ohlcv_monthly": "month", "ohlcv_quarterly": "quarter", "ohlcv_yearly": "year"}
CRON = {"ohlcv_monthly": "0 0 1 * *", "ohlcv_quarterly": "0 0 1 1,4,7,10 *", "ohlcv_yearly": "0 0 1 1 *"}
PRICE_COLUMNS = ("open", "high", "low", "close", "volume", "value")


def asset_name(table: str, region: str) -> str:
    """`ohlcv_monthly`, 'US' -> `overseas_ohlcv_monthly_us`."""
    return f"overseas_{table}_{region.lower()}"


@functools.cache
def bucket_partitions(table: str, region: str) -> dg.TimeWindowPartitionsDefinition:
    """Months / quarters / years in the region's time zone, from the month (monthly) or year of
    QUANT_START_DATE, end_offset 1 (the current bucket exists), as calendar.monthly_partitions etc."""
    start = start_date()[:8] + "01" if table == "ohlcv_monthly" else start_date()[:5] + "01-01"
    return dg.TimeWindowPartitionsDefinition(start=start, fmt="%Y-%m-%d", cron_schedule=CRON[table],
                                             timezone=calendars.TIMEZONE[region], end_offset=1)


def column_lineage(table: str, daily: dg.AssetKey) -> dg.TableColumnLineage:
    deps = {c: [(c,)] for c in PRICE_COLUMNS}
    if table == "ohlcv_quarterly":
        deps |= {"price_volatility": [("close",)], "quarter_range_pct": [("high",), ("low",), ("open",)]}
    return dg.TableColumnLineage({
        column: [dg.TableColumnDep(asset_key=daily, column_name=c) for (c,) in sources]
        for column, sources in deps.items()
    })


def build_bucket_asset(table: str, region: str) -> dg.AssetsDefinition:
    name, period = asset_name(table, region), PERIODS[table]
    partitions_def = bucket_partitions(table, region)
    daily = OHLCV_ASSETS[region].key
    tz = ZoneInfo(calendars.TIMEZONE[region])
    calendar = calendars.CALENDAR[region] or "weekday (VN)"
    sessions = functools.partial(calendars.sessions, region)
    bucket = BUCKET_COLUMN[table]
    schema = aggregate_schema(table)
    lineage = column_lineage(table, daily)
    extra = " plus price_volatility and quarter_range_pct" if table == "ohlcv_quarterly" else ""
    checks = [
        dg.AssetCheckSpec(
            "reconciles_with_daily", asset=name,
            description=f"Per {period} of region {region}: summed trading days and volume equal the {region} "
                        "daily rows of ohlcv_data in the bucket, and every bar has low <= open, close <= high.",
        ),
        dg.AssetCheckSpec(
            "no_missing_days", asset=name,
            description=f"WARN when a {calendar} session inside the {period} (up to yesterday, "
                        f"{calendars.TIMEZONE[region]}) has no {region} bars and is not recorded as market-closed "
                        f"({STATUS_ASSET}, {region}): the bucket's sums would be short.",
        ),
    ]

    @dg.asset(
        name=name,
        partitions_def=partitions_def,
        # the current bucket's later days do not exist yet (see assets/aggregates.py, #13)
        deps=[dg.AssetDep(key, partition_mapping=dg.TimeWindowPartitionMapping(
            allow_nonexistent_upstream_partitions=True)) for key in (daily, TECHNICAL_ASSETS[region].key)],
        kinds={"postgres", "sql"},
        group_name="global",
        description=(
            f"{period.capitalize()} bars of region {region} per ticker (table `{table}`, rows with region "
            f"{region}, PK (ticker, region, {bucket})) from the RAW daily bars of `{daily.to_user_string()}` "
            f"in local currency: first open, max high, min low, last close, summed volume and traded value, "
            f"trading-day count, first/last trading date{extra}; indicator columns from "
            f"`{TECHNICAL_ASSETS[region].key.to_user_string()}`. {period.capitalize()}s in {calendars.TIMEZONE[region]}; one SQL statement "
            f"per run; the current {period} aggregates the days loaded so far."
        ),
        metadata={"dagster/table_name": f"quant.public.{table}", "price_basis": "raw", "region": region},
        backfill_policy=dg.BackfillPolicy.single_run(),
        # The KR buckets' condition (assets/aggregates.py): requested when one of the bucket's days
        # changed, waiting while a daily run of the region is in progress and for the newest day's
        # indicators once its bars landed (a failed newest bar holds nothing back).
        automation_condition=AGGREGATE_CONDITION,
        check_specs=checks,
    )
    def _asset(context, warehouse: Warehouse):  # context: AssetExecutionContext
        keys = list(context.partition_keys)
        windows = [partitions_def.time_window_for_partition_key(k) for k in keys]
        starts, end = [w.start.date() for w in windows], windows[-1].end.date()
        with warehouse.connect(autocommit=True) as conn:
            rec, preview = refresh_buckets(conn, table, starts, end, region)   # the whole range, one statement
            gaps = missing_days(conn, starts[0], end, region, sessions=sessions, status_asset=STATUS_ASSET, tz=tz)
        report, per_bucket = RunReport(), {}
        for key, start, window, (_, row) in zip(keys, starts, windows, rec.iterrows(), strict=True):
            stop = window.end.date()
            holes = [d for d in gaps if start <= d < stop]
            per_bucket[key] = bucket_checks(row, holes)
            meta = partition_metadata(
                table, int(row["bucket_rows"]), preview[preview[bucket] == start].head(5), schema, region=region,
                period_start=str(start), period_end=str(stop), price_basis="raw", missing_days=len(holes),
                buckets_in_statement=len(keys),
            )
            meta["dagster/column_lineage"] = lineage   # the region's daily bars, not the KR assets
            report.metadata[key] = meta
        context.log.info(f"{table} {region} {keys[0]}..{keys[-1]}: {int(rec['bucket_rows'].sum())} rows in "
                         f"{len(keys)} bucket(s), one statement")
        yield from emit(context, report, run_summary(per_bucket), partition_checks=per_bucket)

    return _asset


# (table, region) -> asset
BUCKET_ASSETS = {(t, r): build_bucket_asset(t, r) for t in PERIODS for r in calendars.REGIONS}
