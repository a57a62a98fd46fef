"""What a valid day of overseas bars, exchange rates and world indices looks like (checked before
any write; errors name region, ticker, date and field through schemas/validation.py)."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from quant_assets.schemas.prices import RegionTickerModel
from quant_assets.schemas.validation import row_check

OVERSEAS_REGIONS = ["US", "CN", "HK", "JP", "VN"]
CURRENCIES = {"US": "USD", "CN": "CNY", "HK": "HKD", "JP": "JPY", "VN": "VND"}


class OverseasOhlcvSchema(RegionTickerModel):
    """One raw daily bar per (ticker, region) for one local trading date (`ohlcv_data`)."""

    date: Series[pa.DateTime]
    region: Series[str] = pa.Field(isin=OVERSEAS_REGIONS)
    timeframe: Series[str] = pa.Field(isin=["D"])
    asset_type: Series[str] = pa.Field(isin=["STOCK", "ETF"])
    exchange_code: Series[str] = pa.Field(isin=["NAS", "NYS", "AMS", "SHS", "SZS", "HKS", "TSE", "HSX", "HNX"])
    currency: Series[str] = pa.Field(isin=sorted(CURRENCIES.values()))
    open: Series[float] = pa.Field(gt=0)
    high: Series[float] = pa.Field(gt=0)
    low: Series[float] = pa.Field(gt=0)
    close: Series[float] = pa.Field(gt=0)
    adj_close: Series[float] = pa.Field(gt=0)
    change: Series[float]
    change_pct: Series[float]
    volume: Series[float] = pa.Field(ge=0)
    value: Series[float] = pa.Field(ge=0)

    class Config:
        unique = ["ticker", "region", "date", "timeframe"]
        coerce = True
        strict = True

    @row_check(name="currency is the region's")
    def currency_of_region(cls, df):
        return df["currency"] == df["region"].map(CURRENCIES)

    @row_check(name="high >= low")
    def high_not_below_low(cls, df):
        return df["high"] >= df["low"]

    @row_check(name="low <= close <= high")
    def close_inside_range(cls, df):
        return (df["close"] <= df["high"]) & (df["close"] >= df["low"])


class ExchangeRateSchema(pa.DataFrameModel):
    """KRW per unit of one currency on one Seoul trading day (`exchange_rate_history`)."""

    currency: Series[str] = pa.Field(isin=["USD", "HKD", "CNY", "JPY", "VND"])
    rate: Series[float] = pa.Field(gt=0)
    quoted_rate: Series[float] = pa.Field(gt=0)
    quote_unit: Series[int] = pa.Field(isin=[1, 100])
    base_currency: Series[str] = pa.Field(isin=["KRW"])
    timestamp: Series[pa.DateTime] = pa.Field(alias="timestamp")
    rate_date: Series[pa.DateTime]
    source: Series[str]
    quality: Series[str] = pa.Field(isin=["ok"])

    class Config:
        unique = ["currency", "rate_date", "source"]
        coerce = True
        strict = True


class GlobalIndexSchema(pa.DataFrameModel):
    """One close of one world index on its exchange's trading date (`global_market_indices`)."""

    date: Series[pa.DateTime]
    symbol: Series[str]
    index_name: Series[str]
    region: Series[str] = pa.Field(isin=OVERSEAS_REGIONS)
    close_price: Series[float] = pa.Field(gt=0)
    open_price: Series[float] = pa.Field(gt=0)
    high_price: Series[float] = pa.Field(gt=0)
    low_price: Series[float] = pa.Field(gt=0)
    volume: Series[float] = pa.Field(ge=0, nullable=True)
    change_percent: Series[float]
    currency: Series[str]
    source: Series[str]

    class Config:
        unique = ["date", "symbol"]
        coerce = True
        strict = True

    @row_check(name="high_price >= low_price")
    def high_not_below_low(cls, df):
        return df["high_price"] >= df["low_price"]
