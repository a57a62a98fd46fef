"""Pure parser tests on payloads shaped like the recorded KRX/KIS responses (reference §1, §2)."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_assets.errors import MarketClosedError, SourceDataError
from quant_assets.resources import parsing as P

FIX = Path(__file__).parent / "fixtures"


def load(name: str):
    return json.loads((FIX / name).read_text(encoding="utf-8"))


# -- scalars --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1,234,567", 1234567.0), ("43,079.14", 43079.14), ("-1,300", -1300.0), ("2.58", 2.58), ("-", None),
     ("", None), (None, None), ("  12 ", 12.0), ("0", 0.0)],
)
def test_parse_number(raw, expected):
    assert P.parse_number(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "1.2.3", "12,3a", "nan", "inf"])
def test_parse_number_garbage(raw):
    with pytest.raises(ValueError):
        P.parse_number(raw)


@pytest.mark.parametrize(
    ("text", "mult"),
    [("일반", 1.0), ("2X 레버리지", 2.0), ("2X 레버리지 (2)", 2.0), ("1X 인버스", -1.0), ("2X 인버스", -2.0),
     ("레버리지", 2.0), ("인버스", -1.0), ("3X레버리지", 3.0)],
)
def test_parse_multiple(text, mult):
    assert P.parse_multiple(text) == mult


def test_parse_multiple_unknown_is_nan():
    assert np.isnan(P.parse_multiple("")) and np.isnan(P.parse_multiple("???"))


def test_codes_and_dates():
    assert P.parse_code("0069M0") == "0069M0"
    assert P.parse_code("5930") == "005930"
    with pytest.raises(ValueError):
        P.parse_code("KR7005930003")
    assert P.parse_date("2021/01/08") == date(2021, 1, 8)
    assert P.parse_date("20210108") == date(2021, 1, 8)
    assert P.yyyymmdd(date(2024, 1, 5)) == "20240105"
    assert P.yyyymmdd("2024-01-05") == "20240105"


def test_date_chunks_730():
    chunks = P.date_chunks(date(2015, 1, 1), date(2020, 12, 31))
    assert chunks[0][0] == date(2015, 1, 1) and chunks[-1][1] == date(2020, 12, 31)
    assert all((e - s).days <= 729 for s, e in chunks)
    for (_, e1), (s2, _) in zip(chunks, chunks[1:], strict=False):
        assert (s2 - e1).days == 1
    assert len(chunks) == 4  # 2,192 days


# -- KRX ------------------------------------------------------------------------------------


def test_stock_daily_samsung_row():
    df = P.parse_stock_daily(load("krx_01501_20210122.json"), "20210122")
    assert list(df.columns) == [
        "date", "ticker", "isin", "name", "market", "open", "high", "low", "close", "change", "change_pct",
        "volume", "value", "market_cap", "listed_shares",
    ]
    s = df.set_index("ticker").loc["005930"]
    assert s["date"] == date(2021, 1, 22)
    assert s["close"] == 86800.0 and s["change"] == -1300.0 and s["change_pct"] == -1.48
    assert s["market_cap"] == 518_177_125_340_000
    assert s["listed_shares"] == 5_969_782_550
    assert s["market"] == "KOSPI" and s["isin"] == "KR7005930003"
    assert df.set_index("ticker").loc["068760", "market"] == "KOSDAQ"
    assert df["close"].dtype == np.float64
    assert str(df["volume"].dtype) == "Int64" and str(df["market_cap"].dtype) == "Int64"
    # preferred share: ISIN is not derivable from the code, kept as sent
    assert df.set_index("ticker").loc["001465", "isin"] == "KR7001461003"
    # no trade that day: open "0" kept as 0 (value checks are pandera's job)
    assert df.set_index("ticker").loc["001465", "open"] == 0.0
    assert df["ticker"].is_monotonic_increasing


def test_stock_daily_holiday_raises_market_closed():
    with pytest.raises(MarketClosedError) as ei:
        P.parse_stock_daily(load("krx_01501_holiday.json"), "20210212")
    assert ei.value.date == "20210212" and ei.value.dataset == "MDCSTAT01501"


def test_stock_daily_partial_dash_kept_as_nan():
    payload = load("krx_01501_20210122.json")
    payload["OutBlock_1"][0]["TDD_CLSPRC"] = "-"
    df = P.parse_stock_daily(payload, "20210122")
    assert len(df) == 4  # row not dropped
    assert np.isnan(df.set_index("ticker").loc["005930", "close"])


def test_stock_daily_empty_list_is_data_error():
    with pytest.raises(SourceDataError) as ei:
        P.parse_stock_daily({"OutBlock_1": [], "CURRENT_DATETIME": "x"}, "20240105")
    assert "empty" in str(ei.value) and "20240105" in str(ei.value)


def test_missing_data_key():
    with pytest.raises(SourceDataError) as ei:
        P.parse_stock_daily({"output": []}, "20240105")
    e = ei.value
    assert e.dataset == "MDCSTAT01501" and e.date == "20240105" and e.field == "OutBlock_1"


def test_row_missing_field_names_ticker_and_field():
    payload = load("krx_01501_20210122.json")
    del payload["OutBlock_1"][2]["TDD_HGPRC"]
    with pytest.raises(SourceDataError) as ei:
        P.parse_stock_daily(payload, "20210122")
    e = ei.value
    assert (e.ticker, e.field, e.date) == ("035720", "TDD_HGPRC", "20210122")
    assert "035720" in str(e) and "TDD_HGPRC" in str(e)


def test_garbage_number_names_ticker_and_field():
    payload = load("krx_01501_20210122.json")
    payload["OutBlock_1"][0]["ACC_TRDVOL"] = "12x45"
    with pytest.raises(SourceDataError) as ei:
        P.parse_stock_daily(payload, "20210122")
    assert (ei.value.ticker, ei.value.field) == ("005930", "ACC_TRDVOL")


def test_decode_json_truncated_names_dataset_and_date():
    text = json.dumps(load("krx_01501_20210122.json"))[:150]
    with pytest.raises(SourceDataError) as ei:
        P.decode_json(text, "MDCSTAT01501", "20210122")
    assert "MDCSTAT01501" in str(ei.value) and "20210122" in str(ei.value)


def test_etf_daily_kodex200_and_unpublished_aum():
    df = P.parse_etf_daily(load("krx_04301_20210325.json"), "20210325")
    for col in ["date", "ticker", "isin", "name", "close", "change", "change_pct", "open", "high", "low", "volume",
                "value", "nav", "market_cap", "aum", "aum_published", "listed_units", "index_name", "index_close",
                "index_change", "index_change_pct"]:
        assert col in df.columns, col
    k = df.set_index("ticker").loc["069500"]
    assert k["close"] == 41835.0 and k["nav"] == 41878.03
    assert k["market_cap"] == 771_855_750_000 == 41835 * 18_450_000
    assert k["aum"] == 772_649_656_830 and bool(k["aum_published"])
    assert k["index_close"] == 403.05 and k["index_change_pct"] == -0.64
    q = df.set_index("ticker").loc["0069M0"]  # alphanumeric code kept as a string
    assert pd.isna(q["aum"]) and not q["aum_published"]
    assert np.isnan(q["index_close"])
    assert df.attrs["aum_published"] is True


def test_etf_daily_without_isin_field_2021_shape():
    payload = load("krx_04301_20210325.json")
    for r in payload["output"]:
        del r["ISU_CD"]
    df = P.parse_etf_daily(payload, "20210325")
    assert df["isin"].isna().all()


def test_etf_master_multiples_and_types():
    df = P.parse_etf_master(load("krx_04601.json"))
    m = df.set_index("ticker")["multiple"].to_dict()
    assert m == {"069500": 1.0, "114800": -1.0, "122630": 2.0, "252670": -2.0}
    k = df.set_index("ticker").loc["069500"]
    assert k["listing_date"] == date(2002, 10, 14)
    assert k["total_fee_pct"] == 0.15 and k["cu_qty"] == 50000 and k["listed_units"] == 188_600_000
    assert k["leverage_type"] == "일반" and k["replication"] == "실물(패시브)" and k["index_provider"] == "KRX"
    assert list(df.columns[:4]) == ["ticker", "isin", "name", "full_name"]


def test_etf_pdf_inverse_with_futures_and_cash():
    df = P.parse_etf_pdf(load("krx_05001_114800_20210402.json"), "20210402", isin="KR7114800005")
    assert len(df) == 4  # cash and futures lines kept
    assert list(df.columns) == ["date", "constituent_code", "constituent_isin", "market_id", "security_group", "name",
                                "shares_per_cu", "valuation_amount", "market_value", "weight_pct"]
    fut = df.set_index("constituent_code").loc["KR4101R60000"]
    assert fut["shares_per_cu"] == -3.58 and np.isnan(fut["valuation_amount"]) and np.isnan(fut["weight_pct"])
    cash = df.set_index("constituent_code").loc["CASH00000001"]
    assert cash["market_value"] == 1_215_980_000 and np.isnan(cash["shares_per_cu"]) and cash["market_id"] is None
    assert df.set_index("constituent_code").loc["069500", "shares_per_cu"] == -324.0


def test_etf_pdf_plus200():
    df = P.parse_etf_pdf(load("krx_05001_152100_20210402.json"), "20210402")
    s = df.set_index("constituent_code").loc["005930"]
    assert s["shares_per_cu"] == 8140.0 and s["weight_pct"] == 31.74
    assert s["valuation_amount"] == 8140 * 82900 and s["market_value"] == 8140 * 84800


def test_etf_pdf_empty_is_error():
    with pytest.raises(SourceDataError):
        P.parse_etf_pdf({"output": []}, "20210402", isin="KR7152100004")


def test_etf_price_history_sorted_ascending_lst_nav():
    df = P.parse_etf_price_history(load("krx_04501_069500.json"), isin="KR7069500007")
    assert list(df["date"]) == [date(2021, 1, 7), date(2021, 1, 8)]
    last = df.iloc[-1]
    assert last["close"] == 43545 and last["nav"] == 43651.13 and last["index_change_pct"] == 3.86
    assert pd.isna(last["aum"]) and not last["aum_published"]
    assert df.iloc[0]["aum"] == 6_196_278_518_911


def test_range_row_error_names_isin_and_row_date():
    payload = load("krx_04501_069500.json")
    payload["output"][1]["LST_NAV"] = "??"
    with pytest.raises(SourceDataError) as ei:
        P.parse_etf_price_history(payload, isin="KR7069500007", date="20210101-20210108")
    assert (ei.value.ticker, ei.value.date, ei.value.field) == ("KR7069500007", "2021/01/07", "LST_NAV")


def test_tracking_error_premium_and_index():
    te = P.parse_etf_tracking_error({"output": [
        {"TRD_DD": "2021/01/05", "LST_NAV": "40,111.10", "NAV_CHG_RT": "0.51", "OBJ_STKPRC_IDX": "398.11",
         "IDX_CHG_RTO": "0.50", "TRACE_YD_MULT": "1.0", "TRACE_ERR_RT": "0.44"},
        {"TRD_DD": "2021/01/04", "LST_NAV": "39,907.00", "NAV_CHG_RT": "2.41", "OBJ_STKPRC_IDX": "396.12",
         "IDX_CHG_RTO": "2.43", "TRACE_YD_MULT": "1.0", "TRACE_ERR_RT": "0.44"}]})
    assert list(te.columns) == ["date", "nav", "nav_change_pct", "index_close", "index_change_pct", "multiple",
                                "tracking_error_pct"]
    assert te["date"].is_monotonic_increasing and te["tracking_error_pct"].tolist() == [0.44, 0.44]
    pd_ = P.parse_etf_premium_discount({"output": [
        {"TRD_DD": "2021/01/04", "FLUC_TP_CD": "1", "CLSPRC": "37,410", "LST_NAV": "37,477.27", "DIVRG_RT": "-0.18"}]})
    r = pd_.iloc[0]
    assert round((r["close"] - r["nav"]) / r["nav"] * 100, 2) == r["premium_discount_pct"] == -0.18
    ix = P.parse_index_history({"output": [
        {"TRD_DD": "2024/01/05", "CLSPRC_IDX": "2,578.08", "FLUC_TP_CD": "2", "PRV_DD_CMPR": "-8.94", "UPDN_RATE": "-0.35",
         "OPNPRC_IDX": "2,576.21", "HGPRC_IDX": "2,585.82", "LWPRC_IDX": "2,563.60", "ACC_TRDVOL": "431,245,123",
         "ACC_TRDVAL": "8,123,456,789,000", "MKTCAP": "2,078,123,456,789,000"},
        {"TRD_DD": "2024/01/04", "CLSPRC_IDX": "2,587.02", "FLUC_TP_CD": "2", "PRV_DD_CMPR": "-20.29", "UPDN_RATE": "-0.78",
         "OPNPRC_IDX": "2,592.38", "HGPRC_IDX": "2,602.64", "LWPRC_IDX": "2,580.50", "ACC_TRDVOL": "500,245,123",
         "ACC_TRDVAL": "9,123,456,789,000", "MKTCAP": "2,085,123,456,789,000"}]})
    assert ix["date"].tolist() == [date(2024, 1, 4), date(2024, 1, 5)] and ix["close"].iloc[-1] == 2578.08


def test_stock_list_and_master_and_fundamentals_and_sector():
    sl = P.parse_stock_list({"block1": [
        {"full_code": "KR7005930003", "short_code": "005930", "codeName": "삼성전자", "marketCode": "STK",
         "marketName": "유가증권", "marketEngName": "KOSPI", "ord1": "", "ord2": "1"}]})
    assert sl.iloc[0].to_dict() == {"ticker": "005930", "isin": "KR7005930003", "name": "삼성전자",
                                    "market_code": "STK", "market_name": "유가증권"}
    sm = P.parse_stock_master({"OutBlock_1": [
        {"ISU_CD": "KR7005930003", "ISU_SRT_CD": "005930", "ISU_NM": "삼성전자보통주", "ISU_ABBRV": "삼성전자",
         "ISU_ENG_NM": "SamsungElectronics", "LIST_DD": "1975/06/11", "MKT_TP_NM": "KOSPI", "SECUGRP_NM": "주권",
         "SECT_TP_NM": "", "KIND_STKCERT_TP_NM": "보통주", "PARVAL": "100", "LIST_SHRS": "5,969,782,550"}]})
    r = sm.iloc[0]
    assert r["listing_date"] == date(1975, 6, 11) and r["par_value"] == 100.0 and r["section"] is None
    assert r["listed_shares"] == 5_969_782_550 and r["stock_kind"] == "보통주"
    fu = P.parse_stock_fundamentals({"output": [
        {"ISU_SRT_CD": "005930", "ISU_CD": "KR7005930003", "MKT_ID": "STK", "ISU_ABBRV": "삼성전자",
         "ISU_ABBRV_STR": "<em>삼성전자</em>", "TDD_CLSPRC": "86,800", "FLUC_TP_CD": "2", "CMPPREVDD_PRC": "-1,300",
         "FLUC_RT": "-1.48", "EPS": "3,841", "PER": "22.60", "FWD_EPS": "-", "FWD_PER": "-", "BPS": "37,528",
         "PBR": "2.31", "DPS": "1,416", "DVD_YLD": "1.63"},
        {"ISU_SRT_CD": "035720", "ISU_CD": "KR7035720002", "MKT_ID": "STK", "ISU_ABBRV": "카카오",
         "ISU_ABBRV_STR": "", "TDD_CLSPRC": "473,000", "FLUC_TP_CD": "1", "CMPPREVDD_PRC": "9,500",
         "FLUC_RT": "2.05", "EPS": "-", "PER": "-", "FWD_EPS": "-", "FWD_PER": "-", "BPS": "50,000",
         "PBR": "9.46", "DPS": "127", "DVD_YLD": "0.03"}]}, "20210122")
    assert {"date", "ticker", "eps", "per", "bps", "pbr", "dps", "dividend_yield"} <= set(fu.columns)
    assert np.isnan(fu.set_index("ticker").loc["035720", "per"])
    assert fu.set_index("ticker").loc["005930", "per"] == 22.6
    sc = P.parse_sector_classification({"block1": [
        {"ISU_SRT_CD": "005930", "ISU_ABBRV": "삼성전자", "IDX_IND_NM": "전기전자", "TDD_CLSPRC": "86,800",
         "CMPPREVDD_PRC": "-1,300", "FLUC_RT": "-1.48", "MKTCAP": "518,177,125,340,000", "FLUC_TP_CD": "2"}]}, "20210122")
    assert sc.iloc[0]["sector"] == "전기전자" and sc.iloc[0]["market_cap"] == 518_177_125_340_000


# -- KIS ------------------------------------------------------------------------------------


def test_kis_daily_chart_page():
    df = P.parse_kis_daily_chart(load("kis_daily_chart_005930.json"), "005930")
    assert len(df) == 2  # the empty {} row is dropped
    assert df["date"].tolist() == [date(2022, 5, 9), date(2022, 5, 10)]
    r = df.iloc[0]
    assert (r["open"], r["high"], r["low"], r["close"]) == (107000, 109000, 106500, 107500)
    assert r["volume"] == 2203472 and r["value"] == 237914727500 and r["lock_code"] == "00" and r["split_ratio"] == 0.0


def test_kis_daily_chart_unknown_symbol():
    payload = load("kis_daily_chart_005930.json")
    payload["output1"]["stck_prpr"] = "0"
    payload["output2"] = [{}]
    with pytest.raises(SourceDataError) as ei:
        P.parse_kis_daily_chart(payload, "999999")
    assert ei.value.ticker == "999999" and "unknown symbol" in str(ei.value)


def test_kis_daily_chart_garbage_names_date_and_field():
    payload = copy.deepcopy(load("kis_daily_chart_005930.json"))
    payload["output2"][1]["stck_hgpr"] = "1O9000"
    with pytest.raises(SourceDataError) as ei:
        P.parse_kis_daily_chart(payload, "005930")
    assert (ei.value.ticker, ei.value.date, ei.value.field) == ("005930", "20220509", "stck_hgpr")


def test_kis_components_shares_per_cu_inferred():
    df = P.parse_kis_etf_components(load("kis_components_069500.json"), "069500")
    s = df.set_index("code").loc["005930"]
    assert s["shares_per_cu"] == 7184.0  # 601,300,800 / 83,700
    assert s["weight_pct"] == 32.65 and s["component_value_krw"] == 601_300_800
    assert s["market_cap_krw"] == 4996708 * 1e8
    assert df.set_index("code").loc["000660", "shares_per_cu"] == 1047.0


def test_kis_etf_price_units():
    payload = {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다.", "output": {
        "stck_prpr": "36090", "prdy_vrss": "-365", "prdy_vrss_sign": "5", "prdy_ctrt": "-1.00", "acml_vol": "3932184",
        "stck_prdy_clpr": "36455", "stck_oprc": "36300", "stck_hgpr": "36400", "stck_lwpr": "36050",
        "prdy_last_nav": "36500.41", "nav": "36127.30", "nav_prdy_vrss": "-373.11", "nav_prdy_ctrt": "-1.02",
        "trc_errt": "0.53", "dprt": "-0.10", "nmix_ctrt": "-1.03", "etf_crcl_stcn": "191550000",
        "lstn_stcn": "191550000", "etf_ntas_ttam": "69027", "etf_trc_ert_mltp": "1.00",
        "etf_cu_unit_scrt_cnt": "50000", "etf_cnfg_issu_cnt": "201", "mbcr_name": "삼성자산운용(ETF)",
        "stck_lstn_date": "20021014", "etf_rprs_bstp_kor_isnm": "KOSPI200"}}
    df = P.parse_kis_etf_price(payload, "069500")
    r = df.iloc[0]
    assert r["aum_krw"] == 69027 * 1e8 and r["nav"] == 36127.30 and r["prev_nav"] == 36500.41
    assert r["tracking_error_pct"] == 0.53 and r["premium_discount_pct"] == -0.10 and r["multiple"] == 1.0
    assert r["cu_units"] == 50000 and r["component_count"] == 201 and r["listing_date"] == date(2002, 10, 14)
    payload["output"]["etf_trc_ert_mltp"] = "0.00"  # "not provided" for some synthetic inverse ETFs
    assert np.isnan(P.parse_kis_etf_price(payload, "069500").iloc[0]["multiple"])


def test_kis_nav_daily_recomputes_premium():
    df = P.parse_kis_nav_daily({"rt_cd": "0", "output": [
        {"stck_bsop_date": "20240129", "stck_clpr": "36090", "prdy_vrss": "100", "prdy_vrss_sign": "2",
         "prdy_ctrt": "0.28", "acml_vol": "100", "cntg_vol": "", "dprt": "-0.12", "nav_vrss_prpr": "-40.00",
         "nav": "36127.30", "nav_prdy_vrss_sign": "2", "nav_prdy_vrss": "20.00", "nav_prdy_ctrt": "0.05"}]}, "069500")
    r = df.iloc[0]
    assert r["premium_discount_pct_kis"] == -0.12
    assert r["premium_discount_pct"] == pytest.approx((36090 - 36127.30) / 36127.30 * 100)
