"""Running the KR graph for the ten-year benchmark the way `quant backfill` does (benchmarks/history.py).

A backfill of the whole graph runs each asset's partitions as its backfill policy allows (ingest:
ranged runs of up to 250 days; derived: one run per range), an asset once its parents are loaded,
at most two runs at a time (dagster.yaml: `dagster/backfill` runs limit 2), each run its own
process (the run launcher's), and steps of one pool one at a time (`krx`: one live login per
account). `run_graph` reproduces exactly that with a pool of two worker processes, so the wall
time the benchmark reports is the one a user's `quant backfill --years 10` would see on the same
machine; `GraphRunner.run` is one asset's runs, in-process (etf_list, holdings, the peer check).
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import multiprocessing
import sys
import time
from dataclasses import dataclass, field

perf = time.perf_counter
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # per-day events would flood stderr
BACKFILL_RUNS_AT_ONCE = 2   # dagster.yaml tag_concurrency_limits dagster/backfill


def log(msg: str) -> None:
    print(f"[bench-history {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Endpoints:
    """Where the sources answer (the simulator's process): what a worker process needs of `sim`."""

    krx_url: str
    kis_url: str


def resources(sim: Endpoints, url: str) -> dict:
    from quant_assets.resources.kis import KISClient
    from quant_assets.resources.krx import KRXClient
    from quant_assets.resources.warehouse import Warehouse

    return {"krx": KRXClient(base_url=sim.krx_url, requests_per_second=200.0),
            "kis": KISClient(base_url=sim.kis_url), "warehouse": Warehouse(database_url=url)}


class GraphRunner:
    """Materialises one asset selection the way its backfill policy would: ranged runs, in order."""

    def __init__(self, sim: Endpoints, url: str):
        from quant_assets.definitions import defs

        self.graph = defs.resolve_asset_graph()
        self.resources = resources(sim, url)
        self.by_key = {}
        for assets_def in defs.assets or []:
            for key in assets_def.keys:
                self.by_key[key.to_user_string()] = assets_def

    def run(self, selection: list[str], days: list[dt.date]) -> dict:
        """Run `selection` over the partitions of its own partitioning that cover `days`."""
        import dagster as dg

        node = self.graph.get(dg.AssetKey(selection[0]))
        assets_def = self.by_key[selection[0]]
        keys = covering_keys(node.partitions_def, days)
        policy = node.backfill_policy
        per_run = (policy.max_partitions_per_run if policy is not None else None) or len(keys) or 1
        chunks = [keys[i:i + per_run] for i in range(0, len(keys), per_run)] if keys else [[]]
        t0, failures = perf(), []
        for chunk in chunks:
            tags = {} if not chunk else (
                {"dagster/partition": chunk[0]} if len(chunk) == 1 else
                {"dagster/asset_partition_range_start": chunk[0], "dagster/asset_partition_range_end": chunk[-1]})
            result = dg.materialize([assets_def], selection=[dg.AssetKey(k) for k in selection],
                                    resources=self.resources, tags=tags, raise_on_error=False,
                                    run_config=QUIET)
            if not result.success:
                failures.append(f"{chunk[:1]}..{chunk[-1:]}")
        seconds = perf() - t0
        return {"assets": selection, "partitions": len(keys), "runs": len(chunks), "seconds": round(seconds, 3),
                "ms_per_trading_day": round(1000 * seconds / max(len(days), 1), 2), "failed_runs": failures}


def covering_keys(partitions_def, days: list[dt.date]) -> list[str]:
    """Partition keys of `partitions_def` whose window contains one of `days` (the trading days
    themselves; the months/quarters/years containing them)."""
    if partitions_def is None or not days:
        return []
    import dagster as dg
    import pandas as pd

    tz = partitions_def.timezone
    first = partitions_def.get_partition_key_range_for_time_window(dg.TimeWindow(
        pd.Timestamp(days[0], tz=tz).to_pydatetime(), pd.Timestamp(days[0] + dt.timedelta(days=1), tz=tz).to_pydatetime()))
    start = partitions_def.time_window_for_partition_key(first.start).start
    end = pd.Timestamp(days[-1] + dt.timedelta(days=1), tz=tz).to_pydatetime()
    return list(partitions_def.get_partition_keys_in_time_window(dg.TimeWindow(start, end)))


# -- the graph, two runs at a time -------------------------------------------------------------
@dataclass
class Task:
    """One asset selection's runs: started once every task feeding it has ended, never beside a
    task of the same pool."""

    name: str
    selection: list[str]
    pool: str | None = None
    parents: set[str] = field(default_factory=set)


def plan(runner: GraphRunner, selections: list[tuple[str, list[str]]]) -> list[Task]:
    """Tasks for `selections` (in priority order), with their parents and pools from the asset graph."""
    import dagster as dg

    owner = {key: name for name, keys in selections for key in keys}
    tasks = []
    for name, keys in selections:
        parents = {owner[p.to_user_string()] for key in keys
                   for p in runner.graph.get(dg.AssetKey(key)).parent_keys if p.to_user_string() in owner}
        tasks.append(Task(name, keys, runner.by_key[keys[0]].op.pool, parents - {name}))
    return tasks


_WORKER: GraphRunner | None = None


def _start_worker(endpoints: Endpoints, url: str) -> None:
    global _WORKER
    _WORKER = GraphRunner(endpoints, url)


def _run_in_worker(selection: list[str], days: list[dt.date]) -> dict:
    return _WORKER.run(selection, days)


def run_graph(endpoints: Endpoints, url: str, tasks: list[Task], days: list[dt.date],
              workers: int = BACKFILL_RUNS_AT_ONCE) -> dict[str, dict]:
    """Run `tasks` over `days` in `workers` processes, as a backfill of the graph would; each task's
    result carries when it started and ended (seconds from the start) to show what overlapped."""
    results: dict[str, dict] = {}
    pending, running = list(tasks), {}
    t0 = perf()
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start_worker,
                                initargs=(endpoints, url)) as pool:
        while pending or running:
            busy = {t.pool for t, _ in running.values() if t.pool}
            for task in list(pending):
                if len(running) >= workers:
                    break
                if task.parents <= results.keys() and (task.pool is None or task.pool not in busy):
                    future = pool.submit(_run_in_worker, task.selection, days)
                    running[future] = (task, perf() - t0)
                    pending.remove(task)
                    if task.pool:
                        busy.add(task.pool)
                    log(f"start {task.name}")
            if not running:
                raise SystemExit(f"bench schedule: nothing can start ({[t.name for t in pending]})")
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                task, started = running.pop(future)
                results[task.name] = {**future.result(), "started_s": round(started, 1),
                                      "ended_s": round(perf() - t0, 1)}
                log(f"  {task.name}: {results[task.name]}")
    return results
