"""Validation cost of one full-market day: `python -m benchmarks.validation [--runs N]`.

A ranged ingest run validates every day before writing it, in the same thread that parses the
next day (assets/prefetch.py), so pandera's time is on the run's critical path. This times
`schemas.validation.validate` on one day of `ohlcv` and `etf_daily` from the full-size simulator
(in-process, fetched once through the real client), each beside the same schema with pandera's
default for whole-row checks (`ignore_na=True`, which `row_check` turns off) in the same run.
Prints and writes artifacts/bench_validation.json; min and median over `--runs`.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import statistics
import time
from pathlib import Path

perf = time.perf_counter


def frames(day: dt.date):
    from quant_assets.assets.prices import ETF_DAILY_COLUMNS, REGION, ohlcv_frame
    from quant_assets.resources.krx import KRXClient
    from quant_assets.simulator import SimConfig, SimulatorServer

    sim = SimulatorServer(SimConfig(size="full"), port=0).start()
    try:
        krx = KRXClient(base_url=sim.krx_url, requests_per_second=200.0)
        etfs, stocks = krx.etf_daily(day), krx.stock_daily(day)
    finally:
        sim.stop()
    etf_daily = etfs.assign(region=REGION)[ETF_DAILY_COLUMNS]
    return ohlcv_frame(stocks, etfs), etf_daily


def with_pandera_default(model):
    """The model's schema with every frame-level check back on pandera's `ignore_na=True`."""
    schema = copy.deepcopy(model.to_schema())
    for check in schema.checks:
        check.ignore_na = True
    return schema


def timed(schemas: dict, frame, runs: int) -> dict:
    """Each schema validated `runs` times, alternating, so a machine whose speed drifts during the
    run slows every variant alike."""
    from quant_assets.schemas.validation import validate

    times: dict[str, list[float]] = {name: [] for name in schemas}
    for schema in schemas.values():
        validate(schema, frame.copy(), dataset="bench", date=None)
    for _ in range(runs):
        for name, schema in schemas.items():
            data = frame.copy()
            t0 = perf()
            validate(schema, data, dataset="bench", date=None)
            times[name].append(1000 * (perf() - t0))
    return {name: {"min_ms": round(min(t), 2), "median_ms": round(statistics.median(t), 2)}
            for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    from quant_assets.schemas.prices import EtfDailySchema, OhlcvSchema

    ap = argparse.ArgumentParser(prog="python -m benchmarks.validation", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--day", default="2026-11-20", help="a trading day the simulator has published")
    ap.add_argument("--out", default="artifacts/bench_validation.json")
    args = ap.parse_args(argv)
    ohlcv, etf_daily = frames(dt.date.fromisoformat(args.day))
    out = {"day": args.day}
    for name, model, frame in (("ohlcv", OhlcvSchema, ohlcv), ("etf_daily", EtfDailySchema, etf_daily)):
        out[name] = {"rows": len(frame), **timed({"ours": model, "pandera_default_row_checks":
                                                  with_pandera_default(model)}, frame, args.runs)}
        print(f"{name:10} {len(frame):5} rows  ours {out[name]['ours']}  "
              f"pandera default {out[name]['pandera_default_row_checks']}")
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
