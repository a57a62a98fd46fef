"""How one value column of a cold row is stored: the narrowest exact encoding, chosen per row.

Why per row and checked at compaction time: a month of KR bars has integral prices that fit an
int4, a US month has cents, a corrupt feed may carry NaN or a price above 2^31; a layout fixed per
table would either waste bytes on every row or lose the odd value. So the cold table has, for every
value column `x`, a few columns of which exactly one (or none: every day NULL) is set per row:

* `x_k`  (the column's own type, one scalar): every present day has the same non-NULL value —
  run-length in its simplest form (listed shares, a PDF line's shares, currency, ...);
* `x_s2` / `x_s4` / `x_s8` (int2[] / int4[] / int8[]): integers, or numeric(p, s) values times
  10^s, or float8 values times 10^4 when that round-trips bit for bit (float8send of the decoded
  value equals the original's: -0, NaN and inexact values stay in the plain array);
* `x_u4` (int4[]): a numeric(p, s > 0) column whose values are all integral (KRW prices);
* `x`    (the column's own type, array): everything else, exactly as before.

The conditions are aggregates over the row's cells (`h.<col>`, one per trading day of the month),
evaluated once per row by the compaction INSERT; the casts that could overflow are applied to the
aggregated array only under a condition proving they cannot. `decode` is the view's expression; it
casts back to the column's type and typmod, so the view's columns keep format_type() exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INT_RANGE = {"int2": (-32768, 32767), "int4": (-2147483648, 2147483647),
             "int8": (-9223372036854775808, 9223372036854775807)}
FLOAT_SCALE = 10000          # float8 values with <= 4 decimals (moving averages of prices) are exact
FLOAT_EXACT = {"int4": 214748, "int8": 10 ** 10}   # |v| bound: v * 10^4 is exact in float8 and fits the int
CONST_TYPES = ("smallint", "integer", "bigint", "numeric", "text", "character", "date", "timestamp")


@dataclass(frozen=True)
class Encoding:
    suffix: str          # cold column name = column name + suffix
    ctype: str           # type of the cold column
    when: str            # aggregate condition (h.<col>, h.<present>): this encoding is exact
    encode: str          # aggregate expression: the cold column's value
    decode: str          # expression of the cold row c and day d: the view column's value
    scalar: bool = False


def _range(expr: str, target: str) -> str:
    lo, hi = INT_RANGE[target]
    return f"min({expr}) >= {lo} AND max({expr}) <= {hi}"


def encodings(name: str, ctype: str, present: str, is_present: bool) -> list[Encoding]:
    """Encodings of column `name` (format_type `ctype`), most compact first, plain array last."""
    v, arr = f"h.{name}", f"array_agg(h.{name} ORDER BY k.idx)"
    out: list[Encoding] = []
    if not is_present and ctype.startswith(CONST_TYPES):
        out.append(Encoding("_k", ctype, f"count({v}) = count(h.{present}) AND min({v}) = max({v})",
                            f"min({v})", f"c.{name}_k", scalar=True))
    base = ctype.split("(")[0]
    if base in ("smallint", "integer", "bigint"):
        for target in ("int2", "int4")[: {"smallint": 0, "integer": 1, "bigint": 2}[base]]:
            out.append(Encoding(f"_s{target[-1]}", f"{target}[]", _range(v, target), f"{arr}::{target}[]",
                                f"c.{name}_s{target[-1]}[d.idx]::{ctype}"))
    elif base == "numeric" and (m := re.fullmatch(r"numeric\((\d+),(\d+)\)", ctype)):
        scale = int(m.group(2))
        factor, unit = 10 ** scale, f"0.{'0' * (scale - 1)}1" if scale else "1"
        scaled = f"({v} * {factor})"
        sarr = f"array_agg({scaled} ORDER BY k.idx)"

        def dec(suffix: str) -> str:
            return f"(c.{name}{suffix}[d.idx] * {unit})::{ctype}" if scale else f"c.{name}{suffix}[d.idx]::{ctype}"
        out.append(Encoding("_s2", "int2[]", _range(scaled, "int2"), f"{sarr}::int2[]", dec("_s2")))
        if scale:
            out.append(Encoding("_u4", "int4[]", f"bool_and({v} = trunc({v})) AND {_range(v, 'int4')}",
                                f"{arr}::int4[]", f"c.{name}_u4[d.idx]::{ctype}"))
        out.append(Encoding("_s4", "int4[]", _range(scaled, "int4"), f"{sarr}::int4[]", dec("_s4")))
        out.append(Encoding("_s8", "int8[]", _range(scaled, "int8"), f"{sarr}::int8[]", dec("_s8")))
    elif ctype == "double precision":
        f = f"{FLOAT_SCALE}::float8"
        for target in ("int4", "int8"):
            bound = FLOAT_EXACT[target]
            # CASE, not AND: the product must not be computed for a value near float8's limit
            exact = (f"bool_and(CASE WHEN abs({v}) < {bound} THEN float8send(round({v} * {f}) / {f}) "
                     f"= float8send({v}) WHEN {v} IS NOT NULL THEN false END)")
            out.append(Encoding(
                f"_s{target[-1]}", f"{target}[]", f"max(abs({v})) < {bound} AND {exact}",
                f"array_agg(round({v} * {f}) ORDER BY k.idx)::{target}[]",
                f"(c.{name}_s{target[-1]}[d.idx]::float8 / {f})"))
    out.append(Encoding("", f"{ctype}[]", "true", arr, f"c.{name}[d.idx]"))
    return out


def decode(name: str, encs: list[Encoding]) -> str:
    """The view's expression for column `name`: the first set cold column wins."""
    if len(encs) == 1:
        return encs[0].decode
    arms = " ".join(f"WHEN c.{name}{e.suffix} IS NOT NULL THEN {e.decode}" for e in encs[:-1])
    return f"CASE {arms} ELSE {encs[-1].decode} END"


def present(name: str, encs: list[Encoding]) -> str:
    """`<column> IS NOT NULL` for the row filter, without decoding (no numeric built per cell)."""
    return "(" + " OR ".join(f"c.{name}{e.suffix}[d.idx] IS NOT NULL" for e in encs if not e.scalar) + ")"


def encode(name: str, encs: list[Encoding]) -> list[str]:
    """One aggregate expression per cold column of `name`, in `encs` order: the first encoding
    whose condition holds gets the value, the others NULL; no value at all -> all NULL."""
    out = []
    for i, e in enumerate(encs):
        earlier = "".join(f" AND NOT coalesce({p.when}, false)" for p in encs[:i])
        out.append(f"CASE WHEN count(h.{name}) > 0{earlier} AND coalesce({e.when}, false) "
                   f"THEN {e.encode} END")
    return out
