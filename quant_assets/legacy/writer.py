"""Set-based writes of a prepared batch: COPY into a staging table, then one INSERT.

The warehouse wins over the legacy file, so a second import changes nothing:
    insert_new     new keys only (ON CONFLICT DO NOTHING): bars, fundamentals, FX, indices, ...
    merge_fill     new keys, and for existing keys only columns that are NULL (tickers, details)
    insert_absent  rows without a key in the target (trades): only rows not already present
`fit()` makes values fit their columns before anything is written (rounding to the column's
scale; a value too large for it becomes NULL and is flagged), so a batch never fails on one value.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import psycopg

from quant_assets.resources.warehouse import copy_frame

_INT_LIMITS = {"bigint": 2**63 - 1, "integer": 2**31 - 1, "smallint": 2**15 - 1}


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@functools.lru_cache(maxsize=8)
def column_types(url: str) -> dict[str, dict[str, tuple[str, int | None, int | None]]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale "
            "FROM information_schema.columns WHERE table_schema = 'public'").fetchall()
    out: dict[str, dict[str, tuple[str, int | None, int | None]]] = {}
    for table, col, kind, prec, scale in rows:
        out.setdefault(table, {})[col] = (kind, prec, scale)
    return out


def fit(frame: pd.DataFrame, types: dict[str, tuple[str, int | None, int | None]]) -> dict[str, pd.Series]:
    """Round numbers to their column; out-of-range values -> NULL. Returns flags per column."""
    flags = {}
    for col in frame.columns:
        if col.startswith("_") or col not in types:
            continue
        kind, prec, scale = types[col]
        if kind not in _INT_LIMITS and kind != "numeric":
            continue
        s = pd.to_numeric(frame[col], errors="coerce").astype("float64")
        if kind in _INT_LIMITS:
            s = s.round()
            bad = s.abs() > _INT_LIMITS[kind]
        else:
            if scale is not None:
                s = s.round(scale)
            bad = (s.abs() >= 10.0 ** (prec - scale)) if prec is not None and scale is not None else s.isna() & False
        bad |= np.isinf(s)
        if bad.any():
            flags[f"value_out_of_range_set_null:{col}"] = bad
            s = s.mask(bad)
        frame[col] = s
    return flags


def stage(conn: psycopg.Connection, table: str, frame: pd.DataFrame) -> str:
    """A temporary table with `frame`'s columns typed as in `table`, filled by COPY."""
    tmp = f"_legacy_{table}"
    conn.execute(f"DROP TABLE IF EXISTS {tmp}")
    conn.execute(f"CREATE TEMP TABLE {tmp} ON COMMIT DROP AS SELECT {', '.join(map(q, frame.columns))} "
                 f"FROM {table} WITH NO DATA")
    copy_frame(conn, tmp, frame)
    return tmp


def insert_new(conn: psycopg.Connection, table: str, frame: pd.DataFrame, key: list[str] | None = None) -> int:
    if frame.empty:
        return 0
    tmp, cols = stage(conn, table, frame), ", ".join(map(q, frame.columns))
    conflict = f"({', '.join(map(q, key))})" if key else ""
    return conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {tmp} "
                        f"ON CONFLICT {conflict} DO NOTHING").rowcount


def merge_fill(conn: psycopg.Connection, table: str, frame: pd.DataFrame, key: list[str], *,
               touch: bool = True) -> int:
    """Insert new keys; on existing keys fill only NULL columns (and `updated_at` when `touch`).
    Returns rows inserted."""
    if frame.empty:
        return 0
    tmp, cols = stage(conn, table, frame), list(frame.columns)
    fill = [c for c in cols if c not in key]
    action = "DO NOTHING"
    if fill:
        sets = ", ".join(f"{q(c)} = COALESCE({table}.{q(c)}, EXCLUDED.{q(c)})" for c in fill)
        when = " OR ".join(f"({table}.{q(c)} IS NULL AND EXCLUDED.{q(c)} IS NOT NULL)" for c in fill)
        action = f"DO UPDATE SET {sets}{', updated_at = now()' if touch else ''} WHERE {when}"
    same = " AND ".join(f"t.{q(c)} = s.{q(c)}" for c in key)
    new_keys = conn.execute(f"SELECT count(*) FROM {tmp} s WHERE NOT EXISTS (SELECT 1 FROM {table} t "
                            f"WHERE {same})").fetchone()[0]   # (xmax = 0) is not available on partitions
    conn.execute(f"INSERT INTO {table} ({', '.join(map(q, cols))}) SELECT {', '.join(map(q, cols))} FROM {tmp} "
                 f"ON CONFLICT ({', '.join(map(q, key))}) {action}")
    return new_keys


def insert_absent(conn: psycopg.Connection, table: str, frame: pd.DataFrame, match: list[str]) -> int:
    """For tables without a natural key: insert rows equal to no present row on `match`."""
    if frame.empty:
        return 0
    tmp, cols = stage(conn, table, frame), ", ".join(map(q, frame.columns))
    same = " AND ".join(f"t.{q(c)} IS NOT DISTINCT FROM s.{q(c)}" for c in match)
    return conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {tmp} s "
                        f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {same})").rowcount


ARCHIVE_COLUMNS = ["source_checksum", "table_name", "source_rowid", "region", "disposition", "reason", "row"]


def archive_frame(source: pd.DataFrame, checksum: str, table: str, disposition: str,
                  region: pd.Series, reason: pd.Series | None) -> pd.DataFrame:
    """legacy_rows rows for `source` (the original Spock columns only) — JSON built by pandas."""
    cols = [c for c in source.columns if not c.startswith("_")]
    data = source[cols].copy()
    for c in data.columns:
        if data[c].dtype == object:
            data[c] = data[c].map(_json_safe)
    body = data.to_json(orient="records", lines=True, force_ascii=False, date_format="iso",
                                default_handler=str)
    rows = body.rstrip("\n").split("\n") if len(source) else []      # JSON escapes \n inside strings
    return pd.DataFrame({
        "source_checksum": checksum, "table_name": table, "source_rowid": source["_rowid"].to_numpy(),
        "region": region.to_numpy(), "disposition": disposition,
        "reason": reason.to_numpy() if reason is not None else None, "row": rows,
    }, columns=ARCHIVE_COLUMNS)


def _json_safe(value: object) -> object:
    """jsonb holds no NUL character: BLOBs become '\\x<hex>' (PostgreSQL's bytea text form)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\\0")
    return value


def archive(conn: psycopg.Connection, frame: pd.DataFrame) -> int:
    return insert_new(conn, "legacy_rows", frame, ["source_checksum", "table_name", "source_rowid"])


def dumps(value: object) -> str:
    return json.dumps(value, default=str)
