"""The synthetic Korean market: stocks, indexes and ETFs, deterministic from the seed.

Built once at startup with vectorised numpy so that serving a date is only slicing and formatting:

* close prices of every stock on every trading day (int32 matrix, KRX tick sizes), from log returns
  = beta x market factor + sector factor (+ KOSDAQ factor) + idiosyncratic noise, clipped well
  inside the +-30% price limit; splits divide the price and multiply the shares on the ex-date;
* index levels computed from constituents (cap-weighted, previous-day caps as weights, i.e. the
  divisor method) or, for overseas/bond/commodity benchmarks, their own random walks;
* ETF NAV paths = previous NAV x (1 + multiple x index return) - daily fee, traded close = NAV x
  (1 + small premium noise), listed units moving with creations/redemptions (see `etfs.py`).

Open/high/low/volume, fundamentals and premium noise are *not* stored: they come from a
coordinate hash (`noise.py`), so any (ticker, day) is reproducible on any access path.

Day indexes `t` count trading days from `start_date`; all queries take `t` or dates.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import numpy as np

from . import noise
from .calendar import ordinals, trading_days
from .clock import KST
from .config import SimConfig
from .universe import (
    KNOWN_ETFS,
    KNOWN_STOCKS,
    KOSDAQ_SECT_TP,
    KOSDAQ_SECTORS,
    KOSPI_SECTORS,
    SECTOR_VOL,
    IndexSpec,
    company_name,
    index_specs,
    stock_isin,
    to_date,
)

# noise streams (keep distinct and stable: changing one changes the synthetic data)
S_OPEN, S_HIGH, S_LOW, S_VOL, S_EPS, S_BPS, S_LOSS, S_IDX_HL, S_IDX_VOL = range(1, 10)

_STOCK_TICK_EDGES = np.array([2_000, 5_000, 20_000, 50_000, 200_000, 500_000], dtype=np.float64)
_STOCK_TICKS = np.array([1, 5, 10, 50, 100, 500, 1000], dtype=np.float64)


def stock_tick(p: np.ndarray) -> np.ndarray:
    """KRX tick size (unified KOSPI/KOSDAQ schedule since 2023, applied to all dates)."""
    return _STOCK_TICKS[np.searchsorted(_STOCK_TICK_EDGES, p, side="right")]


def etf_tick(p: np.ndarray) -> np.ndarray:
    return np.where(p < 2_000, 1.0, 5.0)


def round_tick(p: np.ndarray, tick_fn=stock_tick, mode: str = "nearest") -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    tick = tick_fn(p)
    if mode == "up":
        return np.ceil(p / tick - 1e-9) * tick
    if mode == "down":
        return np.floor(p / tick + 1e-9) * tick
    return np.round(p / tick) * tick


@dataclass
class Stocks:
    """Column arrays, one row per stock, sorted by short code."""

    code: list[str]
    isin: list[str]
    name: list[str]
    eng: list[str]
    market: np.ndarray  # "STK" / "KSQ"
    sector: list[str]
    sect_tp: list[str]
    preferred: np.ndarray  # bool
    par0: np.ndarray
    shares0: np.ndarray  # float64 shares before any in-range split
    list_t: np.ndarray  # first trading day index (0 when listed before start)
    delist_t: np.ndarray  # first day index no longer listed (T when still listed)
    list_date: list[dt.date]
    delist_date: list[dt.date | None]
    beta: np.ndarray
    sigma: np.ndarray
    turnover: np.ndarray
    per_target: np.ndarray
    pbr_target: np.ndarray
    payout: np.ndarray
    loss_prob: np.ndarray

    def __len__(self) -> int:
        return len(self.code)


class Market:
    """Ground truth for both protocols. Build with `Market(SimConfig(...))`."""

    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self.seed = int(self.config.seed)
        self._rng = np.random.default_rng(self.seed)
        self._pyrng = random.Random(self.seed)
        self._build_calendar()
        self._build_stocks()
        self._build_prices()
        self._build_indexes()
        from .etfs import EtfBook

        self.etfs = EtfBook(self)

    # ------------------------------------------------------------------ calendar
    def _build_calendar(self) -> None:
        cfg = self.config
        self.start_date = to_date(cfg.start_date)
        if cfg.end_date:
            self.end_date = to_date(cfg.end_date)
            horizon_end = self.end_date
        else:
            self.end_date = dt.datetime.now(KST).date()
            horizon_end = self.end_date + dt.timedelta(days=cfg.horizon_days)
        self.extra_closures = {to_date(d) for d in cfg.extra_closures}
        self.dates: list[dt.date] = trading_days(self.start_date, horizon_end, cfg.extra_closures)
        if len(self.dates) < 2:
            raise ValueError("the simulated range must contain at least two trading days")
        self.T = len(self.dates)
        self._ord = ordinals(self.dates)
        self.t_of: dict[dt.date, int] = {d: k for k, d in enumerate(self.dates)}
        # day index of the last trading day <= end_date (listings/delistings are placed before it)
        self.t_end = self.last_t_on_or_before(self.end_date)

    def is_trading_day(self, d: dt.date) -> bool:
        return d in self.t_of

    def last_t_on_or_before(self, d: dt.date) -> int:
        """Index of the last trading day <= d (-1 when none)."""
        return int(np.searchsorted(self._ord, d.toordinal(), side="right")) - 1

    def t_range(self, d1: dt.date, d2: dt.date) -> range:
        lo = int(np.searchsorted(self._ord, d1.toordinal(), side="left"))
        hi = int(np.searchsorted(self._ord, d2.toordinal(), side="right"))
        return range(lo, max(lo, hi))

    # ------------------------------------------------------------------ stocks
    def _build_stocks(self) -> None:
        n_kospi, n_kosdaq, _ = self.config.counts()
        rng, pyr = self._rng, self._pyrng
        T = self.T
        rows: list[dict] = []
        used_names = {k.name for k in KNOWN_STOCKS}
        # Known ETF codes are reserved too: a stock must never share a code with an ETF.
        used_codes = {k.code for k in KNOWN_STOCKS} | {k.code for k in KNOWN_ETFS}

        def t_for(date_s: str) -> int:
            d = to_date(date_s)
            if d <= self.dates[0]:
                return 0
            return int(np.searchsorted(self._ord, d.toordinal(), side="left"))

        for market, quota in (("STK", n_kospi), ("KSQ", n_kosdaq)):
            known = [k for k in KNOWN_STOCKS if k.market == market][:quota]
            for k in known:
                lt = t_for(k.list_date)
                if lt > self.t_end:
                    continue  # not listed yet in this simulated range
                splits = [(t_for(d), r) for d, r in k.splits if 0 < t_for(d) <= self.t_end and t_for(d) > lt]
                ratio = float(np.prod([r for _, r in splits])) if splits else 1.0
                rows.append(dict(
                    code=k.code, name=k.name, eng=k.eng, market=market, sector=k.sector,
                    preferred=k.pref_of is not None, pref_of=k.pref_of, par=k.par,
                    shares=k.shares_now / ratio, price=float(k.price_start), list_t=lt,
                    delist_t=T, splits=splits, known=True,
                ))
            n_synth = quota - len([r for r in rows if r["market"] == market])
            sectors = KOSPI_SECTORS if market == "STK" else KOSDAQ_SECTORS
            commons: list[dict] = []
            for _ in range(max(0, n_synth)):
                make_pref = market == "STK" and commons and pyr.random() < 0.07
                if make_pref:
                    base = pyr.choice(commons)
                    code = base["code"][:5] + "5"
                    if code in used_codes:
                        make_pref = False
                if make_pref:
                    used_codes.add(code)
                    rows.append(dict(
                        code=code, name=base["name"] + "우", eng=base["eng"] + "(1P)", market=market,
                        sector=base["sector"], preferred=True, pref_of=base["code"], par=base["par"],
                        shares=base["shares"] * pyr.uniform(0.03, 0.2), price=base["price"] * 0.7,
                        list_t=base["list_t"], delist_t=base["delist_t"], splits=[], known=False,
                    ))
                    continue
                while True:
                    lo, hi = (1, 12_000) if market == "STK" else (3_000, 48_000)
                    code = f"{pyr.randrange(lo, hi) * 10 % 1_000_000:06d}"
                    if code not in used_codes and code[:5] + "5" not in used_codes:
                        break
                used_codes.add(code)
                sector = pyr.choice(sectors)
                name = company_name(pyr, sector, used_names)
                pre_existing = pyr.random() < (0.8 if market == "STK" else 0.55)
                list_t = 0 if pre_existing else pyr.randrange(1, max(2, self.t_end - 5))
                delist_t = T
                if pyr.random() < (0.04 if market == "STK" else 0.10) and list_t + 80 < self.t_end:
                    delist_t = pyr.randrange(list_t + 60, self.t_end)
                splits = []
                if pyr.random() < 0.02 and list_t + 40 < min(delist_t, self.t_end):
                    splits = [(pyr.randrange(list_t + 20, min(delist_t, self.t_end)), pyr.choice([2, 5, 10]))]
                median_px = 25_000 if market == "STK" else 8_000
                row = dict(
                    code=code, name=name, eng=_romanize(code, name), market=market, sector=sector,
                    preferred=False, pref_of=None,
                    par=pyr.choice([5000, 5000, 5000, 500, 1000, 2500] if market == "STK" else [500, 500, 500, 100, 1000]),
                    shares=float(np.exp(rng.normal(np.log(3e7 if market == "STK" else 1.5e7), 0.9))),
                    price=float(np.clip(np.exp(rng.normal(np.log(median_px), 0.9)), 800, 1_200_000)),
                    list_t=list_t, delist_t=delist_t, splits=splits, known=False,
                )
                rows.append(row)
                commons.append(row)
        # guarantee some structure in tiny markets: at least one IPO and one delisting among synthetics
        synth = [r for r in rows if not r["known"] and not r["preferred"]]
        if synth and not any(r["delist_t"] < T for r in synth) and self.t_end > 200:
            r = synth[0]
            r["delist_t"] = max(r["list_t"] + 60, self.t_end - 120)
        if len(synth) > 1 and not any(r["list_t"] > 0 for r in synth[1:]) and self.t_end > 200:
            synth[1]["list_t"] = self.t_end // 2
        rows.sort(key=lambda r: r["code"])
        self._stock_rows = rows
        n = len(rows)
        market_arr = np.array([r["market"] for r in rows])
        sigma = np.array([
            SECTOR_VOL.get(r["sector"], 0.018 if r["market"] == "STK" else 0.024) for r in rows
        ]) * rng.uniform(0.7, 1.3, n)
        list_t = np.array([r["list_t"] for r in rows], dtype=np.int64)
        delist_t = np.array([r["delist_t"] for r in rows], dtype=np.int64)
        self.stocks = Stocks(
            code=[r["code"] for r in rows],
            isin=[stock_isin(r["code"], r["preferred"]) for r in rows],
            name=[r["name"] for r in rows],
            eng=[r["eng"] for r in rows],
            market=market_arr,
            sector=[r["sector"] for r in rows],
            sect_tp=["" if r["market"] == "STK" else KOSDAQ_SECT_TP[int(r["code"][:5]) % 4] for r in rows],
            preferred=np.array([r["preferred"] for r in rows]),
            par0=np.array([r["par"] for r in rows], dtype=np.float64),
            shares0=np.array([r["shares"] for r in rows], dtype=np.float64),
            list_t=list_t,
            delist_t=delist_t,
            list_date=[self.dates[r["list_t"]] if r["list_t"] > 0 else _known_list_date(r, self.dates[0])
                       for r in rows],
            delist_date=[self.dates[r["delist_t"]] if r["delist_t"] < T else None for r in rows],
            beta=rng.uniform(0.6, 1.4, n),
            sigma=sigma,
            turnover=np.exp(rng.normal(np.log(0.004), 0.7, n)) * np.where(market_arr == "KSQ", 2.0, 1.0),
            per_target=np.exp(rng.normal(np.log(13.0), 0.5, n)),
            pbr_target=np.exp(rng.normal(np.log(1.1), 0.5, n)),
            payout=np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.1, 0.45, n)),
            loss_prob=np.where(rng.random(n) < 0.2, rng.uniform(0.3, 0.9, n), 0.03),
        )
        self.code_to_i = {c: i for i, c in enumerate(self.stocks.code)}
        self.isin_to_i = {c: i for i, c in enumerate(self.stocks.isin)}
        # splits as flat arrays (stock index, day index, ratio)
        sp = [(i, t, r) for i, row in enumerate(rows) for t, r in row["splits"]]
        self.split_i = np.array([s[0] for s in sp], dtype=np.int64)
        self.split_t = np.array([s[1] for s in sp], dtype=np.int64)
        self.split_r = np.array([s[2] for s in sp], dtype=np.float64)
        self._pref_of = np.array([self.code_to_i.get(r["pref_of"], -1) if r["pref_of"] else -1 for r in rows])

    # ------------------------------------------------------------------ prices
    def _build_prices(self) -> None:
        st, rng, T = self.stocks, self._rng, self.T
        n = len(st)
        n_sectors = len(KOSPI_SECTORS) + len(KOSDAQ_SECTORS)
        sector_id = np.array([
            KOSPI_SECTORS.index(s) if m == "STK" else len(KOSPI_SECTORS) + KOSDAQ_SECTORS.index(s)
            for s, m in zip(st.sector, st.market, strict=True)
        ])
        # column 0 is a virtual day before the first listed day (anchor for the base price)
        # market factor bridged to a plausible total move (~x2.3 over 16 years, scaled by length)
        mkt = rng.normal(0.0, 0.011, T + 1)
        mkt[0] = 0.0
        target_mkt = np.log(2.3) * T / 4150.0
        mkt[1:] += (target_mkt - mkt.sum()) / T
        mkt = mkt.astype(np.float32)
        sec = rng.normal(0.0, 0.007, (n_sectors, T + 1)).astype(np.float32)
        ksq = rng.normal(0.0, 0.006, T + 1).astype(np.float32)
        r = rng.standard_normal((n, T + 1), dtype=np.float32)
        r *= st.sigma.astype(np.float32)[:, None]
        r += st.beta.astype(np.float32)[:, None] * mkt[None, :]
        r += sec[sector_id]
        r[st.market == "KSQ"] += ksq[None, :]
        # preferred shares follow their common stock closely
        pref = np.nonzero(self._pref_of >= 0)[0]
        if len(pref):
            r[pref] = r[self._pref_of[pref]] + rng.normal(0, 0.006, (len(pref), T + 1)).astype(np.float32)
        np.clip(r, -0.25, 0.25, out=r)
        r[:, 0] = 0.0
        cum = np.cumsum(r, axis=1, out=r)  # in place: r now holds cumulative log returns
        anchor = st.list_t  # extended column index of the day before listing
        cum -= cum[np.arange(n), anchor][:, None]
        # Brownian-bridge each stock towards beta x market + N(0, 0.6) over its life so 16 years of
        # random walk do not produce 16,000,000-won stocks; daily returns shift by a tiny constant.
        span = (T - anchor).astype(np.float64)
        target = st.beta * float(np.sum(mkt[1:])) + rng.normal(0.0, 0.6, n) * np.sqrt(span / 4150.0)
        slope = ((target - cum[:, T]) / np.maximum(span, 1.0)).astype(np.float32)
        steps = np.arange(T + 1, dtype=np.float32)[None, :] - anchor[:, None].astype(np.float32)
        np.maximum(steps, 0.0, out=steps)
        steps *= slope[:, None]
        cum += steps
        del steps
        price = cum.astype(np.float64)  # in place from here on: full-size matrices are ~90 MB each
        del cum, r
        np.exp(price, out=price)
        price *= np.array([row["price"] for row in self._stock_rows])[:, None]
        # a split divides the price from its ex-date on (extended column t + 1)
        for i, t, ratio in zip(self.split_i, self.split_t, self.split_r, strict=True):
            price[i, t + 1:] /= ratio
        np.clip(price, 50.0, None, out=price)
        close_ext = np.empty(price.shape, dtype=np.int32)
        for lo in range(0, n, 512):
            close_ext[lo:lo + 512] = round_tick(price[lo:lo + 512])
        del price
        self.close = np.ascontiguousarray(close_ext[:, 1:])
        self.offer_price = close_ext[np.arange(n), anchor].astype(np.int64)  # base price on listing day
        del close_ext

    def factor(self, idx, ts) -> np.ndarray:
        """Cumulative split factor (product of ratios with ex-date <= t) for broadcast (idx, ts).

        Splits are few, so a loop over them beats storing an n x T factor matrix."""
        idx, ts = np.broadcast_arrays(np.asarray(idx, dtype=np.int64), np.asarray(ts, dtype=np.int64))
        f = np.ones(idx.shape, dtype=np.float64)
        for si, stt, r in zip(self.split_i, self.split_t, self.split_r, strict=True):
            f = np.where((idx == si) & (ts >= stt), f * r, f)
        return f

    # per-date vector helpers --------------------------------------------------
    def listed_mask(self, t: int) -> np.ndarray:
        st = self.stocks
        return (st.list_t <= t) & (t < st.delist_t)

    def shares_at(self, t: int, idx=None) -> np.ndarray:
        idx = np.arange(len(self.stocks)) if idx is None else np.asarray(idx)
        return np.round(self.stocks.shares0[idx] * self.factor(idx, t)).astype(np.int64)

    def stock_bars(self, idx, ts) -> dict[str, np.ndarray]:
        """OHLCV + value + raw prev base for (stock idx, day ts) pairs (broadcast 1-D arrays).

        Open/high/low come from hash noise around the prior close and the close; they always satisfy
        low <= open, close <= high and stay inside the +-30% limits.
        """
        idx = np.asarray(idx, dtype=np.int64)
        ts = np.asarray(ts, dtype=np.int64)
        idx, ts = np.broadcast_arrays(idx, ts)
        close = self.close[idx, ts].astype(np.float64)
        f_now = self.factor(idx, ts)
        f_prev = self.factor(idx, np.maximum(ts - 1, 0))
        prev = np.where(ts > 0, self.close[idx, np.maximum(ts - 1, 0)] / (f_now / f_prev), self.offer_price[idx])
        prev = np.where(self.stocks.list_t[idx] == ts, self.offer_price[idx], prev)
        sig = self.stocks.sigma[idx]
        up_lim = round_tick(prev * 1.3, mode="down")
        lo_lim = round_tick(prev * 0.7, mode="up")
        o = round_tick(prev * np.exp(0.35 * sig * noise.normal(self.seed, S_OPEN, idx, ts)))
        o = np.clip(o, lo_lim, up_lim)
        hi = round_tick(np.maximum(o, close) * np.exp(0.6 * sig * np.abs(noise.normal(self.seed, S_HIGH, idx, ts))),
                        mode="up")
        lo = round_tick(np.minimum(o, close) * np.exp(-0.6 * sig * np.abs(noise.normal(self.seed, S_LOW, idx, ts))),
                        mode="down")
        hi = np.clip(np.maximum(hi, np.maximum(o, close)), None, np.maximum(up_lim, close))
        lo = np.clip(np.minimum(lo, np.minimum(o, close)), np.minimum(lo_lim, close), None)
        shares = self.stocks.shares0[idx] * f_now
        ret = close / prev - 1.0
        value_target = close * shares * self.stocks.turnover[idx] * np.exp(
            0.45 * noise.normal(self.seed, S_VOL, idx, ts)) * (1.0 + 12.0 * np.abs(ret))
        vwap = (o + hi + lo + close) / 4.0
        vol = np.maximum(1.0, np.round(value_target / vwap))
        return {
            "open": o.astype(np.int64), "high": hi.astype(np.int64), "low": lo.astype(np.int64),
            "close": close.astype(np.int64), "prev": prev, "volume": vol.astype(np.int64),
            "value": np.round(vol * vwap).astype(np.int64), "shares": np.round(shares).astype(np.int64),
            "upper": up_lim, "lower": lo_lim,
        }

    def fundamentals(self, t: int, idx=None) -> dict[str, np.ndarray]:
        """EPS/BPS/DPS for day t: anchored on the price at the start of the calendar quarter (so PER
        and PBR drift slowly around a per-stock target), with quarterly hash noise."""
        st = self.stocks
        idx = np.arange(len(st)) if idx is None else np.asarray(idx)
        d = self.dates[t]
        q_start = dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
        y_start = dt.date(d.year, 1, 1)
        q = d.year * 4 + (d.month - 1) // 3

        def anchored(day: dt.date) -> np.ndarray:
            tq = max(0, int(np.searchsorted(self._ord, day.toordinal(), side="left")))
            tq = np.maximum(min(tq, t), st.list_t[idx])
            tq = np.minimum(tq, t)
            return self.close[idx, tq] * self.factor(idx, tq) / self.factor(idx, t)

        pq = anchored(q_start)
        loss = noise.uniform(self.seed, S_LOSS, idx, q) < st.loss_prob[idx]
        eps_abs = pq / st.per_target[idx] * np.exp(0.1 * noise.normal(self.seed, S_EPS, idx, q))
        eps = np.where(loss, -0.35 * eps_abs, eps_abs)
        bps = pq / st.pbr_target[idx] * np.exp(0.04 * noise.normal(self.seed, S_BPS, idx, q))
        py = anchored(y_start)
        eps_y = py / st.per_target[idx]
        dps = np.round(st.payout[idx] * eps_y / 10.0) * 10.0
        return {"eps": np.round(eps).astype(np.int64), "bps": np.round(bps).astype(np.int64),
                "dps": dps.astype(np.int64)}

    # ------------------------------------------------------------------ indexes
    def _build_indexes(self) -> None:
        st, T = self.stocks, self.T
        n = len(st)
        self.index_specs: list[IndexSpec] = index_specs()
        self.index_by_name = {s.name: k for k, s in enumerate(self.index_specs)}
        self.index_by_code = {(s.ind_idx, s.ind_idx2): k for k, s in enumerate(self.index_specs)}
        K = len(self.index_specs)
        ret = np.zeros((K, T), dtype=np.float64)
        cap_sum = np.zeros((K, T), dtype=np.float64)
        caps = self.close.astype(np.float32)
        caps *= st.shares0.astype(np.float32)[:, None]
        sret = np.zeros((n, T), dtype=np.float32)  # split-adjusted simple returns, r[:, 0] = 0
        np.divide(self.close[:, 1:], self.close[:, :-1], out=sret[:, 1:], dtype=np.float32)
        sret[:, 1:] -= 1.0
        for i, t, ratio in zip(self.split_i, self.split_t, self.split_r, strict=True):
            caps[i, t:] *= ratio
            sret[i, t] = self.close[i, t] * ratio / self.close[i, t - 1] - 1.0
        listed = (st.list_t[:, None] <= np.arange(T)[None, :]) & (np.arange(T)[None, :] < st.delist_t[:, None])
        valid = listed.copy()
        valid[:, 1:] &= listed[:, :-1]
        valid[:, 0] = False
        self._members: dict[int, list[tuple[int, int, np.ndarray]]] = {}
        rebal = [0] + [t for t in range(1, T) if self.dates[t].month in (1, 7)
                       and self.dates[t - 1].month != self.dates[t].month]
        rebal_bounds = list(zip(rebal, rebal[1:] + [T], strict=True))
        sector_arr = np.array(st.sector)
        walk_rng = np.random.default_rng(self.seed + 1)
        for k, spec in enumerate(self.index_specs):
            if spec.kind == "walk":
                shocks = walk_rng.normal(spec.drift, spec.vol, T)
                shocks[0] = 0.0
                ret[k] = np.clip(shocks, -0.2, 0.2)
                continue
            elig = np.ones(n, dtype=bool)
            if "market" in spec.rule:
                elig &= st.market == spec.rule["market"]
            if "sectors" in spec.rule:
                elig &= np.isin(sector_arr, spec.rule["sectors"])
            top_n = spec.rule.get("top_n")
            if top_n:
                elig &= ~st.preferred
                periods = []
                for t0, t1 in rebal_bounds:
                    tsel = max(t0 - 1, 0)
                    cand = np.nonzero(elig & listed[:, tsel] & listed[:, t0])[0]
                    if len(cand) == 0:
                        continue
                    size = min(top_n, max(3, len(cand) // 2) if len(cand) < 2 * top_n else top_n)
                    order = np.argsort(-caps[cand, tsel], kind="stable")
                    periods.append((t0, t1, np.sort(cand[order[:size]])))
                self._members[k] = periods
                for t0, t1, mem in periods:
                    c_prev = caps[mem, max(t0 - 1, 0):t1 - 1]
                    if t0 == 0:
                        c_prev = np.concatenate([caps[mem, :1], c_prev], axis=1)
                    v = valid[mem, t0:t1]
                    w = np.where(v, c_prev, 0.0)
                    wsum = w.sum(0)
                    ret[k, t0:t1] = np.where(wsum > 0, (w * sret[mem, t0:t1]).sum(0) / np.maximum(wsum, 1), 0.0)
                    cap_sum[k, t0:t1] = np.where(listed[mem, t0:t1], caps[mem, t0:t1], 0).sum(0)
            else:
                mem = np.nonzero(elig)[0]
                self._members[k] = [(0, T, mem)]
                if len(mem) == 0:
                    continue
                c_prev = np.concatenate([caps[mem, :1], caps[mem, :-1]], axis=1)
                w = np.where(valid[mem], c_prev, 0.0)
                wsum = w.sum(0)
                ret[k] = np.where(wsum > 0, (w * sret[mem]).sum(0) / np.maximum(wsum, 1), 0.0)
                cap_sum[k] = np.where(listed[mem], caps[mem], 0).sum(0)
        ret[:, 0] = 0.0
        base = np.array([s.base for s in self.index_specs])
        self.index_ret = ret
        self.index_level = base[:, None] * np.cumprod(1.0 + ret, axis=1)
        self.index_cap = np.round(cap_sum / 1e6) * 1e6  # float32 caps: keep only meaningful digits

    def index_members(self, k: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(stock indexes, cap weights summing to 1) of a constituent index on day t."""
        for t0, t1, mem in self._members.get(k, []):
            if t0 <= t < t1:
                live = mem[self.listed_mask(t)[mem]]
                cap = self.close[live, t] * self.stocks.shares0[live] * self.factor(live, t)
                if cap.sum() <= 0:
                    break
                return live, cap / cap.sum()
        return np.zeros(0, dtype=np.int64), np.zeros(0)

    def index_bar(self, k: int, ts) -> dict[str, np.ndarray]:
        """Close/open/high/low/prev + synthetic volume/value for index k on days ts."""
        ts = np.asarray(ts, dtype=np.int64)
        lvl = self.index_level[k, ts]
        prev = np.where(ts > 0, self.index_level[k, np.maximum(ts - 1, 0)], lvl)
        spec = self.index_specs[k]
        vol = max(spec.vol, 0.008) if spec.kind == "walk" else 0.008
        o = prev * np.exp(0.3 * vol * noise.normal(self.seed, S_IDX_HL, k, ts))
        hi = np.maximum(o, lvl) * np.exp(0.5 * vol * np.abs(noise.normal(self.seed, S_IDX_HL + 20, k, ts)))
        lo = np.minimum(o, lvl) * np.exp(-0.5 * vol * np.abs(noise.normal(self.seed, S_IDX_HL + 40, k, ts)))
        cap = self.index_cap[k, ts]
        turn = 0.004 * np.exp(0.3 * noise.normal(self.seed, S_IDX_VOL, k, ts))
        value = cap * turn
        volume = value / 20_000.0
        return {"close": lvl, "prev": prev, "open": o, "high": hi, "low": lo, "cap": cap,
                "value": value, "volume": volume}


def _known_list_date(row: dict, first: dt.date) -> dt.date:
    if row.get("known"):
        from .universe import KNOWN_STOCKS as ks

        for k in ks:
            if k.code == row["code"]:
                return min(to_date(k.list_date), first)
    # synthetic pre-existing listings: a stable pseudo-random date in the 1980s-2000s
    h = int(row["code"][:5]) * 7919 % 9000
    return min(dt.date(1985, 1, 2) + dt.timedelta(days=h), first)


def _romanize(code: str, name: str) -> str:
    """English names for synthetic stocks: stable, uppercase, plausible enough for a master file."""
    stems = ["HAN", "DAE", "DONG", "SAM", "SHIN", "TAE", "SE", "WOO", "SUNG", "KUM", "IL", "YOUNG", "MI", "SEO"]
    tails = ["TECH", "INDUSTRIAL", "HOLDINGS", "CHEMICAL", "PHARM", "ELECTRONICS", "MATERIALS", "SYSTEMS"]
    h = int(code[:5])
    return f"{stems[h % len(stems)]}{stems[(h // 7) % len(stems)]} {tails[(h // 3) % len(tails)]}"
