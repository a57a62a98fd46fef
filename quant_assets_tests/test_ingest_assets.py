"""The ingest assets end to end: simulator over HTTP -> clients -> pandera -> PostgreSQL."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from quant_assets.assets import prices, reference
from quant_assets.resources.kis import KISClient
from quant_assets.resources.krx import KRXClient
from quant_assets.resources.warehouse import Warehouse

DAYS = ["2024-03-04", "2024-03-05", "2024-03-06"]


def resources(sim, warehouse):
    return {"krx": KRXClient(base_url=sim.krx_url, requests_per_second=50, backoff_seconds=0.05, max_retries=2),
            "kis": KISClient(base_url=sim.kis_url), "warehouse": warehouse}


def run(assets, sim, warehouse, **kwargs):
    return dg.materialize(assets, resources=resources(sim, warehouse), raise_on_error=False, **kwargs)


def failure_text(result, node: str) -> str:
    """The user-facing error of a failed step: a Failure's description or the raised error."""
    data = result.failure_data_for_node(node)
    if data.user_failure_data is not None:
        return str(data.user_failure_data.description)
    parts, err = [], data.error
    while err is not None:
        parts.append(err.message)
        err = err.cause
    return "\n".join(parts)


def range_tags(first, last):
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def load_reference(sim, warehouse):
    result = run([reference.etf_list, reference.stock_list], sim, warehouse)
    assert result.success


def test_reference_assets_fill_tickers_and_details(sim, warehouse):
    load_reference(sim, warehouse)
    etfs = warehouse.read_frame("SELECT t.ticker, t.region, t.name, t.name_eng, t.exchange, t.currency, "
                                "t.lot_size, t.data_source, d.multiple, d.isin, d.english_name FROM tickers t "
                                "JOIN etf_details d USING (ticker, region) WHERE t.asset_type = 'ETF' ORDER BY ticker")
    market = sim.market
    assert len(etfs) > 5
    by_ticker = etfs.set_index("ticker")
    assert by_ticker.loc["069500", "name"] == "KODEX 200"
    assert float(by_ticker.loc["122630", "multiple"]) == 2.0 and float(by_ticker.loc["114800", "multiple"]) == -1.0
    assert "0069M0" in by_ticker.index  # alphanumeric code survives as text
    # The KRX collection is region KR, in KRW, one-share lots; ETFs trade on the KOSPI board.
    assert set(etfs["region"]) == {"KR"} and set(etfs["exchange"]) == {"KOSPI"}
    assert set(etfs["currency"]) == {"KRW"} and set(etfs["lot_size"]) == {1} and set(etfs["data_source"]) == {"KRX"}
    master = KRXClient(base_url=sim.krx_url).etf_master().set_index("ticker")
    assert by_ticker.loc["069500", "name_eng"] == master.loc["069500", "english_name"]
    assert etfs["name_eng"].notna().all() and (etfs["name_eng"] == etfs["english_name"]).all()
    stocks = warehouse.read_frame("SELECT ticker, exchange, is_active, name_eng FROM tickers WHERE asset_type = 'STOCK'")
    assert {"KOSPI", "KOSDAQ"} <= set(stocks["exchange"])
    assert stocks.loc[stocks["is_active"], "name_eng"].notna().all()
    shares = warehouse.read_frame("SELECT shares_outstanding, is_preferred, stock_kind FROM stock_details "
                                  "WHERE ticker = '005930' AND region = 'KR'").iloc[0]
    assert shares["shares_outstanding"] > 0 and shares["stock_kind"] == "보통주"
    kinds = warehouse.read_frame("SELECT stock_kind LIKE '%%우선주' AS preferred_kind, is_preferred FROM stock_details")
    assert kinds["preferred_kind"].any() and (kinds["preferred_kind"] == kinds["is_preferred"]).all()
    sectors = warehouse.read_frame("SELECT count(*) AS n FROM stock_details WHERE sector IS NOT NULL")
    assert sectors["n"].iloc[0] > 0
    assert market is not None
    # Re-running changes nothing.
    before = warehouse.read_frame("SELECT * FROM tickers ORDER BY ticker").drop(columns=["updated_at", "last_updated"])
    load_reference(sim, warehouse)
    after = warehouse.read_frame("SELECT * FROM tickers ORDER BY ticker").drop(columns=["updated_at", "last_updated"])
    assert before.equals(after)


def test_daily_prices_range_then_rerun_is_identical(sim, warehouse):
    load_reference(sim, warehouse)
    result = run([prices.daily_prices], sim, warehouse, tags=range_tags(DAYS[0], DAYS[-1]))
    assert result.success
    counts = warehouse.read_frame("SELECT date, asset_type, count(*) AS n FROM ohlcv_data GROUP BY 1, 2 ORDER BY 1, 2")
    assert sorted({str(d) for d in counts["date"]}) == DAYS
    stocks_day = sim_stock_count(sim, DAYS[0])
    assert int(counts[(counts["asset_type"] == "STOCK")]["n"].iloc[0]) == stocks_day
    first = warehouse.read_frame("SELECT * FROM ohlcv_data ORDER BY date, ticker")
    etf_first = warehouse.read_frame("SELECT * FROM etf_daily ORDER BY date, ticker")
    # One partition re-run in its own run: identical rows.
    assert run([prices.daily_prices], sim, warehouse, partition_key=DAYS[1]).success
    assert first.equals(warehouse.read_frame("SELECT * FROM ohlcv_data ORDER BY date, ticker"))
    assert etf_first.equals(warehouse.read_frame("SELECT * FROM etf_daily ORDER BY date, ticker"))
    # Spot-check against the source: Samsung's close equals the simulator's published close.
    row = first[(first["ticker"] == "005930") & (first["date"] == dt.date(2024, 3, 5))].iloc[0]
    krx = KRXClient(base_url=sim.krx_url).stock_daily("2024-03-05")
    assert row["close"] == krx.set_index("ticker").loc["005930", "close"]
    assert row["high"] >= row["close"] >= row["low"] > 0
    # Each partition reported separately, all three loaded, per region.
    status = warehouse.read_frame("SELECT asset, region, count(*) AS n FROM partition_status "
                                  "WHERE status = 'loaded' GROUP BY 1, 2")
    assert {(a, r): n for a, r, n in status.itertuples(index=False)} == {("ohlcv", "KR"): 3, ("etf_daily", "KR"): 3}
    # Daily bars are region KR, timeframe 'D', prices read back as floats.
    assert set(first["region"]) == {"KR"} and set(first["timeframe"]) == {"D"}
    assert first["close"].dtype == "float64" and etf_first["nav"].dtype == "float64"
    assert set(etf_first["region"]) == {"KR"}


def test_daily_bars_answer_to_both_timeframe_spellings(sim, warehouse):
    """Seeds and Spock query timeframe = '1d'; the platform stores 'D': both find the same rows."""
    assert run([prices.daily_prices], sim, warehouse, partition_key=DAYS[0]).success
    counts = warehouse.read_frame(
        "SELECT (SELECT count(*) FROM ohlcv_data WHERE timeframe = '1d' AND region = 'KR') AS one_d, "
        "       (SELECT count(*) FROM ohlcv_data WHERE timeframe = 'D' AND region = 'KR') AS d, "
        "       (SELECT count(*) FROM ohlcv_data WHERE timeframe <> '1d') AS other, "
        "       (SELECT count(*) FROM ohlcv_data) AS total").iloc[0]
    assert counts["total"] == sim_stock_count(sim, DAYS[0]) + len(KRXClient(base_url=sim.krx_url).etf_daily(DAYS[0]))
    assert counts["one_d"] == counts["d"] == counts["total"] and counts["other"] == 0
    stored = warehouse.read_frame("SELECT DISTINCT timeframe::text AS tf FROM ohlcv_data")
    assert list(stored["tf"]) == ["D"]


def sim_stock_count(sim, day):
    return len(KRXClient(base_url=sim.krx_url).stock_daily(day))


@pytest.mark.parametrize(
    ("corruption", "dataset", "field"),
    [
        ({"kind": "dash_price", "ticker": "005930", "field": "TDD_CLSPRC"}, "ohlcv", "close"),
        ({"kind": "negative_price", "ticker": "005930", "field": "TDD_CLSPRC"}, "ohlcv", "close"),
        ({"kind": "high_lt_low", "ticker": "005930"}, "ohlcv", "high"),
        ({"kind": "duplicate_ticker", "ticker": "005930"}, "ohlcv", "ticker"),
    ],
)
def test_bad_input_fails_only_that_day_and_names_it(sim, warehouse, corruption, dataset, field):
    bad_day = DAYS[1]
    sim.set_faults({"rules": [{"source": "krx", "bld": "MDCSTAT01501", "date": bad_day.replace("-", ""),
                               "fault": "corrupt", **corruption}]})
    result = run([prices.daily_prices], sim, warehouse, tags=range_tags(DAYS[0], DAYS[-1]))
    assert not result.success
    failure = failure_text(result, "daily_prices")
    assert "1 of 3 partition(s) failed" in failure
    assert f"{dataset}:" in failure and bad_day in failure and "005930" in failure and field in failure
    loaded = warehouse.read_frame("SELECT DISTINCT date FROM ohlcv_data ORDER BY date")
    assert [str(d) for d in loaded["date"]] == [DAYS[0], DAYS[2]]  # nothing written for the bad day
    status = warehouse.read_frame("SELECT status, reason FROM partition_status WHERE asset = 'ohlcv' "
                                  "AND partition_date = %s", (bad_day,))
    assert status["status"].iloc[0] == "source_error" and "005930" in status["reason"].iloc[0]


@pytest.mark.parametrize("fault", ["truncated", "empty"])
def test_unusable_payload_names_dataset_and_date(sim, warehouse, fault):
    rule = {"source": "krx", "bld": "MDCSTAT04301", "date": "20240305", "fault": fault, "times": None}
    if fault == "empty":
        rule = {**rule, "fault": "corrupt", "kind": "empty"}
    sim.set_faults({"rules": [rule]})
    result = run([prices.daily_prices], sim, warehouse, partition_key="2024-03-05")
    assert not result.success
    failure = failure_text(result, "daily_prices")
    assert "2024-03-05" in failure and "MDCSTAT04301" in failure or "etf" in failure.lower()
    assert warehouse.read_frame("SELECT count(*) AS n FROM ohlcv_data")["n"].iloc[0] == 0


def test_ranged_run_stops_at_the_first_authentication_failure(sim, warehouse):
    """Persistent LOGOUT: the run stops on its first day instead of logging in again for every
    remaining day (each KRX login kicks the account's other session); the days not attempted say so."""
    sim.set_faults({"rules": [{"source": "krx", "fault": "logout", "times": None}]})
    n0 = len(sim.request_log)
    result = run([prices.daily_prices], sim, warehouse, tags=range_tags(DAYS[0], DAYS[-1]))
    assert not result.success
    logins = [e for e in list(sim.request_log)[n0:] if "MDCCOMS001D1" in str(e)]
    assert len(logins) <= 2  # one login, one re-login after LOGOUT, then stop
    status = warehouse.read_frame("SELECT partition_date, status, reason FROM partition_status "
                                  "WHERE asset = 'ohlcv' ORDER BY partition_date")
    assert [str(d) for d in status["partition_date"]] == DAYS
    assert set(status["status"]) == {"source_error"}
    assert all("not attempted" in r for r in status["reason"].iloc[1:])
    assert warehouse.read_frame("SELECT count(*) AS n FROM ohlcv_data")["n"].iloc[0] == 0


def test_holiday_is_recorded_as_market_closed(sim, warehouse):
    # 2024-10-01 was an ad-hoc KRX closure: the source dashes every price.
    result = run([prices.daily_prices], sim, warehouse, tags=range_tags("2024-09-30", "2024-10-02"))
    assert result.success
    status = warehouse.read_frame("SELECT partition_date, status FROM partition_status WHERE asset = 'ohlcv' "
                                  "ORDER BY partition_date")
    assert set(status["status"]) == {"loaded"}  # XKRX already excludes 2024-10-01: never a partition
    assert [str(d) for d in status["partition_date"]] == ["2024-09-30", "2024-10-02"]


def test_reference_lists_load_on_first_start_then_each_weekday_morning():
    """An empty platform loads the ticker universe at once (sensors need it), and again at 07:30 KST."""
    from quant_assets.calendar import KST

    defs = dg.Definitions(assets=[reference.etf_list, reference.stock_list],
                          resources={"krx": KRXClient(), "warehouse": Warehouse(database_url="postgresql://unused")})
    instance = dg.DagsterInstance.ephemeral()
    keys = [dg.AssetKey("etf_list"), dg.AssetKey("stock_list")]
    cursor = None

    def requested(when: dt.datetime) -> list[dg.AssetKey]:
        nonlocal cursor
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=when, cursor=cursor)
        cursor = result.cursor
        return [k for k in keys if result.get_num_requested(k)]

    assert requested(dt.datetime(2026, 11, 20, 16, tzinfo=KST)) == keys        # first evaluation, empty
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(key))
    assert requested(dt.datetime(2026, 11, 20, 16, 5, tzinfo=KST)) == []       # loaded: nothing more
    assert requested(dt.datetime(2026, 11, 23, 7, 31, tzinfo=KST)) == keys     # Monday 07:30 refresh
