"""Launch and follow asset backfills through the Dagster webserver's GraphQL API.

The open-source CLI has no command that creates a daemon-managed *asset* backfill (`dagster asset
materialize --partition-range` runs in-process, `dagster job backfill` ignores backfill policies),
so `quant backfill` sends the same `launchPartitionBackfill` mutation the UI's "Materialize →
partition range → Launch backfill" sends. The daemon then applies each asset's BackfillPolicy
(ranged runs: 250 trading days per ingest run, one run per derived asset) and runs upstream
partitions before the downstream ones that depend on them. `follow` polls the backfill's own
per-asset counters until it ends, which is what the UI's backfill page shows too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import requests

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}
"""

STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status numPartitions creationTime
      assetBackfillData {
        assetBackfillStatuses {
          __typename
          ... on AssetPartitionsStatusCounts { assetKey { path } numPartitionsTargeted
            numPartitionsInProgress numPartitionsMaterialized numPartitionsFailed }
          ... on UnpartitionedAssetStatus { assetKey { path } inProgress materialized failed }
        }
      } }
    ... on BackfillNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

MATERIALIZED = """
query Materialized($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    isPartitioned
    assetMaterializations(limit: 1) { timestamp }
    assetPartitionStatuses {
      __typename
      ... on TimePartitionStatuses { ranges { startKey endKey status } }
      ... on DefaultPartitionStatuses { materializedPartitions }
    }
  }
}
"""

# Loaded first by `quant backfill`; everything derived follows as their downstream.
DEFAULT_ROOTS = ("ohlcv", "etf_daily", "stock_fundamentals", "etf_aum")
# Budgeted trickles (quant_assets/trickle.py), skipped as downstream unless named.
TRICKLE_ASSETS = ("etf_holdings", "etf_tracking_krx")


class PlanError(ValueError):
    """A backfill request that cannot be honoured; the message says why (shown without traceback)."""


# A backfill in one of these states will not change any more.
FINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
SUCCESS = {"COMPLETED", "COMPLETED_SUCCESS"}


def _post(graphql_url: str, query: str, variables: dict) -> dict:
    resp = requests.post(graphql_url, json={"query": query, "variables": variables}, timeout=60)
    resp.raise_for_status()
    body = resp.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL error: {body['errors']}")
    return body["data"]


def ui_url(graphql_url: str) -> str:
    return graphql_url.rsplit("/graphql", 1)[0]


def backfill_link(graphql_url: str, backfill_id: str) -> str:
    return f"{ui_url(graphql_url)}/runs/b/{backfill_id}?tab=partitions"


def launch_asset_backfill(graphql_url: str, assets: Mapping[str, tuple[tuple[str, str], ...] | tuple[str, str] | None],
                          title: str | None = None) -> str:
    """Start one asset backfill. `assets` maps an asset name to its partition ranges ((first,
    last) pairs; one pair is accepted too), or None for an unpartitioned asset. Returns its id."""
    by_asset = []
    for name, rng in assets.items():
        entry: dict = {"assetKey": {"path": name.split("/")}}
        if rng is not None:
            pairs = (rng,) if isinstance(rng[0], str) else rng
            entry["partitions"] = {"ranges": [{"start": a, "end": b} for a, b in pairs]}
        by_asset.append(entry)
    params = {"partitionsByAssets": by_asset}
    if title:
        params["title"] = title
    result = _post(graphql_url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"backfill not launched: {result.get('__typename')}: {result.get('message')}")
    return result["backfillId"]


def backfill_status(graphql_url: str, backfill_id: str) -> dict:
    return _post(graphql_url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]


def materialized_partitions(graphql_url: str, names: list[str], expand: Callable[[str, str, str], list[str]]
                            ) -> dict[str, set[str] | bool]:
    """Materialized keys per asset (True/False for an unpartitioned asset), as the UI shows them.
    `expand(asset, first, last)` lists the keys of a materialized range."""
    nodes = _post(graphql_url, MATERIALIZED, {"keys": [{"path": n.split("/")} for n in names]})["assetNodes"]
    out: dict[str, set[str] | bool] = {}
    for node in nodes:
        name = "/".join(node["assetKey"]["path"])
        if not node["isPartitioned"]:
            out[name] = bool(node["assetMaterializations"])
            continue
        statuses = node["assetPartitionStatuses"] or {}
        if statuses.get("__typename") == "TimePartitionStatuses":
            keys: set[str] = set()
            for r in statuses["ranges"]:
                if r["status"] == "MATERIALIZED":
                    keys.update(expand(name, r["startKey"], r["endKey"]))
            out[name] = keys
        else:
            out[name] = set(statuses.get("materializedPartitions") or [])
    return out


@dataclass
class Progress:
    """One poll of a backfill: partition counters summed over its assets."""

    status: str
    targeted: int
    done: int
    failed: int
    in_progress: int
    per_asset: dict[str, tuple[int, int, int, int]]   # asset -> (targeted, done, failed, in progress)

    @property
    def remaining(self) -> int:
        return max(self.targeted - self.done - self.failed, 0)

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCESS and self.failed == 0


def progress_of(status: dict) -> Progress:
    """Progress from a `partitionBackfillOrError` answer (an error answer raises)."""
    if status.get("__typename") != "PartitionBackfill":
        raise RuntimeError(f"backfill status unavailable: {status.get('__typename')}: {status.get('message')}")
    per: dict[str, tuple[int, int, int, int]] = {}
    for s in (status.get("assetBackfillData") or {}).get("assetBackfillStatuses") or []:
        name = "/".join(s["assetKey"]["path"])
        if s["__typename"] == "AssetPartitionsStatusCounts":
            per[name] = (s["numPartitionsTargeted"], s["numPartitionsMaterialized"], s["numPartitionsFailed"],
                         s["numPartitionsInProgress"])
        else:
            per[name] = (1, int(s["materialized"]), int(s["failed"]), int(s["inProgress"]))
    total = [sum(v[i] for v in per.values()) for i in range(4)]
    return Progress(status["status"], total[0], total[1], total[2], total[3], per)


def progress_line(p: Progress, elapsed_s: float, done_at_start: int = 0) -> str:
    """`done/targeted, failed, remaining, rate, ETA` — what the follower prints each poll."""
    rate = (p.done - done_at_start) / elapsed_s if elapsed_s > 0 else 0.0
    eta = f"{p.remaining / rate / 60:.1f} min" if rate > 0 and p.remaining else ("-" if p.remaining else "0 min")
    return (f"[{p.status}] {p.done}/{p.targeted} partitions done, {p.failed} failed, {p.in_progress} running, "
            f"{p.remaining} remaining; {rate * 60:.1f} partitions/min; ETA {eta}")


def follow(graphql_url: str, backfill_id: str, poll_seconds: float = 5.0, out=print,
           clock: Callable[[], float] = time.monotonic) -> Progress:
    """Poll until the backfill ends, printing a progress line whenever the counters change."""
    started, first_done, last = clock(), None, None
    while True:
        p = progress_of(backfill_status(graphql_url, backfill_id))
        if first_done is None:
            first_done = p.done
        line = progress_line(p, clock() - started, first_done)
        if line.split(";")[0] != (last or "").split(";")[0] or p.finished:
            out(line)
            last = line
        if p.finished:
            return p
        time.sleep(poll_seconds)
