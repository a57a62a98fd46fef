"""CPU seconds (client + its PostgreSQL backend) of the set-based derived paths against the code
of a baseline commit, on one connection: a measure that a shared, CPU-starved machine does not
inflate the way it inflates wall time (benchmarks/derived_other.py measures wall).

    python -m benchmarks.derived_other_cpu --url URL [--baseline 7303276] [--days 60]

Reads /proc/<backend pid>/stat, so the database must run on this machine. Prints JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time

import psycopg

from benchmarks.derived_other import _module_at, _technical_at
from quant_assets.calendar import trading_days


def _backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu(conn: psycopg.Connection, fn) -> dict:
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    c0, s0, w0 = time.process_time(), _backend_cpu(pid), time.perf_counter()
    fn()
    return {"client_cpu_s": round(time.process_time() - c0, 2), "server_cpu_s": round(_backend_cpu(pid) - s0, 2),
            "wall_s": round(time.perf_counter() - w0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--baseline", default="7303276")
    ap.add_argument("--days", type=int, default=60)
    args = ap.parse_args(argv)
    os.environ["QUANT_DATABASE_URL"] = args.url
    from quant_assets.assets import bucket_sql, technical

    old_tech = _technical_at(args.baseline, "cpu_old")
    old_agg = _module_at(args.baseline, "quant_assets/assets/aggregates.py", "_cpu_old_aggregates")
    out: dict = {}
    with psycopg.connect(args.url, autocommit=True) as conn:
        last = conn.execute("SELECT max(date) FROM ohlcv_data WHERE region = 'KR'").fetchone()[0]
        days = trading_days(last - dt.timedelta(days=args.days * 2), last)[-args.days:]
        months = sorted({d.replace(day=1) for d in days})[1:]
        end = (months[-1].replace(day=28) + dt.timedelta(days=4)).replace(day=1)

        def old_buckets():
            for i, m in enumerate(months):
                stop = months[i + 1] if i + 1 < len(months) else end
                with conn.transaction():
                    conn.execute("DELETE FROM ohlcv_monthly WHERE region = 'KR' AND month = %s", (m,))
                    conn.execute(old_agg.bucket_insert("ohlcv_monthly"), {"start": m, "end": stop, "region": "KR"})
                    conn.execute(old_agg.RECONCILE.format(table="ohlcv_monthly", bucket="month"),
                                 {"start": m, "end": stop, "region": "KR"}).fetchall()

        n_month_days = len(trading_days(months[0], end - dt.timedelta(days=1)))
        for label, fn, n in (
            ("ohlcv_monthly_current", lambda: bucket_sql.refresh_buckets(conn, "ohlcv_monthly", months, end, "KR"),
             n_month_days),
            ("ohlcv_monthly_baseline", old_buckets, n_month_days),
            ("technical_current", lambda: technical.run_days(conn, "KR", days), len(days)),
            ("technical_baseline", lambda: old_tech.run_days(conn, "KR", days), len(days)),
        ):
            r = cpu(conn, fn)
            r["cpu_ms_per_day"] = round((r["client_cpu_s"] + r["server_cpu_s"]) * 1000 / n, 1)
            out[label] = r
            print(label, r, flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
