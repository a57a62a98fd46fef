"""Smoke test of `python -m benchmarks.bench` at toy sizes: it runs end to end and reports.

No timing is asserted here: performance numbers come from the bench itself (`make bench`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import psycopg

from benchmarks import bench


def test_synthetic_holdings_are_consistent():
    days = [dt.date(2025, 3, 3), dt.date(2025, 3, 4)]
    h = bench.make_holdings(12, 8, days, n_stocks=40, n_foreign=10, n_bonds=5, seed=1)
    for t in range(len(days)):
        v = h.day(t)
        sums = np.add.reduceat(v["weight_pct"], h.starts)
        assert np.allclose(sums, 100.0)
        for e, start in enumerate(h.starts):
            k = int((h.line_etf == e).sum())
            assert sorted(v["rank"][start:start + k]) == list(range(1, k + 1))
    n, text = h.csv(0, 2)
    lines = text.splitlines()
    assert n == len(lines) == 2 * h.lines_per_day
    assert {len(line.split(",")) for line in lines} == {len(bench.HOLDINGS_COLUMNS)}


def test_bench_runs_end_to_end_at_toy_size(database_url, tmp_path):
    # `database_url` starts the session's embedded server first, so the bench does not stop it.
    scale = dataclasses.replace(
        bench.QUICK, name="toy", holdings_etfs=30, holdings_lines=10, holdings_days=4, holdings_window=2,
        holdings_keys=3, ohlcv_stocks=20, ohlcv_etfs=5, refresh_months=1, refresh_repeats=1, point_keys=2)
    res = bench.run(scale, ["holdings", "aggregates"])
    h = res["holdings"]
    assert h["rows"] == h["lines_per_day"] * 4
    for q in h["queries"].values():
        assert q["keys"] >= 3 and q["server_execution"]["n"] == q["keys"]
    a = res["aggregates"]
    assert a["rows"] == 25 * a["days"]
    assert all(r["rows"] == 25 for r in a["refresh_month"].values())
    assert a["point_query"]["hot"]["rows_returned"]["median"] == a["days"]
    bench.print_report(res)
    # The scratch database is gone; the market database is untouched.
    with psycopg.connect(database_url, autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'quant_bench_%'")]
    assert names == []


def test_history_bench_runs_the_graph_as_a_backfill_would():
    # benchmarks/graph_runs.py starts an asset once its parents' runs have ended and never two
    # `krx` steps at once: the plan must carry exactly the graph's edges and pools.
    from benchmarks import history
    from benchmarks.graph_runs import Endpoints, GraphRunner, plan

    runner = GraphRunner(Endpoints("http://127.0.0.1:9/krx", "http://127.0.0.1:9/kis"), "postgresql://unused")
    tasks = {t.name: t for t in plan(runner, history.INGEST + [(n, [n]) for n in history.DERIVED])}
    assert {n for n, t in tasks.items() if t.pool == "krx"} == {"daily_prices", "stock_fundamentals", "etf_aum"}
    assert tasks["factor_scores"].parents == {"daily_prices", "adjustment_factors", "stock_fundamentals"}
    assert tasks["etf_aum"].parents == {"daily_prices"} and tasks["stock_fundamentals"].parents == set()
    assert tasks["ohlcv_monthly"].parents == {"daily_prices", "technical_analysis"}
    not_kr = [k for k in history.unplanned(runner) if not k.startswith(("overseas_", "global_", "exchange_rate"))]
    assert not_kr == [], "a KR asset the benchmark does not load"
