"""A circuit breaker whose state lives in PostgreSQL, shared by every run, sensor and process.

When KRX serves its ban page, one run trips the breaker; every other run (and the sensors in the
daemon) then stops sending KRX requests until the cool-down ends, instead of each discovering the
ban by sending more requests — which is what extends a ban. An outage (retries exhausted on 5xx,
maintenance pages, timeouts) trips the same breaker with kind 'outage' for a few minutes, so a
ranged run does not hammer a down source once per remaining day. A closed breaker is cached for a
few seconds so the check costs one query per burst, not one per request.
"""

from __future__ import annotations

import threading
import time

import psycopg

from quant_assets import database, migrations
from quant_assets.resources.http import BAN, BreakerState, breaker_error

CACHE_SECONDS = 5.0


class PostgresCircuitBreaker:
    def __init__(self, url: str | None = None):
        self._url = url
        self._migrated = False
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, None]] = {}

    def _connect(self) -> psycopg.Connection:
        url = self._url or database.database_url()
        if not self._migrated:  # a run's first KRX request may come before any warehouse access
            migrations.migrate(url)
            self._migrated = True
        return psycopg.connect(url, autocommit=True)

    def state(self, source: str) -> BreakerState | None:
        """The open state (until, reason, kind), or None when requests may be sent."""
        # Only "closed" is cached (the hot path: one query per burst of requests). An open state is
        # read every time — nothing is sent while it lasts anyway — so a reset by hand or from
        # another process takes effect at once.
        with self._lock:
            cached = self._cache.get(source)
            if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
                return None
        with self._connect() as conn:
            row = conn.execute(
                "SELECT open_until, reason, kind FROM source_circuit WHERE source = %s AND open_until > now()",
                (source,)).fetchone()
        st = BreakerState(*row) if row else None
        with self._lock:
            if st is None:
                self._cache[source] = (time.monotonic(), None)
            else:
                self._cache.pop(source, None)
        return st

    def check(self, source: str) -> None:
        st = self.state(source)
        if st is not None:
            raise breaker_error(source, st)

    def is_open(self, source: str) -> bool:
        return self.state(source) is not None

    def trip(self, source: str, reason: str, seconds: float, kind: str = BAN) -> None:
        # reason/kind follow the trip that decides open_until: an outage never relabels a ban
        with self._connect() as conn:
            conn.execute(
                """INSERT INTO source_circuit (source, open_until, reason, kind, tripped_at)
                   VALUES (%s, now() + make_interval(secs => %s), %s, %s, now())
                   ON CONFLICT (source) DO UPDATE
                   SET open_until = GREATEST(source_circuit.open_until, EXCLUDED.open_until),
                       reason = CASE WHEN EXCLUDED.open_until >= source_circuit.open_until
                                     THEN EXCLUDED.reason ELSE source_circuit.reason END,
                       kind = CASE WHEN EXCLUDED.open_until >= source_circuit.open_until
                                   THEN EXCLUDED.kind ELSE source_circuit.kind END,
                       tripped_at = now()""",
                (source, seconds, reason[:500], kind))
        with self._lock:
            self._cache.pop(source, None)

    def reset(self, source: str) -> None:
        """Close the breaker by hand (e.g. after moving to a new IP)."""
        with self._connect() as conn:
            conn.execute("DELETE FROM source_circuit WHERE source = %s", (source,))
        with self._lock:
            self._cache.pop(source, None)
