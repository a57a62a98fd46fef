"""Derived assets follow history (issue #13 item 2), evaluated with Dagster's own automation engine.

A fresh install loads 20 catch-up days in one ranged run. Every derived partition those days feed
must be requested — not only the last week — and the month, quarter and year buckets that contain
them must be built from the loaded days, also when the bucket has days that were never loaded. The
requests form one backfill (the automation sensor emits backfills), so the daemon runs them as a
few ranged runs following each asset's BackfillPolicy, not one run per partition.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests

from quant_assets.assets import aggregates, etf, factors, ranges, technical
from quant_assets.automation import automation_sensor
from quant_assets.calendar import KST, trading_day_partitions, trading_days
from quant_assets.resources.warehouse import Warehouse

DAILY = ["adjustment_factors", "price_range_52w", "factor_scores", "technical_analysis", "etf_tracking"]
BUCKETS = ["ohlcv_monthly", "ohlcv_quarterly", "ohlcv_yearly"]
INGEST = ["ohlcv", "stock_fundamentals", "etf_daily"]


def _defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[*(dg.AssetSpec(k, partitions_def=trading_day_partitions) for k in INGEST),
                dg.AssetSpec("stock_list"), dg.AssetSpec("etf_list"),
                *ranges.ASSETS, *factors.ASSETS, *aggregates.ASSETS, *technical.ASSETS, etf.etf_tracking],
        resources={"warehouse": Warehouse(database_url="postgresql://unused")},
    )


class Engine:
    """evaluate_automation_conditions with a cursor, pretending every requested run succeeded."""

    def __init__(self) -> None:
        self.defs, self.instance, self.cursor = _defs(), dg.DagsterInstance.ephemeral(), None
        self.last = None

    def evaluate(self, when: dt.datetime) -> dict[str, list[str]]:
        with dg.partition_loading_context(effective_dt=when):
            self.last = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance,
                                                          evaluation_time=when, cursor=self.cursor)
        self.cursor = self.last.cursor
        keys = [*DAILY, *BUCKETS]
        requested = {k: sorted(self.last.get_requested_partitions(dg.AssetKey(k))) for k in keys}
        for key, partitions in requested.items():
            self.load(key, *partitions)
        return {k: v for k, v in requested.items() if v}

    def load(self, asset: str, *partitions) -> None:
        for p in partitions:
            self.instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=str(p)))


def test_catch_up_days_request_every_derived_partition_and_their_buckets():
    engine = Engine()
    engine.evaluate(dt.datetime(2025, 11, 17, 9, tzinfo=KST))          # first tick: nothing to do
    days = [str(d) for d in trading_days("2025-10-21", "2025-11-17")]   # the 20 catch-up days
    assert len(days) == 20
    for asset in INGEST:
        engine.load(asset, *days)
    engine.load("stock_list")
    engine.load("etf_list")
    first = engine.evaluate(dt.datetime(2025, 11, 17, 17, tzinfo=KST))
    # every loaded day, not the last week only (the old condition requested 5 of 20); October
    # (9 loaded days of 23, never built by the old condition) joins the same backfill, which runs
    # the days' indicators before the bucket
    assert first == {**{k: days for k in DAILY}, "ohlcv_monthly": ["2025-10-01"]}
    # ... as ONE backfill (ranged runs by BackfillPolicy), not 100 runs
    with dg.partition_loading_context(effective_dt=dt.datetime(2025, 11, 17, 17, tzinfo=KST)):
        requests = build_run_requests(engine.last._requested_subsets, engine.defs.resolve_asset_graph(),
                                      run_tags=None, emit_backfills=True)
    assert len(requests) == 1 and requests[0].requires_backfill_daemon()
    # the buckets holding the newest day follow once its indicators have landed; the quarter and
    # the year are built from the loaded days (the old condition never built them on a fresh install)
    second = engine.evaluate(dt.datetime(2025, 11, 17, 17, 5, tzinfo=KST))
    assert second == {"ohlcv_monthly": ["2025-11-01"], "ohlcv_quarterly": ["2025-10-01"],
                      "ohlcv_yearly": ["2025-01-01"]}
    assert engine.evaluate(dt.datetime(2025, 11, 17, 17, 10, tzinfo=KST)) == {}   # nothing twice


def test_backfilled_history_requests_its_derived_partitions_and_old_buckets():
    """`quant backfill` of ingest alone, or a legacy import: a year of old days lands later."""
    engine = Engine()
    engine.evaluate(dt.datetime(2025, 11, 17, 9, tzinfo=KST))
    history = [str(d) for d in trading_days("2024-01-02", "2024-03-29")]
    for asset in INGEST:
        engine.load(asset, *history)
    first = engine.evaluate(dt.datetime(2025, 11, 17, 17, tzinfo=KST))
    # one backfill: every old day's derived partitions, then the months, quarter and year they fill
    assert first == {**{k: history for k in DAILY}, "ohlcv_monthly": ["2024-01-01", "2024-02-01", "2024-03-01"],
                     "ohlcv_quarterly": ["2024-01-01"], "ohlcv_yearly": ["2024-01-01"]}
    assert engine.evaluate(dt.datetime(2025, 11, 17, 17, 5, tzinfo=KST)) == {}


def test_empty_instance_requests_nothing_and_the_sensor_emits_backfills():
    """No flood: with nothing loaded no derived partition or empty bucket since 2010 is requested."""
    engine = Engine()
    assert engine.evaluate(dt.datetime(2025, 11, 17, 9, tzinfo=KST)) == {}
    assert engine.evaluate(dt.datetime(2025, 11, 17, 9, 5, tzinfo=KST)) == {}
    assert automation_sensor.emit_backfills


def test_the_current_bucket_can_join_a_backfill():
    """The automation sensor puts the current month in the same backfill as the catch-up days; the
    backfill daemon refuses a bucket whose upstream days "do not exist" (the rest of the month)
    unless the mapping allows it — on a fresh install that failed the whole catch-up backfill."""
    graph = _defs().resolve_asset_graph()
    now = dt.datetime(2026, 12, 2, 12, tzinfo=KST)
    with dg.partition_loading_context(effective_dt=now):
        for bucket in BUCKETS:
            pdef = graph.get(dg.AssetKey(bucket)).partitions_def
            current = pdef.subset_with_partition_keys([pdef.get_last_partition_key()])
            for parent in ("ohlcv", "technical_analysis"):
                mapping = graph.get_partition_mapping(dg.AssetKey(bucket), dg.AssetKey(parent))
                result = mapping.get_upstream_mapped_partitions_result_for_partitions(
                    current, pdef, trading_day_partitions, current_time=now)
                assert result.required_but_nonexistent_subset.is_empty, (bucket, parent)
                assert "2026-12-02" in result.partitions_subset.get_partition_keys()
