"""Where a ranged `technical_analysis` run spends its time (read, compute, each write statement),
and what the storage layout of `ohlcv_data`'s month partitions (fillfactor) does to it and to the
table's size: issue #13's "no derived asset above 100 ms per trading day".

    python -m benchmarks.technical_write --template DB [--days 246] [--fillfactor 100,50]
                                         [--baseline COMMIT] [--out artifacts/bench_technical_write.json]

DB is a database built by benchmarks/derived_data.py (indicator columns NULL, pages packed by the
load and vacuumed), in the server of QUANT_DATABASE_URL / QUANT_HOME. Every variant (code x
fillfactor) runs on its own copy of it (CREATE DATABASE ... TEMPLATE), so each starts from the same
bytes: the first run fills the indicators of the last `--days` trading days as after an ingest,
the second re-runs them (values unchanged). The fillfactor is applied as the ingest would see it
on a partition created with it: ALTER TABLE ... SET (fillfactor) + VACUUM FULL of the range's
month partitions. Reported per run: wall and CPU (client + its backend, /proc, so the database
must be local) per trading day, the time of each SQL statement kind, HOT updates, and the bytes of
the range's partitions after the run and after a VACUUM. Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import psycopg

from benchmarks.derived_other import _technical_at
from quant_assets.calendar import trading_days

perf = time.perf_counter


def log(msg: str) -> None:
    print(f"[technical_write {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _with_database(url: str, name: str) -> str:
    from quant_assets.database import _with_database as w
    return w(url, name)


def _backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class StatementTimer:
    """Wall time of every execute/COPY on psycopg connections, by the statement's first words."""

    def __init__(self):
        self.ms: dict[str, float] = defaultdict(float)
        self._saved = None

    @staticmethod
    def _kind(query) -> str:
        text = query if isinstance(query, str) else query.as_string(None) if hasattr(query, "as_string") else str(query)
        words = text.split()
        head = " ".join(words[:2]).upper()
        if head.startswith("COPY ("):
            return "COPY out (read)"
        if head.startswith("COPY"):
            return f"COPY in {words[1].strip(chr(34))}"
        return head

    def __enter__(self):
        execute, copy = psycopg.Connection.execute, psycopg.Cursor.copy
        timer = self

        def timed_execute(self, query, params=None, **kw):
            t = perf()
            try:
                return execute(self, query, params, **kw)
            finally:
                timer.ms[timer._kind(query)] += (perf() - t) * 1000

        @contextlib.contextmanager
        def timed_copy(self, statement, params=None, **kw):
            t = perf()
            try:
                with copy(self, statement, params, **kw) as cp:
                    yield cp
            finally:
                timer.ms[timer._kind(statement)] += (perf() - t) * 1000

        self._saved = (execute, copy)
        psycopg.Connection.execute, psycopg.Cursor.copy = timed_execute, timed_copy
        return self

    def __exit__(self, *exc):
        psycopg.Connection.execute, psycopg.Cursor.copy = self._saved


SIZES = """
SELECT sum(pg_relation_size(c.oid)), sum(pg_indexes_size(c.oid)), sum(pg_total_relation_size(c.oid))
FROM pg_class c WHERE c.relname = ANY(%s)
"""
STATS = """
SELECT coalesce(sum(n_tup_upd), 0), coalesce(sum(n_tup_hot_upd), 0) FROM pg_stat_user_tables WHERE relname = ANY(%s)
"""


def _parts(days: list[dt.date]) -> list[str]:
    return sorted({f"ohlcv_data_y{d.year}m{d.month:02d}" for d in days})


def _sizes(conn, parts) -> dict:
    heap, idx, total = (int(x) for x in conn.execute(SIZES, (parts,)).fetchone())
    return {"heap_mb": round(heap / 2**20, 1), "index_mb": round(idx / 2**20, 1), "total_mb": round(total / 2**20, 1)}


def _run(url: str, technical, days: list[dt.date], parts: list[str]) -> dict:
    with psycopg.connect(url, autocommit=True) as conn, StatementTimer() as timer:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        upd0, hot0 = conn.execute(STATS, (parts,)).fetchone()
        c0, s0, w0 = time.process_time(), _backend_cpu(pid), perf()
        report = technical.run_days(conn, "KR", days)
        wall, client, server = perf() - w0, time.process_time() - c0, _backend_cpu(pid) - s0
        assert not report.failures, report.failures[:3]
        conn.execute("SELECT pg_stat_force_next_flush()")
    time.sleep(1.5)
    with psycopg.connect(url, autocommit=True) as conn:
        upd1, hot1 = conn.execute(STATS, (parts,)).fetchone()
        size = _sizes(conn, parts)
    meta = report.metadata[days[-1].isoformat()]
    n = len(days)
    return {"wall_ms_per_day": round(wall * 1000 / n, 1),
            "cpu_ms_per_day": round((client + server) * 1000 / n, 1),
            "client_cpu_ms_per_day": round(client * 1000 / n, 1), "server_cpu_ms_per_day": round(server * 1000 / n, 1),
            "read_ms": meta.get("read_ms"), "compute_ms": meta.get("compute_ms"), "write_ms": meta.get("write_ms"),
            "statements_ms_per_day": {k: round(v / n, 1) for k, v in sorted(timer.ms.items(), key=lambda kv: -kv[1])},
            "rows_updated": int(upd1 - upd0), "hot_updates": int(hot1 - hot0), "size_after": size}


def variant(admin: str, template: str, label: str, technical, days: list[dt.date], fillfactor: int) -> dict:
    name = f"ta_{label}_{fillfactor}".lower().replace("-", "_")
    parts = _parts(days)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        t = perf()
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        log(f"{name}: copied the template in {perf() - t:.0f}s")
    url = _with_database(admin, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            if fillfactor != 100:
                for p in parts:
                    conn.execute(f"ALTER TABLE {p} SET (fillfactor = {fillfactor})")
                    conn.execute(f"VACUUM FULL {p}")
            conn.execute(f"VACUUM ANALYZE {', '.join(parts)}")
            before = _sizes(conn, parts)
        out = {"fillfactor": fillfactor, "size_before": before}
        for run in ("first", "rerun"):
            out[run] = _run(url, technical, days, parts)
            log(f"{name} {run}: {json.dumps(out[run], default=str)}")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"VACUUM {', '.join(parts)}")
            out["size_after_vacuum"] = _sizes(conn, parts)
        return out
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", required=True, help="database built by benchmarks/derived_data.py")
    ap.add_argument("--days", type=int, default=246)
    ap.add_argument("--fillfactor", default="100", help="comma-separated fillfactors of the range's partitions")
    ap.add_argument("--baseline", help="also run the technical.py / technical_io.py of this commit")
    ap.add_argument("--baseline-only", action="store_true")
    ap.add_argument("--out", default="artifacts/bench_technical_write.json")
    args = ap.parse_args(argv)
    from quant_assets import database

    admin = _with_database(database.database_url(), "postgres")
    template_url = _with_database(admin, args.template)
    os.environ["QUANT_DATABASE_URL"] = template_url   # metadata helpers read "the" market database's catalogue
    with psycopg.connect(template_url) as conn:
        last = conn.execute("SELECT max(date) FROM ohlcv_data WHERE region = 'KR'").fetchone()[0]
    days = trading_days(last - dt.timedelta(days=args.days * 2), last)[-args.days:]
    codes = []
    if not args.baseline_only:
        from quant_assets.assets import technical
        codes.append(("current", technical))
    if args.baseline:
        codes.append((f"b{args.baseline[:8]}", _technical_at(args.baseline, f"tw_{args.baseline[:8]}")))
    result = {"days": [str(days[0]), str(days[-1]), len(days)], "template": args.template, "variants": []}
    for ff in (int(x) for x in args.fillfactor.split(",")):
        for label, module in codes:
            r = variant(admin, args.template, label, module, days, ff)
            r["code"] = label
            result["variants"].append(r)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    for r in result["variants"]:
        print(f"{r['code']:10} ff={r['fillfactor']:3}  first {r['first']['wall_ms_per_day']:7} ms/day wall "
              f"{r['first']['cpu_ms_per_day']:7} cpu  rerun {r['rerun']['wall_ms_per_day']:7} wall "
              f"{r['rerun']['cpu_ms_per_day']:7} cpu  hot {r['first']['hot_updates']}/{r['first']['rows_updated']}  "
              f"total MB {r['size_before']['total_mb']} -> {r['size_after_vacuum']['total_mb']}")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
