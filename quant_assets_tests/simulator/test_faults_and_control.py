"""Fault injection, control endpoints, request log and determinism, over real HTTP."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import requests

from quant_assets.simulator import Market, SimConfig, SimulatorServer

from .conftest import CONFIG, NOW, Kis, Krx, kst

DAY = "20261120"


def rule(fault: str, **kw) -> dict:
    return {"seed": 1, "timeout_seconds": 0.6, "rules": [{"source": "krx", "bld": "MDCSTAT01501", "fault": fault, **kw}]}


def stocks(krx: Krx, **kw) -> requests.Response:
    return krx.raw("MDCSTAT01501", mktId="ALL", trdDd=DAY, **kw)


def test_http_500_times(krx, srv):
    srv.set_faults(rule("http_500", times=2))
    assert [stocks(krx).status_code for _ in range(3)] == [500, 500, 200]
    assert krx.raw("MDCSTAT04301", trdDd=DAY).status_code == 200  # other blds unaffected


def test_timeout_then_normal_answer(krx, srv):
    srv.set_faults(rule("timeout", times=1))
    with pytest.raises(requests.Timeout):
        stocks(krx, timeout=0.2)
    assert stocks(krx).status_code == 200


def test_truncated_body(krx, srv):
    srv.set_faults(rule("truncated", date=DAY, times=1))
    r = stocks(krx)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.text)
    assert stocks(krx).json()["OutBlock_1"]


def test_logout_fault_invalidates_session(krx, srv):
    srv.set_faults(rule("logout", times=1))
    r = stocks(krx)
    assert (r.status_code, r.text) == (400, "LOGOUT")
    assert stocks(krx).text == "LOGOUT"  # session really gone
    assert krx.login()["_error_code"] == "CD001"
    assert stocks(krx).status_code == 200


@pytest.mark.parametrize("variant,status", [("html200", 200), ("403", 403)])
def test_ban_page(krx, srv, variant, status):
    srv.set_faults({"rules": [{"source": "krx", "fault": "ban", "variant": variant}]})
    r = stocks(krx)
    assert r.status_code == status and "text/html" in r.headers["Content-Type"]
    assert "비정상적인 대량 조회" in r.text and "IP" in r.text and "1일" in r.text
    login = requests.get(srv.krx_url + "/contents/MDC/COMS/client/MDCCOMS001.cmd", timeout=5)
    assert "차단" in login.text  # every /krx path while the ban is active
    srv.clear_faults()
    assert stocks(krx).status_code == 200


def test_late_publication(krx, srv):
    srv.set_faults({"rules": [{"source": "krx", "fault": "late", "minutes": 120, "dataset": "prices"}]})
    srv.set_clock(kst(2026, 11, 20, 17, 0), 0.0)
    assert stocks(krx).json()["OutBlock_1"] == []
    srv.set_clock(kst(2026, 11, 20, 17, 46), 0.0)
    assert stocks(krx).json()["OutBlock_1"]


@pytest.mark.parametrize("kind", ["dash_price", "negative_price", "high_lt_low", "duplicate_ticker",
                                  "missing_field", "empty"])
def test_corrupt_kinds(krx, srv, kind):
    clean = stocks(krx).json()["OutBlock_1"]
    srv.set_faults(rule("corrupt", date=DAY, kind=kind, ticker="005930", field="TDD_CLSPRC", times=1))
    rows = stocks(krx).json()["OutBlock_1"]
    sam = [r for r in rows if r["ISU_SRT_CD"] == "005930"]
    if kind == "empty":
        assert rows == []
    elif kind == "dash_price":
        assert sam[0]["TDD_CLSPRC"] == "-"
    elif kind == "negative_price":
        assert sam[0]["TDD_CLSPRC"].startswith("-")
    elif kind == "high_lt_low":
        assert float(sam[0]["TDD_HGPRC"].replace(",", "")) < float(sam[0]["TDD_LWPRC"].replace(",", ""))
    elif kind == "duplicate_ticker":
        assert len(sam) == 2 and len(rows) == len(clean) + 1
    elif kind == "missing_field":
        assert "TDD_CLSPRC" not in sam[0]
    assert stocks(krx).json()["OutBlock_1"] == clean  # times=1: the next call is clean


def test_kis_faults(srv):
    kis = Kis(srv.kis_url)
    path = "/uapi/domestic-stock/v1/quotations/inquire-price"
    srv.set_faults({"rules": [{"source": "kis", "tr_id": "FHKST01010100", "fault": "rate_limit", "times": 1},
                              {"source": "kis", "fault": "http_500", "times": 1, "path": "inquire-price"}]})
    r1 = kis.get(path, "FHKST01010100", FID_INPUT_ISCD="005930")
    assert (r1.status_code, r1.json()["msg_cd"]) == (500, "EGW00201")
    r2 = kis.get(path, "FHKST01010100", FID_INPUT_ISCD="005930")
    assert (r2.status_code, r2.json()["rt_cd"]) == (500, "1")
    srv.set_faults({"rules": [{"source": "kis", "fault": "truncated", "times": 1},
                              {"source": "kis", "fault": "corrupt", "kind": "dash_price", "field": "stck_clpr"}]})
    with pytest.raises(ValueError):
        kis.get(path, "FHKST01010100", FID_INPUT_ISCD="005930").json()
    chart = kis.get("/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice", "FHKST03010100",
                    FID_INPUT_ISCD="005930", FID_INPUT_DATE_1="20261101", FID_INPUT_DATE_2=DAY,
                    FID_PERIOD_DIV_CODE="D", FID_ORG_ADJ_PRC="0").json()
    assert chart["output2"][0]["stck_clpr"] == "-"


def test_random_rates_are_seeded(krx, srv):
    spec = {"seed": 7, "rates": {"krx": {"http_500": 0.5}}}

    def run():
        srv.set_faults(spec)
        return [stocks(krx).status_code for _ in range(12)]

    first = run()
    assert first == run() and {200, 500} == set(first)


def test_control_endpoints_over_http(srv, krx):
    base = srv.base_url
    health = requests.get(base + "/_sim/health", timeout=5).json()
    assert health["status"] == "ok" and health["stocks"] == len(srv.market.stocks)
    r = requests.post(base + "/_sim/clock", json={"now": "2026-11-20T15:00:00+09:00", "speed": 0}, timeout=5)
    assert r.json()["now"].startswith("2026-11-20T15:00:00")
    assert stocks(krx).json()["OutBlock_1"] == []
    requests.post(base + "/_sim/faults", json=rule("http_500"), timeout=5)
    assert stocks(krx).status_code == 500
    requests.delete(base + "/_sim/faults", timeout=5)
    assert stocks(krx).status_code == 200
    stats = requests.get(base + "/_sim/stats", timeout=5).json()
    assert stats["requests"]["krx:MDCSTAT01501"] >= 3
    bad = requests.post(base + "/_sim/faults", json={"rules": [{"source": "krx"}]}, timeout=5)
    assert bad.status_code == 400


def test_request_log_has_no_secrets(srv):
    Krx(srv, "erin", "topsecret-pw").login()
    kis = Kis(srv.kis_url, "AK-SECRET", "APPSECRET-XYZ")
    kis.get("/uapi/domestic-stock/v1/quotations/inquire-price", "FHKST01010100", FID_INPUT_ISCD="005930")
    text = repr(list(srv.request_log))
    assert "topsecret-pw" not in text and "APPSECRET-XYZ" not in text and "AK-SECRET" not in text
    assert srv.count("kis", "FHKST01010100") >= 1


def test_same_seed_same_payload(krx):
    other = SimulatorServer(CONFIG, port=0).start()
    try:
        k2 = Krx(other)
        k2.login()
        for bld, params in (("MDCSTAT01501", {"mktId": "ALL", "trdDd": DAY}), ("MDCSTAT04301", {"trdDd": DAY}),
                            ("MDCSTAT05001", {"trdDd": DAY, "isuCd": "KR7069500007"}),
                            ("MDCSTAT04601", {})):
            assert krx.raw(bld, **params).content == k2.raw(bld, **params).content, bld
    finally:
        other.stop()
    a = Market(SimConfig(size="small", seed=1, end_date="2026-11-20"))
    b = Market(SimConfig(size="small", seed=2, end_date="2026-11-20"))
    assert not (a.close == b.close).all()


def test_small_market_shape():
    m = Market(SimConfig(size="small", end_date="2026-11-20"))
    assert (m.stocks.market == "STK").sum() == 40 and (m.stocks.market == "KSQ").sum() == 20
    assert m.etfs.n == 20
    for code in ("005930", "000660", "035420", "005380"):
        assert code in m.code_to_i
    for code in ("069500", "102110", "122630", "114800", "252670", "229200", "360750", "0069M0", "091160", "152100"):
        assert code in m.etfs.code_to_e
    assert any(d is not None for d in m.stocks.delist_date)
    assert any(t > 0 for t in m.stocks.list_t)
    custom = Market(SimConfig(size="small", n_stocks=10, n_etfs=5, end_date="2026-11-20"))
    assert len(custom.stocks) == 10 and custom.etfs.n == 5
    assert NOW.date() == m.dates[m.t_end]
    assert dt.date(2026, 6, 3) not in m.t_of  # default extra closure


# -- issue #11: faults do what they say ------------------------------------------------------


@pytest.mark.parametrize("spec", [
    {"rates": {"krx": {"rate_limit": 0.5}}},  # KRX has no throttle answer: it slows down or bans
    {"rules": [{"source": "krx", "fault": "rate_limit"}]},
    {"rules": [{"source": "kis", "fault": "ban"}]},  # KIS has no ban page
    {"rules": [{"source": "kis", "fault": "logout"}]},
    {"rates": {"kis": {"logout": 0.1}}},
    {"rates": {"krx": {"http_500": 1.5}}},
    {"rules": [{"source": "krx", "fault": "ban", "variant": "404"}]},
])
def test_faults_a_source_cannot_produce_are_refused(srv, spec):
    with pytest.raises(ValueError):
        srv.set_faults(spec)
    r = requests.post(srv.base_url + "/_sim/faults", json=spec, timeout=5)
    assert r.status_code == 400


def test_krx_random_500_rate_is_drawn_on_its_own(krx, srv):
    # today a KRX rate_limit rate was accepted, ignored, and blocked the 500 draw; now the 500
    # rate alone does what it says
    srv.set_faults({"seed": 3, "rates": {"krx": {"http_500": 1.0}}})
    assert {stocks(krx).status_code for _ in range(5)} == {500}


def test_kis_rate_limit_rate_is_egw00201_without_retry_after(srv):
    kis = Kis(srv.kis_url)
    srv.set_faults({"seed": 3, "rates": {"kis": {"rate_limit": 1.0}}})
    r = kis.get("/uapi/domestic-stock/v1/quotations/inquire-price", "FHKST01010100", FID_INPUT_ISCD="005930")
    assert (r.status_code, r.json()["msg_cd"]) == (500, "EGW00201")
    assert "Retry-After" not in r.headers  # the real KIS sends none (reference §2.5)


def test_default_timeout_fault_outlasts_the_clients_timeout(krx, srv):
    from quant_assets.resources import KISClient, KRXClient

    srv.set_faults({"rules": [{"source": "krx", "bld": "MDCSTAT01501", "fault": "timeout", "times": 1}]})
    assert srv.faults.timeout_seconds > max(KRXClient().timeout_seconds, KISClient().timeout_seconds)
    t0 = time.monotonic()
    with pytest.raises(requests.Timeout):
        stocks(krx, timeout=1.0)
    assert time.monotonic() - t0 < 5  # the client gave up after its own timeout
    t1 = time.monotonic()
    assert stocks(krx).status_code == 200  # the server noticed the hang-up; next answer is prompt
    assert time.monotonic() - t1 < 2


def test_outage_pages(krx, srv):
    srv.set_faults({"rules": [{"source": "krx", "bld": "MDCSTAT01501", "fault": "http_403", "times": 1},
                              {"source": "krx", "bld": "MDCSTAT01501", "fault": "maintenance", "times": 1}]})
    r403 = stocks(krx)
    assert r403.status_code == 403 and "Forbidden" in r403.text and "차단" not in r403.text
    maint = stocks(krx)
    assert maint.status_code == 200 and "점검" in maint.text and maint.text.lstrip().startswith("<!DOCTYPE")
    assert stocks(krx).status_code == 200


def test_logout_html200_variant(krx, srv):
    srv.set_faults(rule("logout", times=1, variant="html200"))
    r = stocks(krx)
    assert r.status_code == 200 and "LOGOUT" in r.text and "text/html" in r.headers["Content-Type"]
    assert stocks(krx).text == "LOGOUT"  # the session really is gone (plain 400 from now on)
