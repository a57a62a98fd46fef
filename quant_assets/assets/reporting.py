"""How a (possibly ranged) run reports its partitions and their checks to Dagster.

Every partition gets exactly one materialization with that day's metadata, and the step always
yields its outputs when nothing failed, so assets that depend on it in the same run (a UI backfill
selecting `daily_prices` and `etf_aum`) execute: a step that only logs events counts as "skipped"
and Dagster skips its dependants ("Skipping step ... due to skipped dependencies") while the run
still reports success. Two ways, verified on Dagster 1.13.27 (quant_assets_tests/test_ranged_runs.py):

- the body YIELDS each day's `partition_events` as the day lands, then `report_partitions(...,
  logged=True)`: long ranged ingest runs (a year of days) show progress in the UI while they run,
  and a run killed halfway keeps the days it finished. Yielded, not `context.log_event`: Dagster
  buffers logged events until the body's next yield and drops them when the body raises first
  (`_yield_compute_results`), so logged days appeared only at the end of the range, and a range
  with one failed day recorded none of its good days. The outputs at the end carry
  `SILENT_OUTPUT` (dagster_private.py): Dagster turns an asset output of a ranged step into one materialization for EVERY key of the
  run's range (`_get_output_asset_events`), which would record each day twice and - were there a
  failed day - record it as materialized. With the key the output exists (dependents run) and
  adds no event. Dagster has no public way to materialize a subset of a run's range (issues
  17836, 18123).
- `report_partitions` alone at the end of the step: each day's metadata is attached with
  `add_asset_metadata(partition_key=...)` and one `MaterializeResult` per asset records the whole
  range. Derived assets and one-day runs use this.

When some days failed, only the days that landed are recorded (materialization events), the
step yields no outputs and fails listing the failed days, so dependents do not run on a range
with holes and a truncated response costs one partition, not the range.
Yielded events are recorded as they come, so the landed days are recorded before the failure.

Checks: `AssetCheckResult` has no partition, and Dagster stores it with partition None while the
run planned one evaluation per partition key - even in a one-partition run when the check spec
is not partitioned - so each planned partition resolves to SKIPPED, hiding an earlier pass. So
`partition_checks` (partition key -> that day's results) become one partitioned
`AssetCheckEvaluation` per key (SUCCEEDED/FAILED per day) plus one summary `AssetCheckResult` per
check (passed = every day passed), which the step must still return because the check's output
is required. `check_partitions` does the same for a standalone `@asset_check` op (logged with
`log_event`, which accepts check evaluations).

Blocking checks: a failed blocking evaluation for any day fails the step after all days are
reported (Dagster raises DagsterAssetCheckFailedError), so no dependent of the step runs in that
run, not even for the days that passed: one bad day never silently lets its dependants through,
and the good days' dependants run on the re-run or the next automation tick.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence, Set

import dagster as dg

from quant_assets.dagster_private import SILENT_OUTPUT, AssetCheckEvaluation

PartitionEvents = Mapping[str, Sequence[tuple[dg.AssetKey, dict]]]
PartitionChecks = Mapping[str, Sequence[dg.AssetCheckResult]]
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def partition_events(key: str, events: Sequence[tuple[dg.AssetKey, dict]]) -> list[dg.AssetMaterialization]:
    """One day's materializations, to be YIELDED by the asset body as the day lands."""
    return [dg.AssetMaterialization(asset_key=asset_key, partition=key, metadata=metadata)
            for asset_key, metadata in events]


def log_partition(context: dg.AssetExecutionContext, key: str, events: Sequence[tuple[dg.AssetKey, dict]]) -> None:
    """Kept for callers that cannot yield. Dagster buffers `log_event` events until the body's
    next yield and drops them if the body raises first: prefer yielding `partition_events`."""
    for event in partition_events(key, events):
        context.log_event(event)


def report_partitions(context: dg.AssetExecutionContext, landed: PartitionEvents, failures: Sequence[str],
                      checks: Sequence[dg.AssetCheckResult] = (), *, logged: bool = False,
                      partition_checks: PartitionChecks | None = None) -> Iterator:
    """`landed` maps partition key -> [(asset key, metadata)] for every partition that was written;
    `logged` says they were already reported with `log_partition`. `checks` are results for the
    run as a whole; `partition_checks` maps a partition key to that partition's results (a check
    named in both keeps the caller's summary from `checks`)."""
    specs = _check_specs(context)
    per_day, summaries = partition_check_events(specs, partition_checks or {}, given={c.check_name for c in checks})
    yield from per_day
    all_checks = [*checks, *summaries]
    if failures:
        if not logged:
            for key, events in landed.items():
                yield from partition_events(key, events)
        yield from all_checks
        shown = "\n".join(failures[:20])
        raise dg.Failure(
            description=f"{len(failures)} of {len(context.partition_keys)} partition(s) failed:\n{shown}",
            metadata={"failed_partitions": len(failures), "attempted_partitions": len(context.partition_keys)},
        )
    if not logged:
        for key, events in landed.items():
            for asset_key, metadata in events:
                context.add_asset_metadata(metadata, asset_key=asset_key, partition_key=key)
    selected = sorted(context.selected_asset_keys)
    for i, asset_key in enumerate(selected):
        # Check results ride on the last result so each is reported exactly once.
        yield dg.MaterializeResult(asset_key=asset_key, metadata={SILENT_OUTPUT: True} if logged else None,
                                   check_results=all_checks if i == len(selected) - 1 else [])


def partition_check_events(specs: Sequence[dg.AssetCheckSpec], partition_checks: PartitionChecks,
                           given: Set[str] = frozenset()) -> tuple[list, list[dg.AssetCheckResult]]:
    """One partitioned AssetCheckEvaluation per (partition, result) and one summary result per
    check (unless the caller already gives that check's summary, `given`)."""
    events, by_check = [], {}
    for key, results in partition_checks.items():
        for result in results:
            spec = _spec_for(specs, result)
            events.append(AssetCheckEvaluation(
                asset_key=spec.asset_key, check_name=spec.name, passed=result.passed, metadata=result.metadata,
                severity=result.severity, description=result.description, blocking=spec.blocking, partition=key))
            by_check.setdefault(spec.key, []).append((key, result))
    summaries = [summary_result(key.asset_key, key.name, days)
                 for key, days in by_check.items() if key.name not in given]
    return events, summaries


def summary_result(asset_key: dg.AssetKey, check_name: str,
                   days: Sequence[tuple[str, dg.AssetCheckResult]]) -> dg.AssetCheckResult:
    """The run-level result of a check evaluated per partition: passed when every day passed,
    with the severity of the worst failing day and the failing days listed."""
    failed = sorted(key for key, r in days if not r.passed)
    severity = (dg.AssetCheckSeverity.ERROR
                if any(not r.passed and r.severity == dg.AssetCheckSeverity.ERROR for _, r in days)
                else dg.AssetCheckSeverity.WARN) if failed else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(
        asset_key=asset_key, check_name=check_name, passed=not failed, severity=severity,
        metadata={"partitions_checked": len({k for k, _ in days}), "partitions_failed": len(failed),
                  "failed_partitions": ", ".join(failed[:50]) or "none"},
        description=f"{len(failed)} partition(s) failed: {', '.join(failed[:10])}" if failed else None,
    )


def run_partition_keys(context, partitions_def: dg.PartitionsDefinition) -> list[str]:
    """The partition keys of the run a standalone check op runs in ([] for an unpartitioned run,
    e.g. the hourly automation, or a direct call): a check op without its own partitions_def
    cannot ask its context for them, the run's tags say them."""
    try:
        tags = context.run.tags
    except (dg.DagsterInvariantViolationError, AttributeError):
        return []
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    if RANGE_START in tags and RANGE_END in tags:
        return list(partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(tags[RANGE_START], tags[RANGE_END])))
    return []


def check_partitions(partitions_def: dg.PartitionsDefinition,
                     evaluate: Callable[[str | None], dg.AssetCheckResult]) -> dg.AssetCheckResult:
    """Body of a standalone `@asset_check` that can judge one partition. In a partitioned run it
    logs `evaluate(key)` for each partition key of the run as a partitioned evaluation and returns
    the summary; in an unpartitioned run (the hourly automation) or a direct call it returns
    `evaluate(None)`, the verdict on the newest data. The check keeps its plain signature (no
    context argument), so it can still be called directly with its resources."""
    try:
        context = dg.AssetCheckExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        context = None
    keys = run_partition_keys(context, partitions_def) if context is not None else []
    if not keys:
        return evaluate(None)
    events, summaries = partition_check_events(context.check_specs, {key: [evaluate(key)] for key in keys})
    for event in events:
        context.op_execution_context.log_event(event)
    return summaries[0]


def _check_specs(context: dg.AssetExecutionContext) -> list[dg.AssetCheckSpec]:
    return list(context.assets_def.check_specs)


def _spec_for(specs: Sequence[dg.AssetCheckSpec], result: dg.AssetCheckResult) -> dg.AssetCheckSpec:
    matches = [s for s in specs if (result.check_name is None or s.name == result.check_name)
               and (result.asset_key is None or s.asset_key == result.asset_key)]
    if len(matches) != 1:
        raise dg.DagsterInvariantViolationError(
            f"per-partition check result {result.check_name!r} (asset {result.asset_key}) matches "
            f"{len(matches)} of the step's check specs {[s.key.to_user_string() for s in specs]}")
    return matches[0]
