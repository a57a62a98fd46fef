"""KISClient finance methods against the simulator over real HTTP: typed frames in KRW, the
quarterly year-to-date figures turned into quarters, and bad payloads named precisely."""

from __future__ import annotations

import pandas as pd
import pytest
import requests

from quant_assets.errors import SourceDataError, SourceError
from quant_assets.resources import kis_finance as KF

CODE = "005930"  # simulated range 2023-01-02..2024-06-28: FY2023 and 2023Q1..2024Q1 are published


def raw(client, tr_id: str, period: str, code: str = CODE) -> dict[str, dict]:
    """The same request the client sends, answered as plain JSON (to compare units against)."""
    headers = {"authorization": f"Bearer {client.access_token()}", "appkey": client.app_key,
               "appsecret": client.app_secret, "tr_id": tr_id, "custtype": "P"}
    params = {"FID_DIV_CLS_CODE": KF.DIV_CLS_CODE[period], "fid_cond_mrkt_div_code": "J", "fid_input_iscd": code}
    body = requests.get(client.url + KF.PATHS[tr_id], params=params, headers=headers, timeout=5).json()
    return {r["stac_yymm"]: r for r in body["output"]}


@pytest.mark.parametrize("tr_id", KF.ENDPOINTS)
@pytest.mark.parametrize("period", [KF.ANNUAL, KF.QUARTERLY])
def test_each_endpoint_is_a_typed_frame_in_krw(make_kis, tr_id, period):
    client = make_kis()
    frame = client.financial_statement(tr_id, CODE, period)
    fields = KF.FIELDS[tr_id]
    assert list(frame.columns) == ["code", "period_type", "stac_yymm", "period_end", *(f.name for f in fields)]
    expected = ["202312"] if period == KF.ANNUAL else ["202403", "202312", "202309", "202306", "202303"]
    assert list(frame["stac_yymm"]) == expected
    assert set(frame["period_type"]) == {period} and set(frame["code"]) == {CODE}
    assert all(d.is_month_end for d in frame["period_end"])
    source = raw(client, tr_id, period)
    for f in fields:
        got = frame.set_index("stac_yymm")[f.name]
        if f.unit == "eok":
            assert str(got.dtype) == "Int64"
            for stac, row in source.items():  # 억원 -> KRW, exact
                assert got[stac] == round(float(row[f.source]) * 100_000_000), (f.source, stac)
        else:
            assert got.dtype == "float64"
            for stac, row in source.items():
                assert got[stac] == float(row[f.source]), (f.source, stac)


def test_named_helpers_and_statements_send_one_request_per_endpoint_and_period(make_kis, rsim):
    client = make_kis()
    client.access_token()
    before = len(rsim.request_log)
    got = client.statements(CODE)
    finance = [e for e in list(rsim.request_log)[before:] if "/finance/" in str(e)]
    assert len(finance) == 6
    assert set(got) == {KF.ANNUAL, KF.QUARTERLY} and all(set(v) == set(KF.ENDPOINTS) for v in got.values())
    pd.testing.assert_frame_equal(client.balance_sheet(CODE), got[KF.ANNUAL][KF.BALANCE_SHEET])
    pd.testing.assert_frame_equal(client.income_statement(CODE, "quarterly"), got[KF.QUARTERLY][KF.INCOME_STATEMENT])
    pd.testing.assert_frame_equal(client.financial_ratio(CODE), got[KF.ANNUAL][KF.FINANCIAL_RATIO])


def test_statement_rows_turn_year_to_date_figures_into_quarters(make_kis):
    client = make_kis()
    got = client.statements(CODE)
    rows, stats = KF.statement_rows(got[KF.ANNUAL], got[KF.QUARTERLY])
    assert list(rows.columns) == KF.COLUMNS
    assert stats == {"periods_not_in_all_endpoints": 0, "quarters_without_predecessor": 0}
    q = rows[rows["period_type"] == "QUARTERLY"].set_index("date")
    a = rows[rows["period_type"] == "ANNUAL"].set_index("date")
    ytd = got[KF.QUARTERLY][KF.INCOME_STATEMENT].set_index("stac_yymm")
    ratio = got[KF.QUARTERLY][KF.FINANCIAL_RATIO].set_index("stac_yymm")
    d = pd.Timestamp
    assert list(q.index) == [d("2023-03-31"), d("2023-06-30"), d("2023-09-30"), d("2023-12-31"), d("2024-03-31")]
    assert list(q["fiscal_quarter"]) == [1, 2, 3, 4, 1]
    assert list(q["fiscal_year"]) == [2023, 2023, 2023, 2023, 2024]
    assert a.index.tolist() == [d("2023-12-31")] and a["fiscal_year"].tolist() == [2023]
    assert a["fiscal_quarter"].isna().all()
    # Q1 is its own year-to-date; Q2 = H1 - Q1; Q4 = full year - 9 months.
    assert q.loc[d("2023-03-31"), "revenue"] == ytd.loc["202303", "revenue"]
    assert q.loc[d("2023-06-30"), "revenue"] == ytd.loc["202306", "revenue"] - ytd.loc["202303", "revenue"]
    assert q.loc[d("2023-12-31"), "net_income"] == ytd.loc["202312", "net_income"] - ytd.loc["202309", "net_income"]
    assert q.loc[d("2023-06-30"), "eps"] == pytest.approx(ratio.loc["202306", "eps"] - ratio.loc["202303", "eps"])
    for col in KF.FLOWS:  # the four quarters add up to the annual statement
        assert q.loc[d("2023-03-31"):d("2023-12-31"), col].sum() == a.loc[d("2023-12-31"), col], col
    # Positions and ratios are as reported for the period end.
    bs = got[KF.QUARTERLY][KF.BALANCE_SHEET].set_index("stac_yymm")
    assert q.loc[d("2023-09-30"), "total_assets"] == bs.loc["202309", "total_assets"]
    assert q.loc[d("2023-09-30"), "debt_ratio"] == ratio.loc["202309", "debt_ratio_pct"]
    assert q.loc[d("2023-09-30"), "bps"] == ratio.loc["202309", "bps"]
    assert set(rows["currency"]) == {"KRW"} and set(rows["data_source"]) == {"KIS"} and set(rows["region"]) == {"KR"}


def corrupt(rsim, tr_id: str, kind: str, field: str) -> None:
    rsim.set_faults({"rules": [{"source": "kis", "tr_id": tr_id, "fault": "corrupt", "kind": kind, "field": field}]})


@pytest.mark.parametrize(("tr_id", "kind", "field", "words"), [
    (KF.INCOME_STATEMENT, "dash_price", "thtr_ntin", "is not a number: '-'"),
    (KF.BALANCE_SHEET, "missing_field", "total_aset", "field total_aset missing"),
    (KF.FINANCIAL_RATIO, "dash_price", "stac_yymm", "is not a period YYYYMM"),
    (KF.FINANCIAL_RATIO, "negative_price", "stac_yymm", "is not a period YYYYMM"),
], ids=["non-numeric", "missing-field", "dashed-period", "bad-period"])
def test_bad_payload_names_dataset_ticker_period_and_field(make_kis, rsim, tr_id, kind, field, words):
    client = make_kis()
    corrupt(rsim, tr_id, kind, field)
    with pytest.raises(SourceDataError) as exc:
        client.financial_statement(tr_id, CODE, "QUARTERLY")
    err = exc.value
    assert (err.ticker, err.field, err.region) == (CODE, field, "KR")
    assert tr_id in err.dataset and words in str(err) and "QUARTERLY" in str(err)
    if field != "stac_yymm":
        assert err.date == "202403"  # the period whose row is bad (the newest: the rule hits row 0)


def test_unknown_code_is_a_source_error_with_kis_message(make_kis):
    with pytest.raises(SourceError, match="KIOK0560"):
        make_kis().balance_sheet("999990")


def test_arguments_are_checked_before_any_request(make_kis):
    client = make_kis()
    with pytest.raises(ValueError, match="ANNUAL or QUARTERLY"):
        client.balance_sheet(CODE, "monthly")
    with pytest.raises(ValueError, match="finance TR"):
        client.financial_statement("FHKST01010100", CODE)


# -- the parser on hand-written payloads (shapes the simulator never sends) ----------------------

def payload(**row) -> dict:
    base = {"stac_yymm": "202312", "cras": "10", "fxas": "20", "total_aset": "30", "flow_lblt": "5",
            "fix_lblt": "5", "total_lblt": "10", "cpfn": "1", "total_cptl": "20"}
    return {"rt_cd": "0", "output": [{**base, **row}]}


def test_empty_detail_field_is_not_given_but_empty_core_field_is_an_error():
    frame = KF.parse_statement(payload(cras="", fxas=""), KF.BALANCE_SHEET, CODE, KF.ANNUAL)
    assert frame["current_assets"].isna().all() and frame["total_assets"].iloc[0] == 30 * 100_000_000
    with pytest.raises(SourceDataError, match="total_cptl is empty") as exc:
        KF.parse_statement(payload(total_cptl=" "), KF.BALANCE_SHEET, CODE, KF.ANNUAL)
    assert exc.value.field == "total_cptl" and exc.value.date == "202312"


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"rt_cd": "0"}, "output", "'output' missing"),
    ({"rt_cd": "0", "output": "x"}, "output", "not a list"),
    ({"rt_cd": "0", "output": [payload()["output"][0], payload()["output"][0]]}, "stac_yymm", "appears twice"),
    (payload(stac_yymm="2023-12"), "stac_yymm", "not a period YYYYMM"),
    (payload(stac_yymm="202313"), "stac_yymm", "not a period YYYYMM"),
    (payload(total_aset="1,234"), "total_aset", "not a number"),
    (payload(total_aset="nan"), "total_aset", "not a number"),
    (payload(total_aset=None), "total_aset", "is null"),
], ids=["no-output", "output-not-list", "duplicate", "dashed", "month-13", "comma", "nan", "null"])
def test_malformed_payloads_are_refused(body, field, words):
    with pytest.raises(SourceDataError, match=words) as exc:
        KF.parse_statement(body, KF.BALANCE_SHEET, CODE, KF.ANNUAL)
    assert exc.value.field == field and exc.value.ticker == CODE


def test_a_single_object_output_and_an_empty_list_are_accepted():
    one = payload()
    one["output"] = one["output"][0]
    assert len(KF.parse_statement(one, KF.BALANCE_SHEET, CODE, KF.ANNUAL)) == 1
    empty = KF.parse_statement({"rt_cd": "0", "output": []}, KF.BALANCE_SHEET, CODE, KF.ANNUAL)
    assert empty.empty and "total_assets" in empty.columns
