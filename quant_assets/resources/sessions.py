"""One login per account at a time: the session a source account has, shared by every client.

KRX allows one live session per account; a second login (``skipDup=Y``) kicks the first. A client
that logs in whenever it sees ``LOGOUT`` therefore ping-pongs with every other client on the
same account (two processes made 224 logins for 440 data calls). Instead, clients *share* the
account's session through a `SessionStore`:

* `join` hands out the current session (cookies + generation) and registers the caller as a
  holder;
* `login` is serialised per account (a lock; across processes a PostgreSQL advisory lock). Under
  the lock the caller first looks whether another client already logged in since the session it
  was using (a newer generation) and adopts that one; only otherwise does it log in itself;
* `leave` unregisters; the last live holder gets the session back to log out with, so a run's
  end does not leave a session behind for the next run to kick;
* `failure` / `record_failure` remember a refused login (keyed by a hash of host, user *and*
  password, so fixing the password clears it) and stop other processes from retrying it.

`InMemorySessionStore` shares within one process (the default); `PostgresSessionStore` (installed
by definitions.py) shares across runs, sensors and processes through the warehouse (sql/015).
The stored cookies are the session itself: the warehouse is trusted like the token cache.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import psycopg
from psycopg.types.json import Jsonb

from quant_assets import database, migrations

HOLDER_LIVE_SECONDS = 1800.0
FAILURE_MEMORY_SECONDS = 3600.0


@dataclass(frozen=True)
class SharedSession:
    cookies: dict[str, str]
    generation: int


def new_holder_id() -> str:
    """host:pid:random — one per client instance."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class SessionStore(Protocol):
    def join(self, source: str, account: str, holder: str) -> SharedSession | None:
        """Register `holder`; the account's current session, or None if there is none."""

    def login(self, source: str, account: str, holder: str, stale: int | None,
              do_login: Callable[[], dict[str, str]]) -> tuple[SharedSession, bool]:
        """Serialised per account. A session newer than generation `stale` is returned as is
        (False); otherwise `do_login()` runs under the lock, its cookies are stored (True)."""

    def leave(self, source: str, account: str, holder: str, *, keep: bool = False) -> SharedSession | None:
        """Unregister `holder`. With `keep` the session stays for the next client (a sensor tick's
        client leaves it to the next tick instead of logging out a minute before logging in again).
        Otherwise, if no other live holder remains, the session is removed from the
        store and returned (the caller logs out with it); else None."""

    def drop(self, source: str, account: str, generation: int) -> None:
        """Forget the session of `generation` (it was refused right after a login)."""

    def failure(self, source: str, account: str) -> str | None:
        """The reason of a remembered login refusal, or None."""

    def record_failure(self, source: str, account: str, reason: str) -> None: ...

    def clear_failure(self, source: str, account: str) -> None: ...


class InMemorySessionStore:
    """Shares sessions between the client instances of one process."""

    def __init__(self, holder_live_seconds: float = HOLDER_LIVE_SECONDS,
                 failure_memory_seconds: float = FAILURE_MEMORY_SECONDS) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.RLock] = {}
        self._sessions: dict[tuple[str, str], SharedSession] = {}
        self._holders: dict[tuple[str, str], dict[str, float]] = {}
        self._failures: dict[tuple[str, str], tuple[float, str]] = {}
        self.holder_live_seconds = holder_live_seconds
        self.failure_memory_seconds = failure_memory_seconds

    def _lock(self, key) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())

    def join(self, source, account, holder):
        key = (source, account)
        with self._lock(key):
            self._holders.setdefault(key, {})[holder] = time.monotonic()
            return self._sessions.get(key)

    def login(self, source, account, holder, stale, do_login):
        key = (source, account)
        with self._lock(key):
            self._holders.setdefault(key, {})[holder] = time.monotonic()
            cur = self._sessions.get(key)
            if cur is not None and cur.generation != stale:
                return cur, False
            new = SharedSession(dict(do_login()), (cur.generation if cur else 0) + 1)
            self._sessions[key] = new
            return new, True

    def leave(self, source, account, holder, *, keep=False):
        key = (source, account)
        with self._lock(key):
            holders = self._holders.setdefault(key, {})
            holders.pop(holder, None)
            if keep:
                return None
            now = time.monotonic()
            if any(now - seen < self.holder_live_seconds for seen in holders.values()):
                return None
            holders.clear()
            return self._sessions.pop(key, None)

    def drop(self, source, account, generation):
        key = (source, account)
        with self._lock(key):
            cur = self._sessions.get(key)
            if cur is not None and cur.generation == generation:
                del self._sessions[key]

    def failure(self, source, account):
        with self._guard:
            entry = self._failures.get((source, account))
        if entry is None or time.monotonic() - entry[0] > self.failure_memory_seconds:
            return None
        return entry[1]

    def record_failure(self, source, account, reason):
        with self._guard:
            self._failures[(source, account)] = (time.monotonic(), reason)

    def clear_failure(self, source, account):
        with self._guard:
            self._failures.pop((source, account), None)


class PostgresSessionStore:
    """Sessions in the warehouse (tables of sql/015): shared by every run, sensor and process.

    Logins are serialised with ``pg_advisory_xact_lock`` on the account, held while the login's
    HTTP requests run (a few hundred ms), so of N processes seeing LOGOUT at once exactly one logs
    in and the others adopt its session.
    """

    def __init__(self, url: str | None = None, holder_live_seconds: float = HOLDER_LIVE_SECONDS,
                 failure_memory_seconds: float = FAILURE_MEMORY_SECONDS):
        self._url = url
        self._migrated = False
        self.holder_live_seconds = holder_live_seconds
        self.failure_memory_seconds = failure_memory_seconds

    def _connect(self) -> psycopg.Connection:
        url = self._url or database.database_url()
        if not self._migrated:  # a run's first request may come before any warehouse access
            migrations.migrate(url)
            self._migrated = True
        return psycopg.connect(url)

    @staticmethod
    def _lock(conn: psycopg.Connection, source: str, account: str) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 15))", (f"source_session:{source}:{account}",))

    @staticmethod
    def _touch(conn, source, account, holder) -> None:
        conn.execute(
            """INSERT INTO source_session_holders (source, account, holder) VALUES (%s, %s, %s)
               ON CONFLICT (source, account, holder) DO UPDATE SET seen_at = now()""",
            (source, account, holder))
        # clients that never closed (crashed runs, sensor ticks without teardown) age out
        conn.execute("""DELETE FROM source_session_holders WHERE source = %s AND account = %s
                        AND seen_at < now() - interval '1 day'""", (source, account))

    @staticmethod
    def _current(conn, source, account) -> SharedSession | None:
        row = conn.execute("SELECT cookies, generation FROM source_sessions WHERE source = %s AND account = %s",
                           (source, account)).fetchone()
        return SharedSession(dict(row[0]), int(row[1])) if row else None

    def join(self, source, account, holder):
        with self._connect() as conn:
            self._touch(conn, source, account, holder)
            return self._current(conn, source, account)

    def login(self, source, account, holder, stale, do_login):
        with self._connect() as conn:
            self._lock(conn, source, account)
            self._touch(conn, source, account, holder)
            cur = self._current(conn, source, account)
            if cur is not None and cur.generation != stale:
                return cur, False
            cookies = dict(do_login())
            gen = (cur.generation if cur else 0) + 1
            conn.execute(
                """INSERT INTO source_sessions (source, account, cookies, generation, logged_in_by)
                   VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT (source, account) DO UPDATE
                   SET cookies = EXCLUDED.cookies, generation = EXCLUDED.generation,
                       logged_in_at = now(), logged_in_by = EXCLUDED.logged_in_by""",
                (source, account, Jsonb(cookies), gen, holder))
            return SharedSession(cookies, gen), True

    def leave(self, source, account, holder, *, keep=False):
        with self._connect() as conn:
            self._lock(conn, source, account)
            conn.execute("DELETE FROM source_session_holders WHERE source = %s AND account = %s AND holder = %s",
                         (source, account, holder))
            if keep:
                return None
            others = conn.execute(
                """SELECT count(*) FROM source_session_holders WHERE source = %s AND account = %s
                   AND seen_at > now() - make_interval(secs => %s)""",
                (source, account, self.holder_live_seconds)).fetchone()[0]
            if others:
                return None
            cur = self._current(conn, source, account)
            conn.execute("DELETE FROM source_sessions WHERE source = %s AND account = %s", (source, account))
            conn.execute("DELETE FROM source_session_holders WHERE source = %s AND account = %s", (source, account))
            return cur

    def drop(self, source, account, generation):
        with self._connect() as conn:
            conn.execute("DELETE FROM source_sessions WHERE source = %s AND account = %s AND generation = %s",
                         (source, account, generation))

    def failure(self, source, account):
        with self._connect() as conn:
            row = conn.execute(
                """SELECT reason FROM source_auth_failures WHERE source = %s AND account = %s
                   AND failed_at > now() - make_interval(secs => %s)""",
                (source, account, self.failure_memory_seconds)).fetchone()
        return row[0] if row else None

    def record_failure(self, source, account, reason):
        with self._connect() as conn:
            conn.execute(
                """INSERT INTO source_auth_failures (source, account, reason) VALUES (%s, %s, %s)
                   ON CONFLICT (source, account) DO UPDATE SET reason = EXCLUDED.reason, failed_at = now()""",
                (source, account, reason[:500]))

    def clear_failure(self, source, account):
        with self._connect() as conn:
            conn.execute("DELETE FROM source_auth_failures WHERE source = %s AND account = %s", (source, account))


_default_store: SessionStore = InMemorySessionStore()


def default_session_store() -> SessionStore:
    return _default_store


def set_default_session_store(store: SessionStore) -> None:
    """Install a process-wide store (definitions.py installs the PostgreSQL one)."""
    global _default_store
    _default_store = store
