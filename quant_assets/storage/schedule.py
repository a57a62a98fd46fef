"""How the platform compacts: the `compact_closed_periods` job, monthly.

A month M is compacted on the 3rd of month M+2 (03:00 KST): `default_before` keeps the current
and the previous month in row form, so the month's late corrections, the next days' derived
assets (technical_analysis writes the indicator columns of recent bars; 52-week ranges and factor
scores read them) and the month/quarter buckets are done by then. Anything that writes into a
compacted month later still works: the write un-compacts that month (INSTEAD OF trigger), and the
next monthly run compacts it again. The schedule starts STOPPED: compaction converts the tables
to views on first use (layout.py), which an operator turns on deliberately (UI, or
`quant storage compact` once); see README "Storage".
"""

from __future__ import annotations

import dagster as dg

from quant_assets.resources.warehouse import Warehouse
from quant_assets.storage.compaction import compact_closed_periods
from quant_assets.storage.report import storage_report, summarise


@dg.op(description="Compact every closed month of the compactable tables (storage/specs.py) and drop the "
                   "month partitions it empties (quant_assets/storage).")
def compact_closed_periods_op(context, warehouse: Warehouse) -> dg.Output[dict]:
    with warehouse.connect():       # migrations applied
        pass
    result = compact_closed_periods(warehouse.url())
    totals = summarise(storage_report(warehouse.url(), tables=tuple(result["tables"])), by="table")
    metadata: dict = {"before": result["before"]}
    for table, r in result["tables"].items():
        if "periods" in r:
            metadata[f"{table} months compacted"] = len(r["periods"])
            metadata[f"{table} rows compacted"] = r["rows"]
            metadata[f"{table} month partitions dropped"] = r.get("partitions_dropped", 0)
    for e in totals:
        if e["state"] == "compacted":
            metadata[f"{e['table']} compacted ratio"] = e["ratio"]
            metadata[f"{e['table']} compacted bytes"] = e["compacted_bytes"]
    context.log.info(f"compaction: {result}")
    return dg.Output(result, metadata=metadata)


@dg.job(name="compact_closed_periods", description=__doc__.split("\n\n")[0])
def compaction_job():
    compact_closed_periods_op()


compaction_schedule = dg.ScheduleDefinition(
    name="compact_closed_periods_monthly", job=compaction_job, cron_schedule="0 3 3 * *",
    execution_timezone="Asia/Seoul", default_status=dg.DefaultScheduleStatus.STOPPED)

JOBS = [compaction_job]
SCHEDULES = [compaction_schedule]
