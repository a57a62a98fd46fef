"""Ranged runs of the derived-price assets: per-day inputs, per-day check results.

Why a module: `ranges.py` and `factors.py` compute a whole range in one pass but still write, and
report, one partition at a time. This holds what they share: which days of the run can be
computed (a day without its ohlcv fails alone) and how each day's check results reach Dagster
(`report_partitions(..., partition_checks=...)` of assets/reporting.py, one evaluation per
partition, when that API is there; the run's combined result otherwise).
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Iterator, Mapping, Sequence

import dagster as dg
import psycopg

from quant_assets.assets.aggregates import PartitionError, RunReport, ohlcv_state
from quant_assets.assets.reporting import report_partitions


def run_days(context: dg.AssetExecutionContext, conn: psycopg.Connection, region: str,
             report: RunReport) -> dict[dt.date, str]:
    """day -> ohlcv state ('loaded' | 'market_closed') for the run's days whose inputs exist; the
    others are recorded as failures in `report`."""
    states: dict[dt.date, str] = {}
    for key in context.partition_keys:
        day = dt.date.fromisoformat(key)
        try:
            states[day] = ohlcv_state(conn, day, region)
        except PartitionError as exc:
            report.failures.append(f"{key}: {exc}")
            context.log.error(f"{key}: {exc}")
    return states


def combined(name: str, per_day: Mapping[str, Sequence[dg.AssetCheckResult]],
             severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    """One result for the whole run: passed when every day passed; the failing days' text."""
    failed = [f"{key}: {r.metadata['failures'].value if 'failures' in r.metadata else ''}"
              for key, results in per_day.items() for r in results if r.check_name == name and not r.passed]
    return dg.AssetCheckResult(check_name=name, passed=not failed, severity=severity,
                               metadata={"failures": "\n".join(failed[:20]) or "none",
                                         "partitions_checked": len(per_day)})


def emit_days(context: dg.AssetExecutionContext, report: RunReport,
              per_day: Mapping[str, Sequence[dg.AssetCheckResult]],
              summary: Sequence[dg.AssetCheckResult]) -> Iterator:
    """Per-partition materializations plus per-partition check results (or the run's summary
    checks while reporting.py cannot take them per partition)."""
    landed = {key: [(context.asset_key, meta)] for key, meta in report.metadata.items()}
    if "partition_checks" in inspect.signature(report_partitions).parameters:
        yield from report_partitions(context, landed, report.failures, partition_checks=per_day)
    else:
        yield from report_partitions(context, landed, report.failures, summary)
