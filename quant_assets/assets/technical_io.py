"""Reading the bars and writing the indicators of `technical_analysis`, set-based.

Why a module of its own: the indicator maths (technical.py) is per ticker, the I/O is per range.
A ranged run reads its whole range plus the look-back in ONE binary COPY and writes every day of
a chunk with ONE `UPDATE ohlcv_data ... FROM` a temporary table filled by ONE binary COPY
(quant_assets/pgbinary.py: fixed-width records built and parsed by numpy, no text formatting, no
Python work per row). Per-row UPDATEs, or one UPDATE per day, cost a statement, a temp-table fill
and a join per day; here a day's share of the chunk's statement is all it pays.

Guarantees kept from the per-day write: every day's advisory lock (the one the ohlcv ingest holds
while it replaces the day) is held for the whole write, taken in date order so two ranged runs
cannot deadlock; and the write checks, per day, that every bar of the day got its values. When a
check fails (a day re-ingested between the read and the write), the whole chunk's statement is
rolled back and the chunk is written day by day, so only the changed day fails.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from quant_assets import pgbinary
from quant_assets.resources.warehouse import lock_partition

TICKER_BYTES = 20   # ohlcv_data.ticker is varchar(20): char(20) makes every record the same width
BAR_FIELDS = [("ticker", f"char{TICKER_BYTES}"), ("date", "date"), ("high", "float8"), ("low", "float8"),
              ("close", "float8"), ("volume", "float8")]
# A bar without trades has no open/high/low: a flat bar at its close (technical.py's docstring).
BARS_SELECT = ("SELECT ticker::char({w}), date, coalesce(high, close)::float8, coalesce(low, close)::float8, "
               "close::float8, volume::float8 FROM ohlcv_data "
               "WHERE region = {region} AND timeframe = 'D' AND date >= {start} AND date <= {end}")
BARS_CSV = sql.SQL(
    "COPY (SELECT ticker, date, high, low, close, volume FROM ohlcv_data "
    "WHERE region = {region} AND timeframe = 'D' AND date >= {start} AND date <= {end}) TO STDOUT (FORMAT csv)"
)
ROWS_TABLE, NAMES_TABLE = "_technical_rows", "_technical_names"


@dataclass
class Bars:
    """Daily bars of one region sorted by (ticker, date), as flat arrays; `code` numbers the
    tickers in sorted order (names[code] is the row's ticker)."""

    names: np.ndarray    # object, sorted
    code: np.ndarray     # int64
    date: np.ndarray     # datetime64[D]
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.close)


def _copy_out(conn: psycopg.Connection, query: sql.Composable) -> bytes:
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(query) as copy:
        for chunk in copy:
            buf.write(chunk)
    return buf.getvalue()


def _codes(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code, names) of fixed-width ticker bytes: names sorted, code[i] indexes names.

    Hashing 20-byte strings row by row is slow; the bytes are viewed as three integers, each
    factorised (integer hash tables), and the combined code factorised once more."""
    parts = raw.view([("a", ">u8"), ("b", ">u8"), ("c", ">u4")])
    combined = np.zeros(len(raw), dtype=np.int64)
    for field in ("a", "b", "c"):
        code, uniques = pd.factorize(parts[field].astype(np.uint64))
        combined = combined * len(uniques) + code
    code, uniques = pd.factorize(combined)
    first = np.empty(len(uniques), dtype=np.int64)
    first[code[::-1]] = np.arange(len(raw) - 1, -1, -1)
    names = np.array([b.decode().rstrip(" ") for b in raw[first]], dtype=object)
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[code], names[order]


def _sorted(names: np.ndarray, code: np.ndarray, date: np.ndarray, high: np.ndarray, low: np.ndarray,
            close: np.ndarray, volume: np.ndarray) -> Bars:
    order = np.lexsort((date.astype(np.int64), code))
    return Bars(np.asarray(names, dtype=object), code[order].astype(np.int64), date[order], high[order], low[order],
                close[order], volume[order])


def read_bars(conn: psycopg.Connection, region: str, start: dt.date, end: dt.date) -> Bars:
    """All daily bars of `region` in [start, end], one binary COPY round trip (CSV when a ticker
    is not plain ASCII, which breaks the fixed record width)."""
    lit = {"region": sql.Literal(region), "start": sql.Literal(start), "end": sql.Literal(end)}
    query = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(
        sql.SQL(BARS_SELECT.format(w=TICKER_BYTES, region="{region}", start="{start}", end="{end}")).format(**lit))
    cols = pgbinary.decode(BAR_FIELDS, _copy_out(conn, query))
    if cols is not None:
        code, names = _codes(cols["ticker"])
        return _sorted(names, code, cols["date"], cols["high"], cols["low"], cols["close"], cols["volume"])
    frame = pd.read_csv(io.BytesIO(_copy_out(conn, BARS_CSV.format(**lit))),
                        names=["ticker", "date", "high", "low", "close", "volume"],
                        dtype={"ticker": str, "date": str, "high": float, "low": float, "close": float,
                               "volume": float})
    code, names = pd.factorize(frame["ticker"], sort=True)
    close = frame["close"].to_numpy()
    high = np.where(np.isnan(frame["high"].to_numpy()), close, frame["high"].to_numpy())
    low = np.where(np.isnan(frame["low"].to_numpy()), close, frame["low"].to_numpy())
    return _sorted(np.asarray(names, dtype=object), code.astype(np.int64), frame["date"].to_numpy("datetime64[D]"),
                   high, low, close, frame["volume"].to_numpy())


# -- writing -------------------------------------------------------------------------------------
class WriteMismatch(Exception):
    """ohlcv_data changed between the read and the write for these days (dict day -> text)."""

    def __init__(self, days: dict[dt.date, str]):
        super().__init__("; ".join(f"{d}: {t}" for d, t in days.items()))
        self.days = days


def _ensure_temp(conn: psycopg.Connection, indicators: list[str]) -> None:
    cols = sql.SQL(", ").join(sql.SQL("{} double precision").format(sql.Identifier(c)) for c in indicators)
    conn.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (code integer NOT NULL, date date NOT NULL, {}) "
                         "ON COMMIT DELETE ROWS").format(sql.Identifier(ROWS_TABLE), cols))
    conn.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (code integer PRIMARY KEY, ticker varchar(20) NOT NULL) "
                         "ON COMMIT DELETE ROWS").format(sql.Identifier(NAMES_TABLE)))


def write_days(conn: psycopg.Connection, region: str, frame: pd.DataFrame, indicators: list[str]) -> dict[dt.date, int]:
    """UPDATE the indicator columns of every (ticker, date) row of `frame` (all its dates, one
    region) in ONE transaction and ONE statement; returns rows per day. Raises WriteMismatch
    (nothing written) when a day's bars in ohlcv_data are not exactly the frame's rows."""
    if frame.empty:
        return {}
    dates = frame["date"].to_numpy(dtype="datetime64[D]")
    days = sorted(pd.unique(dates).astype(object))   # datetime.date, sorted: the lock order
    code, names = pd.factorize(frame["ticker"])
    encoded = pgbinary.encode([("code", "int4"), ("date", "date"), *[(c, "float8") for c in indicators]],
                              {"code": code, "date": dates,
                               **{c: frame[c].to_numpy(dtype=np.float64) for c in indicators}})
    sets = sql.SQL(", ").join(sql.SQL("{c} = nullif(t.{c}, 'NaN')").format(c=sql.Identifier(c)) for c in indicators)
    update = sql.SQL(
        "UPDATE ohlcv_data o SET {sets} FROM {rows} t JOIN {names} n USING (code) "
        "WHERE o.region = %(region)s AND o.timeframe = 'D' AND o.date BETWEEN %(first)s AND %(last)s "
        "AND o.ticker = n.ticker AND o.date = t.date").format(
        sets=sets, rows=sql.Identifier(ROWS_TABLE), names=sql.Identifier(NAMES_TABLE))
    counts = sql.SQL(
        "SELECT d.day, coalesce(t.n, 0), coalesce(o.n, 0) FROM unnest(%(days)s::date[]) AS d (day) "
        "LEFT JOIN (SELECT date, count(*) AS n FROM {rows} GROUP BY date) t ON t.date = d.day "
        "LEFT JOIN (SELECT date, count(*) AS n FROM ohlcv_data WHERE region = %(region)s AND timeframe = 'D' "
        "           AND date = ANY(%(days)s) GROUP BY date) o ON o.date = d.day").format(rows=sql.Identifier(ROWS_TABLE))
    params = {"region": region, "first": days[0], "last": days[-1], "days": days}
    with conn.transaction():
        for day in days:
            lock_partition(conn, "ohlcv_data", {"region": region, "date": day})
        _ensure_temp(conn, indicators)
        with conn.cursor().copy(sql.SQL("COPY {} (code, ticker) FROM STDIN").format(sql.Identifier(NAMES_TABLE))) as cp:
            for i, name in enumerate(names):
                cp.write_row((i, name))
        with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(sql.Identifier(ROWS_TABLE))) as cp:
            cp.write(encoded)
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(ROWS_TABLE)))
        updated = conn.execute(update, params).rowcount
        per_day = {day: (int(n_frame), int(n_table)) for day, n_frame, n_table in conn.execute(counts, params)}
        bad = {day: f"computed {a} bars, ohlcv_data now holds {b}" for day, (a, b) in per_day.items() if a != b}
        if updated != len(frame) and not bad:
            bad = {days[0]: f"{updated} of {len(frame)} computed bars matched"}
        if bad:
            raise WriteMismatch(bad)   # rolls the whole statement back
    return {day: n for day, (n, _) in per_day.items()}
