"""PostgreSQL binary COPY for fixed-width rows, encoded and decoded by numpy in one pass.

Why: the derived assets move ~10^5-10^6 rows per run between numpy arrays and PostgreSQL. CSV
text costs a float-to-text and text-to-float conversion per value on both sides, and psycopg's
`copy.write_row` a Python call per row. When every field of a row has a fixed width (int4, int8,
float8, date, and text padded to one width) a binary COPY row is a fixed-size record, so a whole
frame is ONE numpy structured array: `encode` builds the COPY stream with one `tobytes()`,
`decode` reads one back with one `np.frombuffer`.

Binary COPY cannot say NULL without changing the record width, so NULL is not encodable here:
float columns carry NaN instead and the SQL that consumes them turns NaN into NULL
(`nullif(col, 'NaN')`); a NULL in a decoded stream is detected (the length word is -1) and
raised, so the caller can COALESCE in its query or take a slower path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
PG_EPOCH = np.datetime64("2000-01-01", "D")
# PostgreSQL type -> (numpy big-endian dtype, width in bytes)
TYPES = {"int4": (">i4", 4), "int8": (">i8", 8), "float8": (">f8", 8), "date": (">i4", 4)}


def _dtype(fields: Sequence[tuple[str, str]]) -> np.dtype:
    spec = [("nfields", ">i2")]
    for name, kind in fields:
        if kind.startswith("char"):          # "char12": text of exactly 12 bytes
            width = int(kind[4:])
            spec += [(f"{name}__len", ">i4"), (name, f"S{width}")]
        else:
            np_type, _ = TYPES[kind]
            spec += [(f"{name}__len", ">i4"), (name, np_type)]
    return np.dtype(spec)


def encode(fields: Sequence[tuple[str, str]], columns: Mapping[str, np.ndarray]) -> bytes:
    """The binary COPY stream of the rows given column-wise (`fields` = [(name, pg type)];
    dates as datetime64[D]; floats may hold NaN, nothing may be NULL)."""
    dtype = _dtype(fields)
    n = len(next(iter(columns.values()))) if columns else 0
    rec = np.empty(n, dtype=dtype)
    rec["nfields"] = len(fields)
    for name, kind in fields:
        values = np.asarray(columns[name])
        if kind == "date":
            values = (values.astype("datetime64[D]") - PG_EPOCH).astype(np.int64)
        rec[f"{name}__len"] = dtype[name].itemsize
        rec[name] = values
    return HEADER + rec.tobytes() + TRAILER


def decode(fields: Sequence[tuple[str, str]], data: bytes) -> dict[str, np.ndarray] | None:
    """Columns of a binary COPY stream whose rows have exactly `fields`; None when the stream's
    rows are not all of that fixed width (a NULL or a longer text): use another path then."""
    dtype = _dtype(fields)
    if not data.startswith(HEADER[:11]):
        raise ValueError("not a PostgreSQL binary COPY stream")
    ext = int.from_bytes(data[15:19], "big")
    body = data[19 + ext:]
    if not body.endswith(TRAILER) or (len(body) - 2) % dtype.itemsize:
        return None
    rec = np.frombuffer(body, dtype=dtype, count=(len(body) - 2) // dtype.itemsize)
    if not len(rec):
        return {name: np.empty(0, dtype=dtype[name].newbyteorder("=")) for name, _ in fields}
    if (rec["nfields"] != len(fields)).any():
        return None
    out = {}
    for name, kind in fields:
        if (rec[f"{name}__len"] != dtype[name].itemsize).any():
            return None
        values = rec[name]
        if kind == "date":
            out[name] = PG_EPOCH + values.astype(np.int64).astype("timedelta64[D]")
        elif kind.startswith("char"):
            out[name] = values
        else:
            out[name] = values.astype(values.dtype.newbyteorder("="))
    return out
