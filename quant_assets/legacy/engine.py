"""The import loop: every Spock table, batch by batch, each batch one transaction with its progress.

    run_import(sqlite_path, warehouse, dry_run=False, batch_rows=50_000, max_batches=None) -> ImportReport

Order: tickers first (they place every other row), then the mapped tables, then every
remaining Spock table into the archive. Big tables are streamed from SQLite in key order (keys
computed by SQL functions, one sort per table), in batches that never split a key, so duplicate
re-fetches always meet in one batch. Each batch is written (COPY + one INSERT per region) together
with its rejected/collapsed rows in legacy_rows and its legacy_import_progress row, in ONE
transaction: `last_key` is exactly what is committed, and an interrupted import resumes after it
with cumulative counts equal to an uninterrupted run's. When a whole import has completed, the
next import of the same file starts a fresh pass, which — the warehouse winning over the file —
inserts and changes nothing. A dry run reads and validates everything and writes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from quant_assets.legacy import market, reference, trading, values, writer
from quant_assets.legacy.report import NO_REGION, SPOCK_COLLISION_NOTE, Counts, ImportReport, TableReport
from quant_assets.legacy.source import LegacyImportError, LegacySource, Resolver
from quant_assets.legacy.spec import Ctx, Spec
from quant_assets.resources.warehouse import Warehouse

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000
ALL_DONE = "*"                     # progress row of the whole import
MAPPED = {                         # Spock table -> spec factory, in import order
    "tickers": reference.tickers_spec,
    "stock_details": reference.stock_details_spec,
    "etf_details": reference.etf_details_spec,      # Spock's main ETF table first: its values win
    "etfs": reference.etfs_spec,                    # then the etfs table adds its ETFs and fills gaps
    "etf_holdings": market.holdings_spec,
    "ohlcv_data": market.ohlcv_spec,
    "ticker_fundamentals": market.fundamentals_spec,
    **{t: functools.partial(market.statement_spec, t) for t in market.STATEMENTS},   # Phase-2, if present
    "technical_analysis": trading.ta_spec,
    "trades": trading.trades_spec,
    "portfolio": trading.portfolio_spec,
    "market_sentiment": market.sentiment_spec,
    "exchange_rate_history": market.fx_spec,
    "global_market_indices": market.indices_spec,
}
PARTITION_COLUMN = {"ohlcv_data": "date", "ticker_fundamentals": "date", "etf_holdings": "as_of_date"}
_EXAMPLE_COLUMNS = ("ticker", "region", "timeframe", "date", "etf_ticker", "stock_ticker", "as_of_date", "currency",
                    "rate", "rate_date", "symbol", "period_type", "close", "high", "low")


class _Budget:
    """How many more batches this run may write (max_batches: a controlled interruption)."""

    def __init__(self, max_batches: int | None):
        self.left = max_batches

    def take(self) -> bool:
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def _stream(src: LegacySource, spec: Spec, last_key: list | None, batch_rows: int) -> Iterator[pd.DataFrame]:
    """Source rows after `last_key` in key order, in chunks of whole key groups."""
    cols = src.columns(spec.source)
    if src.without_rowid(spec.source):
        raise LegacyImportError(f"Spock table {spec.source} is a WITHOUT ROWID table, which no Spock version "
                                "created: the file was changed by another tool; import refused")
    stamp = f'"{spec.stamp}"' if spec.stamp and spec.stamp in cols else "NULL"    # parsed only where keys repeat
    if spec.sql_key is None:
        cur = src.conn.execute(f'SELECT rowid AS _rowid, {stamp} AS _stamp, * FROM "{spec.source}" ORDER BY rowid')
        frame = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
        if len(frame):
            yield frame
        return
    keys = [f"_k{i}" for i in range(len(spec.sql_key))]
    inner = ", ".join(f"{e} AS {k}" for e, k in zip(spec.sql_key, keys, strict=True))
    where = f"WHERE ({', '.join(keys)}) > ({', '.join('?' * len(keys))})" if last_key else ""
    # `_r` is the row's region, resolved once per row; key expressions refer to it.
    region = f"{spec.region_sql} AS _r, " if spec.region_sql else ""
    table = f'(SELECT rowid AS _rowid, {region}* FROM "{spec.source}")'
    cur = src.conn.execute(
        f"SELECT * FROM (SELECT {inner}, {stamp} AS _stamp, * FROM {table}) {where} "
        f"ORDER BY {', '.join(keys)}, _rowid", last_key or [])
    names = [d[0] for d in cur.description]
    width = len(keys)
    carry: list[tuple] = []
    while True:
        rows = cur.fetchmany(batch_rows)
        if not rows:
            if carry:
                yield pd.DataFrame(carry, columns=names)
            return
        rows = carry + rows
        # Hold back the last key's rows: more of them may follow in the next fetch.
        last = rows[-1][:width]
        cut = len(rows)
        while cut and rows[cut - 1][:width] == last:
            cut -= 1
        carry = rows[cut:]
        if cut:
            yield pd.DataFrame(rows[:cut], columns=names)


@dataclasses.dataclass
class _Batch:
    target: pd.DataFrame           # rows to write, with _region
    archive: pd.DataFrame          # legacy_rows rows
    counts: dict[str, Counts]      # region -> counts (inserted filled in by the writer)


def _process(spec: Spec, batch: pd.DataFrame, ctx: Ctx, types: dict, table: TableReport) -> _Batch:
    prep = spec.prepare(batch, ctx)
    f = prep.frame
    region = f["_region"].fillna(NO_REGION)
    counts: dict[str, Counts] = {}
    for r, n in region.value_counts().items():
        counts.setdefault(r, Counts()).read += int(n)
    if spec.write is None:                         # archived whole
        for r, n in region.value_counts().items():
            counts[r].imported += int(n)
        arch = writer.archive_frame(batch, ctx.checksum, spec.source, "archived", f["_region"], None)
        return _Batch(f.iloc[0:0], arch, counts)

    ok = f["_reason"].isna()
    bad = f[~ok]
    for (r, reason), n in bad.groupby([region[~ok], bad["_reason"]]).size().items():
        counts[r].rejected[reason] += int(n)
    for reason, idx in bad.groupby("_reason").groups.items():
        cols = [c for c in _EXAMPLE_COLUMNS if c in batch.columns]
        table.example(reason, batch.loc[idx[:5], cols].astype(object).where(lambda d: d.notna(), None)
                      .to_dict("records"))
    good = f[ok].assign(_stamp="", _rowid=batch.loc[ok, "_rowid"])
    if spec.key:
        # Only re-fetches compete: their Spock timestamps (two styles) are compared in UTC.
        multi = good.duplicated(spec.key, keep=False)
        good.loc[multi, "_stamp"] = batch.loc[multi[multi].index, "_stamp"].map(values.stamp_key)
    order = (["_pref"] if "_pref" in good.columns else []) + ["_stamp", "_rowid"]
    good = good.sort_values(order, kind="stable")
    if spec.key:
        dup = good.duplicated(spec.key, keep="last")
        winner = good.groupby(spec.key, dropna=False, sort=False)["_rowid"].transform("last")
    else:
        dup = pd.Series(False, index=good.index)
        winner = good["_rowid"]
    collapsed_reason = "older re-fetch of source rowid " + winner[dup].astype(str)
    for r, n in region[dup[dup].index].value_counts().items():
        counts[r].collapsed += int(n)
    kept = good[~dup]
    target = kept[spec.columns].copy()
    if spec.finish is not None:
        target = spec.finish(target)
    flags = dict(prep.flags)
    flags.update(writer.fit(target, types))
    kept_region = region[target.index]
    for r, n in kept_region.value_counts().items():
        counts[r].imported += int(n)
    for name, mask in flags.items():
        hit = mask.reindex(target.index, fill_value=False)
        for r, n in kept_region[hit].value_counts().items():
            counts[r].flagged[name] += int(n)
    target["_region"] = kept_region
    arch = pd.concat([
        writer.archive_frame(batch.loc[bad.index], ctx.checksum, spec.source, "rejected", f.loc[bad.index, "_region"],
                             bad["_reason"]),
        writer.archive_frame(batch.loc[dup[dup].index], ctx.checksum, spec.source, "collapsed",
                             f.loc[dup[dup].index, "_region"], collapsed_reason),
    ], ignore_index=True)
    return _Batch(target, arch, counts)


def _save_progress(conn: psycopg.Connection, checksum: str, path: Path, table: str, last_key: list | None,
                   report: TableReport, batches: int, completed: bool) -> None:
    conn.execute(
        """INSERT INTO legacy_import_progress (source_checksum, source_path, table_name, last_key, rows_done,
               batches, stats, completed, updated_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())
           ON CONFLICT (source_checksum, table_name) DO UPDATE SET source_path = EXCLUDED.source_path,
               last_key = EXCLUDED.last_key, rows_done = EXCLUDED.rows_done, batches = EXCLUDED.batches,
               stats = EXCLUDED.stats, completed = EXCLUDED.completed, updated_at = now()""",
        (checksum, str(path), table, json.dumps(last_key, default=str) if last_key is not None else None,
         report.total.read, batches, json.dumps(report.to_dict(), default=str), completed))


def _import_table(src: LegacySource, wh: Warehouse, spec: Spec, ctx: Ctx, report: TableReport, *,
                  progress: dict | None, batch_rows: int, budget: _Budget, types: dict, partitioned: set[str],
                  logger: Any) -> bool:
    """Stream, map and write one Spock table; False when the batch budget ran out."""
    last_key, batches = None, 0
    if progress is not None:
        last_key, batches = progress["last_key"], int(progress["batches"])
        done = TableReport.from_dict(progress["stats"])
        report.regions, report.examples = done.regions, done.examples
        logger.info(f"{spec.source}: resuming after {last_key} ({report.total.read} rows in {batches} batches)")
    for chunk in _stream(src, spec, last_key, batch_rows):
        if not ctx.dry_run and not budget.take():
            report.status = "interrupted"
            return False
        out = _process(spec, chunk, ctx, types, report)
        last_key = [v.item() if isinstance(v, np.generic) else v
                    for v in chunk[[f"_k{i}" for i in range(len(spec.sql_key))]].iloc[-1]] if spec.sql_key else None
        batches += 1
        if not ctx.dry_run:
            part_col = PARTITION_COLUMN.get(spec.target)
            if part_col and spec.target in partitioned and len(out.target):
                wh.ensure_month_partitions(spec.target, pd.to_datetime(out.target[part_col]).dt.date.unique())
            with wh.connect() as conn, conn.transaction():
                for region, part in out.target.groupby("_region", sort=True):
                    out.counts[region].inserted += spec.write(conn, part.drop(columns="_region"))
                if spec.write is None:                 # archived whole: what is new in legacy_rows
                    for region, part in out.archive.groupby(out.archive["region"].fillna(NO_REGION)):
                        out.counts[region].inserted += writer.archive(conn, part)
                else:
                    writer.archive(conn, out.archive)
                for region, c in out.counts.items():
                    report.region(region).add(c)
                _save_progress(conn, ctx.checksum, src.path, spec.source, last_key, report, batches, completed=False)
        else:
            for region, c in out.counts.items():
                report.region(region).add(c)
        logger.info(f"{spec.source}: batch {batches} done, {report.total.read} rows read")
    report.status = "dry_run" if ctx.dry_run else "imported"
    if not ctx.dry_run:
        with wh.connect() as conn:
            _save_progress(conn, ctx.checksum, src.path, spec.source, last_key, report, batches, completed=True)
    return True


def _final_counts(wh: Warehouse, checksum: str) -> dict[str, dict[str, int]]:
    region_col = {"exchange_rate_history": "CASE currency " + " ".join(
        f"WHEN '{c}' THEN '{r}'" for c, r in market.CURRENCY_REGION.items()) + f" ELSE '{NO_REGION}' END",
                  "market_sentiment": f"'{NO_REGION}'"}
    targets = ["tickers", "stock_details", "etf_details", "etf_holdings", "ohlcv_data", "ticker_fundamentals",
               "technical_analysis", "trades", "portfolio", "market_sentiment", "exchange_rate_history",
               "global_market_indices"]
    out: dict[str, dict[str, int]] = {}
    with wh.connect() as conn:
        for t in targets:
            expr = region_col.get(t, "region")
            out[t] = {r: n for r, n in conn.execute(f"SELECT {expr}, count(*) FROM {t} GROUP BY 1 ORDER BY 1")}
        out["legacy_rows"] = {t: n for t, n in conn.execute(
            "SELECT table_name, count(*) FROM legacy_rows WHERE source_checksum = %s GROUP BY 1 ORDER BY 1",
            (checksum,))}
    return out


def run_import(sqlite_path: str | Path, warehouse: Warehouse, dry_run: bool = False, batch_rows: int = BATCH_ROWS,
               max_batches: int | None = None, logger: Any = None) -> ImportReport:
    """Import (or with dry_run only check) a Spock SQLite file; returns the per-table, per-region report.

    Raises LegacyImportError when the file is missing or not a Spock database.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be >= 1")
    logger = logger or log
    started = time.monotonic()
    src = LegacySource(sqlite_path)
    lock = None
    try:
        report = ImportReport(str(src.path), src.checksum(), dry_run)
        if not dry_run:
            warehouse.read_frame("SELECT 1")                  # applies migrations first
            lock = psycopg.connect(warehouse.url(), autocommit=True)
            if not lock.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (report.checksum,)).fetchone()[0]:
                raise LegacyImportError(f"another import of {src.path} is running")
        progress: dict[str, dict] = {}
        if not dry_run:
            rows = warehouse.read_frame("SELECT table_name, last_key, batches, stats, completed FROM "
                                        "legacy_import_progress WHERE source_checksum = %s", (report.checksum,))
            progress = {r["table_name"]: r for r in rows.to_dict("records")}
            if progress.get(ALL_DONE, {}).get("completed"):       # a finished import: fresh pass
                warehouse.execute("DELETE FROM legacy_import_progress WHERE source_checksum = %s", (report.checksum,))
                progress = {}
        known = {(t, r): k for t, r, k in warehouse.read_frame(
            "SELECT ticker, region, asset_type FROM tickers").itertuples(index=False)}
        ctx = Ctx(None, known, report.checksum, dry_run)
        types = writer.column_types(warehouse.url())
        # a compacted table (storage/layout.py) is a view whose month partitions belong to its hot table
        partitioned = set(warehouse.read_frame(
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "UNION SELECT table_name FROM storage_layouts")["relname"])
        budget = _Budget(max_batches)
        order = [t for t in MAPPED if t in src.tables] + [t for t in src.tables if t not in MAPPED]
        completed = True
        for name in order:
            if name != "tickers" and ctx.resolver is None:
                ctx.resolver = Resolver(src.spock_regions(), ctx.known)
                src.use(ctx.resolver)
            cols = src.columns(name)
            spec = MAPPED[name](cols) if name in MAPPED else trading.archive_spec(name, cols)
            table = report.tables[name] = TableReport(name, spec.target, note=spec.note)
            if not completed:
                table.status = "not_started"
                continue
            p = progress.get(name)
            if p is not None and p["completed"]:
                done = TableReport.from_dict(p["stats"])
                table.regions, table.examples, table.status = done.regions, done.examples, "imported"
                continue
            tick_types = types.get(spec.target, {})
            if spec.target == "tickers+etf_details":
                tick_types = {**types["tickers"], **{f"etf__{c}": t for c, t in types["etf_details"].items()}}
            completed = _import_table(src, warehouse, spec, ctx, table, progress=p, batch_rows=batch_rows,
                                      budget=budget, types=tick_types, partitioned=partitioned, logger=logger)
        if ctx.resolver is None:
            ctx.resolver = Resolver(src.spock_regions(), ctx.known)
        report.completed = completed
        if not completed:
            report.notes.append("stopped after max_batches; run the import again to resume where it stopped")
        elif not dry_run:
            with warehouse.connect() as conn:
                _save_progress(conn, report.checksum, src.path, ALL_DONE, None,
                               TableReport(ALL_DONE, "-", "imported"), 0, completed=True)
        regions = set()
        for t in ("tickers", "etfs"):
            if t in report.tables:
                regions |= set(report.tables[t].regions)
        if {"US", "VN"} & regions:
            report.notes.append(SPOCK_COLLISION_NOTE)
        report.final_counts = _final_counts(warehouse, report.checksum)
        report.seconds = time.monotonic() - started
        return report
    finally:
        src.close()
        if lock is not None:
            lock.close()
