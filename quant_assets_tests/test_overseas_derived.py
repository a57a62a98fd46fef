"""Region-aware derived data (issue #10 item 4): overseas month/quarter/year bars and the KRW close.

Overseas days are loaded through the real assets (simulator KIS over HTTP -> KISClient -> pandera
-> `ohlcv_data`, `exchange_rate_history` in the embedded PostgreSQL); the buckets are checked
against the stored daily bars, the view `ohlcv_krw` (sql/021) against the stored quotes.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd
import pytest

from quant_assets.assets.overseas import aggregates, bars, fx
from quant_assets.resources.warehouse import Warehouse
from quant_assets_tests.overseas_support import checks, load, run

MONTH = "2025-06-01"
US_DAYS = [k for k in bars.calendars.partitions("US").get_partition_keys() if "2025-06-01" <= k <= "2025-06-30"]
VN_DAYS = [k for k in bars.calendars.partitions("VN").get_partition_keys() if "2025-06-02" <= k <= "2025-06-06"]


BUCKET_SQL = ("SELECT ticker, region, month, open, high, low, close, volume, value, trading_days, first_date, "
              "last_date, ma20_end FROM ohlcv_monthly ORDER BY region, ticker")


def expected_month(daily: pd.DataFrame) -> pd.DataFrame:
    daily = daily.sort_values("date")
    g = daily.groupby(["ticker", "region"])
    return pd.DataFrame({
        "open": g["open"].first(), "high": g["high"].max(), "low": g["low"].min(), "close": g["close"].last(),
        "volume": g["volume"].sum(), "trading_days": g.size(), "first_date": g["date"].min(),
        "last_date": g["date"].max(),
    })


def test_region_month_matches_its_daily_bars_never_mixes_regions_and_reruns_identically(env):
    res, wh = env
    load(res, "US", US_DAYS)
    assert "2025-06-19" not in US_DAYS                       # Juneteenth: not an XNYS session
    load(res, "VN", VN_DAYS)
    # ACB is listed in the US and in VN (the collision README "Symbols" names); give the US ACB a bar
    wh.execute("INSERT INTO ohlcv_data (date, ticker, region, timeframe, asset_type, exchange_code, currency, open, "
               "high, low, close, adj_close, volume, value) SELECT date, 'ACB', region, timeframe, asset_type, 'NYS', "
               "currency, 10, 12, 9, 11, 11, 1000, 11000 FROM ohlcv_data WHERE region = 'US' AND ticker = 'AAPL' "
               "AND date IN ('2025-06-02', '2025-06-03')")

    us = aggregates.BUCKET_ASSETS[("ohlcv_monthly", "US")]
    result = run(res, [us], [MONTH])
    assert result.success
    assert checks(result) == {"reconciles_with_daily": True, "no_missing_days": True}
    meta = result.asset_materializations_for_node(us.key.path[-1])[0].metadata
    assert meta["region"].value == "US" and meta["missing_days"].value == 0
    lineage = meta["dagster/column_lineage"].value
    assert lineage.deps_by_column["close"][0].asset_key == bars.OHLCV_ASSETS["US"].key

    daily = wh.read_frame("SELECT date, ticker, region, open, high, low, close, volume FROM ohlcv_data "
                          "WHERE region = 'US' AND timeframe = 'D' AND date >= '2025-06-01' AND date < '2025-07-01'")
    assert set(pd.to_datetime(daily["date"]).dt.strftime("%Y-%m-%d")) == set(US_DAYS)
    first = wh.read_frame(BUCKET_SQL)
    assert set(first["region"]) == {"US"}                    # the VN days are not in the US bucket
    actual = first.set_index(["ticker", "region"]).sort_index()
    expected = expected_month(daily).sort_index()
    assert list(actual.index) == list(expected.index) and len(actual) == 31
    for col in ("open", "high", "low", "close", "volume", "trading_days"):
        assert actual[col].astype(float).tolist() == expected[col].astype(float).tolist(), col
    assert (pd.to_datetime(actual["first_date"]) == pd.to_datetime(expected["first_date"])).all()
    assert (pd.to_datetime(actual["last_date"]) == pd.to_datetime(expected["last_date"])).all()
    assert actual["ma20_end"].isna().all()                    # no overseas indicators yet
    assert int(actual.loc[("AAPL", "US"), "trading_days"]) == len(US_DAYS)

    assert run(res, [us], [MONTH]).success                    # re-run: the same rows
    pd.testing.assert_frame_equal(first, wh.read_frame(BUCKET_SQL))

    # VN: only 5 of June's weekdays are loaded -> built from what exists, never reported complete
    vn = aggregates.BUCKET_ASSETS[("ohlcv_monthly", "VN")]
    result = run(res, [vn], [MONTH])
    assert result.success
    assert checks(result) == {"reconciles_with_daily": True, "no_missing_days": False}
    meta = result.asset_materializations_for_node(vn.key.path[-1])[0].metadata
    assert meta["missing_days"].value == len(bars.calendars.sessions("VN", dt.date(2025, 6, 9), dt.date(2025, 6, 30)))
    both = wh.read_frame(BUCKET_SQL)
    acb = both[both["ticker"] == "ACB"].set_index("region")
    assert set(acb.index) == {"US", "VN"}                     # same symbol, two regions, two rows
    assert int(acb.at["US", "trading_days"]) == 2 and float(acb.at["US", "high"]) == 12
    assert int(acb.at["VN", "trading_days"]) == len(VN_DAYS)
    vn_daily = wh.read_frame("SELECT max(high) AS h, sum(volume) AS v FROM ohlcv_data "
                             "WHERE region = 'VN' AND ticker = 'ACB'").iloc[0]
    assert float(acb.at["VN", "high"]) == float(vn_daily["h"]) and int(acb.at["VN", "volume"]) == int(vn_daily["v"])
    pd.testing.assert_frame_equal(first, both[both["region"] == "US"].reset_index(drop=True))  # US untouched

    # a day recorded market_closed for VN's daily bars is not a hole; one recorded for another
    # region's (or the KR `ohlcv`) is
    wh.record_status(bars.STATUS_ASSET, dt.date(2025, 6, 10), "market_closed", region="US", reason="test")
    wh.record_status("ohlcv", dt.date(2025, 6, 10), "market_closed", region="VN", reason="test")
    wh.record_status(bars.STATUS_ASSET, dt.date(2025, 6, 9), "market_closed", region="VN", reason="test")
    result = run(res, [vn], [MONTH])
    meta = result.asset_materializations_for_node(vn.key.path[-1])[0].metadata
    assert meta["missing_days"].value == len(bars.calendars.sessions("VN", dt.date(2025, 6, 10), dt.date(2025, 6, 30)))

    # the quarter: April and May are not loaded -> WARN; its values are June's
    q = aggregates.BUCKET_ASSETS[("ohlcv_quarterly", "US")]
    result = run(res, [q], ["2025-04-01"])
    assert checks(result) == {"reconciles_with_daily": True, "no_missing_days": False}
    quarter = wh.read_frame("SELECT ticker, open, close, volume, price_volatility FROM ohlcv_quarterly "
                            "WHERE region = 'US' ORDER BY ticker").set_index("ticker")
    assert quarter["close"].astype(float).tolist() == actual["close"].astype(float).tolist()
    assert quarter["price_volatility"].notna().all()


def test_krw_close_divides_by_the_quote_unit_and_refuses_stale_rates(env):
    res, wh = env
    load(res, "US", US_DAYS)
    jp_days = [k for k in bars.calendars.partitions("JP").get_partition_keys() if "2025-06-02" <= k <= "2025-06-04"]
    load(res, "JP", jp_days)
    fx_days = [k for k in fx.exchange_rate_history.partitions_def.get_partition_keys() if "2025-06-02" <= k <= "2025-06-20"]
    assert run(res, [fx.exchange_rate_history], fx_days).success
    rates = wh.read_frame("SELECT currency, rate_date, quoted_rate, quote_unit, rate FROM exchange_rate_history")
    rates["rate_date"] = pd.to_datetime(rates["rate_date"]).dt.strftime("%Y-%m-%d")
    quote = rates.set_index(["currency", "rate_date"])

    view = wh.read_frame("SELECT date, ticker, region, timeframe, close, currency, fx_rate, fx_date, close_krw, "
                         "fx_source FROM ohlcv_krw")
    view["date"] = pd.to_datetime(view["date"]).dt.strftime("%Y-%m-%d")
    view = view.set_index(["ticker", "region", "date"])
    stored = wh.read_frame("SELECT count(*) AS n FROM ohlcv_data WHERE timeframe = 'D'")["n"].iloc[0]
    assert len(view) == stored                                 # one row per daily bar
    same = wh.read_frame("SELECT count(*) AS n FROM ohlcv_krw k JOIN ohlcv_data o USING (date, ticker, region) "
                         "WHERE k.currency <> o.currency")["n"].iloc[0]
    assert same == 0                                           # regions.currency = ohlcv_data.currency

    # USD (per 1) on a day with a Seoul quote of the same date
    day = next(d for d in US_DAYS if ("USD", d) in quote.index)
    row, q = view.loc[("AAPL", "US", day)], quote.loc[("USD", day)]
    assert int(q["quote_unit"]) == 1 and row["currency"] == "USD"
    assert pd.Timestamp(row["fx_date"]).strftime("%Y-%m-%d") == day
    assert row["close_krw"] == pytest.approx(row["close"] * q["quoted_rate"] / q["quote_unit"], rel=1e-12)
    assert row["fx_rate"] == pytest.approx(q["rate"], rel=1e-12)

    # JPY is quoted per 100: close_krw = close x quoted_rate / 100
    jday = next(d for d in jp_days if ("JPY", d) in quote.index)
    row, q = view.loc[("7203", "JP", jday)], quote.loc[("JPY", jday)]
    assert int(q["quote_unit"]) == 100
    assert row["close_krw"] == pytest.approx(row["close"] * q["quoted_rate"] / 100, rel=1e-12)
    assert row["fx_rate"] == pytest.approx(q["quoted_rate"] / 100, rel=1e-12) == pytest.approx(q["rate"])
    assert row["close_krw"] < row["close"] * q["quoted_rate"] / 10       # not the per-100 quote used as per-1

    # a US session without a Seoul quote that day takes the newest earlier quote ...
    seoul = set(rates["rate_date"])
    gaps = [d for d in US_DAYS if d not in seoul and d <= "2025-06-20"]
    assert gaps, "expected a US session on a KRX holiday in June 2025 (election day 06-03, Memorial Day 06-06)"
    for d in gaps:
        earlier = max(r for r in seoul if r < d)
        row = view.loc[("AAPL", "US", d)]
        assert pd.Timestamp(row["fx_date"]).strftime("%Y-%m-%d") == earlier
        assert row["close_krw"] == pytest.approx(row["close"] * quote.loc[("USD", earlier), "rate"], rel=1e-12)
    # ... at most 7 days old (the last quote is 06-20): 06-27 still converts, 06-30 is NULL
    assert pd.Timestamp(view.loc[("AAPL", "US", "2025-06-27"), "fx_date"]).strftime("%Y-%m-%d") == "2025-06-20"
    stale = view.loc[("AAPL", "US", "2025-06-30")]
    assert pd.isna(stale["close_krw"]) and pd.isna(stale["fx_rate"]) and pd.isna(stale["fx_date"])
    assert view[view["currency"] != "KRW"]["close_krw"].isna().sum() == 30   # the 30 US bars of 06-30 only
    # a quote flagged as Spock's fallback constant is never used
    wh.execute("UPDATE exchange_rate_history SET quality = 'suspect_fallback' WHERE currency = 'JPY'")
    jp = wh.read_frame("SELECT close_krw FROM ohlcv_krw WHERE region = 'JP'")
    assert jp["close_krw"].isna().all()


def test_buckets_follow_their_days_through_automation():
    """Declarative automation requests the region's buckets once its daily bars land (and no
    other region's), in the same tick (the indicator assets are left out of these definitions, so
    there is no newest-day indicator to wait for)."""
    us_daily = bars.OHLCV_ASSETS["US"].key
    defs = dg.Definitions(
        assets=[*(dg.AssetSpec(bars.OHLCV_ASSETS[r].key, partitions_def=bars.calendars.partitions(r))
                  for r in bars.calendars.REGIONS),
                *aggregates.BUCKET_ASSETS.values()],
        resources={"warehouse": Warehouse(database_url="postgresql://unused")})
    instance = dg.DagsterInstance.ephemeral()
    when = dt.datetime(2025, 11, 18, 14, tzinfo=dt.UTC)

    def evaluate(cursor=None):
        with dg.partition_loading_context(effective_dt=when):
            out = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=when, cursor=cursor)
        return out, {k.path[-1]: sorted(out.get_requested_partitions(k)) for k in
                     (a.key for a in aggregates.BUCKET_ASSETS.values()) if out.get_requested_partitions(k)}

    out, requested = evaluate()
    assert requested == {}
    days = [k for k in bars.calendars.partitions("US").get_partition_keys() if "2025-10-27" <= k <= "2025-11-14"]
    for d in days:
        instance.report_runless_asset_event(dg.AssetMaterialization(us_daily, partition=d))
    out, requested = evaluate(out.cursor)
    assert requested == {"overseas_ohlcv_monthly_us": ["2025-10-01", "2025-11-01"],
                         "overseas_ohlcv_quarterly_us": ["2025-10-01"], "overseas_ohlcv_yearly_us": ["2025-01-01"]}
