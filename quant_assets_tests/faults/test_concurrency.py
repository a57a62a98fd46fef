"""Two overlapping loads of the same days, and readers while days are re-written (cases 7, 8).

Two OS processes load the same 20 days at once (they meet before their first request): the
tables end as one load leaves them, the account logs in once. A reader thread keeps counting each
day's rows in ohlcv_data and etf_daily in one statement while days are written and re-written:
a day is either absent from both tables or complete in both, in every snapshot.
"""

from __future__ import annotations

import threading

import psycopg
import pytest

from quant_assets_tests.faults.loads import (
    LOGIN_PATH,
    checksums,
    day_counts,
    differing,
    finish,
    load_days,
    load_reference,
    partial_days,
    requests_since,
    start_worker,
)

pytestmark = pytest.mark.faults


class Reader(threading.Thread):
    """Reads per-day counts over and over until stopped; remembers every partial day it saw."""

    def __init__(self, url: str, full: dict):
        super().__init__(daemon=True)
        self.url, self.full = url, full
        self.snapshots, self.partial = 0, []
        self._done = threading.Event()

    def run(self):
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._done.is_set():
                self.partial += partial_days(day_counts(conn), self.full)
                self.snapshots += 1
                self._done.wait(0.02)   # ~50 snapshots/s: a tight loop starved the writers of CPU

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self.join(timeout=30)


def record_reader(figures, case: str, reader: Reader) -> None:
    figures.setdefault("readers", {})[case] = {"snapshots": reader.snapshots, "partial_days_seen": len(reader.partial)}


def test_two_overlapping_loads_equal_one_with_one_login(baseline, sim, warehouse, database_url, figures, tmp_path):
    load_reference(sim, warehouse)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM source_sessions; DELETE FROM source_session_holders")
    n0 = len(sim.request_log)
    with Reader(database_url, baseline.counts) as reader:
        workers = [start_worker(sim, barrier=tmp_path, name=f"run{i}") for i in range(2)]
        outcomes = [finish(w) for w in workers]
    assert all(o["success"] for o in outcomes)
    logins, logouts = requests_since(sim, n0, LOGIN_PATH), requests_since(sim, n0, "MDCCOMS001D2")
    sent = requests_since(sim, n0)
    assert not differing(checksums(database_url), baseline.sums)    # no duplicate, no missing row
    assert logins == 1 and logouts == 1                               # one session for both runs
    assert sent == 2 * baseline.data_requests
    assert reader.snapshots > 0 and reader.partial == []
    record_reader(figures, "two_overlapping_loads", reader)
    figures["overlapping_loads"] = {"runs": 2, "logins_total": logins, "logouts_total": logouts,
                                    "data_requests": sent, "data_requests_one_load": baseline.data_requests,
                                    "tables_differing": 0}


def test_reader_never_sees_a_partial_day_while_days_are_rewritten(baseline, sim, warehouse, database_url, figures):
    load_reference(sim, warehouse)
    assert load_days(sim, warehouse).success
    with Reader(database_url, baseline.counts) as reader:
        for _ in range(2):
            assert load_days(sim, warehouse).success
    assert reader.snapshots > 0 and reader.partial == []
    record_reader(figures, "rewrites_in_process", reader)
