"""A month the warehouse has never held is loaded at once (resources/new_months.py,
assets/month_batches.py): the same rows, statuses and indexes as day-by-day writes, nothing written
when any of it fails, the ordinary path for months that exist or are compacted, and a ranged run
that reports only what committed.

Scratch databases on the real embedded server (a month partition, once created, outlives the
`warehouse` fixture's TRUNCATE) and the simulator over HTTP for the ranged run.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import dagster as dg
import psycopg
import pytest

from quant_assets.assets import prices
from quant_assets.resources.month_write import MonthWrite
from quant_assets.resources.warehouse import PartitionWrite, Warehouse
from quant_assets.storage import compact_closed_periods
from quant_assets_tests.scratch_db import scratch_databases
from quant_assets_tests.test_ingest_assets import load_reference, range_tags, resources
from quant_assets_tests.test_ranged_runs import materializations
from quant_assets_tests.test_warehouse import bars, etf_rows

MAY = [dt.date(2023, 5, d) for d in (2, 3, 4)]
SNAPSHOT = {"ohlcv_data": "SELECT * FROM ohlcv_data ORDER BY date, ticker",
            "etf_daily": "SELECT * FROM etf_daily ORDER BY date, ticker",
            "partition_status": "SELECT asset, region, partition_date, status, row_count, reason, source "
                                "FROM partition_status ORDER BY 1, 2, 3"}


def day_writes(wh: Warehouse, day: dt.date, bump: float = 0.0) -> list[PartitionWrite]:
    o, e = bars(day), etf_rows(day)
    o["close"] += bump
    where = {"region": "KR", "date": day}
    return [PartitionWrite("ohlcv_data", o, where=where, status=("ohlcv", day, "test"), encoded=wh.encode("ohlcv_data", o)),
            PartitionWrite("etf_daily", e, where=where, status=("etf_daily", day, "test"))]   # CSV path: no encoding


def snapshot(url: str) -> dict[str, list]:
    with psycopg.connect(url) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in SNAPSHOT.items()}


def partition_indexes(url: str, child: str) -> set[str]:
    """The parent indexes `child`'s own indexes are attached to."""
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            "SELECT parent.relname FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indexrelid "
            "JOIN pg_class parent ON parent.oid = h.inhparent WHERE i.indrelid = %s::regclass", (child,))}


@pytest.fixture()
def two(database_url):
    with scratch_databases(database_url, "newmonth", 2) as urls:
        yield urls


def test_a_new_month_loaded_at_once_equals_day_by_day_writes_and_has_every_index(two):
    by_day, at_once = (Warehouse(database_url=u) for u in two)
    for day in MAY:
        by_day.replace_partitions(day_writes(by_day, day))
    assert at_once.absent_months(["ohlcv_data", "etf_daily"], MAY) == {dt.date(2023, 5, 1)}
    counts = at_once.replace_days([(day, day_writes(at_once, day)) for day in MAY])
    assert counts == {"ohlcv_data": 6, "etf_daily": 3}
    assert snapshot(two[1]) == snapshot(two[0])
    assert at_once.absent_months(["ohlcv_data", "etf_daily"], MAY) == set()
    # the child serves the seeds' key and the date index, attached to the parent's
    assert partition_indexes(two[1], "ohlcv_data_y2023m05") == {"ohlcv_data_pkey", "ohlcv_data_date_idx"}
    assert partition_indexes(two[1], "etf_daily_y2023m05") == partition_indexes(two[0], "etf_daily_y2023m05")
    with psycopg.connect(two[1]) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("INSERT INTO ohlcv_data SELECT * FROM ohlcv_data WHERE date = %s LIMIT 1", (MAY[0],))
    # the month exists now: a re-run with corrected values takes the day-by-day path, same result
    for wh in (by_day, at_once):
        wh.replace_days([(day, day_writes(wh, day, bump=5.0)) for day in MAY[1:]])
    assert snapshot(two[1]) == snapshot(two[0])
    closes = at_once.read_frame("SELECT close FROM ohlcv_data WHERE date = %s ORDER BY close", (MAY[1],))
    assert list(closes["close"]) == [10085.0, 77205.0]


@pytest.mark.parametrize("spoil", ["duplicate key", "row of another month"])
def test_a_failing_new_month_writes_nothing(two, spoil):
    wh = Warehouse(database_url=two[0])
    days = [(day, day_writes(wh, day)) for day in MAY]
    o = bars(MAY[2])
    if spoil == "duplicate key":
        o.loc[1, "ticker"] = o.loc[0, "ticker"]
    else:
        o["date"] = dt.date(2023, 6, 1)
    days[2] = (MAY[2], [PartitionWrite("ohlcv_data", o, where={"region": "KR", "date": MAY[2]},
                                       status=("ohlcv", MAY[2], "test"), encoded=wh.encode("ohlcv_data", o))])
    with pytest.raises(psycopg.errors.IntegrityError):
        wh.replace_days(days)
    with psycopg.connect(two[0]) as conn:
        assert conn.execute("SELECT to_regclass('ohlcv_data_y2023m05'), to_regclass('etf_daily_y2023m05')"
                            ).fetchone() == (None, None)
        assert conn.execute("SELECT count(*) FROM partition_status").fetchone()[0] == 0


def test_compacted_months_are_written_through_the_view_and_new_ones_attach_to_the_hot_table(two):
    ref, cmp = (Warehouse(database_url=u) for u in two)
    jan = [dt.date(2024, 1, d) for d in (3, 4)]
    for wh in (ref, cmp):
        wh.replace_days([(day, day_writes(wh, day)) for day in jan])
    compact_closed_periods(two[1], before=dt.date(2024, 2, 1))
    with psycopg.connect(two[1]) as conn:
        assert conn.execute("SELECT count(*) FROM storage_periods WHERE table_name = 'ohlcv_data'").fetchone()[0] == 1
        assert conn.execute("SELECT to_regclass('ohlcv_data_y2024m01')").fetchone()[0] is None   # emptied, dropped
    # a correction of the compacted month (its partition is gone, yet it is not new) and a new month
    feb = [dt.date(2024, 2, d) for d in (1, 2)]
    for wh in (ref, cmp):
        wh.replace_days([(day, day_writes(wh, day, bump=1.0)) for day in jan[1:]])
        wh.replace_days([(day, day_writes(wh, day)) for day in feb])
    assert snapshot(two[1]) == snapshot(two[0])
    with psycopg.connect(two[1]) as conn:
        parent = conn.execute("SELECT inhparent::regclass::text FROM pg_inherits "
                              "WHERE inhrelid = 'ohlcv_data_y2024m02'::regclass").fetchone()[0]
    assert parent == "ohlcv_hot"


def test_a_ranged_run_over_a_new_month_reports_only_what_committed(sim, database_url):
    """The middle day's stock snapshot is corrupt: the other two days of the new month are written
    together and reported, the bad day is a source_error with no rows; its retry (the month now
    exists) lands day by day."""
    days = ["2024-03-04", "2024-03-05", "2024-03-06"]
    with scratch_databases(database_url, "newmonthrun") as (url,):
        warehouse = Warehouse(database_url=url)
        load_reference(sim, warehouse)
        bad = days[1]
        sim.set_faults({"rules": [{"source": "krx", "bld": "MDCSTAT01501", "date": bad.replace("-", ""),
                                   "fault": "corrupt", "kind": "dash_price", "ticker": "005930",
                                   "field": "TDD_CLSPRC", "times": None}]})
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize([prices.daily_prices], resources=resources(sim, warehouse), raise_on_error=False,
                                instance=instance, tags=range_tags(days[0], days[-1]))
        assert not result.success
        landed = (days[0], days[2])
        assert materializations(result) == Counter({(a, d): 1 for a in ("ohlcv", "etf_daily") for d in landed})
        status = warehouse.read_frame("SELECT asset, partition_date, status FROM partition_status ORDER BY 1, 2")
        assert {(a, str(d)): s for a, d, s in status.itertuples(index=False)} == {
            **{(a, d): "loaded" for a in ("ohlcv", "etf_daily") for d in landed},
            ("ohlcv", bad): "source_error", ("etf_daily", bad): "source_error"}
        per_day = warehouse.read_frame("SELECT date, count(*) AS n FROM ohlcv_data GROUP BY date ORDER BY date")
        assert [str(d) for d in per_day["date"]] == list(landed) and per_day["n"].min() > 0
        assert partition_indexes(url, "ohlcv_data_y2024m03") == {"ohlcv_data_pkey", "ohlcv_data_date_idx"}
        sim.clear_faults()
        retry = dg.materialize([prices.daily_prices], resources=resources(sim, warehouse), instance=instance,
                               partition_key=bad)
        assert retry.success
        per_day = warehouse.read_frame("SELECT date, count(*) AS n FROM ohlcv_data GROUP BY date ORDER BY date")
        assert [str(d) for d in per_day["date"]] == days


def test_a_month_write_left_without_commit_leaves_nothing(two):
    wh = Warehouse(database_url=two[0])
    with MonthWrite(wh) as month:
        month.add(day_writes(wh, MAY[0]))          # no commit(): a run that stopped mid-month
    with pytest.raises(RuntimeError), MonthWrite(wh) as month:
        month.add(day_writes(wh, MAY[1]))
        raise RuntimeError("the run failed")
    with psycopg.connect(two[0]) as conn:
        assert conn.execute("SELECT to_regclass('ohlcv_data_y2023m05'), to_regclass('etf_daily_y2023m05')"
                            ).fetchone() == (None, None)
        assert conn.execute("SELECT count(*) FROM partition_status").fetchone()[0] == 0
    # and the connection went back to the pool clean: the next write commits
    assert wh.replace_days([(MAY[2], day_writes(wh, MAY[2]))]) == {"ohlcv_data": 2, "etf_daily": 1}


def test_a_ban_mid_month_commits_the_days_before_it(sim, database_url):
    """The source stops the run on the second day of a new month: the first day, held in the open
    month transaction, is committed and reported; the rest are `blocked` with no rows."""
    from quant_assets.resources import InMemoryCircuitBreaker, KRXClient

    days = ["2024-03-04", "2024-03-05", "2024-03-06"]
    with scratch_databases(database_url, "newmonthban") as (url,):
        warehouse = Warehouse(database_url=url)
        load_reference(sim, warehouse)
        sim.set_faults({"rules": [{"source": "krx", "bld": "MDCSTAT04301", "date": days[1].replace("-", ""),
                                   "fault": "ban", "times": None}]})
        krx = KRXClient(base_url=sim.krx_url, requests_per_second=50, backoff_seconds=0.05,
                        max_retries=2).with_breaker(InMemoryCircuitBreaker())   # the ban stays in this test
        result = dg.materialize([prices.daily_prices], resources={"krx": krx, "warehouse": warehouse},
                                raise_on_error=False, tags=range_tags(days[0], days[-1]))
        assert not result.success
        assert materializations(result) == Counter({("ohlcv", days[0]): 1, ("etf_daily", days[0]): 1})
        status = warehouse.read_frame("SELECT partition_date, status FROM partition_status WHERE asset = 'ohlcv' "
                                      "ORDER BY partition_date")
        assert dict(zip([str(d) for d in status["partition_date"]], status["status"], strict=True)) == {
            days[0]: "loaded", **{d: "blocked" for d in days[1:]}}
        loaded = warehouse.read_frame("SELECT DISTINCT date FROM ohlcv_data")
        assert [str(d) for d in loaded["date"]] == [days[0]]
