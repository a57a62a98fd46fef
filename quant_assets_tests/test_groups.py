"""Groups (seed 003) on the real embedded PostgreSQL: ETF, SECTOR, THEME, CUSTOM, any region.

Most tests fill tickers / stock_details / etf_holdings / ohlcv_data with SQL in the seed schema's
own columns (a KR, a US and an HK ETF; US 'AAPL', HK '0700'), then materialize the real `groups`
asset; the last ones run the whole chain on the simulator.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pandas as pd
import psycopg
import pytest

from quant_assets.assets import groups
from quant_assets.resources.warehouse import Warehouse

DAY, PREVIOUS = dt.date(2024, 2, 29), dt.date(2024, 2, 28)

TICKERS = """
INSERT INTO tickers (ticker, region, name, exchange, asset_type, currency, is_active) VALUES
  ('005930', 'KR', '삼성전자', 'KOSPI', 'STOCK', 'KRW', true), ('000660', 'KR', 'SK하이닉스', 'KOSPI', 'STOCK', 'KRW', true),
  ('373220', 'KR', 'LG에너지솔루션', 'KOSPI', 'STOCK', 'KRW', true), ('006400', 'KR', '삼성SDI', 'KOSPI', 'STOCK', 'KRW', true),
  ('051910', 'KR', 'LG화학', 'KOSPI', 'STOCK', 'KRW', true), ('035420', 'KR', 'NAVER', 'KOSPI', 'STOCK', 'KRW', true),
  ('035720', 'KR', '카카오', 'KOSPI', 'STOCK', 'KRW', true), ('005380', 'KR', '현대차', 'KOSPI', 'STOCK', 'KRW', true),
  ('000270', 'KR', '기아', 'KOSPI', 'STOCK', 'KRW', true), ('000020', 'KR', '동화약품', 'KOSPI', 'STOCK', 'KRW', false),
  ('069500', 'KR', 'KODEX 200', 'KOSPI', 'ETF', 'KRW', true), ('999990', 'KR', 'OLD ETF', 'KOSPI', 'ETF', 'KRW', false),
  ('AAPL', 'US', 'Apple', 'NASDAQ', 'STOCK', 'USD', true), ('MSFT', 'US', 'Microsoft', 'NASDAQ', 'STOCK', 'USD', true),
  ('SPY', 'US', 'SPDR S&P 500', 'NYSE', 'ETF', 'USD', true),
  ('0700', 'HK', 'Tencent', 'HKEX', 'STOCK', 'HKD', true), ('0005', 'HK', 'HSBC', 'HKEX', 'STOCK', 'HKD', true),
  ('2800', 'HK', 'Tracker Fund', 'HKEX', 'ETF', 'HKD', true);
INSERT INTO stock_details (ticker, region, sector) VALUES
  ('005930', 'KR', '전기전자'), ('000660', 'KR', '전기전자'), ('051910', 'KR', '화학'), ('000020', 'KR', '의약품'),
  ('AAPL', 'US', 'Technology'), ('MSFT', 'US', 'Technology'), ('0700', 'HK', 'Communication'), ('0005', 'HK', '');
"""

# (etf, region, day, stock, type, weight %, rank)
HOLDINGS = [
    ("069500", "KR", DAY, "005930", "STOCK", 30.1234, 1), ("069500", "KR", DAY, "000660", "STOCK", 10.5, 2),
    ("069500", "KR", DAY, "US0378331005", "FOREIGN", 2.0, 3), ("069500", "KR", DAY, "KRD010010001", "CASH", 1.0, 4),
    ("069500", "KR", PREVIOUS, "005930", "STOCK", 29.0, 1), ("069500", "KR", PREVIOUS, "035420", "STOCK", 3.0, 2),
    ("999990", "KR", DAY, "005930", "STOCK", 50.0, 1),                     # delisted ETF: no group
    ("SPY", "US", DAY, "AAPL", "STOCK", 7.1, 1), ("SPY", "US", DAY, "MSFT", "STOCK", 6.9, 2),
    ("SPY", "US", DAY, "SH", "ETF", -1.25, 3),                             # a short line: negative weight
    ("2800", "HK", PREVIOUS, "0700", "STOCK", 9.5, 1), ("2800", "HK", PREVIOUS, "0005", "STOCK", 8.0, 2),
]


def holdings_frame(rows=HOLDINGS) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["etf_ticker", "region", "as_of_date", "stock_ticker", "constituent_type",
                                       "weight", "rank_in_etf"])


def put_holdings(wh: Warehouse, frame: pd.DataFrame) -> None:
    wh.ensure_month_partitions("etf_holdings", frame["as_of_date"].unique())
    with wh.connect() as conn:
        conn.execute("DELETE FROM etf_holdings")
        from quant_assets.resources.warehouse import copy_frame
        copy_frame(conn, "etf_holdings", frame)


def put_bars(wh: Warehouse, ticker: str, value: float, days: int = 25, market_cap: int = 10**12) -> None:
    dates = pd.bdate_range(end=DAY, periods=days).date
    wh.ensure_month_partitions("ohlcv_data", dates)
    wh.execute("""INSERT INTO ohlcv_data (date, ticker, region, asset_type, close, volume, value, market_cap)
                  SELECT d, %s, 'KR', 'STOCK', 1000, 1, %s, %s FROM unnest(%s::date[]) d""",
               (ticker, value, market_cap, list(dates)))


@pytest.fixture()
def wh(warehouse, monkeypatch):
    monkeypatch.delenv("QUANT_ENV", raising=False)
    warehouse.execute(TICKERS)
    put_holdings(warehouse, holdings_frame())
    return warehouse


def materialize(wh: Warehouse):
    return dg.materialize([groups.groups], resources={"warehouse": wh}, raise_on_error=False)


def exact(wh: Warehouse, sql: str, params=None) -> pd.DataFrame:
    """Rows with NUMERIC values as stored (Decimal); Warehouse.read_frame hands back floats."""
    with psycopg.connect(wh.url()) as conn:
        cur = conn.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def error_text(result) -> str:
    from quant_assets_tests.test_ingest_assets import failure_text
    return failure_text(result, "groups")


def memberships(wh: Warehouse, env: str = "DEFAULT") -> pd.DataFrame:
    return exact(wh, """SELECT g.id AS gid, g.type, g.name, g.description, g.metadata AS gmeta,
                                   g.liquidity_filter, g.environment, g.created_at, g.updated_at, g.last_update,
                                   m.id, m.symbol, m.region, m.weight, m.metadata, m.added_at,
                                   m.updated_at AS m_updated_at
                            FROM definition_groups g JOIN group_memberships m ON m.group_id = g.id
                            WHERE g.environment = %s ORDER BY g.type, g.name, m.symbol""", (env,))


def members_of(frame: pd.DataFrame, group_type: str, name: str) -> pd.DataFrame:
    return frame[(frame["type"] == group_type) & (frame["name"] == name)].set_index("symbol")


def test_tables_are_exactly_seed_003(wh):
    cols = wh.read_frame("""SELECT table_name, column_name FROM information_schema.columns
                            WHERE table_name IN ('definition_groups', 'group_memberships')""")
    by_table = cols.groupby("table_name")["column_name"].apply(set).to_dict()
    assert by_table["definition_groups"] == {"id", "name", "type", "description", "metadata", "liquidity_filter",
                                             "environment", "created_at", "updated_at", "last_update"}
    assert by_table["group_memberships"] == {"id", "group_id", "symbol", "weight", "metadata", "added_at",
                                             "updated_at", "region"}                 # + our nullable region
    kinds = dict(wh.read_frame("""SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
                                  WHERE conrelid IN ('definition_groups'::regclass, 'group_memberships'::regclass)
                                    AND contype IN ('u', 'c', 'f')""").itertuples(index=False, name=None))
    assert kinds["unique_group"] == "UNIQUE (name, type, environment)"
    assert kinds["unique_membership"] == "UNIQUE (group_id, symbol)"
    assert "ON DELETE CASCADE" in kinds["group_memberships_group_id_fkey"]
    assert "'DEFAULT'" in kinds["definition_groups_environment_check"]
    assert "'SEGMENT'" in kinds["definition_groups_type_check"]


def test_groups_from_holdings_sectors_and_yaml(wh):
    result = materialize(wh)
    assert result.success
    g = memberships(wh)
    assert set(g["type"]) == {"ETF", "SECTOR", "THEME", "CUSTOM"} and set(g["environment"]) == {"DEFAULT"}
    # ETF: the latest PDF, weight as a fraction NUMERIC(5,4), the exact percent kept in metadata.
    kodex = members_of(g, "ETF", "069500")
    assert set(kodex.index) == {"005930", "000660", "US0378331005"}          # no CASH line, no older day
    assert kodex.loc["005930", "weight"] == Decimal("0.3012")
    assert kodex.loc["005930", "metadata"] == {"rank_in_etf": 1, "weight_pct": 30.1234, "constituent_type": "STOCK"}
    assert kodex.loc["005930", "region"] == "KR" and pd.isna(kodex.loc["US0378331005", "region"])
    assert kodex["gmeta"].iloc[0] == {"source": "etf_holdings", "region": "KR", "ticker": "069500",
                                      "as_of_date": "2024-02-29"}
    assert kodex["description"].iloc[0] == "KODEX 200"
    assert "999990" not in set(g["name"])                                    # delisted ETF
    # A US 'AAPL' and an HK '0700', in groups named with their region.
    spy = members_of(g, "ETF", "US:SPY")
    assert spy.loc["AAPL", "weight"] == Decimal("0.0710") and spy.loc["AAPL", "region"] == "US"
    assert spy.loc["SH", "weight"] == Decimal("-0.0125")                       # short: negative, as reported
    hk = members_of(g, "ETF", "HK:2800")
    assert hk.loc["0700", "weight"] == Decimal("0.0950")
    assert hk["gmeta"].iloc[0]["as_of_date"] == "2024-02-28"                  # its own latest PDF
    # SECTOR: active stocks only, one group per region and sector, blank sectors skipped.
    assert set(members_of(g, "SECTOR", "전기전자").index) == {"005930", "000660"}
    assert set(members_of(g, "SECTOR", "US:Technology").index) == {"AAPL", "MSFT"}
    assert set(members_of(g, "SECTOR", "HK:Communication").index) == {"0700"}
    assert "의약품" not in set(g["name"]) and "HK:" not in set(g["name"])
    sector = members_of(g, "SECTOR", "전기전자")
    assert sector["gmeta"].iloc[0] == {"source": "stock_details.sector", "region": "KR", "sector": "전기전자"}
    assert sector["weight"].isna().all()
    # THEME / CUSTOM from the YAML file.
    theme = members_of(g, "THEME", "반도체")
    assert set(theme.index) == {"005930", "000660"}
    assert theme["gmeta"].iloc[0] == {"source": "groups.yaml", "region": "KR"}
    assert theme["description"].iloc[0] == "Memory and foundry leaders"
    assert set(members_of(g, "CUSTOM", "KOSPI 대형 자동차").index) == {"005380", "000270"}
    # No bars loaded: the liquidity-filtered group cannot prove any member, so it is not a group.
    assert "대형 유동주" not in set(g["name"])
    check = result.get_asset_check_evaluations()[0]
    assert check.passed and check.metadata["orphan_memberships"].value == 0


def test_seed_success_criteria_queries(wh):
    assert materialize(wh).success
    orphans = wh.read_frame("""SELECT count(*) AS n FROM group_memberships gm
                               LEFT JOIN definition_groups dg ON gm.group_id = dg.id WHERE dg.id IS NULL""")
    assert orphans["n"].iloc[0] == 0
    per_type = wh.read_frame("""SELECT dg.type, count(DISTINCT dg.id) AS groups, count(*) AS memberships
                                FROM definition_groups dg JOIN group_memberships gm ON gm.group_id = dg.id
                                GROUP BY dg.type ORDER BY dg.type""")
    assert per_type.set_index("type").to_dict("index") == {
        "CUSTOM": {"groups": 1, "memberships": 2},
        "ETF": {"groups": 3, "memberships": 3 + 3 + 2},
        "SECTOR": {"groups": 4, "memberships": 2 + 1 + 2 + 1},
        "THEME": {"groups": 3, "memberships": 2 + 3 + 2},
    }
    # The seed's two lookups: an ETF's holdings, and a stock's groups.
    spy = wh.read_frame("""SELECT gm.symbol, gm.weight FROM group_memberships gm
                           JOIN definition_groups dg ON dg.id = gm.group_id
                           WHERE dg.type = 'ETF' AND dg.name = 'US:SPY' ORDER BY gm.weight DESC""")
    assert spy["symbol"].tolist() == ["AAPL", "MSFT", "SH"]
    of_samsung = wh.read_frame("""SELECT dg.type, dg.name FROM group_memberships gm
                                  JOIN definition_groups dg ON dg.id = gm.group_id
                                  WHERE gm.symbol = '005930' AND gm.region = 'KR' ORDER BY 1, 2""")
    assert list(of_samsung.itertuples(index=False, name=None)) == [("ETF", "069500"), ("SECTOR", "전기전자"),
                                                                    ("THEME", "반도체")]
    # ... and the same through the module's helpers.
    assert groups.group_members(wh, "ETF", "US:SPY")["symbol"].tolist() == ["AAPL", "MSFT", "SH"]
    assert groups.groups_of(wh, "005930", "KR")["name"].tolist() == ["069500", "전기전자", "반도체"]
    assert groups.groups_of(wh, "0700")[["type", "name"]].values.tolist() == [["ETF", "HK:2800"],
                                                                             ["SECTOR", "HK:Communication"]]
    assert groups.groups_of(wh, "005930", env="PROD").empty


def test_rerun_keeps_rows_and_ids_then_reconciles_changes(wh):
    assert materialize(wh).success
    first = memberships(wh)
    assert materialize(wh).success
    pd.testing.assert_frame_equal(first, memberships(wh))                     # every column, ids and times

    # New holdings day for KODEX 200: 000660 reweighted, the ISIN gone, 035720 added; SPY unchanged.
    later = dt.date(2024, 3, 4)
    rows = [("069500", "KR", later, "005930", "STOCK", 30.1234, 1), ("069500", "KR", later, "000660", "STOCK", 11.0, 2),
            ("069500", "KR", later, "035720", "STOCK", 1.5, 3)]
    put_holdings(wh, holdings_frame([*HOLDINGS, *rows]))
    assert materialize(wh).success
    second = memberships(wh)
    kodex1, kodex2 = members_of(first, "ETF", "069500"), members_of(second, "ETF", "069500")
    assert kodex2.loc["005930", "id"] == kodex1.loc["005930", "id"]               # same row ...
    assert kodex2.loc["005930", "m_updated_at"] == kodex1.loc["005930", "m_updated_at"]  # ... untouched
    assert kodex2.loc["000660", "id"] == kodex1.loc["000660", "id"]
    assert kodex2.loc["000660", "weight"] == Decimal("0.1100")
    assert kodex2.loc["000660", "m_updated_at"] > kodex1.loc["000660", "m_updated_at"]
    assert "US0378331005" not in kodex2.index and "035720" in kodex2.index
    assert kodex2["gid"].iloc[0] == kodex1["gid"].iloc[0]
    assert kodex2["gmeta"].iloc[0]["as_of_date"] == "2024-03-04"
    assert kodex2["last_update"].iloc[0] > kodex1["last_update"].iloc[0]
    assert kodex2["updated_at"].iloc[0] > kodex1["updated_at"].iloc[0]
    # Groups whose sources did not change are byte-for-byte the same rows.
    unchanged = first[first["name"] != "069500"].reset_index(drop=True)
    pd.testing.assert_frame_equal(unchanged, second[second["name"] != "069500"].reset_index(drop=True))

    # A stock delisted: its sector membership goes; a group left without members goes with it.
    wh.execute("UPDATE tickers SET is_active = false WHERE ticker IN ('AAPL', 'MSFT') AND region = 'US'")
    assert materialize(wh).success
    third = memberships(wh)
    assert "US:Technology" not in set(third["name"])
    assert set(members_of(third, "ETF", "US:SPY").index) == {"AAPL", "MSFT", "SH"}   # holdings still list them


def test_liquidity_filter_from_yaml(wh, tmp_path: Path):
    put_bars(wh, "005930", 50e9)
    put_bars(wh, "000660", 20e9, market_cap=10**11)
    put_bars(wh, "035420", 5e9)                     # too little traded value
    put_bars(wh, "005380", 30e9, days=3)            # few bars: the mean of what there is
    spec = tmp_path / "groups.yaml"
    spec.write_text("""
custom:
  유동주:
    description: liquid large caps
    tickers: ["5930", "000660", "035420", "005380", "000270"]
    liquidity_filter: {min_avg_daily_value: 10000000000, window_days: 20}
  대형 유동주:
    tickers: ["005930", "000660"]
    liquidity_filter: {min_avg_daily_value: 10000000000, min_market_cap: 500000000000}
segments:
  미국 빅테크:
    region: US
    tickers: ["AAPL", "MSFT", {ticker: "0700", region: HK}]
    metadata: {owner: research}
""", encoding="utf-8")
    known = set(wh.read_frame("SELECT ticker, region FROM tickers").itertuples(index=False, name=None))
    with wh.connect() as conn, conn.transaction():
        counts = groups.rebuild(conn, "TEST", groups.yaml_groups(spec, known))
    assert counts["liquidity_filtered"] == 2 + 1         # 035420 (value), 000270 (no bars); 000660 (market cap)
    g = memberships(wh, "TEST")
    liquid = members_of(g, "CUSTOM", "유동주")
    assert set(liquid.index) == {"005930", "000660", "005380"}
    assert liquid["liquidity_filter"].iloc[0] == {"min_avg_daily_value": 10000000000, "window_days": 20}
    assert set(members_of(g, "CUSTOM", "대형 유동주").index) == {"005930"}
    seg = members_of(g, "SEGMENT", "미국 빅테크")
    assert seg["region"].to_dict() == {"AAPL": "US", "MSFT": "US", "0700": "HK"}
    assert seg["gmeta"].iloc[0] == {"owner": "research", "source": "groups.yaml", "region": "US"}
    assert memberships(wh).empty                          # another environment's rows untouched (none)


@pytest.mark.parametrize(("yaml_text", "column", "message"), [
    ("themes:\n  x:\n    tickers: ['123456']\n", "symbol", "123456, which is not in tickers"),
    ("themes:\n  x:\n    tickers: ['AAPL']\n", "symbol", "canonical form"),
    ("themes:\n  x:\n    tickers: ['005930', '5930']\n", "symbol", "listed twice"),
    ("themes:\n  x:\n    region: EU\n    tickers: ['AAPL']\n", "region", "unknown region"),
    ("themes:\n  x:\n    ticker: ['005930']\n", "metadata", "unknown key"),
    ("themes:\n  x:\n    tickers: ['005930']\n    liquidity_filter: {min_volume: 5}\n", "liquidity_filter",
     "liquidity_filter takes"),
    ("indices:\n  x:\n    tickers: ['005930']\n", "type", "unknown section"),
    (f"custom:\n  {'n' * 101}:\n    tickers: ['005930']\n", "name", "longer than 100"),
])
def test_yaml_mistakes_are_named(wh, tmp_path, yaml_text, column, message):
    spec = tmp_path / "groups.yaml"
    spec.write_text(yaml_text, encoding="utf-8")
    known = set(wh.read_frame("SELECT ticker, region FROM tickers").itertuples(index=False, name=None))
    with pytest.raises(groups.GroupDataError, match=message) as err:
        groups.yaml_groups(spec, known)
    assert err.value.column == column and err.value.table in ("definition_groups", "group_memberships")


def test_environment_is_seed_checked(wh, monkeypatch):
    assert materialize(wh).success
    before = memberships(wh)
    monkeypatch.setenv("QUANT_ENV", "dev")
    result = materialize(wh)
    assert not result.success
    text = error_text(result)
    assert "definition_groups" in text and "environment" in text and "'dev'" in text
    pd.testing.assert_frame_equal(before, memberships(wh))
    monkeypatch.setenv("QUANT_ENV", "uat")
    assert materialize(wh).success
    uat = memberships(wh, "UAT")
    assert len(uat) == len(before) and set(uat["id"]).isdisjoint(before["id"])
    pd.testing.assert_frame_equal(before, memberships(wh))                   # DEFAULT untouched
    with pytest.raises(psycopg.errors.CheckViolation, match="definition_groups_environment_check"):
        wh.execute("INSERT INTO definition_groups (name, type, environment) VALUES ('x', 'THEME', 'dev')")


def test_a_weight_that_is_no_fraction_is_named_and_nothing_changes(wh):
    assert materialize(wh).success
    before = memberships(wh)
    bad = holdings_frame([*HOLDINGS, ("SPY", "US", DAY, "0700", "STOCK", -150.0, 4)])
    put_holdings(wh, bad)
    result = materialize(wh)
    assert not result.success
    text = error_text(result)
    for part in ("group_memberships", "weight", "-150", "US:SPY", "0700", "US", "2024-02-29"):
        assert part in text, part
    pd.testing.assert_frame_equal(before, memberships(wh))                   # the previous groups intact


def test_seed_constraints_hold_for_direct_writes(wh):
    assert materialize(wh).success
    gid = int(wh.read_frame("SELECT id FROM definition_groups WHERE name = '반도체'")["id"].iloc[0])
    with pytest.raises(psycopg.errors.NumericValueOutOfRange):              # NUMERIC(5,4): at most 9.9999
        wh.execute("INSERT INTO group_memberships (group_id, symbol, weight) VALUES (%s, 'AAPL', 10)", (gid,))
    wh.execute("INSERT INTO group_memberships (group_id, symbol, region, weight) VALUES (%s, 'AAPL', 'US', 0.12345)",
               (gid,))
    assert exact(wh, "SELECT weight FROM group_memberships WHERE symbol = 'AAPL' AND group_id = %s",
                 (gid,))["weight"].iloc[0] == Decimal("0.1235")
    with pytest.raises(psycopg.errors.UniqueViolation, match="unique_membership"):
        wh.execute("INSERT INTO group_memberships (group_id, symbol) VALUES (%s, '005930')", (gid,))
    with pytest.raises(psycopg.errors.UniqueViolation, match="unique_group"):
        wh.execute("INSERT INTO definition_groups (name, type, environment) VALUES ('반도체', 'THEME', 'DEFAULT')")
    with pytest.raises(psycopg.errors.CheckViolation, match="definition_groups_type_check"):
        wh.execute("INSERT INTO definition_groups (name, type, environment) VALUES ('x', 'INDEX', 'DEFAULT')")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        wh.execute("INSERT INTO group_memberships (group_id, symbol) VALUES (-1, '005930')")
    wh.execute("DELETE FROM definition_groups WHERE id = %s", (gid,))         # ON DELETE CASCADE
    assert wh.read_frame("SELECT count(*) AS n FROM group_memberships WHERE group_id = %s", (gid,))["n"].iloc[0] == 0


# -- the whole chain on the simulator ----------------------------------------------------------
def test_groups_from_the_simulator_chain(sim, warehouse, monkeypatch):
    from quant_assets.assets import etf, prices
    from quant_assets.calendar import trading_days
    from quant_assets_tests.test_ingest_assets import load_reference, range_tags, run

    monkeypatch.delenv("QUANT_ENV", raising=False)
    days = [d.isoformat() for d in trading_days("2024-02-01", "2024-02-29")]
    load_reference(sim, warehouse)
    assert run([prices.daily_prices], sim, warehouse, tags=range_tags(days[0], days[-1])).success
    assert run([etf.etf_holdings], sim, warehouse, partition_key=days[-1]).success
    result = run([groups.groups], sim, warehouse)
    assert result.success, error_text(result)
    g = memberships(warehouse)
    assert {"ETF", "SECTOR", "THEME", "CUSTOM"} <= set(g["type"])
    assert set(members_of(g, "THEME", "반도체").index) == {"005930", "000660"}
    kodex = members_of(g, "ETF", "069500")
    holdings = warehouse.read_frame("SELECT stock_ticker, weight FROM etf_holdings WHERE etf_ticker = '069500' "
                                    "AND region = 'KR' AND as_of_date = %s AND constituent_type = 'STOCK'",
                                    (days[-1],)).set_index("stock_ticker")["weight"]
    assert "005930" in kodex.index and set(holdings.index) <= set(kodex.index)
    for code, pct in holdings.items():
        assert kodex.loc[code, "weight"] == round(Decimal(str(pct)) / 100, 4)
    # The YAML's liquidity filter, recomputed independently from the simulator's bars.
    bars = warehouse.read_frame("SELECT ticker, date, value FROM ohlcv_data WHERE region = 'KR' AND ticker = ANY(%s)",
                                (["005930", "000660", "005380", "035420", "051910"],))
    mean20 = bars.sort_values("date").groupby("ticker").tail(20).groupby("ticker")["value"].mean()
    liquid = set(mean20[mean20 >= 100_000_000_000].index)
    assert 0 < len(liquid) < 5, mean20                   # the filter separates these five
    got = set(members_of(g, "CUSTOM", "대형 유동주").index) if "대형 유동주" in set(g["name"]) else set()
    assert got == liquid
    first = memberships(warehouse)
    assert run([groups.groups], sim, warehouse).success  # re-run: same rows, same ids
    pd.testing.assert_frame_equal(first, memberships(warehouse))


def test_groups_rebuild_when_the_latest_holdings_land_despite_unloaded_history():
    from quant_assets.calendar import KST, trading_day_partitions

    defs = dg.Definitions(
        assets=[groups.groups, dg.AssetSpec("etf_holdings", partitions_def=trading_day_partitions),
                dg.AssetSpec("stock_list"), dg.AssetSpec("etf_list")],
        resources={"warehouse": Warehouse(database_url="postgresql://unused")})
    instance, state = dg.DagsterInstance.ephemeral(), {"cursor": None}

    def requested(when: dt.datetime) -> int:
        when = when.replace(tzinfo=KST)
        with dg.partition_loading_context(effective_dt=when):
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=when,
                                                       cursor=state["cursor"])
        state["cursor"] = result.cursor
        return result.get_num_requested(dg.AssetKey("groups"))

    requested(dt.datetime(2026, 11, 20, 18, 0))
    instance.report_runless_asset_event(dg.AssetMaterialization("etf_holdings", partition="2026-11-20"))
    assert requested(dt.datetime(2026, 11, 20, 18, 40)) == 1     # only one day of holdings exists
    instance.report_runless_asset_event(dg.AssetMaterialization("groups"))
    assert requested(dt.datetime(2026, 11, 20, 18, 45)) == 0
