"""technical_analysis against an independent computation, on bars loaded from the simulator.

The simulator's KRX speaks the real protocol over HTTP; `daily_prices` loads ~16 months of bars
(2017-03 .. 2018-06) into the warehouse once for this module, `adjustment_factors` finds Samsung
Electronics' 1:50 split of 2018-05-04 (the simulator's model of it, not ours, is the truth here).
The expected indicators are computed in this file with pandas / numpy from the definitions —
rolling means, Wilder's RSI and ATR (seeded with the simple mean of the first 14 values, as
Wilder defines them), EMA-based MACD, Bollinger bands with the population stdev — over the
ticker's bars in the 300 trading days ending at D, split-adjusted to D's share basis with the
simulator's own split list.

MACD's EMAs are compared only where the window holds >= 250 bars: TA-Lib seeds its EMAs with a
simple mean at a position of its own choosing, pandas' ewm with the first value, and the two
agree once the seed has decayed ((25/27)^220 ~ 1e-8), not before.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import psycopg
import pytest

from quant_assets.calendar import previous_trading_days, trading_days

LOAD_FIRST, LOAD_LAST = dt.date(2017, 3, 2), dt.date(2018, 6, 29)
SPLIT_TICKER, SPLIT_DAY, SPLIT = "005930", dt.date(2018, 5, 4), 50
RANGE_FIRST = dt.date(2018, 3, 2)
EARLY = dt.date(2017, 9, 1)           # ~125 bars loaded: ma200 legitimately empty, ma120 filled
CHECK_DAYS = [dt.date(2018, 3, 2), dt.date(2018, 5, 3), SPLIT_DAY, dt.date(2018, 5, 8), LOAD_LAST]
INDICATORS = ["ma5", "ma20", "ma60", "ma120", "ma200", "rsi_14", "macd", "macd_signal", "macd_hist",
              "bb_upper", "bb_middle", "bb_lower", "atr_14", "volume_ma20", "volume_ratio"]


def range_tags(first: dt.date, last: dt.date) -> dict:
    return {"dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat()}


@pytest.fixture(scope="module")
def loaded(simulator, database_url):
    """The warehouse with the simulator's bars of LOAD_FIRST..LOAD_LAST and their split factors
    (loaded once for the module; no test here truncates)."""
    from quant_assets.assets import prices, reference
    from quant_assets.assets.ranges import adjustment_factors
    from quant_assets.resources.krx import KRXClient
    from quant_assets.resources.warehouse import Warehouse

    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('schema_migrations', 'regions') "
            "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = (quote_ident(tablename))::regclass)")]
        conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    warehouse = Warehouse(database_url=database_url)
    krx = KRXClient(base_url=simulator.krx_url, requests_per_second=200, backoff_seconds=0.05, max_retries=2)
    res = {"krx": krx, "warehouse": warehouse}
    assert dg.materialize([reference.stock_list, reference.etf_list], resources=res).success
    assert dg.materialize([prices.daily_prices], resources=res, tags=range_tags(LOAD_FIRST, LOAD_LAST)).success
    assert dg.materialize([adjustment_factors], resources={"warehouse": warehouse},
                          tags=range_tags(trading_days(LOAD_FIRST, LOAD_LAST)[1], LOAD_LAST)).success
    return warehouse


def simulator_splits(simulator) -> list[tuple[str, dt.date, float]]:
    """(ticker, ex-date, ratio) of every split the simulated market has in the loaded span."""
    m = simulator.market
    out = []
    for i, t, r in zip(m.split_i, m.split_t, m.split_r, strict=True):
        day = m.dates[int(t)]
        if LOAD_FIRST < day <= LOAD_LAST:
            out.append((m.stocks.code[int(i)], day, float(r)))
    return out


def raw_bars(warehouse, start: dt.date, end: dt.date) -> pd.DataFrame:
    return warehouse.read_frame(
        "SELECT ticker, date, open, high, low, close, volume::float8 AS volume FROM ohlcv_data "
        "WHERE region = 'KR' AND timeframe = 'D' AND date >= %s AND date <= %s ORDER BY ticker, date", (start, end))


def stored(warehouse, days: list[dt.date]) -> pd.DataFrame:
    cols = ", ".join(INDICATORS)
    return warehouse.read_frame(
        f"SELECT ticker, date, {cols} FROM ohlcv_data WHERE region = 'KR' AND date = ANY(%s) ORDER BY date, ticker",
        (days,)).set_index(["date", "ticker"])


# -- the independent computation ----------------------------------------------------------------
def wilder(values: np.ndarray, n: int) -> np.ndarray:
    """Wilder's smoothing: first value = mean of the first n, then (prev x (n-1) + x) / n."""
    out = np.full(len(values), np.nan)
    if len(values) >= n:
        out[n - 1] = values[:n].mean()
        for i in range(n, len(values)):
            out[i] = (out[i - 1] * (n - 1) + values[i]) / n
    return out


def expected_for(g: pd.DataFrame) -> dict[str, float]:
    """The indicators of the last bar of `g` (one ticker's adjusted bars of D's window, oldest first)."""
    c, h, low, v = (g[k].to_numpy(float) for k in ("close", "high", "low", "volume"))
    n = len(c)
    close = pd.Series(c)
    out = {f"ma{k}": close.rolling(k).mean().iloc[-1] for k in (5, 20, 60, 120, 200)}
    diff = np.diff(c)
    gain, loss = wilder(np.clip(diff, 0, None), 14), wilder(np.clip(-diff, 0, None), 14)
    out["rsi_14"] = (100 * gain[-1] / (gain[-1] + loss[-1])) if n > 14 else np.nan
    fast = close.ewm(span=12, adjust=False).mean()
    slow = close.ewm(span=26, adjust=False).mean()
    macd = fast - slow
    signal = macd.ewm(span=9, adjust=False).mean()
    out["macd"], out["macd_signal"] = macd.iloc[-1], signal.iloc[-1]
    out["macd_hist"] = out["macd"] - out["macd_signal"]
    mid, sd = close.rolling(20).mean().iloc[-1], close.rolling(20).std(ddof=0).iloc[-1]
    out["bb_middle"], out["bb_upper"], out["bb_lower"] = mid, mid + 2 * sd, mid - 2 * sd
    prev = np.concatenate([[np.nan], c[:-1]])
    tr = np.nanmax(np.vstack([h - low, np.abs(h - prev), np.abs(low - prev)]), axis=0)[1:]
    out["atr_14"] = wilder(tr, 14)[-1] if n > 14 else np.nan
    vma = pd.Series(v).rolling(20).mean().iloc[-1]
    out["volume_ma20"] = vma
    out["volume_ratio"] = v[-1] / vma if vma > 0 else np.nan
    return out


def expected(warehouse, simulator, day: dt.date) -> pd.DataFrame:
    start = previous_trading_days(day, 300)[0]
    bars = raw_bars(warehouse, start, day)
    bars["high"] = bars["high"].fillna(bars["close"])   # a bar without trades: flat at its close
    bars["low"] = bars["low"].fillna(bars["close"])
    for ticker, ex_date, ratio in simulator_splits(simulator):
        if ex_date <= day:
            pre = (bars["ticker"] == ticker) & (bars["date"] < ex_date)
            bars.loc[pre, ["open", "high", "low", "close"]] /= ratio
            bars.loc[pre, "volume"] *= ratio
    rows = {t: expected_for(g) for t, g in bars.groupby("ticker") if g["date"].iloc[-1] == day}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame["bars"] = bars.groupby("ticker").size()
    return frame


STEP = 1e-4   # KR indicators are stored to 4 decimals (technical.STORED_DECIMALS)


def assert_matches(got: pd.DataFrame, exp: pd.DataFrame, label: str) -> None:
    assert sorted(got.index) == sorted(exp.index), label
    got = got.loc[exp.index]
    long = exp["bars"] >= 250
    for col in INDICATORS:
        g, e = got[col].to_numpy(float), exp[col].to_numpy(float)
        filled = g[~np.isnan(g)]
        np.testing.assert_array_equal(filled, np.round(filled, 4), err_msg=f"{label} {col} not 4 decimals")
        if col.startswith("macd"):
            if not long.any():
                continue
            g, e = g[long.to_numpy()], e[long.to_numpy()]
            scale = got["ma20"].to_numpy(float)[long.to_numpy()]   # MACD is near 0: compare in price units
            # macd_hist is the difference of the two rounded values: within one step
            np.testing.assert_allclose(g, e, rtol=0, atol=STEP + 1e-7 * np.nanmax(scale), err_msg=f"{label} {col}")
            continue
        np.testing.assert_array_equal(np.isnan(g), np.isnan(e), err_msg=f"{label} {col} NULL pattern")
        # the recursive ones of a ranged run start from the range's first window (decayed seed)
        rtol = 1e-7 if col in ("rsi_14", "atr_14") else 1e-9
        np.testing.assert_allclose(g, e, rtol=rtol, atol=STEP / 2 + 1e-9, err_msg=f"{label} {col}")
    hist = np.round(got["macd"].to_numpy(float) - got["macd_signal"].to_numpy(float), 4)
    np.testing.assert_array_equal(got["macd_hist"].to_numpy(float), hist, err_msg=f"{label} macd_hist exact")


# -- tests ----------------------------------------------------------------------------------------
def test_split_is_in_the_loaded_span(loaded, simulator):
    splits = simulator_splits(simulator)
    assert (SPLIT_TICKER, SPLIT_DAY, float(SPLIT)) in splits
    found = loaded.read_frame("SELECT ticker, ex_date, factor FROM adjustment_factors WHERE region = 'KR'")
    assert {(t, d) for t, d, _ in splits} <= set(zip(found["ticker"], found["ex_date"], strict=True))


def test_ranged_run_matches_independent_computation_and_per_day_runs(loaded, simulator):
    from quant_assets.assets.technical import technical_analysis

    days = trading_days(RANGE_FIRST, LOAD_LAST)
    result = dg.materialize([technical_analysis], resources={"warehouse": loaded},
                            tags=range_tags(RANGE_FIRST, LOAD_LAST))
    assert result.success
    events = [e.event_specific_data.materialization for e in result.all_events
              if e.event_type_value == "ASSET_MATERIALIZATION"]
    assert sorted(m.partition for m in events) == [d.isoformat() for d in days]   # one event per day
    meta = next(m.metadata for m in events if m.partition == LOAD_LAST.isoformat())
    bars_on_last = loaded.read_frame("SELECT count(*) AS n FROM ohlcv_data WHERE date = %s", (LOAD_LAST,))
    assert meta["rows_updated"].value == meta["dagster/row_count"].value == int(bars_on_last["n"].iloc[0])
    assert set(meta["coverage"].value) == set(INDICATORS) and 0 < meta["coverage"].value["ma200"] <= 1

    ranged = stored(loaded, CHECK_DAYS)
    for day in CHECK_DAYS:
        assert_matches(ranged.loc[pd.Timestamp(day).date()], expected(loaded, simulator, day), f"ranged {day}")

    # the split: adjusted, D's basis — before the ex-date the indicators sit at pre-split prices
    raw = raw_bars(loaded, dt.date(2018, 5, 3), dt.date(2018, 5, 4)).set_index(["ticker", "date"])["close"]
    before = ranged.loc[(dt.date(2018, 5, 3), SPLIT_TICKER)]
    after = ranged.loc[(SPLIT_DAY, SPLIT_TICKER)]
    # (on the close's scale: within a factor 2 of it — a random walk's 200-day mean may sit 35 %
    # off the close, and the simulator draws its paths anew as its horizon moves with today — where
    # the unadjusted window would sit 50x above the post-split close)
    assert 0.5 < before["ma200"] / raw[(SPLIT_TICKER, dt.date(2018, 5, 3))] < 2
    assert 0.5 < after["ma200"] / raw[(SPLIT_TICKER, SPLIT_DAY)] < 2
    assert before["ma200"] / after["ma200"] == pytest.approx(SPLIT, rel=0.05)
    assert 0 < after["rsi_14"] < 100 and after["atr_14"] < raw[(SPLIT_TICKER, SPLIT_DAY)] * 0.2

    # per-day runs give the same values (a different EMA seed only, decayed to noise)
    for day in CHECK_DAYS:
        dg.materialize([technical_analysis], resources={"warehouse": loaded}, partition_key=day.isoformat())
    single = stored(loaded, CHECK_DAYS)
    pd.testing.assert_index_equal(single.index, ranged.index)
    for col in INDICATORS:
        np.testing.assert_array_equal(single[col].isna().to_numpy(), ranged[col].isna().to_numpy(), err_msg=col)
        scale = single["ma20"].abs().to_numpy() if col.startswith("macd") else single[col].abs().to_numpy()
        np.testing.assert_array_less(np.nan_to_num(np.abs(single[col].to_numpy() - ranged[col].to_numpy())),
                                     1e-7 * np.nan_to_num(scale) + 1e-9, err_msg=col)


def test_short_window_leaves_long_indicators_empty(loaded, simulator):
    from quant_assets.assets.technical import technical_analysis

    result = dg.materialize([technical_analysis], resources={"warehouse": loaded}, partition_key=EARLY.isoformat())
    got = stored(loaded, [EARLY]).loc[EARLY]
    exp = expected(loaded, simulator, EARLY)
    assert exp["bars"].max() < 200
    assert got["ma200"].isna().all() and got["ma120"].notna().any()
    assert_matches(got, exp, f"early {EARLY}")
    coverage = result.asset_materializations_for_node("technical_analysis")[0].metadata["coverage"].value
    assert coverage["ma200"] == 0.0 and coverage["ma20"] == 1.0
    # volume_ratio is empty exactly where its mean volume is missing or 0 — never defaulted
    assert (got["volume_ratio"].isna() == (got["volume_ma20"].isna() | (got["volume_ma20"] == 0))).all()


def test_reingested_day_resets_and_rerun_restores(loaded, simulator):
    from quant_assets.assets import prices
    from quant_assets.assets.technical import technical_analysis
    from quant_assets.resources.krx import KRXClient

    day = dt.date(2018, 6, 28)
    dg.materialize([technical_analysis], resources={"warehouse": loaded}, partition_key=day.isoformat())
    first = stored(loaded, [day])
    krx = KRXClient(base_url=simulator.krx_url, requests_per_second=200, backoff_seconds=0.05, max_retries=2)
    assert dg.materialize([prices.daily_prices], resources={"krx": krx, "warehouse": loaded},
                          partition_key=day.isoformat()).success
    assert stored(loaded, [day])["ma20"].isna().all()   # the ingest replaced the rows
    dg.materialize([technical_analysis], resources={"warehouse": loaded}, partition_key=day.isoformat())
    pd.testing.assert_frame_equal(first, stored(loaded, [day]))


def test_day_without_bars_fails_alone(loaded):
    from quant_assets.assets.technical import technical_analysis

    missing = dt.date(2018, 7, 2)   # a trading day after the loaded span
    days = [dt.date(2018, 6, 28), LOAD_LAST]
    loaded.execute("UPDATE ohlcv_data SET ma20 = NULL WHERE date = ANY(%s)", (days,))
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([technical_analysis], resources={"warehouse": loaded}, raise_on_error=False,
                            instance=instance, tags=range_tags(days[0], missing))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "1 of 3 partition(s) failed" in message and "ohlcv for KR 2018-07-02 is not loaded" in message
    # the other days are written and recorded as materialized partitions
    assert instance.get_materialized_partitions(dg.AssetKey("technical_analysis")) == {d.isoformat() for d in days}
    assert stored(loaded, days)["ma20"].notna().all()


def row_versions(warehouse, days: list[dt.date]) -> pd.DataFrame:
    """The transaction that wrote each bar's current row version (xmin): unchanged = not rewritten."""
    with psycopg.connect(warehouse.url()) as conn:
        return pd.DataFrame(conn.execute(
            "SELECT ticker, date, xmin::text FROM ohlcv_data WHERE region = 'KR' AND date = ANY(%s) "
            "ORDER BY ticker, date", (days,)).fetchall(), columns=["ticker", "date", "xmin"])


def test_ranged_rerun_is_identical_and_one_write_covers_the_range(loaded):
    """A ranged run writes its days with one statement; running it again leaves every bar as it
    is: same values, and no row rewritten (a bar already holding the computed values is skipped)."""
    from quant_assets.assets.technical import technical_analysis

    first, last = dt.date(2018, 6, 1), LOAD_LAST
    days = trading_days(first, last)
    with psycopg.connect(loaded.url(), autocommit=True) as conn:   # the last day as a fresh ingest leaves it
        conn.execute("UPDATE ohlcv_data SET ma20 = NULL WHERE region = 'KR' AND date = %s", (last,))
    result = dg.materialize([technical_analysis], resources={"warehouse": loaded}, tags=range_tags(first, last))
    assert result.success
    meta = result.asset_materializations_for_node("technical_analysis")[-1].metadata
    assert meta["days_in_pass"].value == len(days) and meta["bars_read"].value > 0
    by_day = {m.partition: m.metadata for m in result.asset_materializations_for_node("technical_analysis")}
    assert by_day[last.isoformat()]["rows_changed"].value == by_day[last.isoformat()]["rows_updated"].value > 0
    once, versions = stored(loaded, days), row_versions(loaded, days)
    assert once["ma20"].notna().mean() > 0.9
    again = dg.materialize([technical_analysis], resources={"warehouse": loaded}, tags=range_tags(first, last))
    assert again.success
    pd.testing.assert_frame_equal(once, stored(loaded, days))
    metas = [m.metadata for m in again.asset_materializations_for_node("technical_analysis")]
    assert len(metas) == len(days) and all(m["rows_changed"].value == 0 < m["rows_updated"].value for m in metas)
    pd.testing.assert_frame_equal(versions, row_versions(loaded, days))


def test_set_based_write_rolls_back_and_isolates_a_changed_day(loaded):
    """A day whose bars changed between read and write (here: one bar fewer in the computed frame)
    fails the chunk's single statement as a whole - nothing written - and the day-by-day fallback
    then writes every other day and fails only that one."""
    from quant_assets.assets.technical import INDICATORS as COLS
    from quant_assets.assets.technical import compute, read_bars, read_factors, window_start, write
    from quant_assets.assets.technical_io import WriteMismatch, write_days

    days = [dt.date(2018, 6, 26), dt.date(2018, 6, 27), dt.date(2018, 6, 28)]
    with psycopg.connect(loaded.url(), autocommit=True) as conn:
        start = window_start(days[0])
        frame = compute(read_bars(conn, "KR", start, days[-1]), read_factors(conn, "KR", start, days[-1]), days, "KR")
        short = frame.drop(frame.index[(frame["date"] == pd.Timestamp(days[1])).to_numpy()][:1])
        conn.execute("UPDATE ohlcv_data SET ma20 = NULL, rsi_14 = NULL WHERE date = ANY(%s)", (days,))
        with pytest.raises(WriteMismatch) as err:
            write_days(conn, "KR", short, COLS)
        assert set(err.value.days) == {days[1]}
        assert stored(loaded, days)["ma20"].isna().all()            # the whole statement rolled back
        written, failed = write(conn, "KR", short)
    assert set(written) == {days[0], days[2]} and set(failed) == {days[1]}
    assert "technical_analysis KR 2018-06-27" in failed[days[1]] and "re-run the day" in failed[days[1]]
    got = stored(loaded, days)
    assert got.loc[[days[0], days[2]], "ma20"].notna().all() and got.loc[days[1], "ma20"].isna().all()
    want = frame.set_index(["date", "ticker"]).loc[pd.Timestamp(days[0])]
    np.testing.assert_allclose(got.loc[days[0]]["rsi_14"].to_numpy(float), want["rsi_14"].to_numpy(float),
                               rtol=0, atol=0, equal_nan=True)           # binary COPY: bit-exact doubles


def test_a_bar_matching_no_row_rolls_the_chunk_back(loaded):
    """Per-day bar counts agree but one computed bar names a ticker the day does not hold: the
    UPDATE matches one row fewer than computed, and the whole statement is rolled back."""
    from quant_assets.assets.technical import INDICATORS as COLS
    from quant_assets.assets.technical import compute, read_bars, read_factors, window_start
    from quant_assets.assets.technical_io import WriteMismatch, write_days

    days = [dt.date(2018, 6, 26), dt.date(2018, 6, 27)]
    with psycopg.connect(loaded.url(), autocommit=True) as conn:
        start = window_start(days[0])
        frame = compute(read_bars(conn, "KR", start, days[-1]), read_factors(conn, "KR", start, days[-1]), days, "KR")
        renamed = frame.copy()
        renamed.loc[renamed.index[(renamed["date"] == pd.Timestamp(days[1])).to_numpy()][0], "ticker"] = "ZZ9999"
        conn.execute("UPDATE ohlcv_data SET ma20 = NULL WHERE date = ANY(%s)", (days,))
        with pytest.raises(WriteMismatch, match="of .* computed bars matched"):
            write_days(conn, "KR", renamed, COLS)
        assert stored(loaded, days)["ma20"].isna().all()
        written = write_days(conn, "KR", frame, COLS)
    assert set(written) == set(days) and all(0 < changed <= n for n, changed in written.values())
    assert stored(loaded, days)["ma20"].notna().mean() > 0.9
