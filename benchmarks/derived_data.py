"""Ten-year-scale synthetic market data for the derived-asset benchmarks, built inside PostgreSQL.

`build(url)` fills a (scratch) database with ~3,500 tickers x ~2,450 KRX trading days of
`ohlcv_data` (2,500 stocks + 1,000 ETFs, ~8.6 M rows), `etf_daily` for the ETFs (~2.5 M rows),
their `tickers` / `etf_details` rows (multiples 1, 2, -1) and a few splits in
`adjustment_factors`. Prices are deterministic smooth walks computed per row by SQL
(`generate_series` x tickers, sines of the day index with per-ticker phases): no window function
and no Python per row, so the load is bound by the server's insert rate (a few minutes on 2 cores,
most of it index maintenance). The values only need to look like prices: the derived assets'
cost depends on the row counts, not on the numbers.
"""

from __future__ import annotations

import datetime as dt
import time

import psycopg

from quant_assets.calendar import trading_days
from quant_assets.resources.warehouse import next_month

N_STOCKS, N_ETFS = 2500, 1000
SPLITS = 25   # tickers with one 1:5 split somewhere in the history


def days_of(years: int, last: dt.date | None = None) -> list[dt.date]:
    last = last or dt.date(dt.date.today().year - 1, 12, 31)
    return trading_days(dt.date(last.year - years + 1, 1, 1), last)


def _ensure_months(conn: psycopg.Connection, table: str, days: list[dt.date]) -> None:
    for m in sorted({d.replace(day=1) for d in days}):
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table}_y{m.year}m{m.month:02d} PARTITION OF {table} "
                     f"FOR VALUES FROM ('{m}') TO ('{next_month(m)}')")


TICKERS = """
INSERT INTO tickers (ticker, region, name, exchange, asset_type, is_active, currency)
SELECT lpad((100000 + i * 7)::text, 6, '0'), 'KR', 'SYN ' || i, 'KRX',
       CASE WHEN i <= %(stocks)s THEN 'STOCK' ELSE 'ETF' END, true, 'KRW'
FROM generate_series(1, %(n)s) AS i
"""
ETF_DETAILS = """
INSERT INTO etf_details (ticker, region, isin, multiple)
SELECT ticker, 'KR', 'KR7' || ticker || '000', CASE id % 10 WHEN 0 THEN -1 WHEN 1 THEN 2 ELSE 1 END
FROM tickers WHERE region = 'KR' AND asset_type = 'ETF'
"""
DAY_TABLE = "CREATE TEMP TABLE bench_days (i int PRIMARY KEY, d date NOT NULL)"
# close: per-ticker base level times a smooth walk; the day index i drives the phases.
OHLCV = """
INSERT INTO ohlcv_data (date, ticker, region, timeframe, asset_type, open, high, low, close, change, change_pct,
                        volume, value, market_cap, listed_shares)
SELECT d.d, t.ticker, 'KR', 'D', t.asset_type, p.o, greatest(p.o, p.c) * 1.01, least(p.o, p.c) * 0.99, p.c,
       0, 0, v.vol, (v.vol * p.c)::bigint, (p.c * 2e7)::bigint, 20000000
FROM bench_days d
CROSS JOIN (SELECT ticker, asset_type, row_number() OVER (ORDER BY ticker) AS k FROM tickers WHERE region = 'KR') t
CROSS JOIN LATERAL (SELECT round(b * exp(0.35 * sin(d.i / (20.0 + t.k %% 37) + t.k)
                                         + 0.25 * sin(d.i / (3.0 + t.k %% 5)))) AS c,
                           round(b * exp(0.35 * sin((d.i - 0.5) / (20.0 + t.k %% 37) + t.k)
                                         + 0.25 * sin((d.i - 0.5) / (3.0 + t.k %% 5)))) AS o
                    FROM (SELECT 1000 + (t.k * 7919) %% 90000 AS b) base) p
CROSS JOIN LATERAL (SELECT (100000 + 50000 * sin(d.i * 1.7 + t.k))::bigint AS vol) v
WHERE d.d >= %(start)s AND d.d < %(end)s
"""
ETF_DAILY = """
INSERT INTO etf_daily (date, ticker, region, close, nav, listed_units, index_close, index_change_pct)
SELECT o.date, o.ticker, 'KR', o.close, round((o.close * (1 + 0.002 * sin(d.i * 0.9 + k.k)))::numeric, 2), 1000000,
       round((1000 * exp(0.35 * sin(d.i / (20.0 + k.k %% 37) + k.k) + 0.25 * sin(d.i / (3.0 + k.k %% 5)))
             * (1 + 0.0005 * sin(d.i * 2.3)))::numeric, 2), 0
FROM ohlcv_data o
JOIN bench_days d ON d.d = o.date
JOIN (SELECT ticker, row_number() OVER (ORDER BY ticker) AS k FROM tickers WHERE region = 'KR') k USING (ticker)
WHERE o.region = 'KR' AND o.asset_type = 'ETF' AND o.date >= %(start)s AND o.date < %(end)s
"""
# 1:5 splits: bars before the ex-date are divided by 5 (so the adjusted series is continuous).
SPLIT = """
INSERT INTO adjustment_factors (ticker, region, ex_date, factor, prior_close, base_price, reason)
SELECT ticker, 'KR', %(ex)s, 0.2, 5000, 1000, 'bench split'
FROM tickers WHERE region = 'KR' AND asset_type = 'STOCK' ORDER BY ticker OFFSET %(k)s LIMIT 1
"""


def build(url: str, years: int = 10, *, stocks: int = N_STOCKS, etfs: int = N_ETFS, log=print) -> dict:
    """Load the synthetic market into `url` (an empty, migrated database). Returns row counts and
    seconds."""
    days = days_of(years)
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("ohlcv_data", "etf_daily", "etf_tracking", "ticker_fundamentals"):
            _ensure_months(conn, table, days)
        conn.execute(TICKERS, {"stocks": stocks, "n": stocks + etfs})
        conn.execute(ETF_DETAILS)
        conn.execute(DAY_TABLE)
        with conn.cursor().copy("COPY bench_days (i, d) FROM STDIN") as copy:
            for i, d in enumerate(days):
                copy.write_row((i, d))
        rows = 0
        years_list = sorted({d.year for d in days})
        for y in years_list:
            span = {"start": dt.date(y, 1, 1), "end": dt.date(y + 1, 1, 1)}
            rows += conn.execute(OHLCV, span).rowcount
            conn.execute(ETF_DAILY, span)
            log(f"  data: {y} loaded ({rows:,} bars, {time.perf_counter() - t0:.0f}s)")
        for k in range(SPLITS):
            conn.execute(SPLIT, {"ex": days[(k * 97) % len(days)], "k": k * 11})
            conn.execute("""UPDATE ohlcv_data o SET open = open / 5, high = high / 5, low = low / 5,
                                   close = close / 5
                            FROM adjustment_factors a
                            WHERE a.reason = 'bench split' AND a.ex_date = %(ex)s AND o.ticker = a.ticker
                              AND o.region = 'KR' AND o.date < a.ex_date""", {"ex": days[(k * 97) % len(days)]})
        conn.execute("""INSERT INTO partition_status (asset, region, partition_date, status, row_count, source)
                        SELECT 'ohlcv', 'KR', d, 'loaded', 0, 'bench' FROM bench_days""")
        conn.execute("VACUUM ANALYZE ohlcv_data")
        conn.execute("VACUUM ANALYZE etf_daily")
        etf_rows = conn.execute("SELECT count(*) FROM etf_daily").fetchone()[0]
    return {"tickers": stocks + etfs, "etfs": etfs, "days": len(days), "first_day": str(days[0]),
            "last_day": str(days[-1]), "ohlcv_rows": rows, "etf_daily_rows": int(etf_rows),
            "load_s": round(time.perf_counter() - t0, 1)}
