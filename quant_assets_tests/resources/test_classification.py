"""Issue #11: what a KRX/KIS answer means, and the one policy each kind gets (resources/http.py).

Ban / outage / expired session / throttling / bad payload, over real HTTP against the simulator
(and, for Retry-After, which neither KRX nor KIS sends, a tiny stdlib server in this file).
"""

from __future__ import annotations

import http.server
import threading
import time

import dagster as dg
import pytest
import requests

from quant_assets.errors import SourceBlockedError, SourceDataError, SourceUnavailableError
from quant_assets.resources import InMemoryCircuitBreaker, KRXClient, shared_limiter
from quant_assets.resources.http import (
    OUTAGE,
    Kind,
    RetryPolicy,
    Transport,
    classify_http,
)
from quant_assets.resources.kis import classify_kis
from quant_assets.resources.krx import DATA_PATH, DATA_REFERER, classify_krx, krx_ban_check
from quant_assets_tests.resources.conftest import TRADING_DAY, log_entries

OTHER_DAY = "20240104"


def krx_rule(fault: str, times: int | None = 1, bld: str = "MDCSTAT01501", **kw) -> dict:
    return {"seed": 1, "rules": [{"source": "krx", "bld": bld, "fault": fault, "times": times, **kw}]}


def data_calls(srv, since: int, bld: str = "MDCSTAT01501") -> int:
    return len(log_entries(srv, since, bld))


# -- ban vs outage ---------------------------------------------------------------------------


def test_plain_403_is_an_outage_retried_not_a_ban(rsim, make_krx, breaker):
    krx = make_krx()
    krx.etf_master()
    rsim.set_faults(krx_rule("http_403", times=2))
    n0 = len(rsim.request_log)
    assert len(krx.stock_daily(TRADING_DAY)) > 0  # retried through the outage
    assert data_calls(rsim, n0) == 3
    assert not breaker.is_open("krx")  # today: one 403 opened the breaker for 24 h


def test_persistent_403_gives_up_then_short_outage_breaker(rsim, make_krx, breaker):
    krx = make_krx(max_retries=2, outage_cooldown_seconds=120)
    krx.etf_master()
    rsim.set_faults(krx_rule("http_403", times=None))
    n0 = len(rsim.request_log)
    with pytest.raises(SourceUnavailableError, match="HTTP 403") as ei:
        krx.stock_daily(TRADING_DAY)
    assert not isinstance(ei.value, SourceBlockedError)
    assert data_calls(rsim, n0) == 3
    st = breaker.state("krx")
    assert st is not None and st.kind == OUTAGE
    assert st.until.timestamp() - time.time() <= 121  # minutes, not the ban's 24 h
    # a ranged run's next day: refused by the breaker, nothing sent, the error names that day
    n1 = len(rsim.request_log)
    with pytest.raises(SourceUnavailableError, match="outage breaker open") as ei2:
        krx.stock_daily(OTHER_DAY)
    assert ei2.value.date == OTHER_DAY and len(rsim.request_log) == n1


def test_missing_referer_403_is_not_a_ban(rsim, make_krx):
    krx = make_krx()
    krx.etf_master()  # logged in: the 403 below is only about the missing Referer
    s = krx._get_session()
    resp = s.post(krx.url + DATA_PATH, data={"bld": "dbms/MDC/STAT/standard/MDCSTAT04601"}, timeout=5)
    assert resp.status_code == 403 and resp.content == b""
    assert krx_ban_check(resp) is None
    v = classify_krx(resp, "json")
    assert v.kind == Kind.OUTAGE and "Referer" in v.reason
    ok = s.post(krx.url + DATA_PATH, data={"bld": "dbms/MDC/STAT/standard/MDCSTAT04601"},
                headers={"Referer": DATA_REFERER}, timeout=5)
    assert classify_krx(ok, "json").kind == Kind.OK


@pytest.mark.parametrize("variant", ["html200", "403"])
def test_ban_notice_is_a_ban_and_names_the_date(rsim, make_krx, variant):
    krx = make_krx()
    krx.etf_master()
    rsim.set_faults(krx_rule("ban", times=1, variant=variant))
    with pytest.raises(SourceBlockedError, match="24 h") as ei:
        krx.stock_daily(TRADING_DAY)
    assert ei.value.date == TRADING_DAY and TRADING_DAY in str(ei.value)


def test_maintenance_page_is_an_outage_not_invalid_json(rsim, make_krx, breaker):
    krx = make_krx(max_retries=1)
    krx.etf_master()
    rsim.set_faults(krx_rule("maintenance", times=1))
    assert len(krx.stock_daily(TRADING_DAY)) > 0  # one retry was enough
    rsim.set_faults(krx_rule("maintenance", times=None))
    with pytest.raises(SourceUnavailableError, match="maintenance") as ei:
        krx.stock_daily(TRADING_DAY)
    assert not isinstance(ei.value, SourceDataError)
    assert breaker.state("krx").kind == OUTAGE


def test_http_200_logout_page_relogs_in_once(rsim, make_krx):
    krx = make_krx()
    krx.etf_master()
    rsim.set_faults(krx_rule("logout", times=1, variant="html200"))
    n0 = len(rsim.request_log)
    assert len(krx.stock_daily(TRADING_DAY)) > 0
    assert len(log_entries(rsim, n0, "MDCCOMS001D1")) == 1  # one login, not five JSON retries
    assert data_calls(rsim, n0) == 2


def test_truncated_json_is_bad_data_after_retries(rsim, make_krx, breaker):
    krx = make_krx(max_retries=1)
    krx.etf_master()
    rsim.set_faults(krx_rule("truncated", times=None))
    with pytest.raises(SourceDataError, match="truncated or invalid JSON"):
        krx.stock_daily(TRADING_DAY)
    assert not breaker.is_open("krx")  # a bad payload is not an outage of the source


# -- context in errors ----------------------------------------------------------------------


def test_krx_range_error_names_isin_and_range(rsim, make_krx):
    krx = make_krx(max_retries=0)
    isin = krx.etf_master()["isin"].iloc[0]
    rsim.set_faults(krx_rule("http_500", times=None, bld="MDCSTAT04501"))
    with pytest.raises(SourceUnavailableError) as ei:
        krx.etf_price_history(isin, "2024-01-02", "2024-01-05")
    assert ei.value.ticker == isin and isin in str(ei.value)
    assert ei.value.date == "20240102-20240105"


def test_kis_error_names_the_ticker(rsim, make_kis):
    kis = make_kis(max_retries=0)
    kis.access_token()
    rsim.set_faults({"seed": 1, "rules": [{"source": "kis", "fault": "http_500", "times": None}]})
    with pytest.raises(SourceUnavailableError) as ei:
        kis.stock_price("005930")
    assert ei.value.ticker == "005930" and "005930" in str(ei.value) and "FHKST01010100" in str(ei.value)


def test_kis_refusal_names_the_ticker_and_range(rsim, make_kis):
    kis = make_kis()
    with pytest.raises(SourceDataError) as ei:  # unknown symbol: the parser's error
        kis.daily_chart("999999", "2024-01-02", "2024-01-05")
    assert "999999" in str(ei.value)
    rsim.set_faults({"seed": 1, "rules": [{"source": "kis", "fault": "http_500", "times": None}]})
    with pytest.raises(SourceUnavailableError) as ei2:
        make_kis(max_retries=0).daily_chart("005930", "2024-01-02", "2024-01-05")
    assert ei2.value.ticker == "005930" and ei2.value.date == "20240102-20240105"


# -- throttling ------------------------------------------------------------------------------


def test_kis_rate_limit_waits_without_spending_outage_retries(rsim, make_kis):
    kis = make_kis(max_retries=1, throttle_wait_seconds=0.05)
    kis.stock_price("005930")
    rsim.set_faults({"seed": 1, "rules": [{"source": "kis", "fault": "rate_limit", "times": 4}]})
    n0 = len(rsim.request_log)
    t0 = time.monotonic()
    assert kis.stock_price("005930").iloc[0]["price"] > 0  # today: 2 attempts, then gave up
    assert len(log_entries(rsim, n0, "inquire-price")) == 5
    assert time.monotonic() - t0 >= 4 * 0.05


def test_kis_rate_limit_that_never_clears_is_bounded(rsim, make_kis, breaker):
    kis = make_kis(throttle_wait_seconds=0.01, max_throttle_waits=3)
    kis.access_token()
    rsim.set_faults({"seed": 1, "rules": [{"source": "kis", "fault": "rate_limit", "times": None}]})
    n0 = len(rsim.request_log)
    with pytest.raises(SourceUnavailableError, match="still throttled after 4 waits"):
        kis.stock_price("005930")
    assert len(log_entries(rsim, n0, "inquire-price")) == 4


class _Server:
    """Plays `answers` ((status, headers, body) in order, the last one repeated). Real HTTP on
    loopback, for answers the simulator has no business producing (neither KRX nor KIS sends
    Retry-After)."""

    def __init__(self, *answers: tuple[int, dict, bytes]):
        self.hits = 0
        owner = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                status, headers, body = answers[min(owner.hits, len(answers) - 1)]
                owner.hits += 1
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/x"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


OK_JSON = (200, {"Content-Type": "application/json"}, b'{"ok": true}')


def _retry_after(value: str) -> tuple[int, dict, bytes]:
    return 429, {"Retry-After": value}, b"slow down"


def _transport(breaker, **policy) -> Transport:
    return Transport("test-src", limiter=shared_limiter("test-src", "acct", 1000.0), limiter_key="test-src:acct",
                     breaker=breaker, policy=RetryPolicy(backoff_initial=0.01, backoff_max=0.02, **policy),
                     timeout=5.0, classify=classify_http)


def test_retry_after_is_obeyed():
    srv = _Server(_retry_after("1"), OK_JSON)
    try:
        t0 = time.monotonic()
        out = _transport(InMemoryCircuitBreaker()).request(requests.Session(), "GET", srv.url, lambda r, p: p)
        assert out == {"ok": True} and srv.hits == 2
        assert time.monotonic() - t0 >= 0.95  # waited as told, not the 10 ms backoff
    finally:
        srv.close()


def test_retry_after_too_long_opens_the_breaker_for_that_long():
    srv = _Server(_retry_after("3600"))
    br = InMemoryCircuitBreaker()
    try:
        with pytest.raises(SourceUnavailableError, match="3600s"):
            _transport(br, max_told_wait=60).request(requests.Session(), "GET", srv.url, lambda r, p: p)
        assert srv.hits == 1  # no waiting inside the run, no second request
        st = br.state("test-src")
        assert st.kind == OUTAGE and st.until.timestamp() - time.time() > 3500
    finally:
        srv.close()


def test_kis_classifier_kinds(rsim, make_kis):
    """KIS has no ban page: a 403 without an EGW envelope is an outage; envelopes decide the rest."""
    kis = make_kis()
    kis.access_token()
    r = requests.get(rsim.kis_url + "/uapi/domestic-stock/v1/quotations/inquire-price", timeout=5)
    v = classify_kis(r, "json")
    assert v.kind == Kind.SESSION  # no token -> EGW00121
    rsim.set_faults({"seed": 1, "rules": [{"source": "kis", "fault": "rate_limit", "times": 1}]})
    r = requests.get(rsim.kis_url + "/uapi/domestic-stock/v1/quotations/inquire-price",
                     headers={"authorization": f"Bearer {kis.access_token()}", "appkey": kis.app_key,
                              "appsecret": kis.app_secret, "tr_id": "FHKST01010100", "custtype": "P"},
                     params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"}, timeout=5)
    assert r.status_code == 500 and classify_kis(r, "json").kind == Kind.THROTTLED
    srv = _Server((403, {"Content-Type": "text/html"}, b"<html><body>Forbidden</body></html>"))
    try:
        assert classify_kis(requests.get(srv.url, timeout=5), "json").kind == Kind.OUTAGE
    finally:
        srv.close()


def test_injected_breaker_and_store_survive_dagsters_resource_copy(rsim, make_krx, breaker, session_store):
    """Dagster re-creates resources from config per run/tick; the breaker a test or a deployment
    injected must come along (before, the copy silently used the process-wide breaker, so an
    outage tripped in one test silenced every other client in the process)."""
    seen = {}

    @dg.sensor(asset_selection=dg.AssetSelection.all())
    def probe(context, krx: KRXClient):
        seen["breaker"], seen["store"] = krx.breaker, krx.session_store
        rsim.set_faults(krx_rule("http_500", times=None, bld="MDCSTAT04601"))
        with pytest.raises(SourceUnavailableError):
            krx.etf_master()
        return dg.SkipReason("probe")

    with dg.build_sensor_context(resources={"krx": make_krx(max_retries=0)}) as ctx:
        probe(ctx)
    assert seen["breaker"] is breaker and seen["store"] is session_store
    assert breaker.state("krx").kind == OUTAGE


def test_json_bodies_read_as_json_reads_them():
    # resources.http.loads (orjson, json where orjson refuses): what a source sends decodes to the
    # same values json gives, and an invalid body is still a ValueError (-> "invalid JSON").
    import json

    from quant_assets.resources.http import loads

    for body in ('{"OutBlock_1":[{"ISU_ABBRV":"삼성전자","TDD_CLSPRC":"71,000"}],"CURRENT_DATETIME":"2024.03.04"}',
                 '{"rate": NaN, "big": 123456789012345678901234567890, "x": [1.5e-7, -0.0, true, null]}'):
        got, want = loads(body.encode()), json.loads(body)
        assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)
    with pytest.raises(ValueError):
        loads(b'{"OutBlock_1": [{"ISU_')
