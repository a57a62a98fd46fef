"""How a day's factor scores are stored: one packed row per (date, region, factor_name).

Why: the long layout (a row per ticker and factor, three indexes) cost ~170 bytes per score. A
factor's cross-section on a day is written and read as a whole, so sql/019 stores it as arrays
aligned by position (`factor_scores_packed`) behind the `factor_scores` view, which keeps the
seed contract's columns. Values stay double precision: the view returns exactly the computed
numbers (NaN is stored as a NULL element, as before). sql/026's view relies on that (it swaps
NULL elements for NaN internally to subscript arrays in O(1)), and a CHECK refuses NaN elements.

Why binary COPY built here: psycopg adapts a Python list of floats element by element (and its
text array dumper quotes each one), which cost ~0.5 s per day for the ~27,500 scores of a full
market, more than computing them. The day's 11 rows are therefore encoded with numpy straight
into PostgreSQL's binary COPY format (resources/binary_copy.py does the same for scalar columns;
it has no arrays): fixed-width big-endian elements, a NULL element where the value is NaN. The
server still checks every element (varchar(20) lengths, the table's CHECKs) in the day's one
transaction.
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
COLUMNS = ("date", "region", "factor_name", "tickers", "markets", "market_codes", "raw_values", "scores",
           "percentiles", "market_scores", "market_percentiles")
COPY = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
# element type OIDs: a binary array names its element type and the server insists on the exact one
VARCHAR, TEXT, INT2, FLOAT8 = 1043, 25, 21, 701
_PG_EPOCH = dt.date(2000, 1, 1).toordinal()


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


def _field(body: bytes) -> bytes:
    return struct.pack(">i", len(body)) + body


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
    """market codes: 0 is sent as a NULL element."""
    codes = np.asarray(codes, dtype=np.int64)
    return _fixed_array(codes, codes == 0, INT2, ">i2")


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


def _row(day: dt.date, region: str, f: PackedFactor) -> bytes:
    fields = (struct.pack(">i", day.toordinal() - _PG_EPOCH), region.encode(), f.name.encode(),
              text_array(f.tickers, VARCHAR), text_array(f.markets, TEXT), int2_array(f.market_codes),
              float8_array(f.raw_values), float8_array(f.scores), float8_array(f.percentiles),
              float8_array(f.market_scores), float8_array(f.market_percentiles))
    return struct.pack(">h", len(fields)) + b"".join(_field(b) for b in fields)


def write_day(conn: psycopg.Connection, day: dt.date, region: str, factors: Sequence[PackedFactor]) -> int:
    """Replace (region, day) in one transaction; returns the scores written (view rows)."""
    data = HEADER + b"".join(_row(day, region, f) for f in factors) + TRAILER
    with conn.transaction():
        lock_partition(conn, "factor_scores", (region, day))
        conn.execute(f"DELETE FROM {TABLE} WHERE region = %s AND date = %s", (region, day))
        if factors:
            with conn.cursor() as cur, cur.copy(COPY) as copy:
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
