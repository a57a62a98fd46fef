"""sql/029's narrow factor_scores_packed returns exactly what was computed, bit for bit.

The writer (factor_storage.write_day) stores percentiles as integer ranks and scores as four
numbers per cross-section only where the view recomputes the same float8 bits, else the float8
array; the migration converts rows of sql/019's layout in place. Compared here as float.hex (so
-0.0, NULL and every last bit count), through the real embedded PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import psycopg
import pytest

from quant_assets import migrations
from quant_assets.assets import factor_storage
from quant_assets.assets.factors import cross_section

DAY = dt.date(1990, 2, 1)
FALLBACK_DAY = dt.date(1990, 2, 2)
COLUMNS = ["date", "ticker", "region", "factor_name", "raw_value", "score", "percentile", "market", "market_score",
           "market_percentile"]


def exact(value):
    return value.hex() if isinstance(value, float) else value


def exact_rows(rows) -> list[tuple]:
    return sorted(tuple(exact(v) for v in r) for r in rows)


def partition(conn, table: str, day: dt.date) -> None:
    start = day.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table}_y{start.year}m{start.month:02d} PARTITION OF {table} "
                 f"FOR VALUES FROM ('{start}') TO ('{end}')")


def market_day(day: dt.date):
    """A cross-section with ties (two-decimal values, a constant factor), tickers without a
    market, a market too small for market scores, and a factor scoring only some tickers."""
    rng = np.random.default_rng(11)
    n = 700
    tickers = np.array([f"{i * 3:06d}" for i in range(n)], dtype=object)
    markets = np.array(["KOSPI" if i % 3 else "KOSDAQ" for i in range(n)], dtype=object)
    markets[::97] = None                    # no market
    markets[5:8] = "KONEX"                  # 3 names: too few for market_score
    values = {
        "mom_3": rng.normal(size=n),
        "dividend_yield": np.round(rng.uniform(0, 3, n), 1),     # heavy ties
        "value_ep": np.where(rng.random(n) < 0.3, np.nan, np.round(rng.uniform(0.01, 0.5, n), 2)),
        "size": np.full(n, 7.25),                                # all tied: sd = 0, scores 0
        "low_vol_60": -np.abs(rng.standard_t(2, n)) * 1e-3,      # fat tails: winsorised
    }
    return cross_section(day, tickers, markets, values)


def expected_rows(scored, region: str = "KR") -> list[tuple]:
    frame = scored.frame().assign(region=region)[COLUMNS]
    out = []
    for r in frame.itertuples(index=False):
        row = list(r)
        row[0] = row[0].date()
        row[7] = row[7] if isinstance(row[7], str) else None
        row = [None if isinstance(v, float) and np.isnan(v) else v for v in row]
        out.append(tuple(row))
    return exact_rows(out)


def view_rows(conn, day: dt.date) -> list[tuple]:
    return exact_rows(conn.execute(f"SELECT {', '.join(COLUMNS)} FROM factor_scores WHERE date = %s",
                                   (day,)).fetchall())


@pytest.fixture()
def conn(database_url):
    with psycopg.connect(database_url) as c:
        yield c
        c.rollback()


def test_writer_and_view_return_the_computed_values_bit_for_bit(conn):
    scored = market_day(DAY)
    partition(conn, "factor_scores_packed", DAY)
    with conn.transaction():
        written = factor_storage.write_day(conn, DAY, "KR", scored.packed())
    assert written == scored.rows
    assert view_rows(conn, DAY) == expected_rows(scored)
    # every column took its narrow form: ranks and four numbers per cross-section (per market)
    forms = conn.execute(
        "SELECT factor_name, scores IS NULL, percentiles IS NULL, market_scores IS NULL, market_percentiles IS NULL, "
        "bit_count(members), cardinality(raw_values) FROM factor_scores_packed WHERE date = %s ORDER BY 1",
        (DAY,)).fetchall()
    assert {f[0] for f in forms} == {"mom_3", "dividend_yield", "value_ep", "size", "low_vol_60"}
    assert all(all(f[1:5]) for f in forms), forms
    day_n = conn.execute("SELECT cardinality(tickers) FROM factor_score_days WHERE date = %s", (DAY,)).fetchone()[0]
    assert {f[6] for f in forms} == {day_n} and dict((f[0], f[5]) for f in forms)["value_ep"] < day_n
    # re-writing the day replaces it
    with conn.transaction():
        factor_storage.write_day(conn, DAY, "KR", scored.packed())
    assert view_rows(conn, DAY) == expected_rows(scored)


def test_values_that_do_not_round_trip_keep_their_float8_arrays(conn):
    """A day whose percentiles and scores are not what ranks and four numbers give back (here:
    one last bit changed) is stored in the float8 fallback columns and read back exactly."""
    scored = market_day(FALLBACK_DAY)
    f = scored.factors[0]
    f.percentile[3] = np.nextafter(f.percentile[3], 0)
    f.score[4] = np.nextafter(f.score[4], 10)
    g = scored.factors[1]
    rows = np.flatnonzero(~np.isnan(g.market_percentile))
    g.market_percentile[rows[0]] = np.nextafter(g.market_percentile[rows[0]], 0)
    g.market_score[rows[1]] = np.nextafter(g.market_score[rows[1]], 9)
    partition(conn, "factor_scores_packed", FALLBACK_DAY)
    with conn.transaction():
        factor_storage.write_day(conn, FALLBACK_DAY, "KR", scored.packed())
    assert view_rows(conn, FALLBACK_DAY) == expected_rows(scored)
    forms = dict((r[0], r[1:]) for r in conn.execute(
        "SELECT factor_name, percentile_ranks IS NULL, score_params IS NULL, market_percentile_ranks IS NULL, "
        "market_score_params IS NULL FROM factor_scores_packed WHERE date = %s", (FALLBACK_DAY,)))
    assert forms[f.name] == (True, True, False, False)
    assert forms[g.name] == (False, False, True, True)


def test_check_refuses_two_encodings_or_none(conn):
    partition(conn, "factor_scores_packed", DAY)
    conn.execute("INSERT INTO factor_score_days VALUES (%s, 'KR', '{000010}')", (DAY,))
    good = "B'1', '{KOSPI}', '{1}', '{1.0}', NULL, '{1,1,0,1}', NULL, '{2}', NULL, '{1,1,0,1}', NULL, '{2}', '{1}'"
    conn.execute(f"INSERT INTO factor_scores_packed VALUES (%s, 'KR', 'size', {good})", (DAY,))
    for bad in (good.replace("'{1.0}', NULL, '{1,1,0,1}'", "'{1.0}', '{0.0}', '{1,1,0,1}'"),   # both
                good.replace("NULL, '{2}', NULL", "NULL, NULL, NULL"),                          # neither
                good.replace("'{1.0}', NULL", "'{NaN}', NULL"),                                 # NaN element
                good.replace("'{2}', '{1}'", "'{0}', '{1}'")):                                  # 0 rank
        with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
            conn.execute(f"INSERT INTO factor_scores_packed VALUES (%s, 'KR', 'mom_3', {bad})", (DAY,))


OLD_ROW = ("INSERT INTO factor_scores_packed VALUES (%s, 'KR', %s, %s::varchar(20)[], %s, %s::smallint[], "
           "%s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::float8[])")
REFERENCE_019 = """
SELECT p.date, u.ticker::varchar(20) AS ticker, p.region, p.factor_name, u.raw_value, u.score, u.percentile,
       p.markets[u.market_code] AS market, u.market_score, u.market_percentile
FROM factor_scores_packed p
CROSS JOIN LATERAL unnest(p.tickers, p.market_codes, p.raw_values, p.scores, p.percentiles, p.market_scores,
                          p.market_percentiles)
    AS u(ticker, market_code, raw_value, score, percentile, market_score, market_percentile)"""


def sql_upto(tmp_path, upto: int):
    out = tmp_path / f"sql{upto}"
    out.mkdir()
    for p in sorted(migrations.SQL_DIR.glob("*.sql")):
        if int(p.name[:3]) <= upto:
            shutil.copy(p, out / p.name)
    return out


def test_migration_converts_stored_rows_exactly(fresh_db, tmp_path):
    """Rows in sql/019/026's layout (as the former writer stored them: NULL elements, an empty
    cross-section, ties, tickers in different factors, percentiles that are and are not ranks)
    read back identically after sql/029, which keeps ranks only where they round-trip."""
    migrations.migrate(fresh_db, sql_dir=sql_upto(tmp_path, 28))
    scored = market_day(DAY)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        partition(conn, "factor_scores_packed", DAY)
        for i, f in enumerate(scored.packed()):
            pct = f.percentiles.copy()
            if i == 1:
                pct[2] = np.nextafter(pct[2], 0)  # not a rank / n any more: stays float8
            values = [[None if np.isnan(v) else float(v) for v in a]
                      for a in (f.raw_values, f.scores, pct, f.market_scores, f.market_percentiles)]
            if i == 2:
                values[0][0] = None  # a NULL raw_value element of a member
            conn.execute(OLD_ROW, (DAY, f.name, list(f.tickers), f.markets,
                                   [int(c) or None for c in f.market_codes], *values))
        conn.execute(OLD_ROW, (DAY, "mom_6_1", [], [], [], [], [], [], [], []))
        conn.execute(OLD_ROW, (DAY, "liquidity_60", ["999999", "000003"], ["KOSPI"], [1, None],
                               [1.5, -2.0], [1.0, -1.0], [100.0, 50.0], [None, None], [None, None]))
        before = exact_rows(conn.execute(REFERENCE_019).fetchall())
        types_before = conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                                    "WHERE attrelid = 'factor_scores'::regclass AND attnum > 0 ORDER BY attnum").fetchall()
    migrations.migrate(fresh_db, sql_dir=sql_upto(tmp_path, 29))
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        after = exact_rows(conn.execute(f"SELECT {', '.join(COLUMNS)} FROM factor_scores").fetchall())
        assert len(after) == len(before) == scored.rows + 2
        assert after == before
        types_after = conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                                   "WHERE attrelid = 'factor_scores'::regclass AND attnum > 0 ORDER BY attnum").fetchall()
        assert types_after == types_before
        ranks = dict(conn.execute("SELECT factor_name, percentile_ranks IS NOT NULL FROM factor_scores_packed"))
        names = [f.name for f in scored.packed()]
        assert ranks[names[0]] and not ranks[names[1]] and ranks["mom_6_1"] and ranks["liquidity_60"]
        parts = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'factor_scores_packed'::regclass "
                             "AND inhrelid = 'factor_scores_packed_y1990m02'::regclass").fetchone()[0]
        assert parts == 1
        # the new writer replaces a converted day
        with conn.transaction():
            factor_storage.write_day(conn, DAY, "KR", scored.packed())
        assert view_rows(conn, DAY) == expected_rows(scored)


def test_storage_report_counts_factor_scores_rows_and_bytes(fresh_db):
    """`quant storage` reports factor_scores (a view) per month: the view's row count and the
    packed partition plus its share of the day table's bytes."""
    from quant_assets.storage import storage_report

    migrations.migrate(fresh_db)
    scored = market_day(DAY)
    with psycopg.connect(fresh_db) as conn:
        partition(conn, "factor_scores_packed", DAY)
        factor_storage.write_day(conn, DAY, "KR", scored.packed())
    with psycopg.connect(fresh_db) as conn:
        part, days = conn.execute("SELECT pg_total_relation_size('factor_scores_packed_y1990m02'), "
                                  "pg_total_relation_size('factor_score_days')").fetchone()
    [entry] = storage_report(fresh_db, ("factor_scores",))
    assert (entry["table"], entry["period"], entry["state"]) == ("factor_scores", "1990-02", "hot")
    assert entry["rows"] == scored.rows
    assert entry["raw_bytes"] == part + days      # the only month holds the whole day table
