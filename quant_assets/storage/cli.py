"""`quant storage`: size per table and period, compact closed periods, un-compact one.

    quant storage [report] [--by month|year|table] [--json]
    quant storage compact [--before YYYY-MM-DD] [--table ohlcv_data ...]
    quant storage uncompact --period YYYY-MM [--table ohlcv_data] [--region KR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json


def _month(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text[:7] + "-01")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM, got {text!r}") from exc


def add_parser(sub) -> argparse.ArgumentParser:
    from quant_assets.storage.compaction import COMPACTED_TABLES

    st = sub.add_parser("storage", help="storage per table and period; compact / un-compact closed periods",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    st.add_argument("action", nargs="?", default="report", choices=["report", "compact", "uncompact"],
                    help="report (default): bytes per table and period, raw vs compacted; compact: move "
                         "closed months to the compact layout; uncompact: move one month back to rows")
    st.add_argument("--by", default="month", choices=["month", "year", "table"], help="report granularity")
    st.add_argument("--json", action="store_true", help="report as JSON (one object per line)")
    st.add_argument("--before", type=dt.date.fromisoformat,
                    help="compact: months ending before this day (default: first day of the previous month)")
    st.add_argument("--table", action="append", choices=list(COMPACTED_TABLES),
                    help="compact/uncompact: only this table (repeatable; default: all compactable tables)")
    st.add_argument("--period", type=_month, help="uncompact: the month, YYYY-MM")
    st.add_argument("--region", help="uncompact: only this region (default: every region of the month)")
    st.set_defaults(func=cmd_storage)
    return st


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def cmd_storage(args: argparse.Namespace) -> int:
    from quant_assets import database, migrations
    from quant_assets.storage import compact_closed_periods, storage_report, summarise, uncompact_period
    from quant_assets.storage.compaction import COMPACTED_TABLES

    url = database.database_url()
    migrations.migrate(url)
    tables = tuple(args.table or COMPACTED_TABLES)
    if args.action == "compact":
        result = compact_closed_periods(url, before=args.before, tables=tables)
        for table, r in result["tables"].items():
            if "skipped" in r:
                print(f"{table}: skipped ({r['skipped']})")
                continue
            print(f"{table}: {len(r['periods'])} month(s), {r['rows']:,} rows compacted before {result['before']} "
                  f"in {r['seconds']} s{' (converted to the compacted layout)' if r['converted'] else ''}"
                  f"; {r.get('partitions_dropped', 0)} emptied month partition(s) dropped")
        return 0
    if args.action == "uncompact":
        if args.period is None:
            raise SystemExit("quant storage uncompact: --period YYYY-MM is required")
        for table in tables:
            r = uncompact_period(url, table, args.period, region=args.region)
            print(f"{table} {r['period'][:7]}: {r['rows']:,} rows back in row form "
                  f"({', '.join(r['regions']) or 'nothing was compacted'})")
        return 0
    report = storage_report(url)
    rows = report if args.by == "month" else summarise(report, by=args.by)
    if args.json:
        for e in rows:
            print(json.dumps(e))
        return 0
    print(f"{'table':16} {'period':8} {'state':9} {'rows':>12} {'raw':>11} {'compacted':>11} {'ratio':>6} {'saved':>6}")
    for e in rows:
        print(f"{e['table']:16} {e['period']:8} {e['state']:9} {e['rows']:>12,} {_size(e['raw_bytes']):>11} "
              f"{_size(e['compacted_bytes']):>11} {e['ratio'] or '-':>6} "
              f"{'-' if e['saved_pct'] is None else str(e['saved_pct']) + '%':>6}")
    return 0
