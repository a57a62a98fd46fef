"""How a (possibly ranged) run reports its partitions to Dagster.

A run that covers many days still shows one materialization per partition in the UI, each with
that day's own metadata. When every day succeeded, the run returns one `MaterializeResult` per
asset after attaching each day's metadata with `add_asset_metadata(partition_key=...)`: Dagster
then records every partition of the range, and downstream steps and asset checks in the same
run execute (an asset that only logs events counts as "skipped" and skips its dependants).
When some days failed, only the days that landed are recorded (as logged materializations) and
the step fails with the list of failed days, so a truncated response costs one partition.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import dagster as dg

PartitionEvents = Mapping[str, Sequence[tuple[dg.AssetKey, dict]]]


def report_partitions(context: dg.AssetExecutionContext, landed: PartitionEvents, failures: Sequence[str],
                      checks: Sequence[dg.AssetCheckResult] = ()) -> Iterator:
    """`landed` maps partition key -> [(asset key, metadata)] for every partition that was written."""
    if failures:
        for key, events in landed.items():
            for asset_key, metadata in events:
                context.log_event(dg.AssetMaterialization(asset_key=asset_key, partition=key, metadata=metadata))
        yield from checks
        shown = "\n".join(failures[:20])
        raise dg.Failure(
            description=f"{len(failures)} of {len(context.partition_keys)} partition(s) failed:\n{shown}",
            metadata={"failed_partitions": len(failures), "attempted_partitions": len(context.partition_keys)},
        )
    for key, events in landed.items():
        for asset_key, metadata in events:
            context.add_asset_metadata(metadata, asset_key=asset_key, partition_key=key)
    selected = sorted(context.selected_asset_keys)
    for i, asset_key in enumerate(selected):
        # Check results ride on the last result so each is reported exactly once.
        yield dg.MaterializeResult(asset_key=asset_key, check_results=list(checks) if i == len(selected) - 1 else [])
