"""`ticker_fundamentals` compacts transparently (storage/specs.py FUNDAMENTALS), and its writers
(stock_fundamentals' DAILY day replace, financial_statements' upsert) work on the compacted view
with the same result as on the plain table.

Two scratch databases on the real embedded server get the same rows and the same writes through
the writers' own code paths (Warehouse.replace_partitions as stock_fundamentals calls it,
statements.write); one of them is compacted. Every read must answer the same at every step: after
compacting, after a corrected DAILY day and a restated quarter in compacted months (which
un-compacts exactly those months), after a re-run of the same writes (idempotent: no row changes,
created_at included, and no month is un-compacted for it), after compacting again.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg
import pytest

from quant_assets.assets import factors, fundamentals, statements
from quant_assets.resources.warehouse import PartitionWrite, Warehouse
from quant_assets.storage import compact_closed_periods, layout, uncompact_period
from quant_assets_tests.scratch_db import scratch_databases

TABLE = "ticker_fundamentals"
TICKERS = [f"{t:06d}" for t in range(1, 31)]
DAYS = [d for d in (dt.date(2024, 1, 2) + dt.timedelta(days=i) for i in range(118)) if d.weekday() < 5]
BEFORE = dt.date(2024, 4, 1)                       # Dec 2023 (statements), Jan-Mar 2024 closed; April hot
QUARTER_ENDS = [dt.date(2023, 12, 31), dt.date(2024, 3, 31)]   # not trading days: extra days of their months
PARTS = [dt.date(2023, 10, 1), dt.date(2024, 1, 1)]   # statement quarters of the rows
CLOSED = {dt.date(2023, 12, 1), dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)}


def daily_frame(day: dt.date, bump: float = 0.0, drop: str | None = None) -> pd.DataFrame:
    """A KRX MDCSTAT03501 day as parse_stock_fundamentals gives it, through fundamentals.daily_rows:
    NaN PER for loss makers, a missing close, values at the columns' scales."""
    i = DAYS.index(day) + 1
    rows = []
    for n, t in enumerate(TICKERS, 1):
        if t == drop or (n == 30 and i < 30):       # listed in February
            continue
        eps = float("nan") if n % 7 == 0 else round(100 + n * 3.17 + bump, 2)
        rows.append({"ticker": t, "date": pd.Timestamp(day), "eps": eps,
                     "per": float("nan") if n % 7 == 0 else round(10 + (n * i) % 13 * 0.37, 2),
                     "bps": 5000.0 + n, "pbr": round(0.5 + (n + i) % 9 * 0.11, 2),
                     "dps": float("nan") if n % 4 == 0 else 250.0,
                     "dividend_yield": float("nan") if n % 4 == 0 else round(1 + (n * i) % 17 * 0.05, 2),
                     "close": float("nan") if (n == 5 and i == 3) else 10000.0 + n * 10 + i})
    return fundamentals.daily_rows(pd.DataFrame(rows))


def write_day(wh: Warehouse, day: dt.date, frame: pd.DataFrame) -> None:
    """What stock_fundamentals' process_day writes for one day (same PartitionWrite)."""
    wh.replace_partitions([PartitionWrite(
        TABLE, frame, where={"region": "KR", "period_type": "DAILY", "date": day},
        status=("stock_fundamentals", day, fundamentals.SOURCE), encoded=wh.encode(TABLE, frame))])


def statement_frame(restated: int = 0) -> pd.DataFrame:
    """KIS statement rows (statements.write's frame): FY2023 and its Q4 at 2023-12-31, 2024 Q1 at
    2024-03-31; `restated` adds to 2024 Q1 revenue of the first ticker."""
    rows = []
    for n, t in enumerate(TICKERS[:20], 1):
        for pt, day, fy, fq, scale in (("ANNUAL", QUARTER_ENDS[0], 2023, None, 4),
                                       ("QUARTERLY", QUARTER_ENDS[0], 2023, 4, 1),
                                       ("QUARTERLY", QUARTER_ENDS[1], 2024, 1, 1)):
            rev = (1000 + n) * 10 ** 8 * scale + (restated if (n == 1 and day == QUARTER_ENDS[1]) else 0)
            rows.append({"ticker": t, "region": "KR", "date": pd.Timestamp(day), "period_type": pt,
                         "fiscal_year": fy, "fiscal_quarter": fq, "revenue": rev, "cogs": rev // 2,
                         "gross_profit": rev - rev // 2, "operating_profit": rev // 10, "net_income": rev // 20,
                         "total_assets": 9 * 10 ** 11 + n, "total_liabilities": 4 * 10 ** 11,
                         "total_equity": 5 * 10 ** 11 + n, "current_assets": None if n % 5 == 0 else 10 ** 11,
                         "current_liabilities": 10 ** 10, "roe": round(5 + n * 0.1234, 4),
                         "debt_ratio": 80.0 + n / 8, "eps": round(123.45 * scale + n, 2), "bps": 5000.0 + n,
                         "currency": "KRW", "data_source": "KIS"})
    frame = pd.DataFrame(rows)[list(statements.KF.COLUMNS)]
    for c in ("fiscal_year", "fiscal_quarter", "revenue", "cogs", "gross_profit", "operating_profit", "net_income",
              "total_assets", "total_liabilities", "total_equity", "current_assets", "current_liabilities"):
        frame[c] = frame[c].astype("Int64")
    return frame


def load(url: str) -> None:
    wh = Warehouse(database_url=url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO tickers (ticker, name, region, exchange, asset_type, currency) "
                     "SELECT t, 'T' || t, 'KR', 'KOSPI', 'STOCK', 'KRW' FROM unnest(%s::text[]) t", (TICKERS,))
    for day in DAYS:
        write_day(wh, day, daily_frame(day))
    statements.write(wh, statement_frame(), PARTS)
    # a statement row another source wrote first, with columns KIS does not send (kept by the upsert)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE ticker_fundamentals SET psr = 1.25, close_price = 777, shares_outstanding = 123456 "
                     "WHERE ticker = '000002' AND period_type = 'QUARTERLY' AND date = '2024-03-31'")
        conn.execute("ANALYZE")


@pytest.fixture(scope="module")
def pair(database_url):
    with scratch_databases(database_url, "fund", 2) as urls:
        for url in urls:
            load(url)
        yield tuple(urls)


# every column but created_at (each database's writes have their own now())
COLS = "ticker, region, date, period_type, fiscal_year, fiscal_quarter, shares_outstanding, market_cap, " \
       "close_price, eps, bps, per, pbr, psr, pcr, ev, ev_ebitda, dividend_per_share, dividend_yield, revenue, " \
       "cogs, gross_profit, operating_profit, net_income, total_assets, total_liabilities, total_equity, " \
       "current_assets, current_liabilities, roe, debt_ratio, currency, data_source"


def queries() -> list[tuple[str, str, dict]]:
    p = {"region": "KR", "start": dt.date(2024, 1, 1), "day": dt.date(2024, 3, 15), "tol": 4 * statements.KF.EOK}
    return [
        ("everything", f"SELECT {COLS} FROM ticker_fundamentals", p),
        ("factors.FUNDAMENTALS_SQL", factors.FUNDAMENTALS_SQL, p),
        ("statements.ADD_UP_SQL", statements.ADD_UP_SQL, p),
        ("one date", f"SELECT {COLS} FROM ticker_fundamentals WHERE region = 'KR' AND date = %(day)s", p),
        ("one ticker", f"SELECT {COLS} FROM ticker_fundamentals WHERE ticker = '000003' AND region = 'KR'", p),
        ("fiscal lookup", "SELECT ticker, period_type, date, revenue, psr FROM ticker_fundamentals "
         "WHERE ticker = '000002' AND region = 'KR' AND fiscal_year = 2024 AND period_type = 'QUARTERLY'", p),
        ("quarter end", f"SELECT {COLS} FROM ticker_fundamentals WHERE date = '2024-03-31'", p),
        ("typed", "SELECT pg_typeof(eps)::text, pg_typeof(revenue)::text, pg_typeof(currency)::text, "
         "pg_typeof(created_at)::text, count(*) FROM ticker_fundamentals GROUP BY 1, 2, 3, 4", p),
        ("latest daily", "SELECT max(date) FROM ticker_fundamentals WHERE period_type = 'DAILY' AND date < %(day)s", p),
    ]


def answers(url: str) -> dict[str, list]:
    out = {}
    with psycopg.connect(url) as conn:
        for name, sql, params in queries():
            out[name] = sorted(map(repr, conn.execute(sql, params).fetchall()))
    return out


def assert_same(ref: str, cmp: str, step: str) -> None:
    a, b = answers(ref), answers(cmp)
    assert [k for k in a if a[k] != b[k]] == [], step
    assert all(a[k] for k in a), (step, [k for k in a if not a[k]])


def snapshot(url: str) -> list:
    """Every row with created_at (exactly what a re-run must not change)."""
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT {COLS}, created_at FROM ticker_fundamentals "
                            "ORDER BY ticker, period_type, date").fetchall()


def cold(url: str) -> set:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            "SELECT period FROM storage_periods WHERE table_name = 'ticker_fundamentals'").fetchall()}


def test_compaction_and_writers_are_transparent(pair):
    ref, cmp = pair
    result = compact_closed_periods(cmp, before=BEFORE, tables=(TABLE,))
    assert result["tables"][TABLE]["converted"]
    assert cold(cmp) == CLOSED
    with psycopg.connect(cmp) as conn:
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'ticker_fundamentals'").fetchone()[0] == "v"
        assert conn.execute("SELECT count(*) FROM ticker_fundamentals_hot WHERE date < %s",
                            (BEFORE,)).fetchone()[0] == 0
        # fiscal period ends are days of their months; statement rows are cold rows of their own
        assert conn.execute("SELECT count(*) FROM ticker_fundamentals_cold_days WHERE date = ANY(%s)",
                            (QUARTER_ENDS,)).fetchone()[0] == 2
        assert {r[0] for r in conn.execute("SELECT DISTINCT period_type FROM ticker_fundamentals_cold")} == {
            "DAILY", "ANNUAL", "QUARTERLY"}
        # constant columns folded to one scalar per cold row
        assert conn.execute("SELECT count(*) FROM ticker_fundamentals_cold WHERE data_source_k IS NULL "
                            "OR currency_k IS NULL").fetchone()[0] == 0
    assert_same(ref, cmp, "after compaction")
    assert compact_closed_periods(cmp, before=BEFORE, tables=(TABLE,))["tables"][TABLE]["rows"] == 0

    # Re-running the writers with the data already stored: no row changes (created_at included), and
    # on the view nothing is un-compacted (the weekly refresh of unchanged quarters stays cheap).
    before = {u: snapshot(u) for u in pair}
    for url in pair:
        wh = Warehouse(database_url=url)
        statements.write(wh, statement_frame(), PARTS)
    assert {u: snapshot(u) for u in pair} == before
    assert cold(cmp) == CLOSED

    # Corrections in compacted months, the same in both: a DAILY day as KRX republishes it (one
    # stock gone, EPS revised) and a restated quarter (2024 Q1, March) through the statements upsert.
    feb = dt.date(2024, 2, 14)
    for url in pair:
        wh = Warehouse(database_url=url)
        write_day(wh, feb, daily_frame(feb, bump=0.5, drop="000011"))
        statements.write(wh, statement_frame(restated=3 * 10 ** 8), PARTS)
    assert cold(cmp) == CLOSED - {dt.date(2024, 2, 1), dt.date(2024, 3, 1)}
    assert_same(ref, cmp, "after correcting compacted months")
    for url in pair:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT revenue, psr, close_price, shares_outstanding FROM ticker_fundamentals "
                               "WHERE ticker = '000001' AND period_type = 'QUARTERLY' AND date = '2024-03-31'"
                               ).fetchone()
            assert row == (1001 * 10 ** 8 + 3 * 10 ** 8, None, None, None)
            kept = conn.execute("SELECT psr::text, close_price::text, shares_outstanding, revenue FROM ticker_fundamentals "
                                "WHERE ticker = '000002' AND period_type = 'QUARTERLY' AND date = '2024-03-31'"
                                ).fetchone()
            assert kept == ("1.25", "777.0000", 123456, 1002 * 10 ** 8)   # KIS's columns set, the others kept
            assert conn.execute("SELECT count(*) FROM ticker_fundamentals WHERE date = %s AND ticker = '000011'",
                                (feb,)).fetchone()[0] == 0

    # A re-run of the corrections: idempotent on both forms.
    before = {u: snapshot(u) for u in pair}
    for url in pair:
        wh = Warehouse(database_url=url)
        write_day(wh, feb, daily_frame(feb, bump=0.5, drop="000011"))
        statements.write(wh, statement_frame(restated=3 * 10 ** 8), PARTS)
    after = {u: snapshot(u) for u in pair}
    for u in pair:   # the replaced day has the new transaction's created_at; nothing else moves
        strip = [r for r in before[u] if r[2] != feb]
        assert [r for r in after[u] if r[2] != feb] == strip
        assert [r[:-1] for r in after[u] if r[2] == feb] == [r[:-1] for r in before[u] if r[2] == feb]
    assert_same(ref, cmp, "after re-running the corrections")

    # A hot day (April) goes straight into the hot table; a new statement row in a compacted month
    # (a new key: the anti-join INSERT) un-compacts it.
    with psycopg.connect(cmp) as conn:
        assert layout.write_target(conn, TABLE, {"region": "KR", "period_type": "DAILY",
                                                 "date": dt.date(2024, 4, 10)}) == "ticker_fundamentals_hot"
    extra = statement_frame().iloc[:1].assign(ticker="000029", date=pd.Timestamp("2024-01-31"), period_type="ANNUAL",
                                             fiscal_quarter=pd.array([None], dtype="Int64"))
    for url in pair:
        wh = Warehouse(database_url=url)
        write_day(wh, dt.date(2024, 4, 10), daily_frame(dt.date(2024, 4, 10), bump=1.0))
        statements.write(wh, extra, PARTS)
    assert cold(cmp) == {dt.date(2023, 12, 1)}
    assert_same(ref, cmp, "after a new key in a compacted month")

    assert uncompact_period(cmp, TABLE, dt.date(2023, 12, 1))["rows"] == 40   # FY2023 + Q4 of 20 stocks
    assert_same(ref, cmp, "after un-compacting")
    again = compact_closed_periods(cmp, before=BEFORE, tables=(TABLE,))["tables"][TABLE]
    assert {p["period"] for p in again["periods"]} == {m.isoformat() for m in CLOSED}
    assert cold(cmp) == CLOSED
    assert_same(ref, cmp, "after compacting again")
    # still the same rows after the round trips, created_at included, in the compacted database
    before = snapshot(cmp)
    statements.write(Warehouse(database_url=cmp), statement_frame(restated=3 * 10 ** 8), PARTS)
    assert snapshot(cmp) == before and cold(cmp) == CLOSED


def test_upsert_sql_has_no_on_conflict():
    text = " ".join(statements.upsert_sql(list(statements.KF.COLUMNS)))
    assert "ON CONFLICT" not in text.upper()
    assert "IS DISTINCT FROM" in text
