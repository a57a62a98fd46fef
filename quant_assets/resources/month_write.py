"""Days written in ONE open transaction, each new month loaded as a new table (resources/new_months.py).

A ranged ingest run writes a month the warehouse has never held as its days arrive: the month's
transaction stays open, each day is COPYed into the bare month table as soon as it is prepared
(so the write of day i still overlaps the fetch of day i+1), and the run's last day of that month
attaches the table, which builds its indexes once, records the days' statuses and commits. Until
then nobody sees any of it, so a crash or a failed write leaves no month and no half of one.

Days of a month that exists (a re-run, a correction, the sensor's day in the middle of a month)
or whose rows of the region are compacted are written day by day inside the same transaction
(lock, DELETE, COPY, status: `warehouse.write_planned`), exactly as `replace_partitions` would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence

import psycopg

from quant_assets.resources import new_months
from quant_assets.resources.warehouse import (
    MONTH_PARTITIONED,
    PARTITION_COLUMN,
    AfterSql,
    PartitionWrite,
    Warehouse,
    lock_partition,
    record_status,
    run_after,
    write_planned,
)


class MonthWrite:
    """`add(writes)` one day's writes (replace_partitions' arguments) at a time, then `commit(after)`;
    leaving the `with` block without commit (an exception, or a run that stops) rolls everything back.

    `commit` returns rows per table. Writes with `prepare` are refused: they read neighbouring
    committed days, which a month written at once does not have."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse
        self._stack = contextlib.ExitStack()
        self.conn: psycopg.Connection | None = None
        self._months: dict[tuple[str, str, dt.date], str | None] = {}   # (table, region, month) -> parent if new
        self._statuses: list[tuple[tuple[str, dt.date, str], str, int]] = []
        self.rows: dict[str, int] = {}
        self._committed = False

    def __enter__(self) -> MonthWrite:
        self.conn = self._stack.enter_context(self.warehouse.connect())
        self._stack.enter_context(self.conn.transaction())
        return self

    def __exit__(self, *exc) -> bool | None:
        if exc[0] is None and not self._committed:
            # left without commit(): never commit bare month tables and half the days
            rollback = psycopg.Rollback()
            self._stack.__exit__(psycopg.Rollback, rollback, None)
            return None
        return self._stack.__exit__(*exc)

    def add(self, writes: Sequence[PartitionWrite]) -> None:
        plans = [self.warehouse._plan(w, ensure=False) for w in writes]
        if len({p.write.table for p in plans}) != len(plans):
            raise ValueError("MonthWrite.add: one write per table and day")
        if any(p.write.prepare is not None for p in plans):
            raise ValueError("MonthWrite.add: writes with prepare= need replace_partitions")
        for plan in sorted(plans, key=lambda p: p.write.table):
            lock_partition(self.conn, plan.write.table, plan.where if plan.write.lock is None else plan.write.lock)
        for plan in plans:
            self._write(plan)

    def _write(self, plan) -> None:
        table, region = plan.write.table, str(plan.where.get("region", "KR"))
        parent = None
        if table in MONTH_PARTITIONED:
            column = PARTITION_COLUMN.get(table, "date")
            day = plan.where.get(column)
            if not isinstance(day, dt.date):
                raise ValueError(f"MonthWrite({table}): each write names its day (where={{{column!r}: day}})")
            key = (table, region, new_months.month_start(day))
            if key not in self._months:
                parent = new_months.claim(self.conn, table, region, key[2])
                self._months[key] = parent
                if parent is not None:
                    new_months.create(self.conn, parent, table, key[2])
            parent = self._months[key]
        if parent is None:   # not month-partitioned, or the month is there (or compacted)
            self.rows[table] = self.rows.get(table, 0) + write_planned(self.conn, plan)
            return
        w = plan.write
        new_months.copy_into(self.conn, new_months.partition_name(table, key[2]), w.frame, w.encoded)
        self.rows[table] = self.rows.get(table, 0) + len(w.frame)
        if w.status:
            self._statuses.append((w.status, region, len(w.frame)))

    def commit(self, after: Sequence[AfterSql] = ()) -> dict[str, int]:
        """Attach the new months (their indexes are built here), record their days' statuses, run
        `after` and commit."""
        for (table, _, month), parent in sorted(self._months.items(), key=lambda kv: kv[0]):
            if parent is not None:
                new_months.attach(self.conn, parent, table, month)
        for (asset, day, source), region, rows in self._statuses:
            record_status(self.conn, asset, day, "loaded", region=region, row_count=rows, source=source)
        run_after(self.conn, after)
        self._committed = True
        self._stack.close()
        return dict(self.rows)
