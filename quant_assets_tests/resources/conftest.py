"""Fixtures for the client tests: one simulator for this folder, over real HTTP on loopback.

Its own instance (not the shared `simulator` fixture) because these tests inject faults, kick
sessions and move the clock. Fast retry settings keep the folder well under a minute.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from zoneinfo import ZoneInfo

import pytest

KST = ZoneInfo("Asia/Seoul")

KRX_USER = "alice-test"
KRX_SECRET_PW = "pw-Sup3rSecret-KRX-7f3a"  # asserted absent from errors/logs
KRX_PW_CHANGE_USER = "needs-change"

# A trading-day week well inside the simulated history (everything published on the real clock).
TRADING_DAY = "20240105"
HOLIDAY = "20240101"

FAST = {"max_retries": 3, "backoff_seconds": 0.01, "backoff_max_seconds": 0.05, "timeout_seconds": 2.0}


@pytest.fixture(scope="session")
def resources_sim():
    from quant_assets.simulator import SimConfig, SimulatorServer

    cfg = SimConfig(
        size="small",
        start_date="2023-01-02",
        end_date="2024-06-28",
        krx_accounts={KRX_USER: KRX_SECRET_PW},
        krx_pw_change_ids=(KRX_PW_CHANGE_USER,),
    )
    srv = SimulatorServer(cfg, port=0).start()
    yield srv
    srv.stop()


@pytest.fixture()
def rsim(resources_sim):
    """The folder's simulator with faults and sessions cleared, real clock, around each test."""
    resources_sim.clear_faults()
    resources_sim.reset_sessions()
    yield resources_sim
    resources_sim.clear_faults()
    resources_sim.reset_sessions()


@pytest.fixture()
def breaker():
    from quant_assets.resources import InMemoryCircuitBreaker

    return InMemoryCircuitBreaker()


@pytest.fixture()
def session_store():
    """A fresh session store per test (the process-wide default would carry sessions over)."""
    from quant_assets.resources import InMemorySessionStore

    return InMemorySessionStore()


@pytest.fixture()
def make_krx(rsim, breaker, session_store):
    from quant_assets.resources import KRXClient

    def make(**kw):
        br = kw.pop("breaker", breaker)
        store = kw.pop("store", session_store)
        args = {"base_url": rsim.krx_url, "krx_id": KRX_USER, "krx_pw": KRX_SECRET_PW, "requests_per_second": 500.0,
                **FAST, **kw}
        return KRXClient(**args).with_breaker(br).with_session_store(store)

    return make


@pytest.fixture()
def kis_key():
    """A distinct app key per test: the token issuance limit (1/min) is per key."""
    return f"PSkey{uuid.uuid4().hex[:12]}"


@pytest.fixture()
def make_kis(rsim, breaker, tmp_path, kis_key):
    from quant_assets.resources import KISClient

    def make(env="real", **kw):
        url = rsim.kis_url if env == "real" else rsim.kis_virtual_url
        args = {"base_url": url, "env": env, "app_key": kis_key, "app_secret": "SECRET-kis-appsecret-9c1d",
                "token_cache_dir": str(tmp_path / "tokens"), "requests_per_second": 15.0 if env == "real" else 1.8,
                "token_retry_wait_seconds": 0.2, **FAST, **kw}
        return KISClient(**args).with_breaker(breaker)

    return make


@pytest.fixture()
def all_logs():
    """Capture every log record (dagster's loggers included) at DEBUG."""
    records: list[logging.LogRecord] = []

    class _H(logging.Handler):
        def emit(self, record):
            records.append(record)

    h = _H(level=logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger("dagster"), logging.getLogger("dagster.builtin"),
               logging.getLogger("urllib3")]
    old = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(h)
        lg.setLevel(logging.DEBUG)
    yield records
    for lg, lvl in old:
        lg.removeHandler(h)
        lg.setLevel(lvl)


def log_entries(srv, since: int = 0, needle: str = "") -> list:
    """Simulator request-log entries after index `since` whose text contains `needle`."""
    return [e for e in list(srv.request_log)[since:] if needle in str(e)]


def log_text(records) -> str:
    out = []
    for r in records:
        out.append(r.getMessage())
        if r.exc_info:
            out.append(logging.Formatter().formatException(r.exc_info))
    return "\n".join(out)


def kst(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=KST)
