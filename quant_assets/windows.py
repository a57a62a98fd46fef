"""Derived windows follow older history: re-request the days whose look-back gained input.

Day D of a windowed asset (indicators over 300 sessions, the 52-week range over 250, momentum
and volatility over 253, tracking error over 250) is computed from the input days in its window,
not only from day D. Dagster's partition mapping, and so every automation condition, knows only
the same-day dependency: when older history lands *after* D was computed — a `quant backfill` of
earlier years, a legacy import, a correction of an old day, ingest and derived runs of one
backfill overlapping — D keeps the numbers of its shorter window and nothing says so. On a fresh
install that loads 20 days and then backfills a year, every one of those 20 days' RSIs,
moving averages and momenta would stay computed on a 20-day window forever.

This sensor closes that gap from Dagster's own event log, for every asset that declares its
window (`window_metadata`):

* it reads the input materializations that landed since its cursor (per asset and input);
* a landed input day E feeds the days D after it within the window (E < D <= E + sessions - 1
  in the asset's own partitions: KRX days, or the region's exchange sessions);
* such a D is *stale* when the run that last materialized it started before E landed — the run
  could not have read E (a run that started earlier but reported D later is stale too);
* stale days are requested as ranged runs of that asset, one per span of consecutive days (at
  most `days_per_run()` each), after no run or backfill touching those assets is in progress, so
  it sees the end state of a backfill instead of chasing it.

Day D itself (E == D) is the automation conditions' job (eager over history). Downstream of a
re-computed day (month buckets of the indicators) follows through those conditions as well.
The cost is one event-log read per input per tick and, only when something landed, one lookup
of the candidate days' latest materializations.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.execution.backfill import BulkActionStatus

from quant_assets.assets.daily import days_per_run
from quant_assets.automation import RANGE_END_TAG, RANGE_START_TAG

WINDOW_KEY = "quant/window"
EVENTS_PER_TICK = 10_000  # the event log answers at most 10,000 records per query
OPEN_RUN_STATUSES = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                     dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def window_metadata(sessions: int, inputs: Sequence[str | dg.AssetKey]) -> dict:
    """Definition metadata declaring that day D reads the `sessions` partitions of `inputs` ending
    at D; the window sensor re-requests D when one of them lands later than D was computed."""
    names = [i.to_user_string() if isinstance(i, dg.AssetKey) else i for i in inputs]
    return {WINDOW_KEY: dg.MetadataValue.json({"sessions": int(sessions), "inputs": names})}


@dataclass(frozen=True)
class Window:
    asset: dg.AssetKey
    sessions: int
    inputs: tuple[dg.AssetKey, ...]
    partitions_def: dg.PartitionsDefinition


def windows_of(assets: Sequence[dg.AssetsDefinition]) -> list[Window]:
    """Every asset (spec) that declares a window in its definition metadata."""
    out = []
    for asset in assets:
        for spec in asset.specs:
            declared = spec.metadata.get(WINDOW_KEY)
            if declared is None:
                continue
            value = declared.value if isinstance(declared, dg.JsonMetadataValue) else declared
            out.append(Window(spec.key, int(value["sessions"]),
                              tuple(dg.AssetKey.from_user_string(i) for i in value["inputs"]), spec.partitions_def))
    return out


def stale_days(keys: Sequence[str], sessions: int, landed: dict[str, float],
               computed_at: dict[str, float]) -> list[str]:
    """Days D (in `keys` order) materialized before some input day E in (D - sessions, D) landed.

    `landed`: E -> when it landed (epoch s); `computed_at`: D -> start of the run that last
    materialized D. Days never materialized are not stale (nothing wrong is stored)."""
    position = {k: i for i, k in enumerate(keys)}
    events = sorted((position[e], t) for e, t in landed.items() if e in position)
    if not events:
        return []
    at = [p for p, _ in events]
    out = []
    for d in sorted(computed_at, key=lambda k: position.get(k, -1)):
        p = position.get(d)
        if p is None:
            continue
        lo, hi = bisect.bisect_right(at, p - sessions), bisect.bisect_left(at, p)
        if lo < hi and max(t for _, t in events[lo:hi]) > computed_at[d]:
            out.append(d)
    return out


def candidates(keys: Sequence[str], sessions: int, landed: dict[str, float]) -> set[str]:
    """Days after a landed day whose window contains it (a landed day can be one of them: it is
    stale too if its own run started before an older landed day arrived)."""
    position = {k: i for i, k in enumerate(keys)}
    out: set[str] = set()
    for e in landed:
        p = position.get(e)
        if p is not None:
            out.update(keys[p + 1:p + sessions])
    return out


def computed_times(instance: dg.DagsterInstance, asset: dg.AssetKey, days: set[str]) -> dict[str, float]:
    """D -> start time of the run that last materialized D (its event time for runless events)."""
    if not days:
        return {}
    latest = instance.get_latest_storage_id_by_partition(asset, DagsterEventType.ASSET_MATERIALIZATION,
                                                          partitions=days)
    if not latest:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset, storage_ids=list(latest.values())), limit=len(latest)).records
    run_ids = {r.run_id for r in records if r.run_id}
    starts = {rec.dagster_run.run_id: rec.start_time
              for rec in instance.get_run_records(dg.RunsFilter(run_ids=list(run_ids)))} if run_ids else {}
    return {r.partition_key: starts.get(r.run_id) or r.timestamp for r in records if r.partition_key}


def busy_with(instance: dg.DagsterInstance, keys: set[dg.AssetKey]) -> str | None:
    """What is still writing any of `keys` (an open run or a requested backfill), else None."""
    for record in instance.get_run_records(dg.RunsFilter(statuses=OPEN_RUN_STATUSES), limit=200):
        selection = record.dagster_run.asset_selection or set()
        if selection & keys:
            return f"run {record.dagster_run.run_id[:8]} ({record.dagster_run.status.value})"
    for backfill in instance.get_backfills(status=BulkActionStatus.REQUESTED):
        selection = set(backfill.asset_selection or ())
        if not selection or selection & keys:
            return f"backfill {backfill.backfill_id}"
    return None


def spans(keys: Sequence[str], days: Sequence[str], longest: int) -> list[tuple[str, str]]:
    """Consecutive runs of `days` in `keys` order, each at most `longest` days."""
    position = {k: i for i, k in enumerate(keys)}
    out: list[list[str]] = []
    for d in sorted(days, key=position.__getitem__):
        if out and position[d] == position[out[-1][-1]] + 1 and len(out[-1]) < longest:
            out[-1].append(d)
        else:
            out.append([d])
    return [(s[0], s[-1]) for s in out]


def requests_for(window: Window, days: Sequence[str], keys: Sequence[str], stamp: int) -> list[dg.RunRequest]:
    out = []
    for first, last in spans(keys, days, days_per_run()):
        tags = {"quant/trigger": "window_follows_history"}
        key = f"window-{window.asset.to_user_string()}-{first}..{last}-{stamp}"
        if first == last:
            out.append(dg.RunRequest(run_key=key, partition_key=first, asset_selection=[window.asset], tags=tags))
        else:
            out.append(dg.RunRequest(run_key=key, asset_selection=[window.asset],
                                     tags={**tags, RANGE_START_TAG: first, RANGE_END_TAG: last}))
    return out


def evaluate(instance: dg.DagsterInstance, windows: Sequence[Window], cursor: str | None,
             log=None) -> dg.SensorResult:
    state: dict[str, int] = json.loads(cursor) if cursor else {}
    watched = {w.asset for w in windows} | {i for w in windows for i in w.inputs}
    busy = busy_with(instance, watched)
    if busy:
        return dg.SensorResult(skip_reason=f"waiting for {busy} to finish before looking at windows")
    requests: list[dg.RunRequest] = []
    notes = []
    for window in windows:
        landed: dict[str, float] = {}
        newest = 0
        for key in window.inputs:
            slot = f"{window.asset.to_user_string()}<{key.to_user_string()}"
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, after_storage_id=state.get(slot)),
                limit=EVENTS_PER_TICK, ascending=True).records
            for r in records:
                if r.partition_key:
                    landed[r.partition_key] = max(landed.get(r.partition_key, 0.0), r.timestamp)
                newest = max(newest, r.storage_id)
            if records:
                state[slot] = records[-1].storage_id
        if not landed:
            continue
        with dg.partition_loading_context():
            keys = window.partitions_def.get_partition_keys()
        todo = stale_days(keys, window.sessions, landed,
                          computed_times(instance, window.asset, candidates(keys, window.sessions, landed)))
        if todo:
            requests += requests_for(window, todo, keys, newest)
            notes.append(f"{window.asset.to_user_string()}: {len(todo)} day(s) {todo[0]}..{todo[-1]}")
    if log is not None and notes:
        log.info("windows gained older input: " + "; ".join(notes))
    skip = None if requests else "no computed day's window gained input since it was computed"
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(state, sort_keys=True), skip_reason=skip)


def build_window_sensor(assets: Sequence[dg.AssetsDefinition]) -> dg.SensorDefinition:
    windows = windows_of(assets)

    @dg.sensor(name="derived_windows_follow_history", asset_selection=[w.asset for w in windows],
               minimum_interval_seconds=120, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Re-requests derived days whose look-back window (indicators, 52-week range, "
                           "factor windows, tracking error) gained older input after they were computed, "
                           "e.g. after a backfill of earlier history (quant_assets/windows.py).")
    def _sensor(context: dg.SensorEvaluationContext):
        return evaluate(context.instance, windows, context.cursor, context.log)

    return _sensor
