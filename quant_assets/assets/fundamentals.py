"""Stock fundamentals: fetch KRX's EPS/PER/BPS/PBR/DPS/dividend yield for day D, check, store."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from quant_assets.assets.daily import INGEST_POLICY, DayResult, for_each_trading_day
from quant_assets.calendar import trading_day_partitions
from quant_assets.resources.krx import KRXClient
from quant_assets.resources.warehouse import Warehouse
from quant_assets.schemas.derived import StockFundamentalsSchema
from quant_assets.schemas.validation import validate

FUNDAMENTALS = dg.AssetKey("stock_fundamentals")
COLUMNS = ["date", "ticker", "eps", "per", "bps", "pbr", "dps", "dividend_yield"]
SOURCE = "KRX MDCSTAT03501 (mktId=ALL)"


@dg.multi_asset(
    specs=[dg.AssetSpec(
        FUNDAMENTALS, skippable=True, kinds={"postgres", "pandas"}, group_name="fundamentals",
        description="Per listed stock and trading day: EPS, PER, BPS, PBR, DPS and dividend yield as KRX publishes "
                    "them (table `stock_fundamentals`, PK (ticker, date), month-partitioned); NULL where KRX shows "
                    "'-' (e.g. PER of a loss-making company). Valuation ratios use RAW closes, as KRX computes them.",
        metadata={"dagster/table_name": "quant.public.stock_fundamentals"},
        # No automation condition: like `ohlcv`, it is a source ingest requested by the prices
        # publication sensor (automation.PRICE_ASSETS) once KRX has published day D. A cron
        # condition would request today's partition (end_offset=1) before publication.
    )],
    partitions_def=trading_day_partitions,
    backfill_policy=INGEST_POLICY,
    can_subset=True,
    pool="krx",
)
def stock_fundamentals(context, krx: KRXClient, warehouse: Warehouse):
    def process_day(day: dt.date) -> list[DayResult]:
        key = day.isoformat()
        raw = krx.stock_fundamentals(day, market="ALL")
        frame = validate(StockFundamentalsSchema, raw[COLUMNS], dataset="stock_fundamentals", date=key)
        warehouse.replace_partition("stock_fundamentals", frame, where={"date": day},
                                    status=("stock_fundamentals", day, SOURCE))
        return [DayResult(FUNDAMENTALS, frame, SOURCE, {"per_missing": int(frame["per"].isna().sum())})]

    yield from for_each_trading_day(context, warehouse, process_day, status_assets=["stock_fundamentals"])


ASSETS = [stock_fundamentals]
CHECKS: list = []
