"""Ranged runs (one run over many trading-day partitions, as a backfill launches them) tell Dagster
the truth: the dependents selected in the same run execute, every day is materialized once (and a
failed day never), and check results are recorded per partition key (issue #11, items 7 and 8).

Real embedded PostgreSQL, the simulator over HTTP and a real Dagster instance (ephemeral) whose
event log is read back.
"""

from __future__ import annotations

from collections import Counter

import dagster as dg
import pytest

from quant_assets import checks
from quant_assets.assets import etf, prices
from quant_assets.assets.reporting import report_partitions
from quant_assets_tests.test_ingest_assets import failure_text, load_reference, range_tags, resources

DAYS = ["2024-03-04", "2024-03-05", "2024-03-06"]
OHLCV, ETF_DAILY, AUM = dg.AssetKey("ohlcv"), dg.AssetKey("etf_daily"), dg.AssetKey("etf_aum")
# The checks of the two ingest assets that judge a day, run with them as the UI includes them.
DAY_CHECKS = [checks.partition_status_check("ohlcv"), checks.partition_status_check("etf_aum"),
              checks.AUM_COVERAGE, checks.aum_matches_nav, checks.freshness_check("etf_aum", "etf_aum")]


def ranged(assets, sim, warehouse, instance, first=DAYS[0], last=DAYS[-1]):
    return dg.materialize(assets, resources=resources(sim, warehouse), raise_on_error=False, instance=instance,
                          tags=range_tags(first, last))


def materializations(result) -> Counter:
    events = (e.event_specific_data.materialization for e in result.all_events
              if e.event_type_value == "ASSET_MATERIALIZATION")
    return Counter((m.asset_key.to_user_string(), m.partition) for m in events)


def check_records(instance, asset: str, name: str, run_id: str) -> dict[str | None, str]:
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(asset), name), limit=100)
    return {r.partition: r.status.value for r in records if r.run_id == run_id}


def rows_per_day(warehouse, table: str) -> dict[str, int]:
    frame = warehouse.read_frame(f"SELECT date, count(*) AS n FROM {table} GROUP BY date ORDER BY date")
    return {str(d): int(n) for d, n in frame.itertuples(index=False)}


def steps(result, event_type: str) -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type_value == event_type]


def test_ranged_run_executes_the_dependent_for_every_day_once(sim, warehouse):
    load_reference(sim, warehouse)
    instance = dg.DagsterInstance.ephemeral()
    result = ranged([prices.daily_prices, etf.etf_aum], sim, warehouse, instance)
    assert result.success
    assert "etf_aum" in steps(result, "STEP_SUCCESS")
    # The dependent ran for each day of the range: rows for every day, as many as that day's ETFs.
    etfs, aum = rows_per_day(warehouse, "etf_daily"), rows_per_day(warehouse, "etf_aum")
    assert list(aum) == DAYS and aum == etfs
    # Exactly one materialization per asset and partition: the per-day events as they landed,
    # none repeated by the step outputs at the end.
    assert materializations(result) == Counter({(a, d): 1 for a in ("ohlcv", "etf_daily", "etf_aum") for d in DAYS})
    for key in (OHLCV, ETF_DAILY, AUM):
        assert instance.get_materialized_partitions(key) == set(DAYS)
    # Each day's event carries that day's own metadata (rows of that day).
    aum_events = {e.event_specific_data.materialization.partition: e.event_specific_data.materialization
                  for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
                  and e.event_specific_data.materialization.asset_key == AUM}
    assert {d: aum_events[d].metadata["dagster/row_count"].value for d in DAYS} == aum


def test_checks_are_recorded_per_partition_and_a_bad_day_fails_alone(sim, warehouse):
    """One ETF's AUM on the middle day is 1.5x NAV x units: aum_matches_nav FAILS that day only;
    every other (check, day) SUCCEEDED; the run's summary results say which day failed."""
    load_reference(sim, warehouse)
    bad = DAYS[1]
    sim.set_faults({"rules": [{"source": "krx", "bld": "MDCSTAT04301", "date": bad.replace("-", ""),
                               "fault": "corrupt", "kind": "scale", "ticker": "069500",
                               "field": "INVSTASST_NETASST_TOTAMT", "factor": 1.5, "times": None}]})
    instance = dg.DagsterInstance.ephemeral()
    result = ranged([prices.daily_prices, etf.etf_aum, *DAY_CHECKS], sim, warehouse, instance)
    assert result.success  # the failing checks are WARN/ERROR results, not step failures
    run_id = result.run_id
    agree = check_records(instance, "etf_aum", "aum_matches_nav_x_units", run_id)
    assert {d: agree[d] for d in DAYS} == {DAYS[0]: "SUCCEEDED", bad: "FAILED", DAYS[2]: "SUCCEEDED"}
    assert agree[None] == "FAILED"  # the run's summary: not every day passed
    for asset, name in [("ohlcv", "partition_status"), ("etf_aum", "partition_status"),
                        ("etf_aum", "aum_coverage"), ("etf_aum", "fresh_on_krx_calendar")]:
        records = check_records(instance, asset, name, run_id)
        assert records == {**{d: "SUCCEEDED" for d in DAYS}, None: "SUCCEEDED"}, (asset, name, records)
    summary = next(e.event_specific_data for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.partition is None
                   and e.event_specific_data.check_name == "aum_matches_nav_x_units")
    assert summary.metadata["failed_partitions"].value == bad
    # A later one-day run records that day's own verdict (not SKIPPED, not the range's summary).
    sim.clear_faults()
    again = dg.materialize([etf.etf_aum, checks.aum_matches_nav], resources=resources(sim, warehouse),
                           instance=instance, partition_key=bad)
    assert check_records(instance, "etf_aum", "aum_matches_nav_x_units", again.run_id) == {bad: "SUCCEEDED", None: "SUCCEEDED"}


def test_failed_day_in_a_range_is_recorded_truthfully_and_the_retry_completes_it(sim, warehouse):
    load_reference(sim, warehouse)
    bad = DAYS[1]
    sim.set_faults({"rules": [{"source": "krx", "bld": "MDCSTAT01501", "date": bad.replace("-", ""),
                               "fault": "corrupt", "kind": "dash_price", "ticker": "005930",
                               "field": "TDD_CLSPRC", "times": None}]})
    instance = dg.DagsterInstance.ephemeral()
    result = ranged([prices.daily_prices, etf.etf_aum], sim, warehouse, instance)
    assert not result.success
    failure = failure_text(result, "daily_prices")
    assert "1 of 3 partition(s) failed" in failure and bad in failure and "005930" in failure
    status = warehouse.read_frame("SELECT asset, partition_date, status FROM partition_status "
                                  "WHERE asset IN ('ohlcv', 'etf_daily') ORDER BY 1, 2")
    assert {(a, str(d)): s for a, d, s in status.itertuples(index=False)} == {
        **{(a, d): "loaded" for a in ("ohlcv", "etf_daily") for d in (DAYS[0], DAYS[2])},
        ("ohlcv", bad): "source_error", ("etf_daily", bad): "source_error"}
    # The days that landed are materialized once, the failed day never; the dependent did not run
    # on a range with a hole.
    assert materializations(result) == Counter({(a, d): 1 for a in ("ohlcv", "etf_daily") for d in (DAYS[0], DAYS[2])})
    assert instance.get_materialized_partitions(OHLCV) == {DAYS[0], DAYS[2]}
    assert "etf_aum" not in steps(result, "STEP_START") and rows_per_day(warehouse, "etf_aum") == {}
    # The retry of the range (fault gone) completes it, dependent included.
    sim.clear_faults()
    retry = ranged([prices.daily_prices, etf.etf_aum], sim, warehouse, instance)
    assert retry.success and "etf_aum" in steps(retry, "STEP_SUCCESS")
    assert list(rows_per_day(warehouse, "etf_aum")) == DAYS
    assert materializations(retry) == Counter({(a, d): 1 for a in ("ohlcv", "etf_daily", "etf_aum") for d in DAYS})
    status = warehouse.read_frame("SELECT DISTINCT status FROM partition_status")
    assert list(status["status"]) == ["loaded"]


# -- report_partitions' partition_checks, on a small asset --------------------------------------
PARTS = dg.DailyPartitionsDefinition(start_date="2024-01-01")
KEYS = ["2024-01-01", "2024-01-02", "2024-01-03"]


def _reporting_asset(blocking: bool):
    @dg.asset(name="daily", partitions_def=PARTS, backfill_policy=dg.BackfillPolicy.single_run(),
              check_specs=[dg.AssetCheckSpec("positive", asset="daily", blocking=blocking),
                           dg.AssetCheckSpec("whole_run", asset="daily")])
    def daily(context):
        landed = {key: [(context.asset_key, {"dagster/row_count": 1})] for key in context.partition_keys}
        per_day = {key: [dg.AssetCheckResult(check_name="positive", passed=key != KEYS[1])]
                   for key in context.partition_keys}
        yield from report_partitions(context, landed, [], [dg.AssetCheckResult(check_name="whole_run", passed=True)],
                                     partition_checks=per_day)

    @dg.asset(name="dependent", deps=[daily], partitions_def=PARTS, backfill_policy=dg.BackfillPolicy.single_run())
    def dependent() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    return daily, dependent


@pytest.mark.parametrize("blocking", [False, True])
def test_partition_checks_become_per_partition_results_and_a_blocking_failure_stops_dependents(blocking):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(_reporting_asset(blocking), instance=instance, raise_on_error=False,
                            tags=range_tags(KEYS[0], KEYS[-1]))
    positive = check_records(instance, "daily", "positive", result.run_id)
    assert positive == {KEYS[0]: "SUCCEEDED", KEYS[1]: "FAILED", KEYS[2]: "SUCCEEDED", None: "FAILED"}
    # A summary the caller gives stays the only result of its check (no per-day records invented).
    assert check_records(instance, "daily", "whole_run", result.run_id).get(None) == "SUCCEEDED"
    assert materializations(result)[("daily", KEYS[1])] == 1
    if blocking:
        # A day failing a blocking check fails the step after every day is reported: no dependent
        # runs in this run, not even for the days that passed.
        assert not result.success and "dependent" not in steps(result, "STEP_START")
        assert not any(a == "dependent" for a, _ in materializations(result))
    else:
        assert result.success and materializations(result)[("dependent", KEYS[1])] == 1
    # A one-partition run records that partition's verdict too.
    one = dg.materialize(_reporting_asset(blocking), instance=instance, partition_key=KEYS[0])
    assert check_records(instance, "daily", "positive", one.run_id) == {KEYS[0]: "SUCCEEDED", None: "SUCCEEDED"}
