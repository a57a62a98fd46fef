"""A circuit breaker whose state lives in PostgreSQL, shared by every run, sensor and process.

When KRX serves its ban page, one run trips the breaker; every other run (and the sensors in the
daemon) then stops sending KRX requests until the cool-down ends, instead of each discovering the
ban by sending more requests — which is what extends a ban. Reads are cached for a few seconds so
the check costs one query per burst, not one per request.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg

from quant_assets import database, migrations
from quant_assets.errors import SourceBlockedError

CACHE_SECONDS = 5.0


class PostgresCircuitBreaker:
    def __init__(self, url: str | None = None):
        self._url = url
        self._migrated = False
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, dt.datetime | None, str | None]] = {}

    def _connect(self) -> psycopg.Connection:
        url = self._url or database.database_url()
        if not self._migrated:  # a run's first KRX request may come before any warehouse access
            migrations.migrate(url)
            self._migrated = True
        return psycopg.connect(url, autocommit=True)

    def state(self, source: str) -> tuple[dt.datetime | None, str | None]:
        """(open_until, reason) if the breaker is open now, else (None, None)."""
        with self._lock:
            cached = self._cache.get(source)
            if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
                return cached[1], cached[2]
        with self._connect() as conn:
            row = conn.execute(
                "SELECT open_until, reason FROM source_circuit WHERE source = %s AND open_until > now()",
                (source,)).fetchone()
        until, reason = row if row else (None, None)
        with self._lock:
            self._cache[source] = (time.monotonic(), until, reason)
        return until, reason

    def check(self, source: str) -> None:
        until, reason = self.state(source)
        if until is not None:
            raise SourceBlockedError(
                source, f"circuit breaker open until {until.isoformat(timespec='seconds')} "
                        f"(reason: {reason}); no request sent")

    def trip(self, source: str, reason: str, seconds: float) -> None:
        with self._connect() as conn:
            conn.execute(
                """INSERT INTO source_circuit (source, open_until, reason, tripped_at)
                   VALUES (%s, now() + make_interval(secs => %s), %s, now())
                   ON CONFLICT (source) DO UPDATE
                   SET open_until = GREATEST(source_circuit.open_until, EXCLUDED.open_until),
                       reason = EXCLUDED.reason, tripped_at = now()""",
                (source, seconds, reason[:500]))
        with self._lock:
            self._cache.pop(source, None)

    def reset(self, source: str) -> None:
        """Close the breaker by hand (e.g. after moving to a new IP)."""
        with self._connect() as conn:
            conn.execute("DELETE FROM source_circuit WHERE source = %s", (source,))
        with self._lock:
            self._cache.pop(source, None)
