"""Overseas factor scores (issue #10 item 4): per region, on the region's sessions and its own bars.

US history is loaded through the real assets (simulator KIS over HTTP -> KISClient -> pandera ->
`ohlcv_data` in the embedded PostgreSQL); the factor asset's raw values are checked against a
computation over the symbol's stored bars here, its scores against the US cross-section alone.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from quant_assets.assets.factors import factor_scores
from quant_assets.assets.overseas import bars, calendars, factors, universe
from quant_assets.calendar import trading_day_partitions
from quant_assets_tests.overseas_support import checks, failure_message, run

SYMBOL = "NVDA"          # the simulator splits it 10:1 (README: adjusted and raw differ before it)
SESSIONS = 66            # 64 closes for mom_3, 61 for low_vol_60, a little slack
ROWS_SQL = ("SELECT date, ticker, region, factor_name, raw_value, score, percentile, market, market_score, "
            "market_percentile FROM factor_scores WHERE region = %s ORDER BY date, factor_name, ticker")


def test_us_factor_scores_from_us_bars_us_cross_section_rerun_and_missing_day(osim, env):
    res, wh = env
    split_day = osim.kis.overseas.m.symbols["NAS"][SYMBOL].split[0]
    keys = calendars.partitions("US").get_partition_keys()
    at = keys.index(split_day.isoformat()) + 30          # the split is inside mom_3's 64 closes
    while not trading_day_partitions.has_partition_key(keys[at]):   # a KRX day too (the KR run below)
        at += 1
    window, day, after = keys[at - SESSIONS + 1:at + 1], keys[at], keys[at + 1]
    assert dg.materialize([universe.UNIVERSE_ASSETS["US"]], resources=res).success
    assert run(res, [bars.OHLCV_ASSETS["US"]], window).success

    asset = factors.FACTOR_ASSETS["US"]
    wh_only = {"warehouse": wh}
    result = run(wh_only, [asset], [day])
    assert result.success
    # mom_12_1 etc. lack history (66 sessions): WARN, but every score is standardised
    assert checks(result) == {"standardised": True, "coverage": False}
    meta = result.asset_materializations_for_node(asset.key.path[-1])[0].metadata
    assert meta["region"].value == "US" and meta["window_trading_days"].value == 253
    assert meta["price_basis"].value.startswith("adj_close")
    lineage = meta["dagster/column_lineage"].value
    assert lineage.deps_by_column["score"][0].asset_key == bars.OHLCV_ASSETS["US"].key

    rows = wh.read_frame(ROWS_SQL, ("US",))
    assert set(rows["region"]) == {"US"} and set(pd.to_datetime(rows["date"]).dt.strftime("%Y-%m-%d")) == {day}
    # only price factors with enough history; no size / value / dividend / quality (no overseas inputs)
    assert set(rows["factor_name"]) == {"mom_3", "low_vol_60", "liquidity_60"}

    # raw values against the symbol's own stored bars (the last 64 / 61 US sessions up to `day`)
    own = wh.read_frame("SELECT date, close::float8 AS close, adj_close::float8 AS adj, value::float8 AS value "
                        "FROM ohlcv_data WHERE region = 'US' AND ticker = %s AND timeframe = 'D' ORDER BY date",
                        (SYMBOL,))
    own["date"] = pd.to_datetime(own["date"]).dt.strftime("%Y-%m-%d")
    own = own.set_index("date").reindex(window)
    assert own["adj"].notna().all()
    adj, raw = own["adj"].to_numpy(), own["close"].to_numpy()
    got = rows[rows["ticker"] == SYMBOL].set_index("factor_name")["raw_value"]
    assert got["mom_3"] == pytest.approx(adj[-1] / adj[-64] - 1, rel=1e-9)
    assert raw[-1] / raw[-64] - 1 < got["mom_3"] - 0.5         # the raw close would show the 10:1 split
    rets = np.diff(np.log(adj[-61:]))
    assert got["low_vol_60"] == pytest.approx(-rets.std(ddof=1) * np.sqrt(252), rel=1e-9)
    assert got["liquidity_60"] == pytest.approx(np.log(own["value"].to_numpy()[-60:].mean()), rel=1e-12)

    # the cross-section is the US names: every US member, ranked and z-scored among them only
    members = wh.read_frame("SELECT ticker, exchange FROM tickers WHERE region = 'US'").set_index("ticker")
    for factor, g in rows.groupby("factor_name"):
        assert set(g["ticker"]) <= set(members.index) and len(g) == 30, factor
        x = g["raw_value"].to_numpy()
        np.testing.assert_allclose(g["percentile"], pd.Series(x).rank(pct=True).to_numpy() * 100, atol=1e-9)
        lo, hi = np.percentile(x, [1, 99])
        w = np.clip(x, lo, hi)
        np.testing.assert_allclose(g["score"], (w - w.mean()) / w.std(), atol=1e-9)
        assert (g["market"].to_numpy() == members.loc[g["ticker"], "exchange"].to_numpy()).all()
        for market, m in g.groupby("market"):
            if len(m) >= 5:
                expected = pd.Series(m["raw_value"].to_numpy()).rank(pct=True).to_numpy() * 100
                np.testing.assert_allclose(m["market_percentile"], expected, atol=1e-9, err_msg=market)
            else:
                assert m["market_score"].isna().all(), market
    first = rows

    # a KR run of the same date (closed for KR) writes its own key only: the US rows stay
    wh.record_status("ohlcv", dt.date.fromisoformat(day), "market_closed", region="KR", reason="test")
    assert dg.materialize([factor_scores], resources=wh_only, partition_key=day).success
    pd.testing.assert_frame_equal(first, wh.read_frame(ROWS_SQL, ("US",)))

    assert run(wh_only, [asset], [day]).success                 # re-run: identical rows
    pd.testing.assert_frame_equal(first, wh.read_frame(ROWS_SQL, ("US",)))

    # the next session is not loaded: it fails by name, the loaded day is still written
    result = run(wh_only, [asset], [day, after])
    assert not result.success
    message = failure_message(result)
    assert f"overseas_ohlcv for US {after} is not loaded; materialize overseas_ohlcv_us {after} first" in message
    pd.testing.assert_frame_equal(first, wh.read_frame(ROWS_SQL, ("US",)))
    # recorded closed for the US bars: not missing, nothing to score, and not a session of later windows
    wh.record_status(bars.STATUS_ASSET, dt.date.fromisoformat(after), "market_closed", region="US", reason="test")
    assert run(wh_only, [asset], [day, after]).success
    pd.testing.assert_frame_equal(first, wh.read_frame(ROWS_SQL, ("US",)))
    span = factors.window_sessions
    with wh.connect() as conn:
        later = span(conn, "US", [dt.date.fromisoformat(keys[at + 2])])
    assert dt.date.fromisoformat(after) not in later and len(later) == 253
    assert later[-2] == dt.date.fromisoformat(day)


def test_factor_assets_follow_their_region_through_automation():
    """Each region's factor asset is requested when its own bars land (DAILY_DERIVED_CONDITION),
    never another region's."""
    from quant_assets.resources.warehouse import Warehouse

    defs = dg.Definitions(
        assets=[*(dg.AssetSpec(bars.OHLCV_ASSETS[r].key, partitions_def=calendars.partitions(r))
                  for r in calendars.REGIONS),
                *(dg.AssetSpec(universe.UNIVERSE_ASSETS[r].key) for r in calendars.REGIONS),
                *factors.FACTOR_ASSETS.values()],
        resources={"warehouse": Warehouse(database_url="postgresql://unused")})
    instance = dg.DagsterInstance.ephemeral()
    when = dt.datetime(2025, 11, 18, 14, tzinfo=dt.UTC)

    def evaluate(cursor=None):
        with dg.partition_loading_context(effective_dt=when):
            out = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=when, cursor=cursor)
        return out, {k.path[-1]: sorted(out.get_requested_partitions(k)) for k in
                     (a.key for a in factors.FACTOR_ASSETS.values()) if out.get_requested_partitions(k)}

    out, requested = evaluate()
    assert requested == {}
    for d in ("2025-11-13", "2025-11-14"):
        instance.report_runless_asset_event(dg.AssetMaterialization(bars.OHLCV_ASSETS["US"].key, partition=d))
    out, requested = evaluate(out.cursor)
    assert requested == {"overseas_factor_scores_us": ["2025-11-13", "2025-11-14"]}
