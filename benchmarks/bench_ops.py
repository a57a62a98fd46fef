"""Operational benchmark through the real Dagster daemon: `python -m benchmarks.bench_ops` (`make bench-ops`).

`benchmarks.bench` times the pieces (source latency, write throughput, queries) in-process. This
module answers the operator's questions instead, by driving a whole `quant up` platform (embedded
PostgreSQL, full-size simulator, `dagster dev` webserver + daemon) over GraphQL exactly as a user
would from the UI:

1. year backfill    - wall time and run count of one daemon-managed asset backfill of `ohlcv` +
                      `etf_daily` over the last ~250 trading days with the default backfill policy
                      (`BackfillPolicy.multi_run(QUANT_DAYS_PER_RUN=250)`: expect 1-2 ranged runs),
                      and the rows it loaded.
2. per-partition    - the same kind of backfill on a platform started with QUANT_DAYS_PER_RUN=1
                      (one run per trading day, Dagster's default behaviour) over N days (default
                      20): measured wall time, runs, seconds per partition, and the one-year figure
                      extrapolated from it (clearly labelled; 250 such runs take too long to run).
3. sensor latency   - the simulator clock is set shortly before 15:45 KST (price publication) of
                      the trading day after the loaded data, `prices_published_sensor` (60 s
                      interval) is running, and the time from the simulated publication instant
                      (mapped to wall time) to the `ohlcv` partition of that day being materialized
                      is measured, split into sensor wait -> tick -> run queued -> run started ->
                      data committed -> materialization -> run success.

Each platform start gets a fresh QUANT_HOME under /tmp/bench_ops_* (empty warehouse) and `--days 0`
(sensors load no history on their first tick). While measuring, the sensors that would add load
are stopped over GraphQL: `derived_refresh` (derived assets are NOT refreshed during the
benchmark), `aum_published_sensor`, `holdings_published_sensor`, and for (1)/(2) also
`prices_published_sensor`, which (3) starts again. (1) and (3) share one platform (3 runs on top of
the year just loaded); (2) gets its own. The report is printed and written as JSON to
`$QUANT_HOME/bench_ops.json` (or `--out`). Timings are wall-clock on this machine and include
whatever else it is running (the load average is recorded); nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

from quant_assets import config
from quant_assets.backfill import backfill_status, launch_asset_backfill
from quant_assets.calendar import KST, previous_trading_days, trading_days

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECTIONS = ("backfill", "per-partition", "sensor")
INGEST = ("ohlcv", "etf_daily")
PRICES_SENSOR = "prices_published_sensor"
LOAD_SENSORS = ("derived_refresh", "aum_published_sensor", "holdings_published_sensor")
PUBLICATION = dt.time(15, 45)  # simulator: prices of trading day D are published at D 15:45 KST
ACTIVE_RUN_STATUSES = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING", "MANAGED"]
TERMINAL_BACKFILL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# -- GraphQL -------------------------------------------------------------------------------------
REPOS = """
{ repositoriesOrError { __typename
    ... on RepositoryConnection { nodes { name location { name } sensors { id name sensorState { status } } } }
    ... on PythonError { message } } }
"""
STOP_SENSOR = """
mutation Stop($id: String!) { stopSensor(id: $id) { __typename
    ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }
"""
START_SENSOR = """
mutation Start($sel: SensorSelector!) { startSensor(sensorSelector: $sel) { __typename
    ... on Sensor { sensorState { status } } ... on PythonError { message } } }
"""
SET_CURSOR = """
mutation Cursor($sel: SensorSelector!, $cursor: String) { setSensorCursor(sensorSelector: $sel, cursor: $cursor) {
    __typename ... on PythonError { message } } }
"""
TICKS = """
query Ticks($sel: SensorSelector!) { sensorOrError(sensorSelector: $sel) { __typename
    ... on Sensor { sensorState { status ticks(limit: 20) {
        status timestamp endTimestamp runIds skipReason cursor error { message } } } }
    ... on PythonError { message } } }
"""
RUNS = """
query Runs($filter: RunsFilter) { runsOrError(filter: $filter, limit: 5000) { __typename
    ... on Runs { results { runId status creationTime startTime endTime tags { key value } } }
    ... on PythonError { message } } }
"""
BACKFILL_PROGRESS = """
query Progress($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
    ... on PartitionBackfill { status timestamp endTimestamp numPartitions
        assetBackfillData { assetBackfillStatuses { __typename
            ... on AssetPartitionsStatusCounts { assetKey { path } numPartitionsTargeted
                numPartitionsInProgress numPartitionsMaterialized numPartitionsFailed } } } }
    ... on PythonError { message } } }
"""
MATERIALIZATION = """
query Mat($key: AssetKeyInput!, $partitions: [String!]) { assetOrError(assetKey: $key) { __typename
    ... on Asset { assetMaterializations(partitions: $partitions, limit: 1) { timestamp runId partition } } } }
"""


class GraphQL:
    def __init__(self, url: str):
        self.url = url

    def __call__(self, query: str, variables: dict | None = None) -> dict:
        resp = requests.post(self.url, json={"query": query, "variables": variables or {}}, timeout=120)
        resp.raise_for_status()
        body = resp.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL error: {body['errors']}")
        return body["data"]

    def runs(self, **flt) -> list[dict]:
        data = self(RUNS, {"filter": flt})["runsOrError"]
        if data["__typename"] != "Runs":
            raise RuntimeError(f"runsOrError: {data}")
        for run in data["results"]:
            run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
        return data["results"]


# -- the platform --------------------------------------------------------------------------------
def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class Platform:
    """One `quant up` in its own fresh QUANT_HOME, driven and stopped like a user would."""

    label: str
    port: int
    sim_port: int
    extra_env: dict[str, str] = field(default_factory=dict)
    home: Path | None = None
    proc: subprocess.Popen | None = None
    startup: dict = field(default_factory=dict)
    shutdown: dict = field(default_factory=dict)
    _db_url: str | None = None
    _repo: tuple[str, str] | None = None
    _stopped: bool = False

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sim(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def gql(self) -> GraphQL:
        return GraphQL(self.ui + "/graphql")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("QUANT_SIM_URL", "QUANT_DATABASE_URL", "DAGSTER_HOME", "DAGSTER_PG_URL",
                            "QUANT_DAYS_PER_RUN", "QUANT_CATCH_UP_DAYS")}
        env.update({"QUANT_HOME": str(self.home), "QUANT_SIM_SIZE": "full"}, **self.extra_env)
        return env

    def start(self) -> None:
        for p in (self.port, self.sim_port):
            if not _port_free(p):
                raise SystemExit(f"port {p} is in use; pick other ports (--port-base/--sim-port-base)")
        self.home = Path(f"/tmp/bench_ops_{os.getpid()}_{self.label}")
        if self.home.exists():
            shutil.rmtree(self.home)
        self.home.mkdir(parents=True)
        extra = " ".join(f"{k}={v}" for k, v in self.extra_env.items())
        log(f"[{self.label}] quant up --port {self.port} --sim-port {self.sim_port} --days 0 "
            f"(QUANT_HOME={self.home}{' ' + extra if extra else ''})")
        t0 = time.time()
        logfile = open(self.home / "quant_up.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [str(BIN / "quant"), "up", "--port", str(self.port), "--sim-port", str(self.sim_port), "--days", "0"],
            env=self.env(), cwd=str(ROOT), stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 900
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"quant up exited with {self.proc.returncode}; see {self.home / 'quant_up.log'}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.ui + "/server_info", timeout=2).ok:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"Dagster did not answer at {self.ui} within 900 s")
            time.sleep(1)
        self.startup["webserver_up_s"] = round(time.time() - t0, 1)
        # The code location loads after the webserver answers; wait until the sensors are visible.
        while self._sensors() is None:
            if time.monotonic() > deadline:
                raise SystemExit("code location did not load")
            time.sleep(1)
        self.startup["code_location_loaded_s"] = round(time.time() - t0, 1)
        log(f"[{self.label}] up after {self.startup['code_location_loaded_s']:.0f} s")

    def _sensors(self) -> dict[str, dict] | None:
        try:
            data = self.gql(REPOS)["repositoriesOrError"]
        except (requests.RequestException, RuntimeError):
            return None
        if data["__typename"] != "RepositoryConnection":
            return None
        for repo in data["nodes"]:
            if any(s["name"] == PRICES_SENSOR for s in repo["sensors"]):
                self._repo = (repo["location"]["name"], repo["name"])
                return {s["name"]: s for s in repo["sensors"]}
        return None

    def selector(self, sensor: str) -> dict:
        location, repo = self._repo
        return {"repositoryLocationName": location, "repositoryName": repo, "sensorName": sensor}

    def stop_sensors(self, names: Iterable[str]) -> None:
        sensors = self._sensors() or {}
        for name in names:
            result = self.gql(STOP_SENSOR, {"id": sensors[name]["id"]})["stopSensor"]
            if result["__typename"] != "StopSensorMutationResult":
                raise RuntimeError(f"stopSensor {name}: {result}")
        log(f"[{self.label}] stopped sensors: {', '.join(names)}")

    def start_sensor(self, name: str) -> None:
        result = self.gql(START_SENSOR, {"sel": self.selector(name)})["startSensor"]
        if result["__typename"] != "Sensor":
            raise RuntimeError(f"startSensor {name}: {result}")

    def set_cursor(self, name: str, cursor: str | None) -> None:
        result = self.gql(SET_CURSOR, {"sel": self.selector(name), "cursor": cursor})["setSensorCursor"]
        if result["__typename"] != "Sensor":
            raise RuntimeError(f"setSensorCursor {name}: {result}")

    def sensor_states(self) -> dict[str, str]:
        return {name: s["sensorState"]["status"] for name, s in (self._sensors() or {}).items()}

    def ticks(self, name: str) -> list[dict]:
        data = self.gql(TICKS, {"sel": self.selector(name)})["sensorOrError"]
        return data["sensorState"]["ticks"] if data["__typename"] == "Sensor" else []

    def wait_idle(self, timeout: float = 900) -> list[dict]:
        """Wait until no run is queued or in progress (e.g. runs a sensor launched before it was
        stopped). Returns every run seen so far."""
        deadline = time.monotonic() + timeout
        while True:
            active = self.gql.runs(statuses=ACTIVE_RUN_STATUSES)
            if not active or time.monotonic() > deadline:
                break
            log(f"[{self.label}] waiting for {len(active)} run(s) already in flight "
                f"({', '.join(sorted({r['tags'].get('dagster/sensor_name', '?') for r in active}))})")
            time.sleep(10)
        if active:
            log(f"[{self.label}] WARNING: {len(active)} run(s) still active after {timeout:.0f} s")
        return [{"run_id": r["runId"], "status": r["status"], "sensor": r["tags"].get("dagster/sensor_name"),
                 "partition": r["tags"].get("dagster/partition")} for r in self.gql.runs()]

    def quiesce(self, sensors: Iterable[str]) -> None:
        """Stop the load sensors, then let whatever they launched at startup finish."""
        self.stop_sensors(sensors)
        self.startup["runs_before_measuring"] = self.wait_idle()
        self.startup["sensor_states"] = self.sensor_states()

    def db_url(self) -> str:
        if self._db_url is None:
            out = subprocess.run([str(BIN / "quant"), "db", "url"], env=self.env(), cwd=str(ROOT),
                                 capture_output=True, text=True, check=True)
            self._db_url = out.stdout.strip().splitlines()[-1]
        return self._db_url

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.db_url()) as conn:
            return conn.execute(query, params).fetchall()

    def sim_post_clock(self, now: dt.datetime | None, speed: float = 1.0) -> tuple[float, dict]:
        t0 = time.time()
        resp = requests.post(self.sim + "/_sim/clock",
                             json={"now": now.isoformat() if now else None, "speed": speed}, timeout=10)
        t1 = time.time()
        resp.raise_for_status()
        return (t0 + t1) / 2, resp.json()

    def sim_now(self) -> dt.datetime:
        state = requests.get(self.sim + "/_sim/clock", timeout=10).json()
        return dt.datetime.fromisoformat(state["now"])

    # -- shutdown --------------------------------------------------------------------------------
    def _ours(self) -> list[tuple[int, str]]:
        """Processes that belong to this platform: QUANT_HOME in their environment or command line."""
        marker = str(self.home).encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes()
                env = b""
                with contextlib.suppress(OSError):
                    env = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in cmd or b"QUANT_HOME=" + marker + b"\0" in env:
                found.append((int(entry.name), cmd.replace(b"\0", b" ").decode(errors="replace")[:160]))
        return found

    def stop(self, remove_data: bool = True) -> None:
        if self.proc is None or self._stopped:
            return
        self._stopped = True
        t0 = time.time()
        if self.proc.poll() is None:
            log(f"[{self.label}] SIGTERM to quant up (pid {self.proc.pid})")
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                log(f"[{self.label}] quant up did not exit within 120 s")
        self.shutdown["quant_up_exit_code"] = self.proc.poll()
        self.shutdown["seconds"] = round(time.time() - t0, 1)
        time.sleep(3)
        leftovers = self._ours()
        self.shutdown["leftover_processes"] = [f"{pid}: {cmd}" for pid, cmd in leftovers]
        if leftovers:
            log(f"[{self.label}] {len(leftovers)} process(es) left after quant up exited; terminating them:")
            for pid, cmd in leftovers:
                log(f"    {pid}: {cmd}")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            time.sleep(10)
            for pid, _ in self._ours():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.shutdown["still_running_after_cleanup"] = [f"{pid}: {cmd}" for pid, cmd in self._ours()]
        if remove_data:  # the year of market data and Dagster's event log; keep the logs
            shutil.rmtree(self.home / "pgdata", ignore_errors=True)
        log(f"[{self.label}] stopped ({self.shutdown['seconds']} s), leftovers: {len(leftovers)}")


# -- helpers -------------------------------------------------------------------------------------
def next_trading_day(day: dt.date) -> dt.date:
    return next(d for d in trading_days(day + dt.timedelta(days=1), day + dt.timedelta(days=20)) if d > day)


def latest_published(p: Platform) -> dt.date:
    """The newest trading day whose prices the source has published, by the source's clock."""
    from quant_assets.resources.krx import KRXClient

    latest = KRXClient(base_url=p.sim + "/krx").latest_trading_day(p.sim_now().date())
    if latest is None:
        raise SystemExit("the simulator reports no published trading day")
    return latest


def plan_days(p: Platform) -> tuple[dt.date, dt.date]:
    """(last day to load, the day the sensor measurement publishes).

    The sensor day is the trading day after the newest published one, if Dagster already has a
    partition for it (today before 15:45, or the next Monday on weekends through end_offset=1);
    otherwise the newest published day itself, with the clock later set back before its 15:45.
    """
    from quant_assets.calendar import trading_day_partitions

    latest = latest_published(p)
    last_key = dt.date.fromisoformat(trading_day_partitions.get_last_partition_key())
    target = next_trading_day(latest)
    if target > last_key:
        target = latest
    return previous_trading_days(target - dt.timedelta(days=1), 1)[-1], target


def _median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 1) if xs else None


def run_summary(runs: list[dict]) -> dict:
    runs = sorted(runs, key=lambda r: r["creationTime"])
    started = [r for r in runs if r["startTime"]]
    ended = [r for r in runs if r["startTime"] and r["endTime"]]
    return {
        "runs": len(runs),
        "statuses": {s: sum(1 for r in runs if r["status"] == s) for s in sorted({r["status"] for r in runs})},
        "ranges": [(r["tags"].get("dagster/asset_partition_range_start") or r["tags"].get("dagster/partition"),
                    r["tags"].get("dagster/asset_partition_range_end") or r["tags"].get("dagster/partition"))
                   for r in runs],
        "median_queued_to_start_s": _median([r["startTime"] - r["creationTime"] for r in started]),
        "median_run_duration_s": _median([r["endTime"] - r["startTime"] for r in ended]),
        "first_created": min((r["creationTime"] for r in runs), default=None),
        "last_ended": max((r["endTime"] or 0 for r in runs), default=None),
        "run_ids": [r["runId"] for r in runs],
    }


def warehouse_counts(p: Platform) -> dict:
    (rows, days, first, last), = p.sql("SELECT count(*), count(DISTINCT date), min(date), max(date) FROM ohlcv_data")
    (etf_rows,), = p.sql("SELECT count(*) FROM etf_daily")
    status = p.sql("SELECT asset, status, count(*) FROM partition_status WHERE asset = ANY(%s) "
                   "GROUP BY asset, status ORDER BY 1, 2", (list(INGEST),))
    return {"ohlcv_rows": rows, "ohlcv_days": days, "ohlcv_first": str(first) if first else None,
            "ohlcv_last": str(last) if last else None, "etf_daily_rows": etf_rows,
            "partition_status": {f"{a}/{s}": n for a, s, n in status}}


def run_backfill(p: Platform, days: list[dt.date], title: str, timeout: float) -> dict:
    first, last = days[0].isoformat(), days[-1].isoformat()
    log(f"[{p.label}] backfill {'+'.join(INGEST)} {first}..{last} ({len(days)} trading days)")
    t0 = time.time()
    backfill_id = launch_asset_backfill(p.ui + "/graphql", {name: (first, last) for name in INGEST}, title=title)
    status, last_print = "REQUESTED", 0.0
    while time.time() - t0 < timeout:
        status = backfill_status(p.ui + "/graphql", backfill_id)["status"]
        if status in TERMINAL_BACKFILL:
            break
        if time.time() - last_print > 30:
            last_print = time.time()
            prog = p.gql(BACKFILL_PROGRESS, {"id": backfill_id})["partitionBackfillOrError"]
            counts = [f"{'/'.join(c['assetKey']['path'])} {c['numPartitionsMaterialized']}/"
                      f"{c['numPartitionsTargeted']} (failed {c['numPartitionsFailed']})"
                      for c in (prog.get("assetBackfillData") or {}).get("assetBackfillStatuses") or []
                      if c["__typename"] == "AssetPartitionsStatusCounts"]
            runs = p.gql.runs(tags=[{"key": "dagster/backfill", "value": backfill_id}])
            log(f"[{p.label}]   {time.time() - t0:5.0f} s  {status}  runs {len(runs)}  {'; '.join(counts)}")
        time.sleep(2)
    wall = time.time() - t0
    prog = p.gql(BACKFILL_PROGRESS, {"id": backfill_id})["partitionBackfillOrError"]
    per_asset = {"/".join(c["assetKey"]["path"]): {k: c[k] for k in (
        "numPartitionsTargeted", "numPartitionsMaterialized", "numPartitionsFailed", "numPartitionsInProgress")}
        for c in (prog.get("assetBackfillData") or {}).get("assetBackfillStatuses") or []
        if c["__typename"] == "AssetPartitionsStatusCounts"}
    runs = run_summary(p.gql.runs(tags=[{"key": "dagster/backfill", "value": backfill_id}]))
    result = {
        "backfill_id": backfill_id, "first_day": first, "last_day": last, "trading_days": len(days),
        "status": status, "timed_out": status not in TERMINAL_BACKFILL,
        "wall_s": round(wall, 1),
        "launch_to_last_run_end_s": round(runs["last_ended"] - t0, 1) if runs["last_ended"] else None,
        "launch_to_first_run_created_s": round(runs["first_created"] - t0, 1) if runs["first_created"] else None,
        "backfill_end_timestamp_minus_launch_s":
            round(prog["endTimestamp"] - t0, 1) if prog.get("endTimestamp") else None,
        "per_asset": per_asset, **runs,
    }
    log(f"[{p.label}] backfill {status} in {wall:.1f} s, {runs['runs']} run(s)")
    return result


# -- the three measurements ----------------------------------------------------------------------
def measure_year(p: Platform, last_day: dt.date, year_days: int, timeout: float) -> dict:
    days = previous_trading_days(last_day, year_days)
    result = run_backfill(p, days, f"bench-ops: one year ({year_days} trading days), default policy", timeout)
    result["days_per_run"] = p.extra_env.get("QUANT_DAYS_PER_RUN", "250 (default)")
    result["warehouse"] = warehouse_counts(p)
    return result


def measure_per_partition(p: Platform, last_day: dt.date, n_days: int, year_days: int, timeout: float) -> dict:
    days = previous_trading_days(last_day, n_days)
    result = run_backfill(p, days, f"bench-ops: per-partition runs over {n_days} trading days", timeout)
    result["days_per_run"] = p.extra_env["QUANT_DAYS_PER_RUN"]
    result["warehouse"] = warehouse_counts(p)
    per = result["wall_s"] / len(days)
    result["s_per_partition"] = round(per, 2)
    result["extrapolated_year_days"] = year_days
    result["extrapolated_year_wall_s"] = round(per * year_days, 0)
    # Second view: one-time cost (backfill daemon picking the backfill up, marking it done) plus
    # the steady rate of the runs themselves (first run created -> last run ended).
    if result["first_created"] and result["last_ended"]:
        window = result["last_ended"] - result["first_created"]
        steady = window / len(days)
        fixed = result["wall_s"] - window
        result["runs_window_s"] = round(window, 1)
        result["steady_s_per_partition"] = round(steady, 2)
        result["fixed_overhead_s"] = round(fixed, 1)
        result["extrapolated_year_wall_steady_s"] = round(fixed + steady * year_days, 0)
    return result


def _ts(t: float | None) -> str | None:
    return dt.datetime.fromtimestamp(t, KST).isoformat(timespec="milliseconds") if t else None


def measure_sensor(p: Platform, day: dt.date, lead_s: float, timeout: float) -> dict:
    """Set the simulated clock `lead_s` before 15:45 of `day`, restart the prices sensor with its
    cursor on the day before, and time publication -> ohlcv partition of `day` materialized."""
    prev = previous_trading_days(day - dt.timedelta(days=1), 1)[-1]
    publication = dt.datetime.combine(day, PUBLICATION, tzinfo=KST)
    (loaded_last,), = p.sql("SELECT max(date) FROM ohlcv_data")
    log(f"[{p.label}] sensor: day {day} (warehouse has data up to {loaded_last}); sim clock -> "
        f"{publication - dt.timedelta(seconds=lead_s):%Y-%m-%d %H:%M:%S} KST, cursor -> {prev}")
    p.set_cursor(PRICES_SENSOR, prev.isoformat())
    t_set, state = p.sim_post_clock(publication - dt.timedelta(seconds=lead_s))
    sim_at_set = dt.datetime.fromisoformat(state["now"])
    pub_wall = t_set + (publication - sim_at_set).total_seconds()
    p.start_sensor(PRICES_SENSOR)
    t_started = time.time()
    log(f"[{p.label}] {PRICES_SENSOR} started; publication in {pub_wall - time.time():.0f} s (wall)")

    run: dict | None = None
    mat_ts = status_ts = None
    deadline = pub_wall + min(timeout, 1200)
    while time.time() < deadline:
        if run is None:
            cands = [r for r in p.gql.runs(tags=[{"key": "dagster/sensor_name", "value": PRICES_SENSOR}])
                     if r["tags"].get("dagster/partition") == day.isoformat()
                     or r["tags"].get("dagster/asset_partition_range_end") == day.isoformat()]
            run = min(cands, key=lambda r: r["creationTime"]) if cands else None
            if run:
                log(f"[{p.label}] run {run['runId'][:8]} created {run['creationTime'] - pub_wall:+.1f} s "
                    "after publication")
        if status_ts is None:
            rows = p.sql("SELECT extract(epoch FROM updated_at)::float8 FROM partition_status "
                         "WHERE asset = 'ohlcv' AND partition_date = %s AND status = 'loaded'", (day,))
            status_ts = rows[0][0] if rows else None
        if mat_ts is None:
            mats = p.gql(MATERIALIZATION, {"key": {"path": ["ohlcv"]}, "partitions": [day.isoformat()]})
            events = (mats["assetOrError"] or {}).get("assetMaterializations") or []
            if events:
                mat_ts = int(events[0]["timestamp"]) / 1000
                log(f"[{p.label}] ohlcv {day} materialized {mat_ts - pub_wall:.1f} s after publication")
        if run is not None:
            run = next((r for r in p.gql.runs(runIds=[run["runId"]])), run)
            if mat_ts and run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                break
        time.sleep(1)

    ticks = sorted(p.ticks(PRICES_SENSOR), key=lambda t: t["timestamp"])
    since_start = [t for t in ticks if t["timestamp"] >= t_started - 5]
    requesting = next((t for t in since_start if run and run["runId"] in (t["runIds"] or [])), None)
    before = [t for t in since_start if requesting is None or t["timestamp"] < requesting["timestamp"]]
    last_before_pub = max((t for t in before if t["timestamp"] < pub_wall), key=lambda t: t["timestamp"], default=None)
    rel = {  # seconds after the simulated publication instant (wall clock)
        "requesting_tick_start": requesting and requesting["timestamp"] - pub_wall,
        "requesting_tick_end": requesting and requesting.get("endTimestamp") and requesting["endTimestamp"] - pub_wall,
        "run_created": run and run["creationTime"] - pub_wall,
        "run_started": run and run["startTime"] and run["startTime"] - pub_wall,
        "ohlcv_rows_committed": status_ts and status_ts - pub_wall,
        "ohlcv_materialized": mat_ts and mat_ts - pub_wall,
        "run_ended": run and run["endTime"] and run["endTime"] - pub_wall,
    }
    rel = {k: round(v, 1) if isinstance(v, float) else None for k, v in rel.items()}
    parts = {}
    order = ["requesting_tick_start", "requesting_tick_end", "run_created", "run_started",
             "ohlcv_rows_committed", "ohlcv_materialized", "run_ended"]
    prev_key, prev_val = "publication", 0.0
    for key in order:
        if rel[key] is not None:
            parts[f"{prev_key} -> {key}"] = round(rel[key] - prev_val, 1)
            prev_key, prev_val = key, rel[key]
    result = {
        "day": day.isoformat(), "warehouse_loaded_up_to": str(loaded_last) if loaded_last else None,
        "cursor_set_to": prev.isoformat(), "lead_s": lead_s,
        "publication_sim": publication.isoformat(), "publication_wall": _ts(pub_wall),
        "latency_to_ohlcv_materialized_s": rel["ohlcv_materialized"],
        "latency_to_run_success_s": rel["run_ended"] if run and run["status"] == "SUCCESS" else None,
        "run_id": run and run["runId"], "run_status": run and run["status"],
        "run_partition": run and (run["tags"].get("dagster/partition")
                                  or f"{run['tags'].get('dagster/asset_partition_range_start')}.."
                                     f"{run['tags'].get('dagster/asset_partition_range_end')}"),
        "seconds_after_publication": rel, "parts": parts,
        "last_tick_before_publication_s": last_before_pub and round(last_before_pub["timestamp"] - pub_wall, 1),
        "ticks_since_start": [{"at_s": round(t["timestamp"] - pub_wall, 1), "status": t["status"],
                               "runs": len(t["runIds"] or []), "skip": t["skipReason"],
                               "error": (t.get("error") or {}).get("message", "")[:300] or None}
                              for t in since_start],
        "median_tick_interval_s": _median([b["timestamp"] - a["timestamp"] for a, b in
                                           zip(since_start, since_start[1:], strict=False)]),
        "timed_out": mat_ts is None,
    }
    return result


# -- report --------------------------------------------------------------------------------------
def _fmt_s(s: float | None) -> str:
    if s is None:
        return "n/a"
    return f"{s:.1f} s" if s < 120 else f"{s:.0f} s ({s / 60:.1f} min)"


def report(res: dict) -> str:
    out = ["", "quant-assets operational benchmark (through the Dagster daemon, `quant up --days 0`)",
           f"  machine: {res['machine']['cpus']} CPUs, load avg at start {res['machine']['loadavg_start']}, "
           f"end {res['machine'].get('loadavg_end')}",
           "  derived refresh (derived_refresh sensor) and the AUM/holdings sensors were PAUSED throughout;",
           "  prices_published_sensor was paused during the backfills and running for the sensor test.", ""]
    y = res.get("year_backfill")
    if y:
        w = y["warehouse"]
        out += ["1. One-year full-market backfill (ohlcv + etf_daily, default policy, "
                f"QUANT_DAYS_PER_RUN={y['days_per_run']})",
                f"   range            {y['first_day']} .. {y['last_day']} ({y['trading_days']} trading days)",
                f"   status           {y['status']}{'  (TIMED OUT)' if y['timed_out'] else ''}",
                f"   wall time        {_fmt_s(y['wall_s'])}  (launch -> backfill terminal, polled every 2 s; "
                f"launch -> last run end {_fmt_s(y['launch_to_last_run_end_s'])})",
                f"   runs             {y['runs']}  {y['statuses']}  ranges {y['ranges']}",
                f"   run overhead     launch -> first run created {_fmt_s(y['launch_to_first_run_created_s'])}, "
                f"median queued -> started {_fmt_s(y['median_queued_to_start_s'])}",
                f"   rows loaded      ohlcv_data {w['ohlcv_rows']:,} rows over {w['ohlcv_days']} dates; "
                f"etf_daily {w['etf_daily_rows']:,} rows",
                f"   partition_status {w['partition_status']}", ""]
    pp = res.get("per_partition")
    if pp:
        out += [f"2. Per-partition backfill (QUANT_DAYS_PER_RUN={pp['days_per_run']}: one run per trading day)",
                f"   range            {pp['first_day']} .. {pp['last_day']} ({pp['trading_days']} trading days)",
                f"   status           {pp['status']}{'  (TIMED OUT)' if pp['timed_out'] else ''}",
                f"   wall time        {_fmt_s(pp['wall_s'])} measured; runs {pp['runs']} {pp['statuses']}",
                f"   per partition    {pp['s_per_partition']:.1f} s/partition; median run {_fmt_s(pp['median_run_duration_s'])}"
                f", median queued -> started {_fmt_s(pp['median_queued_to_start_s'])}",
                f"   rows loaded      ohlcv_data {pp['warehouse']['ohlcv_rows']:,} rows over "
                f"{pp['warehouse']['ohlcv_days']} dates",
                f"   EXTRAPOLATED     {pp['extrapolated_year_days']} trading days x {pp['s_per_partition']:.1f} s = "
                f"{_fmt_s(pp['extrapolated_year_wall_s'])}  (not measured; linear extrapolation)"]
        if pp.get("steady_s_per_partition"):
            out.append(f"   EXTRAPOLATED     steady state: {pp['fixed_overhead_s']:.0f} s one-time + "
                       f"{pp['extrapolated_year_days']} x {pp['steady_s_per_partition']:.1f} s (first run created -> "
                       f"last run ended / days) = {_fmt_s(pp['extrapolated_year_wall_steady_s'])}  (not measured)")
        if y and y.get("wall_s"):
            out.append(f"   vs ranged        {pp['extrapolated_year_wall_s'] / y['wall_s']:.0f}x the measured "
                       f"one-year ranged backfill ({_fmt_s(y['wall_s'])})")
        out.append("")
    s = res.get("sensor")
    if s:
        out += [f"3. Sensor-to-done latency for one new trading day ({s['day']}, published 15:45:00 KST sim time)",
                f"   warehouse        data up to {s['warehouse_loaded_up_to']}; sensor cursor set to "
                f"{s['cursor_set_to']}; sim clock set {s['lead_s']:.0f} s before publication",
                f"   LATENCY          publication -> ohlcv {s['day']} materialized: "
                f"{_fmt_s(s['latency_to_ohlcv_materialized_s'])}; -> run success: "
                f"{_fmt_s(s['latency_to_run_success_s'])}  (run {s['run_status']}, partition {s['run_partition']})",
                f"   last sensor tick before publication at {s['last_tick_before_publication_s']} s "
                "(the wait for the next tick is 0-60 s by design: minimum_interval_seconds=60)",
                "   parts:"]
        out += [f"     {k:<55} {v:6.1f} s" for k, v in s["parts"].items()]
        wait, done = s["seconds_after_publication"]["requesting_tick_start"], s["latency_to_ohlcv_materialized_s"]
        if wait is not None and done is not None:
            every = s["median_tick_interval_s"] or 60.0
            out.append(f"   i.e. sensor wait {wait:.1f} s (phase of the tick interval) + tick -> ohlcv materialized "
                       f"{done - wait:.1f} s; with a uniformly random phase expect ~{done - wait + every / 2:.0f} s, "
                       f"worst ~{done - wait + every:.0f} s (ticks came every {every:.0f} s)")
        out.append("")
    for pl in res.get("platforms", []):
        out.append(f"  platform {pl['label']}: up in {pl['startup'].get('code_location_loaded_s')} s; "
                   f"shutdown {pl['shutdown']}")
    if res.get("errors"):
        out += ["", "  ERRORS:"] + [f"    {e}" for e in res["errors"]]
    return "\n".join(out)


# -- main ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_ops", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated subset of {', '.join(SECTIONS)} (default: all)")
    ap.add_argument("--year-days", type=int, default=250, help="trading days of the ranged backfill (default 250)")
    ap.add_argument("--per-partition-days", type=int, default=20,
                    help="trading days of the one-run-per-day backfill (default 20)")
    ap.add_argument("--sensor-lead", type=float, default=90.0,
                    help="seconds of simulated time between setting the clock and 15:45 (default 90)")
    ap.add_argument("--port-base", type=int, default=3410, help="Dagster UI ports used: base, base+1 (default 3410)")
    ap.add_argument("--sim-port-base", type=int, default=8810, help="simulator ports: base, base+1 (default 8810)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="per measurement, seconds (default 3600)")
    ap.add_argument("--keep", action="store_true", help="leave the platform(s) up (and their QUANT_HOME) at the end")
    ap.add_argument("--out", default=None, help="JSON output (default: $QUANT_HOME/bench_ops.json)")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    out = Path(args.out) if args.out else config.quant_home() / "bench_ops.json"

    res: dict = {"started": dt.datetime.now(KST).isoformat(timespec="seconds"), "sections": only,
                 "args": vars(args), "git_commit": _git_commit(),
                 "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                             "loadavg_start": [round(x, 2) for x in os.getloadavg()]},
                 "platforms": [], "errors": []}
    platforms: list[Platform] = []
    try:
        if "backfill" in only or "sensor" in only:
            a = Platform("ranged", args.port_base, args.sim_port_base)
            platforms.append(a)
            a.start()
            a.quiesce(LOAD_SENSORS + (PRICES_SENSOR,))
            last_day, sensor_day = plan_days(a)
            res["days"] = {"load_up_to": last_day.isoformat(), "sensor_day": sensor_day.isoformat()}
            if "backfill" in only:
                res["year_backfill"] = measure_year(a, last_day, args.year_days, args.timeout)
                a.wait_idle()
            if "sensor" in only:
                res["sensor"] = measure_sensor(a, sensor_day, args.sensor_lead, args.timeout)
            if not args.keep:
                a.stop()
        if "per-partition" in only:
            b = Platform("per_partition", args.port_base + 1, args.sim_port_base + 1, {"QUANT_DAYS_PER_RUN": "1"})
            platforms.append(b)
            b.start()
            b.quiesce(LOAD_SENSORS + (PRICES_SENSOR,))
            last_day, _ = plan_days(b)
            res["per_partition"] = measure_per_partition(b, last_day, args.per_partition_days, args.year_days,
                                                         args.timeout)
            if not args.keep:
                b.stop()
    except (Exception, KeyboardInterrupt) as exc:
        res["errors"].append(f"{type(exc).__name__}: {exc}")
        log(f"ERROR: {type(exc).__name__}: {exc}")
    finally:
        for pl in platforms:
            if not args.keep:
                with contextlib.suppress(Exception):
                    pl.stop()
            res["platforms"].append({"label": pl.label, "home": str(pl.home), "ui": pl.ui, "sim": pl.sim,
                                     "env": pl.extra_env, "startup": pl.startup, "shutdown": pl.shutdown})
        res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        res["finished"] = dt.datetime.now(KST).isoformat(timespec="seconds")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2, default=str), encoding="utf-8")
        print(report(res))
        print(f"\nJSON: {out}")
        if args.keep:
            for pl in platforms:
                print(f"left running: {pl.label} {pl.ui} (QUANT_HOME={pl.home}); stop: kill -TERM {pl.proc.pid}")
    return 1 if res["errors"] else 0


def _git_commit() -> str | None:
    with contextlib.suppress(Exception):
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    return None


if __name__ == "__main__":
    raise SystemExit(main())
