"""Every SQL statement of the five seed documents (issue #9 item 4), verbatim, with its class.

The seeds are design documents of the system this warehouse replaces (Spock on SQLite, then a
PostgreSQL + TimescaleDB plan). Each statement below is copied exactly as the seed has it: SQL
code blocks, and SQL inside Python strings (`cursor.execute("…")`, `execute_query(triple-quoted …)`),
dedented only. `test_seed_contract.py` runs each one as its own case.

Classes (`kind`):

* ``query``    — runs verbatim against the loaded warehouse; numbers are compared with an
  independent computation.
* ``dml``      — UPDATE/DELETE, run verbatim inside a transaction that is rolled back.
* ``maintenance`` — ANALYZE / EXPLAIN / server settings, run verbatim.
* ``ddl``      — the seed's CREATE TABLE / CREATE INDEX, run verbatim in a scratch schema (or a
  scratch database where the seed qualifies names with ``public.``) and compared with ours.
* ``index_name`` — an index the seed names without its DDL: ours must have it by name or by an
  index with the documented columns.
* ``timescaledb`` — TimescaleDB-only; ``equivalent`` is what answers the same need here.
* ``sqlite``   — SQLite-only syntax; ``equivalent`` is the PostgreSQL statement that does the
  same thing.
* ``seed_defect`` — invalid in its own dialect too; ``equivalent`` is the corrected statement.

Placeholders: SQLite's ``?`` is sent as the driver's parameter marker (psycopg's ``%s``); that is
the driver's parameter syntax, not a change of SQL (``sql_for_driver`` does exactly that and
nothing else). ``template`` statements are Python f-strings in the seed; each interpolation the
seed itself performs is a separate case with the seed's own values.

``finding`` names a difference between the seed and our schema that makes a verbatim statement
fail; the test marks such a case as an expected failure (strict), so it turns red the day the
schema changes and the note must be revisited.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Statement:
    id: str
    seed: str                      # seed file number: "000" … "004"
    kind: str
    sql: str                       # verbatim (dedented) text from the seed
    where: str                     # where in the seed it stands
    params: tuple = ()             # values for `?` placeholders (the seed's own where it gives them)
    equivalent: str | None = None  # the statement run here instead (timescaledb / sqlite / seed_defect)
    requires: tuple[str, ...] = ()  # ddl: ids of seed DDL that must run first (same scratch schema)
    finding: str | None = None     # why the verbatim statement cannot run against our schema
    raises: str | None = None      # the psycopg.errors class the finding makes it raise
    note: str = ""
    occurrences: int = 1           # how many times the identical text appears in the seed
    extra: dict = field(default_factory=dict)


def sql_for_driver(sql: str) -> str:
    """SQLite `?` placeholders as psycopg's `%s` (a literal `%` is doubled for the driver)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _s(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


S: list[Statement] = []


def add(*args, **kwargs) -> None:
    S.append(Statement(*args, **kwargs))


# == seed 000: ETF holdings schema (Phase 1 report) ===============================================
add("s000_q1_stock_to_etf", "000", "query", _s("""
    SELECT etf_ticker, weight
    FROM etf_holdings
    WHERE stock_ticker = '005930'
      AND as_of_date = (SELECT MAX(as_of_date) FROM etf_holdings)
    ORDER BY weight DESC;"""), "Query Examples, Query 1 (which ETFs hold Samsung Electronics)")
add("s000_q2_etf_to_stock", "000", "query", _s("""
    SELECT stock_ticker, weight, rank_in_etf
    FROM etf_holdings
    WHERE etf_ticker = '152100'
      AND as_of_date = (SELECT MAX(as_of_date) FROM etf_holdings)
    ORDER BY rank_in_etf ASC;"""), "Query Examples, Query 2 (constituents of 152100)")
add("s000_q3_high_weight", "000", "query", _s("""
    SELECT etf_ticker, stock_ticker, weight
    FROM etf_holdings
    WHERE weight >= 5.0
      AND as_of_date = (SELECT MAX(as_of_date) FROM etf_holdings)
    ORDER BY weight DESC;"""), "Query Examples, Query 3 (holdings of 5% or more)")

# The "Strategic Indexes" block lists names and purposes, no DDL. `columns` is what each name and
# purpose says; `served_by` the index of ours that answers it where the name differs.
_IDX = [
    ("idx_etfs_region", "Region filtering", "etf_details", ["region"], None),
    ("idx_etfs_category", "Category filtering", "etf_details", ["category"], "idx_etf_details_category"),
    ("idx_etfs_issuer", "Issuer filtering", "etf_details", ["issuer"], None),
    ("idx_etfs_total_assets DESC", "AUM ranking", "etf_details", ["aum"], None),
    ("idx_holdings_stock_date_weight", "Stock → ETF query (0.26ms)", "etf_holdings",
     ["stock_ticker", "as_of_date"], None),
    ("idx_holdings_etf_date_weight", "ETF → Stock query (0.02ms)", "etf_holdings",
     ["etf_ticker"], "etf_holdings_pkey"),
    ("idx_holdings_date DESC", "Date filtering", "etf_holdings", ["as_of_date"], None),
    ("idx_holdings_weight DESC", "High-weight filtering", "etf_holdings", ["as_of_date", "weight"],
     "idx_holdings_date"),
]
for _name, _purpose, _table, _cols, _served in _IDX:
    _bare = _name.split()[0]
    add(f"s000_{_bare}", "000", "index_name", f"{_name:<28} -- {_purpose}",
        "Strategic Indexes block (names only)",
        extra={"name": _bare, "table": _table, "columns": _cols, "served_by": _served})

# == seed 001: Phase 1 database migration plan (PostgreSQL + TimescaleDB) ========================
add("s001_sqlite_count_technical_analysis", "001", "query",
    'SELECT count(*) FROM technical_analysis;',
    "Task 1 step 1, `sqlite3 data/spock_local.db \"…\"` (standard SQL, runs on PostgreSQL as is)")

add("s001_cagg_ohlcv_quarterly", "001", "timescaledb", _s("""
    CREATE MATERIALIZED VIEW ohlcv_quarterly
    WITH (timescaledb.continuous) AS
    SELECT ticker, region,
           time_bucket('3 months', date) AS quarter,
           first(open, date) AS open,
           max(high) AS high,
           min(low) AS low,
           last(close, date) AS close,
           sum(volume) AS volume,
           first(ma5, date) AS ma5_start,
           last(ma20, date) AS ma20_end,
           last(rsi_14, date) AS rsi_14_end
    FROM ohlcv_data
    WHERE timeframe = '1d'
    GROUP BY ticker, region, quarter;"""), "Task 2, quarterly continuous aggregate",
    equivalent="table ohlcv_quarterly (asset ohlcv_quarterly) vs the same aggregate in plain SQL "
               "(first/last by ordered array_agg, date_trunc('quarter'))")
add("s001_cagg_policy_quarterly", "001", "timescaledb", _s("""
    SELECT add_continuous_aggregate_policy('ohlcv_quarterly',
        start_offset => INTERVAL '1 year',
        end_offset => INTERVAL '1 day',
        schedule_interval => INTERVAL '1 day');"""), "Task 2, refresh policy",
    equivalent="asset ohlcv_quarterly: quarterly partitions, refreshed by its automation condition when "
               "ohlcv_data partitions of the quarter change")
add("s001_chunks_compression_status", "001", "timescaledb", _s("""
    SELECT hypertable_name,
           count(*) FILTER (WHERE is_compressed = true) as compressed_chunks,
           count(*) FILTER (WHERE is_compressed = false) as uncompressed_chunks
    FROM timescaledb_information.chunks
    WHERE hypertable_name IN ('ohlcv_data', 'factor_scores')
    GROUP BY hypertable_name;"""), "Task 3 step 1, compression status",
    equivalent="monthly partitions listed from pg_inherits (nothing is compressed: plain heap partitions)")
add("s001_compression_policy_ohlcv", "001", "timescaledb",
    "SELECT add_compression_policy('ohlcv_data', INTERVAL '365 days');", "Task 3 step 2",
    equivalent="no compression; per-partition sizes from pg_total_relation_size (old months can be detached)")
add("s001_compress_settings_factor_scores", "001", "timescaledb", _s("""
    ALTER TABLE factor_scores SET (
        timescaledb.compress,
        timescaledb.compress_segmentby = 'ticker, region, factor_name',
        timescaledb.compress_orderby = 'date DESC'
    );"""), "Task 3 step 3",
    equivalent="factor_scores is a view over factor_scores_packed (sql/019: one row per date, region and "
               "factor, arrays over tickers), range-partitioned by month on date; sizes from pg_total_relation_size")
add("s001_compression_policy_factor_scores", "001", "timescaledb",
    "SELECT add_compression_policy('factor_scores', INTERVAL '180 days');", "Task 3 step 3",
    equivalent="no compression; per-partition sizes from pg_total_relation_size")
add("s001_compress_old_chunks", "001", "timescaledb", _s("""
    SELECT compress_chunk(i)
    FROM show_chunks('ohlcv_data', older_than => INTERVAL '365 days') i;"""),
    "Task 3 step 4 (and Troubleshooting, identical)", occurrences=2,
    equivalent="partitions of ohlcv_data whose upper bound is older than 365 days, from pg_inherits")
add("s001_compression_ratio", "001", "timescaledb", _s("""
    SELECT
        hypertable_name,
        pg_size_pretty(before_compression_total_bytes) as uncompressed_size,
        pg_size_pretty(after_compression_total_bytes) as compressed_size,
        round((1 - after_compression_total_bytes::numeric / before_compression_total_bytes::numeric) * 100, 2) as compression_ratio
    FROM timescaledb_information.compression_settings
    WHERE hypertable_name IN ('ohlcv_data', 'factor_scores');"""), "Task 3 step 4, compression results",
    equivalent="table sizes: sum of pg_total_relation_size over each table's partitions")

add("s001_ddl_portfolio_transactions", "001", "ddl", _s("""
    CREATE TABLE portfolio_transactions (
        id BIGSERIAL PRIMARY KEY,
        strategy_id INTEGER REFERENCES strategies(id) ON DELETE CASCADE,
        ticker VARCHAR(20) NOT NULL,
        region VARCHAR(2) NOT NULL,
        date DATE NOT NULL,
        transaction_type VARCHAR(10) NOT NULL CHECK (transaction_type IN ('BUY', 'SELL')),
        shares DECIMAL(15, 4) NOT NULL,
        price DECIMAL(15, 4) NOT NULL,
        commission DECIMAL(10, 4) DEFAULT 0,
        slippage DECIMAL(10, 4) DEFAULT 0,
        total_value DECIMAL(15, 4) GENERATED ALWAYS AS (shares * price + commission + slippage) STORED,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );"""), "Task 4, portfolio_transactions", extra={"table": "portfolio_transactions"})
add("s001_ddl_idx_transactions_strategy", "001", "ddl",
    "CREATE INDEX idx_transactions_strategy ON portfolio_transactions(strategy_id, date DESC);",
    "Task 4", requires=("s001_ddl_portfolio_transactions",), extra={"table": "portfolio_transactions"})
add("s001_ddl_idx_transactions_ticker", "001", "ddl",
    "CREATE INDEX idx_transactions_ticker ON portfolio_transactions(ticker, region, date DESC);",
    "Task 4", requires=("s001_ddl_portfolio_transactions",), extra={"table": "portfolio_transactions"})
add("s001_ddl_walk_forward_results", "001", "ddl", _s("""
    CREATE TABLE walk_forward_results (
        id SERIAL PRIMARY KEY,
        strategy_id INTEGER REFERENCES strategies(id) ON DELETE CASCADE,
        train_start_date DATE NOT NULL,
        train_end_date DATE NOT NULL,
        test_start_date DATE NOT NULL,
        test_end_date DATE NOT NULL,
        in_sample_sharpe DECIMAL(10, 4),
        out_sample_sharpe DECIMAL(10, 4),
        in_sample_return DECIMAL(10, 4),
        out_sample_return DECIMAL(10, 4),
        overfitting_ratio DECIMAL(10, 4),  -- out_sample_sharpe / in_sample_sharpe
        optimal_params JSONB,  -- Parameters found during training
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );"""), "Task 4, walk_forward_results", extra={"table": "walk_forward_results"})
add("s001_ddl_idx_walkforward_strategy", "001", "ddl",
    "CREATE INDEX idx_walkforward_strategy ON walk_forward_results(strategy_id);",
    "Task 4", requires=("s001_ddl_walk_forward_results",), extra={"table": "walk_forward_results"})
add("s001_ddl_idx_walkforward_dates", "001", "ddl",
    "CREATE INDEX idx_walkforward_dates ON walk_forward_results(train_start_date, test_end_date);",
    "Task 4", requires=("s001_ddl_walk_forward_results",), extra={"table": "walk_forward_results"})
add("s001_ddl_optimization_history", "001", "ddl", _s("""
    CREATE TABLE optimization_history (
        id SERIAL PRIMARY KEY,
        optimization_date DATE NOT NULL,
        universe VARCHAR(50) NOT NULL,  -- 'KR_TOP100', 'US_SP500', etc.
        method VARCHAR(50) NOT NULL,    -- 'mean_variance', 'risk_parity', etc.
        target_return DECIMAL(10, 4),
        target_risk DECIMAL(10, 4),
        constraints JSONB,
        optimal_weights JSONB NOT NULL,  -- {ticker: weight}
        expected_return DECIMAL(10, 4),
        expected_risk DECIMAL(10, 4),
        sharpe_ratio DECIMAL(10, 4),
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );"""), "Task 4, optimization_history", extra={"table": "optimization_history"})
add("s001_ddl_idx_optimization_date", "001", "ddl",
    "CREATE INDEX idx_optimization_date ON optimization_history(optimization_date DESC);",
    "Task 4", requires=("s001_ddl_optimization_history",), extra={"table": "optimization_history"})
add("s001_ddl_idx_optimization_method", "001", "ddl",
    "CREATE INDEX idx_optimization_method ON optimization_history(method, optimization_date DESC);",
    "Task 4", requires=("s001_ddl_optimization_history",), extra={"table": "optimization_history"})

add("s001_create_extension_pg_stat_statements", "001", "maintenance",
    "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;", "Task 5 step 1")
add("s001_pg_stat_statements_slowest", "001", "maintenance", _s("""
    SELECT query,
           calls,
           total_exec_time / 1000 as total_time_sec,
           mean_exec_time / 1000 as avg_time_sec,
           max_exec_time / 1000 as max_time_sec
    FROM pg_stat_statements
    ORDER BY mean_exec_time DESC
    LIMIT 10;"""), "Task 5 step 1, top 10 slowest queries")
add("s001_ddl_idx_factor_scores_factor_date", "001", "ddl", _s("""
    CREATE INDEX idx_factor_scores_factor_date
    ON factor_scores(factor_name, date DESC)
    WHERE percentile IS NOT NULL;"""), "Task 5 step 2", extra={"table": "factor_scores"})
add("s001_ddl_idx_backtest_sharpe", "001", "ddl", _s("""
    CREATE INDEX idx_backtest_sharpe
    ON backtest_results(strategy_id, sharpe_ratio DESC);"""), "Task 5 step 2",
    extra={"table": "backtest_results"})
for _t in ("tickers", "ohlcv_data", "factor_scores", "strategies", "backtest_results", "portfolio_holdings"):
    add(f"s001_analyze_{_t}", "001", "maintenance", f"ANALYZE {_t};", "Task 5 step 3",
        extra={"table": _t}, note="factor_scores is a view (sql/019): ANALYZE warns and skips it; its storage "
                                  "factor_scores_packed is what the planner's statistics describe"
        if _t == "factor_scores" else "")

# Task 6's validation script: execute_query(f"SELECT COUNT(*) as count FROM {table}") over its list.
for _t in ("tickers", "ohlcv_data", "stock_details", "etf_details", "technical_analysis", "ticker_fundamentals"):
    add(f"s001_row_count_{_t}", "001", "query", f"SELECT COUNT(*) as count FROM {_t}",
        "Task 6 validate_row_counts: f\"SELECT COUNT(*) as count FROM {table}\" (seed's table list)",
        extra={"table": _t, "template": 'SELECT COUNT(*) as count FROM {table}'}, occurrences=2,
        note="the seed runs the same text on SQLite and on PostgreSQL")
add("s001_null_check", "001", "query", _s("""
    SELECT
        COUNT(*) FILTER (WHERE close IS NULL) as null_close,
        COUNT(*) FILTER (WHERE volume IS NULL) as null_volume
    FROM ohlcv_data"""), "Task 6 validate_data_integrity, check 1")
add("s001_date_check", "001", "query", _s("""
    SELECT
        MIN(date) as min_date,
        MAX(date) as max_date,
        COUNT(DISTINCT date) as unique_dates
    FROM ohlcv_data"""), "Task 6 validate_data_integrity, check 2")
add("s001_dup_check", "001", "query", _s("""
    SELECT COUNT(*) as dup_count
    FROM (
        SELECT ticker, region, date, timeframe, COUNT(*) as cnt
        FROM ohlcv_data
        GROUP BY ticker, region, date, timeframe
        HAVING COUNT(*) > 1
    ) dups"""), "Task 6 validate_data_integrity, check 3")
add("s001_perf_ohlcv_10y", "001", "query", _s("""
    SELECT * FROM ohlcv_data
    WHERE ticker = '005930' AND region = 'KR'
    AND date >= CURRENT_DATE - INTERVAL '10 years'
    ORDER BY date DESC"""), "Task 6 validate_performance, test 1")
add("s001_perf_factor_1y", "001", "query", _s("""
    SELECT * FROM factor_scores
    WHERE factor_name = 'momentum'
    AND date >= CURRENT_DATE - INTERVAL '1 year'"""), "Task 6 validate_performance, test 2",
    note="our factor names are mom_12_1, mom_6_1, mom_3, …: the seed's 'momentum' matches no row")
add("s001_perf_monthly", "001", "query", _s("""
    SELECT * FROM ohlcv_monthly
    WHERE ticker = '005930' AND region = 'KR'"""), "Task 6 validate_performance, test 3")
add("s001_tsdb_chunks_total", "001", "timescaledb", _s("""
    SELECT
        hypertable_name,
        count(*) FILTER (WHERE is_compressed = true) as compressed_chunks,
        count(*) as total_chunks
    FROM timescaledb_information.chunks
    GROUP BY hypertable_name;"""), "Quick Start, check compression status (psql -c)",
    equivalent="monthly partitions per partitioned table, from pg_inherits")
add("s001_tsdb_jobs", "001", "timescaledb", _s("""
    SELECT * FROM timescaledb_information.jobs
    WHERE proc_name = 'policy_compression';"""), "Troubleshooting, compression not working",
    equivalent="no background compression job exists; sizes from pg_total_relation_size")
add("s001_alter_system_log_min_duration", "001", "maintenance",
    "ALTER SYSTEM SET log_min_duration_statement = 1000;  -- Log queries >1s",
    "Troubleshooting, slow queries")
add("s001_pg_reload_conf", "001", "maintenance", "SELECT pg_reload_conf();", "Troubleshooting, slow queries")
add("s001_explain_analyze", "001", "maintenance", _s("""
    EXPLAIN ANALYZE
    SELECT * FROM ohlcv_data
    WHERE ticker = '005930' AND date >= '2020-01-01';"""), "Troubleshooting, analyze query plan")

# == seed 002: ETF data collection plan (Spock, SQLite) ===========================================
add("s002_sqlite_master", "002", "sqlite",
    'SELECT name FROM sqlite_master WHERE type="table" AND name IN ("tickers", "etf_details")',
    "Phase 0, verify database schema (python3 -c \"…\": the seed escapes the quotes for the shell)",
    equivalent="SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' "
               "AND tablename IN ('tickers', 'etf_details')",
    note="sqlite_master is SQLite's catalogue; the seed's double quotes are SQLite string literals")
add("s002_delete_etf_details", "002", "dml",
    "DELETE FROM etf_details WHERE ticker IN (SELECT ticker FROM tickers WHERE asset_type = 'ETF')",
    "Day 3 ETFCollector.collect_basic_info")
add("s002_delete_etf_tickers", "002", "dml", "DELETE FROM tickers WHERE asset_type = 'ETF'",
    "Day 3 ETFCollector.collect_basic_info", requires=("s002_delete_etf_details",))
add("s002_insert_or_replace_tickers", "002", "sqlite", _s("""
    INSERT OR REPLACE INTO tickers
    (ticker, name, name_eng, exchange, region, currency, asset_type,
     listing_date, is_active, created_at, last_updated, data_source)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""), "Day 3 ETFCollector._insert_etf_basic, tickers",
    equivalent=_s("""
    INSERT INTO tickers
    (ticker, name, name_eng, exchange, region, currency, asset_type,
     listing_date, is_active, created_at, updated_at, data_source)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (ticker, region) DO UPDATE SET
        name = EXCLUDED.name, name_eng = EXCLUDED.name_eng, exchange = EXCLUDED.exchange,
        currency = EXCLUDED.currency, asset_type = EXCLUDED.asset_type,
        listing_date = EXCLUDED.listing_date, is_active = EXCLUDED.is_active,
        created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, data_source = EXCLUDED.data_source"""),
    note="last_updated is kept equal to updated_at by a trigger here",
    # the seed's tuple for KODEX 200 (its test ETF), with the seed's constants
    params=("069500", "KODEX 200", None, "KRX", "KR", "KRW", "ETF", "2002-10-14", True,
            "2025-10-01T09:00:00", "2025-10-01T09:00:00", "KRX Data API"))
add("s002_insert_or_replace_etf_details", "002", "sqlite", _s("""
    INSERT OR REPLACE INTO etf_details
    (ticker, issuer, inception_date, underlying_asset_class,
     tracking_index, geographic_region, fund_type,
     expense_ratio, listed_shares, leverage_ratio,
     created_at, last_updated, data_source)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""), "Day 3 ETFCollector._insert_etf_basic, etf_details",
    equivalent=_s("""
    INSERT INTO etf_details
    (ticker, region, issuer, inception_date, underlying_asset_class,
     tracking_index, geographic_region, fund_type,
     expense_ratio, listed_shares, multiple,
     created_at, updated_at, data_source)
    VALUES (?, 'KR', ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(replace(?, 'X', '')::numeric, 1), ?, ?, ?)
    ON CONFLICT (ticker, region) DO UPDATE SET
        issuer = EXCLUDED.issuer, inception_date = EXCLUDED.inception_date,
        underlying_asset_class = EXCLUDED.underlying_asset_class, tracking_index = EXCLUDED.tracking_index,
        geographic_region = EXCLUDED.geographic_region, fund_type = EXCLUDED.fund_type,
        expense_ratio = EXCLUDED.expense_ratio, listed_shares = EXCLUDED.listed_shares,
        multiple = EXCLUDED.multiple, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
        data_source = EXCLUDED.data_source"""),
    note="the seed's SQLite table had no region; leverage_ratio ('2X', '-1X') and last_updated are generated "
         "here from multiple and updated_at, so the equivalent writes those",
    params=("069500", "삼성자산운용", "2002-10-14", "주식", "코스피 200", "국내", "실물(패시브)", 0.15,
            100000000, None, "2025-10-01T09:00:00", "2025-10-01T09:00:00", "KRX Data API"))
add("s002_verify_152100", "002", "query", _s("""
    SELECT t.ticker, t.name, e.issuer, e.expense_ratio
    FROM tickers t
    JOIN etf_details e ON t.ticker = e.ticker
    WHERE t.ticker = '152100'"""), "Day 3 test_collect_basic_info, sample data")
add("s002_count_etf_tickers", "002", "query", "SELECT COUNT(*) FROM tickers WHERE asset_type = 'ETF'",
    "Day 3 test_collect_basic_info")
add("s002_count_etf_details", "002", "query", "SELECT COUNT(*) FROM etf_details",
    "Day 3 test_collect_basic_info and the manual checks (three times)", occurrences=3)
_SAMPLE = ('152100', '069500', '102110', '114800', '219390')   # the seed's test_update_aum sample
add("s002_aum_targets_in", "002", "query",
    "SELECT ticker, listed_shares FROM etf_details WHERE ticker IN (?,?,?,?,?)",
    "Day 5 update_aum: f\"SELECT ticker, listed_shares FROM etf_details WHERE ticker IN ({placeholders})\"",
    params=_SAMPLE, extra={"template": "SELECT ticker, listed_shares FROM etf_details WHERE ticker IN ({placeholders})"})
add("s002_aum_targets_all", "002", "query", "SELECT ticker, listed_shares FROM etf_details", "Day 5 update_aum")
add("s002_update_aum", "002", "dml", _s("""
    UPDATE etf_details
    SET aum = ?, last_updated = ?
    WHERE ticker = ?"""), "Day 5 update_aum", params=(123_456_000_000, "2025-10-01T16:00:00", "069500"))
add("s002_tracking_targets_in", "002", "query",
    "SELECT ticker FROM etf_details WHERE ticker IN (?,?,?,?,?)",
    "Day 6-7 update_tracking_error: f\"SELECT ticker FROM etf_details WHERE ticker IN ({placeholders})\"",
    params=_SAMPLE, extra={"template": "SELECT ticker FROM etf_details WHERE ticker IN ({placeholders})"})
add("s002_tracking_targets_all", "002", "query", "SELECT ticker FROM etf_details",
    "Day 6-7 update_tracking_error and Day 8 update_52w_high_low", occurrences=2)
add("s002_update_tracking_error", "002", "dml", _s("""
    UPDATE etf_details
    SET tracking_error_20d = ?,
        tracking_error_60d = ?,
        tracking_error_120d = ?,
        tracking_error_250d = ?,
        underlying_asset_count = ?,
        last_updated = ?
    WHERE ticker = ?"""), "Day 6-7 update_tracking_error",
    params=(0.12, 0.10, 0.09, 0.08, 200, "2025-10-05T21:00:00", "069500"),
    note="the seed's 'tracking error' is the mean premium/discount: premium_discount_avg_Nd here")
add("s002_52w_high_low", "002", "sqlite", _s("""
    SELECT MAX(close) as high_52w, MIN(close) as low_52w
    FROM ohlcv_data
    WHERE ticker = ? AND date >= DATE('now', '-250 days')"""), "Day 8 update_52w_high_low",
    params=("069500",),
    equivalent=_s("""
    SELECT MAX(close) as high_52w, MIN(close) as low_52w
    FROM ohlcv_data
    WHERE ticker = ? AND date >= CURRENT_DATE - 250"""),
    note="DATE('now', '-250 days') is SQLite's date arithmetic")
add("s002_update_52w", "002", "dml", _s("""
    UPDATE etf_details
    SET week_52_high = ?, week_52_low = ?, last_updated = ?
    WHERE ticker = ?"""), "Day 8 update_52w_high_low", params=(40000, 30000, "2025-10-01T17:00:00", "069500"))
add("s002_monitor_last_updated", "002", "query", _s("""
    SELECT MAX(last_updated)
    FROM etf_details"""), "Day 10 check_data_freshness")
_CONDITIONS = {
    'ticker': 'ticker IS NOT NULL',
    'issuer': 'issuer IS NOT NULL',
    'expense_ratio': 'expense_ratio IS NOT NULL',
    'aum': 'aum IS NOT NULL AND aum > 0',
    'tracking_error_20d': 'tracking_error_20d IS NOT NULL',
    'week_52_high': 'week_52_high IS NOT NULL',
}
for _field, _cond in _CONDITIONS.items():
    add(f"s002_completeness_{_field}", "002", "query",
        f"SELECT COUNT(*) * 100.0 / (SELECT COUNT(*) FROM etf_details)\nFROM etf_details\nWHERE {_cond}",
        "Day 10 check_data_completeness: f-string over the seed's `checks` dict",
        extra={"condition": _cond,
               "template": "SELECT COUNT(*) * 100.0 / (SELECT COUNT(*) FROM etf_details)\nFROM etf_details\n"
                           "WHERE {condition}"})
add("s002_sample_etfs_limit5", "002", "seed_defect",
    'SELECT ticker, name, issuer, expense_ratio FROM tickers t JOIN etf_details e ON t.ticker = e.ticker LIMIT 5',
    "Phase 1 manual check (python3 -c)",
    equivalent="SELECT t.ticker, name, issuer, expense_ratio FROM tickers t JOIN etf_details e "
               "ON t.ticker = e.ticker LIMIT 5",
    note="`ticker` is ambiguous between t and e, in SQLite as in PostgreSQL: the statement never ran")
add("s002_short_ohlcv_history", "002", "query",
    'SELECT ticker, COUNT(*) FROM ohlcv_data WHERE ticker IN (SELECT ticker FROM etf_details) '
    'GROUP BY ticker HAVING COUNT(*) < 250',
    "Troubleshooting, missing OHLCV data")
add("s002_test_aum_values", "002", "query", _s("""
    SELECT ticker, aum
    FROM etf_details
    WHERE ticker IN ('152100', '069500')"""), "Day 5 test_update_aum")

# == seed 003: relational groups (Sprint 59) ======================================================
add("s003_ddl_definition_groups", "003", "ddl", _s("""
    CREATE TABLE public.definition_groups (
        id SERIAL PRIMARY KEY,
        name VARCHAR(100) NOT NULL,
        type VARCHAR(50) NOT NULL CHECK (type IN ('ETF', 'THEME', 'SECTOR', 'SEGMENT', 'CUSTOM')),
        description TEXT,
        metadata JSONB,
        liquidity_filter JSONB,
        environment VARCHAR(10) NOT NULL CHECK (environment IN ('DEFAULT', 'TEST', 'UAT', 'PROD')),
        created_at TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP,
        updated_at TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP,
        last_update TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT unique_group UNIQUE (name, type, environment)
    );"""), "Table 1", extra={"table": "definition_groups", "scratch": "database"})
add("s003_ddl_group_memberships", "003", "ddl", _s("""
    CREATE TABLE public.group_memberships (
        id SERIAL PRIMARY KEY,
        group_id INTEGER NOT NULL REFERENCES public.definition_groups(id) ON DELETE CASCADE,
        symbol VARCHAR(50) NOT NULL,
        weight NUMERIC(5,4),
        metadata JSONB,
        added_at TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP,
        updated_at TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT unique_membership UNIQUE (group_id, symbol)
    );"""), "Table 2", requires=("s003_ddl_definition_groups",),
    extra={"table": "group_memberships", "scratch": "database"})

# == seed 004: database schema diagram (PostgreSQL + TimescaleDB) =================================
add("s004_ddl_tickers", "004", "ddl", _s("""
    CREATE TABLE tickers (
        id SERIAL PRIMARY KEY,
        ticker VARCHAR(20) NOT NULL,
        region VARCHAR(2) NOT NULL,  -- KR, US, CN, HK, JP, VN
        symbol VARCHAR(20),           -- Exchange-specific symbol
        name VARCHAR(255),
        asset_type VARCHAR(20),       -- stock, etf, index
        exchange VARCHAR(50),
        currency VARCHAR(3),
        is_active BOOLEAN DEFAULT TRUE,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),

        UNIQUE(ticker, region)
    );"""), "Core Tables, tickers", extra={"table": "tickers"})
add("s004_ddl_idx_tickers_region_asset_type", "004", "ddl",
    "CREATE INDEX idx_tickers_region_asset_type ON tickers(region, asset_type);", "Core Tables, tickers",
    requires=("s004_ddl_tickers",), extra={"table": "tickers"})
add("s004_ddl_idx_tickers_active", "004", "ddl",
    "CREATE INDEX idx_tickers_active ON tickers(is_active) WHERE is_active = TRUE;", "Core Tables, tickers",
    requires=("s004_ddl_tickers",), extra={"table": "tickers"})
add("s004_ddl_ohlcv_data", "004", "ddl", _s("""
    CREATE TABLE ohlcv_data (
        id BIGSERIAL,
        ticker VARCHAR(20) NOT NULL,
        region VARCHAR(2) NOT NULL,
        date DATE NOT NULL,
        timeframe VARCHAR(10) DEFAULT 'D',  -- D (daily), W (weekly), M (monthly)
        open DECIMAL(15, 4),
        high DECIMAL(15, 4),
        low DECIMAL(15, 4),
        close DECIMAL(15, 4),
        volume BIGINT,

        PRIMARY KEY (ticker, region, date, timeframe)
    );"""), "Core Tables, ohlcv_data", extra={"table": "ohlcv_data"})
add("s004_create_hypertable", "004", "timescaledb",
    "SELECT create_hypertable('ohlcv_data', 'date', chunk_time_interval => INTERVAL '1 month');",
    "Core Tables, ohlcv_data",
    equivalent="ohlcv_data is PARTITION BY RANGE (date) with one partition per calendar month")
add("s004_ddl_idx_ohlcv_ticker_region_timeframe_date", "004", "ddl", _s("""
    CREATE INDEX idx_ohlcv_ticker_region_timeframe_date
        ON ohlcv_data(ticker, region, timeframe, date DESC);"""), "Core Tables, ohlcv_data",
    requires=("s004_ddl_ohlcv_data",), extra={"table": "ohlcv_data"})
add("s004_compress_settings_ohlcv", "004", "timescaledb", _s("""
    ALTER TABLE ohlcv_data SET (
        timescaledb.compress,
        timescaledb.compress_segmentby = 'ticker, region',
        timescaledb.compress_orderby = 'date DESC'
    );"""), "Core Tables, ohlcv_data, compression policy",
    equivalent="no compression; per-partition sizes from pg_total_relation_size")
add("s004_compression_policy_ohlcv", "004", "timescaledb",
    "SELECT add_compression_policy('ohlcv_data', INTERVAL '365 days');", "Core Tables, ohlcv_data",
    equivalent="no compression; per-partition sizes from pg_total_relation_size")
add("s004_ddl_stock_details", "004", "ddl", _s("""
    CREATE TABLE stock_details (
        ticker VARCHAR(20) NOT NULL,
        region VARCHAR(2) NOT NULL,
        sector VARCHAR(100),
        industry VARCHAR(100),
        market_cap BIGINT,
        shares_outstanding BIGINT,
        ipo_date DATE,
        description TEXT,
        website VARCHAR(255),
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),

        PRIMARY KEY (ticker, region),
        FOREIGN KEY (ticker, region) REFERENCES tickers(ticker, region)
    );"""), "Core Tables, stock_details", extra={"table": "stock_details"})
add("s004_ddl_idx_stock_details_sector", "004", "ddl",
    "CREATE INDEX idx_stock_details_sector ON stock_details(sector);", "Core Tables, stock_details",
    requires=("s004_ddl_stock_details",), extra={"table": "stock_details"})
add("s004_ddl_idx_stock_details_industry", "004", "ddl",
    "CREATE INDEX idx_stock_details_industry ON stock_details(industry);", "Core Tables, stock_details",
    requires=("s004_ddl_stock_details",), extra={"table": "stock_details"})
add("s004_ddl_etf_details", "004", "ddl", _s("""
    CREATE TABLE etf_details (
        ticker VARCHAR(20) NOT NULL,
        region VARCHAR(2) NOT NULL,
        category VARCHAR(100),
        index_tracked VARCHAR(100),
        expense_ratio DECIMAL(5, 4),
        aum BIGINT,
        inception_date DATE,
        description TEXT,
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),

        PRIMARY KEY (ticker, region),
        FOREIGN KEY (ticker, region) REFERENCES tickers(ticker, region)
    );"""), "Core Tables, etf_details", extra={"table": "etf_details"})
add("s004_ddl_idx_etf_details_category", "004", "ddl",
    "CREATE INDEX idx_etf_details_category ON etf_details(category);", "Core Tables, etf_details",
    requires=("s004_ddl_etf_details",), extra={"table": "etf_details"})
add("s004_ddl_strategies", "004", "ddl", _s("""
    CREATE TABLE strategies (
        id SERIAL PRIMARY KEY,
        name VARCHAR(100) UNIQUE NOT NULL,
        description TEXT,
        factor_weights JSONB,      -- {"momentum": 0.4, "value": 0.3, "quality": 0.3}
        constraints JSONB,         -- {"max_position": 0.15, "max_sector": 0.4}
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );"""), "Quant Platform Tables, strategies (the block's trailing JSON example is prose, not SQL)",
    extra={"table": "strategies"})
add("s004_ddl_portfolio_transactions", "004", "ddl", _s("""
    CREATE TABLE portfolio_transactions (
        id BIGSERIAL PRIMARY KEY,
        strategy_id INTEGER NOT NULL REFERENCES strategies(id) ON DELETE CASCADE,
        ticker VARCHAR(20) NOT NULL,
        region VARCHAR(2) NOT NULL,
        date DATE NOT NULL,
        transaction_type VARCHAR(4) CHECK (transaction_type IN ('BUY', 'SELL')),
        shares DECIMAL(15, 4),
        price DECIMAL(15, 4),
        commission DECIMAL(10, 4),
        slippage DECIMAL(10, 4),
        total_value DECIMAL(20, 4) GENERATED ALWAYS AS
            (shares * price + commission + slippage) STORED,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );"""), "Quant Platform Tables, portfolio_transactions", extra={"table": "portfolio_transactions"})
add("s004_ddl_idx_transactions_strategy", "004", "ddl",
    "CREATE INDEX idx_transactions_strategy ON portfolio_transactions(strategy_id, date DESC);",
    "Quant Platform Tables, portfolio_transactions", requires=("s004_ddl_portfolio_transactions",),
    extra={"table": "portfolio_transactions"})
add("s004_ddl_idx_transactions_ticker", "004", "ddl",
    "CREATE INDEX idx_transactions_ticker ON portfolio_transactions(ticker, region, date DESC);",
    "Quant Platform Tables, portfolio_transactions", requires=("s004_ddl_portfolio_transactions",),
    extra={"table": "portfolio_transactions"})
add("s004_ddl_walk_forward_results", "004", "ddl", _s("""
    CREATE TABLE walk_forward_results (
        id SERIAL PRIMARY KEY,
        strategy_id INTEGER NOT NULL REFERENCES strategies(id) ON DELETE CASCADE,
        train_start_date DATE NOT NULL,
        train_end_date DATE NOT NULL,
        test_start_date DATE NOT NULL,
        test_end_date DATE NOT NULL,
        in_sample_sharpe DECIMAL(10, 4),
        out_sample_sharpe DECIMAL(10, 4),
        in_sample_return DECIMAL(10, 4),
        out_sample_return DECIMAL(10, 4),
        overfitting_ratio DECIMAL(10, 4),  -- out_sample_sharpe / in_sample_sharpe
        optimal_params JSONB,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );"""), "Quant Platform Tables, walk_forward_results", extra={"table": "walk_forward_results"})
add("s004_ddl_idx_walkforward_strategy", "004", "ddl",
    "CREATE INDEX idx_walkforward_strategy ON walk_forward_results(strategy_id);",
    "Quant Platform Tables, walk_forward_results", requires=("s004_ddl_walk_forward_results",),
    extra={"table": "walk_forward_results"})
add("s004_ddl_idx_walkforward_ratio", "004", "ddl",
    "CREATE INDEX idx_walkforward_ratio ON walk_forward_results(overfitting_ratio DESC);",
    "Quant Platform Tables, walk_forward_results", requires=("s004_ddl_walk_forward_results",),
    extra={"table": "walk_forward_results"})
add("s004_cagg_ohlcv_monthly", "004", "timescaledb", _s("""
    CREATE MATERIALIZED VIEW ohlcv_monthly
    WITH (timescaledb.continuous) AS
    SELECT ticker, region,
           time_bucket('1 month', date) AS month,
           first(open, date) AS open,
           max(high) AS high,
           min(low) AS low,
           last(close, date) AS close,
           sum(volume) AS volume,
           count(*) AS trading_days
    FROM ohlcv_data
    GROUP BY ticker, region, month;"""), "TimescaleDB Objects, continuous aggregates",
    equivalent="table ohlcv_monthly (asset ohlcv_monthly) vs the same aggregate in plain SQL")
add("s004_common_tickers_region", "004", "query", _s("""
    SELECT ticker, name, asset_type
    FROM tickers
    WHERE region = 'KR' AND is_active = TRUE
    ORDER BY ticker;"""), "Common Queries, all tickers for a region")
add("s004_common_ohlcv_10y", "004", "query", _s("""
    SELECT ticker, date, close, volume
    FROM ohlcv_data
    WHERE ticker = '005930' AND region = 'KR' AND timeframe = 'D'
      AND date >= CURRENT_DATE - INTERVAL '10 years'
    ORDER BY date DESC;"""), "Common Queries, 10-year OHLCV")
add("s004_common_monthly_5y", "004", "query", _s("""
    SELECT ticker, month, open, close, volume
    FROM ohlcv_monthly
    WHERE ticker = '005930' AND region = 'KR'
      AND month >= CURRENT_DATE - INTERVAL '5 years'
    ORDER BY month DESC;"""), "Common Queries, monthly aggregates")
add("s004_common_backtest_by_name", "004", "query", _s("""
    SELECT br.*, s.name
    FROM backtest_results br
    JOIN strategies s ON br.strategy_id = s.id
    WHERE s.name = 'Momentum-Value'
    ORDER BY br.created_at DESC;"""), "Common Queries, backtest results for a strategy")

STATEMENTS: tuple[Statement, ...] = tuple(S)
BY_ID: dict[str, Statement] = {s.id: s for s in STATEMENTS}
assert len(BY_ID) == len(STATEMENTS), "duplicate statement id"
