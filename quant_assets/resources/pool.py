"""One small connection pool per process and database URL (psycopg_pool).

Why: opening a PostgreSQL connection costs ~12 ms on the 2-core machine (a backend fork,
authentication, a cold catalogue cache), while a query on an open one costs ~0.3 ms. A ranged
ingest day opened four or five (its write transaction, its two metadata coverage queries, ...): on
a 160 ms day that was a third of the time, paid again by every derived asset. A pooled connection
behaves like `with psycopg.connect(url) as conn` — the block commits on success and rolls back on
an error — and goes back to the pool instead of closing.

Keyed by process id as well: a forked run worker must not use its parent's sockets. A broken
connection (the embedded server restarted) is detected when it is handed out and replaced.
Auto-prepared statements are off, as on a fresh connection: a table converted to a view by
`quant storage compact` must not meet a statement prepared against the table.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Iterator

import psycopg
from psycopg_pool import ConnectionPool

MAX_CONNECTIONS = 8      # per process and URL: a run's main thread, its fetch thread, nested reads
IDLE_SECONDS = 120.0     # an idle connection above min_size closes after this

_pools: dict[tuple[int, str, bool], ConnectionPool] = {}
_lock = threading.Lock()


def _configure(conn: psycopg.Connection) -> None:
    conn.prepare_threshold = None


def _pool(url: str, autocommit: bool) -> ConnectionPool:
    key = (os.getpid(), url, autocommit)
    pool = _pools.get(key)
    if pool is None:
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = ConnectionPool(url, min_size=1, max_size=MAX_CONNECTIONS, open=True,
                                      kwargs={"autocommit": autocommit}, configure=_configure,
                                      check=ConnectionPool.check_connection, max_idle=IDLE_SECONDS,
                                      name=f"quant-{'auto' if autocommit else 'tx'}")
                _pools[key] = pool
    return pool


@contextlib.contextmanager
def connection(url: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A pooled connection to `url` for the block (commit on success, rollback on error)."""
    with _pool(url, autocommit).connection() as conn:
        yield conn


def close_all() -> None:
    """Close this process's pools (at exit, or before the database server stops)."""
    with _lock:
        mine = [k for k in _pools if k[0] == os.getpid()]
        pools = [_pools.pop(k) for k in mine]
    for pool in pools:
        with contextlib.suppress(Exception):
            pool.close(timeout=5)


atexit.register(close_all)
