"""The two Dagster internals the ranged-run reporting relies on, imported in this one place.

Both are private in Dagster 1.13.27 (no top-level export); if an upgrade moves them, this module
breaks at import, and quant_assets_tests/test_ranged_runs.py says whether the behaviour held:

- `AssetCheckEvaluation`: the event an `AssetCheckResult` becomes. Unlike the result, it takes a
  `partition`, and the executor accepts it as a user event from the asset body
  (`execute_step.py`, `core_dagster_event_sequence_for_step`), so a run over many partitions can
  record one check result per partition (SUCCEEDED/FAILED per key instead of SKIPPED).
- `SILENT_OUTPUT`: the output metadata key with which Dagster's own source-asset observation
  wrapper says "the body already logged this asset's events"; an output carrying it produces the
  step output (dependents run) but no materialization (`_log_materialization_or_observation_
  events_for_asset` returns early). A ranged ingest run logs each day's materialization as it
  lands, so its final outputs must not record the whole range a second time (or record failed
  days as materialized).
"""

from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation
from dagster._core.definitions.source_asset import SYSTEM_METADATA_KEY_SOURCE_ASSET_OBSERVATION

SILENT_OUTPUT = SYSTEM_METADATA_KEY_SOURCE_ASSET_OBSERVATION

__all__ = ["SILENT_OUTPUT", "AssetCheckEvaluation"]
