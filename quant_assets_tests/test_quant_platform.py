"""Strategies, backtests and optimisations on the real embedded PostgreSQL, with the seeds' names."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import psycopg
import pytest

from quant_assets import quant_platform as qp

START, END = dt.date(2024, 1, 2), dt.date(2024, 6, 28)
QUANT_TABLES = ("optimization_history", "parameter_search_history", "walk_forward_results",
                "portfolio_transactions", "portfolio_holdings", "backtest_results", "strategies")
BACKTEST_TABLES = ("backtest_results", "portfolio_transactions", "portfolio_holdings", "walk_forward_results")


@pytest.fixture()
def wh(warehouse):
    with warehouse.connect() as conn:
        conn.execute(f"TRUNCATE {', '.join(QUANT_TABLES)} RESTART IDENTITY CASCADE")
    return warehouse


def result(**overrides) -> qp.BacktestResult:
    values = dict(start_date=START, end_date=END, initial_capital=10_000_000, final_capital=11_500_000,
                  annual_return=0.32, sharpe_ratio=1.4, sortino_ratio=2.1, max_drawdown=-0.08,
                  volatility=0.18, win_rate=0.55, benchmark="KOSPI200",
                  parameters={"lookback": 20}, results_json={"calmar": 4.0})
    values.update(overrides)
    return qp.BacktestResult(**values)


def trades(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame({
        "executed_at": pd.to_datetime(["2024-01-02 09:00:05", "2024-03-04 15:20:00"]),
        "ticker": [5930, "005930"],                     # an integer code is zero-padded
        "transaction_type": ["buy", "SELL"],
        "shares": [100.0, 100.0],
        "price": [77_000.0, 80_000.0],
        "commission": [1_155.0, 1_200.0],
        "slippage": [385.0, 400.0],
        "tax": [0.0, 14_400.0],
    })
    for col, values in overrides.items():
        frame[col] = values
    return frame


def positions() -> pd.DataFrame:
    return pd.DataFrame({
        "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3)],
        "ticker": ["005930", "005930"],
        "shares": [100, 100],
        "avg_price": [77_011.55, 77_011.55],
        "market_value": [7_700_000.0, 7_750_000.0],
        "weight": [0.77, 0.775],
    })


def windows() -> list:
    return [
        qp.WalkForwardWindow(0, dt.date(2023, 1, 2), dt.date(2023, 6, 30), dt.date(2023, 7, 3),
                             dt.date(2023, 9, 29), 0.12, 1.5, 0.03, 0.8, {"trades": 12}, {"trades": 4},
                             {"lookback": 20}),
        {"window_index": 1, "train_start_date": dt.date(2023, 4, 3), "train_end_date": dt.date(2023, 9, 29),
         "test_start_date": dt.date(2023, 10, 4), "test_end_date": dt.date(2023, 12, 28),
         "out_sample_return": -0.01, "optimal_params": {"lookback": 40}},
    ]


def exact(wh, sql: str, params=None) -> pd.DataFrame:
    """Rows with NUMERIC values as stored (Decimal); Warehouse.read_frame hands back floats."""
    with psycopg.connect(wh.url()) as conn:
        cur = conn.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def count(wh, table: str) -> int:
    return int(wh.read_frame(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0])


def assert_nothing_written(wh) -> None:
    for table in BACKTEST_TABLES:
        assert count(wh, table) == 0, table


# -- strategies ---------------------------------------------------------------------------------
def test_record_strategy_upserts_by_name_with_seed_columns(wh):
    first = qp.record_strategy(wh, "momentum", "12-1 momentum", {"lookback": 252})
    second = qp.record_strategy(wh, "momentum", "12-1 momentum, monthly", {"lookback": 231},
                                factor_weights={"momentum": 0.4, "value": 0.3, "quality": 0.3},
                                constraints={"max_position": 0.15, "max_sector": 0.40,
                                             "min_market_cap": 100_000_000_000})
    assert first == second and count(wh, "strategies") == 1
    row = qp.get_strategy(wh, "momentum")
    assert row["description"] == "12-1 momentum, monthly" and row["parameters"] == {"lookback": 231}
    assert row["factor_weights"] == {"momentum": 0.4, "value": 0.3, "quality": 0.3}
    assert row["constraints"]["min_market_cap"] == 100_000_000_000
    assert row["updated_at"] >= row["created_at"] and row["active"] is True
    with pytest.raises(LookupError, match="record_strategy"):
        qp.get_strategy(wh, "nope")
    with pytest.raises(qp.QuantDataError, match=r"strategies\.factor_weights.*'value'") as err:
        qp.record_strategy(wh, "bad", factor_weights={"momentum": 0.5, "value": float("nan")})
    assert err.value.table == "strategies" and err.value.column == "factor_weights"
    with pytest.raises(qp.QuantDataError, match=r"strategies\.name.*VARCHAR\(100\)"):
        qp.record_strategy(wh, "x" * 101)
    assert count(wh, "strategies") == 1


# -- backtests ----------------------------------------------------------------------------------
def test_record_backtest_and_read_back(wh):
    qp.record_strategy(wh, "momentum", None, {})
    bid = qp.record_backtest(wh, "momentum", result(), trades(), positions(), windows())
    back = qp.load_backtest(wh, bid)
    summary = back["summary"].iloc[0]
    assert summary["total_return"] == pytest.approx(0.15)           # derived from the capitals
    assert summary["num_trades"] == 2                                # derived from the trade rows
    assert summary["parameters"] == {"lookback": 20} and summary["results_json"] == {"calmar": 4.0}
    assert summary["max_drawdown"] == -0.08 and summary["initial_capital"] == Decimal("10000000.00")

    tx = back["transactions"]
    assert list(tx["ticker"]) == ["005930", "005930"] and list(tx["transaction_type"]) == ["BUY", "SELL"]
    assert list(tx["region"]) == ["KR", "KR"]
    assert list(tx["date"]) == [dt.date(2024, 1, 2), dt.date(2024, 3, 4)]   # the day in market time
    # executed_at keeps the time of day (naive = the region's market time, Asia/Seoul).
    assert tx["executed_at"].iloc[0] == pd.Timestamp("2024-01-02 09:00:05", tz="Asia/Seoul")

    hold = back["holdings"]
    assert len(hold) == 2 and hold["backtest_id"].eq(bid).all() and hold["weight"].tolist() == [0.77, 0.775]
    assert hold["cost_basis"].tolist() == [Decimal("7701155.0000")] * 2     # shares × avg_price, generated

    wf = back["walk_forward"]
    assert wf["window_index"].tolist() == [0, 1]
    assert wf.loc[0, "in_sample_metrics"] == {"trades": 12} and wf.loc[1, "in_sample_metrics"] == {}
    assert wf.loc[1, "optimal_params"] == {"lookback": 40} and pd.isna(wf.loc[1, "in_sample_sharpe"])
    assert wf["train_start_date"].tolist() == [dt.date(2023, 1, 2), dt.date(2023, 4, 3)]

    latest = qp.latest_backtests(wh, "momentum")
    assert latest["id"].tolist() == [bid]


def test_seed_backtest_query_by_strategy_name(wh):
    """Seed 004's example query runs unchanged."""
    qp.record_strategy(wh, "Momentum-Value", None, {})
    bid = qp.record_backtest(wh, "Momentum-Value", result())
    rows = wh.read_frame("""SELECT br.*, s.name FROM backtest_results br JOIN strategies s ON br.strategy_id = s.id
                            WHERE s.name = 'Momentum-Value' ORDER BY br.created_at DESC""")
    assert rows["id"].tolist() == [bid] and rows["num_trades"].isna().all()


def test_total_value_is_the_seed_formula_on_buy_and_sell(wh):
    qp.record_strategy(wh, "s", None, {})
    bid = qp.record_backtest(wh, "s", result(), trades())
    tx = exact(wh, "SELECT transaction_type, shares, price, commission, slippage, tax, total_value, cash_flow "
                   "FROM portfolio_transactions WHERE backtest_id = %s ORDER BY date", (bid,))
    # seed 001: total_value = shares × price + commission + slippage, on a SELL too.
    assert tx["total_value"].tolist() == [Decimal("7701540"), Decimal("8001600")]
    for row in tx.itertuples():
        assert row.total_value == row.shares * row.price + row.commission + row.slippage
    # cash_flow is the signed settlement: a BUY pays costs and tax, a SELL receives net of them.
    assert tx["cash_flow"].tolist() == [Decimal("-7701540"), Decimal("7984000")]
    with wh.connect() as conn, pytest.raises(psycopg.errors.GeneratedAlways):
        conn.execute("UPDATE portfolio_transactions SET total_value = 1")


def test_other_regions_in_transactions_and_holdings(wh):
    """A US 'AAPL' and an HK '0700' (given as '700.HK') live beside KR codes; naive times are market time."""
    qp.record_strategy(wh, "global", None, {})
    tx = pd.DataFrame({
        "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 2), dt.date(2024, 1, 3)],
        "ticker": ["AAPL", "700.HK", "BRK-B"], "region": ["US", "HK", "us"],
        "transaction_type": ["BUY", "BUY", "SELL"], "shares": [10, 200, 3.5],
        "price": [185.6400, 291.2, 362.58], "commission": [1.0, 25.0, 0.5],
        "executed_at": ["2024-01-02 09:45:00", "2024-01-02 10:00:00", "2024-01-03 15:59:00"],
    })
    hold = pd.DataFrame({"date": [dt.date(2024, 1, 2)] * 3, "ticker": ["AAPL", "0700", "005930"],
                         "region": ["US", "HK", "KR"], "shares": [10, 200, 5], "avg_price": [185.74, 291.325, 77000]})
    bid = qp.record_backtest(wh, "global", result(), tx, hold)
    back = qp.load_backtest(wh, bid)
    got = back["transactions"]
    # ordered by time: 10:00 in Hong Kong comes before 09:45 in New York on the same date
    assert got["ticker"].tolist()[:2] == ["0700", "AAPL"]
    got = got.sort_values("id").reset_index(drop=True)
    assert list(zip(got["ticker"], got["region"], strict=True)) == [("AAPL", "US"), ("0700", "HK"), ("BRK/B", "US")]
    assert got["price"].tolist()[0] == Decimal("185.6400")          # four decimals kept (local currency)
    assert got["executed_at"].iloc[0] == pd.Timestamp("2024-01-02 09:45", tz="America/New_York")
    assert got["executed_at"].iloc[1] == pd.Timestamp("2024-01-02 10:00", tz="Asia/Hong_Kong")
    assert got["total_value"].iloc[0] == Decimal("1857.4000")       # 10 × 185.64 + 1 + 0
    holdings = back["holdings"].set_index(["region", "ticker"])
    assert holdings.loc[("HK", "0700"), "cost_basis"] == Decimal("58265.0000")
    assert set(holdings.index) == {("US", "AAPL"), ("HK", "0700"), ("KR", "005930")}
    # The seed's ticker index serves a per-region lookup.
    assert count(wh, "portfolio_transactions WHERE ticker = 'AAPL' AND region = 'US'") == 1


@pytest.mark.parametrize(("overrides", "column", "value"), [
    ({"transaction_type": ["BUY", "HOLD"]}, "transaction_type", "HOLD"),
    ({"shares": [100.0, 0.0]}, "shares", 0.0),
    ({"shares": [100.0, -5.0]}, "shares", -5.0),
    ({"price": [77_000.0, 0.0]}, "price", 0.0),
    ({"commission": [1_155.0, -1.0]}, "commission", -1.0),
    ({"slippage": [-0.5, 400.0]}, "slippage", -0.5),
    ({"tax": [0.0, -10.0]}, "tax", -10.0),
    ({"tax": [0.0, 1.8e16]}, "tax", 1.8e16),                         # NUMERIC(20,4) tops out below 1e16
    ({"price": [1e12, 80_000.0]}, "price", 1e12),                    # NUMERIC(15,4)
])
def test_a_bad_transaction_row_is_named_and_nothing_is_written(wh, overrides, column, value):
    qp.record_strategy(wh, "s", None, {})
    with pytest.raises(qp.QuantDataError) as err:
        qp.record_backtest(wh, "s", result(), trades(**overrides), positions(), windows())
    e = err.value
    assert (e.table, e.column, e.value, e.ticker, e.region) == ("portfolio_transactions", column, value, "005930", "KR")
    bad_day = "2024-01-02" if overrides[next(iter(overrides))][0] == value else "2024-03-04"
    assert e.date == bad_day
    text = str(e)
    assert "portfolio_transactions." + column in text and "005930" in text and "KR" in text and bad_day in text
    assert_nothing_written(wh)


def test_unreadable_executed_at_is_named(wh):
    qp.record_strategy(wh, "s", None, {})
    with pytest.raises(qp.QuantDataError, match="not a timestamp") as err:
        qp.record_backtest(wh, "s", result(), trades(executed_at=["2024-01-02 09:00", "yesterday-ish"]))
    assert (err.value.column, err.value.value, err.value.ticker) == ("executed_at", "yesterday-ish", "005930")
    assert_nothing_written(wh)


@pytest.mark.parametrize(("frame", "column", "message"), [
    (pd.DataFrame({"date": [START], "ticker": ["AAPL"], "region": ["XX"], "shares": [1]}), "region", "unknown region"),
    (pd.DataFrame({"date": [START], "ticker": ["0700.HK"], "region": ["US"], "shares": [1]}), "ticker",
     "suffix of region HK"),
    (pd.DataFrame({"date": [START], "ticker": ["12345678"], "region": ["KR"], "shares": [1]}), "ticker",
     "canonical form"),
    (pd.DataFrame({"date": [START, START], "ticker": ["0700", "700"], "region": ["HK", "HK"], "shares": [1, 2]}),
     "ticker", "uniqueness"),
])
def test_holdings_symbols_are_canonical_per_region(wh, frame, column, message):
    qp.record_strategy(wh, "s", None, {})
    with pytest.raises(qp.QuantDataError, match=message) as err:
        qp.record_backtest(wh, "s", result(), holdings=frame)
    assert err.value.table == "portfolio_holdings" and err.value.column == column
    assert_nothing_written(wh)


@pytest.mark.parametrize(("overrides", "column"), [
    ({"end_date": dt.date(2023, 12, 31)}, "end_date"),
    ({"max_drawdown": 0.1}, "max_drawdown"),
    ({"max_drawdown": -1.5}, "max_drawdown"),
    ({"win_rate": 1.2}, "win_rate"),
    ({"win_rate": -0.1}, "win_rate"),
    ({"initial_capital": 0, "total_return": 0.0}, "initial_capital"),
    ({"num_trades": -1}, "num_trades"),
])
def test_backtest_checks_reject_bad_rows(wh, overrides, column):
    qp.record_strategy(wh, "s", None, {})
    with pytest.raises(qp.QuantDataError) as err:
        qp.record_backtest(wh, "s", result(**overrides))
    assert err.value.table == "backtest_results" and err.value.column == column
    assert err.value.date == START.isoformat()
    assert count(wh, "backtest_results") == 0


def test_database_constraints_back_the_python_checks(wh):
    """The CHECKs stay in force for writers that bypass this module."""
    sid = qp.record_strategy(wh, "s", None, {})
    with pytest.raises(psycopg.errors.CheckViolation, match="portfolio_transactions_transaction_type_check"):
        wh.execute("INSERT INTO portfolio_transactions (strategy_id, ticker, region, date, transaction_type, shares, "
                   "price) VALUES (%s, '005930', 'KR', '2024-01-02', 'HOLD', 1, 1)", (sid,))
    with pytest.raises(psycopg.errors.CheckViolation, match="backtest_results_drawdown_chk"):
        wh.execute("INSERT INTO backtest_results (strategy_id, start_date, end_date, initial_capital, final_capital, "
                   "max_drawdown) VALUES (%s, '2024-01-02', '2024-02-01', 1, 1, 0.5)", (sid,))
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        wh.execute("INSERT INTO portfolio_holdings (strategy_id, date, ticker, region, shares) "
                   "VALUES (%s, '2024-01-02', 'AAPL', 'EU', 1)", (sid,))
    # ...and one that reaches PostgreSQL through this module is still named.
    with (psycopg.connect(wh.url()) as conn, pytest.raises(qp.QuantDataError, match="portfolio_holdings") as err,
          qp._writing("x")):
        conn.execute("INSERT INTO portfolio_holdings (strategy_id, date, ticker, region, shares) "
                     "VALUES (%s, '2024-01-02', 'AAPL', 'US', NULL)", (sid,))
    assert err.value.column == "shares"


def test_walk_forward_window_must_test_after_training(wh):
    qp.record_strategy(wh, "s", None, {})
    bad = windows()[:1]
    bad[0].test_start_date = bad[0].train_end_date
    with pytest.raises(qp.QuantDataError, match="test_start_date > train_end_date") as err:
        qp.record_backtest(wh, "s", result(), trades(), positions(), bad)
    assert err.value.table == "walk_forward_results" and err.value.column == "test_start_date"
    assert err.value.date == "2023-01-02"
    assert_nothing_written(wh)


def test_overfitting_ratio_is_out_over_in_sample_sharpe(wh):
    qp.record_strategy(wh, "s", None, {})
    extra = {"window_index": 2, "train_start_date": dt.date(2023, 7, 3), "train_end_date": dt.date(2023, 12, 28),
             "test_start_date": dt.date(2024, 1, 2), "test_end_date": dt.date(2024, 3, 29),
             "in_sample_sharpe": 0.0, "out_sample_sharpe": 0.4}
    bid = qp.record_backtest(wh, "s", result(), walk_forward=[*windows(), extra])
    wf = qp.load_backtest(wh, bid)["walk_forward"]
    assert wf.loc[0, "overfitting_ratio"] == Decimal("0.5333")        # 0.8 / 1.5, NUMERIC(10,4)
    assert pd.isna(wf.loc[1, "overfitting_ratio"])                    # no in-sample Sharpe
    assert pd.isna(wf.loc[2, "overfitting_ratio"])                    # in-sample Sharpe 0: undefined, not ∞
    best = wh.read_frame("SELECT window_index FROM walk_forward_results ORDER BY overfitting_ratio DESC NULLS LAST "
                         "LIMIT 1")
    assert best["window_index"].iloc[0] == 0


def test_walk_forward_on_its_own(wh):
    """Seed 001's walk-forward record of a strategy, without a backtest."""
    qp.record_strategy(wh, "s", None, {})
    ids = qp.record_walk_forward(wh, "s", windows())
    wf = exact(wh, "SELECT * FROM walk_forward_results ORDER BY window_index")
    assert wf["id"].tolist() == ids and wf["backtest_id"].isna().all()
    assert wf.loc[0, "optimal_params"] == {"lookback": 20} and wf.loc[1, "in_sample_metrics"] == {}
    assert wf.loc[0, "overfitting_ratio"] == Decimal("0.5333") and wf.loc[0, "test_end_date"] == dt.date(2023, 9, 29)
    with pytest.raises(qp.QuantDataError, match="test_end_date >= test_start_date") as err:
        qp.record_walk_forward(wh, "s", [{**windows()[1], "test_end_date": dt.date(2023, 10, 1)}])
    assert err.value.column == "test_end_date" and err.value.date == "2023-04-03"
    assert count(wh, "walk_forward_results") == 2


def test_unique_constraints(wh):
    sid = qp.record_strategy(wh, "s", None, {})
    # Holdings: one row per (backtest, date, ticker, region) ...
    dup = pd.concat([positions(), positions().iloc[:1]], ignore_index=True)
    with pytest.raises(qp.QuantDataError, match="uniqueness") as err:
        qp.record_backtest(wh, "s", result(), holdings=dup)
    assert (err.value.table, err.value.ticker, err.value.region) == ("portfolio_holdings", "005930", "KR")
    assert count(wh, "backtest_results") == 0
    # ... the same code in two regions is two holdings ...
    cn = positions().assign(region="CN")
    qp.record_backtest(wh, "s", result(), holdings=pd.concat([positions().assign(region="KR"), cn]))
    assert count(wh, "portfolio_holdings") == 4
    # ... and two backtests of one strategy each keep their own path.
    qp.record_backtest(wh, "s", result(), holdings=positions())
    assert count(wh, "portfolio_holdings") == 6
    # The live portfolio (backtest_id NULL) is unique on (strategy_id, ticker, region, date).
    live = ("INSERT INTO portfolio_holdings (strategy_id, date, ticker, region, shares) "
            "VALUES (%s, '2024-01-02', '005930', 'KR', 1)")
    wh.execute(live, (sid,))
    with pytest.raises(psycopg.errors.UniqueViolation, match="portfolio_holdings_key"):
        wh.execute(live, (sid,))
    # Walk-forward windows are unique per backtest.
    with pytest.raises(qp.QuantDataError, match="window_index") as err:
        qp.record_backtest(wh, "s", result(), walk_forward=[windows()[0], windows()[0]])
    assert err.value.table == "walk_forward_results"
    # Strategy names are unique.
    with pytest.raises(psycopg.errors.UniqueViolation):
        wh.execute("INSERT INTO strategies (name) VALUES ('s')")


def test_caller_transaction_is_respected(wh):
    """With a caller-owned connection the backtest joins (and rolls back with) the caller's transaction."""
    with psycopg.connect(wh.url()) as conn:
        qp.record_strategy(conn, "s", None, {})
        qp.record_backtest(conn, "s", result(), trades())
        conn.rollback()
    assert count(wh, "strategies") == 0 and count(wh, "backtest_results") == 0
    # A refused backtest leaves the caller's transaction usable.
    with psycopg.connect(wh.url()) as conn:
        qp.record_strategy(conn, "s", None, {})
        with pytest.raises(qp.QuantDataError):
            qp.record_backtest(conn, "s", result(), trades(shares=[1e12, 1.0]))
        qp.record_backtest(conn, "s", result(), trades())
        conn.commit()
    assert count(wh, "backtest_results") == 1 and count(wh, "portfolio_transactions") == 2


def test_latest_backtests_newest_first(wh):
    qp.record_strategy(wh, "s", None, {})
    qp.record_strategy(wh, "other", None, {})
    ids = [qp.record_backtest(wh, "s", result(created_at=dt.datetime(2024, 7, d, tzinfo=dt.UTC))) for d in (1, 3, 2)]
    qp.record_backtest(wh, "other", result())
    latest = qp.latest_backtests(wh, "s", limit=2)
    assert latest["id"].tolist() == [ids[1], ids[2]]


# -- optimization_history: the seeds' portfolio weights ---------------------------------------
def test_optimization_weights_round_trip(wh):
    weights = {"005930": 0.2513, "000660": 0.1, "035420": 0.123456789012345, "5380": 0.52529}
    oid = qp.record_optimization(wh, optimization_date=dt.date(2024, 6, 28), universe="KR_TOP100",
                                 method="mean_variance", optimal_weights=weights, target_return=0.12,
                                 constraints={"max_position": 0.3}, expected_return=0.1342, expected_risk=0.1815,
                                 sharpe_ratio=0.74)
    later = qp.record_optimization(wh, optimization_date=dt.date(2024, 7, 31), universe="KR_TOP100",
                                   method="risk_parity", optimal_weights={"005930": 0.5, "000660": 0.5})
    got = qp.load_optimizations(wh, "KR_TOP100")
    assert got["id"].tolist() == [later, oid]
    first = got.set_index("id").loc[oid]
    # every weight exactly as given (the integer-looking key in its canonical form)
    assert first["optimal_weights"] == {"005930": 0.2513, "000660": 0.1, "035420": 0.123456789012345,
                                        "005380": 0.52529}
    assert first["constraints"] == {"max_position": 0.3} and first["expected_return"] == Decimal("0.1342")
    assert first["target_risk"] is None and first["optimization_date"] == dt.date(2024, 6, 28)
    assert qp.latest_weights(wh, "KR_TOP100") == {"005930": 0.5, "000660": 0.5}
    assert qp.latest_weights(wh, "KR_TOP100", "mean_variance")["035420"] == 0.123456789012345
    # US and HK universes: the region comes from the universe or the argument.
    qp.record_optimization(wh, optimization_date=dt.date(2024, 6, 28), universe="US_SP500", method="mean_variance",
                           optimal_weights={"AAPL": 0.6, "BRK.B": 0.4})
    assert qp.latest_weights(wh, "US_SP500") == {"AAPL": 0.6, "BRK/B": 0.4}
    qp.record_optimization(wh, optimization_date=dt.date(2024, 6, 28), universe="HSI_CORE", region="HK",
                           method="min_variance", optimal_weights={"700": 0.7, "0005.HK": 0.3})
    assert qp.latest_weights(wh, "HSI_CORE") == {"0700": 0.7, "0005": 0.3}
    seed = wh.read_frame("SELECT universe, method FROM optimization_history ORDER BY optimization_date DESC, id DESC")
    assert seed.iloc[0].tolist() == ["KR_TOP100", "risk_parity"]


@pytest.mark.parametrize(("kwargs", "column", "message"), [
    ({"optimal_weights": {}}, "optimal_weights", "at least one"),
    ({"optimal_weights": {"005930": float("nan")}}, "optimal_weights", "finite"),
    ({"optimal_weights": {"AAPL": 0.5}}, "optimal_weights", "canonical form"),
    ({"optimal_weights": {"5930": 0.5, "005930": 0.5}}, "optimal_weights", "both 005930"),
    ({"universe": "GLOBAL_MIX"}, "universe", "region"),
    ({"sharpe_ratio": 1e7}, "sharpe_ratio", r"NUMERIC\(10,4\)"),
    ({"method": "m" * 51}, "method", r"VARCHAR\(50\)"),
])
def test_optimization_refusals_are_named(wh, kwargs, column, message):
    args = dict(optimization_date=dt.date(2024, 6, 28), universe="KR_TOP100", method="mean_variance",
                optimal_weights={"005930": 1.0})
    args.update(kwargs)
    with pytest.raises(qp.QuantDataError, match=message) as err:
        qp.record_optimization(wh, **args)
    assert err.value.table == "optimization_history" and err.value.column == column
    assert count(wh, "optimization_history") == 0


# -- parameter_search_history: the former parameter-search log -------------------------------
def test_record_parameter_search_ranks_trials(wh):
    qp.record_strategy(wh, "s", None, {})
    trials = [{"parameters": {"lookback": 20}, "value": 1.1},
              {"parameters": {"lookback": 60}, "value": 1.7, "metrics": {"trades": 30}},
              {"parameters": {"lookback": 120}, "value": float("nan")},
              {"parameters": {"lookback": 40}, "value": 0.4}]
    ids = qp.record_parameter_search(wh, "s", "sharpe_ratio", trials)
    hist = wh.read_frame("SELECT id, rank, parameters, objective_value, metrics, run_at FROM parameter_search_history "
                         "ORDER BY rank")
    assert hist["id"].tolist() == ids
    assert [p["lookback"] for p in hist["parameters"]] == [60, 20, 40, 120]
    assert hist["rank"].tolist() == [1, 2, 3, 4] and pd.isna(hist["objective_value"].iloc[3])
    assert hist["metrics"].iloc[0] == {"trades": 30} and hist["run_at"].nunique() == 1
    assert qp.best_parameters(wh, "s", "sharpe_ratio") == {"lookback": 60}
    # Minimising (e.g. drawdown magnitude) ranks the lowest value first.
    qp.record_parameter_search(wh, "s", "max_dd", [{"parameters": {"a": 1}, "value": 0.3},
                                                   {"parameters": {"a": 2}, "value": 0.1}], maximize=False)
    assert qp.best_parameters(wh, "s", "max_dd") == {"a": 2}
    assert count(wh, "optimization_history") == 0                     # the seeds' table is not the search log
    with pytest.raises(psycopg.errors.CheckViolation):
        wh.execute("INSERT INTO parameter_search_history (strategy_id, parameters, objective, rank) "
                   "SELECT id, '{}', 'x', 0 FROM strategies LIMIT 1")
