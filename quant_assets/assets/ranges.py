"""Corporate-action adjustment factors (SQL) and 52-week ranges (numpy, range_window.py) for day D.

Both are computed per region (the region is in every key and every query; windows never mix
regions) over the daily bars (timeframe 'D').

`adjustment_factors`: on an ex-date KRX reports `change` against the *adjusted* base price, not
against the previous close. So base_price = close - change, and factor = base_price /
prior_close differs from 1 exactly on ex-dates (0.2 for a 1:5 split). Raw prices in
`ohlcv_data` stay raw; the `ohlcv_adjusted` view (sql/005) multiplies them by the product of the
factors of later ex-dates. A ranged run finds the factors of all its days in ONE statement
(`FACTORS_RANGE`, over the run's (day, prior trading day) pairs; `FACTORS_INSERT` is the one-day
form it is tested against) and then writes each day in its own transaction: the former per-day
queries (state, prior day, insert, re-read, count) cost ~100-250 ms a day in round trips and in
counting the day's bars, a count the check only needs when a day has more than two ex-dates.

`price_range_52w`: for every ticker with a bar on D, the 250 trading days ending at D: the highest
and lowest close and the highest high and lowest low, the (latest) dates they occurred, and how
far D's close is from each. Bars before an ex-date inside the window are put on D's share basis
with the factors between them and D, so a split does not leave a phantom high; D's own close is
raw. A ticker with a shorter history (new listing, or data starting later) is computed over the
bars that exist; `days_in_window` says how many (250 = full window). The rows are validated (pandera) before they
are written, all of a run's days in one pass. The last day's transaction calls
`refresh_etf_latest`, so etf_details' week_52_high/low (seed 002) never disagree with the
committed ranges.
"""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pandas as pd
import psycopg

from quant_assets.assets import range_window
from quant_assets.assets.aggregates import (
    OHLCV,
    REGION,
    InputMissing,
    PartitionError,
    RunReport,
    ohlcv_state,
    ohlcv_states,
    partition_metadata,
    read,
    table_schema,
)
from quant_assets.assets.daily import DAILY_DERIVED_CONDITION
from quant_assets.assets.derived_run import combined, emit_days, run_days
from quant_assets.calendar import previous_trading_days, trading_day_partitions, trading_days
from quant_assets.resources.warehouse import Warehouse, lock_partition, refresh_etf_latest, run_after
from quant_assets.schemas.derived import PriceRange52wSchema
from quant_assets.windows import window_metadata

WINDOW = 250
# |factor - 1| must exceed this AND |base_price - prior_close| must exceed one price tick, so a
# base price KRX merely rounded to the tick is not mistaken for a corporate action.
FACTOR_TOLERANCE = 0.005
# More ex-dates than this share of the day's tickers means the `change` field itself is suspect.
MAX_EX_DATE_SHARE = 0.02


# KRX price tick (호가단위, 2023 rules) as a SQL expression of a price.
TICK_SQL = """CASE WHEN {p} < 2000 THEN 1 WHEN {p} < 5000 THEN 5 WHEN {p} < 20000 THEN 10
                   WHEN {p} < 50000 THEN 50 WHEN {p} < 200000 THEN 100 WHEN {p} < 500000 THEN 500
                   ELSE 1000 END"""

REASON_SQL = """CASE WHEN factor < 1 AND round(1 / factor) >= 2 AND abs(1 / factor - round(1 / factor)) < 0.02
                THEN 'split 1:' || round(1 / factor)
            WHEN factor > 1 AND round(factor) >= 2 AND abs(factor - round(factor)) < 0.02
                THEN 'reverse split ' || round(factor) || ':1'
            WHEN factor < 1 THEN 'base price lowered (bonus/rights issue or other)'
            ELSE 'base price raised (capital reduction or other)' END"""
FACTOR_FOUND = f"""d.change IS NOT NULL AND p.close > 0 AND d.close - d.change > 0
      AND abs((d.close - d.change)::numeric / p.close - 1) > %(tol)s
      AND abs((d.close - d.change) - p.close) > {TICK_SQL.format(p="p.close")}"""
FACTOR_COLUMNS = """d.ticker, d.region, d.date AS ex_date, p.close AS prior_close, d.close - d.change AS base_price,
           round((d.close - d.change)::numeric / p.close, 10) AS factor"""

# one day against its prior trading day (the reference the ranged statement below is tested with)
FACTORS_INSERT = f"""
INSERT INTO adjustment_factors (ticker, region, ex_date, factor, prior_close, base_price, reason)
SELECT ticker, region, ex_date, factor, prior_close, base_price,
       {REASON_SQL}
FROM (
    SELECT {FACTOR_COLUMNS}
    FROM ohlcv_data d
    JOIN ohlcv_data p ON p.ticker = d.ticker AND p.region = d.region AND p.timeframe = d.timeframe
                     AND p.date = %(prior)s
    WHERE d.region = %(region)s AND d.timeframe = 'D' AND d.date = %(day)s AND {FACTOR_FOUND}
) found
"""

# every (day, prior trading day) pair of a run in one statement; the bounds prune the month
# partitions the pairs cannot touch. The rows are written per day (one transaction each).
# The run's bars of each day, paired with that day's prior trading day, first (a MATERIALIZED
# CTE), then the prior bar by (ticker, region, timeframe, prior date). As one plain join the
# planner, which cannot estimate the timeframe operator's selectivity (~0.5 % assumed), joined the
# day bars and the prior bars on ticker alone first — every bar of a ticker against every other
# bar of the range — and took 112 s for a year (457 ms a day).
FACTORS_RANGE = f"""
WITH d AS MATERIALIZED (
    SELECT pair.prior, b.ticker, b.region, b.timeframe, b.date, b.close, b.change
    FROM unnest(%(days)s::date[], %(priors)s::date[]) AS pair (day, prior)
    JOIN ohlcv_data b ON b.region = %(region)s AND b.timeframe = 'D' AND b.date = pair.day
                     AND b.date >= %(first)s AND b.date <= %(last)s
)
SELECT ticker, region, ex_date, factor, prior_close, base_price, {REASON_SQL} AS reason
FROM (
    SELECT {FACTOR_COLUMNS}
    FROM d
    JOIN ohlcv_data p ON p.ticker = d.ticker AND p.region = d.region AND p.timeframe = d.timeframe
                     AND p.date = d.prior AND p.date >= %(first_prior)s AND p.date <= %(last)s
    WHERE {FACTOR_FOUND}
) found
ORDER BY ex_date, ticker
"""
def _factors_range(conn: psycopg.Connection, params: dict) -> list[tuple]:
    """FACTORS_RANGE with nested loops off: the planner estimates each side at a few rows (the
    timeframe operator has no selectivity estimate) and otherwise loops over ~3,500 x 3,500 bars a
    day; a hash join on (ticker, region, date) reads each bar once."""
    with conn.transaction():
        conn.execute("SET LOCAL enable_nestloop = off")
        conn.execute("SET LOCAL work_mem = '256MB'")
        return conn.execute(FACTORS_RANGE, params).fetchall()


FACTORS_WRITE = """
INSERT INTO adjustment_factors (ticker, region, ex_date, factor, prior_close, base_price, reason)
SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::date[], %s::numeric[], %s::numeric[], %s::numeric[],
                     %s::text[])
"""
# the newest date with bars before each day (prior_trading_day's first query, for many days)
LAST_BEFORE_SQL = """
SELECT d.day, (SELECT max(date) FROM ohlcv_data WHERE region = %(region)s AND timeframe = 'D' AND date < d.day)
FROM unnest(%(days)s::date[]) AS d (day)
"""

# The former per-day statement (one 250-day window read per day), kept as the reference the
# tests compare the one-pass computation (range_window.py) with.
RANGE_INSERT = """
INSERT INTO price_range_52w (date, ticker, region, close, days_in_window, window_start, high_close, high_close_date,
                             low_close, low_close_date, high_52w, high_52w_date, low_52w, low_52w_date,
                             pct_from_high_close, pct_from_low_close, pct_from_high, pct_from_low)
WITH today AS (
    SELECT ticker, close FROM ohlcv_data WHERE region = %(region)s AND timeframe = 'D' AND date = %(day)s
), win AS (
    -- factor of ex-date E applies to bars before E: sum ln(factor) over the later rows of the window
    SELECT o.ticker, o.date, o.close, o.high, o.low,
           exp(coalesce(sum(ln(a.factor::double precision)) OVER later, 0)) AS adj
    FROM ohlcv_data o
    JOIN today t ON t.ticker = o.ticker
    LEFT JOIN adjustment_factors a ON a.ticker = o.ticker AND a.region = o.region AND a.ex_date = o.date
    WHERE o.region = %(region)s AND o.timeframe = 'D' AND o.date >= %(start)s AND o.date <= %(day)s
    WINDOW later AS (PARTITION BY o.ticker ORDER BY o.date DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), basis AS (
    SELECT ticker, date, close * adj AS c, high * adj AS h, low * adj AS l FROM win
), agg AS (
    SELECT ticker, count(*) AS n, min(date) AS first_date,
           max(c) AS hc, (array_agg(date ORDER BY c DESC, date DESC))[1] AS hc_date,
           min(c) AS lc, (array_agg(date ORDER BY c ASC, date DESC))[1] AS lc_date,
           max(h) AS hh, (array_agg(date ORDER BY h DESC, date DESC) FILTER (WHERE h IS NOT NULL))[1] AS hh_date,
           min(l) AS ll, (array_agg(date ORDER BY l ASC, date DESC) FILTER (WHERE l IS NOT NULL))[1] AS ll_date
    FROM basis GROUP BY ticker
)
SELECT %(day)s, a.ticker, %(region)s, t.close, a.n, a.first_date,
       round(a.hc::numeric, 4), a.hc_date, round(a.lc::numeric, 4), a.lc_date,
       round(a.hh::numeric, 4), a.hh_date, round(a.ll::numeric, 4), a.ll_date,
       round(((t.close / a.hc - 1) * 100)::numeric, 4),
       round(((t.close / a.lc - 1) * 100)::numeric, 4),
       round(((t.close / nullif(a.hh, 0) - 1) * 100)::numeric, 4),
       round(((t.close / nullif(a.ll, 0) - 1) * 100)::numeric, 4)
FROM agg a JOIN today t ON t.ticker = a.ticker
"""

# numeric columns as float8 (psycopg would return Decimal)
RANGE_READ = """
SELECT date, ticker, region, close::float8 AS close, days_in_window, window_start,
       high_close::float8 AS high_close, high_close_date, low_close::float8 AS low_close, low_close_date,
       high_52w::float8 AS high_52w, high_52w_date, low_52w::float8 AS low_52w, low_52w_date,
       pct_from_high_close::float8 AS pct_from_high_close, pct_from_low_close::float8 AS pct_from_low_close,
       pct_from_high::float8 AS pct_from_high, pct_from_low::float8 AS pct_from_low
FROM price_range_52w WHERE region = %s AND date = %s ORDER BY ticker
"""

FACTOR_SCHEMA = table_schema(
    ("ticker", "varchar(20)", "symbol, canonical for the region"),
    ("region", "varchar(2)", "KR | US | ..."),
    ("ex_date", "date", "first day traded on the new basis"),
    ("factor", "numeric", "base_price / prior_close; multiply earlier prices by it (0.2 = 1:5 split)"),
    ("prior_close", "numeric(20,4)", "raw close of the previous trading day"),
    ("base_price", "numeric(20,4)", "KRX base price = close - change on ex_date"),
    ("reason", "text", "split 1:N | reverse split N:1 | base price lowered/raised"),
)

RANGE_SCHEMA = table_schema(
    ("date", "date", "day D"),
    ("ticker", "varchar(20)", "symbol, canonical for the region"),
    ("region", "varchar(2)", "KR | US | ..."),
    ("close", "numeric(20,4)", "raw close on D"),
    ("days_in_window", "integer", "bars of the ticker in the 250-trading-day window (<250: short history)"),
    ("window_start", "date", "first bar of the ticker in the window"),
    ("high_close", "numeric", "highest close, D's share basis"),
    ("high_close_date", "date", "latest day it occurred"),
    ("low_close", "numeric", "lowest close, D's share basis"),
    ("low_close_date", "date", "latest day it occurred"),
    ("high_52w", "numeric", "highest high, D's share basis"),
    ("high_52w_date", "date", "latest day it occurred"),
    ("low_52w", "numeric", "lowest low, D's share basis"),
    ("low_52w_date", "date", "latest day it occurred"),
    ("pct_from_high_close", "numeric", "(close / high_close - 1) * 100"),
    ("pct_from_low_close", "numeric", "(close / low_close - 1) * 100"),
    ("pct_from_high", "numeric", "(close / high_52w - 1) * 100"),
    ("pct_from_low", "numeric", "(close / low_52w - 1) * 100"),
)


def prior_trading_day(conn: psycopg.Connection, day: dt.date, region: str = REGION) -> dt.date | None:
    """The previous trading day with bars of `region`; None at the start of history.

    It must be the calendar's previous trading day, unless the days in between are recorded as
    market-closed: comparing with an older close would turn a normal move into a fake factor.
    """
    last = read(conn, "SELECT max(date) AS d FROM ohlcv_data WHERE region = %s AND timeframe = 'D' AND date < %s",
                (region, day)).iloc[0]["d"]
    if last is None:
        return None
    expected = previous_trading_days(day - dt.timedelta(days=1), 1)[0]
    if last >= expected:
        return last
    between = trading_days(last + dt.timedelta(days=1), day - dt.timedelta(days=1))
    closed = read(
        conn, "SELECT partition_date FROM partition_status WHERE asset = 'ohlcv' AND region = %s "
        "AND status = 'market_closed' AND partition_date > %s AND partition_date < %s", (region, last, day),
    )
    if set(between) <= set(closed["partition_date"]):
        return last
    raise InputMissing(f"ohlcv for the prior trading day {expected} ({region}) is not loaded; "
                       f"cannot tell ex-dates on {day}")


@dg.asset(
    partitions_def=trading_day_partitions,
    deps=[dg.AssetDep(OHLCV, partition_mapping=dg.TimeWindowPartitionMapping())],
    kinds={"postgres", "sql"},
    group_name="prices",
    description=(
        "Corporate-action price adjustment factors (table `adjustment_factors`, PK (ticker, region, ex_date)) "
        "detected "
        "from RAW daily bars: on day D, base_price = close - change and factor = base_price / prior_close where "
        f"|factor - 1| > {FACTOR_TOLERANCE:.1%} and the gap exceeds one price tick (a 1:5 split gives 0.2). "
        "Reads D and the prior trading day. Feeds the `ohlcv_adjusted` view."
    ),
    metadata={"dagster/table_name": "quant.public.adjustment_factors", "price_basis": "raw"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=DAILY_DERIVED_CONDITION,
    check_specs=[dg.AssetCheckSpec(
        "plausible_factors", asset="adjustment_factors",
        description=f"WARN when a factor lies outside [0.01, 100] or more than {MAX_EX_DATE_SHARE:.0%} of a day's "
                    "tickers get an ex-date (the source's `change` convention may have changed).",
    )],
)
def adjustment_factors(context, warehouse: Warehouse):
    # A ranged run reads once for all its days (ohlcv states, prior trading days, the factors of
    # every day in one statement), then writes each day in its own transaction.
    suspicious: list[str] = []
    per_day: dict[str, list[dg.AssetCheckResult]] = {}
    report = RunReport()
    with warehouse.connect(autocommit=True) as conn:
        days = [dt.date.fromisoformat(key) for key in context.partition_keys]
        states = ohlcv_states(conn, days, REGION) if len(days) > 1 else _state(conn, days[0]) if days else {}
        priors = _priors(conn, [d for d in days if states[d] == "loaded"])
        pairs = [(d, p) for d, p in priors.items() if isinstance(p, dt.date)]
        found_by_day: dict[dt.date, list[tuple]] = {}
        if pairs:
            found_all = _factors_range(conn, {
                "days": [d for d, _ in pairs], "priors": [p for _, p in pairs], "region": REGION,
                "tol": FACTOR_TOLERANCE, "first": min(d for d, _ in pairs), "last": max(d for d, _ in pairs),
                "first_prior": min(p for _, p in pairs)})
            for row in found_all:
                found_by_day.setdefault(row[2], []).append(row)
        for day in days:
            key = day.isoformat()
            try:
                state = states[day]
                if isinstance(state, PartitionError):
                    raise state
                prior = priors.get(day) if state == "loaded" else None
                if isinstance(prior, PartitionError):
                    raise prior
            except PartitionError as exc:
                report.failures.append(f"{key}: {exc}")
                context.log.error(f"{key}: {exc}")
                continue
            found_rows = found_by_day.get(day, []) if prior is not None else []
            with conn.transaction():
                lock_partition(conn, "adjustment_factors", (REGION, day))
                conn.execute("DELETE FROM adjustment_factors WHERE region = %s AND ex_date = %s", (REGION, day))
                if found_rows:
                    conn.execute(FACTORS_WRITE, [list(column) for column in zip(*found_rows, strict=True)])
            rows = len(found_rows)
            found = pd.DataFrame(
                [(t, r, d, float(f), float(pc), float(bp), why) for t, r, d, f, pc, bp, why in found_rows],
                columns=["ticker", "region", "ex_date", "factor", "prior_close", "base_price", "reason"])
            extreme = found[(found["factor"] < 0.01) | (found["factor"] > 100)]
            # the day's ticker count matters only when it can make the day suspicious
            listed = _listed(conn, day) if rows > 2 or len(extreme) else None
            bad = bool(len(extreme) or (listed and rows > max(2, MAX_EX_DATE_SHARE * listed)))
            note = f"{REGION} {day}: {rows} ex-date(s) of {listed} tickers, {len(extreme)} extreme"
            if bad:
                suspicious.append(note)
            per_day[key] = [dg.AssetCheckResult(
                check_name="plausible_factors", passed=not bad, severity=dg.AssetCheckSeverity.WARN,
                metadata={"failures": note if bad else "none"})]
            report.metadata[key] = partition_metadata(
                "adjustment_factors", rows, found.head(10), FACTOR_SCHEMA, date=str(day), region=REGION,
                prior_trading_day=str(prior) if prior else "none", ohlcv=state)
    check = dg.AssetCheckResult(
        check_name="plausible_factors", passed=not suspicious, severity=dg.AssetCheckSeverity.WARN,
        metadata={"suspicious_days": "\n".join(suspicious[:20]) or "none"},
    )
    yield from emit_days(context, report, per_day, [check])


def _priors(conn: psycopg.Connection, days: list[dt.date]) -> dict[dt.date, dt.date | None | PartitionError]:
    """`prior_trading_day` of many days: one query for the common case (the calendar's previous
    trading day has bars), the function itself for a day after a gap (market-closed days or a hole)."""
    if not days:
        return {}
    out: dict[dt.date, dt.date | None | PartitionError] = {}
    for day, last in conn.execute(LAST_BEFORE_SQL, {"region": REGION, "days": days}).fetchall():
        if last is None or last >= previous_trading_days(day - dt.timedelta(days=1), 1)[0]:
            out[day] = last
            continue
        try:
            out[day] = prior_trading_day(conn, day, REGION)
        except PartitionError as exc:
            out[day] = exc
    return out


def _state(conn: psycopg.Connection, day: dt.date) -> dict[dt.date, str | PartitionError]:
    """ohlcv_states of one day as ohlcv_state asks it (the day a literal: the planner prunes to its
    month, which the many-day form cannot)."""
    try:
        return {day: ohlcv_state(conn, day, REGION)}
    except PartitionError as exc:
        return {day: exc}


def _listed(conn: psycopg.Connection, day: dt.date) -> int:
    return read(conn, "SELECT count(*) AS n FROM ohlcv_data WHERE region = %s AND timeframe = 'D' AND date = %s",
                (REGION, day)).iloc[0]["n"]


class _RangeRunSchema(PriceRange52wSchema):
    """PriceRange52wSchema over many days at once: one row per (date, ticker, region)."""

    class Config:
        unique = ["date", "ticker", "region"]


def _table_rows(results: dict, days: list[dt.date], region: str = REGION) -> dict:
    """day -> range_window.table_rows of its results, the run's days in one vectorised pass."""
    frames = [results[day] for day in days]
    rows = range_window.table_rows(pd.concat(frames, ignore_index=True), region) if len(frames) > 1 else None
    if rows is None:  # one day, or a value beyond the exact path somewhere: day by day
        return {day: range_window.table_rows(results[day], region) for day in days}
    out, at = {}, 0
    for day, frame in zip(days, frames, strict=True):
        out[day] = rows.iloc[at:at + len(frame)].reset_index(drop=True)
        at += len(frame)
    return out


def _failure(rows, day: dt.date, region: str = REGION) -> str:
    """The valid_rows failure text of one day's rows ("" when they pass)."""
    try:
        PriceRange52wSchema.validate(rows, lazy=True)
    except Exception as exc:  # pandera SchemaErrors: report, do not hide the partition
        return f"{region} {day}: {str(exc)[:300]}"
    return ""


def _validate_days(rows_by_day: dict, region: str = REGION) -> dict[dt.date, str]:
    """day -> valid_rows failure text ("" = passed) of the rows about to be written: the run's
    days in one pandera pass; only when it fails, each day alone (as its rows read back, so the
    text is the one a day's own check gives)."""
    frames = [r for r in rows_by_day.values() if r is not None]
    if frames:
        try:
            _RangeRunSchema.validate(pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0],
                                     lazy=True)
            return {day: "" for day in rows_by_day}
        except Exception:  # noqa: BLE001 - pandera SchemaErrors; the days' own texts below
            pass
    return {day: "" if rows is None else _failure(range_window.as_read(rows), day, region)
            for day, rows in rows_by_day.items()}


@dg.asset(
    partitions_def=trading_day_partitions,
    deps=[dg.AssetDep(OHLCV, partition_mapping=dg.TimeWindowPartitionMapping()),
          dg.AssetDep("adjustment_factors", partition_mapping=dg.TimeWindowPartitionMapping())],
    kinds={"postgres", "sql"},
    group_name="prices",
    description=(
        "52-week range per ticker, region and day (table `price_range_52w`, PK (ticker, region, date), "
        "month-partitioned): over "
        f"the {WINDOW} trading days ending at D, highest/lowest close and highest high/lowest low with the latest "
        "dates they occurred and the % distance of D's close from each. Prices are SPLIT-ADJUSTED to D's share "
        "basis (bars before an ex-date in the window x the factors up to D; D's close is raw). Short histories "
        "use the bars that exist (`days_in_window`). Keeps etf_details.week_52_* current (refresh_etf_latest) "
        "in the same transaction."
    ),
    metadata={**window_metadata(WINDOW, [OHLCV, "adjustment_factors"]),
              "dagster/table_name": "quant.public.price_range_52w", "price_basis": "adjusted to D"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=DAILY_DERIVED_CONDITION,
    check_specs=[dg.AssetCheckSpec(
        "valid_rows", asset="price_range_52w",
        description="pandera PriceRange52wSchema on the rows before they are written: low <= high, D's close inside "
                    "[low_close, high_close], 1..250 days in the window, one row per (ticker, region).",
    )],
)
def price_range_52w(context, warehouse: Warehouse):
    # The whole run in one pass (assets/range_window.py): one bounded read of the run's days plus
    # their 249-day look-back, numpy windows, then one transaction per day.
    report = RunReport()
    per_day: dict[str, list[dg.AssetCheckResult]] = {}
    with warehouse.connect(autocommit=True) as conn:
        states = run_days(context, conn, REGION, report)
        days = sorted(states)
        if not days:
            yield from emit_days(context, report, per_day, [])
            return
        warehouse.ensure_month_partitions("price_range_52w", days)
        t0 = time.perf_counter()
        # one day: from the previous day's committed rows when they exist; else one window read
        incremental = range_window.from_previous_day(conn, days[0], REGION) if len(days) == 1 else None
        if incremental is not None:
            results, read_stats = {days[0]: incremental[0]}, incremental[1]
        else:
            bars = range_window.load(conn, days, REGION)
            results = range_window.compute_ranges(bars, days)
            read_stats = {"trading_days_read": len(bars.span), "recomputed_tickers": 0}
        # the rows exactly as the former STAGE_INSERT rounded them, validated BEFORE the write
        rows_by_day = _table_rows(results, days)
        failures = _validate_days(rows_by_day)
        read_compute = (time.perf_counter() - t0) / len(days)
        types = range_window.row_types(conn)
        with ThreadPoolExecutor(1) as pool:  # encodes the next days while the server writes this one
            encoded = {day: pool.submit(range_window.encode_rows, rows_by_day[day], types)
                       for day in days[:2] if rows_by_day[day] is not None}
            for i, day in enumerate(days):
                key = day.isoformat()
                start = previous_trading_days(day, WINDOW)[0]
                rows = rows_by_day[day]
                if i + 2 < len(days) and rows_by_day[days[i + 2]] is not None:
                    encoded[days[i + 2]] = pool.submit(range_window.encode_rows, rows_by_day[days[i + 2]], types)
                with conn.transaction():
                    lock_partition(conn, "price_range_52w", (REGION, day))
                    conn.execute("DELETE FROM price_range_52w WHERE region = %s AND date = %s", (REGION, day))
                    if rows is not None:
                        written_rows = range_window.copy_rows(conn, encoded.pop(day).result())
                    else:  # a value beyond the exact int64 path: PostgreSQL rounds it (staged)
                        written_rows = range_window.stage_and_insert(conn, results[day], REGION)
                    # seed 002's week_52_* columns follow the committed rows: once per run, in its last
                    # day's transaction (sql/022 skips it when that day is older than the newest rows)
                    if day == days[-1]:
                        run_after(conn, [refresh_etf_latest(REGION, ["price_range_52w"], day)])
                if rows is None:
                    written = read(conn, RANGE_READ, (REGION, day))
                    failures[day] = _failure(written, day)
                else:
                    written = rows
                failure = failures[day]
                per_day[key] = [dg.AssetCheckResult(check_name="valid_rows", passed=not failure,
                                                    metadata={"failures": failure or "none"})]
                short = int((written["days_in_window"] < WINDOW).sum()) if len(written) else 0
                preview = range_window.as_read(written.head(5)) if rows is not None else written.head(5)
                report.metadata[key] = partition_metadata(
                    "price_range_52w", written_rows, preview, RANGE_SCHEMA, date=key, region=REGION,
                    window_start=str(start), short_history_tickers=short, price_basis="adjusted to D",
                    ohlcv=states[day], read_compute_seconds_per_day=round(read_compute, 4),
                    method="previous day's rows" if incremental is not None else "window read", **read_stats,
                )
    yield from emit_days(context, report, per_day, [combined("valid_rows", per_day)])


ASSETS = [adjustment_factors, price_range_52w]
CHECKS: list = []  # declared on the assets (check_specs)
