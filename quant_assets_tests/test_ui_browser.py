"""The platform end to end through a real browser (`make test-ui`).

Starts `dagster dev` the way `quant up` does (embedded PostgreSQL for Dagster's storage and the
warehouse, the simulator as the market source, the repository's dagster.yaml with its queued run
coordinator), then drives the UI in Debian's Chromium with Playwright:

1. the global asset lineage renders; the `prices` group is opened until the `ohlcv` node shows
   (screenshot `artifacts/ui-asset-graph.png`);
2. on the `ohlcv` asset page, *Materialize…* → partition `2024-03-05` (+ a priority tag)
   → *Launch 1 run*;
3. the daemon dequeues and runs it; the run page reports success
   (screenshot `artifacts/ui-materialized.png`) and `ohlcv_data` holds that day;
4. the `ohlcv` asset's Plots view draws its numeric metadata across the partitions loaded so far
   (the sensors' days and ours): row count, traded value, median change, coverage
   (screenshot `artifacts/ui-ohlcv-plots.png`);
5. `etf_tracking`, materialized by the derived-refresh automation once `etf_daily` landed: its
   newest partition's event shows the catalogue column schema, the formatted preview and the
   chart of the largest ETFs (`artifacts/ui-etf-tracking.png`); the chart's markdown dialog shows
   the PNG, which really decoded in the browser (`artifacts/ui-etf-tracking-chart.png`); its Checks view lists its asset checks with their
   Korean descriptions (`artifacts/ui-etf-tracking-checks.png`).

Playwright's own browser download is not used: `scripts/ensure_chromium.sh` installs Debian's
`chromium`, which the test launches by path. The launch flags keep Chromium off the network
(background services, QUIC) because the machines this runs on have no outside access.
The default sensors stay on, as in `quant up`: on start they launch runs for the last five
trading days, all in the `krx` pool (one op at a time), so ours waits for them (~2 minutes on
2 cores). It carries `dagster/priority`, which puts it ahead of runs still queued (the fifth
sensor run, derived refreshes) but not of those already started.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
ASSET = "ohlcv"
PARTITION = "2024-03-05"
PRIORITY_TAG = ("dagster/priority", "10")
SERVER_TIMEOUT = 300      # dagster dev: webserver up and the code location loaded
RUN_TIMEOUT = 420         # queued, then waiting for the `krx` pool behind the sensors' runs
UI_TIMEOUT_MS = 60_000
DONE = {"SUCCESS", "FAILURE", "CANCELED"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(1500),  # over the suite's 600 s: server start, queue wait, then the automation's runs
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: run `bash scripts/ensure_chromium.sh` "
                                                     "(or `make test-ui`, which does)"),
]

RUNS_QUERY = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs { results { runId status assetSelection { path } } }
    ... on PythonError { message }
  }
}
"""
MATERIALIZATIONS_QUERY = """
query Materializations($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset { assetMaterializations(limit: 100) { partition metadataEntries { label } } }
  }
}
"""
LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(base: str, query: str, variables: dict | None = None) -> dict:
    resp = requests.post(f"{base}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
    resp.raise_for_status()
    body = resp.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_ready(base: str, proc: subprocess.Popen, log: Path) -> None:
    """Webserver answering and the `quant_assets` code location loaded (not still loading)."""
    deadline = time.monotonic() + SERVER_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited with code {proc.returncode}:\n{_tail(log)}")
        try:
            if requests.get(f"{base}/server_info", timeout=2).ok:
                entries = _graphql(base, LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    errors = [e for e in entries if e["locationOrLoadError"]["__typename"] == "PythonError"]
                    assert not errors, f"code location failed to load: {errors}"
                    return
        except requests.RequestException:
            pass
        time.sleep(1)
    pytest.fail(f"dagster dev not ready at {base} within {SERVER_TIMEOUT}s:\n{_tail(log)}")


def _start_dagster(port: int, log: Path) -> subprocess.Popen:
    from quant_assets.cli import dagster_env

    env = dagster_env()  # DAGSTER_HOME (our dagster.yaml), DAGSTER_PG_URL, compute logs; QUANT_* pass through
    assert env.get("QUANT_SIM_URL"), "the simulator fixture must run first"
    # Mark Dagster's first-visit newsletter dialog as seen: it would cover the page.
    nux = Path(env["DAGSTER_HOME"]) / ".nux"
    nux.mkdir(exist_ok=True)
    (nux / "nux.yaml").write_text("seen: 1\n")
    dagster = Path(sys.executable).parent / "dagster"
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(dagster), "dev", "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
            env=env, cwd=str(ROOT), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: webserver, daemon, code servers, runs
        )


def _stop_group(proc: subprocess.Popen) -> None:
    """Ctrl-C for the whole group (dagster dev shuts its children down), then SIGKILL leftovers."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    for sig, wait in ((signal.SIGINT, 45), (signal.SIGKILL, 10)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)  # anyone left in the group?
            except ProcessLookupError:
                proc.poll()
                return
            proc.poll()  # reap the leader so it does not linger as a zombie
            time.sleep(0.5)


def _our_run(base: str) -> dict | None:
    """The run the UI launched: partition tag PARTITION and exactly our asset selected."""
    data = _graphql(base, RUNS_QUERY, {"filter": {"tags": [{"key": "dagster/partition", "value": PARTITION}]}})
    runs = data["runsOrError"]
    assert runs["__typename"] == "Runs", runs
    ours = [r for r in runs["results"] if [k["path"] for k in r["assetSelection"] or []] == [[ASSET]]]
    assert len(ours) <= 1, f"more than one {ASSET} run for {PARTITION}: {ours}"
    return ours[0] if ours else None


def _wait_run(base: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT
    run = None
    while time.monotonic() < deadline:
        run = _our_run(base)
        if run is not None and run["status"] in DONE:
            return run
        time.sleep(2)
    pytest.fail(f"run for {ASSET} {PARTITION} not finished within {RUN_TIMEOUT}s; last seen: {json.dumps(run)}")


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def _materialized(base: str, asset: str) -> dict[str, set[str]]:
    """partition -> metadata labels of the asset's materializations (newest kept per partition)."""
    data = _graphql(base, MATERIALIZATIONS_QUERY, {"key": {"path": [asset]}})["assetOrError"]
    if data["__typename"] != "Asset":
        return {}
    out: dict[str, set[str]] = {}
    for event in data["assetMaterializations"]:
        out.setdefault(event["partition"], {e["label"] for e in event["metadataEntries"]})
    return out


def _wait_materialized(base: str, asset: str, label: str, *, partitions: int = 1, timeout: float = 300) -> list[str]:
    """Partitions of `asset` whose newest materialization carries `label`, once there are enough."""
    deadline = time.monotonic() + timeout
    found: list[str] = []
    while time.monotonic() < deadline:
        found = sorted(k for k, labels in _materialized(base, asset).items() if label in labels)
        if len(found) >= partitions:
            return found
        time.sleep(3)
    pytest.fail(f"{asset}: {len(found)} partition(s) with metadata {label!r} within {timeout}s (wanted {partitions})")


def _ohlcv_plots(page, base: str) -> None:
    """`ohlcv` overview, Metadata section switched from Table to Plots, x axis = partitions: one chart
    per numeric metadata key across the partitions materialized so far."""
    page.goto(f"{base}/assets/{ASSET}")
    search = page.get_by_placeholder("Filter metadata keys").first
    try:
        search.wait_for(timeout=UI_TIMEOUT_MS)
    except Exception:
        _screenshot(page, "ui-ohlcv-plots.png")
        raise
    search.scroll_into_view_if_needed()
    page.get_by_role("button", name="Plots").first.click()
    by_partition = page.get_by_role("button", name="Partitions")
    if by_partition.count():
        by_partition.first.click()
    try:
        # (coverage_pct is absent on days that landed before stock_list first filled `tickers`)
        for label in ("median_change_pct", "traded_value_krw_bn", "dagster/row_count"):
            page.get_by_text(label, exact=True).first.wait_for(timeout=UI_TIMEOUT_MS)
        page.locator("canvas").first.wait_for(timeout=UI_TIMEOUT_MS)   # the charts are drawn on canvases
        page.get_by_text("dagster/row_count", exact=True).first.scroll_into_view_if_needed()
        page.wait_for_timeout(1500)
    finally:
        _screenshot(page, "ui-ohlcv-plots.png")
    assert page.locator("canvas").count() >= 2


def _etf_tracking(page, base: str, partition: str) -> None:
    """The newest etf_tracking partition's event: schema, preview, and the chart image decoded."""
    url = f"{base}/assets/etf_tracking?view=events&partition={partition}"
    page.goto(url)
    label = page.get_by_text("largest_etfs_chart", exact=True).first
    try:
        label.wait_for(timeout=UI_TIMEOUT_MS)
    except Exception:
        # On a loaded 2-core CI machine the events query of this page has once not rendered within
        # the timeout while the daemon was busy; one reload tells that from a missing entry.
        _screenshot(page, "ui-etf-tracking-first-load.png")
        page.goto(url)
        label.wait_for(timeout=UI_TIMEOUT_MS)
    page.get_by_text("mean_premium_discount_pct", exact=True).first.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    _screenshot(page, "ui-etf-tracking.png")
    for label in ("mean_premium_discount_pct", "median_tracking_error_20d", "coverage_pct"):
        assert page.get_by_text(label, exact=True).count() >= 1, f"{label} not shown on the event"
    # A markdown value opens in a dialog: the chart is an <img> with a data: URI that must decode.
    row = page.locator("tr", has_text="largest_etfs_chart").last
    row.get_by_text("Show Markdown").first.click()
    chart = page.get_by_role("dialog").locator("img[src^='data:image/png']").first
    try:
        chart.wait_for(timeout=UI_TIMEOUT_MS)
        page.wait_for_timeout(1000)
    finally:
        _screenshot(page, "ui-etf-tracking-chart.png")
    width = chart.evaluate("img => img.complete ? img.naturalWidth : 0")
    assert width >= 500, f"the chart image did not decode in the browser (naturalWidth {width})"
    page.keyboard.press("Escape")

    page.goto(f"{base}/assets/etf_tracking?view=checks")
    for name in ("premium_matches_krx", "tracking_error_coverage"):
        page.get_by_text(name, exact=True).first.wait_for(timeout=UI_TIMEOUT_MS)
    page.get_by_text(re.compile("괴리율")).first.wait_for(timeout=UI_TIMEOUT_MS)  # Korean check description
    page.wait_for_timeout(1000)
    _screenshot(page, "ui-etf-tracking-checks.png")


def _column_schema(page, base: str) -> None:
    """Overview of `ohlcv`: the columns carry PostgreSQL's types and sql/014's comments."""
    page.goto(f"{base}/assets/{ASSET}")
    types = page.get_by_text("numeric(20,4)").first
    types.wait_for(timeout=UI_TIMEOUT_MS)
    types.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    _screenshot(page, "ui-ohlcv-columns.png")
    assert page.get_by_text("float64", exact=True).count() == 0


def _open_asset_graph(page, base: str) -> None:
    """Global lineage: wait for the group nodes, open `prices` until the `ohlcv` asset node shows."""
    page.goto(f"{base}/asset-groups")
    prices = page.get_by_text("prices", exact=True).last  # the graph node (the sidebar tree lists it first)
    prices.wait_for(timeout=UI_TIMEOUT_MS)
    prices.click()
    page.get_by_text(ASSET, exact=True).last.wait_for(timeout=UI_TIMEOUT_MS)
    page.wait_for_url("**expanded=*")
    page.locator("button:has([aria-label=zoom_out])").click()  # room for the groups around it
    page.get_by_text(ASSET, exact=True).last.wait_for(timeout=UI_TIMEOUT_MS)
    page.wait_for_timeout(1500)  # let the pan/zoom animation and node status settle
    _screenshot(page, "ui-asset-graph.png")


def _launch_partition(page, base: str) -> None:
    """Asset page → Materialize… → all partitions → one key → priority tag → Launch 1 run."""
    page.goto(f"{base}/assets/{ASSET}")
    page.get_by_role("button", name="Materialize…").click(timeout=UI_TIMEOUT_MS)
    dialog = page.get_by_role("dialog").filter(has_text=f"Launch runs to materialize {ASSET}")
    # Once partition health has loaded the dialog offers the last 90 days; our day is older.
    dialog.get_by_role("button", name="Show all partitions").click()
    keys = dialog.locator("input[type=text]").first
    keys.fill(PARTITION)
    keys.press("Enter")
    dialog.get_by_text("1 partition", exact=True).wait_for()
    # Ahead of runs still queued when a run slot frees: Tags → Add tags → dagster/priority.
    dialog.get_by_text("Tags", exact=True).click()
    dialog.get_by_role("button", name="Add tags").click()
    editor = page.get_by_role("dialog").filter(has_text="Add tags to run")
    editor.get_by_placeholder("Tag Key").fill(PRIORITY_TAG[0])
    editor.get_by_placeholder("Tag Value").fill(PRIORITY_TAG[1])
    editor.get_by_role("button", name="Apply").click()
    editor.wait_for(state="hidden")
    dialog.get_by_text(re.compile(r"^1 tags?$")).wait_for()  # the section header's count ("1 tags")
    dialog.get_by_role("button", name="Launch 1 run").click()
    dialog.wait_for(state="hidden", timeout=UI_TIMEOUT_MS)


def test_materialize_one_partition_from_the_ui(database_url, simulator):
    from playwright.sync_api import sync_playwright

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM ohlcv_data WHERE date = %s", (PARTITION,))

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "ui-dagster.log"
    dagster = _start_dagster(port, log)
    try:
        _wait_ready(base, dagster, log)
        with sync_playwright() as pw:
            # Playwright gives every launch a fresh temporary profile (no --user-data-dir needed).
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.set_default_timeout(UI_TIMEOUT_MS)
                # Fallback should the newsletter dialog show anyway: dismiss it before any action.
                page.add_locator_handler(page.get_by_role("button", name="Skip", exact=True), lambda b: b.click())

                _open_asset_graph(page, base)
                _launch_partition(page, base)
                run = _wait_run(base)

                page.goto(f"{base}/runs/{run['runId']}")
                # "Success" / "Failure" / "Canceled": the run page's status tag, screenshotted either way.
                page.get_by_text(run["status"].title(), exact=True).first.wait_for(timeout=UI_TIMEOUT_MS)
                page.wait_for_timeout(1500)
                _screenshot(page, "ui-materialized.png")
                assert run["status"] == "SUCCESS", f"run {run['runId']} ended {run['status']}:\n{_tail(log)}"

                # Plots need several partitions: ours plus the sensors' recent days. (Days that landed
                # before stock_list filled `tickers` on first start have no coverage_pct: no universe.)
                _wait_materialized(base, ASSET, "traded_value_krw_bn", partitions=2)
                _column_schema(page, base)
                _ohlcv_plots(page, base)
                # etf_tracking follows etf_daily through the derived-refresh automation sensor.
                # Days land one by one, so the automation's first tracking runs cover days without
                # 16 trading days of history, where the 20-day tracking error is rightly absent:
                # take a day that has it.
                charted = _wait_materialized(base, "etf_tracking", "median_tracking_error_20d", timeout=600)
                _etf_tracking(page, base, charted[-1])
            finally:
                browser.close()
        assert run["status"] == "SUCCESS", f"run {run['runId']} ended {run['status']}:\n{_tail(log)}"
    finally:
        _stop_group(dagster)

    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT count(*) FROM ohlcv_data WHERE date = %s", (PARTITION,)).fetchone()[0]
    assert rows > 0, f"ohlcv_data has no rows for {PARTITION}"
