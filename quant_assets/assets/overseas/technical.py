"""`overseas_technical_{us,cn,hk,jp,vn}`: the KR `technical_analysis` indicators on each overseas
region's daily bars (issue #10 item 4).

The same columns of `ohlcv_data` (ma5..volume_ratio), the same TA-Lib calls, NULL rules, chunked
read and set-based write as assets/technical.py (`run_days`, which this module calls): one binary
COPY read per chunk plus its look-back, one transaction per chunk holding every day's advisory
lock (the one `overseas_ohlcv_{x}`'s `replace_partition` takes for region X and the day), a
per-day bar-count check, per-partition materializations with the KR metadata. Every statement
carries the region (`ohlcv_data` region X only: a cross-section never mixes regions, the US and
the VN `ACB` are computed from their own bars).

What differs from KR:

* **Partitions and look-back in the region's own sessions.** Partitions are the region's
  calendar (calendars.partitions: XNYS, XSHG, XHKG, XTKS; VN weekdays), and D's window is the
  LOOKBACK (300) sessions of that calendar ending at D (calendars.sessions), not KRX days. A VN
  weekday without trading counts as a session of the window (it has no bars), as an ad-hoc KRX
  closure does for KR. (calendars.holidays starts at QUANT_START_DATE: bars older than that, if
  any, are windowed as if their holidays were sessions.)
* **Inputs.** A day is loaded when region X has daily bars on it, closed when partition_status
  records `market_closed` for `overseas_ohlcv` / region X (how VN closures are known), and
  otherwise the partition fails naming region and day ("overseas_ohlcv for US 2025-07-01 is not
  loaded; materialize overseas_ohlcv_us 2025-07-01 first"); the run's other days are written.
* **RAW prices.** There are no `adjustment_factors` rows for overseas regions, so the indicators
  are computed by the same code with no factors: on the raw local-currency bars, as the overseas
  buckets are (metadata `price_basis` "raw"). `adj_close / close` is not used as the factor series:
  KIS's adjusted close is on the share basis of the day the bar was LOADED, so bars loaded day by
  day all show factor 1 (a split is invisible) and a history partly re-loaded after a split shows
  a basis change where there was no split. Consequence: a split inside D's window distorts the
  price indicators (ma*, bb_*, atr_14, macd) and rsi_14 / volume_ratio until it leaves the window.
"""

from __future__ import annotations

import datetime as dt
import functools

import dagster as dg

from quant_assets.assets.aggregates import emit
from quant_assets.assets.daily import DAILY_DERIVED_CONDITION
from quant_assets.assets.overseas import calendars
from quant_assets.assets.overseas.bars import OHLCV_ASSETS, STATUS_ASSET
from quant_assets.assets.technical import INDICATORS, LOOKBACK, run_days
from quant_assets.resources.warehouse import Warehouse
from quant_assets.windows import window_metadata


def asset_name(region: str) -> str:
    """'US' -> `overseas_technical_us`."""
    return f"overseas_technical_{region.lower()}"


@functools.lru_cache(maxsize=65536)
def window_start(region: str, day: dt.date) -> dt.date:
    """First session of D's look-back: the LOOKBACK sessions of the region's calendar ending at D."""
    days = calendars.sessions(region, day - dt.timedelta(days=int(LOOKBACK * 1.6) + 15), day)
    return days[-LOOKBACK:][0]


def build_technical_asset(region: str) -> dg.AssetsDefinition:
    daily = OHLCV_ASSETS[region].key
    calendar = calendars.CALENDAR[region] or "weekday (VN)"

    @dg.asset(
        name=asset_name(region),
        partitions_def=calendars.partitions(region),
        deps=[dg.AssetDep(daily, partition_mapping=dg.TimeWindowPartitionMapping())],
        kinds={"postgres", "pandas", "numpy"},
        group_name="global",
        description=(
            f"Spock's technical indicators per daily bar of region {region}, written into the indicator columns "
            f"of `ohlcv_data` (region {region}) for day D with the same code as `technical_analysis`: "
            "ma5/20/60/120/200 (SMA), rsi_14 (Wilder), macd/macd_signal/macd_hist (12, 26, 9), "
            "bb_upper/bb_middle/bb_lower (20, 2 population sigma), atr_14 (Wilder), volume_ma20 and volume_ratio. "
            f"RAW local-currency prices (no overseas adjustment factors), from the {LOOKBACK} {calendar} sessions "
            f"ending at D, only the bars of `{daily.to_user_string()}`. NULL = the indicator's window is not yet "
            "filled; never defaulted."
        ),
        metadata={**window_metadata(LOOKBACK, [daily]),
                  "dagster/table_name": "quant.public.ohlcv_data", "columns": ", ".join(INDICATORS),
                  "price_basis": "raw", "look_back_days": LOOKBACK, "region": region},
        backfill_policy=dg.BackfillPolicy.single_run(),
        # as technical_analysis: re-runs when the region's bars of the day are rewritten
        automation_condition=DAILY_DERIVED_CONDITION,
    )
    def _asset(context, warehouse: Warehouse):  # context: AssetExecutionContext
        days = sorted(dt.date.fromisoformat(k) for k in context.partition_keys)
        with warehouse.connect(autocommit=True) as conn:
            report = run_days(conn, region, days, log=context.log,
                              window=functools.partial(window_start, region), status_asset=STATUS_ASSET,
                              source=daily.to_user_string(), adjusted=False)
        for failure in report.failures:
            context.log.error(failure)
        yield from emit(context, report)

    return _asset


TECHNICAL_ASSETS = {r: build_technical_asset(r) for r in calendars.REGIONS}
