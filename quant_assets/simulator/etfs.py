"""ETFs of the synthetic market: universe, NAV/price/units paths and holdings (PDF).

* NAV path: NAV_t = NAV_{t-1} x (1 + multiple x index_return_t + tiny tracking noise)
  - NAV_{t-1} x fee% / 365 x calendar days elapsed. Leveraged/inverse products therefore show the
  familiar compounding drift against multiple x the index.
* Close = NAV x (1 + premium), premium a few bp (occasionally ~0.5-1%), KRX ETF tick (5 KRW).
* Listed units = (number of CUs) x CU_QTY; the CU count follows creations/redemptions.
* Holdings per CU on day t are built so that they add up to NAV_t x CU_QTY exactly:
  - domestic equity, multiple 1: index constituents, shares = floor(weight x CU value x (1-cash)
    / price), plus the residual as a `KRD010010001 원화예금` line;
  - leveraged/inverse: an ETF line on the same index (long for 2X, short for inverse), index
    futures (`KR4<series>...`, contracts to 2 dp, negative = short), 원화예금 and a
    `CASH00000001 설정현금액` line (cf. the KODEX 인버스 sample in reference §1.4.4);
  - other benchmarks (overseas, bonds, commodities...): a fixed basket of instruments with
    ISIN-like codes that are *not* in the stock list, priced off the index level, plus cash.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import numpy as np

from . import noise
from .market import etf_tick, round_tick
from .universe import BRANDS, CU_CHOICES, KNOWN_ETFS, make_isin, to_date

S_TE, S_PREM, S_PREM_BIG, S_PREM_BIGMAG, S_BASKET, S_OHL, S_ETF_VOL, S_CASH = range(40, 48)

DERIVABLE = {"코스피 200", "코스닥 150", "S&P 500", "NASDAQ 100", "KAP 국고채 10년", "미국달러선물지수",
             "S&P GSCI 골드", "S&P GSCI 원유", "KRX 반도체", "KRX 2차전지 TOP10"}
NAME_VARIANTS = ["TR", "액티브", "(H)", "커버드콜", "TOP10", "플러스", "밸류", "모멘텀", "동일가중", "핵심",
                 "PLUS", "2호", "3호", "인컴", "Top5", "채권혼합", "합성", "선물", "고배당", "ESG", "4호", "5호"]
REAL_US = [
    ("US037833100", "APPLE INC"), ("US594918104", "MICROSOFT CORP"), ("US67066G104", "NVIDIA CORP"),
    ("US023135106", "AMAZON.COM INC"), ("US02079K305", "ALPHABET INC-CL A"), ("US30303M102", "META PLATFORMS INC"),
    ("US88160R101", "TESLA INC"), ("US11135F101", "BROADCOM INC"), ("US22160K105", "COSTCO WHOLESALE CORP"),
    ("US64110L106", "NETFLIX INC"),
]
_FOREIGN_WORDS = ["ALPINE", "HARBOR", "SUMMIT", "VERTEX", "NORTHERN", "PACIFIC", "ATLAS", "CORE", "BLUE",
                  "GLOBAL", "UNITED", "FIRST", "PRIME", "STELLAR", "CREST", "NOVA", "APEX", "PIONEER"]
_FOREIGN_TAILS = ["HOLDINGS", "CORP", "INC", "GROUP", "SYSTEMS", "TECHNOLOGIES", "ENERGY", "BANCORP", "PLC"]


@dataclass
class Line:
    """One PDF line (per CU). Amount fields in KRW; None = not applicable ("-" on KRX)."""

    code: str
    code2: str
    mkt_id: str
    secugrp: str
    name: str
    qty: float | None
    valu_amt: float | None
    compst_amt: float | None
    weight: float | None
    price: float | None = None  # close on the day (KIS stck_prpr)
    prev: float | None = None  # previous close
    stock_i: int | None = None  # index into Market.stocks when a listed stock


class EtfBook:
    def __init__(self, market):
        self.m = market
        self._pyr = random.Random(market.seed + 101)
        self._rng = np.random.default_rng(market.seed + 101)
        self._build_universe()
        self._build_paths()
        self._baskets: dict[int, list[dict]] = {}

    # --------------------------------------------------------------- universe
    def _build_universe(self) -> None:
        m, pyr = self.m, self._pyr
        _, _, n_etf = m.config.counts()
        rows: list[dict] = []
        used_names: set[str] = set()
        used_codes = set(m.code_to_i)

        def t_for(d: dt.date) -> int:
            return 0 if d <= m.dates[0] else int(np.searchsorted(m._ord, d.toordinal(), side="left"))

        for k in KNOWN_ETFS:
            if len(rows) >= n_etf:
                break
            lt = t_for(to_date(k.list_date))
            if lt > m.t_end or k.index not in m.index_by_name:
                continue
            rows.append(dict(code=k.code, abbrv=k.abbrv, index=m.index_by_name[k.index], brand=k.brand,
                             multiple=k.multiple, list_t=lt, delist_t=m.T, fee=k.fee, cu=k.cu,
                             units_now=k.units_now, nav0=k.nav_start, full=k.full_name, eng=k.eng,
                             tax=k.tax, list_date=max(to_date(k.list_date), to_date(k.list_date))))
            used_names.add(k.abbrv)
            used_codes.add(k.code)
        specs = m.index_specs
        weights = np.array([s.etf_weight for s in specs], dtype=float)
        for k, s in enumerate(specs):  # no ETF on an index without constituents in this market
            if s.kind == "stocks" and len(m.index_members(k, m.t_end)[0]) == 0:
                weights[k] = 0.0
        weights /= weights.sum()
        brands = list(BRANDS)
        bw = np.array([BRANDS[b][3] for b in brands], dtype=float)
        bw /= bw.sum()
        n_syn = max(0, n_etf - len(rows))
        # listing times skew recent (the ETF market grew ~5x since 2010); 15% pre-date the start
        list_ts = sorted(0 if pyr.random() < 0.15 else int(1 + (m.t_end - 6) * pyr.random() ** 0.6)
                         for _ in range(n_syn))
        n_alnum = int(round(0.15 * n_syn))
        alnum_codes = self._alnum_codes(n_alnum, used_codes)
        num_codes = self._numeric_codes(n_syn - n_alnum, used_codes)
        codes = num_codes + alnum_codes  # ordered by listing time: newest listings get alphanumerics
        for j in range(n_syn):
            k = int(self._rng.choice(len(specs), p=weights))
            spec = specs[k]
            mult = 1
            if spec.name in DERIVABLE:
                u = pyr.random()
                mult = 2 if u < 0.14 else -1 if u < 0.24 else -2 if u < 0.28 else 1
            brand = brands[int(self._rng.choice(len(brands), p=bw))]
            abbrv = self._etf_name(brand, spec, mult, used_names)
            lt = list_ts[j]
            dlt = m.T
            if pyr.random() < 0.03 and lt + 200 < m.t_end:
                dlt = pyr.randrange(lt + 150, m.t_end)
            cu = pyr.choices([c for c, _ in CU_CHOICES], [w for _, w in CU_CHOICES])[0]
            fee = (pyr.uniform(0.3, 0.68) if mult != 1 else min(0.99, max(0.0099, pyr.lognormvariate(np.log(0.2), 0.7))))
            nav0 = pyr.choice([10_000, 10_000, 10_000, 5_000, 20_000, 100_000]) if lt > 0 else pyr.uniform(5_000, 40_000)
            rows.append(dict(code=codes[j], abbrv=abbrv, index=k, brand=brand, multiple=mult, list_t=lt,
                             delist_t=dlt, fee=round(fee, 4), cu=cu,
                             units_now=cu * max(1, int(pyr.lognormvariate(np.log(60), 1.3))), nav0=nav0,
                             full=None, eng=None, tax=None, list_date=None))
        if n_syn >= 3 and not any(r["delist_t"] < m.T for r in rows) and m.t_end > 400:
            r = rows[-n_syn]
            r["delist_t"] = max(r["list_t"] + 150, m.t_end - 100)
        rows.sort(key=lambda r: r["code"])
        self.rows = rows
        n = len(rows)
        self.n = n
        self.code = [r["code"] for r in rows]
        self.isin = [make_isin("KR7" + c + "00") for c in self.code]
        self.abbrv = [r["abbrv"] for r in rows]
        self.index = np.array([r["index"] for r in rows], dtype=np.int64)
        self.multiple = np.array([r["multiple"] for r in rows], dtype=np.int64)
        self.list_t = np.array([r["list_t"] for r in rows], dtype=np.int64)
        self.delist_t = np.array([r["delist_t"] for r in rows], dtype=np.int64)
        self.fee = np.array([r["fee"] for r in rows])
        self.cu = np.array([r["cu"] for r in rows], dtype=np.int64)
        self.brand = [r["brand"] for r in rows]
        self.manager = [BRANDS[b][0] for b in self.brand]
        self.list_date = []
        for r in rows:
            if r["list_t"] > 0:
                self.list_date.append(m.dates[r["list_t"]])
            elif r["list_date"] is not None:
                self.list_date.append(min(r["list_date"], m.dates[0]))
            else:
                h = int(r["code"][1:5], 36) % 2500
                self.list_date.append(min(dt.date(2002, 10, 14) + dt.timedelta(days=h), m.dates[0]))
        self.delist_date = [m.dates[r["delist_t"]] if r["delist_t"] < m.T else None for r in rows]
        self.full_name, self.eng_name, self.tax, self.replica = [], [], [], []
        for r in rows:
            spec = m.index_specs[r["index"]]
            legal_prefix, eng_prefix = BRANDS[r["brand"]][1], BRANDS[r["brand"]][2]
            kind = {"주식": "주식", "채권": "채권", "원자재": "원자재-파생형", "통화": "통화-파생형"}.get(
                spec.asset_class, "혼합")
            if r["multiple"] != 1:
                kind = f"{kind}-파생형" if "파생" not in kind else kind
            body = r["abbrv"].split(" ", 1)[1] if " " in r["abbrv"] else r["abbrv"]
            self.full_name.append(r["full"] or f"{legal_prefix} {r['brand']}{body.replace(' ', '')} 증권상장지수투자신탁[{kind}]")
            self.eng_name.append(r["eng"] or f"{eng_prefix} {spec.eng} ETF".upper().replace("  ", " "))
            if r["tax"]:
                self.tax.append(r["tax"])
            elif spec.mkt_class == "국내" and spec.asset_class == "주식" and r["multiple"] == 1:
                self.tax.append("비과세")
            elif spec.mkt_class == "해외" and spec.asset_class == "주식" and pyr.random() < 0.15:
                self.tax.append("배당소득세(해외주식투자전용ETF)")
            else:
                self.tax.append("배당소득세(보유기간과세)")
            if "액티브" in r["abbrv"]:
                self.replica.append("실물(액티브)")
            elif r["multiple"] != 1 or spec.kind == "walk":
                self.replica.append("합성(패시브)" if pyr.random() < 0.3 else "실물(패시브)")
            else:
                self.replica.append("실물(패시브)")
        self.code_to_e = {c: e for e, c in enumerate(self.code)}
        self.isin_to_e = {c: e for e, c in enumerate(self.isin)}

    @staticmethod
    def _etf_name(brand: str, spec, mult: int, used: set[str]) -> str:
        if spec.name == "코스피 200":
            base = {1: "200", 2: "레버리지", -1: "인버스", -2: "200선물인버스2X"}[mult]
        else:
            base = spec.short + {1: "", 2: "레버리지", -1: "인버스", -2: "인버스2X"}[mult]
        name = f"{brand} {base}"
        variants = [v for v in NAME_VARIANTS if v not in base]
        k = 0
        while name in used:
            suffix = str(k // len(variants) + 1) if k >= len(variants) else ""
            name = f"{brand} {base}{variants[k % len(variants)]}{suffix}"
            k += 1
        used.add(name)
        return name

    def _numeric_codes(self, n: int, used: set[str]) -> list[str]:
        out: list[str] = []
        pool = list(range(10_000, 49_999))
        picks = sorted(self._pyr.sample(pool, min(len(pool), n * 2)))
        for p in picks:
            c = f"{p * 10 % 1_000_000:06d}"
            if c not in used:
                used.add(c)
                out.append(c)
            if len(out) == n:
                break
        return out

    def _alnum_codes(self, n: int, used: set[str]) -> list[str]:
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
        out: list[str] = []
        k = 0
        while len(out) < n:
            c = f"00{40 + k // len(letters):02d}{letters[k % len(letters)]}0"
            k += 1
            if c not in used:
                used.add(c)
                out.append(c)
        return out

    # --------------------------------------------------------------- paths
    def _build_paths(self) -> None:
        m, T, n = self.m, self.T_(), self.n
        rng = np.random.default_rng(m.seed + 202)
        idx_ret = m.index_ret[self.index]  # n x T
        is_over = np.array([m.index_specs[k].mkt_class != "국내" for k in self.index])
        te_sd = np.where(self.multiple != 1, 0.0004, np.where(is_over, 0.0008, 0.00015))
        gap = np.zeros(T)
        gap[1:] = np.diff(m._ord)
        g = 1.0 + self.multiple[:, None] * idx_ret
        g += rng.standard_normal((n, T)) * te_sd[:, None]
        g -= (self.fee[:, None] / 100.0 / 365.0) * gap[None, :]
        np.clip(g, 0.05, None, out=g)
        g[:, 0] = 1.0
        cum = np.cumprod(g, axis=1)
        nav0 = np.array([r["nav0"] for r in self.rows])
        nav = nav0[:, None] * cum / cum[np.arange(n), self.list_t][:, None]
        self.nav = np.round(nav, 2)
        big = rng.random((n, T)) < 0.01
        prem_sd = np.where(is_over, 0.0012, 0.0004)
        prem = rng.standard_normal((n, T)) * prem_sd[:, None] + big * rng.normal(0, 0.006, (n, T))
        self.close = round_tick(self.nav * (1.0 + prem), etf_tick).astype(np.int32)
        # creations/redemptions: CU count as a drifting random walk anchored at today's size
        flows = rng.normal(0.0006, 0.012, (n, T)) * (rng.random((n, T)) < 0.35)
        cumf = np.cumsum(flows, axis=1)
        t_anchor = np.minimum(self.delist_t - 1, m.t_end)
        cu_now = np.array([r["units_now"] for r in self.rows]) / self.cu
        n_cu = np.round(cu_now[:, None] * np.exp(cumf - cumf[np.arange(n), t_anchor][:, None]))
        self.n_cu = np.maximum(1, n_cu).astype(np.int32)
        self.turnover = np.exp(rng.normal(np.log(0.01), 1.0, n))

    def T_(self) -> int:
        return self.m.T

    # --------------------------------------------------------------- queries
    def listed_mask(self, t: int) -> np.ndarray:
        return (self.list_t <= t) & (t < self.delist_t)

    def units(self, e, t) -> np.ndarray:
        return self.n_cu[e, t].astype(np.int64) * self.cu[e]

    def bars(self, e, ts) -> dict[str, np.ndarray]:
        """OHLCV for (etf e, day ts) broadcast pairs; prev = previous close (listing day: NAV0)."""
        e = np.asarray(e, dtype=np.int64)
        ts = np.asarray(ts, dtype=np.int64)
        e, ts = np.broadcast_arrays(e, ts)
        close = self.close[e, ts].astype(np.float64)
        prev = np.where(ts > 0, self.close[e, np.maximum(ts - 1, 0)], close)
        first = self.list_t[e] == ts
        prev = np.where(first, round_tick(self.nav[e, ts], etf_tick), prev)
        sd = 0.004 * np.maximum(1, np.abs(self.multiple[e]))
        o = round_tick(prev * np.exp(0.5 * sd * noise.normal(self.m.seed, S_OHL, e, ts)), etf_tick)
        hi = round_tick(np.maximum(o, close) * np.exp(sd * np.abs(noise.normal(self.m.seed, S_OHL + 20, e, ts))),
                        etf_tick, "up")
        lo = round_tick(np.minimum(o, close) * np.exp(-sd * np.abs(noise.normal(self.m.seed, S_OHL + 40, e, ts))),
                        etf_tick, "down")
        units = self.n_cu[e, ts].astype(np.float64) * self.cu[e]
        val = close * units * self.turnover[e] * np.exp(0.6 * noise.normal(self.m.seed, S_ETF_VOL, e, ts))
        vwap = (o + hi + lo + close) / 4
        vol = np.maximum(0.0, np.round(val / vwap))
        return {"open": o.astype(np.int64), "high": hi.astype(np.int64), "low": lo.astype(np.int64),
                "close": close.astype(np.int64), "prev": prev, "volume": vol.astype(np.int64),
                "value": np.round(vol * vwap).astype(np.int64), "units": units.astype(np.int64),
                "nav": self.nav[e, ts], "prev_nav": np.where(ts > 0, self.nav[e, np.maximum(ts - 1, 0)], self.nav[e, ts])}

    def tracking_error(self, e: int, t: int) -> float:
        """KRX-style TRACE_ERR_RT published on day t (our definition, documented in krx.py):
        annualised (x sqrt 250) standard deviation, in %, of daily NAV return - multiple x index
        return over the 250 trading days ending at the last trading day of the previous month
        (at least 20 days since listing; 0 when not enough history)."""
        m = self.m
        d = m.dates[t]
        t_end = m.last_t_on_or_before(dt.date(d.year, d.month, 1) - dt.timedelta(days=1))
        t0 = max(int(self.list_t[e]) + 1, t_end - 249)
        if t_end - t0 < 19:
            return 0.0
        nav = self.nav[e, t0 - 1:t_end + 1]
        nr = nav[1:] / nav[:-1] - 1.0
        ir = m.index_ret[self.index[e], t0:t_end + 1]
        diff = nr - self.multiple[e] * ir
        return float(np.std(diff, ddof=1) * np.sqrt(250) * 100.0)

    # --------------------------------------------------------------- holdings
    def holdings(self, e: int, t: int) -> list[Line]:
        m = self.m
        k = int(self.index[e])
        spec = m.index_specs[k]
        mult = int(self.multiple[e])
        cu_value = float(self.nav[e, t]) * int(self.cu[e])
        if mult != 1:
            return self._derivative_lines(e, t, k, mult, cu_value)
        if spec.kind == "stocks":
            return self._equity_lines(e, t, k, cu_value)
        return self._basket_lines(e, t, k, cu_value)

    def _cash_frac(self, e: int, t: int) -> float:
        return 0.004 + 0.004 * float(noise.uniform(self.m.seed, S_CASH, e, t))

    def _equity_lines(self, e, t, k, cu_value) -> list[Line]:
        m = self.m
        idx, w = m.index_members(k, t)
        lines: list[Line] = []
        invest = cu_value * (1.0 - self._cash_frac(e, t))
        if len(idx):
            price = m.close[idx, t].astype(np.float64)
            prev = m.stock_bars(idx, t)["prev"]
            qty = np.floor(w * invest / price)
            keep = qty > 0
            idx, qty, price, prev = idx[keep], qty[keep], price[keep], prev[keep]
            amt = qty * price
            order = np.argsort(-amt, kind="stable")
            for j in order:
                i = int(idx[j])
                lines.append(Line(m.stocks.code[i], m.stocks.isin[i], str(m.stocks.market[i]), "ST",
                                  m.stocks.name[i], float(qty[j]), float(qty[j] * prev[j]), float(amt[j]),
                                  float(amt[j] / cu_value * 100), float(price[j]), float(prev[j]), i))
        cash = cu_value - sum(ln.compst_amt for ln in lines)
        lines.append(Line("KRD010010001", "KRD010010001", "", "", "원화예금", None, None, round(cash),
                          cash / cu_value * 100))
        return lines

    def _derivative_lines(self, e, t, k, mult, cu_value) -> list[Line]:
        m = self.m
        lines: list[Line] = []
        exposure = mult * cu_value
        etf_value = 0.0
        # hold the issuer's (or any) plain tracker of the same index when one is listed
        peers = [j for j in range(self.n) if self.index[j] == k and self.multiple[j] == 1
                 and self.list_t[j] <= t < self.delist_t[j]]
        if peers:
            same_brand = [j for j in peers if self.brand[j] == self.brand[e]]
            j = (same_brand or peers)[0]
            px = float(self.close[j, t])
            prev = float(self.close[j, t - 1]) if t > 0 else px
            qty = np.sign(mult) * np.floor(0.3 * cu_value / px)
            etf_value = qty * px
            lines.append(Line(self.code[j], self.isin[j], "STK", "EF", self.abbrv[j], float(qty), qty * prev,
                              etf_value, etf_value / cu_value * 100 if qty > 0 else None, px, prev))
        level = float(m.index_level[k, t])
        prev_level = float(m.index_level[k, t - 1]) if t > 0 else level
        contracts = round((exposure - etf_value) / (level * 250_000), 2)
        code, name = self._futures_code(k, t)
        lines.append(Line(code, code, "DRV", "FU", name, contracts, contracts * prev_level * 250_000,
                          contracts * level * 250_000, None, level, prev_level))
        setup_cash = round(0.01 * cu_value)
        deposit = cu_value - max(etf_value, 0.0) - setup_cash
        lines.append(Line("KRD010010001", "KRD010010001", "", "", "원화예금", None, None, round(deposit),
                          deposit / cu_value * 100))
        lines.append(Line("CASH00000001", "CASH00000001", "", "", "설정현금액", None, None, setup_cash,
                          setup_cash / cu_value * 100))
        return lines

    def _futures_code(self, k: int, t: int) -> tuple[str, str]:
        """Front quarterly contract: `KR4` + series + year letter + month + `000` + check-ish digit."""
        d = self.m.dates[t]
        month = 3 * ((d.month - 1) // 3 + 1)
        year = d.year
        if d.month == month and d.day > 14:  # past the 2nd-Thursday expiry -> next quarter
            month += 3
            if month > 12:
                month, year = 3, year + 1
        letters = "ABCDEFGHJKLMNPQRSTVWXYZ"
        yl = letters[(year - 2006) % len(letters)]
        ml = "123456789ABC"[month - 1]
        spec = self.m.index_specs[k]
        series = spec.futures_series
        code = make_isin(f"KR4{series}{yl}{ml}000")
        label = {"코스피 200": "코스피200 F", "코스닥 150": "코스닥150 F"}.get(spec.name, f"{spec.short} F")
        return code, f"{label} {year}{month:02d}"

    def _basket(self, k: int) -> list[dict]:
        """Fixed instrument list of a non-constituent benchmark (cached per index)."""
        if k in self._baskets:
            return self._baskets[k]
        spec = self.m.index_specs[k]
        r = random.Random(self.m.seed * 31 + k)
        n = {"주식": 40, "채권": 8, "원자재": 2, "통화": 1, "부동산": 15, "혼합자산": 6, "기타": 5}[spec.asset_class]
        country = {"S&P 500": "US", "NASDAQ 100": "US", "필라델피아 반도체": "US", "다우존스 미국배당100": "US",
                   "니케이225": "JP", "항셍테크": "KY", "유로스탁스50": "DE", "Nifty 50": "IN"}.get(spec.name, "US")
        items = []
        for j in range(n):
            if spec.asset_class == "주식" and country == "US" and j < len(REAL_US) and r.random() < 0.8:
                body, name = REAL_US[j]
            elif spec.asset_class in ("채권", "기타") and spec.mkt_class == "국내":
                body = f"KR103502{r.choice('ABCDEFGH')}{r.randrange(10, 99)}"
                yy, mm = 24 + r.randrange(0, 12), r.randrange(1, 13)
                name = f"국고채권{r.choice(['02375', '03125', '03250', '02625'])}-{yy:02d}{mm:02d}({yy - 3}-{j + 1})"
            elif spec.asset_class in ("원자재", "통화"):
                body = f"{'US' if spec.asset_class == '원자재' else 'KR'}{r.randrange(10**8, 10**9)}F"[:11]
                name = f"{spec.short} {2026 + j}"
            elif spec.asset_class == "부동산":
                body = f"KR7{r.randrange(330000, 450000):06d}0"[:11]
                name = f"{r.choice(['신한', 'SK', '롯데', 'ESR', '코람코', 'KB'])}리츠{j + 1}"
            else:
                body = f"{country}{''.join(r.choice('0123456789ABCDEFGHJKLMNPQRSTUVWXYZ') for _ in range(9))}"
                name = f"{r.choice(_FOREIGN_WORDS)} {r.choice(_FOREIGN_WORDS)} {r.choice(_FOREIGN_TAILS)}"
            isin = make_isin(body)
            items.append({"code": isin, "name": name, "weight": 1.0 / (j + 1.5) ** 0.9,
                          "p0": float(np.exp(r.uniform(np.log(20_000), np.log(900_000)))),
                          "secugrp": "FU" if spec.asset_class in ("원자재", "통화") else ""})
        tot = sum(it["weight"] for it in items)
        for it in items:
            it["weight"] /= tot
        self._baskets[k] = items
        return items

    def _basket_lines(self, e, t, k, cu_value) -> list[Line]:
        m = self.m
        items = self._basket(k)
        invest = cu_value * (1.0 - self._cash_frac(e, t))
        rel = m.index_level[k, t] / m.index_level[k, 0]
        rel_prev = m.index_level[k, max(t - 1, 0)] / m.index_level[k, 0]
        lines: list[Line] = []
        for j, it in enumerate(items):
            px = it["p0"] * rel * float(np.exp(0.04 * noise.normal(m.seed, S_BASKET, k * 1000 + j, t)))
            pv = it["p0"] * rel_prev * float(np.exp(0.04 * noise.normal(m.seed, S_BASKET, k * 1000 + j, max(t - 1, 0))))
            px, pv = round(px, 2), round(pv, 2)
            qty = float(np.floor(it["weight"] * invest / px))
            if qty <= 0:
                continue
            amt = round(qty * px)
            lines.append(Line(it["code"], it["code"], "", it["secugrp"], it["name"], qty, round(qty * pv), amt,
                              amt / cu_value * 100, px, pv))
        lines.sort(key=lambda ln: -ln.compst_amt)
        cash = cu_value - sum(ln.compst_amt for ln in lines)
        lines.append(Line("KRD010010001", "KRD010010001", "", "", "원화예금", None, None, round(cash),
                          cash / cu_value * 100))
        return lines
