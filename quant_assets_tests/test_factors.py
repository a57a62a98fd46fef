"""Factor scores for one day against hand computations on the synthetic market."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from quant_assets_tests.test_aggregates import (
    DAYS,
    ETF_TICKER,
    KOSDAQ,
    KOSPI,
    SHORT_TICKER,
    SPLIT,
    SPLIT_DAY,
    SPLIT_TICKER,
    check_results,
    market,  # noqa: F401  (fixture)
)

DAY = DAYS[-1]
LOSS_MAKER = "000050"  # KRX shows PER "-": no earnings yield, no ROE
GAPPY = "000070"  # 30% of its recent bars missing: below the 80% history rule


def fundamentals(bars: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    stocks = sorted(bars.loc[(bars["date"] == DAY) & (bars["asset_type"] == "STOCK"), "ticker"])
    frame = pd.DataFrame({
        "date": DAY, "ticker": stocks, "region": "KR", "period_type": "DAILY",
        "eps": rng.uniform(100, 5000, len(stocks)),
        "per": rng.uniform(4, 40, len(stocks)), "bps": rng.uniform(1000, 90000, len(stocks)),
        "pbr": rng.uniform(0.3, 4, len(stocks)), "dividend_per_share": rng.uniform(0, 2000, len(stocks)),
        "dividend_yield": rng.uniform(0, 6, len(stocks)),
    })
    frame.loc[frame["ticker"] == LOSS_MAKER, ["per", "eps"]] = [np.nan, -120.0]
    return frame.round(2).assign(currency="KRW", data_source="KRX")  # KRX publishes two decimals


@pytest.fixture()
def scored(warehouse, market):  # noqa: F811
    from quant_assets.assets.factors import factor_scores
    from quant_assets.assets.ranges import adjustment_factors

    warehouse.replace_partition("ticker_fundamentals", fundamentals(market),
                                where={"region": "KR", "period_type": "DAILY", "date": DAY})
    gaps = DAYS[-240:-120:4] + DAYS[-120:-64:2]  # 58 of the last 253 days; endpoints and last 64 kept
    warehouse.execute("DELETE FROM ohlcv_data WHERE ticker = %s AND date = ANY(%s)", (GAPPY, gaps))
    dg.materialize([adjustment_factors], resources={"warehouse": warehouse}, partition_key=SPLIT_DAY.isoformat())
    result = dg.materialize([factor_scores], resources={"warehouse": warehouse}, partition_key=DAY.isoformat())
    rows = warehouse.read_frame("SELECT * FROM factor_scores WHERE date = %s ORDER BY factor_name, ticker",
                                (DAY,))
    return result, rows, market[~((market["ticker"] == GAPPY) & market["date"].isin(gaps))]


def adjusted_closes(bars: pd.DataFrame) -> pd.DataFrame:
    """days x tickers of split-adjusted closes, computed here from the generated frame."""
    df = bars[bars["asset_type"] == "STOCK"].copy()
    pre = (df["ticker"] == SPLIT_TICKER) & (df["date"] < SPLIT_DAY)
    df.loc[pre, "close"] = df.loc[pre, "close"] / SPLIT
    return df.pivot(index="date", columns="ticker", values="close").reindex(DAYS)


def value_of(rows: pd.DataFrame, ticker: str, factor: str) -> float:
    hit = rows[(rows["ticker"] == ticker) & (rows["factor_name"] == factor)]
    assert len(hit) == 1, (ticker, factor)
    assert hit["region"].iloc[0] == "KR"
    return float(hit["raw_value"].iloc[0])


def test_factor_values_match_hand_computation(scored, market):  # noqa: F811
    result, rows, bars = scored
    assert check_results(result) == {"standardised": True, "coverage": True}
    closes = adjusted_closes(bars)
    c = closes[SPLIT_TICKER]
    # 12-1 momentum spans the 1:5 split: t-252 is before it, so it needs the ADJUSTED close
    assert DAYS[-253] < SPLIT_DAY < DAYS[-22]
    expected = c[DAYS[-22]] / c[DAYS[-253]] - 1
    assert value_of(rows, SPLIT_TICKER, "mom_12_1") == pytest.approx(expected, rel=1e-9)
    assert value_of(rows, SPLIT_TICKER, "mom_6_1") == pytest.approx(c[DAYS[-22]] / c[DAYS[-127]] - 1, rel=1e-9)
    assert value_of(rows, SPLIT_TICKER, "mom_3") == pytest.approx(c[DAYS[-1]] / c[DAYS[-64]] - 1, rel=1e-9)
    rets = np.diff(np.log(c.to_numpy()[-61:]))
    assert value_of(rows, SPLIT_TICKER, "low_vol_60") == pytest.approx(-rets.std(ddof=1) * np.sqrt(252), rel=1e-9)

    t = KOSPI[3]
    today = bars[(bars["ticker"] == t) & (bars["date"] == DAY)].iloc[0]
    fund = fundamentals(market).set_index("ticker").loc[t]
    values = bars[(bars["ticker"] == t) & bars["date"].isin(DAYS[-60:])]["value"]
    assert value_of(rows, t, "size") == pytest.approx(np.log(today["market_cap"]))
    assert value_of(rows, t, "value_bp") == pytest.approx(1 / fund["pbr"], rel=1e-12)
    assert value_of(rows, t, "value_ep") == pytest.approx(1 / fund["per"], rel=1e-12)
    assert value_of(rows, t, "quality_roe") == pytest.approx(fund["pbr"] / fund["per"], rel=1e-12)
    assert value_of(rows, t, "dividend_yield") == pytest.approx(fund["dividend_yield"])
    assert value_of(rows, t, "liquidity_60") == pytest.approx(np.log(values.mean()), rel=1e-12)


def _assert_scored(g: pd.DataFrame, score: str, percentile: str, label) -> None:
    """Independent winsorise + z-score and 0-100 percentile rank of one cross-section."""
    x = g["raw_value"].to_numpy()
    lo, hi = np.percentile(x, [1, 99])
    w = np.clip(x, lo, hi)
    np.testing.assert_allclose(g[score].to_numpy(), (w - w.mean()) / w.std(), atol=1e-9, err_msg=str(label))
    assert abs(g[score].mean()) < 1e-9, label
    assert g[score].std(ddof=0) == pytest.approx(1.0, abs=1e-9), label
    assert g[percentile].between(0, 100, inclusive="right").all(), label
    assert g.loc[g["raw_value"].idxmax(), percentile] == 100.0, label
    expected = pd.Series(x).rank(method="average", pct=True).to_numpy() * 100
    np.testing.assert_allclose(g[percentile].to_numpy(), expected, atol=1e-9, err_msg=str(label))


def test_cross_section_is_standardised_within_region_and_market(scored):
    _, rows, _ = scored
    assert set(rows["region"]) == {"KR"}
    for factor, g in rows.groupby("factor_name"):
        _assert_scored(g, "score", "percentile", factor)  # the region's cross-section (KOSPI + KOSDAQ)
    # market = the stock's exchange (tickers.exchange); market_* are within that market
    assert set(rows.loc[rows["ticker"].isin(KOSPI), "market"]) == {"KOSPI"}
    assert set(rows.loc[rows["ticker"].isin(KOSDAQ), "market"]) == {"KOSDAQ"}
    for (board, factor), g in rows.groupby(["market", "factor_name"]):
        assert g["market_score"].notna().all() and g["market_percentile"].notna().all(), (board, factor)
        _assert_scored(g, "market_score", "market_percentile", (board, factor))
    assert ETF_TICKER not in set(rows["ticker"])
    assert set(rows["factor_name"]) == {"mom_12_1", "mom_6_1", "mom_3", "low_vol_60", "low_vol_252", "size",
                                        "value_bp", "value_ep", "dividend_yield", "quality_roe", "liquidity_60"}
    # one row per (factor, ticker): the old per-universe rows are columns now
    assert not rows.duplicated(["factor_name", "ticker"]).any()


def test_short_or_gappy_history_gets_no_score_rather_than_a_wrong_one(scored):
    _, rows, _ = scored
    short = set(rows.loc[rows["ticker"] == SHORT_TICKER, "factor_name"])  # listed 60 trading days ago
    assert not short & {"mom_12_1", "mom_6_1", "mom_3", "low_vol_252"}
    assert {"low_vol_60", "size", "liquidity_60"} <= short  # 59 of 60 returns: enough
    gappy = set(rows.loc[rows["ticker"] == GAPPY, "factor_name"])
    assert not gappy & {"mom_12_1", "mom_6_1", "low_vol_252"}  # endpoints exist, coverage < 80%
    assert "mom_3" in gappy  # its last 64 days are only lightly gapped
    loss = set(rows.loc[rows["ticker"] == LOSS_MAKER, "factor_name"])
    assert "value_ep" not in loss and "quality_roe" not in loss and "value_bp" in loss


def test_rerun_gives_identical_rows(scored, warehouse):
    from quant_assets.assets.factors import factor_scores

    _, rows, _ = scored
    dg.materialize([factor_scores], resources={"warehouse": warehouse}, partition_key=DAY.isoformat())
    again = warehouse.read_frame("SELECT * FROM factor_scores WHERE date = %s ORDER BY factor_name, ticker",
                                 (DAY,))
    pd.testing.assert_frame_equal(rows, again)


def test_fundamentals_from_simulator_feed_value_factors(sim, warehouse):
    """The chain on simulator data: stock_list + prices + fundamentals (KRX) -> factor_scores."""
    from quant_assets.assets import prices, reference
    from quant_assets.assets.factors import factor_scores
    from quant_assets.assets.fundamentals import stock_fundamentals
    from quant_assets.resources.krx import KRXClient

    krx = KRXClient(base_url=sim.krx_url, requests_per_second=50, backoff_seconds=0.05, max_retries=2)
    res = {"krx": krx, "warehouse": warehouse}
    days = ["2024-03-04", "2024-03-05"]
    tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
    assert dg.materialize([reference.stock_list], resources=res).success
    assert dg.materialize([prices.daily_prices], resources=res, tags=tags).success
    result = dg.materialize([stock_fundamentals], resources=res, tags=tags)
    assert sorted(e.event_specific_data.materialization.partition for e in result.all_events
                  if e.event_type_value == "ASSET_MATERIALIZATION") == days
    stored = warehouse.read_frame("SELECT * FROM ticker_fundamentals WHERE date = %s ORDER BY ticker", (days[1],))
    source = krx.stock_fundamentals(days[1]).set_index("ticker")
    assert len(stored) == len(source) > 10
    assert set(stored["period_type"]) == {"DAILY"} and set(stored["region"]) == {"KR"}
    assert set(stored["currency"]) == {"KRW"} and set(stored["data_source"]) == {"KRX"}
    by_ticker = stored.set_index("ticker")
    for col, src in (("pbr", "pbr"), ("eps", "eps"), ("dividend_per_share", "dps"), ("close_price", "close")):
        np.testing.assert_allclose(by_ticker[col].to_numpy(float), source.loc[by_ticker.index, src].to_numpy(float),
                                   err_msg=col)
    assert stored["close_price"].notna().all()  # KRX's close of the same dataset
    assert stored["per"].isna().sum() == source["per"].isna().sum()  # KRX "-" kept as NULL
    query = "SELECT * FROM ticker_fundamentals ORDER BY date, ticker"
    before = warehouse.read_frame(query).drop(columns=["created_at"])
    dg.materialize([stock_fundamentals], resources=res, partition_key=days[1])
    pd.testing.assert_frame_equal(before, warehouse.read_frame(query).drop(columns=["created_at"]))

    dg.materialize([factor_scores], resources={"warehouse": warehouse}, partition_key=days[1])
    rows = warehouse.read_frame("SELECT * FROM factor_scores WHERE date = %s", (days[1],))
    with_pbr = source["pbr"].gt(0).sum()
    assert len(rows[rows["factor_name"] == "value_bp"]) == with_pbr
    assert not set(rows["factor_name"]) & {"mom_12_1", "mom_6_1", "mom_3", "low_vol_60"}  # two days of history
    exchange = warehouse.read_frame("SELECT ticker, exchange FROM tickers WHERE region = 'KR'").set_index("ticker")
    assert (rows["market"].to_numpy() == exchange.loc[rows["ticker"], "exchange"].to_numpy()).all()


def test_ranged_pass_equals_day_by_day_runs(scored, warehouse):
    """Three days from ONE window read (the range + 252 trading days before it) store exactly the
    rows three one-day runs store; every run reads a bounded window, not the table."""
    from quant_assets.assets.factors import HISTORY, factor_scores

    tags = {"dagster/asset_partition_range_start": DAYS[-3].isoformat(),
            "dagster/asset_partition_range_end": DAYS[-1].isoformat()}
    result = dg.materialize([factor_scores], resources={"warehouse": warehouse}, tags=tags)
    metas = [e.event_specific_data.materialization.metadata for e in result.all_events
             if e.event_type_value == "ASSET_MATERIALIZATION"]
    assert len(metas) == 3 and all(m["window_trading_days"].value == HISTORY + 2 for m in metas)
    query = "SELECT * FROM factor_scores WHERE date = %s ORDER BY factor_name, ticker"
    ranged = {d: warehouse.read_frame(query, (d,)) for d in DAYS[-3:]}
    assert all(len(f) > 100 for f in ranged.values())
    for d in DAYS[-3:]:
        one = dg.materialize([factor_scores], resources={"warehouse": warehouse}, partition_key=d.isoformat())
        meta = next(e.event_specific_data.materialization.metadata for e in one.all_events
                    if e.event_type_value == "ASSET_MATERIALIZATION")
        assert meta["window_trading_days"].value == HISTORY
        pd.testing.assert_frame_equal(ranged[d], warehouse.read_frame(query, (d,)), check_exact=True)


def test_packed_layout_keeps_the_contract_columns_and_answers_queries(scored, warehouse):
    """factor_scores is a view with the contract's columns and types over one packed row per
    (date, region, factor); a day's top-20 by a factor, read through the view, is the long rows'."""
    _, rows, _ = scored
    types = warehouse.read_frame(
        "SELECT column_name, data_type, character_maximum_length AS n FROM information_schema.columns "
        "WHERE table_name = 'factor_scores' ORDER BY ordinal_position")
    assert [[c, t, None if pd.isna(n) else int(n)] for c, t, n in types.values.tolist()] == [
        ["date", "date", None], ["ticker", "character varying", 20], ["region", "character varying", 2],
        ["factor_name", "character varying", 50], ["raw_value", "double precision", None],
        ["score", "double precision", None], ["percentile", "double precision", None], ["market", "text", None],
        ["market_score", "double precision", None], ["market_percentile", "double precision", None]]
    packed = warehouse.read_frame("SELECT factor_name, bit_count(members) AS n FROM factor_scores_packed "
                                  "WHERE date = %s AND region = 'KR' ORDER BY factor_name", (DAY,))
    counts = rows.groupby("factor_name").size()
    assert packed.set_index("factor_name")["n"].to_dict() == counts.to_dict()  # one row per factor
    top = warehouse.read_frame("SELECT ticker, score FROM factor_scores WHERE region = 'KR' AND date = %s "
                               "AND factor_name = 'mom_3' ORDER BY score DESC, ticker LIMIT 20", (DAY,))
    expected = rows[rows["factor_name"] == "mom_3"].sort_values(["score", "ticker"], ascending=[False, True])
    assert top.values.tolist() == expected[["ticker", "score"]].head(20).values.tolist()
    with warehouse.connect() as conn:
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT ticker, score FROM factor_scores WHERE region = 'KR' AND date = %s "
            "AND factor_name = 'mom_3' ORDER BY score DESC LIMIT 20", (DAY,)).fetchall())
    assert "Index" in plan, plan  # one packed row found by its key, not a scan


def test_ranged_run_in_several_batches_equals_single_day_runs(scored, warehouse, monkeypatch):
    """Five days in batches of two (cross-section read, scores and ONE validation per batch, the
    writes in the writer thread) store exactly the rows five one-day runs store."""
    from quant_assets.assets import factors

    days = DAYS[-5:]
    query = "SELECT * FROM factor_scores WHERE date = %s ORDER BY factor_name, ticker"
    single = {}
    for d in days:
        assert dg.materialize([factors.factor_scores], resources={"warehouse": warehouse},
                              partition_key=d.isoformat()).success
        single[d] = warehouse.read_frame(query, (d,))
    assert all(len(f) > 100 for f in single.values())
    warehouse.execute("DELETE FROM factor_scores_packed WHERE date = ANY(%s)", (days,))
    monkeypatch.setattr(factors, "BATCH_DAYS", 2)
    tags = {"dagster/asset_partition_range_start": days[0].isoformat(),
            "dagster/asset_partition_range_end": days[-1].isoformat()}
    result = dg.materialize([factors.factor_scores], resources={"warehouse": warehouse}, tags=tags)
    metas = {e.event_specific_data.materialization.partition: e.event_specific_data.materialization.metadata
             for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert sorted(metas) == [d.isoformat() for d in days]
    for d in days:
        pd.testing.assert_frame_equal(single[d], warehouse.read_frame(query, (d,)), check_exact=True)
        assert metas[d.isoformat()]["dagster/row_count"].value == len(single[d])


def test_bad_scores_fail_their_day_alone_with_a_clear_error(scored, warehouse, monkeypatch):
    """A day whose rows break FactorScoresSchema is not written and fails with an error naming the
    dataset, region, date, ticker and field; the other days of the ranged run are written."""
    from quant_assets.assets import factors

    days, bad = DAYS[-3:], DAYS[-2]
    real = factors.cross_section

    def corrupt(day, tickers, markets, values):
        out = real(day, tickers, markets, values)
        if day == bad:
            out.factors[0].score[0] = 99.0  # beyond the schema's +-50
        return out

    monkeypatch.setattr(factors, "cross_section", corrupt)
    warehouse.execute("DELETE FROM factor_scores_packed WHERE date = ANY(%s)", (days,))
    tags = {"dagster/asset_partition_range_start": days[0].isoformat(),
            "dagster/asset_partition_range_end": days[-1].isoformat()}
    result = dg.materialize([factors.factor_scores], resources={"warehouse": warehouse}, tags=tags,
                            raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    description = failure.event_specific_data.user_failure_data.description
    assert "1 of 3 partition(s) failed" in description, description
    assert f"{bad.isoformat()}: factor_scores" in description, description
    for part in ("region=KR", f"date={bad.isoformat()}", "ticker=", "field=score"):
        assert part in description, (part, description)
    written = warehouse.read_frame("SELECT DISTINCT date FROM factor_scores_packed WHERE date = ANY(%s) ORDER BY 1",
                                   (days,))["date"].tolist()
    assert written == [d for d in days if d != bad]


def test_validation_names_the_row_and_accepts_plain_text_columns():
    """FactorScoresSchema on a batch of days: text columns may be plain str (coerced to
    categoricals); a bad row is reported with its own date and ticker."""
    import datetime as dt

    from quant_assets.errors import SourceDataError
    from quant_assets.schemas.derived import FactorScoresSchema
    from quant_assets.schemas.validation import validate

    frame = pd.DataFrame({
        "date": pd.to_datetime(["2024-03-04", "2024-03-04", "2024-03-05"]), "ticker": ["005930", "000660", "005930"],
        "region": "KR", "factor_name": "mom_3", "raw_value": [0.1, 0.2, 0.3], "score": [1.0, -1.0, 0.0],
        "percentile": [50.0, 100.0, 100.0], "market": ["KOSPI", None, "KOSPI"],
        "market_score": [0.0, np.nan, 0.0], "market_percentile": [100.0, np.nan, 100.0]})
    out = validate(FactorScoresSchema, frame, dataset="factor_scores", date=None)
    assert str(out["ticker"].dtype) == "category" and len(out) == 3
    for column, value in (("ticker", "5930"), ("percentile", 0.0), ("market_percentile", np.nan)):
        bad = frame.copy()
        bad.loc[2, column] = value
        with pytest.raises(SourceDataError) as err:
            validate(FactorScoresSchema, bad, dataset="factor_scores", date=None)
        e = err.value
        field = "market_score" if column == "market_percentile" else column  # the pair check names its first
        assert (e.dataset, e.region, e.date, e.field) == ("factor_scores", "KR", dt.date(2024, 3, 5).isoformat(), field)
        assert e.ticker == ("5930" if column == "ticker" else "005930")
