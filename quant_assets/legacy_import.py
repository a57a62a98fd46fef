"""Import a legacy Spock SQLite database (the users' previous cron tool) into the warehouse.

    run_import(sqlite_path, warehouse, dry_run=False, batch_rows=50_000) -> ImportReport
    legacy_import_job   (Dagster op job; run config: sqlite_path, dry_run, batch_rows, max_batches)

What is read (columns are looked up by name; missing optional columns are simply absent):
    tickers        ticker, name, exchange|market, asset_type, region, is_active, listing_date,
                   delisting_date, isin, created_at|last_updated
    ohlcv_data     ticker, region, timeframe, date, open, high, low, close, volume[, value,
                   market_cap, listed_shares], created_at
    stock_details  ticker + columns that exist in our stock_details (sector, par_value, ...)
    etf_details    ticker, issuer, tracking_index, expense_ratio (percent, as Spock documents it),
                   leverage_ratio ('2배', '-1배'), inception_date, listed_shares, isin
    etf_holdings   etf_ticker, stock_ticker, weight (percent), shares, market_value, as_of_date

Policies (each visible in the integrity report):
- Tickers become 6-char text: integer or short digit codes are zero-padded (5930 -> '005930'),
  'A005930' and '005930.KS' are unwrapped; anything else not 6 alphanumerics is rejected.
- Markets are normalised to KOSPI/KOSDAQ/KONEX/ETF; an ETF is a ticker whose market or asset
  type says ETF or that has a legacy etf_details row. Non-KR rows and ETN/ELW are skipped.
- Duplicate keys (same normalised ticker+date, ticker, or holding) are collapsed keeping the LAST
  row by created_at (then by SQLite rowid): the most recent write in the legacy tool won there
  too. Invalid rows (NULL/non-positive close, NULL volume, high < low, ...) are rejected BEFORE
  collapsing, so a later broken re-fetch never replaces an earlier good bar.
- ohlcv_data.value (traded value, NOT NULL here) is the legacy value when present, else
  round(close × volume) (counted as a fix). change/change_pct stay NULL (Spock kept neither).
  Open/high/low of 0 (KRX's "no trade" convention) become NULL.
- The warehouse wins over the legacy file: existing rows are never overwritten. Tickers and
  details only get NULL columns filled in; bars already present are kept; an ETF's holdings on a
  date already loaded are left as they are. So a re-run inserts nothing and changes nothing.
- etf_details needs an ISIN, which Spock did not keep: ETFs without a known ISIN (legacy column,
  or one already in the warehouse) go into `tickers` only and are listed in the report. ISINs
  are never derived. `multiple` comes from leverage_ratio, else from the name (레버리지 -> 2,
  인버스 -> -1, 인버스 2X -> -2), else 1.
- etf_holdings is imported only when the warehouse has that table (sql/002); legacy holdings
  whose ETF or constituent is unknown are orphans (skipped, reported). Legacy shares are taken as
  shares per creation unit and weight as a percent; rank is recomputed (largest |market value|).

Batches: ohlcv_data and etf_holdings stream from SQLite in key order (one sort per run) and are
written in batches of about `batch_rows` rows, each batch (COPY into a staging table, INSERT ...
ON CONFLICT DO NOTHING, progress row) in its own transaction. legacy_import_progress remembers per
source checksum and table the last key committed, so an interrupted import resumes right after it
and its cumulative counts equal those of an uninterrupted run. A completed import re-run starts a
fresh pass (which then inserts nothing). Dry run: the same reading and validation, no writes at all.
"""

import copy
import dataclasses
import hashlib
import json
import logging
import numbers
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pandera.pandas as pa
import psycopg
from pandera.typing import Series

from quant_assets.resources.warehouse import Warehouse, copy_frame
from quant_assets.schemas.prices import TICKER, OhlcvSchema
from quant_assets.schemas.validation import validate

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000
MAX_EXAMPLES = 5
TARGET_TABLES = ("tickers", "stock_details", "etf_details", "ohlcv_data", "etf_holdings")

MARKETS = {
    "KOSPI": "KOSPI", "KSE": "KOSPI", "STK": "KOSPI", "KOSPI MARKET": "KOSPI", "유가증권": "KOSPI",
    "유가증권시장": "KOSPI", "KOSDAQ": "KOSDAQ", "KSQ": "KOSDAQ", "KOSDAQ GLOBAL": "KOSDAQ",
    "코스닥": "KOSDAQ", "KONEX": "KONEX", "KNX": "KONEX", "코넥스": "KONEX", "ETF": "ETF",
}
STOCK_TYPES = {"", "STOCK", "COMMON", "PREFERRED", "REIT", "SPAC", "EQUITY"}
DAILY = ("D", "1D", "DAY", "DAILY")
MULTIPLES = {1.0, 2.0, 3.0, -1.0, -2.0, -3.0}


# -- value normalisation ------------------------------------------------------------------------
def normalize_ticker(value: Any) -> str | None:
    """Legacy code -> 6-char ticker, or None when it cannot be one."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        text = str(int(value))
    elif isinstance(value, numbers.Real):
        if value != value or not float(value).is_integer():
            return None
        text = str(int(value))
    else:
        text = str(value).strip().upper()
        text = re.sub(r"\.(KS|KQ|KN|KRX)$", "", text)
        if len(text) == 7 and text[0] == "A" and text[1:].isdigit():
            text = text[1:]
    if text.isdigit():
        text = text.zfill(6)
    return text if len(text) == 6 and text.isalnum() and text.isascii() else None


_DATE = re.compile(r"^(\d{4})[-/.]?(\d{2})[-/.]?(\d{2})(?:[ T].*)?$")


def normalize_date(value: Any) -> str | None:
    """Legacy date text ('YYYY-MM-DD', 'YYYYMMDD', 'YYYY/MM/DD', with or without time) -> ISO date."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        if value != value:
            return None
        value = str(int(value))
    m = _DATE.match(str(value).strip())
    if not m:
        return None
    try:
        return pd.Timestamp(int(m[1]), int(m[2]), int(m[3])).date().isoformat()
    except ValueError:
        return None


def _normalize_market(market: Any) -> str | None:
    return MARKETS.get(str(market).strip().upper()) if market is not None else None


def _flag(value: Any) -> bool | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value).strip().upper() in {"1", "1.0", "Y", "YES", "TRUE", "T", "ACTIVE"}


def _multiple(leverage: Any, name: Any) -> tuple[float, str]:
    """(multiple, where it came from): legacy leverage_ratio text, else the name, else 1."""
    if leverage is not None and not (isinstance(leverage, float) and leverage != leverage):
        m = re.search(r"-?\d+(?:\.\d+)?", str(leverage))
        if m and float(m[0]) in MULTIPLES:
            return float(m[0]), "leverage_ratio"
    text = str(name or "").upper().replace(" ", "")
    if "인버스" in text or "INVERSE" in text:
        return (-2.0 if re.search(r"2X|곱버스", text) else -1.0), "name"
    if "레버리지" in text or "LEVERAGE" in text:
        return 2.0, "name"
    return 1.0, "default"


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN to None (examples go to Dagster metadata)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


# -- report -------------------------------------------------------------------------------------
@dataclasses.dataclass
class TableReport:
    """What happened to one target table. read = imported + rejected + collapsed."""

    read: int = 0
    imported: int = 0                 # valid rows (written now or already in PostgreSQL)
    inserted: int = 0                 # rows that were new to PostgreSQL (0 in a dry run)
    collapsed: int = 0                # duplicate keys collapsed into one row
    rejected: Counter = dataclasses.field(default_factory=Counter)   # reason -> rows
    fixed: Counter = dataclasses.field(default_factory=Counter)      # repair -> rows
    examples: dict[str, list] = dataclasses.field(default_factory=dict)
    status: str = "pending"           # imported | dry_run | interrupted | skipped | missing_source
    note: str | None = None

    @property
    def skipped(self) -> int:
        return sum(self.rejected.values()) + self.collapsed

    def example(self, reason: str, items: list, limit: int = MAX_EXAMPLES) -> None:
        have = self.examples.setdefault(reason, [])
        have.extend(_plain(i) for i in items[: max(0, limit - len(have))])

    def reject(self, reason: str, mask: pd.Series, frame: pd.DataFrame, describe: Callable) -> pd.Series:
        """Count rows of `mask` not yet rejected under `reason`; return the updated keep-mask."""
        hit = mask & frame["_keep"]
        n = int(hit.sum())
        if n:
            self.rejected[reason] += n
            self.example(reason, [describe(r) for r in frame[hit].head(MAX_EXAMPLES).to_dict("records")])
            frame["_keep"] &= ~hit
        return frame["_keep"]

    def fix(self, repair: str, rows: int) -> None:
        if rows:
            self.fixed[repair] += int(rows)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["rejected"] = dict(self.rejected)
        out["fixed"] = dict(self.fixed)
        out["skipped"] = self.skipped
        return out

    @classmethod
    def from_stats(cls, stats: dict[str, Any]) -> "TableReport":
        fields = {f.name for f in dataclasses.fields(cls)}
        rep = cls(**{k: v for k, v in stats.items() if k in fields})
        rep.rejected, rep.fixed = Counter(rep.rejected), Counter(rep.fixed)
        return rep


@dataclasses.dataclass
class ImportReport:
    source: str
    checksum: str
    dry_run: bool
    completed: bool = False
    tables: dict[str, TableReport] = dataclasses.field(default_factory=dict)
    final_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "checksum": self.checksum, "dry_run": self.dry_run,
                "completed": self.completed, "tables": {k: v.to_dict() for k, v in self.tables.items()},
                "final_counts": self.final_counts, "notes": self.notes}

    def markdown(self) -> str:
        lines = ["| table | status | read | imported | inserted | collapsed | rejected | in PostgreSQL |",
                 "|---|---|---:|---:|---:|---:|---|---:|"]
        for name, t in self.tables.items():
            rejected = ", ".join(f"{k}: {v}" for k, v in sorted(t.rejected.items())) or "0"
            lines.append(f"| {name} | {t.status} | {t.read} | {t.imported} | {t.inserted} | {t.collapsed} "
                         f"| {rejected} | {self.final_counts.get(name, '-')} |")
        return "\n".join(lines + [""] + [f"- {n}" for n in self.notes])

    def summary(self) -> str:
        head = f"{'DRY RUN: ' if self.dry_run else ''}legacy import of {self.source} " \
               f"({'complete' if self.completed else 'INCOMPLETE'})"
        return head + "\n" + self.markdown()

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "source": self.source, "dry_run": self.dry_run, "completed": self.completed,
            "report": dg.MetadataValue.json(self.to_dict()), "summary": dg.MetadataValue.md(self.markdown()),
        }
        for name, t in self.tables.items():
            meta[f"{name}_imported"] = t.imported
            meta[f"{name}_skipped"] = t.skipped
        return meta


# -- source -------------------------------------------------------------------------------------
class LegacySource:
    """The Spock SQLite file, opened read-only, with the normalisers registered as SQL functions."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise FileNotFoundError(f"legacy database not found: {self.path}")
        self.conn = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True)
        self.conn.create_function("norm_ticker", 1, normalize_ticker, deterministic=True)
        self.conn.create_function("norm_date", 1, normalize_date, deterministic=True)
        self.tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def checksum(self) -> str:
        digest = hashlib.sha256()
        with self.path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f'PRAGMA table_info("{table}")')]

    def read(self, table: str) -> pd.DataFrame:
        cur = self.conn.execute(f'SELECT rowid AS _rowid, * FROM "{table}"')
        return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])

    def close(self) -> None:
        self.conn.close()


def _first(columns: list[str], *candidates: str) -> str | None:
    return next((c for c in candidates if c in columns), None)


def _order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in 'last write wins' order: created_at (or last_updated) then rowid."""
    stamp = _first(list(frame.columns), "created_at", "last_updated", "updated_at")
    keys = ([stamp] if stamp else []) + ["_rowid"]
    return frame.sort_values(keys, kind="stable", na_position="first")


# -- PostgreSQL helpers -------------------------------------------------------------------------
def _merge(conn: psycopg.Connection, table: str, frame: pd.DataFrame, key: list[str]) -> int:
    """Insert new rows; for existing keys only fill columns that are NULL. Returns rows inserted."""
    if frame.empty:
        return 0
    tmp = f"_legacy_{table}"
    conn.execute(f"CREATE TEMP TABLE {tmp} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
    copy_frame(conn, tmp, frame)
    cols = list(frame.columns)
    fill = [c for c in cols if c not in key]
    action = "DO NOTHING"
    if fill:
        sets = ", ".join(f"{c} = COALESCE({table}.{c}, EXCLUDED.{c})" for c in fill)
        when = " OR ".join(f"({table}.{c} IS NULL AND EXCLUDED.{c} IS NOT NULL)" for c in fill)
        action = f"DO UPDATE SET {sets}, updated_at = now() WHERE {when}"
    rows = conn.execute(
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {tmp} "
        f"ON CONFLICT ({', '.join(key)}) {action} RETURNING (xmax = 0) AS inserted"
    ).fetchall()
    conn.execute(f"DROP TABLE {tmp}")
    return sum(1 for (ins,) in rows if ins)


def _table_exists(warehouse: Warehouse, table: str) -> bool:
    with warehouse.connect() as conn:
        return conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()[0] is not None


def _final_counts(warehouse: Warehouse) -> dict[str, int]:
    counts = {}
    with warehouse.connect() as conn:
        for table in TARGET_TABLES:
            if conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()[0] is not None:
                counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return counts


# -- reference tables ---------------------------------------------------------------------------
@dataclasses.dataclass
class Universe:
    """Tickers known after the reference step: legacy ones plus what the warehouse already has."""

    asset_type: dict[str, str]
    market: dict[str, str]
    name: dict[str, str]
    isin: dict[str, str]


def _import_tickers(src: LegacySource, wh: Warehouse, dry_run: bool, rep: TableReport,
                    etf_detail_tickers: set[str]) -> Universe:
    raw = src.read("tickers")
    cols = list(raw.columns)
    rep.read = len(raw)
    f = raw.copy()
    f["_keep"] = True
    f["t"] = f["ticker"].map(normalize_ticker)
    show = lambda r: {"ticker": r.get("ticker")}  # noqa: E731
    if "region" in cols:
        rep.reject("non_kr_region", f["region"].notna() & (f["region"].astype(str).str.upper() != "KR"), f, show)
    rep.reject("invalid_ticker", f["t"].isna(), f, show)
    market_col = _first(cols, "market", "exchange", "market_type")
    market = f[market_col].map(_normalize_market) if market_col else pd.Series(None, index=f.index, dtype=object)
    kind = (f["asset_type"].fillna("").astype(str).str.strip().str.upper() if "asset_type" in cols
            else pd.Series("", index=f.index))
    is_etf = (kind == "ETF") | (market == "ETF") | f["t"].isin(etf_detail_tickers)
    rep.reject("unsupported_asset_type", ~is_etf & ~kind.isin(STOCK_TYPES), f,
               lambda r: {"ticker": r.get("ticker"), "asset_type": r.get("asset_type")})
    rep.reject("unknown_market", ~is_etf & ~market.isin(["KOSPI", "KOSDAQ", "KONEX"]), f,
               lambda r: {"ticker": r.get("ticker"), "market": r.get(market_col) if market_col else None})
    f["market_n"] = np.where(is_etf, "ETF", market)
    f["asset_type_n"] = np.where(is_etf, "ETF", "STOCK")
    valid = _order(f[f["_keep"]])
    dup = valid.duplicated("t", keep="last")
    rep.collapsed = int(dup.sum())
    rep.example("duplicate_ticker", sorted(set(valid.loc[dup, "t"])))
    valid = valid[~dup]

    names = valid["name"] if "name" in cols else pd.Series(None, index=valid.index, dtype=object)
    no_name = names.isna() | (names.astype(str).str.strip() == "")
    rep.fix("name_missing_set_to_ticker", no_name.sum())
    dates = {}
    for col in ("listing_date", "delisting_date"):
        values = valid[col] if col in cols else pd.Series(None, index=valid.index, dtype=object)
        dates[col] = values.map(normalize_date)
        rep.fix(f"unparseable_{col}_set_null", (values.notna() & dates[col].isna()).sum())
    active = (valid["is_active"].map(_flag) if "is_active" in cols
              else pd.Series(None, index=valid.index, dtype=object))
    active = active.where(active.notna(), dates["delisting_date"].isna()).astype(bool)
    isin = valid["isin"].where(valid["isin"].astype(str).str.fullmatch(r"[A-Z0-9]{12}")) if "isin" in cols \
        else pd.Series(None, index=valid.index, dtype=object)
    out = pd.DataFrame({
        "ticker": valid["t"], "isin": isin, "name": names.where(~no_name, valid["t"]).astype(str).str.strip(),
        "region": "KR", "market": valid["market_n"], "asset_type": valid["asset_type_n"],
        "listing_date": dates["listing_date"], "delisting_date": dates["delisting_date"], "active": active,
    })
    rep.imported = len(out)
    if not dry_run:
        with wh.connect() as conn, conn.transaction():
            rep.inserted = _merge(conn, "tickers", out, ["ticker"])
    rep.status = "dry_run" if dry_run else "imported"

    existing = wh.read_frame("SELECT ticker, asset_type, market, name, isin FROM tickers")
    uni = Universe(dict(zip(out["ticker"], out["asset_type"], strict=True)),
                   dict(zip(out["ticker"], out["market"], strict=True)),
                   dict(zip(out["ticker"], out["name"], strict=True)),
                   {t: i for t, i in zip(out["ticker"], out["isin"], strict=True) if isinstance(i, str)})
    # The warehouse is authoritative for what it already knows.
    for row in existing.itertuples(index=False):
        uni.asset_type[row.ticker], uni.market[row.ticker], uni.name[row.ticker] = (
            row.asset_type, row.market, row.name)
        if row.isin:
            uni.isin[row.ticker] = row.isin
    return uni


def _import_stock_details(src: LegacySource, wh: Warehouse, dry_run: bool, rep: TableReport,
                          uni: Universe) -> None:
    raw = src.read("stock_details")
    cols = list(raw.columns)
    rep.read = len(raw)
    f = raw.copy()
    f["_keep"] = True
    f["t"] = f["ticker"].map(normalize_ticker)
    show = lambda r: {"ticker": r.get("ticker")}  # noqa: E731
    rep.reject("invalid_ticker", f["t"].isna(), f, show)
    rep.reject("unknown_ticker", ~f["t"].isin(uni.asset_type), f, show)
    rep.reject("not_a_stock", f["t"].map(uni.asset_type) != "STOCK", f, show)
    valid = _order(f[f["_keep"]])
    dup = valid.duplicated("t", keep="last")
    rep.collapsed = int(dup.sum())
    valid = valid[~dup]

    target = [c for c in wh.read_frame(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = 'stock_details' ORDER BY ordinal_position")["column_name"] if c not in ("ticker", "updated_at")]
    aliases = {"name_eng": "english_name", "shares_outstanding": "listed_shares"}
    mapping = {c: c for c in cols if c in target} | {a: t for a, t in aliases.items() if a in cols and t not in cols}
    out = pd.DataFrame({"ticker": valid["t"], "market": valid["t"].map(uni.market)})
    numeric = {"par_value", "listed_shares"}
    for legacy, col in mapping.items():
        if col == "market":
            continue
        out[col] = pd.to_numeric(valid[legacy], errors="coerce").round() if col in numeric else valid[legacy]
    unused = sorted(set(cols) - set(mapping) - {"_rowid", "ticker", "created_at", "last_updated", "enriched_at",
                                                 "region"})
    if unused:
        rep.note = f"legacy columns with no stock_details column, not imported: {', '.join(unused)}"
    rep.imported = len(out)
    if not dry_run:
        with wh.connect() as conn, conn.transaction():
            rep.inserted = _merge(conn, "stock_details", out, ["ticker"])
    rep.status = "dry_run" if dry_run else "imported"


def _import_etf_details(src: LegacySource, wh: Warehouse, dry_run: bool, rep: TableReport, uni: Universe) -> None:
    raw = src.read("etf_details")
    cols = list(raw.columns)
    rep.read = len(raw)
    f = raw.copy()
    f["_keep"] = True
    f["t"] = f["ticker"].map(normalize_ticker)
    show = lambda r: {"ticker": r.get("ticker")}  # noqa: E731
    rep.reject("invalid_ticker", f["t"].isna(), f, show)
    rep.reject("unknown_ticker", ~f["t"].isin(uni.asset_type), f, show)
    rep.reject("not_an_etf", f["t"].map(uni.asset_type) != "ETF", f, show)
    existing_isin = dict(wh.read_frame("SELECT ticker, isin FROM etf_details").itertuples(index=False))
    legacy_isin = f["isin"] if "isin" in cols else pd.Series(None, index=f.index, dtype=object)
    f["isin_n"] = legacy_isin.where(legacy_isin.astype(str).str.fullmatch(r"[A-Z0-9]{12}"))
    f["isin_n"] = f["isin_n"].fillna(f["t"].map(uni.isin)).fillna(f["t"].map(existing_isin))
    no_isin = f["isin_n"].isna() & f["_keep"]
    rep.reject("no_isin", no_isin, f, show)
    # The complete list, not just examples: these ETFs are in `tickers` but lack etf_details.
    rep.examples["no_isin"] = sorted(set(f.loc[no_isin, "t"]))
    valid = _order(f[f["_keep"]])
    dup = valid.duplicated("t", keep="last")
    rep.collapsed = int(dup.sum())
    valid = valid[~dup]

    def col(*names: str) -> pd.Series:
        name = _first(cols, *names)
        return valid[name] if name else pd.Series(None, index=valid.index, dtype=object)

    lev = col("leverage_ratio", "multiple", "leverage")
    multiples = [_multiple(x, uni.name.get(t)) for x, t in zip(lev, valid["t"], strict=True)]
    sources = Counter(s for _, s in multiples)
    for k, v in sources.items():
        if k != "leverage_ratio":
            rep.fix(f"multiple_from_{k}", v)
    out = pd.DataFrame({
        "ticker": valid["t"], "isin": valid["isin_n"],
        "issuer": col("issuer"), "index_name": col("tracking_index", "index_name"),
        "multiple": [m for m, _ in multiples],
        "asset_class": col("underlying_asset_class", "asset_class"),
        "total_fee_pct": pd.to_numeric(col("expense_ratio", "total_fee_pct", "ter"), errors="coerce"),
        "listed_units": pd.to_numeric(col("listed_shares", "listed_units"), errors="coerce").round(),
        "listing_date": col("inception_date", "listing_date").map(normalize_date),
    })
    rep.imported = len(out)
    if not dry_run:
        with wh.connect() as conn, conn.transaction():
            rep.inserted = _merge(conn, "etf_details", out, ["ticker"])
    rep.status = "dry_run" if dry_run else "imported"


# -- batched tables -----------------------------------------------------------------------------
def _batch_ohlcv_schema() -> pa.DataFrameSchema:
    """OhlcvSchema for a batch that spans many days: unique on (ticker, date) instead of ticker.

    A copy, not a subclass: when a DataFrameModel subclass is turned into a schema before its
    parent, pandera renames the parent's named checks ("high >= low") to their method names, and
    every later ohlcv validation error would lose its field.
    """
    schema = copy.deepcopy(OhlcvSchema.to_schema())
    schema.unique = ["ticker", "date"]
    schema.coerce = True
    schema.strict = True
    return schema


_BATCH_OHLCV = _batch_ohlcv_schema()


class _BatchHoldingsSchema(pa.DataFrameModel):
    as_of_date: Series[pa.DateTime]
    etf_ticker: Series[str] = pa.Field(**TICKER)
    constituent_code: Series[str] = pa.Field(**TICKER)
    constituent_isin: Series[str] = pa.Field(nullable=True)
    constituent_name: Series[str] = pa.Field(nullable=True)
    constituent_type: Series[str] = pa.Field(isin=["STOCK", "ETF"])
    shares_per_cu: Series[float] = pa.Field(nullable=True)
    market_value: Series[float] = pa.Field(nullable=True)
    weight_pct: Series[float] = pa.Field(ge=-1000, le=1000, nullable=True)
    rank: Series[int] = pa.Field(ge=1)

    class Config:
        unique = ["etf_ticker", "as_of_date", "constituent_code"]
        coerce = True
        strict = True


@dataclasses.dataclass
class _Batched:
    """How one big table is streamed, cleaned and written."""

    table: str                 # target in PostgreSQL
    source: str                # legacy table
    group: list[str]           # resume/batch key: a group is never split across batches
    select: str                # SELECT producing k_* key columns, ordered
    clean: Callable[[pd.DataFrame, TableReport], pd.DataFrame]
    partition_column: str
    insert_sql: str            # INSERT INTO table ... SELECT ... FROM {tmp}


def _stream(src: LegacySource, spec: _Batched, last_key: list | None, batch_rows: int) -> Iterator[pd.DataFrame]:
    """Source rows after `last_key` in key order, in chunks of whole key groups."""
    keys = ", ".join(spec.group)
    where = f"WHERE ({keys}) > ({', '.join('?' * len(spec.group))})" if last_key else ""
    cur = src.conn.execute(spec.select.format(where=where), last_key or [])
    names = [d[0] for d in cur.description]
    carry: pd.DataFrame | None = None
    while True:
        rows = cur.fetchmany(batch_rows)
        if not rows:
            if carry is not None and len(carry):
                yield carry
            return
        chunk = pd.DataFrame(rows, columns=names)
        if carry is not None:
            chunk = pd.concat([carry, chunk], ignore_index=True)
        # Hold back the last key's rows: more of them may follow in the next fetch.
        last = chunk[spec.group].iloc[-1].tolist()
        tail = np.logical_and.reduce([chunk[k].to_numpy() == v for k, v in zip(spec.group, last, strict=True)])
        carry, body = chunk[tail], chunk[~tail]
        if len(body):
            yield body


def _clean_ohlcv(chunk: pd.DataFrame, rep: TableReport, uni: Universe) -> pd.DataFrame:
    f = chunk.copy()
    rep.read += len(f)
    f["_keep"] = True
    show = lambda r: {"ticker": r["raw_ticker"], "date": r["raw_date"]}  # noqa: E731
    rep.reject("invalid_ticker", f["k_ticker"] == "", f, show)
    rep.reject("invalid_date", f["k_date"] == "", f, show)
    rep.reject("unknown_ticker", ~f["k_ticker"].isin(uni.asset_type), f, show)
    for col in ("open", "high", "low", "close", "volume", "value", "market_cap", "listed_shares"):
        f[col] = pd.to_numeric(f[col], errors="coerce") if col in f else np.nan
    show = lambda r: {"ticker": r["k_ticker"], "date": r["k_date"]}  # noqa: E731
    rep.reject("null_close", f["close"].isna(), f, show)
    rep.reject("non_positive_close", f["close"] <= 0, f, show)
    rep.reject("null_or_negative_volume", f["volume"].isna() | (f["volume"] < 0), f, show)
    zero = (f[["open", "high", "low"]] <= 0) & f["_keep"].to_numpy()[:, None]
    rep.fix("zero_open_high_low_set_null", zero.any(axis=1).sum())
    f[["open", "high", "low"]] = f[["open", "high", "low"]].mask(f[["open", "high", "low"]] <= 0)
    rep.reject("inconsistent_ohlc", (f["high"] < f["low"]) | (f["close"] > f["high"]) | (f["close"] < f["low"]),
               f, lambda r: {"ticker": r["k_ticker"], "date": r["k_date"], "low": r["low"], "high": r["high"],
                             "close": r["close"]})
    valid = f[f["_keep"]]
    dup = valid.duplicated(["k_ticker", "k_date"], keep="last")    # rows come ordered by created_at, rowid
    rep.collapsed += int(dup.sum())
    rep.example("duplicate_key", [{"ticker": t, "date": d} for t, d in
                                  valid.loc[dup, ["k_ticker", "k_date"]].drop_duplicates().itertuples(index=False)])
    valid = valid[~dup]
    value = valid["value"].round()
    derived = value.isna()
    rep.fix("value_from_close_x_volume", derived.sum())
    out = pd.DataFrame({
        "date": valid["k_date"], "ticker": valid["k_ticker"], "asset_type": valid["k_ticker"].map(uni.asset_type),
        "open": valid["open"].round(), "high": valid["high"].round(), "low": valid["low"].round(),
        "close": valid["close"].round(), "change": np.nan, "change_pct": np.nan, "volume": valid["volume"].round(),
        "value": value.where(~derived, (valid["close"] * valid["volume"]).round()),
        "market_cap": valid["market_cap"].round(), "listed_shares": valid["listed_shares"].round(),
    })
    rep.imported += len(out)
    return validate(_BATCH_OHLCV, out, dataset="legacy ohlcv_data", date=None)


def _clean_holdings(chunk: pd.DataFrame, rep: TableReport, uni: Universe) -> pd.DataFrame:
    f = chunk.copy()
    rep.read += len(f)
    f["_keep"] = True
    show = lambda r: {"etf": r["raw_etf"], "stock": r["raw_stock"], "date": r["raw_date"]}  # noqa: E731
    rep.reject("invalid_key", (f["k_etf"] == "") | (f["k_date"] == "") | (f["k_code"] == ""), f, show)
    rep.reject("orphan_etf", f["k_etf"].map(uni.asset_type) != "ETF", f, show)
    rep.reject("orphan_constituent", ~f["k_code"].isin(uni.asset_type), f, show)
    for col in ("weight", "shares", "market_value"):
        f[col] = pd.to_numeric(f[col], errors="coerce") if col in f else np.nan
    rep.reject("weight_out_of_range", f["weight"].abs() > 1000, f, show)
    valid = f[f["_keep"]]
    dup = valid.duplicated(["k_etf", "k_date", "k_code"], keep="last")
    rep.collapsed += int(dup.sum())
    valid = valid[~dup].assign(_abs=lambda d: d["market_value"].abs())
    valid = valid.sort_values(["k_etf", "k_date", "_abs", "weight", "k_code"],
                              ascending=[True, True, False, False, True], na_position="last", kind="stable")
    out = pd.DataFrame({
        "as_of_date": valid["k_date"], "etf_ticker": valid["k_etf"], "constituent_code": valid["k_code"],
        "constituent_isin": valid["k_code"].map(uni.isin), "constituent_name": valid["k_code"].map(uni.name),
        "constituent_type": valid["k_code"].map(uni.asset_type), "shares_per_cu": valid["shares"],
        "market_value": valid["market_value"].round(), "weight_pct": valid["weight"].round(4),
        "rank": valid.groupby(["k_etf", "k_date"]).cumcount() + 1,
    })
    rep.imported += len(out)
    return validate(_BatchHoldingsSchema, out, dataset="legacy etf_holdings", date=None)


def _ohlcv_spec(src: LegacySource, uni: Universe) -> tuple[_Batched, str | None]:
    cols = src.columns("ohlcv_data")
    optional = {c: _first(cols, *names) for c, names in {
        "value": ("value", "trading_value", "amount"), "market_cap": ("market_cap",),
        "listed_shares": ("listed_shares", "shares_outstanding")}.items()}
    extra = "".join(f", {src_col} AS {c}" for c, src_col in optional.items() if src_col)
    stamp = _first(cols, "created_at", "updated_at") or "NULL"
    filters = []
    if "region" in cols:
        filters.append("(region IS NULL OR upper(region) = 'KR')")
    if "timeframe" in cols:
        filters.append(f"(timeframe IS NULL OR upper(timeframe) IN ({', '.join(repr(d) for d in DAILY)}))")
    keep = " AND ".join(filters) or "1"
    select = (
        "SELECT * FROM (SELECT COALESCE(norm_ticker(ticker), '') AS k_ticker, COALESCE(norm_date(date), '') AS k_date, "
        f"ticker AS raw_ticker, date AS raw_date, open, high, low, close, volume{extra}, {stamp} AS _stamp, "
        f"rowid AS _rowid FROM ohlcv_data WHERE {keep}) {{where}} ORDER BY k_ticker, k_date, _stamp, _rowid"
    )
    outside = f"SELECT count(*) FROM ohlcv_data WHERE NOT ({keep})" if filters else None
    cols_out = list(_BATCH_OHLCV.columns)
    spec = _Batched(
        "ohlcv_data", "ohlcv_data", ["k_ticker", "k_date"], select,
        lambda chunk, rep: _clean_ohlcv(chunk, rep, uni), "date",
        f"INSERT INTO ohlcv_data ({', '.join(cols_out)}) SELECT {', '.join(cols_out)} FROM {{tmp}} "
        "ON CONFLICT (ticker, date) DO NOTHING",
    )
    return spec, outside


def _holdings_spec(src: LegacySource, uni: Universe) -> _Batched:
    cols = src.columns("etf_holdings")
    etf, stock = _first(cols, "etf_ticker", "etf"), _first(cols, "stock_ticker", "constituent", "holding_ticker")
    date = _first(cols, "as_of_date", "date")
    if not (etf and stock and date):
        raise ValueError(f"legacy etf_holdings lacks etf/stock/date columns (has {cols})")
    extra = "".join(f", {c} AS {c}" for c in ("weight", "shares", "market_value") if c in cols)
    stamp = _first(cols, "created_at", "updated_at") or "NULL"
    select = (
        f"SELECT * FROM (SELECT COALESCE(norm_ticker({etf}), '') AS k_etf, COALESCE(norm_date({date}), '') AS k_date, "
        f"COALESCE(norm_ticker({stock}), '') AS k_code, {etf} AS raw_etf, {stock} AS raw_stock, {date} AS raw_date"
        f"{extra}, {stamp} AS _stamp, rowid AS _rowid FROM etf_holdings) {{where}} "
        "ORDER BY k_etf, k_date, k_code, _stamp, _rowid"
    )
    cols_out = list(_BatchHoldingsSchema.to_schema().columns)
    # An ETF-day the warehouse already has (from KRX, or a previous run) is left as it is.
    insert = (
        f"INSERT INTO etf_holdings ({', '.join(cols_out)}) SELECT {', '.join(cols_out)} FROM {{tmp}} s "
        "WHERE NOT EXISTS (SELECT 1 FROM etf_holdings h WHERE h.etf_ticker = s.etf_ticker "
        "AND h.as_of_date = s.as_of_date) ON CONFLICT DO NOTHING"
    )
    return _Batched("etf_holdings", "etf_holdings", ["k_etf", "k_date"], select,
                    lambda chunk, rep: _clean_holdings(chunk, rep, uni), "as_of_date", insert)


def _save_progress(conn: psycopg.Connection, checksum: str, path: Path, table: str, last_key: list | None,
                   rep: TableReport, batches: int, completed: bool) -> None:
    conn.execute(
        """INSERT INTO legacy_import_progress (source_checksum, source_path, table_name, last_key, rows_done,
               batches, stats, completed, updated_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())
           ON CONFLICT (source_checksum, table_name) DO UPDATE SET source_path = EXCLUDED.source_path,
               last_key = EXCLUDED.last_key, rows_done = EXCLUDED.rows_done, batches = EXCLUDED.batches,
               stats = EXCLUDED.stats, completed = EXCLUDED.completed, updated_at = now()""",
        (checksum, str(path), table, json.dumps(last_key) if last_key is not None else None, rep.read, batches,
         json.dumps(rep.to_dict(), default=str), completed),
    )


class _Budget:
    """How many more batches this run may write (max_batches), shared by the batched tables."""

    def __init__(self, max_batches: int | None):
        self.left = max_batches

    def take(self) -> bool:
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def _import_batched(src: LegacySource, wh: Warehouse, spec: _Batched, rep: TableReport, *, checksum: str,
                    dry_run: bool, batch_rows: int, budget: _Budget, outside_sql: str | None = None,
                    logger: Any = log) -> bool:
    """Stream, clean and write one big table; returns False when the batch budget ran out."""
    last_key, batches = None, 0
    if not dry_run:
        row = wh.read_frame(
            "SELECT last_key, batches, stats, completed FROM legacy_import_progress "
            "WHERE source_checksum = %s AND table_name = %s", (checksum, spec.table))
        if len(row) and not row.loc[0, "completed"] and row.loc[0, "last_key"] is not None:
            last_key, batches = row.loc[0, "last_key"], int(row.loc[0, "batches"])
            resumed = TableReport.from_stats(row.loc[0, "stats"])
            rep.__dict__.update(resumed.__dict__)
            logger.info(f"{spec.table}: resuming after {last_key} ({rep.read} rows done in {batches} batches)")
    if last_key is None and outside_sql:
        n = src.conn.execute(outside_sql).fetchone()[0]
        if n:
            rep.read += n
            rep.rejected["not_daily_kr_bar"] += n
    for chunk in _stream(src, spec, last_key, batch_rows):
        if not dry_run and not budget.take():
            rep.status = "interrupted"
            return False
        frame = spec.clean(chunk, rep)
        last_key = chunk[spec.group].iloc[-1].tolist()
        batches += 1
        if dry_run:
            continue
        if len(frame):
            wh.ensure_month_partitions(spec.table, pd.to_datetime(frame[spec.partition_column]).dt.date.unique())
        with wh.connect() as conn, conn.transaction():
            tmp = f"_legacy_batch_{spec.table}"
            if len(frame):
                conn.execute(f"CREATE TEMP TABLE {tmp} (LIKE {spec.table}) ON COMMIT DROP")
                copy_frame(conn, tmp, frame)
                rep.inserted += conn.execute(spec.insert_sql.format(tmp=tmp)).rowcount
            _save_progress(conn, checksum, src.path, spec.table, last_key, rep, batches, completed=False)
        logger.info(f"{spec.table}: batch {batches} committed up to {last_key}, {rep.read} rows read")
    rep.status = "dry_run" if dry_run else "imported"
    if not dry_run:
        with wh.connect() as conn:
            _save_progress(conn, checksum, src.path, spec.table, last_key, rep, batches, completed=True)
    return True


# -- entry point --------------------------------------------------------------------------------
def run_import(sqlite_path: str | Path, warehouse: Warehouse, dry_run: bool = False, batch_rows: int = BATCH_ROWS,
               max_batches: int | None = None, logger: Any = None) -> ImportReport:
    """Import (or with dry_run only check) a Spock SQLite file; returns the integrity report.

    `max_batches` stops after that many batches of the big tables (a controlled interruption; the
    next call resumes). Safe to re-run: nothing already in the warehouse is changed.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be >= 1")
    logger = logger or log
    src = LegacySource(sqlite_path)
    lock = None
    try:
        report = ImportReport(str(src.path), src.checksum(), dry_run)
        if not dry_run:
            # One import of a given file at a time: progress rows are per file.
            lock = psycopg.connect(warehouse.url(), autocommit=True)
            warehouse.read_frame("SELECT 1")   # applies migrations before anything else
            if not lock.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (report.checksum,)).fetchone()[0]:
                raise RuntimeError(f"another import of {src.path} (sha256 {report.checksum[:12]}…) is running")
        for name in TARGET_TABLES:
            report.tables[name] = TableReport()
        if "tickers" not in src.tables:
            raise ValueError(f"{src.path} has no tickers table: not a Spock database?")

        etf_detail_tickers: set[str] = set()
        if "etf_details" in src.tables:
            etf_detail_tickers = {t for t in map(normalize_ticker, src.read("etf_details")["ticker"]) if t}
        uni = _import_tickers(src, warehouse, dry_run, report.tables["tickers"], etf_detail_tickers)
        for table, step in (("stock_details", _import_stock_details), ("etf_details", _import_etf_details)):
            if table in src.tables:
                step(src, warehouse, dry_run, report.tables[table], uni)
            else:
                report.tables[table].status = "missing_source"
        no_isin = report.tables["etf_details"].examples.get("no_isin")
        if no_isin:
            report.notes.append(f"{len(no_isin)} ETF(s) imported into tickers only, no ISIN known for etf_details: "
                                f"{', '.join(no_isin)}")

        budget = _Budget(max_batches)
        completed = True
        if "ohlcv_data" in src.tables:
            spec, outside = _ohlcv_spec(src, uni)
            completed = _import_batched(src, warehouse, spec, report.tables["ohlcv_data"], checksum=report.checksum,
                                        dry_run=dry_run, batch_rows=batch_rows, budget=budget, outside_sql=outside,
                                        logger=logger)
        else:
            report.tables["ohlcv_data"].status = "missing_source"

        holdings = report.tables["etf_holdings"]
        if "etf_holdings" not in src.tables:
            holdings.status = "missing_source"
        elif not _table_exists(warehouse, "etf_holdings"):
            holdings.status = "skipped"
            holdings.note = "the warehouse has no etf_holdings table (sql/002 not applied): legacy holdings skipped"
            report.notes.append(holdings.note)
        elif not completed:
            holdings.status = "interrupted"
        else:
            completed = _import_batched(src, warehouse, _holdings_spec(src, uni), holdings, checksum=report.checksum,
                                        dry_run=dry_run, batch_rows=batch_rows, budget=budget, logger=logger)
        report.completed = completed
        if not completed:
            report.notes.append("stopped after max_batches; run the import again to resume where it stopped")
        report.final_counts = _final_counts(warehouse)
        return report
    finally:
        src.close()
        if lock is not None:
            lock.close()        # releases the advisory lock


# -- Dagster ------------------------------------------------------------------------------------
class LegacyImportConfig(dg.Config):
    sqlite_path: str
    dry_run: bool = False
    batch_rows: int = BATCH_ROWS
    max_batches: int | None = None


@dg.op(description="Import a legacy Spock SQLite database (tickers, details, daily bars, ETF holdings) "
                   "into the warehouse, resumably, and report what was imported, skipped and why.")
def import_legacy_database(context: dg.OpExecutionContext, config: LegacyImportConfig,
                           warehouse: Warehouse) -> dict:
    report = run_import(config.sqlite_path, warehouse, dry_run=config.dry_run, batch_rows=config.batch_rows,
                        max_batches=config.max_batches, logger=context.log)
    context.log.info(report.summary())
    context.add_output_metadata(report.metadata())
    return report.to_dict()


@dg.job(description="One-off migration from the Spock SQLite tool. Config: sqlite_path, dry_run, batch_rows, "
                    "max_batches. Re-runnable and resumable.")
def legacy_import_job():
    import_legacy_database()
