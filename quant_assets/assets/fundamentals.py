"""Stock fundamentals: fetch KRX's EPS/PER/BPS/PBR/DPS/dividend yield for day D, check, store them
as the DAILY rows of `ticker_fundamentals` (sql/008: the old `stock_fundamentals` table's rows moved
there; statement rows per fiscal period share the table with other period types).

The asset keeps its name `stock_fundamentals` so its lineage, partitions and the sensors that
request it stay as they were. `close_price` is KRX's close from the same dataset (TDD_CLSPRC, the
close the ratios were computed from); an older form of the dataset without that field leaves it
NULL.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd

from quant_assets.assets.daily import INGEST_POLICY, DayResult, for_each_trading_day
from quant_assets.assets.month_batches import MonthBatches
from quant_assets.assets.prefetch import Prefetcher, prefetch_depth
from quant_assets.calendar import trading_day_partitions
from quant_assets.resources.krx import KRXClient
from quant_assets.resources.warehouse import PartitionWrite, Warehouse
from quant_assets.schemas.derived import DailyFundamentalsSchema
from quant_assets.schemas.validation import validate

FUNDAMENTALS = dg.AssetKey("stock_fundamentals")
TABLE = "ticker_fundamentals"
REGION, CURRENCY, DATA_SOURCE = "KR", "KRW", "KRX"
COLUMNS = ["ticker", "region", "date", "period_type", "close_price", "eps", "per", "bps", "pbr",
           "dividend_per_share", "dividend_yield", "currency", "data_source"]
SOURCE = "KRX MDCSTAT03501 (mktId=ALL)"


def daily_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """KRX's per-stock frame (parsing.parse_stock_fundamentals) as ticker_fundamentals DAILY rows."""
    frame = raw.rename(columns={"dps": "dividend_per_share", "close": "close_price"})
    if "close_price" not in frame.columns:
        frame["close_price"] = float("nan")
    frame = frame.assign(region=REGION, period_type="DAILY", currency=CURRENCY, data_source=DATA_SOURCE)
    return frame[COLUMNS]


@dg.multi_asset(
    specs=[dg.AssetSpec(
        FUNDAMENTALS, skippable=True, kinds={"postgres", "pandas"}, group_name="fundamentals",
        description="Per listed stock and trading day: EPS, PER, BPS, PBR, dividend per share and dividend yield "
                    "as KRX publishes them, with KRX's close (table `ticker_fundamentals`, period_type 'DAILY', "
                    "PK (ticker, region, period_type, date), month-partitioned); NULL where KRX shows '-' (e.g. "
                    "PER of a loss-making company). Valuation ratios use RAW closes, as KRX computes them.",
        metadata={"dagster/table_name": f"quant.public.{TABLE}", "period_type": "DAILY"},
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
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]

    def prepare_day(day: dt.date) -> PartitionWrite:
        # request, parsing, validation (~90 ms of pandera a day) and binary encoding: in a ranged
        # run, the fetch thread does this for the next days while the current one is written
        raw = krx.stock_fundamentals(day, market="ALL")
        frame = validate(DailyFundamentalsSchema, daily_rows(raw), dataset="stock_fundamentals", date=day.isoformat())
        return PartitionWrite(TABLE, frame, where={"region": REGION, "period_type": "DAILY", "date": day},
                              status=("stock_fundamentals", day, SOURCE), encoded=warehouse.encode(TABLE, frame))

    def process_day(day: dt.date):
        write = ahead.get(day)
        frame = write.frame
        extra = {"region": REGION, "per_missing": int(frame["per"].isna().sum()),
                 "close_price_missing": int(frame["close_price"].isna().sum())}
        return batches.add(day, [write], [DayResult(FUNDAMENTALS, frame, SOURCE, extra)])

    # a month the warehouse does not hold yet is one transaction (assets/month_batches.py)
    with Prefetcher(days, prepare_day, depth=prefetch_depth()) as ahead, \
            MonthBatches(warehouse, days, [TABLE], after=lambda day: []) as batches:
        yield from for_each_trading_day(context, warehouse, process_day, status_assets=["stock_fundamentals"],
                                        flush=batches.flush)


ASSETS = [stock_fundamentals]
CHECKS: list = []
