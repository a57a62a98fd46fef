"""etf_tracking_krx asks KRX for the fewest requests: one range request pair per ETF per <= 730
days of the run's months, only for ETFs listed then (the simulator counts what it was sent)."""

from __future__ import annotations

import pandas as pd

from quant_assets import tracking_krx
from quant_assets.assets import etf
from quant_assets_tests.test_etf_assets import loaded  # noqa: F401  (fixture)
from quant_assets_tests.test_ingest_assets import range_tags, run

TRACKING_BLDS = ("MDCSTAT06001", "MDCSTAT05901")


def tracking_requests(sim, since: int) -> list:
    return [e for e in list(sim.request_log)[since:] if any(b in str(e[3]) for b in TRACKING_BLDS)]


def test_ranged_run_sends_one_request_pair_per_listed_etf(sim, loaded):  # noqa: F811
    warehouse = loaded
    etfs = warehouse.read_frame("SELECT ticker, isin, listing_date FROM tickers "
                                "WHERE region = 'KR' AND asset_type = 'ETF' AND isin IS NOT NULL")
    listed = etfs[pd.to_datetime(etfs["listing_date"]).dt.date <= pd.Timestamp("2024-02-29").date()]
    n0 = len(sim.request_log)
    result = run([etf.etf_tracking_krx], sim, warehouse, tags=range_tags("2024-01-01", "2024-02-01"))
    assert result.success
    sent = tracking_requests(sim, n0)
    # before: 2 requests x every known ETF x every month of the run
    before = 2 * len(etfs) * 2
    assert len(sent) == 2 * len(listed) < before
    assert len(sent) == tracking_krx.request_cost(warehouse, ["2024-01-01", "2024-02-01"], pd.Timestamp("2026-12-01").date())
    not_yet = set(etfs["isin"]) - set(listed["isin"])
    assert not any(isin in str(e[4]) for e in sent for isin in not_yet)   # none before its listing
    stored = warehouse.read_frame("SELECT * FROM etf_tracking_krx ORDER BY ticker, date")
    assert set(pd.to_datetime(stored["date"]).dt.strftime("%Y-%m")) == {"2024-01", "2024-02"}

    # the month alone gives the same February rows (range requests change the cost, not the data)
    assert run([etf.etf_tracking_krx], sim, warehouse, partition_key="2024-02-01").success
    again = warehouse.read_frame("SELECT * FROM etf_tracking_krx ORDER BY ticker, date")
    pd.testing.assert_frame_equal(stored, again)
    print(f"etf_tracking_krx, 2 months, {len(etfs)} ETFs known, {len(listed)} listed: "
          f"{before} requests before, {len(sent)} after")


def test_spans_group_consecutive_months_up_to_730_days():
    import datetime as dt

    today = dt.date(2026, 12, 1)
    keys = [f"{y}-{m:02d}-01" for y in (2020, 2021, 2022) for m in range(1, 13)]
    groups = tracking_krx.spans(keys, today)
    assert [len(s.keys) for s in groups] == [23, 13]        # <= 730 days (2020 is a leap year)
    assert groups[0].start == dt.date(2020, 1, 1) and groups[0].end == dt.date(2021, 11, 30)
    gap = tracking_krx.spans(["2020-01-01", "2020-03-01"], today)
    assert len(gap) == 2                                     # a hole splits the span
