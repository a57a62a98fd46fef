"""KIS protocol over real HTTP: token rules, header checks, rate limits, quotes and chart paging."""

from __future__ import annotations

import datetime as dt
import time

import requests

from .conftest import NOW, Kis, kst

ETF_PRICE = "/uapi/etfetn/v1/quotations/inquire-price"
STOCK_PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"
CHART = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"
NAV_DAILY = "/uapi/etfetn/v1/quotations/nav-comparison-daily-trend"
COMPONENTS = "/uapi/etfetn/v1/quotations/inquire-component-stock-price"


def chart(kis: Kis, code: str, d1: str, d2: str, adj: str = "0", period: str = "D") -> requests.Response:
    return kis.get(CHART, "FHKST03010100", FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD=code, FID_INPUT_DATE_1=d1,
                   FID_INPUT_DATE_2=d2, FID_PERIOD_DIV_CODE=period, FID_ORG_ADJ_PRC=adj)


def test_token_issue_reuse_and_throttle(srv, kis):
    r = kis.issue()
    assert r.status_code == 200
    body = r.json()
    assert body["access_token"].startswith("eyJ") and body["token_type"] == "Bearer"
    assert body["expires_in"] == 86400
    assert body["access_token_token_expired"] == "2026-11-21 19:00:00"
    again = kis.issue()  # same simulated minute
    assert again.status_code == 403
    assert again.json() == {"error_code": "EGW00133", "error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"}
    srv.set_clock(NOW + dt.timedelta(minutes=5), 0.0)
    assert kis.issue().json()["access_token"] == body["access_token"]  # within 6 h: same token
    srv.set_clock(NOW + dt.timedelta(hours=7), 0.0)
    assert kis.issue().json()["access_token"] != body["access_token"]


def test_token_expiry_and_invalid_token(srv, kis):
    ok = kis.get(ETF_PRICE, "FHPST02400000", FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD="069500")
    assert ok.status_code == 200 and ok.json()["rt_cd"] == "0"
    srv.set_clock(NOW + dt.timedelta(hours=25), 0.0)
    r = kis.get(ETF_PRICE, "FHPST02400000", FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD="069500")
    assert r.json() == {"rt_cd": "1", "msg_cd": "EGW00123", "msg1": "기간이 만료된 token 입니다."}
    kis.token = "eyJbogus"
    assert kis.get(ETF_PRICE, "FHPST02400000", FID_INPUT_ISCD="069500").json()["msg_cd"] == "EGW00121"


def test_header_checks(srv, kis):
    kis.get(ETF_PRICE, "FHPST02400000", FID_INPUT_ISCD="069500")
    base = {"authorization": f"Bearer {kis.token}", "appkey": kis.appkey, "appsecret": kis.appsecret,
            "tr_id": "FHPST02400000", "custtype": "P"}
    url = srv.kis_url + ETF_PRICE
    for drop, code in (("appkey", "EGW00103"), ("appsecret", "EGW00105"), ("custtype", "EGW00206")):
        h = {k: v for k, v in base.items() if k != drop}
        r = requests.get(url, params={"FID_INPUT_ISCD": "069500"}, headers=h, timeout=5)
        assert r.json()["rt_cd"] == "1" and r.json()["msg_cd"] == code
    r = requests.get(url, params={"FID_INPUT_ISCD": "069500"}, headers=dict(base, tr_id="FHKST01010100"), timeout=5)
    assert r.json()["msg_cd"] == "OPSQ0002"


def test_etf_quote_fields_and_units(srv, kis):
    r = kis.get(ETF_PRICE, "FHPST02400000", FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD="069500")
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["tr_id"] == "FHPST02400000" and "gt_uid" in r.headers and "tr_cont" in r.headers
    body = r.json()
    assert (body["rt_cd"], body["msg_cd"], body["msg1"]) == ("0", "MCA00000", "정상처리 되었습니다.")
    o = body["output"]
    m = srv.market
    e, t = m.etfs.code_to_e["069500"], m.t_of[NOW.date()]
    assert o["stck_prpr"] == str(int(m.etfs.close[e, t]))
    assert o["nav"] == f"{m.etfs.nav[e, t]:.2f}"
    units = int(m.etfs.units(e, t))
    assert o["lstn_stcn"] == str(units)
    assert o["etf_ntas_ttam"] == str(round(m.etfs.nav[e, t] * units / 1e8))  # 억원
    assert o["etf_trc_ert_mltp"] == "1.00" and o["stck_lstn_date"] == "20021014"
    assert all("," not in v for v in o.values() if isinstance(v, str))
    s = kis.get(STOCK_PRICE, "FHKST01010100", FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD="005930").json()["output"]
    i = m.code_to_i["005930"]
    assert s["stck_prpr"] == str(int(m.close[i, t]))
    assert s["hts_avls"] == str(round(int(m.close[i, t]) * int(s["lstn_stcn"]) / 1e8))
    assert {"per", "pbr", "eps", "bps"} <= set(s)


def test_quotes_follow_publication(srv, kis):
    srv.set_clock(kst(2026, 11, 20, 15, 0), 0.0)
    r = kis.get(NAV_DAILY, "FHPST02440200", fid_cond_mrkt_div_code="J", fid_input_iscd="069500",
                fid_input_date_1="20261101", fid_input_date_2="20261120")
    assert r.json()["output"][0]["stck_bsop_date"] == "20261119"


def test_components_snapshot(srv, kis):
    body = kis.get(COMPONENTS, "FHKST121600C0", FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD="069500",
                   FID_COND_SCR_DIV_CODE="11216").json()
    rows = body["output2"]
    assert body["output1"]["etf_cnfg_issu_cnt"] == str(len(rows))
    stock = next(r for r in rows if r["stck_shrn_iscd"] == "005930")
    qty = int(stock["etf_cnfg_issu_avls"]) / int(stock["stck_prpr"])
    assert qty == int(qty) > 0  # shares per CU = value / price, exactly


def test_virtual_host_rate_limit_and_etf_refusal(srv):
    vts = Kis(srv.kis_virtual_url)
    codes = []
    for _ in range(4):
        r = vts.get(STOCK_PRICE, "FHKST01010100", FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD="005930")
        codes.append((r.status_code, r.json()["msg_cd"]))
    assert codes[:2] == [(200, "MCA00000")] * 2
    assert (500, "EGW00201") in codes[2:]
    assert srv.kis_vts.hits  # the window is per appkey on the virtual host
    time.sleep(1.05)
    r = vts.get(ETF_PRICE, "FHPST02400000", FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD="069500")
    assert r.status_code == 500 and r.json()["rt_cd"] == "1" and "모의투자" in r.json()["msg1"]


def test_real_host_rate_limit(srv, kis):
    statuses = [kis.get(STOCK_PRICE, "FHKST01010100", FID_INPUT_ISCD="005930").json()["msg_cd"] for _ in range(24)]
    if statuses.count("EGW00201") == 0:  # the loop took longer than a second: nothing to assert about bursts
        return
    assert statuses[:20] == ["MCA00000"] * 20


def test_daily_chart_paging(srv, kis):
    r = chart(kis, "005930", "20250101", "20261120")
    body = r.json()
    rows = body["output2"]
    assert len(rows) == 100 and r.headers["tr_cont"] == "M"
    dates = [x["stck_bsop_date"] for x in rows]
    assert dates == sorted(dates, reverse=True) and dates[0] == "20261120"
    assert "prdy_ctrt" not in rows[0] and body["output1"]["stck_shrn_iscd"] == "005930"
    seen = list(dates)
    end = dt.date.fromisoformat(f"{dates[-1][:4]}-{dates[-1][4:6]}-{dates[-1][6:]}") - dt.timedelta(days=1)
    while True:
        r = chart(kis, "005930", "20250101", end.strftime("%Y%m%d"))
        page = r.json()["output2"]
        seen += [x["stck_bsop_date"] for x in page]
        if r.headers["tr_cont"] == "D":
            break
        last = page[-1]["stck_bsop_date"]
        end = dt.date(int(last[:4]), int(last[4:6]), int(last[6:])) - dt.timedelta(days=1)
    m = srv.market
    expected = [d.strftime("%Y%m%d") for d in m.dates if dt.date(2025, 1, 1) <= d <= NOW.date()]
    assert sorted(seen) == expected


def test_daily_chart_adjusted_vs_raw_around_split(srv, kis):
    raw = {x["stck_bsop_date"]: x for x in chart(kis, "005930", "20180425", "20180510", adj="1").json()["output2"]}
    adj = {x["stck_bsop_date"]: x for x in chart(kis, "005930", "20180425", "20180510", adj="0").json()["output2"]}
    assert int(raw["20180503"]["stck_clpr"]) > 20 * int(raw["20180504"]["stck_clpr"])  # raw jumps
    assert raw["20180504"]["mod_yn"] == "Y" and raw["20180504"]["prtt_rate"] == "50.00"
    ratio = int(adj["20180503"]["stck_clpr"]) / int(adj["20180504"]["stck_clpr"])
    assert 0.7 < ratio < 1.3  # adjusted is continuous
    assert abs(int(adj["20180503"]["acml_vol"]) - 50 * int(raw["20180503"]["acml_vol"])) <= 50


def test_weekly_and_monthly_bars(srv, kis):
    rows = chart(kis, "069500", "20260101", "20261120", period="M").json()["output2"]
    assert len(rows) == 11 and rows[0]["stck_bsop_date"] == "20261120"
    for r in rows:
        assert int(r["stck_lwpr"]) <= int(r["stck_clpr"]) <= int(r["stck_hgpr"])
