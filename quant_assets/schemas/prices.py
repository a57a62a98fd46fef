"""What a valid day of prices looks like, checked before anything is written."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

TICKER = {"str_length": {"min_value": 6, "max_value": 6}}


class OhlcvSchema(pa.DataFrameModel):
    """One row per ticker for one trading day, raw KRW prices (`ohlcv_data`)."""

    date: Series[pa.DateTime]
    ticker: Series[str] = pa.Field(**TICKER)
    asset_type: Series[str] = pa.Field(isin=["STOCK", "ETF"])
    open: Series[float] = pa.Field(gt=0, nullable=True)
    high: Series[float] = pa.Field(gt=0, nullable=True)
    low: Series[float] = pa.Field(gt=0, nullable=True)
    close: Series[float] = pa.Field(gt=0)
    change: Series[float] = pa.Field(nullable=True)
    change_pct: Series[float] = pa.Field(nullable=True)
    volume: Series[float] = pa.Field(ge=0)
    value: Series[float] = pa.Field(ge=0)
    market_cap: Series[float] = pa.Field(ge=0, nullable=True)
    listed_shares: Series[float] = pa.Field(ge=0, nullable=True)

    class Config:
        unique = ["ticker"]
        coerce = True
        strict = True

    @pa.dataframe_check(name="high >= low")
    def high_not_below_low(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["high"] < df["low"])

    @pa.dataframe_check(name="low <= close <= high")
    def close_inside_range(cls, df: pd.DataFrame) -> Series[bool]:
        return ~((df["close"] > df["high"]) | (df["close"] < df["low"]))


class EtfDailySchema(pa.DataFrameModel):
    """One row per listed ETF for one trading day (`etf_daily`)."""

    date: Series[pa.DateTime]
    ticker: Series[str] = pa.Field(**TICKER)
    close: Series[float] = pa.Field(gt=0)
    nav: Series[float] = pa.Field(gt=0)
    aum: Series[float] = pa.Field(gt=0, nullable=True)
    listed_units: Series[float] = pa.Field(gt=0)
    market_cap: Series[float] = pa.Field(ge=0, nullable=True)
    index_close: Series[float] = pa.Field(gt=0, nullable=True)
    index_change_pct: Series[float] = pa.Field(nullable=True)

    class Config:
        unique = ["ticker"]
        coerce = True
        strict = True
