"""A ranged ingest run's writes: day by day into months the warehouse holds, a month at once into new ones.

A backfill mostly writes months nobody wrote before. Handed to `Warehouse.replace_days` as one
batch, such a month becomes a new table loaded by COPY with its indexes built once
(resources/new_months.py) instead of two btree inserts per row per day: the write costs about
half (`make bench-history`: `write_path`). A month the warehouse already
holds (a re-run, a correction, the daily sensor's run in the middle of a month) is written day by
day as before.

What a user sees: the days of a new month are prepared (fetched, validated, encoded) as before and
held until the run's last day of that month, then written in one transaction and reported
together, so a ten-year backfill's progress moves a month at a time. A day whose fetch fails
still costs that day only (its status says so; the month's other days are written). A failing
write (the database) writes none of the month's held days and fails the run, which a retry
fetches again: nothing half-written either way, and nothing reported that did not commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from quant_assets.assets.daily import DayResult
from quant_assets.resources.new_months import month_start
from quant_assets.resources.warehouse import AfterSql, PartitionWrite, Warehouse

Landed = dict[dt.date, Sequence[DayResult]]


class MonthBatches:
    """`add(day, writes, results)` for each prepared day of a run, in order; returns the days
    that landed with it (for_each_trading_day reports them). `flush()` writes what is held.

    `after(day)` gives the follow-up statements of a write whose newest day is `day`
    (replace_partitions' `after=`); `tables` are the tables the writes feed."""

    def __init__(self, warehouse: Warehouse, days: Sequence[dt.date], tables: Sequence[str],
                 after: Callable[[dt.date], Sequence[AfterSql]]):
        self.warehouse = warehouse
        self.after = after
        self.new_months = warehouse.absent_months(tables, days) if len(days) else set()
        self.last_of_month = {month_start(d): d for d in sorted(days)}
        self.held: list[tuple[dt.date, Sequence[PartitionWrite], Sequence[DayResult]]] = []

    def add(self, day: dt.date, writes: Sequence[PartitionWrite], results: Sequence[DayResult]) -> Landed:
        landed = self.flush() if self.held and month_start(self.held[0][0]) != month_start(day) else {}
        month = month_start(day)
        if month not in self.new_months:
            self.warehouse.replace_partitions(writes, after=self.after(day))
            return {**landed, day: results}
        self.held.append((day, writes, results))
        if day == self.last_of_month[month]:
            landed.update(self.flush())
        return landed

    def flush(self) -> Landed:
        """Write the held days (one transaction) and return them; {} when nothing is held."""
        held, self.held = self.held, []
        if not held:
            return {}
        self.warehouse.replace_days([(day, writes) for day, writes, _ in held], after=self.after(held[-1][0]))
        return {day: results for day, _, results in held}
