"""The one Definitions object: assets, checks, resources, jobs, schedules and sensors.

Resources read credentials through `EnvVar`, so they never sit in code, run config or the UI;
without credentials the clients talk to the bundled simulator. KRX bans are remembered in
PostgreSQL (`source_circuit`), so every run and sensor honours a ban another process detected.
"""

import os

import dagster as dg

from quant_assets import automation, checks, legacy_import, windows
from quant_assets.assets import (
    aggregates,
    etf,
    factors,
    fundamentals,
    groups,
    overseas,
    prices,
    ranges,
    reference,
    statements,
    technical,
)
from quant_assets.resources.breaker import PostgresCircuitBreaker
from quant_assets.resources.http import set_default_breaker
from quant_assets.resources.kis import KISClient
from quant_assets.resources.krx import KRXClient
from quant_assets.resources.sessions import PostgresSessionStore, set_default_session_store
from quant_assets.resources.warehouse import Warehouse
from quant_assets.storage import schedule as storage_schedule

set_default_breaker(PostgresCircuitBreaker())
set_default_session_store(PostgresSessionStore())  # one KRX login per account across processes


def _env(name: str) -> dg.EnvVar | None:
    # Reference only variables that are set: an unset credential means "the simulator's demo
    # account", not a launch error.
    return dg.EnvVar(name) if os.environ.get(name) else None


def krx_rate() -> float:
    """Polite by default against the real KRX; the simulator can take more."""
    default = "2" if os.environ.get("KRX_ID") else "20"
    return float(os.environ.get("QUANT_KRX_RPS", default))


def resources() -> dict:
    return {
        "krx": KRXClient(krx_id=_env("KRX_ID"), krx_pw=_env("KRX_PW"), requests_per_second=krx_rate()),
        "kis": KISClient(app_key=_env("KIS_APP_KEY"), app_secret=_env("KIS_APP_SECRET"),
                         env=os.environ.get("KIS_ENV", "real")),
        "warehouse": Warehouse(),
    }


ASSETS = [
    reference.etf_list, reference.stock_list, prices.daily_prices,
    *fundamentals.ASSETS, *etf.ASSETS, *ranges.ASSETS, *factors.ASSETS, *aggregates.ASSETS, *groups.ASSETS,
    *statements.ASSETS,
    *technical.ASSETS,
    *overseas.ASSETS,
]

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=[*checks.CHECKS, *ranges.CHECKS, *factors.CHECKS, *aggregates.CHECKS, *fundamentals.CHECKS,
                  *statements.CHECKS],
    jobs=[legacy_import.legacy_import_job, *statements.JOBS, *storage_schedule.JOBS],
    sensors=[*automation.SENSORS, *overseas.SENSORS, windows.build_window_sensor(ASSETS)],
    schedules=[*automation.SCHEDULES, *statements.SCHEDULES, *storage_schedule.SCHEDULES],
    resources=resources(),
    # Steps of a run execute one after another in the run's own process. Our steps wait on a
    # source or on PostgreSQL, not on CPU, and the multiprocess default spends ~10 s starting a
    # subprocess per step (a derived refresh has four). Pools still bound KRX/KIS per step.
    executor=dg.in_process_executor,
)
