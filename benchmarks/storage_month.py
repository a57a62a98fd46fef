"""One real month through the compacted layout: `python -m benchmarks.storage_month URL TABLE MONTH`.

benchmarks/storage.py measures synthetic data (random indicator floats, random weights); what the
encodings achieve depends on the values, so this takes one month of `TABLE` from a warehouse that
has real (simulated) data — e.g. the one `benchmarks.history --keep` leaves —, copies it into a
scratch month-partitioned table `exp_<table>` (same columns, the table's key and date index, fresh:
no bloat), converts and compacts that copy with the current layout code, and prints:

* bytes per row of the fresh row layout vs the cold table (heap, TOAST, indexes, day table);
* `storage_periods.compacted_bytes` (what `quant storage` reports);
* per cold column: how many cold rows chose it and its bytes per row — which encoding each value
  column got (layout/encoding.py);
* whether every row reads back identical (text of the whole row, all columns, and format_type()).

The scratch objects are dropped first and left behind afterwards for inspection.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import time

import psycopg

from quant_assets.storage import compaction, layout


def drop(conn: psycopg.Connection, spec: layout.Spec) -> None:
    for name in (spec.table, spec.hot):
        kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = %s", (name,)).fetchone()
        if kind:
            conn.execute(f"DROP {'VIEW' if kind[0] == 'v' else 'TABLE'} {name} CASCADE")
    conn.execute(f"DROP TABLE IF EXISTS {spec.cold}, {spec.days} CASCADE")
    for fn in (spec.compact_fn, spec.uncompact_fn, spec.write_fn):
        conn.execute(f"DROP FUNCTION IF EXISTS {fn} CASCADE")
    conn.execute("DELETE FROM storage_periods WHERE table_name = %s", (spec.table,))
    conn.execute("DELETE FROM storage_layouts WHERE table_name = %s", (spec.table,))


def fingerprint(conn: psycopg.Connection, rel: str, spec: layout.Spec, month: dt.date, nxt: dt.date) -> tuple:
    rows = conn.execute(f"SELECT md5(string_agg(x::text, '|' ORDER BY x::text)), count(*) FROM {rel} x "
                        f"WHERE {spec.date_col} >= %s AND {spec.date_col} < %s", (month, nxt)).fetchone()
    types = conn.execute("SELECT array_agg(format_type(atttypid, atttypmod) ORDER BY attnum) FROM pg_attribute "
                         "WHERE attrelid = %s::regclass AND attnum > 0", (rel,)).fetchone()
    return rows, types


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("table", choices=list(layout.SPECS))
    ap.add_argument("month", type=dt.date.fromisoformat, help="first day of the month, e.g. 2026-06-01")
    args = ap.parse_args(argv)
    base = layout.SPECS[args.table]
    name = f"exp_{args.table}"
    spec = dataclasses.replace(base, table=name, hot=f"{name}_hot", cold=f"{name}_cold")
    month = args.month.replace(day=1)
    nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    with psycopg.connect(args.url, autocommit=True) as conn:
        drop(conn, spec)
        conn.execute(f"CREATE TABLE {name} (LIKE {args.table} INCLUDING DEFAULTS) PARTITION BY RANGE ({spec.date_col})")
        conn.execute(f"ALTER TABLE {name} ADD PRIMARY KEY ({', '.join(spec.key)})")
        conn.execute(f"CREATE INDEX ON {name} ({spec.date_col})")
        conn.execute(f"CREATE TABLE {name}_m PARTITION OF {name} FOR VALUES FROM ('{month}') TO ('{nxt}')")
        conn.execute(f"INSERT INTO {name} SELECT * FROM {args.table} WHERE {spec.date_col} >= %s "
                     f"AND {spec.date_col} < %s", (month, nxt))
        conn.execute(f"VACUUM ANALYZE {name}")
        rows = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        raw = conn.execute(f"SELECT pg_total_relation_size('{name}_m')").fetchone()[0]
        reference = fingerprint(conn, args.table, spec, month, nxt)
        with conn.transaction():
            layout.convert(conn, spec)
    t = time.perf_counter()
    compaction.compact_table(args.url, spec, nxt)
    seconds = time.perf_counter() - t
    with psycopg.connect(args.url, autocommit=True) as conn:
        total, heap, idx, cold_rows = conn.execute(
            f"SELECT pg_total_relation_size('{spec.cold}') + pg_total_relation_size('{spec.days}'), "
            f"pg_relation_size('{spec.cold}'), pg_indexes_size('{spec.cold}'), (SELECT count(*) FROM {spec.cold})"
        ).fetchone()
        reported = conn.execute("SELECT compacted_bytes FROM storage_periods WHERE table_name = %s", (name,)).fetchone()
        same = fingerprint(conn, name, spec, month, nxt) == reference
        print(f"{args.table} {month:%Y-%m}: {rows:,} rows; row layout {raw:,} B ({raw / rows:.1f} B/row) -> "
              f"cold {total:,} B ({total / rows:.1f} B/row; heap {heap:,}, indexes {idx:,}; {cold_rows:,} cold rows, "
              f"{heap / max(cold_rows, 1):.0f} B of heap each) = {100 * (1 - total / raw):.1f}% smaller; "
              f"storage_periods.compacted_bytes {reported[0] if reported else None:,}; compacted in {seconds:.1f} s; "
              f"identical rows and types: {same}")
        attrs = [r[0] for r in conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
                                            "AND attnum > 0 AND NOT attisdropped", (spec.cold,)).fetchall()]
        used = []
        for a in attrs:
            n, b = conn.execute(f"SELECT count(*) FILTER (WHERE {a} IS NOT NULL), coalesce(sum(pg_column_size({a})), 0) "
                                f"FROM {spec.cold}").fetchone()
            if n:
                used.append((b, a, n))
        for b, a, n in sorted(used, reverse=True):
            print(f"  {a:30} {n:7,} cold rows {b / rows:7.2f} B/row")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
