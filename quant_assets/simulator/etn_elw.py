"""ETN and ELW masters (KRX MDCSTAT06701 / MDCSTAT08501): master rows only, no prices.

Why they exist at all: pykrx builds its ETF ticker -> ISIN map from the ETF, ETN *and* ELW
masters in one step, and an empty ETN or ELW answer makes that whole map empty (pykrx selects
columns from each frame), so no pykrx ETF function works against a simulator without them.
Our own pipeline never reads these products.

The books are small and deterministic: eight ETNs on the simulated indexes, listed across the
history with a ten-year maturity, and every 60 trading days a call and a put on each of the
three largest stocks, expiring 120 trading days later (issue price 10 % out of the money).
Codes never collide with stock or ETF codes: ETN codes are `5<issuer>00nn` (stock and ETF
codes end in 0 or 5 and are checked anyway), ELW codes are `5<issuer><letter>nnn`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from .fmt import kdate
from .universe import make_isin

ISSUERS = (("58", "KB증권", "KB Securities"), ("57", "미래에셋증권", "Mirae Asset Securities"),
           ("55", "신한투자증권", "Shinhan Securities"), ("52", "삼성증권", "Samsung Securities"))
LEVERAGE = (("일반", 1), ("레버리지", 2), ("인버스", -1))
N_ETN = 8
ELW_EVERY, ELW_LIFE, ELW_TOP = 60, 120, 3
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class Etn:
    code: str
    isin: str
    issuer: int
    index: int
    lever: int
    list_t: int
    shares: int


@dataclass(frozen=True)
class Elw:
    code: str
    isin: str
    issuer: int
    stock: int
    call: bool
    list_t: int
    exp_t: int
    strike: int
    shares: int


def _add_years(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


class EtnElwBook:
    def __init__(self, market):
        self.m = m = market
        used = set(m.code_to_i) | set(m.etfs.code_to_e)
        self.etns: list[Etn] = []
        for j in range(N_ETN):
            issuer = j % len(ISSUERS)
            code = f"{ISSUERS[issuer][0]}00{j + 1:02d}"
            if code in used:
                continue
            used.add(code)
            self.etns.append(Etn(code, make_isin("KRG" + code + "00"), issuer, j % len(m.index_specs),
                                 j % len(LEVERAGE), int(m.T * j / (N_ETN + 2)), 1_000_000 * (1 + j % 5)))
        self.elws: list[Elw] = []
        serial = 0
        for t in range(0, m.T, ELW_EVERY):
            listed = np.nonzero(m.listed_mask(t))[0]
            if len(listed) == 0:
                continue
            cap = m.close[listed, t].astype(np.float64) * m.shares_at(t, listed)
            for i in listed[np.argsort(-cap, kind="stable")[:ELW_TOP]].tolist():
                close = float(m.close[i, t])
                for call in (True, False):
                    issuer = serial % len(ISSUERS)
                    code = f"{ISSUERS[issuer][0]}{LETTERS[serial // 1000 % len(LETTERS)]}{serial % 1000:03d}"
                    serial += 1
                    if code in used:
                        continue
                    used.add(code)
                    strike = max(100, int(round(close * (1.1 if call else 0.9) / 100.0)) * 100)
                    self.elws.append(Elw(code, make_isin("KRA" + code + "00"), issuer, i, call, t,
                                         t + ELW_LIFE, strike, 10_000_000 + 100_000 * (serial % 50)))

    # ------------------------------------------------------------------ rows
    def etn_rows(self, t: int) -> list[dict]:
        """ETNs listed on trading day `t` (the KRX master lists what is listed "now")."""
        m = self.m
        rows = []
        for n in self.etns:
            if n.list_t > t:
                continue
            spec = m.index_specs[n.index]
            lever_nm, mult = LEVERAGE[n.lever]
            issuer = ISSUERS[n.issuer]
            label = spec.short or spec.name
            suffix = "" if mult == 1 else (" 레버리지" if mult > 1 else " 인버스")
            list_d = m.dates[n.list_t]
            rows.append({
                "ISU_CD": n.isin, "ISU_SRT_CD": n.code,
                "ISU_NM": f"{issuer[1]} {label}{suffix} 상장지수증권 제{int(n.code[-2:])}호",
                "ISU_ABBRV": f"{issuer[1][:2]} {label}{suffix} ETN",
                "ISU_ENG_NM": f"{issuer[2]} {spec.eng or spec.name}{suffix} ETN",
                "LIST_DD": kdate(list_d), "LSTTRD_DD": kdate(_add_years(list_d, 10)),
                "TRACE_IDX_NM": spec.name, "IDX_CALC_INST_NM": spec.provider,
                "IDX_LVRG_INVRS_TP_CD": lever_nm, "ETP_PROD_TP_CD": "ETN", "IDX_MKT_CLSS_NM": spec.mkt_class,
                "IDX_ASST_CLSS_NM": spec.asset_class, "LIST_SHRS": f"{n.shares:,}", "ISUR_NM": issuer[1],
                "EXPS_RTO": f"{0.5 + 0.1 * (n.lever + n.issuer):.2f}",
                "TAX_TP_CD": "비과세" if spec.mkt_class == "국내" and spec.asset_class == "주식" else "배당소득세(보유기간과세)",
            })
        return rows

    def elw_rows(self, t: int) -> list[dict]:
        """ELWs listed on `t` and not yet expired."""
        m, st = self.m, self.m.stocks
        last = m.T - 1
        rows = []
        for w in self.elws:
            if not (w.list_t <= t < w.exp_t):
                continue
            issuer = ISSUERS[w.issuer]
            kind = "콜" if w.call else "풋"
            serial = w.code[2:]
            exp_d = m.dates[w.exp_t] if w.exp_t <= last else m.dates[last] + dt.timedelta(days=7 * (w.exp_t - last) // 5)
            rows.append({
                "ISU_CD": w.isin, "ISU_SRT_CD": w.code,
                "ISU_NM": f"{issuer[1]}(주) 주식워런트증권 제{serial}호",
                "ISU_ABBRV": f"{issuer[1][:2]}{serial}{st.name[w.stock][:6]}{kind}",
                "ISU_ENG_NM": f"{issuer[2].upper()} ELW {serial}",
                "LIST_DD": kdate(m.dates[w.list_t]), "LSTTRD_DD": kdate(exp_d - dt.timedelta(days=4)),
                "EXP_DD": kdate(exp_d), "ELW_ULY_TP_NM": "주식", "ULY_NM": st.name[w.stock],
                "LIST_SHRS": f"{w.shares:,}", "ISUR_NM": issuer[1], "ELW_CONV_RTO": "0.01",
                "RGHT_TP_NM": kind, "ELW_EXER_TP": "유럽형", "EXER_PRC": f"{w.strike:,}", "LP_NM": issuer[1],
                "ORD_SPD_RTO": "15", "ELW_LST_SETL_METHD": "현금결제",
            })
        return rows
