"""The global-markets assets end to end: simulator KIS over HTTP -> KISClient -> pandera ->
`tickers`/`stock_details`, `ohlcv_data` (overseas regions), `exchange_rate_history`,
`global_market_indices` in the embedded PostgreSQL; and each bad-input case fails its partition
with an error naming region, exchange, symbol, date and field, writing nothing for it."""

from __future__ import annotations

import dagster as dg
import pytest

from quant_assets.assets.overseas import bars, fx, indices, universe
from quant_assets.resources.kis import KISClient


@pytest.fixture()
def env(osim, warehouse, tmp_path):
    osim.clear_faults()
    osim.reset_sessions()
    yield osim, {"kis": KISClient(base_url=osim.kis_url, token_cache_dir=str(tmp_path)), "warehouse": warehouse}, \
        warehouse
    osim.clear_faults()


def run(resources, assets, keys, partition=None):
    tags = {} if partition else {"dagster/asset_partition_range_start": keys[0],
                                 "dagster/asset_partition_range_end": keys[-1]}
    return dg.materialize(assets, resources=resources, tags=tags, partition_key=partition, raise_on_error=False)


def status(warehouse, asset, region):
    return {str(d): (s, r) for d, s, r in warehouse.read_frame(
        "SELECT partition_date, status, reason FROM partition_status WHERE asset = %s AND region = %s",
        (asset, region)).itertuples(index=False)}


def load_universe(resources, *regions):
    for r in regions:
        assert dg.materialize([universe.UNIVERSE_ASSETS[r]], resources=resources).success


def test_universe_keeps_collisions_apart_and_retires_what_leaves_the_master(env):
    sim, res, wh = env
    with wh.connect() as conn:   # OLDCO was listed in an earlier master; it has since left it
        conn.execute("INSERT INTO tickers (ticker, region, symbol, name, exchange, asset_type, currency, is_active, "
                     "data_source) VALUES ('OLDCO', 'US', 'OLDCO', 'Old Co', 'NYSE', 'STOCK', 'USD', true, %s)",
                     (universe.SOURCE,))
    load_universe(res, "US", "VN", "HK")
    t = wh.read_frame("SELECT ticker, region, symbol, currency, is_active, delisting_date FROM tickers")
    acb = t[t["ticker"] == "ACB"].set_index("region")
    assert set(acb.index) == {"US", "VN"} and acb.at["US", "currency"] == "USD" and acb.at["VN", "currency"] == "VND"
    old = t[(t["ticker"] == "OLDCO")].iloc[0]
    assert not old["is_active"] and old["delisting_date"] is not None      # retired, not deleted
    hk = t[(t["region"] == "HK") & (t["symbol"] == "00700")].iloc[0]
    assert hk["ticker"] == "0700"                                           # canonical form, KIS spelling kept
    details = wh.read_frame("SELECT ticker, market_cap, shares_outstanding FROM stock_details WHERE region = 'US' "
                            "AND ticker = 'AAPL'")
    assert details["market_cap"].iloc[0] > 0
    assert len(t[t["region"] == "US"]) > 4000
    load_universe(res, "US")   # a re-run changes nothing
    assert wh.read_frame("SELECT count(*) AS n FROM tickers WHERE region = 'US'")["n"].iloc[0] == len(t[t["region"] == "US"])


def test_us_bars_range_rerun_same_rows_and_status(env):
    sim, res, wh = env
    load_universe(res, "US")
    keys = bars.calendars.partitions("US").get_partition_keys()
    keys = [k for k in keys if "2025-06-30" <= k <= "2025-07-08"]
    assert "2025-07-04" not in keys                                          # XNYS holiday: no partition
    asset = bars.OHLCV_ASSETS["US"]
    assert run(res, [asset], keys).success
    sql = ("SELECT date, ticker, exchange_code, currency, close, adj_close, volume FROM ohlcv_data "
           "WHERE region = 'US' ORDER BY date, ticker")
    first = wh.read_frame(sql)
    assert len(first) == 30 * len(keys) and set(first["currency"]) == {"USD"}
    assert set(status(wh, "overseas_ohlcv", "US")) == set(keys)
    assert run(res, [asset], keys).success
    assert wh.read_frame(sql).equals(first)                                  # re-run = same rows
    assert wh.read_frame("SELECT count(*) AS n FROM ohlcv_data WHERE region = 'KR'")["n"].iloc[0] == 0


def test_vn_closure_is_market_closed_and_fx_indices_load(env):
    sim, res, wh = env
    load_universe(res, "VN")
    keys = [k for k in bars.calendars.partitions("VN").get_partition_keys() if "2025-08-29" <= k <= "2025-09-03"]
    assert "2025-09-02" in keys                              # no VN calendar: every weekday is a partition
    assert run(res, [bars.OHLCV_ASSETS["VN"], indices.INDEX_ASSETS["VN"]], keys).success
    st = status(wh, "overseas_ohlcv", "VN")
    assert st["2025-09-02"][0] == "market_closed" and st["2025-09-03"][0] == "loaded"
    assert status(wh, "global_market_indices", "VN")["2025-09-02"][0] == "market_closed"
    fx_keys = [k for k in fx.exchange_rate_history.partitions_def.get_partition_keys() if "2025-09-01" <= k <= "2025-09-05"]
    assert run(res, [fx.exchange_rate_history], fx_keys).success
    rates = wh.read_frame("SELECT currency, rate, quoted_rate, quote_unit FROM exchange_rate_history "
                          "WHERE rate_date = '2025-09-02'").set_index("currency")
    assert set(rates.index) == {"USD", "HKD", "CNY", "JPY", "VND"}
    assert rates.at["JPY", "quote_unit"] == 100 and float(rates.at["JPY", "rate"]) == pytest.approx(
        float(rates.at["JPY", "quoted_rate"]) / 100)
    assert run(res, [indices.INDEX_ASSETS["US"]], ["2025-09-02"], partition="2025-09-02").success
    us = wh.read_frame("SELECT symbol, change_percent, currency FROM global_market_indices WHERE region = 'US'")
    assert set(us["symbol"]) == {"SPX", "COMP", ".DJI"} and us["change_percent"].notna().all()


def test_empty_page_inside_the_range_fails_those_days(env):
    sim, res, wh = env
    load_universe(res, "JP")
    keys = [k for k in bars.calendars.partitions("JP").get_partition_keys() if "2025-01-06" <= k <= "2025-06-30"]
    # the second (older) dailyprice page comes back empty although the first said "more" (tr_cont M)
    sim.set_faults({"rules": [{"source": "kis", "tr_id": "HHDFS76240000", "date": "20250110", "fault": "corrupt",
                               "kind": "empty"}]})
    run(res, [bars.OHLCV_ASSETS["JP"]], keys)
    st = status(wh, "overseas_ohlcv", "JP")
    assert set(st) == set(keys) and {s for s, _ in st.values()} == {"source_error"}
    reason = st[keys[0]][1]
    assert "empty page inside the range" in reason
    assert "region=JP, exchange=TSE, symbol=7203" in reason and "field=output2" in reason
    assert wh.read_frame("SELECT count(*) AS n FROM ohlcv_data WHERE region = 'JP'")["n"].iloc[0] == 0


def test_unknown_symbol_in_the_universe_fails_the_partition(env):
    sim, res, wh = env
    load_universe(res, "HK")
    wh.execute("DELETE FROM stock_details WHERE region = 'HK' AND ticker = '0005'")
    wh.execute("DELETE FROM tickers WHERE region = 'HK' AND ticker = '0005'")   # the master no longer knows it
    run(res, [bars.OHLCV_ASSETS["HK"]], ["2025-06-03"], partition="2025-06-03")
    s, reason = status(wh, "overseas_ohlcv", "HK")["2025-06-03"]
    assert s == "source_error" and "exchange=HKS, symbol=00005" in reason and "field=SYMB" in reason
    assert wh.read_frame("SELECT count(*) AS n FROM ohlcv_data WHERE region = 'HK'")["n"].iloc[0] == 0


def test_price_in_the_wrong_unit_fails_that_day_only(env):
    sim, res, wh = env
    load_universe(res, "CN")
    keys = [k for k in bars.calendars.partitions("CN").get_partition_keys() if "2025-06-02" <= k <= "2025-06-13"]
    sim.set_faults({"rules": [{"source": "kis", "tr_id": "HHDFS76240000", "fault": "corrupt", "kind": "scale",
                               "row_date": "20250610", "field": "clos", "times": 1}]})
    run(res, [bars.OHLCV_ASSETS["CN"]], keys)
    st = status(wh, "overseas_ohlcv", "CN")
    assert st["2025-06-10"][0] == "source_error" and "wrong unit" in st["2025-06-10"][1]
    assert "region=CN, exchange=SHS" in st["2025-06-10"][1] and "date=20250610" in st["2025-06-10"][1]
    assert all(s == "loaded" for k, (s, _) in st.items() if k != "2025-06-10")
    days = set(wh.read_frame("SELECT DISTINCT date FROM ohlcv_data WHERE region = 'CN'")["date"].astype(str))
    assert "2025-06-10" not in days and len(days) == len(keys) - 1


@pytest.mark.parametrize(("rule", "text"), [
    ({"kind": "zero", "row_date": "20250903", "field": "ovrs_nmix_prpr", "ticker": "FX@KRW"}, "USD quote is 0"),
    ({"kind": "constant", "field": "ovrs_nmix_prpr", "value": "1300.00", "ticker": "FX@KRW"}, "fallback constant"),
])
def test_fx_zero_or_fallback_constant_writes_nothing(env, rule, text):
    sim, res, wh = env
    sim.set_faults({"rules": [{"source": "kis", "tr_id": "FHKST03030100", "fault": "corrupt", **rule}]})
    keys = [k for k in fx.exchange_rate_history.partitions_def.get_partition_keys() if "2025-09-01" <= k <= "2025-09-05"]
    run(res, [fx.exchange_rate_history], keys)
    st = status(wh, "exchange_rate_history", "KR")
    assert st["2025-09-03"][0] == "source_error" and text in st["2025-09-03"][1]
    assert "symbol=FX@KRW" in st["2025-09-03"][1] and "field=ovrs_nmix_prpr" in st["2025-09-03"][1]
    assert wh.read_frame("SELECT count(*) AS n FROM exchange_rate_history WHERE rate_date = '2025-09-03'")["n"].iloc[0] == 0
