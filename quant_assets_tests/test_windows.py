"""Derived windows follow older history (quant_assets/windows.py), with real runs and events.

The scenario a new user hits: a fresh install loads recent days and computes their indicators;
later a backfill brings the older history those indicators' windows need. The window sensor must
re-request exactly the computed days whose look-back gained input, as one ranged run, and after
that run the stored indicators must equal a from-scratch computation over all loaded days.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd
import pytest

from quant_assets import windows
from quant_assets.calendar import trading_days

DAYS = trading_days(dt.date(2018, 3, 2), dt.date(2018, 4, 27))   # 40 KRX days
OLD, NEW = DAYS[:20], DAYS[20:]
COLUMNS = "ma5, ma20, rsi_14, bb_middle, atr_14, volume_ma20"


def range_tags(first: dt.date, last: dt.date) -> dict:
    return {windows.RANGE_START_TAG: first.isoformat(), windows.RANGE_END_TAG: last.isoformat()}


def indicators(warehouse, days) -> pd.DataFrame:
    return warehouse.read_frame(
        f"SELECT ticker, date, {COLUMNS} FROM ohlcv_data WHERE region = 'KR' AND date BETWEEN %s AND %s "
        "ORDER BY ticker, date", (days[0], days[-1]))


@pytest.fixture()
def setup(simulator, warehouse):
    from quant_assets.assets import prices, reference, technical
    from quant_assets.resources.krx import KRXClient

    krx = KRXClient(base_url=simulator.krx_url, requests_per_second=200, backoff_seconds=0.05, max_retries=2)
    instance = dg.DagsterInstance.ephemeral()
    res = {"krx": krx, "warehouse": warehouse}
    assert dg.materialize([reference.stock_list, reference.etf_list], resources=res, instance=instance).success
    [tech] = technical.ASSETS
    return {"instance": instance, "res": res, "warehouse": warehouse, "prices": prices.daily_prices,
            "technical": tech, "windows": windows.windows_of([tech])}


def load(s, asset, days, **extra_res):
    res = {"warehouse": s["warehouse"], **extra_res}
    result = dg.materialize([asset], resources=res, instance=s["instance"], tags=range_tags(days[0], days[-1]))
    assert result.success


def test_older_history_re_requests_the_days_whose_window_it_feeds_and_only_them(setup):
    s = setup
    # a fresh install: the newest 20 days and their indicators (computed on a 20-day window)
    load(s, s["prices"], NEW, krx=s["res"]["krx"])
    load(s, s["technical"], NEW)
    short = indicators(s["warehouse"], NEW)
    first = windows.evaluate(s["instance"], s["windows"], None)
    assert not first.run_requests, "inputs that landed before the days were computed re-request nothing"

    # the backfill of the older 20 days lands later
    load(s, s["prices"], OLD, krx=s["res"]["krx"])
    result = windows.evaluate(s["instance"], s["windows"], first.cursor)
    assert len(result.run_requests) == 1, result.run_requests
    request = result.run_requests[0]
    assert request.asset_selection == [dg.AssetKey("technical_analysis")]
    assert (request.tags[windows.RANGE_START_TAG], request.tags[windows.RANGE_END_TAG]) == (
        NEW[0].isoformat(), NEW[-1].isoformat())

    dg.materialize([s["technical"]], resources={"warehouse": s["warehouse"]}, instance=s["instance"],
                   tags=request.tags)
    followed = indicators(s["warehouse"], NEW)
    assert not followed.equals(short), "the 20-day windows must have changed (ma20 of the first days)"
    assert short["ma20"].isna().sum() > followed["ma20"].isna().sum()

    # from scratch over every loaded day: the followed days hold the same numbers
    load(s, s["technical"], DAYS)
    pd.testing.assert_frame_equal(indicators(s["warehouse"], NEW), followed)

    # nothing more to do: the follow-up run started after the older days landed
    again = windows.evaluate(s["instance"], s["windows"], result.cursor)
    assert not again.run_requests and again.skip_reason


def test_stale_days_rule():
    keys = [f"d{i:02d}" for i in range(10)]
    # d03 landed at t=5; d04, d05 were computed at t=4 (stale), d06 at t=6 (saw it); window 3
    # covers d03 only for d04 and d05 (d06's window is d04..d06)
    assert windows.stale_days(keys, 3, {"d03": 5.0}, {"d04": 4.0, "d05": 4.0, "d06": 4.0, "d02": 1.0}) == \
        ["d04", "d05"]
    assert windows.stale_days(keys, 3, {"d03": 5.0}, {"d04": 6.0}) == []
    assert windows.candidates(keys, 3, {"d03": 5.0}) == {"d04", "d05"}
    assert windows.spans(keys, ["d01", "d02", "d03", "d05", "d07", "d08"], longest=2) == [
        ("d01", "d02"), ("d03", "d03"), ("d05", "d05"), ("d07", "d08")]
