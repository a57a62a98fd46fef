"""Valid ETF analytics rows: AUM, holdings and tracking statistics."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from quant_assets.schemas.prices import TICKER

CONSTITUENT_TYPES = ["STOCK", "ETF", "FUTURES", "CASH", "FOREIGN", "OTHER"]


class EtfAumSchema(pa.DataFrameModel):
    date: Series[pa.DateTime]
    ticker: Series[str] = pa.Field(**TICKER)
    aum: Series[float] = pa.Field(gt=0)
    nav_x_units: Series[float] = pa.Field(gt=0, nullable=True)
    units_x_close: Series[float] = pa.Field(gt=0, nullable=True)
    listed_units: Series[float] = pa.Field(gt=0, nullable=True)

    class Config:
        unique = ["ticker"]
        coerce = True
        strict = True


class EtfHoldingsSchema(pa.DataFrameModel):
    as_of_date: Series[pa.DateTime]
    etf_ticker: Series[str] = pa.Field(**TICKER)
    constituent_code: Series[str] = pa.Field(str_length={"min_value": 1, "max_value": 12})
    constituent_isin: Series[str] = pa.Field(nullable=True)
    constituent_name: Series[str] = pa.Field(nullable=True)
    constituent_type: Series[str] = pa.Field(isin=CONSTITUENT_TYPES)
    market_id: Series[str] = pa.Field(nullable=True)
    shares_per_cu: Series[float] = pa.Field(nullable=True)
    market_value: Series[float] = pa.Field(nullable=True)
    weight_pct: Series[float] = pa.Field(ge=-1000, le=1000, nullable=True)
    krx_weight_pct: Series[float] = pa.Field(nullable=True)
    rank: Series[int] = pa.Field(ge=1)

    class Config:
        unique = ["etf_ticker", "constituent_code"]
        coerce = True
        strict = True

    @pa.dataframe_check(name="stock market_value >= 0")
    def long_stocks(cls, df: pd.DataFrame) -> Series[bool]:
        return ~((df["constituent_type"] == "STOCK") & (df["market_value"] < 0) & (df["shares_per_cu"] > 0))


class EtfTrackingSchema(pa.DataFrameModel):
    date: Series[pa.DateTime]
    ticker: Series[str] = pa.Field(**TICKER)
    multiple: Series[float]
    premium_discount_pct: Series[float] = pa.Field(ge=-100, le=100, nullable=True)
    pd_avg_20: Series[float] = pa.Field(nullable=True)
    pd_avg_60: Series[float] = pa.Field(nullable=True)
    pd_avg_120: Series[float] = pa.Field(nullable=True)
    pd_avg_250: Series[float] = pa.Field(nullable=True)
    tracking_error_20: Series[float] = pa.Field(ge=0, nullable=True)
    tracking_error_60: Series[float] = pa.Field(ge=0, nullable=True)
    tracking_error_120: Series[float] = pa.Field(ge=0, nullable=True)
    tracking_error_250: Series[float] = pa.Field(ge=0, nullable=True)
    tracking_diff_20: Series[float] = pa.Field(nullable=True)
    tracking_diff_60: Series[float] = pa.Field(nullable=True)
    tracking_diff_120: Series[float] = pa.Field(nullable=True)
    tracking_diff_250: Series[float] = pa.Field(nullable=True)
    days_in_window: Series[int] = pa.Field(ge=1, le=250)

    class Config:
        unique = ["ticker"]
        coerce = True
        strict = True
