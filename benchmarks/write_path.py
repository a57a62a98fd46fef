"""The ingest write path against the physical limit, in one run: `python -m benchmarks.write_path`.

Issue #13 item 4: the write path must run near raw COPY, parsing must be vectorised, and a ranged
run must be bound by the source, not by our own steps. Claims come from this script (never from a
timed test); every ratio is measured against a reference on the same server in the same run:

1. write path, one full-market day (~3,500 ohlcv_data + ~1,000 etf_daily rows) and a 250-day batch:
   `Warehouse.replace_partitions` exactly as `daily_prices` calls it (lock, DELETE, COPY, status,
   `refresh_etf_latest`) vs a raw binary COPY of the same rows (bytes built beforehand, only the COPY
   timed) into unindexed twins of the tables (`CREATE TABLE ... (LIKE ...)`);
2. COPY methods into the unindexed twin, client encoding included: CSV via `to_csv` (the old path),
   psycopg `write_row` with `set_types` (tuples and Decimals built from the frame), our numpy
   binary stream (resources/binary_copy.py);
3. index write cost: raw COPY into the twin with no index, the primary key, primary key + date index,
   and the two queries the indexes serve (one ticker's history, one date of all tickers);
4. parse ms per full-market day: the row-by-row converter (before) vs the vectorised one (after),
   on payloads fetched from the simulator;
5. a 20-day ranged `daily_prices` run against the simulator (a separate process, as the real source
   is another host), with and without prefetching, at the polite production rate (2 req/s) and
   unthrottled, next to the time of the bare fetches alone (the source-bound floor).

Writes artifacts/bench_write_path.json and prints a table. Reusable pieces for
benchmarks/history.py: `synthetic_day`, `raw_copy_rows_per_s`, `replace_rows_per_s`,
`copy_method_rows_per_s`, `parse_ms_per_day`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

perf = time.perf_counter
ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.6


def log(msg: str) -> None:
    print(f"[write_path {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- data -------------------------------------------------------------------------------------------
def synthetic_day(day: dt.date, n_stocks: int = 2_500, n_etfs: int = 1_000, seed: int = 0):
    """(ohlcv_data frame, etf_daily frame) of one full-market KR day (ohlcv_data holds stocks and
    ETFs: 3,500 + 1,000 rows by default), validated by the platform's
    schemas, so dtypes are exactly what `daily_prices` writes (datetime64 dates, float prices)."""
    from quant_assets.assets.prices import ETF_DAILY_COLUMNS, OHLCV_COLUMNS
    from quant_assets.schemas.prices import EtfDailySchema, OhlcvSchema
    from quant_assets.schemas.validation import validate

    rng = np.random.default_rng(seed + day.toordinal())
    n = n_stocks + n_etfs
    tickers = [f"{i:06d}" for i in range(100_000, 100_000 + n)]
    close = np.round(rng.lognormal(9.5, 1.2, n) / 5) * 5 + 5
    low, high = np.round(close * 0.97), np.round(close * 1.03)
    volume = rng.integers(0, 5_000_000, n).astype(float)
    no_trade = volume == 0
    ohlcv = pd.DataFrame({
        "date": day, "ticker": tickers, "region": "KR", "timeframe": "D",
        "asset_type": ["STOCK"] * n_stocks + ["ETF"] * n_etfs,
        "open": np.where(no_trade, np.nan, close), "high": np.where(no_trade, np.nan, high),
        "low": np.where(no_trade, np.nan, low), "close": close,
        "change": np.round(close * rng.normal(0, 0.02, n)), "change_pct": np.round(rng.normal(0, 2, n), 2),
        "volume": volume, "value": np.round(volume * close), "market_cap": np.round(close * 1e7),
        "listed_shares": np.full(n, 1e7),
    })[OHLCV_COLUMNS]
    etf_close = close[n_stocks:]
    etf = pd.DataFrame({
        "date": day, "ticker": tickers[n_stocks:], "region": "KR", "close": etf_close,
        "nav": np.round(etf_close * (1 + rng.normal(0, 0.001, n_etfs)), 2),
        "aum": np.where(rng.random(n_etfs) < 0.1, np.nan, np.round(etf_close * 1e6)),
        "listed_units": np.full(n_etfs, 1e6), "market_cap": np.round(etf_close * 1e6),
        "index_close": np.round(rng.uniform(100, 5000, n_etfs), 2),
        "index_change_pct": np.round(rng.normal(0, 1, n_etfs), 2),
    })[ETF_DAILY_COLUMNS]
    key = day.isoformat()
    return (validate(OhlcvSchema, ohlcv, dataset="ohlcv", date=key),
            validate(EtfDailySchema, etf, dataset="etf_daily", date=key))


def synthetic_days(days: list[dt.date]) -> dict:
    """`synthetic_day` for each of `days`: one validated day, re-dated (validation is what takes
    time here, and the schema's dtypes are the same for every day)."""
    o, e = synthetic_day(days[0])
    return {d: (o.assign(date=pd.Timestamp(d)), e.assign(date=pd.Timestamp(d))) for d in days}


def trading_days(first: dt.date, count: int) -> list[dt.date]:
    from quant_assets.calendar import trading_days as cal_days
    return list(cal_days(first, first + dt.timedelta(days=count * 2 + 30)))[:count]


# -- reusable measurements ----------------------------------------------------------------------------
def _twin(conn: psycopg.Connection, table: str, indexes: str = "none") -> str:
    """An unpartitioned copy of `table`'s columns: no index, the primary key, or pkey + date index."""
    twin = f"_raw_{table}"
    conn.execute(f"DROP TABLE IF EXISTS {twin}")
    conn.execute(f"CREATE TABLE {twin} (LIKE {table} INCLUDING DEFAULTS)")
    if indexes in ("pkey", "pkey+date", "pkey+brin"):
        cols = conn.execute("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass "
                            "AND indisprimary", (table,)).fetchone()[0]
        conn.execute(f"ALTER TABLE {twin} ADD PRIMARY KEY {cols[cols.index('('):]}")
    if indexes == "pkey+date":
        conn.execute(f"CREATE INDEX ON {twin} (date)")
    if indexes == "pkey+brin":
        conn.execute(f"CREATE INDEX ON {twin} USING brin (date)")
    return twin


def _best(fn, repeats: int) -> float:
    return min(fn() for _ in range(repeats))


def raw_copy_rows_per_s(url: str, table: str, frame: pd.DataFrame, *, repeats: int = 3,
                        indexes: str = "none") -> float:
    """Rows/s of a raw binary COPY of `frame` into an unindexed (or `indexes`) twin of `table`:
    the stream is encoded beforehand and only the server's COPY (and the transfer) is timed."""
    from quant_assets.resources import binary_copy

    with psycopg.connect(url, autocommit=True) as conn:
        types = binary_copy.table_types(conn, table)
        data = binary_copy.encode_rows(frame, types)
        cols = ", ".join(f'"{c}"' for c in frame.columns)

        def once() -> float:
            twin = _twin(conn, table, indexes)
            t0 = perf()
            with conn.cursor().copy(f"COPY {twin} ({cols}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.write(binary_copy.HEADER)
                cp.write(data)
                cp.write(binary_copy.TRAILER)
            return perf() - t0

        seconds = _best(once, repeats)
        conn.execute(f"DROP TABLE IF EXISTS _raw_{table}")
    return len(frame) / seconds


def copy_method_rows_per_s(url: str, table: str, frame: pd.DataFrame, method: str, *, repeats: int = 3) -> float:
    """Rows/s of one client COPY method into an unindexed twin, client-side encoding included:
    "csv" (DataFrame.to_csv, the old path), "write_row" (psycopg binary, set_types), "numpy"
    (resources/binary_copy.py)."""
    from quant_assets.resources import binary_copy
    from quant_assets.resources.warehouse import copy_frame_csv

    with psycopg.connect(url, autocommit=True) as conn:
        types = binary_copy.table_types(conn, table)

        def once() -> float:
            twin = _twin(conn, table)
            t0 = perf()
            if method == "csv":
                copy_frame_csv(conn, twin, frame)
            elif method == "numpy":
                binary_copy.copy_binary(conn, twin, frame, types)
            else:
                _write_rows(conn, twin, frame, types)
            return perf() - t0

        seconds = _best(once, repeats)
        conn.execute(f"DROP TABLE IF EXISTS _raw_{table}")
    return len(frame) / seconds


def _write_rows(conn, twin: str, frame: pd.DataFrame, types: dict) -> None:
    """psycopg's own binary path: Python tuples (Decimal for numeric) through write_row."""
    columns = []
    for col in frame.columns:
        kind, typmod = types[col]
        s = frame[col]
        null = s.isna().to_numpy()
        if kind == "numeric":
            scale = (typmod - 4) & 0xFFFF
            q = Decimal(1).scaleb(-scale)
            vals = [None if n else Decimal(repr(float(v))).quantize(q) for v, n in zip(s.tolist(), null, strict=True)]
        elif kind in ("int8", "int4", "int2"):
            vals = [None if n else int(v) for v, n in zip(s.tolist(), null, strict=True)]
        elif kind == "date":
            vals = [None if n else v.date() for v, n in zip(s.tolist(), null, strict=True)]
        else:
            vals = [None if n else v for v, n in zip(s.tolist(), null, strict=True)]
        columns.append(vals)
    names = {"int8": "int8", "int4": "int4", "int2": "int2", "enum": "text", "bpchar": "text", "varchar": "text"}
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    with conn.cursor().copy(f"COPY {twin} ({cols}) FROM STDIN (FORMAT BINARY)") as cp:
        cp.set_types([names.get(types[c][0], types[c][0]) for c in frame.columns])
        for row in zip(*columns, strict=True):
            cp.write_row(row)


def replace_rows_per_s(url: str, writes_per_call: list, *, after: bool = True) -> tuple[float, float]:
    """(rows/s, seconds) of `Warehouse.replace_partitions` over a list of calls, each a list of
    PartitionWrite (one call = one transaction, as the ingest makes per day; like daily_prices,
    the last call of the run also refreshes etf_details' figures fed by ohlcv_data)."""
    from quant_assets.resources.warehouse import refresh_etf_latest

    wh = warehouse(url)
    rows = sum(len(w.frame) for call in writes_per_call for w in call)
    t0 = perf()
    for i, call in enumerate(writes_per_call):
        last = after and i == len(writes_per_call) - 1
        day = call[0].where.get("date")
        day = day[-1] if isinstance(day, tuple) else day     # a batch's (first, last) range
        wh.replace_partitions(call, after=[refresh_etf_latest("KR", ["ohlcv_data"], day)] if last else [])
    seconds = perf() - t0
    return rows / seconds, seconds


_warehouses: dict = {}


def warehouse(url: str):
    """One Warehouse per URL, as a run has one: migrations checked and per-table lookups (region
    column, month partitions) cached before anything is timed."""
    from quant_assets.resources.warehouse import Warehouse

    if url not in _warehouses:
        wh = Warehouse(database_url=url)
        for table in ("ohlcv_data", "etf_daily"):
            wh.has_region(table)
        _warehouses[url] = wh
    return _warehouses[url]


def day_writes(day: dt.date, ohlcv: pd.DataFrame, etf: pd.DataFrame, where=None) -> list:
    from quant_assets.resources.warehouse import PartitionWrite

    where = where or {"region": "KR", "date": day}
    return [PartitionWrite("ohlcv_data", ohlcv, where=where, status=("ohlcv", day, "bench")),
            PartitionWrite("etf_daily", etf, where=where, status=("etf_daily", day, "bench"))]


def parse_ms_per_day(stock_payload: dict, etf_payload: dict, date: str, *, repeats: int = 5) -> dict:
    """ms to parse one full-market day (MDCSTAT01501 + MDCSTAT04301): row-by-row vs vectorised."""
    from quant_assets.resources import columnar
    from quant_assets.resources import parsing as P

    def once() -> float:
        t0 = perf()
        P.parse_stock_daily(stock_payload, date)
        P.parse_etf_daily(etf_payload, date)
        return perf() - t0

    fast = columnar.fast_columns
    try:
        columnar.fast_columns = lambda *a, **k: None    # the row-by-row path (before)
        before = _best(once, repeats)
    finally:
        columnar.fast_columns = fast
    after = _best(once, repeats)
    return {"rows": len(stock_payload["OutBlock_1"]) + len(etf_payload["output"]),
            "before_ms": round(before * 1000, 2), "after_ms": round(after * 1000, 2),
            "speedup": round(before / after, 2)}


# -- the run ----------------------------------------------------------------------------------------
def bench_write(url: str, days: list[dt.date], repeats: int) -> dict:
    """Sections 1 and 2: one day (repeated) and the batch of `days`, ours vs raw COPY."""
    from quant_assets.resources import binary_copy

    wh = warehouse(url)
    frames = synthetic_days(days)
    day = days[0]
    o1, e1 = frames[day]
    for table in ("ohlcv_data", "etf_daily"):
        wh.ensure_month_partitions(table, days)
    out: dict = {"day": {}, "batch": {}, "copy_methods": {}}
    # one day: first load (nothing to delete) and re-run (delete + copy), best of `repeats`
    runs = []
    for _ in range(repeats):
        wh.execute("TRUNCATE ohlcv_data, etf_daily, partition_status")
        runs.append(replace_rows_per_s(url, [day_writes(day, o1, e1)])[1])
    rerun = _best(lambda: replace_rows_per_s(url, [day_writes(day, o1, e1)])[1], repeats)
    no_after = _best(lambda: replace_rows_per_s(url, [day_writes(day, o1, e1)], after=False)[1], repeats)
    rows = len(o1) + len(e1)
    raw_s = sum(len(f) / raw_copy_rows_per_s(url, t, f, repeats=repeats)
                for t, f in (("ohlcv_data", o1), ("etf_daily", e1)))
    # the same pre-built bytes into the real (partitioned, indexed) tables, nothing else: the limit
    # of this table layout, what our client side and transaction add to it is the rest
    streams = {}
    with psycopg.connect(url) as conn:
        for t, f in (("ohlcv_data", o1), ("etf_daily", e1)):
            streams[t] = (", ".join(f'"{c}"' for c in f.columns), binary_copy.encode_rows(f, binary_copy.table_types(conn, t)))

    def layout_once() -> float:
        wh.execute("TRUNCATE ohlcv_data, etf_daily")
        with psycopg.connect(url) as conn:
            t0 = perf()
            with conn.transaction():
                for t, (cols, data) in streams.items():
                    with conn.cursor().copy(f"COPY {t} ({cols}) FROM STDIN (FORMAT BINARY)") as cp:
                        cp.write(binary_copy.HEADER)
                        cp.write(data)
                        cp.write(binary_copy.TRAILER)
            return perf() - t0

    layout_s = _best(layout_once, repeats)
    out["day"] = {"rows": rows, "raw_copy_into_indexed_tables_s": round(layout_s, 4),
                  "ratio_vs_indexed_tables": round(layout_s / min(runs), 3), "replace_s": round(min(runs), 4), "replace_rows_per_s": round(rows / min(runs)),
                  "rerun_s": round(rerun, 4), "without_after_s": round(no_after, 4),
                  "raw_copy_s": round(raw_s, 4), "raw_copy_rows_per_s": round(rows / raw_s),
                  "ratio": round(raw_s / min(runs), 3), "ratio_rerun": round(raw_s / rerun, 3),
                  "ratio_without_after": round(raw_s / no_after, 3)}
    for table, frame in (("ohlcv_data", o1), ("etf_daily", e1)):
        out["copy_methods"][table] = {m: round(copy_method_rows_per_s(url, table, frame, m, repeats=repeats))
                                      for m in ("csv", "write_row", "numpy")}
        out["copy_methods"][table]["raw_prebuilt_binary"] = round(raw_copy_rows_per_s(url, table, frame,
                                                                                      repeats=repeats))
    log(f"one day: {out['day']}")
    # the batch: one transaction per day (as a ranged run writes) and one for the whole range
    wh.execute("TRUNCATE ohlcv_data, etf_daily, partition_status")
    o_all = pd.concat([frames[d][0] for d in days], ignore_index=True)
    e_all = pd.concat([frames[d][1] for d in days], ignore_index=True)
    rows = len(o_all) + len(e_all)
    per_day_rps, per_day_s = replace_rows_per_s(url, [day_writes(d, *frames[d]) for d in days])
    wh.execute("TRUNCATE ohlcv_data, etf_daily, partition_status")
    where = {"region": "KR", "date": (days[0], days[-1])}
    one_rps, one_s = replace_rows_per_s(url, [day_writes(days[0], o_all, e_all, where)])
    raw_s = sum(len(f) / raw_copy_rows_per_s(url, t, f, repeats=1) for t, f in (("ohlcv_data", o_all),
                                                                              ("etf_daily", e_all)))
    out["batch"] = {"days": len(days), "rows": rows, "per_day_transactions_s": round(per_day_s, 3),
                    "per_day_rows_per_s": round(per_day_rps), "one_transaction_s": round(one_s, 3),
                    "one_transaction_rows_per_s": round(one_rps), "raw_copy_s": round(raw_s, 3),
                    "raw_copy_rows_per_s": round(rows / raw_s), "ratio_per_day": round(raw_s / per_day_s, 3),
                    "ratio_one_transaction": round(raw_s / one_s, 3)}
    log(f"batch: {out['batch']}")
    out["indexes"] = bench_indexes(url, o_all, days, repeats)
    return out


def bench_indexes(url: str, frame: pd.DataFrame, days: list[dt.date], repeats: int) -> dict:
    """Section 3: raw COPY cost of each index of ohlcv_data, and the queries they serve (rows of
    `frame` are loaded in ohlcv_data by the batch above)."""
    out = {f"raw_copy_rows_per_s_{ix}": round(raw_copy_rows_per_s(url, "ohlcv_data", frame, repeats=1, indexes=ix))
           for ix in ("none", "pkey", "pkey+date", "pkey+brin")}
    queries = {"one_ticker_history": ("SELECT date, close FROM ohlcv_data WHERE ticker = %s AND region = 'KR' "
                                      "AND timeframe = 'D' ORDER BY date", (frame["ticker"].iloc[7],)),
               "one_date_all_tickers": ("SELECT ticker, close FROM ohlcv_data WHERE date = %s AND region = 'KR' "
                                        "AND timeframe = 'D'", (days[len(days) // 2],))}
    with psycopg.connect(url) as conn:
        conn.execute("ANALYZE ohlcv_data")
        conn.commit()
        for label, drop in (("with_date_index", False), ("without_date_index", True)):
            with conn.transaction(force_rollback=True):
                if drop:
                    conn.execute("DROP INDEX ohlcv_data_date_idx")
                for name, (sql, params) in queries.items():
                    times = []
                    for _ in range(max(5, repeats * 3)):
                        t0 = perf()
                        conn.execute(sql, params).fetchall()
                        times.append(perf() - t0)
                    out[f"{name}_ms_{label}"] = round(statistics.median(times) * 1000, 3)
    log(f"indexes: {out}")
    return out


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_simulator(size: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "quant_assets.simulator", "--size", size, "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_simulator(proc: subprocess.Popen, base: str, timeout: float = 900) -> None:
    t0 = perf()
    while perf() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited: {proc.stderr.read()[-2000:]}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"{base}/_sim/health", timeout=2).read()
            return
        time.sleep(1)
    raise RuntimeError("simulator did not start")


def bench_ranged(url: str, base: str, days: list[dt.date]) -> dict:
    """Sections 4 and 5 against the simulator process."""
    import dagster as dg

    from quant_assets.assets import prices
    from quant_assets.resources import parsing as P
    from quant_assets.resources.krx import STAT, KRXClient
    from quant_assets.resources.warehouse import Warehouse

    wh = Warehouse(database_url=url)
    krx_url = f"{base}/krx"
    probe = KRXClient(base_url=krx_url, requests_per_second=1000)
    d = P.yyyymmdd(days[0])
    stock = probe.fetch(STAT + P.STOCK_DAILY, {"mktId": "ALL", "trdDd": d}, dataset=P.STOCK_DAILY, date=d)
    etf = probe.fetch(STAT + P.ETF_DAILY, {"trdDd": d}, dataset=P.ETF_DAILY, date=d)
    out: dict = {"parse": parse_ms_per_day(stock, etf, d)}
    log(f"parse: {out['parse']}")
    tags = {"dagster/asset_partition_range_start": days[0].isoformat(),
            "dagster/asset_partition_range_end": days[-1].isoformat()}
    for rps in (2.0, 1000.0):
        client = KRXClient(base_url=krx_url, requests_per_second=rps)
        t0 = perf()
        for day in days:                     # the source alone: the floor a ranged run can reach
            client.etf_daily(day)
            client.stock_daily(day)
        floor = perf() - t0
        client.close()
        row = {"fetch_only_s": round(floor, 2)}
        for depth in (0, 2):
            wh.execute("TRUNCATE ohlcv_data, etf_daily, partition_status")
            os.environ["QUANT_PREFETCH_DAYS"] = str(depth)
            t0 = perf()
            result = dg.materialize([prices.daily_prices], tags=tags, raise_on_error=False,
                                    resources={"krx": KRXClient(base_url=krx_url, requests_per_second=rps),
                                               "warehouse": wh})
            wall = perf() - t0
            rows = int(wh.read_frame("SELECT (SELECT count(*) FROM ohlcv_data) + (SELECT count(*) FROM etf_daily) "
                                     "AS n")["n"].iloc[0])
            row[f"prefetch_{depth}"] = {"wall_s": round(wall, 2), "rows": rows, "ok": result.success,
                                        "rows_per_s": round(rows / wall), "wall_over_fetch_only": round(wall / floor, 3)}
        os.environ.pop("QUANT_PREFETCH_DAYS", None)
        row["prefetch_speedup"] = round(row["prefetch_0"]["wall_s"] / row["prefetch_2"]["wall_s"], 3)
        out[f"ranged_{len(days)}d_rps_{rps:g}"] = row
        log(f"ranged at {rps:g} req/s: {row}")
    return out


def print_table(result: dict) -> None:
    w = result["write"]
    lines = [("one day: replace_partitions rows/s", w["day"]["replace_rows_per_s"]),
             ("one day: raw binary COPY rows/s (unindexed)", w["day"]["raw_copy_rows_per_s"]),
             ("one day: ratio (target >= 0.6)", w["day"]["ratio"]),
             ("one day: ratio without refresh_etf_latest", w["day"]["ratio_without_after"]),
             ("one day: raw COPY into the real indexed tables s / ours s",
              f"{w['day']['raw_copy_into_indexed_tables_s']} / {w['day']['replace_s']} "
              f"(ratio {w['day']['ratio_vs_indexed_tables']})"),
             (f"{w['batch']['days']}-day batch: per-day transactions rows/s", w["batch"]["per_day_rows_per_s"]),
             (f"{w['batch']['days']}-day batch: one transaction rows/s", w["batch"]["one_transaction_rows_per_s"]),
             (f"{w['batch']['days']}-day batch: raw binary COPY rows/s", w["batch"]["raw_copy_rows_per_s"]),
             (f"{w['batch']['days']}-day batch: ratio per-day / one transaction",
              f"{w['batch']['ratio_per_day']} / {w['batch']['ratio_one_transaction']}")]
    for table, methods in w["copy_methods"].items():
        lines.append((f"COPY methods {table} rows/s", ", ".join(f"{k} {v}" for k, v in methods.items())))
    lines += [(f"indexes: {k}", v) for k, v in w["indexes"].items()]
    r = result.get("ranged", {})
    if "parse" in r:
        lines.append(("parse ms/day before -> after", f"{r['parse']['before_ms']} -> {r['parse']['after_ms']} "
                                                      f"({r['parse']['speedup']}x, {r['parse']['rows']} rows)"))
    for key, row in r.items():
        if key.startswith("ranged"):
            lines.append((f"{key}: wall s no prefetch / prefetch / fetch only",
                          f"{row['prefetch_0']['wall_s']} / {row['prefetch_2']['wall_s']} / {row['fetch_only_s']}"))
    width = max(len(k) for k, _ in lines)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.write_path", description=__doc__.split("\n")[0])
    ap.add_argument("--batch-days", type=int, default=250, help="days of the batch write (default 250)")
    ap.add_argument("--ranged-days", type=int, default=20, help="days of the ranged daily_prices run (0: skip)")
    ap.add_argument("--size", choices=["small", "full"], default="full", help="simulator size for the ranged run")
    ap.add_argument("--repeats", type=int, default=3, help="repeats per measurement (best is kept)")
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "bench_write_path.json"))
    args = ap.parse_args(argv)
    home = tempfile.mkdtemp(prefix="bench-write-path-")
    os.environ["QUANT_HOME"] = home
    from quant_assets import database, migrations

    sim = start_simulator(args.size) if args.ranged_days else None
    try:
        url = os.environ.get("QUANT_DATABASE_URL") or database.database_url()
        migrations.migrate(url)
        days = trading_days(dt.date(2024, 1, 2), max(args.batch_days, args.ranged_days))
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        result: dict = {"command": " ".join(["python -m benchmarks.write_path", *(argv or sys.argv[1:])]),
                        "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()},
                        "write": bench_write(url, days[:args.batch_days], args.repeats)}
        out.write_text(json.dumps(result, indent=2, default=str))      # partial results survive a stop
        if sim:
            wait_simulator(*sim)
            result["ranged"] = bench_ranged(url, sim[1], days[:args.ranged_days])
        result["ingest_vs_raw_copy_ratio"] = result["write"]["day"]["ratio"]
        result["raw_copy_rows_per_s"] = result["write"]["day"]["raw_copy_rows_per_s"]
        result["ingest_rows_per_s"] = result["write"]["day"]["replace_rows_per_s"]
        result["machine"]["load_avg_end"] = os.getloadavg()
        out.write_text(json.dumps(result, indent=2, default=str))
        print_table(result)
        log(f"wrote {args.out}")
    finally:
        if sim:
            sim[0].terminate()
            sim[0].wait(timeout=30)
        if not os.environ.get("QUANT_DATABASE_URL"):
            database.stop_embedded()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
