"""Fixtures of the reliability suite (`make test-faults`, marker `faults`; issue #11).

Reuses the root fixtures (`database_url`, `simulator`/`sim`, `warehouse`). Adds:

* `baseline`: one fault-free load of the 20 days (reference lists + daily prices) and its table
  checksums, made once per session; every case compares its end state with it;
* `figures`: a dict the cases put their numbers in, written to artifacts/test_faults.json when the
  session ends (rows compared, faults served, requests sent vs fault-free, logins per run,
  partial days seen by readers).
"""

from __future__ import annotations

import json
import time

import psycopg
import pytest

from quant_assets_tests.faults.loads import (
    ARTIFACT,
    DAYS,
    LOGIN_PATH,
    checksums,
    day_counts,
    load_days,
    load_reference,
    requests_since,
)
from quant_assets_tests.resources.conftest import all_logs  # noqa: F401  (the log-capturing fixture, reused)

_FIGURES: dict = {}


@pytest.fixture(scope="session")
def figures():
    return _FIGURES


def pytest_sessionfinish(session, exitstatus):
    if not _FIGURES:
        return
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    summary = {"suite": "make test-faults", "exit_status": int(exitstatus),
               "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "days": len(DAYS),
               "first_day": DAYS[0], "last_day": DAYS[-1], **_FIGURES}
    ARTIFACT.write_text(json.dumps(summary, indent=2, sort_keys=False, default=str) + "\n")


class Baseline:
    """The fault-free reference: checksums of every table, per-day counts, requests it took."""

    def __init__(self, sums: dict, counts: dict, data_requests: int, logins: int):
        self.sums, self.counts, self.data_requests, self.logins = sums, counts, data_requests, logins

    @property
    def rows(self) -> int:
        return sum(n for n, _ in self.sums.values())


@pytest.fixture(scope="session")
def baseline(simulator, database_url) -> Baseline:
    from quant_assets_tests.conftest import warehouse as _truncating  # the root fixture's body

    wh = _truncating.__wrapped__(database_url)
    simulator.clear_faults()
    simulator.reset_sessions()
    load_reference(simulator, wh)
    n0 = len(simulator.request_log)
    result = load_days(simulator, wh)
    assert result.success
    with psycopg.connect(database_url) as conn:
        counts = day_counts(conn)
    assert all(b > e > 0 for b, e in counts.values()), counts
    return Baseline(checksums(database_url), counts, requests_since(simulator, n0),
                    requests_since(simulator, n0, LOGIN_PATH))
