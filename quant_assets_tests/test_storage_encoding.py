"""The narrow encodings of compacted months (quant_assets/storage/encoding.py) are exact.

A scratch month-partitioned table with one column per kind (bigint, integer, numeric at two
scales, float8, text, real) holds rows made to hit every branch: values that fit int2/int4, values
that do not (2^31 and beyond, numeric beyond int8 once scaled), non-integral numerics, float8
values that do and do not round-trip through v * 10^4 (1/3, NaN, -0, Infinity), constants, NULLs
and missing days. Compacting it must return every row as text exactly as before (types and
typmods included), and each row must have taken the encoding its values allow.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from quant_assets.storage import compaction, layout
from quant_assets_tests.scratch_db import scratch_databases

SPEC = layout.Spec(
    table="enc_t", hot="enc_t_hot", cold="enc_t_cold", date_col="date", group=("k",),
    key=("k", "region", "date"), present="n", indexes=(("k", "region", "month"),), layout="test")

ROWS = """
INSERT INTO enc_t (date, region, k, b, i, n, p, f, t, r)
SELECT d, 'KR', k.k,
       CASE k.k WHEN 'narrow' THEN (x % 300)::bigint WHEN 'wide' THEN 3000000000 + x WHEN 'const' THEN 77
                WHEN 'mixed' THEN CASE WHEN x = 3 THEN 9223372036854775807 ELSE x END END,
       CASE k.k WHEN 'narrow' THEN x WHEN 'wide' THEN 2000000000 + x END,
       CASE k.k WHEN 'narrow' THEN 1000 + x WHEN 'wide' THEN 123456789.1234 + x
                WHEN 'const' THEN 5 WHEN 'nulls' THEN 1
                WHEN 'mixed' THEN CASE WHEN x = 2 THEN 'NaN'::numeric ELSE 1e15 + x END END,
       CASE k.k WHEN 'narrow' THEN x * 0.01 WHEN 'wide' THEN 99999900.99 + x WHEN 'const' THEN -1.5 END,
       CASE k.k WHEN 'narrow' THEN x * 0.25 + 1000.1 WHEN 'wide' THEN 1.0 / 3 + x
                WHEN 'const' THEN 12345678.5 WHEN 'nulls' THEN NULL
                WHEN 'mixed' THEN CASE x % 3 WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN '-0'::float8
                                  ELSE 'Infinity'::float8 END END,
       CASE k.k WHEN 'const' THEN 'same' WHEN 'nulls' THEN NULL ELSE 'v' || x END,
       CASE WHEN k.k <> 'nulls' THEN x / 7.0 END
  FROM generate_series(DATE '2024-01-01', DATE '2024-02-29', INTERVAL '1 day') d
 CROSS JOIN LATERAL (SELECT extract(day FROM d)::int AS x) x
 CROSS JOIN (VALUES ('narrow'), ('wide'), ('const'), ('nulls'), ('mixed')) k (k)
 WHERE extract(isodow FROM d) < 6 AND NOT (k.k = 'nulls' AND x % 4 = 0)
"""


@pytest.fixture(scope="module")
def url(database_url):
    with scratch_databases(database_url, "storage_enc") as (u,):
        with psycopg.connect(u, autocommit=True) as conn:
            conn.execute("""CREATE TABLE enc_t (date date NOT NULL, region varchar(2) NOT NULL, k text NOT NULL,
                            b bigint, i integer, n numeric(20,4) NOT NULL, p numeric(10,2), f double precision,
                            t text, r real, PRIMARY KEY (k, region, date)) PARTITION BY RANGE (date)""")
            conn.execute("CREATE TABLE enc_t_y2024m01 PARTITION OF enc_t FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')")
            conn.execute("CREATE TABLE enc_t_y2024m02 PARTITION OF enc_t FOR VALUES FROM ('2024-02-01') TO ('2024-03-01')")
            conn.execute(ROWS)
        yield u


def snapshot(url: str) -> tuple[list, list]:
    with psycopg.connect(url) as conn:
        rows = [r[0] for r in conn.execute("SELECT e::text FROM enc_t e ORDER BY k, date").fetchall()]
        types = conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                             "WHERE attrelid = 'enc_t'::regclass AND attnum > 0 ORDER BY attnum").fetchall()
    return rows, types


def chosen(url: str, k: str, column: str) -> str | None:
    """Suffix of the cold column holding `column` for group `k` in January (None: all NULL)."""
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'enc_t_cold'::regclass AND attnum > 0 "
            "AND (attname = %s OR attname LIKE %s)", (column, f"{column}\\_%")).fetchall()]
        row = conn.execute(f"SELECT {', '.join(f'{n} IS NOT NULL' for n in names)} FROM enc_t_cold "
                           "WHERE k = %s AND month = '2024-01-01'", (k,)).fetchone()
    set_ = [n[len(column):] for n, isset in zip(names, row, strict=True) if isset]
    assert len(set_) <= 1, (k, column, set_)
    return set_[0] if set_ else None


def test_every_encoding_round_trips_exactly(url):
    before = snapshot(url)
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        assert layout.convert(conn, SPEC)
    result = compaction.compact_table(url, SPEC, dt.date(2024, 3, 1))
    assert {p["period"] for p in result["periods"]} == {"2024-01-01", "2024-02-01"}
    assert snapshot(url) == before
    expect = {
        ("narrow", "b"): "_s2", ("wide", "b"): "", ("const", "b"): "_k",
        ("mixed", "b"): "", ("nulls", "b"): None,
        ("narrow", "i"): "_s2", ("wide", "i"): "",
        ("narrow", "n"): "_u4", ("wide", "n"): "_s8", ("const", "n"): "_u4", ("mixed", "n"): "",
        ("narrow", "p"): "_s2", ("wide", "p"): "_s8", ("const", "p"): "_k",
        ("narrow", "f"): "_s4", ("wide", "f"): "", ("const", "f"): "_s8", ("mixed", "f"): "",
        ("nulls", "f"): None, ("const", "t"): "_k", ("narrow", "t"): "", ("narrow", "r"): "",
    }
    got = {key: chosen(url, *key) for key in expect}
    assert got == expect
    with psycopg.connect(url) as conn:      # the honest size is at least the rows' own bytes
        for rows, compacted in conn.execute("SELECT rows, compacted_bytes FROM storage_periods "
                                            "WHERE table_name = 'enc_t'").fetchall():
            assert rows > 0 and compacted > 0
    with psycopg.connect(url) as conn, conn.transaction():      # a write un-compacts its month
        conn.execute("UPDATE enc_t SET f = 0.1 WHERE k = 'wide' AND date = '2024-02-01'")
        assert conn.execute("SELECT count(*) FROM storage_periods WHERE table_name = 'enc_t'").fetchone()[0] == 1
    rows, _ = snapshot(url)
    assert len(rows) == len(before[0]) and rows != before[0]
