"""PostgreSQL binary COPY streams built from a DataFrame with numpy, column at a time.

Why: the CSV path (`DataFrame.to_csv`) spent half of a write formatting text that the server then
parsed back; psycopg's `write_row` is fast in C but needs a Python tuple (and a `Decimal` per
numeric value) per row. Here every column is encoded in one vectorised pass into its binary wire
form (big-endian fixed-width values, base-10000 `numeric` digits, UTF-8 text), and the fields are
scattered into one buffer with numpy fancy indexing: no Python work per row or per value, except
for text (one `str.encode` of the joined column).

Types come from the target table's catalogue (`table_types`, cached per permanent table), so the
frame's dtypes never decide the wire format. Exactness:

* `numeric(p, s)` from float64 is rounded to `s` decimals half away from zero *on the value's
  shortest decimal repr*, as the CSV path did (``repr(x)`` then the server's rounding); values near a
  rounding tie or beyond 2**53 go through `decimal.Decimal(repr(x))` one by one. Overflow of `p`
  is still the server's error (binary input applies the column's typmod).
* integers, dates, text (varchar/char/enum), bool and float8/float4 are sent bit-exact.
* NaN / None / <NA> are NULL; an empty string stays an empty string.

Anything this encoder cannot represent exactly (jsonb, timestamps, unconstrained numeric,
non-integer floats for an integer column, non-str objects in a text column, ...) raises
`Unsupported`; `warehouse.copy_frame` then falls back to the CSV path, whose behaviour (and server
errors) are unchanged.
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
from collections.abc import Sequence

import numpy as np
import pandas as pd
import psycopg

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
CHUNK_ROWS = 100_000          # rows per buffer: a 250-day batch is sent in pieces, not one 150 MB block
_PG_EPOCH = np.datetime64("2000-01-01", "D")
_PG_EPOCH_ORDINAL = dt.date(2000, 1, 1).toordinal()
_INT_TYPES = {"int2": (">i2", 2**15), "int4": (">i4", 2**31), "int8": (">i8", 2**63)}
_FLOAT_TYPES = {"float4": ">f4", "float8": ">f8"}
_TEXT_TYPES = {"text", "varchar", "bpchar", "name", "citext"}
_NUMERIC_GROUPS = 5           # base-10000 digit groups of an int64 (< 1e20)


class Unsupported(Exception):
    """The frame has a column this encoder cannot send exactly; use the text COPY path."""


# -- catalogue ---------------------------------------------------------------------------------
_types_cache: dict[tuple, dict[str, tuple[str, int]]] = {}
_types_lock = threading.Lock()


def table_types(conn: psycopg.Connection, table: str) -> dict[str, tuple[str, int]]:
    """{column: (kind, typmod)} of `table`; kind is the type name, or "enum" for enum types.

    Cached per (server, database, table) for permanent tables; temporary tables (per-transaction
    staging twins) are looked up every time, since the same name may hold other columns later.
    """
    info = conn.info
    key = (info.host, info.port, info.dbname, table)
    with _types_lock:
        hit = _types_cache.get(key)
    if hit is not None:
        return hit
    rows = conn.execute(
        """SELECT a.attname, CASE WHEN t.typtype = 'e' THEN 'enum' ELSE t.typname END, a.atttypmod,
                  c.relpersistence
           FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN pg_class c ON c.oid = a.attrelid
           WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped""", (table,)).fetchall()
    types = {name: (kind, typmod) for name, kind, typmod, _ in rows}
    if rows and rows[0][3] != "t":
        with _types_lock:
            _types_cache[key] = types
    return types


def clear_type_cache() -> None:
    """Forget cached column types (after a migration changed a table in this process)."""
    with _types_lock:
        _types_cache.clear()


# -- fields: each column becomes a (rows, width) byte matrix and a mask of the bytes to send ---------
# Row i of a column's matrix holds its field (4-byte length, then the value) padded to the column's
# widest field; `keep` marks the bytes that belong to the field. All columns side by side, masked
# in row-major order, are the tuples of the COPY stream: one boolean compaction, no per-row work.
def _fixed(values: np.ndarray, null: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-width values: a 4-byte length then the value; a NULL is the length -1 alone."""
    width = np.dtype(dtype).itemsize
    rec = np.empty(len(values), dtype=[("len", ">i4"), ("val", dtype)])
    rec["len"] = np.where(null, -1, width)
    rec["val"] = values
    raw = rec.view(np.uint8).reshape(len(values), 4 + width)
    keep = np.ones(raw.shape, dtype=bool)
    keep[null, 4:] = False
    return raw, keep


def _null_mask(s: pd.Series) -> np.ndarray:
    return s.isna().to_numpy(dtype=bool)


def _as_float(s: pd.Series) -> np.ndarray:
    try:
        return s.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        raise Unsupported(f"column {s.name!r} is not numeric") from None


def _integers(s: pd.Series, kind: str):
    dtype, limit = _INT_TYPES[kind]
    null = _null_mask(s)
    if pd.api.types.is_bool_dtype(s.dtype) or not (pd.api.types.is_numeric_dtype(s.dtype)):
        raise Unsupported(f"column {s.name!r}: {s.dtype} for {kind}")
    if pd.api.types.is_integer_dtype(s.dtype):
        values = s.to_numpy(dtype="int64", na_value=0)
    else:
        f = np.where(null, 0.0, _as_float(s))
        if not np.all(np.isfinite(f)) or np.any(f != np.trunc(f)) or np.any(np.abs(f) >= 2.0**63):
            raise Unsupported(f"column {s.name!r}: non-integer values for {kind}")
        values = f.astype("int64")
    if kind != "int8" and np.any((values >= limit) | (values < -limit)):
        raise Unsupported(f"column {s.name!r}: out of range for {kind}")
    return _fixed(values, null, dtype)


def _floats(s: pd.Series, kind: str):
    if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        raise Unsupported(f"column {s.name!r}: {s.dtype} for {kind}")
    null = _null_mask(s)
    return _fixed(np.where(null, 0.0, _as_float(s)), null, _FLOAT_TYPES[kind])


def _bools(s: pd.Series):
    if s.dtype == bool:
        return _fixed(s.to_numpy(), np.zeros(len(s), dtype=bool), "u1")
    null = _null_mask(s)
    values = s.to_numpy(dtype=object)
    if not all(isinstance(v, bool | np.bool_) for v in values[~null]):
        raise Unsupported(f"column {s.name!r}: non-boolean values")
    return _fixed(np.where(null, False, values).astype(bool), null, "u1")


def _dates(s: pd.Series):
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        raise Unsupported(f"column {s.name!r}: tz-aware timestamps for a date column")
    null = _null_mask(s)
    if pd.api.types.is_datetime64_dtype(s.dtype):
        days = (s.to_numpy(dtype="datetime64[D]") - _PG_EPOCH).astype("int64")
    else:   # datetime.date / datetime objects (as parsed): any year 1..9999, no nanosecond bounds
        values = s.to_numpy(dtype=object)
        if not all(isinstance(v, dt.date) for v in values[~null]):
            raise Unsupported(f"column {s.name!r}: not dates")
        days = np.fromiter((0 if n else v.toordinal() - _PG_EPOCH_ORDINAL for v, n in zip(values, null, strict=True)),
                           dtype=np.int64, count=len(values))
    return _fixed(np.where(null, 0, days).astype("int32"), null, ">i4")


def _texts(s: pd.Series):
    null = _null_mask(s)
    values = s.to_numpy(dtype=object)
    if (null.all() or pd.api.types.infer_dtype(values, skipna=True) != "string") and \
            not all(type(v) is str for v in values[~null]):
        raise Unsupported(f"column {s.name!r}: non-text values")
    strs = np.where(null, "", values).tolist()
    try:                                   # ASCII (codes, regions, most names): numpy encodes it
        body = np.array(strs, dtype="S")
        lengths = np.fromiter(map(len, strs), dtype=np.int64, count=len(strs))
    except UnicodeEncodeError:
        encoded = [x.encode("utf-8") for x in strs]
        body = np.array(encoded, dtype="S")
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    width = body.dtype.itemsize if len(strs) else 0
    body = body.view(np.uint8).reshape(len(strs), width) if width else np.zeros((len(strs), 0), np.uint8)
    heads = np.where(null, -1, lengths).astype(">i4").view(np.uint8).reshape(-1, 4)
    raw = np.concatenate([heads, body], axis=1)
    keep = np.arange(4 + width)[None, :] < (4 + np.where(null, 0, lengths))[:, None]
    return raw, keep


def _scaled_integers(s: pd.Series, scale: int, null: np.ndarray) -> np.ndarray:
    """The column's values × 10**scale as int64, rounded half away from zero on the repr."""
    if s.dtype == object:
        return np.array([0 if n else _decimal_scaled(v, scale) for v, n in zip(s.tolist(), null, strict=True)],
                        dtype="int64")
    if pd.api.types.is_integer_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        ints = s.to_numpy(dtype="int64", na_value=0)
        if np.any(np.abs(ints) >= 10 ** (18 - scale)):
            raise Unsupported(f"column {s.name!r}: integer too large for the int64 numeric path")
        return ints * 10**scale
    f = np.where(null, 0.0, _as_float(s))
    if not np.all(np.isfinite(f)):
        raise Unsupported(f"column {s.name!r}: non-finite value for numeric")
    v = f * 10.0**scale
    r = np.rint(v)
    frac = np.abs(v - np.trunc(v))
    risky = (np.abs(frac - 0.5) < 1e-7 + np.abs(v) * 1e-15) | (np.abs(v) >= 2.0**53)
    out = r.astype("int64") if not np.any(np.abs(r) >= 9e18) else None
    if out is None:
        raise Unsupported(f"column {s.name!r}: value too large for the int64 numeric path")
    for i in np.flatnonzero(risky & ~null):
        out[i] = _decimal_scaled(float(f[i]), scale)
    return out


def _decimal_scaled(value, scale: int) -> int:
    d = value if isinstance(value, decimal.Decimal) else decimal.Decimal(repr(float(value)))
    if not d.is_finite():
        raise Unsupported("non-finite value for numeric")
    m = int(d.scaleb(scale).quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))
    if abs(m) >= 9 * 10**18:
        raise Unsupported("value too large for the int64 numeric path")
    return m


def _numerics(s: pd.Series, typmod: int):
    if typmod < 4:
        raise Unsupported(f"column {s.name!r}: unconstrained numeric")
    scale = (typmod - 4) & 0xFFFF
    if scale > 0x7FFF or scale > 14:
        raise Unsupported(f"column {s.name!r}: numeric scale {scale}")
    null = _null_mask(s)
    m = _scaled_integers(s, scale, null)
    pad = -scale % 4                    # align the decimal point with a base-10000 group
    if np.any(np.abs(m) >= 9 * 10**18 // 10**pad):
        raise Unsupported(f"column {s.name!r}: value too large for the int64 numeric path")
    mag = np.abs(m) * 10**pad
    frac_groups = (scale + pad) // 4
    n, g = len(m), _NUMERIC_GROUPS
    # base-10000 digit groups, most significant first (column 0 = 10000**4)
    groups = np.empty((n, g), dtype=np.int16)
    rest = mag
    for j in range(g - 1, -1, -1):
        rest, groups[:, j] = np.divmod(rest, 10000)
    # top: index (from the least significant, 0-based) of the highest non-zero group; low: lowest
    top = sum((mag >= 10 ** (4 * j)).astype(np.int64) for j in range(1, g))
    any_digit = mag != 0
    trailing, run = np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    for j in range(g - 1, 0, -1):          # zero groups below the lowest non-zero one
        run &= groups[:, j] == 0
        trailing += run
    low = np.where(any_digit, trailing, 0)
    ndigits = np.where(any_digit, top - low + 1, 0)
    weight = np.where(any_digit, top - frac_groups, 0)
    length = np.where(null, -1, 8 + 2 * ndigits).astype(np.int32)
    head = np.empty((n, 6), dtype=np.int16)
    head[:, 0] = length >> 16
    head[:, 1] = (length & 0xFFFF).astype(np.uint16).view(np.int16)
    head[:, 2] = ndigits
    head[:, 3] = weight
    head[:, 4] = np.where(m < 0, 0x4000, 0).astype(np.uint16).view(np.int16)
    head[:, 5] = scale
    words = np.concatenate([head, groups], axis=1).astype(">i2")
    raw = words.view(np.uint8).reshape(n, -1)
    # the 12 header bytes (4 for a NULL), then the digit groups top..low
    col = np.arange(raw.shape[1], dtype=np.int16)[None, :]
    first = (12 + 2 * (g - 1 - top)).astype(np.int16)[:, None]
    stop = first + (2 * np.where(null, 0, ndigits)).astype(np.int16)[:, None]
    keep = (col < np.where(null, 4, 12).astype(np.int16)[:, None]) | ((col >= first) & (col < stop))
    return raw, keep


def encode_column(s: pd.Series, kind: str, typmod: int) -> tuple[np.ndarray, np.ndarray]:
    if kind in _INT_TYPES:
        return _integers(s, kind)
    if kind in _FLOAT_TYPES:
        return _floats(s, kind)
    if kind == "numeric":
        return _numerics(s, typmod)
    if kind in _TEXT_TYPES or kind == "enum":
        return _texts(s)
    if kind == "date":
        return _dates(s)
    if kind == "bool":
        return _bools(s)
    raise Unsupported(f"column {s.name!r}: type {kind}")


def encode_rows(frame: pd.DataFrame, types: dict[str, tuple[str, int]]) -> memoryview:
    """The tuples of `frame` (no header/trailer) in binary COPY form, columns in frame order."""
    n, ncols = len(frame), len(frame.columns)
    fields = []
    for col in frame.columns:
        if col not in types:
            raise Unsupported(f"column {col!r} is not in the table")
        fields.append(encode_column(frame[col], *types[col]))
    width = 2 + sum(raw.shape[1] for raw, _ in fields)
    rows = np.empty((n, width), dtype=np.uint8)
    keep = np.empty((n, width), dtype=bool)
    rows[:, :2] = np.array([ncols], dtype=">i2").view(np.uint8)
    keep[:, :2] = True
    at = 2
    for raw, mask in fields:
        w = raw.shape[1]
        rows[:, at:at + w] = raw
        keep[:, at:at + w] = mask
        at += w
    return memoryview(rows[keep])


class Encoded:
    """A frame's rows already in binary COPY form (`encode`), ready for `copy_encoded`: built
    wherever the caller likes — a ranged run builds it in its fetch thread, so the write
    transaction only sends bytes."""

    def __init__(self, columns: list[str], chunks: list[memoryview], rows: int):
        self.columns, self.chunks, self.rows = columns, chunks, rows


def encode(frame: pd.DataFrame, types: dict[str, tuple[str, int]]) -> Encoded:
    """`frame` in binary COPY form, in chunks of CHUNK_ROWS; raises `Unsupported` when a column
    cannot be encoded exactly."""
    chunks = [encode_rows(frame.iloc[i:i + CHUNK_ROWS], types) for i in range(0, len(frame), CHUNK_ROWS)]
    return Encoded(list(frame.columns), chunks, len(frame))


def copy_encoded(conn: psycopg.Connection, table: str, data: Encoded | Sequence[Encoded], *,
                 freeze: bool = False) -> None:
    """COPY pre-encoded rows: one frame's, or several frames' of the same columns in ONE COPY (a
    month of days: one statement instead of one per day). `freeze` (the table was created in this
    transaction) stores them frozen, so no reader or vacuum rewrites the pages for hint bits."""
    parts = [data] if isinstance(data, Encoded) else list(data)
    if not parts:
        return
    if any(p.columns != parts[0].columns for p in parts):
        raise ValueError(f"copy_encoded({table}): frames of different columns in one COPY")
    cols = ", ".join(f'"{c}"' for c in parts[0].columns)
    options = "FORMAT BINARY, FREEZE" if freeze else "FORMAT BINARY"
    with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN ({options})") as copy:
        copy.write(HEADER)
        for part in parts:
            for chunk in part.chunks:
                copy.write(chunk)
        copy.write(TRAILER)


def copy_binary(conn: psycopg.Connection, table: str, frame: pd.DataFrame,
                types: dict[str, tuple[str, int]] | None = None) -> None:
    """COPY `frame` into `table` (its column names) in binary; raises `Unsupported` before
    sending anything when a column cannot be encoded exactly."""
    copy_encoded(conn, table, encode(frame, types if types is not None else table_types(conn, table)))
