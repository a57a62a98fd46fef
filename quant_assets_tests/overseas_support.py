"""Helpers shared by the overseas tests (their fixtures `osim` and `env` are in conftest.py):
loading a region's universe and bars, materializing a day or a ranged run, reading check results
and failures."""

from __future__ import annotations

import dagster as dg

from quant_assets.assets.overseas import bars, universe


def load(resources, region, keys):
    """The region's universe, then its bars for `keys` (one ranged run)."""
    assert dg.materialize([universe.UNIVERSE_ASSETS[region]], resources=resources).success
    assert run(resources, [bars.OHLCV_ASSETS[region]], keys).success


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


def failure_message(result) -> str:
    """The error message of the run's first failed step."""
    return next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error.message
