"""What `quant backfill` targets: assets, downstream included, each over its OWN partitions.

A day range means different keys to different assets: the trading days themselves for daily
assets, and every month / quarter / year CONTAINING one of those trading days for the buckets
(`--start 2025-01-01 --end 2025-12-31` on `ohlcv_monthly` is 2025-01 … 2025-12: never a month
without a selected day, never a missing January). Re-running a backfill skips what is already
materialized, so an interrupted `quant backfill --years 10` resumes where it stopped.

Source-expensive history (one KRX request per ETF per day or month) is not part of a default
backfill: the budgeted trickle (quant_assets/trickle.py) loads it. Naming such an asset in
`--assets` still backfills it at once.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from quant_assets.backfill import DEFAULT_ROOTS, TRICKLE_ASSETS, PlanError
from quant_assets.calendar import KST, published, trading_days

__all__ = ["DEFAULT_ROOTS", "TRICKLE_ASSETS", "PlanError", "plan"]


@dataclass(frozen=True)
class AssetTarget:
    """One asset of the backfill: `ranges` of missing keys (None: an unpartitioned asset)."""

    asset: str
    ranges: tuple[tuple[str, str], ...] | None
    partitions: int          # keys still to materialize (1 for an unpartitioned asset to build)
    already: int             # keys of the range already materialized (skipped)


def year_range(years: int, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last `years` years up to the last trading day before today (KST): today's own data is
    the sensors' (it is published in the evening), not a backfill's."""
    if years < 1:
        raise PlanError(f"--years must be at least 1, got {years}")
    today = today or dt.datetime.now(tz=KST).date()
    end = today - dt.timedelta(days=1)
    start = end.replace(year=end.year - years) + dt.timedelta(days=1)
    return start, end


def validate_range(start: dt.date, end: dt.date, first_day: dt.date, today: dt.date) -> tuple[dt.date, dt.date]:
    if start > today:
        raise PlanError(f"--start {start} is in the future (today is {today} KST)")
    if start > end:
        raise PlanError(f"--start {start} is after --end {end}")
    if end < first_day:
        raise PlanError(f"--end {end} is before the first partition {first_day} (QUANT_START_DATE)")
    end = min(end, today)
    if not trading_days(max(start, first_day), end):
        raise PlanError(f"no KRX trading day between {max(start, first_day)} and {end}")
    return max(start, first_day), end


def keys_containing(partitions_def: dg.TimeWindowPartitionsDefinition, days: Sequence[dt.date],
                    now: dt.datetime | None = None) -> list[str]:
    """Partition keys of `partitions_def` whose time window contains at least one of `days`.

    A daily key's window can span a weekend (Friday's runs to Monday), so it is the key's own day
    that must be selected; a bucket is selected by any day inside it.
    """
    with dg.partition_loading_context(effective_dt=now or dt.datetime.now(tz=KST)):
        keys = partitions_def.get_partition_keys()
    starts = [partitions_def.time_window_for_partition_key(k).start.date() for k in keys]
    daily = isinstance(partitions_def, dg.DailyPartitionsDefinition)
    chosen: list[str] = []
    for day in days:
        i = bisect.bisect_right(starts, day) - 1
        if i < 0 or (daily and starts[i] != day):
            continue
        if not daily and partitions_def.time_window_for_partition_key(keys[i]).end.date() <= day:
            continue
        if not chosen or chosen[-1] != keys[i]:
            chosen.append(keys[i])
    return chosen


def contiguous_ranges(wanted: Sequence[str], order: Sequence[str]) -> list[tuple[str, str]]:
    """(first, last) runs of `wanted` that are consecutive in the partitions' own key order."""
    position = {k: i for i, k in enumerate(order)}
    ranges: list[list[str]] = []
    for key in sorted(wanted, key=position.__getitem__):
        if ranges and position[key] == position[ranges[-1][1]] + 1:
            ranges[-1][1] = key
        else:
            ranges.append([key, key])
    return [(a, b) for a, b in ranges]


def with_downstream(graph, roots: Iterable[str], named: Iterable[str]) -> list[str]:
    """`roots` and every materializable asset downstream of them, in dependency order; a trickle
    asset only when `named` explicitly."""
    named = set(named)
    seen: set[dg.AssetKey] = set()
    stack = [dg.AssetKey(r) for r in roots]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        for child in graph.get(key).child_keys:
            name = child.to_user_string()
            if graph.get(child).is_materializable and (name not in TRICKLE_ASSETS or name in named):
                stack.append(child)
    return [k.to_user_string() for k in graph.toposorted_asset_keys if k in seen]


def resolve_assets(graph, names: Sequence[str], downstream: bool) -> list[str]:
    known = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise PlanError(f"unknown asset(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if not downstream:
        order = [k.to_user_string() for k in graph.toposorted_asset_keys]
        return [n for n in order if n in set(names)]
    return with_downstream(graph, names, names)


def plan(graph, assets: Sequence[str], start: dt.date, end: dt.date,
         materialized: Mapping[str, set[str] | bool], now: dt.datetime | None = None) -> list[AssetTarget]:
    """Every asset's missing keys for the trading days of [start, end]. `materialized` maps an
    asset to its materialized keys (a bool for an unpartitioned asset). A bucket (month, quarter,
    year) that is built already is targeted again when the backfill loads one of its days: its bar
    would otherwise lack them."""
    now = now or dt.datetime.now(tz=KST)
    all_days = trading_days(start, end)
    loading: set[str] = set()       # trading days some daily asset of the backfill still loads
    for name in assets:
        pdef = graph.get(dg.AssetKey(name)).partitions_def
        if isinstance(pdef, dg.DailyPartitionsDefinition):
            have = materialized.get(name) or set()
            loading |= {d.isoformat() for d in all_days if published(name, d, now)} - set(have)
    targets = []
    for name in assets:
        pdef = graph.get(dg.AssetKey(name)).partitions_def
        if pdef is None:
            done = bool(materialized.get(name))
            targets.append(AssetTarget(name, None, 0 if done else 1, 1 if done else 0))
            continue
        if not isinstance(pdef, dg.TimeWindowPartitionsDefinition):
            raise PlanError(f"{name}: only time-partitioned assets can be backfilled by date range")
        keys = keys_containing(pdef, [d for d in all_days if published(name, d, now)], now)
        have = set(materialized.get(name) or set())
        if not isinstance(pdef, dg.DailyPartitionsDefinition):
            have -= set(keys_containing(pdef, sorted(dt.date.fromisoformat(d) for d in loading), now))
        missing = [k for k in keys if k not in have]
        with dg.partition_loading_context(effective_dt=now):
            order = pdef.get_partition_keys()
        targets.append(AssetTarget(name, tuple(contiguous_ranges(missing, order)), len(missing),
                                   len(keys) - len(missing)))
    return targets
