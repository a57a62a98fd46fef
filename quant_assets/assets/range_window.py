"""52-week ranges of many days from ONE read of the bars: numpy over range + look-back.

Why: computing each day on its own re-read the 250-day window (~875 K rows at full market size)
and re-sorted it in SQL, 1.64 s per day. Here a ranged run reads the bars of its days and the 249
trading days before the first one once and lays them out as trading days x tickers matrices. The
windows' extremes then cost O(span) per ticker, not O(days x 250): each day's argmax over its
250-row strided view cost ~85 ms a day (profiled 246-day run); block prefix/suffix maxima of rank
keys (`_window_best`) give every day's extreme and its latest date at once. A one-day run reads its
bounded 250-day window (or starts from the previous day's rows); neither depends on how much
history the table holds.

Semantics are those of the `price_range_52w` asset (ranges.py): the window of D is the 250
calendar trading days ending at D; a ticker is ranged on D when it has a bar on D; prices before
an ex-date inside the window are multiplied by the factors of the later ex-dates in the window
(exp of the sum of ln(factor), summed latest first as the former SQL window did); ties take the
latest date. A ticker without any ex-date in the span is exact raw prices (adjustment 1); the few
tickers with ex-dates are computed per (ticker, day) from their own window, so a day's result does
not depend on which range it was computed in (a ranged run equals the same days run one by one).
The calendar and the ex-dates are KRX's and `adjustment_factors`' by default; an overseas region
passes its sessions and its ex-date query to `load` (assets/overseas/ranges.py), the rest is shared.

Rounding to 4 decimals is PostgreSQL's, reproduced exactly in numpy (`pg_round4`: float8 ->
numeric prints 15 significant digits, round() is half away from zero; tested against the server),
so the rows are validated before they are written and sent in one binary COPY per day. Staging
float8 text and rounding it in an INSERT ... SELECT (`stage_and_insert`, still the path for a
value beyond the exact int64 range), then reading the rows back to validate them, was ~300 of the
~510 ms a day of that run.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from quant_assets.calendar import previous_trading_days, trading_days
from quant_assets.resources import binary_copy

WINDOW = 250
Sessions = Callable[[dt.date, dt.date], list[dt.date]]  # a region's trading days in [start, end]

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


def span_for(days: list[dt.date], sessions: Sessions | None = None) -> list[dt.date]:
    """The trading days a run over `days` reads: WINDOW - 1 before the first, through the last.
    `sessions(start, end)` is another region's calendar (assets/overseas/ranges.py); default KRX."""
    if sessions is None:
        return trading_days(previous_trading_days(days[0], WINDOW)[0], days[-1])
    back = sessions(days[0] - dt.timedelta(days=int(WINDOW * 1.6) + 15), days[0])
    return sessions(back[-WINDOW], days[-1])


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


def _window_best(values: np.ndarray, js: np.ndarray, largest: bool) -> np.ndarray:
    """Row index (into `values`, span x tickers) of the max (or min) of every ticker's window
    ending at each row of `js`, its LATEST occurrence on ties; -1 for a window without a value.

    The same answer as `_extreme` over each window, in O(span) per ticker instead of O(days x
    WINDOW): each value becomes an int64 key (dense rank of the value in its column, NaN ranked
    0, then its row index, so the larger key is the better value and, among equal values, the
    later day) and the windows' max keys come from van Herk/Gil-Werman block prefix/suffix maxima.
    """
    n, m = values.shape
    nan = np.isnan(values)
    ordered = np.where(nan, -np.inf, values) if largest else np.where(nan, -np.inf, -values)
    order = np.argsort(ordered, axis=0, kind="stable")
    srt = np.take_along_axis(ordered, order, axis=0)
    step = np.ones(srt.shape, dtype=np.int64)
    step[1:] = srt[1:] != srt[:-1]
    ranks = np.empty((n, m), dtype=np.int64)
    np.put_along_axis(ranks, order, np.cumsum(step, axis=0), axis=0)
    ranks[nan] = 0
    shift = int(n).bit_length()
    keys = (ranks << shift) | np.arange(n, dtype=np.int64)[:, None]
    blocks = -(-n // WINDOW)
    padded = np.full((blocks * WINDOW, m), -1, dtype=np.int64)
    padded[:n] = keys
    padded = padded.reshape(blocks, WINDOW, m)
    prefix = np.maximum.accumulate(padded, axis=1).reshape(-1, m)
    suffix = np.maximum.accumulate(padded[:, ::-1], axis=1)[:, ::-1].reshape(-1, m)
    best = np.maximum(suffix[js - WINDOW + 1], prefix[js])
    idx = (best & ((1 << shift) - 1)).astype(np.int32)
    return np.where((best >> shift) == 0, -1, idx)


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
    cols = np.arange(len(bars.tickers))
    best = {key: _window_best(getattr(bars, name), js, largest)  # (days, tickers) row indices
            for key, name, largest in (("hc", "close", True), ("lc", "close", False), ("hh", "high", True),
                                       ("ll", "low", False))}
    ex_cols = sorted(bars.ex)
    source = {"hc": bars.close, "lc": bars.close, "hh": bars.high, "ll": bars.low}
    count_cum = np.vstack([np.zeros((1, len(bars.tickers))), np.cumsum(~np.isnan(bars.close), axis=0)])
    out: dict[dt.date, pd.DataFrame] = {}
    for i, j in enumerate(js):
        today = bars.close[j]
        present = np.flatnonzero(~np.isnan(today))
        n = (count_cum[j + 1] - count_cum[j + 1 - WINDOW])[present].astype(int)
        window = bars.close[j - WINDOW + 1:j + 1, present]
        first = np.argmax(~np.isnan(window), axis=0)
        frame = {"date": np.full(len(present), bars.dates[j]), "ticker": bars.tickers[present], "close": today[present],
                 "days_in_window": n, "window_start": bars.dates[j - WINDOW + 1 + first]}
        vals = {}
        for key, rows in best.items():
            at = rows[i][present]
            found = at >= 0
            vals[key] = [np.where(found, source[key][np.where(found, at, 0), cols[present]], np.nan),
                         np.where(found, j - at, -1)]
        for c in ex_cols:  # the few tickers with an ex-date inside this window
            p = np.searchsorted(present, c)
            if p < len(present) and present[p] == c and any(j - WINDOW + 1 < e <= j for e, _ in bars.ex[c]):
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


# -- the rows as PostgreSQL would have rounded them ---------------------------------------------
TABLE_COLUMNS = ["date", "ticker", "region", "close", "days_in_window", "window_start", "high_close",
                 "high_close_date", "low_close", "low_close_date", "high_52w", "high_52w_date", "low_52w",
                 "low_52w_date", "pct_from_high_close", "pct_from_low_close", "pct_from_high", "pct_from_low"]
NUMERIC_COLUMNS = ["close", "high_close", "low_close", "high_52w", "low_52w", "pct_from_high_close",
                   "pct_from_low_close", "pct_from_high", "pct_from_low"]
DATE_COLUMNS = ["date", "window_start", "high_close_date", "low_close_date", "high_52w_date", "low_52w_date"]
# numeric(20,4) as a typmod: the binary encoder sends scale-4 values (the unconstrained numeric
# columns receive them with the display scale 4 that round(x, 4) gives)
_SCALE4 = {c: ("numeric", (20 << 16 | 4) + 4) for c in NUMERIC_COLUMNS}
_EXACT_BELOW = 1e10        # |x| up to here: vectorised; above: decimal, one by one
_LD = np.longdouble
# error bound of x * 10**k in long double (x < 1e15 after scaling), doubled; where long double is
# plain double this band is wide and more values take the exact decimal path (slower, still exact)
_P10 = np.array([_LD(10) ** k for k in range(25)], dtype=_LD)
_TIE_BAND = 4e15 * float(np.finfo(_LD).eps) + 1e-9


def pg_round4(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PostgreSQL's round(x::numeric, 4) of float8 values, as int64 units of 1e-4 and a NULL mask
    (NaN). float8 -> numeric prints %.15g (15 significant digits, correctly rounded), round() is
    half away from zero; both are reproduced exactly: the 15-digit mantissa from x * 10**(14 - e)
    in long double (values within the rounding error of a tie, and |x| >= 1e10, go through
    `decimal` one by one), the second rounding in integers."""
    x = np.asarray(x, dtype=float)
    null = np.isnan(x)
    a = np.where(null, 0.0, np.abs(x))
    out = np.zeros(len(x), dtype=np.int64)
    fast = (a >= 1e-5) & (a < _EXACT_BELOW)  # below 1e-5 the value rounds to 0 at 4 decimals
    e = np.zeros(len(x), dtype=np.int64)
    e[fast] = np.floor(np.log10(a[fast])).astype(np.int64)
    wide = a.astype(_LD)
    scaled = wide * _P10[np.clip(14 - e, 0, 24)]
    # log10 may be off by one next to a power of ten: 15 digits means 1e14 <= mantissa < 1e15
    off = fast & ((scaled < _LD(1e14) - _LD(0.5)) | (scaled >= _LD(1e15) - _LD(0.5)))
    if off.any():
        e[off] += np.where(scaled[off] < _LD(1e14) - _LD(0.5), -1, 1)
        scaled[off] = wide[off] * _P10[np.clip(14 - e[off], 0, 24)]
    mantissa = np.rint(scaled)
    tie = fast & (np.abs(np.abs(scaled - mantissa) - _LD(0.5)) < _LD(_TIE_BAND))
    m = np.where(fast, mantissa, 0).astype(np.int64)
    k = np.clip(10 - e, 0, 18)
    unit = np.power(np.int64(10), k)
    q, r = np.divmod(m, unit)
    out[fast] = (q + (2 * r >= unit) * (k > 0))[fast]
    out = np.where(x < 0, -out, out)
    for i in np.flatnonzero(tie | (~null & (a >= _EXACT_BELOW))):
        d = decimal.Decimal(f"{x[i]:.15g}").scaleb(4)
        out[i] = int(d.quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))
    return out, null


def table_rows(frame: pd.DataFrame, region: str) -> pd.DataFrame | None:
    """A STAGE_COLUMNS frame as the rows STAGE_INSERT writes (same rounding, same distances, in
    float8 then numeric), numeric values as the float8 PostgreSQL reads them back, TABLE_COLUMNS
    order. None when a value is too large for the exact int64 path (the caller stages it)."""
    close = frame["close"].to_numpy(dtype=float)
    floats = {"close": close}
    for key, name in (("hc", "high_close"), ("lc", "low_close"), ("hh", "high_52w"), ("ll", "low_52w")):
        floats[name] = frame[key].to_numpy(dtype=float)
    hc, lc, hh, ll = (floats[c] for c in ("high_close", "low_close", "high_52w", "low_52w"))
    if np.any(hc == 0) or np.any(lc == 0):
        raise ZeroDivisionError("division by zero")  # what the float8 division in STAGE_INSERT raises
    with np.errstate(divide="ignore", invalid="ignore"):
        floats["pct_from_high_close"] = (close / hc - 1) * 100
        floats["pct_from_low_close"] = (close / lc - 1) * 100
        floats["pct_from_high"] = (close / np.where(hh == 0, np.nan, hh) - 1) * 100
        floats["pct_from_low"] = (close / np.where(ll == 0, np.nan, ll) - 1) * 100
    out = {"date": _datetimes(frame["date"]), "ticker": frame["ticker"].to_numpy(dtype=object),
           "region": np.full(len(frame), region, dtype=object)}
    for c in NUMERIC_COLUMNS:
        units, null = pg_round4(floats[c])
        if np.any(np.abs(units) >= 2**52):
            return None
        out[c] = np.where(null, np.nan, units / 1e4)
    out["days_in_window"] = frame["days_in_window"].to_numpy(dtype=np.int64)
    for c, key in (("window_start", "window_start"), ("high_close_date", "hc_date"), ("low_close_date", "lc_date"),
                   ("high_52w_date", "hh_date"), ("low_52w_date", "ll_date")):
        out[c] = _datetimes(frame[key])
    return pd.DataFrame({c: out[c] for c in TABLE_COLUMNS}, index=range(len(frame)))


def _datetimes(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_dtype(col.dtype):
        return col.to_numpy(dtype="datetime64[ns]")
    try:  # datetime.date objects (None = NaT), one C pass
        return np.asarray(col.to_numpy(dtype=object), dtype="datetime64[D]").astype("datetime64[ns]")
    except (TypeError, ValueError):  # ISO strings with NaN (the one-day path)
        return pd.to_datetime(col).to_numpy(dtype="datetime64[ns]")


def row_types(conn: psycopg.Connection) -> dict[str, tuple[str, int]]:
    """price_range_52w's column types for the binary encoder (numeric sent with scale 4)."""
    return {**binary_copy.table_types(conn, "price_range_52w"), **_SCALE4}


def encode_rows(rows: pd.DataFrame, types: dict[str, tuple[str, int]]) -> binary_copy.Encoded:
    """A day's `table_rows` in binary COPY form (no connection needed: a ranged run encodes the
    next day in a thread while the server takes the current one)."""
    return binary_copy.encode(rows, types)


def copy_rows(conn: psycopg.Connection, encoded: binary_copy.Encoded) -> int:
    """Inside the day's transaction: the day's encoded rows into price_range_52w, one COPY."""
    binary_copy.copy_encoded(conn, "price_range_52w", encoded)
    return encoded.rows


def as_read(rows: pd.DataFrame) -> pd.DataFrame:
    """`table_rows` as RANGE_READ returns the written rows (dates as datetime.date), for previews."""
    out = rows.copy()
    for c in DATE_COLUMNS:
        out[c] = [None if pd.isna(v) else v.date() for v in out[c]]
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


def load(conn: psycopg.Connection, days: list[dt.date], region: str, sessions: Sessions | None = None,
         factors_sql: str = FACTORS_SQL) -> Bars:
    """One bounded read for a run over `days`: bars and ex-dates of range + look-back. Another
    region passes its calendar (`sessions`) and the query of its ex-dates (`factors_sql`, same
    parameters (region, span start, span end) and columns (ticker, ex_date, factor) as FACTORS_SQL)."""
    span = span_for(days, sessions)
    frame = read_bars(conn, span, region)
    cur = conn.execute(factors_sql, (region, span[0], span[-1]))
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
