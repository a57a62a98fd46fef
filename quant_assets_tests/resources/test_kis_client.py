"""KISClient over real HTTP against the simulator: token cache, token errors, rate limit, paging."""

from __future__ import annotations

import json
import os
import stat
import time
from datetime import date

import pytest

from quant_assets.errors import SourceAuthError, SourceDataError, SourceError, SourceUnavailableError
from quant_assets.resources import KISClient, SourceUnsupportedError
from quant_assets_tests.resources.conftest import kst, log_entries, log_text

SECRET = "SECRET-kis-appsecret-9c1d"


def kis_rule(fault: str, times: int = 1, **kw) -> dict:
    return {"seed": 1, "rules": [{"source": "kis", "fault": fault, "times": times, **kw}]}


def token_requests(srv, since: int) -> int:
    return len(log_entries(srv, since, "tokenP"))


# -- token -----------------------------------------------------------------------------------


def test_token_cached_0600_and_reused_across_instances(rsim, make_kis, kis_key):
    n0 = len(rsim.request_log)
    a = make_kis()
    px = a.stock_price("005930")
    assert token_requests(rsim, n0) == 1
    assert px.iloc[0]["price"] > 0
    path = a.token_cache_path
    assert path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert kis_key not in path.name  # keyed by a hash, never the key itself
    assert SECRET not in path.read_text() and kis_key not in path.read_text()
    n1 = len(rsim.request_log)
    b = make_kis()  # new instance (new process in real life): token comes from the file
    b.stock_price("000660")
    assert token_requests(rsim, n1) == 0


def test_egw00133_falls_back_to_cached_token(rsim, make_kis):
    a = make_kis()
    a.stock_price("005930")
    path = a.token_cache_path
    data = json.loads(path.read_text())
    data["expires_at"] = time.time() + 60  # inside the refresh margin: client tries to re-issue
    path.write_text(json.dumps(data))
    n0 = len(rsim.request_log)
    b = make_kis()
    assert b.stock_price("005930").iloc[0]["price"] > 0  # 403 EGW00133 -> the still-valid cached token
    assert token_requests(rsim, n0) == 1


def test_egw00133_without_cache_waits_once_then_auth_error(rsim, make_kis, all_logs):
    a = make_kis()
    a.stock_price("005930")
    a.token_cache_path.unlink()
    n0 = len(rsim.request_log)
    b = make_kis(token_retry_wait_seconds=0.1)
    with pytest.raises(SourceAuthError, match="EGW00133") as ei:
        b.stock_price("005930")
    assert token_requests(rsim, n0) == 2  # one wait-and-retry, no storm
    assert SECRET not in str(ei.value) and SECRET not in log_text(all_logs)


def test_expired_token_egw00123_reissued_once(rsim, make_kis):
    try:
        rsim.set_clock(kst(2024, 6, 20, 10, 0), 1.0)
        a = make_kis()
        a.stock_price("005930")
        first = json.loads(a.token_cache_path.read_text())["access_token"]
        rsim.set_clock(kst(2024, 6, 22, 10, 0), 1.0)  # +2 days on the server clock: token expired
        n0 = len(rsim.request_log)
        assert a.stock_price("005930").iloc[0]["price"] > 0
        assert token_requests(rsim, n0) == 1
        assert json.loads(a.token_cache_path.read_text())["access_token"] != first
    finally:
        rsim.set_clock(None, 1.0)


def test_threads_seeing_one_expired_token_renew_it_once(rsim, make_kis):
    """Eight threads whose calls all meet EGW00123 share one new token: renewing once per thread
    would meet KIS's one-token-a-minute limit and stall each later thread for a minute."""
    from concurrent.futures import ThreadPoolExecutor

    try:
        rsim.set_clock(kst(2024, 6, 20, 10, 0), 1.0)
        a = make_kis()
        a.stock_price("005930")
        rsim.set_clock(kst(2024, 6, 22, 10, 0), 1.0)  # every in-flight call now carries an expired token
        n0 = len(rsim.request_log)
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            prices = list(pool.map(lambda _: a.stock_price("005930").iloc[0]["price"], range(8)))
        assert all(p > 0 for p in prices)
        assert token_requests(rsim, n0) == 1
        assert time.monotonic() - started < 30
    finally:
        rsim.set_clock(None, 1.0)


def test_invalid_token_egw00121_reissued(rsim, make_kis):
    try:
        rsim.set_clock(kst(2024, 6, 20, 10, 0), 1.0)
        a = make_kis()
        a.stock_price("005930")
        path = a.token_cache_path
        data = json.loads(path.read_text())
        data["access_token"] = "eyJ-not-a-real-token"
        path.write_text(json.dumps(data))
        rsim.set_clock(kst(2024, 6, 20, 10, 5), 1.0)  # past the 1/min issuance limit
        n0 = len(rsim.request_log)
        b = make_kis()
        assert b.stock_price("005930").iloc[0]["price"] > 0
        assert token_requests(rsim, n0) == 1
        assert json.loads(path.read_text())["access_token"] != "eyJ-not-a-real-token"
    finally:
        rsim.set_clock(None, 1.0)


# -- transport errors ------------------------------------------------------------------------


def test_rate_limit_egw00201_retried(rsim, make_kis):
    a = make_kis()
    a.stock_price("005930")
    rsim.set_faults(kis_rule("rate_limit", times=2))
    n0 = len(rsim.request_log)
    assert a.stock_price("005930").iloc[0]["price"] > 0
    assert len(log_entries(rsim, n0, "inquire-price")) == 3


def test_kis_5xx_exhausted_no_secret(rsim, make_kis, all_logs, kis_key):
    a = make_kis(max_retries=2)
    a.stock_price("005930")
    rsim.set_faults(kis_rule("http_500", times=50))
    with pytest.raises(SourceUnavailableError) as ei:
        a.stock_price("005930")
    text = str(ei.value) + repr(a) + log_text(all_logs)
    assert SECRET not in text and kis_key not in text
    token = json.loads(a.token_cache_path.read_text())["access_token"]
    assert token not in text


def test_kis_timeout_and_truncated_retried(rsim, make_kis):
    a = make_kis(timeout_seconds=0.5)
    a.stock_price("005930")
    rsim.set_faults({"seed": 1, "rules": [{"source": "kis", "fault": "timeout", "times": 1, "seconds": 1.5}]})
    assert a.stock_price("005930").iloc[0]["price"] > 0
    rsim.set_faults(kis_rule("truncated", times=1))
    assert a.stock_price("005930").iloc[0]["price"] > 0
    rsim.set_faults(kis_rule("truncated", times=50))
    with pytest.raises(SourceDataError, match="FHKST01010100"):
        a.stock_price("005930")


# -- virtual host ----------------------------------------------------------------------------


def test_virtual_refuses_etf_endpoints_before_sending(rsim, make_kis):
    v = make_kis(env="virtual")
    n0 = len(rsim.request_log)
    for call in (lambda: v.etf_price("069500"), lambda: v.nav_trend("069500"),
                 lambda: v.nav_daily("069500", "2024-01-02", "2024-01-05"), lambda: v.etf_components("069500")):
        with pytest.raises(SourceUnsupportedError, match="virtual"):
            call()
    assert len(rsim.request_log) == n0
    assert v.daily_chart("005930", "2024-01-02", "2024-01-05")["date"].tolist()[-1] == date(2024, 1, 5)


def test_virtual_server_error_envelope_is_handled(rsim, make_kis):
    # misconfigured: env says real but the URL is the virtual host -> the server's own refusal
    c = make_kis(env="real", base_url=rsim.kis_virtual_url, requests_per_second=1.8)
    c.access_token()
    n0 = len(rsim.request_log)
    with pytest.raises(SourceUnsupportedError) as ei:
        c.etf_price("069500")
    assert "FHPST02400000" in str(ei.value) and "40310000" in str(ei.value)
    assert len(rsim.request_log) - n0 == 1  # a definite refusal: not retried


def test_other_error_envelope_not_retried(rsim, make_kis):
    c = make_kis()
    c.access_token()
    n0 = len(rsim.request_log)
    with pytest.raises(SourceError):  # unknown path -> EGW00003 envelope
        c.get("/uapi/domestic-stock/v1/quotations/no-such-api", "FHKST01010100", {"FID_INPUT_ISCD": "005930"})
    assert len(rsim.request_log) - n0 <= 1


# -- typed datasets --------------------------------------------------------------------------


def test_daily_chart_pages_backwards(rsim, make_kis):
    a = make_kis()
    n0 = len(rsim.request_log)
    df = a.daily_chart("005930", "2023-01-02", "2024-06-28")
    pages = log_entries(rsim, n0, "inquire-daily-itemchartprice")
    assert len(pages) >= 4  # ~370 trading days at <=100 rows per call
    assert df["date"].is_monotonic_increasing and df["date"].is_unique
    assert df["date"].min() == date(2023, 1, 2) and df["date"].max() == date(2024, 6, 28)
    assert (df["high"] >= df["low"]).all() and df["volume"].notna().all()
    adj = a.daily_chart("005930", "2024-01-02", "2024-01-31", adjusted=True)
    assert len(adj) == len(df[(df["date"] >= date(2024, 1, 2)) & (df["date"] <= date(2024, 1, 31))])


def test_daily_chart_unknown_symbol(rsim, make_kis):
    with pytest.raises(SourceDataError, match="unknown symbol"):
        make_kis().daily_chart("999999", "2024-01-02", "2024-01-05")


def test_etf_quotes(rsim, make_kis):
    a = make_kis()
    p = a.etf_price("069500").iloc[0]
    assert p["price"] > 0 and p["nav"] > 0 and p["aum_krw"] > 1e8 and p["cu_units"] > 0
    t = a.nav_trend("069500").iloc[0]
    assert t["nav"] > 0 and t["price"] > 0
    comp = a.etf_components("069500")
    assert len(comp) > 0 and comp["code"].str.len().isin([6, 12]).all()
    assert (comp["shares_per_cu"].dropna() > 0).all()
    nav = a.nav_daily("069500", "2023-06-01", "2024-01-05")
    assert nav["date"].is_monotonic_increasing and nav["date"].is_unique and len(nav) > 100
    assert nav["date"].max() == date(2024, 1, 5)


def test_kis_repr_hides_secrets(kis_key):
    c = KISClient(app_key=kis_key, app_secret=SECRET)
    assert SECRET not in repr(c) and kis_key not in repr(c)


def test_virtual_default_rate_stays_under_2_per_second(rsim, make_kis):
    v = make_kis(env="virtual", requests_per_second=None)  # default 1.8/s on the virtual host
    v.access_token()
    n0 = len(rsim.request_log)
    for _ in range(3):
        v.stock_price("005930")
    assert len(log_entries(rsim, n0, "inquire-price")) == 3  # no EGW00201 retries needed
