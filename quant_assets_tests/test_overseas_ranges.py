"""`overseas_price_range_52w_{region}` (issue #10 item 4): the 52-week range per region.

Overseas days are loaded through the real assets (simulator KIS over HTTP -> KISClient -> pandera
-> `ohlcv_data` in the embedded PostgreSQL); the ranges are checked against an independent
computation over the stored bars of the window (split-adjusted with adj_close / close).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from quant_assets.assets.overseas import bars, calendars, ranges
from quant_assets.calendar import trading_day_partitions
from quant_assets_tests.overseas_support import checks, failure_message, load, run

ROWS_SQL = "SELECT * FROM price_range_52w ORDER BY region, date, ticker"


def keys_between(region: str, first: dt.date, last: dt.date) -> list[str]:
    return [k for k in calendars.partitions(region).get_partition_keys() if first.isoformat() <= k <= last.isoformat()]


def expected(wh, region: str, ticker: str, day: dt.date) -> dict:
    """Independent range of one ticker on D: its stored bars in the 250 sessions ending at D,
    each price x (adj_close / close) / (adj_close / close of D), latest date on ties."""
    start = calendars.sessions(region, day - dt.timedelta(days=420), day)[-250]
    b = wh.read_frame("SELECT date, close::float8 AS c, high::float8 AS h, low::float8 AS l, adj_close::float8 AS a "
                      "FROM ohlcv_data WHERE region = %s AND ticker = %s AND timeframe = 'D' AND date >= %s "
                      "AND date <= %s ORDER BY date", (region, ticker, start, day)).set_index("date")
    basis = (b["a"] / b["c"]) / (b["a"] / b["c"]).iloc[-1]
    out = {"days_in_window": len(b), "window_start": b.index[0], "close": b["c"].iloc[-1]}
    for name, col, largest in (("high_close", "c", True), ("low_close", "c", False), ("high_52w", "h", True),
                               ("low_52w", "l", False)):
        s = b[col] * basis
        v = s.max() if largest else s.min()
        out[name], out[f"{name}_date"] = v, s.index[np.isclose(s, v, rtol=1e-9)].max()
    return out


def test_us_range_matches_its_bars_split_adjusted_never_mixes_regions_and_reruns_identically(env, osim):
    res, wh = env
    split, ratio = osim.kis.overseas.m.symbols["NAS"]["NVDA"].split
    keys = keys_between("US", split - dt.timedelta(days=21), split + dt.timedelta(days=10))
    day = dt.date.fromisoformat(keys[-1])
    load(res, "US", keys)                          # one ranged fetch: one share basis for all its bars
    # the US ACB (the US/VN collision README "Symbols" names): bars of its own
    wh.execute("INSERT INTO ohlcv_data (date, ticker, region, timeframe, asset_type, exchange_code, currency, open, "
               "high, low, close, adj_close, volume, value) SELECT date, 'ACB', region, timeframe, asset_type, 'NYS', "
               "currency, 10, 12, 9, 11, 11, 1000, 11000 FROM ohlcv_data WHERE region = 'US' AND ticker = 'AAPL'")

    asset = ranges.RANGE_ASSETS["US"]
    result = run(res, [asset], [keys[-1]])
    assert result.success and checks(result) == {"valid_rows": True}
    meta = result.asset_materializations_for_node(asset.key.path[-1])[0].metadata
    assert meta["region"].value == "US" and meta["tickers_with_split_in_window"].value == 1
    assert meta["window_start"].value == calendars.sessions("US", day - dt.timedelta(days=420), day)[-250].isoformat()
    got = wh.read_frame("SELECT * FROM price_range_52w WHERE region = 'US' AND date = %s", (day,)).set_index("ticker")
    n_bars = wh.read_frame("SELECT count(*) AS n FROM ohlcv_data WHERE region = 'US' AND date = %s", (day,))
    assert len(got) == int(n_bars.iloc[0]["n"])
    for ticker in ("NVDA", "AAPL", "ACB"):
        exp, row = expected(wh, "US", ticker, day), got.loc[ticker]
        assert row["days_in_window"] == exp["days_in_window"] == len(keys)
        assert row["window_start"] == exp["window_start"] and float(row["close"]) == pytest.approx(exp["close"])
        for col in ("high_close", "low_close", "high_52w", "low_52w"):
            assert float(row[col]) == pytest.approx(exp[col], rel=1e-4, abs=1e-4), (ticker, col)
            assert row[f"{col}_date"] == exp[f"{col}_date"], (ticker, col)
        assert float(row["pct_from_high_close"]) == pytest.approx((exp["close"] / exp["high_close"] - 1) * 100,
                                                                  abs=1e-3)
    # the split inside the window leaves no phantom high: NVDA's pre-split raw closes are 10x higher
    raw = wh.read_frame("SELECT max(close)::float8 AS m FROM ohlcv_data WHERE region = 'US' AND ticker = 'NVDA'")
    assert float(got.loc["NVDA", "high_close"]) < float(raw.iloc[0]["m"]) / (ratio / 2)
    assert float(got.loc["ACB", "high_close"]) == 11 and float(got.loc["ACB", "high_52w"]) == 12

    first = wh.read_frame(ROWS_SQL)
    assert run(res, [asset], [keys[-1]]).success                     # re-run: the same rows
    pd.testing.assert_frame_equal(first, wh.read_frame(ROWS_SQL))
    assert run(res, [asset], keys[-3:]).success                      # a ranged run: D's rows are the same
    both = wh.read_frame(ROWS_SQL)
    pd.testing.assert_frame_equal(first, both[both["date"] == day].reset_index(drop=True))

    # a basis change without a raw jump (later bars re-loaded after some later split) is no split
    wh.execute("UPDATE ohlcv_data SET adj_close = adj_close / 2 WHERE region = 'US' AND ticker = 'AAPL' "
               "AND date >= %s", (keys[len(keys) // 2],))
    assert run(res, [asset], [keys[-1]]).success
    pd.testing.assert_frame_equal(first, wh.read_frame(ROWS_SQL)[lambda f: f["date"] == day].reset_index(drop=True))

    # VN: its ACB from its own bars; the US rows untouched
    vn_keys = keys_between("VN", day - dt.timedelta(days=4), day)
    load(res, "VN", vn_keys)
    us_rows = wh.read_frame("SELECT * FROM price_range_52w WHERE region = 'US' ORDER BY date, ticker")
    assert run(res, [ranges.RANGE_ASSETS["VN"]], [vn_keys[-1]]).success
    vn_day = dt.date.fromisoformat(vn_keys[-1])
    acb = wh.read_frame("SELECT region, close::float8 AS close, high_52w::float8 AS h, days_in_window "
                        "FROM price_range_52w WHERE ticker = 'ACB' AND date = %s", (vn_day,)).set_index("region")
    vn_bars = wh.read_frame("SELECT close::float8 AS c, high::float8 AS h FROM ohlcv_data WHERE region = 'VN' "
                            "AND ticker = 'ACB' AND date <= %s ORDER BY date", (vn_day,))
    assert float(acb.at["VN", "close"]) == float(vn_bars["c"].iloc[-1]) != 11
    assert int(acb.at["VN", "days_in_window"]) == len(vn_keys)
    assert float(acb.at["VN", "h"]) == pytest.approx(float(vn_bars["h"].max()))
    if vn_day == day:
        assert float(acb.at["US", "close"]) == 11
    pd.testing.assert_frame_equal(us_rows, wh.read_frame(
        "SELECT * FROM price_range_52w WHERE region = 'US' ORDER BY date, ticker"))

    # a KR run of a day writes KR rows only
    from quant_assets.assets.ranges import price_range_52w
    kr_day = max(d for d in map(dt.date.fromisoformat, keys) if d.isoformat() in
                 set(trading_day_partitions.get_partition_keys()))
    wh.execute("INSERT INTO ohlcv_data (date, ticker, region, timeframe, asset_type, open, high, low, close, volume) "
               "SELECT date, '005930', 'KR', 'D', asset_type, 5000, 5100, 4900, 5000, 1 FROM ohlcv_data "
               "WHERE region = 'US' AND ticker = 'AAPL' AND date = %s", (kr_day,))
    kr = dg.materialize([price_range_52w], resources={"warehouse": wh}, partition_key=kr_day.isoformat())
    assert kr.success and checks(kr) == {"valid_rows": True}
    after = wh.read_frame("SELECT * FROM price_range_52w WHERE region = 'US' ORDER BY date, ticker")
    pd.testing.assert_frame_equal(us_rows, after)
    kr_rows = wh.read_frame("SELECT ticker, close::float8 AS close FROM price_range_52w WHERE region = 'KR'")
    assert kr_rows.to_dict("records") == [{"ticker": "005930", "close": 5000.0}]


def test_missing_input_day_fails_alone_by_name_and_a_recorded_closure_is_not_missing(env):
    res, wh = env
    keys = keys_between("US", dt.date(2025, 6, 23), dt.date(2025, 6, 30))
    load(res, "US", keys[:-1])                                        # 06-30 is not loaded
    asset = ranges.RANGE_ASSETS["US"]
    # a closure recorded for another asset or region does not count
    wh.record_status("ohlcv", dt.date(2025, 6, 30), "market_closed", region="US", reason="test")
    wh.record_status(bars.STATUS_ASSET, dt.date(2025, 6, 30), "market_closed", region="VN", reason="test")
    instance = dg.DagsterInstance.ephemeral()
    result = run(res, [asset], keys[-3:], instance=instance)
    assert not result.success
    message = failure_message(result)
    assert "1 of 3 partition(s) failed" in message
    assert "overseas_ohlcv for US 2025-06-30 is not loaded; materialize overseas_ohlcv_us 2025-06-30 first" in message
    assert instance.get_materialized_partitions(asset.key) == set(keys[-3:-1])   # the others are written
    written = wh.read_frame("SELECT DISTINCT date FROM price_range_52w WHERE region = 'US' ORDER BY date")
    assert [d.isoformat() for d in written["date"]] == keys[-3:-1]

    # recorded market_closed for overseas_ohlcv / US: a closed day, no rows, not a failure
    wh.record_status(bars.STATUS_ASSET, dt.date(2025, 6, 30), "market_closed", region="US", reason="test")
    result = run(res, [asset], keys[-3:])
    assert result.success and checks(result) == {"valid_rows": True}
    meta = result.asset_materializations_for_node(asset.key.path[-1])[-1].metadata
    assert meta["ohlcv"].value == "market_closed" and meta["dagster/row_count"].value == 0
