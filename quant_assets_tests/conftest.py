"""Shared fixtures: a real embedded PostgreSQL and the market simulator over real HTTP.

Each pytest-xdist worker gets its own QUANT_HOME, hence its own embedded server, so workers never
share tables. Nothing here mocks our modules, the database or `requests`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

# Isolate before anything reads the environment (config functions read it lazily).
_HOME = Path(tempfile.mkdtemp(prefix="quant-test-"))
os.environ["QUANT_HOME"] = str(_HOME)
os.environ.pop("QUANT_DATABASE_URL", None)
for _secret in ("KRX_ID", "KRX_PW", "KIS_APP_KEY", "KIS_APP_SECRET"):
    os.environ.pop(_secret, None)



@pytest.fixture(scope="session", autouse=True)
def _stop_embedded_server_at_exit():
    """The embedded server outlives its starter by design; tests must not leave it behind."""
    yield
    from quant_assets import database

    database.stop_embedded()
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url() -> str:
    from quant_assets import database, migrations

    url = database.database_url()
    migrations.migrate(url)
    return url


@pytest.fixture(scope="session")
def simulator():
    from quant_assets.simulator import SimConfig, SimulatorServer

    srv = SimulatorServer(SimConfig(size="small"), port=0).start()
    os.environ["QUANT_SIM_URL"] = srv.base_url
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def osim(simulator):
    """The simulator with its overseas market built (once: the exchange calendars take seconds)."""
    _ = simulator.kis.overseas.m
    return simulator


@pytest.fixture()
def env(osim, warehouse, tmp_path):
    """Overseas tests: (resources, warehouse), a KIS client on the simulator (its own token cache)
    and the empty warehouse, faults and sessions cleared before and after. Modules that need
    another shape define their own `env`."""
    from quant_assets.resources.kis import KISClient

    osim.clear_faults()
    osim.reset_sessions()
    yield {"kis": KISClient(base_url=osim.kis_url, token_cache_dir=str(tmp_path)), "warehouse": warehouse}, warehouse
    osim.clear_faults()


@pytest.fixture()
def sim(simulator):
    """The session simulator with faults, sessions and clock reset around each test."""
    simulator.clear_faults()
    simulator.reset_sessions()
    yield simulator
    simulator.clear_faults()
    simulator.reset_sessions()


@pytest.fixture()
def warehouse(database_url):
    """An empty market database (tables truncated) behind the Warehouse resource."""
    from quant_assets.resources.warehouse import Warehouse

    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('schema_migrations', 'regions') "   # regions: reference rows of sql/008
            "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = (quote_ident(tablename))::regclass)")]
        conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    return Warehouse(database_url=database_url)


@pytest.fixture()
def fresh_db(database_url):
    """A brand-new empty database on the same server, dropped afterwards."""
    from quant_assets_tests.scratch_db import scratch_databases

    with scratch_databases(database_url, "t", migrated=False) as (url,):
        yield url
