"""KRX protocol over real HTTP: login/session rules, formats, holidays, publication times, PDF."""

from __future__ import annotations

import re

import requests

from .conftest import DATA, NOW, REFERER, Krx, kst

COMMA_INT = re.compile(r"^-?\d{1,3}(,\d{3})*$")
COMMA_DEC = re.compile(r"^-?\d{1,3}(,\d{3})*\.\d{2}$")
RATE = re.compile(r"^-?\d+\.\d{2}$")
KDATE = re.compile(r"^\d{4}/\d{2}/\d{2}$")


def num(s: str) -> float:
    return float(s.replace(",", ""))


# ---------------------------------------------------------------------------------- login/session
def test_data_call_without_session_is_400_logout(srv):
    r = requests.post(srv.krx_url + DATA, data={"bld": "dbms/MDC/STAT/standard/MDCSTAT04601"},
                      headers={"Referer": REFERER}, timeout=5)
    assert r.status_code == 400
    assert r.text == "LOGOUT"
    assert r.headers["Content-Type"].startswith("text/plain")


def test_login_flow_then_data_and_logout(srv):
    k = Krx(srv)
    res = k.login()
    assert res == {"_error_code": "CD001", "_error_message": res["_error_message"]}
    assert "JSESSIONID" in k.http.cookies
    r = k.raw("MDCSTAT04601")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    body = r.json()
    assert set(body) == {"output", "CURRENT_DATETIME"}
    assert body["CURRENT_DATETIME"] == "2026.11.20 PM 07:00:00"
    k.http.post(srv.krx_url + "/contents/MDC/COMS/client/MDCCOMS001D2.cmd", timeout=5)
    assert k.raw("MDCSTAT04601").status_code == 400


def test_referer_is_required(krx):
    r = krx.http.post(krx.srv.krx_url + DATA, data={"bld": "dbms/MDC/STAT/standard/MDCSTAT04601"}, timeout=5)
    assert r.status_code == 403 and r.content == b""


def test_bad_credentials_and_password_change(srv):
    assert Krx(srv, "alice", "wrong").login()["_error_code"] == "CD002"
    assert Krx(srv, "alice", "right-pw").login()["_error_code"] == "CD001"
    assert Krx(srv, "carol", "").login()["_error_code"] == "CD002"
    assert Krx(srv, "old", "pw").login()["_error_code"] == "CD010"


def test_duplicate_login_cd011_and_skipdup_kicks_first_session(srv):
    first, second = Krx(srv, "dave"), Krx(srv, "dave")
    assert first.login()["_error_code"] == "CD001"
    assert second.login()["_error_code"] == "CD011"
    assert first.raw("MDCSTAT04601").status_code == 200  # CD011 did not disturb the live session
    assert second.login(skipDup="Y")["_error_code"] == "CD001"
    assert second.raw("MDCSTAT04601").status_code == 200
    kicked = first.raw("MDCSTAT04601")
    assert kicked.status_code == 400 and kicked.text == "LOGOUT"


def test_session_expires_after_idle_ttl(srv):
    k = Krx(srv)
    k.login()
    sid = k.http.cookies["JSESSIONID"]
    srv.krx.sessions[sid]["last"] -= srv.config.krx_session_ttl + 1  # idle for longer than the TTL
    assert k.raw("MDCSTAT04601").text == "LOGOUT"
    assert Krx(srv, k.user).login()["_error_code"] == "CD001"  # expired session is not "live": no CD011


def test_unknown_bld_is_empty_output_with_error_note(krx):
    body = krx.raw("MDCSTAT99999").json()
    assert body["output"] == [] and "unknown bld" in body["_sim_error"]


# ---------------------------------------------------------------------------------- formats
def test_all_market_stock_date_formats(krx, srv):
    rows = krx.rows("MDCSTAT01501", mktId="ALL", trdDd="20261120")
    m = srv.market
    assert len(rows) == int(m.listed_mask(m.t_of[NOW.date()]).sum())
    assert {r["MKT_ID"] for r in rows} == {"STK", "KSQ"}
    assert not any(r["ISU_SRT_CD"] in m.etfs.code_to_e for r in rows)  # no ETFs in 01501
    fields = ["ISU_SRT_CD", "ISU_CD", "ISU_ABBRV", "MKT_NM", "SECT_TP_NM", "TDD_CLSPRC", "FLUC_TP_CD", "CMPPREVDD_PRC",
              "FLUC_RT", "TDD_OPNPRC", "TDD_HGPRC", "TDD_LWPRC", "ACC_TRDVOL", "ACC_TRDVAL", "MKTCAP", "LIST_SHRS",
              "MKT_ID"]
    for r in rows:
        assert list(r) == fields
        assert all(isinstance(v, str) for v in r.values())
        for f in ("TDD_CLSPRC", "CMPPREVDD_PRC", "TDD_OPNPRC", "TDD_HGPRC", "TDD_LWPRC", "ACC_TRDVOL", "ACC_TRDVAL",
                  "MKTCAP", "LIST_SHRS"):
            assert COMMA_INT.match(r[f]), (f, r[f])
        assert RATE.match(r["FLUC_RT"])
        lo, hi = num(r["TDD_LWPRC"]), num(r["TDD_HGPRC"])
        assert lo <= num(r["TDD_OPNPRC"]) <= hi and lo <= num(r["TDD_CLSPRC"]) <= hi
        assert num(r["MKTCAP"]) == num(r["TDD_CLSPRC"]) * num(r["LIST_SHRS"])
        chg = num(r["CMPPREVDD_PRC"])
        assert r["FLUC_TP_CD"] == ("1" if chg > 0 else "2" if chg < 0 else "3")
        assert abs(num(r["FLUC_RT"])) < 30
    sam = next(r for r in rows if r["ISU_SRT_CD"] == "005930")
    assert sam["ISU_CD"] == "KR7005930003" and sam["ISU_ABBRV"] == "삼성전자" and sam["MKT_NM"] == "KOSPI"
    pref = next(r for r in rows if r["ISU_SRT_CD"] == "005935")
    assert pref["ISU_CD"] == "KR7005931001"  # preferred shares break the KR7+code pattern
    stk = krx.rows("MDCSTAT01501", mktId="STK", trdDd="20261120")
    assert {r["MKT_ID"] for r in stk} == {"STK"}


def test_holidays_are_dashed_and_absent_from_index_history(krx):
    for day in ("20261114", "20261009", "20260603"):  # Saturday, 한글날 (XKRX holiday), extra closure
        rows = krx.rows("MDCSTAT01501", mktId="ALL", trdDd=day)
        assert rows, day
        for r in rows:
            assert r["TDD_CLSPRC"] == r["ACC_TRDVOL"] == r["MKTCAP"] == r["FLUC_RT"] == "-"
            assert r["FLUC_TP_CD"] == "3" and COMMA_INT.match(r["LIST_SHRS"])
        etf = krx.rows("MDCSTAT04301", trdDd=day)
        assert etf and all(r["NAV"] == "-" and r["FLUC_TP_CD"] == "0" and r["LIST_SHRS"] != "-" for r in etf)
    hist = krx.rows("MDCSTAT00301", indIdx="1", indIdx2="001", strtDd="20260601", endDd="20260605")
    assert [r["TRD_DD"] for r in hist] == ["2026/06/05", "2026/06/04", "2026/06/02", "2026/06/01"]


def test_not_published_yet_is_empty_and_index_history_has_no_row(krx, srv):
    srv.set_clock(kst(2026, 11, 20, 15, 44), 0.0)
    assert krx.rows("MDCSTAT01501", mktId="ALL", trdDd="20261120") == []
    assert krx.rows("MDCSTAT04301", trdDd="20261120") == []
    hist = krx.rows("MDCSTAT00301", indIdx="1", indIdx2="001", strtDd="20261116", endDd="20261120")
    assert hist[0]["TRD_DD"] == "2026/11/19"
    srv.set_clock(kst(2026, 11, 20, 15, 45), 0.0)
    assert krx.rows("MDCSTAT01501", mktId="ALL", trdDd="20261120")
    assert krx.rows("MDCSTAT00301", indIdx="1", indIdx2="001", strtDd="20261116", endDd="20261120")[0][
        "TRD_DD"] == "2026/11/20"
    # a weekend day is not "closed" (dashed) until its own publication time has passed
    srv.set_clock(kst(2026, 11, 14, 12, 0), 0.0)
    assert krx.rows("MDCSTAT01501", mktId="ALL", trdDd="20261114") == []
    srv.set_clock(kst(2026, 11, 14, 16, 0), 0.0)
    assert krx.rows("MDCSTAT01501", mktId="ALL", trdDd="20261114")[0]["TDD_CLSPRC"] == "-"


def test_aum_zero_until_next_morning(krx, srv):
    def aum(day):
        rows = krx.rows("MDCSTAT04301", trdDd=day)
        return next(r for r in rows if r["ISU_SRT_CD"] == "069500")

    row = aum("20261120")
    assert row["INVSTASST_NETASST_TOTAMT"] == "0"
    assert COMMA_DEC.match(row["NAV"]) and row["ISU_CD"] == "KR7069500007"
    assert aum("20261119")["INVSTASST_NETASST_TOTAMT"] != "0"
    hist = krx.rows("MDCSTAT04501", isuCd="KR7069500007", strtDd="20261116", endDd="20261120")
    assert hist[0]["TRD_DD"] == "2026/11/20" and hist[0]["INVSTASST_NETASST_TOTAMT"] == "0"
    assert hist[1]["INVSTASST_NETASST_TOTAMT"] != "0"
    srv.set_clock(kst(2026, 11, 21, 6, 0), 0.0)
    row = aum("20261120")
    total = num(row["INVSTASST_NETASST_TOTAMT"])
    assert abs(total - num(row["NAV"]) * num(row["LIST_SHRS"])) <= 1


def test_etf_master_fields(krx):
    rows = krx.rows("MDCSTAT04601")
    by = {r["ISU_SRT_CD"]: r for r in rows}
    k200 = by["069500"]
    assert k200["ISU_ABBRV"] == "KODEX 200" and k200["ISU_CD"] == "KR7069500007"
    assert k200["LIST_DD"] == "2002/10/14" and k200["ETF_TOT_FEE"] == "0.150000"
    assert k200["IDX_CALC_INST_NM2"] == "일반" and k200["ETF_OBJ_IDX_NM"] == "코스피 200"
    assert by["122630"]["IDX_CALC_INST_NM2"] == "2X 레버리지"
    assert by["114800"]["IDX_CALC_INST_NM2"] == "1X 인버스"
    assert by["252670"]["IDX_CALC_INST_NM2"] == "2X 인버스"
    assert by["0069M0"]["ISU_CD"] == "KR70069M0006"
    assert by["360750"]["IDX_MKT_CLSS_NM"] == "해외"
    for r in rows:
        assert r["ETF_REPLICA_METHD_TP_CD"] in ("실물(패시브)", "실물(액티브)", "합성(패시브)", "합성(액티브)")
        assert COMMA_INT.match(r["CU_QTY"]) and KDATE.match(r["LIST_DD"])


def test_pdf_weights_and_cu_value(krx, srv):
    m = srv.market
    srv.set_clock(kst(2026, 11, 20, 17, 59), 0.0)
    assert krx.rows("MDCSTAT05001", trdDd="20261120", isuCd="KR7069500007") == []  # PDF at 18:00
    srv.set_clock(NOW, 0.0)
    for isin in ("KR7069500007", "KR7360750004"):
        rows = krx.rows("MDCSTAT05001", trdDd="20261120", isuCd=isin)
        e = m.etfs.isin_to_e[isin]
        nav = float(m.etfs.nav[e, m.t_of[NOW.date()]])
        cu_value = nav * int(m.etfs.cu[e])
        assert abs(sum(num(r["COMPST_RTO"]) for r in rows) - 100) < 0.2
        assert abs(sum(num(r["COMPST_AMT"]) for r in rows) - cu_value) < len(rows)
        cash = rows[-1]
        assert cash["COMPST_ISU_CD"] == "KRD010010001" and cash["COMPST_ISU_CU1_SHRS"] == "-"
    k200 = krx.rows("MDCSTAT05001", trdDd="20261120", isuCd="KR7069500007")
    stock_rows = [r for r in k200 if r["SECUGRP_ID"] == "ST"]
    assert stock_rows and all(r["COMPST_ISU_CD"] in m.code_to_i for r in stock_rows)
    closes = {r["ISU_SRT_CD"]: num(r["TDD_CLSPRC"]) for r in krx.rows("MDCSTAT01501", mktId="ALL", trdDd="20261120")}
    for r in stock_rows:
        assert num(r["COMPST_AMT"]) == num(r["COMPST_ISU_CU1_SHRS"]) * closes[r["COMPST_ISU_CD"]]
    over = krx.rows("MDCSTAT05001", trdDd="20261120", isuCd="KR7360750004")
    assert all(r["COMPST_ISU_CD"] not in m.code_to_i for r in over)
    inv = krx.rows("MDCSTAT05001", trdDd="20261120", isuCd="KR7114800006")
    assert [r["COMPST_ISU_NM"] for r in inv][-2:] == ["원화예금", "설정현금액"]
    assert any(r["SECUGRP_ID"] == "FU" and num(r["COMPST_ISU_CU1_SHRS"]) < 0 for r in inv)
    assert krx.rows("MDCSTAT05001", trdDd="20261121", isuCd="KR7069500007") == []  # closed day


def test_split_day_change_uses_adjusted_base(krx, srv):
    before = krx.rows("MDCSTAT01501", mktId="STK", trdDd="20180503")
    on = krx.rows("MDCSTAT01501", mktId="STK", trdDd="20180504")
    prior = num(next(r for r in before if r["ISU_SRT_CD"] == "005930")["TDD_CLSPRC"])
    row = next(r for r in on if r["ISU_SRT_CD"] == "005930")
    factor = prior / (num(row["TDD_CLSPRC"]) - num(row["CMPPREVDD_PRC"]))
    assert round(factor) == 50 and abs(factor - 50) < 0.01
    shares_before = num(next(r for r in before if r["ISU_SRT_CD"] == "005930")["LIST_SHRS"])
    assert num(row["LIST_SHRS"]) == shares_before * 50
    assert abs(num(row["FLUC_RT"])) < 30


def test_ranges_newest_first_and_tracking_fields(krx):
    hist = krx.rows("MDCSTAT04501", isuCd="KR7122630007", strtDd="20261001", endDd="20261120")
    dates = [r["TRD_DD"] for r in hist]
    assert dates == sorted(dates, reverse=True) and "2026/10/09" not in dates
    assert {"LST_NAV", "IDX_FLUC_RT"} <= set(hist[0]) and "NAV" not in hist[0]
    te = krx.rows("MDCSTAT05901", isuCd="KR7122630007", strtDd="20261102", endDd="20261120")
    assert {r["TRACE_YD_MULT"] for r in te} == {"2.00"}
    assert len({r["TRACE_ERR_RT"] for r in te}) == 1  # trailing statistic, constant within a month
    div = krx.rows("MDCSTAT06001", isuCd="KR7069500007", strtDd="20261102", endDd="20261120")
    for r in div:
        close, nav = num(r["CLSPRC"]), num(r["LST_NAV"])
        assert r["DIVRG_RT"] == f"{(close - nav) / nav * 100:.2f}"


def test_masters_finders_and_fundamentals(krx, srv):
    master = krx.rows("MDCSTAT01901", mktId="ALL")
    assert any(r["KIND_STKCERT_TP_NM"] == "구형우선주" for r in master)
    listed = {r["short_code"] for r in krx.rows("finder_stkisu", mktsel="ALL", searchText="", typeNo="0")}
    delisted = krx.rows("finder_listdelisu", mktsel="ALL", searchText="", typeNo="0")
    assert delisted and not listed & {r["short_code"] for r in delisted}
    gone = delisted[0]["short_code"]
    d = srv.market.stocks.delist_date[srv.market.code_to_i[gone]]
    on_day = {r["ISU_SRT_CD"] for r in krx.rows("MDCSTAT01501", mktId="ALL", trdDd=d.strftime("%Y%m%d"))}
    assert gone not in on_day
    fund = krx.rows("MDCSTAT03501", mktId="ALL", trdDd="20261120")
    for r in fund:
        if r["EPS"] not in ("-",) and num(r["EPS"]) <= 0:
            assert r["PER"] == "-"
        elif r["PER"] != "-":
            assert abs(num(r["PER"]) - num(r["TDD_CLSPRC"]) / num(r["EPS"])) < 0.01
    sect = krx.rows("MDCSTAT03901", mktId="STK", trdDd="20261120")
    assert {r["IDX_IND_NM"] for r in sect} >= {"전기전자", "운수장비"}
    etfs = krx.rows("finder_secuprodisu", mktsel="ETF", searchText="")
    assert {"full_code", "short_code", "codeName"} == set(etfs[0])
