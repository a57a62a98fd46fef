"""Adjustment factors, the adjusted view and 52-week ranges against independent computations."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from quant_assets_tests.test_aggregates import (
    DAYS,
    ETF_TICKER,
    PENNY_DAY,
    PENNY_TICKER,
    SHORT_DAYS,
    SHORT_TICKER,
    SPLIT,
    SPLIT_DAY,
    SPLIT_TICKER,
    check_results,
    market,  # noqa: F401  (fixture)
    materializations,
)

# covers the penny stock's rounding day (DAYS[150]) and the split (DAYS[200]) in one ranged run
FIRST = 140
RANGE = {"dagster/asset_partition_range_start": DAYS[FIRST].isoformat(),
         "dagster/asset_partition_range_end": DAYS[-1].isoformat()}


def factors_table(warehouse) -> pd.DataFrame:
    return warehouse.read_frame("SELECT ticker, ex_date, factor::float8 AS factor, prior_close, base_price, reason "
                                "FROM adjustment_factors ORDER BY ticker, ex_date")


def adjusted_expected(bars: pd.DataFrame, upto=None) -> pd.DataFrame:
    """Independent adjustment: the split ticker's bars before SPLIT_DAY (and on or before `upto`) / 5."""
    df = bars.copy()
    pre = (df["ticker"] == SPLIT_TICKER) & (df["date"] < SPLIT_DAY)
    if upto is not None and upto < SPLIT_DAY:
        pre &= False
    for col in ("open", "high", "low", "close"):
        df.loc[pre, col] = df.loc[pre, col] / SPLIT
    df.loc[pre, "volume"] = df.loc[pre, "volume"] * SPLIT
    return df


def test_split_found_once_and_adjusted_view_is_continuous(warehouse, market):  # noqa: F811
    from quant_assets.assets.ranges import adjustment_factors

    result = dg.materialize([adjustment_factors], resources={"warehouse": warehouse}, tags=RANGE)
    assert materializations(result) == [d.isoformat() for d in DAYS[FIRST:]]  # one run, one event per day
    assert check_results(result) == {"plausible_factors": True}
    found = factors_table(warehouse)
    # exactly the split; the penny stock's one-tick rounding of its base price is not an ex-date
    assert found[["ticker", "ex_date"]].values.tolist() == [[SPLIT_TICKER, SPLIT_DAY]]
    row = found.iloc[0]
    assert row["factor"] == 0.2 and row["reason"] == "split 1:5"
    assert row["base_price"] * SPLIT == row["prior_close"]
    assert PENNY_TICKER not in set(found["ticker"]) and PENNY_DAY not in set(found["ex_date"])

    adj = warehouse.read_frame("SELECT date, ticker, open::float8, high::float8, low::float8, close::float8, "
                               "volume::float8, adj_factor::float8 FROM ohlcv_adjusted ORDER BY ticker, date")
    expected = adjusted_expected(market).sort_values(["ticker", "date"]).reset_index(drop=True)
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(adj[col].to_numpy(), expected[col].astype(float).to_numpy(), rtol=1e-12,
                                   err_msg=col)
    split = adj[adj["ticker"] == SPLIT_TICKER].set_index("date")["close"]
    raw = market[market["ticker"] == SPLIT_TICKER].set_index("date")
    i = DAYS.index(SPLIT_DAY)
    jump_adjusted = split[DAYS[i]] / split[DAYS[i - 1]] - 1
    base = raw.loc[DAYS[i - 1], "close"] / SPLIT
    # continuous: the adjusted move on the ex-date is the KRX-reported move against the base price ...
    assert jump_adjusted == pytest.approx(raw.loc[DAYS[i], "change"] / base, abs=1e-12)
    assert abs(jump_adjusted) < 0.15
    assert raw.loc[DAYS[i], "close"] / raw.loc[DAYS[i - 1], "close"] < 0.3  # ... where raw prices fall 80%
    # raw prices stay raw
    stored = warehouse.read_frame("SELECT close FROM ohlcv_data WHERE ticker = %s AND date = %s",
                                  (SPLIT_TICKER, DAYS[i - 1]))
    assert stored["close"].iloc[0] == raw.loc[DAYS[i - 1], "close"]

    dg.materialize([adjustment_factors], resources={"warehouse": warehouse}, tags=RANGE)
    pd.testing.assert_frame_equal(found, factors_table(warehouse))


def test_missing_prior_day_fails_that_partition_only(warehouse, market):  # noqa: F811
    from quant_assets.assets.ranges import adjustment_factors

    hole = DAYS[50]
    warehouse.execute("DELETE FROM ohlcv_data WHERE date = %s", (hole,))
    tags = {"dagster/asset_partition_range_start": DAYS[49].isoformat(),
            "dagster/asset_partition_range_end": DAYS[52].isoformat()}
    result = dg.materialize([adjustment_factors], resources={"warehouse": warehouse}, tags=tags,
                            raise_on_error=False)
    assert not result.success
    # the hole itself (no ohlcv) and the day after (no prior close) fail; the others are stored
    assert materializations(result) == [DAYS[49].isoformat(), DAYS[52].isoformat()]
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "2 of 4 partition(s) failed" in message and f"prior trading day {DAYS[50]}" in message


def expected_range(bars: pd.DataFrame, day) -> pd.DataFrame:
    """Independent 52-week range on D's basis: last 250 trading days, latest date on ties."""
    window = [d for d in DAYS if d <= day][-250:]
    df = adjusted_expected(bars[bars["date"].isin(window)], upto=day)
    today = bars[bars["date"] == day].set_index("ticker")["close"]
    rows = []
    for ticker, g in df.sort_values("date").groupby("ticker"):
        c = g.set_index("date")["close"]
        hi = g.set_index("date")["high"].dropna()
        lo = g.set_index("date")["low"].dropna()
        rows.append({
            "ticker": ticker, "days_in_window": len(g), "window_start": g["date"].iloc[0],
            "high_close": c.max(), "high_close_date": c[c == c.max()].index.max(),
            "low_close": c.min(), "low_close_date": c[c == c.min()].index.max(),
            "high_52w": hi.max(), "high_52w_date": hi[hi == hi.max()].index.max(),
            "low_52w": lo.min(), "low_52w_date": lo[lo == lo.min()].index.max(),
            "pct_from_high_close": (today[ticker] / c.max() - 1) * 100,
            "pct_from_low_close": (today[ticker] / c.min() - 1) * 100,
        })
    return pd.DataFrame(rows).set_index("ticker")


def test_52_week_range_matches_independent_computation(warehouse, market):  # noqa: F811
    from quant_assets.assets.ranges import adjustment_factors, price_range_52w

    day, early = DAYS[-1], DAYS[100]
    warehouse.execute("INSERT INTO etf_details (ticker, region, isin, multiple) VALUES (%s, 'KR', %s, 1)",
                      (ETF_TICKER, "KR7069500007"))
    dg.materialize([adjustment_factors], resources={"warehouse": warehouse}, tags=RANGE)
    result = dg.materialize([price_range_52w], resources={"warehouse": warehouse}, partition_key=day.isoformat())
    assert check_results(result) == {"valid_rows": True}
    dg.materialize([price_range_52w], resources={"warehouse": warehouse}, partition_key=early.isoformat())

    for d in (day, early):
        got = warehouse.read_frame("SELECT * FROM price_range_52w WHERE date = %s", (d,)).set_index("ticker")
        exp = expected_range(market, d)
        assert sorted(got.index) == sorted(exp.index)
        got = got.loc[exp.index]
        for col in ("high_close", "low_close", "high_52w", "low_52w", "pct_from_high_close", "pct_from_low_close"):
            np.testing.assert_allclose(got[col].astype(float), exp[col].astype(float), atol=1e-3, err_msg=col)
        for col in ("days_in_window", "window_start", "high_close_date", "low_close_date", "high_52w_date",
                    "low_52w_date"):
            assert (got[col] == exp[col]).all(), col

    got = warehouse.read_frame("SELECT * FROM price_range_52w WHERE date = %s", (day,)).set_index("ticker")
    assert got.loc[SHORT_TICKER, "days_in_window"] == SHORT_DAYS  # short history: what exists
    assert (got.drop(index=SHORT_TICKER)["days_in_window"] == 250).all()
    early_rows = warehouse.read_frame("SELECT days_in_window FROM price_range_52w WHERE date = %s", (early,))
    assert set(early_rows["days_in_window"]) == {101}
    # the split inside the window leaves no phantom high: pre-split raw closes were 5x higher
    raw_max = market[(market["ticker"] == SPLIT_TICKER) & market["date"].isin(DAYS[-250:])]["close"].max()
    assert float(got.loc[SPLIT_TICKER, "high_close"]) < raw_max / 2

    # the same transaction brought etf_details' seed-002 52-week figures up to the newest range
    etf = warehouse.read_frame("SELECT week_52_high, week_52_low, week_52_date FROM etf_details "
                               "WHERE ticker = %s AND region = 'KR'", (ETF_TICKER,)).iloc[0]
    assert etf["week_52_date"] == day
    assert etf["week_52_high"] == pytest.approx(float(got.loc[ETF_TICKER, "high_close"]))
    assert etf["week_52_low"] == pytest.approx(float(got.loc[ETF_TICKER, "low_close"]))

    before = warehouse.read_frame("SELECT * FROM price_range_52w ORDER BY date, ticker")
    dg.materialize([price_range_52w], resources={"warehouse": warehouse}, partition_key=day.isoformat())
    pd.testing.assert_frame_equal(before, warehouse.read_frame("SELECT * FROM price_range_52w ORDER BY date, ticker"))


def test_automation_requests_derived_days_once_inputs_land():
    """Declarative refresh: a loaded ohlcv day requests its derived partitions, technical_analysis
    included (and the current month, whose bars also need the days' indicators); factor_scores also
    waits for fundamentals; a stock_list refresh re-triggers nothing."""
    import datetime as dt

    from quant_assets.assets import aggregates, factors, ranges, technical
    from quant_assets.calendar import KST, trading_day_partitions, trading_days
    from quant_assets.resources.warehouse import Warehouse

    defs = dg.Definitions(
        assets=[dg.AssetSpec("ohlcv", partitions_def=trading_day_partitions),
                dg.AssetSpec("stock_fundamentals", partitions_def=trading_day_partitions),
                dg.AssetSpec("stock_list"), *ranges.ASSETS, *factors.ASSETS, *aggregates.ASSETS,
                *technical.ASSETS],
        resources={"warehouse": Warehouse(database_url="postgresql://unused")},
    )
    instance = dg.DagsterInstance.ephemeral()
    state = {"cursor": None}
    keys = ["adjustment_factors", "price_range_52w", "factor_scores", "technical_analysis", "ohlcv_monthly"]

    def evaluate(when: dt.datetime) -> dict[str, list[str]]:
        with dg.partition_loading_context(effective_dt=when):
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=when,
                                                       cursor=state["cursor"])
        state["cursor"] = result.cursor
        requested = {k: sorted(result.get_requested_partitions(dg.AssetKey(k))) for k in keys}
        for key, partitions in requested.items():  # pretend the requested runs succeeded
            for p in partitions:
                instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=p))
        return {k: v for k, v in requested.items() if v}

    def load(asset: str, *days) -> None:
        for d in days:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=str(d)))

    evaluate(dt.datetime(2025, 11, 17, 9, tzinfo=KST))  # first evaluation only records state
    history = trading_days("2025-10-01", "2025-11-17")
    load("ohlcv", *history)
    load("stock_fundamentals", *history)
    load("technical_analysis", *history[:-5])  # backfilled history; the last week is automation's
    load("adjustment_factors", *history[:-5])  # (with the factors it was computed from)
    first = evaluate(dt.datetime(2025, 11, 17, 17, tzinfo=KST))
    week = [str(d) for d in history[-5:]]
    every = [str(d) for d in history]  # derived assets follow history, not only the last week (#13)
    # October's indicators were backfilled with its days: its bar joins the same backfill
    assert first == {"adjustment_factors": week, "price_range_52w": every, "factor_scores": every,
                     "technical_analysis": week, "ohlcv_monthly": ["2025-10-01"]}
    # the current month follows once its days' indicators landed (a daily partition cannot share its run)
    assert evaluate(dt.datetime(2025, 11, 17, 17, 5, tzinfo=KST)) == {"ohlcv_monthly": ["2025-11-01"]}
    instance.report_runless_asset_event(dg.AssetMaterialization("stock_list"))
    assert evaluate(dt.datetime(2025, 11, 18, 8, tzinfo=KST)) == {}
    load("ohlcv", "2025-11-18")
    assert evaluate(dt.datetime(2025, 11, 18, 16, tzinfo=KST)) == {
        "adjustment_factors": ["2025-11-18"], "price_range_52w": ["2025-11-18"], "technical_analysis": ["2025-11-18"]}
    # the month waits for today's indicators (today is the open partition, which BUCKET_CONDITION
    # alone would not wait for): its ma20_end / rsi_14_end are never those of a half-written day
    load("stock_fundamentals", "2025-11-18")
    assert evaluate(dt.datetime(2025, 11, 18, 16, 10, tzinfo=KST)) == {"factor_scores": ["2025-11-18"],
                                                                       "ohlcv_monthly": ["2025-11-01"]}


def test_one_ranged_run_materializes_factors_then_ranges_each_partition_once(warehouse, market):  # noqa: F811
    """A backfill puts both derived assets in one ranged run: the downstream step must run (not be
    skipped), and each partition gets exactly one materialization carrying its own day's metadata."""
    from quant_assets.assets.ranges import adjustment_factors, price_range_52w

    tags = {"dagster/asset_partition_range_start": DAYS[FIRST].isoformat(),
            "dagster/asset_partition_range_end": DAYS[FIRST + 9].isoformat()}
    result = dg.materialize([adjustment_factors, price_range_52w], resources={"warehouse": warehouse}, tags=tags)
    assert result.success
    events = [e.event_specific_data.materialization for e in result.all_events
              if e.event_type_value == "ASSET_MATERIALIZATION"]
    expected = [d.isoformat() for d in DAYS[FIRST:FIRST + 10]]
    for name in ("adjustment_factors", "price_range_52w"):
        mine = [m for m in events if m.asset_key == dg.AssetKey(name)]
        assert sorted(m.partition for m in mine) == expected
        assert all(m.metadata["date"].value == m.partition for m in mine)
    stored = warehouse.read_frame("SELECT DISTINCT date FROM price_range_52w ORDER BY date")
    assert [d.isoformat() for d in stored["date"]] == expected
    assert check_results(result) == {"plausible_factors": True, "valid_rows": True}


def test_weekend_refreshes_month_bucket_and_tracking_despite_the_open_monday_partition():
    """On a Saturday the newest trading-day partition is the coming Monday (still open). It must not
    hold back the current month's bar or the last days' tracking once Friday's data has landed."""
    import datetime as dt

    from quant_assets.assets import aggregates, etf
    from quant_assets.calendar import KST, trading_day_partitions, trading_days
    from quant_assets.resources.warehouse import Warehouse

    defs = dg.Definitions(
        assets=[dg.AssetSpec("ohlcv", partitions_def=trading_day_partitions),
                dg.AssetSpec("technical_analysis", partitions_def=trading_day_partitions),
                dg.AssetSpec("etf_daily", partitions_def=trading_day_partitions), dg.AssetSpec("etf_list"),
                etf.etf_tracking, *aggregates.ASSETS],
        resources={"warehouse": Warehouse(database_url="postgresql://unused")},
    )
    instance = dg.DagsterInstance.ephemeral()
    saturday = dt.datetime(2025, 11, 22, 12, tzinfo=KST)
    with dg.partition_loading_context(effective_dt=saturday):
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=saturday)
        assert trading_day_partitions.get_last_partition_key() == "2025-11-24"   # the open Monday
        for day in trading_days("2025-11-01", "2025-11-21"):
            for asset in ("ohlcv", "technical_analysis", "etf_daily"):
                instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=str(day)))
        instance.report_runless_asset_event(dg.AssetMaterialization("etf_list"))
        later = saturday + dt.timedelta(minutes=5)
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=later,
                                                   cursor=first.cursor)
    assert sorted(result.get_requested_partitions(dg.AssetKey("ohlcv_monthly"))) == ["2025-11-01"]
    # every loaded closed day, history included (the open Monday itself waits for its data)
    assert sorted(result.get_requested_partitions(dg.AssetKey("etf_tracking"))) == [
        str(d) for d in trading_days("2025-11-01", "2025-11-21")]
    # the quarter is built from its loaded days (its no_missing_days check WARNs about October, #13)
    assert sorted(result.get_requested_partitions(dg.AssetKey("ohlcv_quarterly"))) == ["2025-10-01"]


def _range_rows(warehouse, day):
    return warehouse.read_frame("SELECT * FROM price_range_52w WHERE date = %s ORDER BY ticker", (day,))


def test_ranged_pass_equals_day_by_day_runs_and_the_former_statement(warehouse, market):  # noqa: F811
    """One pass over a range (one read of range + look-back) writes exactly what one-day runs write,
    and what the former per-day SQL statement (RANGE_INSERT, a 250-day window per day) wrote, the
    1:5 split inside the windows included; each partition reads a bounded window."""
    from quant_assets.assets.ranges import RANGE_INSERT, WINDOW, adjustment_factors, price_range_52w

    dg.materialize([adjustment_factors], resources={"warehouse": warehouse}, tags=RANGE)
    result = dg.materialize([price_range_52w], resources={"warehouse": warehouse}, tags=RANGE)
    assert materializations(result) == [d.isoformat() for d in DAYS[FIRST:]]
    assert check_results(result) == {"valid_rows": True}
    i = DAYS.index(SPLIT_DAY)
    probes = [DAYS[FIRST], DAYS[i - 1], SPLIT_DAY, DAYS[i + 1], DAYS[-1]]
    ranged = {d: _range_rows(warehouse, d) for d in probes}
    assert all(len(f) > 20 for f in ranged.values())
    meta = next(e.event_specific_data.materialization.metadata for e in result.all_events
                if e.event_type_value == "ASSET_MATERIALIZATION")
    # the run read its days plus WINDOW - 1 trading days before the first: never the whole table
    assert meta["trading_days_read"].value == len(DAYS) - FIRST + WINDOW - 1 < len(DAYS) + WINDOW

    for d in probes:
        one = dg.materialize([price_range_52w], resources={"warehouse": warehouse}, partition_key=d.isoformat())
        meta = next(e.event_specific_data.materialization.metadata for e in one.all_events
                    if e.event_type_value == "ASSET_MATERIALIZATION")
        # a one-day run reads its own window, or 3 days of bars plus the previous day's rows
        # (and the windows of the few tickers that need them: the split ticker around its split)
        if d == DAYS[FIRST]:  # no rows of the previous day
            assert meta["trading_days_read"].value == WINDOW and meta["method"].value == "window read"
        else:
            assert meta["method"].value == "previous day's rows"
            assert meta["trading_days_read"].value in (3, 3 + WINDOW)
            assert meta["recomputed_tickers"].value < len(ranged[d]) / 2
            if d >= SPLIT_DAY:  # the split ticker's window holds its ex-date: recomputed, not carried
                assert meta["recomputed_tickers"].value >= 1
        pd.testing.assert_frame_equal(ranged[d], _range_rows(warehouse, d), check_exact=True)

        with warehouse.connect() as conn:  # the former statement, rolled back
            conn.execute("DELETE FROM price_range_52w WHERE date = %s", (d,))
            from quant_assets.calendar import previous_trading_days
            conn.execute(RANGE_INSERT, {"day": d, "start": previous_trading_days(d, WINDOW)[0], "region": "KR"})
            cur = conn.execute("SELECT * FROM price_range_52w WHERE date = %s ORDER BY ticker", (d,))
            former = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
            conn.rollback()
        numeric = [c for c in former.columns if former[c].map(lambda v: type(v).__name__).eq("Decimal").any()]
        former[numeric] = former[numeric].astype(float)
        pd.testing.assert_frame_equal(ranged[d], former, check_exact=True, check_dtype=False)
