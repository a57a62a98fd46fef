"""The ticker universe: which ETFs and stocks are listed today, and their master records.

Both assets are snapshots of "listed now" (KRX's master endpoints take no date), written as an
upsert that retires tickers no longer listed instead of deleting them.
"""


import dagster as dg
import pandas as pd

from quant_assets.calendar import TIMEZONE, now_kst
from quant_assets.resources.krx import KRXClient
from quant_assets.resources.warehouse import Warehouse
from quant_assets.schemas.reference import EtfDetailsSchema, TickerSchema
from quant_assets.schemas.validation import validate

ETF_DETAIL_COLUMNS = ["ticker", "isin", "full_name", "english_name", "issuer", "index_name", "index_provider",
                      "leverage_type", "multiple", "replication", "index_market", "asset_class", "total_fee_pct",
                      "cu_qty", "tax_type", "listed_units", "listing_date"]
STOCK_MARKETS = {"KOSPI": "KOSPI", "KOSDAQ": "KOSDAQ", "KOSDAQ GLOBAL": "KOSDAQ", "KONEX": "KONEX",
                 "STK": "KOSPI", "KSQ": "KOSDAQ", "KNX": "KONEX"}


def ticker_rows(frame: pd.DataFrame, *, market: pd.Series | str, asset_type: str, active: bool) -> pd.DataFrame:
    return pd.DataFrame({
        "ticker": frame["ticker"],
        "isin": frame["isin"],
        "name": frame["name"],
        "region": "KR",
        "market": market,
        "asset_type": asset_type,
        "listing_date": frame.get("listing_date", pd.NaT),
        "delisting_date": pd.NaT,
        "active": active,
    })


def _summary(context: dg.AssetExecutionContext, frame: pd.DataFrame, counts: dict, source: str) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(frame),
        "listed": counts["listed"],
        "retired_today": counts["retired"],
        "source": source,
        "as_of": now_kst().isoformat(timespec="seconds"),
        "preview": dg.MetadataValue.md(frame.head(5).to_markdown(index=False)),
    })


# Loaded as soon as the platform first starts (the AUM and holdings sensors need the ETF
# universe), then refreshed every weekday morning before the open, when KRX has applied the day's
# new listings and delistings to its master files. `on_missing()` is not enough: it only fires
# for partitions added after its first evaluation, and an unpartitioned asset never is. A failed
# first load is not retried in a loop (the source may be down); the next cron tick retries it.
REFRESH = (
    (dg.AutomationCondition.missing() & ~dg.AutomationCondition.in_progress()
     & ~dg.AutomationCondition.execution_failed()).with_label("never loaded")
    | dg.AutomationCondition.on_cron("30 7 * * 1-5", TIMEZONE)
)


@dg.asset(kinds={"postgres", "pandas"}, group_name="reference", pool="krx", automation_condition=REFRESH,
          description="Listed ETFs (`tickers` rows with asset_type ETF) and every master field in `etf_details`.")
def etf_list(context: dg.AssetExecutionContext, krx: KRXClient, warehouse: Warehouse) -> dg.MaterializeResult:
    master = krx.etf_master().rename(columns={"manager": "issuer"})
    details = validate(EtfDetailsSchema, master[ETF_DETAIL_COLUMNS], dataset="etf_list", date=None)
    tickers = validate(TickerSchema, ticker_rows(master, market="ETF", asset_type="ETF", active=True),
                       dataset="etf_list", date=None)
    counts = warehouse.sync_universe("ETF", tickers, "etf_details", details)
    return _summary(context, details, counts, "KRX MDCSTAT04601")


@dg.asset(kinds={"postgres", "pandas"}, group_name="reference", pool="krx", automation_condition=REFRESH,
          description="Listed and delisted stocks (`tickers` rows with asset_type STOCK) with market, "
                      "sector, share class and listed shares in `stock_details`.")
def stock_list(context: dg.AssetExecutionContext, krx: KRXClient, warehouse: Warehouse) -> dg.MaterializeResult:
    master = krx.stock_master("ALL")
    markets = master["market"].map(STOCK_MARKETS).fillna(master["market"])
    listed = ticker_rows(master, market=markets, asset_type="STOCK", active=True)
    delisted = krx.stock_list(delisted=True)
    delisted = delisted[~delisted["ticker"].isin(listed["ticker"])].drop_duplicates("ticker")
    gone = ticker_rows(delisted, market=delisted["market_code"].map(STOCK_MARKETS).fillna("KOSPI"),
                       asset_type="STOCK", active=False)
    tickers = validate(TickerSchema, pd.concat([listed, gone], ignore_index=True), dataset="stock_list", date=None)

    sectors = []
    day = krx.latest_trading_day(now_kst().date())
    if day is not None:
        for mkt in ("STK", "KSQ"):
            sectors.append(krx.sector_classification(day, mkt)[["ticker", "sector"]])
    sector = pd.concat(sectors).drop_duplicates("ticker").set_index("ticker")["sector"] if sectors else pd.Series()
    details = pd.DataFrame({
        "ticker": master["ticker"], "full_name": master["full_name"], "english_name": master["english_name"],
        "market": markets, "sector": master["ticker"].map(sector), "section": master["section"],
        "stock_kind": master["stock_kind"], "par_value": master["par_value"], "listed_shares": master["listed_shares"],
    })
    counts = warehouse.sync_universe("STOCK", tickers, "stock_details", details)
    context.log.info(f"{counts['listed']} listed stocks, {len(gone)} known delisted, sectors as of {day}")
    return _summary(context, details, counts, f"KRX MDCSTAT01901 + finder_listdelisu + MDCSTAT03901 ({day})")
