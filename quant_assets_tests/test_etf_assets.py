"""ETF analytics on the simulator: AUM, holdings, tracking — formulas checked independently."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quant_assets import checks
from quant_assets.assets import etf, prices, reference
from quant_assets.calendar import trading_days
from quant_assets_tests.test_ingest_assets import failure_text, load_reference, range_tags, run

DAYS = [d.isoformat() for d in trading_days("2024-01-02", "2024-02-29")]


@pytest.fixture()
def loaded(sim, warehouse):
    load_reference(sim, warehouse)
    assert run([prices.daily_prices], sim, warehouse, tags=range_tags(DAYS[0], DAYS[-1])).success
    return warehouse


def test_aum_is_published_value_with_cross_checks(sim, loaded):
    warehouse = loaded
    assert run([etf.etf_aum], sim, warehouse, partition_key=DAYS[-1]).success
    rows = warehouse.read_frame("SELECT a.*, d.nav, d.close FROM etf_aum a "
                                "JOIN etf_daily d USING (ticker, region, date) WHERE date = %s", (DAYS[-1],))
    assert set(rows["region"]) == {"KR"}
    assert len(rows) == warehouse.read_frame("SELECT count(*) AS n FROM etf_daily WHERE date = %s",
                                             (DAYS[-1],))["n"].iloc[0]
    nav_units = rows["nav"].astype(float) * rows["listed_units"]
    assert np.allclose(rows["nav_x_units"].astype(float), nav_units.round(), rtol=0, atol=1)
    assert np.allclose(rows["units_x_close"].astype(float), rows["listed_units"] * rows["close"])
    assert (abs(rows["aum"] / nav_units - 1) < 0.01).all()  # KRX AUM ≈ NAV × units
    # The asset checks read the same rows (region KR): full coverage, AUM agrees with NAV × units.
    coverage = checks.AUM_COVERAGE(warehouse=warehouse)
    assert coverage.passed and coverage.metadata["covered"].value == coverage.metadata["expected"].value == len(rows)
    agree = checks.aum_matches_nav(warehouse=warehouse)
    assert agree.passed and agree.metadata["etfs"].value == len(rows)


def test_aum_history_comes_from_the_stored_snapshot_without_requests(sim, loaded):
    """etf_daily stores the same MDCSTAT04301 snapshot: a backfill of etf_aum over days whose
    snapshot carries the AUM sends no request, and stores what a live fetch would."""
    warehouse, days = loaded, DAYS[-3:]
    def snapshot_requests() -> int:
        return sum(v for k, v in sim.stats.items() if k.startswith("krx:") and "04301" in k)

    before, fetched_before = dict(sim.stats), snapshot_requests()
    assert run([etf.etf_aum], sim, warehouse, tags=range_tags(days[0], days[-1])).success
    assert {k: v for k, v in sim.stats.items() if v != before.get(k, 0)} == {}, "no request at all"
    query = "SELECT date, ticker, aum, nav_x_units, units_x_close, listed_units FROM etf_aum ORDER BY date, ticker"
    from_stored = warehouse.read_frame(query)
    assert len(from_stored) > 30 and set(str(d) for d in from_stored["date"]) == set(days)
    # the same days with no stored snapshot: fetched live, the same rows
    warehouse.execute("DELETE FROM etf_daily WHERE date = ANY(%s)", (days,))
    assert run([etf.etf_aum], sim, warehouse, tags=range_tags(days[0], days[-1])).success
    assert snapshot_requests() == fetched_before + len(days)
    pd.testing.assert_frame_equal(warehouse.read_frame(query), from_stored)


def test_aum_not_yet_published_fails_with_reason(sim, loaded):
    from quant_assets.calendar import KST
    day = DAYS[-1]
    sim.set_clock(dt.datetime.fromisoformat(day + "T20:00:00").replace(tzinfo=KST))
    try:
        # the evening's snapshot (etf_daily) has no AUM yet either, so etf_aum must ask KRX again
        assert run([prices.daily_prices], sim, loaded, partition_key=day).success
        result = run([etf.etf_aum], sim, loaded, partition_key=day)
    finally:
        sim.set_clock(None)
    assert not result.success
    assert "not published yet" in failure_text(result, "etf_aum")
    status = loaded.read_frame("SELECT status FROM partition_status WHERE asset = 'etf_aum'")
    assert list(status["status"]) == ["source_error"]


def test_holdings_both_directions_and_weights(sim, loaded):
    warehouse = loaded
    assert run([etf.etf_holdings], sim, warehouse, partition_key=DAYS[-1]).success
    h = warehouse.read_frame("SELECT * FROM etf_holdings WHERE as_of_date = %s", (DAYS[-1],))
    etfs = warehouse.read_frame("SELECT count(*) AS n FROM etf_daily WHERE date = %s", (DAYS[-1],))["n"].iloc[0]
    assert h["etf_ticker"].nunique() == etfs
    assert set(h["region"]) == {"KR"} and set(h["data_source"]) == {"KRX"}
    kodex = h[h["etf_ticker"] == "069500"].sort_values("rank_in_etf")
    long = kodex[kodex["constituent_type"] != "FUTURES"]
    assert abs(long["weight"].sum() - 100) < 0.01          # consistent weights
    expected = long["market_value"] / long.loc[long["market_value"] > 0, "market_value"].sum() * 100
    assert np.allclose(long["weight"], expected.astype(float), atol=1e-3)
    assert list(kodex["rank_in_etf"]) == list(range(1, len(kodex) + 1))
    assert "CASH" in set(kodex["constituent_type"])
    inverse = h[h["etf_ticker"] == "114800"]
    assert "FUTURES" in set(inverse["constituent_type"]) and (inverse["shares"] < 0).any()
    # Reverse direction: which ETFs hold Samsung Electronics, by weight (index-backed).
    holders = warehouse.read_frame(
        "SELECT etf_ticker, weight FROM etf_holdings WHERE stock_ticker = '005930' AND as_of_date = %s "
        "ORDER BY weight DESC", (DAYS[-1],))
    assert "069500" in set(holders["etf_ticker"])
    coverage = checks.HOLDINGS_COVERAGE(warehouse=warehouse)
    assert coverage.passed and coverage.metadata["covered"].value == etfs


def test_holdings_weights_that_do_not_add_up_are_named(sim, loaded):
    from quant_assets.errors import SourceDataError
    from quant_assets.resources.krx import KRXClient

    day = DAYS[-1]
    isin = loaded.read_frame("SELECT isin FROM tickers WHERE ticker = '069500'")["isin"].iloc[0]
    pdf = KRXClient(base_url=sim.krx_url).etf_pdf(day, isin)   # a real PDF from the source...
    known = set(loaded.read_frame("SELECT ticker FROM tickers")["ticker"])
    assert len(etf.holdings_frame(pdf, "069500", dt.date.fromisoformat(day), known))
    pdf["weight_pct"] = pdf["weight_pct"] * 1.5                 # ...whose weights no longer add to 100%
    with pytest.raises(SourceDataError) as err:
        etf.holdings_frame(pdf, "069500", dt.date.fromisoformat(day), known)
    assert err.value.ticker == "069500" and err.value.field == "COMPST_RTO" and err.value.date == day
    assert err.value.region == "KR" and "region=KR" in str(err.value)


def test_holdings_code_not_in_tickers(sim, loaded):
    day = DAYS[-1]
    loaded.execute("DELETE FROM stock_details WHERE ticker = '005930' AND region = 'KR'")
    loaded.execute("DELETE FROM group_memberships WHERE symbol = '005930'")
    loaded.execute("DELETE FROM tickers WHERE ticker = '005930' AND region = 'KR'")
    result = run([etf.etf_holdings], sim, loaded, partition_key=day)
    assert not result.success
    text = failure_text(result, "etf_holdings")
    assert "005930 is not in tickers" in text and "COMPST_ISU_CD" in text and day in text
    assert loaded.read_frame("SELECT count(*) AS n FROM etf_holdings")["n"].iloc[0] == 0


def test_tracking_matches_independent_computation(sim, loaded):
    warehouse = loaded
    assert run([etf.etf_tracking], sim, warehouse, tags=range_tags(DAYS[-3], DAYS[-1])).success
    daily = warehouse.read_frame("SELECT date, ticker, close, nav, index_close FROM etf_daily ORDER BY date")
    details = warehouse.read_frame("SELECT ticker, multiple FROM etf_details").set_index("ticker")["multiple"]
    got = warehouse.read_frame("SELECT * FROM etf_tracking WHERE date = %s", (DAYS[-1],)).set_index("ticker")
    for ticker in ("069500", "122630", "114800"):
        s = daily[daily["ticker"] == ticker].set_index("date").astype({"nav": float, "close": float,
                                                                       "index_close": float})
        m = float(details[ticker])
        diff = (s["nav"].pct_change() - m * s["index_close"].pct_change()).dropna().tail(20)
        te20 = diff.std(ddof=1) * np.sqrt(250) * 100
        prem = (s["close"].iloc[-1] - s["nav"].iloc[-1]) / s["nav"].iloc[-1] * 100
        pd20 = ((s["close"] - s["nav"]) / s["nav"] * 100).tail(20).mean()
        row = got.loc[ticker]
        assert float(row["tracking_error_20d"]) == pytest.approx(te20, abs=1e-3)
        assert float(row["premium_discount_pct"]) == pytest.approx(prem, abs=1e-3)
        assert float(row["premium_discount_avg_20d"]) == pytest.approx(pd20, abs=1e-3)
        assert pd.isna(row["tracking_error_250d"])  # 40 days of history: no 250-day number
    # A leveraged ETF tracks 2× the index return: its tracking error is small, not huge.
    assert float(got.loc["122630", "tracking_error_20d"]) < 5


def test_tracking_zero_nav_is_named(sim, loaded):
    loaded.execute("UPDATE etf_daily SET nav = 0 WHERE ticker = '069500' AND date = %s", (DAYS[-1],))
    result = run([etf.etf_tracking], sim, loaded, partition_key=DAYS[-1])
    assert not result.success
    text = failure_text(result, "etf_tracking")
    assert "069500" in text and DAYS[-1] in text and "nav" in text
    assert loaded.read_frame("SELECT count(*) AS n FROM etf_tracking")["n"].iloc[0] == 0


def test_tracking_missing_benchmark_is_named(sim, loaded):
    loaded.execute("UPDATE etf_daily SET index_close = NULL WHERE ticker = '069500' AND date = %s", (DAYS[-1],))
    result = run([etf.etf_tracking], sim, loaded, partition_key=DAYS[-1])
    assert not result.success
    text = failure_text(result, "etf_tracking")
    assert "069500" in text and "index_close" in text


def test_krx_published_figures_reconcile(sim, loaded):
    assert run([etf.etf_tracking], sim, loaded, tags=range_tags(DAYS[-5], DAYS[-1])).success
    assert run([etf.etf_tracking_krx], sim, loaded, partition_key="2024-02-01").success
    cmp = loaded.read_frame("SELECT * FROM etf_tracking_comparison")
    assert len(cmp) > 0
    assert (cmp["premium_discount_gap"].astype(float).abs() <= 0.011).all()  # KRX rounds to 2 dp
    assert set(cmp["region"]) == {"KR"}
    check = checks.premium_matches_krx(warehouse=loaded)
    assert check.passed and check.metadata["compared_rows"].value == len(cmp)


def test_definitions_load():
    import dagster as dg

    from quant_assets.definitions import defs
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"ohlcv", "etf_daily", "etf_list", "stock_list", "etf_aum", "etf_holdings", "etf_tracking",
            "groups", "factor_scores", "ohlcv_monthly", "price_range_52w"} <= keys
    assert reference.etf_list is not None


def test_krx_tracking_refreshes_current_month_once_a_week():
    """~2,100 KRX requests per month partition: refreshed on Friday 20:00 KST, never more often."""
    import dagster as dg

    from quant_assets.calendar import KST
    from quant_assets.resources.krx import KRXClient
    from quant_assets.resources.warehouse import Warehouse

    defs = dg.Definitions(assets=[etf.etf_tracking_krx, dg.AssetSpec("etf_list")],
                          resources={"warehouse": Warehouse(database_url="postgresql://unused"), "krx": KRXClient()})
    instance, cursor, seen = dg.DagsterInstance.ephemeral(), None, []
    for when in (dt.datetime(2026, 11, 19, 20, 30), dt.datetime(2026, 11, 20, 19, 0),
                 dt.datetime(2026, 11, 20, 20, 1), dt.datetime(2026, 11, 20, 20, 30)):
        when = when.replace(tzinfo=KST)
        with dg.partition_loading_context(effective_dt=when):
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=when,
                                                       cursor=cursor)
        cursor = result.cursor
        seen.append(sorted(result.get_requested_partitions(dg.AssetKey("etf_tracking_krx"))))
    assert seen == [[], [], ["2026-11-01"], []]


LATEST = """SELECT ticker, aum, aum_date, tracking_error_20d, premium_discount_avg_20d, premium_discount,
                   tracking_date, underlying_asset_count, holdings_date, avg_daily_volume, avg_daily_value
            FROM etf_details WHERE region = 'KR' ORDER BY ticker"""


def expected_latest(warehouse) -> pd.DataFrame:
    """etf_details' latest-figure columns recomputed from the history tables, independently."""
    aum = warehouse.read_frame("SELECT ticker, date AS aum_date, aum FROM etf_aum WHERE region = 'KR'")
    aum = aum.sort_values("aum_date").groupby("ticker").tail(1)
    tr = warehouse.read_frame("SELECT ticker, date AS tracking_date, tracking_error_20d, premium_discount_avg_20d, "
                              "premium_discount_pct AS premium_discount FROM etf_tracking WHERE region = 'KR'")
    tr = tr.sort_values("tracking_date").groupby("ticker").tail(1)
    h = warehouse.read_frame("SELECT etf_ticker AS ticker, as_of_date AS holdings_date, "
                             "count(*) AS underlying_asset_count FROM etf_holdings WHERE region = 'KR' GROUP BY 1, 2")
    h = h.sort_values("holdings_date").groupby("ticker").tail(1)
    bars = warehouse.read_frame("SELECT ticker, date, volume, value FROM ohlcv_data "
                                "WHERE region = 'KR' AND asset_type = 'ETF'")
    recent = bars[bars["date"] > bars["date"].max() - dt.timedelta(days=30)]
    vol = recent.groupby("ticker").agg(avg_daily_volume=("volume", "mean"), avg_daily_value=("value", "mean"))
    out = warehouse.read_frame("SELECT ticker FROM etf_details WHERE region = 'KR'")
    for part in (aum, tr, h):
        out = out.merge(part, on="ticker", how="left")
    return out.merge(vol.reset_index(), on="ticker", how="left").sort_values("ticker").reset_index(drop=True)


def assert_latest_matches(warehouse) -> pd.DataFrame:
    got = warehouse.read_frame(LATEST).reset_index(drop=True)
    want = expected_latest(warehouse)
    for col in ("aum_date", "tracking_date", "holdings_date"):
        assert [str(d) if pd.notna(d) else None for d in got[col]] == \
            [str(d) if pd.notna(d) else None for d in want[col]], col
    for col in ("aum", "tracking_error_20d", "premium_discount_avg_20d", "premium_discount", "underlying_asset_count"):
        assert np.allclose(got[col].astype(float), want[col].astype(float), equal_nan=True), col
    for col in ("avg_daily_volume", "avg_daily_value"):   # numeric(20,2) / (24,2): rounded to cents
        assert np.allclose(got[col].astype(float), want[col].astype(float), atol=0.006, rtol=0, equal_nan=True), col
    return got


def test_etf_details_latest_figures_follow_the_newest_rows(sim, loaded):
    warehouse, older, newer = loaded, DAYS[-3], DAYS[-2]
    # Set by the ohlcv writes alone (ETFs listed after these days have no bars: NULL).
    assert assert_latest_matches(warehouse)["avg_daily_volume"].notna().sum() > 10
    for asset in (etf.etf_aum, etf.etf_holdings):
        assert run([asset], sim, warehouse, tags=range_tags(older, newer)).success
    assert run([etf.etf_tracking], sim, warehouse, tags=range_tags(older, DAYS[-1])).success
    got = assert_latest_matches(warehouse)
    # ETFs listed after these days (the master is today's) have no figures; every other one has.
    trading = set(warehouse.read_frame("SELECT ticker FROM etf_daily WHERE date = %s", (newer,))["ticker"])
    have = got[got["ticker"].isin(trading)]
    assert len(have) > 10 and got.loc[~got["ticker"].isin(trading), "aum"].isna().all()
    assert {str(d) for d in have["aum_date"]} == {newer} and {str(d) for d in have["holdings_date"]} == {newer}
    assert {str(d) for d in have["tracking_date"]} == {DAYS[-1]}
    assert have["aum"].notna().all() and have["tracking_error_20d"].notna().all()
    first = got.copy()
    # Re-loading an older day must not roll the latest figures back to it.
    for asset in (etf.etf_aum, etf.etf_holdings, etf.etf_tracking):
        assert run([asset], sim, warehouse, partition_key=older).success
    again = assert_latest_matches(warehouse)
    pd.testing.assert_frame_equal(first, again)
    old_aum = warehouse.read_frame("SELECT ticker, aum FROM etf_aum WHERE date = %s", (older,))
    compared = old_aum.merge(again[["ticker", "aum"]], on="ticker", suffixes=("_old", "_latest"))
    assert (compared["aum_old"] != compared["aum_latest"]).any()          # the days differ: a real check
    # A newer day moves them forward, in the same transaction as its rows.
    assert run([etf.etf_aum], sim, warehouse, partition_key=DAYS[-1]).success
    moved = assert_latest_matches(warehouse)
    assert {str(d) for d in moved.loc[moved["ticker"].isin(trading), "aum_date"]} == {DAYS[-1]}
    # The seed's `etfs` view: one row per listed ETF, total_assets = latest AUM.
    view = warehouse.read_frame("SELECT ticker, region, exchange, total_assets, tracking_error_20d, "
                                "avg_daily_volume FROM etfs ORDER BY ticker")
    listed = warehouse.read_frame("SELECT ticker FROM tickers WHERE region = 'KR' AND asset_type = 'ETF' "
                                  "AND is_active ORDER BY ticker")
    assert view["ticker"].tolist() == listed["ticker"].tolist() and view["ticker"].is_unique
    assert set(view["region"]) == {"KR"} and set(view["exchange"]) == {"KOSPI"}
    latest_aum = warehouse.read_frame("SELECT ticker, aum FROM etf_aum WHERE date = %s", (DAYS[-1],))
    want = view[["ticker"]].merge(latest_aum, on="ticker", how="left")["aum"].astype(float)
    assert view["total_assets"].notna().sum() == want.notna().sum() > 10   # (ETFs delisted since: not listed)
    assert np.array_equal(view["total_assets"].to_numpy(), want.to_numpy(), equal_nan=True)
    assert np.allclose(view["tracking_error_20d"], moved["tracking_error_20d"].astype(float), equal_nan=True)


def test_weight_change_from_previous_pdf_day(sim, loaded):
    warehouse, d1, d2, d3 = loaded, DAYS[-3], DAYS[-2], DAYS[-1]
    query = ("SELECT etf_ticker, stock_ticker, weight, weight_change_from_prev FROM etf_holdings "
             "WHERE as_of_date = %s")

    def check(day, prev_day):
        cur = warehouse.read_frame(query, (day,))
        if prev_day is None:
            assert cur["weight_change_from_prev"].isna().all()          # no earlier PDF day loaded
            return cur
        prev = warehouse.read_frame(query, (prev_day,))[["etf_ticker", "stock_ticker", "weight"]]
        both = cur.merge(prev, on=["etf_ticker", "stock_ticker"], how="left", suffixes=("", "_prev"))
        want = both["weight"] - both["weight_prev"]
        assert np.allclose(both["weight_change_from_prev"], want, equal_nan=True, atol=1e-9)
        assert (both["weight_change_from_prev"].isna() == want.isna()).all()
        assert (want.dropna() != 0).any()                                   # weights do move day to day
        return both

    # Loaded out of order: d2 first (nothing before it), then d1, which makes d1 d2's previous day.
    assert run([etf.etf_holdings], sim, warehouse, partition_key=d2).success
    check(d2, None)
    assert run([etf.etf_holdings], sim, warehouse, partition_key=d1).success
    check(d1, None)
    both = check(d2, d1)
    kodex = both[(both["etf_ticker"] == "069500") & (both["stock_ticker"] == "005930")].iloc[0]
    assert kodex["weight_change_from_prev"] == pytest.approx(kodex["weight"] - kodex["weight_prev"], abs=1e-9)
    assert run([etf.etf_holdings], sim, warehouse, partition_key=d3).success
    check(d3, d2)
    # A line missing from the previous day has no change (NULL); re-loading that day fixes the next.
    warehouse.execute("DELETE FROM etf_holdings WHERE as_of_date = %s AND etf_ticker = '069500' "
                      "AND stock_ticker = '005930'", (d2,))
    assert run([etf.etf_holdings], sim, warehouse, partition_key=d3).success
    gap = warehouse.read_frame(query + " AND etf_ticker = '069500' AND stock_ticker = '005930'", (d3,))
    assert gap["weight_change_from_prev"].isna().all()
    assert run([etf.etf_holdings], sim, warehouse, partition_key=d2).success   # re-load restores d2 ...
    check(d2, d1)
    check(d3, d2)                                                             # ... and d3 follows it


def test_tracking_ranged_run_equals_per_day_runs_and_rerun_is_identical(sim, loaded):
    """One ranged run (one read, one write, etf_tracking_run.py) writes the rows per-day runs write
    (each day's 251-day look-back is the same either way), with a 'loaded' status per day; running
    the range again writes exactly the same rows."""
    warehouse, days = loaded, DAYS[-6:]
    query = "SELECT * FROM etf_tracking WHERE region = 'KR' ORDER BY date, ticker"
    for day in days:
        assert run([etf.etf_tracking], sim, warehouse, partition_key=day).success
    per_day = warehouse.read_frame(query)
    warehouse.execute("TRUNCATE etf_tracking")
    result = run([etf.etf_tracking], sim, warehouse, tags=range_tags(days[0], days[-1]))
    assert result.success
    assert sorted(m.partition for m in result.asset_materializations_for_node("etf_tracking")) == days
    ranged = warehouse.read_frame(query)
    assert len(ranged) == len(per_day) > 10 * len(days)
    pd.testing.assert_frame_equal(ranged[["date", "ticker", "region"]], per_day[["date", "ticker", "region"]])
    numbers = [c for c in ranged.columns if c not in ("date", "ticker", "region")]
    # stored at numeric(10,4): float noise of a longer panel may move a last digit, nothing more
    np.testing.assert_allclose(ranged[numbers].astype(float), per_day[numbers].astype(float), rtol=0, atol=1.5e-4)
    assert run([etf.etf_tracking], sim, warehouse, tags=range_tags(days[0], days[-1])).success
    pd.testing.assert_frame_equal(warehouse.read_frame(query), ranged)
    status = warehouse.read_frame("SELECT partition_date, status, row_count FROM partition_status "
                                  "WHERE asset = 'etf_tracking' ORDER BY partition_date")
    assert [str(d) for d in status["partition_date"]] == days and set(status["status"]) == {"loaded"}
    counts = ranged.groupby(ranged["date"].astype(str)).size()
    assert status["row_count"].tolist() == [int(counts[d]) for d in days]


def test_latest_figures_refresh_skips_exactly_what_cannot_change_them(sim, loaded):
    """refresh_etf_latest(region, tables, day) (sql/022): ranged runs refresh once, and a day older
    than a section's window is skipped. The skip must never leave a figure the full refresh would
    change, and a section not named must not run."""
    warehouse, old, new = loaded, DAYS[0], DAYS[-1]       # 58 days apart: outside the 30/40-day windows
    for day in (old, new):
        assert run([etf.etf_aum], sim, warehouse, partition_key=day).success
    before = assert_latest_matches(warehouse)

    def refresh(tables, day):
        warehouse.execute("SELECT refresh_etf_latest('KR', %s, %s)", (tables, day))

    # an old day rewritten: the sections skip it, and the full refresh agrees nothing changed
    warehouse.execute("UPDATE etf_aum SET aum = aum * 2 WHERE date = %s", (old,))
    warehouse.execute("UPDATE ohlcv_data SET volume = volume + 1000 WHERE date = %s AND asset_type = 'ETF'", (old,))
    refresh(["etf_aum", "ohlcv_data"], old)
    pd.testing.assert_frame_equal(assert_latest_matches(warehouse), before)
    refresh(None, None)
    pd.testing.assert_frame_equal(warehouse.read_frame(LATEST).reset_index(drop=True), before)
    # the newest day rewritten: only the named section follows it
    warehouse.execute("UPDATE etf_aum SET aum = aum + 7 WHERE date = %s", (new,))
    warehouse.execute("UPDATE ohlcv_data SET volume = volume + 3000 WHERE date = %s AND asset_type = 'ETF'", (new,))
    refresh(["ohlcv_data"], new)
    got = warehouse.read_frame(LATEST).reset_index(drop=True)
    assert np.allclose(got["aum"].astype(float), before["aum"].astype(float), equal_nan=True)   # not named
    assert (got["avg_daily_volume"].astype(float) > before["avg_daily_volume"].astype(float)).sum() > 10
    refresh(["etf_aum"], new)
    moved = assert_latest_matches(warehouse)
    have = moved["aum"].notna()
    assert np.allclose(moved.loc[have, "aum"].astype(float), before.loc[have, "aum"].astype(float) + 7)
