"""What a valid financial-statement row of `ticker_fundamentals` looks like (checked before write).

One row per (ticker, region, period_type, date) with period_type ANNUAL or QUARTERLY and date the
fiscal period's last day. Amounts are KRW; roe and debt_ratio percent (KIS roe_val / lblt_rate).
Identities the source must satisfy are checked here, so a payload that contradicts itself is
refused with the ticker and field named instead of landing in the warehouse.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from quant_assets.schemas.prices import RegionTickerModel
from quant_assets.schemas.validation import row_check

EOK = 100_000_000


class FinancialStatementsSchema(RegionTickerModel):
    """`ticker_fundamentals` rows from KIS statements (data_source 'KIS')."""

    date: Series[pa.DateTime]
    period_type: Series[str] = pa.Field(isin=["ANNUAL", "QUARTERLY"])
    fiscal_year: Series[pd.Int64Dtype] = pa.Field(ge=1990, le=2100)
    fiscal_quarter: Series[pd.Int64Dtype] = pa.Field(ge=1, le=4, nullable=True)
    revenue: Series[pd.Int64Dtype]
    cogs: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    gross_profit: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    operating_profit: Series[pd.Int64Dtype]
    net_income: Series[pd.Int64Dtype]
    total_assets: Series[pd.Int64Dtype] = pa.Field(ge=0)
    total_liabilities: Series[pd.Int64Dtype]
    total_equity: Series[pd.Int64Dtype]
    current_assets: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    current_liabilities: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    roe: Series[float] = pa.Field(ge=-1e9, le=1e9)
    debt_ratio: Series[float] = pa.Field(ge=-1e9, le=1e9)
    eps: Series[float]
    bps: Series[float]
    currency: Series[str] = pa.Field(isin=["KRW"])
    data_source: Series[str] = pa.Field(isin=["KIS"])

    class Config:
        unique = ["ticker", "region", "period_type", "date"]
        coerce = True
        strict = True

    @row_check(name="fiscal_quarter given for QUARTERLY rows only")
    def quarter_matches_period(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["period_type"] == "QUARTERLY") == df["fiscal_quarter"].notna()

    @row_check(name="total_assets = total_liabilities + total_equity (to 1억원)")
    def balance_identity(cls, df: pd.DataFrame) -> Series[bool]:
        gap = (df["total_assets"] - df["total_liabilities"] - df["total_equity"]).abs()
        return (gap <= EOK).fillna(False).astype(bool)

    @row_check(name="gross_profit = revenue - cogs (to 1억원)")
    def gross_identity(cls, df: pd.DataFrame) -> Series[bool]:
        gap = (df["gross_profit"] - (df["revenue"] - df["cogs"])).abs()
        return (gap <= 2 * EOK).fillna(True).astype(bool)
