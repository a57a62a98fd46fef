"""sql/008 moves a warehouse written with the pre-contract schema to the seeds' schema, row for row.

A database is built with migrations 001–007 only and filled through those tables' own columns
(several months of partitioned facts, every reference and quant table); then 008 is applied and
each table's content is compared with what it held before, read through the new names. A
migration that dropped, duplicated or altered a single value fails here.
"""

from __future__ import annotations

import shutil

import psycopg
import pytest

from quant_assets import migrations

# Data as the pre-contract schema stored it. generate_series keeps it compact and spread over
# several monthly partitions.
OLD_DATA = """
INSERT INTO tickers (ticker, isin, name, market, asset_type, listing_date, active)
SELECT lpad((100000 + g * 10)::text, 6, '0'), 'KR7' || lpad(g::text, 9, '0'), 'stock ' || g,
       CASE WHEN g % 2 = 0 THEN 'KOSPI' ELSE 'KOSDAQ' END, 'STOCK', DATE '2015-01-02' + g, g % 7 <> 0
FROM generate_series(1, 30) g;
INSERT INTO tickers (ticker, isin, name, market, asset_type, active)
VALUES ('069500', 'KR7069500007', 'KODEX 200', 'ETF', 'ETF', true),
       ('0069M0', 'KR70069M0005', 'NEW ETF', 'ETF', 'ETF', true);
INSERT INTO stock_details (ticker, full_name, market, sector, listed_shares, par_value)
SELECT ticker, name || ' Co', market, 'sector ' || (length(name) % 3), 1000000 + length(name), 100
FROM tickers WHERE asset_type = 'STOCK';
INSERT INTO etf_details (ticker, isin, issuer, index_name, multiple, asset_class, total_fee_pct, listed_units,
                         listing_date)
VALUES ('069500', 'KR7069500007', 'Samsung', 'KOSPI 200', 1, 'equity', 0.15, 5000000, '2002-10-14'),
       ('0069M0', 'KR70069M0005', 'Mirae', 'KOSDAQ 150', -2, 'equity', 0.0925, 100000, '2025-05-01');

CREATE TABLE ohlcv_data_y2026m09 PARTITION OF ohlcv_data FOR VALUES FROM ('2026-09-01') TO ('2026-10-01');
CREATE TABLE ohlcv_data_y2026m10 PARTITION OF ohlcv_data FOR VALUES FROM ('2026-10-01') TO ('2026-11-01');
CREATE TABLE ohlcv_data_y2026m11 PARTITION OF ohlcv_data FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
INSERT INTO ohlcv_data (date, ticker, asset_type, open, high, low, close, change, change_pct, volume, value,
                        market_cap, listed_shares)
SELECT d::date, t.ticker, t.asset_type,
       CASE WHEN (extract(doy FROM d)::int + length(t.name)) % 29 = 0 THEN NULL ELSE 10000 + i END,
       10100 + i, 9900 + i, 10050 + i, 50, 0.5, 1000 * i, 10050000 * i, 5000000000, 500000
FROM tickers t, generate_series(DATE '2026-09-01', DATE '2026-11-27', '1 day') WITH ORDINALITY AS s(d, i)
WHERE extract(isodow FROM d) < 6;

CREATE TABLE etf_daily_y2026m11 PARTITION OF etf_daily FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
INSERT INTO etf_daily SELECT date, ticker, close, close * 1.001, close * 5000000, 5000000, close * 5000000,
                             2500.5, 0.25
FROM ohlcv_data WHERE asset_type = 'ETF' AND date >= '2026-11-01';
CREATE TABLE etf_aum_y2026m11 PARTITION OF etf_aum FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
INSERT INTO etf_aum SELECT date, ticker, aum, aum + 1, aum - 1, listed_units FROM etf_daily;
CREATE TABLE etf_tracking_y2026m11 PARTITION OF etf_tracking FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
INSERT INTO etf_tracking SELECT date, ticker, 1, 0.1, 0.11, 0.12, 0.13, 0.14, 1.1, 1.2, 1.3, 1.4,
                                -0.1, -0.2, -0.3, -0.4, 20 FROM etf_daily;
INSERT INTO etf_tracking_krx SELECT date, ticker, close, nav, 0.1, 0.2, 0.3, 1, 0.05 FROM etf_daily;
CREATE TABLE etf_holdings_y2026m11 PARTITION OF etf_holdings FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
INSERT INTO etf_holdings (as_of_date, etf_ticker, constituent_code, constituent_isin, constituent_name,
                          constituent_type, market_id, shares_per_cu, market_value, weight_pct, krx_weight_pct, rank)
SELECT e.date, e.ticker, s.ticker, s.isin, s.name, 'STOCK', 'STK', 10 + row_number() OVER w,
       1000 * row_number() OVER w, 3.3333, 3.33, row_number() OVER w
FROM etf_daily e CROSS JOIN (SELECT * FROM tickers WHERE asset_type = 'STOCK') s
WINDOW w AS (PARTITION BY e.date, e.ticker ORDER BY s.ticker);

CREATE TABLE price_range_52w_y2026m11 PARTITION OF price_range_52w FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
INSERT INTO price_range_52w SELECT date, ticker, close, 60, '2026-09-01', close + 10, date - 1, close - 10,
       date - 2, high, date, low, date, -1.5, 2.5, -1.6, 2.6 FROM ohlcv_data WHERE date >= '2026-11-01';
CREATE TABLE stock_fundamentals_y2026m10 PARTITION OF stock_fundamentals FOR VALUES FROM ('2026-10-01') TO ('2026-11-01');
CREATE TABLE stock_fundamentals_y2026m11 PARTITION OF stock_fundamentals FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
INSERT INTO stock_fundamentals SELECT date, ticker, 1000, 10.5, 20000, 0.5, 300, 1.2
FROM ohlcv_data WHERE asset_type = 'STOCK' AND date >= '2026-10-01';
CREATE TABLE factor_scores_y2026m11 PARTITION OF factor_scores FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
INSERT INTO factor_scores
SELECT o.date, o.ticker, u.universe, f.factor, o.close / 1000.0,
       (o.close % 7) / 3.0 - 1 + (u.universe <> 'ALL')::int * 0.01,
       ((o.close % 97) + 1) / 98.0 * (CASE WHEN u.universe = 'ALL' THEN 1 ELSE 0.99 END)
FROM ohlcv_data o
JOIN tickers t USING (ticker)
CROSS JOIN (VALUES ('momentum_12_1'), ('low_vol_60')) f(factor)
CROSS JOIN LATERAL (VALUES ('ALL'), (t.market)) u(universe)
WHERE o.asset_type = 'STOCK' AND o.date >= '2026-11-01';

INSERT INTO ohlcv_monthly (ticker, period_start, asset_type, open, high, low, close, volume, value, market_cap,
                           trading_days, first_date, last_date)
SELECT ticker, date_trunc('month', date)::date, min(asset_type), min(open), max(high), min(low), max(close),
       sum(volume), sum(value), max(market_cap), count(*), min(date), max(date)
FROM ohlcv_data GROUP BY ticker, date_trunc('month', date);
INSERT INTO ohlcv_quarterly SELECT * FROM ohlcv_monthly WHERE period_start = '2026-10-01';
INSERT INTO ohlcv_yearly SELECT * FROM ohlcv_monthly WHERE period_start = '2026-09-01';
INSERT INTO adjustment_factors VALUES ('100010', '2026-10-05', 0.2, 50000, 10000, 'split 1:5');
INSERT INTO partition_status (asset, partition_date, status, row_count, reason, source)
SELECT 'ohlcv', d, CASE WHEN d = '2026-11-03' THEN 'source_error' ELSE 'loaded' END, 32,
       CASE WHEN d = '2026-11-03' THEN 'HTTP 500' END, 'KRX'
FROM (SELECT DISTINCT date AS d FROM ohlcv_data) x;
INSERT INTO source_circuit VALUES ('krx', now() + interval '1 hour', 'ban page');

INSERT INTO definition_groups (group_type, name, description, source, environment, as_of_date)
VALUES ('ETF', '069500', 'KODEX 200', 'etf_holdings', 'local', '2026-11-27'),
       ('SECTOR', 'sector 1', NULL, 'stock_details', 'local', NULL);
INSERT INTO group_memberships
SELECT g.group_id, h.constituent_code, h.weight_pct FROM definition_groups g
JOIN etf_holdings h ON h.etf_ticker = g.name AND h.as_of_date = '2026-11-27';

INSERT INTO strategies (name, description, parameters) VALUES ('mom', 'momentum', '{"lookback": 252}');
INSERT INTO backtest_results (strategy_id, start_date, end_date, initial_capital, final_capital, total_return,
                              sharpe_ratio, max_drawdown, win_rate, trades, metrics)
VALUES (1, '2025-01-02', '2025-12-30', 100000000, 112000000, 0.12, 1.1, -0.08, 0.55, 40, '{"calmar": 1.5}');
INSERT INTO portfolio_holdings (strategy_id, backtest_id, date, ticker, quantity, avg_price, market_value, weight)
VALUES (1, 1, '2025-12-30', '100010', 100, 10000, 1005000, 0.01), (1, NULL, '2026-11-27', '100020', 5, 20000, 101000, 0.5);
INSERT INTO portfolio_transactions (strategy_id, backtest_id, executed_at, ticker, side, quantity, price, fee, tax)
VALUES (1, 1, '2025-03-04 01:00+00', '100010', 'BUY', 100, 10000, 150, 0),
       (1, 1, '2025-06-04 06:00+00', '100010', 'SELL', 40, 12000, 72, 864);
INSERT INTO walk_forward_results (strategy_id, backtest_id, window_index, train_start, train_end, test_start,
                                  test_end, in_sample_return, in_sample_sharpe, out_of_sample_return,
                                  out_of_sample_sharpe, parameters)
VALUES (1, 1, 0, '2024-01-02', '2024-12-30', '2025-01-02', '2025-03-31', 0.2, 1.5, 0.05, 0.6, '{"lookback": 126}');
INSERT INTO optimization_history (strategy_id, backtest_id, parameters, objective, objective_value, rank)
VALUES (1, 1, '{"lookback": 126}', 'sharpe_ratio', 1.5, 1), (1, NULL, '{"lookback": 252}', 'sharpe_ratio', 1.2, 2);
INSERT INTO legacy_import_progress (source_checksum, source_path, table_name, rows_done, completed)
VALUES (repeat('a', 64), '/tmp/spock.db', 'ohlcv_data', 1234, true);
"""

# (table after 008, the rows before as a query on the old schema, the same rows after on the new one)
SAME_ROWS = [
    ("tickers",
     "SELECT ticker, isin, name, CASE market WHEN 'ETF' THEN 'KOSPI' ELSE market END, asset_type, listing_date, active FROM tickers",
     "SELECT ticker, isin, name, exchange, asset_type, listing_date, is_active FROM tickers WHERE region = 'KR'"),
    ("stock_details",
     "SELECT ticker, full_name, market, sector, listed_shares, par_value FROM stock_details",
     "SELECT ticker, full_name, market, sector, shares_outstanding, par_value FROM stock_details WHERE region = 'KR'"),
    ("etf_details",
     "SELECT ticker, isin, issuer, index_name, multiple, asset_class, total_fee_pct, listed_units, listing_date FROM etf_details",
     "SELECT ticker, isin, issuer, tracking_index, multiple, underlying_asset_class, expense_ratio, listed_shares, "
     "inception_date FROM etf_details WHERE region = 'KR'"),
    ("ohlcv_data", "SELECT date, ticker, asset_type, open, high, low, close, change, change_pct, volume, value, "
                   "market_cap, listed_shares FROM ohlcv_data",
     "SELECT date, ticker, asset_type, open, high, low, close, change, change_pct, volume, value, market_cap, "
     "listed_shares FROM ohlcv_data WHERE region = 'KR' AND timeframe = 'D'"),
    ("etf_daily", "SELECT * FROM etf_daily",
     "SELECT date, ticker, close, nav, aum, listed_units, market_cap, index_close, index_change_pct FROM etf_daily "
     "WHERE region = 'KR'"),
    ("etf_aum", "SELECT * FROM etf_aum",
     "SELECT date, ticker, aum, nav_x_units, units_x_close, listed_units FROM etf_aum WHERE region = 'KR'"),
    ("etf_tracking", "SELECT * FROM etf_tracking",
     "SELECT date, ticker, multiple, premium_discount_pct, premium_discount_avg_20d, premium_discount_avg_60d, "
     "premium_discount_avg_120d, premium_discount_avg_250d, tracking_error_20d, tracking_error_60d, "
     "tracking_error_120d, tracking_error_250d, tracking_diff_20d, tracking_diff_60d, tracking_diff_120d, "
     "tracking_diff_250d, days_in_window FROM etf_tracking WHERE region = 'KR'"),
    ("etf_tracking_krx", "SELECT * FROM etf_tracking_krx",
     "SELECT date, ticker, close, nav, krx_premium_discount_pct, nav_change_pct, index_change_pct, "
     "tracking_multiple, krx_tracking_error_pct FROM etf_tracking_krx WHERE region = 'KR'"),
    ("etf_holdings", "SELECT as_of_date, etf_ticker, constituent_code, constituent_isin, constituent_name, "
                     "constituent_type, market_id, shares_per_cu, market_value, weight_pct, krx_weight_pct, rank "
                     "FROM etf_holdings",
     "SELECT as_of_date, etf_ticker, stock_ticker, constituent_isin, constituent_name, constituent_type, market_id, "
     "shares, market_value, weight, krx_weight_pct, rank_in_etf FROM etf_holdings WHERE region = 'KR'"),
    ("price_range_52w", "SELECT * FROM price_range_52w",
     "SELECT date, ticker, close, days_in_window, window_start, high_close, high_close_date, low_close, "
     "low_close_date, high_52w, high_52w_date, low_52w, low_52w_date, pct_from_high_close, pct_from_low_close, "
     "pct_from_high, pct_from_low FROM price_range_52w WHERE region = 'KR'"),
    ("ticker_fundamentals", "SELECT date, ticker, eps, per, bps, pbr, dps, dividend_yield FROM stock_fundamentals",
     "SELECT date, ticker, eps, per, bps, pbr, dividend_per_share, dividend_yield FROM ticker_fundamentals "
     "WHERE region = 'KR' AND period_type = 'DAILY'"),
    ("factor_scores",
     "SELECT a.date, a.ticker, a.factor, a.raw_value, a.zscore, a.percentile * 100, m.universe, m.zscore, "
     "m.percentile * 100 FROM factor_scores a JOIN factor_scores m ON (m.date, m.ticker, m.factor) = "
     "(a.date, a.ticker, a.factor) AND m.universe <> 'ALL' WHERE a.universe = 'ALL'",
     "SELECT date, ticker, factor_name, raw_value, score, percentile, market, market_score, market_percentile "
     "FROM factor_scores WHERE region = 'KR'"),
    ("ohlcv_monthly", "SELECT * FROM ohlcv_monthly",
     "SELECT ticker, month, asset_type, open, high, low, close, volume, value, market_cap, trading_days, first_date, "
     "last_date FROM ohlcv_monthly WHERE region = 'KR'"),
    ("ohlcv_quarterly", "SELECT * FROM ohlcv_quarterly",
     "SELECT ticker, quarter, asset_type, open, high, low, close, volume, value, market_cap, trading_days, "
     "first_date, last_date FROM ohlcv_quarterly WHERE region = 'KR'"),
    ("ohlcv_yearly", "SELECT * FROM ohlcv_yearly",
     "SELECT ticker, year, asset_type, open, high, low, close, volume, value, market_cap, trading_days, first_date, "
     "last_date FROM ohlcv_yearly WHERE region = 'KR'"),
    ("adjustment_factors", "SELECT * FROM adjustment_factors",
     "SELECT ticker, ex_date, factor, prior_close, base_price, reason FROM adjustment_factors WHERE region = 'KR'"),
    ("partition_status", "SELECT asset, partition_date, status, row_count, reason, source FROM partition_status",
     "SELECT asset, partition_date, status, row_count, reason, source FROM partition_status WHERE region = 'KR'"),
    ("source_circuit", "SELECT source, open_until, reason, tripped_at FROM source_circuit",
     "SELECT source, open_until, reason, tripped_at FROM source_circuit"),
    ("definition_groups",
     "SELECT group_id, group_type, name, description, source, 'DEFAULT', as_of_date FROM definition_groups",
     # sql/011 moved source and as_of_date into metadata (seed 003 has neither column)
     "SELECT id, type, name, description, metadata->>'source', environment, (metadata->>'as_of_date')::date "
     "FROM definition_groups"),
    ("group_memberships", "SELECT group_id, ticker, round(weight_pct / 100, 4) FROM group_memberships",
     "SELECT group_id, symbol, weight FROM group_memberships WHERE region = 'KR'"),
    ("strategies", "SELECT id, name, description, parameters FROM strategies",
     "SELECT id, name, description, parameters FROM strategies"),
    ("backtest_results",
     "SELECT id, strategy_id, run_at, start_date, end_date, initial_capital, final_capital, total_return, "
     "sharpe_ratio, max_drawdown, win_rate, trades, metrics FROM backtest_results",
     "SELECT id, strategy_id, created_at, start_date, end_date, initial_capital, final_capital, total_return, "
     "sharpe_ratio, max_drawdown, win_rate, num_trades, results_json FROM backtest_results"),
    ("portfolio_holdings",
     "SELECT id, strategy_id, backtest_id, date, ticker, quantity, avg_price, market_value, weight FROM portfolio_holdings",
     "SELECT id, strategy_id, backtest_id, date, ticker, shares, avg_price, market_value, weight "
     "FROM portfolio_holdings WHERE region = 'KR'"),
    ("portfolio_transactions",
     "SELECT id, strategy_id, backtest_id, executed_at, (executed_at AT TIME ZONE 'Asia/Seoul')::date, ticker, side, "
     "quantity, price, fee, tax, quantity * price + fee, "
     "CASE WHEN side = 'BUY' THEN -(quantity * price + fee + tax) ELSE quantity * price - fee - tax END "
     "FROM portfolio_transactions",
     "SELECT id, strategy_id, backtest_id, executed_at, date, ticker, transaction_type, shares, price, commission, "
     "tax, total_value, cash_flow FROM portfolio_transactions WHERE region = 'KR' AND slippage = 0"),
    ("walk_forward_results",
     "SELECT id, strategy_id, window_index, train_start, train_end, test_start, test_end, in_sample_return, "
     "in_sample_sharpe, out_of_sample_return, out_of_sample_sharpe, parameters FROM walk_forward_results",
     "SELECT id, strategy_id, window_index, train_start_date, train_end_date, test_start_date, test_end_date, "
     "in_sample_return, in_sample_sharpe, out_sample_return, out_sample_sharpe, optimal_params "
     "FROM walk_forward_results"),
    ("parameter_search_history",
     "SELECT id, strategy_id, backtest_id, run_at, parameters, objective, objective_value, rank FROM optimization_history",
     "SELECT id, strategy_id, backtest_id, run_at, parameters, objective, objective_value, rank "
     "FROM parameter_search_history"),
    ("legacy_import_progress", "SELECT * FROM legacy_import_progress", "SELECT * FROM legacy_import_progress"),
]


def _rows(conn: psycopg.Connection, sql: str) -> list[tuple]:
    return sorted(conn.execute(sql).fetchall(), key=repr)


@pytest.fixture()
def migrated(fresh_db, tmp_path):
    """(rows before, connection after): 001–007 filled, then 008 applied."""
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    for path in migrations.discover():
        if path.version < 8:
            shutil.copy(path.path, sql_dir)
    migrations.migrate(fresh_db, sql_dir=sql_dir)
    with psycopg.connect(fresh_db) as conn:
        conn.execute(OLD_DATA)
        conn.commit()
        before = {table: _rows(conn, old) for table, old, _ in SAME_ROWS}
    for path in migrations.discover():
        if path.version >= 8:
            shutil.copy(path.path, sql_dir)
    migrations.migrate(fresh_db, sql_dir=sql_dir)
    with psycopg.connect(fresh_db) as conn:
        yield before, conn


def test_every_row_survives_with_its_values(migrated):
    before, conn = migrated
    for table, _, new in SAME_ROWS:
        after = _rows(conn, new)
        assert len(before[table]) > 0, f"{table}: the fixture must hold rows"
        assert after == before[table], f"{table}: rows changed by the migration"
        total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        assert total == len(after), f"{table}: {total - len(after)} rows outside the compared set"


def test_migrated_warehouse_answers_seed_style_queries(migrated):
    _, conn = migrated
    daily = conn.execute("SELECT count(*) FROM ohlcv_data WHERE ticker = '100010' AND region = 'KR' "
                         "AND timeframe = 'D'").fetchone()[0]
    assert daily > 50
    assert conn.execute("SELECT count(*) FROM ohlcv_data WHERE ticker = '100010' AND region = 'KR' "
                        "AND timeframe = '1d'").fetchone()[0] == daily
    holders = conn.execute("""SELECT etf_ticker, weight FROM etf_holdings WHERE stock_ticker = '100010'
                              AND as_of_date = (SELECT MAX(as_of_date) FROM etf_holdings)
                              ORDER BY weight DESC""").fetchall()
    assert {h[0] for h in holders} == {"069500", "0069M0"}
    # the seeds' etfs view and the latest-figure columns after one refresh
    conn.execute("SELECT refresh_etf_latest('KR')")
    etfs = dict(conn.execute("SELECT ticker, total_assets FROM etfs").fetchall())
    latest = dict(conn.execute("SELECT DISTINCT ON (ticker) ticker, aum FROM etf_aum "
                               "ORDER BY ticker, date DESC").fetchall())
    assert etfs == {t: float(a) for t, a in latest.items()}
    assert conn.execute("SELECT leverage_ratio, is_inverse FROM etfs WHERE ticker = '0069M0'").fetchone() == (-2.0, True)
    # a symbol of another region's form is refused by the contract
    with pytest.raises(psycopg.errors.CheckViolation, match="tickers_symbol_chk"):
        conn.execute("INSERT INTO tickers (ticker, region, name, exchange, asset_type, currency) "
                     "VALUES ('0700.HK', 'HK', 'Tencent', 'HKEX', 'STOCK', 'HKD')")
    conn.rollback()
    conn.execute("INSERT INTO tickers (ticker, region, name, exchange, asset_type, currency) VALUES "
                 "('ACB', 'US', 'Aurora Cannabis', 'NASDAQ', 'STOCK', 'USD'), "
                 "('ACB', 'VN', 'Asia Commercial Bank', 'HOSE', 'STOCK', 'VND')")
    assert conn.execute("SELECT count(*) FROM tickers WHERE ticker = 'ACB'").fetchone()[0] == 2
