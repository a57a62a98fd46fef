"""The Spock SQLite file, read-only, and the symbol/region resolver its rows are keyed with.

Spock keyed most tables by ticker alone, in per-table spellings ('0700.HK' in tickers, '00005' in
stock_details, '2.SZ' for CN). `Resolver` places such a row: the row's own region when it has
one, else the region Spock's `tickers` gave that exact symbol, else the region a suffix names,
else the single region in which the symbol's canonical form is a known ticker. Its methods are
registered as SQLite functions, so big tables are keyed, sorted and resumed inside SQLite.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
from pathlib import Path
from typing import Any

from quant_assets import symbols
from quant_assets.legacy import values


class LegacyImportError(RuntimeError):
    """The file cannot be imported at all (missing, not SQLite, not a Spock database)."""


def raw_key(value: Any) -> str | None:
    """Spock's ticker as text: INTEGER 5930 and REAL 5930.0 both become '5930'."""
    if values.is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().upper()
    return text or None


class Resolver:
    """(symbol, region) of Spock's ticker spellings; `known` maps (ticker, region) -> asset_type."""

    def __init__(self, spock_regions: dict[str, str], known: dict[tuple[str, str], str]):
        self.spock_regions = spock_regions        # raw Spock ticker -> region in Spock's tickers/etfs
        self.known = known

    @functools.lru_cache(maxsize=262_144)  # noqa: B019 - one resolver per import, dropped afterwards
    def region(self, raw: Any, row_region: Any = None) -> str:
        """Region of a row ('' when it cannot be placed)."""
        if not values.is_missing(row_region):
            r = str(row_region).strip().upper()
            return r if r in symbols.REGIONS else ""
        key = raw_key(raw)
        if key is None:
            return ""
        if key in self.spock_regions:
            return self.spock_regions[key]
        suffix = symbols.suffix_region(key)
        if suffix:
            return suffix
        hits = [r for r in symbols.candidates(key) if (symbols.normalise(r, key), r) in self.known]
        return hits[0] if len(hits) == 1 else ""

    @functools.lru_cache(maxsize=262_144)  # noqa: B019
    def symbol(self, raw: Any, region: Any) -> str:
        """Canonical symbol of `raw` in `region` ('' when it has none)."""
        if values.is_missing(raw) or not region:
            return ""
        try:
            return symbols.normalise(str(region), raw)
        except symbols.SymbolError:
            return ""

    def lost_in_spock(self, raw: Any, region: str) -> bool:
        """True when Spock's tickers held this symbol under another region (the US/VN collisions)."""
        other = self.spock_regions.get(raw_key(raw) or "")
        return bool(other) and other != region

    def constituent(self, raw: Any, etf_region: str) -> tuple[str, str]:
        """(stock_ticker, constituent_type) of an ETF holding, placed like KRX's PDF rows are."""
        key = raw_key(raw) or ""
        home = self.spock_regions.get(key) or symbols.suffix_region(key)
        for region in ([home] if home else []) + [etf_region]:
            code = self.symbol(raw, region)
            if code and (code, region) in self.known:
                kind = self.known[(code, region)]
                if region != etf_region:
                    return code, "FOREIGN"
                return code, "ETF" if kind == "ETF" else "STOCK"
        code = self.symbol(raw, etf_region)
        return (code or key), "OTHER"


class LegacySource:
    """A Spock SQLite database opened read-only (the import never writes to it)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_file():
            raise LegacyImportError(f"Spock database not found: {self.path}")
        try:
            self.conn = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True)
            self.tables = sorted(r[0] for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
        except sqlite3.DatabaseError as exc:
            raise LegacyImportError(f"{self.path} is not an SQLite database ({exc})") from None
        if "tickers" not in self.tables or not {"ticker", "region"} <= set(self.columns("tickers")):
            self.conn.close()
            raise LegacyImportError(f"{self.path} is not a Spock database: it has no tickers(ticker, region) table")
        self.conn.create_function("spock_date", 1, lambda v: values.to_date(v) or "", deterministic=True)
        self.conn.create_function("spock_tf", 1, lambda v: values.timeframe(v) or "", deterministic=True)
        self.conn.create_function("spock_period", 1, lambda v: values.period_type(v) or "", deterministic=True)
        self.conn.create_function("spock_fund_date", 4,
                                  lambda p, y, d, s: values.fundamentals_date(p, y, d, s)[0] or "",
                                  deterministic=True)

    def use(self, resolver: Resolver) -> None:
        self.conn.create_function("spock_region", 2, resolver.region, deterministic=True)
        self.conn.create_function("spock_symbol", 2, resolver.symbol, deterministic=True)

    def checksum(self) -> str:
        digest = hashlib.sha256()
        with self.path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    @functools.cache  # noqa: B019
    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f'PRAGMA table_info("{table}")')]

    def without_rowid(self, table: str) -> bool:
        sql = self.conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
        return bool(sql and sql[0] and "WITHOUT ROWID" in sql[0].upper())

    def count(self, table: str) -> int:
        return self.conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]

    def spock_regions(self) -> dict[str, str]:
        """Raw ticker -> region as Spock's tickers (and etfs) tables recorded it."""
        out: dict[str, str] = {}
        for table in ("etfs", "tickers"):          # tickers last: it is the registry
            if table in self.tables and {"ticker", "region"} <= set(self.columns(table)):
                for raw, region in self.conn.execute(f'SELECT ticker, region FROM "{table}"'):
                    key, reg = raw_key(raw), str(region or "").strip().upper()
                    if key and reg in symbols.REGIONS:
                        out[key] = reg
        return out

    def close(self) -> None:
        self.conn.close()
