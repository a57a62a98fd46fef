"""The warehouse answers issue #13's benchmark queries (benchmarks/queries.py QUERIES) the fast way.

Latency itself is the benchmark's business; what can regress silently is the shape underneath:
the factor_scores view (sql/026, sql/029) must return exactly the values written while
reading only the arrays a query uses, and the covering indexes (sql/027) must keep serving
stock -> ETFs and one ticker's monthly bars as index-only scans. Everything runs in a
transaction that is rolled back, on months no other test writes.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import psycopg
import pytest

from benchmarks.queries import QUERIES
from quant_assets.assets import factor_storage

DAY = dt.date(1990, 1, 3)


@pytest.fixture()
def conn(database_url):
    with psycopg.connect(database_url) as c:
        yield c
        c.rollback()


def partition(conn, table: str, day: dt.date) -> None:
    start = day.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table}_y{start.year}m{start.month:02d} PARTITION OF {table} "
                 f"FOR VALUES FROM ('{start}') TO ('{end}')")


def put_factor(name: str, tickers: list[str], values: list[list[float | None]], codes: list[int | None],
               markets: list[str]) -> factor_storage.PackedFactor:
    """A cross-section as factors.py hands it to the writer (NaN = NULL, market code 0 = none)."""
    arrays = [np.array([np.nan if v is None else v for v in col], dtype=float) for col in values]
    return factor_storage.PackedFactor(name, np.array(tickers, dtype=object), markets,
                                       np.array([c or 0 for c in codes], dtype=np.int64), *arrays)


def plan(conn, sql: str, params: list) -> str:
    return "\n".join(r[0] for r in conn.execute(f"EXPLAIN (VERBOSE, COSTS OFF) {sql}", params))


def test_factor_view_returns_the_written_values_including_nulls(conn):
    """The rows written, NULL elements (market too small, no value) and empty cross-sections
    included; NULLs anywhere in an array do not shift later elements (sql/026's O(1) subscripts
    over sql/029's aligned arrays; these values are not ranks, so the float8 columns are used)."""
    partition(conn, "factor_scores_packed", DAY)
    n = 300
    tickers = [f"{i:06d}" for i in range(n)]
    col = [[None if (i + k) % (7 + k) == 0 else math.sin(i * (k + 1)) for i in range(n)] for k in range(5)]
    factors = [put_factor("size", tickers, col, [None if i % 11 == 0 else 1 + i % 2 for i in range(n)],
                          ["KOSDAQ", "KOSPI"]),
               put_factor("mom_3", tickers[:5], [[1.0, None, -2.5, 0.0, 3.0]] * 5, [1, 1, None, 1, 1], ["KOSPI"]),
               put_factor("value_bp", [], [[]] * 5, [], [])]
    factor_storage.write_day(conn, DAY, "KR", factors)
    got = conn.execute("SELECT * FROM factor_scores WHERE date = %(day)s ORDER BY factor_name, ticker",
                       {"day": DAY}).fetchall()
    want = sorted(
        (DAY, t, "KR", f.name, *[None if math.isnan(a[i]) else float(a[i]) for a in (f.raw_values, f.scores,
                                                                                    f.percentiles)],
         f.markets[f.market_codes[i] - 1] if f.market_codes[i] else None,
         *[None if math.isnan(a[i]) else float(a[i]) for a in (f.market_scores, f.market_percentiles)])
        for f in factors for i, t in enumerate(f.tickers))
    want.sort(key=lambda r: (r[3], r[1]))
    assert len(want) == n + 5
    assert [tuple(x.hex() if isinstance(x, float) else x for x in r) for r in got] == \
        [tuple(x.hex() if isinstance(x, float) else x for x in r) for r in want]
    types = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                         "'factor_scores'::regclass AND attnum > 0 ORDER BY attnum").fetchall()
    assert [t[0] for t in types] == ["date", "character varying(20)", "character varying(2)",
                                     "character varying(50)", *["double precision"] * 3, "text",
                                     *["double precision"] * 2]


def test_factor_view_refuses_what_it_cannot_return_exactly(conn):
    """A NaN element would come back NULL through the view, a non-1 lower bound would misalign
    element [i]: the CHECK refuses both."""
    partition(conn, "factor_scores_packed", DAY)
    conn.execute("INSERT INTO factor_score_days VALUES (%s, 'KR', '{000010}')", (DAY,))
    for bad in ("'{NaN}'::float8[]", "'[2:2]={1.0}'::float8[]"):
        with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
            conn.execute("INSERT INTO factor_scores_packed (date, region, factor_name, members, markets, "
                         "market_codes, raw_values, scores, percentiles, market_scores, market_percentiles) "
                         "VALUES (%s, 'KR', 'size', B'1', '{KOSPI}', '{1}', "
                         f"'{{1.0}}', {bad}, '{{1.0}}', '{{1.0}}', '{{1.0}}')", (DAY,))


def test_top20_reads_only_the_arrays_of_the_score(conn):
    """Top-N by score detoasts raw_values (with score_params; scores where a row keeps them) and the
    day's tickers, not the other value arrays."""
    partition(conn, "factor_scores_packed", DAY)
    text = plan(conn, QUERIES["top20_factor"], [DAY, "size"])
    assert "array_replace(p.raw_values" in text and "p.score_params" in text
    for unused in ("percentiles", "percentile_ranks", "market_scores", "market_percentiles",
                   "market_percentile_ranks", "market_codes"):
        assert f"array_replace(p.{unused}," not in text, text


def index_only_scan(conn, sql: str, params: list, index: str) -> str:
    """The plan with plain index, bitmap and sequential scans disabled: an index-only scan on
    `index` (or on its partition's child index) must remain, i.e. the index covers the query."""
    conn.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexscan = off")
    text = plan(conn, sql, params)
    used = re.findall(r"Index Only Scan using (\S+)", text)
    assert used, text
    for name in used:
        parents = {r[0] for r in conn.execute(
            "SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = %s::regclass", (name,))}
        assert name == index or index in parents, text
    return text


def test_stock_to_etfs_is_an_index_only_scan(conn):
    partition(conn, "etf_holdings", DAY)
    conn.execute("INSERT INTO etf_holdings (as_of_date, etf_ticker, stock_ticker, constituent_type, weight, "
                 "rank_in_etf, region) SELECT %s, e, '005930', 'STOCK', 10 - i, 1, 'KR' "
                 "FROM unnest(ARRAY['069500', '102110', '148020']) WITH ORDINALITY AS x(e, i)", (DAY,))
    index_only_scan(conn, QUERIES["stock_to_etfs"], ["005930", DAY], "idx_holdings_stock_date_weight")
    rows = conn.execute(QUERIES["stock_to_etfs"], ["005930", DAY]).fetchall()
    assert [r[0] for r in rows] == ["069500", "102110", "148020"]


def test_monthly_bars_of_one_ticker_are_an_index_only_scan(conn):
    conn.execute("INSERT INTO ohlcv_monthly (ticker, region, month, asset_type, open, high, low, close, volume, "
                 "trading_days, first_date, last_date) SELECT 'Q00001', 'KR', m, 'STOCK', 1, 2, 0.5, 1.5, 10, 20, "
                 "m, m + 27 FROM (SELECT generate_series('1990-01-01'::date, '1999-12-01', interval '1 month')::date AS m) s")
    index_only_scan(conn, QUERIES["monthly_10y"], ["Q00001"], "ohlcv_monthly_ticker_bars_idx")
    assert len(conn.execute(QUERIES["monthly_10y"], ["Q00001"]).fetchall()) == 120
