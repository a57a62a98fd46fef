"""How a day's factor scores are stored: a ticker list per (date, region) and one packed row per
(date, region, factor_name) in exact narrow encodings (sql/019, sql/026, sql/029).

Why packed: the long layout (a row per ticker and factor, three indexes) cost ~170 bytes per
score. A factor's cross-section on a day is written and read as a whole, so sql/019 stores it as
arrays behind the `factor_scores` view, which keeps the seed contract's columns.

Why narrow (sql/029): the packed rows were the largest uncompacted table (~93 KB per (day, factor)
row at 2,700 stocks: the day's tickers repeated in each of its 11 rows and five float8 arrays, of
which random doubles do not compress). Three of the five arrays are functions of numbers the row
can keep instead, recomputed by the view in the same IEEE double operations numpy used:
  * percentile = pandas rank(method="average", pct=True) * 100 = (r / n) * 100 with r an exact
    half-integer: stored as 2r (int2), the view computes ((2r / 2) / n) * 100;
  * score = (clip(raw, lo, hi) - mean) / sd (factors.score, 0 when sd = 0): stored as
    score_params {lo, hi, mean, sd}; market_score likewise, four numbers per market;
  * tickers: once per day in factor_score_days; the factor row's arrays are aligned to that list
    (NULL elements for tickers the factor does not score, which cost one null-bitmap bit) and a
    bit string `members` marks the factor's tickers.
Nothing is approximated: each encoding is chosen per row and column here, at write time, only if
numpy, doing exactly what the view's SQL does (same operations, same order, PostgreSQL's
greatest/least tie rules), gives back the computed values bit for bit; otherwise that column keeps
its float8 array (CHECK factor_scores_packed_encoding_check: exactly one of each pair). NaN is
stored as a NULL element, as before (sql/026's view swaps NULL elements for a sentinel to
subscript in O(1), and a CHECK refuses NaN elements).

Why binary COPY built here: psycopg adapts a Python list of floats element by element (and its
text array dumper quotes each one), which cost ~0.5 s per day for the ~27,500 scores of a full
market, more than computing them. The day's rows are therefore encoded with numpy straight into
PostgreSQL's binary COPY format (resources/binary_copy.py does the same for scalar columns; it has
no arrays): fixed-width big-endian elements, a NULL element where the value is NaN. The server
still checks every element (varchar(20) lengths, the tables' CHECKs, the foreign key to the day's
ticker list) in the day's one transaction.
"""

from __future__ import annotations

import datetime as dt
import queue
import struct
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
import psycopg

from quant_assets.resources.warehouse import lock_partition

TABLE = "factor_scores_packed"
DAYS_TABLE = "factor_score_days"
COLUMNS = ("date", "region", "factor_name", "members", "markets", "market_codes", "raw_values", "scores",
           "score_params", "percentiles", "percentile_ranks", "market_scores", "market_score_params",
           "market_percentiles", "market_percentile_ranks", "market_counts")
COPY = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
COPY_DAY = f"COPY {DAYS_TABLE} (date, region, tickers) FROM STDIN (FORMAT BINARY)"
HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
# element type OIDs: a binary array names its element type and the server insists on the exact one
VARCHAR, TEXT, INT2, INT4, FLOAT8 = 1043, 25, 21, 23, 701
_PG_EPOCH = dt.date(2000, 1, 1).toordinal()
WINSOR = (1.0, 99.0)  # factors.score's winsorisation percentiles (factors.WINSOR is this)
MAX_RANK2 = 32767  # 2 x rank must fit int2

@dataclass
class PackedFactor:
    """One factor's cross-section on a day, tickers ascending; market_codes are 1-based indexes
    into `markets` (0 = no market), the float arrays hold NaN where the value is NULL."""

    name: str
    tickers: np.ndarray          # str
    markets: list[str]
    market_codes: np.ndarray     # int, 0 = NULL
    raw_values: np.ndarray
    scores: np.ndarray
    percentiles: np.ndarray
    market_scores: np.ndarray
    market_percentiles: np.ndarray


def _field(body: bytes | None) -> bytes:
    return b"\xff\xff\xff\xff" if body is None else struct.pack(">i", len(body)) + body


def _header(n: int, has_null: bool, oid: int) -> bytes:
    if n == 0:
        return struct.pack(">iiI", 0, 0, oid)
    return struct.pack(">iiIii", 1, int(has_null), oid, n, 1)


def _fixed_array(values: np.ndarray, null: np.ndarray, oid: int, dtype: str) -> bytes:
    """A 1-D array of a fixed-width type: per element int32 length (-1 = NULL) then the value."""
    n = len(values)
    width = np.dtype(dtype).itemsize
    rec = np.empty(n, dtype=[("len", ">i4"), ("val", dtype)])
    rec["len"] = np.where(null, -1, width)
    rec["val"] = np.where(null, 0, values)
    raw = rec.view(np.uint8).reshape(n, 4 + width)
    if null.any():
        keep = np.ones(raw.shape, dtype=bool)
        keep[null, 4:] = False  # a NULL element is its length word only
        body = raw[keep].tobytes()
    else:
        body = raw.tobytes()
    return _header(n, bool(null.any()), oid) + body


def float8_array(values: np.ndarray) -> bytes:
    values = np.asarray(values, dtype=float)
    return _fixed_array(values, np.isnan(values), FLOAT8, ">f8")


def int2_array(codes: np.ndarray) -> bytes:
    """market codes, ranks: 0 is sent as a NULL element."""
    codes = np.asarray(codes, dtype=np.int64)
    return _fixed_array(codes, codes == 0, INT2, ">i2")


def int4_array(values: np.ndarray) -> bytes:
    """counts: 0 is sent as a NULL element."""
    values = np.asarray(values, dtype=np.int64)
    return _fixed_array(values, values == 0, INT4, ">i4")


def bit_string(bits: np.ndarray) -> bytes:
    """bit varying: int32 bit count, then the bits packed from the most significant bit."""
    bits = np.asarray(bits, dtype=bool)
    return struct.pack(">i", len(bits)) + np.packbits(bits).tobytes()


def text_array(values: Sequence[str], oid: int) -> bytes:
    """A 1-D array of text elements (no NULLs): per element int32 byte length then UTF-8."""
    strs = np.asarray(values, dtype=object)
    if not len(strs):
        return _header(0, False, oid)
    try:                                   # ASCII (tickers, market names): numpy encodes it
        body = strs.astype("S")
    except UnicodeEncodeError:
        body = np.array([x.encode("utf-8") for x in strs], dtype="S")
    lengths = np.char.str_len(body).astype(np.int64)
    width = body.dtype.itemsize
    raw = np.concatenate([lengths.astype(">i4").view(np.uint8).reshape(-1, 4),
                          body.view(np.uint8).reshape(len(strs), width)], axis=1)
    keep = np.arange(4 + width)[None, :] < (4 + lengths)[:, None]
    return _header(len(strs), False, oid) + raw[keep].tobytes()


# -- exact narrow encodings: each returns None when it would not give back the same bits --------
def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.array_equal(a.view(np.int64), b.view(np.int64)))


def rank_numerators(pct: np.ndarray, counts: np.ndarray) -> np.ndarray | None:
    """2 x average rank per value (0 where pct is NaN) such that the view's
    ((2r / 2) / count) * 100 is `pct` exactly; None if some value does not round-trip."""
    pct, counts = np.asarray(pct, dtype=float), np.asarray(counts, dtype=float)
    present = ~np.isnan(pct)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.rint(pct / 100.0 * counts * 2.0)
        ok = present & (counts > 0) & (r2 >= 1) & (r2 <= MAX_RANK2)
        back = r2 / 2.0 / counts * 100.0  # the view's order of operations
    if not np.array_equal(ok, present) or not _same_bits(back[present], pct[present]):
        return None
    return np.where(present, r2, 0).astype(np.int64)


def score_params(raw: np.ndarray, scores: np.ndarray) -> np.ndarray | None:
    """{lo, hi, mean, sd} such that the view's (least(greatest(raw, lo), hi) - mean) / sd (0 when
    sd = 0) is `scores` exactly, from factors.score's own numpy steps; None otherwise."""
    raw, scores = np.asarray(raw, dtype=float), np.asarray(scores, dtype=float)
    if not len(raw) or not (np.isfinite(raw).all() and np.isfinite(scores).all()):
        return None
    lo, hi = np.percentile(raw, WINSOR)
    w = np.clip(raw, lo, hi)
    mean, sd = w.mean(), w.std()
    if not all(np.isfinite(x) for x in (lo, hi, mean, sd)):
        return None
    if sd > 0:
        # PostgreSQL: greatest keeps its first argument unless the second is larger, least likewise
        v = np.where(raw < lo, lo, raw)
        v = np.where(v > hi, hi, v)
        diff = v - mean
        back = diff / sd
        if ((back == 0) & (diff != 0)).any():  # PostgreSQL refuses an underflow to zero
            return None
    else:
        back = np.zeros(len(raw))
    return np.array([lo, hi, mean, sd]) if _same_bits(back, scores) else None


@dataclass
class NarrowRow:
    """One factor's cross-section aligned to the day's tickers, each column in its chosen form
    (a narrow form, or None and the float8 array)."""

    members: np.ndarray            # bool per day ticker
    market_codes: np.ndarray       # int, 0 = NULL
    raw_values: np.ndarray         # NaN = NULL
    scores: np.ndarray | None
    score_params: np.ndarray | None
    percentiles: np.ndarray | None
    percentile_ranks: np.ndarray | None
    market_scores: np.ndarray | None
    market_score_params: np.ndarray | None  # 4 per market, NaN = NULL (market too small)
    market_percentiles: np.ndarray | None
    market_percentile_ranks: np.ndarray | None
    market_counts: np.ndarray | None


def narrow(f: PackedFactor, day_tickers: np.ndarray) -> NarrowRow:
    """`f` aligned to `day_tickers` (sorted, holding every ticker of f) in exact narrow forms."""
    n_day, n = len(day_tickers), len(f.tickers)
    pos = np.searchsorted(day_tickers, np.asarray(f.tickers, dtype=day_tickers.dtype)) if n else np.empty(0, int)

    def aligned(values: np.ndarray, fill: float | int = np.nan) -> np.ndarray:
        out = np.full(n_day, fill, dtype=np.asarray(values).dtype if fill == 0 else float)
        out[pos] = values
        return out

    raw = np.asarray(f.raw_values, dtype=float)
    codes = np.asarray(f.market_codes, dtype=np.int64)
    members = np.zeros(n_day, dtype=bool)
    members[pos] = True
    pct, mpct = np.asarray(f.percentiles, dtype=float), np.asarray(f.market_percentiles, dtype=float)
    z, mz = np.asarray(f.scores, dtype=float), np.asarray(f.market_scores, dtype=float)

    ranks = rank_numerators(pct, np.full(n, float(n)))
    params = score_params(raw, z)

    k = len(f.markets)
    counts = np.bincount(codes, minlength=k + 1)[1:k + 1] if n else np.zeros(k, dtype=np.int64)
    # market_percentile: a value needs a market; its denominator is the market's member count
    mranks = None
    if not (np.isfinite(mpct) & (codes == 0)).any():
        denominators = np.where(codes > 0, np.append([0], counts)[codes], 0)
        mranks = rank_numerators(mpct, denominators)
    # market_score: per market all NULL (too few names) or all reproduced by four numbers
    mparams: np.ndarray | None = np.full(4 * k, np.nan)
    if (np.isfinite(mz) & (codes == 0)).any():
        mparams = None
    for c in range(1, k + 1):
        if mparams is None:
            break
        rows = codes == c
        if np.isnan(mz[rows]).all():
            continue
        got = score_params(raw[rows], mz[rows])
        if got is None:
            mparams = None
        else:
            mparams[4 * c - 4:4 * c] = got
    return NarrowRow(
        members=members, market_codes=aligned(codes, 0), raw_values=aligned(raw),
        scores=None if params is not None else aligned(z), score_params=params,
        percentiles=None if ranks is not None else aligned(pct),
        percentile_ranks=None if ranks is None else aligned(ranks, 0),
        market_scores=None if mparams is not None else aligned(mz), market_score_params=mparams,
        market_percentiles=None if mranks is not None else aligned(mpct),
        market_percentile_ranks=None if mranks is None else aligned(mranks, 0),
        market_counts=None if mranks is None else counts)


def day_tickers(factors: Sequence[PackedFactor]) -> np.ndarray:
    """The day's ticker list: every ticker of any factor, ascending by code point."""
    parts = [np.asarray(f.tickers, dtype=str) for f in factors if len(f.tickers)]
    return np.unique(np.concatenate(parts)) if parts else np.array([], dtype=str)


def _opt(values: np.ndarray | None, encode: Callable[[np.ndarray], bytes]) -> bytes | None:
    return None if values is None else encode(values)


def _row(day: dt.date, region: str, f: PackedFactor, tickers: np.ndarray) -> bytes:
    r = narrow(f, tickers)
    fields = (struct.pack(">i", day.toordinal() - _PG_EPOCH), region.encode(), f.name.encode(),
              bit_string(r.members), text_array(f.markets, TEXT), int2_array(r.market_codes),
              float8_array(r.raw_values), _opt(r.scores, float8_array), _opt(r.score_params, float8_array),
              _opt(r.percentiles, float8_array), _opt(r.percentile_ranks, int2_array),
              _opt(r.market_scores, float8_array), _opt(r.market_score_params, float8_array),
              _opt(r.market_percentiles, float8_array), _opt(r.market_percentile_ranks, int2_array),
              _opt(r.market_counts, int4_array))
    return struct.pack(">h", len(fields)) + b"".join(_field(b) for b in fields)


def _day_row(day: dt.date, region: str, tickers: np.ndarray) -> bytes:
    fields = (struct.pack(">i", day.toordinal() - _PG_EPOCH), region.encode(), text_array(tickers, VARCHAR))
    return struct.pack(">h", len(fields)) + b"".join(_field(b) for b in fields)


def write_day(conn: psycopg.Connection, day: dt.date, region: str, factors: Sequence[PackedFactor]) -> int:
    """Replace (region, day) in one transaction; returns the scores written (view rows)."""
    tickers = day_tickers(factors)
    day_data = HEADER + _day_row(day, region, tickers) + TRAILER
    data = HEADER + b"".join(_row(day, region, f, tickers) for f in factors) + TRAILER
    with conn.transaction():
        lock_partition(conn, "factor_scores", (region, day))
        conn.execute(f"DELETE FROM {TABLE} WHERE region = %s AND date = %s", (region, day))
        conn.execute(f"DELETE FROM {DAYS_TABLE} WHERE region = %s AND date = %s", (region, day))
        if factors:
            with conn.cursor() as cur:
                with cur.copy(COPY_DAY) as copy:
                    copy.write(day_data)
                with cur.copy(COPY) as copy:
                    copy.write(data)
    return sum(len(f.tickers) for f in factors)


class DayWriter:
    """Writes days, in the order given, on its own connection, each day in its own transaction
    (`write_day`); with `depth` > 0 in a background thread while the caller computes the next
    days (at most `depth` days wait), with 0 at once in `put`.

    Why a thread: a day's write is mostly server work (TOAST compression of the arrays) during
    which the client only waits; overlapping it with the next day's numpy work hides it when a
    core is free. The first failed write stops the writer: later days are not written, and
    `put`/`close` raise that error. `done` maps each written day to (scores, seconds).
    """

    def __init__(self, connect: Callable[[], AbstractContextManager[psycopg.Connection]], region: str,
                 depth: int = 4):
        self.region = region
        self.done: dict[dt.date, tuple[int, float]] = {}
        self.error: BaseException | None = None
        self._connect = connect
        self._thread: threading.Thread | None = None
        self._inline: AbstractContextManager[psycopg.Connection] | None = None
        self._conn: psycopg.Connection | None = None
        if depth > 0:
            self._queue: queue.Queue = queue.Queue(maxsize=depth)
            self._thread = threading.Thread(target=self._run, name="factor_scores-writer", daemon=True)
            self._thread.start()

    def _write(self, conn: psycopg.Connection, day: dt.date, factors: Sequence[PackedFactor]) -> None:
        t0 = time.perf_counter()
        rows = write_day(conn, day, self.region, factors)
        self.done[day] = (rows, time.perf_counter() - t0)

    def _run(self) -> None:
        try:
            with self._connect() as conn:
                while (item := self._queue.get()) is not None:
                    self._write(conn, *item)
        except BaseException as exc:  # handed to the caller's thread
            self.error = exc
            while self._queue.get() is not None:  # let put() and close() finish
                pass

    def put(self, day: dt.date, factors: Sequence[PackedFactor]) -> None:
        if self.error is not None:
            raise self.error
        if self._thread is None:
            if self._conn is None:
                self._inline = self._connect()
                self._conn = self._inline.__enter__()
            self._write(self._conn, day, factors)
        else:
            self._queue.put((day, factors))

    def _stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._inline is not None:
            inline, self._inline, self._conn = self._inline, None, None
            inline.__exit__(None, None, None)

    def close(self) -> dict[dt.date, tuple[int, float]]:
        """Wait for the queued days; raise the writer's error if a write failed."""
        self._stop()
        if self.error is not None:
            raise self.error
        return self.done

    def __enter__(self) -> DayWriter:
        return self

    def __exit__(self, *exc) -> None:
        self._stop()
