"""Re-runs give the same tables; a load under a fault mix gives the same rows as a clean load.

Cases 1 and 2 of the reliability suite (issue #11): checksums of every table (timestamps of the
write left out) after a clean 20-day load, after re-running its partitions, and after the same
20 days loaded through 10% HTTP 500 / 2% timeouts longer than the client's / 1% truncated bodies.
"""

from __future__ import annotations

import psycopg
import pytest

from quant_assets.resources.warehouse import Warehouse
from quant_assets_tests.faults.loads import (
    DAYS,
    LOGIN_PATH,
    checksums,
    differing,
    krx_client,
    load_days,
    load_reference,
    requests_since,
    status_of,
)

pytestmark = pytest.mark.faults

# KRX answers outages and cut bodies but never throttles (it slows down or bans: faults.py refuses
# a KRX rate_limit), so the KRX mix is 5xx / timeouts / truncation; KIS's throttle is in the KIS case.
KRX_MIX = {"http_500": 0.10, "timeout": 0.02, "truncated": 0.01}
SEED = 8                 # this seed serves each kind at least once over the 20 days (40 data requests)
HOLD_SECONDS = 6.0       # a timeout fault holds the answer this long ...
CLIENT_TIMEOUT = 1.0     # ... and the client gives up after this: every timeout fault really times out


def test_rerun_of_the_same_partitions_gives_identical_tables(baseline, sim, database_url, figures):
    warehouse = Warehouse(database_url=database_url)
    if differing(checksums(database_url), baseline.sums):   # an earlier case changed the tables
        load_reference(sim, warehouse)
        assert load_days(sim, warehouse).success
    assert not differing(checksums(database_url), baseline.sums)
    first = checksums(database_url, surrogates=True)
    # the same partitions again: one ranged re-run, then a single day on its own
    assert load_days(sim, warehouse).success
    assert load_days(sim, warehouse, DAYS[7], DAYS[7]).success
    load_reference(sim, warehouse)
    again = checksums(database_url, surrogates=True)
    assert not differing(again, first)          # ids too: a re-run updates in place
    figures["rerun_idempotence"] = {
        "tables_compared": len(first), "tables_with_rows": sum(1 for n, _ in first.values() if n),
        "rows_compared": sum(n for n, _ in first.values()), "tables_differing": 0}


def test_twenty_days_under_the_fault_mix_equal_a_clean_load(baseline, sim, warehouse, database_url, figures):
    load_reference(sim, warehouse)
    sim.set_faults({"seed": SEED, "timeout_seconds": HOLD_SECONDS, "rates": {"krx": KRX_MIX}})
    n0 = len(sim.request_log)
    krx = krx_client(sim, timeout_seconds=CLIENT_TIMEOUT, max_retries=6)
    result = load_days(sim, warehouse, krx=krx)
    served = dict(sim.faults.hits)
    sent, logins = requests_since(sim, n0), requests_since(sim, n0, LOGIN_PATH)
    sim.clear_faults()
    assert result.success
    with psycopg.connect(database_url) as conn:
        assert set(status_of(conn).values()) == {"loaded"} and len(status_of(conn)) == len(DAYS)
    sums = checksums(database_url)
    assert not differing(sums, baseline.sums)          # same rows, table by table
    assert all(served.get(kind, 0) > 0 for kind in KRX_MIX), served
    # every faulted request was sent again, nothing more (a request can draw two faults at once)
    assert baseline.data_requests < sent <= baseline.data_requests + sum(served.values())
    figures["krx_fault_mix"] = {
        "rates": KRX_MIX, "timeout_fault_holds_s": HOLD_SECONDS, "client_timeout_s": CLIENT_TIMEOUT,
        "faults_served": served, "data_requests_sent": sent, "data_requests_fault_free": baseline.data_requests,
        "logins": logins, "rows_compared": sum(n for n, _ in sums.values()), "tables_differing": 0}
