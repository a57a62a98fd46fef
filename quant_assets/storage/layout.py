"""The compacted layout of a seed-named time-series table, generated from its catalogue.

Why generated and why lazily: the seed contract (docs/seed_contract.md, test_seed_contract.py)
inspects `ohlcv_data` as a month-partitioned table with its named indexes. A database that never
compacts keeps exactly that. The first `quant storage compact` converts the table:

* the partitioned table is renamed to its *hot* name (`ohlcv_hot`; partitions and indexes keep
  their names, so `ohlcv_data_pkey` still serves the seeds' lookups);
* closed months move to a *cold* table, one row per (region, month, ticker, timeframe, asset_type)
  whose value columns are arrays aligned to the month's trading days (`<cold>_days`: day index
  -> date). Aligning to a calendar instead of storing a `date[]` per row is what makes both access
  paths cheap: "one date of all tickers" looks the date up in `<cold>_days` and reads element `idx`
  of each ticker's row of that month (no unnest, no scan of other months); "one ticker's ten years"
  reads that ticker's ~120 rows through the (ticker, region, month) index;
* the seed name becomes a view `hot UNION ALL cold-expanded` with the same columns, types
  (typmods included), defaults and comments, and INSTEAD OF triggers: a write that touches a
  compacted month (correction, re-run, technical_analysis UPDATE) first un-compacts that month
  (`storage_<t>_uncompact`), then applies to the hot table. Views that read the table
  (`ohlcv_adjusted`, ...) are re-created on the view so they keep seeing every row.

Everything here is SQL text built from the catalogue, so the tests can read it and the same text
runs in the migration-free conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from quant_assets.storage import encoding
from quant_assets.storage.specs import (
    ETF_AUM,
    ETF_DAILY,
    ETF_TRACKING,
    HOLDINGS,
    OHLCV,
    RANGE_52W,
    SPECS,
    Spec,
)

__all__ = ["ETF_AUM", "ETF_DAILY", "ETF_TRACKING", "HOLDINGS", "OHLCV", "RANGE_52W", "SPECS", "Spec"]


@dataclass(frozen=True)
class Column:
    name: str
    type: str                       # format_type(), typmod included
    notnull: bool
    default: str | None
    comment: str | None


def columns(conn: psycopg.Connection, relation: str) -> list[Column]:
    return [Column(*r) for r in conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), "
        "       col_description(a.attrelid, a.attnum) "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (relation,)).fetchall()]


def is_converted(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM storage_layouts WHERE table_name = %s", (table,)).fetchone() is not None


def partition_parent(conn: psycopg.Connection, table: str) -> str:
    """The relation new month partitions of `table` attach to: itself, or its hot table once
    `table` is a compacted view (Warehouse.ensure_month_partitions asks this)."""
    row = conn.execute("SELECT hot_table FROM storage_layouts WHERE table_name = %s", (table,)).fetchone()
    return row[0] if row else table


def write_target(conn: psycopg.Connection, table: str, where: dict) -> str:
    """The relation a DELETE + COPY of the rows `where` selects should address, in the writer's
    transaction (Warehouse.replace_partitions asks this).

    A compacted table's view writes row by row through its INSTEAD OF trigger (~4x slower for a
    full-market day). When no month `where` touches is compacted, the hot table takes the write
    directly; the months' storage locks are held to commit, so a compaction of them waits for the
    write instead of moving rows it did not see. Otherwise (or when `where` does not name the
    region and day range) the view, whose trigger un-compacts the month in this transaction.
    """
    spec = SPECS.get(table)
    value = where.get(spec.date_col) if spec else None
    if spec is None or value is None or "region" not in where or not is_converted(conn, table):
        return table
    first, last = value if isinstance(value, tuple) else (value, value)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('storage:' || %s || ':' || %s || ':' || m::date)) "
                 "FROM generate_series(date_trunc('month', %s::date), %s::date, interval '1 month') m",
                 (table, where["region"], first, last))
    compacted = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM storage_periods WHERE table_name = %s AND region = %s "
        "AND period BETWEEN date_trunc('month', %s::date) AND %s::date)",
        (table, where["region"], first, last)).fetchone()[0]
    if compacted:
        return table
    # Compaction drops a month partition it emptied (compaction.py) under an ACCESS EXCLUSIVE lock
    # of the hot table: this lock makes it wait for the write, and a month dropped before it (a
    # region writing into a month the others compacted) is created again here.
    # (sql/032: created and attached without blocking the view's readers until this commits)
    conn.execute(f"LOCK TABLE {spec.hot} IN ROW EXCLUSIVE MODE")
    conn.execute(
        f"SELECT storage_month_partition(%s, {partition_name_sql(spec, 'm')}, m::date) "
        "FROM generate_series(date_trunc('month', %s::date), %s::date, interval '1 month') m "
        f"WHERE to_regclass({partition_name_sql(spec, 'm')}) IS NULL", (spec.hot, first, last))
    return spec.hot


def value_columns(spec: Spec, cols: list[Column]) -> list[Column]:
    scalar = {"region", spec.date_col, *spec.group}
    return [c for c in cols if c.name not in scalar]


def column_encodings(spec: Spec, cols: list[Column]) -> dict[str, list[encoding.Encoding]]:
    """Value column -> its encodings (encoding.py), most compact first."""
    return {c.name: encoding.encodings(c.name, c.type, spec.present, c.name == spec.present)
            for c in value_columns(spec, cols)}


def cold_select(spec: Spec, cols: list[Column], where: str = "") -> str:
    """The cold rows in the table's column order (the view's second branch)."""
    encs = column_encodings(spec, cols)
    items = []
    for c in cols:
        if c.name == spec.date_col:
            items.append(f"d.date AS {c.name}")
        elif c.name in encs:
            items.append(f"{encoding.decode(c.name, encs[c.name])} AS {c.name}")
        else:
            items.append(f"c.{c.name}")
    present = encoding.present(spec.present, encs[spec.present])
    return (f"SELECT {', '.join(items)}\n  FROM {spec.cold} c JOIN {spec.days} d "
            f"ON d.region = c.region AND d.month = c.month\n WHERE {present}{where}")


# A cold row (~21 days x ~30 arrays) is 1-4 kB: TOAST only looks at rows over 2 kB and then
# stops once under toast_tuple_target, pushing the rest out of line (an extra index lookup per
# array read). A low target with STORAGE MAIN makes pglz try every array in line, and keeps them
# in the heap page unless the row still exceeds a page.
TOAST_TUPLE_TARGET = 128
ARRAY_STORAGE = "MAIN"


def toast_sql(spec: Spec, encs: dict[str, list[encoding.Encoding]]) -> list[str]:
    arrays = [f"{name}{e.suffix}" for name, es in encs.items() for e in es if e.ctype.endswith("[]")]
    return [f"ALTER TABLE {spec.cold} SET (toast_tuple_target = {TOAST_TUPLE_TARGET})",
            f"ALTER TABLE {spec.cold} " + ", ".join(f"ALTER COLUMN {a} SET STORAGE {ARRAY_STORAGE}" for a in arrays)]


def conversion_sql(spec: Spec, cols: list[Column], dependents: list[tuple[str, str]]) -> list[str]:
    """Statements converting `spec.table` (a month-partitioned table) into the compacted layout."""
    names = [c.name for c in cols]
    by_name = {c.name: c for c in cols}
    encs = column_encodings(spec, cols)
    group_defs = ", ".join(f"{g} {by_name[g].type}{' NOT NULL' if by_name[g].notnull else ''}"
                           for g in spec.group)
    array_defs = ",\n    ".join(f"{name}{e.suffix} {e.ctype}" for name, es in encs.items() for e in es)
    region_type = by_name["region"].type
    out = [
        f"ALTER TABLE {spec.table} RENAME TO {spec.hot}",
        f"""CREATE TABLE {spec.days} (
    region {region_type} NOT NULL, month date NOT NULL, idx integer NOT NULL, date date NOT NULL,
    PRIMARY KEY (region, month, idx), UNIQUE (date, region))""",
        f"""CREATE TABLE {spec.cold} (
    region {region_type} NOT NULL, month date NOT NULL, {group_defs},
    {array_defs})""",
    ] + toast_sql(spec, encs) + [
        # (region, month): the month's rows for "one date of everything" and (un)compaction. Not
        # UNIQUE over the group (the compaction's GROUP BY makes it so): a B-tree over a handful of
        # distinct keys deduplicates to almost nothing, one over the group columns (holdings: names,
        # ISINs) cost ~100 bytes per cold row.
        f"CREATE INDEX {spec.cold}_month_idx ON {spec.cold} (region, month)"] + [
        f"CREATE INDEX {spec.cold}_{ix[0]}_idx ON {spec.cold} ({', '.join(ix)})" for ix in spec.indexes] + [
        f"CREATE VIEW {spec.table} AS\nSELECT {', '.join(names)} FROM {spec.hot}\nUNION ALL\n"
        + cold_select(spec, cols),
    ]
    out += [f"ALTER VIEW {spec.table} ALTER COLUMN {c.name} SET DEFAULT {c.default}" for c in cols if c.default]
    out += [uncompact_function(spec, cols), compact_function(spec, cols), write_function(spec, cols),
            f"CREATE TRIGGER {spec.table}_write INSTEAD OF INSERT OR UPDATE OR DELETE ON {spec.table} "
            f"FOR EACH ROW EXECUTE FUNCTION {spec.write_fn}()"]
    out += [f"CREATE OR REPLACE VIEW {name} AS {definition}" for name, definition in dependents]
    out += comments(spec, cols)
    out.append(sql.SQL("INSERT INTO storage_layouts (table_name, hot_table, cold_table, period_unit, layout) "
                       "VALUES ({}, {}, {}, 'month', {})").format(
        sql.Literal(spec.table), sql.Literal(spec.hot), sql.Literal(spec.cold), sql.Literal(spec.layout)))
    return out


def comments(spec: Spec, cols: list[Column]) -> list:
    lit = sql.Literal
    out = [sql.SQL("COMMENT ON VIEW {} IS {}").format(sql.Identifier(spec.table), lit(
        f"Every row of {spec.table}: recent months from {spec.hot} (row form) UNION ALL compacted closed "
        f"months from {spec.cold} (arrays per month). Same columns and types as the table it replaced; "
        f"writes go through INSTEAD OF triggers that un-compact a touched month first (quant_assets/storage)."))]
    for c in cols:
        if c.comment:
            out.append(sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                sql.Identifier(spec.table), sql.Identifier(c.name), lit(c.comment)))
    out.append(sql.SQL("COMMENT ON TABLE {} IS {}").format(sql.Identifier(spec.cold), lit(
        f"Compacted closed months of {spec.table}: {spec.layout}. Element i of every array is the "
        f"day with idx i in {spec.days}; a NULL {spec.present}[i] means no row that day. Read through "
        f"the view {spec.table}; maintained by {spec.compact_fn}/{spec.uncompact_fn}.")))
    out.append(sql.SQL("COMMENT ON TABLE {} IS {}").format(sql.Identifier(spec.days), lit(
        f"Trading days of each compacted (region, month) of {spec.table}, numbered from 1: idx is the "
        f"array position of that date in {spec.cold}.")))
    for table, col, text in [
        (spec.days, "region", "Market (regions.region)."),
        (spec.days, "month", "First day of the compacted month."),
        (spec.days, "idx", f"Array position (1-based) of date in the {spec.cold} rows of this month."),
        (spec.days, "date", "Trading day."),
        (spec.cold, "region", "Market (regions.region)."),
        (spec.cold, "month", "First day of the compacted month."),
    ] + [(spec.cold, g, f"{g} of the rows (as in {spec.table}.{g}).") for g in spec.group] + [
        (spec.cold, f"{name}{e.suffix}", _encoded_comment(spec, name, e))
        for name, es in column_encodings(spec, cols).items() for e in es
    ]:
        out.append(sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
            sql.Identifier(table), sql.Identifier(col), lit(text)))
    for fn in (spec.compact_fn, spec.uncompact_fn):
        out.append(sql.SQL("COMMENT ON FUNCTION {}(varchar, date) IS {}").format(sql.Identifier(fn), lit(
            "Moves one (region, month) between the hot rows and the compact cold rows of "
            f"{spec.table}, in the caller's transaction; returns the rows moved.")))
    return out


def _encoded_comment(spec: Spec, name: str, e: encoding.Encoding) -> str:
    what = (f"{spec.table}.{name} when every present day of the row has this one value" if e.scalar else
            f"{spec.table}.{name} of each trading day of the month, by idx, as {e.ctype}")
    return f"{what}; read as {e.decode} (NULL unless this encoding was chosen, encoding.py)."


def _lock(spec: Spec) -> str:
    return f"PERFORM pg_advisory_xact_lock(hashtext('storage:{spec.table}:' || p_region || ':' || p_month));"


def partition_name_sql(spec: Spec, month: str) -> str:
    """The name of the month partition of the date expression `month`, as an SQL expression: the
    name Warehouse.ensure_month_partitions and the migrations give it (ohlcv_data_y2024m03)."""
    return f"'{spec.table}_y' || to_char({month}, 'YYYY') || 'm' || to_char({month}, 'MM')"


def uncompact_function(spec: Spec, cols: list[Column]) -> str:
    names = ", ".join(c.name for c in cols)
    return f"""CREATE OR REPLACE FUNCTION {spec.uncompact_fn}(p_region varchar, p_month date) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE n bigint;
BEGIN
    {_lock(spec)}
    IF NOT EXISTS (SELECT 1 FROM storage_periods WHERE table_name = '{spec.table}'
                   AND region = p_region AND period = p_month) THEN
        RETURN 0;
    END IF;
    -- compaction drops a month partition it emptied (compaction.py); the rows need it back
    PERFORM storage_month_partition('{spec.hot}', {partition_name_sql(spec, "p_month")}, p_month);
    INSERT INTO {spec.hot} ({names})
    {cold_select(spec, cols, " AND c.region = p_region AND c.month = p_month AND d.region = p_region AND d.month = p_month")};
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM {spec.cold} WHERE region = p_region AND month = p_month;
    DELETE FROM {spec.days} WHERE region = p_region AND month = p_month;
    DELETE FROM storage_periods WHERE table_name = '{spec.table}' AND region = p_region AND period = p_month;
    RETURN n;
END $fn$"""


def compact_function(spec: Spec, cols: list[Column]) -> str:
    encs = column_encodings(spec, cols)
    targets = [f"{name}{e.suffix}" for name, es in encs.items() for e in es]
    # One text key per group (NULL marked): DISTINCT, joins and sorts on it hash and compare as
    # text, not through the group columns' own operators (timeframe's are SQL functions).
    key = "concat_ws(E'\\x1f', " + ", ".join(f"coalesce(h.{g}::text, E'\\x1e')" for g in spec.group) + ")"
    group = ", ".join(f"(array_agg(k.{g}))[1]" for g in spec.group)
    arrays = ",\n           ".join(x for name, es in encs.items() for x in encoding.encode(name, es))
    dc = spec.date_col
    # enable_nestloop off: the generic plan of a plpgsql statement cannot see how many rows a month
    # has, and a nested loop over (cells x rows) is quadratic; every join here wants hashing.
    return f"""CREATE OR REPLACE FUNCTION {spec.compact_fn}(p_region varchar, p_month date) RETURNS bigint
LANGUAGE plpgsql SET enable_nestloop = off AS $fn$
DECLARE
    n bigint; v_end date := (p_month + interval '1 month')::date; v_part regclass; v_raw bigint;
    v_part_rows bigint; v_bytes bigint; v_size bigint;
BEGIN
    {_lock(spec)}
    IF EXISTS (SELECT 1 FROM storage_periods WHERE table_name = '{spec.table}'
               AND region = p_region AND period = p_month) THEN
        -- hot rows written beside a compacted month cannot exist (the trigger un-compacts first)
        RETURN 0;
    END IF;
    SELECT count(*) INTO n FROM {spec.hot} WHERE region = p_region AND {dc} >= p_month AND {dc} < v_end;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    SELECT tableoid::regclass INTO v_part FROM {spec.hot} WHERE {dc} >= p_month AND {dc} < v_end LIMIT 1;
    SELECT count(*) INTO v_part_rows FROM {spec.hot} WHERE {dc} >= p_month AND {dc} < v_end;
    v_raw := (pg_total_relation_size(v_part) * n / v_part_rows);
    v_size := pg_total_relation_size('{spec.cold}') + pg_total_relation_size('{spec.days}');
    INSERT INTO {spec.days} (region, month, idx, date)
    SELECT p_region, p_month, row_number() OVER (ORDER BY s.{dc}), s.{dc}
      FROM (SELECT DISTINCT {dc} FROM {spec.hot} WHERE region = p_region AND {dc} >= p_month AND {dc} < v_end) s;
    -- The month's rows once (with their day index), then every (group, day) cell: hash joins on
    -- small materialised sets, one sort feeding every array_agg.
    INSERT INTO {spec.cold} (region, month, {', '.join(spec.group)}, {', '.join(targets)})
    WITH m AS MATERIALIZED (
        SELECT h.*, d.idx, {key} AS group_key FROM {spec.hot} h
          JOIN {spec.days} d ON d.region = p_region AND d.month = p_month AND d.date = h.{dc}
         WHERE h.region = p_region AND h.{dc} >= p_month AND h.{dc} < v_end),
    k AS MATERIALIZED (SELECT DISTINCT ON (group_key) group_key, {', '.join(spec.group)} FROM m ORDER BY group_key),
    cell AS (SELECT k.*, d.idx FROM k CROSS JOIN {spec.days} d WHERE d.region = p_region AND d.month = p_month)
    SELECT p_region, p_month, {group},
           {arrays}
      FROM cell k LEFT JOIN m h ON h.idx = k.idx AND h.group_key = k.group_key
     GROUP BY k.group_key;
    DELETE FROM {spec.hot} WHERE region = p_region AND {dc} >= p_month AND {dc} < v_end;
    -- What the month really added on disk: the growth of the cold and day tables, every fork, TOAST
    -- and index included; never less than its rows' own bytes (rows that filled space an
    -- un-compacted month freed add no pages, yet take that space).
    v_bytes := pg_total_relation_size('{spec.cold}') + pg_total_relation_size('{spec.days}') - v_size;
    v_bytes := greatest(v_bytes, (SELECT coalesce(sum(pg_column_size(c.*) + 4), 0) FROM {spec.cold} c
                                   WHERE c.region = p_region AND c.month = p_month)
                               + (SELECT count(*) * 40 FROM {spec.days} WHERE region = p_region AND month = p_month));
    INSERT INTO storage_periods (table_name, region, period, rows, raw_bytes, compacted_bytes)
    VALUES ('{spec.table}', p_region, p_month, n, v_raw, v_bytes);
    RETURN n;
END $fn$"""


def write_function(spec: Spec, cols: list[Column]) -> str:
    names = [c.name for c in cols]
    key = " AND ".join(f"{k} = OLD.{k}" for k in spec.key)
    dc = spec.date_col

    def uncompact(rec: str) -> str:
        return (f"IF EXISTS (SELECT 1 FROM storage_periods WHERE table_name = '{spec.table}' "
                f"AND region = {rec}.region AND period = date_trunc('month', {rec}.{dc})::date) THEN\n"
                f"            PERFORM {spec.uncompact_fn}({rec}.region, date_trunc('month', {rec}.{dc})::date);\n"
                f"        END IF;")
    return f"""CREATE OR REPLACE FUNCTION {spec.write_fn}() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        {uncompact('OLD')}
    END IF;
    IF TG_OP <> 'DELETE' THEN
        {uncompact('NEW')}
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {spec.hot} ({', '.join(names)}) VALUES ({', '.join('NEW.' + n for n in names)});
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE {spec.hot} SET ({', '.join(names)}) = ROW({', '.join('NEW.' + n for n in names)}) WHERE {key};
        RETURN NEW;
    END IF;
    DELETE FROM {spec.hot} WHERE {key};
    RETURN OLD;
END $fn$"""


def dependent_views(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    """Views reading `table` directly, with their definitions as they read now (by name)."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT DISTINCT v.oid::regclass::text, pg_get_viewdef(v.oid) FROM pg_depend d "
        "JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class "
        "WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = %s::regclass AND v.oid <> %s::regclass "
        "AND v.relkind = 'v'", (table, table)).fetchall()]


def refresh_functions(conn: psycopg.Connection, spec: Spec) -> None:
    """Re-create the un-compaction function of a converted table from its catalogue, so a table
    converted by an earlier release gets the current definition (compaction calls this first)."""
    conn.execute(uncompact_function(spec, columns(conn, spec.table)))


def convert(conn: psycopg.Connection, spec: Spec) -> bool:
    """Convert `spec.table` in the caller's transaction; False when it already is converted."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('storage:convert'))")
    if is_converted(conn, spec.table):
        return False
    cols = columns(conn, spec.table)
    for stmt in conversion_sql(spec, cols, dependent_views(conn, spec.table)):
        conn.execute(stmt)
    return True
