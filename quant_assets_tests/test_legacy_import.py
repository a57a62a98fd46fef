"""Spock SQLite -> PostgreSQL import against real Spock-shaped SQLite files and the embedded PostgreSQL.

The builders below write Spock's tables in their drifted forms with the quirks the real file had
and, row by row, record what the import must make of each row (`Truth`): imported, collapsed into a
newer re-fetch, or rejected for a named reason — and which key it must leave in which target table.
The tests compare the import's per-table, per-region report and the warehouse's per-region counts
with that independent record.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections import Counter, defaultdict

import pandas as pd
import psycopg
import pytest

from quant_assets import cli
from quant_assets import legacy_import as li

T0_KST = "2025-10-20T10:00:00.000001"      # Python isoformat, Spock's local clock: 01:00 UTC
T1_UTC = "2025-10-20 05:00:00"             # SQLite CURRENT_TIMESTAMP: 05:00 UTC (newer, sorts lower as text)
T2_KST = "2025-10-20T12:00:00"             # 03:00 UTC: older than T1_UTC
OLD, NEW = "2025-10-01T09:00:00", "2025-10-18T09:00:00"
DAYS = [d.date().isoformat() for d in pd.bdate_range("2025-09-01", periods=30)]   # September and October
TARGETS = ("tickers", "stock_details", "etf_details", "etf_holdings", "ohlcv_data", "ticker_fundamentals",
           "technical_analysis", "trades", "portfolio", "market_sentiment", "exchange_rate_history",
           "global_market_indices", "legacy_rows")


class Truth:
    """What the import must do with each source row, recorded while the file is written."""

    def __init__(self):
        self.outcomes: dict[tuple[str, str], Counter] = defaultdict(Counter)
        self.keys: dict[tuple[str, str], set] = defaultdict(set)

    def row(self, table: str, region: str | None, outcome: str = "ok", target: str | None = None,
            key: tuple | None = None) -> None:
        self.outcomes[(table, region or "-")][outcome] += 1
        if outcome == "ok" and target:
            self.keys[(target, region or "-")].add(key)

    def expected(self, table: str) -> dict[str, tuple]:
        out = {}
        for (t, region), c in self.outcomes.items():
            if t == table:
                rejected = {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith("rejected:")}
                out[region] = (sum(c.values()), c["ok"], c["collapsed"], rejected)
        return out

    def target_counts(self, target: str) -> dict[str, int]:
        return {r: len(k) for (t, r), k in self.keys.items() if t == target and k}


def insert(db, table: str, row: dict) -> None:
    db.execute(f'INSERT INTO "{table}" ({", ".join(row)}) VALUES ({", ".join("?" * len(row))})', list(row.values()))


# -- file A: init_db's shapes with the post-init changes, all six regions ----------------------------
SPOCK_A_DDL = """
CREATE TABLE tickers (ticker TEXT PRIMARY KEY, name TEXT NOT NULL, name_eng TEXT, exchange TEXT NOT NULL,
    region TEXT NOT NULL, currency TEXT NOT NULL DEFAULT 'KRW', asset_type TEXT NOT NULL DEFAULT 'STOCK',
    listing_date TEXT, lot_size INTEGER DEFAULT 1, is_active BOOLEAN DEFAULT 1, delisting_date TEXT,
    created_at TEXT NOT NULL, last_updated TEXT NOT NULL, data_source TEXT, market_tier TEXT DEFAULT 'MAIN');
CREATE TABLE stock_details (ticker TEXT PRIMARY KEY, sector TEXT, sector_code TEXT, industry TEXT,
    industry_code TEXT, is_spac BOOLEAN DEFAULT 0, is_preferred BOOLEAN DEFAULT 0, par_value INTEGER,
    region TEXT, created_at TEXT NOT NULL, last_updated TEXT NOT NULL, enriched_at TEXT);
CREATE TABLE etf_details (ticker TEXT PRIMARY KEY, issuer TEXT, inception_date TEXT, underlying_asset_class TEXT,
    tracking_index TEXT NOT NULL, geographic_region TEXT, sector_theme TEXT, fund_type TEXT, aum BIGINT,
    listed_shares BIGINT, underlying_asset_count INTEGER, expense_ratio REAL NOT NULL, ter REAL,
    leverage_ratio TEXT, currency_hedged BOOLEAN, tracking_error_20d REAL, tracking_error_60d REAL,
    tracking_error_120d REAL, tracking_error_250d REAL, week_52_high INTEGER, week_52_low INTEGER,
    pension_eligible BOOLEAN, investment_strategy TEXT, created_at TEXT NOT NULL, last_updated TEXT NOT NULL,
    data_source TEXT DEFAULT 'ETFCheck', actual_expense_ratio REAL);
CREATE TABLE etfs (ticker TEXT PRIMARY KEY, name TEXT NOT NULL, name_eng TEXT, region TEXT NOT NULL, exchange TEXT,
    category TEXT, subcategory TEXT, tracking_index TEXT, total_assets REAL, expense_ratio REAL,
    listed_shares INTEGER, issuer TEXT, inception_date TEXT, leverage_ratio REAL, is_inverse BOOLEAN DEFAULT 0,
    currency_hedged BOOLEAN DEFAULT 0, tracking_error_20d REAL, tracking_error_60d REAL, tracking_error_120d REAL,
    tracking_error_250d REAL, premium_discount REAL, avg_daily_volume REAL, avg_daily_value REAL,
    created_at TEXT NOT NULL, last_updated TEXT NOT NULL, data_source TEXT);
CREATE TABLE etf_holdings (id INTEGER PRIMARY KEY AUTOINCREMENT, etf_ticker TEXT NOT NULL, stock_ticker TEXT NOT NULL,
    weight REAL NOT NULL, shares INTEGER, market_value REAL, rank_in_etf INTEGER, weight_change_from_prev REAL,
    as_of_date TEXT NOT NULL, created_at TEXT NOT NULL, data_source TEXT, UNIQUE(etf_ticker, stock_ticker, as_of_date));
CREATE TABLE ohlcv_data (id INTEGER PRIMARY KEY AUTOINCREMENT, ticker TEXT NOT NULL, timeframe TEXT NOT NULL,
    date TEXT NOT NULL, region TEXT, open REAL, high REAL, low REAL, close REAL, volume BIGINT,
    ma5 REAL, ma20 REAL, ma60 REAL, ma120 REAL, ma200 REAL, rsi_14 REAL, macd REAL, macd_signal REAL, macd_hist REAL,
    bb_upper REAL, bb_middle REAL, bb_lower REAL, atr_14 REAL, atr REAL, volume_ma20 REAL, volume_ratio REAL,
    created_at TEXT NOT NULL, UNIQUE(ticker, region, timeframe, date));
CREATE TABLE ticker_fundamentals (id INTEGER PRIMARY KEY AUTOINCREMENT, ticker TEXT NOT NULL, date TEXT NOT NULL,
    period_type TEXT NOT NULL, fiscal_year INTEGER, shares_outstanding BIGINT, market_cap BIGINT, close_price REAL,
    per REAL, pbr REAL, psr REAL, pcr REAL, ev BIGINT, ev_ebitda REAL, dividend_yield REAL, dividend_per_share REAL,
    created_at TEXT NOT NULL, data_source TEXT, total_assets BIGINT, revenue BIGINT, net_income BIGINT,
    operating_cash_flow BIGINT, free_float_percentage REAL, UNIQUE(ticker, fiscal_year, period_type));
CREATE TABLE technical_analysis (id INTEGER PRIMARY KEY AUTOINCREMENT, ticker TEXT NOT NULL, analysis_date TEXT NOT NULL,
    stage INTEGER, stage_confidence REAL, layer1_macro_score REAL, layer2_structural_score REAL,
    layer3_micro_score REAL, total_score REAL, signal TEXT, signal_strength REAL, gpt_pattern TEXT,
    gpt_confidence REAL, gpt_analysis TEXT, created_at TEXT NOT NULL, UNIQUE(ticker, analysis_date));
CREATE TABLE trades (id INTEGER PRIMARY KEY AUTOINCREMENT, ticker TEXT NOT NULL, region TEXT NOT NULL DEFAULT 'KR',
    side TEXT, order_type TEXT, quantity INTEGER NOT NULL, entry_price REAL, exit_price REAL, price REAL NOT NULL,
    amount REAL NOT NULL, fee REAL DEFAULT 0, tax REAL DEFAULT 0, order_no TEXT, execution_no TEXT,
    entry_timestamp TEXT, exit_timestamp TEXT, order_time TEXT NOT NULL, execution_time TEXT,
    trade_status TEXT DEFAULT 'OPEN', sector TEXT, position_size_percent REAL, reason TEXT, created_at TEXT NOT NULL);
CREATE TABLE portfolio (ticker TEXT PRIMARY KEY, quantity INTEGER NOT NULL, avg_price REAL NOT NULL, current_price REAL,
    market_value REAL, unrealized_pnl REAL, unrealized_pnl_pct REAL, stop_loss_price REAL, profit_target_price REAL,
    entry_date TEXT NOT NULL, entry_score REAL, last_updated TEXT NOT NULL);
CREATE TABLE market_sentiment (id INTEGER PRIMARY KEY AUTOINCREMENT, date TEXT NOT NULL UNIQUE, vix REAL,
    fear_greed_index REAL, kospi_index REAL, kosdaq_index REAL, foreign_net_buying BIGINT, institution_net_buying BIGINT,
    usd_krw REAL, jpy_krw REAL, oil_price REAL, gold_price REAL, market_regime TEXT, sentiment_score REAL,
    created_at TEXT NOT NULL);
CREATE TABLE exchange_rate_history (id INTEGER PRIMARY KEY AUTOINCREMENT, currency TEXT NOT NULL, rate REAL NOT NULL,
    timestamp TEXT NOT NULL, rate_date TEXT NOT NULL, source TEXT, created_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE global_market_indices (id INTEGER PRIMARY KEY AUTOINCREMENT, date TEXT NOT NULL, symbol TEXT NOT NULL,
    index_name TEXT NOT NULL, region TEXT NOT NULL, close_price REAL NOT NULL, open_price REAL NOT NULL,
    high_price REAL NOT NULL, low_price REAL NOT NULL, volume BIGINT, change_percent REAL NOT NULL, trend_5d TEXT,
    consecutive_days INTEGER, created_at TEXT NOT NULL, UNIQUE(date, symbol));
CREATE TABLE migration_history (migration_id INTEGER PRIMARY KEY AUTOINCREMENT, migration_version TEXT NOT NULL,
    migration_name TEXT NOT NULL, executed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE kelly_sizing (id INTEGER PRIMARY KEY AUTOINCREMENT, ticker TEXT NOT NULL, kelly_fraction REAL,
    created_at TEXT, state BLOB);
CREATE TABLE filter_cache_stage0 (id INTEGER PRIMARY KEY AUTOINCREMENT, ticker TEXT NOT NULL, region TEXT NOT NULL,
    filter_date TEXT NOT NULL, market_cap_krw REAL, exchange_rate_to_krw REAL, UNIQUE(ticker, region, filter_date));
CREATE TABLE kis_api_logs (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, endpoint TEXT NOT NULL,
    method TEXT NOT NULL, tr_id TEXT, status_code INTEGER, rt_cd TEXT, msg_cd TEXT, msg1 TEXT, response_time REAL,
    error_message TEXT, created_at TEXT NOT NULL);
CREATE TABLE backtest_results (id INTEGER PRIMARY KEY AUTOINCREMENT, config_hash TEXT NOT NULL, start_date TEXT,
    end_date TEXT, total_return REAL, sharpe_ratio REAL, created_at TEXT, UNIQUE(config_hash, start_date, end_date));
CREATE TABLE balance_sheet (id INTEGER PRIMARY KEY AUTOINCREMENT, ticker TEXT NOT NULL, fiscal_date TEXT NOT NULL,
    period_type TEXT NOT NULL, report_type TEXT NOT NULL, total_assets BIGINT, total_equity BIGINT,
    retained_earnings BIGINT, created_at TEXT NOT NULL, data_source TEXT,
    UNIQUE(ticker, fiscal_date, period_type, report_type));
CREATE TABLE income_statement (id INTEGER PRIMARY KEY AUTOINCREMENT, ticker TEXT NOT NULL, fiscal_date TEXT NOT NULL,
    period_type TEXT NOT NULL, report_type TEXT NOT NULL, revenue BIGINT, operating_income BIGINT, net_income BIGINT,
    eps REAL, created_at TEXT NOT NULL, data_source TEXT, UNIQUE(ticker, fiscal_date, period_type, report_type));
"""

# (Spock symbol, region, canonical, exchange, asset_type, lot)
A_TICKERS = [
    ("005930", "KR", "005930", "KOSPI", "STOCK", 1), ("000660", "KR", "000660", "KOSPI", "STOCK", 1),
    ("0069M0", "KR", "0069M0", "KOSDAQ", "STOCK", 1), ("069500", "KR", "069500", "KOSPI", "ETF", 1),
    ("122630", "KR", "122630", "KOSPI", "ETF", 1), ("252670", "KR", "252670", "KOSPI", "ETF", 1),
    ("AAPL", "US", "AAPL", "NASDAQ", "STOCK", 1), ("BAC/N", "US", "BAC/N", "NYSE", "PREFERRED", 1),
    ("ACB", "US", "ACB", "NYSE", "STOCK", 1),     # also a VN bank: Spock's registry kept only this row
    ("600519.SS", "CN", "600519", "SSE", "STOCK", 100), ("600000", "CN", "600000", "SSE", "STOCK", 100),
    ("2.SZ", "CN", "000002", "SZSE", "STOCK", 100),
    ("0700.HK", "HK", "0700", "HKEX", "STOCK", 100), ("0005.HK", "HK", "0005", "HKEX", "STOCK", 400),
    ("7203", "JP", "7203", "TSE", "STOCK", 100), ("VNM", "VN", "VNM", "HOSE", "STOCK", 100),
    ("VCB", "VN", "VCB", "HOSE", "STOCK", 100),
]
# bars: (Spock symbol, region stored on the row, region, canonical, base price)
A_BARS = [("005930", "KR", "KR", "005930", 70_000.0), ("000660", None, "KR", "000660", 150_000.0),
          ("069500", "KR", "KR", "069500", 35_000.0), ("AAPL", "US", "US", "AAPL", 189.2345),
          ("BAC/N", "US", "US", "BAC/N", 21.5), ("600519.SS", "CN", "CN", "600519", 1_700.5),
          ("2.SZ", "CN", "CN", "000002", 7.12), ("0700.HK", "HK", "HK", "0700", 380.2),
          ("7203", "JP", "JP", "7203", 2_800.0), ("VNM", "VN", "VN", "VNM", 61_000.0)]


def build_spock_a(path) -> Truth:
    truth = Truth()
    db = sqlite3.connect(path)
    db.executescript(SPOCK_A_DDL)

    # tickers
    for raw, region, canon, exchange, kind, lot in A_TICKERS:
        insert(db, "tickers", dict(ticker=raw, name=f"name {raw}", exchange=exchange, region=region,
                                   currency={"KR": "KRW", "US": "USD", "CN": "CNY", "HK": "HKD", "JP": "JPY",
                                             "VN": "VND"}[region], asset_type=kind, listing_date="2001-02-03",
                                   lot_size=lot, is_active=1, created_at=OLD, last_updated=NEW,
                                   data_source="KIS Master File"))
        truth.row("tickers", region, "ok", "tickers", (canon, region))
    for raw, region in (("5930", "KR"), ("0700", "HK")):          # older spellings of the same instrument
        insert(db, "tickers", dict(ticker=raw, name="older spelling", exchange="KOSPI" if region == "KR" else "HKEX",
                                   region=region, created_at=OLD, last_updated=OLD))
        truth.row("tickers", region, "collapsed")
    insert(db, "tickers", dict(ticker="12345678", name="bad", exchange="KOSPI", region="KR", created_at=OLD,
                               last_updated=OLD))
    truth.row("tickers", "KR", "rejected:bad_symbol")
    insert(db, "tickers", dict(ticker="SAP", name="not ours", exchange="XETRA", region="EU", created_at=OLD,
                               last_updated=OLD))
    truth.row("tickers", None, "rejected:region_unknown")

    # etfs (Spock's second ETF table) -> tickers + etf_details
    for raw, region, exchange, lev, inverse in (("069500", "KR", "KOSPI", 1.0, 0), ("SPY", "US", "NYSE", 1.0, 0),
                                                 ("114800", "KR", None, 1.0, 1)):
        insert(db, "etfs", dict(ticker=raw, name=f"KODEX 인버스 {raw}" if inverse else f"etf {raw}", region=region,
                                exchange=exchange, category="INDEX", subcategory="large cap", total_assets=1.5e12,
                                expense_ratio=0.09, leverage_ratio=lev, is_inverse=inverse, premium_discount=0.02,
                                created_at=OLD, last_updated=NEW, data_source="test"))
        truth.row("etfs", region, "ok", "tickers", (raw, region))
        truth.keys[("etf_details", region)].add((raw, region))

    # etf_details: leverage text forms, expense_ratio 0.0 = unknown, 'Unknown' index
    for raw, fee, lev, index in (("069500", 0.15, "1배", "KOSPI 200"), ("122630", 0.0, "2x", "KOSPI 200"),
                                 ("252670", 0.64, "-2배", "Unknown")):
        insert(db, "etf_details", dict(ticker=raw, issuer="삼성자산운용", tracking_index=index, expense_ratio=fee,
                                       leverage_ratio=lev, tracking_error_20d=0.12, tracking_error_250d=0.3,
                                       created_at=OLD, last_updated=NEW))
        truth.row("etf_details", "KR", "ok", "etf_details", (raw, "KR"))
    insert(db, "etf_details", dict(ticker="XXXX99", tracking_index="?", expense_ratio=0.1, created_at=OLD,
                                   last_updated=OLD))
    truth.row("etf_details", None, "rejected:region_unknown")

    # stock_details: HK in AkShare's 5-digit form, region NULL (resolved), a lost VN row, an orphan
    for raw, region, outcome, key in (("005930", "KR", "ok", ("005930", "KR")), ("00005", "HK", "ok", ("0005", "HK")),
                                      ("0700.HK", None, "ok", ("0700", "HK")), ("2.SZ", None, "ok", ("000002", "CN")),
                                      ("ACB", "VN", "rejected:ticker_region_lost_in_spock", None),
                                      ("999998", "KR", "rejected:unknown_ticker", None)):
        insert(db, "stock_details", dict(ticker=raw, sector="Financials", is_spac=0, par_value=100, region=region,
                                         created_at=OLD, last_updated=NEW))
        truth.row("stock_details", key[1] if key else region, outcome, "stock_details", key)

    # etf_holdings: no region column; an older spelling collapses; foreign and unknown constituents kept
    D1 = "2025-10-17"
    for etf, stock, w, stamp, outcome, key in (
            ("069500", "005930", 30.0, OLD, "collapsed", None),
            ("069500", "5930", 31.0, NEW, "ok", ("069500", "KR", D1, "005930")),
            ("069500", "000660", 10.0, OLD, "ok", ("069500", "KR", D1, "000660")),
            ("069500", "AAPL", 1.0, OLD, "ok", ("069500", "KR", D1, "AAPL")),
            ("069500", "999999", 0.5, OLD, "ok", ("069500", "KR", D1, "999999")),
            ("SPY", "AAPL", 7.0, OLD, "ok", ("SPY", "US", D1, "AAPL")),
            ("ZZZ", "005930", 1.0, OLD, "rejected:region_unknown", None)):
        insert(db, "etf_holdings", dict(etf_ticker=etf, stock_ticker=stock, weight=w, shares=100, market_value=1e6,
                                        as_of_date=D1, created_at=stamp, data_source="KIS"))
        truth.row("etf_holdings", key[1] if key else ("KR" if etf == "069500" else None), outcome, "etf_holdings", key)

    # ohlcv_data
    def bar(raw, stored_region, region, canon, day, close, *, outcome="ok", tf="D", o=None, h=None, lo=None,
            volume=1000, created=OLD, extra=None):
        row = dict(ticker=raw, timeframe=tf, date=day, region=stored_region,
                   open=close if o is None else o, high=close * 1.01 if h is None else h,
                   low=close * 0.99 if lo is None else lo, close=close, volume=volume, created_at=created,
                   **(extra or {}))
        insert(db, "ohlcv_data", row)
        truth.row("ohlcv_data", region, outcome, "ohlcv_data",
                  (canon, region, {"1d": "D"}.get(tf, tf), day))

    for raw, stored, region, canon, base in A_BARS:
        for j, day in enumerate(DAYS):
            close = round(base * (1 + 0.001 * j), 4)
            tf = "1d" if raw == "7203" and j % 2 else "D"            # PG-side spelling mixed in
            extra = {"ma5": close, "atr": base * 0.02} if raw == "005930" else None
            if raw == "005930" and j == 10:                          # halted day
                bar(raw, stored, region, canon, day, tf=tf, close=close, o=0.0, h=0.0, lo=0.0, volume=0, extra=extra)
            elif raw == "VNM" and j == 11:                           # zero open only
                bar(raw, stored, region, canon, day, tf=tf, close=close, o=0.0)
            elif raw == "000660" and j == 12:
                bar(raw, stored, region, canon, day, tf=tf, close=close, h=close * 0.9, lo=close * 1.1,
                    outcome="rejected:high_below_low")
            elif raw == "AAPL" and j == 5:
                bar(raw, stored, region, canon, day, tf=tf, close=None, o=1.0, h=2.0, lo=1.0, outcome="rejected:no_close")
            elif raw == "0700.HK" and j == 6:
                bar(raw, stored, region, canon, day, tf=tf, close=0.0, o=1.0, h=2.0, lo=1.0, outcome="rejected:non_positive_close")
            else:
                bar(raw, stored, region, canon, day, tf=tf, close=close, extra=extra)
    # re-fetches that escaped UNIQUE(ticker, region, timeframe, date) through a NULL region
    bar("005930", "KR", "KR", "005930", "2025-10-21", 71_000.0, created=T0_KST, outcome="collapsed")
    bar("005930", None, "KR", "005930", "2025-10-21", 71_500.0, created=T1_UTC)        # newer (UTC)
    bar("005930", "KR", "KR", "005930", "2025-10-22", 72_000.0, created=T1_UTC)        # newer
    bar("005930", None, "KR", "005930", "2025-10-22", 72_500.0, created=T2_KST, outcome="collapsed")
    bar("AAPL", "US", "US", "AAPL", "2025-09-05", 190.0, tf="W")                        # a weekly bar
    bar("ACB", "VN", "VN", "ACB", DAYS[0], 25_000.0, outcome="rejected:ticker_region_lost_in_spock")
    bar("ACB", "VN", "VN", "ACB", DAYS[1], 25_100.0, outcome="rejected:ticker_region_lost_in_spock")
    bar("999999", "KR", "KR", "999999", DAYS[0], 10.0, outcome="rejected:unknown_ticker")
    bar("005930", "ASIA", None, None, DAYS[0], 10.0, outcome="rejected:region_unknown")
    bar("005930", "KR", "KR", "005930", "someday", 10.0, outcome="rejected:bad_date")

    # ticker_fundamentals, live shape (fiscal_year; UNIQUE(ticker, fiscal_year, period_type))
    def fund(raw, region, canon, day, period, fy=None, source="pykrx", stamp=OLD, outcome="ok", key_day=None):
        insert(db, "ticker_fundamentals", dict(ticker=raw, date=day, period_type=period, fiscal_year=fy,
                                               market_cap=4.2e14, per=12.5, pbr=1.1, dividend_yield=2.1,
                                               revenue=3e14 if fy else None, created_at=stamp, data_source=source))
        truth.row("ticker_fundamentals", region, outcome, "ticker_fundamentals",
                  (canon, region, "DAILY" if period == "DAILY" else period, key_day or day))

    fund("005930", "KR", "005930", "2025-10-01", "DAILY")
    fund("005930", "KR", "005930", "2025-10-02", "DAILY", outcome="collapsed")
    fund("005930", "KR", "005930", "2025-10-02", "DAILY", stamp=NEW)                 # re-fetch, NULL fiscal_year
    fund("005930", "KR", "005930", "2025-10-17", "ANNUAL", 2023, "DART-2023-11011", key_day="2023-12-31")
    fund("005930", "KR", "005930", "2025-10-17", "SEMI-ANNUAL", 2024, "DART-2024-11012", key_day="2024-06-30")
    fund("AAPL", "US", "AAPL", "2025-10-17", "ANNUAL", 2024, "yfinance", key_day="2024-12-31")
    fund("7203", "JP", "7203", "2025-10-17", "DAILY", source="yfinance")
    fund("00005", "HK", "0005", "2025-10-17", "DAILY", source="yfinance")
    fund("TEST001", None, None, "2025-10-17", "DAILY", source="TEST", outcome="rejected:region_unknown")

    # exchange_rate_history: no unique key, fallback constants saved as BOK_API
    for cur, rate, ts, day, src, region, outcome in (
            ("USD", 1385.2, "2025-10-20T09:00:00", "2025-10-20", "BOK_API", "US", "ok"),
            ("USD", 1300.0, "2025-10-20T15:00:00", "2025-10-20", "BOK_API", "US", "collapsed"),   # later fallback
            ("USD_KRW", 1390.0, "2025-10-21T09:00:00", "2025-10-21", "BOK_API", "US", "ok"),
            ("JPY", 10.0, "2025-10-20T09:00:00", "2025-10-20", "BOK_API", "JP", "ok"),
            ("VND", 0.055, "2025-10-20T09:00:00", "2025-10-20", "BOK_API", "VN", "ok"),
            ("HKD", 177.1, "2025-10-20T09:00:00", "2025-10-20", "BOK_API", "HK", "collapsed"),
            ("HKD", 177.5, "2025-10-20T12:00:00", "2025-10-20", "BOK_API", "HK", "ok"),
            ("CNY", 180.0, "2025-10-20T09:00:00", "2025-10-20", "BOK_API", "CN", "ok"),
            ("EUR", 1500.0, "2025-10-20T09:00:00", "2025-10-20", "BOK_API", None, "ok"),
            ("USD", 0.0, "2025-10-22T09:00:00", "2025-10-22", "BOK_API", "US", "rejected:non_positive_rate")):
        insert(db, "exchange_rate_history", dict(currency=cur, rate=rate, timestamp=ts, rate_date=day, source=src))
        truth.row("exchange_rate_history", region, outcome, "exchange_rate_history", (cur[:3], day))

    # global_market_indices: Spock's 'ASIA' region, placed by symbol
    for sym, spock_region, region, h, lo, outcome in (
            ("^GSPC", "US", "US", 5100.0, 5000.0, "ok"), ("^HSI", "ASIA", "HK", 26000.0, 25000.0, "ok"),
            ("^N225", "ASIA", "JP", 48000.0, 47000.0, "ok"), ("000001.SS", "ASIA", "CN", 3900.0, 3800.0, "ok"),
            ("^KS11", "ASIA", "KR", 3700.0, 3600.0, "ok"),
            ("^TWII", "ASIA", None, 27000.0, 26000.0, "rejected:index_region_unknown"),
            ("^IXIC", "US", "US", 1.0, 2.0, "rejected:high_below_low")):
        insert(db, "global_market_indices", dict(date="2025-10-20", symbol=sym, index_name=sym, region=spock_region,
                                                 close_price=(h + lo) / 2, open_price=lo, high_price=h, low_price=lo,
                                                 change_percent=0.5, trend_5d="UP", created_at=OLD))
        truth.row("global_market_indices", region, outcome, "global_market_indices", ("2025-10-20", sym))

    # technical_analysis, trades, portfolio, market_sentiment (empty in the live file; shapes matter)
    for raw, region, stage in (("005930", "KR", 2), ("AAPL", "US", 7)):
        insert(db, "technical_analysis", dict(ticker=raw, analysis_date="2025-10-17", stage=stage, total_score=71.5,
                                              signal="BUY", created_at=OLD))
        truth.row("technical_analysis", region, "ok", "technical_analysis", (raw, region))
    trade = dict(side="BUY", order_type="LIMIT", quantity=10, price=189.5, amount=1895.0, order_no="A1",
                 order_time="2025-10-17T22:30:00", trade_status="FILLED", created_at=OLD)
    insert(db, "trades", dict(ticker="005930", region="KR", **{**trade, "price": 70_000.0, "order_no": "K1"}))
    truth.row("trades", "KR", "ok", "trades", ("005930", "K1"))
    insert(db, "trades", dict(ticker="AAPL", region="KR", **trade))             # Spock's default region
    truth.row("trades", "US", "ok", "trades", ("AAPL", "A1"))
    insert(db, "trades", dict(ticker="AAPL", region="KR", **trade))             # the same trade saved twice
    truth.row("trades", "US", "collapsed")
    insert(db, "trades", dict(ticker="AAPL", region="US", **{**trade, "side": "HOLD", "order_no": "A2"}))
    truth.row("trades", "US", "rejected:bad_side")
    for raw, region in (("005930", "KR"), ("AAPL", "US")):
        insert(db, "portfolio", dict(ticker=raw, quantity=10, avg_price=100.0, entry_date="2025-10-01",
                                     last_updated=NEW))
        truth.row("portfolio", region, "ok", "portfolio", (raw, region))
    for day, regime in (("2025-10-16", "bull"), ("2025-10-17", "BEAR")):
        insert(db, "market_sentiment", dict(date=day, vix=17.2, kospi_index=3600.0, market_regime=regime,
                                            created_at=OLD))
        truth.row("market_sentiment", None, "ok", "market_sentiment", (day,))

    # tables with no first-class home: archived whole in legacy_rows
    insert(db, "migration_history", dict(migration_version="20251015_001", migration_name="add_market_tier"))
    truth.row("migration_history", None)
    for raw, region in (("005930", "KR"), ("AAPL", "US")):
        insert(db, "kelly_sizing", dict(ticker=raw, kelly_fraction=0.1, created_at=OLD, state=b"\x00\xff"))
        truth.row("kelly_sizing", region)
        insert(db, "filter_cache_stage0", dict(ticker=raw, region=region, filter_date="2025-10-17",
                                               market_cap_krw=1e12, exchange_rate_to_krw=1.0))
        truth.row("filter_cache_stage0", region)
    for _ in range(3):
        insert(db, "kis_api_logs", dict(timestamp=OLD, endpoint="/uapi/overseas-price/v1/quotations/dailyprice",
                                        method="GET", tr_id="HHDFS76240000", rt_cd="0", msg1="정상처리 되었습니다.",
                                        created_at=OLD))
        truth.row("kis_api_logs", None)
    insert(db, "backtest_results", dict(config_hash="abc", start_date="2024-01-02", end_date="2025-10-17",
                                        total_return=0.12, sharpe_ratio=1.1, created_at=OLD))
    truth.row("backtest_results", None)
    # Phase-2 statements -> ticker_fundamentals statement rows (a period's statements meet in one row)
    insert(db, "balance_sheet", dict(ticker="005930", fiscal_date="2024-12-31", period_type="ANNUAL",
                                     report_type="CONSOLIDATED", total_assets=5e14, created_at=OLD))
    truth.row("balance_sheet", "KR", "ok", "ticker_fundamentals", ("005930", "KR", "ANNUAL", "2024-12-31"))
    for report_type, income, outcome in (("CONSOLIDATED", 3.4e13, "ok"), ("SEPARATE", 2.0e13, "collapsed")):
        insert(db, "income_statement", dict(ticker="005930", fiscal_date="2024-12-31", period_type="ANNUAL",
                                            report_type=report_type, net_income=income, eps=5000.5,
                                            created_at=NEW if report_type == "SEPARATE" else OLD))
        truth.row("income_statement", "KR", outcome, "ticker_fundamentals", ("005930", "KR", "ANNUAL", "2024-12-31"))
    insert(db, "income_statement", dict(ticker="005930", fiscal_date="2023-12-31", period_type="ANNUAL",
                                        report_type="CONSOLIDATED", net_income=1.5e13, created_at=OLD))
    truth.row("income_statement", "KR", "ok", "ticker_fundamentals", ("005930", "KR", "ANNUAL", "2023-12-31"))
    db.commit()
    db.close()
    return truth


# -- file B: the older drift (no ohlcv region, UNIQUE(ticker, timeframe, date), init_db fundamentals) ---
SPOCK_B_DDL = """
CREATE TABLE tickers (ticker TEXT PRIMARY KEY, name TEXT NOT NULL, exchange TEXT NOT NULL, region TEXT NOT NULL,
    currency TEXT NOT NULL DEFAULT 'KRW', asset_type TEXT NOT NULL DEFAULT 'STOCK', is_active BOOLEAN DEFAULT 1,
    created_at TEXT NOT NULL, last_updated TEXT NOT NULL);
CREATE TABLE ohlcv_data (id INTEGER PRIMARY KEY AUTOINCREMENT, ticker TEXT NOT NULL, timeframe TEXT NOT NULL,
    date TEXT NOT NULL, open REAL, high REAL, low REAL, close REAL, volume BIGINT, created_at TEXT NOT NULL,
    UNIQUE(ticker, timeframe, date));
CREATE TABLE ticker_fundamentals (id INTEGER PRIMARY KEY AUTOINCREMENT, ticker TEXT NOT NULL, date TEXT NOT NULL,
    period_type TEXT NOT NULL, market_cap BIGINT, per REAL, pbr REAL, created_at TEXT NOT NULL, data_source TEXT,
    UNIQUE(ticker, date, period_type));
"""
B_TICKERS = [("005930", "KR", "005930", "KOSPI"), ("0700.HK", "HK", "0700", "HKEX"),
             ("600519.SS", "CN", "600519", "SSE"), ("7203", "JP", "7203", "TSE"), ("AAPL", "US", "AAPL", "NASDAQ"),
             ("VNM", "VN", "VNM", "HOSE")]


def build_spock_b(path) -> Truth:
    truth = Truth()
    db = sqlite3.connect(path)
    db.executescript(SPOCK_B_DDL)
    for raw, region, canon, exchange in B_TICKERS:
        insert(db, "tickers", dict(ticker=raw, name=f"name {raw}", exchange=exchange, region=region,
                                   created_at=OLD, last_updated=OLD))
        truth.row("tickers", region, "ok", "tickers", (canon, region))
        for j, day in enumerate(DAYS[:20]):
            close = 100.0 + j
            row = dict(ticker=raw, timeframe="1d" if j % 3 else "D", date=day, open=close, high=close + 1,
                       low=close - 1, close=close, volume=500, created_at=OLD)
            outcome = "ok"
            if raw == "005930" and j == 4:
                row.update(open=0.0, high=0.0, low=0.0, volume=0)              # halted
            if raw == "7203" and j == 5:
                row.update(close=None)
                outcome = "rejected:no_close"
            if raw == "VNM" and j == 6:
                row.update(high=1.0, low=5.0)
                outcome = "rejected:high_below_low"
            insert(db, "ohlcv_data", row)
            truth.row("ohlcv_data", region, outcome, "ohlcv_data", (canon, region, "D", day))
        # the same day under the other timeframe spelling escapes UNIQUE(ticker, timeframe, date)
        insert(db, "ohlcv_data", dict(ticker=raw, timeframe="D" if 7 % 3 else "1d", date=DAYS[7], open=1.0, high=1.0,
                                      low=1.0, close=1.0, volume=1, created_at=OLD.replace("10-01", "09-01")))
        truth.row("ohlcv_data", region, "collapsed")
    for raw, region, canon, period, day in (("005930", "KR", "005930", "DAILY", "2025-10-01"),
                                            ("005930", "KR", "005930", "ANNUAL", "2025-10-01"),
                                            ("0700.HK", "HK", "0700", "DAILY", "2025-10-01")):
        insert(db, "ticker_fundamentals", dict(ticker=raw, date=day, period_type=period, market_cap=1e12, per=10.0,
                                               pbr=1.0, created_at=OLD, data_source="pykrx"))
        truth.row("ticker_fundamentals", region, "ok", "ticker_fundamentals", (canon, region, period, day))
    db.commit()
    db.close()
    return truth


# -- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture()
def spock_a(tmp_path):
    path = tmp_path / "spock_local.db"
    return path, build_spock_a(path)


@pytest.fixture()
def spock_b(tmp_path):
    path = tmp_path / "spock_old.db"
    return path, build_spock_b(path)


def table_checksums(wh) -> dict[str, str]:
    """md5 over every row of every target table (all columns, timestamps included)."""
    out = {}
    for t in TARGETS:
        out[t] = wh.read_frame(f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h "
                               f"FROM {t} x")["h"].iloc[0]
    return out


def region_counts(wh, target: str) -> dict[str, int]:
    expr = {"exchange_rate_history": "CASE currency WHEN 'USD' THEN 'US' WHEN 'JPY' THEN 'JP' WHEN 'VND' THEN 'VN' "
                                     "WHEN 'HKD' THEN 'HK' WHEN 'CNY' THEN 'CN' ELSE '-' END",
            "market_sentiment": "'-'"}.get(target, "region")
    frame = wh.read_frame(f"SELECT {expr} AS region, count(*) AS n FROM {target} GROUP BY 1")
    return dict(zip(frame["region"], frame["n"].astype(int), strict=True))


def assert_report_matches(report: li.ImportReport, truth: Truth) -> None:
    tables = {t for t, _ in truth.outcomes}
    assert tables <= set(report.tables), tables - set(report.tables)
    for table in tables:
        got = {r: (c.read, c.imported, c.collapsed, dict(c.rejected))
               for r, c in report.tables[table].regions.items()}
        assert got == truth.expected(table), table
        for c in report.tables[table].regions.values():
            assert c.balanced, table


def assert_warehouse_matches(wh, truth: Truth, checksum: str) -> None:
    for target in {t for t, _ in truth.keys}:
        assert region_counts(wh, target) == truth.target_counts(target), target
    # nothing lost: every source row is imported or kept in legacy_rows
    archived = wh.read_frame("SELECT table_name, count(*) AS n FROM legacy_rows WHERE source_checksum = %s "
                             "GROUP BY 1", (checksum,))
    want = {t: sum(sum(c.values()) - c["ok"] for (tt, _), c in truth.outcomes.items() if tt == t)
            for t, _ in truth.outcomes}
    archived_tables = {"migration_history", "kelly_sizing", "filter_cache_stage0", "kis_api_logs", "backtest_results"}
    for t in archived_tables & set(want):
        want[t] = sum(sum(c.values()) for (tt, _), c in truth.outcomes.items() if tt == t)
    assert dict(zip(archived["table_name"], archived["n"].astype(int), strict=True)) == {
        t: n for t, n in want.items() if n}


# -- tests ---------------------------------------------------------------------------------------
def test_full_import_matches_the_files_valid_rows_per_table_and_region(warehouse, spock_a):
    path, truth = spock_a
    started = time.monotonic()
    report = li.run_import(path, warehouse, batch_rows=97)
    elapsed = time.monotonic() - started
    print(report.summary())
    print(f"{report.rows_read} rows in {elapsed:.2f} s = {report.rows_read / elapsed:,.0f} rows/s")
    assert report.completed and not report.dry_run
    assert_report_matches(report, truth)
    assert_warehouse_matches(warehouse, truth, report.checksum)
    assert report.final_counts["ohlcv_data"] == truth.target_counts("ohlcv_data")
    assert any("139" in n for n in report.notes)
    ohlcv = report.tables["ohlcv_data"]
    assert ohlcv.regions["KR"].flagged["halted_bar"] == 1 and ohlcv.regions["VN"].flagged[
        "zero_open_high_low_set_null"] == 1
    assert ohlcv.regions["KR"].flagged["atr_14_from_atr"] == 30
    assert ohlcv.regions["KR"].inserted == ohlcv.regions["KR"].imported


def test_imported_values(warehouse, spock_a):
    path, _ = spock_a
    li.run_import(path, warehouse)
    q = warehouse.read_frame
    tick = q("SELECT ticker, region, symbol, exchange, currency, lot_size, asset_type FROM tickers").set_index(
        ["ticker", "region"])
    assert tick.loc[("0700", "HK"), "symbol"] == "0700.HK" and tick.loc[("0700", "HK"), "lot_size"] == 100
    assert tick.loc[("000002", "CN"), "symbol"] == "2.SZ" and tick.loc[("600519", "CN"), "currency"] == "CNY"
    assert pd.isna(tick.loc[("005930", "KR"), "symbol"]) and tick.loc[("SPY", "US"), "asset_type"] == "ETF"
    assert tick.loc[("114800", "KR"), "exchange"] == "KOSPI" and tick.loc[("BAC/N", "US"), "asset_type"] == "PREFERRED"

    bars = q("SELECT ticker, region, date::text AS date, timeframe::text AS tf, open, high, low, close, volume, value, "
             "asset_type, ma5, atr_14 FROM ohlcv_data").set_index(["ticker", "region", "date", "tf"])
    # the newer re-fetch wins even when its timestamp text sorts lower (UTC vs KST styles)
    assert bars.loc[("005930", "KR", "2025-10-21", "D"), "close"] == 71_500
    assert bars.loc[("005930", "KR", "2025-10-22", "D"), "close"] == 72_000
    halted = bars.loc[("005930", "KR", DAYS[10], "D")]
    assert halted[["open", "high", "low"]].isna().all() and halted["volume"] == 0 and halted["close"] > 0
    assert float(bars.loc[("AAPL", "US", DAYS[0], "D"), "close"]) == 189.2345
    assert bars.loc[("AAPL", "US", "2025-09-05", "W"), "close"] == 190
    assert ("7203", "JP", DAYS[1], "D") in bars.index            # '1d' stored as 'D'
    assert bars.loc[("069500", "KR", DAYS[0], "D"), "asset_type"] == "ETF"
    assert bars["value"].isna().all()
    assert bars.loc[("005930", "KR", DAYS[0], "D"), "atr_14"] == pytest.approx(1400.0)
    assert q("SELECT count(*) AS n FROM ohlcv_data WHERE timeframe = '1d'")["n"].iloc[0] == len(
        bars.xs("D", level="tf"))                                # queries may say '1d'

    etf = q("SELECT ticker, multiple, expense_ratio, tracking_index, premium_discount_avg_20d, "
            "premium_discount_avg_250d, tracking_error_20d, category FROM etf_details").set_index("ticker")
    assert etf["multiple"].astype(float).to_dict() == {"069500": 1.0, "122630": 2.0, "252670": -2.0, "SPY": 1.0,
                                                        "114800": -1.0}
    assert pd.isna(etf.loc["122630", "expense_ratio"]) and float(etf.loc["069500", "expense_ratio"]) == 0.15
    assert pd.isna(etf.loc["252670", "tracking_index"])
    assert float(etf.loc["069500", "premium_discount_avg_20d"]) == 0.12 and pd.isna(etf.loc["069500",
                                                                                            "tracking_error_20d"])
    assert etf.loc["069500", "category"] == "INDEX"           # filled from Spock's etfs table
    assert q("SELECT count(*) AS n FROM etfs")["n"].iloc[0] == 5

    hold = q("SELECT etf_ticker, stock_ticker, constituent_type, weight, rank_in_etf FROM etf_holdings "
             "WHERE etf_ticker = '069500' ORDER BY rank_in_etf")
    assert hold["stock_ticker"].tolist() == ["005930", "000660", "AAPL", "999999"]
    assert hold["constituent_type"].tolist() == ["STOCK", "STOCK", "FOREIGN", "OTHER"]
    assert float(hold.loc[0, "weight"]) == 31.0

    fund = q("SELECT ticker, region, date::text AS date, period_type, fiscal_year, fiscal_quarter, currency "
             "FROM ticker_fundamentals ORDER BY 1, 3")
    assert {tuple(r) for r in fund[["ticker", "date", "period_type"]].itertuples(index=False)} >= {
        ("005930", "2023-12-31", "ANNUAL"), ("005930", "2024-06-30", "SEMI-ANNUAL"), ("0005", "2025-10-17", "DAILY")}
    assert fund.set_index(["ticker", "date"]).loc[("005930", "2024-06-30"), "fiscal_quarter"] == 2
    annual = q("SELECT date::text AS d, total_assets, net_income, revenue, eps, fiscal_year FROM ticker_fundamentals "
               "WHERE ticker = '005930' AND period_type = 'ANNUAL'").set_index("d")
    assert annual.loc["2024-12-31", "total_assets"] == 5e14 and annual.loc["2024-12-31", "net_income"] == 3.4e13
    assert float(annual.loc["2024-12-31", "eps"]) == 5000.5 and annual.loc["2024-12-31", "fiscal_year"] == 2024
    # the DART row from ticker_fundamentals kept its revenue and gained the income statement's net income
    assert annual.loc["2023-12-31", "revenue"] == 3e14 and annual.loc["2023-12-31", "net_income"] == 1.5e13

    fx = q("SELECT currency, rate_date::text AS d, rate, quoted_rate, quote_unit, quality FROM exchange_rate_history")
    fx = fx.set_index(["currency", "d"])
    assert float(fx.loc[("USD", "2025-10-20"), "rate"]) == 1385.2 and fx.loc[("USD", "2025-10-20"), "quality"] == "ok"
    assert fx.loc[("JPY", "2025-10-20"), "quality"] == "suspect_fallback"
    assert float(fx.loc[("JPY", "2025-10-20"), "quoted_rate"]) == 1000 and fx.loc[("JPY", "2025-10-20"),
                                                                                   "quote_unit"] == 100
    assert set(fx.index[fx["quality"] == "suspect_fallback"].get_level_values(0)) == {"JPY", "VND", "CNY"}
    assert float(fx.loc[("HKD", "2025-10-20"), "rate"]) == 177.5

    idx = dict(q("SELECT symbol, region FROM global_market_indices").itertuples(index=False))
    assert idx == {"^GSPC": "US", "^HSI": "HK", "^N225": "JP", "000001.SS": "CN", "^KS11": "KR"}
    assert q("SELECT region FROM trades WHERE ticker = 'AAPL'")["region"].tolist() == ["US"]
    assert q("SELECT stage FROM technical_analysis WHERE ticker = 'AAPL'")["stage"].isna().all()
    lost = q("SELECT disposition, reason, row->>'ticker' AS t, region FROM legacy_rows "
             "WHERE table_name = 'ohlcv_data' AND reason = 'ticker_region_lost_in_spock'")
    assert lost["t"].tolist() == ["ACB", "ACB"] and set(lost["region"]) == {"VN"}
    logs = q("SELECT row FROM legacy_rows WHERE table_name = 'kis_api_logs' ORDER BY source_rowid")
    assert logs["row"].iloc[0]["tr_id"] == "HHDFS76240000" and logs["row"].iloc[0]["msg1"] == "정상처리 되었습니다."
    kelly = q("SELECT region, row FROM legacy_rows WHERE table_name = 'kelly_sizing' ORDER BY source_rowid")
    assert kelly["region"].tolist() == ["KR", "US"] and kelly["row"].iloc[0]["state"] == "\\x00ff"


def test_second_import_changes_nothing(warehouse, spock_a):
    path, truth = spock_a
    first = li.run_import(path, warehouse, batch_rows=50)
    before = table_checksums(warehouse)
    again = li.run_import(path, warehouse, batch_rows=50)
    assert again.completed
    assert table_checksums(warehouse) == before
    assert_report_matches(again, truth)
    assert all(c.inserted == 0 for t in again.tables.values() for c in t.regions.values())
    assert again.final_counts == first.final_counts


def test_older_drift_without_ohlcv_region(warehouse, spock_b):
    path, truth = spock_b
    report = li.run_import(path, warehouse)
    assert report.completed
    assert_report_matches(report, truth)
    assert_warehouse_matches(warehouse, truth, report.checksum)
    assert report.tables["ohlcv_data"].regions["KR"].flagged["halted_bar"] == 1
    assert report.tables["ticker_fundamentals"].regions["KR"].flagged["statement_date_is_collection_date"] == 1
    tf = warehouse.read_frame("SELECT DISTINCT timeframe::text AS tf FROM ohlcv_data")["tf"].tolist()
    assert tf == ["D"]
    before = table_checksums(warehouse)
    li.run_import(path, warehouse)
    assert table_checksums(warehouse) == before


def test_dry_run_reports_everything_and_writes_nothing(warehouse, spock_a):
    path, truth = spock_a
    before = table_checksums(warehouse)
    report = li.run_import(path, warehouse, dry_run=True)
    assert report.dry_run and report.completed
    assert_report_matches(report, truth)
    assert table_checksums(warehouse) == before
    assert warehouse.read_frame("SELECT count(*) AS n FROM legacy_import_progress")["n"].iloc[0] == 0


def test_interrupted_import_resumes_where_it_stopped(warehouse, spock_a):
    path, truth = spock_a
    partial = li.run_import(path, warehouse, batch_rows=40, max_batches=6)
    assert not partial.completed
    statuses = {t.status for t in partial.tables.values()}
    assert "interrupted" in statuses and "not_started" in statuses
    progress = warehouse.read_frame("SELECT table_name, completed, last_key FROM legacy_import_progress")
    assert not progress["completed"].all()
    second = li.run_import(path, warehouse, batch_rows=25, max_batches=3)     # batch size may change on resume
    assert not second.completed
    final = li.run_import(path, warehouse, batch_rows=40)
    assert final.completed
    assert_report_matches(final, truth)             # cumulative counts equal an uninterrupted run's
    assert_warehouse_matches(warehouse, truth, final.checksum)
    ohlcv = final.tables["ohlcv_data"].total
    assert ohlcv.inserted == ohlcv.imported         # no bar was inserted twice or skipped


def test_failure_inside_a_batch_keeps_committed_batches_and_resumes(warehouse, spock_a):
    """A real failure in a batch (PostgreSQL rejects a row) rolls back that batch and its progress only."""
    path, truth = spock_a
    warehouse.execute("ALTER TABLE ohlcv_data ADD CONSTRAINT legacy_test_no_vnm CHECK (ticker <> 'VNM')")
    try:
        with pytest.raises(psycopg.errors.CheckViolation):
            li.run_import(path, warehouse, batch_rows=50)
        progress = warehouse.read_frame("SELECT last_key, completed FROM legacy_import_progress "
                                        "WHERE table_name = 'ohlcv_data'").iloc[0]
        assert not progress["completed"]
        keys = warehouse.read_frame("SELECT ticker, region, timeframe::text AS tf, date::text AS d FROM ohlcv_data")
        assert 0 < len(keys) < sum(truth.target_counts("ohlcv_data").values())
        assert max(keys.itertuples(index=False, name=None)) <= tuple(progress["last_key"])
    finally:
        warehouse.execute("ALTER TABLE ohlcv_data DROP CONSTRAINT IF EXISTS legacy_test_no_vnm")
    final = li.run_import(path, warehouse, batch_rows=50)
    assert final.completed
    assert_report_matches(final, truth)
    assert_warehouse_matches(warehouse, truth, final.checksum)


def test_existing_warehouse_rows_win(warehouse, spock_a):
    path, truth = spock_a
    warehouse.execute("INSERT INTO tickers (ticker, region, name, exchange, asset_type, currency) "
                      "VALUES ('005930', 'KR', 'Samsung (live)', 'KOSPI', 'STOCK', 'KRW')")
    warehouse.ensure_month_partitions("ohlcv_data", [dt.date.fromisoformat(DAYS[0])])
    warehouse.execute("INSERT INTO ohlcv_data (date, ticker, region, asset_type, close, volume, value) "
                      "VALUES (%s, '005930', 'KR', 'STOCK', 1, 1, 1)", (DAYS[0],))
    report = li.run_import(path, warehouse)
    row = warehouse.read_frame("SELECT name, listing_date, lot_size FROM tickers WHERE ticker = '005930'").iloc[0]
    assert row["name"] == "Samsung (live)" and row["listing_date"] == dt.date(2001, 2, 3) and row["lot_size"] == 1
    assert warehouse.read_frame("SELECT close FROM ohlcv_data WHERE ticker = '005930' AND date = %s",
                                (DAYS[0],))["close"].tolist() == [1]
    kr = report.tables["ohlcv_data"].regions["KR"]
    assert kr.inserted == kr.imported - 1
    assert_report_matches(report, truth)


def test_dagster_job_returns_the_report_as_metadata(warehouse, spock_a):
    path, truth = spock_a
    run_config = {"ops": {"import_legacy_database": {"config": {"sqlite_path": str(path), "batch_rows": 100}}}}
    result = li.legacy_import_job.execute_in_process(run_config=run_config, resources={"warehouse": warehouse})
    assert result.success
    out = result.output_for_node("import_legacy_database")
    assert out["completed"]
    assert out["tables"]["ohlcv_data"]["regions"]["US"]["rejected"] == {"no_close": 1}
    output = next(e for e in result.all_events if e.event_type_value == "STEP_OUTPUT")
    meta = output.event_specific_data.metadata
    assert meta["ohlcv_data_imported"].value == sum(truth.target_counts("ohlcv_data").values())
    assert meta["report"].value["completed"] is True and "| ohlcv_data | ohlcv_data | HK |" in meta["summary"].value


@pytest.mark.parametrize("kind", ["missing", "not_sqlite", "not_spock"])
def test_cli_refuses_a_file_that_is_not_a_spock_database(tmp_path, capsys, kind, database_url):
    path = tmp_path / "x.db"
    if kind == "not_sqlite":
        path.write_bytes(b"this is not a database at all" * 100)
    elif kind == "not_spock":
        sqlite3.connect(path).executescript("CREATE TABLE prices (symbol TEXT, close REAL);")
    code = cli.main(["import-legacy", str(path)])
    err = capsys.readouterr().err
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and str(path.name) in err


def test_cli_imports_a_spock_file_and_prints_the_report(warehouse, spock_b, capsys):
    path, truth = spock_b
    assert cli.main(["import-legacy", str(path)]) == 0
    out = capsys.readouterr().out
    assert "complete" in out and "| ohlcv_data | ohlcv_data | VN | 21 | 19 |" in out
    assert region_counts(warehouse, "ohlcv_data") == truth.target_counts("ohlcv_data")
    assert cli.main(["import-legacy", str(path), "--dry-run"]) == 0
    assert "DRY RUN" in capsys.readouterr().out
