"""A ranged daily_prices load in its own OS process (SIGKILL and overlapping-load cases).

    python -m quant_assets_tests.faults.worker KRX_URL FIRST LAST NAME [BARRIER_DIR]

Wired like a platform run: the warehouse and the KRX session store find the embedded server
through QUANT_HOME (no URL handed over), so a run after a killed postmaster starts it the way a
real run would. With BARRIER_DIR the workers meet there before their first request, so two loads
really overlap. Prints one JSON line: {"success": ..., "failed": [...]}.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time

import dagster as dg

from quant_assets.assets import prices
from quant_assets.resources import InMemoryCircuitBreaker, KRXClient, PostgresSessionStore
from quant_assets.resources.warehouse import Warehouse
from quant_assets_tests.faults.loads import FAST
from quant_assets_tests.test_ingest_assets import range_tags


def meet(barrier: pathlib.Path, name: str, parties: int = 2) -> None:
    (barrier / name).touch()
    deadline = time.monotonic() + 120
    while len(list(barrier.iterdir())) < parties and time.monotonic() < deadline:
        time.sleep(0.05)


def main(argv: list[str]) -> int:
    krx_url, first, last, name = argv[:4]
    if len(argv) > 4:
        meet(pathlib.Path(argv[4]), name)
    krx = (KRXClient(base_url=krx_url, **FAST).with_breaker(InMemoryCircuitBreaker())
           .with_session_store(PostgresSessionStore()))
    result = dg.materialize([prices.daily_prices], resources={"krx": krx, "warehouse": Warehouse()},
                            tags=range_tags(first, last), raise_on_error=False)
    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    print(json.dumps({"success": result.success, "failed": failed}))
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
