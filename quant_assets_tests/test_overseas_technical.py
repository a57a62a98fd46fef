"""`overseas_technical_{region}` (issue #10 item 4): the KR indicators on each region's own bars.

US and VN days are loaded through the real assets (simulator KIS over HTTP -> KISClient ->
pandera -> `ohlcv_data` in the embedded PostgreSQL); the indicators are compared with an
independent pandas computation from the definitions (rolling mean, Wilder's RSI seeded with the
simple mean of the first 14 changes) over each symbol's own bars of its own region. A few extra
rows (a US `ACB` next to the VN one, a KR `005930`) are inserted to show that no run reads or writes
another region's bars.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import psycopg
import pytest

from quant_assets.assets.daily import DAILY_DERIVED_CONDITION
from quant_assets.assets.overseas import aggregates, bars, technical
from quant_assets.calendar import trading_days
from quant_assets.resources.warehouse import Warehouse
from quant_assets_tests.overseas_support import failure_message, load, run

US_DAYS = [k for k in bars.calendars.partitions("US").get_partition_keys() if "2025-06-01" <= k <= "2025-06-30"]
VN_DAYS = [k for k in bars.calendars.partitions("VN").get_partition_keys() if "2025-06-02" <= k <= "2025-06-06"]
KR_FIRST, KR_LAST = dt.date(2025, 6, 2), dt.date(2025, 6, 18)   # KRX sessions, all of them US sessions too
INDICATORS = technical.INDICATORS


def stored(wh, region: str) -> pd.DataFrame:
    """The region's daily bars with their indicators and row versions (xmin: unchanged = not rewritten)."""
    with psycopg.connect(wh.url()) as conn:
        cur = conn.execute(
            f"SELECT ticker, date, close::float8 AS close, {', '.join(INDICATORS)}, xmin::text AS xmin "
            "FROM ohlcv_data WHERE region = %s AND timeframe = 'D' ORDER BY ticker, date", (region,))
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def wilder(values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(values), np.nan)
    if len(values) >= n:
        out[n - 1] = values[:n].mean()
        for i in range(n, len(values)):
            out[i] = (out[i - 1] * (n - 1) + values[i]) / n
    return out


def expected(frame: pd.DataFrame) -> pd.DataFrame:
    """ma5, ma20 and rsi_14 of every bar, per ticker over its own bars (all inside 300 sessions)."""
    out = []
    for _, g in frame.sort_values(["ticker", "date"]).groupby("ticker"):
        c = g["close"].to_numpy(float)
        diff = np.diff(c)
        gain, loss = wilder(np.clip(diff, 0, None), 14), wilder(np.clip(-diff, 0, None), 14)
        rsi = np.concatenate([[np.nan], 100 * gain / (gain + loss)])
        out.append(g[["ticker", "date"]].assign(ma5=pd.Series(c).rolling(5).mean().to_numpy(),
                                                ma20=pd.Series(c).rolling(20).mean().to_numpy(), rsi_14=rsi))
    return pd.concat(out).reset_index(drop=True)


def assert_indicators(got: pd.DataFrame, label: str) -> None:
    exp = expected(got)
    got = got.sort_values(["ticker", "date"]).reset_index(drop=True)
    for col in ("ma5", "ma20", "rsi_14"):
        g, e = got[col].to_numpy(float), exp[col].to_numpy(float)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(e), err_msg=f"{label} {col} NULL pattern")
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-9, err_msg=f"{label} {col}")


def add_bars(wh, region: str, ticker: str, scale: float, currency: str, days: list[str]) -> None:
    """Bars of `ticker` in `region`: US AAPL's bars of `days` with prices x scale."""
    wh.execute("INSERT INTO ohlcv_data (date, ticker, region, timeframe, asset_type, exchange_code, currency, open, "
               "high, low, close, adj_close, volume, value) SELECT date, %s, %s, timeframe, asset_type, "
               "CASE WHEN %s = 'KR' THEN NULL ELSE 'NYS' END, %s, open * %s, high * %s, low * %s, close * %s, "
               "close * %s, volume, value FROM ohlcv_data WHERE region = 'US' AND ticker = 'AAPL' "
               "AND date = ANY(%s::date[])", (ticker, region, region, currency, *[scale] * 5, days))


def test_us_indicators_match_an_independent_computation_never_mix_regions_and_rerun_identically(env):
    res, wh = env
    load(res, "US", US_DAYS)
    load(res, "VN", VN_DAYS)
    assert len(US_DAYS) == 20 and "2025-06-19" not in US_DAYS          # Juneteenth: not an XNYS session
    add_bars(wh, "US", "ACB", 2, "USD", US_DAYS)                         # the US ACB next to the VN one
    kr_days = [d.isoformat() for d in trading_days(KR_FIRST, KR_LAST)]
    assert set(kr_days) <= set(US_DAYS)
    add_bars(wh, "KR", "005930", 1000, "KRW", kr_days)
    vn_before, kr_before = stored(wh, "VN"), stored(wh, "KR")

    us_asset = technical.TECHNICAL_ASSETS["US"]
    result = run(res, [us_asset], US_DAYS)
    assert result.success
    mats = result.asset_materializations_for_node("overseas_technical_us")
    assert sorted(m.partition for m in mats) == US_DAYS                # one materialization per session
    counts = stored(wh, "US").groupby("date").size()
    for m in mats:
        assert m.metadata["rows_updated"].value == int(counts[dt.date.fromisoformat(m.partition)]) == 31
        assert m.metadata["price_basis"].value == "raw" and m.metadata["ohlcv"].value == "loaded"

    us = stored(wh, "US")
    assert_indicators(us, "US")
    last = us[us["date"] == dt.date(2025, 6, 30)].set_index("ticker")
    aapl = us[us["ticker"] == "AAPL"]
    assert last.at["AAPL", "ma20"] == pytest.approx(aapl["close"].mean(), rel=1e-12)   # 20 sessions = June
    assert last.at["ACB", "ma5"] == pytest.approx(2 * last.at["AAPL", "ma5"], rel=1e-12)  # its own bars
    assert us["ma200"].isna().all() and us["rsi_14"].notna().sum() == 31 * 6
    pd.testing.assert_frame_equal(vn_before, stored(wh, "VN"))            # VN (and its ACB) untouched
    pd.testing.assert_frame_equal(kr_before, stored(wh, "KR"))            # KR untouched

    # VN on its own sessions, from the VN bars only; the US rows stay as they are
    assert run(res, [technical.TECHNICAL_ASSETS["VN"]], VN_DAYS).success
    vn = stored(wh, "VN")
    assert_indicators(vn, "VN")
    acb = vn[vn["ticker"] == "ACB"]
    assert acb["ma5"].iloc[-1] == pytest.approx(acb["close"].mean(), rel=1e-12) and acb["ma5"].notna().sum() == 1
    pd.testing.assert_frame_equal(us, stored(wh, "US"))

    # the KR asset writes the KR rows only
    from quant_assets.assets.technical import technical_analysis
    result = run({"warehouse": wh}, [technical_analysis], kr_days)
    assert result.success, failure_message(result)
    kr = stored(wh, "KR")
    assert_indicators(kr, "KR")
    assert kr["ma5"].notna().sum() == len(kr_days) - 4
    pd.testing.assert_frame_equal(us, stored(wh, "US"))
    pd.testing.assert_frame_equal(vn, stored(wh, "VN"))

    # a re-run writes nothing and keeps every value
    again = run(res, [us_asset], US_DAYS)
    assert again.success
    assert all(m.metadata["rows_changed"].value == 0
               for m in again.asset_materializations_for_node("overseas_technical_us"))
    pd.testing.assert_frame_equal(us, stored(wh, "US"))

    # the region's month bar now carries the indicators of its last day (bucket SQL reads them)
    assert run(res, [aggregates.BUCKET_ASSETS[("ohlcv_monthly", "US")]], ["2025-06-01"]).success
    month = wh.read_frame("SELECT ticker, ma5_start, ma20_end, rsi_14_end FROM ohlcv_monthly "
                          "WHERE region = 'US' ORDER BY ticker").set_index("ticker")
    assert month.at["AAPL", "ma20_end"] == pytest.approx(last.at["AAPL", "ma20"], rel=1e-12)
    assert month.at["AAPL", "rsi_14_end"] == pytest.approx(last.at["AAPL", "rsi_14"], rel=1e-12)
    assert month["ma5_start"].isna().all()                               # 06-02 has 1 bar of history


def test_missing_input_day_fails_alone_by_name_and_a_recorded_closure_is_not_missing(env):
    res, wh = env
    us_days = [d for d in US_DAYS if d >= "2025-06-23"]
    load(res, "US", us_days[:-1])                                      # 06-30 is not loaded
    asset = technical.TECHNICAL_ASSETS["US"]
    # a closure recorded for another asset or region does not count
    wh.record_status("ohlcv", dt.date(2025, 6, 30), "market_closed", region="US", reason="test")
    wh.record_status(bars.STATUS_ASSET, dt.date(2025, 6, 30), "market_closed", region="VN", reason="test")
    instance = dg.DagsterInstance.ephemeral()
    result = run(res, [asset], us_days, instance=instance)
    assert not result.success
    message = failure_message(result)
    assert "1 of 6 partition(s) failed" in message
    assert "overseas_ohlcv for US 2025-06-30 is not loaded; materialize overseas_ohlcv_us 2025-06-30 first" in message
    assert instance.get_materialized_partitions(asset.key) == set(us_days[:-1])   # the others are written
    assert stored(wh, "US")["ma5"].notna().sum() == 30                 # the 30 members' ma5 of 06-27

    # VN: a weekday recorded market_closed for overseas_ohlcv / VN is a closed day, not a missing one
    load(res, "VN", VN_DAYS)
    vn = technical.TECHNICAL_ASSETS["VN"]
    days = [*VN_DAYS, "2025-06-09"]
    result = run(res, [vn], days)
    assert not result.success and "overseas_ohlcv for VN 2025-06-09 is not loaded" in failure_message(result)
    wh.record_status(bars.STATUS_ASSET, dt.date(2025, 6, 9), "market_closed", region="VN", reason="test")
    result = run(res, [vn], days)
    assert result.success
    meta = {m.partition: m.metadata for m in result.asset_materializations_for_node("overseas_technical_vn")}
    assert sorted(meta) == days and meta["2025-06-09"]["ohlcv"].value == "market_closed"
    assert meta["2025-06-09"]["dagster/row_count"].value == 0


def test_indicators_follow_their_region_s_bars_through_automation():
    """Declarative automation requests a region's indicators for the days its bars landed (and no
    other region's), as it does technical_analysis for the KR ohlcv."""
    defs = dg.Definitions(
        assets=[*(dg.AssetSpec(bars.OHLCV_ASSETS[r].key, partitions_def=bars.calendars.partitions(r))
                  for r in bars.calendars.REGIONS), *technical.TECHNICAL_ASSETS.values()],
        resources={"warehouse": Warehouse(database_url="postgresql://unused")})
    instance = dg.DagsterInstance.ephemeral()
    when = dt.datetime(2025, 11, 18, 14, tzinfo=dt.UTC)

    def evaluate(cursor=None):
        with dg.partition_loading_context(effective_dt=when):
            out = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=when, cursor=cursor)
        return out, {a.key.path[-1]: sorted(out.get_requested_partitions(a.key))
                     for a in technical.TECHNICAL_ASSETS.values() if out.get_requested_partitions(a.key)}

    out, requested = evaluate()
    assert requested == {}
    days = [k for k in bars.calendars.partitions("US").get_partition_keys() if "2025-11-10" <= k <= "2025-11-14"]
    for d in days:
        instance.report_runless_asset_event(dg.AssetMaterialization(bars.OHLCV_ASSETS["US"].key, partition=d))
    out, requested = evaluate(out.cursor)
    assert requested == {"overseas_technical_us": days}
    us = technical.TECHNICAL_ASSETS["US"]
    assert us.automation_conditions_by_key[us.key] is DAILY_DERIVED_CONDITION   # technical_analysis's
