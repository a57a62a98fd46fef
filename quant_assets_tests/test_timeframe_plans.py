"""`timeframe = 'D'` is planned from statistics and served by the primary key (sql/028).

Before sql/028 the inlined operator hid the column behind an expression without statistics: the
planner expected 0.5% of the bars for `timeframe = 'D'` (all of them match), and planned the
bucket builds and the adjustment-factor range as nested loops over 200x fewer rows.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest


def plan(conn: psycopg.Connection, query: str) -> dict:
    return conn.execute("EXPLAIN (FORMAT JSON) " + query).fetchone()[0][0]["Plan"]


def nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


@pytest.fixture()
def bars(warehouse):
    warehouse.ensure_month_partitions("ohlcv_data", [dt.date(2026, 2, 2)])
    with psycopg.connect(warehouse.url(), autocommit=True) as conn:
        conn.execute("""INSERT INTO ohlcv_data (ticker, region, date, asset_type, open, high, low, close, volume)
                        SELECT lpad(t::text, 6, '0'), 'KR', d::date, 'STOCK', 1, 1, 1, 1, 1
                        FROM generate_series(1, 1000) t, generate_series('2026-02-02'::date, '2026-02-20', '1 day') d""")
        conn.execute("ANALYZE ohlcv_data")
        yield conn


def test_daily_filter_is_estimated_from_the_column_statistics(bars):
    node = plan(bars, "SELECT * FROM ohlcv_data WHERE region = 'KR' AND timeframe = 'D' AND date = '2026-02-10'")
    assert 500 <= node["Plan Rows"] <= 2000, node["Plan Rows"]          # 1,000 bars match
    seed = plan(bars, "SELECT * FROM ohlcv_data WHERE timeframe = '1d' AND date = '2026-02-10'")  # the seeds' spelling
    assert 500 <= seed["Plan Rows"] <= 2000, seed["Plan Rows"]


def test_timeframe_is_an_index_condition_of_the_primary_key(bars):
    node = plan(bars, "SELECT close FROM ohlcv_data WHERE ticker = '000007' AND region = 'KR' AND timeframe = '1d'")
    conds = [n.get("Index Cond", "") for n in nodes(node)]
    assert any("timeframe" in c for c in conds), conds


def test_spellings_still_compare_as_before(bars):
    row = bars.execute("SELECT 'D'::timeframe = '1d', '1d'::timeframe = 'D', 'W'::timeframe = 'D', "
                       "'W'::timeframe <> '1d', '1mo'::timeframe = 'M', NULL::timeframe = 'D', "
                       "(SELECT count(*) FROM ohlcv_data WHERE timeframe = '1d'), "
                       "(SELECT count(*) FROM ohlcv_data WHERE timeframe <> 'D')").fetchone()
    assert row == (True, True, False, True, True, None, 19_000, 0)
