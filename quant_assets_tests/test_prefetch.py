"""Prefetching the next days of a ranged run (assets/prefetch.py): errors land on their day, a ban
stops all further requests, writes keep the run's order.

The helper is tested with plain fetch functions, then end to end through `daily_prices` against the
simulator over HTTP, counting the simulator's requests.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import dagster as dg
import pytest

from quant_assets.assets import prices
from quant_assets.assets.prefetch import Prefetcher
from quant_assets.errors import SourceBlockedError, SourceDataError
from quant_assets.resources.http import InMemoryCircuitBreaker
from quant_assets.resources.krx import KRXClient
from quant_assets_tests.test_ingest_assets import load_reference, range_tags, run


def test_values_come_back_in_order_and_fetching_runs_ahead():
    started: list[int] = []

    def fetch(key: int) -> str:
        started.append(key)
        time.sleep(random.uniform(0, 0.01))
        return f"v{key}"

    keys = list(range(8))
    with Prefetcher(keys, fetch, depth=2) as ahead:
        time.sleep(0.2)                       # the consumer is busy: the worker runs at most 2 ahead (+1 in hand)
        assert started == [0, 1, 2]
        got = [ahead.get(k) for k in keys]
    assert got == [f"v{k}" for k in keys] and started == keys


def test_an_error_is_raised_on_the_day_it_belongs_to_and_later_days_still_come():
    def fetch(key: int) -> int:
        if key == 2:
            raise SourceDataError("X", "bad payload", date=str(key))
        return key * 10

    out = []
    with Prefetcher(range(5), fetch) as ahead:
        for k in range(5):
            try:
                out.append(ahead.get(k))
            except SourceDataError as exc:
                out.append(f"error {exc.date}")
    assert out == [0, 10, "error 2", 30, 40]


def test_a_stop_error_stops_fetching():
    calls = []

    def fetch(key: int) -> int:
        calls.append(key)
        if key == 1:
            raise SourceBlockedError("krx", "banned")
        return key

    with Prefetcher(range(6), fetch, depth=3) as ahead:
        assert ahead.get(0) == 0
        with pytest.raises(SourceBlockedError):
            ahead.get(1)
        time.sleep(0.1)
    assert calls == [0, 1]


def test_keys_must_be_asked_in_order_and_one_key_fetches_inline():
    with Prefetcher([1, 2], lambda k: k) as ahead, pytest.raises(ValueError, match="out of order"):
        ahead.get(2)
    with Prefetcher([7], lambda k: (k, threading.current_thread().name)) as ahead:
        assert ahead.get(7) == (7, threading.current_thread().name)


DAYS = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]


def krx_dates(sim, n0: int) -> list[str]:
    """trdDd of every KRX data request the simulator saw since `n0`, in arrival order."""
    return [e[4].get("trdDd") for e in list(sim.request_log)[n0:] if e[1] == "krx" and e[4].get("trdDd")]


def test_ranged_run_with_a_bad_day_writes_the_others_in_order(sim, warehouse):
    bad = DAYS[2]
    sim.set_faults({"rules": [{"source": "krx", "bld": "MDCSTAT01501", "date": bad.replace("-", ""),
                               "fault": "corrupt", "kind": "dash_price", "ticker": "005930", "field": "TDD_HGPRC"}]})
    load_reference(sim, warehouse)
    # the month exists, so each day is its own transaction and the status order is the write
    # order (a new month commits its days together: test_new_months.py)
    for table in ("ohlcv_data", "etf_daily"):
        warehouse.ensure_month_partitions(table, [dt.date.fromisoformat(d) for d in DAYS])
    result = run([prices.daily_prices], sim, warehouse, tags=range_tags(DAYS[0], DAYS[-1]))
    assert not result.success
    status = warehouse.read_frame("SELECT partition_date, status, reason FROM partition_status "
                                  "WHERE asset = 'ohlcv' ORDER BY updated_at, partition_date")
    assert [str(d) for d in status["partition_date"]] == DAYS            # written in the run's order
    by_day = {str(d): (s, r) for d, s, r in status.itertuples(index=False)}
    assert by_day[bad][0] == "source_error" and "005930" in by_day[bad][1] and "high" in by_day[bad][1]
    assert {d for d, (s, _) in by_day.items() if s == "loaded"} == set(DAYS) - {bad}
    loaded = warehouse.read_frame("SELECT DISTINCT date FROM ohlcv_data ORDER BY date")
    assert [str(d) for d in loaded["date"]] == [d for d in DAYS if d != bad]


def test_a_ban_stops_prefetching_no_further_requests(sim, warehouse):
    load_reference(sim, warehouse)
    banned = DAYS[1]
    n0 = len(sim.request_log)
    sim.set_faults({"rules": [{"source": "krx", "bld": "MDCSTAT04301", "date": banned.replace("-", ""),
                               "fault": "ban", "times": None}]})
    krx = KRXClient(base_url=sim.krx_url, requests_per_second=50, backoff_seconds=0.05,
                    max_retries=2).with_breaker(InMemoryCircuitBreaker())   # the ban stays in this test
    result = dg.materialize([prices.daily_prices], resources={"krx": krx, "warehouse": warehouse},
                            raise_on_error=False, tags=range_tags(DAYS[0], DAYS[-1]))
    assert not result.success
    asked = krx_dates(sim, n0)
    # Day 1 (two requests), then the banned request of day 2; nothing for the days after it.
    assert asked[-1] == banned.replace("-", "") and set(asked) == {DAYS[0].replace("-", ""), banned.replace("-", "")}
    status = warehouse.read_frame("SELECT partition_date, status FROM partition_status WHERE asset = 'ohlcv' "
                                  "ORDER BY partition_date")
    assert dict(zip([str(d) for d in status["partition_date"]], status["status"], strict=True)) == {
        DAYS[0]: "loaded", **{d: "blocked" for d in DAYS[1:]}}


def test_without_prefetching_the_same_rows(sim, warehouse, monkeypatch):
    load_reference(sim, warehouse)
    assert run([prices.daily_prices], sim, warehouse, tags=range_tags(DAYS[0], DAYS[2])).success
    ahead = warehouse.read_frame("SELECT * FROM ohlcv_data ORDER BY date, ticker")
    monkeypatch.setenv("QUANT_PREFETCH_DAYS", "0")
    assert run([prices.daily_prices], sim, warehouse, tags=range_tags(DAYS[0], DAYS[2])).success
    assert ahead.equals(warehouse.read_frame("SELECT * FROM ohlcv_data ORDER BY date, ticker"))
    assert dt.date.fromisoformat(DAYS[0]) in set(ahead["date"])
