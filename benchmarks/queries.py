"""The six queries of issue #13, timed against the warehouse and against the same rows in row form.

Why a reference in the same run: the client round trip of "one ticker's ten years" is mostly the
client's own work (psycopg builds ~15,000 Decimal/date objects for 2,450 rows x 6 columns), and
this machine's speed has varied twofold between runs of the unchanged layout; an absolute number
from another day says little about the layout. So every query is timed three ways, in one run:

* `p50_ms`/`p95_ms`: as a user's first queries after a load meet it (warm plan, random keys; the
  pages of a compacted month may still have to come from the OS page cache);
* `row_layout_p50_ms`: the same statement, same keys, over an unlogged table holding exactly the
  rows those keys select, in row form, with a B-tree on the query's key columns - the layout the
  seeds describe, minus the month partitions (which only add planning), so a lower bound for it;
* `warm_p50_ms`: the warehouse again once building the reference has read those rows, so that
  `vs_row_layout` = warm / row layout compares the layouts with both in shared buffers.
"""

from __future__ import annotations

import datetime as dt
import random
import time

perf = time.perf_counter

QUERIES = {
    "one_ticker_10y": "SELECT date, open, high, low, close, volume FROM ohlcv_data "
                      "WHERE region='KR' AND ticker=%s AND timeframe='D' ORDER BY date",
    "one_date_all": "SELECT ticker, close, volume FROM ohlcv_data WHERE region='KR' AND date=%s "
                    "AND timeframe='D'",
    "monthly_10y": "SELECT month, open, high, low, close FROM ohlcv_monthly WHERE region='KR' AND ticker=%s "
                   "ORDER BY month",
    "stock_to_etfs": "SELECT etf_ticker, weight FROM etf_holdings WHERE stock_ticker=%s AND as_of_date=%s "
                     "ORDER BY weight DESC",
    "top20_factor": "SELECT ticker, score FROM factor_scores WHERE region='KR' AND date=%s AND factor_name=%s "
                    "ORDER BY score DESC LIMIT 20",
    "range_52w_all": "SELECT ticker, high_52w, low_52w FROM price_range_52w WHERE region='KR' AND date=%s",
}

# The relation each query reads, the columns its parameters bind (in order), and the row-form
# reference's index: the one a row layout would serve the query with.
REFERENCE = {
    "one_ticker_10y": ("ohlcv_data", ("ticker",), "ticker, region, timeframe, date"),
    "one_date_all": ("ohlcv_data", ("date",), "date, region, timeframe"),
    "monthly_10y": ("ohlcv_monthly", ("ticker",), "ticker, region, month"),
    "stock_to_etfs": ("etf_holdings", ("stock_ticker", "as_of_date"), "stock_ticker, as_of_date, weight DESC"),
    "top20_factor": ("factor_scores", ("date", "factor_name"), "date, factor_name, region, score DESC"),
    "range_52w_all": ("price_range_52w", ("date",), "date, region"),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def draw_keys(conn, days: list[dt.date], count: int, seed: int = 7) -> dict[str, list[list]]:
    """`count` random parameter lists per query, drawn before anything is timed."""
    rnd = random.Random(seed)
    tickers = [r[0] for r in conn.execute(
        "SELECT ticker FROM ohlcv_data WHERE region='KR' AND date=%s AND asset_type='STOCK'", [days[-1]])]
    # (day, factor) pairs that were scored: a factor needing a longer look-back than the days
    # loaded (mom_12_1, low_vol_252 in a one-year run) has no cross-section on early days, and
    # drawing those would time empty answers (a fifth of the top-20 queries of a one-year run).
    scored = [tuple(r) for r in conn.execute(
        "SELECT date, factor_name FROM factor_scores_packed WHERE region='KR' AND date = ANY(%s)",
        [days])] or [(days[-1], "none")]
    held = [tuple(r) for r in conn.execute(
        "SELECT stock_ticker, as_of_date FROM etf_holdings WHERE stock_ticker IS NOT NULL "
        "ORDER BY as_of_date DESC LIMIT 500")] or [("005930", days[-1])]

    def one(name: str) -> list:
        if name in ("one_ticker_10y", "monthly_10y"):
            return [rnd.choice(tickers)]
        if name == "stock_to_etfs":
            return list(rnd.choice(held))
        if name == "top20_factor":
            return list(rnd.choice(scored))
        return [rnd.choice(days)]

    return {name: [one(name) for _ in range(count)] for name in QUERIES}


def timed(conn, sql: str, keys: list[list]) -> tuple[list[float], int]:
    """Milliseconds per execution (fetchall included) after three untimed ones warm the plan."""
    for params in keys[:3]:
        conn.execute(sql, params).fetchall()
    times, rows = [], 0
    for params in keys[3:]:
        t0 = perf()
        rows = len(conn.execute(sql, params).fetchall())
        times.append(1000 * (perf() - t0))
    return times, rows


def build_reference(conn, name: str, keys: list[list]) -> tuple[str, str]:
    """An unlogged row-form table of exactly the rows `keys` select; returns (table, its SQL)."""
    relation, columns, index = REFERENCE[name]
    table = f"bench_ref_{name}"
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE UNLOGGED TABLE {table} (LIKE {relation})")
    match = " AND ".join(f"{c} = %s" for c in columns)
    for params in {tuple(p) for p in keys}:
        conn.execute(f"INSERT INTO {table} SELECT * FROM {relation} WHERE {match}", list(params))
    conn.execute(f"CREATE INDEX ON {table} ({index})")
    conn.execute(f"VACUUM (ANALYZE) {table}")
    return table, QUERIES[name].replace(f"FROM {relation} ", f"FROM {table} ")


def p50_p95(times: list[float]) -> tuple[float, float]:
    return round(percentile(times, 0.5), 3), round(percentile(times, 0.95), 3)


def query_latencies(url: str, days: list[dt.date], repeats: int) -> dict:
    """Client round trip per query (prepared), p50/p95 over `repeats` random keys, three ways."""
    import psycopg

    out = {}
    with psycopg.connect(url, autocommit=True, prepare_threshold=0) as conn:
        drawn = draw_keys(conn, days, repeats + 3)
        for name, sql in QUERIES.items():
            keys = drawn[name]
            times, rows = timed(conn, sql, keys)
            table, ref_sql = build_reference(conn, name, keys)
            try:
                ref_times, ref_rows = timed(conn, ref_sql, keys)
                warm_times, _ = timed(conn, sql, keys)
                same = all(sorted(conn.execute(sql, k).fetchall()) == sorted(conn.execute(ref_sql, k).fetchall())
                           for k in keys[:5])
            finally:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            p50, p95 = p50_p95(times)
            ref50, ref95 = p50_p95(ref_times)
            warm50, warm95 = p50_p95(warm_times)
            out[name] = {"p50_ms": p50, "p95_ms": p95, "runs": len(times), "rows_last": rows,
                         "warm_p50_ms": warm50, "warm_p95_ms": warm95,
                         "row_layout_p50_ms": ref50, "row_layout_p95_ms": ref95, "row_layout_rows_last": ref_rows,
                         "vs_row_layout": round(warm50 / ref50, 2) if ref50 else None,
                         "same_rows_as_row_layout": same}
    return out
