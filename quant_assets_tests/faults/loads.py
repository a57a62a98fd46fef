"""What the reliability suite measures with: loads, table checksums, per-day counts, request counts.

The loads are the real assets (`daily_prices`, the reference lists) in Dagster runs against the
session simulator over HTTP and the session's embedded PostgreSQL, with fast retry settings and a
breaker and session store of their own (the process-wide ones would carry a ban or a session from
one case into the next). Helpers of the unit-level tests are reused, not copied.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
import exchange_calendars as xcals
import psycopg
from psycopg import sql

from quant_assets.assets import prices, reference
from quant_assets.resources import InMemoryCircuitBreaker, InMemorySessionStore, KRXClient
from quant_assets.resources.warehouse import Warehouse
from quant_assets_tests.test_ingest_assets import range_tags

# 20 KRX trading days (March 2024 after the 1 March holiday), well inside the simulated history.
DAYS = [d.date().isoformat() for d in xcals.get_calendar("XKRX").sessions_in_range("2024-03-04", "2024-03-29")]
FIRST, LAST = DAYS[0], DAYS[-1]
FAST = {"requests_per_second": 200.0, "backoff_seconds": 0.02, "backoff_max_seconds": 0.2, "max_retries": 4,
        "timeout_seconds": 5.0}
DATA_PATH = "getJsonData.cmd"
LOGIN_PATH = "MDCCOMS001D1"
# Session, breaker and bookkeeping state: not market data, and meant to differ between runs.
OPERATIONAL = {"schema_migrations", "source_sessions", "source_session_holders", "source_auth_failures",
               "source_circuit", "legacy_import_progress"}
VOLATILE_COLUMNS = {"last_updated", "created_at", "updated_at", "loaded_at", "last_error_at"}
ARTIFACT = Path(__file__).resolve().parents[2] / "artifacts" / "test_faults.json"


def krx_client(sim, **kw) -> KRXClient:
    """A KRX client with its own breaker and session store (a case's ban stays in that case)."""
    breaker = kw.pop("breaker", None) or InMemoryCircuitBreaker()
    return (KRXClient(base_url=sim.krx_url, **{**FAST, **kw}).with_breaker(breaker)
            .with_session_store(InMemorySessionStore()))


def materialize(assets, krx: KRXClient, warehouse: Warehouse, **kw) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, resources={"krx": krx, "warehouse": warehouse}, raise_on_error=False, **kw)


def load_days(sim, warehouse, first: str = FIRST, last: str = LAST, krx: KRXClient | None = None, **kw):
    """One ranged run of daily_prices (ohlcv_data + etf_daily) over first..last."""
    return materialize([prices.daily_prices], krx or krx_client(sim), warehouse, tags=range_tags(first, last), **kw)


def load_reference(sim, warehouse, krx: KRXClient | None = None):
    result = materialize([reference.etf_list, reference.stock_list], krx or krx_client(sim), warehouse)
    assert result.success
    return result


# -- what the tables hold ------------------------------------------------------------------------


def market_tables(conn) -> list[str]:
    """Every public table (partitioned parents, not their month partitions) except bookkeeping."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1").fetchall()
    return [r[0] for r in rows if r[0] not in OPERATIONAL]


def checksums(url: str, *, surrogates: bool = False) -> dict[str, tuple[int, str]]:
    """(rows, md5 of the rows in text order) per table, timestamps of the write left out.

    Sequence-drawn ids (`tickers.id`) differ between two loads into truncated tables (TRUNCATE
    keeps the sequence), so they count only with `surrogates` (a re-run in place must keep them)."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in market_tables(conn):
            cols = [c for c, t, default, identity in conn.execute(
                "SELECT column_name, data_type, coalesce(column_default, ''), is_identity "
                "FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
                if c not in VOLATILE_COLUMNS and not t.startswith("timestamp")
                and (surrogates or not (default.startswith("nextval(") or identity == "YES"))]
            query = sql.SQL("SELECT count(*), md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) "
                            "FROM (SELECT {} FROM {}) r").format(sql.SQL(", ").join(map(sql.Identifier, cols)),
                                                                 sql.Identifier(table))
            n, digest = conn.execute(query).fetchone()
            out[table] = (n, digest)
    return out


def differing(a: dict, b: dict) -> dict:
    return {t: (a.get(t), b.get(t)) for t in sorted(set(a) | set(b)) if a.get(t) != b.get(t)}


def day_counts(conn, days=DAYS) -> dict[str, tuple[int, int]]:
    """(ohlcv_data rows, etf_daily rows) per day, read in ONE statement (one snapshot)."""
    rows = conn.execute(
        "SELECT d::date, (SELECT count(*) FROM ohlcv_data o WHERE o.date = d::date AND o.region = 'KR'), "
        "       (SELECT count(*) FROM etf_daily e WHERE e.date = d::date AND e.region = 'KR') "
        "FROM unnest(%s::date[]) AS d", (list(days),)).fetchall()
    return {d.isoformat(): (int(b), int(e)) for d, b, e in rows}


def partial_days(counts: dict, full: dict) -> list[str]:
    """Days neither absent from both tables nor complete in both."""
    return [d for d, n in counts.items() if n != (0, 0) and n != full[d]]


def status_of(conn, asset: str = "ohlcv") -> dict[str, str]:
    rows = conn.execute("SELECT partition_date, status FROM partition_status WHERE asset = %s AND region = 'KR'",
                        (asset,)).fetchall()
    return {d.isoformat(): s for d, s in rows}


# -- what the simulator saw ----------------------------------------------------------------------


def requests_since(sim, n0: int, needle: str = DATA_PATH) -> int:
    return sum(1 for e in list(sim.request_log)[n0:] if needle in e[2])


# -- loads in their own OS process ---------------------------------------------------------------


def start_worker(sim, first: str = FIRST, last: str = LAST, *, barrier: Path | None = None, name: str = "w",
                 env: dict | None = None) -> subprocess.Popen:
    """`python -m quant_assets_tests.faults.worker`: a ranged daily_prices load in a new process
    (same QUANT_HOME, hence the same embedded server, found through its postmaster.pid)."""
    args = [sys.executable, "-m", "quant_assets_tests.faults.worker", sim.krx_url, first, last, name]
    if barrier is not None:
        args.append(str(barrier))
    # stderr (Dagster's DEBUG log) to a file: a full pipe would stall a worker holding the session lock
    return subprocess.Popen(args, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=tempfile.NamedTemporaryFile(mode="w+", prefix=f"faults-{name}-", suffix=".log", delete=False),
                            text=True,
                            cwd=Path(__file__).resolve().parents[2])


def worker_log(proc: subprocess.Popen) -> str:
    proc.stderr.seek(0)
    return proc.stderr.read()


def finish(proc: subprocess.Popen, timeout: float = 300) -> dict:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{worker_log(proc)[-4000:]}"
    return json.loads(out.strip().splitlines()[-1])
