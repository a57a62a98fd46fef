"""A ranged ingest run's writes: day by day into months the warehouse holds, a month at a time into new ones.

A backfill mostly writes months nobody wrote before. Written day by day, every row of such a month
goes through the btree inserts of the seeds' key and the date index. Through a `MonthWrite`
(resources/month_write.py) the month is one transaction: each day is COPYed into a bare table as
soon as it is prepared (the write of day i still overlaps the fetch of day i+1), and the run's last
day of the month attaches the table, which builds its indexes once (`make bench-history`:
`write_path`). A month the warehouse already holds (a re-run, a correction, the daily sensor's run
in the middle of a month) is written day by day as before.

What a user sees: the days of a new month are reported when the month commits, so a ten-year
backfill's progress moves a month at a time. A day whose fetch fails still costs that day only
(its status says so; the month's other days are written). A failing write (the database) rolls the
month back and fails the run, which a retry fetches again: nothing half-written either way, and
nothing reported that did not commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from quant_assets.assets.daily import DayResult
from quant_assets.resources.month_write import MonthWrite
from quant_assets.resources.new_months import month_start
from quant_assets.resources.warehouse import AfterSql, PartitionWrite, Warehouse

Landed = dict[dt.date, Sequence[DayResult]]


class MonthBatches:
    """`add(day, writes, results)` for each prepared day of a run, in order; returns the days
    that landed with it (for_each_trading_day reports them). `flush()` commits the open month;
    use as a context manager so a run that stops early rolls an open month back.

    `after(day)` gives the follow-up statements of a write whose newest day is `day`
    (replace_partitions' `after=`); `tables` are the tables the writes feed."""

    def __init__(self, warehouse: Warehouse, days: Sequence[dt.date], tables: Sequence[str],
                 after: Callable[[dt.date], Sequence[AfterSql]]):
        self.warehouse = warehouse
        self.after = after
        self.new_months = warehouse.absent_months(tables, days) if len(days) else set()
        self.last_of_month = {month_start(d): d for d in sorted(days)}
        self.month: MonthWrite | None = None
        self.held: list[tuple[dt.date, Sequence[DayResult]]] = []

    def __enter__(self) -> MonthBatches:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, day: dt.date, writes: Sequence[PartitionWrite], results: Sequence[DayResult]) -> Landed:
        landed = self.flush() if self.held and month_start(self.held[0][0]) != month_start(day) else {}
        month = month_start(day)
        if month not in self.new_months:
            self.warehouse.replace_partitions(writes, after=self.after(day))
            return {**landed, day: results}
        if self.month is None:
            self.month = MonthWrite(self.warehouse).__enter__()
        try:
            self.month.add(writes)
        except BaseException as exc:
            self._abandon(exc)
            raise
        self.held.append((day, results))
        if day == self.last_of_month[month]:
            landed.update(self.flush())
        return landed

    def flush(self) -> Landed:
        """Commit the open month and return its days; {} when none is open."""
        month, held = self.month, self.held
        self.month, self.held = None, []
        if month is None:
            return {}
        try:
            month.commit(self.after(held[-1][0]) if held else ())
        except BaseException as exc:
            month.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return dict(held)

    def close(self) -> None:
        """Roll back a month left open (the run stopped before its last day): its days were never
        reported, and the retry writes them."""
        if self.month is not None:
            self._abandon(None)

    def _abandon(self, exc: BaseException | None) -> None:
        month, self.month, self.held = self.month, None, []
        if month is not None:
            month.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)
