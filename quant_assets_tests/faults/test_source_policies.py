"""A ban, an outage and an expired session over a 20-day ranged run (case 5, issue #11).

ban: the breaker opens for 24 h, every remaining day is `blocked`, and no further request goes
out (nor in the next run). outage: bounded retries, a short breaker, the days `source_error`.
LOGOUT mid-range: one re-login and the load completes to the clean checksums.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from quant_assets.resources import InMemoryCircuitBreaker
from quant_assets_tests.faults.loads import (
    DAYS,
    LOGIN_PATH,
    checksums,
    differing,
    krx_client,
    load_days,
    requests_since,
    status_of,
)

pytestmark = pytest.mark.faults


def test_ban_opens_the_breaker_for_a_day_and_blocks_the_rest_without_requests(sim, warehouse, database_url,
                                                                              figures):
    breaker = InMemoryCircuitBreaker()
    sim.set_faults({"rules": [{"source": "krx", "fault": "ban"}]})
    n0 = len(sim.request_log)
    assert not load_days(sim, warehouse, krx=krx_client(sim, breaker=breaker)).success
    # the simulator logs what it serves; a ban notice is counted as a fault hit instead
    sent = len(sim.request_log) - n0 + sim.faults.hits.get("ban", 0)
    state = breaker.state("krx")
    assert state is not None and state.kind == "ban"
    assert state.until - dt.datetime.now(dt.UTC) > dt.timedelta(hours=23, minutes=59)
    with psycopg.connect(database_url) as conn:
        assert status_of(conn) == dict.fromkeys(DAYS, "blocked") == status_of(conn, "etf_daily")
        assert conn.execute("SELECT count(*) FROM ohlcv_data").fetchone()[0] == 0
    assert 1 <= sent <= 4                   # login pages and the one answer that was the ban notice
    n1 = len(sim.request_log)
    banned = sim.faults.hits.get("ban", 0)
    assert not load_days(sim, warehouse, krx=krx_client(sim, breaker=breaker)).success
    assert len(sim.request_log) == n1 and sim.faults.hits.get("ban", 0) == banned   # nothing sent while it lasts
    figures["ban"] = {"krx_requests_first_run": sent, "krx_requests_next_run": 0,
                      "breaker_hours": round((state.until - dt.datetime.now(dt.UTC)).total_seconds() / 3600, 2),
                      "days_blocked": len(DAYS)}


def test_outage_gives_bounded_retries_a_short_breaker_and_source_errors(sim, warehouse, database_url, figures):
    breaker = InMemoryCircuitBreaker()
    retries = 3
    sim.set_faults({"rules": [{"source": "krx", "bld": "MDCSTAT04301", "fault": "http_500"}]})
    n0 = len(sim.request_log)
    result = load_days(sim, warehouse, krx=krx_client(sim, breaker=breaker, max_retries=retries))
    assert not result.success
    sent = requests_since(sim, n0)
    state = breaker.state("krx")
    assert state is not None and state.kind == "outage"
    assert state.until - dt.datetime.now(dt.UTC) < dt.timedelta(minutes=6)
    assert sent == retries + 1                        # one day's bounded retries, then nothing
    with psycopg.connect(database_url) as conn:
        reasons = dict(conn.execute("SELECT partition_date::text, reason FROM partition_status "
                                    "WHERE asset = 'ohlcv' AND status = 'source_error'").fetchall())
    assert sorted(reasons) == DAYS
    assert "gave up after 4 attempts" in reasons[DAYS[0]]
    assert all("outage breaker open" in reasons[d] and "no request sent" in reasons[d] for d in DAYS[1:])
    figures["outage"] = {"data_requests": sent, "max_retries": retries, "breaker_kind": state.kind,
                         "breaker_minutes": round((state.until - dt.datetime.now(dt.UTC)).total_seconds() / 60, 1),
                         "days_source_error": len(reasons)}


def test_logout_mid_range_costs_one_relogin(baseline, sim, warehouse, database_url, figures):
    from quant_assets_tests.faults.loads import load_reference

    load_reference(sim, warehouse)
    sim.set_faults({"rules": [{"source": "krx", "fault": "logout", "date": DAYS[10].replace("-", ""), "times": 1}]})
    n0 = len(sim.request_log)
    assert load_days(sim, warehouse).success
    logins = requests_since(sim, n0, LOGIN_PATH)
    assert logins == 2                                   # the run's login + one re-login after LOGOUT
    assert requests_since(sim, n0) == baseline.data_requests + 1
    assert not differing(checksums(database_url), baseline.sums)
    figures["session_expiry"] = {"logins": logins, "logins_fault_free": baseline.logins,
                                 "data_requests": baseline.data_requests + 1}
