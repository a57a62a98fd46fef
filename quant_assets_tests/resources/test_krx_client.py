"""KRXClient over real HTTP against the simulator: login, every error path, typed datasets."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np
import psycopg
import pytest

from quant_assets.errors import (
    MarketClosedError,
    SourceAuthError,
    SourceBlockedError,
    SourceDataError,
    SourceStopError,
    SourceUnavailableError,
)
from quant_assets.resources import InMemoryCircuitBreaker, KRXClient
from quant_assets_tests.resources.conftest import (
    HOLIDAY,
    KRX_PW_CHANGE_USER,
    KRX_SECRET_PW,
    KRX_USER,
    TRADING_DAY,
    log_entries,
    log_text,
)


def rule(fault: str, bld: str = "MDCSTAT01501", date_: str = TRADING_DAY, times: int = 1, **kw) -> dict:
    return {"seed": 1, "rules": [{"source": "krx", "bld": bld, "date": date_, "fault": fault, "times": times, **kw}]}


# -- login -----------------------------------------------------------------------------------


def test_login_then_data(rsim, make_krx):
    krx = make_krx()
    n0 = len(rsim.request_log)
    df = krx.stock_daily(TRADING_DAY)
    assert len(log_entries(rsim, n0, "MDCCOMS001D1")) == 1  # one login POST
    assert len(log_entries(rsim, n0, "login.jsp")) == 1
    assert len(df) > 10 and df["date"].eq(date(2024, 1, 5)).all()
    assert set(df["market"].dropna()) <= {"KOSPI", "KOSDAQ", "KONEX"}
    assert df["ticker"].str.len().eq(6).all() and df["close"].notna().all()
    n1 = len(rsim.request_log)
    krx.stock_daily(TRADING_DAY)
    assert len(rsim.request_log) - n1 == 1  # session reused, no new login


def test_relogin_on_logout_fault(rsim, make_krx):
    krx = make_krx()
    krx.etf_master()
    rsim.set_faults(rule("logout"))
    n0 = len(rsim.request_log)
    df = krx.stock_daily(TRADING_DAY)
    assert len(df) > 0
    assert len(log_entries(rsim, n0, "MDCCOMS001D1")) >= 1  # logged in again, then retried


def test_relogin_after_server_dropped_sessions(rsim, make_krx):
    krx = make_krx()
    krx.etf_master()
    rsim.reset_sessions()
    n0 = len(rsim.request_log)
    assert len(krx.etf_master()) > 0
    assert len(log_entries(rsim, n0, "MDCCOMS001D1")) >= 1


def logins(srv, since: int) -> int:
    return len(log_entries(srv, since, "MDCCOMS001D1"))


def test_two_clients_on_one_account_share_one_session(rsim, make_krx):
    a = make_krx()
    b = make_krx()
    n0 = len(rsim.request_log)
    for _ in range(10):  # interleaved, as two runs would be
        a.index_history("2024-01-02", "2024-01-05")
        b.index_history("2024-01-02", "2024-01-05")
    # today: b's login (CD011 -> skipDup) kicks a, whose re-login kicks b, ... one login per call
    assert logins(rsim, n0) == 1
    assert len(log_entries(rsim, n0, "MDCSTAT00301")) == 20  # no LOGOUT round trips either


def test_two_processes_share_one_session_through_postgres(rsim, make_krx, database_url):
    from quant_assets.resources import PostgresSessionStore

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM source_sessions; DELETE FROM source_session_holders; "
                     "DELETE FROM source_auth_failures")
    # separate store objects and cookie jars = what two processes have; only PostgreSQL is shared
    a = make_krx(store=PostgresSessionStore(database_url))
    b = make_krx(store=PostgresSessionStore(database_url))
    n0 = len(rsim.request_log)
    for _ in range(5):
        a.index_history("2024-01-02", "2024-01-05")
        b.index_history("2024-01-02", "2024-01-05")
    assert logins(rsim, n0) == 1
    rsim.reset_sessions()  # the server forgets the session: both see LOGOUT, ONE logs in again
    n1 = len(rsim.request_log)
    a.index_history("2024-01-02", "2024-01-05")
    b.index_history("2024-01-02", "2024-01-05")
    assert logins(rsim, n1) == 1
    a.close()  # b still holds the session: no logout yet
    assert len(log_entries(rsim, n1, "MDCCOMS001D2")) == 0
    b.close()  # the last holder logs out
    assert len(log_entries(rsim, n1, "MDCCOMS001D2")) == 1
    assert rsim.krx.live == {}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM source_sessions").fetchone()[0] == 0


def test_threads_of_one_client_renew_the_session_once(rsim, make_krx):
    krx = make_krx()
    krx.etf_master()
    rsim.reset_sessions()  # every thread's next call answers LOGOUT
    n0 = len(rsim.request_log)
    with ThreadPoolExecutor(4) as pool:
        frames = list(pool.map(lambda _: krx.index_history("2024-01-02", "2024-01-05"), range(8)))
    assert all(len(f) == 4 for f in frames)
    assert logins(rsim, n0) == 1


WORKER = """
import pathlib, sys, time
from quant_assets.resources import InMemoryCircuitBreaker, KRXClient, PostgresSessionStore
url, krx_url, user, pw, n, barrier, me = sys.argv[1:8]
c = KRXClient(base_url=krx_url, krx_id=user, krx_pw=pw, requests_per_second=500, backoff_seconds=0.01)
c = c.with_breaker(InMemoryCircuitBreaker()).with_session_store(PostgresSessionStore(url))
# Both processes work at the same time (a process that finished before the other started would
# rightly log out, and the other would rightly log in again): meet before the first call.
pathlib.Path(barrier, me).touch()
deadline = time.monotonic() + 60
while len(list(pathlib.Path(barrier).iterdir())) < 2 and time.monotonic() < deadline:
    time.sleep(0.05)
for _ in range(int(n)):
    c.index_history("2024-01-02", "2024-01-05")
c.close()
"""


def test_two_real_processes_make_one_login(rsim, database_url, tmp_path):
    """Two OS processes on one account: today they kicked each other (281 login POSTs for 440
    calls measured at 220 calls each); now one login, every call answered, one logout."""
    import subprocess
    import sys

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM source_sessions; DELETE FROM source_session_holders")
    n0 = len(rsim.request_log)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, database_url, rsim.krx_url, KRX_USER, KRX_SECRET_PW,
                               "40", str(tmp_path), f"worker{i}"], stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
    assert logins(rsim, n0) == 1
    assert len(log_entries(rsim, n0, "MDCSTAT00301")) == 80  # no LOGOUT round trips
    assert len(log_entries(rsim, n0, "MDCCOMS001D2")) == 1 and rsim.krx.live == {}


def test_next_run_logs_in_cleanly_after_close(rsim, make_krx):
    first = make_krx()
    first.etf_master()
    first.close()
    n0 = len(rsim.request_log)
    second = make_krx()  # a new run: no CD011, no skipDup (nobody to kick)
    second.etf_master()
    posts = log_entries(rsim, n0, "MDCCOMS001D1")
    assert len(posts) == 1 and "skipDup" not in str(posts[0])


def test_persistent_logout_stops_at_the_first_auth_failure(rsim, make_krx):
    krx = make_krx()
    rsim.set_faults(rule("logout", times=None))
    n0 = len(rsim.request_log)
    for _ in range(3):
        with pytest.raises(SourceAuthError, match="right after a fresh login|remembered"):
            krx.stock_daily(TRADING_DAY)
    # today: 6 logins for 3 calls; now the first call logs in, re-logs in once, and stops
    assert logins(rsim, n0) == 2
    assert len(log_entries(rsim, n0, "MDCSTAT01501")) == 2
    assert isinstance(SourceAuthError("krx", "x"), SourceStopError)  # loops must stop on it


def test_wrong_password_is_remembered_across_clients(rsim, make_krx, session_store):
    bad = "wrong-" + KRX_SECRET_PW
    n0 = len(rsim.request_log)
    for _ in range(3):
        with pytest.raises(SourceAuthError, match="CD002"):
            make_krx(krx_pw=bad).etf_master()
    assert logins(rsim, n0) == 1  # other clients (other processes with the Postgres store) don't retry it
    assert len(make_krx().etf_master()) > 0  # the right password is a different key


def test_session_taken_over_by_an_outside_client_is_bounded(rsim, make_krx):
    from quant_assets_tests.simulator.conftest import Krx as RawKrx

    krx = make_krx(max_logins_per_hour=3)
    krx.etf_master()
    browser = RawKrx(rsim, KRX_USER, KRX_SECRET_PW)  # e.g. the user's browser, not in our store
    n0 = len(rsim.request_log)
    for _ in range(2):
        assert browser.login(skipDup="Y")["_error_code"] == "CD001"  # kicks our session
        assert len(krx.etf_master()) > 0  # we log in again (kicking the browser)
    browser.login(skipDup="Y")
    with pytest.raises(SourceAuthError, match="taken over"):
        krx.etf_master()
    # the browser's 3 POSTs + our 2 logins of 2 POSTs each (CD011, then skipDup=Y); no third login
    assert logins(rsim, n0) == 3 + 2 * 2
    with pytest.raises(SourceAuthError, match="remembered"):
        krx.etf_master()


def test_wrong_password_is_auth_error_without_secret(rsim, make_krx, all_logs):
    krx = make_krx(krx_pw="wrong-" + KRX_SECRET_PW)
    with pytest.raises(SourceAuthError) as ei:
        krx.etf_master()
    msg = str(ei.value)
    assert "login" in msg
    assert KRX_SECRET_PW not in msg and "wrong-" not in msg
    assert KRX_SECRET_PW not in repr(krx) and KRX_SECRET_PW not in str(krx)
    assert KRX_SECRET_PW not in log_text(all_logs)


def test_password_change_required(rsim, make_krx):
    krx = make_krx(krx_id=KRX_PW_CHANGE_USER, krx_pw="whatever-pw")
    with pytest.raises(SourceAuthError, match="CD010"):
        krx.etf_master()


def test_demo_account_when_no_credentials(rsim, breaker):
    krx = KRXClient(base_url=rsim.krx_url, requests_per_second=500, backoff_seconds=0.01).with_breaker(breaker)
    assert len(krx.etf_master()) > 0


def test_real_host_without_credentials_refuses(breaker):
    krx = KRXClient(base_url="https://data.krx.co.kr").with_breaker(breaker)
    with pytest.raises(SourceAuthError, match="KRX_ID"):
        krx.etf_master()


# -- transport errors ------------------------------------------------------------------------


def test_5xx_retried_then_success(rsim, make_krx):
    krx = make_krx()
    krx.etf_master()
    rsim.set_faults(rule("http_500", times=2))
    n0 = len(rsim.request_log)
    assert len(krx.stock_daily(TRADING_DAY)) > 0
    assert len(log_entries(rsim, n0, "MDCSTAT01501")) == 3


def test_retries_exhausted_is_unavailable(rsim, make_krx, all_logs):
    krx = make_krx(max_retries=2)
    krx.etf_master()
    rsim.set_faults(rule("http_500", times=50))
    n0 = len(rsim.request_log)
    with pytest.raises(SourceUnavailableError) as ei:
        krx.stock_daily(TRADING_DAY)
    assert len(log_entries(rsim, n0, "MDCSTAT01501")) == 3
    assert "MDCSTAT01501" in str(ei.value) and TRADING_DAY in str(ei.value)
    assert KRX_SECRET_PW not in str(ei.value) and KRX_SECRET_PW not in log_text(all_logs)


def test_timeout_retried(rsim, make_krx):
    krx = make_krx(timeout_seconds=0.5)
    krx.etf_master()
    rsim.set_faults(rule("timeout", times=1, seconds=1.5))
    n0 = len(rsim.request_log)
    assert len(krx.stock_daily(TRADING_DAY)) > 0
    assert len(log_entries(rsim, n0, "MDCSTAT01501")) == 2


def test_truncated_body_is_data_error_naming_dataset_and_date(rsim, make_krx):
    krx = make_krx(max_retries=1)
    krx.etf_master()
    rsim.set_faults(rule("truncated", times=50))
    with pytest.raises(SourceDataError) as ei:
        krx.stock_daily(TRADING_DAY)
    assert ei.value.dataset == "MDCSTAT01501" and ei.value.date == TRADING_DAY
    assert "MDCSTAT01501" in str(ei.value) and TRADING_DAY in str(ei.value)


def test_truncated_once_is_retried(rsim, make_krx):
    krx = make_krx()
    krx.etf_master()
    rsim.set_faults(rule("truncated", times=1))
    assert len(krx.stock_daily(TRADING_DAY)) > 0


def test_missing_field_names_ticker_and_field(rsim, make_krx):
    krx = make_krx()
    krx.etf_master()
    rsim.set_faults(rule("corrupt", kind="missing_field", ticker="005930", field="TDD_HGPRC"))
    with pytest.raises(SourceDataError) as ei:
        krx.stock_daily(TRADING_DAY)
    e = ei.value
    assert (e.dataset, e.date, e.ticker, e.field) == ("MDCSTAT01501", TRADING_DAY, "005930", "TDD_HGPRC")


def test_empty_list_on_trading_day_is_data_error(rsim, make_krx):
    krx = make_krx()
    rsim.set_faults(rule("corrupt", bld="MDCSTAT04301", kind="empty"))
    with pytest.raises(SourceDataError, match="empty") as ei:
        krx.etf_daily(TRADING_DAY)
    assert ei.value.date == TRADING_DAY


def test_dashed_price_kept_as_nan_not_dropped(rsim, make_krx):
    krx = make_krx()
    full = krx.stock_daily(TRADING_DAY)
    rsim.set_faults(rule("corrupt", kind="dash_price", ticker="005930"))
    df = krx.stock_daily(TRADING_DAY)
    assert len(df) == len(full)
    assert np.isnan(df.set_index("ticker").loc["005930", "close"])


@pytest.mark.parametrize("variant", ["html200", "403"])
def test_ban_blocks_and_opens_breaker(rsim, make_krx, variant):
    br = InMemoryCircuitBreaker()
    krx = make_krx(breaker=br)
    krx.etf_master()
    rsim.set_faults(rule("ban", times=1, variant=variant))
    n0 = len(rsim.request_log)
    with pytest.raises(SourceBlockedError):
        krx.stock_daily(TRADING_DAY)
    assert len(rsim.request_log) - n0 == 1  # never retried
    assert br.is_open("krx")
    rsim.clear_faults()
    n1 = len(rsim.request_log)
    with pytest.raises(SourceBlockedError, match="until"):
        krx.etf_daily(TRADING_DAY)
    other = make_krx(breaker=br)  # another instance sharing the breaker: no login attempt either
    with pytest.raises(SourceBlockedError):
        other.etf_master()
    assert len(rsim.request_log) == n1  # nothing sent while the breaker is open
    br.reset("krx")
    assert len(krx.etf_daily(TRADING_DAY)) > 0


# -- holidays, typed datasets ----------------------------------------------------------------


def test_holiday_is_market_closed(rsim, make_krx):
    krx = make_krx()
    with pytest.raises(MarketClosedError) as ei:
        krx.stock_daily(HOLIDAY)
    assert ei.value.date == HOLIDAY
    with pytest.raises(MarketClosedError):
        krx.etf_daily(HOLIDAY)


def test_etf_datasets(rsim, make_krx):
    krx = make_krx()
    master = krx.etf_master()
    assert {"ticker", "isin", "multiple", "leverage_type", "total_fee_pct", "cu_qty"} <= set(master.columns)
    assert master["multiple"].notna().all() and set(master["multiple"]) <= {1.0, 2.0, -1.0, -2.0}
    assert master["isin"].str.len().eq(12).all()
    daily = krx.etf_daily(TRADING_DAY)
    assert set(daily["ticker"]) <= set(master["ticker"]) or len(daily) > 0
    assert daily["nav"].notna().all() and daily["aum_published"].all()
    isin = master.set_index("ticker").loc["069500", "isin"] if "069500" in set(master["ticker"]) else master["isin"].iloc[0]
    pdf = krx.etf_pdf(TRADING_DAY, isin)
    assert len(pdf) > 0 and {"constituent_code", "shares_per_cu", "weight_pct"} <= set(pdf.columns)
    with pytest.raises(SourceDataError, match="empty"):  # closed day: KRX answers []
        krx.etf_pdf(HOLIDAY, isin)
    assert len(krx.etf_pdf(HOLIDAY, isin, allow_empty=True)) == 0
    hist = krx.etf_price_history(isin, "2023-12-01", TRADING_DAY)
    assert hist["date"].is_monotonic_increasing and hist["date"].max() == date(2024, 1, 5)
    assert hist["nav"].notna().all()
    te = krx.etf_tracking_error(isin, "2023-12-01", TRADING_DAY)
    assert len(te) == len(hist) and te["tracking_error_pct"].notna().all()
    pdisc = krx.etf_premium_discount(isin, "2023-12-01", TRADING_DAY)
    assert len(pdisc) == len(hist)
    row = pdisc.iloc[-1]
    assert abs((row["close"] - row["nav"]) / row["nav"] * 100 - row["premium_discount_pct"]) < 0.011


def test_stock_datasets(rsim, make_krx):
    krx = make_krx()
    listed = krx.stock_list()
    assert {"ticker", "isin", "name", "market_code", "market_name"} == set(listed.columns) and len(listed) > 10
    delisted = krx.stock_list(delisted=True)
    assert list(delisted.columns) == list(listed.columns)
    master = krx.stock_master()
    assert {"listing_date", "market", "listed_shares", "par_value"} <= set(master.columns)
    fund = krx.stock_fundamentals(TRADING_DAY)
    assert {"date", "ticker", "eps", "per", "bps", "pbr", "dps", "dividend_yield"} <= set(fund.columns)
    sec = krx.sector_classification(TRADING_DAY, "STK")
    assert sec["sector"].notna().all() and len(sec) > 0
    kospi = krx.stock_daily(TRADING_DAY, market="KOSPI")
    assert set(kospi["market"]) == {"KOSPI"}


def test_index_history_long_range_is_chunked_and_ascending(rsim, make_krx):
    krx = make_krx()
    n0 = len(rsim.request_log)
    df = krx.index_history("2023-01-02", "2024-06-28")  # 544 days: one chunk
    assert len(log_entries(rsim, n0, "MDCSTAT00301")) == 1
    assert df["date"].is_monotonic_increasing and df["date"].is_unique
    assert df["date"].min() >= date(2023, 1, 2) and df["date"].max() <= date(2024, 6, 28)
    assert date(2024, 1, 1) not in set(df["date"]) and date(2024, 1, 5) in set(df["date"])
    assert np.all(df["high"] >= df["low"])
    n1 = len(rsim.request_log)
    long = krx.index_history("2021-01-01", "2024-06-28")  # > 730 days -> 2 chunks
    assert len(log_entries(rsim, n1, "MDCSTAT00301")) == 2
    assert long["date"].is_unique and long["date"].is_monotonic_increasing
    assert krx.latest_trading_day("2024-01-07") == date(2024, 1, 5)


def test_isin_required_for_per_ticker_endpoints(make_krx):
    with pytest.raises(ValueError, match="ISIN"):
        make_krx().etf_price_history("069500", "2024-01-01", "2024-01-05")


# -- rate limiter ----------------------------------------------------------------------------


def test_rate_limiter_spaces_requests_and_is_shared(rsim, make_krx):
    rate = 8.0
    a = make_krx(krx_id="rate-user", krx_pw="pw", requests_per_second=rate)
    b = make_krx(krx_id="rate-user", krx_pw="pw", requests_per_second=rate)
    assert a._get_transport().limiter is b._get_transport().limiter  # one limiter per (source, account)
    b.etf_master()
    t0 = time.monotonic()
    n0 = len(rsim.request_log)
    for _ in range(8):
        b.index_history("2024-01-02", "2024-01-05")
    elapsed = time.monotonic() - t0
    sent = len(rsim.request_log) - n0
    assert sent == 8
    # 8 requests at 8/s, evenly spaced: at least ~7 intervals of 125 ms (loosely)
    assert elapsed >= 0.8 * (sent - 1) / rate, elapsed
    assert elapsed < 5.0
