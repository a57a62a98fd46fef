"""Launch asset backfills through the Dagster webserver's GraphQL API.

The open-source CLI has no command that creates a daemon-managed *asset* backfill (`dagster asset
materialize --partition-range` runs in-process, `dagster job backfill` ignores backfill policies),
so `quant backfill` sends the same `launchPartitionBackfill` mutation the UI sends. The daemon then
applies each asset's BackfillPolicy (ranged runs) and orders upstream before downstream.
"""

from __future__ import annotations

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
    ... on PartitionBackfill { id status numPartitions
      assetBackfillData { rootTargetedPartitions { partitionKeys } } }
    ... on PythonError { message }
  }
}
"""


def _post(graphql_url: str, query: str, variables: dict) -> dict:
    resp = requests.post(graphql_url, json={"query": query, "variables": variables}, timeout=60)
    resp.raise_for_status()
    body = resp.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL error: {body['errors']}")
    return body["data"]


def launch_asset_backfill(graphql_url: str, assets: dict[str, tuple[str, str] | None],
                          title: str | None = None) -> str:
    """Start one asset backfill. `assets` maps asset name -> (first, last) partition key, or None
    for an unpartitioned asset. Returns the backfill id."""
    by_asset = []
    for name, rng in assets.items():
        entry: dict = {"assetKey": {"path": name.split("/")}}
        if rng is not None:
            entry["partitions"] = {"range": {"start": rng[0], "end": rng[1]}}
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
