"""Spock's technical indicators on the daily bars, computed with TA-Lib and written into
`ohlcv_data`'s indicator columns (sql/008) for day D.

The asset is named `technical_analysis` after Spock's indicator stage; it does not write the table
of that name (Spock's Weinstein stage / layered-score record, filled only by imports). What it
writes, per daily bar of day D:

| column                           | TA-Lib call                          | first value after |
|----------------------------------|--------------------------------------|-------------------|
| ma5, ma20, ma60, ma120, ma200    | SMA(close, n)                        | n bars            |
| rsi_14                           | RSI(close, 14) (Wilder smoothing)    | 15 bars           |
| macd, macd_signal, macd_hist     | MACD(close, 12, 26, 9) (EMAs)        | 34 bars           |
| bb_upper, bb_middle, bb_lower    | BBANDS(close, 20, 2, 2), population σ | 20 bars          |
| atr_14                           | ATR(high, low, close, 14) (Wilder)   | 15 bars           |
| volume_ma20                      | SMA(volume, 20)                      | 20 bars           |
| volume_ratio                     | volume / volume_ma20                 | 20 bars           |

Why these choices:

* **Split-adjusted, on D's share basis.** Bars before an ex-date are multiplied by the factors of
  `adjustment_factors` between them and D (volume divided), exactly as `ohlcv_adjusted` and
  `price_range_52w` do, so a 1:50 split does not turn ma200 into nonsense for 200 days. The values
  are therefore comparable with D's raw close (the bar's own prices are raw and stay raw).
* **A fixed look-back.** Day D's indicators are computed from the ticker's bars in the LOOKBACK
  (300) trading days ending at D. A per-day run and a ranged run therefore give the same values:
  moving averages and bands exactly, the recursive ones (RSI, MACD, ATR, seeded at the start of
  the series they see) to float noise — their dependence on the seed decays as (1 - alpha)^bars,
  below 1e-8 relative once the window holds ~250 bars. A ranged run reads each chunk of
  CHUNK_DAYS days once (with the look-back before it) and computes every ticker in one TA-Lib pass
  on the chunk's last share basis; days before an ex-date inside the chunk are then scaled back
  to their own basis (the price indicators are homogeneous of degree 1 in prices, RSI and
  volume_ratio are scale-free). An indicator counts as filled on D only if the bars inside D's
  own window fill it, so NULLs do not depend on how the run was ranged either.
* **Stored to 4 decimals in KR, JP and VN** (STORED_DECIMALS), as Spock stored them: the float
  noise between a per-day and a ranged run then vanishes in the rounding, except for a value
  within that noise of a rounding midpoint (one unit of the 4th decimal).
* **NULL means "window not yet filled"**, e.g. ma200 for a ticker with 150 bars in the window
  (new listing, or history starting later), or volume_ratio when the 20-day mean volume is 0. It
  is never filled with a default (Spock wrote 1.0 for a missing volume_ratio, which reads as
  "normal volume").
* A bar without trades (KRX reports no open/high/low) is taken as a flat bar at its close with
  its zero volume, so it neither breaks the ATR recursion nor disappears from the averages.

The write is set-based (assets/technical_io.py): a chunk's days are written by ONE binary COPY
into a temporary table and ONE `UPDATE ohlcv_data ... FROM` it, in one transaction that holds
every day's advisory lock (the one the ohlcv ingest's `replace_partition` takes), with a check
that every bar of each day got its values; when a day was re-ingested in between, nothing is
written and the chunk is written day by day, so only that day fails. Bars whose stored values
already equal the computed ones are not rewritten, so a re-run of unchanged history writes
nothing (and leaves no dead row versions). The read is one binary COPY of the chunk plus its
look-back. Re-ingesting a day resets its indicator columns
(the ingest replaces the rows), and the automation condition re-runs this asset for that day. A
corrected day is also in the windows of the days after it; like `price_range_52w`, those keep
their values until they are re-run (backfill the range when history is corrected).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import dagster as dg
import numpy as np
import pandas as pd
import psycopg
import talib
from talib import abstract

from quant_assets.assets.aggregates import (
    OHLCV,
    REGION,
    PartitionError,
    RunReport,
    emit,
    ohlcv_states,
    partition_metadata,
    table_schema,
)
from quant_assets.assets.daily import DAILY_DERIVED_CONDITION
from quant_assets.assets.technical_io import Bars, WriteMismatch, read_bars, write_days
from quant_assets.calendar import previous_trading_days, trading_day_partitions
from quant_assets.resources.warehouse import Warehouse
from quant_assets.schemas.derived import TechnicalIndicatorsSchema
from quant_assets.schemas.validation import validate
from quant_assets.windows import window_metadata

LOOKBACK = 300     # trading days of bars behind day D's indicators (D included)
# Regions whose prices are whole currency units (KRW, JPY, VND): indicators are stored to 4
# decimals, the precision Spock's own PostgreSQL schema kept them at (NUMERIC(18,4)), ten thousand
# steps below the smallest price tick. That makes closed months compact exactly (storage/
# encoding.py stores such a column as scaled integers) instead of as raw doubles, about half of a
# cold bar. US/CN/HK keep full precision: a penny stock's MACD lives in the 4th decimal.
STORED_DECIMALS = {"KR": 4, "JP": 4, "VN": 4}
CHUNK_DAYS = 250   # days of a ranged run computed per read-and-compute pass

SMA_PERIODS = (5, 20, 60, 120, 200)
RSI_PERIOD, ATR_PERIOD = 14, 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
BB_PERIOD, BB_DEV = 20, 2.0
VOLUME_PERIOD = 20

INDICATORS = ["ma5", "ma20", "ma60", "ma120", "ma200", "rsi_14", "macd", "macd_signal", "macd_hist",
              "bb_upper", "bb_middle", "bb_lower", "atr_14", "volume_ma20", "volume_ratio"]
# scale with prices (divide by the basis change), with volume (multiply), or not at all
PRICE_SCALED = ["ma5", "ma20", "ma60", "ma120", "ma200", "macd", "macd_signal", "macd_hist", "bb_upper",
                "bb_middle", "bb_lower", "atr_14"]
VOLUME_SCALED = ["volume_ma20"]


def _lookback(name: str, **params) -> int:
    """TA-Lib's own count of leading bars without output (so NULL rules follow the library)."""
    fn = abstract.Function(name)
    fn.set_parameters(params)
    return int(fn.lookback)


LOOKBACKS = {
    **{f"ma{n}": _lookback("SMA", timeperiod=n) for n in SMA_PERIODS},
    "rsi_14": _lookback("RSI", timeperiod=RSI_PERIOD),
    **dict.fromkeys(("macd", "macd_signal", "macd_hist"),
                    _lookback("MACD", fastperiod=MACD_FAST, slowperiod=MACD_SLOW, signalperiod=MACD_SIGNAL)),
    **dict.fromkeys(("bb_upper", "bb_middle", "bb_lower"),
                    _lookback("BBANDS", timeperiod=BB_PERIOD, nbdevup=BB_DEV, nbdevdn=BB_DEV, matype=0)),
    "atr_14": _lookback("ATR", timeperiod=ATR_PERIOD),
    "volume_ma20": _lookback("SMA", timeperiod=VOLUME_PERIOD),
    "volume_ratio": _lookback("SMA", timeperiod=VOLUME_PERIOD),
}

TA_SCHEMA = table_schema(
    ("ticker", "varchar(20)", "symbol, canonical for the region"),
    ("region", "varchar(2)", "KR | US | ..."),
    ("date", "date", "day D (timeframe 'D')"),
    *[(name, "double precision", f"NULL until {LOOKBACKS[name] + 1} bars (split-adjusted, D's basis)")
      for name in INDICATORS],
)

FACTORS_SQL = """
SELECT ticker, ex_date, factor::float8 AS factor FROM adjustment_factors
WHERE region = %(region)s AND ex_date > %(start)s AND ex_date <= %(end)s
"""


def window_start(day: dt.date) -> dt.date:
    """First trading day of D's look-back window (KRX days; another region passes its own, e.g.
    assets/overseas/technical.py, as `window` to compute / run_days)."""
    return previous_trading_days(day, LOOKBACK)[0]


# -- reading -------------------------------------------------------------------------------------
def read_factors(conn: psycopg.Connection, region: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    cur = conn.execute(FACTORS_SQL, {"region": region, "start": start, "end": end})
    return pd.DataFrame(cur.fetchall(), columns=["ticker", "ex_date", "factor"])


# -- computing -----------------------------------------------------------------------------------
def _ticker_slices(code: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends): the [start, end) rows of each of the n ticker codes (rows sorted by code)."""
    return np.searchsorted(code, np.arange(n), side="left"), np.searchsorted(code, np.arange(n), side="right")


def indicators_for(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray) -> dict[str, np.ndarray]:
    """TA-Lib over one ticker's bars (oldest first, one share basis); NaN before each window fills."""
    out = {f"ma{n}": talib.SMA(close, timeperiod=n) for n in SMA_PERIODS}
    out["rsi_14"] = talib.RSI(close, timeperiod=RSI_PERIOD)
    out["macd"], out["macd_signal"], out["macd_hist"] = talib.MACD(
        close, fastperiod=MACD_FAST, slowperiod=MACD_SLOW, signalperiod=MACD_SIGNAL)
    out["bb_upper"], out["bb_middle"], out["bb_lower"] = talib.BBANDS(
        close, timeperiod=BB_PERIOD, nbdevup=BB_DEV, nbdevdn=BB_DEV, matype=0)
    out["atr_14"] = talib.ATR(high, low, close, timeperiod=ATR_PERIOD)
    out["volume_ma20"] = talib.SMA(volume, timeperiod=VOLUME_PERIOD)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["volume_ratio"] = np.where(out["volume_ma20"] > 0, volume / out["volume_ma20"], np.nan)
    return out


def compute(bars: Bars, factors: pd.DataFrame, days: list[dt.date], region: str,
            window: Callable[[dt.date], dt.date] = window_start) -> pd.DataFrame:
    """Indicators of every bar dated one of `days` (sorted), on each day's own share basis.

    `bars` must hold every bar from window(days[0]) to days[-1]; `factors` the ex-dates in
    that span. One TA-Lib pass per ticker over the whole span. `window(D)`: the first session of
    D's look-back in the region's calendar."""
    columns = ["ticker", "region", "date", *INDICATORS]
    if not len(bars):
        return pd.DataFrame(columns=columns)
    high, low, close, volume = bars.high.copy(), bars.low.copy(), bars.close.copy(), bars.volume.copy()
    codes = bars.code
    starts, ends = _ticker_slices(codes, len(bars.names))
    # 1. everything on the basis of the span's last day (each ex-date's factor on earlier bars)
    position = {name: i for i, name in enumerate(bars.names)}
    ex_dates = []
    for t, ex_date, factor in factors.itertuples(index=False):
        i = position.get(t)
        if i is None:
            continue
        s, e = starts[i], ends[i]
        before = s + int(np.searchsorted(bars.date[s:e], np.datetime64(ex_date, "D"), side="left"))
        high[s:before] *= factor
        low[s:before] *= factor
        close[s:before] *= factor
        volume[s:before] /= factor
        ex_dates.append((i, np.datetime64(ex_date, "D"), factor))
    # 2. one TA-Lib pass per ticker
    values = {name: np.full(len(bars), np.nan) for name in INDICATORS}
    for s, e in zip(starts, ends, strict=True):
        if s == e:
            continue
        for name, series in indicators_for(high[s:e], low[s:e], close[s:e], volume[s:e]).items():
            values[name][s:e] = series
    # 3. keep the requested days; NULL where D's own window does not fill the indicator
    wanted = np.array(days, dtype="datetime64[D]")
    rows = np.flatnonzero(np.isin(bars.date, wanted))
    row_dates = bars.date[rows]
    starts_of_day = np.array([window(d) for d in days], dtype="datetime64[D]")
    row_window = starts_of_day[np.searchsorted(wanted, row_dates)]
    # first row of the same ticker inside the row's window: search in (ticker code, date) order
    key = codes.astype(np.int64) * 100_000 + bars.date.astype(np.int64)
    first = np.searchsorted(key, codes[rows].astype(np.int64) * 100_000 + row_window.astype(np.int64))
    filled = rows - first  # bars of the window before the row
    out = pd.DataFrame({"ticker": bars.names[codes[rows]], "region": region,
                        "date": pd.to_datetime(row_dates)})
    # 4. back to each day's own basis: undo the factors of ex-dates after the day
    rescale = np.ones(len(rows))
    for i, ex_date, factor in ex_dates:
        rescale[(codes[rows] == i) & (row_dates < ex_date)] *= factor
    for name in INDICATORS:
        v = values[name][rows]
        if name in PRICE_SCALED:
            v = v / rescale
        elif name in VOLUME_SCALED:
            v = v * rescale
        out[name] = np.where(filled >= LOOKBACKS[name], v, np.nan)
    return stored(out[columns], region)


def stored(frame: pd.DataFrame, region: str) -> pd.DataFrame:
    """The values as written: rounded to STORED_DECIMALS[region] decimals where the region has a
    fixed precision, macd_hist then taken from the rounded macd and signal so that it still equals
    their difference exactly, and -0.0 folded into 0.0 (a sign without a value; it would also
    keep a cold month's column out of the scaled-integer encoding)."""
    decimals = STORED_DECIMALS.get(region)
    if decimals is not None:
        for name in INDICATORS:
            frame[name] = np.round(frame[name].to_numpy(), decimals)
        frame["macd_hist"] = np.round(frame["macd"].to_numpy() - frame["macd_signal"].to_numpy(), decimals)
    for name in INDICATORS:
        frame[name] = frame[name].to_numpy() + 0.0
    return frame


# -- writing -------------------------------------------------------------------------------------
def coverage(frame: pd.DataFrame) -> dict[str, float]:
    """Share of the day's bars with each indicator filled."""
    n = len(frame)
    return {name: round(float(frame[name].notna().sum()) / n, 4) if n else 0.0 for name in INDICATORS}


def _validated(frame: pd.DataFrame, days: list[dt.date]) -> tuple[pd.DataFrame, dict[dt.date, Exception]]:
    """(rows of the valid days, validation error per invalid day): one pandera call for a clean
    chunk; per-day calls only to isolate the days of a failing one."""
    try:
        validate(TechnicalIndicatorsSchema, frame, dataset="technical_analysis", date=None)
        return frame, {}
    except Exception:  # SourceDataError naming region/ticker/field: find which days carry it
        errors: dict[dt.date, Exception] = {}
        by_day = {d: g for d, g in frame.groupby(frame["date"].dt.date)}
        for d in days:
            try:
                validate(TechnicalIndicatorsSchema, by_day.get(d, frame.iloc[:0]), dataset="technical_analysis",
                         date=str(d))
            except Exception as exc:
                errors[d] = exc
        return frame[~frame["date"].dt.date.isin(errors)], errors


def write(conn: psycopg.Connection, region: str, frame: pd.DataFrame
          ) -> tuple[dict[dt.date, tuple[int, int]], dict[dt.date, str]]:
    """((rows, rows changed) per written day, error per failed day): the chunk in one statement, or, when a day
    changed since the read, day by day so that only that day fails (technical_io.write_days)."""
    try:
        return write_days(conn, region, frame, INDICATORS), {}
    except WriteMismatch:
        written, failed = {}, {}
        for day, rows in frame.groupby(frame["date"].dt.date):
            try:
                written.update(write_days(conn, region, rows, INDICATORS))
            except WriteMismatch as exc:
                failed[day] = (f"technical_analysis {region} {day}: {exc.days[day]} (the day was re-ingested "
                               "meanwhile?); nothing written, re-run the day")
        return written, failed


def run_days(conn: psycopg.Connection, region: str, days: list[dt.date], log=None, *,
             window: Callable[[dt.date], dt.date] = window_start, status_asset: str = "ohlcv",
             source: str = "ohlcv", adjusted: bool = True) -> RunReport:
    """Compute and write the indicators of `days` (sorted trading days), chunk by chunk: one
    read of the chunk plus its look-back, one TA-Lib pass per ticker, one write.

    KR by default. Another region passes its look-back (`window(D)`: first session of D's window
    in its own calendar), the partition_status asset of its daily bars and the asset loading them
    (inputs-missing / market-closed), and `adjusted=False` when it has no adjustment_factors
    (raw prices: assets/overseas/technical.py)."""
    report = RunReport()
    states = ohlcv_states(conn, days, region, status_asset=status_asset, source=source)
    for day, state in states.items():
        if isinstance(state, PartitionError):
            report.failures.append(f"{day}: {state}")
    for c in range(0, len(days), CHUNK_DAYS):
        chunk = days[c:c + CHUNK_DAYS]
        loaded = [d for d in chunk if states[d] == "loaded"]
        for day in chunk:
            if states[day] == "market_closed":
                key = day.isoformat()
                report.metadata[key] = partition_metadata(
                    "ohlcv_data", 0, pd.DataFrame(), TA_SCHEMA, date=key, region=region, ohlcv="market_closed")
        if not loaded:
            continue
        t0 = time.perf_counter()
        start = window(loaded[0])
        bars = read_bars(conn, region, start, loaded[-1])
        factors = (read_factors(conn, region, start, loaded[-1]) if adjusted
                   else pd.DataFrame(columns=["ticker", "ex_date", "factor"]))
        t1 = time.perf_counter()
        frame, invalid = _validated(compute(bars, factors, loaded, region, window), loaded)
        t2 = time.perf_counter()
        written, failed = write(conn, region, frame)
        t3 = time.perf_counter()
        n = len(loaded)
        per_day = {"read_ms": round((t1 - t0) * 1000 / n, 1), "compute_ms": round((t2 - t1) * 1000 / n, 1),
                   "write_ms": round((t3 - t2) * 1000 / n, 1), "bars_read": len(bars), "days_in_pass": n}
        for day, exc in {**invalid, **failed}.items():
            report.failures.append(f"{day.isoformat()}: {exc}")
        by_day = {d: g for d, g in frame.groupby(frame["date"].dt.date)} if written else {}
        for day in loaded:
            if day not in written:
                continue
            key, result, (rows, changed) = day.isoformat(), by_day[day], written[day]
            cov = coverage(result)
            report.metadata[key] = partition_metadata(
                "ohlcv_data", rows, result.head(5), TA_SCHEMA, date=key, region=region, ohlcv="loaded",
                rows_updated=rows, rows_changed=changed, coverage=dg.MetadataValue.json(cov), look_back_days=LOOKBACK,
                coverage_ma20=cov["ma20"], coverage_ma200=cov["ma200"], coverage_macd=cov["macd"],
                price_basis=f"split-adjusted to {key}" if adjusted else "raw", **per_day,
            )
        if log:
            log.info(f"technical_analysis {region} {loaded[0]}..{loaded[-1]}: {len(written)} day(s), "
                     f"{sum(n for n, _ in written.values())} bars in one write ({sum(c for _, c in written.values())} "
                     f"changed), {len(bars)} bars read")
    return report


@dg.asset(
    partitions_def=trading_day_partitions,
    deps=[dg.AssetDep(OHLCV, partition_mapping=dg.TimeWindowPartitionMapping()),
          dg.AssetDep("adjustment_factors", partition_mapping=dg.TimeWindowPartitionMapping())],
    kinds={"postgres", "pandas", "numpy"},
    group_name="prices",
    description=(
        "Spock's technical indicators per daily bar, computed with TA-Lib and written into the indicator columns "
        "of `ohlcv_data` for day D: ma5/20/60/120/200 (SMA), rsi_14 (Wilder), macd/macd_signal/macd_hist "
        "(12, 26, 9), bb_upper/bb_middle/bb_lower (20, 2 population sigma), atr_14 (Wilder), volume_ma20 and "
        f"volume_ratio. SPLIT-ADJUSTED to D's share basis (adjustment_factors), from the {LOOKBACK} trading days "
        "ending at D, so per-day and ranged runs agree. NULL = the indicator's window is not yet filled (e.g. "
        "ma200 with fewer than 200 bars); never defaulted. (Spock's `technical_analysis` table of stages and "
        "scores is a different thing, filled by imports.)"
    ),
    metadata={**window_metadata(LOOKBACK, [OHLCV, "adjustment_factors"]),
              "dagster/table_name": "quant.public.ohlcv_data", "columns": ", ".join(INDICATORS),
              "price_basis": "adjusted to D", "look_back_days": LOOKBACK},
    backfill_policy=dg.BackfillPolicy.single_run(),
    # Re-runs when ohlcv for the day is rewritten (re-ingesting a day resets its indicator columns).
    automation_condition=DAILY_DERIVED_CONDITION,
)
def technical_analysis(context, warehouse: Warehouse):  # context: AssetExecutionContext
    days = sorted(dt.date.fromisoformat(k) for k in context.partition_keys)
    with warehouse.connect(autocommit=True) as conn:
        report = run_days(conn, REGION, days, log=context.log)
    for failure in report.failures:
        context.log.error(failure)
    yield from emit(context, report)


ASSETS = [technical_analysis]
CHECKS: list = []
