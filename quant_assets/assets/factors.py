"""Cross-sectional factor scores for day D: one window read, array maths, one partition write.

For D and one region the last 253 trading days of ADJUSTED closes (`ohlcv_adjusted`) and traded
value of every stock of that region are read in ONE query and laid out as a trading-days x tickers
matrix; D's market cap, market (the stock's exchange, `tickers.exchange`) and the KRX fundamentals
(`ticker_fundamentals` DAILY rows) come from a second, one-row-per-stock query. Every factor is
then a vector over all tickers at once (no per-ticker Python loop). Each factor's region
cross-section is winsorised at its 1st/99th percentile, z-scored (`score`) and percentile-ranked
0-100 (`percentile`); the same is done within each market (`market_score`, `market_percentile`)
on the row of the region (sql/008 folded the old per-universe rows into these columns).

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
"""

from __future__ import annotations

import datetime as dt
import io
import time
import warnings

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
    partition_metadata,
    read,
    table_schema,
)
from quant_assets.assets.daily import DAILY_DERIVED_CONDITION
from quant_assets.assets.derived_run import combined, emit_days, run_days
from quant_assets.calendar import previous_trading_days, trading_day_partitions, trading_days
from quant_assets.resources.warehouse import Warehouse
from quant_assets.schemas.derived import FactorScoresSchema
from quant_assets.schemas.validation import validate

HISTORY = 253  # closes t-252 .. t
MIN_COVERAGE = 0.8
MIN_NAMES = 5
WINSOR = (1.0, 99.0)
COVERAGE_WARN = 0.5  # check: share of the region's stocks a factor must score
# Exchanges whose stocks form a region's cross-section (a region not listed: all its exchanges).
SCORED_EXCHANGES = {"KR": ("KOSPI", "KOSDAQ")}
ANNUALISE = np.sqrt(252.0)
FACTORS = ["mom_12_1", "mom_6_1", "mom_3", "low_vol_60", "low_vol_252", "size", "value_bp", "value_ep",
           "dividend_yield", "quality_roe", "liquidity_60"]

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
CROSS_SQL = """
SELECT o.ticker, t.exchange AS market, o.market_cap::float8 AS market_cap, f.per::float8 AS per,
       f.pbr::float8 AS pbr, f.dividend_yield::float8 AS dividend_yield
FROM ohlcv_data o
JOIN tickers t ON t.ticker = o.ticker AND t.region = o.region
              AND (%(exchanges)s::text[] IS NULL OR t.exchange = ANY(%(exchanges)s::text[]))
LEFT JOIN ticker_fundamentals f ON f.ticker = o.ticker AND f.region = o.region AND f.date = o.date
                               AND f.period_type = 'DAILY'
WHERE o.region = %(region)s AND o.timeframe = 'D' AND o.date = %(day)s AND o.asset_type = 'STOCK'
ORDER BY o.ticker
"""


def read_window(conn: psycopg.Connection, days: list[dt.date], region: str = REGION) -> pd.DataFrame:
    """All stocks' adjusted closes and traded values of `region` over `days`, in one COPY round trip."""
    query = WINDOW_SQL.format(region=sql.Literal(region), start=sql.Literal(days[0]), day=sql.Literal(days[-1]))
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(query) as copy:
        for chunk in copy:
            buf.write(chunk)
    buf.seek(0)
    return pd.read_csv(buf, names=["date", "ticker", "close", "value"], dtype={"date": str, "ticker": str})


def to_matrix(frame: pd.DataFrame, column: str, days: list[str], tickers: pd.Index) -> np.ndarray:
    """days x tickers matrix of `column` (NaN where a ticker has no bar that day)."""
    out = np.full((len(days), len(tickers)), np.nan)
    r = pd.Index(days).get_indexer(frame["date"])
    c = tickers.get_indexer(frame["ticker"])
    keep = (r >= 0) & (c >= 0)
    out[r[keep], c[keep]] = frame[column].to_numpy(dtype=float)[keep]
    return out


def _enough(block: np.ndarray) -> np.ndarray:
    return (~np.isnan(block)).sum(axis=0) >= MIN_COVERAGE * block.shape[0]


def _momentum(closes: np.ndarray, start: int, end: int) -> np.ndarray:
    """closes[t-end] / closes[t-start] - 1 (offsets back from the last row t), history-checked."""
    t = closes.shape[0] - 1
    first, last = closes[t - start], closes[t - end]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = last / first - 1.0
    return np.where(_enough(closes[t - start:]) & (first > 0), out, np.nan)


def _volatility(log_returns: np.ndarray, n: int) -> np.ndarray:
    block = log_returns[-n:]
    ok = (~np.isnan(block)).sum(axis=0) >= max(2, MIN_COVERAGE * n)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (not listed yet)
        vol = np.nanstd(block, axis=0, ddof=1) * ANNUALISE
    return np.where(ok, vol, np.nan)


def compute_factors(closes: np.ndarray, values: np.ndarray, cross: pd.DataFrame) -> dict[str, np.ndarray]:
    """Raw factor values for the last row of `closes` (days x tickers, ADJUSTED), NaN = not scored.

    `values` is traded value (same shape); `cross` holds market_cap, per, pbr, dividend_yield per
    ticker in the matrices' column order.
    """
    if closes.shape[0] != HISTORY:
        raise ValueError(f"need {HISTORY} rows of closes, got {closes.shape[0]}")
    with np.errstate(invalid="ignore", divide="ignore"):
        logc = np.log(np.where(closes > 0, closes, np.nan))
        rets = np.diff(logc, axis=0)
        cap = cross["market_cap"].to_numpy(dtype=float)
        per = cross["per"].to_numpy(dtype=float)
        pbr = cross["pbr"].to_numpy(dtype=float)
        recent_value = values[-60:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            avg_value = np.nanmean(recent_value, axis=0)
        return {
            "mom_12_1": _momentum(closes, 252, 21),
            "mom_6_1": _momentum(closes, 126, 21),
            "mom_3": _momentum(closes, 63, 0),
            "low_vol_60": -_volatility(rets, 60),
            "low_vol_252": -_volatility(rets, 252),
            "size": np.where(cap > 0, np.log(cap), np.nan),
            "value_bp": np.where(pbr > 0, 1.0 / pbr, np.nan),
            "value_ep": np.where(per > 0, 1.0 / per, np.nan),
            "dividend_yield": cross["dividend_yield"].to_numpy(dtype=float),
            "quality_roe": np.where((pbr > 0) & (per > 0), pbr / per, np.nan),
            "liquidity_60": np.where(_enough(recent_value) & (avg_value > 0), np.log(avg_value), np.nan),
        }


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


def cross_section(day: dt.date, region: str, tickers: pd.Index, markets: np.ndarray,
                  factors: dict[str, np.ndarray]) -> pd.DataFrame:
    """Long frame (date, ticker, region, factor_name, raw_value, score, percentile, market,
    market_score, market_percentile): one row per scored (factor, ticker) of the region."""
    parts = []
    markets = np.asarray(markets, dtype=object)
    for name in FACTORS:
        raw = factors[name]
        keep = np.isfinite(raw)
        if keep.sum() < MIN_NAMES:
            continue
        z, pct = score(raw[keep])
        part = pd.DataFrame({
            "ticker": tickers[keep], "factor_name": name, "raw_value": raw[keep], "score": z, "percentile": pct,
            "market": markets[keep], "market_score": np.nan, "market_percentile": np.nan,
        })
        for rows in part.groupby("market").groups.values():
            if len(rows) >= MIN_NAMES:
                mz, mpct = score(part.loc[rows, "raw_value"].to_numpy())
                part.loc[rows, "market_score"] = mz
                part.loc[rows, "market_percentile"] = mpct
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "date", pd.Timestamp(day))
    out["region"] = region
    return out[COLUMNS]


def cross_of(conn: psycopg.Connection, day: dt.date, region: str) -> pd.DataFrame:
    exchanges = SCORED_EXCHANGES.get(region)
    return read(conn, CROSS_SQL, {"day": day, "region": region,
                                  "exchanges": list(exchanges) if exchanges else None})


class Window:
    """Adjusted closes and traded values of a run's span (its days + HISTORY - 1 before the
    first) as trading days x tickers matrices, from ONE read: each day takes its HISTORY rows."""

    def __init__(self, conn: psycopg.Connection, days: list[dt.date], region: str = REGION):
        self.span = trading_days(previous_trading_days(days[0], HISTORY)[0], days[-1])
        frame = read_window(conn, self.span, region)
        self.rows = len(frame)
        self.tickers = pd.Index(sorted(frame["ticker"].unique()))
        keys = [d.isoformat() for d in self.span]
        self.index = {d: i for i, d in enumerate(self.span)}
        self.closes = to_matrix(frame, "close", keys, self.tickers)
        self.values = to_matrix(frame, "value", keys, self.tickers)

    def day(self, day: dt.date, tickers: pd.Index) -> tuple[np.ndarray, np.ndarray]:
        """HISTORY x len(tickers) closes and values ending at `day` (NaN columns: no bars)."""
        j = self.index[day]
        cols = self.tickers.get_indexer(tickers)
        closes = np.full((HISTORY, len(tickers)), np.nan)
        values = np.full((HISTORY, len(tickers)), np.nan)
        ok = cols >= 0
        closes[:, ok] = self.closes[j - HISTORY + 1:j + 1, cols[ok]]
        values[:, ok] = self.values[j - HISTORY + 1:j + 1, cols[ok]]
        return closes, values


def day_frame(conn: psycopg.Connection, window: Window, day: dt.date, region: str = REGION) -> tuple[pd.DataFrame, dict]:
    """D's cross-section from the run's window: compute and score every factor."""
    t0 = time.perf_counter()
    cross = cross_of(conn, day, region)
    tickers = pd.Index(cross["ticker"])
    closes, values = window.day(day, tickers)
    factors = compute_factors(closes, values, cross)
    frame = cross_section(day, region, tickers, cross["market"].to_numpy(), factors)
    return frame, {"compute_seconds": round(time.perf_counter() - t0, 3), "stocks": len(tickers)}


def factor_frame(conn: psycopg.Connection, day: dt.date, region: str = REGION) -> tuple[pd.DataFrame, dict]:
    """Read D's window of one region, compute and score every factor; returns the rows and timing stats."""
    t0 = time.perf_counter()
    window = Window(conn, [day], region)
    frame, stats = day_frame(conn, window, day, region)
    return frame, {"read_seconds": round(time.perf_counter() - t0 - stats["compute_seconds"], 3),
                   **stats, "window_rows": window.rows}


def _standardisation_errors(frame: pd.DataFrame, by: list[str], column: str) -> list[str]:
    g = frame.dropna(subset=[column]).groupby(by)[column]
    stats = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=0)})
    bad = stats[(stats["mean"].abs() > 1e-6) | (((stats["std"] - 1).abs() > 1e-6) & (stats["std"] > 0))]
    return [f"{'/'.join(map(str, k if isinstance(k, tuple) else (k,)))} {column}: mean {r['mean']:.2e}, "
            f"std {r['std']:.6f}" for k, r in bad.iterrows()]


def check_scores(frame: pd.DataFrame, stocks: int) -> tuple[list[str], list[str]]:
    """(standardisation errors, coverage warnings) for one day's rows of one region."""
    errors, warnings = [], []
    if frame.empty:
        return errors, ([f"no factor could be scored for {stocks} stocks"] if stocks else [])
    errors += _standardisation_errors(frame, ["factor_name"], "score")
    errors += _standardisation_errors(frame, ["market", "factor_name"], "market_score")
    counts = frame.groupby("factor_name").size().reindex(FACTORS, fill_value=0)
    warnings += [f"{f}: {n}/{stocks}" for f, n in counts.items() if stocks and n < COVERAGE_WARN * stocks]
    return errors, warnings


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
    metadata={"dagster/table_name": "quant.public.factor_scores", "price_basis": "adjusted"},
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
    # The whole run from ONE window read (its days + 252 trading days before the first), then one
    # transaction per day writing the day's 11 packed rows (factor_storage.py).
    report = RunReport()
    per_day: dict[str, list[dg.AssetCheckResult]] = {}
    with warehouse.connect(autocommit=True) as conn:
        states = run_days(context, conn, REGION, report)
        days = sorted(states)
        if days:
            warehouse.ensure_month_partitions(factor_storage.TABLE, days)
            t0 = time.perf_counter()
            window = Window(conn, days, REGION)
            read_seconds = (time.perf_counter() - t0) / len(days)
        for day in days:
            key = day.isoformat()
            frame, stats = day_frame(conn, window, day, REGION)
            frame = validate(FactorScoresSchema, frame, dataset="factor_scores", date=key)
            factor_storage.write_day(conn, day, REGION, frame)
            errs, warns = check_scores(frame, stats["stocks"])
            per_day[key] = [
                dg.AssetCheckResult(check_name="standardised", passed=not errs,
                                    metadata={"failures": "\n".join(f"{REGION} {day} {e}" for e in errs[:20])
                                              or "none"}),
                dg.AssetCheckResult(check_name="coverage", passed=not warns, severity=dg.AssetCheckSeverity.WARN,
                                    metadata={"failures": "\n".join(f"{REGION} {day} {w}" for w in warns[:30])
                                              or "none"}),
            ]
            context.log.info(f"factor_scores {REGION} {day}: {len(frame)} rows, {stats}")
            preview = frame[frame["factor_name"] == "mom_12_1"]
            preview = preview.sort_values("percentile", ascending=False).head(5)
            report.metadata[key] = partition_metadata(
                "factor_scores", len(frame), preview, SCORES_SCHEMA, date=key, region=REGION,
                price_basis="adjusted", ohlcv=states[day], read_seconds_per_day=round(read_seconds, 4),
                window_trading_days=len(window.span), window_rows=window.rows, **stats)
    yield from emit_days(context, report, per_day, [
        combined("standardised", per_day),
        combined("coverage", per_day, dg.AssetCheckSeverity.WARN),
    ])


ASSETS = [factor_scores]
CHECKS: list = []  # declared on the asset (check_specs)
