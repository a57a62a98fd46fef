"""Reference data: the ticker universe and ETF master records."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from quant_assets.schemas.prices import TICKER


class TickerSchema(pa.DataFrameModel):
    ticker: Series[str] = pa.Field(**TICKER)
    isin: Series[str] = pa.Field(str_length={"min_value": 12, "max_value": 12}, nullable=True)
    name: Series[str] = pa.Field(str_length={"min_value": 1})
    region: Series[str] = pa.Field(isin=["KR"])
    market: Series[str] = pa.Field(isin=["KOSPI", "KOSDAQ", "KONEX", "ETF"])
    asset_type: Series[str] = pa.Field(isin=["STOCK", "ETF"])
    listing_date: Series[pa.DateTime] = pa.Field(nullable=True)
    delisting_date: Series[pa.DateTime] = pa.Field(nullable=True)
    active: Series[bool]

    class Config:
        unique = ["ticker"]
        coerce = True
        strict = True


class EtfDetailsSchema(pa.DataFrameModel):
    ticker: Series[str] = pa.Field(**TICKER)
    isin: Series[str] = pa.Field(str_length={"min_value": 12, "max_value": 12})
    full_name: Series[str] = pa.Field(nullable=True)
    english_name: Series[str] = pa.Field(nullable=True)
    issuer: Series[str] = pa.Field(nullable=True)
    index_name: Series[str] = pa.Field(nullable=True)
    index_provider: Series[str] = pa.Field(nullable=True)
    leverage_type: Series[str] = pa.Field(nullable=True)
    multiple: Series[float] = pa.Field(isin=[1.0, 2.0, -1.0, -2.0, 3.0, -3.0])
    replication: Series[str] = pa.Field(nullable=True)
    index_market: Series[str] = pa.Field(nullable=True)
    asset_class: Series[str] = pa.Field(nullable=True)
    total_fee_pct: Series[float] = pa.Field(ge=0, le=5, nullable=True)
    cu_qty: Series[float] = pa.Field(gt=0, nullable=True)
    tax_type: Series[str] = pa.Field(nullable=True)
    listed_units: Series[float] = pa.Field(ge=0, nullable=True)
    listing_date: Series[pa.DateTime] = pa.Field(nullable=True)

    class Config:
        unique = ["ticker"]
        coerce = True
        strict = True
