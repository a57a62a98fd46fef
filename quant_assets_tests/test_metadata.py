"""What the Dagster UI shows about a table: catalogue schema, previews, plotted numbers, the ETF chart.

Real embedded PostgreSQL (migrated, sql/014's comments) and real assets run against the
simulator; the metadata is read back from Dagster's event log the way the UI reads it.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io

import dagster as dg
import pandas as pd
import pytest

from quant_assets import metadata
from quant_assets.assets import etf, prices
from quant_assets.calendar import trading_days
from quant_assets_tests.test_ingest_assets import load_reference, range_tags, run

DAYS = [d.isoformat() for d in trading_days("2024-01-02", "2024-02-29")]


def _materialization(result: dg.ExecuteInProcessResult, asset: str, partition: str) -> dict:
    events = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()
              if e.event_specific_data.materialization.asset_key == dg.AssetKey(asset)]
    by_partition = {m.partition: m.metadata for m in events}
    assert partition in by_partition, f"no {asset} materialization for {partition}: {sorted(by_partition)}"
    return by_partition[partition]


def test_column_schema_is_the_catalogue(database_url):
    schema = metadata.column_schema("ohlcv_data", database_url)
    cols = {c.name: c for c in schema.columns}
    assert cols["close"].type == "numeric(20,4)"                    # PostgreSQL's type, not float64
    assert cols["ticker"].type.startswith("character varying") or cols["ticker"].type == "text"
    assert cols["date"].type == "date"
    assert "traded value" in (cols["value"].description or "").lower() or cols["value"].description
    assert cols["ticker"].constraints.nullable is False
    assert any(c.startswith("PRIMARY KEY (ticker, region, date, timeframe)") for c in schema.constraints.other)
    # every column carries the sql/014 comment, identical to col_description()
    import psycopg
    with psycopg.connect(database_url) as conn:
        comments = dict(conn.execute(
            "SELECT attname, col_description(attrelid, attnum) FROM pg_attribute "
            "WHERE attrelid = 'ohlcv_data'::regclass AND attnum > 0 AND NOT attisdropped").fetchall())
    assert {c.name: c.description for c in schema.columns} == comments
    assert all(comments.values())
    # unknown tables are named, not silently empty
    with pytest.raises(LookupError, match="no_such_table"):
        metadata.column_schema("no_such_table", database_url)


def test_lineage_lists_only_real_columns_of_derived_tables(database_url):
    lineage = metadata.column_lineage("etf_tracking", database_url)
    deps = lineage.deps_by_column
    assert {(d.asset_key, d.column_name) for d in deps["premium_discount_pct"]} == {
        (dg.AssetKey("etf_daily"), "close"), (dg.AssetKey("etf_daily"), "nav")}
    assert dg.AssetKey("etf_list") in {d.asset_key for d in deps["tracking_error_60d"]}
    present = {c.name for c in metadata.column_schema("etf_tracking", database_url).columns}
    assert set(deps) <= present
    assert metadata.column_lineage("ohlcv_data", database_url) is None   # source data: no upstream column


def test_preview_formats_money_and_dates():
    frame = pd.DataFrame({
        "date": pd.to_datetime(["2026-11-20", "2026-11-21"]),
        "ticker": ["069500", "A|B"],
        "aum": [2.45525e10, float("nan")],
        "close": [decimal.Decimal("35123.0000"), decimal.Decimal("9.8765")],
        "weight": [0.12345678, -1.5],
        "volume": [1234567, 0],
    })
    text = metadata.preview(frame).value
    lines = text.splitlines()
    assert lines[0] == "| date | ticker | aum | close | weight | volume |"
    assert lines[1] == "|:---|:---|---:|---:|---:|---:|"       # numbers right-aligned
    assert lines[2] == "| 2026-11-20 | 069500 | 24,552,500,000 | 35,123 | 0.1235 | 1,234,567 |"
    assert lines[3] == "| 2026-11-21 | A\\|B |  | 9.8765 | -1.5 | 0 |"
    assert "e+10" not in text and "00:00:00" not in text
    assert metadata.preview(frame.iloc[:0]).value == "(no rows)"


@pytest.fixture()
def loaded(sim, warehouse):
    load_reference(sim, warehouse)
    result = run([prices.daily_prices], sim, warehouse, tags=range_tags(DAYS[0], DAYS[-1]))
    assert result.success
    return warehouse, result


def test_ingest_partitions_carry_schema_preview_and_numbers(loaded):
    warehouse, result = loaded
    meta = _materialization(result, "ohlcv", DAYS[-1])
    types = {c.name: c.type for c in meta["dagster/column_schema"].schema.columns}
    assert types["close"] == "numeric(20,4)" and types["volume"] == "bigint"
    preview = meta["preview"].value
    assert "00:00:00" not in preview and "e+" not in preview and DAYS[-1] in preview
    # numbers Dagster plots per partition are numeric metadata, not text
    assert isinstance(meta["coverage_pct"], dg.FloatMetadataValue)
    assert isinstance(meta["traded_value_krw_bn"], dg.FloatMetadataValue)
    rows = warehouse.read_frame("SELECT count(*) AS n, sum(value) AS v FROM ohlcv_data WHERE date = %s",
                                (DAYS[-1],)).iloc[0]
    assert meta["dagster/row_count"].value == rows["n"]
    assert meta["traded_value_krw_bn"].value == pytest.approx(float(rows["v"]) / 1e9, rel=1e-6)
    # coverage: the share of the stocks and ETFs listed that day that got a bar (independent SQL)
    listed = warehouse.read_frame(
        "SELECT count(*) AS n, count(o.ticker) AS covered FROM tickers t LEFT JOIN ohlcv_data o "
        "ON o.ticker = t.ticker AND o.region = t.region AND o.date = %s "
        "WHERE t.region = 'KR' AND t.asset_type IN ('STOCK', 'ETF') "
        "AND (t.listing_date IS NULL OR t.listing_date <= %s) AND (t.delisting_date IS NULL "
        "OR t.delisting_date > %s)", (DAYS[-1], DAYS[-1], DAYS[-1])).iloc[0]
    assert meta["coverage_pct"].value == pytest.approx(round(100 * listed["covered"] / listed["n"], 2))
    assert 90 <= meta["coverage_pct"].value <= 100
    unknown = warehouse.read_frame(
        "SELECT count(*) AS n FROM ohlcv_data o WHERE date = %s AND NOT EXISTS "
        "(SELECT 1 FROM tickers t WHERE t.ticker = o.ticker AND t.region = o.region)", (DAYS[-1],))["n"].iloc[0]
    assert meta["tickers_not_in_master"].value == unknown
    etf_meta = _materialization(result, "etf_daily", DAYS[-1])
    assert etf_meta["nav_present_pct"].value == 100.0


def test_tracking_numbers_and_chart_of_the_largest_etfs(sim, loaded):
    warehouse, _ = loaded
    assert run([etf.etf_aum], sim, warehouse, tags=range_tags(DAYS[-5], DAYS[-1])).success
    result = run([etf.etf_tracking], sim, warehouse, tags=range_tags(DAYS[0], DAYS[-1]))
    assert result.success
    day = dt.date.fromisoformat(DAYS[-1])
    frame = warehouse.read_frame("SELECT * FROM etf_tracking WHERE date = %s", (day,))
    numbers = metadata.day_numbers("etf_tracking", frame, day, url=warehouse.url())
    assert numbers["mean_premium_discount_pct"].value == pytest.approx(
        float(frame["premium_discount_pct"].astype(float).mean()), abs=1e-6)
    assert numbers["median_tracking_error_20d"].value == pytest.approx(
        float(frame["tracking_error_20d"].astype(float).median()), abs=1e-6)
    assert numbers["coverage_pct"].value == 100.0
    # the ranged run reported each day with its own numbers; the newest day carries the chart
    last = _materialization(result, "etf_tracking", DAYS[-1])
    first = _materialization(result, "etf_tracking", DAYS[0])
    # (from the frame written; the table rounds to numeric(10,4))
    assert last["mean_premium_discount_pct"].value == pytest.approx(numbers["mean_premium_discount_pct"].value,
                                                                     abs=1e-4)
    assert last["dagster/row_count"].value == len(frame)
    assert first["mean_premium_discount_pct"] != last["mean_premium_discount_pct"]
    assert "largest_etfs_chart" in last and "largest_etfs_chart" not in first
    assert {d.column_name for d in last["dagster/column_lineage"].column_lineage.deps_by_column["premium_discount_pct"]} == {
        "close", "nav"}
    assert last["dagster/column_schema"].schema.columns[0].description

    history = metadata.largest_etf_history(day, url=warehouse.url())
    top = warehouse.read_frame("SELECT ticker FROM etf_aum WHERE date = %s ORDER BY aum DESC, ticker LIMIT 5",
                               (day,))["ticker"].tolist()
    assert list(dict.fromkeys(history["ticker"])) == top           # the five largest, largest first
    assert history["name"].str.contains("[가-힣]").any()             # Korean names reach the legend

    chart = metadata.etf_chart(day, url=warehouse.url())
    prefix = "data:image/png;base64,"
    assert prefix in chart.value
    png = base64.b64decode(chart.value.split(prefix, 1)[1].rstrip(")"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) < 120_000                                         # small enough for the event log
    from matplotlib.image import imread
    pixels = imread(io.BytesIO(png))
    assert pixels.shape[0] > 300 and pixels.shape[1] > 500
    assert metadata.etf_chart(dt.date(2000, 1, 3), url=warehouse.url()) is None   # nothing to draw


def test_chart_font_has_hangul():
    """The ETF names in the legend are Korean: the font matplotlib picks must have Hangul glyphs."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    if not any("nanum" in p.lower() or "cjk" in p.lower() for p in font_manager.findSystemFonts()):
        pytest.skip("no Korean font installed (fonts-nanum or fonts-noto-cjk)")
    with metadata._font():
        path = font_manager.findfont(font_manager.FontProperties(family=metadata.FONTS), fallback_to_default=False)
    assert ord("괴") in FT2Font(path).get_charmap(), path
