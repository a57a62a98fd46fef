"""Monthly/quarterly/yearly bars against an independent pandas computation of synthetic bars.

The synthetic market (also used by test_ranges.py and test_factors.py): 26 stocks and one ETF over
300 KRX trading days, deterministic numpy; ticker 000020 has a 1:5 split on SPLIT_DAY with
`change` reported against the adjusted base (as KRX does), 000030 has a no-trade day (NULL open)
on the first trading day of a month, 000250 is a penny stock whose `change` is off by one tick
once (rounding, not a corporate action) and 000260 lists only 60 days before the end.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import psycopg
import pytest

from quant_assets.calendar import trading_days

DAYS = trading_days(dt.date(2023, 3, 2), dt.date(2024, 12, 31))[:300]
SPLIT_TICKER, SPLIT_DAY, SPLIT = "000020", DAYS[200], 5
NULL_OPEN_TICKER = "000030"
NULL_OPEN_DAY = next(d for d in DAYS if d.month == DAYS[40].month and d.year == DAYS[40].year)
PENNY_TICKER, PENNY_DAY = "000250", DAYS[150]
SHORT_TICKER, SHORT_DAYS = "000260", 60
ETF_TICKER = "069500"
KOSPI = [f"{i * 10:06d}" for i in range(1, 13)]
KOSDAQ = [f"{i * 10:06d}" for i in range(13, 25)] + [PENNY_TICKER, SHORT_TICKER]
DERIVED_TABLES = ("ohlcv_monthly", "ohlcv_quarterly", "ohlcv_yearly", "adjustment_factors", "price_range_52w",
                  "ticker_fundamentals", "factor_scores_packed")
BUCKET = {"ohlcv_monthly": "month", "ohlcv_quarterly": "quarter", "ohlcv_yearly": "year"}


def tick(price: float) -> int:
    for limit, size in ((2000, 1), (5000, 5), (20000, 10), (50000, 50), (200000, 100), (500000, 500)):
        if price < limit:
            return size
    return 1000


def _ticker_bars(rng: np.random.Generator, ticker: str, asset_type: str, p0: float, days: list[dt.date]):
    n = len(days)
    true = p0 * np.exp(np.cumsum(rng.normal(0.0004, 0.02, n)))  # continuous (adjusted) price path
    divisor = np.ones(n)
    if ticker == SPLIT_TICKER:
        divisor[days.index(SPLIT_DAY):] = SPLIT
    close = np.maximum(np.round(true / divisor), 10)
    if ticker == SPLIT_TICKER:  # prior close a multiple of 5, so the KRX base price is exact
        s = days.index(SPLIT_DAY)
        close[s - 1] = round(close[s - 1] / SPLIT) * SPLIT
    prev = np.concatenate([[np.nan], close[:-1]])
    base = prev.copy()
    if ticker == SPLIT_TICKER:
        base[days.index(SPLIT_DAY)] = prev[days.index(SPLIT_DAY)] / SPLIT
    open_ = np.round(np.where(np.isnan(base), close, base) * np.exp(rng.normal(0, 0.006, n)))
    high = np.ceil(np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, n))))
    low = np.floor(np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, n))))
    volume = rng.integers(10_000, 1_000_000, n).astype(float) * divisor
    shares = 10_000_000.0 * divisor
    change = close - base
    frame = pd.DataFrame({
        "date": days, "ticker": ticker, "region": "KR", "asset_type": asset_type, "open": open_, "high": high, "low": low,
        "close": close, "change": change, "change_pct": np.round(change / base * 100, 2),
        "volume": volume, "value": volume * close, "market_cap": close * shares, "listed_shares": shares,
    })
    if ticker == NULL_OPEN_TICKER:  # traded nothing: KRX shows no open/high/low
        i = days.index(NULL_OPEN_DAY)
        frame.loc[i, ["open", "high", "low"]] = np.nan
        frame.loc[i, ["volume", "value"]] = 0.0
        frame.loc[i, "close"] = frame.loc[i - 1, "close"]
        frame.loc[i, "change"] = 0.0
        frame.loc[i + 1, "change"] = frame.loc[i + 1, "close"] - frame.loc[i, "close"]
    if ticker == PENNY_TICKER:  # base price one tick off: rounding, not a corporate action
        i = days.index(PENNY_DAY)
        frame.loc[i, "change"] -= tick(frame.loc[i - 1, "close"])
    return frame


def make_market(seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ohlcv_data rows, tickers rows) of the synthetic market."""
    rng = np.random.default_rng(seed)
    parts = []
    for ticker in KOSPI + KOSDAQ:
        p0 = 150.0 if ticker == PENNY_TICKER else (50_000.0 if ticker == SPLIT_TICKER else rng.uniform(3_000, 150_000))
        days = DAYS[-SHORT_DAYS:] if ticker == SHORT_TICKER else DAYS
        parts.append(_ticker_bars(rng, ticker, "STOCK", p0, days))
    parts.append(_ticker_bars(rng, ETF_TICKER, "ETF", 35_000.0, DAYS))
    bars = pd.concat(parts, ignore_index=True)
    tickers = pd.DataFrame({
        "ticker": KOSPI + KOSDAQ + [ETF_TICKER],
        "region": "KR",
        "name": [f"Name {t}" for t in KOSPI + KOSDAQ + [ETF_TICKER]],
        "exchange": ["KOSPI"] * len(KOSPI) + ["KOSDAQ"] * len(KOSDAQ) + ["KOSPI"],  # KRX ETFs: KOSPI board
        "asset_type": ["STOCK"] * (len(KOSPI) + len(KOSDAQ)) + ["ETF"],
        "currency": "KRW",
    })
    return bars, tickers


def load_market(warehouse, bars: pd.DataFrame, tickers: pd.DataFrame) -> None:
    with psycopg.connect(warehouse.url(), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(DERIVED_TABLES)}")
    warehouse.replace_partition("tickers", tickers, where={"region": "KR"})
    warehouse.replace_partition("ohlcv_data", bars, where={"region": "KR", "date": (DAYS[0], DAYS[-1])})


@pytest.fixture()
def market(warehouse):
    bars, tickers = make_market()
    load_market(warehouse, bars, tickers)
    return bars


def table(warehouse, name: str) -> pd.DataFrame:
    """A bucket table with its bucket column (month/quarter/year) read as `period_start`."""
    frame = warehouse.read_frame(f"SELECT * FROM {name} ORDER BY ticker, {BUCKET[name]}")
    assert set(frame["region"]) <= {"KR"}
    return frame.rename(columns={BUCKET[name]: "period_start"})


def expected_buckets(bars: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Independent aggregate: pandas groupby on the frame we generated."""
    df = bars.copy()
    df["period_start"] = pd.to_datetime(df["date"]).dt.to_period(freq).dt.start_time.dt.date
    df = df.sort_values(["ticker", "date"])
    rows = []
    for (ticker, start), g in df.groupby(["ticker", "period_start"]):
        opened = g[g["open"].notna()]
        rows.append({
            "ticker": ticker, "period_start": start, "open": opened["open"].iloc[0] if len(opened) else None,
            "high": g["high"].max(), "low": g["low"].min(), "close": g["close"].iloc[-1],
            "volume": g["volume"].sum(), "value": g["value"].sum(), "trading_days": len(g),
            "first_date": g["date"].iloc[0], "last_date": g["date"].iloc[-1],
            "market_cap": g["market_cap"].iloc[-1],
        })
    return pd.DataFrame(rows)


def assert_matches(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    merged = expected.merge(actual, on=["ticker", "period_start"], suffixes=("_exp", ""), how="outer",
                            indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    for col in ("open", "high", "low", "close", "volume", "value", "trading_days", "market_cap"):
        got = merged[col].astype(float).to_numpy()
        exp = merged[f"{col}_exp"].astype(float).to_numpy()
        np.testing.assert_allclose(got, exp, rtol=0, atol=0.5, err_msg=col)
    assert (merged["first_date"] == merged["first_date_exp"]).all()
    assert (merged["last_date"] == merged["last_date_exp"]).all()


def month_key(day: dt.date) -> str:
    return day.replace(day=1).isoformat()


def materializations(result) -> list[str]:
    return sorted(e.event_specific_data.materialization.partition for e in result.all_events
                  if e.event_type_value == "ASSET_MATERIALIZATION")


def check_results(result) -> dict[str, bool]:
    return {e.event_specific_data.check_name: e.event_specific_data.passed for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_month_with_null_open_and_split_matches_pandas(warehouse, market):
    from quant_assets.assets.aggregates import ohlcv_monthly

    for day in (NULL_OPEN_DAY, SPLIT_DAY):
        key = month_key(day)
        result = dg.materialize([ohlcv_monthly], resources={"warehouse": warehouse}, partition_key=key)
        assert materializations(result) == [key]
        assert check_results(result) == {"reconciles_with_daily": True, "no_missing_days": True}
        meta = result.asset_materializations_for_node("ohlcv_monthly")[0].metadata
        in_month = market[pd.to_datetime(market["date"]).dt.to_period("M") == pd.Period(day, "M")]
        assert meta["dagster/row_count"].value == in_month["ticker"].nunique()
        assert "dagster/column_schema" in meta and "preview" in meta
    expected = expected_buckets(market, "M")
    expected = expected[expected["period_start"].isin([day.replace(day=1) for day in (NULL_OPEN_DAY, SPLIT_DAY)])]
    actual = table(warehouse, "ohlcv_monthly")
    assert_matches(actual, expected)
    # the no-trade first day is skipped for the open; the split month mixes raw bases (documented)
    null_row = actual[(actual["ticker"] == NULL_OPEN_TICKER) & (actual["period_start"] == NULL_OPEN_DAY.replace(day=1))]
    day2 = market[(market["ticker"] == NULL_OPEN_TICKER) & (market["date"] > NULL_OPEN_DAY)].iloc[0]
    assert null_row["open"].iloc[0] == day2["open"]


def test_ranged_backfill_is_one_run_and_rerun_is_identical(warehouse, market):
    from quant_assets.assets.aggregates import ohlcv_monthly, ohlcv_quarterly, ohlcv_yearly

    first, last = month_key(DAYS[0]), month_key(DAYS[-1])
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    result = dg.materialize([ohlcv_monthly], resources={"warehouse": warehouse}, tags=tags)
    months = sorted({month_key(d) for d in DAYS})
    assert materializations(result) == months  # one run, one event per bucket
    once = table(warehouse, "ohlcv_monthly")
    assert_matches(once, expected_buckets(market, "M"))
    dg.materialize([ohlcv_monthly], resources={"warehouse": warehouse}, tags=tags)
    pd.testing.assert_frame_equal(once, table(warehouse, "ohlcv_monthly"))

    quarters = sorted({f"{d.year}-{(d.month - 1) // 3 * 3 + 1:02d}-01" for d in DAYS})
    dg.materialize([ohlcv_quarterly], resources={"warehouse": warehouse}, tags={
        "dagster/asset_partition_range_start": quarters[0], "dagster/asset_partition_range_end": quarters[-1]})
    assert_matches(table(warehouse, "ohlcv_quarterly"), expected_buckets(market, "Q"))
    for year in sorted({d.year for d in DAYS}):
        dg.materialize([ohlcv_yearly], resources={"warehouse": warehouse}, partition_key=f"{year}-01-01")
    assert_matches(table(warehouse, "ohlcv_yearly"), expected_buckets(market, "Y"))


def test_missing_day_inside_month_aggregates_what_exists_and_warns(warehouse, market):
    from quant_assets.assets.aggregates import ohlcv_monthly

    hole = DAYS[120]
    warehouse.execute("DELETE FROM ohlcv_data WHERE date = %s", (hole,))
    result = dg.materialize([ohlcv_monthly], resources={"warehouse": warehouse}, partition_key=month_key(hole))
    assert check_results(result) == {"reconciles_with_daily": True, "no_missing_days": False}
    expected = expected_buckets(market[market["date"] != hole], "M")
    expected = expected[expected["period_start"] == hole.replace(day=1)]
    assert_matches(table(warehouse, "ohlcv_monthly"), expected)
    # a day KRX proved closed (ad-hoc closure) is not a hole
    warehouse.record_status("ohlcv", hole, "market_closed", region="KR", reason="test")
    result = dg.materialize([ohlcv_monthly], resources={"warehouse": warehouse}, partition_key=month_key(hole))
    assert check_results(result)["no_missing_days"] is True


def test_current_partial_month(warehouse):
    from quant_assets.assets.aggregates import ohlcv_monthly
    from quant_assets.calendar import now_kst

    today = now_kst().date()
    loaded = trading_days(today.replace(day=1), today - dt.timedelta(days=1))
    if len(loaded) < 2:
        pytest.skip("too early in the month for a partial-month check")
    bars = make_market()[0]
    bars = bars[bars["date"].isin(DAYS[-len(loaded):])].copy()
    bars["date"] = bars["date"].map(dict(zip(DAYS[-len(loaded):], loaded, strict=True)))
    load_market(warehouse, bars.iloc[:0], make_market()[1])
    warehouse.replace_partition("ohlcv_data", bars, where={"region": "KR", "date": (loaded[0], loaded[-1])})
    key = month_key(today)  # exists thanks to end_offset=1 on the monthly partitions
    dg.materialize([ohlcv_monthly], resources={"warehouse": warehouse}, partition_key=key)
    actual = table(warehouse, "ohlcv_monthly")
    assert set(actual["trading_days"]) == {len(loaded)}
    assert_matches(actual, expected_buckets(bars, "M"))



def test_seed_indicator_columns_are_the_first_and_last_days_indicators(warehouse, market):
    """ma5_start = ma5 of the ticker's first trading day in the bucket, ma20_end / ma60_end /
    rsi_14_end = those of its last day (as technical_analysis wrote them on the bars); the quarter
    also carries the stddev of its closes and its high-low range over the first open."""
    from quant_assets.assets.aggregates import ohlcv_monthly, ohlcv_quarterly, ohlcv_yearly
    from quant_assets.assets.technical import technical_analysis

    res = {"warehouse": warehouse}
    days = {"dagster/asset_partition_range_start": DAYS[0].isoformat(),
            "dagster/asset_partition_range_end": DAYS[-1].isoformat()}
    assert dg.materialize([technical_analysis], resources=res, tags=days).success
    months = sorted({month_key(d) for d in DAYS})
    quarters = sorted({f"{d.year}-{(d.month - 1) // 3 * 3 + 1:02d}-01" for d in DAYS})
    dg.materialize([ohlcv_monthly], resources=res, tags={"dagster/asset_partition_range_start": months[0],
                                                         "dagster/asset_partition_range_end": months[-1]})
    dg.materialize([ohlcv_quarterly], resources=res, tags={"dagster/asset_partition_range_start": quarters[0],
                                                           "dagster/asset_partition_range_end": quarters[-1]})
    for year in sorted({d.year for d in DAYS}):
        dg.materialize([ohlcv_yearly], resources=res, partition_key=f"{year}-01-01")
    bars = warehouse.read_frame("SELECT ticker, date, ma5, ma20, ma60, rsi_14 FROM ohlcv_data").set_index(
        ["ticker", "date"])
    assert bars["ma20"].notna().mean() > 0.9  # technical_analysis filled the bars
    for name in ("ohlcv_monthly", "ohlcv_quarterly", "ohlcv_yearly"):
        agg = table(warehouse, name)
        first = bars.loc[list(zip(agg["ticker"], agg["first_date"], strict=True))]
        last = bars.loc[list(zip(agg["ticker"], agg["last_date"], strict=True))]
        np.testing.assert_array_equal(agg["ma5_start"].to_numpy(float), first["ma5"].to_numpy(float), err_msg=name)
        for col in ("ma20", "ma60", "rsi_14"):
            np.testing.assert_array_equal(agg[f"{col}_end"].to_numpy(float), last[col].to_numpy(float),
                                          err_msg=f"{name}.{col}_end")
        assert agg["ma20_end"].notna().any()
    # the first month: ma5 of its first day and ma60 of its last day are legitimately empty
    monthly = table(warehouse, "ohlcv_monthly")
    opening = monthly[monthly["period_start"] == DAYS[0].replace(day=1)]
    assert opening["ma5_start"].isna().all() and opening["ma60_end"].isna().all()
    assert opening["first_date"].min() == DAYS[0]
    assert "price_volatility" not in monthly.columns

    quarterly = table(warehouse, "ohlcv_quarterly").set_index(["ticker", "period_start"])
    df = market.copy()
    df["period_start"] = pd.to_datetime(df["date"]).dt.to_period("Q").dt.start_time.dt.date
    df = df.sort_values(["ticker", "date"])
    for (ticker, start), g in df.groupby(["ticker", "period_start"]):
        row = quarterly.loc[(ticker, start)]
        if len(g) > 1:
            assert row["price_volatility"] == pytest.approx(g["close"].std(ddof=1), rel=1e-9)
        else:
            assert pd.isna(row["price_volatility"])
        first_open = g["open"].dropna().iloc[0]
        expected = (g["high"].max() - g["low"].min()) / first_open * 100
        assert row["quarter_range_pct"] == pytest.approx(expected, rel=1e-9), (ticker, start)


def test_ranged_buckets_are_one_statement_identical_to_per_bucket_runs(warehouse, market):
    """The buckets of a ranged run come from ONE INSERT ... SELECT (bucket_sql.refresh_buckets);
    they equal what one run per bucket writes, a re-run writes them again unchanged, and each
    bucket gets its own materialization and its own check evaluations."""
    import inspect

    from quant_assets.assets.aggregates import ohlcv_monthly, ohlcv_quarterly
    from quant_assets.assets.reporting import report_partitions

    months = sorted({month_key(d) for d in DAYS})
    quarters = sorted({f"{d.year}-{(d.month - 1) // 3 * 3 + 1:02d}-01" for d in DAYS})
    hole = DAYS[40]
    warehouse.execute("DELETE FROM ohlcv_data WHERE date = %s", (hole,))   # one month WARNs, alone
    for asset, name, keys in ((ohlcv_monthly, "ohlcv_monthly", months), (ohlcv_quarterly, "ohlcv_quarterly", quarters)):
        single_checks = {}
        for key in keys:
            one = dg.materialize([asset], resources={"warehouse": warehouse}, partition_key=key)
            assert one.success
            single_checks[key] = check_results(one)
        per_bucket = table(warehouse, name).drop(columns=["created_at", "updated_at"], errors="ignore")
        warehouse.execute(f"TRUNCATE {name}")
        tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
        result = dg.materialize([asset], resources={"warehouse": warehouse}, tags=tags)
        assert result.success and materializations(result) == keys
        meta = result.asset_materializations_for_node(name)[0].metadata
        assert meta["buckets_in_statement"].value == len(keys)
        ranged = table(warehouse, name).drop(columns=["created_at", "updated_at"], errors="ignore")
        pd.testing.assert_frame_equal(ranged, per_bucket)
        assert dg.materialize([asset], resources={"warehouse": warehouse}, tags=tags).success
        pd.testing.assert_frame_equal(table(warehouse, name).drop(columns=["created_at", "updated_at"],
                                                                  errors="ignore"), ranged)
        if "partition_checks" in inspect.signature(report_partitions).parameters:
            evaluations = [e.event_specific_data for e in result.all_events
                           if e.event_type_value == "ASSET_CHECK_EVALUATION"]
            by_key = {(ev.check_name, ev.partition): ev.passed for ev in evaluations if ev.partition}
            assert {k for _, k in by_key} == set(keys)
            assert all(by_key[("reconciles_with_daily", k)] for k in keys)
            # the same verdict per bucket as one run per bucket: the hole's bucket WARNs (so does a
            # last bucket the data stops inside of), the others pass
            for check in ("reconciles_with_daily", "no_missing_days"):
                assert {k: by_key[(check, k)] for k in keys} == {k: single_checks[k][check] for k in keys}
            holed = month_key(hole) if name == "ohlcv_monthly" else f"{hole.year}-{(hole.month - 1) // 3 * 3 + 1:02d}-01"
            assert not by_key[("no_missing_days", holed)]
            assert by_key[("no_missing_days", keys[1])] or holed == keys[1]
