"""Measure what the global-markets assets cost the KIS budget, against the simulator's counters.

    QUANT_HOME=/tmp/overseas-budget .venv/bin/python scripts/overseas_budget.py [--years 1]

Runs the real assets (Dagster materialize, real embedded PostgreSQL, KISClient over HTTP to the
bundled simulator) and reads the simulator's per-TR request counters:
  1. the five universes (master downloads + price-detail of the index members);
  2. one day of every region (bars + indices) and of the exchange rates = calls per day;
  3. a ranged backfill of `--years` of every region, FX and indices: calls and wall time;
  4. ten years of ONE member per region and of every index/FX series through the client, giving
     calls per symbol-decade; multiplied by the member counts for the 10-year total.
Prints one JSON object. The 20 req/s KIS limit (19 in our limiter) bounds wall time from below.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QUANT_HOME", tempfile.mkdtemp(prefix="overseas-budget-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg  # noqa: E402

from quant_assets import database, migrations  # noqa: E402
from quant_assets.assets.overseas import bars, calendars, fx, indices, universe  # noqa: E402
from quant_assets.resources.kis import KISClient  # noqa: E402
from quant_assets.resources.warehouse import Warehouse  # noqa: E402
from quant_assets.simulator import SimConfig, SimulatorServer  # noqa: E402

TRS = ("HHDFS76240000", "FHKST03030100", "HHDFS76200200", "master", "tokenP")


def counts(sim) -> dict:
    return {tr: sim.stats.get(f"kis:{tr}", 0) for tr in TRS}


def diff(after: dict, before: dict) -> dict:
    out = {k: after[k] - before[k] for k in after if after[k] - before[k]}
    out["total"] = sum(v for k, v in out.items() if k != "tokenP")
    return out


def keys_between(pdef, lo: dt.date, hi: dt.date) -> list[str]:
    return [k for k in pdef.get_partition_keys() if lo.isoformat() <= k <= hi.isoformat()]


def materialize(assets, resources, keys) -> bool:
    if len(keys) == 1:
        return dg.materialize(assets, resources=resources, partition_key=keys[0], raise_on_error=False).success
    tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    return dg.materialize(assets, resources=resources, tags=tags, raise_on_error=False).success


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--years", type=float, default=1.0)
    ap.add_argument("--skip-decade", action="store_true")
    ap.add_argument("--only-decade", action="store_true", help="step 4 only (no database needed)")
    args = ap.parse_args()
    url = None if args.only_decade else database.database_url()
    if url:
        migrations.migrate(url)
    sim = SimulatorServer(SimConfig(size="small"), port=0).start()
    out: dict = {"machine_load_1min": os.getloadavg()[0]}
    try:
        t0 = time.perf_counter()
        _ = sim.kis.overseas.m
        out["simulator_overseas_build_s"] = round(time.perf_counter() - t0, 1)
        res = {"kis": KISClient(base_url=sim.kis_url, token_cache_dir=os.environ["QUANT_HOME"] + "/tokens"),
               "warehouse": Warehouse(database_url=url) if url else None}
        out["members"] = {r: len(universe.index_members(r)) for r in calendars.REGIONS}
        today = sim.market.end_date
        if not args.only_decade:
            run_assets(sim, res, out, today, args.years)
        if not args.skip_decade:
            out["ten_years"] = decade(sim, res["kis"], out, today)
    finally:
        sim.stop()
        if url:
            database.stop_embedded()
    print(json.dumps(out, indent=1, default=str))


def run_assets(sim, res, out, today, years) -> None:
    """Steps 1-3: universes, one day per region and FX, a ranged backfill."""
    c0 = counts(sim)
    for r in calendars.REGIONS:
        assert dg.materialize([universe.UNIVERSE_ASSETS[r]], resources=res).success
    out["universes"] = diff(counts(sim), c0)
    per_day, ok = {}, True
    for r in calendars.REGIONS:
        day = keys_between(calendars.partitions(r), today - dt.timedelta(days=20), today - dt.timedelta(days=3))[-1]
        c = counts(sim)
        ok &= materialize([bars.OHLCV_ASSETS[r], indices.INDEX_ASSETS[r]], res, [day])
        per_day[r] = diff(counts(sim), c)
    day = keys_between(fx.exchange_rate_history.partitions_def, today - dt.timedelta(days=20),
                       today - dt.timedelta(days=3))[-1]
    c = counts(sim)
    ok &= materialize([fx.exchange_rate_history], res, [day])
    per_day["FX"] = diff(counts(sim), c)
    out["one_day"] = per_day
    out["one_day_total_calls"] = sum(v["total"] for v in per_day.values())
    out["one_day_ok"] = bool(ok)

    hi = today - dt.timedelta(days=30)
    lo = hi - dt.timedelta(days=int(365 * years))
    c, t = counts(sim), time.perf_counter()
    results = {}
    for r in calendars.REGIONS:
        ks = keys_between(calendars.partitions(r), lo, hi)
        results[r] = (len(ks), materialize([bars.OHLCV_ASSETS[r], indices.INDEX_ASSETS[r]], res, ks))
    ks = keys_between(fx.exchange_rate_history.partitions_def, lo, hi)
    results["FX"] = (len(ks), materialize([fx.exchange_rate_history], res, ks))
    out["backfill"] = {"years": years, "from": lo.isoformat(), "to": hi.isoformat(),
                       "wall_s": round(time.perf_counter() - t, 1), "calls": diff(counts(sim), c),
                       "partitions": {k: v[0] for k, v in results.items()},
                       "ok": {k: v[1] for k, v in results.items()}}
    rows = res["warehouse"].read_frame(
        "SELECT region, count(*) AS n FROM ohlcv_data WHERE region <> 'KR' GROUP BY region ORDER BY region")
    out["backfill"]["ohlcv_rows"] = dict(zip(rows["region"], rows["n"].astype(int), strict=True))


def decade(sim, kis, out, today) -> dict:
    end = today - dt.timedelta(days=3)
    start = end - dt.timedelta(days=3652)
    result = {}
    t = time.perf_counter()
    for r in calendars.REGIONS:
        excd, symbol = universe.index_members(r)[0]
        c = counts(sim)
        kis.overseas_daily(excd, symbol, start, end)
        kis.overseas_daily(excd, symbol, start, end, adjusted=True)
        per_symbol = diff(counts(sim), c)["total"]
        result[r] = {"calls_per_member": per_symbol, "members": out["members"][r],
                     "calls": per_symbol * out["members"][r]}
    series = SERIES_ALL(kis)   # frgn_code.mst downloads are not chart calls: resolved before counting
    c = counts(sim)
    for kind, symbol in series:
        kis.overseas_chart(kind, symbol, start, end)
    result["indices_fx"] = {"calls": diff(counts(sim), c)["total"]}
    result["total_calls"] = sum(v["calls"] for v in result.values())
    result["hours_at_19_per_s"] = round(result["total_calls"] / 19 / 3600, 2)
    result["sample_wall_s"] = round(time.perf_counter() - t, 1)
    return result


def SERIES_ALL(kis):  # noqa: N802 - reads like a constant
    """(market division, symbol) of every index and FX series, as the assets resolve them."""
    return [("N", s) for r in calendars.REGIONS for s, _ in indices.resolve_indices(kis, r)] + \
        [("X", s) for s in fx.resolve_fx(kis).values()]


if __name__ == "__main__":
    main()
