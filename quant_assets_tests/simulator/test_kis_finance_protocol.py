"""KIS finance endpoints of the simulator over real HTTP: real paths, TR ids, field names and units,
publication lags, consistency with its KRX fundamentals, and the no-data envelope."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from quant_assets_tests.simulator.conftest import kst

BS = ("/uapi/domestic-stock/v1/finance/balance-sheet", "FHKST66430100")
IS = ("/uapi/domestic-stock/v1/finance/income-statement", "FHKST66430200")
FR = ("/uapi/domestic-stock/v1/finance/financial-ratio", "FHKST66430300")
FIELDS = {
    BS: ["stac_yymm", "cras", "fxas", "total_aset", "flow_lblt", "fix_lblt", "total_lblt", "cpfn", "cfp_surp",
         "prfi_surp", "total_cptl"],
    IS: ["stac_yymm", "sale_account", "sale_cost", "sale_totl_prfi", "depr_cost", "sell_mang", "bsop_prti",
         "bsop_non_ernn", "bsop_non_expn", "op_prfi", "spec_prfi", "spec_loss", "thtr_ntin"],
    FR: ["stac_yymm", "grs", "bsop_prfi_inrt", "ntin_inrt", "roe_val", "eps", "sps", "bps", "rsrv_rate", "lblt_rate"],
}
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
CODE = "005930"


def get(kis, endpoint, code=CODE, div="0"):
    path, tr = endpoint
    r = kis.get(path, tr, FID_DIV_CLS_CODE=div, fid_cond_mrkt_div_code="J", fid_input_iscd=code)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def rows(kis, endpoint, code=CODE, div="0") -> dict[str, dict]:
    body = get(kis, endpoint, code, div)
    assert body["rt_cd"] == "0" and body["msg_cd"] == "MCA00000", body
    return {r["stac_yymm"]: r for r in body["output"]}


@pytest.mark.parametrize("endpoint", [BS, IS, FR], ids=["balance-sheet", "income-statement", "financial-ratio"])
@pytest.mark.parametrize("div", ["0", "1"], ids=["annual", "quarterly"])
def test_each_endpoint_answers_real_fields_newest_first(kis, endpoint, div):
    body = get(kis, endpoint, div=div)
    assert body["rt_cd"] == "0"
    out = body["output"]
    assert isinstance(out, list) and out
    periods = [r["stac_yymm"] for r in out]
    assert periods == sorted(periods, reverse=True)
    assert all(re.fullmatch(r"20\d\d(0[1-9]|1[0-2])", p) for p in periods)
    for r in out:
        assert list(r) == FIELDS[endpoint]
        assert all(NUMBER.match(v) for k, v in r.items() if k != "stac_yymm"), r  # no thousands separators
    if div == "0":
        assert {p[4:] for p in periods} == {"12"}          # December year ends
        assert periods[0] == "202512"                        # FY2025 filed by 2026-03-31; FY2026 not yet
    else:
        assert {p[4:] for p in periods} <= {"03", "06", "09", "12"}
        assert periods[0] == "202609"                        # Q3 filed by 2026-11-14 (clock: 2026-11-20)
        assert len(periods) == 20


def test_quarterly_statements_appear_45_days_after_the_quarter(srv, kis):
    srv.set_clock(kst(2026, 11, 13, 23, 0), 0.0)
    assert max(rows(kis, IS, div="1")) == "202606"
    srv.set_clock(kst(2026, 11, 14, 0, 30), 0.0)
    assert max(rows(kis, IS, div="1")) == "202609"
    srv.set_clock(kst(2026, 3, 30, 12, 0), 0.0)
    assert max(rows(kis, IS, div="0")) == "202412"
    srv.set_clock(kst(2026, 3, 31, 12, 0), 0.0)
    assert max(rows(kis, IS, div="0")) == "202512"


def test_amounts_add_up_and_income_is_cumulative_within_the_year(kis):
    bs_a, is_a, is_q, bs_q = rows(kis, BS), rows(kis, IS), rows(kis, IS, div="1"), rows(kis, BS, div="1")
    for r in [*bs_a.values(), *bs_q.values()]:
        assert float(r["total_aset"]) == float(r["total_lblt"]) + float(r["total_cptl"])
        assert float(r["total_aset"]) == float(r["cras"]) + float(r["fxas"])
        assert float(r["total_lblt"]) == float(r["flow_lblt"]) + float(r["fix_lblt"])
        assert r["cfp_surp"] == r["prfi_surp"] == "99.99"  # KIS's "not provided"
    for r in [*is_a.values(), *is_q.values()]:
        assert float(r["sale_totl_prfi"]) == float(r["sale_account"]) - float(r["sale_cost"])
    # The Q4 row of the quarterly answer is the whole year: the annual row, field for field.
    assert is_q["202512"] == is_a["202512"]
    assert bs_q["202512"] == bs_a["202512"]
    # Year-to-date revenue grows through the year (every quarter sells something).
    assert float(is_q["202503"]["sale_account"]) < float(is_q["202506"]["sale_account"]) < float(
        is_q["202509"]["sale_account"]) < float(is_q["202512"]["sale_account"])


def test_ratios_match_the_statements_and_krx_fundamentals(srv, kis, krx):
    m = srv.market
    i = m.code_to_i[CODE]
    fr, bs, inc = rows(kis, FR), rows(kis, BS), rows(kis, IS)
    t_next = m.last_t_on_or_before(dt.date(2025, 12, 31)) + 1          # first trading day after FY2025
    day = m.dates[t_next].strftime("%Y%m%d")
    shares = int(m.shares_at(t_next, [i])[0])
    krx_row = next(r for r in krx.rows("MDCSTAT03501", mktId="ALL", trdDd=day) if r["ISU_SRT_CD"] == CODE)
    r = fr["202512"]
    # BPS of the year-end balance sheet = the BPS KRX shows right after it; equity = BPS x shares.
    assert float(r["bps"]) == float(krx_row["BPS"].replace(",", ""))
    assert float(bs["202512"]["total_cptl"]) == round(float(r["bps"]) * shares / 1e8)
    # EPS = net income (억원 -> KRW) / shares.
    assert float(r["eps"]) == round(float(inc["202512"]["thtr_ntin"]) * 1e8 / shares)
    assert float(r["lblt_rate"]) == pytest.approx(
        float(bs["202512"]["total_lblt"]) / float(bs["202512"]["total_cptl"]) * 100, abs=1e-4)
    growth = float(inc["202512"]["sale_account"]) / float(inc["202412"]["sale_account"]) * 100 - 100
    assert float(r["grs"]) == pytest.approx(growth, abs=1e-4)
    # The amounts are 억원: x 1e8 gives the equity in KRW that KRX's BPS implies.
    equity_krw = int(krx_row["BPS"].replace(",", "")) * shares
    assert float(bs["202512"]["total_cptl"]) * 1e8 == pytest.approx(equity_krw, rel=1e-3)


def test_unknown_code_gets_the_no_data_envelope(kis):
    body = get(kis, BS, code="999990")
    assert body["rt_cd"] == "7" and body["msg_cd"] == "KIOK0560" and "output" not in body


def test_answers_are_deterministic_and_the_virtual_host_agrees(srv, kis):
    from quant_assets_tests.simulator.conftest import Kis

    first = get(kis, FR, div="1")
    assert get(kis, FR, div="1") == first
    vts = Kis(srv.kis_virtual_url)
    path, tr = FR
    r = vts.get(path, tr, FID_DIV_CLS_CODE="1", fid_cond_mrkt_div_code="J", fid_input_iscd=CODE)
    assert r.status_code == 200 and r.json()["output"] == first["output"]


def test_wrong_tr_id_for_a_finance_path_is_refused(kis):
    r = kis.get(BS[0], IS[1], FID_DIV_CLS_CODE="0", fid_cond_mrkt_div_code="J", fid_input_iscd=CODE)
    assert r.status_code == 500 and r.json()["msg_cd"] == "OPSQ0002"
