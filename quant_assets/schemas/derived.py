"""What valid derived rows look like: daily fundamentals and factor scores (checked before write),
technical indicators (checked before their UPDATE) and the 52-week range (checked after its SQL
write, in an asset check).

Every frame carries its region and a ticker in that region's canonical form (`quant_assets.symbols`,
the twin of the warehouse's `symbol_is_canonical()`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from quant_assets.schemas.validation import row_check
from quant_assets.symbols import REGIONS, is_canonical

REGION = {"isin": list(REGIONS)}
# 1e-9 slack for float noise on bounds that hold exactly in real arithmetic
EPS = 1e-9


class _RegionTicker(pa.DataFrameModel):
    ticker: Series[str]
    region: Series[str] = pa.Field(**REGION)

    @row_check(name="ticker is canonical for its region")
    def canonical_ticker(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series([is_canonical(r, t) for r, t in zip(df["region"], df["ticker"], strict=True)],
                         index=df.index, dtype=bool)


class DailyFundamentalsSchema(_RegionTicker):
    """KRX MDCSTAT03501 per stock and day as `ticker_fundamentals` DAILY rows; NaN where KRX shows
    "-" (e.g. PER of a loss maker, EPS/BPS of a preferred share)."""

    date: Series[pa.DateTime]
    period_type: Series[str] = pa.Field(isin=["DAILY"])
    close_price: Series[float] = pa.Field(gt=0, nullable=True)
    eps: Series[float] = pa.Field(nullable=True)
    per: Series[float] = pa.Field(gt=0, nullable=True)
    bps: Series[float] = pa.Field(nullable=True)
    pbr: Series[float] = pa.Field(gt=0, nullable=True)
    dividend_per_share: Series[float] = pa.Field(ge=0, nullable=True)
    dividend_yield: Series[float] = pa.Field(ge=0, le=100, nullable=True)
    currency: Series[str] = pa.Field(str_length={"min_value": 3, "max_value": 3})
    data_source: Series[str]

    class Config:
        unique = ["ticker", "region", "date"]
        coerce = True
        strict = True


class FactorScoresSchema(pa.DataFrameModel):
    """One row per (day, factor, ticker) of one region; only tickers with a defined raw value.

    score / percentile are within the region's cross-section, market_score / market_percentile
    within the stock's own market (NULL when that market has too few scored stocks).

    The asset validates a batch of days at once (~27,500 rows per day for the whole market), so
    the text columns are categoricals and the text checks run on their distinct values: the same
    rules as a per-row check, without Python work per row. Plain text columns are coerced."""

    date: Series[pa.DateTime]
    ticker: Series[pd.CategoricalDtype]
    region: Series[pd.CategoricalDtype] = pa.Field(**REGION)
    factor_name: Series[pd.CategoricalDtype]
    raw_value: Series[float]
    score: Series[float] = pa.Field(ge=-50, le=50)
    percentile: Series[float] = pa.Field(gt=0, le=100)
    market: Series[pd.CategoricalDtype] = pa.Field(nullable=True)
    market_score: Series[float] = pa.Field(ge=-50, le=50, nullable=True)
    market_percentile: Series[float] = pa.Field(gt=0, le=100, nullable=True)

    class Config:
        unique = ["date", "region", "factor_name", "ticker"]
        coerce = True
        strict = True

    @row_check(name="ticker is canonical for its region")
    def canonical_ticker(cls, df: pd.DataFrame) -> Series[bool]:
        ok = np.zeros(len(df), dtype=bool)
        ticker, region = df["ticker"].astype("category"), df["region"].astype("category").to_numpy()
        codes, names = ticker.cat.codes.to_numpy(), ticker.cat.categories
        for r in pd.unique(region[pd.notna(region)]):
            rows = region == r
            good = np.append(np.array([is_canonical(r, t) for t in names], dtype=bool), False)  # -1: missing
            ok[rows] = good[codes[rows]]
        return pd.Series(ok, index=df.index)

    @row_check(name="factor_name is text of 1 to 50 characters")
    def factor_name_text(cls, df: pd.DataFrame) -> Series[bool]:
        return _text_of(df["factor_name"], 1, 50, nullable=False)

    @row_check(name="market is text")
    def market_text(cls, df: pd.DataFrame) -> Series[bool]:
        return _text_of(df["market"], 1, None, nullable=True)

    @row_check(name="raw_value is finite")
    def finite(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series(pd.to_numeric(df["raw_value"]).abs() < float("inf"), index=df.index)

    @row_check(name="market_score and market_percentile come together")
    def market_pair(cls, df: pd.DataFrame) -> Series[bool]:
        return df["market_score"].isna() == df["market_percentile"].isna()


def _text_of(column: pd.Series, shortest: int, longest: int | None, *, nullable: bool) -> pd.Series:
    """Per row: the value is a str of `shortest`..`longest` characters (NULL allowed when
    `nullable`), judged once per distinct value of the categorical."""
    cat = column.astype("category")
    good = np.array([isinstance(v, str) and len(v) >= shortest and (longest is None or len(v) <= longest)
                     for v in cat.cat.categories], dtype=bool)
    ok = np.append(good, nullable)[cat.cat.codes.to_numpy()]
    return pd.Series(ok, index=column.index)


class TechnicalIndicatorsSchema(_RegionTicker):
    """The indicator columns of one day's bars (`ohlcv_data`), on that day's share basis.

    NULL = the indicator's window is not yet filled (e.g. ma200 with fewer than 200 bars), or
    volume_ratio on a day whose 20-day mean volume is 0."""

    date: Series[pa.DateTime]
    ma5: Series[float] = pa.Field(gt=0, nullable=True)
    ma20: Series[float] = pa.Field(gt=0, nullable=True)
    ma60: Series[float] = pa.Field(gt=0, nullable=True)
    ma120: Series[float] = pa.Field(gt=0, nullable=True)
    ma200: Series[float] = pa.Field(gt=0, nullable=True)
    rsi_14: Series[float] = pa.Field(ge=-EPS, le=100 + EPS, nullable=True)
    macd: Series[float] = pa.Field(nullable=True)
    macd_signal: Series[float] = pa.Field(nullable=True)
    macd_hist: Series[float] = pa.Field(nullable=True)
    bb_upper: Series[float] = pa.Field(nullable=True)
    bb_middle: Series[float] = pa.Field(gt=0, nullable=True)
    bb_lower: Series[float] = pa.Field(nullable=True)
    atr_14: Series[float] = pa.Field(ge=0, nullable=True)
    volume_ma20: Series[float] = pa.Field(ge=0, nullable=True)
    volume_ratio: Series[float] = pa.Field(ge=0, nullable=True)

    class Config:
        unique = ["ticker", "region", "date"]
        coerce = True
        strict = True

    @row_check(name="bb_lower <= bb_middle <= bb_upper")
    def bands_ordered(cls, df: pd.DataFrame) -> Series[bool]:
        tol = EPS * df["bb_middle"].abs()
        ok = (df["bb_lower"] <= df["bb_middle"] + tol) & (df["bb_middle"] <= df["bb_upper"] + tol)
        return ok | df["bb_middle"].isna()

    @row_check(name="macd_hist = macd - macd_signal")
    def histogram(cls, df: pd.DataFrame) -> Series[bool]:
        gap = (df["macd_hist"] - (df["macd"] - df["macd_signal"])).abs()
        return (gap <= 1e-6 * (df["macd"].abs() + df["macd_signal"].abs() + 1)) | df["macd_hist"].isna()


class PriceRange52wSchema(_RegionTicker):
    """One row per (ticker, region) for one day of `price_range_52w`."""

    date: Series[pa.DateTime]
    close: Series[float] = pa.Field(gt=0)
    days_in_window: Series[int] = pa.Field(ge=1, le=250)
    high_close: Series[float] = pa.Field(gt=0)
    low_close: Series[float] = pa.Field(gt=0)
    pct_from_high_close: Series[float] = pa.Field(le=1e-6)
    pct_from_low_close: Series[float] = pa.Field(ge=-1e-6)

    class Config:
        unique = ["ticker", "region"]
        coerce = True
        strict = "filter"

    @row_check(name="low_close <= close_basis <= high_close")
    def inside_range(cls, df: pd.DataFrame) -> Series[bool]:
        return df["low_close"] <= df["high_close"]
