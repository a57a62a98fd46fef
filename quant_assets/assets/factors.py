"""Cross-sectional factor scores per day: one window read per run, array maths, one write per day.

For a run's days and one region the ADJUSTED closes (`ohlcv_adjusted`) and traded value of every
stock of that region over the days plus the 252 trading days before the first are read in ONE
query and laid out as a trading-days x tickers matrix (log returns and history counts derived once
from it); the days' market cap, market (the stock's exchange, `tickers.exchange`) and the KRX
fundamentals (`ticker_fundamentals` DAILY rows) are read once per batch of days. Every factor of a
day is then a vector over all tickers at once (no per-ticker Python loop). Each factor's region
cross-section is winsorised at its 1st/99th percentile, z-scored (`score`) and percentile-ranked
0-100 (`percentile`); the same is done within each market (`market_score`, `market_percentile`)
on the row of the region (sql/008 folded the old per-universe rows into these columns).

Why it is shaped this way (issue #13: a ranged backfill must cost < 100 ms per trading day): the
former per-day pipeline spent ~1 s a day on work that does not depend on the day's numbers:
psycopg adapting ~27,500 Python floats per day into text arrays, pandera checking ~27,500 object
rows per day element by element, and a cross-section query per day. So a day's rows are only
turned into a frame for validation, a batch of days at a time with categorical text columns
(`FactorScoresSchema` checks them on distinct values), and are written straight from their arrays
as binary COPY (factor_storage.py: the day's ticker list once, and per factor its values in exact
narrow encodings, sql/029) by a writer thread while the next days are computed. A day's
numbers are computed exactly as in a one-day run (the same arrays in the same order), so a ranged
run stores bit-for-bit the rows of single-day runs. A day whose rows fail validation fails alone
(nothing written for it, the error names region, date, ticker and field); the run's other days are
written.

Factors (raw_value is signed so that higher = more of the factor as named):

| factor          | raw_value                                                        | needs |
|-----------------|------------------------------------------------------------------|-------|
| mom_12_1        | C[t-21] / C[t-252] - 1 (adjusted closes)                         | both closes, >=80% of the 253 closes |
| mom_6_1         | C[t-21] / C[t-126] - 1                                           | both closes, >=80% of the 127 closes |
| mom_3           | C[t] / C[t-63] - 1                                               | both closes, >=80% of the 64 closes |
| low_vol_60      | MINUS annualised stdev of daily log returns (60 returns, x sqrt 252) | >=80% of the 60 returns |
| low_vol_252     | same over 252 returns                                            | >=80% of the 252 returns |
| size            | ln(market cap on D); higher = larger company                     | market cap > 0 |
| value_bp        | 1 / PBR (book-to-price)                                          | PBR > 0 |
| value_ep        | 1 / PER (earnings yield)                                         | PER > 0 (KRX shows '-' for losses) |
| dividend_yield  | KRX dividend yield, %                                            | published |
| quality_roe     | PBR / PER (= EPS / BPS, return on equity)                        | PBR, PER > 0 |
| liquidity_60    | ln(mean traded value over the last 60 days, KRW)                 | >=80% of the 60 days, mean > 0 |

A ticker that does not meet a factor's minimum history gets no row for that factor (rather than a
score from too little data). Daily log returns are taken only between consecutive trading days
that both have a close. The region's cross-section is its stocks (asset_type STOCK) on the
exchanges listed in SCORED_EXCHANGES (KR: KOSPI and KOSDAQ; KONEX and ETFs are not scored). A
factor with fewer than MIN_NAMES scored stocks in the region is skipped; a market with fewer than
MIN_NAMES leaves market_score / market_percentile NULL. score = (winsorised - mean) / population
stdev (0 when all equal); percentile = average rank / n x 100 of the raw value, in (0, 100],
100 = highest.

Overseas regions run this code per region (assets/overseas/factors.py `overseas_factor_scores_*`:
`score_run` with the region's sessions, its bars' `adj_close` and the price factors only).
"""

from __future__ import annotations

import datetime as dt
import io
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import dagster as dg
import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from quant_assets.assets import factor_storage
from quant_assets.assets.aggregates import (
    OHLCV,
    REGION,
    RunReport,
    table_schema,
)
from quant_assets.assets.daily import DAILY_DERIVED_CONDITION
from quant_assets.assets.derived_run import combined, emit_days, run_days
from quant_assets.calendar import previous_trading_days, trading_day_partitions, trading_days
from quant_assets.errors import SourceDataError
from quant_assets.metadata import preview as preview_table
from quant_assets.metadata import table_metadata
from quant_assets.resources.warehouse import Warehouse
from quant_assets.schemas.derived import FactorScoresSchema
from quant_assets.schemas.validation import validate
from quant_assets.windows import window_metadata

HISTORY = 253  # closes t-252 .. t
MIN_COVERAGE = 0.8
MIN_NAMES = 5
WINSOR = factor_storage.WINSOR  # (1.0, 99.0); the writer re-derives score_params with it (sql/029)
COVERAGE_WARN = 0.5  # check: share of the region's stocks a factor must score
# Exchanges whose stocks form a region's cross-section (a region not listed: all its exchanges).
SCORED_EXCHANGES = {"KR": ("KOSPI", "KOSDAQ")}
ANNUALISE = np.sqrt(252.0)
FACTORS = ["mom_12_1", "mom_6_1", "mom_3", "low_vol_60", "low_vol_252", "size", "value_bp", "value_ep",
           "dividend_yield", "quality_roe", "liquidity_60"]
# the factors computed from the window's closes and traded values alone (Window.factors)
PRICE_FACTORS = ["mom_12_1", "mom_6_1", "mom_3", "low_vol_60", "low_vol_252", "liquidity_60"]

SCORES_SCHEMA = table_schema(
    ("date", "date", "day D"),
    ("ticker", "varchar(20)", "symbol, canonical for the region"),
    ("region", "varchar(2)", "the cross-section's region"),
    ("factor_name", "varchar(50)", ", ".join(FACTORS)),
    ("raw_value", "double precision", "signed so that higher = more of the factor (low_vol_* = -volatility)"),
    ("score", "double precision", "z-score of the 1st/99th-percentile winsorised value within the region"),
    ("percentile", "double precision", "average rank / n x 100 of raw_value within the region, (0, 100]"),
    ("market", "text", "the stock's exchange (tickers.exchange): KOSPI | KOSDAQ"),
    ("market_score", "double precision", "as score, within the market (NULL: too few names in the market)"),
    ("market_percentile", "double precision", "as percentile, within the market"),
)

WINDOW_SQL = sql.SQL(
    "COPY (SELECT date, ticker, close, value FROM ohlcv_adjusted "
    "WHERE region = {region} AND timeframe = 'D' AND asset_type = 'STOCK' AND date >= {start} AND date <= {day}) "
    "TO STDOUT (FORMAT csv)"
)
# Every day of [start, day] at once: one row per stock and day, ordered as the scores are computed.
CROSS_SQL = """
SELECT o.date, o.ticker, t.exchange AS market, o.market_cap::float8 AS market_cap
FROM ohlcv_data o
JOIN tickers t ON t.ticker = o.ticker AND t.region = o.region
              AND (%(exchanges)s::text[] IS NULL OR t.exchange = ANY(%(exchanges)s::text[]))
WHERE o.region = %(region)s AND o.timeframe = 'D' AND o.date >= %(start)s AND o.date <= %(day)s
  AND o.asset_type = 'STOCK'
ORDER BY o.date, o.ticker
"""
# The same days' KRX fundamentals, joined to CROSS_SQL's rows in pandas (a LEFT JOIN in SQL: the
# planner's estimate of the bars is far too low and it probes ticker_fundamentals once per bar).
FUNDAMENTALS_SQL = """
SELECT date, ticker, per::float8 AS per, pbr::float8 AS pbr, dividend_yield::float8 AS dividend_yield
FROM ticker_fundamentals
WHERE region = %(region)s AND period_type = 'DAILY' AND date >= %(start)s AND date <= %(day)s
"""
CROSS_COLUMNS = ["date", "ticker", "market", "market_cap"]
FUNDAMENTALS_COLUMNS = ["date", "ticker", "per", "pbr", "dividend_yield"]
BATCH_DAYS = 50  # days computed, then validated together, before their writes (bounds memory)
WRITE_AHEAD = 4  # days queued for the writer thread (0: each day written before the next is computed)


def read_window(conn: psycopg.Connection, days: list[dt.date], region: str = REGION,
                window_sql: sql.SQL = WINDOW_SQL) -> pd.DataFrame:
    """All stocks' adjusted closes and traded values of `region` over `days`, in one COPY round trip
    (`window_sql`: another source of the adjusted close, e.g. overseas bars' adj_close)."""
    query = window_sql.format(region=sql.Literal(region), start=sql.Literal(days[0]), day=sql.Literal(days[-1]))
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(query) as copy:
        for chunk in copy:
            buf.write(chunk)
    buf.seek(0)
    return pd.read_csv(buf, names=["date", "ticker", "close", "value"], dtype={"date": str, "ticker": str})


def _copy_csv(conn: psycopg.Connection, query: str, params: dict, names: list[str]) -> pd.DataFrame:
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)", params) as copy:
        for chunk in copy:
            buf.write(chunk)
    buf.seek(0)
    # floats parsed round-trip exactly: the values a row fetch would give
    return pd.read_csv(buf, names=names, dtype={"date": str, "ticker": str, "market": str},
                       keep_default_na=False, na_values=[""], float_precision="round_trip")


def read_cross(conn: psycopg.Connection, start: dt.date, end: dt.date, region: str = REGION) -> pd.DataFrame:
    """Market cap, market and KRX fundamentals (per, pbr, dividend_yield; NaN when none) of every
    scored stock and day in [start, end], ordered by date and ticker: two COPY round trips."""
    exchanges = SCORED_EXCHANGES.get(region)
    params = {"start": start, "day": end, "region": region, "exchanges": list(exchanges) if exchanges else None}
    bars = _copy_csv(conn, CROSS_SQL, params, CROSS_COLUMNS)
    fundamentals = _copy_csv(conn, FUNDAMENTALS_SQL, params, FUNDAMENTALS_COLUMNS)
    return bars.merge(fundamentals, how="left", on=["date", "ticker"], sort=False)


def to_matrix(frame: pd.DataFrame, column: str, days: list[str], tickers: pd.Index) -> np.ndarray:
    """days x tickers matrix of `column` (NaN where a ticker has no bar that day)."""
    out = np.full((len(days), len(tickers)), np.nan)
    r = pd.Index(days).get_indexer(frame["date"])
    c = tickers.get_indexer(frame["ticker"])
    keep = (r >= 0) & (c >= 0)
    out[r[keep], c[keep]] = frame[column].to_numpy(dtype=float)[keep]
    return out


def _counts(matrix: np.ndarray) -> np.ndarray:
    """Running count of non-NaN cells per column, with a leading zero row: rows a..b-1 hold
    counts[b] - counts[a]."""
    out = np.zeros((matrix.shape[0] + 1, matrix.shape[1]), dtype=np.int32)  # <= the span's days
    np.cumsum(~np.isnan(matrix), axis=0, out=out[1:])
    return out


class Window:
    """Adjusted closes and traded values of a run's span (its days + HISTORY - 1 before the
    first) as trading days x tickers matrices, from ONE read; log returns and history counts are
    derived once for the span, and each day's factors are columns of its last HISTORY rows.

    `span` (default: KRX trading days) is the region's own sessions: HISTORY - 1 before the first
    day, then through the last; `window_sql` the query of the closes (default `ohlcv_adjusted`)."""

    def __init__(self, conn: psycopg.Connection, days: list[dt.date], region: str = REGION,
                 span: list[dt.date] | None = None, window_sql: sql.SQL = WINDOW_SQL):
        self.span = span if span is not None else trading_days(previous_trading_days(days[0], HISTORY)[0], days[-1])
        frame = read_window(conn, self.span, region, window_sql)
        self.rows = len(frame)
        self.tickers = pd.Index(sorted(frame["ticker"].unique()))
        keys = [d.isoformat() for d in self.span]
        self.index = {d: i for i, d in enumerate(self.span)}
        self.closes = to_matrix(frame, "close", keys, self.tickers)
        self.values = to_matrix(frame, "value", keys, self.tickers)
        with np.errstate(invalid="ignore", divide="ignore"):
            # rets[i] = log C[i+1] - log C[i]: NaN unless both days have a positive close
            self.rets = np.diff(np.log(np.where(self.closes > 0, self.closes, np.nan)), axis=0)
        self.close_counts = _counts(self.closes)
        self.value_counts = _counts(self.values)
        self.ret_counts = _counts(self.rets)

    def factors(self, day: dt.date) -> dict[str, np.ndarray]:
        """The price factors of `day` for every column (ticker) of the window, NaN = not scored."""
        j = self.index[day]
        if j < HISTORY - 1:
            raise ValueError(f"need {HISTORY} rows of closes before {day}, got {j + 1}")
        closes = self.closes

        def enough(counts: np.ndarray, rows: int, end: int) -> np.ndarray:  # rows end-rows+1 .. end
            return counts[end + 1] - counts[end + 1 - rows] >= MIN_COVERAGE * rows

        def momentum(start: int, end: int) -> np.ndarray:  # C[t-end] / C[t-start] - 1
            first, last = closes[j - start], closes[j - end]
            with np.errstate(invalid="ignore", divide="ignore"):
                out = last / first - 1.0
            return np.where(enough(self.close_counts, start + 1, j) & (first > 0), out, np.nan)

        def volatility(n: int) -> np.ndarray:  # the last n returns: rets[j-n .. j-1]
            block = self.rets[j - n:j]
            ok = self.ret_counts[j] - self.ret_counts[j - n] >= max(2, MIN_COVERAGE * n)
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (not listed yet)
                vol = np.nanstd(block, axis=0, ddof=1) * ANNUALISE
            return np.where(ok, vol, np.nan)

        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            avg_value = np.nanmean(self.values[j - 59:j + 1], axis=0)
            liquidity = np.where(enough(self.value_counts, 60, j) & (avg_value > 0), np.log(avg_value), np.nan)
        return {
            "mom_12_1": momentum(252, 21),
            "mom_6_1": momentum(126, 21),
            "mom_3": momentum(63, 0),
            "low_vol_60": -volatility(60),
            "low_vol_252": -volatility(252),
            "liquidity_60": liquidity,
        }


def compute_factors(window: Window, day: dt.date, cross: pd.DataFrame) -> dict[str, np.ndarray]:
    """Raw factor values of `day` for the tickers of `cross` (its rows' order), NaN = not scored.

    `cross` holds ticker, market_cap, per, pbr, dividend_yield per stock of the day."""
    cols = window.tickers.get_indexer(cross["ticker"])
    listed = cols >= 0
    out = {}
    # a day without stocks (market closed) needs no window rows: a region whose span leaves out its
    # closed days (overseas) has none for it
    prices = window.factors(day) if len(cols) else dict.fromkeys(PRICE_FACTORS, np.empty(0))
    for name, values in prices.items():
        column = np.full(len(cols), np.nan)
        column[listed] = values[cols[listed]]
        out[name] = column
    cap = cross["market_cap"].to_numpy(dtype=float)
    per = cross["per"].to_numpy(dtype=float)
    pbr = cross["pbr"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out.update({
            "size": np.where(cap > 0, np.log(cap), np.nan),
            "value_bp": np.where(pbr > 0, 1.0 / pbr, np.nan),
            "value_ep": np.where(per > 0, 1.0 / per, np.nan),
            "dividend_yield": cross["dividend_yield"].to_numpy(dtype=float),
            "quality_roe": np.where((pbr > 0) & (per > 0), pbr / per, np.nan),
        })
    return {name: out[name] for name in FACTORS}


def score(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Winsorise at the 1st/99th percentile, z-score (population stdev), percentile-rank (0, 100]."""
    lo, hi = np.percentile(raw, WINSOR)
    w = np.clip(raw, lo, hi)
    sd = w.std()
    z = (w - w.mean()) / sd if sd > 0 else np.zeros_like(w)
    pct = pd.Series(raw).rank(method="average", pct=True).to_numpy() * 100.0
    return z, pct


COLUMNS = ["date", "ticker", "region", "factor_name", "raw_value", "score", "percentile", "market", "market_score",
           "market_percentile"]


@dataclass
class Scored:
    """One factor's cross-section on a day: `rows` index the day's stocks (their query order)."""

    name: str
    rows: np.ndarray
    raw: np.ndarray
    score: np.ndarray
    percentile: np.ndarray
    market_score: np.ndarray
    market_percentile: np.ndarray


@dataclass
class DayScores:
    """A day's scored factors over its stocks; `market_codes` index `markets` (-1: none)."""

    day: dt.date
    tickers: np.ndarray
    markets: np.ndarray
    market_codes: np.ndarray
    factors: list[Scored]
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(len(f.rows) for f in self.factors)

    def market_names(self, rows: np.ndarray) -> np.ndarray:
        """The stocks' market names (None: no market) for positions `rows`."""
        named = np.append(self.markets, None).astype(object)
        return named[self.market_codes[rows]]  # code -1 -> the appended None

    def frame(self, names: Sequence[str] | None = None) -> pd.DataFrame:
        """The long rows (COLUMNS, region left out) of the factors `names` (all by default)."""
        parts = [pd.DataFrame({
            "date": pd.Timestamp(self.day), "ticker": self.tickers[f.rows], "factor_name": f.name,
            "raw_value": f.raw, "score": f.score, "percentile": f.percentile,
            "market": self.market_names(f.rows),
            "market_score": f.market_score, "market_percentile": f.market_percentile,
        }) for f in self.factors if names is None or f.name in names]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)

    def top(self, name: str, n: int) -> pd.DataFrame:
        """The factor's n highest percentiles, in the order `frame().sort_values("percentile",
        ascending=False)` gives (pandas' nargsort for a descending sort, ties included)."""
        for f in self.factors:
            if f.name == name:
                pct = f.percentile
                order = np.arange(len(pct))[::-1][pct[::-1].argsort(kind="quicksort")][::-1][:n]
                part = Scored(f.name, f.rows[order], f.raw[order], f.score[order], pct[order],
                              f.market_score[order], f.market_percentile[order])
                return DayScores(self.day, self.tickers, self.markets, self.market_codes, [part]).frame()
        return pd.DataFrame(columns=[c for c in COLUMNS if c != "region"])

    def packed(self) -> list[factor_storage.PackedFactor]:
        """The day's factors as stored (sql/019): tickers ascending, the factor's own markets."""
        out = []
        for f in self.factors:
            order = np.argsort(self.tickers[f.rows], kind="stable")
            codes = self.market_codes[f.rows][order]
            used = np.unique(codes[codes >= 0])  # markets sorted by name, like self.markets
            remap = np.zeros(len(self.markets) + 1, dtype=np.int64)
            remap[used + 1] = np.arange(1, len(used) + 1)
            out.append(factor_storage.PackedFactor(
                f.name, self.tickers[f.rows][order], [str(m) for m in self.markets[used]], remap[codes + 1],
                f.raw[order], f.score[order], f.percentile[order], f.market_score[order],
                f.market_percentile[order]))
        return out


def cross_section(day: dt.date, tickers: np.ndarray, markets: np.ndarray, factors: dict[str, np.ndarray]
                  ) -> DayScores:
    """Score every factor of `factors` (the region's; FACTORS order) with at least MIN_NAMES stocks
    within the region, and within each market with at least MIN_NAMES of them."""
    present = np.array([isinstance(m, str) for m in markets], dtype=bool)
    names = np.unique(markets[present]).astype(object) if present.any() else np.array([], dtype=object)
    codes = np.full(len(markets), -1, dtype=np.int64)
    if present.any():
        codes[present] = np.searchsorted(names, markets[present])
    out = []
    for name in (n for n in FACTORS if n in factors):
        raw = factors[name]
        keep = np.flatnonzero(np.isfinite(raw))
        if len(keep) < MIN_NAMES:
            continue
        values = raw[keep]
        z, pct = score(values)
        mz, mpct = np.full(len(keep), np.nan), np.full(len(keep), np.nan)
        kept_codes = codes[keep]
        for k in range(len(names)):
            rows = np.flatnonzero(kept_codes == k)
            if len(rows) >= MIN_NAMES:
                mz[rows], mpct[rows] = score(values[rows])
        out.append(Scored(name, keep, values, z, pct, mz, mpct))
    return DayScores(day, tickers, names, codes, out)


def score_days(window: Window, cross: pd.DataFrame, days: Sequence[dt.date],
               factor_names: Sequence[str] = FACTORS) -> list[DayScores]:
    """Every day of `days` from the window and the days' cross-section rows (`read_cross`); only
    the factors `factor_names` are scored."""
    dates = cross["date"].to_numpy()
    out = []
    for day in days:
        t0 = time.perf_counter()
        key = day.isoformat()
        a, b = np.searchsorted(dates, key, side="left"), np.searchsorted(dates, key, side="right")
        rows = cross.iloc[a:b]
        markets = rows["market"].to_numpy(dtype=object)
        values = compute_factors(window, day, rows)
        if factor_names is not FACTORS:
            values = {name: v for name, v in values.items() if name in factor_names}
        scored = cross_section(day, rows["ticker"].to_numpy(dtype=object), markets, values)
        scored.seconds = time.perf_counter() - t0
        out.append(scored)
    return out


def long_frame(days: Sequence[DayScores], region: str) -> pd.DataFrame:
    """The days' rows as one frame (COLUMNS) for validation: text columns are categoricals, so a
    batch of days is checked with vectorised work rather than per row."""
    if not any(d.factors for d in days):
        return pd.DataFrame({c: pd.Series(dtype=float) for c in COLUMNS}).astype(
            {"date": "datetime64[ns]", "ticker": "category", "region": "category", "factor_name": "category",
             "market": "category"})
    tickers = pd.Index(np.unique(np.concatenate([d.tickers for d in days]).astype(str)))
    markets = pd.Index(np.unique(np.concatenate([d.markets for d in days]).astype(str)))
    floats = ["raw_value", "score", "percentile", "market_score", "market_percentile"]
    n = sum(d.rows for d in days)
    block = np.empty((len(floats), n))  # one float block: the frame takes it without a copy
    dates = np.empty(n, dtype="datetime64[ns]")
    ticker_codes, factor_codes, market_codes = (np.empty(n, dtype=np.int64) for _ in range(3))
    at = 0
    for d in days:
        tcode = tickers.get_indexer(d.tickers)
        mmap = np.append(markets.get_indexer(d.markets), -1)  # code -1 -> the last entry, -1
        for f in d.factors:
            end = at + len(f.rows)
            dates[at:end] = np.datetime64(d.day, "ns")
            ticker_codes[at:end] = tcode[f.rows]
            factor_codes[at:end] = FACTORS.index(f.name)
            market_codes[at:end] = mmap[d.market_codes[f.rows]]
            for i, v in enumerate((f.raw, f.score, f.percentile, f.market_score, f.market_percentile)):
                block[i, at:end] = v
            at = end
    frame = pd.DataFrame(block.T, columns=floats, copy=False)
    frame.insert(0, "date", dates)
    frame.insert(1, "ticker", pd.Categorical.from_codes(ticker_codes, tickers))
    frame.insert(2, "region", pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), [region]))
    frame.insert(3, "factor_name", pd.Categorical.from_codes(factor_codes, FACTORS))
    frame.insert(7, "market", pd.Categorical.from_codes(market_codes, markets))
    return frame


def validate_days(days: Sequence[DayScores], region: str) -> dict[dt.date, SourceDataError]:
    """FactorScoresSchema over the days' rows at once; when that fails, day by day, so only the
    days with bad rows are refused (day -> its error naming region, date, ticker and field)."""
    if not days:
        return {}
    try:
        validate(FactorScoresSchema, long_frame(days, region), dataset="factor_scores",
                 date=days[0].day.isoformat() if len(days) == 1 else None)
        return {}
    except SourceDataError as exc:
        if len(days) == 1:
            return {days[0].day: exc}
    bad: dict[dt.date, SourceDataError] = {}
    for d in days:
        bad.update(validate_days([d], region))
    return bad


def factor_frame(conn: psycopg.Connection, day: dt.date, region: str = REGION) -> tuple[pd.DataFrame, dict]:
    """Read D's window of one region, compute and score every factor; the long rows and timings."""
    t0 = time.perf_counter()
    window = Window(conn, [day], region)
    cross = read_cross(conn, day, day, region)
    t1 = time.perf_counter()
    scored = score_days(window, cross, [day])[0]
    frame = scored.frame().assign(region=region)[COLUMNS]
    return frame, {"read_seconds": round(t1 - t0, 3), "compute_seconds": round(scored.seconds, 3),
                   "stocks": len(scored.tickers), "window_rows": window.rows}


def _standardisation_errors(label: str, column: str, values: np.ndarray) -> list[str]:
    values = values[~np.isnan(values)]
    if not len(values):
        return []
    mean, std = values.mean(), values.std()
    if abs(mean) > 1e-6 or (abs(std - 1) > 1e-6 and std > 0):
        return [f"{label} {column}: mean {mean:.2e}, std {std:.6f}"]
    return []


def check_scores(scored: DayScores, factor_names: Sequence[str] = FACTORS) -> tuple[list[str], list[str]]:
    """(standardisation errors, coverage warnings) for one day's rows of one region; coverage is
    judged for the region's factors `factor_names` only."""
    stocks = len(scored.tickers)
    if not scored.factors:
        return [], ([f"no factor could be scored for {stocks} stocks"] if stocks else [])
    errors: list[str] = []
    by_name = sorted(scored.factors, key=lambda f: f.name)
    for f in by_name:
        errors += _standardisation_errors(f.name, "score", f.score)
    for k, market in enumerate(scored.markets):
        for f in by_name:
            rows = scored.market_codes[f.rows] == k
            errors += _standardisation_errors(f"{market}/{f.name}", "market_score", f.market_score[rows])
    counts = {f.name: len(f.rows) for f in scored.factors}
    warns = [f"{name}: {counts.get(name, 0)}/{stocks}" for name in FACTORS
             if name in factor_names and stocks and counts.get(name, 0) < COVERAGE_WARN * stocks]
    return errors, warns


@dg.asset(
    partitions_def=trading_day_partitions,
    deps=[dg.AssetDep(OHLCV, partition_mapping=dg.TimeWindowPartitionMapping()),
          dg.AssetDep("adjustment_factors", partition_mapping=dg.TimeWindowPartitionMapping()),
          dg.AssetDep("stock_fundamentals", partition_mapping=dg.TimeWindowPartitionMapping()),
          "stock_list"],
    kinds={"postgres", "pandas", "numpy"},
    group_name="factors",
    description=(
        "Cross-sectional factor scores per stock and day (table `factor_scores`, PK (date, region, factor_name, "
        "ticker), month-partitioned): momentum 12-1/6-1/3m and low volatility 60/252d on SPLIT-ADJUSTED closes "
        "(`ohlcv_adjusted`, 253 trading days ending at D), size (ln market cap), value (1/PBR, 1/PER, dividend "
        "yield from ticker_fundamentals DAILY rows), quality (PBR/PER = ROE) and liquidity (ln 60-day mean "
        "traded value). score/percentile (0-100) within the region's stocks (KR: KOSPI + KOSDAQ), "
        "market_score/market_percentile within the stock's exchange; winsorised 1/99%, z-scored. Factors need "
        ">=80% of their window."
    ),
    metadata={**window_metadata(HISTORY, [OHLCV, "adjustment_factors"]),
              "dagster/table_name": "quant.public.factor_scores", "price_basis": "adjusted"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    # stock_list (unpartitioned) refreshes daily; it must not re-trigger a week of partitions.
    automation_condition=DAILY_DERIVED_CONDITION.ignore(dg.AssetSelection.assets("stock_list")),
    check_specs=[
        dg.AssetCheckSpec("standardised", asset="factor_scores",
                          description="Every factor's score has mean 0 and population stdev 1 within the region, "
                                      "and its market_score within each market."),
        dg.AssetCheckSpec("coverage", asset="factor_scores",
                          description=f"WARN when a factor scores fewer than {COVERAGE_WARN:.0%} of the region's "
                                      "stocks (missing history or fundamentals)."),
    ],
)
def factor_scores(context, warehouse: Warehouse):
    report = RunReport()
    with warehouse.connect(autocommit=True) as conn:
        states = run_days(context, conn, REGION, report)
    yield from score_run(context, warehouse, REGION, states, report)


def score_run(context, warehouse: Warehouse, region: str, states: dict[dt.date, str], report: RunReport,
              span: Callable[[psycopg.Connection, list[dt.date]], list[dt.date]] | None = None,
              window_sql: sql.SQL = WINDOW_SQL, factor_names: Sequence[str] = FACTORS,
              price_basis: str = "adjusted", lineage: dg.TableColumnLineage | None = None) -> Iterator:
    """The run of one region's factor asset over its computable days `states` (day -> ohlcv state;
    the others are already failures in `report`): `span(conn, days)` gives the window's sessions
    (default: KRX trading days), `window_sql` its closes, `factor_names` the region's factors, `lineage`
    the column lineage to the region's own bars (default: the catalogue's, the KR assets)."""
    # The whole run from ONE window read (its days + 252 trading days before the first); then, per
    # batch of BATCH_DAYS days, one cross-section read, the days' scores, ONE validation of all
    # their rows, and one transaction per day writing its ticker list and 11 packed rows (factor_storage.py), in a
    # writer thread while the next days are computed.
    per_day: dict[str, list[dg.AssetCheckResult]] = {}
    with warehouse.connect(autocommit=True) as conn:
        days = sorted(states)
        if days:
            warehouse.ensure_month_partitions(factor_storage.TABLE, days)
            t0 = time.perf_counter()
            window = Window(conn, days, region, span(conn, days) if span else None, window_sql)
            read_seconds = (time.perf_counter() - t0) / len(days)
        table_md: dict = {}
        pending: dict[dt.date, dict] = {}  # day -> its metadata, completed once the day is written
        with factor_storage.DayWriter(lambda: warehouse.connect(autocommit=True), region,
                                      WRITE_AHEAD) as writer:
            for at in range(0, len(days), BATCH_DAYS):
                batch = days[at:at + BATCH_DAYS]
                t0 = time.perf_counter()
                cross = read_cross(conn, batch[0], batch[-1], region)
                cross_seconds = (time.perf_counter() - t0) / len(batch)
                scored_days = score_days(window, cross, batch, factor_names)
                t0 = time.perf_counter()
                refused = validate_days(scored_days, region)
                validate_seconds = (time.perf_counter() - t0) / len(batch)
                for scored in scored_days:
                    day, key = scored.day, scored.day.isoformat()
                    if day in refused:
                        report.failures.append(f"{key}: {refused[day]}")
                        context.log.error(f"factor_scores {region} {day}: {refused[day]}")
                        continue
                    writer.put(day, scored.packed())
                    errs, warns = check_scores(scored, factor_names)
                    per_day[key] = [
                        dg.AssetCheckResult(check_name="standardised", passed=not errs,
                                            metadata={"failures": "\n".join(f"{region} {day} {e}" for e in errs[:20])
                                                      or "none"}),
                        dg.AssetCheckResult(check_name="coverage", passed=not warns,
                                            severity=dg.AssetCheckSeverity.WARN,
                                            metadata={"failures": "\n".join(f"{region} {day} {w}" for w in warns[:30])
                                                      or "none"}),
                    ]
                    # partition_metadata's dict, the table's catalogue metadata looked up once per run
                    table_md = table_md or table_metadata("factor_scores")
                    if lineage is not None:
                        table_md["dagster/column_lineage"] = lineage
                    pending[day] = {
                        **table_md, "preview": preview_table(scored.top(factor_names[0], 5).assign(region=region)[COLUMNS]),
                        "date": key, "region": region, "price_basis": price_basis, "ohlcv": states[day],
                        "read_seconds_per_day": round(read_seconds, 4), "window_trading_days": len(window.span),
                        "window_rows": window.rows, "stocks": len(scored.tickers),
                        "compute_seconds": round(scored.seconds + cross_seconds, 4),
                        "validate_seconds": round(validate_seconds, 4)}
                context.log.info(f"factor_scores {region} {batch[0]}..{batch[-1]}: {len(batch) - len(refused)} "
                                 f"days scored; per day: read {read_seconds + cross_seconds:.3f}s, compute "
                                 f"{sum(d.seconds for d in scored_days) / len(batch):.3f}s, "
                                 f"validate {validate_seconds:.3f}s")
            for day, (written, seconds) in writer.close().items():
                report.metadata[day.isoformat()] = {"dagster/row_count": written, **pending[day],
                                                    "write_seconds": round(seconds, 4)}
    yield from emit_days(context, report, per_day, [
        combined("standardised", per_day),
        combined("coverage", per_day, dg.AssetCheckSeverity.WARN),
    ])


ASSETS = [factor_scores]
CHECKS: list = []  # declared on the asset (check_specs)
