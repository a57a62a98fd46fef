"""The legacy import into a compacted warehouse (`quant storage compact`: ohlcv_data and
etf_holdings are views over a hot and a cold table with INSTEAD OF triggers).

Two scratch databases on the real embedded server get the same Spock files imported
(test_legacy_import's builder); one of them is compacted after the first import. Importing the
same file again changes nothing there (no unique violation from the trigger, 0 new rows, every
month stays compacted); a file with a few more rows adds exactly those, un-compacting only the
months they fall in, and both warehouses then answer every query alike.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3

import pandas as pd
import psycopg
import pytest

from quant_assets import legacy_import as li
from quant_assets.legacy import writer
from quant_assets.resources.warehouse import Warehouse
from quant_assets.storage import compact_closed_periods
from quant_assets.storage.layout import SPECS
from quant_assets_tests.scratch_db import scratch_databases
from quant_assets_tests.test_legacy_import import OLD, TARGETS, build_spock_a, insert, table_checksums

BEFORE = dt.date(2025, 11, 1)        # September and October 2025 (every bar and holding of file A) closed


@pytest.fixture()
def pair(database_url):
    """(plain, compacted): two freshly migrated scratch databases, dropped afterwards."""
    with scratch_databases(database_url, "legacy", 2) as urls:
        yield tuple(urls)


def content(url: str) -> dict[str, str]:
    """md5 over every row of every target table, without the columns the database stamps itself
    (now()/clock defaults, updated_at, last_updated), which differ between two databases importing the same file."""
    out = {}
    with psycopg.connect(url) as conn:
        for t in TARGETS:
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name = %s AND column_name NOT IN ('updated_at', 'last_updated') "
                "AND coalesce(column_default, '') !~* '(now\\(\\)|current_timestamp|clock_)' "
                "ORDER BY ordinal_position", (t,))]
            row = ", ".join(f"x.{writer.q(c)}" for c in cols)
            out[t] = conn.execute(f"SELECT count(*), md5(coalesce(string_agg(ROW({row})::text, '|' "
                                  f"ORDER BY ROW({row})::text), '')) FROM {t} x").fetchone()
    return out


def periods(url: str) -> set[tuple]:
    with psycopg.connect(url) as conn:
        return set(conn.execute("SELECT table_name, region, period, rows FROM storage_periods").fetchall())


def hot_rows(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("ohlcv_hot", "etf_holdings_hot")}


def inserted(report: li.ImportReport) -> dict[str, dict[str, int]]:
    return {t: {r: c.inserted for r, c in rep.regions.items() if c.inserted}
            for t, rep in report.tables.items() if any(c.inserted for c in rep.regions.values())}


def add_rows(path) -> None:
    """File A plus: a bar in a compacted month (VN, September), a bar in a month no partition has
    held yet (KR, August), one more ETF-day of holdings in a compacted month (US, October) and a
    statement filling NULL columns of a stored ticker_fundamentals row."""
    db = sqlite3.connect(path)
    insert(db, "ohlcv_data", dict(ticker="VCB", timeframe="D", date="2025-09-10", region="VN", open=90_000.0,
                                  high=91_000.0, low=89_000.0, close=90_500.0, volume=10, created_at=OLD))
    insert(db, "ohlcv_data", dict(ticker="005930", timeframe="D", date="2025-08-29", region="KR", open=69_000.0,
                                  high=69_500.0, low=68_500.0, close=69_100.0, volume=5, created_at=OLD))
    insert(db, "etf_holdings", dict(etf_ticker="SPY", stock_ticker="AAPL", weight=6.5, shares=90, market_value=9e5,
                                    as_of_date="2025-10-16", created_at=OLD, data_source="KIS"))
    # fills the NULL total_assets/total_equity of the stored ANNUAL 2023 row of 005930 (merge_fill)
    insert(db, "balance_sheet", dict(ticker="005930", fiscal_date="2023-12-31", period_type="ANNUAL",
                                     report_type="CONSOLIDATED", total_assets=4e14, total_equity=3e14, created_at=OLD))
    db.commit()
    db.close()


def test_reimport_into_a_compacted_warehouse(pair, tmp_path):
    plain, compacted = pair
    whs = {plain: Warehouse(database_url=plain), compacted: Warehouse(database_url=compacted)}
    file_a = tmp_path / "spock_a.db"
    build_spock_a(file_a)
    first = {url: li.run_import(file_a, wh, batch_rows=50) for url, wh in whs.items()}
    assert all(r.completed for r in first.values())

    result = compact_closed_periods(compacted, before=BEFORE)         # what `quant storage compact` runs
    compacted_months = periods(compacted)
    assert {(t, r, p) for t, r, p, _ in compacted_months} >= {
        ("ohlcv_data", "VN", dt.date(2025, 9, 1)), ("ohlcv_data", "KR", dt.date(2025, 10, 1)),
        ("ohlcv_data", "JP", dt.date(2025, 9, 1)), ("etf_holdings", "US", dt.date(2025, 10, 1)),
        ("etf_holdings", "KR", dt.date(2025, 10, 1))}, result
    assert hot_rows(compacted) == {"ohlcv_hot": 0, "etf_holdings_hot": 0}
    assert content(compacted) == content(plain)

    # the same file again: nothing new, nothing changed, nothing un-compacted
    before = table_checksums(whs[compacted])
    again = li.run_import(file_a, whs[compacted], batch_rows=50)
    assert again.completed
    assert inserted(again) == {}
    assert again.final_counts == first[compacted].final_counts
    assert table_checksums(whs[compacted]) == before
    assert periods(compacted) == compacted_months
    assert hot_rows(compacted) == {"ohlcv_hot": 0, "etf_holdings_hot": 0}

    # a file with four more rows: exactly those are added or filled, only their months leave the cold table
    file_b = tmp_path / "spock_a_plus.db"
    shutil.copy(file_a, file_b)
    add_rows(file_b)
    plus = {url: li.run_import(file_b, wh, batch_rows=50) for url, wh in whs.items()}
    for report in plus.values():
        assert report.completed
        got = {t: n for t, n in inserted(report).items() if report.tables[t].target != "legacy_rows"}
        assert got == {"ohlcv_data": {"VN": 1, "KR": 1}, "etf_holdings": {"US": 1}}, got
    gone = {("ohlcv_data", "VN", dt.date(2025, 9, 1)), ("etf_holdings", "US", dt.date(2025, 10, 1))}
    if "ticker_fundamentals" in SPECS:                 # compactable too: the filled row's month
        gone.add(("ticker_fundamentals", "KR", dt.date(2023, 12, 1)))
    assert periods(compacted) == {p for p in compacted_months if p[:3] not in gone}
    moved = sum(n for t, r, p, n in compacted_months if (t, r, p) in gone and t == "ohlcv_data")
    hot = hot_rows(compacted)
    assert hot["ohlcv_hot"] == moved + 2          # the un-compacted VN September, the new bar, the August bar
    assert hot["etf_holdings_hot"] == 2           # SPY's two ETF-days of October
    assert content(compacted) == content(plain)
    query = ("SELECT ticker, region, date, timeframe, open, high, low, close, volume, ma5, atr_14 FROM ohlcv_data "
             "WHERE date BETWEEN %s AND %s ORDER BY ticker, region, date, timeframe")
    a, b = (Warehouse(database_url=u).read_frame(query, ("2025-08-01", "2025-09-30")) for u in (plain, compacted))
    pd.testing.assert_frame_equal(a, b)
    assert len(a) > 0
    for url in pair:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT total_assets, total_equity, net_income FROM ticker_fundamentals WHERE "
                                "ticker = '005930' AND region = 'KR' AND period_type = 'ANNUAL' AND date = '2023-12-31'"
                                ).fetchone() == (400_000_000_000_000, 300_000_000_000_000, 15_000_000_000_000)


def test_merge_fill_on_a_compacted_view_fills_only_null_columns(pair, tmp_path):
    """merge_fill on a compacted view acts like on the plain table: new keys inserted, NULL columns
    filled, rows with nothing to fill not touched (their month stays compacted)."""
    plain, compacted = pair
    file_a = tmp_path / "spock_a.db"
    build_spock_a(file_a)
    for url in pair:
        assert li.run_import(file_a, Warehouse(database_url=url), batch_rows=50).completed
    compact_closed_periods(compacted, before=BEFORE)
    compacted_months = periods(compacted)
    key = ["ticker", "region", "date", "timeframe"]
    jp, kr = ("7203", "JP", dt.date(2025, 9, 1), "D"), ("005930", "KR", dt.date(2025, 9, 1), "D")
    where = "ticker = %s AND region = %s AND date = %s AND timeframe = %s"
    cols = ["ticker", "region", "date", "timeframe", "asset_type", "open", "high", "low", "close", "volume", "currency",
            "ma5", "ma20"]
    with psycopg.connect(plain) as conn:
        rows = [list(conn.execute(f"SELECT {', '.join(cols)} FROM ohlcv_data WHERE {where}", k).fetchone())
                for k in (jp, kr)]
    assert rows[0][-2] is None and rows[1][-2] is not None
    # whole rows (a plain table's INSERT ... ON CONFLICT checks the row before the conflict)
    frame = pd.DataFrame([rows[0][:-2] + [2_801.0, None],                # JP September: fills ma5 only
                          rows[1][:-2] + [1.0, None],                    # has ma5: unchanged
                          rows[0][:2] + [dt.date(2025, 10, 31)] + rows[0][3:-2] + [None, 2_905.5]],   # a new bar
                         columns=cols)
    counts = {}
    for url in pair:
        with psycopg.connect(url) as conn, conn.transaction():
            counts[url] = writer.merge_fill(conn, "ohlcv_data", frame.copy(), key, touch=False)
    assert counts[plain] == counts[compacted] == 1
    assert periods(compacted) == {p for p in compacted_months
                                  if p[:3] not in {("ohlcv_data", "JP", dt.date(2025, 9, 1)),
                                                   ("ohlcv_data", "JP", dt.date(2025, 10, 1))}}
    assert content(compacted) == content(plain)
    with psycopg.connect(compacted) as conn:
        assert conn.execute(f"SELECT ma5 FROM ohlcv_data WHERE {where}", jp).fetchone()[0] == 2_801.0
        assert conn.execute(f"SELECT ma5 FROM ohlcv_data WHERE {where}", kr).fetchone()[0] == rows[1][-2]
