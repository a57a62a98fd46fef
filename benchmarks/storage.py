"""Compact storage benchmark: `python -m benchmarks.storage [--tickers N --years Y --etfs E]`.

Builds a ten-year-scale synthetic warehouse in a scratch database with SQL `generate_series`
(no simulator: this measures storage, not ingest), then in ONE run:

1. bytes per row of `ohlcv_data` (and `etf_holdings`) in today's layout (heap + TOAST + indexes of
   the month partitions, after VACUUM ANALYZE);
2. query latency, client round trip p50/p95 over `--runs` random keys, before compaction;
3. `compact_closed_periods` (everything before the last two months), its wall time;
4. bytes per row of the compacted months (storage_report: raw vs compacted, ratio) and the same
   queries again;
5. the write path through the view: replacing one hot day (DELETE + COPY, as Warehouse does)
   before and after conversion, and correcting one compacted day (un-compacts its month);
6. `uncompact_period` of one month and the queries' results compared before/after.

Writes artifacts/bench_storage.json. Timings are wall-clock on this machine, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from quant_assets import database, migrations
from quant_assets.resources.warehouse import Warehouse
from quant_assets.storage import compact_closed_periods, storage_report, summarise, uncompact_period

perf = time.perf_counter
INDICATORS = ["ma5", "ma20", "ma60", "ma120", "ma200", "rsi_14", "macd", "macd_signal", "macd_hist",
              "bb_upper", "bb_middle", "bb_lower", "atr_14", "volume_ma20", "volume_ratio"]


def log(msg: str) -> None:
    print(f"[storage {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A migrated scratch database next to the market database (embedded server started if needed)."""
    tmp_home = None
    if not os.environ.get("QUANT_HOME") and not os.environ.get("QUANT_DATABASE_URL"):
        tmp_home = tempfile.mkdtemp(prefix="quant-bench-storage-")
        os.environ["QUANT_HOME"] = tmp_home
    admin = database.database_url()
    name = f"quant_bench_storage_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    try:
        migrations.migrate(url)
        yield url
    finally:
        with contextlib.suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if tmp_home:
            database.stop_embedded()
            shutil.rmtree(tmp_home, ignore_errors=True)


def weekdays(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)
            if (first + dt.timedelta(days=i)).weekday() < 5]


def build_ohlcv(url: str, tickers: int, days: list[dt.date]) -> int:
    """Full-market bars with every indicator filled (as technical_analysis leaves them)."""
    Warehouse(database_url=url).ensure_month_partitions("ohlcv_data", days)
    ind = ", ".join("CASE WHEN d.i > 200 THEN round((c.close * (0.9 + 0.2 * random()))::numeric, 6)::float8 END"
                    for _ in INDICATORS)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE bench_days AS SELECT row_number() OVER (ORDER BY x) AS i, x AS date "
                     "FROM unnest(%s::date[]) x", (days,))
        for y in sorted({d.year for d in days}):
            t = perf()
            conn.execute(f"""
                INSERT INTO ohlcv_data (date, ticker, asset_type, open, high, low, close, change, change_pct, volume,
                                        value, market_cap, listed_shares, region, timeframe, {', '.join(INDICATORS)})
                SELECT d.date, lpad(t::text, 6, '0'), CASE WHEN t %% 4 = 0 THEN 'ETF' ELSE 'STOCK' END,
                       c.close - 10, c.close + 50, c.close - 60, c.close, 10, 0.25, c.vol, c.vol * c.close,
                       c.close * 1000000, 1000000, 'KR', 'D', {ind}
                  FROM bench_days d CROSS JOIN generate_series(1, %s) t
                 CROSS JOIN LATERAL (SELECT (1000 + (t * 37 + d.i * 13) %% 90000 + floor(random() * 100))::numeric AS close,
                                            (1000 + floor(random() * 1000000))::bigint AS vol) c
                 WHERE extract(year FROM d.date) = %s
                   AND NOT (t %% 97 = 0 AND d.i %% 11 = 0)""", (tickers, y))
            log(f"ohlcv {y}: {perf() - t:.1f}s")
        conn.execute("VACUUM (ANALYZE) ohlcv_data")
        return conn.execute("SELECT count(*) FROM ohlcv_data").fetchone()[0]


def build_monthly(url: str) -> None:
    from quant_assets.assets.aggregates import bucket_insert
    with psycopg.connect(url, autocommit=True) as conn:
        months = [r[0] for r in conn.execute(
            "SELECT DISTINCT date_trunc('month', date)::date FROM ohlcv_data ORDER BY 1").fetchall()]
        for m in months:
            nxt = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            conn.execute(bucket_insert("ohlcv_monthly"), {"start": m, "end": nxt, "region": "KR"})
        conn.execute("VACUUM (ANALYZE) ohlcv_monthly")


def table_bytes(conn: psycopg.Connection, parent: str) -> int:
    return conn.execute("SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree(%s) "
                        "WHERE isleaf", (parent,)).fetchone()[0]


def timed(conn: psycopg.Connection, sql: str, keys: list[tuple]) -> dict:
    for k in keys[:3]:                                   # warm the cache and the plan
        conn.execute(sql, k).fetchall()
    runs, rows = [], 0
    for k in keys:
        t = perf()
        rows = len(conn.execute(sql, k).fetchall())
        runs.append((perf() - t) * 1000)
    runs.sort()
    return {"p50_ms": round(statistics.median(runs), 3), "p95_ms": round(runs[int(0.95 * (len(runs) - 1))], 3),
            "runs": len(runs), "last_rows": rows}


QUERIES = {
    "ohlcv_one_ticker_10y": "SELECT date, open, high, low, close, volume, value, market_cap FROM ohlcv_data "
                            "WHERE ticker = %s AND region = 'KR' ORDER BY date",
    "ohlcv_one_date_all_tickers": "SELECT ticker, open, high, low, close, volume, value, market_cap FROM ohlcv_data "
                                  "WHERE region = 'KR' AND date = %s",
    "ohlcv_monthly_one_ticker_10y": "SELECT * FROM ohlcv_monthly WHERE ticker = %s AND region = 'KR' ORDER BY month",
    "ohlcv_prior_trading_day": "SELECT max(date) FROM ohlcv_data WHERE region = 'KR' AND timeframe = 'D' AND date < %s",
    "ohlcv_seed_10y_select_star": "SELECT * FROM ohlcv_data WHERE ticker = %s AND region = 'KR' "
                                  "AND date >= CURRENT_DATE - INTERVAL '10 years' ORDER BY date DESC",
}


def run_queries(url: str, tickers: int, cold_days: list[dt.date], runs: int, seed: int) -> dict:
    rng = random.Random(seed)
    tick = [(f"{rng.randint(1, tickers):06d}",) for _ in range(runs)]
    days = [(rng.choice(cold_days),) for _ in range(runs)]
    keys = {"ohlcv_one_ticker_10y": tick, "ohlcv_one_date_all_tickers": days, "ohlcv_monthly_one_ticker_10y": tick,
            "ohlcv_prior_trading_day": days, "ohlcv_seed_10y_select_star": tick}
    with psycopg.connect(url, autocommit=True) as conn:
        return {name: timed(conn, sql, keys[name]) for name, sql in QUERIES.items()}


def fingerprint(url: str, ticker: str, day: dt.date) -> list:
    with psycopg.connect(url) as conn:
        return [conn.execute("SELECT * FROM ohlcv_data WHERE ticker = %s ORDER BY date", (ticker,)).fetchall(),
                conn.execute("SELECT * FROM ohlcv_data WHERE date = %s ORDER BY ticker", (day,)).fetchall(),
                conn.execute("SELECT count(*), sum(close), sum(ma20::numeric) FROM ohlcv_data").fetchall()]  # exact sums


def replace_day(url: str, day: dt.date, bump: int = 0) -> float:
    """DELETE + COPY of one day's rows through `ohlcv_data`, as Warehouse.replace_partition does."""
    wh = Warehouse(database_url=url)
    frame = wh.read_frame("SELECT * FROM ohlcv_data WHERE region = 'KR' AND date = %s", (day,))
    frame["volume"] = frame["volume"] + bump
    t = perf()
    wh.replace_partition("ohlcv_data", frame, where={"region": "KR", "date": day})
    return round((perf() - t) * 1000, 1)


HOLDINGS_QUERIES = {
    "holdings_stock_to_etfs_on_day": "SELECT etf_ticker, weight, market_value, shares, rank_in_etf FROM etf_holdings "
                                     "WHERE stock_ticker = %s AND as_of_date = %s ORDER BY weight DESC",
    "holdings_etf_on_day": "SELECT stock_ticker, constituent_name, constituent_type, shares, market_value, weight, "
                           "rank_in_etf FROM etf_holdings WHERE etf_ticker = %s AND region = 'KR' AND as_of_date = %s "
                           "ORDER BY rank_in_etf",
}


def build_holdings(url: str, etfs: int, lines: int, days: list[dt.date]) -> int:
    """PDF lines: each ETF holds `lines` of 2,000 stocks (most lines unchanged day to day, shares
    moving a little, market values and weights daily), one cash line."""
    Warehouse(database_url=url).ensure_month_partitions("etf_holdings", days)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE hdays AS SELECT row_number() OVER (ORDER BY x) AS i, x AS date "
                     "FROM unnest(%s::date[]) x", (days,))
        conn.execute("""
            INSERT INTO etf_holdings (as_of_date, etf_ticker, stock_ticker, constituent_isin, constituent_name,
                                      constituent_type, market_id, shares, market_value, weight, krx_weight_pct,
                                      rank_in_etf, region, weight_change_from_prev, data_source, created_at)
            SELECT d.date, lpad((500000 + e)::text, 6, '0'), lpad(((e * 31 + s * 7) %% 2000 + 1)::text, 6, '0'),
                   'KR7' || lpad(((e * 31 + s * 7) %% 2000 + 1)::text, 9, '0'), 'stock name ' || ((e * 31 + s * 7) %% 2000 + 1),
                   'STOCK', 'STK', 100 + s + (d.i / 40), (1000 + s * 10 + d.i) * (100 + s),
                   round((100.0 / %s * (1 + 0.01 * random()))::numeric, 4), round((100.0 / %s)::numeric, 2), s, 'KR',
                   CASE WHEN d.i > 1 THEN round((0.01 * random())::numeric, 4) END, 'KRX', d.date + time '18:30'
              FROM hdays d CROSS JOIN generate_series(1, %s) e CROSS JOIN generate_series(1, %s) s""",
                     (lines, lines, etfs, lines))
        conn.execute("VACUUM (ANALYZE) etf_holdings")
        return conn.execute("SELECT count(*) FROM etf_holdings").fetchone()[0]


def bench_holdings(url: str, etfs: int, lines: int, runs: int) -> dict:
    """Bytes per PDF line-day before/after compacting one closed month, and the two lookups."""
    days = weekdays(dt.date(2024, 1, 1), dt.date(2024, 2, 29))
    t = perf()
    rows = build_holdings(url, etfs, lines, days)
    out: dict = {"etfs": etfs, "lines_per_etf": lines, "days": len(days), "rows": rows,
                 "build_s": round(perf() - t, 1)}
    with psycopg.connect(url) as conn:
        raw = table_bytes(conn, "etf_holdings")
    out["bytes_per_row_before"] = round(raw / rows, 1)
    rng = random.Random(3)
    jan = [d for d in days if d.month == 1]
    keys = {"holdings_stock_to_etfs_on_day": [(f"{rng.randint(1, 2000):06d}", rng.choice(jan)) for _ in range(runs)],
            "holdings_etf_on_day": [(f"{500000 + rng.randint(1, etfs):06d}", rng.choice(jan)) for _ in range(runs)]}
    with psycopg.connect(url, autocommit=True) as conn:
        out["queries_before"] = {n: timed(conn, q, keys[n]) for n, q in HOLDINGS_QUERIES.items()}
    t = perf()
    compact_closed_periods(url, before=dt.date(2024, 2, 1), tables=("etf_holdings",))
    out["compact_one_month_s"] = round(perf() - t, 1)
    cold = next(e for e in summarise(storage_report(url, tables=("etf_holdings",)), by="table")
                if e["state"] == "compacted")
    out["compacted"] = cold
    out["bytes_per_row_compacted"] = round(cold["compacted_bytes"] / cold["rows"], 1)
    out["gib_per_year_at_65k_lines_per_day"] = {
        "before": round(out["bytes_per_row_before"] * 65_000 * 250 / 2**30, 2),
        "compacted": round(out["bytes_per_row_compacted"] * 65_000 * 250 / 2**30, 2)}
    with psycopg.connect(url, autocommit=True) as conn:
        out["queries_after"] = {n: timed(conn, q, keys[n]) for n, q in HOLDINGS_QUERIES.items()}
    log(f"holdings: {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickers", type=int, default=3700, help="instruments per day (KR full market ~3,700)")
    ap.add_argument("--years", type=int, default=10, help="years of daily bars")
    ap.add_argument("--runs", type=int, default=25, help="timed runs per query (random keys)")
    ap.add_argument("--holdings-etfs", type=int, default=300, help="ETFs in the holdings section (0: skip)")
    ap.add_argument("--holdings-lines", type=int, default=64, help="PDF lines per ETF")
    ap.add_argument("--skip-ohlcv", action="store_true", help="only the holdings section")
    ap.add_argument("--out", default="artifacts/bench_storage.json")
    args = ap.parse_args(argv)
    last = dt.date.today().replace(day=1) - dt.timedelta(days=1)
    days = weekdays(dt.date(last.year - args.years + 1, last.month, 1), last)
    before = (last.replace(day=1) - dt.timedelta(days=1)).replace(day=1)  # last two months stay hot
    cold_days = [d for d in days if d < before]
    out: dict = {"tickers": args.tickers, "years": args.years, "days": len(days), "compact_before": str(before)}
    with scratch_database() as url:
        if args.holdings_etfs:
            out["etf_holdings"] = bench_holdings(url, args.holdings_etfs, args.holdings_lines, args.runs)
        if args.skip_ohlcv:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(out, indent=2, default=str))
            print(json.dumps(out["etf_holdings"], indent=1, default=str))
            return 0
        t = perf()
        rows = build_ohlcv(url, args.tickers, days)
        build_monthly(url)
        out["build_s"] = round(perf() - t, 1)
        with psycopg.connect(url) as conn:
            raw = table_bytes(conn, "ohlcv_data")
        out["ohlcv_rows"] = rows
        out["ohlcv_bytes_per_row_before"] = round(raw / rows, 1)
        log(f"{rows:,} rows, {raw / 2**20:.0f} MiB, {raw / rows:.1f} B/row")
        out["queries_before"] = run_queries(url, args.tickers, cold_days, args.runs, 1)
        sample = ("000042", cold_days[len(cold_days) // 2])
        reference = fingerprint(url, *sample)
        out["write_hot_day_ms_before"] = [replace_day(url, days[-1]) for _ in range(3)]
        t = perf()
        result = compact_closed_periods(url, before=before, tables=("ohlcv_data",))
        out["compact_s"] = round(perf() - t, 1)
        out["compacted_periods"] = len(result["tables"]["ohlcv_data"]["periods"])
        report = storage_report(url, tables=("ohlcv_data",))
        out["storage_by_state"] = summarise(report, by="table")
        out["storage_by_year"] = summarise(report, by="year")
        cold = next(e for e in out["storage_by_state"] if e["state"] == "compacted")
        out["ohlcv_bytes_per_row_compacted"] = round(cold["compacted_bytes"] / cold["rows"], 1)
        out["compaction_ratio"] = {"ohlcv_data": cold["ratio"]}
        if "etf_holdings" in out:
            out["compaction_ratio"]["etf_holdings"] = out["etf_holdings"]["compacted"]["ratio"]
        out["closed_periods_saved_pct"] = {"ohlcv_data": cold["saved_pct"]}
        with psycopg.connect(url) as conn:
            out["ohlcv_total_bytes_after"] = (table_bytes(conn, "ohlcv_hot") + conn.execute(
                "SELECT pg_total_relation_size('ohlcv_cold') + pg_total_relation_size('ohlcv_cold_days')").fetchone()[0])
        log(f"compacted {out['compacted_periods']} months in {out['compact_s']}s: {cold}")
        out["identical_after_compaction"] = fingerprint(url, *sample) == reference
        out["queries_after"] = run_queries(url, args.tickers, cold_days, args.runs, 1)
        out["write_hot_day_ms_after"] = [replace_day(url, days[-1]) for _ in range(3)]
        out["correct_cold_day_ms"] = replace_day(url, sample[1], bump=0)   # un-compacts its month
        out["identical_after_correction"] = fingerprint(url, *sample) == reference
        t = perf()
        compact_closed_periods(url, before=before, tables=("ohlcv_data",))
        out["recompact_one_month_s"] = round(perf() - t, 2)
        t = perf()
        un = uncompact_period(url, "ohlcv_data", sample[1])
        out["uncompact_one_month_s"] = round(perf() - t, 2)
        out["uncompact_rows"] = un["rows"]
        out["identical_after_uncompact"] = fingerprint(url, *sample) == reference
    print_table(out)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str))
    log(f"wrote {args.out}")
    return 0


def print_table(out: dict) -> None:
    print(f"ohlcv_data: {out['ohlcv_rows']:,} rows ({out['tickers']} tickers x {out['days']} days)")
    print(f"  bytes/row today {out['ohlcv_bytes_per_row_before']}  compacted {out['ohlcv_bytes_per_row_compacted']}"
          f"  ratio {out['compaction_ratio']['ohlcv_data']}x  saved {out['closed_periods_saved_pct']['ohlcv_data']}%")
    print(f"  compaction {out['compact_s']} s for {out['compacted_periods']} months")
    print(f"{'query':34} {'before p50/p95 ms':>20} {'after p50/p95 ms':>20}")
    for q, b in out["queries_before"].items():
        a = out["queries_after"][q]
        print(f"{q:34} {b['p50_ms']:>9} / {b['p95_ms']:<9} {a['p50_ms']:>9} / {a['p95_ms']:<9}")
    print(f"write one hot day (DELETE+COPY) ms before {out['write_hot_day_ms_before']} after "
          f"{out['write_hot_day_ms_after']}; correct a compacted day {out['correct_cold_day_ms']} ms")
    print(f"identical: compaction {out['identical_after_compaction']}, correction "
          f"{out['identical_after_correction']}, uncompact {out['identical_after_uncompact']}")


if __name__ == "__main__":
    raise SystemExit(main())
