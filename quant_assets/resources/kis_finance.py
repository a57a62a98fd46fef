"""KIS financial statements: typed frames from the three 종목정보 > 재무 endpoints, and the
`ticker_fundamentals` statement rows built from them.

Endpoints (koreainvestment/open-trading-api `examples_llm/domestic_stock/finance_*`, mirrored by
`quant_assets/simulator/kis_finance.py`):

    balance sheet     /uapi/domestic-stock/v1/finance/balance-sheet     FHKST66430100
    income statement  /uapi/domestic-stock/v1/finance/income-statement  FHKST66430200
    financial ratios  /uapi/domestic-stock/v1/finance/financial-ratio   FHKST66430300

Query FID_DIV_CLS_CODE (0 annual, 1 quarterly), fid_cond_mrkt_div_code J, fid_input_iscd. The
answer's `output` lists periods keyed by `stac_yymm` (YYYYMM). Units, and why we trust them:
amounts are 억원 — Samsung's FY2023 row (sale_account 2589355, thtr_ntin 154871, total_aset
4559060, cpfn 8975) matches its reported 258.9조 / 15.5조 / 455.9조 / 자본금 8,975억 — and are
converted to KRW here (x 1e8, exact integers). Ratios are percent; eps / sps / bps are KRW per
share. Quarterly income-statement figures are year-to-date ("분기데이터는 연단위 누적합산"),
so `statement_rows` turns them into discrete quarters before they reach the warehouse.

Bad input is an error naming the dataset (TR id), ticker, period and field: a missing `output`,
a row without a field we use, a non-numeric value, a `stac_yymm` that is not YYYYMM, or the same
period twice. An empty string is "not given": allowed (NaN) for the detail fields banks and
insurers lack (current assets, cost of sales, growth rates ...), an error for the core figures.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quant_assets.errors import SourceDataError

BALANCE_SHEET = "FHKST66430100"
INCOME_STATEMENT = "FHKST66430200"
FINANCIAL_RATIO = "FHKST66430300"
PATHS = {
    BALANCE_SHEET: "/uapi/domestic-stock/v1/finance/balance-sheet",
    INCOME_STATEMENT: "/uapi/domestic-stock/v1/finance/income-statement",
    FINANCIAL_RATIO: "/uapi/domestic-stock/v1/finance/financial-ratio",
}
NAMES = {BALANCE_SHEET: "balance sheet", INCOME_STATEMENT: "income statement", FINANCIAL_RATIO: "financial ratios"}
ENDPOINTS = (BALANCE_SHEET, INCOME_STATEMENT, FINANCIAL_RATIO)
ANNUAL, QUARTERLY = "ANNUAL", "QUARTERLY"
DIV_CLS_CODE = {ANNUAL: "0", QUARTERLY: "1"}
EOK = 100_000_000  # 억원 -> KRW
STAC_YYMM = re.compile(r"^(\d{4})(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Field:
    source: str        # KIS field name
    name: str          # our column
    unit: str          # "eok" (억원 -> KRW, Int64) or "num" (float as given)
    core: bool = True  # an empty value is an error (else NaN: not given for this company)


FIELDS: dict[str, tuple[Field, ...]] = {
    BALANCE_SHEET: (
        Field("cras", "current_assets", "eok", core=False),
        Field("fxas", "fixed_assets", "eok", core=False),
        Field("total_aset", "total_assets", "eok"),
        Field("flow_lblt", "current_liabilities", "eok", core=False),
        Field("fix_lblt", "fixed_liabilities", "eok", core=False),
        Field("total_lblt", "total_liabilities", "eok"),
        Field("cpfn", "capital_stock", "eok", core=False),
        Field("total_cptl", "total_equity", "eok"),
    ),
    INCOME_STATEMENT: (
        Field("sale_account", "revenue", "eok"),
        Field("sale_cost", "cogs", "eok", core=False),
        Field("sale_totl_prfi", "gross_profit", "eok", core=False),
        Field("bsop_prti", "operating_profit", "eok"),
        Field("op_prfi", "ordinary_profit", "eok", core=False),
        Field("thtr_ntin", "net_income", "eok"),
    ),
    FINANCIAL_RATIO: (
        Field("grs", "revenue_growth_pct", "num", core=False),
        Field("bsop_prfi_inrt", "operating_profit_growth_pct", "num", core=False),
        Field("ntin_inrt", "net_income_growth_pct", "num", core=False),
        Field("roe_val", "roe_pct", "num"),
        Field("eps", "eps", "num"),
        Field("sps", "sps", "num", core=False),
        Field("bps", "bps", "num"),
        Field("rsrv_rate", "reserve_ratio_pct", "num", core=False),
        Field("lblt_rate", "debt_ratio_pct", "num"),
    ),
}


def dataset_name(tr_id: str) -> str:
    return f"KIS {tr_id} ({NAMES[tr_id]})"


def period_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _number(raw: Any, f: Field, *, dataset: str, code: str, period: str, stac: str) -> float | int | None:
    def fail(what: str) -> SourceDataError:
        return SourceDataError(dataset, f"{period} {stac}: {f.source} {what}", date=stac, ticker=code,
                               field=f.source, region="KR")

    if raw is None:
        raise fail("is null")
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise fail(f"is not a number: {raw!r}")
    text = str(raw).strip()
    if text == "":
        if f.core:
            raise fail("is empty (a figure every statement has)")
        return None
    try:
        value = float(text)
    except ValueError:
        raise fail(f"is not a number: {raw!r}") from None
    if not np.isfinite(value):
        raise fail(f"is not a number: {raw!r}")
    if f.unit == "eok":
        return int(round(value * EOK))
    return value


def parse_statement(payload: Any, tr_id: str, code: str, period: str) -> pd.DataFrame:
    """One endpoint's answer -> one row per period: code, period_type, stac_yymm, period_end and
    the endpoint's fields (amounts in KRW as Int64, ratios as float), newest first as sent."""
    dataset = dataset_name(tr_id)
    fields = FIELDS[tr_id]

    def fail(message: str, *, field: str | None = None, stac: str | None = None) -> SourceDataError:
        return SourceDataError(dataset, f"{period}: {message}", date=stac, ticker=code, field=field, region="KR")

    if not isinstance(payload, dict):
        raise fail(f"expected a JSON object, got {type(payload).__name__}")
    if "output" not in payload:
        raise fail("data key 'output' missing from response", field="output")
    rows = payload["output"]
    if isinstance(rows, dict):
        rows = [rows] if rows else []
    if not isinstance(rows, list):
        raise fail("'output' is not a list", field="output")
    stacs: list[str] = []
    ends: list[dt.date] = []
    values: dict[str, list] = {f.name: [] for f in fields}
    for row in rows:
        if not isinstance(row, dict):
            raise fail("a row of 'output' is not an object", field="output")
        if "stac_yymm" not in row:
            raise fail("row without stac_yymm", field="stac_yymm")
        stac = str(row["stac_yymm"]).strip()
        match = STAC_YYMM.match(stac)
        if match is None:
            raise fail(f"stac_yymm {row['stac_yymm']!r} is not a period YYYYMM", field="stac_yymm", stac=stac)
        if stac in stacs:
            raise fail(f"period {stac} appears twice", field="stac_yymm", stac=stac)
        stacs.append(stac)
        ends.append(period_end(int(match.group(1)), int(match.group(2))))
        for f in fields:
            if f.source not in row:
                raise fail(f"field {f.source} missing", field=f.source, stac=stac)
            values[f.name].append(_number(row[f.source], f, dataset=dataset, code=code, period=period, stac=stac))
    columns = {"code": [code] * len(stacs), "period_type": [period] * len(stacs), "stac_yymm": stacs,
               "period_end": pd.DatetimeIndex(ends, dtype="datetime64[ns]")}
    for f in fields:
        v = values[f.name]
        columns[f.name] = (pd.array(v, dtype="Int64") if f.unit == "eok"
                           else np.array([np.nan if x is None else x for x in v], dtype="float64"))
    return pd.DataFrame(columns)


# ---------------------------------------------------------------------------------------------
# ticker_fundamentals rows

FLOWS = ("revenue", "cogs", "gross_profit", "operating_profit", "net_income")
COLUMNS = ["ticker", "region", "date", "period_type", "fiscal_year", "fiscal_quarter", "revenue", "cogs",
           "gross_profit", "operating_profit", "net_income", "total_assets", "total_liabilities", "total_equity",
           "current_assets", "current_liabilities", "roe", "debt_ratio", "eps", "bps", "currency", "data_source"]


def _joined(frames: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    """Periods all three endpoints report for a stock (inner join on code + stac_yymm) and how many
    (stock, period) pairs only some of them had."""
    keys = ["code", "period_type", "stac_yymm", "period_end"]
    bs, inc, fr = (frames[t] for t in ENDPOINTS)
    out = bs.merge(inc, on=keys, how="inner").merge(fr, on=keys, how="inner")
    union = pd.concat([f[["code", "stac_yymm"]] for f in (bs, inc, fr)]).drop_duplicates()
    return out, len(union) - len(out)


def statement_rows(annual: dict[str, pd.DataFrame], quarterly: dict[str, pd.DataFrame]
                   ) -> tuple[pd.DataFrame, dict[str, int]]:
    """`ticker_fundamentals` ANNUAL and QUARTERLY rows (columns `COLUMNS`) from the parsed answers
    of the three endpoints, {tr_id: frame} per period type; the frames may hold any number of stocks
    (set-based: one join and one de-cumulation for the whole universe).

    * date = the fiscal period's last day; fiscal_year = the calendar year the fiscal year ends in
      (a stock's annual stac_yymm month is its year-end month; December when KIS sends no annual row);
      fiscal_quarter 1-4 counted from the year-end month.
    * QUARTERLY flows (revenue, cogs, gross/operating profit, net income, eps) are the quarter's own:
      KIS's year-to-date figure minus the previous quarter's of the same fiscal year. A quarter whose
      predecessor KIS no longer returns cannot be derived and is left out (counted in the stats).
    * Balance-sheet items, bps, roe (KIS roe_val, %) and debt_ratio (KIS lblt_rate, %) are as reported.
    """
    a, dropped_a = _joined(annual)
    q, dropped_q = _joined(quarterly)
    stats = {"periods_not_in_all_endpoints": dropped_a + dropped_q, "quarters_without_predecessor": 0}
    fye = (a.assign(month=a["period_end"].dt.month).groupby("code")["month"].agg(lambda m: int(m.mode().iloc[0]))
           if len(a) else pd.Series(dtype="int64"))
    a = a.assign(fiscal_year=a["period_end"].dt.year, fiscal_quarter=pd.NA)
    m, y = q["period_end"].dt.month, q["period_end"].dt.year
    end_month = q["code"].map(fye).fillna(12).astype("int64")
    q = q.assign(fiscal_quarter=((m - end_month - 1) % 12) // 3 + 1, fiscal_year=np.where(m <= end_month, y, y + 1))
    prev = q[["code", "fiscal_year", "fiscal_quarter", *FLOWS, "eps"]].copy()
    prev["fiscal_quarter"] += 1
    q = q.merge(prev, on=["code", "fiscal_year", "fiscal_quarter"], how="left", suffixes=("", "_prev"), indicator=True)
    keep = (q["fiscal_quarter"] == 1) | (q["_merge"] == "both")
    stats["quarters_without_predecessor"] = int((~keep).sum())
    q = q[keep].copy()
    later = q["fiscal_quarter"] > 1
    for col in (*FLOWS, "eps"):
        q[col] = q[col].where(~later, q[col] - q[f"{col}_prev"])
    rows = pd.concat([a, q], ignore_index=True)
    out = pd.DataFrame({
        "ticker": rows["code"], "region": "KR", "date": rows["period_end"], "period_type": rows["period_type"],
        "fiscal_year": rows["fiscal_year"].astype("Int64"), "fiscal_quarter": rows["fiscal_quarter"].astype("Int64"),
        **{c: rows[c].astype("Int64") for c in FLOWS},
        "total_assets": rows["total_assets"], "total_liabilities": rows["total_liabilities"],
        "total_equity": rows["total_equity"], "current_assets": rows["current_assets"],
        "current_liabilities": rows["current_liabilities"], "roe": rows["roe_pct"], "debt_ratio": rows["debt_ratio_pct"],
        "eps": rows["eps"].astype("float64").round(2), "bps": rows["bps"], "currency": "KRW", "data_source": "KIS",
    })
    return out[COLUMNS].sort_values(["ticker", "period_type", "date"]).reset_index(drop=True), stats
