"""Valid ETF analytics rows: AUM, holdings and tracking statistics, keyed by region."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from quant_assets.schemas.prices import REGION, RegionTickerModel
from quant_assets.schemas.validation import ROW_CHECK, row_check
from quant_assets.symbols import is_canonical

CONSTITUENT_TYPES = ["STOCK", "ETF", "FUTURES", "CASH", "FOREIGN", "OTHER"]


class EtfAumSchema(RegionTickerModel):
    date: Series[pa.DateTime]
    aum: Series[float] = pa.Field(gt=0)
    nav_x_units: Series[float] = pa.Field(gt=0, nullable=True)
    units_x_close: Series[float] = pa.Field(gt=0, nullable=True)
    listed_units: Series[float] = pa.Field(gt=0, nullable=True)

    class Config:
        unique = ["ticker", "region", "date"]
        coerce = True
        strict = True


class EtfHoldingsSchema(pa.DataFrameModel):
    """One PDF line of one ETF (region = the ETF's region). A STOCK or ETF line names a listed
    security of that region, so its code must be canonical there too; cash, futures and foreign
    lines carry the source's own code (ISIN-like), up to 20 characters."""

    as_of_date: Series[pa.DateTime]
    etf_ticker: Series[str]
    region: Series[str] = pa.Field(**REGION)
    stock_ticker: Series[str] = pa.Field(str_length={"min_value": 1, "max_value": 20})
    constituent_isin: Series[str] = pa.Field(nullable=True)
    constituent_name: Series[str] = pa.Field(nullable=True)
    constituent_type: Series[str] = pa.Field(isin=CONSTITUENT_TYPES)
    market_id: Series[str] = pa.Field(nullable=True)
    shares: Series[float] = pa.Field(nullable=True)
    market_value: Series[float] = pa.Field(nullable=True)
    weight: Series[float] = pa.Field(ge=-1000, le=1000, nullable=True)
    krx_weight_pct: Series[float] = pa.Field(nullable=True)
    rank_in_etf: Series[int] = pa.Field(ge=1)
    data_source: Series[str] = pa.Field(str_length={"min_value": 1})

    class Config:
        unique = ["etf_ticker", "region", "as_of_date", "stock_ticker"]
        canonical_for_region = {"column": "etf_ticker", **ROW_CHECK}
        coerce = True
        strict = True

    @row_check(name="stock_ticker of a listed holding is canonical for its region")
    def canonical_holding(cls, df: pd.DataFrame) -> Series[bool]:
        listed = df["constituent_type"].isin(["STOCK", "ETF"])
        return pd.Series([not is_listed or is_canonical(r, t) for r, t, is_listed
                          in zip(df["region"], df["stock_ticker"], listed, strict=True)], index=df.index)

    @row_check(name="stock market_value >= 0")
    def long_stocks(cls, df: pd.DataFrame) -> Series[bool]:
        return ~((df["constituent_type"] == "STOCK") & (df["market_value"] < 0) & (df["shares"] > 0))


class EtfTrackingSchema(RegionTickerModel):
    date: Series[pa.DateTime]
    multiple: Series[float]
    premium_discount_pct: Series[float] = pa.Field(ge=-100, le=100, nullable=True)
    premium_discount_avg_20d: Series[float] = pa.Field(nullable=True)
    premium_discount_avg_60d: Series[float] = pa.Field(nullable=True)
    premium_discount_avg_120d: Series[float] = pa.Field(nullable=True)
    premium_discount_avg_250d: Series[float] = pa.Field(nullable=True)
    tracking_error_20d: Series[float] = pa.Field(ge=0, nullable=True)
    tracking_error_60d: Series[float] = pa.Field(ge=0, nullable=True)
    tracking_error_120d: Series[float] = pa.Field(ge=0, nullable=True)
    tracking_error_250d: Series[float] = pa.Field(ge=0, nullable=True)
    tracking_diff_20d: Series[float] = pa.Field(nullable=True)
    tracking_diff_60d: Series[float] = pa.Field(nullable=True)
    tracking_diff_120d: Series[float] = pa.Field(nullable=True)
    tracking_diff_250d: Series[float] = pa.Field(nullable=True)
    days_in_window: Series[int] = pa.Field(ge=1, le=250)

    class Config:
        unique = ["ticker", "region", "date"]
        coerce = True
        strict = True



class EtfTrackingKrxSchema(RegionTickerModel):
    """KRX's own premium/discount and tracking-error figures (`etf_tracking_krx`), many days."""

    date: Series[pa.DateTime]
    close: Series[float] = pa.Field(gt=0, nullable=True)
    nav: Series[float] = pa.Field(gt=0, nullable=True)
    krx_premium_discount_pct: Series[float] = pa.Field(ge=-100, le=100, nullable=True)
    nav_change_pct: Series[float] = pa.Field(nullable=True)
    index_change_pct: Series[float] = pa.Field(nullable=True)
    tracking_multiple: Series[float] = pa.Field(nullable=True)
    krx_tracking_error_pct: Series[float] = pa.Field(ge=0, nullable=True)

    class Config:
        unique = ["ticker", "region", "date"]
        coerce = True
        strict = True
