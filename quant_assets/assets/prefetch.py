"""Fetch (and parse, validate, encode) the next days of a ranged run while the current day is written.

A ranged ingest run used to fetch, parse, validate and write each day one after the other, so the
source sat idle while we wrote and the database sat idle while we waited for the source. The source
is another process or host: its answer for day i+1 can be on its way while day i is written.

`Prefetcher` runs ONE background thread that calls `fetch(key)` for the run's keys in order, at
most `depth` days ahead of the consumer. One thread means the client is used by one thread at a
time and requests go out one after another exactly as before, through the same client, rate
limiter and retry policy: prefetching changes when a request is sent, never how many or how fast
(the rate limit is the bound).

With `prepare`, the work of a day is split in two stages on two threads: `fetch(key)` (only the
source's requests: its answer, decoded) and `prepare(key, fetched)` (parsing, validation, binary
encoding). The fetch thread then asks the source for day i+1 while day i is parsed, so a ranged run
is bound by the source's answers rather than by the sum of request and parsing; requests still go
out one at a time, in order, from the one fetch thread. The consumer (the day loop) asks for the
days in the same order:

* a day's fetch or prepare error (SourceError, SourceDataError, MarketClosedError, a schema
  error, ...) is re-raised by `get(key)` for that day, so it lands on the day it belongs to;
* a `SourceStopError` (ban, authentication failure) stops the fetch thread: nothing more is
  requested, and the loop, which stops at that day, never asks for later ones;
* closing (end of the run, or an error in the loop) stops the threads after the request in flight.

KRXClient is safe for this: only the worker thread calls it while the run lasts; its session and
login logic is additionally guarded by the client's lock and the session store's per-account lock,
the limiter and breaker are thread-safe, and `close()` (Dagster teardown) runs after `close()` here
joined the thread.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from quant_assets.errors import SourceStopError

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

DEFAULT_DEPTH = 2   # days fetched ahead: enough to hide a write behind a fetch, little memory


def prefetch_depth() -> int:
    """Days a ranged ingest run fetches ahead (QUANT_PREFETCH_DAYS, default 2; 0 = no prefetching,
    the comparison `benchmarks/write_path.py` measures)."""
    return int(os.environ.get("QUANT_PREFETCH_DAYS", str(DEFAULT_DEPTH)))


def _stops(exc: BaseException | None) -> bool:
    return isinstance(exc, SourceStopError | KeyboardInterrupt | SystemExit)


class Prefetcher(Generic[K, T]):
    """`get(key)` returns `fetch(key)` (or `prepare(key, fetch(key))`), computed ahead in background
    threads (see module doc).

    Use as a context manager; with one key (or depth 0) there is no thread and `get` fetches
    (and prepares) inline, so a one-partition run behaves exactly as without it.
    """

    def __init__(self, keys: Sequence[K], fetch: Callable[[K], Any], *, depth: int = DEFAULT_DEPTH,
                 prepare: Callable[[K, Any], T] | None = None):
        self.keys = list(keys)
        self.fetch = fetch
        self.prepare = prepare
        self.depth = depth
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))   # prepared days for the consumer
        self._fetched: queue.Queue = queue.Queue(maxsize=1)             # fetched days for the prepare thread
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._next = 0          # index of the next key the consumer may ask for
        self.fetched: list[K] = []   # keys the fetch stage fetched (or tried), in order: for tests and logs

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> Prefetcher[K, T]:
        if self.depth > 0 and len(self.keys) > 1:
            out = self._fetched if self.prepare is not None else self._queue
            fetcher = threading.Thread(target=self._fetch_work, args=(out,), name="prefetch", daemon=True)
            self._threads = [fetcher]
            if self.prepare is not None:
                self._threads.append(threading.Thread(target=self._prepare_work, args=(fetcher,),
                                                      name="prefetch-prepare", daemon=True))
            for thread in self._threads:
                thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop fetching (after the request in flight) and wait for the threads."""
        self._stop.set()
        threads, self._threads = self._threads, []
        for thread in threads:
            while thread.is_alive():
                self._drain()               # unblock a worker waiting on a full queue
                thread.join(timeout=0.05)

    def _drain(self) -> None:
        for q in (self._queue, self._fetched):
            try:
                while True:
                    q.get_nowait()
            except queue.Empty:
                pass

    # -- workers -------------------------------------------------------------------------------
    def _fetch_work(self, out: queue.Queue) -> None:
        for key in self.keys:
            if self._stop.is_set():
                return
            self.fetched.append(key)
            try:
                item = (key, self.fetch(key), None)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer for this key
                item = (key, None, exc)
            if not self._put(out, item) or _stops(item[2]):
                return

    def _prepare_work(self, fetcher: threading.Thread) -> None:
        for _ in self.keys:
            item = self._take(self._fetched, fetcher)
            if item is None:
                return
            key, value, exc = item
            if exc is None:
                try:
                    value = self.prepare(key, value)
                except BaseException as err:  # noqa: BLE001 - handed to the consumer for this key
                    value, exc = None, err
            if not self._put(self._queue, (key, value, exc)) or _stops(exc):
                return

    def _put(self, q: queue.Queue, item) -> bool:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _take(self, q: queue.Queue, producer: threading.Thread):
        """The next item of `q`; None once stopping, or once `producer` ended with `q` empty."""
        while not self._stop.is_set():
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                if not producer.is_alive() and q.empty():
                    return None
        return None

    # -- consumer ------------------------------------------------------------------------------
    def get(self, key: K) -> T:
        """The value for `key` (the next key of the run), or its fetch/prepare error re-raised."""
        if self._next >= len(self.keys) or self.keys[self._next] != key:
            raise ValueError(f"prefetch: asked for {key!r} out of order (expected "
                             f"{self.keys[self._next] if self._next < len(self.keys) else 'no more keys'!r})")
        self._next += 1
        if not self._threads:
            self.fetched.append(key)
            value = self.fetch(key)
            return self.prepare(key, value) if self.prepare is not None else value
        while True:
            try:
                got, value, exc = self._queue.get(timeout=0.1)
                break
            except queue.Empty:
                if not self._threads[-1].is_alive() and self._queue.empty():
                    raise RuntimeError(f"prefetch: the fetch thread stopped before {key!r}") from None
        if got != key:  # cannot happen while keys are asked in order; never hand a wrong day over
            raise RuntimeError(f"prefetch: fetched {got!r} where {key!r} was expected")
        if exc is not None:
            raise exc
        return value
