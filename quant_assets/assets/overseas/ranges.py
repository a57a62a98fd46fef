"""`overseas_price_range_52w_{us,cn,hk,jp,vn}`: the KR `price_range_52w` for each overseas region
(issue #10 item 4).

The same table (`price_range_52w`, rows under the region's key), the same columns, the same
computation (assets/range_window.py: one bounded read of the run's days plus their look-back,
numpy windows, PostgreSQL's rounding reproduced so the rows are validated with pandera BEFORE they
are written), one transaction per day (the day's advisory lock, DELETE of that region and day,
one binary COPY), per-partition metadata and `valid_rows` results as `price_range_52w`
(assets/ranges.py). Every statement carries the region: the US and the VN `ACB` are two rows,
each from its own bars, and a run of one region never deletes another's rows.

What differs from KR:

* **Window in the region's own sessions.** Partitions are the region's calendar
  (calendars.partitions: XNYS, XSHG, XHKG, XTKS; VN weekdays) and D's window is the 250 sessions
  of that calendar ending at D (calendars.sessions), not KRX days. A VN weekday without trading
  is a session without bars (as an ad-hoc KRX closure is for KR).
* **Inputs.** A day is loaded when region X has daily bars on it, closed when partition_status
  records `market_closed` for `overseas_ohlcv` / region X (a closed day writes no rows), and
  otherwise the partition fails naming region and day ("overseas_ohlcv for US 2025-07-01 is not
  loaded; materialize overseas_ohlcv_us 2025-07-01 first"); the run's other days are written.
* **Price basis: split-adjusted to D, the ex-dates read from KIS's adjusted close.** There are no
  `adjustment_factors` rows for overseas regions. Each bar carries `adj_close` (KIS MODP=1), on
  the share basis of the day the bar was LOADED, so f = adj_close / close is a split factor only
  relative to the bars of the same load. Scaling every bar by its own f / f(D) would be exact when
  the whole window came from one load, but a history loaded in two runs with a split between them
  shows a basis change where there was no split, and the earlier bars would be scaled wrongly. So
  an ex-date is taken only where the factor changes between a ticker's consecutive bars (by more
  than FACTOR_TOLERANCE) AND the raw close jumps while the adjusted close does not (|ln of the
  adjusted move| < |ln of the raw move|): a split. The factor of ex-date E is f(prior bar) / f(E)
  (0.1 for a 10:1 split: multiply earlier prices by it, the KR convention), and range_window puts
  the bars before E on D's share basis with it exactly as it does with `adjustment_factors` for
  KR; D's own close is raw. A basis change without a raw jump (a re-load) is ignored. Limitation:
  when the bars on both sides of a split were loaded on days before the split was known (daily
  loads), every stored factor is 1 and the split is invisible: the range keeps the pre-split
  prices until they leave the window (as raw prices would).
* **Always a window read.** The one-day shortcut from the previous day's rows
  (range_window.from_previous_day) is KRX-calendar and `adjustment_factors` code; a one-day
  overseas run reads its bounded 250-session window (small universes). `refresh_etf_latest` is
  not called (etf_details is KR).
"""

from __future__ import annotations

import datetime as dt
import functools
import time

import dagster as dg

from quant_assets.assets import range_window
from quant_assets.assets.aggregates import (
    PartitionError,
    RunReport,
    ohlcv_states,
    partition_metadata,
    read,
)
from quant_assets.assets.daily import DAILY_DERIVED_CONDITION
from quant_assets.assets.derived_run import combined, emit_days
from quant_assets.assets.overseas import calendars
from quant_assets.assets.overseas.bars import OHLCV_ASSETS, STATUS_ASSET
from quant_assets.assets.ranges import (
    FACTOR_TOLERANCE,
    RANGE_READ,
    RANGE_SCHEMA,
    WINDOW,
    _failure,
    _table_rows,
    _validate_days,
)
from quant_assets.resources.warehouse import Warehouse, lock_partition
from quant_assets.windows import window_metadata

PRICE_BASIS = "split-adjusted to D (ex-dates from adj_close / close)"

# The region's splits over [start, end] as FACTORS_SQL returns adjustment_factors rows: (ticker,
# ex_date, factor), factor = f(prior bar) / f(ex_date), f = adj_close / close. A factor change
# counts only where the raw close jumps and the adjusted close explains it (module docstring).
SPLITS_SQL = f"""
SELECT ticker, date AS ex_date, factor FROM (
    SELECT ticker, date, close::float8 AS c, adj_close::float8 AS a,
           lag(close::float8) OVER w AS pc, lag(adj_close::float8) OVER w AS pa
    FROM ohlcv_data
    WHERE region = %s AND timeframe = 'D' AND date >= %s AND date <= %s AND close > 0 AND adj_close > 0
    WINDOW w AS (PARTITION BY ticker ORDER BY date)
) b, LATERAL (SELECT (pa / pc) / (a / c) AS factor) f
WHERE pc IS NOT NULL AND abs(factor - 1) > {FACTOR_TOLERANCE} AND abs(ln(a / pa)) < abs(ln(c / pc))
ORDER BY ticker, ex_date
"""

def asset_name(region: str) -> str:
    """'US' -> `overseas_price_range_52w_us`."""
    return f"overseas_price_range_52w_{region.lower()}"


def build_range_asset(region: str) -> dg.AssetsDefinition:
    name = asset_name(region)
    daily = OHLCV_ASSETS[region].key
    calendar = calendars.CALENDAR[region] or "weekday (VN)"
    sessions = functools.partial(calendars.sessions, region)

    @dg.asset(
        name=name,
        partitions_def=calendars.partitions(region),
        deps=[dg.AssetDep(daily, partition_mapping=dg.TimeWindowPartitionMapping())],
        kinds={"postgres", "numpy"},
        group_name="global",
        description=(
            f"52-week range per ticker of region {region} and day (table `price_range_52w`, rows with region "
            f"{region}, PK (ticker, region, date)): over the {WINDOW} {calendar} sessions ending at D, highest/"
            "lowest close and highest high/lowest low with the latest dates they occurred and the % distance of "
            "D's close from each, with the same code as `price_range_52w`, from the bars of "
            f"`{daily.to_user_string()}` only. Prices SPLIT-ADJUSTED to D's share basis: an ex-date where "
            "adj_close / close changes and the raw close jumps while the adjusted one does not; earlier bars x "
            "that factor; D's close raw, local currency. Short histories use the bars that exist."
        ),
        metadata={**window_metadata(WINDOW, [daily]),
                  "dagster/table_name": "quant.public.price_range_52w", "price_basis": PRICE_BASIS,
                  "region": region},
        backfill_policy=dg.BackfillPolicy.single_run(),
        automation_condition=DAILY_DERIVED_CONDITION,
        check_specs=[dg.AssetCheckSpec(
            "valid_rows", asset=name,
            description="pandera PriceRange52wSchema on the rows before they are written: low <= high, D's close "
                        f"inside [low_close, high_close], 1..{WINDOW} days in the window, one row per (ticker, "
                        "region).",
        )],
    )
    def _asset(context, warehouse: Warehouse):  # context: AssetExecutionContext
        report = RunReport()
        per_day: dict[str, list[dg.AssetCheckResult]] = {}
        with warehouse.connect(autocommit=True) as conn:
            asked = [dt.date.fromisoformat(k) for k in context.partition_keys]
            states: dict[dt.date, str] = {}
            for day, state in ohlcv_states(conn, asked, region, status_asset=STATUS_ASSET,
                                           source=daily.to_user_string()).items():
                if isinstance(state, PartitionError):
                    report.failures.append(f"{day.isoformat()}: {state}")
                    context.log.error(f"{day.isoformat()}: {state}")
                else:
                    states[day] = state
            days = sorted(states)
            if not days:
                yield from emit_days(context, report, per_day, [])
                return
            warehouse.ensure_month_partitions("price_range_52w", days)
            t0 = time.perf_counter()
            bars = range_window.load(conn, days, region, sessions=sessions, factors_sql=SPLITS_SQL)
            results = range_window.compute_ranges(bars, days)
            rows_by_day = _table_rows(results, days, region)
            failures = _validate_days(rows_by_day, region)
            read_compute = (time.perf_counter() - t0) / len(days)
            types = range_window.row_types(conn)
            index = {d: i for i, d in enumerate(bars.span)}
            for day in days:
                key, rows, j = day.isoformat(), rows_by_day[day], index[day]
                with conn.transaction():
                    lock_partition(conn, "price_range_52w", (region, day))
                    conn.execute("DELETE FROM price_range_52w WHERE region = %s AND date = %s", (region, day))
                    if rows is not None:
                        written_rows = range_window.copy_rows(conn, range_window.encode_rows(rows, types))
                    else:  # a value beyond the exact int64 path: PostgreSQL rounds it (staged)
                        written_rows = range_window.stage_and_insert(conn, results[day], region)
                if rows is None:
                    written = read(conn, RANGE_READ, (region, day))
                    failures[day] = _failure(written, day, region)
                else:
                    written = rows
                failure = failures[day]
                per_day[key] = [dg.AssetCheckResult(check_name="valid_rows", passed=not failure,
                                                    metadata={"failures": failure or "none"})]
                short = int((written["days_in_window"] < WINDOW).sum()) if len(written) else 0
                splits = sum(any(j - WINDOW + 1 < e <= j for e, _ in ex) for ex in bars.ex.values())
                preview = range_window.as_read(written.head(5)) if rows is not None else written.head(5)
                report.metadata[key] = partition_metadata(
                    "price_range_52w", written_rows, preview, RANGE_SCHEMA, date=key, region=region,
                    window_start=str(bars.span[j - WINDOW + 1]), short_history_tickers=short,
                    price_basis=PRICE_BASIS, tickers_with_split_in_window=splits, ohlcv=states[day],
                    read_compute_seconds_per_day=round(read_compute, 4), method="window read",
                    trading_days_read=len(bars.span),
                )
        yield from emit_days(context, report, per_day, [combined("valid_rows", per_day)])

    return _asset


RANGE_ASSETS = {r: build_range_asset(r) for r in calendars.REGIONS}
