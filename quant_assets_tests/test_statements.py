"""The financial_statements asset end to end: simulator KIS over HTTP -> KISClient -> pandera ->
`ticker_fundamentals` ANNUAL / QUARTERLY rows in the embedded PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time

import dagster as dg
import pandas as pd
import pytest
import requests

from quant_assets.assets import statements
from quant_assets.calendar import now_kst
from quant_assets.resources import kis_finance as KF
from quant_assets.resources.kis import KISClient

ROWS = "SELECT * FROM ticker_fundamentals WHERE data_source = 'KIS' ORDER BY ticker, period_type, date"


def window_keys() -> list[str]:
    """The four quarters of the newest fiscal year whose annual statement is published (KIS: 90 days
    after the year end): every statement in them is out."""
    now = now_kst()
    year = now.year - 1 if now.date() >= dt.date(now.year, 3, 31) + dt.timedelta(days=1) else now.year - 2
    keys = statements.statement_quarters.get_partition_keys(current_time=now)
    return [k for k in keys if k.startswith(f"{year}-")]


def run(sim, warehouse, keys, extra=(), **kw):
    resources = {"kis": KISClient(base_url=sim.kis_url), "warehouse": warehouse}
    tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    return dg.materialize([statements.financial_statements, *extra], resources=resources, tags=tags,
                          raise_on_error=False, **kw)


def pick_stocks(sim, start: dt.date) -> tuple[list[str], str, str]:
    """Samsung and three other long-listed stocks, one of which the warehouse records as delisted
    after the window opened (still fetched), plus one it records as delisted before (not fetched)."""
    st = sim.market.stocks
    others = [c for c, lt, d in zip(st.code, st.list_t, st.delist_date, strict=True)
              if lt == 0 and d is None and c != "005930"][:4]
    codes = ["005930", *others[:3]]
    return codes, others[3], codes[-1]


def error_text(result) -> str:
    data = result.failure_data_for_node("financial_statements")
    parts, err = [str(data.user_failure_data.description)] if data.user_failure_data else [], data.error
    while err is not None:
        parts.append(err.message)
        err = err.cause
    return "\n".join(parts)


def seed_tickers(warehouse, listed, gone_early=None, gone_late=None, start=None):
    rows = [(c, True, None) for c in listed]
    if gone_early:
        rows.append((gone_early, False, start - dt.timedelta(days=30)))
    if gone_late:
        rows = [(c, a, d) if c != gone_late else (c, False, start + dt.timedelta(days=20)) for c, a, d in rows]
    with warehouse.connect() as conn:
        for code, active, delisted in rows:
            conn.execute("INSERT INTO tickers (ticker, region, name, exchange, asset_type, is_active, delisting_date, "
                         "currency) VALUES (%s, 'KR', %s, 'KOSPI', 'STOCK', %s, %s, 'KRW')",
                         (code, f"stock {code}", active, delisted))


def raw(sim, tr_id: str, period: str, code: str) -> dict[str, dict]:
    client = KISClient(base_url=sim.kis_url)
    headers = {"authorization": f"Bearer {client.access_token()}", "appkey": "demo-app-key",
               "appsecret": "demo-app-secret", "tr_id": tr_id, "custtype": "P"}
    params = {"FID_DIV_CLS_CODE": KF.DIV_CLS_CODE[period], "fid_cond_mrkt_div_code": "J", "fid_input_iscd": code}
    for _ in range(20):   # an independent path without our limiter: wait out KIS's 1-second window itself
        body = requests.get(sim.kis_url + KF.PATHS[tr_id], params=params, headers=headers, timeout=5).json()
        if body.get("msg_cd") != "EGW00201":
            break
        time.sleep(0.25)
    assert "output" in body, body
    return {r["stac_yymm"]: r for r in body["output"]}


def test_ranged_run_writes_annual_and_quarterly_rows_then_rerun_is_identical(sim, warehouse):
    keys = window_keys()
    start = dt.date.fromisoformat(keys[0])
    end = dt.date.fromisoformat(keys[-1]) + dt.timedelta(days=92)
    listed, gone_early, gone_late = pick_stocks(sim, start)
    seed_tickers(warehouse, listed, gone_early, gone_late, start)
    before = len(sim.request_log)
    result = run(sim, warehouse, keys)
    assert result.success
    finance = [e for e in list(sim.request_log)[before:] if "/finance/" in e[2]]
    assert len(finance) == 6 * len(listed)                       # 3 endpoints x annual/quarterly per stock
    assert gone_early not in {e[4].get("fid_input_iscd") for e in finance}
    rows = warehouse.read_frame(ROWS)
    assert set(rows["ticker"]) == set(listed)
    assert set(rows["period_type"]) == {"ANNUAL", "QUARTERLY"}
    assert rows["date"].between(start, end).all()
    # Per stock: exactly the periods KIS published inside the window.
    for code in listed:
        mine = rows[rows["ticker"] == code]
        q_src = [s for s in raw(sim, KF.INCOME_STATEMENT, KF.QUARTERLY, code) if start.strftime("%Y%m") <= s
                 < (end + dt.timedelta(days=1)).strftime("%Y%m")]
        a_src = [s for s in raw(sim, KF.INCOME_STATEMENT, KF.ANNUAL, code) if start.strftime("%Y%m") <= s
                 < (end + dt.timedelta(days=1)).strftime("%Y%m")]
        assert sorted(mine.loc[mine["period_type"] == "QUARTERLY", "date"].map(lambda d: d.strftime("%Y%m"))) == sorted(q_src)
        assert sorted(mine.loc[mine["period_type"] == "ANNUAL", "date"].map(lambda d: d.strftime("%Y%m"))) == sorted(a_src)
    # Values against the raw answer: 억원 -> KRW, the quarter's own flows, as-reported positions.
    sam = rows[rows["ticker"] == "005930"].set_index(["period_type", "date"])
    isq = raw(sim, KF.INCOME_STATEMENT, KF.QUARTERLY, "005930")
    bsa = raw(sim, KF.BALANCE_SHEET, KF.ANNUAL, "005930")
    fra = raw(sim, KF.FINANCIAL_RATIO, KF.ANNUAL, "005930")
    fy = next(s for s in bsa if start.strftime("%Y%m") <= s)
    fy_end = dt.date(int(fy[:4]), 12, 31)
    q3 = f"{fy[:4]}09"
    annual = sam.loc[("ANNUAL", fy_end)]
    assert annual["total_assets"] == round(float(bsa[fy]["total_aset"]) * 1e8)
    assert annual["fiscal_year"] == int(fy[:4]) and pd.isna(annual["fiscal_quarter"])
    assert annual["eps"] == float(fra[fy]["eps"]) and annual["roe"] == float(fra[fy]["roe_val"])
    q4 = sam.loc[("QUARTERLY", fy_end)]
    assert q4["fiscal_quarter"] == 4
    assert q4["revenue"] == round((float(isq[fy]["sale_account"]) - float(isq[q3]["sale_account"])) * 1e8)
    assert set(rows["currency"]) == {"KRW"} and set(rows["region"]) == {"KR"}
    # One partition_status row per quarter of the range, counts adding up.
    status = warehouse.read_frame("SELECT partition_date, status, row_count FROM partition_status "
                                  "WHERE asset = 'financial_statements' AND region = 'KR' ORDER BY 1")
    assert [d.isoformat() for d in status["partition_date"]] == keys
    assert set(status["status"]) == {"loaded"} and status["row_count"].sum() == len(rows)
    meta = result.asset_materializations_for_node("financial_statements")[0].metadata
    assert meta["kis_requests"].value == 6 * len(listed) and meta["dagster/row_count"].value == len(rows)
    # Re-run (with the add-up check): the same rows, created_at included.
    again_result = run(sim, warehouse, keys, extra=[statements.quarters_add_up_to_the_year])
    assert again_result.success
    again = warehouse.read_frame(ROWS)
    assert again.equals(rows)
    check = again_result.get_asset_check_evaluations()[0]
    assert check.passed and check.metadata["fiscal_years_checked"].value == len(listed)
    # A quarter that does not add up to its year is flagged, naming stock and year.
    warehouse.execute("UPDATE ticker_fundamentals SET revenue = revenue + 1000000000 WHERE ticker = '005930' "
                      "AND period_type = 'QUARTERLY' AND fiscal_quarter = 2")
    bad = dg.materialize([statements.financial_statements, statements.quarters_add_up_to_the_year],
                         resources={"kis": KISClient(base_url=sim.kis_url), "warehouse": warehouse},
                         selection=dg.AssetSelection.checks(statements.quarters_add_up_to_the_year),
                         raise_on_error=False)
    evaluation = bad.get_asset_check_evaluations()[0]
    assert not evaluation.passed and "005930 FY" in evaluation.metadata["examples"].value


def test_bad_payload_fails_the_run_naming_ticker_and_field_and_writes_nothing(sim, warehouse):
    keys = window_keys()
    start = dt.date.fromisoformat(keys[0])
    listed, _, _ = pick_stocks(sim, start)
    seed_tickers(warehouse, listed)
    # A DAILY valuation row of KRX on a statement date must survive whatever happens here.
    warehouse.ensure_month_partitions("ticker_fundamentals", [start])
    warehouse.execute("INSERT INTO ticker_fundamentals (ticker, region, date, period_type, per, data_source) "
                      "VALUES ('005930', 'KR', %s, 'DAILY', 12.5, 'KRX')", (start,))
    assert run(sim, warehouse, keys[-1:]).success
    loaded = warehouse.read_frame(ROWS)
    status = warehouse.read_frame("SELECT * FROM partition_status ORDER BY partition_date")
    assert len(loaded) > 0
    sim.set_faults({"rules": [{"source": "kis", "tr_id": KF.INCOME_STATEMENT, "fault": "corrupt", "kind": "dash_price",
                               "field": "thtr_ntin", "times": 1}]})
    result = run(sim, warehouse, keys)
    assert not result.success
    text = error_text(result)
    assert "thtr_ntin" in text and "FHKST66430200" in text and "is not a number" in text
    assert any(f"ticker={c}" in text for c in listed)
    # Nothing written: the earlier rows and status are untouched, the other partitions absent.
    assert warehouse.read_frame(ROWS).equals(loaded)
    assert warehouse.read_frame("SELECT * FROM partition_status ORDER BY partition_date").equals(status)
    daily = warehouse.read_frame("SELECT per FROM ticker_fundamentals WHERE period_type = 'DAILY'")
    assert list(daily["per"]) == [12.5]


def test_without_stocks_the_run_fails_instead_of_claiming_an_empty_load(sim, warehouse):
    result = run(sim, warehouse, window_keys()[-1:])
    assert not result.success
    assert "materialize stock_list first" in error_text(result)
    assert warehouse.read_frame("SELECT count(*) AS n FROM partition_status")["n"].iloc[0] == 0


@pytest.mark.parametrize(("now", "expected"), [
    (dt.datetime(2026, 12, 5, 6, 0), ["2026-04-01", "2026-07-01"]),
    (dt.datetime(2026, 4, 4, 6, 0), ["2025-10-01", "2026-01-01"]),
])
def test_weekly_schedule_asks_for_the_two_latest_completed_quarters(now, expected):
    from zoneinfo import ZoneInfo

    when = now.replace(tzinfo=ZoneInfo("Asia/Seoul"))
    context = dg.build_schedule_context(scheduled_execution_time=when)
    request = statements.financial_statements_weekly(context)
    assert request.tags["dagster/asset_partition_range_start"] == expected[0]
    assert request.tags["dagster/asset_partition_range_end"] == expected[1]
