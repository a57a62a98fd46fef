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
check fails (a day re-ingested between the read and the write), nothing of the chunk is written
(counted before the UPDATE, or the statement rolled back) and the chunk is written day by day, so
only the changed day fails.

Why the UPDATE is shaped as it is (benchmarks/technical_write.py, 246 days x 3,500 tickers): it is
most of the asset's cost, because every bar it sets is a new version of a wide row plus, the
month partitions being packed full by the ingest (fillfactor 100), a new entry in both indexes
(a non-HOT update). The computed rows go in date-major order, the heap's order, with work_mem
sized for ONE batch of the hash join (a batched join is probed batch by batch, i.e. in hash
order): a quarter less server CPU and a fifth less WAL than ticker order with a batched join.
Rows already holding the computed values are skipped (IS DISTINCT FROM), so a re-run writes
nothing. HOT updates would halve the rest, but need room for the new version in the page: a
fillfactor of 30 on the month partitions made every update HOT and cut the UPDATE's CPU by
almost half, but left the filled months' heap at 422 MB against 341 MB at fillfactor 100 (whose
dead versions are at least free space for later rows, where a sparse page stays sparse), a cost
against issue #13's size target; so the partitions keep the default.
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
# work_mem per computed row: the hash join took 67 bytes a row (EXPLAIN ANALYZE, 861,000 rows,
# 55 MB), whatever hash_mem_multiplier is
WORK_MEM_BYTES_PER_ROW = 96


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


def _work_mem(rows: int) -> str:
    """work_mem for the chunk's statement: enough for ONE batch of the hash join that matches the
    computed rows with ohlcv_data. A hash split into batches is probed batch by batch, so the
    UPDATE visits the heap in hash order instead of the rows' date order (measured: 26 % more
    WAL and server CPU at the default 4 MB)."""
    return f"{min(max(rows * WORK_MEM_BYTES_PER_ROW >> 20, 16), 1024)}MB"


def write_days(conn: psycopg.Connection, region: str, frame: pd.DataFrame, indicators: list[str]
               ) -> dict[dt.date, tuple[int, int]]:
    """Set the indicator columns of every (ticker, date) row of `frame` (all its dates, one
    region) in ONE transaction and ONE statement; returns (rows, rows changed) per day. Raises WriteMismatch
    (nothing written) when a day's bars in ohlcv_data are not exactly the frame's rows. Rows
    whose stored values already equal the computed ones are left alone (a re-run rewrites no
    row)."""
    if frame.empty:
        return {}
    dates = frame["date"].to_numpy(dtype="datetime64[D]")
    code, names = pd.factorize(frame["ticker"], sort=True)
    # Date-major, as the heap holds the bars (an ingest writes a day's bars together): the UPDATE
    # then walks the heap page by page instead of jumping to another page for every row.
    order = np.lexsort((code, dates.astype(np.int64)))
    day_values, day_counts = np.unique(dates, return_counts=True)
    days = [d.astype(object) for d in day_values]   # datetime.date, sorted: the lock order
    computed = {day: int(n) for day, n in zip(days, day_counts, strict=True)}
    encoded = pgbinary.encode([("code", "int4"), ("date", "date"), *[(c, "float8") for c in indicators]],
                              {"code": code[order], "date": dates[order],
                               **{c: frame[c].to_numpy(dtype=np.float64)[order] for c in indicators}})
    new = {c: sql.SQL("nullif(t.{c}, 'NaN')").format(c=sql.Identifier(c)) for c in indicators}
    sets = sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c), v) for c, v in new.items())
    stored = sql.SQL(", ").join(sql.SQL("o.{}").format(sql.Identifier(c)) for c in indicators)
    match = sql.SQL("o.region = %(region)s AND o.timeframe = 'D' AND o.date BETWEEN %(first)s AND %(last)s "
                    "AND o.ticker = n.ticker AND o.date = t.date")
    rows, names_table = sql.Identifier(ROWS_TABLE), sql.Identifier(NAMES_TABLE)
    update = sql.SQL(
        "WITH u AS (UPDATE ohlcv_data o SET {sets} FROM {rows} t JOIN {names} n USING (code) "
        "WHERE {match} AND ({stored}) IS DISTINCT FROM ({new}) RETURNING o.date) "
        "SELECT date, count(*) FROM u GROUP BY date").format(
        sets=sets, rows=rows, names=names_table, match=match, stored=stored,
        new=sql.SQL(", ").join(new.values()))
    matched = sql.SQL("SELECT count(*) FROM {rows} t JOIN {names} n USING (code) JOIN ohlcv_data o ON {match}").format(
        rows=rows, names=names_table, match=match)
    # BETWEEN, not = ANY(days): a parameter array is searched linearly for every bar
    counts = ("SELECT date, count(*) FROM ohlcv_data WHERE region = %(region)s AND timeframe = 'D' "
              "AND date BETWEEN %(first)s AND %(last)s GROUP BY date")
    params = {"region": region, "first": days[0], "last": days[-1]}
    with conn.transaction():
        for day in days:
            lock_partition(conn, "ohlcv_data", {"region": region, "date": day})
        # the days are locked: their bars stay as counted here until the transaction ends
        held = dict(conn.execute(counts, params).fetchall())
        bad = {day: f"computed {n} bars, ohlcv_data now holds {held.get(day, 0)}"
               for day, n in computed.items() if held.get(day, 0) != n}
        if bad:
            raise WriteMismatch(bad)
        _ensure_temp(conn, indicators)
        conn.execute(sql.SQL("SET LOCAL work_mem = {}").format(sql.Literal(_work_mem(len(frame)))))
        with conn.cursor().copy(sql.SQL("COPY {} (code, ticker) FROM STDIN").format(names_table)) as cp:
            for i, name in enumerate(names):
                cp.write_row((i, name))
        with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(rows)) as cp:
            cp.write(encoded)
        conn.execute(sql.SQL("ANALYZE {}").format(rows))
        changed = {day: int(n) for day, n in conn.execute(update, params).fetchall()}
        # Counts per day agree, and a (ticker, date) matches at most one bar (primary key): every
        # computed row found its bar iff all of them did. Counted only when some row was left
        # alone (a re-run); when every row changed, every row matched.
        if sum(changed.values()) != len(frame):
            found = conn.execute(matched, params).fetchone()[0]
            if found != len(frame):
                raise WriteMismatch({days[0]: f"{found} of {len(frame)} computed bars matched"})  # rolls back
    return {day: (n, changed.get(day, 0)) for day, n in computed.items()}
