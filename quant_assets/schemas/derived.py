"""What valid derived rows look like: fundamentals (checked before write), factor scores (checked
before write) and the 52-week range (checked after its SQL write, in an asset check)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from quant_assets.schemas.prices import TICKER

UNIVERSES = ["ALL", "KOSPI", "KOSDAQ"]


class StockFundamentalsSchema(pa.DataFrameModel):
    """KRX MDCSTAT03501 per stock and day; NaN where KRX shows "-" (e.g. PER of a loss maker)."""

    date: Series[pa.DateTime]
    ticker: Series[str] = pa.Field(**TICKER)
    eps: Series[float] = pa.Field(nullable=True)
    per: Series[float] = pa.Field(gt=0, nullable=True)
    bps: Series[float] = pa.Field(nullable=True)
    pbr: Series[float] = pa.Field(gt=0, nullable=True)
    dps: Series[float] = pa.Field(ge=0, nullable=True)
    dividend_yield: Series[float] = pa.Field(ge=0, le=100, nullable=True)

    class Config:
        unique = ["ticker"]
        coerce = True
        strict = True


class FactorScoresSchema(pa.DataFrameModel):
    """One row per (universe, factor, ticker) for one day; only tickers with a defined raw value."""

    date: Series[pa.DateTime]
    ticker: Series[str] = pa.Field(**TICKER)
    universe: Series[str] = pa.Field(isin=UNIVERSES)
    factor: Series[str]
    raw_value: Series[float]
    zscore: Series[float] = pa.Field(ge=-50, le=50)
    percentile: Series[float] = pa.Field(gt=0, le=1)

    class Config:
        unique = ["universe", "factor", "ticker"]
        coerce = True
        strict = True

    @pa.dataframe_check(name="raw_value is finite")
    def finite(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series(pd.to_numeric(df["raw_value"]).abs() < float("inf"), index=df.index)


class PriceRange52wSchema(pa.DataFrameModel):
    """One row per ticker for one day of `price_range_52w`."""

    date: Series[pa.DateTime]
    ticker: Series[str] = pa.Field(**TICKER)
    close: Series[float] = pa.Field(gt=0)
    days_in_window: Series[int] = pa.Field(ge=1, le=250)
    high_close: Series[float] = pa.Field(gt=0)
    low_close: Series[float] = pa.Field(gt=0)
    pct_from_high_close: Series[float] = pa.Field(le=1e-6)
    pct_from_low_close: Series[float] = pa.Field(ge=-1e-6)

    class Config:
        unique = ["ticker"]
        coerce = True
        strict = "filter"

    @pa.dataframe_check(name="low_close <= close_basis <= high_close")
    def inside_range(cls, df: pd.DataFrame) -> Series[bool]:
        return df["low_close"] <= df["high_close"]
