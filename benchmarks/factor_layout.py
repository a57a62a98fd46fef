"""factor_scores storage before/after a layout migration, on the same full-market data (sql/029).

    .venv/bin/python -m benchmarks.factor_layout build  --home /tmp/fsl [--days 246] [--upto 28]
    .venv/bin/python -m benchmarks.factor_layout measure --home /tmp/fsl [--label before]
    .venv/bin/python -m benchmarks.factor_layout migrate --home /tmp/fsl --upto 29

`build` makes its own embedded server under --home, a database migrated only up to migration
`--upto` (so the data is written by the layout of that schema and the code checked out), a
synthetic full market (benchmarks/derived_prices.build: 2,700 KOSPI/KOSDAQ stocks + 1,000 ETFs,
two years of bars) with KRX-like DAILY fundamentals (two decimals, loss makers without PER, many
zero dividend yields: real ties), then ONE ranged factor_scores run over the last `--days` days.
`measure` reports pg_total_relation_size (heap + TOAST + indexes) of the factor tables, bytes per
(day, factor) row and per year, average stored bytes per column, a digest of every view row (text
output of float8 is exact), and the p50/p95 of the factor queries (client round trip, prepared,
warm). `migrate` applies the migrations up to --upto in place. Output: artifacts/factor_layout.json
(one entry per label).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

OUT = Path("artifacts/factor_layout.json")
DB = "factor_layout"

FUNDAMENTALS = """
INSERT INTO ticker_fundamentals (ticker, region, date, period_type, per, pbr, dividend_yield, currency, data_source)
SELECT o.ticker, 'KR', o.date, 'DAILY',
       CASE WHEN random() < 0.3 THEN NULL ELSE round((2 + random() * 60)::numeric, 2) END,
       round((0.2 + random() * 4)::numeric, 2),
       CASE WHEN random() < 0.4 THEN 0 ELSE round((random() * 7)::numeric, 2) END,
       'KRW', 'KRX'
FROM ohlcv_data o WHERE o.region = 'KR' AND o.timeframe = 'D' AND o.asset_type = 'STOCK' AND o.date = ANY(%(days)s)
"""

QUERIES = {
    "top20_factor": "SELECT ticker, score FROM factor_scores WHERE region='KR' AND date=%s AND factor_name=%s "
                    "ORDER BY score DESC LIMIT 20",
    "top20_percentile": "SELECT ticker, percentile FROM factor_scores WHERE region='KR' AND date=%s "
                        "AND factor_name=%s ORDER BY percentile DESC LIMIT 20",
    "day_factor_all_columns": "SELECT * FROM factor_scores WHERE region='KR' AND date=%s AND factor_name=%s",
    "ticker_day_all_factors": "SELECT * FROM factor_scores WHERE region='KR' AND date=%s AND ticker=%s",
    "factor_3m_history": "SELECT * FROM factor_scores WHERE factor_name=%s AND date >= %s",
}


def log(msg: str) -> None:
    print(f"[factor-layout {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sql_dir_upto(upto: int) -> Path:
    from quant_assets.migrations import SQL_DIR

    tmp = Path(tempfile.mkdtemp(prefix="fsl-sql-"))
    for p in sorted(SQL_DIR.glob("*.sql")):
        if int(p.name[:3]) <= upto:
            shutil.copy(p, tmp / p.name)
    return tmp


def urls(home: str) -> tuple[str, str]:
    os.environ["QUANT_HOME"] = home
    os.environ.pop("QUANT_DATABASE_URL", None)
    from quant_assets import database

    admin = database.database_url()
    return admin, admin.replace("/quant?", f"/{DB}?")


def build(args) -> None:
    import dagster as dg

    from benchmarks.derived_prices import build as build_market
    from quant_assets import migrations
    from quant_assets.assets.factors import factor_scores
    from quant_assets.resources.warehouse import Warehouse

    admin, url = urls(args.home)
    sql_dir = sql_dir_upto(args.upto)
    migrations.migrate(admin, sql_dir=sql_dir)  # partition metadata reads the default database's comments
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    migrations.migrate(url, sql_dir=sql_dir)
    built = build_market(url, 2, args.days, stocks=2700)
    days = built.pop("days")[-args.days:]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM ticker_fundamentals WHERE region = 'KR' AND period_type = 'DAILY'")
        conn.execute("SELECT setseed(0.29)")
        conn.execute(FUNDAMENTALS, {"days": days})
        conn.execute("VACUUM ANALYZE ticker_fundamentals")
    log(f"market built: {built}")
    t0 = time.perf_counter()
    tags = {"dagster/asset_partition_range_start": days[0].isoformat(),
            "dagster/asset_partition_range_end": days[-1].isoformat()}
    result = dg.materialize([factor_scores], resources={"warehouse": Warehouse(database_url=url)}, tags=tags)
    assert result.success
    log(f"factor_scores: {len(days)} days in {time.perf_counter() - t0:.1f}s")


def relations(conn) -> list[str]:
    names = [r[0] for r in conn.execute(
        "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace "
        "AND (c.relname LIKE 'factor_scores_packed%' OR c.relname LIKE 'factor_score_days%')")]
    return sorted(names)


def measure(args) -> None:
    _, url = urls(args.home)
    out: dict = {"label": args.label, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    with psycopg.connect(url, autocommit=True, prepare_threshold=0) as conn:
        conn.execute("VACUUM ANALYZE")
        rels = relations(conn)
        sizes = {r: conn.execute("SELECT pg_total_relation_size(%s::regclass)", (r,)).fetchone()[0] for r in rels}
        total = sum(sizes.values()) + conn.execute(
            "SELECT coalesce(sum(pg_relation_size(i.indexrelid)), 0) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "WHERE c.relname IN ('factor_scores_packed', 'factor_score_days')").fetchone()[0]  # parent (empty)
        rows, days = conn.execute("SELECT count(*), count(DISTINCT date) FROM factor_scores_packed").fetchone()
        scores = conn.execute("SELECT count(*) FROM factor_scores").fetchone()[0]
        cols = [r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'factor_scores_packed'::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum")]
        colsize = {c: float(conn.execute(f"SELECT avg(pg_column_size({c})) FROM factor_scores_packed").fetchone()[0]
                            or 0) for c in cols}
        if any("factor_score_days" in r for r in rels):
            for c in ("tickers", "markets", "market_codes"):
                colsize["days." + c] = float(conn.execute(
                    f"SELECT avg(pg_column_size({c})) FROM factor_score_days").fetchone()[0])
        # order-independent digest of every view row's text (float8 text output is exact)
        md5 = str(conn.execute("SELECT sum(hashtextextended(f::text, 0)::numeric) FROM factor_scores f").fetchone()[0])
        scored = [tuple(r) for r in conn.execute("SELECT date, factor_name FROM factor_scores_packed")]
        tickers = [r[0] for r in conn.execute("SELECT DISTINCT ticker FROM factor_scores WHERE date = %s",
                                              (max(d for d, _ in scored),))]
        rnd = random.Random(7)
        lat = {}
        for name, q in QUERIES.items():
            def params(name=name):
                day, factor = rnd.choice(scored)
                if name == "ticker_day_all_factors":
                    return [day, rnd.choice(tickers)]
                if name == "factor_3m_history":
                    return [factor, day - dt.timedelta(days=90)]
                return [day, factor]
            repeats = 30 if name == "factor_3m_history" else args.repeats
            for _ in range(5):
                conn.execute(q, params()).fetchall()
            times = []
            for _ in range(repeats):
                p = params()
                t0 = time.perf_counter()
                conn.execute(q, p).fetchall()
                times.append(1000 * (time.perf_counter() - t0))
            times.sort()
            lat[name] = {"p50_ms": round(statistics.median(times), 3),
                         "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3), "runs": repeats}
    total = int(total)
    per_row = total / rows
    out.update({"bytes_total": total, "packed_rows": rows, "days": days, "scores": scores,
                "bytes_per_day_factor_row": round(per_row, 1), "bytes_per_score": round(total / scores, 2),
                "mb_per_year_246_days": round(total / days * 246 / 1e6, 1),
                "relations": len(rels), "avg_column_bytes": {k: round(v, 1) for k, v in colsize.items()},
                "view_md5": md5, "queries": lat})
    print(json.dumps(out, indent=1))
    OUT.parent.mkdir(exist_ok=True)
    prior = json.loads(OUT.read_text()) if OUT.exists() else {}
    prior[args.label] = out
    OUT.write_text(json.dumps(prior, indent=1))


def migrate(args) -> None:
    from quant_assets import migrations

    admin, url = urls(args.home)
    # the assets' Warehouse migrates with every file on its first connection: files already
    # applied there stay in the plan
    with psycopg.connect(url) as conn:
        applied = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
    sql_dir = sql_dir_upto(args.upto)
    for p in migrations.SQL_DIR.glob("*.sql"):
        if int(p.name[:3]) in applied:
            shutil.copy(p, sql_dir / p.name)
    t0 = time.perf_counter()
    migrations.migrate(url, sql_dir=sql_dir)
    log(f"migrated {DB} to {args.upto:03d} in {time.perf_counter() - t0:.1f}s")
    migrations.migrate(admin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["build", "measure", "migrate"])
    parser.add_argument("--home", required=True, help="QUANT_HOME of the embedded server the data lives on")
    parser.add_argument("--days", type=int, default=246)
    parser.add_argument("--upto", type=int, default=28, help="apply migrations up to this number")
    parser.add_argument("--label", default="before")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    {"build": build, "measure": measure, "migrate": migrate}[args.step](args)


if __name__ == "__main__":
    main()
