"""`overseas_factor_scores_{us,cn,hk,jp,vn}`: cross-sectional factor scores of each overseas region.

The KR `factor_scores` run (assets/factors.py `score_run`: one window read, array maths, one
validation per batch of days before any write, one transaction per day through factor_storage.py)
for one region each, on that region's calendar partitions (calendars.partitions), into the same
`factor_scores` view / `factor_scores_packed` table under the region's key. A cross-section is the
region's stocks (every exchange of the region: SCORED_EXCHANGES lists only KR), so percentiles
and scores are among that region's names only; market_score / market_percentile are within the
stock's exchange (tickers.exchange: NASDAQ, NYSE, ...; NULL below MIN_NAMES names). MIN_NAMES
applies as for KR: the default universes have 15-30 members per region.

What differs from KR:

* **Sessions**: the window (253 sessions for mom_12_1, 64 for mom_3, 61 closes for low_vol_60,
  ...) is counted in the region's own sessions (calendars.sessions: XNYS, XSHG, XHKG, XTKS; VN
  weekdays), minus the days recorded `market_closed` for `overseas_ohlcv` in that region without
  bars (VN holidays, ad-hoc closures are learnt from the source), so a VN Tet week is not five
  missing closes.
* **Inputs**: a day is computable when the region's bars are loaded or the day is recorded
  `market_closed` for `overseas_ohlcv` (nothing to score); otherwise the day fails, naming
  `overseas_ohlcv_{x}` and the day.
* **Prices**: momentum and volatility use the bars' `adj_close` (KIS's split-adjusted close, MODP
  1), the overseas twin of the KR `ohlcv_adjusted` close: the raw close would show a split as a
  -50 %/-90 % return. `adj_close` is on the share basis of the day it was loaded, so it is one
  consistent series for days loaded by one run (a backfill) and for later days up to the next
  split; a split after older days were loaded leaves those on the former basis until they are
  re-loaded (re-materialize `overseas_ohlcv_{x}` over the window). Liquidity uses the bars'
  traded value (`value`, local currency; one currency per region, so the cross-section compares
  like with like; it is split-invariant).
* **Factors**: mom_12_1, mom_6_1, mom_3, low_vol_60, low_vol_252 and liquidity_60 only.
  `size` is skipped: overseas bars carry no market cap (`ohlcv_data.market_cap` is NULL), and the
  universe's `stock_details.market_cap` (price-detail) is today's snapshot. value_bp, value_ep,
  dividend_yield and quality_roe are skipped: there are no overseas rows in ticker_fundamentals,
  and the universe asset stores no PER/PBR/EPS/BPS; a snapshot of today's ratios applied to past
  days would be look-ahead bias. The coverage check judges these six factors only.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import psycopg
from psycopg import sql

from quant_assets.assets import factors
from quant_assets.assets.aggregates import InputMissing, RunReport, ohlcv_states
from quant_assets.assets.daily import DAILY_DERIVED_CONDITION
from quant_assets.assets.overseas import calendars
from quant_assets.assets.overseas.bars import OHLCV_ASSETS, STATUS_ASSET
from quant_assets.assets.overseas.universe import UNIVERSE_ASSETS
from quant_assets.resources.warehouse import Warehouse
from quant_assets.windows import window_metadata

# The factors an overseas region has (see the module docstring for the others).
OVERSEAS_FACTORS = factors.PRICE_FACTORS
PRICE_BASIS = "adj_close (KIS MODP=1)"
# KIS's split-adjusted close (and the traded value) of the region's stocks, as read_window expects
WINDOW_SQL = sql.SQL(
    "COPY (SELECT date, ticker, adj_close, value FROM ohlcv_data "
    "WHERE region = {region} AND timeframe = 'D' AND asset_type = 'STOCK' AND date >= {start} AND date <= {day}) "
    "TO STDOUT (FORMAT csv)"
)
# days the region's bars asset recorded closed (and that have no bars): not sessions of the window
CLOSED_SQL = """
SELECT p.partition_date FROM partition_status p
WHERE p.asset = %(a)s AND p.region = %(r)s AND p.status = 'market_closed' AND p.partition_date <= %(end)s
  AND NOT EXISTS (SELECT 1 FROM ohlcv_data o WHERE o.region = p.region AND o.date = p.partition_date
                  AND o.timeframe = 'D')
"""


def asset_name(region: str) -> str:
    return f"overseas_factor_scores_{region.lower()}"


def window_sessions(conn: psycopg.Connection, region: str, days: list[dt.date]) -> list[dt.date]:
    """The region's sessions of a run's window: HISTORY - 1 before its first day, then through its
    last, without the days recorded market_closed (calendars.sessions + partition_status)."""
    closed = {r[0] for r in conn.execute(CLOSED_SQL, {"a": STATUS_ASSET, "r": region, "end": days[-1]})}

    def open_sessions(start: dt.date, end: dt.date) -> list[dt.date]:
        return [d for d in calendars.sessions(region, start, end) if d not in closed]

    back = 2 * factors.HISTORY  # calendar days: ~360 weekdays, enough unless many closures
    while len(before := open_sessions(days[0] - dt.timedelta(days=back), days[0] - dt.timedelta(days=1))) \
            < factors.HISTORY - 1:
        back *= 2
    return before[-(factors.HISTORY - 1):] + open_sessions(days[0], days[-1])


def build_factor_asset(region: str) -> dg.AssetsDefinition:
    name = asset_name(region)
    daily, universe = OHLCV_ASSETS[region].key, UNIVERSE_ASSETS[region].key
    source = daily.to_user_string()
    calendar = calendars.CALENDAR[region] or "weekday (VN)"
    # the region's daily bars, not the KR assets of the catalogue's factor_scores lineage
    lineage = dg.TableColumnLineage({
        column: [dg.TableColumnDep(asset_key=daily, column_name=c) for c in ("adj_close", "value")]
        for column in ("score", "percentile")})

    @dg.asset(
        name=name,
        partitions_def=calendars.partitions(region),
        deps=[dg.AssetDep(daily, partition_mapping=dg.TimeWindowPartitionMapping()), universe],
        kinds={"postgres", "pandas", "numpy"},
        group_name="global",
        description=(
            f"Cross-sectional factor scores of region {region}'s stocks per day (table `factor_scores`, rows with "
            f"region {region}): momentum 12-1/6-1/3m and low volatility 60/252d on KIS's split-adjusted close "
            f"(`adj_close` of `{source}`, windows of {calendar} sessions ending at D) and liquidity (ln 60-day mean "
            "traded value, local currency). score/percentile (0-100) within the region's stocks (all its "
            "exchanges), market_score/market_percentile within the stock's exchange; winsorised 1/99%, z-scored. "
            "No size, value, dividend or quality factors: overseas bars carry no market cap and there are no "
            "historical overseas fundamentals (a snapshot would be look-ahead). Factors need >=80% of their window."
        ),
        metadata={**window_metadata(factors.HISTORY, [daily]),
                  "dagster/table_name": "quant.public.factor_scores", "price_basis": PRICE_BASIS, "region": region},
        backfill_policy=dg.BackfillPolicy.single_run(),
        # the universe (unpartitioned) refreshes daily; it must not re-trigger a week of partitions
        automation_condition=DAILY_DERIVED_CONDITION.ignore(dg.AssetSelection.assets(universe)),
        check_specs=[
            dg.AssetCheckSpec("standardised", asset=name,
                              description=f"Every factor's score has mean 0 and population stdev 1 within {region}, "
                                          "and its market_score within each exchange."),
            dg.AssetCheckSpec("coverage", asset=name,
                              description=f"WARN when a factor scores fewer than {factors.COVERAGE_WARN:.0%} of "
                                          f"{region}'s stocks (missing history) - among {', '.join(OVERSEAS_FACTORS)}."),
        ],
    )
    def _asset(context, warehouse: Warehouse):  # context: AssetExecutionContext
        report = RunReport()
        days = [dt.date.fromisoformat(k) for k in context.partition_keys]
        states: dict[dt.date, str] = {}
        with warehouse.connect(autocommit=True) as conn:
            for day, state in ohlcv_states(conn, days, region, status_asset=STATUS_ASSET,
                                           source=OHLCV_ASSETS[region].key.to_user_string()).items():
                if isinstance(state, InputMissing):
                    report.failures.append(f"{day.isoformat()}: {state}")
                    context.log.error(f"{day.isoformat()}: {state}")
                else:
                    states[day] = state
        yield from factors.score_run(
            context, warehouse, region, states, report,
            span=lambda conn, run_days: window_sessions(conn, region, run_days),
            window_sql=WINDOW_SQL, factor_names=OVERSEAS_FACTORS, price_basis=PRICE_BASIS, lineage=lineage)

    return _asset


FACTOR_ASSETS = {r: build_factor_asset(r) for r in calendars.REGIONS}
