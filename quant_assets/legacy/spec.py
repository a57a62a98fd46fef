"""How one Spock table is mapped: the `Spec` every per-table mapper returns, and its helpers.

A mapper's `prepare(frame, ctx)` gets a batch of source rows (all their columns, plus `_rowid`,
`_stamp` = the raw created/updated text, and the SQL-computed key columns `_k0`, `_k1`, ...)
and returns the rows in the target's columns, with
    _region   the region the row belongs to (reporting and the archive), None for none;
    _reason   why the row is rejected, None when it is valid;
    _pref     optional: among re-fetches of one key, higher wins before recency (FX quality).
plus `flags`: name -> boolean mask of rows imported with a caveat (halted bar, fallback FX, ...).
The engine then collapses duplicate keys to the latest row, fits values to the column types,
writes, archives the rejected and collapsed rows, and counts everything per region.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from quant_assets.legacy.source import Resolver


@dataclasses.dataclass
class Ctx:
    resolver: Resolver | None
    known: dict[tuple[str, str], str]          # (ticker, region) -> asset_type: warehouse + this import
    checksum: str
    dry_run: bool


@dataclasses.dataclass
class Prepared:
    frame: pd.DataFrame
    flags: dict[str, pd.Series] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Spec:
    source: str                                    # Spock table
    target: str                                    # PostgreSQL table (legacy_rows: archived whole)
    columns: list[str]                             # target columns written
    prepare: Callable[[pd.DataFrame, Ctx], Prepared]
    write: Callable[[psycopg.Connection, pd.DataFrame], int] | None
    key: list[str] | None = None                   # target key: duplicates collapse to the latest row
    sql_key: list[str] | None = None               # SQLite expressions: keyset batches (None: one batch)
    region_sql: str | None = None                  # SQLite expression of the row's region, as `_r` in sql_key
    stamp: str | None = None                       # source column that orders re-fetches
    finish: Callable[[pd.DataFrame], pd.DataFrame] | None = None   # after collapsing (e.g. ranks)
    note: str | None = None


class Rows:
    """Builds a Prepared frame: reject() keeps the FIRST reason a row fails for."""

    def __init__(self, src: pd.DataFrame):
        self.src = src
        self.out = pd.DataFrame(index=src.index)
        self.out["_reason"] = pd.Series(None, index=src.index, dtype=object)
        self.out["_region"] = pd.Series(None, index=src.index, dtype=object)
        self.flags: dict[str, pd.Series] = {}

    def col(self, *names: str, default: Any = None) -> pd.Series:
        for n in names:
            if n in self.src.columns:
                return self.src[n]
        return pd.Series(default, index=self.src.index, dtype=object)

    def num(self, *names: str) -> pd.Series:
        return pd.to_numeric(self.col(*names), errors="coerce").astype("float64")

    def text(self, *names: str) -> pd.Series:
        s = self.col(*names)
        s = s.where(s.isna(), s.astype(str).str.strip())
        return s.where(s != "", None)

    def reject(self, reason: str, mask: pd.Series | np.ndarray) -> None:
        mask = pd.Series(mask, index=self.src.index).fillna(False).astype(bool)
        self.out.loc[mask & self.out["_reason"].isna(), "_reason"] = reason

    def flag(self, name: str, mask: pd.Series | np.ndarray) -> None:
        mask = pd.Series(mask, index=self.src.index).fillna(False).astype(bool)
        self.flags[name] = self.flags.get(name, pd.Series(False, index=self.src.index)) | mask

    def done(self) -> Prepared:
        return Prepared(self.out, self.flags)


def has(src: pd.DataFrame, name: str) -> bool:
    return name in src.columns


def region_expr(cols: list[str], ticker: str = "ticker", region: str = "region") -> str:
    """SQLite expression: the row's region (its own column when it has one, else resolved)."""
    return f"spock_region({ticker}, {region if region in cols else 'NULL'})"


def known_check(rows: Rows, tickers: pd.Series, regions: pd.Series, raw: pd.Series, ctx: Ctx) -> pd.Series:
    """Reject rows whose (ticker, region) is no ticker; returns the asset types of the rest."""
    pairs = list(zip(tickers, regions, strict=True))
    kinds = pd.Series([ctx.known.get(p) for p in pairs], index=tickers.index, dtype=object)
    missing = kinds.isna() & (tickers != "") & (regions != "")
    lost = pd.Series([bool(m) and ctx.resolver.lost_in_spock(r, g)
                      for m, r, g in zip(missing, raw, regions, strict=True)], index=tickers.index)
    rows.reject("ticker_region_lost_in_spock", missing & lost)
    rows.reject("unknown_ticker", missing)
    return kinds


def place(rows: Rows, ticker_k: str, region_k: str) -> tuple[pd.Series, pd.Series]:
    """The SQL-computed (symbol, region) of each row, rejecting those that cannot be placed."""
    region = rows.src[region_k].fillna("")
    ticker = rows.src[ticker_k].fillna("")
    rows.reject("region_unknown", region == "")
    rows.reject("bad_symbol", ticker == "")
    rows.out["_region"] = region.where(region != "", None)
    return ticker, region


def place_py(rows: Rows, ctx: Ctx, raw: pd.Series, row_region: pd.Series | None = None
             ) -> tuple[pd.Series, pd.Series]:
    """(symbol, region) of small tables resolved in Python (same rules as the SQL functions)."""
    res = ctx.resolver
    reg = row_region if row_region is not None else pd.Series(None, index=raw.index, dtype=object)
    region = pd.Series([res.region(r, g) for r, g in zip(raw, reg, strict=True)], index=raw.index, dtype=object)
    ticker = pd.Series([res.symbol(r, g) for r, g in zip(raw, region, strict=True)], index=raw.index, dtype=object)
    rows.reject("region_unknown", region == "")
    rows.reject("bad_symbol", ticker == "")
    rows.out["_region"] = region.where(region != "", None)
    return ticker, region
