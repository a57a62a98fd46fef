"""52-week ranges of many days from ONE read of the bars: numpy over range + look-back.

Why: computing each day on its own re-read the 250-day window (~875 K rows at full market size)
and re-sorted it in SQL, 1.64 s per day. Here a ranged run reads the bars of its days and the 249
trading days before the first one once, lays them out as trading days x tickers matrices and takes
every day's window as a strided view of them (no copy), so a year costs one read of two years of
bars plus vectorised max/argmax. A one-day run reads its bounded 250-day window; neither depends on
how much history the table holds.

Semantics are those of the `price_range_52w` asset (ranges.py): the window of D is the 250
calendar trading days ending at D; a ticker is ranged on D when it has a bar on D; prices before
an ex-date inside the window are multiplied by the factors of the later ex-dates in the window
(exp of the sum of ln(factor), summed latest first as the former SQL window did); ties take the
latest date. A ticker without any ex-date in the span is exact raw prices (adjustment 1); the few
tickers with ex-dates are computed per (ticker, day) from their own window, so a day's result does
not depend on which range it was computed in (a ranged run equals the same days run one by one).
Rounding to 4 decimals happens in PostgreSQL (`STAGE_INSERT`), as before.
"""

from __future__ import annotations

import datetime as dt
import io
import math

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from quant_assets.calendar import previous_trading_days, trading_days

WINDOW = 250
CHUNK = 16  # days per vectorised block: CHUNK x tickers x WINDOW floats at a time

BARS_SQL = sql.SQL(
    "COPY (SELECT date, ticker, close, high, low FROM ohlcv_data WHERE region = {region} AND timeframe = 'D' "
    "AND date >= {start} AND date <= {last}) TO STDOUT (FORMAT csv)"
)
FACTORS_SQL = ("SELECT ticker, ex_date, factor::float8 AS factor FROM adjustment_factors "
               "WHERE region = %s AND ex_date > %s AND ex_date <= %s ORDER BY ticker, ex_date")
STAGE_COLUMNS = ["date", "ticker", "close", "days_in_window", "window_start", "hc", "hc_date", "lc", "lc_date",
                 "hh", "hh_date", "ll", "ll_date"]
STAGE_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS range_stage (
    date date, ticker text, close float8, days_in_window integer, window_start date,
    hc float8, hc_date date, lc float8, lc_date date, hh float8, hh_date date, ll float8, ll_date date
) ON COMMIT DELETE ROWS
"""
# The former RANGE_INSERT's rounding and distance expressions, over the staged float8 values.
STAGE_INSERT = """
INSERT INTO price_range_52w (date, ticker, region, close, days_in_window, window_start, high_close, high_close_date,
                             low_close, low_close_date, high_52w, high_52w_date, low_52w, low_52w_date,
                             pct_from_high_close, pct_from_low_close, pct_from_high, pct_from_low)
SELECT date, ticker, %(region)s, close::numeric(20, 4), days_in_window, window_start,
       round(hc::numeric, 4), hc_date, round(lc::numeric, 4), lc_date,
       round(hh::numeric, 4), hh_date, round(ll::numeric, 4), ll_date,
       round(((close / hc - 1) * 100)::numeric, 4),
       round(((close / lc - 1) * 100)::numeric, 4),
       round(((close / nullif(hh, 0) - 1) * 100)::numeric, 4),
       round(((close / nullif(ll, 0) - 1) * 100)::numeric, 4)
FROM range_stage
"""


def span_for(days: list[dt.date]) -> list[dt.date]:
    """The trading days a run over `days` reads: WINDOW - 1 before the first, through the last."""
    return trading_days(previous_trading_days(days[0], WINDOW)[0], days[-1])


def read_bars(conn: psycopg.Connection, span: list[dt.date], region: str) -> pd.DataFrame:
    """The region's daily bars over `span` (a bounded date range), one COPY round trip."""
    query = BARS_SQL.format(region=sql.Literal(region), start=sql.Literal(span[0]), last=sql.Literal(span[-1]))
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(query) as copy:
        for chunk in copy:
            buf.write(chunk)
    buf.seek(0)
    return pd.read_csv(buf, names=["date", "ticker", "close", "high", "low"], dtype={"date": str, "ticker": str})


class Bars:
    """trading days x tickers matrices of close/high/low (NaN = no bar or no price) and ex-dates."""

    def __init__(self, frame: pd.DataFrame, factors: pd.DataFrame, span: list[dt.date]):
        self.span = span
        self.tickers = pd.Index(sorted(frame["ticker"].unique()))
        self.dates = np.array(span, dtype="datetime64[D]")
        rows = pd.Index([d.isoformat() for d in span]).get_indexer(frame["date"])
        cols = self.tickers.get_indexer(frame["ticker"])
        self.close, self.high, self.low = (np.full((len(span), len(self.tickers)), np.nan) for _ in range(3))
        for name in ("close", "high", "low"):
            getattr(self, name)[rows, cols] = frame[name].to_numpy(dtype=float)
        # ex-dates per ticker column: [(span index, ln factor)], ascending
        self.ex: dict[int, list[tuple[int, float]]] = {}
        index = {d: i for i, d in enumerate(span)}
        for ticker, ex_date, factor in factors.itertuples(index=False):
            c = self.tickers.get_loc(ticker) if ticker in self.tickers else None
            if c is not None and ex_date in index:
                self.ex.setdefault(c, []).append((index[ex_date], math.log(factor)))


def _extreme(block: np.ndarray, largest: bool) -> tuple[np.ndarray, np.ndarray]:
    """Max (or min) over the last axis (oldest..newest) and the offset back from the newest of its
    LATEST occurrence; NaN / -1 where the window holds no value."""
    fill = -np.inf if largest else np.inf
    rev = np.where(np.isnan(block), fill, block)[..., ::-1]
    pos = rev.argmax(axis=-1) if largest else rev.argmin(axis=-1)
    val = np.take_along_axis(rev, pos[..., None], axis=-1)[..., 0]
    empty = np.isinf(val) & (val == fill)
    return np.where(empty, np.nan, val), np.where(empty, -1, pos)


def _adjusted_window(bars: Bars, j: int, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """close/high/low of ticker column c over the window ending at span index j, on D's basis."""
    lo = j - WINDOW + 1
    adj_log = np.zeros(WINDOW)
    total = 0.0
    for e, ln_f in reversed(bars.ex.get(c, [])):  # latest ex-date first, as the SQL frame summed
        if lo < e <= j:
            total += ln_f
            adj_log[:e - lo] = total
    adj = np.array([math.exp(x) for x in adj_log])
    return bars.close[lo:j + 1, c] * adj, bars.high[lo:j + 1, c] * adj, bars.low[lo:j + 1, c] * adj


def compute_ranges(bars: Bars, days: list[dt.date]) -> dict[dt.date, pd.DataFrame]:
    """STAGE_COLUMNS frames per day (tickers with a bar on the day); days must lie in bars.span
    with WINDOW - 1 trading days before them."""
    index = {d: i for i, d in enumerate(bars.span)}
    js = np.array([index[d] for d in days])
    if len(js) and js.min() < WINDOW - 1:
        raise ValueError("span lacks the look-back of the first day")
    views = {name: np.lib.stride_tricks.sliding_window_view(getattr(bars, name), WINDOW, axis=0)
             for name in ("close", "high", "low")}  # [j - WINDOW + 1] -> (tickers, WINDOW)
    count_cum = np.vstack([np.zeros((1, len(bars.tickers))), np.cumsum(~np.isnan(bars.close), axis=0)])
    out: dict[dt.date, pd.DataFrame] = {}
    for k in range(0, len(js), CHUNK):
        chunk = js[k:k + CHUNK]
        starts = chunk - WINDOW + 1
        stats = {}
        for key, name, largest in (("hc", "close", True), ("lc", "close", False), ("hh", "high", True),
                                   ("ll", "low", False)):
            stats[key] = _extreme(views[name][starts], largest)  # (chunk, tickers)
        for i, j in enumerate(chunk):
            today = bars.close[j]
            present = np.flatnonzero(~np.isnan(today))
            n = (count_cum[j + 1] - count_cum[j + 1 - WINDOW])[present].astype(int)
            window = bars.close[j - WINDOW + 1:j + 1, present]
            first = np.argmax(~np.isnan(window), axis=0)
            frame = {"date": bars.span[j], "ticker": bars.tickers[present], "close": today[present],
                     "days_in_window": n, "window_start": bars.dates[j - WINDOW + 1 + first]}
            vals = {key: [stats[key][0][i][present].copy(), stats[key][1][i][present].copy()]
                    for key in ("hc", "lc", "hh", "ll")}
            for p, c in enumerate(present):  # the few tickers with an ex-date inside this window
                if any(j - WINDOW + 1 < e <= j for e, _ in bars.ex.get(c, ())):
                    close, high, low = _adjusted_window(bars, j, c)
                    for key, series, largest in (("hc", close, True), ("lc", close, False), ("hh", high, True),
                                                 ("ll", low, False)):
                        v, q = _extreme(series[None, :], largest)
                        vals[key][0][p], vals[key][1][p] = v[0], q[0]
            for key, (val, pos) in vals.items():
                frame[key] = val
                frame[f"{key}_date"] = np.where(pos >= 0, bars.dates[np.clip(j - pos, 0, None)],
                                                np.datetime64("NaT"))
            out[bars.span[j]] = pd.DataFrame(frame)[STAGE_COLUMNS]
    return out


def stage_and_insert(conn: psycopg.Connection, frame: pd.DataFrame, region: str) -> int:
    """Inside the day's transaction: COPY the day's float8 results to the temp stage, INSERT them
    rounded into price_range_52w. Returns the rows written."""
    conn.execute(STAGE_TABLE)
    buf = frame.to_csv(index=False, header=False, date_format="%Y-%m-%d", float_format="%.17g")
    with conn.cursor() as cur, cur.copy(f"COPY range_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN (FORMAT csv)") \
            as copy:
        copy.write(buf)
    return conn.execute(STAGE_INSERT, {"region": region}).rowcount


def load(conn: psycopg.Connection, days: list[dt.date], region: str) -> Bars:
    """One bounded read for a run over `days`: bars and ex-dates of range + look-back."""
    span = span_for(days)
    frame = read_bars(conn, span, region)
    cur = conn.execute(FACTORS_SQL, (region, span[0], span[-1]))
    factors = pd.DataFrame(cur.fetchall(), columns=["ticker", "ex_date", "factor"])
    return Bars(frame, factors, span)


# -- one day from the previous day's rows ------------------------------------------------------
STATE_SQL = """
SELECT ticker, days_in_window, window_start, high_close::float8 AS hc, high_close_date AS hc_date,
       low_close::float8 AS lc, low_close_date AS lc_date, high_52w::float8 AS hh, high_52w_date AS hh_date,
       low_52w::float8 AS ll, low_52w_date AS ll_date
FROM price_range_52w WHERE region = %s AND date = %s
"""
DAY_BARS_SQL = ("SELECT date, ticker, close::float8 AS close, high::float8 AS high, low::float8 AS low "
                "FROM ohlcv_data WHERE region = %s AND timeframe = 'D' AND date = ANY(%s)")
WINDOW_BARS_SQL = ("SELECT date::text AS date, ticker, close::float8 AS close, high::float8 AS high, "
                   "low::float8 AS low FROM ohlcv_data WHERE region = %s AND timeframe = 'D' "
                   "AND date >= %s AND date <= %s AND ticker = ANY(%s)")


def _frame(conn: psycopg.Connection, query: str, params) -> pd.DataFrame:
    cur = conn.execute(query, params)
    return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def from_previous_day(conn: psycopg.Connection, day: dt.date, region: str) -> tuple[pd.DataFrame, dict] | None:
    """D's ranges from the committed rows of the previous trading day P plus the bars of D, of
    the day leaving the window (S_P) and of the window's new first day (S_D): O(tickers), not
    O(window). Exact where it applies: a ticker whose window holds no ex-date uses raw prices, so
    P's stored extremes are its exact prices. Tickers with an ex-date in (S_P, D], without a row
    on P, whose extreme or first bar leaves with S_P (and S_D has no bar) are recomputed from their
    own window by `compute_ranges`. None when P has no rows (the caller reads the window)."""
    previous, start_d = previous_trading_days(day, 2)[0], previous_trading_days(day, WINDOW)[0]
    start_p = previous_trading_days(previous, WINDOW)[0]
    state = _frame(conn, STATE_SQL, (region, previous))
    if state.empty:
        return None
    bars = _frame(conn, DAY_BARS_SQL, (region, [start_p, start_d, day]))
    ex = {t for (t,) in conn.execute("SELECT DISTINCT ticker FROM adjustment_factors WHERE region = %s "
                                     "AND ex_date > %s AND ex_date <= %s", (region, start_p, day))}
    today = bars[bars["date"] == day].set_index("ticker")
    state = state.set_index("ticker").reindex(today.index)
    left = set(bars.loc[bars["date"] == start_p, "ticker"])
    first = set(bars.loc[bars["date"] == start_d, "ticker"])
    in_p = state["days_in_window"].notna().to_numpy()
    leaves = np.array([t in left for t in today.index])
    redo = ~in_p | np.array([t in ex for t in today.index])
    redo |= (state["window_start"] == start_p).to_numpy() & ~np.array([t in first for t in today.index])
    for key in ("hc", "lc", "hh", "ll"):
        redo |= (state[f"{key}_date"] == start_p).to_numpy()
    out = pd.DataFrame({"date": day, "ticker": today.index, "close": today["close"].to_numpy()})
    out["days_in_window"] = state["days_in_window"].to_numpy(dtype=float) + 1 - leaves
    out["window_start"] = np.where((state["window_start"] == start_p).to_numpy(), start_d,
                                   state["window_start"].to_numpy())
    for key, col, largest in (("hc", "close", True), ("lc", "close", False), ("hh", "high", True),
                              ("ll", "low", False)):
        old, new = state[key].to_numpy(dtype=float), today[col].to_numpy(dtype=float)
        wins = ~np.isnan(new) & (np.isnan(old) | ((new >= old) if largest else (new <= old)))
        out[key] = np.where(wins, new, old)
        out[f"{key}_date"] = np.where(wins, day, state[f"{key}_date"].to_numpy())
    keep = out[~redo]
    redone = list(today.index[redo])
    if redone:
        span = trading_days(start_d, day)
        window = _frame(conn, WINDOW_BARS_SQL, (region, start_d, day, redone))
        factors = pd.DataFrame(conn.execute(FACTORS_SQL.replace("ORDER BY", "AND ticker = ANY(%s) ORDER BY"),
                                            (region, start_d, day, redone)).fetchall(),
                               columns=["ticker", "ex_date", "factor"])
        part = compute_ranges(Bars(window, factors, span), [day])[day]
        keep = pd.concat([keep, part], ignore_index=True)
    keep = keep.astype({"days_in_window": int})
    for key in ("window_start", "hc_date", "lc_date", "hh_date", "ll_date"):
        keep[key] = pd.to_datetime(keep[key]).dt.strftime("%Y-%m-%d")
    stats = {"trading_days_read": 3 + (len(span) if redone else 0), "recomputed_tickers": len(redone)}
    return keep.sort_values("ticker")[STAGE_COLUMNS].reset_index(drop=True), stats
