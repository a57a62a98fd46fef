"""TimescaleDB instead of our compacted layout, where an external server has it (optional).

The embedded PostgreSQL cannot load TimescaleDB (kis_overseas.md §3.3), so the default path is
layout.py. On an external server with the extension *installed* (`pg_extension`), or merely
*available* (`pg_available_extensions`, then `CREATE EXTENSION` needs a superuser and
`shared_preload_libraries = 'timescaledb'`), `migration_sql` is what moves a seed table to a
hypertable with native compression (segmentby the series key, orderby date DESC: the seeds' own
settings, seed 001/004) plus a compression policy, and `continuous_aggregate_sql` the seed's
monthly continuous aggregate. Nothing here runs by itself: `quant storage compact` uses
`compress_closed_chunks` only when the table already is a hypertable; converting is an explicit,
documented operator step (README, Storage), because it rewrites the table.

A declaratively partitioned table cannot become a hypertable in place (create_hypertable refuses
partitioned tables), hence the copy-and-swap: a new hypertable LIKE the table, every row copied,
names swapped, the dependent views re-created on the new table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class Hypertable:
    table: str
    time_col: str
    segmentby: tuple[str, ...]
    key: tuple[str, ...]
    chunk: str = "1 month"
    compress_after: str = "60 days"


HYPERTABLES = {
    "ohlcv_data": Hypertable("ohlcv_data", "date", ("ticker", "region"), ("ticker", "region", "date", "timeframe")),
    "etf_holdings": Hypertable("etf_holdings", "as_of_date", ("etf_ticker", "region"),
                               ("etf_ticker", "region", "as_of_date", "stock_ticker")),
}


def detect(conn: psycopg.Connection) -> dict:
    """{"installed": version or None, "available": default_version or None}."""
    installed = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    available = conn.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    return {"installed": installed[0] if installed else None, "available": available[0] if available else None}


def is_hypertable(conn: psycopg.Connection, table: str) -> bool:
    if not detect(conn)["installed"]:
        return False
    return conn.execute("SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = %s",
                        (table,)).fetchone() is not None


def migration_sql(h: Hypertable, dependents: list[tuple[str, str]] = ()) -> list[str]:
    """Statements turning `h.table` (month-partitioned) into a compressed hypertable."""
    new, old = f"{h.table}_ts", f"{h.table}_partitioned"
    out = [
        "CREATE EXTENSION IF NOT EXISTS timescaledb",
        f"CREATE TABLE {new} (LIKE {h.table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS)",
        f"SELECT create_hypertable('{new}', by_range('{h.time_col}', INTERVAL '{h.chunk}'))",
        f"ALTER TABLE {new} ADD PRIMARY KEY ({', '.join(h.key)})",
        f"CREATE INDEX {new}_{h.time_col}_idx ON {new} ({h.time_col})",
        f"INSERT INTO {new} SELECT * FROM {h.table}",
        f"ALTER TABLE {h.table} RENAME TO {old}",
        f"ALTER TABLE {new} RENAME TO {h.table}",
    ]
    out += [f"CREATE OR REPLACE VIEW {name} AS {definition}" for name, definition in dependents]
    out += [
        f"ALTER TABLE {h.table} SET (timescaledb.compress, "
        f"timescaledb.compress_segmentby = '{', '.join(h.segmentby)}', "
        f"timescaledb.compress_orderby = '{h.time_col} DESC')",
        f"SELECT add_compression_policy('{h.table}', INTERVAL '{h.compress_after}')",
    ]
    return out


def continuous_aggregate_sql(name: str = "ohlcv_monthly_cagg") -> list[str]:
    """The seed-004 monthly bars as a continuous aggregate with its refresh policy."""
    return [
        f"""CREATE MATERIALIZED VIEW {name} WITH (timescaledb.continuous) AS
SELECT ticker, region, time_bucket('1 month', date) AS month,
       first(open, date) AS open, max(high) AS high, min(low) AS low, last(close, date) AS close,
       sum(volume) AS volume
FROM ohlcv_data WHERE timeframe = 'D'
GROUP BY ticker, region, month""",
        f"SELECT add_continuous_aggregate_policy('{name}', start_offset => INTERVAL '3 months', "
        "end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 day')",
    ]


def compress_closed_chunks_sql(table: str, before: dt.date) -> str:
    return (f"SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('{table}', "
            f"older_than => DATE '{before.isoformat()}') c")


def compress_closed_chunks(conn: psycopg.Connection, table: str, before: dt.date) -> int:
    """Native compression of the chunks entirely before `before`; returns chunks touched."""
    return len(conn.execute(compress_closed_chunks_sql(table, before)).fetchall())
