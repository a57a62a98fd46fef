"""Fetch (and parse, validate, encode) the next days of a ranged run while the current day is written.

A ranged ingest run used to fetch, parse, validate and write each day one after the other, so the
source sat idle while we wrote and the database sat idle while we waited for the source. The source
is another process or host: its answer for day i+1 can be on its way while day i is written.

`Prefetcher` runs ONE background thread that calls `fetch(key)` for the run's keys in order, at
most `depth` days ahead of the consumer. One thread means the client is used by one thread at a
time and requests go out one after another exactly as before, through the same client, rate
limiter and retry policy: prefetching changes when a request is sent, never how many or how fast
(the rate limit is the bound). The consumer (the day loop) asks for the days in the same order:

* a day's fetch error (SourceError, SourceDataError, MarketClosedError, ...) is re-raised by
  `get(key)` for that day, so it lands on the day it belongs to;
* a `SourceStopError` (ban, authentication failure) stops the thread: nothing more is requested,
  and the loop, which stops at that day, never asks for later ones;
* closing (end of the run, or an error in the loop) stops the thread after the request in flight.

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
from typing import Generic, TypeVar

from quant_assets.errors import SourceStopError

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

DEFAULT_DEPTH = 2   # days fetched ahead: enough to hide a write behind a fetch, little memory


def prefetch_depth() -> int:
    """Days a ranged ingest run fetches ahead (QUANT_PREFETCH_DAYS, default 2; 0 = no prefetching,
    the comparison `benchmarks/write_path.py` measures)."""
    return int(os.environ.get("QUANT_PREFETCH_DAYS", str(DEFAULT_DEPTH)))


class Prefetcher(Generic[K, T]):
    """`get(key)` returns `fetch(key)`, computed ahead in a background thread (see module doc).

    Use as a context manager; with one key (or depth 0) there is no thread and `get` fetches
    inline, so a one-partition run behaves exactly as without it.
    """

    def __init__(self, keys: Sequence[K], fetch: Callable[[K], T], *, depth: int = DEFAULT_DEPTH):
        self.keys = list(keys)
        self.fetch = fetch
        self.depth = depth
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next = 0          # index of the next key the consumer may ask for
        self.fetched: list[K] = []   # keys the worker fetched (or tried), in order: for tests and logs

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> Prefetcher[K, T]:
        if self.depth > 0 and len(self.keys) > 1:
            self._thread = threading.Thread(target=self._work, name="prefetch", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop fetching (after the request in flight) and wait for the thread."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            while thread.is_alive():
                self._drain()               # unblock a worker waiting on a full queue
                thread.join(timeout=0.05)

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    # -- worker --------------------------------------------------------------------------------
    def _work(self) -> None:
        for key in self.keys:
            if self._stop.is_set():
                return
            self.fetched.append(key)
            try:
                item = (key, self.fetch(key), None)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer for this key
                item = (key, None, exc)
            if not self._put(item) or isinstance(item[2], SourceStopError | KeyboardInterrupt | SystemExit):
                return

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    # -- consumer ------------------------------------------------------------------------------
    def get(self, key: K) -> T:
        """The fetched value for `key` (the next key of the run), or its fetch error re-raised."""
        if self._next >= len(self.keys) or self.keys[self._next] != key:
            raise ValueError(f"prefetch: asked for {key!r} out of order (expected "
                             f"{self.keys[self._next] if self._next < len(self.keys) else 'no more keys'!r})")
        self._next += 1
        if self._thread is None:
            self.fetched.append(key)
            return self.fetch(key)
        while True:
            try:
                got, value, exc = self._queue.get(timeout=0.1)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    raise RuntimeError(f"prefetch: the fetch thread stopped before {key!r}") from None
        if got != key:  # cannot happen while keys are asked in order; never hand a wrong day over
            raise RuntimeError(f"prefetch: fetched {got!r} where {key!r} was expected")
        if exc is not None:
            raise exc
        return value
