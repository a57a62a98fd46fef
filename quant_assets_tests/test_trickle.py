"""The budgeted KRX history trickle: newest first, never more requests per day than the budget."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from quant_assets import tracking_krx, trickle
from quant_assets_tests.test_etf_assets import DAYS, loaded  # noqa: F401  (fixture)


def tick(instance, warehouse):
    with dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse}) as ctx:
        return trickle.krx_history_trickle(ctx)


@dg.asset
def _tagged_run() -> None:
    """Stands for a trickle run that already spent part of today's budget."""


def test_trickle_spends_the_budget_newest_first_and_shows_the_eta(loaded, monkeypatch):  # noqa: F811
    warehouse, instance = loaded, dg.DagsterInstance.ephemeral()
    for day in DAYS:                      # etf_daily history is loaded: the trickle follows it
        instance.report_runless_asset_event(dg.AssetMaterialization("etf_daily", partition=day))
    today = dt.datetime.now(tz=trickle.KST).date()      # the KST day the sensor counts its budget in
    todo = trickle.backlog(instance, warehouse, today)
    assert todo.tracking == ["2024-02-01", "2024-01-01"]            # newest first
    assert [d for d, _ in todo.holdings] == sorted(DAYS[:-1], reverse=True)  # the newest day is the sensor's
    assert all(c > 0 for _, c in todo.holdings)
    span_cost = tracking_krx.request_cost(warehouse, todo.tracking, today)

    # a budget the tracking span does not fit: the newest holdings days that fit, one ranged run
    left = span_cost - 1
    [req] = trickle.plan_requests(left, todo, warehouse, today)
    assert req.asset_selection == [trickle.HOLDINGS]
    cost = int(req.tags[trickle.COST_TAG])
    first = req.tags.get(trickle.RANGE_START, req.partition_key)
    taken = [d for d, _ in todo.holdings if d >= first]
    assert req.tags.get(trickle.RANGE_END, req.partition_key) == todo.holdings[0][0]
    assert cost == sum(c for _, c in todo.holdings[:len(taken)]) <= left < cost + todo.holdings[len(taken)][1]

    # a budget that fits the span: the tracking months first, as one ranged run
    [req] = trickle.plan_requests(span_cost, todo, warehouse, today)
    assert req.asset_selection == [trickle.TRACKING] and int(req.tags[trickle.COST_TAG]) == span_cost
    assert (req.tags[trickle.RANGE_START], req.tags[trickle.RANGE_END]) == ("2024-01-01", "2024-02-01")

    # the sensor: budget already spent today -> no request, the reason says what is left and when
    monkeypatch.setenv(trickle.BUDGET_ENV, str(span_cost))
    assert dg.materialize([_tagged_run], instance=instance,
                          tags={trickle.TRICKLE_TAG: "krx", trickle.COST_TAG: str(span_cost)}).success
    skipped = tick(instance, warehouse)
    assert isinstance(skipped, dg.SkipReason)
    assert f"{span_cost} spent today" in skipped.skip_message and "ETA" in skipped.skip_message

    fresh = dg.DagsterInstance.ephemeral()
    for day in DAYS:
        fresh.report_runless_asset_event(dg.AssetMaterialization("etf_daily", partition=day))
    requests = tick(fresh, warehouse)
    assert [r.asset_selection for r in requests] == [[trickle.TRACKING]]
    assert sum(int(r.tags[trickle.COST_TAG]) for r in requests) <= span_cost

    monkeypatch.setenv(trickle.BUDGET_ENV, "0")
    off = tick(fresh, warehouse)
    assert isinstance(off, dg.SkipReason) and "trickle off" in off.skip_message


@pytest.mark.parametrize("budget, days", [(2000, 25), (100_000, 1)])
def test_eta_counts_days_of_budget(budget, days):
    todo = trickle.Backlog(holdings=[("2024-01-02", 1000)] * 50, tracking=[], tracking_cost=0)
    assert trickle.eta_text(todo, budget) == f"ETA {days} day(s) at {budget} requests/day"
