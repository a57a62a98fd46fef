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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd

from quant_assets.assets.reporting import partition_events, report_partitions
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


# Declarative refresh of derived assets: they follow history (issue #13).
# Daily derived assets: eager() without its latest-time-window limit, so EVERY day whose inputs
# land requests its derived partition — a 20-day catch-up, a ten-year backfill, a legacy import,
# not only the newest day (plain eager() looks at the newest partition only, which on a weekend is
# the coming Monday, dagster #33551). eager() still waits while a same-day input is missing, which
# also keeps the first tick on an empty instance from requesting 15 years of empty days. The
# automation sensor emits backfills (emit_backfills=True), so many days become one backfill whose
# runs follow each asset's BackfillPolicy (ranged runs), never thousands of one-day runs. A
# partition an in-progress backfill targets (`quant backfill` of the whole graph) is left to it.
DAILY_DERIVED_CONDITION = (
    dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window())
    & ~dg.AutomationCondition.backfill_in_progress()
).with_label("eager_over_history")
# Buckets (month/quarter/year): every bucket with a day that changed is (re)built from the days
# loaded so far — history included, and whether or not all of its days are loaded (a month with 19
# loaded days gets its bar; the aggregates' `no_missing_days` check WARNs about the holes). No
# `newly_missing` branch: a bucket is requested only when one of its days landed, never because it
# exists (no flood of empty buckets since 2010). It waits while an input of the bucket is running.
# A bucket requested in the same tick as its days' indicators joins their backfill (the sensor
# groups connected assets into one), which runs the days before the bucket; the newest day, a
# single-partition run, is awaited by aggregates.AGGREGATE_CONDITION.
BUCKET_CONDITION = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
    & ~dg.AutomationCondition.backfill_in_progress()
).with_label("bucket_follows_its_days")


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
    process_day: Callable[[dt.date], Sequence[DayResult] | Mapping[dt.date, Sequence[DayResult]]],
    *,
    status_assets: Sequence[str],
    region: str = "KR",
    day_checks: Callable[[dt.date, Sequence[DayResult]], Sequence[dg.AssetCheckResult]] | None = None,
    after_range: Callable[[list[dt.date]], None] | None = None,
    flush: Callable[[], Mapping[dt.date, Sequence[DayResult]]] | None = None,
) -> Iterator:
    """Call `process_day` for every partition key of the run and report each day separately.

    `process_day` fetches, validates and writes one day (atomically) and returns what it wrote.
    Use as `yield from for_each_trading_day(...)` in the asset body. A ranged run reports each day
    the moment it lands (progress in the UI, nothing lost if the run dies); either run then yields
    its outputs, so dependents and checks in the same run execute (assets/reporting.py). Failed, closed
    and blocked days are recorded in partition_status under `region` (the trading-day partitions
    are the KRX calendar, hence the default KR); a day already loaded keeps status `loaded` (its
    rows are intact) and gets the failure in `last_error` (warehouse.record_status).

    `day_checks(day, results)`, if given, returns the check results (of the asset's check_specs)
    for a day that landed; they are recorded per partition (assets/reporting.py).

    `process_day` may instead return the days that landed with this call, {day: results}: empty
    while it holds the day back, several days when it writes them together (assets/month_batches.py);
    `flush()` then writes what it still holds and returns those days, called when the loop ends or
    a source stops it. Days are reported only once written.

    `after_range(landed_days)`, if given, runs once after the loop, before the outputs are
    reported, with the days that landed in order (e.g. a refresh the last day's transaction would
    have done, when that day failed).
    """
    keys = list(context.partition_keys)
    stream = len(keys) > 1
    failures: list[str] = []
    landed: dict[str, list[tuple[dg.AssetKey, dict]]] = {}
    checked: dict[str, Sequence[dg.AssetCheckResult]] = {}

    def land(key: str, events: list[tuple[dg.AssetKey, dict]]) -> list[dg.AssetMaterialization]:
        # Yielded, not context.log_event: a logged event reaches Dagster only at the body's next
        # yield, so a day's event would wait for the end of the range (or be lost if it fails).
        landed[key] = events
        return partition_events(key, events) if stream else []

    def land_days(days: Mapping[dt.date, Sequence[DayResult]]) -> Iterator:
        for day, results in sorted(days.items()):
            yield from land(day.isoformat(), [(r.asset_key, day_metadata(r, day, warehouse, region)) for r in results])
            if day_checks is not None:
                checked[day.isoformat()] = day_checks(day, results)

    for i, key in enumerate(keys):
        day = dt.date.fromisoformat(key)
        try:
            results = process_day(day)
        except MarketClosedError as exc:
            for name in status_assets:
                warehouse.record_status(name, day, "market_closed", region=region, reason=str(exc), row_count=0)
            closed = {"dagster/row_count": 0, "status": "market_closed", "reason": str(exc)}
            yield from land(key, [(asset_key, closed) for asset_key in context.selected_asset_keys])
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
        yield from land_days(results if isinstance(results, Mapping) else {day: results})
    if flush is not None:
        yield from land_days(flush())
    if after_range is not None:
        after_range([dt.date.fromisoformat(k) for k in keys if k in landed and landed[k]
                     and all(m.get("status") == "loaded" for _, m in landed[k])])
    yield from report_partitions(context, landed, failures, logged=stream, partition_checks=checked)
