"""Helpers shared by the overseas tests: materialize a day or a ranged run, read check results."""

from __future__ import annotations

import dagster as dg


def run(resources, assets, keys, instance=None):
    """One partition run for one key, else one ranged run over keys[0]..keys[-1] (as a backfill
    launches it); errors are returned in the result, not raised."""
    if len(keys) == 1:
        return dg.materialize(assets, resources=resources, partition_key=keys[0], raise_on_error=False,
                              instance=instance)
    tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    return dg.materialize(assets, resources=resources, tags=tags, raise_on_error=False, instance=instance)


def checks(result) -> dict[str, bool]:
    """check name -> passed, for the check evaluations of a run."""
    return {e.event_specific_data.check_name: e.event_specific_data.passed for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"}
