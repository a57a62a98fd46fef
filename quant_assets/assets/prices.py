"""Daily prices: fetch the whole market for day D in two bulk requests, check it, store it.

`ohlcv` (every stock and ETF) and `etf_daily` (NAV, AUM, units, benchmark) both come from KRX's
per-date snapshots; one multi-asset serves both so the ETF snapshot is requested once per day
even when both tables are refreshed together.
"""


import datetime as dt

import dagster as dg
import pandas as pd

from quant_assets.assets.daily import INGEST_POLICY, DayResult, for_each_trading_day
from quant_assets.assets.month_batches import MonthBatches
from quant_assets.assets.prefetch import Prefetcher, prefetch_depth
from quant_assets.calendar import trading_day_partitions
from quant_assets.resources.krx import KRXClient
from quant_assets.resources.warehouse import PartitionWrite, Warehouse, refresh_etf_latest
from quant_assets.schemas.prices import EtfDailySchema, OhlcvSchema
from quant_assets.schemas.validation import validate

OHLCV = dg.AssetKey("ohlcv")
ETF_DAILY = dg.AssetKey("etf_daily")
REGION = "KR"               # everything KRX publishes is the Korean market
DAILY = "D"                 # ohlcv_data.timeframe of a daily bar
OHLCV_COLUMNS = ["date", "ticker", "region", "timeframe", "asset_type", "open", "high", "low", "close", "change",
                 "change_pct", "volume", "value", "market_cap", "listed_shares"]
ETF_DAILY_COLUMNS = ["date", "ticker", "region", "close", "nav", "aum", "listed_units", "market_cap", "index_close",
                     "index_change_pct"]


def ohlcv_frame(stocks: pd.DataFrame, etfs: pd.DataFrame) -> pd.DataFrame:
    """Stocks and ETFs in one frame of daily KR bars; KRX reports open/high/low as 0 when nothing
    traded."""
    etfs = etfs.rename(columns={"listed_units": "listed_shares"})
    frame = pd.concat([stocks.assign(asset_type="STOCK"), etfs.assign(asset_type="ETF")], ignore_index=True)
    frame = frame.assign(region=REGION, timeframe=DAILY)[OHLCV_COLUMNS].copy()
    for col in ("open", "high", "low"):
        frame[col] = frame[col].where(frame[col] != 0)
    return frame


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            OHLCV, skippable=True, kinds={"postgres", "pandas"}, group_name="prices",
            description="Raw daily OHLCV, volume, traded value and market cap of every listed stock and ETF "
                        "(table `ohlcv_data`, month-partitioned).",
            metadata={"dagster/table_name": "quant.public.ohlcv_data"},
        ),
        dg.AssetSpec(
            ETF_DAILY, skippable=True, kinds={"postgres", "pandas"}, group_name="etf",
            deps=["etf_list"],
            description="Per ETF per day: close, NAV, AUM (NULL until KRX publishes it on D+1), listed "
                        "units, market cap and benchmark level (table `etf_daily`).",
            metadata={"dagster/table_name": "quant.public.etf_daily"},
        ),
    ],
    partitions_def=trading_day_partitions,
    backfill_policy=INGEST_POLICY,
    can_subset=True,
    pool="krx",
)
def daily_prices(context: dg.AssetExecutionContext, krx: KRXClient, warehouse: Warehouse):
    selected = context.selected_asset_keys
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]

    def prepare_day(day: dt.date) -> tuple[list[PartitionWrite], list[DayResult]]:
        # The two bulk requests, parsing, validation and the binary COPY encoding of both frames:
        # a ranged run does this for the next days in its fetch thread while the current day is
        # written (assets/prefetch.py), so the write transaction only sends bytes. A bad value
        # raises here and is re-raised for its own day; nothing of that day is written.
        key = day.isoformat()
        etfs = krx.etf_daily(day)
        results, writes = [], []
        where = {"region": REGION, "date": day}
        if OHLCV in selected:
            frame = validate(OhlcvSchema, ohlcv_frame(krx.stock_daily(day), etfs), dataset="ohlcv", date=key)
            writes.append(PartitionWrite("ohlcv_data", frame, where=where, encoded=warehouse.encode("ohlcv_data", frame),
                                         status=("ohlcv", day, "KRX MDCSTAT01501+MDCSTAT04301")))
            results.append(DayResult(OHLCV, frame, "KRX MDCSTAT01501 (mktId=ALL) + MDCSTAT04301"))
        if ETF_DAILY in selected:
            frame = validate(EtfDailySchema, etfs.assign(region=REGION)[ETF_DAILY_COLUMNS], dataset="etf_daily",
                             date=key)
            writes.append(PartitionWrite("etf_daily", frame, where=where, encoded=warehouse.encode("etf_daily", frame),
                                         status=("etf_daily", day, "KRX MDCSTAT04301")))
            extra = {"aum_published": bool(frame["aum"].notna().any())}
            results.append(DayResult(ETF_DAILY, frame, "KRX MDCSTAT04301", extra))
        return writes, results

    def after(day: dt.date) -> list:
        # etf_details' avg_daily_volume/value follow the ETF bars; a ranged run refreshes them in
        # its last day's transaction only (sql/022: ~60 ms a day, more than the day's write).
        return [refresh_etf_latest(REGION, ["ohlcv_data"], day)] if OHLCV in selected and day == days[-1] else []

    # Both tables in one transaction: one snapshot feeds them, so a reader never sees a day's bars
    # without its ETF rows (or the reverse), and a bad NAV leaves neither table with that day.
    # A month the warehouse does not hold yet is one transaction (assets/month_batches.py).
    tables = [t for key, t in ((OHLCV, "ohlcv_data"), (ETF_DAILY, "etf_daily")) if key in selected]

    def store_day(day: dt.date):
        return batches.add(day, *ahead.get(day))

    def refresh_if_last_failed(landed: list[dt.date]) -> None:
        # the last day's transaction did not run (it failed): refresh from the newest that landed
        if OHLCV in selected and landed and landed[-1] != days[-1]:
            warehouse.execute(*refresh_etf_latest(REGION, ["ohlcv_data"], landed[-1]))

    names = [k.to_user_string() for k in sorted(selected)]
    with Prefetcher(days, prepare_day, depth=prefetch_depth()) as ahead, \
            MonthBatches(warehouse, days, tables, after) as batches:
        yield from for_each_trading_day(context, warehouse, store_day, status_assets=names, region=REGION,
                                        after_range=refresh_if_last_failed, flush=batches.flush)
