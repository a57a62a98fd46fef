"""Spock's reference tables -> tickers, stock_details, etf_details (the `etfs` table included).

tickers: Spock's `region` column places each symbol; the symbol is put in its region's canonical
form ('0700.HK' -> '0700', '600519.SS' -> '600519', '2.SZ' -> '000002', '5930' -> '005930') and
Spock's own spelling is kept in `symbol` when it differs. Two Spock spellings of one instrument
('0700.HK' and '0700') collapse to the latest row. Existing warehouse rows win: only their NULL
columns are filled.

etf_details: leverage_ratio text ('2x', '-1x', '2배', '-1배') -> `multiple`; expense_ratio 0.0 was
Spock's writer's stand-in for "unknown" (the column was NOT NULL) -> NULL, flagged; tracking_index
'Unknown' likewise; tracking_error_* were premium/discount means (괴리율) -> premium_discount_avg_*.
`etfs` (Spock's second ETF table) feeds the same two tables (our `etfs` is a view over them).
"""

from __future__ import annotations

import pandas as pd

from quant_assets import symbols
from quant_assets.legacy import values, writer
from quant_assets.legacy.spec import Ctx, Prepared, Rows, Spec, known_check, place_py

ASSET_TYPES = {"STOCK", "ETF", "ETN", "REIT", "PREFERRED", "INDEX", "ELW", "FUND", "OTHER"}
TICKER_COLUMNS = ["ticker", "region", "symbol", "name", "name_eng", "exchange", "currency", "asset_type",
                  "listing_date", "delisting_date", "is_active", "lot_size", "sector_code", "market_tier",
                  "data_source"]
_DEFAULT_EXCHANGE = {"KR": "KOSPI"}     # KRX ETFs trade on the KOSPI board (Spock's and our convention)


def _canonical(raw: pd.Series, region: pd.Series) -> pd.Series:
    out = []
    for r, g in zip(raw, region, strict=True):
        try:
            out.append(symbols.normalise(g, r) if g in symbols.REGIONS else "")
        except symbols.SymbolError:
            out.append("")
    return pd.Series(out, index=raw.index, dtype=object)


def _ticker_rows(rows: Rows, *, etf: bool) -> pd.DataFrame:
    raw = rows.col("ticker")
    region = rows.text("region").str.upper()
    rows.reject("region_unknown", ~region.isin(symbols.REGIONS))
    ticker = _canonical(raw, region)
    rows.reject("bad_symbol", ticker == "")
    rows.out["_region"] = region.where(region.isin(symbols.REGIONS), None)
    name = rows.text("name")
    rows.flag("name_missing_set_to_ticker", name.isna())
    exchange = rows.text("exchange").str.upper()
    exchange = exchange.fillna(region.map(_DEFAULT_EXCHANGE))
    rows.reject("no_exchange", exchange.isna())
    kind = rows.text("asset_type").str.upper() if not etf else pd.Series("ETF", index=raw.index)
    kind = kind.fillna("STOCK")
    rows.flag("asset_type_unknown_set_other", ~kind.isin(ASSET_TYPES))
    kind = kind.where(kind.isin(ASSET_TYPES), "OTHER")
    currency = rows.text("currency").str.upper()
    currency = currency.where(currency.str.fullmatch(r"[A-Z]{3}", na=False), region.map(symbols.CURRENCY))
    listing, delisting = rows.col("listing_date", "inception_date").map(values.to_date), \
        rows.col("delisting_date").map(values.to_date)
    active = rows.col("is_active").map(values.flag)
    raw_text = raw.map(lambda v: "" if values.is_missing(v) else str(v).strip())
    return pd.DataFrame({
        "ticker": ticker, "region": region, "symbol": raw_text.where(raw_text != ticker, None),
        "name": name.fillna(ticker), "name_eng": rows.text("name_eng"), "exchange": exchange,
        "currency": currency, "asset_type": kind, "listing_date": listing, "delisting_date": delisting,
        "is_active": active.where(active.notna(), delisting.isna()).astype(bool),
        "lot_size": rows.num("lot_size"), "sector_code": rows.text("sector_code"),
        "market_tier": rows.text("market_tier"), "data_source": rows.text("data_source"),
    }, index=raw.index)


def _learn(out: pd.DataFrame, ctx: Ctx) -> None:
    """Tickers of this import join `known` (the warehouse's own rows keep their asset type)."""
    ok = out[out["_reason"].isna()]
    for t, r, k in zip(ok["ticker"], ok["region"], ok["asset_type"], strict=True):
        ctx.known.setdefault((t, r), k)


def prepare_tickers(src: pd.DataFrame, ctx: Ctx) -> Prepared:
    rows = Rows(src)
    out = _ticker_rows(rows, etf=False)
    rows.out = pd.concat([rows.out, out], axis=1)
    _learn(rows.out, ctx)
    return rows.done()


def tickers_spec(cols: list[str]) -> Spec:
    return Spec("tickers", "tickers", TICKER_COLUMNS, prepare_tickers,
                lambda conn, f: writer.merge_fill(conn, "tickers", f, ["ticker", "region"]),
                key=["ticker", "region"], stamp="last_updated" if "last_updated" in cols else "created_at",
                note=("unmapped Spock columns (no home here): created_at, enriched_at, yf_* status"))


# -- etf_details ------------------------------------------------------------------------------------
ETF_COLUMNS = ["ticker", "region", "isin", "issuer", "tracking_index", "multiple", "underlying_asset_class",
               "expense_ratio", "ter", "actual_expense_ratio", "listed_shares", "inception_date", "category",
               "geographic_region", "sector_theme", "fund_type", "currency_hedged", "pension_eligible",
               "investment_strategy", "aum", "underlying_asset_count", "premium_discount",
               "premium_discount_avg_20d", "premium_discount_avg_60d", "premium_discount_avg_120d",
               "premium_discount_avg_250d", "week_52_high", "week_52_low", "avg_daily_volume", "avg_daily_value",
               "data_source"]


def _etf_rows(rows: Rows, ticker: pd.Series, region: pd.Series, names: pd.Series) -> pd.DataFrame:
    lev, inverse = rows.col("leverage_ratio", "multiple"), rows.col("is_inverse")
    parsed = [values.multiple(x, n, i) for x, n, i in zip(lev, names, inverse, strict=True)]
    how = pd.Series([h for _, h in parsed], index=ticker.index)
    rows.flag("multiple_from_name", how == "name")
    rows.flag("multiple_defaulted_to_1", how == "default")
    expense = rows.num("expense_ratio")
    rows.flag("expense_ratio_0_was_unknown_set_null", expense == 0)
    index = rows.text("tracking_index")
    rows.flag("tracking_index_unknown_set_null", index.str.upper().isin(["UNKNOWN", "N/A", "-"]))
    out = pd.DataFrame({
        "ticker": ticker, "region": region,
        "isin": rows.text("isin").where(rows.text("isin").str.fullmatch(r"[A-Z0-9]{12}", na=False)),
        "issuer": rows.text("issuer"),
        "tracking_index": index.where(~index.str.upper().isin(["UNKNOWN", "N/A", "-"])),
        "multiple": [m for m, _ in parsed],
        "underlying_asset_class": rows.text("underlying_asset_class"),
        "expense_ratio": expense.mask(expense == 0), "ter": rows.num("ter"),
        "actual_expense_ratio": rows.num("actual_expense_ratio"),
        "listed_shares": rows.num("listed_shares"),
        "inception_date": rows.col("inception_date").map(values.to_date),
        "category": rows.text("category"), "geographic_region": rows.text("geographic_region"),
        "sector_theme": rows.text("sector_theme", "subcategory"), "fund_type": rows.text("fund_type"),
        "currency_hedged": rows.col("currency_hedged").map(values.flag),
        "pension_eligible": rows.col("pension_eligible").map(values.flag),
        "investment_strategy": rows.text("investment_strategy"),
        "aum": rows.num("aum", "total_assets"), "underlying_asset_count": rows.num("underlying_asset_count"),
        "premium_discount": rows.num("premium_discount"),
        **{f"premium_discount_avg_{n}d": rows.num(f"tracking_error_{n}d") for n in (20, 60, 120, 250)},
        "week_52_high": rows.num("week_52_high"), "week_52_low": rows.num("week_52_low"),
        "avg_daily_volume": rows.num("avg_daily_volume"), "avg_daily_value": rows.num("avg_daily_value"),
        "data_source": rows.text("data_source"),
    }, index=ticker.index)
    for col in ("currency_hedged", "pension_eligible"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def prepare_etf_details(src: pd.DataFrame, ctx: Ctx) -> Prepared:
    rows = Rows(src)
    raw = rows.col("ticker")
    ticker, region = place_py(rows, ctx, raw, rows.col("region") if "region" in src.columns else None)
    known_check(rows, ticker, region, raw, ctx)
    rows.out = pd.concat([rows.out, _etf_rows(rows, ticker, region, rows.col("name"))], axis=1)
    return rows.done()


def etf_details_spec(cols: list[str]) -> Spec:
    return Spec("etf_details", "etf_details", ETF_COLUMNS, prepare_etf_details,
                lambda conn, f: writer.merge_fill(conn, "etf_details", f, ["ticker", "region"]),
                key=["ticker", "region"], stamp="last_updated" if "last_updated" in cols else "created_at")


# -- etfs: both tables at once ------------------------------------------------------------------------
def prepare_etfs(src: pd.DataFrame, ctx: Ctx) -> Prepared:
    rows = Rows(src)
    tick = _ticker_rows(rows, etf=True)
    details = _etf_rows(rows, tick["ticker"], tick["region"], rows.col("name"))
    both = pd.concat([tick, details.drop(columns=["ticker", "region"]).add_prefix("etf__")], axis=1)
    rows.out = pd.concat([rows.out, both], axis=1)
    _learn(rows.out, ctx)
    return rows.done()


def _write_etfs(conn, frame: pd.DataFrame) -> int:
    tick = frame[TICKER_COLUMNS]
    details = frame[["ticker", "region"] + [c for c in frame.columns if c.startswith("etf__")]]
    inserted = writer.merge_fill(conn, "tickers", tick, ["ticker", "region"])
    writer.merge_fill(conn, "etf_details", details.rename(columns=lambda c: c.removeprefix("etf__")),
                      ["ticker", "region"])
    return inserted


def etfs_spec(cols: list[str]) -> Spec:
    etf_cols = [f"etf__{c}" for c in ETF_COLUMNS if c not in ("ticker", "region")]
    return Spec("etfs", "tickers+etf_details", TICKER_COLUMNS + etf_cols, prepare_etfs, _write_etfs,
                key=["ticker", "region"], stamp="last_updated" if "last_updated" in cols else "created_at")


# -- stock_details ----------------------------------------------------------------------------------
STOCK_COLUMNS = ["ticker", "region", "sector", "sector_code", "industry", "industry_code", "is_spac",
                 "is_preferred", "par_value", "market_cap", "shares_outstanding", "corp_code"]


def prepare_stock_details(src: pd.DataFrame, ctx: Ctx) -> Prepared:
    rows = Rows(src)
    raw = rows.col("ticker")
    ticker, region = place_py(rows, ctx, raw, rows.col("region"))
    known_check(rows, ticker, region, raw, ctx)
    out = pd.DataFrame({
        "ticker": ticker, "region": region, "sector": rows.text("sector"), "sector_code": rows.text("sector_code"),
        "industry": rows.text("industry"), "industry_code": rows.text("industry_code"),
        "is_spac": rows.col("is_spac").map(values.flag), "is_preferred": rows.col("is_preferred").map(values.flag),
        "par_value": rows.num("par_value"), "market_cap": rows.num("market_cap"),
        "shares_outstanding": rows.num("shares_outstanding", "listed_shares"), "corp_code": rows.text("corp_code"),
    }, index=src.index)
    for col in ("is_spac", "is_preferred"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    rows.out = pd.concat([rows.out, out], axis=1)
    return rows.done()


def stock_details_spec(cols: list[str]) -> Spec:
    return Spec("stock_details", "stock_details", STOCK_COLUMNS, prepare_stock_details,
                lambda conn, f: writer.merge_fill(conn, "stock_details", f, ["ticker", "region"]),
                key=["ticker", "region"], stamp="last_updated" if "last_updated" in cols else "created_at")
