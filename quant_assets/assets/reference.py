"""The ticker universe: which ETFs and stocks are listed today, and their master records.

Both assets are snapshots of "listed now" (KRX's master endpoints take no date), written as an
upsert on (ticker, region) that retires tickers no longer listed in the region instead of
deleting them. Everything KRX lists is region KR, currency KRW, traded in lots of 1 share.
"""


import dagster as dg
import pandas as pd

from quant_assets.calendar import TIMEZONE, now_kst
from quant_assets.metadata import preview, table_metadata, table_of
from quant_assets.resources.krx import KRXClient
from quant_assets.resources.warehouse import Warehouse, refresh_etf_latest
from quant_assets.schemas.reference import EtfDetailsSchema, StockDetailsSchema, TickerSchema
from quant_assets.schemas.validation import validate
from quant_assets.symbols import CURRENCY

REGION = "KR"
DATA_SOURCE = "KRX"
# KRX master field names (resources/parsing.py) -> etf_details columns (seed 000/002 names).
ETF_DETAIL_RENAMES = {"manager": "issuer", "index_name": "tracking_index", "asset_class": "underlying_asset_class",
                      "total_fee_pct": "expense_ratio", "listed_units": "listed_shares",
                      "listing_date": "inception_date"}
ETF_DETAIL_COLUMNS = ["ticker", "region", "isin", "full_name", "english_name", "issuer", "tracking_index",
                      "index_provider", "leverage_type", "multiple", "replication", "index_market",
                      "underlying_asset_class", "expense_ratio", "cu_qty", "tax_type", "listed_shares",
                      "inception_date", "geographic_region", "fund_type", "data_source"]
STOCK_MARKETS = {"KOSPI": "KOSPI", "KOSDAQ": "KOSDAQ", "KOSDAQ GLOBAL": "KOSDAQ", "KONEX": "KONEX",
                 "STK": "KOSPI", "KSQ": "KOSDAQ", "KNX": "KONEX"}
ETF_EXCHANGE = "KOSPI"      # KRX ETFs trade on the KOSPI board; "ETF" is their asset_type, not a market


def ticker_rows(frame: pd.DataFrame, *, exchange: pd.Series | str, asset_type: str, active: bool) -> pd.DataFrame:
    """`tickers` rows of KRX-listed securities. name_eng is KRX's English name where the source
    gives one (the finder lists of delisted stocks do not: NULL there)."""
    return pd.DataFrame({
        "ticker": frame["ticker"],
        "region": REGION,
        "isin": frame["isin"],
        "name": frame["name"],
        "name_eng": frame["english_name"] if "english_name" in frame.columns else None,
        "exchange": exchange,
        "asset_type": asset_type,
        "currency": CURRENCY[REGION],
        "lot_size": 1,
        "listing_date": frame.get("listing_date", pd.NaT),
        "delisting_date": pd.NaT,
        "is_active": active,
        "data_source": DATA_SOURCE,
    })


def _summary(context: dg.AssetExecutionContext, frame: pd.DataFrame, counts: dict, source: str) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(frame),
        **table_metadata(table_of(context.asset_key)),  # etf_details / stock_details from the catalogue
        "listed": counts["listed"],
        "retired_today": counts["retired"],
        "source": source,
        "as_of": now_kst().isoformat(timespec="seconds"),
        "preview": preview(frame),
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
          description="Listed ETFs (`tickers` rows with region KR, asset_type ETF, exchange KOSPI) and every KRX "
                      "master field in `etf_details`.")
def etf_list(context: dg.AssetExecutionContext, krx: KRXClient, warehouse: Warehouse) -> dg.MaterializeResult:
    master = krx.etf_master()
    tickers = validate(TickerSchema, ticker_rows(master, exchange=ETF_EXCHANGE, asset_type="ETF", active=True),
                       dataset="etf_list", date=None)
    # Seed 002 fills geographic_region from IDX_MKT_CLSS_NM (국내/해외) and fund_type from the
    # replication method; both stay beside our own index_market / replication columns.
    master = master.rename(columns=ETF_DETAIL_RENAMES).assign(
        region=REGION, data_source=DATA_SOURCE,
        geographic_region=master["index_market"], fund_type=master["replication"])
    details = validate(EtfDetailsSchema, master[ETF_DETAIL_COLUMNS], dataset="etf_list", date=None)
    counts = warehouse.sync_universe("ETF", tickers, "etf_details", details, region=REGION,
                                     after=[refresh_etf_latest(REGION)])
    return _summary(context, details, counts, "KRX MDCSTAT04601")


@dg.asset(kinds={"postgres", "pandas"}, group_name="reference", pool="krx", automation_condition=REFRESH,
          description="Listed and delisted stocks (`tickers` rows with asset_type STOCK) with market, "
                      "sector, share class and shares outstanding in `stock_details`.")
def stock_list(context: dg.AssetExecutionContext, krx: KRXClient, warehouse: Warehouse) -> dg.MaterializeResult:
    master = krx.stock_master("ALL")
    markets = master["market"].map(STOCK_MARKETS).fillna(master["market"])
    listed = ticker_rows(master, exchange=markets, asset_type="STOCK", active=True)
    delisted = krx.stock_list(delisted=True)
    delisted = delisted[~delisted["ticker"].isin(listed["ticker"])].drop_duplicates("ticker")
    gone = ticker_rows(delisted, exchange=delisted["market_code"].map(STOCK_MARKETS).fillna("KOSPI"),
                       asset_type="STOCK", active=False)
    tickers = validate(TickerSchema, pd.concat([listed, gone], ignore_index=True), dataset="stock_list", date=None)

    sectors = []
    day = krx.latest_trading_day(now_kst().date())
    if day is not None:
        for mkt in ("STK", "KSQ"):
            sectors.append(krx.sector_classification(day, mkt)[["ticker", "sector"]])
    sector = pd.concat(sectors).drop_duplicates("ticker").set_index("ticker")["sector"] if sectors else pd.Series()
    kind = master["stock_kind"]
    details = validate(StockDetailsSchema, pd.DataFrame({
        "ticker": master["ticker"], "region": REGION, "full_name": master["full_name"],
        "english_name": master["english_name"], "market": markets, "sector": master["ticker"].map(sector),
        "section": master["section"], "stock_kind": kind, "par_value": master["par_value"],
        "shares_outstanding": master["listed_shares"],
        # KRX's share class (보통주 / 구형우선주 / 신형우선주 / 종류주권): preferred when it says so
        "is_preferred": kind.str.contains("우선주").where(kind.notna()).astype("boolean"),
    }), dataset="stock_list", date=None)
    counts = warehouse.sync_universe("STOCK", tickers, "stock_details", details, region=REGION)
    context.log.info(f"{counts['listed']} listed stocks, {len(gone)} known delisted, sectors as of {day}")
    return _summary(context, details, counts, f"KRX MDCSTAT01901 + finder_listdelisu + MDCSTAT03901 ({day})")
