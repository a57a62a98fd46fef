"""Run a trading-day asset over one partition or a whole backfill range, one day at a time.

A ranged backfill hands many days to one run (one process, one KRX login, one rate limiter)
instead of thousands of tiny runs; each day is still fetched with one bulk request, validated and
written in its own transaction, and reported as its own partition materialization. A failing day
is recorded in `partition_status` with its reason and the loop moves on, so one truncated
response costs one partition, not the range. A ban stops the loop at once: every remaining day is
marked `blocked` and no further request is sent.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd

from quant_assets.assets.reporting import log_partition, report_partitions
from quant_assets.errors import (
    MarketClosedError,
    SourceBlockedError,
    SourceDataError,
    SourceError,
    SourceStopError,
)
from quant_assets.metadata import partition_metadata
from quant_assets.resources.warehouse import Warehouse


def days_per_run() -> int:
    """Trading days one backfill run of an ingest asset covers (QUANT_DAYS_PER_RUN, default 250).

    250 is about a year: one process start, one KRX login and one rate limiter for a year of
    bulk requests. Setting it to 1 gives Dagster's default one-run-per-partition behaviour, which
    `make bench-backfill` uses as the comparison.
    """
    return int(os.environ.get("QUANT_DAYS_PER_RUN", "250"))


INGEST_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=days_per_run())


# Declarative refresh of derived assets.
# Daily derived assets: eager over the last week of partitions, so a day loaded late (or
# reloaded) still refreshes its derived partition (plain eager() looks at the newest one only,
# which on a weekend is the coming Monday, dagster #33551).
DAILY_DERIVED_CONDITION = dg.AutomationCondition.eager().replace(
    "in_latest_time_window", dg.AutomationCondition.in_latest_time_window(lookback_delta=dt.timedelta(days=7))
)
# Buckets (month/quarter/year): the latest bucket refreshes when one of its days changes. eager()
# waits while any day of the bucket is missing, but the newest trading-day partition is still
# open (today before 15:45, or the coming Monday on a weekend) and must not hold the bucket back.
BUCKET_CONDITION = dg.AutomationCondition.eager().replace(
    "any_deps_missing",
    dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.missing() & ~dg.AutomationCondition.will_be_requested()
        & ~dg.AutomationCondition.in_latest_time_window()
    ).with_label("any_deps_missing"),
)


@dataclass
class DayResult:
    """What one day produced for one asset: rows written plus metadata for the UI."""

    asset_key: dg.AssetKey
    frame: pd.DataFrame
    source: str
    extra: dict = field(default_factory=dict)


def table_schema(frame: pd.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=c, type=str(t)) for c, t in frame.dtypes.items()])


def day_metadata(result: DayResult, day: dt.date, warehouse: Warehouse | None = None, region: str = "KR") -> dict:
    """Catalogue schema, formatted preview and plottable numbers (quant_assets/metadata.py)."""
    return {
        **partition_metadata(result.asset_key, result.frame, day, region=region,
                             url=warehouse.url() if warehouse is not None else None),
        "date": str(day),
        "source": result.source,
        "status": "loaded",
        **result.extra,
    }


def for_each_trading_day(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    process_day: Callable[[dt.date], Sequence[DayResult]],
    *,
    status_assets: Sequence[str],
    region: str = "KR",
) -> Iterator:
    """Call `process_day` for every partition key of the run and report each day separately.

    `process_day` fetches, validates and writes one day (atomically) and returns what it wrote.
    Use as `yield from for_each_trading_day(...)` in the asset body. A ranged run reports each day
    the moment it lands (progress in the UI, nothing lost if the run dies); a one-day run returns
    its result so the asset's checks run in the same run (assets/reporting.py). Failed, closed
    and blocked days are recorded in partition_status under `region` (the trading-day partitions
    are the KRX calendar, hence the default KR); a day already loaded keeps status `loaded` (its
    rows are intact) and gets the failure in `last_error` (warehouse.record_status).
    """
    keys = list(context.partition_keys)
    stream = len(keys) > 1
    failures: list[str] = []
    landed: dict[str, list[tuple[dg.AssetKey, dict]]] = {}

    def land(key: str, events: list[tuple[dg.AssetKey, dict]]) -> None:
        landed[key] = events
        if stream:
            log_partition(context, key, events)

    for i, key in enumerate(keys):
        day = dt.date.fromisoformat(key)
        try:
            results = process_day(day)
        except MarketClosedError as exc:
            for name in status_assets:
                warehouse.record_status(name, day, "market_closed", region=region, reason=str(exc), row_count=0)
            closed = {"dagster/row_count": 0, "status": "market_closed", "reason": str(exc)}
            land(key, [(asset_key, closed) for asset_key in context.selected_asset_keys])
            context.log.warning(str(exc))
            continue
        except SourceStopError as exc:
            # A ban or an authentication failure: every further request would make it worse, so
            # the remaining days are recorded as not attempted, with the reason, and the run stops.
            status = "blocked" if isinstance(exc, SourceBlockedError) else "source_error"
            for rest in keys[i:]:
                for name in status_assets:
                    warehouse.record_status(name, dt.date.fromisoformat(rest), status, region=region,
                                            reason=f"not attempted: {exc}" if rest != key else str(exc))
            failures.extend(f"{rest}: {status}" for rest in keys[i:])
            context.log.error(f"source stopped the run ({status}); {len(keys) - i} day(s) not attempted: {exc}")
            break
        except (SourceError, SourceDataError) as exc:
            for name in status_assets:
                warehouse.record_status(name, day, "source_error", region=region, reason=str(exc))
            failures.append(f"{key}: {exc}")
            context.log.error(f"{key}: {exc}")
            continue
        land(key, [(result.asset_key, day_metadata(result, day, warehouse, region)) for result in results])
    yield from report_partitions(context, landed, failures, logged=stream)
