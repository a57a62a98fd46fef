"""Atomic partition writes and validation-before-write, on the real embedded PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg
import pytest

from quant_assets.errors import SourceDataError
from quant_assets.schemas.prices import OhlcvSchema
from quant_assets.schemas.validation import validate

DAY = dt.date(2024, 1, 5)


def bars(day=DAY, **overrides) -> pd.DataFrame:
    frame = pd.DataFrame({
        "date": [day, day],
        "ticker": ["005930", "0069M0"],
        "region": ["KR", "KR"],
        "timeframe": ["D", "D"],
        "asset_type": ["STOCK", "ETF"],
        "open": [77000.0, 10050.0], "high": [77500.0, 10100.0], "low": [76500.0, 10000.0],
        "close": [77200.0, 10080.0], "change": [200.0, -20.0], "change_pct": [0.26, -0.2],
        "volume": [1_000_000.0, 5_000.0], "value": [77_200_000_000.0, 50_400_000.0],
        "market_cap": [460_000_000_000_000.0, 100_800_000_000.0], "listed_shares": [5_969_782_550.0, 10_000_000.0],
    })
    for col, values in overrides.items():
        frame[col] = values
    return frame


def rows(warehouse, day=DAY):
    return warehouse.read_frame("SELECT * FROM ohlcv_data WHERE date = %s ORDER BY ticker", (day,))


def test_replace_partition_is_idempotent_and_records_status(warehouse):
    frame = validate(OhlcvSchema, bars(), dataset="ohlcv", date=str(DAY))
    warehouse.replace_partition("ohlcv_data", frame, where={"date": DAY}, status=("ohlcv", DAY, "test"))
    first = rows(warehouse)
    warehouse.replace_partition("ohlcv_data", frame, where={"date": DAY}, status=("ohlcv", DAY, "test"))
    second = rows(warehouse)
    pd.testing.assert_frame_equal(first, second)
    assert list(first["ticker"]) == ["005930", "0069M0"]  # alphanumeric code kept as 6-char text
    assert first.loc[0, "close"] == 77200 and first.loc[0, "listed_shares"] == 5_969_782_550
    status = warehouse.read_frame("SELECT status, row_count FROM partition_status WHERE asset = 'ohlcv'")
    assert status.to_dict("records") == [{"status": "loaded", "row_count": 2}]


def test_replace_partition_touches_only_its_day_and_creates_month_partitions(warehouse, database_url):
    other = dt.date(2024, 2, 1)
    warehouse.replace_partition("ohlcv_data", bars(), where={"date": DAY})
    warehouse.replace_partition("ohlcv_data", bars(day=other), where={"date": other})
    warehouse.replace_partition("ohlcv_data", bars().iloc[:1], where={"date": DAY})
    assert len(rows(warehouse)) == 1 and len(rows(warehouse, other)) == 2
    with psycopg.connect(database_url) as conn:
        children = {r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'ohlcv_data'::regclass")}
    assert {"ohlcv_data_y2024m01", "ohlcv_data_y2024m02"} <= children


def test_failed_write_leaves_previous_rows(warehouse):
    warehouse.replace_partition("ohlcv_data", bars(), where={"date": DAY})
    broken = bars(close=[None, 10080.0])  # NOT NULL violation inside the COPY
    with pytest.raises(psycopg.errors.NotNullViolation):
        warehouse.replace_partition("ohlcv_data", broken, where={"date": DAY})
    assert list(rows(warehouse)["close"]) == [77200, 10080]


@pytest.mark.parametrize(
    ("overrides", "ticker", "field", "check"),
    [
        ({"close": [None, 10080.0]}, "005930", "close", "not_nullable"),
        ({"close": [77200.0, -5.0]}, "0069M0", "close", "greater_than"),
        ({"high": [76000.0, 10100.0]}, "005930", "high", "high >= low"),
        ({"ticker": ["005930", "005930"]}, "005930", "ticker", "uniqueness"),
    ],
)
def test_validation_error_names_dataset_date_ticker_field(overrides, ticker, field, check):
    with pytest.raises(SourceDataError) as err:
        validate(OhlcvSchema, bars(**overrides), dataset="ohlcv", date="2024-01-05")
    exc = err.value
    assert exc.dataset == "ohlcv" and exc.date == "2024-01-05" and exc.ticker == ticker
    if field:
        assert exc.field == field
    assert check in str(exc) and "2024-01-05" in str(exc) and ticker in str(exc)


def test_missing_column_is_named():
    with pytest.raises(SourceDataError, match="close"):
        validate(OhlcvSchema, bars().drop(columns=["close"]), dataset="ohlcv", date="2024-01-05")


def test_concurrent_rewrites_of_one_day_never_duplicate_or_collide(warehouse):
    """Overlapping backfills (or a sensor run and a backfill) rewriting the same day at once:
    each write is whole, nothing is duplicated, and no writer fails on the primary key."""
    import threading

    n = 3000
    big = pd.concat([bars()] * (n // 2), ignore_index=True)
    big["ticker"] = [f"{i:06d}" for i in range(n)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(close: float) -> None:
        frame = big.assign(close=close)
        start.wait()
        for _ in range(12):
            try:
                warehouse.replace_partition("ohlcv_data", frame, where={"date": DAY})
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(c,)) for c in (100.0, 200.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = warehouse.read_frame("SELECT count(*) AS n, count(DISTINCT ticker) AS tickers, "
                                  "count(DISTINCT close) AS closes FROM ohlcv_data WHERE date = %s", (DAY,))
    assert stored.iloc[0].tolist() == [n, n, 1]   # one writer's complete day, never a mix


def test_read_frame_returns_numeric_columns_as_floats(warehouse):
    warehouse.replace_partition("ohlcv_data", bars(), where={"region": "KR", "date": DAY})
    got = warehouse.read_frame("SELECT close, change_pct, NULL::numeric AS nothing FROM ohlcv_data ORDER BY ticker")
    assert {str(t) for t in got.dtypes} == {"float64"}
    assert got["close"].tolist() == [77200.0, 10080.0] and got["nothing"].isna().all()


@pytest.mark.parametrize(
    ("region", "ticker"),
    [("KR", "5930"), ("KR", "005930.KS"), ("US", "005930"), ("US", "brk/b"), ("HK", "700"), ("XX", "AAPL")],
)
def test_bad_symbol_for_its_region_is_rejected_before_anything_is_written(warehouse, region, ticker):
    warehouse.replace_partition("ohlcv_data", validate(OhlcvSchema, bars(), dataset="ohlcv", date=str(DAY)),
                                where={"region": "KR", "date": DAY})
    before = rows(warehouse)
    bad = bars(region=["KR", region], ticker=["005930", ticker])
    with pytest.raises(SourceDataError) as err:
        frame = validate(OhlcvSchema, bad, dataset="ohlcv", date=str(DAY))
        warehouse.replace_partition("ohlcv_data", frame, where={"region": "KR", "date": DAY})
    exc = err.value
    assert (exc.dataset, exc.region, exc.ticker, exc.date) == ("ohlcv", region, ticker, str(DAY))
    assert exc.field == ("region" if region == "XX" else "ticker")
    assert f"region={region}" in str(exc) and ticker in str(exc)
    pd.testing.assert_frame_equal(rows(warehouse), before)            # the stored day is untouched
    assert warehouse.read_frame("SELECT count(*) AS n FROM ohlcv_data")["n"].iloc[0] == 2


def test_duplicate_key_in_a_frame_is_an_error_naming_the_key(warehouse):
    dup = pd.concat([bars(), bars().iloc[:1]], ignore_index=True)
    with pytest.raises(SourceDataError) as err:
        validate(OhlcvSchema, dup, dataset="ohlcv", date=str(DAY))
    assert err.value.ticker == "005930" and err.value.region == "KR"
    assert "uniqueness of (ticker, region, date, timeframe)" in str(err.value)
    # The same ticker and day in another region is not a duplicate.
    other = bars(region=["US", "US"], ticker=["AAPL", "BRK/B"])
    assert len(validate(OhlcvSchema, pd.concat([bars(), other], ignore_index=True), dataset="ohlcv",
                        date=str(DAY))) == 4


def test_a_partition_is_one_region_and_never_deletes_another_regions_day(warehouse):
    us = bars(region=["US", "US"], ticker=["AAPL", "BRK/B"])
    warehouse.replace_partition("ohlcv_data", bars(), where={"region": "KR", "date": DAY},
                                status=("ohlcv", DAY, "test"))
    warehouse.replace_partition("ohlcv_data", us, where={"region": "US", "date": DAY},
                                status=("ohlcv", DAY, "test"))
    warehouse.replace_partition("ohlcv_data", bars().iloc[:1], where={"region": "KR", "date": DAY})
    stored = warehouse.read_frame("SELECT region, ticker FROM ohlcv_data ORDER BY region, ticker")
    assert stored.values.tolist() == [["KR", "005930"], ["US", "AAPL"], ["US", "BRK/B"]]
    status = warehouse.read_frame("SELECT asset, region, status FROM partition_status ORDER BY region")
    assert status.values.tolist() == [["ohlcv", "KR", "loaded"], ["ohlcv", "US", "loaded"]]
    with pytest.raises(ValueError, match="region"):   # two regions and no region named: refused
        warehouse.replace_partition("ohlcv_data", pd.concat([bars(), us]), where={"date": DAY})


def test_after_statements_share_the_write_transaction(warehouse):
    warehouse.replace_partition("ohlcv_data", bars(), where={"region": "KR", "date": DAY})
    with pytest.raises(psycopg.errors.DivisionByZero):
        warehouse.replace_partition("ohlcv_data", bars().iloc[:1], where={"region": "KR", "date": DAY},
                                    status=("ohlcv", DAY, "test"), after=["SELECT 1 / 0"])
    assert len(rows(warehouse)) == 2                                  # rolled back with the follow-up
    assert warehouse.read_frame("SELECT count(*) AS n FROM partition_status")["n"].iloc[0] == 0


def ticker_frame(region: str, ticker: str, name: str, currency: str) -> pd.DataFrame:
    return pd.DataFrame({"ticker": [ticker], "region": [region], "isin": [None], "name": [name],
                         "name_eng": [name], "exchange": ["HOSE" if region == "VN" else "NYSE"],
                         "asset_type": ["STOCK"], "currency": [currency], "lot_size": [100 if region == "VN" else 1],
                         "listing_date": [pd.NaT], "delisting_date": [pd.NaT], "is_active": [True],
                         "data_source": ["test"]})


def test_the_same_symbol_in_two_regions_is_two_securities(warehouse):
    from quant_assets.schemas.reference import TickerSchema

    details = pd.DataFrame({"ticker": pd.Series(dtype=str), "region": pd.Series(dtype=str)})
    for region, name, currency in (("US", "Arcadia Biosciences", "USD"), ("VN", "Asia Commercial Bank", "VND")):
        frame = validate(TickerSchema, ticker_frame(region, "ACB", name, currency), dataset="test", date=None)
        warehouse.sync_universe("STOCK", frame, "stock_details", details, region=region)
    got = warehouse.read_frame("SELECT region, name, currency, lot_size, is_active FROM tickers "
                               "WHERE ticker = 'ACB' ORDER BY region")
    assert got.values.tolist() == [["US", "Arcadia Biosciences", "USD", 1, True],
                                   ["VN", "Asia Commercial Bank", "VND", 100, True]]
    # Retiring is per region: an empty US stock list retires ACB in the US only.
    empty = ticker_frame("US", "ACB", "x", "USD").iloc[:0]
    assert warehouse.sync_universe("STOCK", empty, "stock_details", details, region="US")["retired"] == 1
    active = warehouse.read_frame("SELECT region, is_active FROM tickers WHERE ticker = 'ACB' ORDER BY region")
    assert active.values.tolist() == [["US", False], ["VN", True]]


@pytest.mark.parametrize(("region", "etf_ticker", "stock", "field"),
                         [("US", "069500", "AAPL", "etf_ticker"), ("KR", "069500", "5930", "stock_ticker")])
def test_holdings_symbols_are_checked_for_the_etfs_region(region, etf_ticker, stock, field):
    from quant_assets.schemas.etf import EtfHoldingsSchema

    lines = pd.DataFrame({
        "as_of_date": [DAY] * 2, "etf_ticker": [etf_ticker] * 2, "region": [region] * 2,
        "stock_ticker": [stock, "KRD010010001"], "constituent_isin": [None, None], "constituent_name": ["a", "cash"],
        "constituent_type": ["STOCK", "CASH"], "market_id": [None, None], "shares": [10.0, None],
        "market_value": [100.0, 5.0], "weight": [95.2381, 4.7619], "krx_weight_pct": [95.24, 4.76],
        "rank_in_etf": [1, 2], "data_source": ["KRX"] * 2})
    with pytest.raises(SourceDataError) as err:
        validate(EtfHoldingsSchema, lines, dataset="etf_holdings", date=str(DAY), key="etf_ticker")
    assert (err.value.region, err.value.ticker, err.value.field) == (region, etf_ticker, field)
    # The cash line's source code is not a listed symbol and needs no canonical form.
    ok = lines.assign(region="KR", etf_ticker="069500", stock_ticker=["005930", "KRD010010001"])
    assert len(validate(EtfHoldingsSchema, ok, dataset="etf_holdings", date=str(DAY), key="etf_ticker")) == 2
