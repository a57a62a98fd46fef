"""Legacy Spock SQLite -> PostgreSQL import, against a real SQLite file and the embedded PostgreSQL."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pandas as pd
import psycopg
import pytest

from quant_assets import legacy_import as li
from quant_assets.resources.warehouse import Warehouse

TABLES = ("tickers", "stock_details", "etf_details", "ohlcv_data", "etf_holdings")
DAYS = [d.date() for d in pd.bdate_range("2023-11-01", periods=60)]   # Nov 2023 .. Jan 2024
BAR_TICKERS = [5930, "000660", "247540", "069500", "122630"]          # 5930 stored as INTEGER
D1, D2 = "2023-12-01", "2023-12-04"


def build_spock(path) -> None:
    """A small database in Spock's shape, with the dirt legacy data has."""
    db = sqlite3.connect(path)
    # `ticker` columns without a declared type keep integers as INTEGER (as Spock's data did).
    db.executescript("""
        CREATE TABLE tickers (ticker, name TEXT, exchange TEXT, region TEXT, currency TEXT, is_active INTEGER,
                              listing_date TEXT, delisting_date TEXT, created_at TEXT);
        CREATE TABLE ohlcv_data (id INTEGER PRIMARY KEY AUTOINCREMENT, ticker, region TEXT, timeframe TEXT,
                                 date TEXT, open REAL, high REAL, low REAL, close REAL, volume INTEGER,
                                 created_at TEXT);
        CREATE TABLE stock_details (ticker, sector TEXT, industry TEXT, market_cap INTEGER, par_value INTEGER,
                                    created_at TEXT);
        CREATE TABLE etf_details (ticker, issuer TEXT, tracking_index TEXT, expense_ratio REAL, aum INTEGER,
                                  leverage_ratio TEXT, isin TEXT, created_at TEXT);
        CREATE TABLE etf_holdings (id INTEGER PRIMARY KEY AUTOINCREMENT, etf_ticker, stock_ticker, weight REAL,
                                   shares INTEGER, market_value REAL, as_of_date TEXT, created_at TEXT);
    """)
    t0, t1 = "2023-10-01 18:00:00", "2024-02-01 18:00:00"
    db.executemany("INSERT INTO tickers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        (5930, "삼성전자(구)", "KOSPI", "KR", "KRW", 1, "1975-06-11", None, t0),
        ("005930", "삼성전자", "KOSPI", "KR", "KRW", 1, "1975-06-11", None, t1),   # later duplicate wins
        ("000660", "SK하이닉스", "KSE", "KR", "KRW", 1, "19960326", None, t0),
        ("247540", "에코프로비엠", "kosdaq", "KR", "KRW", 1, "2019-03-05", None, t0),
        ("069500", "KODEX 200", "ETF", "KR", "KRW", 1, "2002-10-14", None, t0),
        ("122630", "KODEX 레버리지", "ETF", "KR", "KRW", 1, "2010-02-22", None, t0),
        ("AAPL", "Apple", "NASDAQ", "US", "USD", 1, "1980-12-12", None, t0),
        ("12345678", "bad code", "KOSPI", "KR", "KRW", 0, None, None, t0),
    ])
    bars = []
    for i, ticker in enumerate(BAR_TICKERS):
        base = 10_000.0 * (i + 1)
        for j, day in enumerate(DAYS):
            close = base + 10 * j
            bars.append((ticker, "KR", "D", day.isoformat(), close - 5, close + 20, close - 20, close,
                         1000 + j, t0))
    bars[10] = bars[10][:4] + (0.0, 0.0, 0.0) + bars[10][7:]                     # a halted day: O/H/L = 0
    bars += [
        ("000660", "KR", "D", DAYS[5].isoformat(), 1.0, 99_999.0, 1.0, 55_555.0, 7, t1),   # duplicate, later
        ("247540", "KR", "D", "2024-02-01", 1.0, 2.0, 1.0, None, 5, t0),                   # NULL close
        ("069500", "KR", "D", DAYS[7].isoformat(), 1.0, 2.0, 1.0, None, 5, t1),            # later, NULL close
        ("999999", "KR", "D", DAYS[0].isoformat(), 1.0, 2.0, 1.0, 1.5, 5, t0),             # unknown ticker
        ("005930", "KR", "W", DAYS[0].isoformat(), 1.0, 2.0, 1.0, 1.5, 5, t0),             # weekly bar
    ]
    db.executemany("INSERT INTO ohlcv_data (ticker, region, timeframe, date, open, high, low, close, volume, "
                   "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", bars)
    db.executemany("INSERT INTO stock_details VALUES (?, ?, ?, ?, ?, ?)", [
        (5930, "Information Technology", "반도체", 400_000_000_000_000, 100, t0),
        ("000660", "Information Technology", "반도체", 90_000_000_000_000, 5000, t0),
        ("247540", "Materials", "2차전지", 20_000_000_000_000, 500, t0),
        ("999999", "?", "?", 1, 1, t0),                  # orphan
        ("069500", "?", "?", 1, 1, t0),                  # an ETF is not a stock
    ])
    db.executemany("INSERT INTO etf_details VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
        ("069500", "삼성자산운용", "KOSPI 200", 0.15, 6_000_000_000_000, "1배", "KR7069500007", t0),
        ("122630", "삼성자산운용", "KOSPI 200", 0.64, 2_000_000_000_000, None, None, t0),   # no ISIN
    ])
    db.executemany("INSERT INTO etf_holdings (etf_ticker, stock_ticker, weight, shares, market_value, as_of_date, "
                   "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", [
        ("069500", 5930, 30.0, 3000, 2.1e8, D1, t0),
        ("069500", "000660", 10.0, 500, 0.7e8, D1, t0),
        ("069500", "247540", 2.0, 40, 0.14e8, D1, t0),
        ("069500", "000660", 11.0, 520, 0.8e8, D1, t1),       # duplicate, later wins
        ("069500", "999999", 1.0, 1, 1.0, D1, t0),            # orphan constituent
        ("069500", "005930", 31.0, 3000, 2.2e8, D2, t0),
        ("069500", "000660", 9.0, 480, 0.65e8, D2, t0),
        ("069500", "247540", 2.5, 40, 0.18e8, D2, t0),
        ("122630", "005930", 60.0, 6000, 4.2e8, D1, t0),
    ])
    db.commit()
    db.close()


@pytest.fixture()
def spock(tmp_path):
    path = tmp_path / "spock.db"
    build_spock(path)
    return path


@pytest.fixture()
def wh(warehouse):
    with warehouse.connect() as conn:
        conn.execute("TRUNCATE legacy_import_progress, etf_holdings")
    return warehouse


def counts(wh) -> dict[str, int]:
    return {t: int(wh.read_frame(f"SELECT count(*) AS n FROM {t}")["n"].iloc[0])
            for t in (*TABLES, "legacy_import_progress")}


def snapshot(wh) -> dict[str, pd.DataFrame]:
    order = {"ohlcv_data": "ticker, date", "etf_holdings": "etf_ticker, as_of_date, constituent_code"}
    return {t: wh.read_frame(f"SELECT * FROM {t} ORDER BY {order.get(t, 'ticker')}") for t in TABLES}


EXPECTED = {
    "tickers": dict(read=8, imported=5, collapsed=1, rejected={"invalid_ticker": 1, "non_kr_region": 1}),
    "stock_details": dict(read=5, imported=3, collapsed=0, rejected={"unknown_ticker": 1, "not_a_stock": 1}),
    "etf_details": dict(read=2, imported=1, collapsed=0, rejected={"no_isin": 1}),
    "ohlcv_data": dict(read=305, imported=300, collapsed=1,
                       rejected={"null_close": 2, "unknown_ticker": 1, "not_daily_kr_bar": 1}),
    "etf_holdings": dict(read=9, imported=7, collapsed=1, rejected={"orphan_constituent": 1}),
}
FINAL = {"tickers": 5, "stock_details": 3, "etf_details": 1, "ohlcv_data": 300, "etf_holdings": 7}


def assert_numbers(report: li.ImportReport) -> None:
    for table, want in EXPECTED.items():
        got = report.tables[table]
        assert (got.read, got.imported, got.collapsed, dict(got.rejected)) == (
            want["read"], want["imported"], want["collapsed"], want["rejected"]), table
        assert got.read == got.imported + got.skipped, table


def test_normalizers():
    assert li.normalize_ticker(5930) == "005930" and li.normalize_ticker(5930.0) == "005930"
    assert li.normalize_ticker(" 5930 ") == "005930" and li.normalize_ticker("A005930") == "005930"
    assert li.normalize_ticker("005930.KS") == "005930" and li.normalize_ticker("0069m0") == "0069M0"
    assert li.normalize_ticker("12345678") is None and li.normalize_ticker(None) is None
    assert li.normalize_ticker(59.5) is None and li.normalize_ticker("AAPL") is None
    assert li.normalize_date("2024-01-05") == "2024-01-05" == li.normalize_date("20240105")
    assert li.normalize_date("2024/01/05 15:30:00") == "2024-01-05" == li.normalize_date(20240105)
    assert li.normalize_date("2024-02-30") is None and li.normalize_date("yesterday") is None


def test_dry_run_reports_everything_and_writes_nothing(wh, spock):
    before = counts(wh)
    report = li.run_import(spock, wh, dry_run=True)
    assert counts(wh) == before == {**dict.fromkeys(TABLES, 0), "legacy_import_progress": 0}
    assert report.dry_run and report.completed
    assert_numbers(report)
    assert all(t.inserted == 0 for t in report.tables.values())
    assert {"ticker": "247540", "date": "2024-02-01"} in report.tables["ohlcv_data"].examples["null_close"]
    # Over a loaded warehouse too: every row (and the progress table) stays exactly as it was.
    li.run_import(spock, wh)
    before = {**snapshot(wh), "progress": wh.read_frame("SELECT * FROM legacy_import_progress ORDER BY table_name")}
    li.run_import(spock, wh, dry_run=True)
    after = {**snapshot(wh), "progress": wh.read_frame("SELECT * FROM legacy_import_progress ORDER BY table_name")}
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name])


def test_full_import_numbers_and_values(wh, spock):
    report = li.run_import(spock, wh)
    assert report.completed and not report.dry_run
    assert_numbers(report)
    assert report.final_counts == FINAL
    assert {t: r.inserted for t, r in report.tables.items()} == FINAL
    assert report.tables["etf_details"].examples["no_isin"] == ["122630"]
    assert any("122630" in n for n in report.notes)
    assert report.tables["ohlcv_data"].fixed == {"value_from_close_x_volume": 300, "zero_open_high_low_set_null": 1}
    ohlcv = report.tables["ohlcv_data"]
    assert {"ticker": "069500", "date": DAYS[7].isoformat()} in ohlcv.examples["null_close"]
    assert {"ticker": "000660", "date": DAYS[5].isoformat()} in ohlcv.examples["duplicate_key"]
    assert "industry" in report.tables["stock_details"].note

    tickers = wh.read_frame("SELECT * FROM tickers ORDER BY ticker").set_index("ticker")
    assert list(tickers.index) == ["000660", "005930", "069500", "122630", "247540"]
    assert tickers.loc["005930", "name"] == "삼성전자"                 # the later duplicate won
    assert tickers.loc["000660", "market"] == "KOSPI" and tickers.loc["247540", "market"] == "KOSDAQ"
    assert tickers.loc["069500", "asset_type"] == "ETF" and tickers.loc["000660", "listing_date"] == dt.date(1996, 3, 26)
    assert tickers["active"].all()

    bars = wh.read_frame("SELECT * FROM ohlcv_data WHERE ticker = %s ORDER BY date", ("000660",))
    assert len(bars) == 60 and bars.loc[5, "close"] == 55_555 and bars.loc[5, "value"] == 55_555 * 7
    assert (bars["value"] == bars["close"] * bars["volume"]).all()
    etf_bars = wh.read_frame("SELECT close, asset_type FROM ohlcv_data WHERE ticker = '069500' AND date = %s",
                             (DAYS[7],))
    assert etf_bars.to_dict("records") == [{"close": 40_070, "asset_type": "ETF"}]  # the valid earlier bar kept
    halted = wh.read_frame("SELECT open, high, low FROM ohlcv_data WHERE ticker = '005930' AND date = %s", (DAYS[10],))
    assert halted.isna().all(axis=None)
    assert wh.read_frame("SELECT count(*) AS n FROM ohlcv_data WHERE date = '2024-02-01'")["n"].iloc[0] == 0

    etf = wh.read_frame("SELECT * FROM etf_details").iloc[0]
    assert (etf["ticker"], etf["isin"], float(etf["multiple"]), float(etf["total_fee_pct"])) == (
        "069500", "KR7069500007", 1.0, 0.15)
    stock = wh.read_frame("SELECT ticker, sector, market, par_value FROM stock_details ORDER BY ticker")
    assert stock["ticker"].tolist() == ["000660", "005930", "247540"] and stock.loc[1, "par_value"] == 100

    hold = wh.read_frame("SELECT constituent_code, weight_pct, rank, constituent_type, constituent_name "
                         "FROM etf_holdings WHERE etf_ticker = '069500' AND as_of_date = %s ORDER BY rank", (D1,))
    assert hold["constituent_code"].tolist() == ["005930", "000660", "247540"]
    assert float(hold.loc[1, "weight_pct"]) == 11.0 and hold.loc[0, "constituent_name"] == "삼성전자"

    with psycopg.connect(wh.url()) as conn:
        children = {r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'ohlcv_data'::regclass")}
    assert {"ohlcv_data_y2023m11", "ohlcv_data_y2023m12", "ohlcv_data_y2024m01"} <= children
    progress = wh.read_frame("SELECT table_name, completed, rows_done FROM legacy_import_progress ORDER BY 1")
    assert progress.to_dict("records") == [{"table_name": "etf_holdings", "completed": True, "rows_done": 9},
                                           {"table_name": "ohlcv_data", "completed": True, "rows_done": 305}]


def test_rerun_is_idempotent(wh, spock):
    li.run_import(spock, wh, batch_rows=64)
    first = snapshot(wh)
    again = li.run_import(spock, wh, batch_rows=64)
    assert again.completed and again.final_counts == FINAL
    assert_numbers(again)
    assert all(t.inserted == 0 for t in again.tables.values())
    second = snapshot(wh)
    for table in TABLES:
        pd.testing.assert_frame_equal(first[table].drop(columns="updated_at", errors="ignore"),
                                      second[table].drop(columns="updated_at", errors="ignore"))


def test_interrupted_import_resumes_where_it_stopped(wh, spock):
    partial = li.run_import(spock, wh, batch_rows=40, max_batches=3)
    assert not partial.completed and partial.tables["ohlcv_data"].status == "interrupted"
    assert partial.tables["etf_holdings"].status == "interrupted"
    done = partial.final_counts["ohlcv_data"]
    assert 0 < done < 300 and partial.final_counts["etf_holdings"] == 0
    progress = wh.read_frame("SELECT last_key, batches, completed FROM legacy_import_progress").iloc[0]
    assert progress["batches"] == 3 and not progress["completed"] and len(progress["last_key"]) == 2

    second = li.run_import(spock, wh, batch_rows=40, max_batches=4)    # resumes, still not finished
    assert not second.completed and done < second.final_counts["ohlcv_data"] <= 300
    final = li.run_import(spock, wh, batch_rows=40)
    assert final.completed and final.final_counts == FINAL
    assert_numbers(final)                      # cumulative counts equal an uninterrupted run's
    assert final.tables["ohlcv_data"].inserted == 300   # also cumulative: no row was inserted twice
    dupes = wh.read_frame("SELECT ticker, date FROM ohlcv_data GROUP BY 1, 2 HAVING count(*) > 1")
    assert dupes.empty


def test_crash_in_a_batch_keeps_committed_batches_and_resumes(wh, spock):
    """A real failure inside a batch (PostgreSQL rejects a row) rolls back only that batch."""
    wh.execute("ALTER TABLE ohlcv_data ADD CONSTRAINT legacy_test_no_247540 CHECK (ticker <> '247540')")
    try:
        with pytest.raises(psycopg.errors.CheckViolation):
            li.run_import(spock, wh, batch_rows=50)
        progress = wh.read_frame("SELECT last_key, completed FROM legacy_import_progress").iloc[0]
        assert not progress["completed"] and progress["last_key"][0] < "247540"
        # Exactly the batches up to the recorded position are committed, nothing after it.
        keys = wh.read_frame("SELECT ticker, date::text AS date FROM ohlcv_data")
        assert 0 < len(keys) < 300
        assert max(zip(keys["ticker"], keys["date"], strict=True)) == tuple(progress["last_key"])
    finally:
        wh.execute("ALTER TABLE ohlcv_data DROP CONSTRAINT IF EXISTS legacy_test_no_247540")
    final = li.run_import(spock, wh, batch_rows=50)
    assert final.completed and final.final_counts == FINAL
    assert_numbers(final)


def test_existing_warehouse_rows_win(wh, spock):
    wh.execute("INSERT INTO tickers (ticker, name, market, asset_type, active) "
               "VALUES ('005930', 'Samsung (live)', 'KOSPI', 'STOCK', true)")
    wh.ensure_month_partitions("ohlcv_data", [DAYS[0]])
    wh.execute("INSERT INTO ohlcv_data (date, ticker, asset_type, close, volume, value) "
               "VALUES (%s, '005930', 'STOCK', 1, 1, 1)", (DAYS[0],))
    report = li.run_import(spock, wh)
    row = wh.read_frame("SELECT name, listing_date FROM tickers WHERE ticker = '005930'").iloc[0]
    assert row["name"] == "Samsung (live)" and row["listing_date"] == dt.date(1975, 6, 11)   # gap filled only
    bar = wh.read_frame("SELECT close FROM ohlcv_data WHERE ticker = '005930' AND date = %s", (DAYS[0],))
    assert bar["close"].tolist() == [1]
    assert report.tables["ohlcv_data"].inserted == 299 and report.final_counts["ohlcv_data"] == 300


def test_holdings_skipped_without_etf_holdings_table(fresh_db, spock):
    wh = Warehouse(database_url=fresh_db)
    wh.execute("DROP TABLE etf_holdings CASCADE")
    report = li.run_import(spock, wh)
    assert report.tables["etf_holdings"].status == "skipped" and "etf_holdings" not in report.final_counts
    assert report.completed and report.final_counts["ohlcv_data"] == 300
    assert any("skipped" in n for n in report.notes)


def test_dagster_job(wh, spock):
    run_config = {"ops": {"import_legacy_database": {"config": {"sqlite_path": str(spock), "batch_rows": 100}}}}
    result = li.legacy_import_job.execute_in_process(run_config=run_config, resources={"warehouse": wh})
    assert result.success
    out = result.output_for_node("import_legacy_database")
    assert out["completed"] and out["final_counts"] == FINAL
    assert out["tables"]["ohlcv_data"]["rejected"]["null_close"] == 2
    mats = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    meta = mats[0].event_specific_data.metadata
    assert meta["ohlcv_data_imported"].value == 300 and meta["report"].value["completed"] is True

    dry = li.legacy_import_job.execute_in_process(
        run_config={"ops": {"import_legacy_database": {"config": {"sqlite_path": str(spock), "dry_run": True}}}},
        resources={"warehouse": wh})
    assert dry.success and dry.output_for_node("import_legacy_database")["dry_run"]
