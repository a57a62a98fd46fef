"""Sensors and schedules driven by the simulator's clock, against the real source protocol."""

from __future__ import annotations

import contextvars
import datetime as dt

import dagster as dg
import pytest

from quant_assets import automation
from quant_assets.calendar import KST, trading_days
from quant_assets.resources.breaker import PostgresCircuitBreaker
from quant_assets.resources.krx import KRXClient
from quant_assets_tests.test_ingest_assets import load_reference


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=KST)


def tick(sensor, sim, warehouse, instance, cursor=None, krx=None):
    krx = krx or KRXClient(base_url=sim.krx_url, requests_per_second=50, backoff_seconds=0.01, max_retries=1)
    with dg.build_sensor_context(instance=instance, cursor=cursor,
                                 resources={"krx": krx, "warehouse": warehouse}) as ctx:
        return sensor(ctx)


@pytest.fixture()
def frozen(sim):
    yield sim
    sim.set_clock(None)


def test_prices_sensor_not_yet_published_then_published_then_done(frozen, warehouse):
    sim, instance = frozen, dg.DagsterInstance.ephemeral()
    sim.set_clock(at("2024-03-05T10:00:00"), speed=0)        # Tuesday morning: Monday is the newest
    first = tick(automation.prices_published_sensor, sim, warehouse, instance)
    # First tick on an empty warehouse: the last 20 trading days, as ONE ranged run.
    [bootstrap] = first.run_requests
    assert bootstrap.partition_key is None and bootstrap.partition_key_range == dg.PartitionKeyRange(
        "2024-02-01", "2024-03-04")
    assert len(trading_days("2024-02-01", "2024-03-04")) == automation.catch_up_days() == 20
    assert bootstrap.run_key == "prices-2024-02-01..2024-03-04"
    assert first.cursor == "2024-03-04"

    sim.set_clock(at("2024-03-05T15:30:00"), speed=0)        # market closed, prices not published yet
    waiting = tick(automation.prices_published_sensor, sim, warehouse, instance, cursor=first.cursor)
    assert not waiting.run_requests and "already requested up to 2024-03-04" in waiting.skip_reason.skip_message

    sim.set_clock(at("2024-03-05T16:00:00"), speed=0)        # published at 15:45
    published = tick(automation.prices_published_sensor, sim, warehouse, instance, cursor=waiting.cursor or first.cursor)
    assert [r.partition_key for r in published.run_requests] == ["2024-03-05"]
    assert published.cursor == "2024-03-05"

    again = tick(automation.prices_published_sensor, sim, warehouse, instance, cursor=published.cursor)
    assert not again.run_requests and again.skip_reason is not None


def test_prices_sensor_skips_weekend_and_holiday(frozen, warehouse):
    sim, instance = frozen, dg.DagsterInstance.ephemeral()
    sim.set_clock(at("2024-03-01T18:00:00"), speed=0)        # 3·1절 holiday (Friday)
    result = tick(automation.prices_published_sensor, sim, warehouse, instance, cursor="2024-02-29")
    assert not result.run_requests
    sim.set_clock(at("2024-03-04T18:00:00"), speed=0)        # next trading day after the long weekend
    result = tick(automation.prices_published_sensor, sim, warehouse, instance, cursor="2024-02-29")
    assert [r.partition_key for r in result.run_requests] == ["2024-03-04"]   # no Fri/Sat/Sun runs


def test_sensor_survives_source_errors(frozen, warehouse):
    sim, instance = frozen, dg.DagsterInstance.ephemeral()
    sim.set_faults({"rules": [{"source": "krx", "fault": "http_500", "times": None}]})
    # No outage breaker: the process-wide one it would trip must not silence the other tests' clients
    # (a resource's private breaker does not survive Dagster's resource initialisation).
    krx = KRXClient(base_url=sim.krx_url, requests_per_second=50, backoff_seconds=0.01, max_retries=1,
                    outage_cooldown_seconds=0)
    for _ in range(2):   # every tick is a skip with a reason, never a crashed sensor
        result = tick(automation.prices_published_sensor, sim, warehouse, instance, cursor="2024-02-29", krx=krx)
        assert not result.run_requests and "will retry" in result.skip_reason.skip_message


def test_aum_sensor_waits_for_next_morning(frozen, warehouse):
    sim, instance = frozen, dg.DagsterInstance.ephemeral()
    load_reference(sim, warehouse)
    sim.set_clock(at("2024-03-05T20:00:00"), speed=0)        # prices of 03-05 out, AUM of 03-05 not yet
    evening = tick(automation.aum_published_sensor, sim, warehouse, instance, cursor="2024-03-04")
    assert not evening.run_requests
    sim.set_clock(at("2024-03-06T07:00:00"), speed=0)        # KRX computed AUM overnight
    morning = tick(automation.aum_published_sensor, sim, warehouse, instance, cursor="2024-03-04")
    assert [r.partition_key for r in morning.run_requests] == ["2024-03-05"]


def test_holdings_sensor_requests_published_pdf(frozen, warehouse):
    sim, instance = frozen, dg.DagsterInstance.ephemeral()
    load_reference(sim, warehouse)
    sim.set_clock(at("2024-03-05T17:00:00"), speed=0)        # prices out, PDF of 03-05 not yet (18:00)
    early = tick(automation.holdings_published_sensor, sim, warehouse, instance, cursor="2024-03-04")
    assert not early.run_requests
    sim.set_clock(at("2024-03-05T18:30:00"), speed=0)
    late = tick(automation.holdings_published_sensor, sim, warehouse, instance, cursor="2024-03-04")
    assert [r.partition_key for r in late.run_requests] == ["2024-03-05"]


def test_nightly_catch_up_skips_holidays_and_requests_missing_days():
    isolated(_catch_up)


def isolated(body) -> None:
    """Run `body(instance)` with an instance_for_test(), in a copy of the current context.

    Schedule contexts need an instance with a ref (so not ephemeral()), but leaving
    instance_for_test() keeps Dagster's DefsStateStorage context variable pointing at the disposed
    instance (DagsterInstance.dispose does not reset it): every later dg.materialize on the same
    pytest worker then fails with "undefined DagsterInstance weakref".
    """
    def run() -> None:
        with dg.instance_for_test() as instance:
            body(instance)
    contextvars.copy_context().run(run)


def _catch_up(instance):
    holiday = dg.build_schedule_context(instance=instance, scheduled_execution_time=at("2024-03-01T21:30:00"))
    assert isinstance(automation.nightly_catch_up(holiday), dg.SkipReason)
    trading = dg.build_schedule_context(instance=instance, scheduled_execution_time=at("2024-03-05T21:30:00"))
    requests = automation.nightly_catch_up(trading)
    # Nothing loaded yet: one ranged run per ingest group over the last 20 trading days.
    assert [r.partition_key_range for r in requests] == [dg.PartitionKeyRange("2024-02-01", "2024-03-04")] * 2
    assert [r.asset_selection for r in requests] == [automation.PRICE_ASSETS, automation.AUM_ASSETS]


def test_shared_circuit_breaker_blocks_every_client(frozen, warehouse, database_url):
    from quant_assets.errors import SourceBlockedError

    breaker = PostgresCircuitBreaker(database_url)
    sim = frozen
    sim.set_faults({"rules": [{"source": "krx", "fault": "ban"}]})
    first = KRXClient(base_url=sim.krx_url, requests_per_second=50).with_breaker(breaker)
    with pytest.raises(SourceBlockedError):
        first.stock_daily("2024-03-05")
    sim.clear_faults()
    before = len(sim.request_log)
    # Another client (think: another run in another process) sends nothing while the breaker is open.
    shared = PostgresCircuitBreaker(database_url)
    second = KRXClient(base_url=sim.krx_url, requests_per_second=50).with_breaker(shared)
    with pytest.raises(SourceBlockedError, match="circuit breaker open"):
        second.stock_daily("2024-03-05")
    assert len(sim.request_log) == before
    row = warehouse.read_frame("SELECT source, reason FROM source_circuit")
    assert list(row["source"]) == ["krx"]
    shared.reset("krx")   # an operator closes it by hand (e.g. after moving to a new IP)
    assert len(second.stock_daily("2024-03-05")) > 0


def test_catch_up_splits_missing_days_into_ranged_runs_around_loaded_days():
    """Loaded days are never re-requested: each gap of consecutive trading days is one run."""
    window = trading_days("2024-02-01", "2024-03-04")
    loaded = window[5:8]                                    # three loaded days in the middle
    prices = []

    def body(instance) -> None:
        for day in loaded + [window[-1]]:
            for key in automation.PRICE_ASSETS:
                instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=day.isoformat()))
        trading = dg.build_schedule_context(instance=instance, scheduled_execution_time=at("2024-03-05T21:30:00"))
        prices.extend(r for r in automation.nightly_catch_up(trading) if r.asset_selection == automation.PRICE_ASSETS)

    isolated(body)
    assert [r.partition_key_range for r in prices] == [
        dg.PartitionKeyRange(window[0].isoformat(), window[4].isoformat()),
        dg.PartitionKeyRange(window[8].isoformat(), window[-2].isoformat()),
    ]
    assert len({r.run_key for r in prices}) == 2


def test_single_missing_day_is_an_ordinary_partition_run():
    [request] = automation.day_requests([dt.date(2024, 3, 5)], automation.PRICE_ASSETS, "prices", "test")
    assert request.partition_key == "2024-03-05" and request.partition_key_range is None
    # Friday and the following Monday are consecutive trading days: one span, one run.
    assert automation.contiguous_spans([dt.date(2024, 3, 8), dt.date(2024, 3, 11)]) == [
        [dt.date(2024, 3, 8), dt.date(2024, 3, 11)]]


def test_sensor_ticks_share_one_krx_login(frozen, warehouse):
    """A sensor ticks every minute: its client leaves the KRX session to the next tick instead of
    logging out and in again each time (a login per minute is the pattern KRX flags)."""
    from quant_assets.resources.krx import LOGOUT_POST

    sim, instance = frozen, dg.DagsterInstance.ephemeral()
    load_reference(sim, warehouse)   # (that a run logs out at its end: test_krx_client's session tests)
    sim.set_clock(at("2024-03-04T18:00:00"), speed=0)
    n0 = len(sim.request_log)
    for _ in range(3):
        tick(automation.prices_published_sensor, sim, warehouse, instance, cursor="2024-02-29")
    entries = [str(e) for e in list(sim.request_log)[n0:]]
    assert sum("MDCCOMS001D1" in e for e in entries) <= 1
    assert not any(LOGOUT_POST in e for e in entries)
