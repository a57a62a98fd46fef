"""Spock's market tables -> ohlcv_data, ticker_fundamentals, etf_holdings, exchange_rate_history,
global_market_indices, market_sentiment.

ohlcv_data (the big one, streamed in keyset order inside SQLite): region from the row, else from
Spock's tickers; timeframe '1d' -> 'D'; rows that are truly invalid are rejected (no close, close
<= 0, high < low, close outside [low, high], negative volume, no such ticker). A halted day (open,
high, low 0 and volume 0) is kept the way our KRX ingest stores a no-trade day: open/high/low
NULL, close and volume as given. Re-fetches of one (ticker, region, timeframe, date) — possible
under the old UNIQUE(ticker, timeframe, date) with NULL regions — collapse to the latest
created_at (both of Spock's timestamp styles compared in UTC). Indicators are kept; `atr_14` takes
Spock's `atr` where atr_14 is empty (its collector only ever wrote `atr`). `value` stays NULL:
Spock never stored the traded value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_assets import symbols
from quant_assets.legacy import values, writer
from quant_assets.legacy.spec import Ctx, Prepared, Rows, Spec, known_check, place, place_py, region_expr
from quant_assets.storage import layout, staged

INDICATORS = ["ma5", "ma20", "ma60", "ma120", "ma200", "rsi_14", "macd", "macd_signal", "macd_hist",
              "bb_upper", "bb_middle", "bb_lower", "atr_14", "volume_ma20", "volume_ratio"]
OHLCV_COLUMNS = ["ticker", "region", "date", "timeframe", "asset_type", "open", "high", "low", "close",
                 "volume", "value", "market_cap", "listed_shares", "currency", *INDICATORS]


def prepare_ohlcv(src: pd.DataFrame, ctx: Ctx) -> Prepared:
    rows = Rows(src)
    ticker, region = place(rows, "_k0", "_k1")
    tf, day = src["_k2"].fillna(""), src["_k3"].fillna("")
    rows.reject("bad_timeframe", tf == "")
    rows.reject("bad_date", day == "")
    kinds = known_check(rows, ticker, region, rows.col("ticker"), ctx)
    o, h, lo, c, v = (rows.num(n) for n in ("open", "high", "low", "close", "volume"))
    rows.reject("no_close", c.isna())
    rows.reject("non_positive_close", c <= 0)
    rows.reject("no_volume", v.isna())
    rows.reject("negative_volume", v < 0)
    rows.reject("negative_price", (o < 0) | (h < 0) | (lo < 0))
    zero = (o == 0) | (h == 0) | (lo == 0)
    halted = (o.fillna(0) == 0) & (h.fillna(0) == 0) & (lo.fillna(0) == 0) & (v == 0)
    rows.flag("halted_bar", halted)
    rows.flag("zero_open_high_low_set_null", zero & ~halted)
    o, h, lo = o.mask(o == 0), h.mask(h == 0), lo.mask(lo == 0)
    rows.reject("high_below_low", h < lo)
    rows.reject("close_outside_range", (c > h) | (c < lo))
    atr = rows.num("atr_14")
    spock_atr = rows.num("atr")
    rows.flag("atr_14_from_atr", atr.isna() & spock_atr.notna())
    # ohlcv_data knows STOCK and ETF bars (KRX's two boards); ETN/REIT/PREFERRED bars are stock-board bars
    rows.flag("bar_of_etn_reit_or_preferred_as_stock", kinds.notna() & ~kinds.isin(["STOCK", "ETF"]))
    out = pd.DataFrame({
        "ticker": ticker, "region": region, "date": day, "timeframe": tf,
        "asset_type": np.where(kinds == "ETF", "ETF", "STOCK"),
        "open": o, "high": h, "low": lo, "close": c, "volume": v, "value": np.nan,
        "market_cap": rows.num("market_cap"), "listed_shares": rows.num("listed_shares"),
        # Spock's prices are in the market's own currency (yfinance for overseas bars)
        "currency": region.map(symbols.CURRENCY),
        **{n: rows.num(n) for n in INDICATORS if n != "atr_14"}, "atr_14": atr.fillna(spock_atr),
    }, index=src.index)
    rows.out = pd.concat([rows.out, out], axis=1)
    return rows.done()


def ohlcv_spec(cols: list[str]) -> Spec:
    reg = region_expr(cols)
    return Spec("ohlcv_data", "ohlcv_data", OHLCV_COLUMNS, prepare_ohlcv,
                lambda conn, f: writer.insert_new(conn, "ohlcv_data", f),
                key=["ticker", "region", "timeframe", "date"], region_sql=reg,
                sql_key=["spock_symbol(ticker, _r)", "_r",
                         f"spock_tf({'timeframe' if 'timeframe' in cols else 'NULL'})", "spock_date(date)"],
                stamp="created_at" if "created_at" in cols else ("updated_at" if "updated_at" in cols else None))


# -- ticker_fundamentals ------------------------------------------------------------------------------
FUND_VALUES = ["shares_outstanding", "market_cap", "close_price", "eps", "bps", "per", "pbr", "psr", "pcr", "ev",
               "ev_ebitda", "dividend_per_share", "dividend_yield", "revenue", "cogs", "gross_profit",
               "operating_profit", "net_income", "ebitda", "depreciation", "interest_expense", "total_assets",
               "total_liabilities", "total_equity", "current_assets", "current_liabilities", "inventory",
               "accounts_receivable", "cash_and_equivalents", "operating_cash_flow", "capital_expenditure",
               "roe", "debt_ratio", "free_float_percentage"]
FUND_COLUMNS = ["ticker", "region", "date", "period_type", "fiscal_year", "fiscal_quarter", *FUND_VALUES,
                "currency", "data_source"]


def prepare_fundamentals(src: pd.DataFrame, ctx: Ctx) -> Prepared:
    rows = Rows(src)
    ticker, region = place(rows, "_k0", "_k1")
    period, day = src["_k2"].fillna(""), src["_k3"].fillna("")
    rows.reject("bad_period_type", period == "")
    rows.reject("bad_date", day == "")
    known_check(rows, ticker, region, rows.col("ticker"), ctx)
    fy, source, raw_date = rows.col("fiscal_year"), rows.text("data_source"), rows.col("date")
    how = pd.Series([values.fundamentals_date(p, y, d, s)[1] for p, y, d, s in
                     zip(period, fy, raw_date, source, strict=True)], index=src.index)
    for name in ("statement_date_is_collection_date", "period_end_assumed_december"):
        rows.flag(name, how == name)
    quarter = pd.Series([values.dart_quarter(s) for s in source], index=src.index, dtype="float64")
    out = pd.DataFrame({
        "ticker": ticker, "region": region, "date": day, "period_type": period,
        "fiscal_year": pd.to_numeric(fy, errors="coerce"),
        "fiscal_quarter": quarter.where(period.isin(["QUARTERLY", "SEMI-ANNUAL"])),
        **{n: rows.num(n) for n in FUND_VALUES},
        "currency": region.map(symbols.CURRENCY), "data_source": source.fillna("spock"),
    }, index=src.index)
    rows.out = pd.concat([rows.out, out], axis=1)
    return rows.done()


def fundamentals_spec(cols: list[str]) -> Spec:
    reg = region_expr(cols)
    fy = "fiscal_year" if "fiscal_year" in cols else "NULL"
    ds = "data_source" if "data_source" in cols else "NULL"
    return Spec("ticker_fundamentals", "ticker_fundamentals", FUND_COLUMNS, prepare_fundamentals,
                lambda conn, f: writer.insert_new(conn, "ticker_fundamentals", f),
                key=["ticker", "region", "period_type", "date"], region_sql=reg,
                sql_key=["spock_symbol(ticker, _r)", "_r", "spock_period(period_type)",
                         f"spock_fund_date(period_type, {fy}, date, {ds})"],
                stamp="created_at" if "created_at" in cols else None)


# -- Phase-2 statements: balance_sheet, income_statement, cash_flow_statement, financial_ratios ------
# One ticker_fundamentals row per (ticker, region, period_type, fiscal_date): the statements of a
# period meet in that row (each fills the columns it has); CONSOLIDATED wins over SEPARATE.
STATEMENTS = {
    "balance_sheet": {"total_assets": "total_assets", "current_assets": "current_assets",
                      "cash_and_equivalents": "cash_and_equivalents", "accounts_receivable": "accounts_receivable",
                      "inventories": "inventory", "total_liabilities": "total_liabilities",
                      "current_liabilities": "current_liabilities", "total_equity": "total_equity"},
    "income_statement": {"revenue": "revenue", "cost_of_revenue": "cogs", "gross_profit": "gross_profit",
                         "operating_income": "operating_profit", "net_income": "net_income", "eps": "eps"},
    "cash_flow_statement": {"operating_cash_flow": "operating_cash_flow", "capex": "capital_expenditure"},
    "financial_ratios": {"roe": "roe"},
}


def statement_spec(table: str, cols: list[str]) -> Spec:
    mapping = {s: t for s, t in STATEMENTS[table].items() if s in cols}
    columns = ["ticker", "region", "date", "period_type", "fiscal_year", "fiscal_quarter", *mapping.values(),
               "currency", "data_source"]
    unmapped = sorted(set(cols) - set(mapping) - {"id", "ticker", "fiscal_date", "period_type", "report_type",
                                                  "created_at", "data_source"})

    def prepare(src: pd.DataFrame, ctx: Ctx) -> Prepared:
        rows = Rows(src)
        ticker, region = place(rows, "_k0", "_k1")
        period, day = src["_k2"].fillna(""), src["_k3"].fillna("")
        rows.reject("bad_period_type", (period == "") | (period == "DAILY"))
        rows.reject("bad_date", day == "")
        known_check(rows, ticker, region, rows.col("ticker"), ctx)
        when = pd.to_datetime(day.where(day != ""), errors="coerce")
        report = rows.text("report_type").str.upper()
        rows.out["_pref"] = (report.fillna("CONSOLIDATED") == "CONSOLIDATED").astype(int)
        out = pd.DataFrame({
            "ticker": ticker, "region": region, "date": day, "period_type": period, "fiscal_year": when.dt.year,
            "fiscal_quarter": ((when.dt.month - 1) // 3 + 1).where(period == "QUARTERLY"),
            **{t: rows.num(s) for s, t in mapping.items()},
            "currency": region.map(symbols.CURRENCY),
            "data_source": rows.text("data_source").fillna(f"spock:{table}"),
        }, index=src.index)
        rows.out = pd.concat([rows.out, out], axis=1)
        return rows.done()

    reg = region_expr(cols)
    return Spec(table, "ticker_fundamentals", columns, prepare,
                lambda conn, f: writer.merge_fill(conn, "ticker_fundamentals", f,
                                                  ["ticker", "region", "period_type", "date"], touch=False),
                key=["ticker", "region", "period_type", "date"], region_sql=reg,
                sql_key=["spock_symbol(ticker, _r)", "_r", "spock_period(period_type)", "spock_date(fiscal_date)"],
                stamp="created_at",
                note=f"columns with no ticker_fundamentals home, not imported: {', '.join(unmapped)}" if unmapped
                else None)


# -- etf_holdings -----------------------------------------------------------------------------------
HOLDING_COLUMNS = ["etf_ticker", "region", "as_of_date", "stock_ticker", "constituent_name", "constituent_type",
                   "shares", "market_value", "weight", "rank_in_etf", "weight_change_from_prev", "data_source",
                   "created_at"]


def prepare_holdings(src: pd.DataFrame, ctx: Ctx) -> Prepared:
    rows = Rows(src)
    raw = rows.col("etf_ticker", "etf")
    etf, region = place_py(rows, ctx, raw, rows.col("region") if "region" in src.columns else None)
    known_check(rows, etf, region, raw, ctx)
    day = rows.col("as_of_date", "date").map(values.to_date)
    rows.reject("bad_date", day.isna())
    placed = [ctx.resolver.constituent(s, r) if r else ("", "OTHER")
              for s, r in zip(rows.col("stock_ticker"), region, strict=True)]
    stock = pd.Series([p[0] for p in placed], index=src.index)
    rows.reject("no_constituent", stock == "")
    weight = rows.num("weight")
    rows.reject("weight_out_of_range", weight.abs() > 1000)
    out = pd.DataFrame({
        "etf_ticker": etf, "region": region, "as_of_date": day, "stock_ticker": stock, "constituent_name": None,
        "constituent_type": [p[1] for p in placed], "shares": rows.num("shares"),
        "market_value": rows.num("market_value"), "weight": weight, "rank_in_etf": rows.num("rank_in_etf"),
        "weight_change_from_prev": rows.num("weight_change_from_prev"),
        "data_source": rows.text("data_source").fillna("spock"),
        "created_at": rows.col("created_at").map(values.to_utc),
    }, index=src.index)
    rows.out = pd.concat([rows.out, out], axis=1)
    return rows.done()


def rank_holdings(frame: pd.DataFrame) -> pd.DataFrame:
    """Spock's rank_in_etf where an ETF-day has it for every row, else by weight (largest first)."""
    frame = frame.sort_values(["etf_ticker", "region", "as_of_date", "weight", "stock_ticker"],
                              ascending=[True, True, True, False, True], na_position="last", kind="stable")
    ranked = frame.groupby(["etf_ticker", "region", "as_of_date"]).cumcount() + 1
    complete = frame.groupby(["etf_ticker", "region", "as_of_date"])["rank_in_etf"].transform(lambda s: s.notna().all())
    frame["rank_in_etf"] = frame["rank_in_etf"].where(complete, ranked)
    return frame


def _write_holdings(conn, frame: pd.DataFrame) -> int:
    """An ETF-day the warehouse already holds (from KRX, or an earlier import) is left as it is."""
    if frame.empty:
        return 0
    tmp = writer.stage(conn, "etf_holdings", frame)
    cols = ", ".join(map(writer.q, frame.columns))
    etf_day = ["etf_ticker", "region", "as_of_date"]
    if layout.is_converted(conn, "etf_holdings"):
        # a compacted view: no ON CONFLICT (the engine's batches repeat no key); present ETF-days
        # dropped before the INSERT (storage/staged.py)
        conn.execute(staged.drop_present("etf_holdings", tmp, etf_day))
        return conn.execute(f"INSERT INTO etf_holdings ({cols}) SELECT {cols} FROM {tmp}").rowcount
    return conn.execute(
        f"INSERT INTO etf_holdings ({cols}) SELECT {cols} FROM {tmp} s WHERE NOT EXISTS (SELECT 1 FROM etf_holdings t "
        f"WHERE {staged.same_key(etf_day)}) ON CONFLICT DO NOTHING").rowcount


def holdings_spec(cols: list[str]) -> Spec:
    return Spec("etf_holdings", "etf_holdings", HOLDING_COLUMNS, prepare_holdings, _write_holdings,
                key=["etf_ticker", "region", "as_of_date", "stock_ticker"], stamp="created_at",
                finish=rank_holdings)


# -- exchange_rate_history ----------------------------------------------------------------------------
# Spock's ExchangeRateManager saved these constants, labelled 'BOK_API', whenever the BOK call failed.
FALLBACK_RATES = {"USD": 1300.0, "HKD": 170.0, "CNY": 180.0, "JPY": 10.0, "VND": 0.055}
PER_100 = {"JPY", "VND"}                      # BOK quotes KRW per 100 units; Spock divided by 100
CURRENCY_REGION = {c: r for r, c in symbols.CURRENCY.items()}
FX_COLUMNS = ["currency", "rate", "quoted_rate", "quote_unit", "base_currency", "timestamp", "rate_date", "source",
              "quality"]


def prepare_fx(src: pd.DataFrame, ctx: Ctx) -> Prepared:
    rows = Rows(src)
    cur = rows.text("currency").str.upper().str.split("_").str[0]
    rows.reject("bad_currency", ~cur.str.fullmatch(r"[A-Z]{3}", na=False))
    rate = rows.num("rate")
    rows.reject("non_positive_rate", ~(rate > 0))
    day = rows.col("rate_date").map(values.to_date)
    rows.reject("bad_date", day.isna())
    stamp = rows.col("timestamp").map(values.to_utc)
    created = rows.col("created_at").map(values.to_utc)
    rows.flag("timestamp_from_created_at", stamp.isna() & created.notna())
    stamp = stamp.fillna(created)
    rows.reject("no_timestamp", stamp.isna())
    source = rows.text("source")
    rows.flag("source_missing", source.isna())
    source = source.fillna("unknown")
    fallback = cur.map(FALLBACK_RATES)
    suspect = (source == "BOK_API") & fallback.notna() & ((rate - fallback).abs() < 1e-9)
    rows.flag("suspect_fallback", suspect)
    unit = np.where(cur.isin(PER_100), 100, 1)
    rows.out["_region"] = cur.map(CURRENCY_REGION)
    rows.out["_pref"] = (~suspect).astype(int)          # a real quote beats a fallback of the same day
    out = pd.DataFrame({
        "currency": cur, "rate": rate, "quoted_rate": rate * unit, "quote_unit": unit, "base_currency": "KRW",
        "timestamp": stamp, "rate_date": day, "source": source,
        "quality": np.where(suspect, "suspect_fallback", "ok"),
    }, index=src.index)
    rows.out = pd.concat([rows.out, out], axis=1)
    return rows.done()


def fx_spec(cols: list[str]) -> Spec:
    return Spec("exchange_rate_history", "exchange_rate_history", FX_COLUMNS, prepare_fx,
                lambda conn, f: writer.insert_new(conn, "exchange_rate_history", f, ["currency", "rate_date", "source"]),
                key=["currency", "rate_date", "source"], stamp="timestamp" if "timestamp" in cols else "created_at")


# -- global_market_indices ----------------------------------------------------------------------------
# Spock wrote region 'US' or 'ASIA'; the symbol says which market an index belongs to.
INDEX_REGIONS = {"^GSPC": "US", "^IXIC": "US", "^DJI": "US", "^RUT": "US", "^VIX": "US", "^NDX": "US",
                 "^HSI": "HK", "^HSCE": "HK", "^N225": "JP", "^TOPX": "JP", "000001.SS": "CN", "399001.SZ": "CN",
                 "000300.SS": "CN", "^KS11": "KR", "^KQ11": "KR", "^KS200": "KR", "^VNINDEX": "VN",
                 "^VNINDEX.VN": "VN", "^STOXX": "EU", "^STOXX50E": "EU", "^GDAXI": "EU", "^FTSE": "UK"}
INDEX_REGION_SET = {"KR", "US", "CN", "HK", "JP", "VN", "EU", "UK", "GLOBAL"}
INDEX_CURRENCY = {**symbols.CURRENCY, "EU": "EUR", "UK": "GBP"}
INDEX_COLUMNS = ["date", "symbol", "index_name", "region", "close_price", "open_price", "high_price", "low_price",
                 "volume", "change_percent", "trend_5d", "consecutive_days", "currency", "source"]


def prepare_indices(src: pd.DataFrame, ctx: Ctx) -> Prepared:
    rows = Rows(src)
    sym = rows.text("symbol").str.upper()
    rows.reject("no_symbol", sym.isna())
    spock_region = rows.text("region").str.upper()
    region = sym.map(INDEX_REGIONS)
    rows.flag("region_from_symbol", region.notna() & (region != spock_region))
    region = region.fillna(spock_region.where(spock_region.isin(INDEX_REGION_SET)))
    rows.reject("index_region_unknown", region.isna())
    day = rows.col("date").map(values.to_date)
    rows.reject("bad_date", day.isna())
    close, o, h, lo = (rows.num(n) for n in ("close_price", "open_price", "high_price", "low_price"))
    rows.reject("no_close", close.isna())
    rows.reject("missing_price", o.isna() | h.isna() | lo.isna())
    rows.reject("high_below_low", h < lo)
    change = rows.num("change_percent")
    rows.reject("no_change_percent", change.isna())
    trend = rows.text("trend_5d").str.upper()
    bad_trend = trend.notna() & ~trend.isin(["UP", "DOWN", "FLAT", "SIDEWAYS"])
    rows.flag("trend_5d_unknown_set_null", bad_trend)
    rows.out["_region"] = region.where(region.isin(symbols.REGIONS), None)
    out = pd.DataFrame({
        "date": day, "symbol": sym, "index_name": rows.text("index_name").fillna(sym), "region": region,
        "close_price": close, "open_price": o, "high_price": h, "low_price": lo, "volume": rows.num("volume"),
        "change_percent": change, "trend_5d": trend.mask(bad_trend), "consecutive_days": rows.num("consecutive_days"),
        "currency": region.map(INDEX_CURRENCY), "source": "yfinance",
    }, index=src.index)
    rows.out = pd.concat([rows.out, out], axis=1)
    return rows.done()


def indices_spec(cols: list[str]) -> Spec:
    return Spec("global_market_indices", "global_market_indices", INDEX_COLUMNS, prepare_indices,
                lambda conn, f: writer.insert_new(conn, "global_market_indices", f, ["date", "symbol"]),
                key=["date", "symbol"], stamp="created_at")


# -- market_sentiment ---------------------------------------------------------------------------------
SENTIMENT_VALUES = ["vix", "fear_greed_index", "kospi_index", "kosdaq_index", "foreign_net_buying",
                    "institution_net_buying", "usd_krw", "jpy_krw", "oil_price", "gold_price", "sentiment_score"]


def prepare_sentiment(src: pd.DataFrame, ctx: Ctx) -> Prepared:
    rows = Rows(src)
    day = rows.col("date").map(values.to_date)
    rows.reject("bad_date", day.isna())
    regime = rows.text("market_regime").str.lower()
    bad = regime.notna() & ~regime.isin(["bull", "sideways", "bear"])
    rows.flag("market_regime_unknown_set_null", bad)
    out = pd.DataFrame({"date": day, **{n: rows.num(n) for n in SENTIMENT_VALUES},
                        "market_regime": regime.mask(bad),
                        "created_at": rows.col("created_at").map(values.to_utc)}, index=src.index)
    out["created_at"] = out["created_at"].where(out["created_at"].notna(), pd.Timestamp.now(tz="UTC"))
    rows.out = pd.concat([rows.out, out], axis=1)
    return rows.done()


def sentiment_spec(cols: list[str]) -> Spec:
    return Spec("market_sentiment", "market_sentiment",
                ["date", *SENTIMENT_VALUES, "market_regime", "created_at"], prepare_sentiment,
                lambda conn, f: writer.insert_new(conn, "market_sentiment", f, ["date"]),
                key=["date"], stamp="created_at")
