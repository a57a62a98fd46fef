"""What a valid day of prices looks like, checked before anything is written.

Every row carries its region, and its ticker must be in that region's canonical form
(`quant_assets.symbols`, the Python twin of the warehouse's `symbol_is_canonical()`), so a
malformed symbol is rejected here with an error naming region, ticker and column instead of by a
CHECK or a foreign key halfway through a COPY.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera import extensions
from pandera.typing import Series

from quant_assets.schemas.validation import ROW_CHECK, row_check
from quant_assets.symbols import REGIONS, is_canonical

# The KRX short code (6 characters). Region-aware schemas use `canonical_for_region` instead;
# this stays for schemas that only ever see KRX codes.
TICKER = {"str_length": {"min_value": 6, "max_value": 6}}
REGION = {"isin": list(REGIONS)}
TIMEFRAMES = ["D"]          # daily bars are stored as 'D' (the column's default; '1d' matches it in SQL)
@extensions.register_check_method(statistics=["column"], supported_types=pd.DataFrame)
def canonical_for_region(df: pd.DataFrame, *, column: str) -> pd.Series:
    """True where `column` is in the canonical symbol form of the row's `region`
    (`symbols.is_canonical`). A registered check used in Config (failures read
    "canonical_for_region(column=...)"), because pandera loses the names of inherited
    `dataframe_check`s."""
    return pd.Series([is_canonical(r, t) for r, t in zip(df["region"], df[column], strict=True)], index=df.index,
                     dtype=bool)


CANONICAL_TICKER = {"column": "ticker", **ROW_CHECK}


class RegionTickerModel(pa.DataFrameModel):
    """Base of every region-keyed schema: a known region and a ticker canonical for it. The check
    lives in Config, which subclasses inherit (their own Config adds unique/coerce/strict)."""

    ticker: Series[str]
    region: Series[str] = pa.Field(**REGION)

    class Config:
        canonical_for_region = CANONICAL_TICKER


class OhlcvSchema(RegionTickerModel):
    """One row per (ticker, region, timeframe) for one trading day, raw local-currency prices
    (`ohlcv_data`)."""

    date: Series[pa.DateTime]
    timeframe: Series[str] = pa.Field(isin=TIMEFRAMES)
    asset_type: Series[str] = pa.Field(isin=["STOCK", "ETF"])
    open: Series[float] = pa.Field(gt=0, nullable=True)     # NULL only on a no-trade day (checks below)
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
        unique = ["ticker", "region", "date", "timeframe"]
        coerce = True
        strict = True

    # open/high/low are NULL only under KRX's no-trade convention (0 with volume 0, stored as
    # NULL by `ohlcv_frame`); a dash or a missing price on a day the security traded is bad input,
    # not a gap to store. Whole-row checks because the exception depends on `volume`; each is
    # named after its field so the error names it (schemas/validation.py).
    @row_check(name="open priced when volume > 0")
    def open_priced_when_traded(cls, df: pd.DataFrame) -> Series[bool]:
        return df["open"].notna() | (df["volume"] == 0)

    @row_check(name="high priced when volume > 0")
    def high_priced_when_traded(cls, df: pd.DataFrame) -> Series[bool]:
        return df["high"].notna() | (df["volume"] == 0)

    @row_check(name="low priced when volume > 0")
    def low_priced_when_traded(cls, df: pd.DataFrame) -> Series[bool]:
        return df["low"].notna() | (df["volume"] == 0)

    @row_check(name="high >= low")
    def high_not_below_low(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["high"] < df["low"])

    @row_check(name="low <= close <= high")
    def close_inside_range(cls, df: pd.DataFrame) -> Series[bool]:
        return ~((df["close"] > df["high"]) | (df["close"] < df["low"]))


class EtfDailySchema(RegionTickerModel):
    """One row per listed ETF for one trading day (`etf_daily`)."""

    date: Series[pa.DateTime]
    close: Series[float] = pa.Field(gt=0)
    nav: Series[float] = pa.Field(gt=0)
    aum: Series[float] = pa.Field(gt=0, nullable=True)
    listed_units: Series[float] = pa.Field(gt=0)
    market_cap: Series[float] = pa.Field(ge=0, nullable=True)
    index_close: Series[float] = pa.Field(gt=0, nullable=True)
    index_change_pct: Series[float] = pa.Field(nullable=True)

    class Config:
        unique = ["ticker", "region", "date"]
        coerce = True
        strict = True
