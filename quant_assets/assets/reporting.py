"""How a (possibly ranged) run reports its partitions to Dagster.

Every partition gets its own materialization with that day's metadata, in one of two ways:

- `report_partitions` at the end of the step: each day's metadata is attached with
  `add_asset_metadata(partition_key=...)` and one `MaterializeResult` per asset records the whole
  range. Downstream steps and asset checks in the same run then execute (a step that only logs
  events counts as "skipped" and skips its dependants). Derived assets, whose backfills put
  several assets in one run, and single-day ingest runs use this.
- `log_partition` as each day lands: long ranged ingest runs (a year of days) show progress in
  the UI while they run, and a run killed halfway keeps the days it finished.

When some days failed, only the days that landed are recorded and the step fails with the list
of failed days, so a truncated response costs one partition, not the range.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import dagster as dg

PartitionEvents = Mapping[str, Sequence[tuple[dg.AssetKey, dict]]]


def log_partition(context: dg.AssetExecutionContext, key: str, events: Sequence[tuple[dg.AssetKey, dict]]) -> None:
    for asset_key, metadata in events:
        context.log_event(dg.AssetMaterialization(asset_key=asset_key, partition=key, metadata=metadata))


def report_partitions(context: dg.AssetExecutionContext, landed: PartitionEvents, failures: Sequence[str],
                      checks: Sequence[dg.AssetCheckResult] = (), *, logged: bool = False) -> Iterator:
    """`landed` maps partition key -> [(asset key, metadata)] for every partition that was written;
    `logged` says they were already reported with `log_partition`."""
    if failures or logged:
        if not logged:
            for key, events in landed.items():
                log_partition(context, key, events)
        yield from checks
        if failures:
            shown = "\n".join(failures[:20])
            raise dg.Failure(
                description=f"{len(failures)} of {len(context.partition_keys)} partition(s) failed:\n{shown}",
                metadata={"failed_partitions": len(failures), "attempted_partitions": len(context.partition_keys)},
            )
        return
    for key, events in landed.items():
        for asset_key, metadata in events:
            context.add_asset_metadata(metadata, asset_key=asset_key, partition_key=key)
    selected = sorted(context.selected_asset_keys)
    for i, asset_key in enumerate(selected):
        # Check results ride on the last result so each is reported exactly once.
        yield dg.MaterializeResult(asset_key=asset_key, check_results=list(checks) if i == len(selected) - 1 else [])
