"""Reference data: the ticker universe and ETF/stock master records, keyed by (ticker, region)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from quant_assets.schemas.prices import RegionTickerModel
from quant_assets.schemas.validation import row_check
from quant_assets.symbols import CURRENCY

ASSET_TYPES = ["STOCK", "ETF", "ETN", "REIT", "PREFERRED", "INDEX", "ELW", "FUND", "OTHER"]


class TickerSchema(RegionTickerModel):
    """Rows of `tickers`. `exchange` is the board the security trades on (KRX ETFs: KOSPI)."""

    isin: Series[str] = pa.Field(str_length={"min_value": 12, "max_value": 12}, nullable=True)
    name: Series[str] = pa.Field(str_length={"min_value": 1})
    name_eng: Series[str] = pa.Field(nullable=True)
    exchange: Series[str] = pa.Field(str_length={"min_value": 1})
    asset_type: Series[str] = pa.Field(isin=ASSET_TYPES)
    currency: Series[str] = pa.Field(isin=sorted(set(CURRENCY.values())))
    lot_size: Series[int] = pa.Field(ge=1)
    listing_date: Series[pa.DateTime] = pa.Field(nullable=True)
    delisting_date: Series[pa.DateTime] = pa.Field(nullable=True)
    is_active: Series[bool]
    data_source: Series[str] = pa.Field(str_length={"min_value": 1})

    class Config:
        unique = ["ticker", "region"]
        coerce = True
        strict = True

    @row_check(name="currency is the currency of the region")
    def region_currency(cls, df) -> Series[bool]:
        return df["currency"] == df["region"].map(CURRENCY)


class EtfDetailsSchema(RegionTickerModel):
    """The KRX master fields of `etf_details` (the latest-figure columns belong to refresh_etf_latest)."""

    isin: Series[str] = pa.Field(str_length={"min_value": 12, "max_value": 12}, nullable=True)
    full_name: Series[str] = pa.Field(nullable=True)
    english_name: Series[str] = pa.Field(nullable=True)
    issuer: Series[str] = pa.Field(nullable=True)
    tracking_index: Series[str] = pa.Field(nullable=True)
    index_provider: Series[str] = pa.Field(nullable=True)
    leverage_type: Series[str] = pa.Field(nullable=True)
    multiple: Series[float] = pa.Field(isin=[1.0, 2.0, -1.0, -2.0, 3.0, -3.0])
    replication: Series[str] = pa.Field(nullable=True)
    index_market: Series[str] = pa.Field(nullable=True)
    underlying_asset_class: Series[str] = pa.Field(nullable=True)
    expense_ratio: Series[float] = pa.Field(ge=0, le=5, nullable=True)     # percent per year, as KRX publishes
    cu_qty: Series[float] = pa.Field(gt=0, nullable=True)
    tax_type: Series[str] = pa.Field(nullable=True)
    listed_shares: Series[float] = pa.Field(ge=0, nullable=True)
    inception_date: Series[pa.DateTime] = pa.Field(nullable=True)
    geographic_region: Series[str] = pa.Field(nullable=True)
    fund_type: Series[str] = pa.Field(nullable=True)
    data_source: Series[str] = pa.Field(str_length={"min_value": 1})

    class Config:
        unique = ["ticker", "region"]
        coerce = True
        strict = True


class StockDetailsSchema(RegionTickerModel):
    """The KRX master fields of `stock_details`."""

    full_name: Series[str] = pa.Field(nullable=True)
    english_name: Series[str] = pa.Field(nullable=True)
    market: Series[str] = pa.Field(nullable=True)
    sector: Series[str] = pa.Field(nullable=True)
    section: Series[str] = pa.Field(nullable=True)
    stock_kind: Series[str] = pa.Field(nullable=True)
    par_value: Series[float] = pa.Field(ge=0, nullable=True)
    shares_outstanding: Series[float] = pa.Field(ge=0, nullable=True)
    is_preferred: Series[pd.BooleanDtype] = pa.Field(nullable=True)

    class Config:
        unique = ["ticker", "region"]
        coerce = True
        strict = True
