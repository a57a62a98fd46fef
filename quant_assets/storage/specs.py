"""What varies per compactable table: one Spec per seed-named month-partitioned time series.

Adding a table to compaction is adding a Spec here, provided its writers reach it through the
seed name (the view) or Warehouse.replace_partitions, and none uses INSERT ... ON CONFLICT: on a
view with INSTEAD OF triggers `ON CONFLICT (key) DO UPDATE` fails ("no unique or exclusion
constraint matching") and `DO NOTHING` raises the trigger's unique violation instead of skipping
(measured on PG 18). `ticker_fundamentals` qualifies since its writers stopped upserting that way:
stock_fundamentals (KRX DAILY rows) replaces a day through Warehouse.replace_partitions, and
financial_statements (KIS statement rows) upserts as an UPDATE of changed rows plus an INSERT of the
keys not present yet (statements.upsert_sql); the legacy importer's writer (legacy/writer.py) must not use
ON CONFLICT on a compacted view either. Its statement rows (date = fiscal period end, often not a
trading day) share the months of the DAILY rows: such a date becomes a day of the month's
`_cold_days`, and a (ticker, period_type) group is a cold row of its own. Not here:
`factor_scores_packed` (already one array row per day and factor; factor_storage.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    """What varies per compactable table."""

    table: str                      # seed name (the view after conversion)
    hot: str                        # the original partitioned table, renamed
    cold: str                       # compact table
    date_col: str                   # the partition column, one value per trading day
    group: tuple[str, ...]          # scalar columns of a cold row besides region/month
    key: tuple[str, ...]            # the row key (UPDATE/DELETE target), contains date_col
    present: str                    # a NOT NULL column: NULL element = no row that day
    indexes: tuple[tuple[str, ...], ...]  # secondary indexes of the cold table (lookup paths)
    layout: str

    @property
    def days(self) -> str:
        return f"{self.cold}_days"

    @property
    def compact_fn(self) -> str:
        return f"storage_{self.table}_compact"

    @property
    def uncompact_fn(self) -> str:
        return f"storage_{self.table}_uncompact"

    @property
    def write_fn(self) -> str:
        return f"storage_{self.table}_write"


OHLCV = Spec(
    table="ohlcv_data", hot="ohlcv_hot", cold="ohlcv_cold", date_col="date",
    group=("ticker", "timeframe", "asset_type"), key=("ticker", "region", "date", "timeframe"),
    present="close", indexes=(("ticker", "region", "month"),),
    layout="per (region, month, ticker, timeframe, asset_type): one array per value column, "
           "aligned to the month's trading days (ohlcv_cold_days)")

HOLDINGS = Spec(
    table="etf_holdings", hot="etf_holdings_hot", cold="etf_holdings_cold", date_col="as_of_date",
    group=("etf_ticker", "stock_ticker", "constituent_type", "constituent_isin", "constituent_name",
           "market_id", "data_source"),
    key=("etf_ticker", "region", "as_of_date", "stock_ticker"), present="rank_in_etf",
    indexes=(("stock_ticker", "region", "month"), ("etf_ticker", "region", "month")),
    layout="per (region, month, ETF, constituent line): the line's unchanging attributes once, its "
           "daily values (shares, market value, weights, rank) as arrays aligned to the month's PDF "
           "days (etf_holdings_cold_days)")



def _daily(table: str, short: str, present: str, what: str) -> Spec:
    """A (ticker, region, date)-keyed daily series: one cold row per (region, month, ticker)."""
    return Spec(table=table, hot=f"{short}_hot", cold=f"{short}_cold", date_col="date", group=("ticker",),
                key=("ticker", "region", "date"), present=present, indexes=(("ticker", "region", "month"),),
                layout=f"per (region, month, ticker): {what} as arrays aligned to the month's trading days "
                       f"({short}_cold_days)")


RANGE_52W = _daily("price_range_52w", "price_range_52w", "close", "the day's 52-week range columns")
ETF_DAILY = _daily("etf_daily", "etf_daily", "close", "close, NAV, AUM, units, index close")
ETF_TRACKING = _daily("etf_tracking", "etf_tracking", "multiple", "premium/discount and tracking statistics")
ETF_AUM = _daily("etf_aum", "etf_aum", "aum", "AUM and its components")

# created_at as `present`: NOT NULL, and stored as a timestamptz[] anyway (each day's write has its
# own now()); data_source, currency and the like then fold to one scalar per cold row.
FUNDAMENTALS = Spec(
    table="ticker_fundamentals", hot="ticker_fundamentals_hot", cold="ticker_fundamentals_cold", date_col="date",
    group=("ticker", "period_type"), key=("ticker", "region", "period_type", "date"), present="created_at",
    indexes=(("ticker", "region", "month"),),
    layout="per (region, month, ticker, period_type): the valuation and statement columns as arrays aligned to "
           "the month's days (ticker_fundamentals_cold_days: trading days and fiscal period ends)")

SPECS = {s.table: s for s in (OHLCV, HOLDINGS, RANGE_52W, ETF_DAILY, ETF_TRACKING, ETF_AUM, FUNDAMENTALS)}
