"""Asset checks beyond the schemas: freshness on the KRX calendar, completeness, reconciliation.

pandera validates every frame before it is written; these checks look at what is *in* the
warehouse: is the newest published trading day there, does each field cover the ETFs/tickers it
should, and do our numbers agree with an independent source. They run on an hourly automation
condition (and with their asset when it is materialized), so the asset pages stay current.
They judge region KR, the market the KRX calendar and the KRX/KIS sources describe.

Run with their asset in a partitioned run (a one-day run or a ranged backfill), the checks that
can judge one day judge each day of the run and record one result per partition key
(assets/reporting.py `check_partitions`): otherwise Dagster shows every partition of a backfill
as SKIPPED, hiding an earlier pass. Per day, "fresh" means that day is in the table (or recorded
market-closed), coverage and AUM agreement are those of that day, and partition_status is that
day's status. Alone (the hourly automation) they judge the newest day, as before.
`aum_reconciles_with_kis` compares KIS's live snapshot with the latest day: it has no per-day
meaning and stays one unpartitioned result.
"""


import datetime as dt

import dagster as dg

from quant_assets.assets.reporting import check_partitions
from quant_assets.calendar import KST, now_kst, previous_trading_days, trading_day_partitions
from quant_assets.resources.kis import KISClient
from quant_assets.resources.warehouse import Warehouse

HOURLY = dg.AutomationCondition.cron_tick_passed("5 * * * *", cron_timezone="Asia/Seoul")
REGION = "KR"

# When each daily dataset for trading day D is expected in the warehouse (KST), with grace for
# the sensor and the run: prices publish ~15:45, PDFs ~18:00, AUM early on D+1.
EXPECTED_BY = {
    "ohlcv_data": (0, dt.time(18, 0)),
    "etf_daily": (0, dt.time(18, 0)),
    "etf_holdings": (0, dt.time(21, 0)),
    "etf_aum": (1, dt.time(9, 0)),
}


def expected_day(table: str, now: dt.datetime) -> dt.date:
    """The newest trading day whose data should have arrived by `now` for `table`."""
    lag_days, at = EXPECTED_BY[table]
    for day in reversed(previous_trading_days(now.date(), 10)):
        due = dt.datetime.combine(day + dt.timedelta(days=lag_days), at, tzinfo=KST)
        if due <= now:
            return day
    return previous_trading_days(now.date(), 10)[0]


def _latest(warehouse: Warehouse, table: str, column: str = "date") -> dt.date | None:
    return warehouse.read_frame(f"SELECT max({column}) AS d FROM {table} WHERE region = %s", (REGION,))["d"].iloc[0]


def freshness_check(asset: str, table: str, column: str = "date") -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name="fresh_on_krx_calendar", automation_condition=HOURLY,
                    description=f"{table} holds the newest trading day whose publication time has passed "
                                "(KRX calendar, not wall-clock days: holidays never fail it).")
    def _check(warehouse: Warehouse) -> dg.AssetCheckResult:
        def evaluate(key: str | None) -> dg.AssetCheckResult:
            if key is not None:
                return day_present(warehouse, asset, table, column, dt.date.fromisoformat(key))
            now = now_kst()
            want = expected_day(table, now)
            have = _latest(warehouse, table, column)
            lag = len(previous_trading_days(want, 400)) - len(previous_trading_days(have, 400)) if have else None
            return dg.AssetCheckResult(
                passed=have is not None and have >= want,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"expected_day": str(want), "latest_day": str(have), "trading_days_behind": lag,
                          "checked_at": now.isoformat(timespec="seconds")},
            )
        return check_partitions(trading_day_partitions, evaluate)
    return _check


def day_present(warehouse: Warehouse, asset: str, table: str, column: str, day: dt.date) -> dg.AssetCheckResult:
    """One day of a backfill is "fresh" when its rows are in the table or it is recorded closed."""
    row = warehouse.read_frame(
        f"SELECT (SELECT count(*) FROM {table} WHERE region = %(r)s AND {column} = %(d)s) AS n, "
        "(SELECT status FROM partition_status WHERE asset = %(a)s AND region = %(r)s AND partition_date = %(d)s) "
        "AS status", {"r": REGION, "d": day, "a": asset}).iloc[0]
    return dg.AssetCheckResult(passed=int(row["n"]) > 0 or row["status"] == "market_closed",
                               severity=dg.AssetCheckSeverity.WARN,
                               metadata={"day": str(day), "rows": int(row["n"]), "status": str(row["status"])})


def coverage_check(asset: str, name: str, description: str, sql: str, threshold: float) -> dg.AssetChecksDefinition:
    """`sql` returns one row (day, covered, expected) for day `%(day)s` of the checked table, or
    its newest day when that is NULL; `%(region)s` in it is the checked region."""
    @dg.asset_check(asset=asset, name=name, automation_condition=HOURLY, description=description)
    def _check(warehouse: Warehouse) -> dg.AssetCheckResult:
        def evaluate(key: str | None) -> dg.AssetCheckResult:
            row = warehouse.read_frame(sql, {"region": REGION, "day": key})
            if row.empty or row["day"].iloc[0] is None:
                return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                           metadata={"reason": "no rows yet", "day": str(key)})
            covered, expected = int(row["covered"].iloc[0] or 0), int(row["expected"].iloc[0] or 0)
            ratio = covered / expected if expected else 0.0
            return dg.AssetCheckResult(
                passed=ratio >= threshold,
                metadata={"day": str(row["day"].iloc[0]), "covered": covered, "expected": expected,
                          "coverage": dg.MetadataValue.float(round(ratio, 4)), "threshold": threshold},
            )
        return check_partitions(trading_day_partitions, evaluate)
    return _check


AUM_COVERAGE = coverage_check(
    "etf_aum", "aum_coverage", "Share of the day's listed ETFs (etf_daily) with a published AUM.",
    """WITH d AS (SELECT coalesce(%(day)s::date, max(date)) AS day FROM etf_aum WHERE region = %(region)s)
       SELECT d.day, (SELECT count(*) FROM etf_aum a WHERE a.region = %(region)s AND a.date = d.day) AS covered,
              (SELECT count(*) FROM etf_daily e WHERE e.region = %(region)s AND e.date = d.day) AS expected
       FROM d""", 0.95)

HOLDINGS_COVERAGE = coverage_check(
    "etf_holdings", "holdings_coverage", "Share of the day's listed ETFs with at least one PDF line.",
    """WITH d AS (SELECT coalesce(%(day)s::date, max(as_of_date)) AS day FROM etf_holdings WHERE region = %(region)s)
       SELECT d.day, (SELECT count(DISTINCT etf_ticker) FROM etf_holdings h
                      WHERE h.region = %(region)s AND h.as_of_date = d.day) AS covered,
              (SELECT count(*) FROM etf_daily e WHERE e.region = %(region)s AND e.date = d.day) AS expected
       FROM d""", 0.99)

TRACKING_COVERAGE = coverage_check(
    "etf_tracking", "tracking_error_coverage",
    "Share of ETFs with a full 250-day window that have a 250-day tracking error.",
    """WITH d AS (SELECT coalesce(%(day)s::date, max(date)) AS day FROM etf_tracking WHERE region = %(region)s)
       SELECT d.day, count(*) FILTER (WHERE t.tracking_error_250d IS NOT NULL) AS covered, count(*) AS expected
       FROM d JOIN etf_tracking t ON t.region = %(region)s AND t.date = d.day AND t.days_in_window >= 250
       GROUP BY d.day""", 0.95)

RANGE_COVERAGE = coverage_check(
    "price_range_52w", "range_52w_coverage", "Share of the day's traded tickers with a 52-week range row.",
    """WITH d AS (SELECT coalesce(%(day)s::date, max(date)) AS day FROM price_range_52w WHERE region = %(region)s)
       SELECT d.day, (SELECT count(*) FROM price_range_52w r WHERE r.region = %(region)s AND r.date = d.day) AS covered,
              (SELECT count(*) FROM ohlcv_data o
               WHERE o.region = %(region)s AND o.timeframe = 'D' AND o.date = d.day) AS expected
       FROM d""", 0.99)


@dg.asset_check(asset="etf_aum", name="aum_matches_nav_x_units", automation_condition=HOURLY,
                description="Published AUM agrees with NAV × listed units within 1% for ≥ 99% of ETFs.")
def aum_matches_nav(warehouse: Warehouse) -> dg.AssetCheckResult:
    def evaluate(key: str | None) -> dg.AssetCheckResult:
        row = warehouse.read_frame(
            """SELECT date AS day, count(*) AS n,
                      count(*) FILTER (WHERE abs(aum::numeric / nullif(nav_x_units, 0) - 1) > 0.01) AS off
               FROM etf_aum WHERE region = %(region)s
                 AND date = coalesce(%(day)s::date, (SELECT max(date) FROM etf_aum WHERE region = %(region)s))
               GROUP BY date""",
            {"region": REGION, "day": key})
        if row.empty:
            return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                       metadata={"reason": "no rows", "day": str(key)})
        n, off = int(row["n"].iloc[0]), int(row["off"].iloc[0])
        return dg.AssetCheckResult(passed=off <= 0.01 * n, metadata={"day": str(row["day"].iloc[0]), "etfs": n,
                                                                      "off_by_more_than_1pct": off})
    return check_partitions(trading_day_partitions, evaluate)


@dg.asset_check(asset="etf_daily", name="aum_reconciles_with_kis", pool="kis", automation_condition=HOURLY,
                description="For the 5 largest ETFs, KIS inquire-price net assets (억원) agree with KRX NAV × "
                            "units of the latest day within 1%. Skipped on the KIS virtual host (no ETF API).")
def aum_reconciles_with_kis(kis: KISClient, warehouse: Warehouse) -> dg.AssetCheckResult:
    if kis.env == "virtual":
        return dg.AssetCheckResult(passed=True, metadata={"skipped": "KIS virtual host has no ETF endpoints"})
    sample = warehouse.read_frame(
        """SELECT ticker, date, nav * listed_units AS krx_aum FROM etf_daily
           WHERE region = %(region)s AND date = (SELECT max(date) FROM etf_daily WHERE region = %(region)s)
           ORDER BY nav * listed_units DESC LIMIT 5""", {"region": REGION})
    rows = []
    for r in sample.itertuples(index=False):
        kis_aum = float(kis.etf_price(r.ticker)["aum_krw"].iloc[0])
        rows.append({"ticker": r.ticker, "krx_nav_x_units": float(r.krx_aum), "kis_aum": kis_aum,
                     "gap_pct": round((kis_aum / float(r.krx_aum) - 1) * 100, 3)})
    worst = max((abs(r["gap_pct"]) for r in rows), default=0.0)
    return dg.AssetCheckResult(passed=worst <= 1.0, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"sample": dg.MetadataValue.json(rows), "worst_gap_pct": worst})


@dg.asset_check(asset="etf_tracking", name="premium_matches_krx", automation_condition=HOURLY,
                description="Our daily premium/discount equals KRX's published 괴리율 (2 dp) on common days.")
def premium_matches_krx(warehouse: Warehouse) -> dg.AssetCheckResult:
    def evaluate(key: str | None) -> dg.AssetCheckResult:
        row = warehouse.read_frame(
            """SELECT count(*) AS n, max(abs(premium_discount_gap)) AS worst,
                      count(*) FILTER (WHERE abs(premium_discount_gap) > 0.011) AS off
               FROM etf_tracking_comparison WHERE region = %(region)s
                 AND (%(day)s::date IS NULL OR date = %(day)s::date)""", {"region": REGION, "day": key})
        n = int(row["n"].iloc[0])
        if n == 0:
            return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN,
                                       metadata={"skipped": "no overlapping days with etf_tracking_krx yet"})
        off = int(row["off"].iloc[0])
        return dg.AssetCheckResult(passed=off == 0, metadata={"compared_rows": n, "rows_off": off,
                                                               "worst_gap_pp": float(row["worst"].iloc[0])})
    return check_partitions(trading_day_partitions, evaluate)


def partition_status_check(asset: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name="partition_status", automation_condition=HOURLY,
                    description="Every trading day of the last 60 is loaded or known closed; lists source "
                                "errors, blocked and never-attempted days with their reasons.")
    def _check(warehouse: Warehouse) -> dg.AssetCheckResult:
        return check_partitions(trading_day_partitions,
                                lambda key: last_60_days(warehouse) if key is None else
                                day_status(warehouse, asset, dt.date.fromisoformat(key)))

    def last_60_days(warehouse: Warehouse) -> dg.AssetCheckResult:
        days = previous_trading_days(now_kst().date() - dt.timedelta(days=1), 60)
        status = warehouse.read_frame(
            "SELECT partition_date, status, reason FROM partition_status WHERE asset = %s AND region = %s "
            "AND partition_date BETWEEN %s AND %s", (asset, REGION, days[0], days[-1]))
        counts = status["status"].value_counts().to_dict()
        bad = status[status["status"].isin(["source_error", "blocked"])].sort_values("partition_date")
        never = len(set(days) - set(status["partition_date"]))
        return dg.AssetCheckResult(
            passed=bad.empty, severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "loaded": counts.get("loaded", 0), "market_closed": counts.get("market_closed", 0),
                "source_error": counts.get("source_error", 0), "blocked": counts.get("blocked", 0),
                "never_attempted": never,
                "problems": dg.MetadataValue.md(bad.tail(10).to_markdown(index=False) if len(bad) else "none"),
            },
        )
    return _check


def day_status(warehouse: Warehouse, asset: str, day: dt.date) -> dg.AssetCheckResult:
    """One day of a run: loaded or known closed passes; a source error, a block or no record fails."""
    row = warehouse.read_frame(
        "SELECT status, reason, last_error FROM partition_status WHERE asset = %s AND region = %s "
        "AND partition_date = %s", (asset, REGION, day))
    status = row["status"].iloc[0] if len(row) else "never_attempted"
    meta = {"day": str(day), "status": str(status)}
    if len(row) and row["reason"].iloc[0]:
        meta["reason"] = str(row["reason"].iloc[0])
    if len(row) and row["last_error"].iloc[0]:
        meta["last_error"] = str(row["last_error"].iloc[0])
    return dg.AssetCheckResult(passed=status in ("loaded", "market_closed"), severity=dg.AssetCheckSeverity.WARN,
                               metadata=meta)


CHECKS = [
    freshness_check("ohlcv", "ohlcv_data"), freshness_check("etf_daily", "etf_daily"),
    freshness_check("etf_aum", "etf_aum"), freshness_check("etf_holdings", "etf_holdings", "as_of_date"),
    AUM_COVERAGE, HOLDINGS_COVERAGE, TRACKING_COVERAGE, RANGE_COVERAGE,
    aum_matches_nav, aum_reconciles_with_kis, premium_matches_krx,
    partition_status_check("ohlcv"), partition_status_check("etf_daily"), partition_status_check("etf_aum"),
    partition_status_check("etf_holdings"),
]
