"""How big each table is per month, in row form and compacted (`quant storage`).

Hot months are measured from their partitions (heap + TOAST + indexes, `pg_total_relation_size`).
A compacted month's `raw_bytes` is what its rows took in their partition when it was compacted
(storage_periods); its `compacted_bytes` is its share of the cold table and day table as they are
now (share by `pg_column_size` of its cold rows, so indexes and TOAST are apportioned, not
guessed). `ratio` = raw_bytes / compacted_bytes (3.0 = three times smaller; >= 3.33 is the seeds'
"70 % smaller"); `saved_pct` says the same as a percentage.
"""

from __future__ import annotations

import psycopg

from quant_assets.storage.layout import SPECS

REPORTED = ("ohlcv_data", "etf_holdings", "etf_daily", "etf_aum", "etf_tracking", "factor_scores", "price_range_52w",
            "ticker_fundamentals")


def _entry(table: str, period: str, state: str, rows: int, raw: int, compacted: int | None,
           region: str | None = None) -> dict:
    ratio = round(raw / compacted, 2) if compacted else None
    saved = round(100 * (1 - compacted / raw), 1) if compacted and raw else None
    return {"table": table, "period": period, "region": region, "state": state, "rows": int(rows),
            "raw_bytes": int(raw), "compacted_bytes": None if compacted is None else int(compacted),
            "ratio": ratio, "saved_pct": saved}


def _partitions(conn: psycopg.Connection, parent: str) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT c.oid::regclass::text, substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''([0-9-]+)''') "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass ORDER BY 2",
        (parent,)).fetchall()


def storage_report(url: str, tables: tuple[str, ...] = REPORTED) -> list[dict]:
    """One dict per (table, month[, region]): keys table, period (YYYY-MM), region, state
    ('hot' | 'compacted'), rows, raw_bytes, compacted_bytes, ratio, saved_pct."""
    out: list[dict] = []
    with psycopg.connect(url) as conn:
        layouts = dict(conn.execute("SELECT table_name, hot_table FROM storage_layouts").fetchall())
        for table in tables:
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
                continue
            if table == "factor_scores":
                out.extend(_factor_scores(conn))
                continue
            parent = layouts.get(table, table)
            if conn.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", (parent,)).fetchone()[0] != "p":
                continue
            for part, lo in _partitions(conn, parent):
                if lo is None:
                    continue
                rows = conn.execute(f"SELECT count(*) FROM {part}").fetchone()[0]
                if rows:
                    size = conn.execute("SELECT pg_total_relation_size(%s::regclass)", (part,)).fetchone()[0]
                    out.append(_entry(table, lo[:7], "hot", rows, size, None))
            if table in layouts:
                out.extend(_compacted(conn, table))
    return sorted(out, key=lambda e: (e["table"], e["period"], e["state"], e["region"] or ""))


def _compacted(conn: psycopg.Connection, table: str) -> list[dict]:
    spec = SPECS[table]
    rows = conn.execute(
        f"""WITH per AS (SELECT region, month, sum(pg_column_size(c.*))::float8 AS b FROM {spec.cold} c GROUP BY 1, 2),
                 tot AS (SELECT sum(b) AS b FROM per)
            SELECT p.region, p.period, p.rows, p.raw_bytes,
                   coalesce(per.b / nullif(tot.b, 0), 0)
                   * (pg_total_relation_size(%s::regclass) + pg_total_relation_size(%s::regclass))
              FROM storage_periods p LEFT JOIN per ON per.region = p.region AND per.month = p.period
             CROSS JOIN tot WHERE p.table_name = %s ORDER BY 2, 1""",
        (spec.cold, spec.days, table)).fetchall()
    return [_entry(table, period.isoformat()[:7], "compacted", n, raw, round(b), region)
            for region, period, n, raw, b in rows]


def _factor_scores(conn: psycopg.Connection) -> list[dict]:
    """factor_scores is a view over factor_scores_packed (month partitions, one row per day and
    factor, always in its narrow array form: sql/029) and factor_score_days (the days' ticker
    lists, one table): per month, the partition plus its share of the day table by
    `pg_column_size`; rows are the view's rows (the members bits), counted without unnesting."""
    if conn.execute("SELECT to_regclass('factor_scores_packed'), to_regclass('factor_score_days')").fetchone()[1] is None:
        return []
    days = conn.execute(
        """WITH per AS (SELECT date_trunc('month', date)::date AS month, sum(pg_column_size(d.*))::float8 AS b
                          FROM factor_score_days d GROUP BY 1)
           SELECT month, b / nullif(sum(b) OVER (), 0) * pg_total_relation_size('factor_score_days') FROM per"""
    ).fetchall()
    share = {m.isoformat()[:7]: float(b or 0) for m, b in days}
    out = []
    for part, lo in _partitions(conn, "factor_scores_packed"):
        if lo is None:
            continue
        rows = conn.execute(f"SELECT coalesce(sum(bit_count(members)), 0) FROM {part}").fetchone()[0]
        if rows:
            size = conn.execute("SELECT pg_total_relation_size(%s::regclass)", (part,)).fetchone()[0]
            out.append(_entry("factor_scores", lo[:7], "hot", rows, size + round(share.get(lo[:7], 0)), None))
    return out


def summarise(report: list[dict], by: str = "year") -> list[dict]:
    """Sum a report per (table, year|month|table, state)."""
    width = {"year": 4, "month": 7, "table": 0}[by]
    acc: dict[tuple, dict] = {}
    for e in report:
        key = (e["table"], e["period"][:width] if width else "all", e["state"])
        a = acc.setdefault(key, {"rows": 0, "raw_bytes": 0, "compacted_bytes": 0})
        a["rows"] += e["rows"]
        a["raw_bytes"] += e["raw_bytes"]
        a["compacted_bytes"] += e["compacted_bytes"] or 0
    return [_entry(t, p, s, a["rows"], a["raw_bytes"], a["compacted_bytes"] or None)
            for (t, p, s), a in sorted(acc.items())]


def compaction_ratio(report: list[dict]) -> dict[str, float | None]:
    """raw / compacted bytes over every compacted period, per table (benchmarks quote this)."""
    return {e["table"]: e["ratio"] for e in summarise(report, by="table") if e["state"] == "compacted"}
