"""A day of prices is whole or absent, and partition_status tells the truth about it (issue #11, 4-6).

Real simulator over HTTP, real clients, real PostgreSQL: a dashed price on a traded day fails the
day by name; one KRX snapshot feeds `ohlcv_data` and `etf_daily` in one transaction; a failed
re-run of a loaded day leaves it `loaded` with the failure beside it.
"""

from __future__ import annotations

import pandas as pd
import psycopg
import pytest

from quant_assets.assets import prices
from quant_assets.resources.http import default_breaker
from quant_assets.resources.krx import KRXClient
from quant_assets.resources.warehouse import PartitionWrite, refresh_etf_latest
from quant_assets_tests.test_ingest_assets import DAYS, failure_text, range_tags, run

OHLCV_SQL = "SELECT * FROM ohlcv_data ORDER BY date, ticker"
ETF_SQL = "SELECT * FROM etf_daily ORDER BY date, ticker"


def day_counts(warehouse, day: str) -> tuple[int, int]:
    row = warehouse.read_frame(
        "SELECT (SELECT count(*) FROM ohlcv_data WHERE date = %(d)s) AS bars, "
        "       (SELECT count(*) FROM etf_daily WHERE date = %(d)s) AS etfs", {"d": day}).iloc[0]
    return int(row["bars"]), int(row["etfs"])


def source_counts(sim, day: str) -> tuple[int, int]:
    krx = KRXClient(base_url=sim.krx_url)
    etfs = len(krx.etf_daily(day))
    return len(krx.stock_daily(day)) + etfs, etfs


def statuses(warehouse, day: str) -> dict[str, tuple]:
    frame = warehouse.read_frame("SELECT asset, status, row_count, last_error FROM partition_status "
                                 "WHERE region = 'KR' AND partition_date = %s", (day,))
    return {a: (s, n, e) for a, s, n, e in frame.itertuples(index=False)}


def test_dashed_high_on_a_traded_day_fails_the_day_and_a_no_trade_bar_loads(sim, warehouse):
    """KRX's 0-with-volume-0 is the only legitimate empty price; a '-' high on a day Samsung
    traded millions of shares is bad input, not a NULL (the reviewer found it stored, `loaded`)."""
    quiet = next(t for t in KRXClient(base_url=sim.krx_url).stock_daily(DAYS[0])["ticker"] if t != "005930")
    sim.set_faults({"rules": [
        {"source": "krx", "bld": "MDCSTAT01501", "date": DAYS[1].replace("-", ""), "fault": "corrupt",
         "kind": "dash_price", "ticker": "005930", "field": "TDD_HGPRC"},
        {"source": "krx", "bld": "MDCSTAT01501", "date": DAYS[0].replace("-", ""), "fault": "corrupt",
         "kind": "no_trade", "ticker": quiet},
    ]})
    result = run([prices.daily_prices], sim, warehouse, tags=range_tags(DAYS[0], DAYS[-1]))
    assert not result.success
    failure = failure_text(result, "daily_prices")
    assert "1 of 3 partition(s) failed" in failure
    assert "ohlcv:" in failure and DAYS[1] in failure and "005930.high" in failure and "KR" in failure
    assert day_counts(warehouse, DAYS[1]) == (0, 0)          # nothing of the bad day, in either table
    assert statuses(warehouse, DAYS[1])["ohlcv"][0] == "source_error"
    # The genuine no-trade bar loaded, with open/high/low NULL and its close.
    bar = warehouse.read_frame("SELECT open, high, low, close, volume FROM ohlcv_data WHERE ticker = %s "
                               "AND date = %s", (quiet, DAYS[0])).iloc[0]
    assert bar[["open", "high", "low"]].isna().all() and bar["volume"] == 0 and bar["close"] > 0
    assert day_counts(warehouse, DAYS[0]) == source_counts(sim, DAYS[0])


def test_bad_nav_leaves_neither_table_with_the_day(sim, warehouse):
    """One snapshot feeds both tables: a bad NAV must not leave the day's bars behind."""
    bad = DAYS[1]
    sim.set_faults({"rules": [{"source": "krx", "bld": "MDCSTAT04301", "date": bad.replace("-", ""),
                               "fault": "corrupt", "kind": "dash_price", "ticker": "069500", "field": "NAV"}]})
    result = run([prices.daily_prices], sim, warehouse, tags=range_tags(DAYS[0], DAYS[-1]))
    assert not result.success
    failure = failure_text(result, "daily_prices")
    assert "etf_daily:" in failure and bad in failure and "069500.nav" in failure
    assert day_counts(warehouse, bad) == (0, 0)
    assert day_counts(warehouse, DAYS[0]) == day_counts(warehouse, DAYS[2]) == source_counts(sim, DAYS[0])
    assert {a: s for a, (s, _, _) in statuses(warehouse, bad).items()} == {"ohlcv": "source_error",
                                                                            "etf_daily": "source_error"}
    # A good re-run fills both at once.
    sim.clear_faults()
    assert run([prices.daily_prices], sim, warehouse, partition_key=bad).success
    assert day_counts(warehouse, bad) == source_counts(sim, bad)
    assert {a: (s, e) for a, (s, _, e) in statuses(warehouse, bad).items()} == {"ohlcv": ("loaded", None),
                                                                                "etf_daily": ("loaded", None)}


@pytest.mark.parametrize(
    ("fault", "failed_status", "why"),
    [
        ({"fault": "corrupt", "bld": "MDCSTAT01501", "kind": "dash_price", "ticker": "005930",
          "field": "TDD_CLSPRC"}, "source_error", "005930"),
        ({"fault": "ban"}, "blocked", "blocked"),
    ],
)
def test_failed_rerun_of_a_loaded_day_stays_loaded_with_the_error_beside_it(sim, warehouse, fault, failed_status,
                                                                            why):
    loaded, never = DAYS[0], DAYS[1]
    assert run([prices.daily_prices], sim, warehouse, partition_key=loaded).success
    bars, etfs = warehouse.read_frame(OHLCV_SQL), warehouse.read_frame(ETF_SQL)
    before = statuses(warehouse, loaded)
    sim.set_faults({"rules": [{"source": "krx", "times": None, **fault}]})
    try:
        result = run([prices.daily_prices], sim, warehouse, tags=range_tags(loaded, never))
    finally:
        default_breaker().reset("krx")      # a ban trips the process-wide breaker for a day
    assert not result.success
    after = statuses(warehouse, loaded)
    for asset in ("ohlcv", "etf_daily"):
        status, rows, error = after[asset]
        assert (status, rows) == before[asset][:2] and status == "loaded"       # rows intact, still loaded
        assert error.startswith(failed_status) and why in error
    assert warehouse.read_frame(OHLCV_SQL).equals(bars) and warehouse.read_frame(ETF_SQL).equals(etfs)
    # A day that never loaded shows the failure as its status, never as a holiday.
    assert {a: s for a, (s, _, _) in statuses(warehouse, never).items()} == {"ohlcv": failed_status,
                                                                              "etf_daily": failed_status}
    # A later good run clears the recorded failure.
    sim.clear_faults()
    sim.reset_sessions()
    assert run([prices.daily_prices], sim, warehouse, partition_key=loaded).success
    assert {a: (s, e) for a, (s, _, e) in statuses(warehouse, loaded).items()} == {"ohlcv": ("loaded", None),
                                                                                   "etf_daily": ("loaded", None)}


def test_replace_partitions_commits_all_tables_or_none(sim, warehouse):
    """A failure in the second table's COPY rolls back the first table's DELETE + COPY and both
    status rows: the warehouse-level guarantee the daily prices asset relies on."""
    day = DAYS[0]
    assert run([prices.daily_prices], sim, warehouse, partition_key=day).success
    bars, etfs = warehouse.read_frame(OHLCV_SQL), warehouse.read_frame(ETF_SQL)
    before = statuses(warehouse, day)
    where = {"region": "KR", "date": pd.Timestamp(day).date()}
    duplicated = pd.concat([etfs.iloc[:1], etfs], ignore_index=True)[
        ["date", "ticker", "region", "close", "nav", "aum", "listed_units", "market_cap", "index_close",
         "index_change_pct"]]
    shorter = bars.iloc[:5][["date", "ticker", "region", "timeframe", "asset_type", "open", "high", "low", "close",
                              "volume", "value"]]
    with pytest.raises(psycopg.errors.UniqueViolation):
        warehouse.replace_partitions([
            PartitionWrite("ohlcv_data", shorter, where=where, status=("ohlcv", where["date"], "test")),
            PartitionWrite("etf_daily", duplicated, where=where, status=("etf_daily", where["date"], "test")),
        ], after=[refresh_etf_latest("KR")])
    assert warehouse.read_frame(OHLCV_SQL).equals(bars) and warehouse.read_frame(ETF_SQL).equals(etfs)
    assert statuses(warehouse, day) == before


def test_status_report_counts_loaded_days_with_a_failed_rerun(sim, warehouse):
    day = DAYS[0]
    assert run([prices.daily_prices], sim, warehouse, partition_key=day).success
    sim.set_faults({"rules": [{"source": "krx", "bld": "MDCSTAT01501", "fault": "corrupt", "kind": "dash_price",
                               "ticker": "005930", "field": "TDD_CLSPRC"}]})
    assert not run([prices.daily_prices], sim, warehouse, partition_key=day).success
    report = warehouse.read_frame("SELECT status, partitions, with_error, latest_error FROM partition_status_report "
                                  "WHERE asset = 'ohlcv' AND region = 'KR'")
    assert len(report) == 1
    row = report.iloc[0]
    assert (row["status"], row["partitions"], row["with_error"]) == ("loaded", 1, 1)
    assert row["latest_error"].startswith("source_error") and "005930" in row["latest_error"]


def test_ranged_run_whose_last_day_fails_still_refreshes_the_latest_figures(sim, warehouse):
    """etf_details' volume/value averages are refreshed in the ranged run's last day's transaction;
    when that day fails they must still follow the days that landed, not stay as before the run."""
    from quant_assets.assets import reference

    assert run([reference.etf_list], sim, warehouse).success
    sim.set_faults({"rules": [{"source": "krx", "bld": "MDCSTAT01501", "date": DAYS[2].replace("-", ""),
                               "fault": "corrupt", "kind": "dash_price", "ticker": "005930", "field": "TDD_HGPRC"}]})
    result = run([prices.daily_prices], sim, warehouse, tags=range_tags(DAYS[0], DAYS[2]))
    sim.clear_faults()
    assert not result.success and day_counts(warehouse, DAYS[2]) == (0, 0)
    both = warehouse.read_frame(
        "SELECT d.ticker, d.avg_daily_volume, b.v FROM etf_details d JOIN (SELECT ticker, round(avg(volume), 2) AS v "
        "FROM ohlcv_data WHERE region = 'KR' AND asset_type = 'ETF' GROUP BY ticker) b USING (ticker) "
        "WHERE d.region = 'KR'")
    assert len(both) > 10 and both["avg_daily_volume"].notna().all()
    assert (both["avg_daily_volume"].astype(float) == both["v"].astype(float)).all()
