"""Spock's analysis and trading records -> technical_analysis, trades, portfolio; and the archive.

trades: Spock's column defaulted to 'KR', so a US order saved without a region claims KR. When
Spock's tickers place the symbol in another region, that region is used (flagged). Trades have no
key; a trade equal in every recorded field to one already present is the same trade.

Every other Spock table (kelly_*, gpt_analysis, filter_cache_*, kis_api_logs, migration_history,
risk_limits, portfolio_templates, rebalancing_*, backtest_*, ...) has no
first-class home here and is archived row for row in `legacy_rows` (sql/012).
"""

from __future__ import annotations

import pandas as pd

from quant_assets import symbols
from quant_assets.legacy import values, writer
from quant_assets.legacy.source import raw_key
from quant_assets.legacy.spec import Ctx, Prepared, Rows, Spec, place_py

TA_COLUMNS = ["ticker", "region", "analysis_date", "stage", "stage_confidence", "layer1_macro_score",
              "layer2_structural_score", "layer3_micro_score", "total_score", "signal", "signal_strength",
              "gpt_pattern", "gpt_confidence", "gpt_analysis", "data_source", "created_at"]


def _created(rows: Rows) -> pd.Series:
    stamp = rows.col("created_at").map(values.to_utc)
    return stamp.where(stamp.notna(), pd.Timestamp("1970-01-01", tz="UTC"))


def prepare_ta(src: pd.DataFrame, ctx: Ctx) -> Prepared:
    rows = Rows(src)
    ticker, region = place_py(rows, ctx, rows.col("ticker"), rows.col("region") if "region" in src.columns else None)
    day = rows.col("analysis_date").map(values.to_date)
    rows.reject("bad_date", day.isna())
    stage = rows.num("stage")
    bad = stage.notna() & ~stage.isin([1, 2, 3, 4])
    rows.flag("stage_out_of_range_set_null", bad)
    out = pd.DataFrame({
        "ticker": ticker, "region": region, "analysis_date": day, "stage": stage.mask(bad),
        **{n: rows.num(n) for n in ("stage_confidence", "layer1_macro_score", "layer2_structural_score",
                                    "layer3_micro_score", "total_score", "signal_strength", "gpt_confidence")},
        "signal": rows.text("signal"), "gpt_pattern": rows.text("gpt_pattern"),
        "gpt_analysis": rows.text("gpt_analysis"), "data_source": "spock", "created_at": _created(rows),
    }, index=src.index)
    rows.out = pd.concat([rows.out, out], axis=1)
    return rows.done()


def ta_spec(cols: list[str]) -> Spec:
    return Spec("technical_analysis", "technical_analysis", TA_COLUMNS, prepare_ta,
                lambda conn, f: writer.insert_new(conn, "technical_analysis", f,
                                                  ["ticker", "region", "analysis_date"]),
                key=["ticker", "region", "analysis_date"], stamp="created_at")


# -- trades ---------------------------------------------------------------------------------------
TRADE_COLUMNS = ["ticker", "region", "side", "order_type", "quantity", "entry_price", "exit_price", "price", "amount",
                 "fee", "tax", "order_no", "execution_no", "entry_timestamp", "exit_timestamp", "order_time",
                 "execution_time", "trade_status", "sector", "position_size_percent", "reason", "created_at"]
TRADE_KEY = ["ticker", "region", "order_time", "side", "quantity", "price", "order_no", "execution_no"]
STATUSES = {"OPEN", "CLOSED", "CANCELLED", "PENDING", "FILLED", "PARTIAL"}


def prepare_trades(src: pd.DataFrame, ctx: Ctx) -> Prepared:
    rows = Rows(src)
    raw = rows.col("ticker")
    row_region = rows.text("region").str.upper()
    spock = raw.map(lambda r: ctx.resolver.spock_regions.get(raw_key(r) or ""))
    corrected = (row_region.fillna("KR") == "KR") & spock.notna() & (spock != "KR")
    rows.flag("default_region_kr_corrected", corrected)
    ticker, region = place_py(rows, ctx, raw, row_region.where(~corrected, spock))
    side = rows.text("side").str.upper()
    rows.reject("bad_side", ~side.isin(["BUY", "SELL"]))
    kind = rows.text("order_type").str.upper()
    rows.flag("order_type_unknown_set_null", kind.notna() & ~kind.isin(["MARKET", "LIMIT"]))
    status = rows.text("trade_status").str.upper().fillna("OPEN")
    rows.reject("bad_trade_status", ~status.isin(STATUSES))
    qty, price, amount = rows.num("quantity"), rows.num("price"), rows.num("amount")
    rows.reject("no_quantity", qty.isna())
    rows.reject("no_price", price.isna())
    rows.reject("no_amount", amount.isna())
    order_time = rows.col("order_time").map(values.to_utc)
    rows.reject("no_order_time", order_time.isna())
    out = pd.DataFrame({
        "ticker": ticker, "region": region, "side": side, "order_type": kind.where(kind.isin(["MARKET", "LIMIT"])),
        "quantity": qty, "entry_price": rows.num("entry_price"), "exit_price": rows.num("exit_price"),
        "price": price, "amount": amount, "fee": rows.num("fee").fillna(0), "tax": rows.num("tax").fillna(0),
        "order_no": rows.text("order_no"), "execution_no": rows.text("execution_no"),
        **{c: rows.col(c).map(values.to_utc) for c in ("entry_timestamp", "exit_timestamp")},
        "order_time": order_time, "execution_time": rows.col("execution_time").map(values.to_utc),
        "trade_status": status, "sector": rows.text("sector"),
        "position_size_percent": rows.num("position_size_percent"), "reason": rows.text("reason"),
        "created_at": _created(rows),
    }, index=src.index)
    rows.out = pd.concat([rows.out, out], axis=1)
    return rows.done()


def trades_spec(cols: list[str]) -> Spec:
    return Spec("trades", "trades", TRADE_COLUMNS, prepare_trades,
                lambda conn, f: writer.insert_absent(conn, "trades", f, TRADE_KEY), key=TRADE_KEY,
                stamp="created_at")


# -- portfolio --------------------------------------------------------------------------------------
PORTFOLIO_COLUMNS = ["ticker", "region", "quantity", "avg_price", "current_price", "market_value", "unrealized_pnl",
                     "unrealized_pnl_pct", "stop_loss_price", "profit_target_price", "entry_date", "entry_score",
                     "last_updated"]


def prepare_portfolio(src: pd.DataFrame, ctx: Ctx) -> Prepared:
    rows = Rows(src)
    ticker, region = place_py(rows, ctx, rows.col("ticker"), rows.col("region") if "region" in src.columns else None)
    qty, avg = rows.num("quantity"), rows.num("avg_price")
    rows.reject("no_quantity", qty.isna())
    rows.reject("no_avg_price", avg.isna())
    entry = rows.col("entry_date").map(values.to_date)
    rows.reject("bad_date", entry.isna())
    updated = rows.col("last_updated").map(values.to_utc)
    out = pd.DataFrame({
        "ticker": ticker, "region": region, "quantity": qty, "avg_price": avg,
        **{n: rows.num(n) for n in ("current_price", "market_value", "unrealized_pnl", "unrealized_pnl_pct",
                                    "stop_loss_price", "profit_target_price", "entry_score")},
        "entry_date": entry, "last_updated": updated.where(updated.notna(), pd.Timestamp("1970-01-01", tz="UTC")),
    }, index=src.index)
    rows.out = pd.concat([rows.out, out], axis=1)
    return rows.done()


def portfolio_spec(cols: list[str]) -> Spec:
    return Spec("portfolio", "portfolio", PORTFOLIO_COLUMNS, prepare_portfolio,
                lambda conn, f: writer.insert_new(conn, "portfolio", f, ["ticker", "region"]),
                key=["ticker", "region"], stamp="last_updated")


# -- the archive ------------------------------------------------------------------------------------
def archive_spec(table: str, cols: list[str]) -> Spec:
    """A Spock table with no home here: every row into legacy_rows, in rowid batches."""

    def prepare(src: pd.DataFrame, ctx: Ctx) -> Prepared:
        rows = Rows(src)
        if "region" in cols:
            reg = src["region"].map(lambda r: str(r).strip().upper() if not values.is_missing(r) else None)
            rows.out["_region"] = reg.where(reg.isin(symbols.REGIONS), None)
        elif "ticker" in cols:
            reg = src["ticker"].map(lambda t: ctx.resolver.region(t, None) or None)
            rows.out["_region"] = reg
        return rows.done()

    return Spec(table, "legacy_rows", [], prepare, None, sql_key=["_rowid"])
