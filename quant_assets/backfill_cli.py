"""`quant backfill`: bring the whole graph (or chosen assets) to N years, and follow it to the end.

    quant backfill --years 10                 ingest + every derived asset, ten years
    quant backfill --start 2024-01-01 --end 2024-12-31 --assets ohlcv_monthly --no-downstream
    quant backfill --status                   budgeted trickles: what is left, at what pace

One asset backfill (what the UI launches from an asset selection + partition range) targets every
asset's missing partitions of the range; the daemon runs upstream before downstream with each
asset's BackfillPolicy. The command prints the plan, the UI link, a progress line per change
(done/failed/remaining partitions, rate, ETA) and exits 1 unless every partition materialized.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from quant_assets.backfill import DEFAULT_ROOTS, TRICKLE_ASSETS, PlanError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _years(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of years: {text!r}") from None
    if not 1 <= n <= 50:
        raise argparse.ArgumentTypeError(f"--years must be between 1 and 50, got {n}")
    return n


def _assets(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("--assets needs at least one asset name")
    return names


def add_parser(sub, default_port: int = 3000) -> argparse.ArgumentParser:
    bf = sub.add_parser("backfill", help="bring assets (downstream included) to a date range; follows it to the end",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    when = bf.add_mutually_exclusive_group()
    when.add_argument("--years", type=_years, metavar="N",
                      help="the last N years up to yesterday (KST); excludes --start/--end")
    when.add_argument("--status", action="store_true",
                      help="show the budgeted history trickles (requests left, budget per day, ETA) and exit")
    bf.add_argument("--start", type=_date, metavar="YYYY-MM-DD",
                    help="first day of the range; buckets (month/quarter/year) containing it are included")
    bf.add_argument("--end", type=_date, metavar="YYYY-MM-DD",
                    help="last day of the range (default: yesterday, KST)")
    bf.add_argument("--assets", type=_assets, default=list(DEFAULT_ROOTS), metavar="A,B,...",
                    help=f"comma-separated asset names (default: {','.join(DEFAULT_ROOTS)}); their downstream "
                         f"assets are added unless --no-downstream ({', '.join(TRICKLE_ASSETS)}: only when named, "
                         "otherwise the budgeted trickle loads them)")
    bf.add_argument("--no-downstream", action="store_true", help="backfill only the named assets")
    bf.add_argument("--no-follow", action="store_true", help="launch, print the id and link, and return")
    bf.add_argument("--dry-run", action="store_true", help="print what would be backfilled, launch nothing")
    bf.add_argument("--poll-seconds", type=float, default=5.0, help="progress poll interval (default 5 s)")
    bf.add_argument("--title", help="backfill title shown in the UI")
    bf.add_argument("--graphql-url", default=f"http://127.0.0.1:{default_port}/graphql",
                    help="the running platform's GraphQL endpoint (default: %(default)s; `quant up --port`)")
    return bf


def resolve_window(args: argparse.Namespace, today: dt.date) -> tuple[dt.date, dt.date]:
    """(start, end) from --years or --start/--end, validated against the partitions' first day."""
    from quant_assets.backfill_plan import validate_range, year_range
    from quant_assets.calendar import start_date

    first = dt.date.fromisoformat(start_date())
    if args.years is not None:
        if args.start or args.end:
            raise PlanError("--years and --start/--end exclude each other")
        start, end = year_range(args.years, today)
    elif args.start is None:
        raise PlanError("give --years N or --start YYYY-MM-DD")
    else:
        start, end = args.start, args.end or today - dt.timedelta(days=1)
    return validate_range(start, end, first, today)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except PlanError as exc:
        print(f"quant backfill: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    import requests

    from quant_assets import backfill, backfill_plan
    from quant_assets.calendar import KST

    if args.status:
        from quant_assets.trickle import status_lines
        for line in status_lines():
            print(line)
        return 0
    today = dt.datetime.now(tz=KST).date()
    start, end = resolve_window(args, today)
    from quant_assets.definitions import defs  # the real asset graph and partitions

    graph = defs.resolve_asset_graph()
    assets = backfill_plan.resolve_assets(graph, args.assets, downstream=not args.no_downstream)

    def expand(name: str, first: str, last: str) -> list[str]:
        import dagster as dg
        return graph.get(dg.AssetKey(name)).partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(first, last))

    try:
        have = backfill.materialized_partitions(args.graphql_url, assets, expand)
    except requests.RequestException as exc:
        print(f"quant backfill: the platform is not reachable at {args.graphql_url} ({type(exc).__name__}); "
              "start it with `quant up` (or pass --graphql-url)", file=sys.stderr)
        return 2
    targets = backfill_plan.plan(graph, assets, start, end, have)
    print(f"backfill {start} .. {end}: {len(assets)} assets in dependency order")
    for t in targets:
        span = "unpartitioned" if t.ranges is None else (
            f"{t.ranges[0][0]} .. {t.ranges[-1][1]} in {len(t.ranges)} range(s)" if t.ranges else "-")
        print(f"  {t.asset:<22} {t.partitions:>6} to load, {t.already:>6} already loaded   {span}")
    todo = {t.asset: t.ranges for t in targets if t.partitions}
    if not todo:
        print("nothing to do: every partition of the range is materialized")
        return 0
    if args.dry_run:
        return 0
    title = args.title or f"quant backfill {start}..{end}"
    backfill_id = backfill.launch_asset_backfill(args.graphql_url, todo, title=title)
    print(f"backfill {backfill_id}: {backfill.backfill_link(args.graphql_url, backfill_id)}")
    if args.no_follow:
        return 0
    result = backfill.follow(args.graphql_url, backfill_id, poll_seconds=args.poll_seconds)
    for name, (targeted, done, failed, _) in result.per_asset.items():
        if failed or done < targeted:
            print(f"  {name}: {done}/{targeted} materialized, {failed} failed", file=sys.stderr)
    print(f"backfill {backfill_id} {result.status}: {result.done}/{result.targeted} partitions materialized, "
          f"{result.failed} failed; {backfill.backfill_link(args.graphql_url, backfill_id)}")
    return 0 if result.succeeded else 1
