"""Each bad payload fails its day with an error naming dataset, date (ticker, field), and nothing
of that day is written in any table (case 4 of the reliability suite, issue #11).

The unit-level versions (one corruption, one table) are in test_ingest_assets.py and
test_day_integrity.py; here every kind runs through a ranged Dagster run with the bad day inside
the range, and the end state is checked across both tables one fetch feeds.
"""

from __future__ import annotations

import psycopg
import pytest

from quant_assets_tests.faults.loads import day_counts, load_days, partial_days
from quant_assets_tests.test_ingest_assets import failure_text

pytestmark = pytest.mark.faults

FIRST, BAD, LAST = "2024-03-04", "2024-03-05", "2024-03-06"
ON_BAD = {"source": "krx", "date": BAD.replace("-", ""), "times": None}

# (payload, fault rule, words the error must contain)
CASES = [
    ("truncated JSON", {"bld": "MDCSTAT01501", "fault": "truncated"},
     ["MDCSTAT01501", BAD, "truncated or invalid JSON"]),
    ("HTML page with HTTP 200", {"bld": "MDCSTAT04301", "fault": "maintenance"},
     ["MDCSTAT04301", BAD, "HTML maintenance page"]),
    ("'-' as a price on a traded day", {"bld": "MDCSTAT01501", "fault": "corrupt", "kind": "dash_price",
                                        "ticker": "005930", "field": "TDD_HGPRC"},
     ["ohlcv", BAD, "005930", "high"]),
    ("empty page inside the range", {"bld": "MDCSTAT04301", "fault": "corrupt", "kind": "empty"},
     ["MDCSTAT04301", BAD]),
    ("text where a number belongs", {"bld": "MDCSTAT01501", "fault": "corrupt", "kind": "constant",
                                     "field": "ACC_TRDVOL", "value": "12a,3b4"},
     ["MDCSTAT01501", BAD, "ACC_TRDVOL", "12a,3b4"]),
]


@pytest.mark.parametrize(("payload", "fault", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_payload_fails_its_day_by_name_and_writes_nothing_of_it(baseline, sim, warehouse, database_url,
                                                                    figures, payload, fault, words):
    sim.set_faults({"rules": [{**ON_BAD, **fault}]})
    result = load_days(sim, warehouse, FIRST, LAST)
    assert not result.success
    error = failure_text(result, "daily_prices")
    missing = [w for w in words if w not in error]
    assert not missing, f"{payload}: error lacks {missing}: {error}"
    days = [FIRST, BAD, LAST]
    with psycopg.connect(database_url) as conn:
        counts = day_counts(conn, days)
        status = dict(conn.execute(
            "SELECT asset, status || ': ' || coalesce(reason, '') FROM partition_status "
            "WHERE partition_date = %s AND region = 'KR'", (BAD,)).fetchall())
    assert counts[BAD] == (0, 0)                                   # nothing of the bad day, in either table
    assert not partial_days(counts, baseline.counts)
    assert counts[FIRST] == baseline.counts[FIRST]                  # the day before it loaded whole
    assert set(status) == {"ohlcv", "etf_daily"}
    assert all(s.startswith("source_error: ") and BAD in error for s in status.values()), status
    figures.setdefault("bad_payloads", {})[payload] = {"error": error.splitlines()[0][:300],
                                                       "rows_of_bad_day": sum(counts[BAD])}
