"""The PostgreSQL warehouse as a Dagster resource: connections, migrations, atomic partition writes.

Every asset writes through `replace_partition`, which is the platform's one answer to "nothing
lost, nothing half-written": in a single transaction it deletes the partition's rows, COPYs the
validated frame, runs the follow-up SQL that keeps summaries in step (`after=`, e.g.
`SELECT refresh_etf_latest('KR')`) and records the partition's status, so a crash leaves the
previous version intact and a re-run leaves identical rows.

Region is part of every key (sql/008): a partition is always (region, day), never a day of all
regions, so loading US prices can never delete a Korean day.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import psycopg
from dagster import ConfigurableResource
from psycopg.types.numeric import FloatLoader
from pydantic import PrivateAttr

from quant_assets import database, migrations
from quant_assets.resources import binary_copy, pool
from quant_assets.resources.new_months import month_start, next_month, partition_name

# Tables range-partitioned by month on `date`; children are created on demand.
MONTH_PARTITIONED = ("ohlcv_data", "etf_daily", "etf_aum", "etf_tracking", "etf_holdings",
                     "price_range_52w", "ticker_fundamentals", "factor_scores")
NUMERIC_OID = 1700
# Follow-up SQL for replace_partition/sync_universe: a statement, or (statement, parameters).
AfterSql = str | tuple[str, Sequence | Mapping]


def refresh_etf_latest(region: str, tables: Sequence[str] | None = None,
                       day: dt.date | None = None) -> tuple[str, tuple]:
    """The after-write statement that brings etf_details' latest-figure columns (and the `etfs`
    view) up to the rows just written; pass it in `after=` of every write of a table it reads.

    `tables` (the tables written) limits it to the sections they feed and `day` (the newest day
    written) skips a section whose 30-40 day window cannot contain that day (exact, sql/022): an
    old day of a backfill costs nothing, the newest day refreshes only what it changed. Without
    them every section runs (a new ETF listed, an import)."""
    return ("SELECT refresh_etf_latest(%s, %s, %s)", (region, list(tables) if tables else None, day))


# The partition key column where it is not `date`.
PARTITION_COLUMN = {"etf_holdings": "as_of_date"}


@dataclass(frozen=True)
class PartitionWrite:
    """One table's part of an atomic write: replace the rows matching `where` with `frame`
    (arguments as in `Warehouse.replace_partition`)."""

    table: str
    frame: pd.DataFrame
    where: Mapping[str, object]
    status: tuple[str, dt.date, str] | None = None
    prepare: Callable[[psycopg.Connection, pd.DataFrame], pd.DataFrame] | None = None
    lock: object | None = None
    encoded: binary_copy.Encoded | None = None   # `frame` pre-encoded by Warehouse.encode (no `prepare`)


@dataclass(frozen=True)
class _Plan:
    write: PartitionWrite
    where: dict
    condition: str
    params: list


class Warehouse(ConfigurableResource):
    """Market-data PostgreSQL. `database_url` None means: `QUANT_DATABASE_URL`, else embedded."""

    database_url: str | None = None
    _migrated: bool = PrivateAttr(default=False)
    _partitions: set = PrivateAttr(default_factory=set)
    _regional: dict = PrivateAttr(default_factory=dict)
    _types: dict = PrivateAttr(default_factory=dict)

    # -- connections ---------------------------------------------------------------------------
    def url(self) -> str:
        return self.database_url or database.database_url()

    @contextmanager
    def connect(self, *, autocommit: bool = False):
        if not self._migrated:
            migrations.migrate(self.url())
            self._migrated = True
        with pool.connection(self.url(), autocommit=autocommit) as conn:   # resources/pool.py: why pooled
            yield conn

    def read_frame(self, sql: str, params: Sequence | Mapping | None = None) -> pd.DataFrame:
        """Run a query and return its rows as a DataFrame.

        `numeric` columns (prices are numeric(20,4), AUM figures, weights, ...) come back as
        float64, not as `decimal.Decimal` objects: a float loader is registered on the cursor and
        every numeric column is cast, also when it is all NULL. pandas code gets arithmetic-ready
        floats; compare money exactly in SQL if a test needs the stored decimal.
        """
        with self.connect() as conn, conn.cursor() as cur:
            cur.adapters.register_loader("numeric", FloatLoader)
            cur.execute(sql, params)
            cols = [c.name for c in cur.description]
            frame = pd.DataFrame(cur.fetchall(), columns=cols)
            for i, c in enumerate(cur.description):
                if c.type_code == NUMERIC_OID:
                    frame.isetitem(i, frame.iloc[:, i].astype("float64"))
            return frame

    def execute(self, sql: str, params: Sequence | Mapping | None = None) -> int:
        with self.connect() as conn:
            cur = conn.execute(sql, params)
            return cur.rowcount

    def encode(self, table: str, frame: pd.DataFrame) -> binary_copy.Encoded | None:
        """`frame` in `table`'s binary COPY form, for `PartitionWrite.encoded`; None when it needs
        the CSV path. Safe to call from a ranged run's fetch thread, so encoding overlaps the
        previous day's write instead of running inside the write transaction."""
        if table not in self._types:
            with self.connect() as conn:
                self._types[table] = binary_copy.table_types(conn, table)
        try:
            return binary_copy.encode(frame, self._types[table])
        except binary_copy.Unsupported:
            return None

    # -- partitions ----------------------------------------------------------------------------
    def ensure_month_partitions(self, table: str, days: Iterable[dt.date]) -> None:
        """Create the monthly child tables covering `days` (idempotent, race-safe)."""
        months = {month_start(d) for d in days} - {m for t, m in self._partitions if t == table}
        if not months:
            return
        from quant_assets.storage.layout import partition_parent

        with self.connect(autocommit=True) as conn:
            # a compacted table is a view: its month partitions belong to its hot table
            parent = partition_parent(conn, table)
            for m in sorted(months):
                child = partition_name(table, m)
                if parent != table:
                    # compaction drops the month partitions it empties, so "created once" does not
                    # mean "still there": not cached; sql/032 creates it without an ACCESS EXCLUSIVE
                    # lock on the hot table (the one the view's own writes use)
                    conn.execute("SELECT storage_month_partition(%s, %s, %s)", (parent, child, m))
                    continue
                # The advisory lock keeps two runs from racing on the same CREATE.
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (child,))
                    conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {child} PARTITION OF {parent} "
                        f"FOR VALUES FROM ('{m}') TO ('{next_month(m)}')"
                    )
                self._partitions.add((table, m))

    def has_region(self, table: str) -> bool:
        """Whether `table` has a region column (every market-data table does since sql/008)."""
        if table not in self._regional:
            with self.connect() as conn:
                row = conn.execute(
                    "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND table_name = %s AND column_name = 'region'", (table,)).fetchone()
            self._regional[table] = row is not None
        return self._regional[table]

    # -- writes --------------------------------------------------------------------------------
    def replace_partition(
        self,
        table: str,
        frame: pd.DataFrame,
        *,
        where: Mapping[str, object],
        status: tuple[str, dt.date, str] | None = None,
        after: Sequence[AfterSql] = (),
        prepare: Callable[[psycopg.Connection, pd.DataFrame], pd.DataFrame] | None = None,
        lock: object | None = None,
    ) -> int:
        """Atomically replace the rows matching `where` (column = value, or column BETWEEN a
        (first, last) tuple) with `frame`.

        `where` names the region of a region-keyed table (`{"region": "KR", "date": day}`); when
        it does not, the frame's single region is used, and a frame of several regions (or an
        empty one) without it is refused rather than deleting the day of every region.
        `after` statements run in the same transaction after the COPY (summaries that must never
        disagree with the committed rows, e.g. `refresh_etf_latest(region)`); their failure rolls
        the write back. `prepare(conn, frame)` runs in the transaction before the DELETE and returns
        the frame to write: columns derived from *other* partitions (holdings' change against the
        previous day) are computed from what is committed, under the lock. `lock` replaces the
        advisory-lock key (default: table and `where`); writers whose derived columns read
        neighbouring partitions pass a coarser key so neighbours are not rewritten concurrently.
        `status` = (asset, partition date, source) records a 'loaded' partition_status row for
        (asset, region, date) in the same transaction, so the status can never claim rows that were
        rolled back.
        """
        write = PartitionWrite(table, frame, where=where, status=status, prepare=prepare, lock=lock)
        return self.replace_partitions([write], after=after)[table]

    def replace_partitions(self, writes: Sequence[PartitionWrite], *, after: Sequence[AfterSql] = ()) -> dict[str, int]:
        """`replace_partition` for several tables fed by one fetch, in ONE transaction.

        One KRX snapshot feeds both `ohlcv_data` and `etf_daily`; written in two transactions a
        reader (or a crash between them) sees a day with bars and no ETF rows. Here every table's
        lock, DELETE + COPY and status row, then `after`, commit together or not at all. Locks are
        taken in a fixed (table) order so two such writers cannot deadlock. Returns rows per table.
        """
        plans = [self._plan(w) for w in writes]
        if len({p.write.table for p in plans}) != len(plans):
            raise ValueError("replace_partitions: one write per table")
        counts: dict[str, int] = {}
        with self.connect() as conn, conn.transaction():
            for plan in sorted(plans, key=lambda p: p.write.table):
                w = plan.write
                lock_partition(conn, w.table, plan.where if w.lock is None else w.lock)
            for plan in plans:
                counts[plan.write.table] = write_planned(conn, plan)
            run_after(conn, after)
        return counts

    def replace_days(self, days: Sequence[tuple[dt.date, Sequence[PartitionWrite]]], *,
                     after: Sequence[AfterSql] = ()) -> dict[str, int]:
        """`replace_partitions` of several days (each day's writes as there), in ONE transaction,
        every month that has no partition yet loaded as a new table (resources/month_write.py).

        The rows, statuses and `after` effects are those of calling replace_partitions day by
        day, committed together or not at all. A ranged ingest run feeds a `MonthWrite` as its
        days arrive instead (assets/month_batches.py), which is the same thing spread in time."""
        from quant_assets.resources.month_write import MonthWrite

        with MonthWrite(self) as month:
            for _, writes in days:
                month.add(writes)
            return month.commit(after)

    def absent_months(self, tables: Sequence[str], days: Iterable[dt.date]) -> set[dt.date]:
        """The months of `days` for which some of `tables` has no partition yet: where a ranged
        run writes its days through a MonthWrite (a hint: the MonthWrite decides, under lock)."""
        months = sorted({month_start(d) for d in days})
        names = [partition_name(t, m) for m in months for t in tables if t in MONTH_PARTITIONED]
        if not names:
            return set()
        with self.connect() as conn:
            absent = {r[0] for r in conn.execute(
                "SELECT n FROM unnest(%s::text[]) n WHERE to_regclass(n) IS NULL", (names,))}
        return {m for m in months for t in tables if partition_name(t, m) in absent}

    def _plan(self, write: PartitionWrite, *, ensure: bool = True) -> _Plan:
        """Resolve the region, create month partitions (unless `ensure` is False: a MonthWrite
        creates what is missing itself) and build the DELETE condition (outside the write
        transaction: partition DDL commits on its own and is idempotent)."""
        table, frame, where = write.table, write.frame, dict(write.where)
        if self.has_region(table) and "region" not in where:
            regions = frame["region"].unique() if "region" in frame.columns else []
            if len(regions) != 1:
                raise ValueError(f"replace_partition({table}): say which region to replace "
                                 f"(where={{'region': ...}}); the frame holds regions {list(regions)}")
            where["region"] = str(regions[0])
        if ensure and table in MONTH_PARTITIONED and len(frame):
            column = PARTITION_COLUMN.get(table, "date")
            # distinct days first: `.dt.date` builds a Python object per row (~15% of a day's write)
            self.ensure_month_partitions(table, pd.to_datetime(frame[column].drop_duplicates()).dt.date.unique())
        conds, params = [], []
        for col, value in where.items():
            if isinstance(value, tuple):  # (first, last): an inclusive range, e.g. a month of days
                conds.append(f"{col} BETWEEN %s AND %s")
                params.extend(value)
            else:
                conds.append(f"{col} = %s")
                params.append(value)
        return _Plan(write, where, " AND ".join(conds), params)

    def sync_universe(self, asset_type: str, tickers: pd.DataFrame, details_table: str,
                      details: pd.DataFrame, *, region: str, after: Sequence[AfterSql] = ()) -> dict[str, int]:
        """Upsert today's listed universe of one asset type in one region and retire what is no
        longer listed there.

        Rows are keyed by (ticker, region): the same symbol in two regions is two securities.
        Tickers are never deleted (history in `ohlcv_data` still refers to them): a ticker missing
        from the source's current list becomes inactive, with its first-seen-missing day as the
        delisting date, so re-running on the same day changes nothing. `after` runs in the same
        transaction (e.g. refresh_etf_latest, so a newly listed ETF gets its latest figures).
        """
        for name, frame in (("tickers", tickers), (details_table, details)):
            if len(frame) and set(frame["region"].unique()) != {region}:
                raise ValueError(f"sync_universe({region}): {name} rows of regions {sorted(frame['region'].unique())}")
        with self.connect() as conn, conn.transaction():
            lock_partition(conn, "tickers", (region, asset_type))
            # delisting_date is owned by the UPDATE below; an upsert must not reset it.
            upsert(conn, "tickers", tickers.drop(columns=["delisting_date"]), key=["ticker", "region"])
            upsert(conn, details_table, details, key=["ticker", "region"])
            cur = conn.execute(
                """UPDATE tickers SET is_active = false, delisting_date = COALESCE(delisting_date, current_date),
                          updated_at = now()
                   WHERE region = %s AND asset_type = %s AND is_active AND NOT (ticker = ANY(%s))""",
                (region, asset_type, list(tickers.loc[tickers["is_active"], "ticker"])),
            )
            retired = cur.rowcount
            run_after(conn, after)
        return {"listed": int(tickers["is_active"].sum()), "retired": retired}

    def record_status(self, asset: str, day: dt.date, status: str, *, region: str, reason: str | None = None,
                      source: str | None = None, row_count: int | None = None) -> None:
        with self.connect() as conn:
            record_status(conn, asset, day, status, region=region, reason=reason, source=source,
                          row_count=row_count)


def write_planned(conn: psycopg.Connection, plan: _Plan) -> int:
    """One table's DELETE + COPY + status row of a planned write, in the caller's transaction
    (after its lock); returns the rows written."""
    w, frame = plan.write, plan.write.frame
    if w.prepare is not None:
        frame = w.prepare(conn, frame)
    from quant_assets.storage.layout import write_target
    target = write_target(conn, w.table, plan.where)   # the hot table of a compacted view
    conn.execute(f"DELETE FROM {target} WHERE {plan.condition}", plan.params)
    if w.encoded is not None and w.prepare is None and w.encoded.rows == len(frame):
        if len(frame):
            binary_copy.copy_encoded(conn, target, w.encoded)
    else:
        copy_frame(conn, target, frame)
    if w.status:
        record_status(conn, w.status[0], w.status[1], "loaded", region=str(plan.where.get("region", "KR")),
                      row_count=len(frame), source=w.status[2])
    return len(frame)


def run_after(conn: psycopg.Connection, statements: Sequence[AfterSql]) -> None:
    """Run follow-up statements (str, or (str, params)) in the caller's transaction."""
    for stmt in statements:
        sql, params = (stmt, None) if isinstance(stmt, str) else stmt
        conn.execute(sql, params)


def lock_partition(conn: psycopg.Connection, table: str, key: object) -> None:
    """Serialise writers of one partition until the end of the current transaction.

    DELETE + COPY alone is not enough when two runs (overlapping backfills, a sensor run and a
    backfill) rewrite the same day at once: under READ COMMITTED the second DELETE cannot see the
    rows the first is inserting, so both sets would be kept (or collide on the primary key). With
    this lock the second writer waits, then deletes the first writer's committed rows.
    """
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{table}:{key!r}",))


def copy_frame(conn: psycopg.Connection, table: str, frame: pd.DataFrame) -> None:
    """COPY a frame into `table`: binary COPY encoded column-wise with numpy (resources/binary_copy.py,
    types from the table's catalogue), or CSV text when a column cannot be sent exactly in binary.

    Binary is ~3x cheaper per row than building CSV with `to_csv` and cheaper for the server to
    parse; the CSV path stays for the rest (jsonb, timestamps, unconstrained numeric, staging
    frames of loose dtypes), so every caller (legacy import, upsert twins) keeps its behaviour.
    """
    if frame.empty:
        return
    try:
        types = binary_copy.table_types(conn, table)
        binary_copy.copy_binary(conn, table, frame, types)
    except binary_copy.Unsupported:
        copy_frame_csv(conn, table, frame)


def copy_frame_csv(conn: psycopg.Connection, table: str, frame: pd.DataFrame) -> None:
    """COPY a frame in CSV form: one round trip, no per-row Python work.

    Empty unquoted CSV fields are NULL; integer-valued floats are written without a decimal point
    so they load into bigint columns.
    """
    if frame.empty:
        return
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_float_dtype(s) and s.dropna().mod(1).eq(0).all():
            out[col] = s.astype("Int64")
    buf = io.StringIO()
    out.to_csv(buf, index=False, header=False, na_rep="", date_format="%Y-%m-%d")
    cols = ", ".join(f'"{c}"' for c in frame.columns)   # quoted: Spock tables have columns like "timestamp"
    with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buf.getvalue())


def upsert(conn: psycopg.Connection, table: str, frame: pd.DataFrame, *, key: Sequence[str]) -> None:
    """COPY into a temporary twin of `table`, then one INSERT ... ON CONFLICT DO UPDATE."""
    if frame.empty:
        return
    tmp = f"_upsert_{table}"
    cols = list(frame.columns)
    # Only the frame's columns, no constraints: identity/generated columns stay the table's business.
    conn.execute(f"CREATE TEMP TABLE {tmp} ON COMMIT DROP AS SELECT {', '.join(cols)} FROM {table} WITH NO DATA")
    copy_frame(conn, tmp, frame)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in key)
    if "updated_at" not in cols:
        updates += ", updated_at = now()"
    conn.execute(
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {tmp} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )
    conn.execute(f"DROP TABLE {tmp}")


def record_status(conn: psycopg.Connection, asset: str, day: dt.date, status: str, *, region: str,
                  reason: str | None = None, source: str | None = None, row_count: int | None = None) -> None:
    """Record a partition's outcome; a failure never relabels a loaded partition.

    'loaded' is written only by the transaction that committed the rows (replace_partitions), and
    clears any earlier failure. Any other outcome (source_error, blocked, market_closed) of a day
    whose rows are loaded wrote nothing, so the rows are intact: the row keeps status 'loaded',
    its row_count, reason and source, and the failure goes to last_error / last_error_at. A day
    that was never loaded takes the failure as its status: a failed fetch never looks like a
    holiday, a loaded day never looks failed.
    """
    error = None if status == "loaded" else f"{status}: {reason}" if reason else status
    keep = "(ps.status = 'loaded' AND EXCLUDED.status <> 'loaded')"
    conn.execute(
        f"""INSERT INTO partition_status AS ps (asset, region, partition_date, status, row_count, reason, source,
                                               updated_at, last_error, last_error_at)
           VALUES (%(asset)s, %(region)s, %(day)s, %(status)s, %(rows)s, %(reason)s, %(source)s, now(),
                   %(error)s, CASE WHEN %(error)s::text IS NULL THEN NULL ELSE now() END)
           ON CONFLICT (asset, region, partition_date) DO UPDATE SET
               status = CASE WHEN {keep} THEN ps.status ELSE EXCLUDED.status END,
               row_count = CASE WHEN {keep} THEN ps.row_count ELSE EXCLUDED.row_count END,
               reason = CASE WHEN {keep} THEN ps.reason ELSE EXCLUDED.reason END,
               source = CASE WHEN {keep} THEN ps.source ELSE EXCLUDED.source END,
               updated_at = CASE WHEN {keep} THEN ps.updated_at ELSE now() END,
               last_error = EXCLUDED.last_error, last_error_at = EXCLUDED.last_error_at""",
        {"asset": asset, "region": region, "day": day, "status": status, "rows": row_count, "reason": reason,
         "source": source, "error": error},
    )
