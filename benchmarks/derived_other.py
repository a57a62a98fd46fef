"""Benchmark: cost per trading day of the derived assets `technical_analysis`, `etf_tracking`,
`ohlcv_monthly/quarterly/yearly` (and the write side of `stock_fundamentals`) at TEN-YEAR scale.

    python -m benchmarks.derived_other [--years 10] [--ranged-days 250] [--baseline COMMIT]
                                       [--url URL] [--keep] [--out artifacts/bench_derived_other.json]

Builds ~3,500 tickers x ~2,450 trading days (8.6 M bars, 1,000 ETFs) in a scratch database
(benchmarks/derived_data.py; `--url` reuses a database already built, `--keep` keeps the scratch
one), then materialises each asset with Dagster exactly as a run would - one partition, then a
ranged run - and reports milliseconds per trading day covered:

    ms_per_day = (wall of the run - wall of an empty partitioned asset's run) / trading days

(the empty run is Dagster's fixed cost of launching a step, which a day does not add).
`--baseline COMMIT` runs the same measurements with the assets' code of that commit (loaded from
`git show`), in the same process against the same data: before/after in one run.

`measure(url, ...)` is the entry point for benchmarks/history.py: it expects the database to hold
the data and returns {"derived_ms_per_day": {asset: ms}, ...}. Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psycopg

from benchmarks.derived_data import build
from quant_assets.calendar import trading_days
from quant_assets.resources.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[1]
perf = time.perf_counter


def log(msg: str) -> None:
    print(f"[derived_other {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the code under test: this checkout's, or a commit's ---------------------------------------
def _module_at(commit: str, path: str, name: str):
    """Module `path` as of `commit` (git show), importable beside today's package."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"], check=True, capture_output=True,
                            text=True).stdout
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module     # dataclasses resolve their module by name
    exec(compile(source, f"{commit[:8]}:{path}", "exec"), module.__dict__)
    return module


def _technical_at(commit: str, tag: str):
    """technical.py of `commit` with that commit's technical_io.py (their write protocol changes
    together), when it has one."""
    current_io = sys.modules.get("quant_assets.assets.technical_io")
    with contextlib.suppress(subprocess.CalledProcessError):   # a commit before technical_io.py
        sys.modules["quant_assets.assets.technical_io"] = _module_at(
            commit, "quant_assets/assets/technical_io.py", f"_bench_{tag}_technical_io")
    try:
        return _module_at(commit, "quant_assets/assets/technical.py", f"_bench_{tag}_technical")
    finally:
        if current_io is not None:
            sys.modules["quant_assets.assets.technical_io"] = current_io


def assets_of(commit: str | None) -> dict:
    if commit is None:
        from quant_assets.assets import aggregates, etf, technical
    else:
        import quant_assets.tracking as current_tracking

        tag = commit[:8]
        aggregates = _module_at(commit, "quant_assets/assets/aggregates.py", f"_bench_{tag}_aggregates")
        technical = _technical_at(commit, tag)
        # etf.py imports the tracking maths by name: give it that commit's tracking.py
        sys.modules["quant_assets.tracking"] = _module_at(commit, "quant_assets/tracking.py", f"_bench_{tag}_tracking")
        try:
            etf = _module_at(commit, "quant_assets/assets/etf.py", f"_bench_{tag}_etf")
        finally:
            sys.modules["quant_assets.tracking"] = current_tracking
    return {"technical_analysis": technical.technical_analysis, "etf_tracking": etf.etf_tracking,
            "ohlcv_monthly": aggregates.ohlcv_monthly, "ohlcv_quarterly": aggregates.ohlcv_quarterly,
            "ohlcv_yearly": aggregates.ohlcv_yearly}


def _materialize(asset, warehouse: Warehouse, keys: list[str]) -> float:
    tags = ({"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
            if len(keys) > 1 else {})
    t = perf()
    result = dg.materialize([asset], resources={"warehouse": warehouse}, instance=dg.DagsterInstance.ephemeral(),
                            partition_key=keys[0] if len(keys) == 1 else None, tags=tags, raise_on_error=False)
    wall = perf() - t
    if not result.success:
        raise RuntimeError(f"{asset.key.to_user_string()} {keys[0]}..{keys[-1]} failed")
    return wall


def dagster_overhead(warehouse: Warehouse, key: str, repeats: int = 3) -> float:
    """Wall of a partitioned asset that does nothing: Dagster's fixed cost per run."""

    @dg.asset(partitions_def=dg.StaticPartitionsDefinition([key]), name="bench_noop")
    def noop(warehouse: Warehouse) -> None:
        return None

    return min(_materialize(noop, warehouse, [key]) for _ in range(repeats))


def _bucket_keys(asset, first: dt.date, last: dt.date) -> list[str]:
    pdef = asset.partitions_def
    return [k for k in pdef.get_partition_keys()
            if first <= pdef.time_window_for_partition_key(k).start.date() <= last]


ASSETS = ("technical_analysis", "etf_tracking", "ohlcv_monthly", "ohlcv_quarterly", "ohlcv_yearly")


def measure(url: str, *, ranged_days: int = 250, baseline: str | None = None, last: dt.date | None = None,
            fundamentals: bool = True, assets: tuple[str, ...] = ASSETS, current: bool = True) -> dict:
    """ms per trading day of each asset on the data in `url` (one-partition and ranged runs), for
    this checkout and, with `baseline`, for that commit's code."""
    saved = os.environ.get("QUANT_DATABASE_URL")
    os.environ["QUANT_DATABASE_URL"] = url     # metadata helpers read the catalogue of "the" market database
    try:
        warehouse = Warehouse(database_url=url)
        with psycopg.connect(url) as conn:
            last = last or conn.execute("SELECT max(date) FROM ohlcv_data WHERE region = 'KR'").fetchone()[0]
        days = trading_days(last - dt.timedelta(days=ranged_days * 2), last)[-ranged_days:]
        overhead = dagster_overhead(warehouse, days[-1].isoformat())
        log(f"Dagster's fixed cost per run: {overhead * 1000:.0f} ms; days {days[0]}..{days[-1]}")
        out = {"dagster_run_overhead_ms": round(overhead * 1000, 1), "ranged_days": [str(days[0]), str(days[-1])],
               "code": {}}
        runs = ((("current", None),) if current else ()) + ((("baseline", baseline),) if baseline else ())
        for label, commit in runs:
            try:
                code = assets_of(commit)
            except Exception as exc:   # a commit's module that today's Dagster refuses to load
                out["code"][label] = {"commit": commit, "error": f"{type(exc).__name__}: {exc}"[:300]}
                log(f"{label}: cannot load the assets of {commit}: {exc}")
                continue
            out["code"][label] = {"commit": commit or _git_commit(), "assets": _measure_code(
                code, warehouse, days, overhead, assets)}
        if current:
            out["derived_ms_per_day"] = {name: r["ranged"]["ms_per_day"] for name, r in
                                         out["code"]["current"]["assets"].items()}
        if fundamentals:
            out["stock_fundamentals"] = measure_fundamentals(url)
        return out
    finally:
        if saved is None:
            os.environ.pop("QUANT_DATABASE_URL", None)
        else:
            os.environ["QUANT_DATABASE_URL"] = saved


def _run(asset, warehouse: Warehouse, keys: list[str], n_days: int, overhead: float) -> dict:
    wall = _materialize(asset, warehouse, keys)
    return {"partitions": len(keys), "trading_days": n_days, "wall_s": round(wall, 2),
            "ms_per_day": round(max(wall - overhead, 0) * 1000 / max(n_days, 1), 1)}


def _measure_code(assets: dict, warehouse: Warehouse, days: list[dt.date], overhead: float,
                  names: tuple[str, ...] = ASSETS) -> dict:
    res = {}
    keys = [d.isoformat() for d in days]
    for name in [n for n in ("technical_analysis", "etf_tracking") if n in names]:
        asset = assets[name]
        ranged = _run(asset, warehouse, keys, len(keys), overhead)
        one = _run(asset, warehouse, keys[-1:], 1, overhead)
        res[name] = {"one_day": one, "ranged": ranged}
        log(f"{name}: one day {one['ms_per_day']} ms, {len(keys)}-day range {ranged['ms_per_day']} ms/day")
    for name in [n for n in ("ohlcv_monthly", "ohlcv_quarterly", "ohlcv_yearly") if n in names]:
        asset = assets[name]
        buckets = _bucket_keys(asset, days[0], days[-1])
        pdef = asset.partitions_def
        if name != "ohlcv_yearly" and len(buckets) > 1:
            buckets = buckets[1:]     # whole buckets only (the first may start before the range)
        span = [pdef.time_window_for_partition_key(k) for k in buckets]
        n_days = len(trading_days(span[0].start.date(), span[-1].end.date() - dt.timedelta(days=1)))
        ranged = _run(asset, warehouse, buckets, n_days, overhead)
        window = span[-1]
        one_days = len(trading_days(window.start.date(), window.end.date() - dt.timedelta(days=1)))
        one = _run(asset, warehouse, buckets[-1:], one_days, overhead)
        one["ms_per_bucket"] = round(one["ms_per_day"] * one_days, 1)
        res[name] = {"one_bucket": one, "ranged": ranged}
        log(f"{name}: one bucket {one['ms_per_bucket']} ms ({one['ms_per_day']} ms/day), {len(buckets)} buckets "
            f"{ranged['ms_per_day']} ms/day")
    return res


def measure_fundamentals(url: str, n_days: int = 5) -> dict:
    """Where a `stock_fundamentals` day goes, against the full-size simulator over HTTP: the
    request + JSON (the source), parsing (parsing.py), our frame + pandera, our write
    (replace_partition into ticker_fundamentals). ms per day, median of `n_days` days."""
    import statistics

    from quant_assets.assets.fundamentals import REGION, TABLE, daily_rows
    from quant_assets.resources import parsing as P
    from quant_assets.resources.krx import STAT, KRXClient
    from quant_assets.schemas.derived import DailyFundamentalsSchema
    from quant_assets.schemas.validation import validate
    from quant_assets.simulator import SimConfig, SimulatorServer

    log("fundamentals: building the full-size simulator")
    srv = SimulatorServer(SimConfig(size="full")).start()
    try:
        krx = KRXClient(base_url=srv.krx_url, requests_per_second=1000)
        latest = srv.krx.pub.latest_t("prices")
        days = [d for d in srv.market.dates[: latest + 1] if srv.market.is_trading_day(d)][-n_days:]
        warehouse = Warehouse(database_url=url)
        warehouse.ensure_month_partitions(TABLE, days)
        krx.stock_fundamentals(days[0])   # login + keep-alive
        parts: dict[str, list[float]] = {"fetch_ms": [], "parse_ms": [], "frame_and_validate_ms": [], "write_ms": []}
        rows = 0
        for day in days:
            ymd = day.strftime("%Y%m%d")
            t0 = perf()
            payload = krx.fetch(STAT + P.STOCK_FUNDAMENTALS, {"mktId": "ALL", "trdDd": ymd},
                                dataset=P.STOCK_FUNDAMENTALS, date=ymd)
            t1 = perf()
            raw = P.parse_stock_fundamentals(payload, ymd)
            t2 = perf()
            frame = validate(DailyFundamentalsSchema, daily_rows(raw), dataset="stock_fundamentals", date=str(day))
            t3 = perf()
            rows = warehouse.replace_partition(TABLE, frame, where={"region": REGION, "period_type": "DAILY",
                                                                    "date": day})
            t4 = perf()
            for key, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                parts[key].append(value * 1000)
        out = {key: round(statistics.median(v), 1) for key, v in parts.items()}
        out["rows_per_day"] = rows
        out["ours_ms"] = round(out["frame_and_validate_ms"] + out["write_ms"], 1)
        log(f"fundamentals: {out}")
        return out
    finally:
        srv.stop()


def _git_commit() -> str | None:
    with contextlib.suppress(Exception):
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=True, capture_output=True,
                              text=True).stdout.strip()
    return None


def _scratch():
    try:
        from benchmarks.bench import scratch_database
    except ImportError:   # older layout
        from quant_assets.bench import scratch_database
    return scratch_database


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--years", type=int, default=10, help="years of synthetic history (default 10)")
    ap.add_argument("--ranged-days", type=int, default=250, help="trading days of the ranged runs (default 250)")
    ap.add_argument("--baseline", help="also measure the assets' code of this git commit (before/after)")
    ap.add_argument("--url", help="use this database, already built (skip the build)")
    ap.add_argument("--build-only", action="store_true", help="build the data into --url and stop")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    ap.add_argument("--no-fundamentals", action="store_true", help="skip stock_fundamentals (needs the simulator)")
    ap.add_argument("--assets", default=",".join(ASSETS), help="comma-separated subset of " + ", ".join(ASSETS))
    ap.add_argument("--baseline-only", action="store_true", help="with --baseline: skip this checkout's code")
    ap.add_argument("--out", default="artifacts/bench_derived_other.json", help="JSON output path")
    args = ap.parse_args(argv)
    result: dict = {"started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    if args.url:
        if args.build_only:
            result["data"] = build(args.url, args.years, log=log)
            print(json.dumps(result["data"]))
            return 0
        result.update(measure(args.url, ranged_days=args.ranged_days, baseline=args.baseline,
                              fundamentals=not args.no_fundamentals, assets=tuple(args.assets.split(",")),
                              current=not args.baseline_only))
    else:
        with _scratch()(keep=args.keep) as url:
            result["data"] = build(url, args.years, log=log)
            log(f"data: {result['data']}")
            result.update(measure(url, ranged_days=args.ranged_days, baseline=args.baseline,
                                  fundamentals=not args.no_fundamentals, assets=tuple(args.assets.split(",")),
                                  current=not args.baseline_only))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    for label, code in result["code"].items():
        for name, r in code.get("assets", {}).items():
            single = r.get("one_day") or r.get("one_bucket")
            print(f"{label:8} {name:20} one partition {single['ms_per_day']:>8} ms/day   "
                  f"ranged ({r['ranged']['partitions']} partitions) {r['ranged']['ms_per_day']:>8} ms/day")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
