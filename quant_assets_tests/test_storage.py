"""Compaction is transparent (issue #13 item 5): every query answers the same before compacting,
after compacting, after a correction of a compacted month, after un-compacting, after compacting
again.

Two scratch databases on the real embedded server get the same synthetic rows and the same writes;
one of them is compacted. The seeds' query statements (verbatim, seed_statements.py) and the
platform's own reads of ohlcv_data / etf_holdings (factors, ranges, aggregates, holdings writer,
sql/009 functions) must return identical rows from both at every step.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from quant_assets.resources.warehouse import PartitionWrite, Warehouse
from quant_assets.storage import compact_closed_periods, layout, storage_report, summarise, uncompact_period
from quant_assets_tests.scratch_db import scratch_databases
from quant_assets_tests.seed_statements import STATEMENTS, sql_for_driver

MONTHS = [dt.date(2024, m, 1) for m in (1, 2, 3, 4)]
DAYS = [dt.date(2024, 1, 2) + dt.timedelta(days=i) for i in range(118)]
DAYS = [d for d in DAYS if d.weekday() < 5]
BEFORE = dt.date(2024, 4, 1)   # Jan-Mar closed, April hot
INDICATORS = ["ma5", "ma20", "ma60", "ma120", "ma200", "rsi_14", "macd", "macd_signal", "macd_hist",
              "bb_upper", "bb_middle", "bb_lower", "atr_14", "volume_ma20", "volume_ratio"]


def load(url: str) -> None:
    wh = Warehouse(database_url=url)
    wh.ensure_month_partitions("ohlcv_data", DAYS)
    wh.ensure_month_partitions("etf_holdings", DAYS)
    for table in ("price_range_52w", "etf_daily", "etf_aum", "etf_tracking"):
        wh.ensure_month_partitions(table, DAYS)
    ind = ", ".join("CASE WHEN (t + d.i) % 3 > 0 THEN (t * 1.25 + d.i / 7.0)::float8 END" for _ in INDICATORS)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO tickers (ticker, name, region, exchange, asset_type, currency)
               SELECT lpad(t::text, 6, '0'), 'T' || t, 'KR', CASE WHEN t % 2 = 0 THEN 'KOSPI' ELSE 'KOSDAQ' END,
                      CASE WHEN t > 36 THEN 'ETF' ELSE 'STOCK' END, 'KRW' FROM generate_series(1, 40) t""")
        conn.execute(
            "CREATE TEMP TABLE d AS SELECT row_number() OVER (ORDER BY x) AS i, x AS date FROM unnest(%s::date[]) x",
            (DAYS,))
        conn.execute(f"""
            INSERT INTO ohlcv_data (date, ticker, asset_type, open, high, low, close, change, change_pct, volume,
                                    value, market_cap, listed_shares, region, timeframe, {', '.join(INDICATORS)})
            SELECT d.date, lpad(t::text, 6, '0'), CASE WHEN t > 36 THEN 'ETF' ELSE 'STOCK' END,
                   CASE WHEN (t * d.i) % 29 = 0 THEN NULL ELSE 1000 + t * 10 + d.i * 2 END,
                   1100 + t * 10 + d.i * 2, 900 + t * 10 + d.i * 2, 1000.5 + t * 10 + d.i * 2, 2, (d.i % 7) * 0.13,
                   t * 1000 + d.i, (t * 1000 + d.i) * 1000, CASE WHEN t % 5 = 0 THEN NULL ELSE t * 1e9 END,
                   1000000 + t, 'KR', 'D', {ind}
              FROM d CROSS JOIN generate_series(1, 40) t
             WHERE NOT (t = 7 AND d.i BETWEEN 10 AND 30)      -- a trading halt across a month end
               AND NOT (t = 40 AND d.i < 50)                  -- listed in February
            """)
        conn.execute(
            """INSERT INTO ohlcv_data (date, ticker, asset_type, open, high, low, close, volume, value, region, timeframe)
               SELECT d.date, '000003', 'STOCK', 1, 2, 1, 2, 10, 20, 'KR', 'W' FROM d WHERE extract(isodow FROM d.date) = 5""")
        conn.execute(
            """INSERT INTO etf_holdings (as_of_date, etf_ticker, stock_ticker, constituent_isin, constituent_name,
                                         constituent_type, market_id, shares, market_value, weight, krx_weight_pct,
                                         rank_in_etf, region, weight_change_from_prev, data_source)
               SELECT d.date, lpad(e::text, 6, '0'), lpad(s::text, 6, '0'),
                      CASE WHEN s % 4 = 0 THEN NULL ELSE 'KR7' || lpad(s::text, 9, '0') END,
                      CASE WHEN s = 5 AND d.i > 40 THEN 'renamed five' ELSE 'name ' || s END,
                      CASE WHEN s = 9 THEN 'FUTURES' ELSE 'STOCK' END, CASE WHEN s % 3 = 0 THEN NULL ELSE 'STK' END,
                      100 + s + (d.i / 20), (100 + s) * (1000 + d.i), CASE WHEN s = 9 THEN NULL ELSE (s + e) * 0.5 END,
                      (s + e) * 0.5, s, 'KR', CASE WHEN d.i > 1 THEN 0.01 * s END, 'KRX'
                 FROM d CROSS JOIN generate_series(37, 40) e CROSS JOIN generate_series(1, 12) s
                WHERE NOT (s = 12 AND d.i % 9 < 4)              -- a line that comes and goes
                  AND NOT (e = 40 AND d.i < 50)""")
        conn.execute("UPDATE etf_holdings SET created_at = '2024-05-01 00:00+00'")
        conn.execute(ETF_SERIES)
        conn.execute("ANALYZE")


# The other compacted daily series (layout._daily specs): ETF rows with gaps, NULLs and one
# value too wide for int4; 52-week ranges for every day but the one ranges.RANGE_INSERT writes.
ETF_SERIES = """
INSERT INTO etf_daily (date, ticker, close, nav, aum, listed_units, market_cap, index_close, index_change_pct, region)
SELECT d.date, lpad(e::text, 6, '0'), 10000 + e + d.i, 10000.25 + e + d.i / 4.0,
       CASE WHEN d.i % 5 = 0 THEN NULL ELSE 1e10 + e * d.i END, 1000000 + e, NULL, 2500.5 + d.i, (d.i % 9) * 0.11, 'KR'
  FROM d CROSS JOIN generate_series(37, 40) e WHERE NOT (e = 40 AND d.i < 50);
INSERT INTO etf_aum (date, ticker, aum, nav_x_units, units_x_close, listed_units, region)
SELECT d.date, lpad(e::text, 6, '0'), 1e10 + e * d.i, 1e10 + e, CASE WHEN e = 38 THEN NULL ELSE 5e9 END, 1000000 + e, 'KR'
  FROM d CROSS JOIN generate_series(37, 40) e;
INSERT INTO etf_tracking (date, ticker, multiple, premium_discount_pct, premium_discount_avg_20d, tracking_error_20d,
                          tracking_diff_20d, days_in_window, region)
SELECT d.date, lpad(e::text, 6, '0'), CASE WHEN e = 39 THEN -2 ELSE 1 END, (d.i % 13) * 0.0123 - 0.05,
       CASE WHEN d.i > 20 THEN 0.0101 * e END, CASE WHEN d.i > 20 THEN 0.5 + d.i * 0.0001 END, 0.02, least(d.i, 250), 'KR'
  FROM d CROSS JOIN generate_series(37, 40) e WHERE d.i % 7 <> 3;
INSERT INTO price_range_52w (date, ticker, close, days_in_window, window_start, high_close, high_close_date, low_close,
                             low_close_date, high_52w, high_52w_date, low_52w, low_52w_date, pct_from_high_close,
                             pct_from_low_close, pct_from_high, pct_from_low, region)
SELECT d.date, lpad(t::text, 6, '0'), 1000 + t * d.i, d.i, DATE '2024-01-02', 1000 + t * d.i, d.date, 1000 + t, DATE '2024-01-02',
       CASE WHEN t % 3 = 0 THEN NULL ELSE 1100 + t * d.i END, CASE WHEN t % 3 = 0 THEN NULL ELSE d.date END,
       900 + t, DATE '2024-01-02', 0, round(100.0 * t * (d.i - 1) / (1000 + t), 4), -1.25, 3.5, 'KR'
  FROM d CROSS JOIN generate_series(1, 36) t WHERE d.date <> DATE '2024-02-14';
"""


@pytest.fixture(scope="module")
def pair(database_url):
    with scratch_databases(database_url, "storage", 2) as urls:
        for url in urls:
            load(url)
        yield tuple(urls)


SERIES = ("ohlcv_data", "etf_holdings", "etf_daily", "etf_aum", "etf_tracking", "price_range_52w")
SEED_QUERIES = [s for s in STATEMENTS if s.kind in ("query", "dml") and not s.finding]


def platform_queries() -> list[tuple[str, str, dict]]:
    from quant_assets.assets import aggregates, etf, factors, ranges
    day, prior = dt.date(2024, 2, 14), dt.date(2024, 2, 13)
    p = {"region": "KR", "day": day, "prior": prior, "tol": 0.001, "start": dt.date(2024, 1, 1),
         "end": dt.date(2024, 3, 1), "exchanges": None, "etfs": ["000037", "000038", "000040"]}
    return [
        ("factors.CROSS_SQL", factors.CROSS_SQL, p),
        ("ranges.FACTORS_INSERT", ranges.FACTORS_INSERT + " RETURNING *", p),
        ("ranges.RANGE_INSERT", ranges.RANGE_INSERT + " RETURNING *", p),
        ("ranges.prior_trading_day", "SELECT max(date) FROM ohlcv_data WHERE region = %(region)s "
         "AND timeframe = 'D' AND date < %(day)s", p),
        ("aggregates.bucket_insert(monthly)", aggregates.bucket_insert("ohlcv_monthly") + " RETURNING *", p),
        ("aggregates.bucket_insert(quarterly)", aggregates.bucket_insert("ohlcv_quarterly") + " RETURNING *",
         {**p, "start": dt.date(2024, 1, 1), "end": dt.date(2024, 4, 1)}),
        ("ohlcv_adjusted", "SELECT * FROM ohlcv_adjusted WHERE region = 'KR' AND date <= %(day)s", p),
        ("factors.WINDOW_SQL", "SELECT date, ticker, close, value FROM ohlcv_adjusted WHERE region = %(region)s "
         "AND timeframe = 'D' AND asset_type = 'STOCK' AND date >= %(start)s AND date <= %(day)s", p),
        ("technical bars", "SELECT ticker, date, high, low, close, volume FROM ohlcv_data WHERE region = %(region)s "
         "AND timeframe = 'D' AND date BETWEEN %(start)s AND %(day)s", p),
        ("etf.PREVIOUS_WEIGHTS", etf.PREVIOUS_WEIGHTS, p),
        ("refresh_holdings_weight_change", "SELECT refresh_holdings_weight_change('KR', %(day)s)", p),
        ("weight_change after refresh", "SELECT etf_ticker, stock_ticker, as_of_date, weight_change_from_prev "
         "FROM etf_holdings", p),
        ("refresh_etf_latest", "SELECT refresh_etf_latest('KR')", p),
        ("etf_details after refresh", "SELECT * FROM etf_details", p),
        ("stock to ETFs on a day", "SELECT etf_ticker, weight, market_value, shares, rank_in_etf FROM etf_holdings "
         "WHERE stock_ticker = '000005' AND as_of_date = %(day)s ORDER BY weight DESC", p),
        ("everything ohlcv", "SELECT * FROM ohlcv_data", p),
        ("everything holdings", "SELECT * FROM etf_holdings", p),
        ("everything etf_daily", "SELECT * FROM etf_daily", p),
        ("everything etf_aum", "SELECT * FROM etf_aum", p),
        ("everything etf_tracking", "SELECT * FROM etf_tracking", p),
        ("everything price_range_52w", "SELECT * FROM price_range_52w", p),
        ("52-week range on a day", "SELECT ticker, high_52w, low_52w FROM price_range_52w WHERE region = 'KR' "
         "AND date = %(prior)s", p),
    ]


def answers(url: str) -> dict[str, object]:
    """Every query's rows (order-insensitive), each in a rolled-back transaction."""
    out: dict[str, object] = {}
    with psycopg.connect(url) as conn:
        for stmt in SEED_QUERIES:
            out[stmt.id] = run(conn, sql_for_driver(stmt.sql), stmt.params or None)
        for name, sql, params in platform_queries():
            out[name] = run(conn, sql, params)
    return out


def run(conn: psycopg.Connection, sql: str, params) -> object:
    try:
        with conn.transaction(force_rollback=True):
            cur = conn.execute(sql, params)
            rows = cur.fetchall() if cur.description else [("rowcount", cur.rowcount)]
    except psycopg.Error as exc:
        return f"error {type(exc).__name__}"
    return sorted(map(repr, rows))


def assert_same(ref: str, cmp: str, step: str) -> None:
    a, b = answers(ref), answers(cmp)
    differing = [k for k in a if a[k] != b[k]]
    assert not differing, f"{step}: {differing}"
    assert sum(1 for v in a.values() if isinstance(v, list) and v) >= 25, "too few queries returned rows"
    for must in ("everything ohlcv", "everything holdings", "everything etf_daily", "everything etf_aum",
                 "everything etf_tracking", "everything price_range_52w", "52-week range on a day", "stock to ETFs on a day", "ranges.RANGE_INSERT",
                 "aggregates.bucket_insert(monthly)", "etf.PREVIOUS_WEIGHTS", "factors.CROSS_SQL", "ohlcv_adjusted"):
        assert isinstance(a[must], list) and a[must], (step, must, a[must])


def correct_day(url: str, day: dt.date) -> None:
    """A correction of one compacted day through the writer's path (DELETE + COPY, one transaction)."""
    wh = Warehouse(database_url=url)
    frame = wh.read_frame("SELECT * FROM ohlcv_data WHERE region = 'KR' AND date = %s", (day,))
    frame["volume"] = frame["volume"] + 7
    frame = frame[frame["ticker"] != "000011"]          # a line the source no longer reports
    wh.replace_partition("ohlcv_data", frame, where={"region": "KR", "date": day})
    # bars and ETF rows of one fetch: binary COPY into two compacted months, one transaction
    bars = wh.read_frame("SELECT * FROM ohlcv_data WHERE region = 'KR' AND date = %s", (day,))
    etfs = wh.read_frame("SELECT * FROM etf_daily WHERE region = 'KR' AND date = %s", (day,))
    etfs["nav"] = etfs["nav"] + 1
    where = {"region": "KR", "date": day}
    wh.replace_partitions([PartitionWrite("ohlcv_data", bars, where=where, encoded=wh.encode("ohlcv_data", bars)),
                           PartitionWrite("etf_daily", etfs, where=where, encoded=wh.encode("etf_daily", etfs))])
    # a hot day (April stays in row form): written into the hot table directly (layout.write_target)
    hot_day = dt.date(2024, 4, 10)
    bars = wh.read_frame("SELECT * FROM ohlcv_data WHERE region = 'KR' AND date = %s", (hot_day,))
    bars["close"] = bars["close"] + 1
    wh.replace_partitions([PartitionWrite("ohlcv_data", bars, where={"region": "KR", "date": hot_day},
                                          encoded=wh.encode("ohlcv_data", bars))])
    etfs = wh.read_frame("SELECT * FROM etf_daily WHERE region = 'KR' AND date BETWEEN %s AND %s",
                         (hot_day, hot_day + dt.timedelta(days=2)))
    wh.replace_partition("etf_daily", etfs.assign(aum=etfs["aum"].fillna(0)), where={
        "region": "KR", "date": (hot_day, hot_day + dt.timedelta(days=2))})
    with psycopg.connect(url) as conn:   # an indicator UPDATE as technical_analysis writes it
        conn.execute("UPDATE ohlcv_data o SET ma5 = 42.5, rsi_14 = NULL FROM (VALUES ('000004')) t (ticker) "
                     "WHERE o.ticker = t.ticker AND o.region = 'KR' AND o.date = %s", (day - dt.timedelta(days=1),))


def cold_periods(url: str) -> set:
    with psycopg.connect(url) as conn:
        return set(conn.execute("SELECT table_name, period FROM storage_periods").fetchall())


def test_compaction_is_transparent(pair):
    ref, cmp = pair
    result = compact_closed_periods(cmp, before=BEFORE)
    assert result["tables"]["ohlcv_data"]["converted"] and result["tables"]["etf_holdings"]["converted"]
    assert cold_periods(cmp) == {(t, m) for t in SERIES for m in MONTHS[:3]}
    with psycopg.connect(cmp) as conn:
        assert conn.execute("SELECT count(*) FROM ohlcv_hot WHERE date < %s", (BEFORE,)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM etf_holdings_hot WHERE as_of_date < %s", (BEFORE,)).fetchone()[0] == 0
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'ohlcv_data'").fetchone()[0] == "v"
    assert_same(ref, cmp, "after compaction")
    assert compact_closed_periods(cmp, before=BEFORE)["tables"]["ohlcv_data"]["rows"] == 0  # idempotent

    for url in pair:                                 # the same correction in both
        correct_day(url, dt.date(2024, 2, 14))
    assert ("ohlcv_data", MONTHS[1]) not in cold_periods(cmp)       # un-compacted by the write
    assert ("etf_daily", MONTHS[1]) not in cold_periods(cmp) and ("etf_daily", MONTHS[0]) in cold_periods(cmp)
    with psycopg.connect(cmp) as conn:
        assert layout.write_target(conn, "ohlcv_data", {"region": "KR", "date": dt.date(2024, 4, 10)}) == "ohlcv_hot"
        assert layout.write_target(conn, "ohlcv_data", {"region": "KR", "date": (dt.date(2024, 1, 5),
                                                                                   dt.date(2024, 4, 10))}) == "ohlcv_data"
        assert layout.write_target(conn, "ohlcv_data", {"date": dt.date(2024, 4, 10)}) == "ohlcv_data"
    assert ("ohlcv_data", MONTHS[0]) in cold_periods(cmp)
    assert_same(ref, cmp, "after correcting a compacted day")

    assert uncompact_period(cmp, "etf_holdings", MONTHS[2])["rows"] > 0
    assert uncompact_period(cmp, "ohlcv_data", MONTHS[0])["rows"] > 0
    assert_same(ref, cmp, "after un-compacting")

    again = compact_closed_periods(cmp, before=BEFORE)
    assert {p["period"] for p in again["tables"]["ohlcv_data"]["periods"]} == {"2024-01-01", "2024-02-01"}
    assert_same(ref, cmp, "after compacting again")


def test_report_and_partitions_after_conversion(pair):
    _, cmp = pair
    compact_closed_periods(cmp, before=BEFORE)
    report = storage_report(cmp)
    keys = {"table", "period", "rows", "raw_bytes", "compacted_bytes", "ratio"}
    assert report and all(keys <= set(e) for e in report)
    cold = [e for e in report if e["state"] == "compacted" and e["table"] == "ohlcv_data"]
    assert {e["period"] for e in cold} == {"2024-01", "2024-02", "2024-03"}
    with psycopg.connect(cmp) as conn:
        assert sum(e["rows"] for e in cold) == conn.execute(
            "SELECT count(*) FROM ohlcv_data WHERE date < %s", (BEFORE,)).fetchone()[0]
    assert all(e["compacted_bytes"] > 0 for e in cold)
    assert {e["state"] for e in summarise(report, by="table")} == {"hot", "compacted"}
    # a new month still gets its partition (on the hot table) through Warehouse
    wh = Warehouse(database_url=cmp)
    wh.ensure_month_partitions("ohlcv_data", [dt.date(2024, 6, 3)])
    with psycopg.connect(cmp) as conn:
        assert layout.partition_parent(conn, "ohlcv_data") == "ohlcv_hot"
        assert conn.execute("SELECT inhparent::regclass::text FROM pg_inherits "
                            "WHERE inhrelid = 'ohlcv_data_y2024m06'::regclass").fetchone()[0] == "ohlcv_hot"


def test_conversion_sql_is_generated_from_the_catalogue(database_url):
    with psycopg.connect(database_url) as conn:
        cols = layout.columns(conn, "ohlcv_data")
        text = [str(s) for s in layout.conversion_sql(layout.OHLCV, cols, [])]
    assert text[0] == "ALTER TABLE ohlcv_data RENAME TO ohlcv_hot"
    view = next(s for s in text if s.startswith("CREATE VIEW ohlcv_data"))
    assert "WHEN c.ma5_s4 IS NOT NULL THEN (c.ma5_s4[d.idx]::float8 / 10000::float8)" in view
    assert "ELSE c.ma5[d.idx] END AS ma5" in view and "UNION ALL" in view
    cold = next(s for s in text if s.startswith("CREATE TABLE ohlcv_cold ("))
    assert "open numeric(20,4)[]" in cold and "volume bigint[]" in cold
    assert "open_u4 int4[]" in cold and "volume_s4 int4[]" in cold and "currency_k character(3)" in cold
    assert "ALTER TABLE ohlcv_cold SET (toast_tuple_target = 128)" in text


def test_timescaledb_sql_is_detected_and_what_runs_without_it_runs(database_url):
    from quant_assets.storage import timescale

    h = timescale.HYPERTABLES["ohlcv_data"]
    text = timescale.migration_sql(h)
    assert text[0] == "CREATE EXTENSION IF NOT EXISTS timescaledb"
    assert "SELECT create_hypertable('ohlcv_data_ts', by_range('date', INTERVAL '1 month'))" in text
    assert ("ALTER TABLE ohlcv_data SET (timescaledb.compress, timescaledb.compress_segmentby = 'ticker, region', "
            "timescaledb.compress_orderby = 'date DESC')") in text
    assert text[-1] == "SELECT add_compression_policy('ohlcv_data', INTERVAL '60 days')"
    assert "time_bucket('1 month', date)" in timescale.continuous_aggregate_sql()[0]
    assert timescale.compress_closed_chunks_sql("ohlcv_data", dt.date(2025, 1, 1)).endswith(
        "show_chunks('ohlcv_data', older_than => DATE '2025-01-01') c")
    with psycopg.connect(database_url) as conn:
        found = timescale.detect(conn)
        assert found["installed"] is None           # the embedded build has no TimescaleDB
        assert not timescale.is_hypertable(conn, "ohlcv_data")
        # everything but the extension's own calls runs here, on the real catalogue
        for stmt in text:
            if "timescaledb" in stmt or "create_hypertable" in stmt or "add_compression_policy" in stmt:
                continue
            conn.execute(stmt)
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'ohlcv_data'").fetchone()[0] == "r"
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'ohlcv_data_partitioned'").fetchone()[0] == "p"
        conn.rollback()


def hot_partitions(url: str, hot: str = "ohlcv_hot") -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass", (hot,))}


def test_emptied_month_partitions_are_dropped_and_come_back_when_written(pair):
    """Compaction drops the month partitions it empties (queries stop planning and opening them);
    a write or an un-compaction that needs one gets it back, and answers stay the same."""
    ref, cmp = pair
    compact_closed_periods(cmp, before=BEFORE)
    closed = {f"ohlcv_data_y2024m0{m}" for m in (1, 2, 3)}
    assert not closed & hot_partitions(cmp) and "ohlcv_data_y2024m04" in hot_partitions(cmp)
    assert not {f"etf_holdings_y2024m0{m}" for m in (1, 2, 3)} & hot_partitions(cmp, "etf_holdings_hot")
    march = dt.date(2024, 3, 5)
    with psycopg.connect(cmp) as conn:
        # a region with no compacted rows that month writes straight into the hot table: the
        # partition is created in the writer's transaction
        assert layout.write_target(conn, "ohlcv_data", {"region": "US", "date": march}) == "ohlcv_hot"
        assert conn.execute("SELECT to_regclass('ohlcv_data_y2024m03') IS NOT NULL").fetchone()[0]
        conn.rollback()
    assert "ohlcv_data_y2024m03" not in hot_partitions(cmp)
    # a write un-compacting the month creates the partition without blocking the view's readers
    # until it commits (CREATE TABLE ... PARTITION OF would hold ACCESS EXCLUSIVE on ohlcv_hot)
    with psycopg.connect(cmp) as writer, psycopg.connect(cmp, autocommit=True) as reader:
        assert writer.execute("SELECT storage_ohlcv_data_uncompact('KR', '2024-03-01')").fetchone()[0] > 0
        reader.execute("SET lock_timeout = '2s'")
        assert reader.execute("SELECT count(*) FROM ohlcv_data WHERE region = 'KR' AND date = %s",
                              (march,)).fetchone()[0] > 0
        writer.rollback()
    assert uncompact_period(cmp, "ohlcv_data", march)["rows"] > 0       # recreates it for the rows
    assert "ohlcv_data_y2024m03" in hot_partitions(cmp)
    assert_same(ref, cmp, "after un-compacting a month whose partition was dropped")
    again = compact_closed_periods(cmp, before=BEFORE)["tables"]["ohlcv_data"]
    assert again["partitions_dropped"] == 1 and "ohlcv_data_y2024m03" not in hot_partitions(cmp)
    assert_same(ref, cmp, "after compacting it again")
