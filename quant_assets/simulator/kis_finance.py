"""KIS domestic financial statements (종목정보 > 재무): balance sheet, income statement, ratios.

Endpoints (koreainvestment/open-trading-api `examples_llm/domestic_stock/finance_*`):

    /uapi/domestic-stock/v1/finance/balance-sheet     FHKST66430100  (v1_국내주식-078)
    /uapi/domestic-stock/v1/finance/income-statement  FHKST66430200  (v1_국내주식-079)
    /uapi/domestic-stock/v1/finance/financial-ratio   FHKST66430300  (v1_국내주식-080)

Query: FID_DIV_CLS_CODE 0 = annual, 1 = quarterly; fid_cond_mrkt_div_code J; fid_input_iscd.
Answer: `output` = a list of periods, newest first, each with `stac_yymm` (결산년월, YYYYMM) and
the fields below as strings. Amounts are 억원 (KRW 1e8): Samsung's FY2023 row reads sale_account
"2589355.00", bsop_prti "65670.00", thtr_ntin "154871.00", total_aset "4559060.00", cpfn "8975"
(= 258.9조 / 6.57조 / 15.49조 / 455.9조 / 자본금 8,975억, its reported figures). Quarterly
income-statement rows are cumulative within the fiscal year ("분기데이터는 연단위 누적합산",
the official sample's docstring); balance-sheet rows are period-end positions. Fields KIS does not
fill read "99.99" (cfp_surp, prfi_surp, depr_cost, sell_mang, bsop_non_ernn, bsop_non_expn).

How the synthetic figures hang together (so a user can cross-check them against KRX MDCSTAT03501
of the same simulator): every stock has a December year end; for the quarter ending E the stock's
quarterly net income is (KRX EPS on the first trading day after E) x shares / 4, its equity is
(KRX BPS on that day) x shares, so the KIS `bps` of period E equals the KRX BPS shown right after
E and `eps` = net income / shares. Revenue, costs, debt and asset mix come from per-stock margins
and a hash of (stock, quarter), so any request is reproducible. Ratios: `eps` is the period's
(year-to-date) net income per share, `sps` trailing-twelve-month revenue per share, `roe_val`
trailing-twelve-month net income over the average of this and last year's equity (inferred from
Samsung's 2026Q1 figures: eps 6993 ≈ quarter NI / shares, roe 19.16 ≈ TTM / average equity),
growth rates are year on year and 0 when either side is a loss ("적자지속/흑자전환/적자전환은 0").

Publication: quarterly statements 45 days after the quarter end, the annual (and Q4) figures 90
days after the year end, on the simulated clock. At most 10 annual / 20 quarterly periods
(the real depth is UNCONFIRMED). A code the market never had answers HTTP 200
{"rt_cd":"7","msg_cd":"KIOK0560","msg1":"조회할 내용이 없습니다"} (KIS's no-data envelope; its use for
an unknown code here is a simulator choice); a listed stock with nothing published yet answers
rt_cd "0" with an empty output.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

import numpy as np

from . import noise

FINANCE_PATHS = {
    "/uapi/domestic-stock/v1/finance/balance-sheet": "FHKST66430100",
    "/uapi/domestic-stock/v1/finance/income-statement": "FHKST66430200",
    "/uapi/domestic-stock/v1/finance/financial-ratio": "FHKST66430300",
}
OK = {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다."}
NO_DATA = {"rt_cd": "7", "msg_cd": "KIOK0560", "msg1": "조회할 내용이 없습니다"}
NOT_GIVEN = "99.99"
QUARTER_LAG_DAYS, ANNUAL_LAG_DAYS = 45, 90
MAX_ANNUAL, MAX_QUARTERLY = 10, 20
EOK = 1e8

# noise streams of their own (market.py uses 1..9)
S_MARGIN, S_COGS, S_DEBT, S_CA, S_CL, S_REV, S_OP = range(21, 28)


@dataclass
class Quarter:
    """One stock's discrete quarter (flows) and quarter-end position, amounts in whole 억원."""

    end: dt.date
    shares: int
    revenue: int
    cogs: int
    operating: int
    ordinary: int
    net: int
    equity: int
    liabilities: int
    current_assets: int
    current_liabilities: int
    capital: int
    bps: int


def quarter_ends(first: dt.date, last: dt.date) -> list[dt.date]:
    out, y, q = [], first.year, (first.month - 1) // 3
    while True:
        m = 3 * q + 3
        end = dt.date(y, m, 31 if m in (3, 12) else 30)
        if end > last:
            return out
        if end >= first:
            out.append(end)
        q += 1
        if q == 4:
            y, q = y + 1, 0


def _f2(v: float) -> str:
    return f"{v:.2f}"


def _f4(v: float) -> str:
    return f"{v:.4f}"


def _growth(cur: int, prev: int | None) -> float:
    if prev is None or cur <= 0 or prev <= 0:
        return 0.0
    return (cur / prev - 1.0) * 100.0


class FinanceBook:
    """Statements of every stock the market ever listed, built lazily per stock and cached."""

    def __init__(self, market):
        self.m = market
        self._cache: dict[int, list[Quarter]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ ground truth
    def quarters(self, i: int) -> list[Quarter]:
        with self._lock:
            cached = self._cache.get(i)
        if cached is not None:
            return cached
        m, st, seed = self.m, self.m.stocks, self.m.seed
        first = max(m.dates[0], m.dates[int(st.list_t[i])])
        ends = [e for e in quarter_ends(first, m.dates[-1]) if e < m.dates[-1]]
        margin = 0.03 + 0.09 * float(noise.uniform(seed, S_MARGIN, i, 0))
        cogs_ratio = 0.5 + 0.3 * float(noise.uniform(seed, S_COGS, i, 0))
        debt0 = 0.3 + 2.0 * float(noise.uniform(seed, S_DEBT, i, 0))
        ca0 = 0.3 + 0.3 * float(noise.uniform(seed, S_CA, i, 0))
        cl0 = 0.5 + 0.3 * float(noise.uniform(seed, S_CL, i, 0))
        out: list[Quarter] = []
        for e in ends:
            t_next = m.last_t_on_or_before(e) + 1
            if t_next >= m.T:
                break
            q = e.year * 4 + (e.month - 1) // 3
            f = m.fundamentals(t_next, np.array([i]))
            eps_ttm, bps = int(f["eps"][0]), int(f["bps"][0])
            shares = int(m.shares_at(t_next, np.array([i]))[0])
            net = round(eps_ttm * shares / 4 / EOK)
            revenue = max(1, round(abs(eps_ttm) * shares / 4 / margin / EOK
                                   * float(np.exp(0.05 * noise.normal(seed, S_REV, i, q)))))
            cogs = round(revenue * cogs_ratio)
            ordinary = round(net * 1.28)
            operating = round(ordinary + revenue * 0.01 * float(noise.normal(seed, S_OP, i, q)))
            equity = max(1, round(bps * shares / EOK))
            debt = debt0 * float(np.exp(0.05 * noise.normal(seed, S_DEBT, i, q)))
            liabilities = round(equity * debt)
            assets = equity + liabilities
            par = float(st.par0[i] / m.factor(i, t_next))
            out.append(Quarter(
                end=e, shares=shares, revenue=revenue, cogs=cogs, operating=operating, ordinary=ordinary, net=net,
                equity=equity, liabilities=liabilities, current_assets=round(assets * ca0),
                current_liabilities=round(liabilities * cl0), capital=max(1, round(par * shares / EOK)), bps=bps,
            ))
        with self._lock:
            self._cache[i] = out
        return out

    # ------------------------------------------------------------------ periods
    def periods(self, i: int, annual: bool, today: dt.date) -> list[dict]:
        """The stock's published periods as of `today`, newest first: the period-end quarter, the
        year-to-date (or full-year) flows, and the trailing-twelve-month and prior-year figures
        the ratios need."""
        qs = self.quarters(i)
        delist = self.m.stocks.delist_date[i]
        by_end = {q.end: k for k, q in enumerate(qs)}
        rows = []
        for k, q in enumerate(qs):
            if annual and q.end.month != 12:
                continue
            lag = ANNUAL_LAG_DAYS if q.end.month == 12 else QUARTER_LAG_DAYS
            if q.end + dt.timedelta(days=lag) > today or (delist is not None and q.end >= delist):
                continue
            ytd = [x for x in qs[max(0, k - 3):k + 1] if x.end.year == q.end.year]
            if len(ytd) != q.end.month // 3:
                continue  # the fiscal year started before the first simulated quarter
            prev_end = dt.date(q.end.year - 1, q.end.month, q.end.day)
            pk = by_end.get(prev_end)
            prev_ytd = None
            if pk is not None:
                prev_ytd = [x for x in qs[max(0, pk - 3):pk + 1] if x.end.year == prev_end.year]
                if len(prev_ytd) != prev_end.month // 3:
                    prev_ytd = None
            ttm = qs[max(0, k - 3):k + 1]
            rows.append({"q": q, "ytd": ytd, "prev_ytd": prev_ytd, "ttm": ttm,
                         "prev_q": qs[pk] if pk is not None else None})
        rows.reverse()
        return rows[: MAX_ANNUAL if annual else MAX_QUARTERLY]

    # ------------------------------------------------------------------ payloads
    @staticmethod
    def balance_row(p: dict) -> dict:
        q: Quarter = p["q"]
        assets = q.equity + q.liabilities
        return {
            "stac_yymm": q.end.strftime("%Y%m"), "cras": _f2(q.current_assets), "fxas": _f2(assets - q.current_assets),
            "total_aset": _f2(assets), "flow_lblt": _f2(q.current_liabilities),
            "fix_lblt": _f2(q.liabilities - q.current_liabilities), "total_lblt": _f2(q.liabilities),
            "cpfn": str(q.capital), "cfp_surp": NOT_GIVEN, "prfi_surp": NOT_GIVEN, "total_cptl": _f2(q.equity),
        }

    @staticmethod
    def income_row(p: dict) -> dict:
        ytd = p["ytd"]
        rev, cogs = sum(x.revenue for x in ytd), sum(x.cogs for x in ytd)
        return {
            "stac_yymm": p["q"].end.strftime("%Y%m"), "sale_account": _f2(rev), "sale_cost": _f2(cogs),
            "sale_totl_prfi": str(rev - cogs), "depr_cost": NOT_GIVEN, "sell_mang": NOT_GIVEN,
            "bsop_prti": _f2(sum(x.operating for x in ytd)), "bsop_non_ernn": NOT_GIVEN, "bsop_non_expn": NOT_GIVEN,
            "op_prfi": _f2(sum(x.ordinary for x in ytd)), "spec_prfi": "0", "spec_loss": "0",
            "thtr_ntin": _f2(sum(x.net for x in ytd)),
        }

    @staticmethod
    def ratio_row(p: dict) -> dict:
        q: Quarter = p["q"]
        ytd, prev = p["ytd"], p["prev_ytd"]

        def total(rows, attr):
            return None if rows is None else sum(getattr(x, attr) for x in rows)

        ttm_net = sum(x.net for x in p["ttm"]) * 4 / len(p["ttm"])
        ttm_rev = sum(x.revenue for x in p["ttm"]) * 4 / len(p["ttm"])
        prev_equity = p["prev_q"].equity if p["prev_q"] is not None else q.equity
        net = total(ytd, "net")
        return {
            "stac_yymm": q.end.strftime("%Y%m"),
            "grs": _f4(_growth(total(ytd, "revenue"), total(prev, "revenue"))),
            "bsop_prfi_inrt": _f4(_growth(total(ytd, "operating"), total(prev, "operating"))),
            "ntin_inrt": _f4(_growth(net, total(prev, "net"))),
            "roe_val": _f2(ttm_net / ((q.equity + prev_equity) / 2) * 100.0),
            "eps": _f2(round(net * EOK / q.shares)), "sps": str(round(ttm_rev * EOK / q.shares)),
            "bps": _f2(q.bps), "rsrv_rate": _f4((q.equity - q.capital) / q.capital * 100.0),
            "lblt_rate": _f4(q.liabilities / q.equity * 100.0),
        }

    def answer(self, path: str, q: dict, today: dt.date) -> dict:
        code = q.get("fid_input_iscd", "")
        i = self.m.code_to_i.get(code)
        if i is None:
            return dict(NO_DATA)
        annual = q.get("fid_div_cls_code", "0") != "1"
        make = {"FHKST66430100": self.balance_row, "FHKST66430200": self.income_row,
                "FHKST66430300": self.ratio_row}[FINANCE_PATHS[path]]
        return dict(OK, output=[make(p) for p in self.periods(i, annual, today)])
