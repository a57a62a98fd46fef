"""`quant backfill`: argument validation, range resolution per partitioning (the real partitions
definitions and asset graph), downstream selection, resumability, and progress arithmetic."""

from __future__ import annotations

import datetime as dt

import pytest

from quant_assets import backfill, backfill_plan
from quant_assets.calendar import (
    KST,
    monthly_partitions,
    quarterly_partitions,
    trading_day_partitions,
    trading_days,
    yearly_partitions,
)
from quant_assets.cli import main as quant

NOW = dt.datetime(2026, 3, 2, 12, tzinfo=KST)


@pytest.fixture(scope="module")
def graph():
    from quant_assets.definitions import defs
    return defs.resolve_asset_graph()


def days(a: str, b: str) -> list[dt.date]:
    return trading_days(a, b)


def test_a_year_of_days_selects_the_months_containing_them():
    """The old command passed trading-day keys to a monthly asset: 2025-02 … 2026-01 (January
    missing, an empty 2026-01 marked green)."""
    keys = backfill_plan.keys_containing(monthly_partitions, days("2025-01-01", "2025-12-31"), NOW)
    assert keys == [f"2025-{m:02d}-01" for m in range(1, 13)]
    assert backfill_plan.keys_containing(quarterly_partitions, days("2025-01-01", "2025-12-31"), NOW) == [
        "2025-01-01", "2025-04-01", "2025-07-01", "2025-10-01"]
    assert backfill_plan.keys_containing(yearly_partitions, days("2025-01-01", "2025-12-31"), NOW) == ["2025-01-01"]
    # a range inside one month still selects that month; one crossing a boundary both
    assert backfill_plan.keys_containing(monthly_partitions, days("2025-03-10", "2025-04-02"), NOW) == [
        "2025-03-01", "2025-04-01"]


def test_daily_keys_are_the_trading_days_themselves():
    # 2025-01-04 is a Saturday: Friday's window spans the weekend but Friday is not selected
    keys = backfill_plan.keys_containing(trading_day_partitions, days("2025-01-04", "2025-01-10"), NOW)
    assert keys == ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09", "2025-01-10"]
    # KRX holidays are not partitions (2025-01-27 temporary holiday, 01-28..30 설날)
    keys = backfill_plan.keys_containing(trading_day_partitions, days("2025-01-24", "2025-01-31"), NOW)
    assert keys == ["2025-01-24", "2025-01-31"]


def test_downstream_includes_every_derived_asset_but_not_the_trickles(graph):
    assets = backfill_plan.resolve_assets(graph, list(backfill.DEFAULT_ROOTS), downstream=True)
    assert set(assets) == {"ohlcv", "etf_daily", "stock_fundamentals", "etf_aum", "adjustment_factors",
                           "price_range_52w", "technical_analysis", "factor_scores", "etf_tracking",
                           "ohlcv_monthly", "ohlcv_quarterly", "ohlcv_yearly"}
    order = {a: i for i, a in enumerate(assets)}   # dependency order
    assert order["ohlcv"] < order["adjustment_factors"] < order["technical_analysis"] < order["ohlcv_monthly"]
    assert "etf_holdings" in backfill_plan.resolve_assets(graph, ["etf_daily", "etf_holdings"], downstream=True)
    assert backfill_plan.resolve_assets(graph, ["ohlcv_monthly"], downstream=False) == ["ohlcv_monthly"]
    with pytest.raises(backfill_plan.PlanError, match="unknown asset.*nope"):
        backfill_plan.resolve_assets(graph, ["nope"], downstream=True)


def test_plan_skips_what_is_loaded_and_resumes_in_ranges(graph):
    year = [str(d) for d in days("2025-01-01", "2025-12-31")]
    loaded = set(year[:100]) | set(year[150:160])
    targets = backfill_plan.plan(graph, ["ohlcv", "ohlcv_monthly", "groups"], dt.date(2025, 1, 1),
                                 dt.date(2025, 12, 31),
                                 {"ohlcv": loaded, "ohlcv_monthly": {"2025-01-01"}, "groups": True}, NOW)
    by = {t.asset: t for t in targets}
    assert by["ohlcv"].ranges == ((year[100], year[149]), (year[160], year[-1]))
    assert (by["ohlcv"].partitions, by["ohlcv"].already) == (len(year) - 110, 110)
    # 2025-05 … 2025-12 hold days still to load: rebuilt although built; 02 … 04 are missing
    assert by["ohlcv_monthly"].ranges == (("2025-02-01", "2025-12-01"),)
    assert by["groups"].partitions == 0          # unpartitioned and already built: skipped
    # every day loaded: a built month is left alone, a missing one is built
    done = backfill_plan.plan(graph, ["ohlcv", "ohlcv_monthly"], dt.date(2025, 1, 1), dt.date(2025, 12, 31),
                              {"ohlcv": set(year), "ohlcv_monthly": {f"2025-{m:02d}-01" for m in range(1, 12)}}, NOW)
    assert [(t.partitions, t.ranges) for t in done] == [(0, ()), (1, (("2025-12-01", "2025-12-01"),))]
    # a month already built is rebuilt when the backfill loads one of its days
    redo = backfill_plan.plan(graph, ["ohlcv", "ohlcv_monthly"], dt.date(2025, 1, 1), dt.date(2025, 12, 31),
                              {"ohlcv": set(year) - {"2025-03-04"}, "ohlcv_monthly": {f"2025-{m:02d}-01" for m in range(1, 13)}},
                              NOW)
    assert [t.ranges for t in redo] == [(("2025-03-04", "2025-03-04"),), (("2025-03-01", "2025-03-01"),)]


def test_year_range_ends_yesterday():
    assert backfill_plan.year_range(1, dt.date(2026, 3, 2)) == (dt.date(2025, 3, 2), dt.date(2026, 3, 1))
    with pytest.raises(backfill_plan.PlanError):
        backfill_plan.year_range(0)


@pytest.mark.parametrize("argv, message", [
    (["--years", "0"], "between 1 and 50"),
    (["--years", "ten"], "not a whole number"),
    (["--start", "2025-13-01"], "not a date"),
    (["--assets", ","], "at least one asset"),
    (["--years", "1", "--status"], "not allowed with"),
])
def test_argument_errors_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        quant(["backfill", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--years", "1", "--start", "2025-01-01"], "exclude each other"),
    (["--start", "2025-03-01", "--end", "2025-02-01"], "is after --end"),
    ([], "give --years N or --start"),
    (["--start", "2099-01-01"], "in the future"),
    (["--start", "2000-01-01", "--end", "2001-01-01"], "before the first partition"),
])
def test_range_errors_name_the_problem(argv, message, capsys):
    assert quant(["backfill", *argv]) == 2
    assert message in capsys.readouterr().err


def test_unreachable_platform_is_a_clear_error(capsys):
    code = quant(["backfill", "--years", "1", "--graphql-url", "http://127.0.0.1:9/graphql"])
    assert code == 2 and "not reachable" in capsys.readouterr().err


def test_progress_counts_rate_and_eta():
    status = {"__typename": "PartitionBackfill", "status": "REQUESTED", "assetBackfillData": {
        "assetBackfillStatuses": [
            {"__typename": "AssetPartitionsStatusCounts", "assetKey": {"path": ["ohlcv"]},
             "numPartitionsTargeted": 250, "numPartitionsInProgress": 50, "numPartitionsMaterialized": 120,
             "numPartitionsFailed": 2},
            {"__typename": "UnpartitionedAssetStatus", "assetKey": {"path": ["groups"]},
             "inProgress": False, "materialized": True, "failed": False}]}}
    p = backfill.progress_of(status)
    assert (p.targeted, p.done, p.failed, p.in_progress, p.remaining) == (251, 121, 2, 50, 128)
    line = backfill.progress_line(p, elapsed_s=60.0, done_at_start=1)
    assert "121/251 partitions done, 2 failed" in line and "128 remaining" in line
    assert "120.0 partitions/min" in line and "ETA 1.1 min" in line
    assert not p.finished and not p.succeeded
    done = backfill.progress_of({**status, "status": "COMPLETED_SUCCESS"})
    assert done.finished and not done.succeeded   # two partitions failed: exit code 1
    assert backfill.backfill_link("http://h:3420/graphql", "abc") == "http://h:3420/runs/b/abc?tab=partitions"


def test_a_day_is_requested_only_once_its_data_is_published(graph):
    """Late on Friday its prices are out but its AUM is not (KRX publishes AUM the morning after):
    a backfill ending that day loads Friday's bars and leaves its AUM to the sensor instead of
    failing that partition; once the AUM is out (Monday 02:00) it is part of the backfill."""
    yesterday, today = dt.date(2026, 2, 27), dt.date(2026, 3, 2)      # Friday, Monday
    early = dt.datetime.combine(today, dt.time(2, 0), tzinfo=KST)
    friday_night = dt.datetime.combine(yesterday, dt.time(23, 0), tzinfo=KST)
    start = dt.date(2026, 2, 23)
    by = {t.asset: t for t in backfill_plan.plan(graph, ["ohlcv", "etf_aum"], start, yesterday, {}, friday_night)}
    assert by["ohlcv"].ranges == (("2026-02-23", "2026-02-27"),)
    assert by["etf_aum"].ranges == (("2026-02-23", "2026-02-26"),)
    by = {t.asset: t for t in backfill_plan.plan(graph, ["ohlcv", "etf_aum"], start, yesterday, {}, early)}
    assert by["etf_aum"].ranges == (("2026-02-23", "2026-02-27"),)
