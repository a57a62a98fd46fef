"""Cost per trading day of adjustment_factors, price_range_52w and factor_scores at ten-year scale.

    .venv/bin/python -m benchmarks.derived_prices [--years 10] [--range-days 250] [--keep-db]

Builds, in a scratch database (benchmarks/bench.py `scratch_database`), ~3,500 tickers (2,500
KOSPI/KOSDAQ stocks, 1,000 ETFs) x `years` of KRX trading days of `ohlcv_data` (~8.6 M rows for ten
years) with SQL `generate_series` (smooth deterministic walks; `change` is consistent with the
previous close so only the planted splits are ex-dates), DAILY fundamentals for the benchmarked
days and a few 1:5 splits in the look-back. Then, for each asset, it materializes (a) the newest
day alone and (b) the newest `range_days` days as ONE ranged run, and reports milliseconds per
trading day (wall time of `dg.materialize`; the one-day figure also shown without Dagster's fixed
per-run overhead, measured with an empty asset). It also measures factor_scores bytes per
stock-day in its packed layout (sql/019) against the former long layout (the same rows copied
into a table shaped like sql/008's, with its three indexes), and the top-20-by-a-factor query
(client round trip, p50/p95). Writes artifacts/bench_derived_prices.json.

`measure(url, days, range_days)` is the part benchmarks/history.py can call on its own loaded
warehouse (it needs ohlcv_data for the days plus a year of look-back).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

import psycopg

from benchmarks.bench import log, scratch_database
from quant_assets.calendar import trading_days
from quant_assets.resources.warehouse import next_month

ASSETS = ("adjustment_factors", "price_range_52w", "factor_scores")
OUT = Path("artifacts/bench_derived_prices.json")

TICKERS = """
INSERT INTO tickers (ticker, region, name, exchange, asset_type, is_active, currency)
SELECT lpad((100000 + i * 7)::text, 6, '0'), 'KR', 'BENCH ' || i,
       CASE WHEN i > %(stocks)s THEN 'KRX' WHEN i %% 3 = 0 THEN 'KOSDAQ' ELSE 'KOSPI' END,
       CASE WHEN i <= %(stocks)s THEN 'STOCK' ELSE 'ETF' END, true, 'KRW'
FROM generate_series(1, %(n)s) AS i
"""
# price level of ticker k on day index i: a per-ticker base times two sines (no window function)
PRICE = "round(b * exp(0.35 * sin({i} / (20.0 + k %% 37) + k) + 0.25 * sin({i} / (3.0 + k %% 5))))"
OHLCV = f"""
INSERT INTO ohlcv_data (date, ticker, region, timeframe, asset_type, open, high, low, close, change, change_pct,
                        volume, value, market_cap, listed_shares)
SELECT d.d, t.ticker, 'KR', 'D', t.asset_type, p.c, p.c * 1.01, p.c * 0.99, p.c, p.c - p.prev,
       round(((p.c / p.prev - 1) * 100)::numeric, 2), v.vol, (v.vol * p.c)::bigint, (p.c * 2e7)::bigint, 20000000
FROM bench_days d
CROSS JOIN (SELECT ticker, asset_type, row_number() OVER (ORDER BY ticker) AS k FROM tickers WHERE region = 'KR') t
CROSS JOIN LATERAL (SELECT {PRICE.format(i="d.i")} AS c, {PRICE.format(i="(d.i - 1)")} AS prev
                    FROM (SELECT 1000 + (t.k * 7919) %% 90000 AS b, t.k AS k) base) p
CROSS JOIN LATERAL (SELECT (100000 + 50000 * sin(d.i * 1.7 + t.k))::bigint AS vol) v
WHERE d.d >= %(start)s AND d.d < %(end)s
"""
FUNDAMENTALS = """
INSERT INTO ticker_fundamentals (ticker, region, date, period_type, per, pbr, dividend_yield, currency, data_source)
SELECT o.ticker, 'KR', o.date, 'DAILY', round((5 + (hashtext(o.ticker) & 31))::numeric, 2),
       round((0.3 + (hashtext(o.ticker) & 7) / 2.0)::numeric, 2), round(((hashtext(o.ticker) & 15) / 4.0)::numeric, 2),
       'KRW', 'KRX'
FROM ohlcv_data o WHERE o.region = 'KR' AND o.timeframe = 'D' AND o.asset_type = 'STOCK' AND o.date = ANY(%(days)s)
"""
# the sql/008 long layout, to measure what the packed one saves on the same rows
LONG = """
CREATE TABLE bench_factor_scores_long (
    date date NOT NULL, ticker varchar(20) NOT NULL, region varchar(2) NOT NULL, factor_name varchar(50) NOT NULL,
    raw_value double precision NOT NULL, score double precision NOT NULL, percentile double precision NOT NULL,
    market text, market_score double precision, market_percentile double precision,
    PRIMARY KEY (date, region, factor_name, ticker));
CREATE INDEX ON bench_factor_scores_long (ticker, region, date);
CREATE INDEX ON bench_factor_scores_long (factor_name, date DESC) WHERE percentile IS NOT NULL;
"""
TOP20 = ("SELECT ticker, score FROM factor_scores WHERE region = 'KR' AND date = %s AND factor_name = %s "
         "ORDER BY score DESC LIMIT 20")


def build(url: str, years: int, range_days: int, stocks: int = 2500, etfs: int = 1000) -> dict:
    """The synthetic market: `years` of bars, fundamentals for the last `range_days` days, splits."""
    last = dt.date(dt.date.today().year - 1, 12, 31)
    days = trading_days(dt.date(last.year - years + 1, 1, 1), last)
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("ohlcv_data", "ticker_fundamentals"):
            for m in sorted({d.replace(day=1) for d in days}):
                conn.execute(f"CREATE TABLE IF NOT EXISTS {table}_y{m.year}m{m.month:02d} PARTITION OF {table} "
                             f"FOR VALUES FROM ('{m}') TO ('{next_month(m)}')")
        conn.execute(TICKERS, {"stocks": stocks, "n": stocks + etfs})
        conn.execute("CREATE TEMP TABLE bench_days (i int PRIMARY KEY, d date NOT NULL)")
        with conn.cursor().copy("COPY bench_days (i, d) FROM STDIN") as copy:
            for i, d in enumerate(days):
                copy.write_row((i, d))
        rows = 0
        for y in sorted({d.year for d in days}):
            rows += conn.execute(OHLCV, {"start": dt.date(y, 1, 1), "end": dt.date(y + 1, 1, 1)}).rowcount
            log(f"  bars: {y} loaded ({rows:,} rows, {time.perf_counter() - t0:.0f}s)")
        conn.execute(FUNDAMENTALS, {"days": days[-range_days:]})
        # 1:5 splits inside the look-back year of the benchmarked range (kept by its re-runs)
        for k, ex in enumerate(days[-range_days - 200:-range_days - 20:9]):
            ticker = f"{100000 + (k * 37 % stocks + 1) * 7:06d}"
            conn.execute("UPDATE ohlcv_data SET open = open * 5, high = high * 5, low = low * 5, close = close * 5 "
                         "WHERE region = 'KR' AND ticker = %s AND date < %s", (ticker, ex))
            conn.execute("INSERT INTO adjustment_factors (ticker, region, ex_date, factor, prior_close, base_price, "
                         "reason) VALUES (%s, 'KR', %s, 0.2, 5, 1, 'split 1:5')", (ticker, ex))
        conn.execute("VACUUM ANALYZE ohlcv_data")
    return {"bars": rows, "trading_days": len(days), "tickers": stocks + etfs, "stocks": stocks,
            "build_s": round(time.perf_counter() - t0, 1), "days": days}


def _materialize(assets_def, url: str, days: list[dt.date]) -> float:
    import dagster as dg

    from quant_assets.resources.warehouse import Warehouse

    tags = {"dagster/asset_partition_range_start": days[0].isoformat(),
            "dagster/asset_partition_range_end": days[-1].isoformat()}
    t0 = time.perf_counter()
    result = dg.materialize([assets_def], resources={"warehouse": Warehouse(database_url=url)}, tags=tags,
                            raise_on_error=False)
    seconds = time.perf_counter() - t0
    if not result.success:
        raise SystemExit(f"bench: {assets_def.key.to_user_string()} failed for {days[0]}..{days[-1]}")
    return seconds


def dagster_overhead() -> float:
    """Wall time of materializing a trivial one-partition asset: Dagster's fixed cost per run."""
    import dagster as dg

    from quant_assets.calendar import trading_day_partitions

    @dg.asset(partitions_def=trading_day_partitions)
    def bench_empty():
        return None

    key = trading_day_partitions.get_partition_keys()[-2]
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        dg.materialize([bench_empty], partition_key=key)
        runs.append(time.perf_counter() - t0)
    return min(runs)


def factor_bytes(url: str, days: list[dt.date]) -> dict:
    """Bytes per stock-day of the packed layout and of the former long layout, same rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE factor_scores_packed")
        scored = conn.execute("SELECT count(DISTINCT (date, ticker)) FROM factor_scores WHERE date = ANY(%s)",
                              (days,)).fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM factor_scores WHERE date = ANY(%s)", (days,)).fetchone()[0]
        # the packed partitions hold every benchmarked day: divide by all of their stock-days
        packed = conn.execute("SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
                              "WHERE inhparent = 'factor_scores_packed'::regclass").fetchone()[0]
        packed_stock_days = conn.execute("SELECT count(DISTINCT (date, ticker)) FROM factor_scores").fetchone()[0]
        conn.execute("DROP TABLE IF EXISTS bench_factor_scores_long")
        conn.execute(LONG)
        conn.execute("INSERT INTO bench_factor_scores_long SELECT * FROM factor_scores WHERE date = ANY(%s)", (days,))
        conn.execute("VACUUM ANALYZE bench_factor_scores_long")
        long = conn.execute("SELECT pg_total_relation_size('bench_factor_scores_long')").fetchone()[0]
        conn.execute("DROP TABLE bench_factor_scores_long")
    packed, long = int(packed), int(long)
    return {"stock_days": scored, "scores": rows, "packed_bytes": packed, "long_bytes": long,
            "packed_stock_days": packed_stock_days,
            "packed_bytes_per_stock_day": round(packed / packed_stock_days, 1),
            "long_bytes_per_stock_day": round(long / scored, 1),
            "ratio": round((long / scored) / (packed / packed_stock_days), 2)}


def top20_latency(url: str, days: list[dt.date], repeats: int = 50) -> dict:
    import random

    rnd = random.Random(5)
    with psycopg.connect(url, autocommit=True, prepare_threshold=0) as conn:
        factors = [r[0] for r in conn.execute("SELECT DISTINCT factor_name FROM factor_scores_packed")]
        for _ in range(5):
            conn.execute(TOP20, (days[-1], factors[0])).fetchall()
        runs = []
        for _ in range(repeats):
            args = (rnd.choice(days), rnd.choice(factors))
            t0 = time.perf_counter()
            conn.execute(TOP20, args).fetchall()
            runs.append((time.perf_counter() - t0) * 1000)
    runs.sort()
    return {"p50_ms": round(statistics.median(runs), 3), "p95_ms": round(runs[int(0.95 * (len(runs) - 1))], 3),
            "runs": repeats}


def measure(url: str, days: list[dt.date], range_days: int = 250) -> dict:
    """ms per trading day of each asset: (a) the newest day alone, (b) the newest `range_days` as
    one ranged run; then factor_scores bytes and top-20 latency. `days` are loaded trading days."""
    from quant_assets import database, migrations
    from quant_assets.assets import factors, ranges

    # partition metadata reads column comments from the default market database's catalogue
    migrations.migrate(database.database_url())
    defs = {"adjustment_factors": ranges.adjustment_factors, "price_range_52w": ranges.price_range_52w,
            "factor_scores": factors.factor_scores}
    window = days[-range_days:]
    overhead = dagster_overhead()
    out: dict = {"dagster_overhead_ms_per_run": round(overhead * 1000, 1), "range_days": len(window), "assets": {}}
    for name in ASSETS:
        ranged = _materialize(defs[name], url, window)
        one = _materialize(defs[name], url, window[-1:])
        out["assets"][name] = {
            "ranged_ms_per_day": round(ranged * 1000 / len(window), 1),
            "one_day_ms": round(one * 1000, 1),
            "one_day_ms_without_dagster": round((one - overhead) * 1000, 1),
            "ranged_wall_s": round(ranged, 2),
        }
        log(f"  {name}: {out['assets'][name]}")
    out["factor_scores_storage"] = factor_bytes(url, window[-20:])
    out["top20_factor_query"] = top20_latency(url, window)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=10, help="years of daily bars to build (default 10)")
    parser.add_argument("--range-days", type=int, default=250, help="days of the ranged run (default 250)")
    parser.add_argument("--stocks", type=int, default=2500, help="stocks (plus 1,000 ETFs; default 2500)")
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    with scratch_database(keep=args.keep_db) as url:
        log(f"building {args.years} years x {args.stocks + 1000} tickers")
        built = build(url, args.years, args.range_days, stocks=args.stocks)
        days = built.pop("days")
        result = {"scale": built, **measure(url, days, args.range_days)}
    result["generated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, default=str))
    for name, r in result["assets"].items():
        print(f"{name:20s} ranged {r['ranged_ms_per_day']:8.1f} ms/day   one day {r['one_day_ms']:8.1f} ms "
              f"({r['one_day_ms_without_dagster']:.1f} without Dagster's per-run cost)")
    s = result["factor_scores_storage"]
    print(f"factor_scores        {s['packed_bytes_per_stock_day']} B/stock-day packed vs "
          f"{s['long_bytes_per_stock_day']} long ({s['ratio']}x); top-20 p50 {result['top20_factor_query']['p50_ms']} ms")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
