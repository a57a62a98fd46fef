"""Compact closed months of the big time series in PostgreSQL, and un-compact them again.

A month is *closed* when it ended before `before` (default: the first day of the previous month,
so the current and the previous month stay in row form while late corrections and the derived
assets of the last days still write them). Compaction converts the table to the compacted layout
on first use (`layout.convert`: the seed name becomes a view, see layout.py), then moves each
closed (region, month) into the cold table in its own transaction, and drops a month partition
left empty (`drop_if_empty`: its space returns to the operating system and queries stop planning it).

Writes never need this module: a write touching a compacted month un-compacts it inside the
writer's transaction (the view's INSTEAD OF trigger). `uncompact_period` is for an operator who
wants a period back in row form before a bulk correction.
"""

from __future__ import annotations

import datetime as dt
import time

import psycopg

from quant_assets.storage import layout, timescale
from quant_assets.storage.layout import SPECS, Spec

COMPACTED_TABLES = tuple(SPECS)


def default_before(today: dt.date | None = None) -> dt.date:
    """First day of the previous month: months ending before it are closed."""
    today = today or dt.date.today()
    first = today.replace(day=1)
    return (first - dt.timedelta(days=1)).replace(day=1)


def _exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def closed_partitions(conn: psycopg.Connection, parent: str, before: dt.date) -> list[tuple[str, dt.date]]:
    """(partition, month) of `parent` whose upper bound is on or before `before`."""
    rows = conn.execute(
        "SELECT c.oid::regclass::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass ORDER BY 1", (parent,)).fetchall()
    out = []
    for name, bound in rows:
        if "FROM ('" not in bound:
            continue
        lo = dt.date.fromisoformat(bound.split("FROM ('")[1][:10])
        hi = dt.date.fromisoformat(bound.split("TO ('")[1][:10])
        if hi <= before:
            out.append((name, lo))
    return out


DROP_LOCK_TIMEOUT = "500ms"


def drop_if_empty(conn: psycopg.Connection, spec: Spec, part: str) -> int:
    """Drop the month partition `part` of `spec.hot` when compaction left it empty; 1 if dropped.

    Why drop and not keep it empty: every query through the view plans and opens each partition
    of the hot table, and after ten years most are empty months. On the ten-year benchmark data
    120 empty partitions cost 0.6-0.7 ms of each prepared query and ~6 ms of planning of each
    unprepared one (one ticker's ten years). The un-compaction function and layout.write_target
    create the partition again when a write needs it.

    DROP takes an ACCESS EXCLUSIVE lock on the hot table, which would queue every reader behind
    a long query: it waits at most DROP_LOCK_TIMEOUT, then the partition is only truncated (its
    space still returns to the operating system) and the next compaction tries again.
    """
    with conn.transaction():
        # Lock first, then look: a writer that un-compacts into this partition meanwhile must not
        # lose rows to the DROP or TRUNCATE.
        try:
            with conn.transaction():
                conn.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
                conn.execute(f"LOCK TABLE {spec.hot} IN ACCESS EXCLUSIVE MODE")
            parent_locked = True
        except psycopg.errors.LockNotAvailable:
            parent_locked = False
        conn.execute(f"LOCK TABLE {part} IN ACCESS EXCLUSIVE MODE")
        if not conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {part})").fetchone()[0]:
            return 0
        conn.execute(f"DROP TABLE {part}" if parent_locked else f"TRUNCATE {part}")
        return int(parent_locked)


def compact_table(url: str, spec: Spec, before: dt.date) -> dict:
    start = time.perf_counter()
    # autocommit: each `conn.transaction()` below is a real transaction (one per month), not a
    # savepoint of one long transaction holding every month's locks.
    with psycopg.connect(url, autocommit=True) as conn:
        if not _exists(conn, spec.table):
            return {"skipped": f"{spec.table} does not exist"}
        if timescale.is_hypertable(conn, spec.table):   # an external server's TimescaleDB does it natively
            with conn.transaction():
                chunks = timescale.compress_closed_chunks(conn, spec.table, before)
            return {"converted": False, "periods": [], "rows": 0, "timescaledb_chunks": chunks,
                    "seconds": round(time.perf_counter() - start, 2)}
        with conn.transaction():
            converted = layout.convert(conn, spec)
            if not converted:
                layout.refresh_functions(conn, spec)
        periods, rows, dropped = [], 0, 0
        for part, month in closed_partitions(conn, spec.hot, before):
            regions = [r[0] for r in conn.execute(f"SELECT DISTINCT region FROM {part}").fetchall()]
            for region in regions:
                with conn.transaction():
                    n = conn.execute(f"SELECT {spec.compact_fn}(%s, %s)", (region, month)).fetchone()[0]
                if n:
                    periods.append({"region": region, "period": month.isoformat(), "rows": n})
                    rows += n
            dropped += drop_if_empty(conn, spec, part)
    with psycopg.connect(url, autocommit=True) as conn:
        if periods or converted:
            conn.execute(f"VACUUM (ANALYZE) {spec.cold}, {spec.days}")
    return {"converted": converted, "periods": periods, "rows": rows, "partitions_dropped": dropped,
            "seconds": round(time.perf_counter() - start, 2)}


def compact_closed_periods(url: str, *, before: dt.date | None = None,
                           tables: tuple[str, ...] = COMPACTED_TABLES) -> dict:
    """Compact every closed month of `tables` (default: every table of layout.SPECS).

    Idempotent: an already compacted month is skipped; a month un-compacted by a correction is
    compacted again. Returns {"before": ..., "tables": {table: {converted, periods, rows, seconds}}}.
    """
    before = before or default_before()
    return {"before": before.isoformat(),
            "tables": {t: compact_table(url, SPECS[t], before) for t in tables}}


def uncompact_period(url: str, table: str, period: dt.date, *, region: str | None = None) -> dict:
    """Move one compacted month (every region, or `region`) back to row form."""
    spec = SPECS[table]
    month = period.replace(day=1)
    with psycopg.connect(url, autocommit=True) as conn:
        if not layout.is_converted(conn, table):
            return {"table": table, "period": month.isoformat(), "rows": 0, "regions": []}
        regions = [r[0] for r in conn.execute(
            "SELECT region FROM storage_periods WHERE table_name = %s AND period = %s "
            "AND (%s::text IS NULL OR region = %s) ORDER BY 1", (table, month, region, region)).fetchall()]
        rows = 0
        for r in regions:
            with conn.transaction():
                rows += conn.execute(f"SELECT {spec.uncompact_fn}(%s, %s)", (r, month)).fetchone()[0]
    return {"table": table, "period": month.isoformat(), "rows": rows, "regions": regions}
