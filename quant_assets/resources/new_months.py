"""Load a month the warehouse has never held as one new table: COPY first, indexes once, ATTACH.

A backfill writes months nobody has written before. Day by day, every row of a full-market day
goes through the btree inserts of the table's two indexes (the seeds' primary key and the date
index), which cost more than the COPY itself. Loaded into a bare table created in the writing
transaction, the rows are COPYed with FREEZE (no hint-bit rewrite by the first reader or vacuum),
and `ATTACH PARTITION` builds each index the parent declares in one sorted pass and checks the
month's bounds. PostgreSQL takes only a SHARE UPDATE EXCLUSIVE lock on the parent for the ATTACH,
so readers and writers of other months go on; the new table is invisible to everyone until the
transaction commits, so a failure leaves no month, and no half of one.

Whether a month is new is decided in the writer's transaction, under the advisory lock every
creator of that partition takes (Warehouse.ensure_month_partitions, sql/032), so two writers can
never both create it. A month that exists, or that compaction moved to a cold table for this
region, is written the ordinary way (DELETE + COPY, through the view's un-compaction when
compacted): the same rows either way.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg

from quant_assets.resources import binary_copy


def partition_name(table: str, month: dt.date) -> str:
    """The month partition's name, as ensure_month_partitions and storage.layout give it."""
    return f"{table}_y{month.year}m{month.month:02d}"


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def claim(conn: psycopg.Connection, table: str, region: str, month: dt.date) -> str | None:
    """The parent to attach a new `month` of `table` to, or None when the month must be written
    the ordinary way (its partition exists, or its rows of `region` are compacted).

    Holds, until the transaction ends, the locks a concurrent writer of that month would take: the
    compaction lock of (table, region, month) as storage.layout.write_target takes it, so a
    compaction waits instead of missing the new rows, and the partition-name lock, so a concurrent
    CREATE of the same partition waits and then finds ours."""
    from quant_assets.storage.layout import is_converted, partition_parent

    parent = table
    if is_converted(conn, table):
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('storage:' || %s || ':' || %s || ':' || %s::date))",
                     (table, region, month))
        compacted = conn.execute("SELECT EXISTS (SELECT 1 FROM storage_periods WHERE table_name = %s "
                                 "AND region = %s AND period = %s)", (table, region, month)).fetchone()[0]
        if compacted:
            return None
        parent = partition_parent(conn, table)
    child = partition_name(table, month)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (child,))
    if conn.execute("SELECT to_regclass(%s)", (child,)).fetchone()[0] is not None:
        return None
    return parent


def create(conn: psycopg.Connection, parent: str, table: str, month: dt.date) -> str:
    """The bare table that becomes `table`'s partition of `month` (after `claim`): the parent's
    columns, defaults and CHECK constraints, no index yet. Returns its name."""
    child = partition_name(table, month)
    conn.execute(f"CREATE TABLE {child} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    return child


def copy_into(conn: psycopg.Connection, child: str, frame: pd.DataFrame,
              encoded: binary_copy.Encoded | None) -> None:
    """COPY one frame into the bare table `create` made, frozen when it comes pre-encoded."""
    if not len(frame):
        return
    if encoded is not None and encoded.rows == len(frame):
        binary_copy.copy_encoded(conn, child, encoded, freeze=True)
    else:
        from quant_assets.resources.warehouse import copy_frame
        copy_frame(conn, child, frame)


def attach(conn: psycopg.Connection, parent: str, table: str, month: dt.date) -> None:
    """Make the loaded table `table`'s partition of `month`: PostgreSQL builds each index the
    parent declares (one sorted pass) and checks every row against the month's bounds (a row of
    another month fails the write, naming the partition)."""
    conn.execute(f"ALTER TABLE {parent} ATTACH PARTITION {partition_name(table, month)} "
                 f"FOR VALUES FROM ('{month}') TO ('{next_month(month)}')")
