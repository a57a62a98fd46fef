"""Sensor skip reasons name the real cause (issue #12: the first AUM/holdings ticks said the source
had published nothing when the warehouse simply had no ETF list yet)."""

from __future__ import annotations

import dagster as dg
import pytest

from quant_assets import automation
from quant_assets_tests.test_automation import at, tick
from quant_assets_tests.test_ingest_assets import load_reference


@pytest.fixture()
def frozen(sim):
    yield sim
    sim.set_clock(None)


@pytest.mark.parametrize("sensor", [automation.aum_published_sensor, automation.holdings_published_sensor])
def test_first_tick_on_empty_tickers_says_the_etf_list_is_missing(frozen, warehouse, sensor):
    sim, instance = frozen, dg.DagsterInstance.ephemeral()
    sim.set_clock(at("2024-03-06T20:00:00"), speed=0)        # AUM of 03-05 and PDF of 03-06 published
    empty = tick(sensor, sim, warehouse, instance)
    reason = empty.skip_reason.skip_message
    assert not empty.run_requests and empty.cursor is None
    assert "waiting for etf_list" in reason and "`tickers` is empty" in reason, reason
    assert "no published" not in reason

    load_reference(sim, warehouse)
    loaded = tick(sensor, sim, warehouse, instance)
    assert loaded.run_requests, loaded.skip_reason     # the same tick with the list loaded requests days
