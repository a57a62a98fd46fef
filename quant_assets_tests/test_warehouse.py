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
    us = bars(region=["US", "US"], ticker=["AAPL", "BRK/B"]).assign(currency="USD")  # never KRW (sql/023)
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


# -- binary COPY (resources/binary_copy.py): exact round trip of every column type -------------------

EDGE_TYPES = ("n4 numeric(20,4), n2 numeric(10,2), n6 numeric(9,6), i8 bigint, i4 integer, i2 smallint, "
              "f8 double precision, t text, v varchar(20), c char(3), d date, b boolean, tf timeframe")


def edge_frame() -> pd.DataFrame:
    """Values where a wire format goes wrong: NULLs, signs, ties, int64 ends, dates on both sides of
    PostgreSQL's 2000-01-01 epoch, multi-byte text."""
    return pd.DataFrame({
        "n4": [0.0, -0.0, 1e-4, -1e-4, 0.00005, -0.00005, 1.00005, 123456789012.3456, -99999999.9999,
               77200.0, None, 0.26],
        "n2": [0.0, 0.005, -0.005, 0.015, 2.675, -1.125, 99999999.99, 12.3, None, -0.01, 0.1, 1e6],
        "n6": [0.0, 1e-6, -1e-6, 0.0000005, 123.456789, -999.999999, None, 3.14159265, 1.0, -1.0, 0.5, 2.0],
        "i8": pd.array([0, -1, 2**63 - 1, -(2**63), 5_969_782_550, None, 1, 2, 3, 4, 5, 6], dtype="Int64"),
        "i4": [0, -1, 2**31 - 1, -(2**31), 7, 8, 9, 10, 11, 12, 13, 14],
        "i2": [0.0, -1.0, 32767.0, -32768.0, None, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        "f8": [0.0, -0.0, 1e-300, -1e300, 0.1, None, float(2**53 + 1), 1 / 3, -2.5, 7.0, 8.0, 9.0],
        "t": ["", "a", "삼성전자", "KODEX 200 레버리지", "emoji 📈", None, "tab\tnew\nline", "quote\"'", "\\", "é",
              "x" * 300, "0069M0"],
        "v": ["005930", "0069M0", None, "한글", "", "a", "b", "c", "d", "e", "f", "g"],
        "c": ["KRW", "USD", None, "A", "AB", "한", "x", "y", "z", "w", "v", "u"],
        "d": [dt.date(2000, 1, 1), dt.date(1999, 12, 31), dt.date(1900, 1, 1), dt.date(2099, 12, 31),
              dt.date(1970, 1, 1), None, dt.date(2024, 2, 29), dt.date(2024, 3, 1), dt.date(1, 1, 1),
              dt.date(9999, 12, 31), dt.date(2026, 12, 2), dt.date(1988, 6, 5)],
        "b": [True, False, None, True, False, True, False, True, False, True, False, True],
        "tf": ["D", "W", "M", None, "D", "D", "D", "D", "D", "D", "D", "D"],
    })


def as_text(conn, table):
    cols = "n4::text, n2::text, n6::text, i8::text, i4::text, i2::text, f8::text, t, v, c, d::text, b::text, tf::text"
    return conn.execute(f"SELECT {cols} FROM {table} ORDER BY ord").fetchall()


def test_binary_copy_round_trips_every_column_type_exactly(database_url):
    from quant_assets.resources import binary_copy
    from quant_assets.resources.warehouse import copy_frame_csv

    frame = edge_frame()    # dates as datetime.date objects (as parsed); as datetime64 below
    with psycopg.connect(database_url) as conn:
        for table in ("_rt_binary", "_rt_csv", "_rt_dt64"):
            conn.execute(f"CREATE TEMP TABLE {table} (ord serial, {EDGE_TYPES})")
        binary_copy.copy_binary(conn, "_rt_binary", frame)
        copy_frame_csv(conn, "_rt_csv", frame)
        sane = frame[frame["d"].map(lambda d: d is None or dt.date(1700, 1, 1) < d < dt.date(2200, 1, 1))].copy()
        sane["d"] = pd.to_datetime(sane["d"])   # the dtype pandera's coercion hands to the write
        binary_copy.copy_binary(conn, "_rt_dt64", sane)
        got, via_csv = as_text(conn, "_rt_binary"), as_text(conn, "_rt_csv")
        # The same stored values as the CSV path, except that an empty string stays an empty string
        # (CSV turned '' into NULL).
        for row_b, row_c in zip(got, via_csv, strict=True):
            assert [("" if (b == "" and c is None) else c) for b, c in zip(row_b, row_c, strict=True)] == list(row_b)
        cols = list(frame.columns)
        by_col = {c: [r[i] for r in got] for i, c in enumerate(cols)}
        assert by_col["n4"][:10] == ["0.0000", "0.0000", "0.0001", "-0.0001", "0.0001", "-0.0001", "1.0001",
                                     "123456789012.3456", "-99999999.9999", "77200.0000"]
        assert by_col["n4"][10] is None and by_col["n4"][11] == "0.2600"
        assert by_col["n2"][:8] == ["0.00", "0.01", "-0.01", "0.02", "2.68", "-1.13", "99999999.99", "12.30"]
        assert by_col["n6"][:6] == ["0.000000", "0.000001", "-0.000001", "0.000001", "123.456789", "-999.999999"]
        assert by_col["i8"][:6] == ["0", "-1", str(2**63 - 1), str(-(2**63)), "5969782550", None]
        assert by_col["i4"][2:4] == [str(2**31 - 1), str(-(2**31))] and by_col["i2"][2:5] == ["32767", "-32768", None]
        assert float(by_col["f8"][6]) == 2**53 and by_col["f8"][7] == repr(1 / 3) and by_col["f8"][5] is None
        assert by_col["t"][:5] == ["", "a", "삼성전자", "KODEX 200 레버리지", "emoji 📈"] and by_col["t"][5] is None
        assert by_col["t"][6:9] == ["tab\tnew\nline", "quote\"'", "\\"] and by_col["t"][10] == "x" * 300
        assert by_col["c"][:5] == ["KRW", "USD", None, "A  ", "AB "]
        assert by_col["d"][:5] == ["2000-01-01", "1999-12-31", "1900-01-01", "2099-12-31", "1970-01-01"]
        assert by_col["d"][8:10] == ["0001-01-01", "9999-12-31"]
        assert by_col["b"][:3] == ["true", "false", None] and by_col["tf"][:4] == ["D", "W", "M", None]
        dt64 = conn.execute("SELECT d::text FROM _rt_dt64 ORDER BY ord").fetchall()
        assert [r[0] for r in dt64] == [d if d is None else str(d) for d in sane["d"].dt.date.where(sane["d"].notna(), None)]


def test_binary_copy_refuses_what_it_cannot_send_exactly_and_copy_frame_falls_back(database_url):
    from quant_assets.resources import binary_copy
    from quant_assets.resources.warehouse import copy_frame

    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TEMP TABLE _fallback (i bigint, j jsonb, n numeric)")
        frame = pd.DataFrame({"i": [1.5]})
        with pytest.raises(binary_copy.Unsupported):
            binary_copy.copy_binary(conn, "_fallback", frame)      # not an integer: never truncated
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            copy_frame(conn, "_fallback", frame)                   # the CSV path's server error, as before
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TEMP TABLE _fallback (i bigint, j jsonb, n numeric)")
        copy_frame(conn, "_fallback", pd.DataFrame({"i": [1.0, None], "j": ['{"a": 1}', None], "n": [0.1, 2.0]}))
        assert conn.execute("SELECT i, j::text, n::text FROM _fallback ORDER BY i").fetchall() == \
            [(1, '{"a": 1}', "0.1"), (None, None, "2.0")]


def test_binary_replace_partition_round_trips_bars_and_reruns_identically(warehouse):
    edge = bars(open=[None, 10050.0], change=[-1234.5678, 0.0], change_pct=[-29.99, 30.0],
                value=[0.0, 9.2e18], market_cap=[None, 1.0], listed_shares=[None, 0.0])
    edge["volume"] = pd.array([0, 2**62], dtype="Int64")
    for _ in range(2):  # re-run: the same rows
        warehouse.replace_partition("ohlcv_data", edge, where={"region": "KR", "date": DAY})
        with psycopg.connect(warehouse.url()) as conn:
            got = conn.execute("SELECT ticker, open::text, change::text, change_pct::text, volume, value, "
                               "market_cap, listed_shares, asset_type, timeframe::text, date "
                               "FROM ohlcv_data ORDER BY ticker").fetchall()
        assert got == [("005930", None, "-1234.5678", "-29.99", 0, 0, None, None, "STOCK", "D", DAY),
                       ("0069M0", "10050.0000", "0.0000", "30.00", 2**62, 9_200_000_000_000_000_000, 1, 0, "ETF",
                        "D", DAY)]


def test_a_pre_encoded_write_stores_the_same_rows_as_the_frame(warehouse):
    """Ranged ingest encodes a day in its fetch thread (Warehouse.encode, PartitionWrite.encoded):
    the bytes must store exactly what copy_frame stores for the frame."""
    from quant_assets.resources.warehouse import PartitionWrite

    edge = bars(open=[None, 10050.0], change=[-1234.5678, 0.0], change_pct=[-29.99, 30.0])
    query = "SELECT ticker, open::text, close::text, change::text, change_pct::text, volume, value FROM ohlcv_data"
    where = {"region": "KR", "date": DAY}
    warehouse.replace_partition("ohlcv_data", edge, where=where)
    plain = warehouse.read_frame(query + " ORDER BY ticker")
    encoded = warehouse.encode("ohlcv_data", edge)
    assert encoded is not None and encoded.rows == 2
    warehouse.execute("DELETE FROM ohlcv_data")
    warehouse.replace_partitions([PartitionWrite("ohlcv_data", edge, where=where, encoded=encoded)])
    pd.testing.assert_frame_equal(warehouse.read_frame(query + " ORDER BY ticker"), plain)
    # bytes that do not belong to the frame (another row count) are never sent: the frame is
    warehouse.replace_partitions([PartitionWrite("ohlcv_data", edge, where=where,
                                                 encoded=warehouse.encode("ohlcv_data", edge.head(1)))])
    pd.testing.assert_frame_equal(warehouse.read_frame(query + " ORDER BY ticker"), plain)


def etf_rows(day=DAY, **overrides) -> pd.DataFrame:
    frame = pd.DataFrame({"date": [day], "ticker": ["069500"], "region": ["KR"], "close": [35000.0],
                          "nav": [35012.34], "aum": [None], "listed_units": [1_000_000.0],
                          "market_cap": [35_000_000_000.0], "index_close": [350.12], "index_change_pct": [-1.5]})
    for col, values in overrides.items():
        frame[col] = values
    return frame


def test_a_failure_writing_the_second_table_leaves_neither(warehouse):
    from quant_assets.resources.warehouse import PartitionWrite

    where = {"region": "KR", "date": DAY}
    warehouse.replace_partitions([PartitionWrite("ohlcv_data", bars(), where=where),
                                  PartitionWrite("etf_daily", etf_rows(), where=where)])
    before = rows(warehouse)
    broken = etf_rows(nav=[None])                      # NOT NULL violation inside the second COPY
    with pytest.raises(psycopg.errors.NotNullViolation):
        warehouse.replace_partitions([PartitionWrite("ohlcv_data", bars().iloc[:1], where=where,
                                                     status=("ohlcv", DAY, "test")),
                                      PartitionWrite("etf_daily", broken, where=where)])
    pd.testing.assert_frame_equal(rows(warehouse), before)            # the first table rolled back too
    assert warehouse.read_frame("SELECT nav FROM etf_daily")["nav"].tolist() == [35012.34]
    assert warehouse.read_frame("SELECT count(*) AS n FROM partition_status")["n"].iloc[0] == 0
