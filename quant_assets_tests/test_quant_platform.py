"""Strategies, backtests and optimisation history on the real embedded PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import psycopg
import pytest

from quant_assets import quant_platform as qp

START, END = dt.date(2024, 1, 2), dt.date(2024, 6, 28)
QUANT_TABLES = ("optimization_history", "walk_forward_results", "portfolio_transactions",
                "portfolio_holdings", "backtest_results", "strategies")


@pytest.fixture()
def wh(warehouse):
    with warehouse.connect() as conn:
        conn.execute(f"TRUNCATE {', '.join(QUANT_TABLES)} RESTART IDENTITY CASCADE")
    return warehouse


def result(**overrides) -> qp.BacktestResult:
    values = dict(start_date=START, end_date=END, initial_capital=10_000_000, final_capital=11_500_000,
                  annual_return=0.32, sharpe_ratio=1.4, sortino_ratio=2.1, max_drawdown=-0.08,
                  volatility=0.18, win_rate=0.55, benchmark="KOSPI200",
                  parameters={"lookback": 20}, metrics={"calmar": 4.0})
    values.update(overrides)
    return qp.BacktestResult(**values)


def trades(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame({
        "executed_at": pd.to_datetime(["2024-01-02 09:00:05", "2024-03-04 15:20:00"]),
        "ticker": [5930, "005930"],                     # an integer code is zero-padded
        "side": ["buy", "SELL"],
        "quantity": [100.0, 100.0],
        "price": [77_000.0, 80_000.0],
        "fee": [1_155.0, 1_200.0],
        "tax": [0.0, 14_400.0],
    })
    for col, values in overrides.items():
        frame[col] = values
    return frame


def positions() -> pd.DataFrame:
    return pd.DataFrame({
        "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3)],
        "ticker": ["005930", "005930"],
        "quantity": [100, 100],
        "avg_price": [77_011.55, 77_011.55],
        "market_value": [7_700_000.0, 7_750_000.0],
        "weight": [0.77, 0.775],
    })


def windows() -> list[qp.WalkForwardWindow]:
    return [
        qp.WalkForwardWindow(0, dt.date(2023, 1, 2), dt.date(2023, 6, 30), dt.date(2023, 7, 3),
                             dt.date(2023, 9, 29), 0.12, 1.5, 0.03, 0.8, {"trades": 12}, {"trades": 4},
                             {"lookback": 20}),
        {"window_index": 1, "train_start": dt.date(2023, 4, 3), "train_end": dt.date(2023, 9, 29),
         "test_start": dt.date(2023, 10, 4), "test_end": dt.date(2023, 12, 28), "out_of_sample_return": -0.01,
         "parameters": {"lookback": 40}},
    ]


def count(wh, table: str) -> int:
    return int(wh.read_frame(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0])


def test_record_strategy_upserts_by_name(wh):
    first = qp.record_strategy(wh, "momentum", "12-1 momentum", {"lookback": 252})
    second = qp.record_strategy(wh, "momentum", "12-1 momentum, monthly", {"lookback": 231})
    assert first == second and count(wh, "strategies") == 1
    row = qp.get_strategy(wh, "momentum")
    assert row["description"] == "12-1 momentum, monthly" and row["parameters"] == {"lookback": 231}
    assert row["updated_at"] >= row["created_at"] and row["active"] is True
    with pytest.raises(LookupError, match="record_strategy"):
        qp.get_strategy(wh, "nope")


def test_record_backtest_and_read_back(wh):
    qp.record_strategy(wh, "momentum", None, {})
    bid = qp.record_backtest(wh, "momentum", result(), trades(), positions(), windows())
    back = qp.load_backtest(wh, bid)
    summary = back["summary"].iloc[0]
    assert summary["total_return"] == pytest.approx(0.15)           # derived from the capitals
    assert summary["trades"] == 2                                    # derived from the trade rows
    assert summary["parameters"] == {"lookback": 20} and summary["metrics"] == {"calmar": 4.0}
    assert summary["max_drawdown"] == -0.08 and summary["initial_capital"] == Decimal("10000000.00")

    tx = back["transactions"]
    assert list(tx["ticker"]) == ["005930", "005930"] and list(tx["side"]) == ["BUY", "SELL"]
    # executed_at keeps the time of day (naive = Asia/Seoul).
    assert tx["executed_at"].iloc[0] == pd.Timestamp("2024-01-02 09:00:05", tz="Asia/Seoul")

    hold = back["holdings"]
    assert len(hold) == 2 and hold["backtest_id"].eq(bid).all() and hold["weight"].tolist() == [0.77, 0.775]

    wf = back["walk_forward"]
    assert wf["window_index"].tolist() == [0, 1]
    assert wf.loc[0, "in_sample_metrics"] == {"trades": 12} and wf.loc[1, "in_sample_metrics"] == {}
    assert wf.loc[1, "parameters"] == {"lookback": 40} and pd.isna(wf.loc[1, "in_sample_sharpe"])

    latest = qp.latest_backtests(wh, "momentum")
    assert latest["id"].tolist() == [bid]


def test_total_value_is_computed_by_postgres_for_buy_and_sell(wh):
    qp.record_strategy(wh, "s", None, {})
    bid = qp.record_backtest(wh, "s", result(), trades())
    tx = wh.read_frame("SELECT side, total_value, cash_flow FROM portfolio_transactions "
                       "WHERE backtest_id = %s ORDER BY executed_at", (bid,))
    # BUY: what leaves the account; SELL: what arrives (gross − fee − tax).
    assert tx["total_value"].tolist() == [Decimal("7701155"), Decimal("7984400")]
    assert tx["cash_flow"].tolist() == [Decimal("-7701155"), Decimal("7984400")]
    with wh.connect() as conn, pytest.raises(psycopg.errors.GeneratedAlways):
        conn.execute("UPDATE portfolio_transactions SET total_value = 1")


@pytest.mark.parametrize(("overrides", "constraint"), [
    ({"end_date": dt.date(2023, 12, 31)}, "backtest_results_period_chk"),
    ({"max_drawdown": 0.1}, "backtest_results_drawdown_chk"),
    ({"max_drawdown": -1.5}, "backtest_results_drawdown_chk"),
    ({"win_rate": 1.2}, "backtest_results_win_rate_chk"),
    ({"win_rate": -0.1}, "backtest_results_win_rate_chk"),
    ({"initial_capital": 0, "total_return": 0.0}, "backtest_results_capital_chk"),
])
def test_backtest_checks_reject_bad_rows(wh, overrides, constraint):
    qp.record_strategy(wh, "s", None, {})
    with pytest.raises(psycopg.errors.CheckViolation, match=constraint):
        qp.record_backtest(wh, "s", result(**overrides))
    assert count(wh, "backtest_results") == 0


@pytest.mark.parametrize(("overrides", "constraint"), [
    ({"side": ["BUY", "HOLD"]}, "portfolio_transactions_side_chk"),
    ({"quantity": [100.0, 0.0]}, "portfolio_transactions_quantity_chk"),
    ({"quantity": [100.0, -5.0]}, "portfolio_transactions_quantity_chk"),
    ({"price": [77_000.0, 0.0]}, "portfolio_transactions_price_chk"),
    ({"fee": [1_155.0, -1.0]}, "portfolio_transactions_fee_chk"),
    ({"tax": [0.0, -10.0]}, "portfolio_transactions_tax_chk"),
])
def test_a_bad_transaction_row_rolls_back_the_whole_backtest(wh, overrides, constraint):
    qp.record_strategy(wh, "s", None, {})
    with pytest.raises(psycopg.errors.CheckViolation, match=constraint):
        qp.record_backtest(wh, "s", result(), trades(**overrides), positions(), windows())
    for table in ("backtest_results", "portfolio_transactions", "portfolio_holdings", "walk_forward_results"):
        assert count(wh, table) == 0, table


def test_walk_forward_window_must_test_after_training(wh):
    qp.record_strategy(wh, "s", None, {})
    bad = windows()[:1]
    bad[0].test_start = bad[0].train_end
    with pytest.raises(psycopg.errors.CheckViolation, match="walk_forward_order_chk"):
        qp.record_backtest(wh, "s", result(), trades(), positions(), bad)
    assert count(wh, "backtest_results") == 0


def test_unique_constraints(wh):
    sid = qp.record_strategy(wh, "s", None, {})
    # Holdings: one row per (backtest, date, ticker) ...
    dup = pd.concat([positions(), positions().iloc[:1]], ignore_index=True)
    with pytest.raises(psycopg.errors.UniqueViolation, match="portfolio_holdings_key"):
        qp.record_backtest(wh, "s", result(), holdings=dup)
    assert count(wh, "backtest_results") == 0
    # ... but two backtests of one strategy each keep their own path.
    qp.record_backtest(wh, "s", result(), holdings=positions())
    qp.record_backtest(wh, "s", result(), holdings=positions())
    assert count(wh, "portfolio_holdings") == 4
    # The live portfolio (backtest_id NULL) is unique on (strategy_id, date, ticker).
    live = "INSERT INTO portfolio_holdings (strategy_id, date, ticker, quantity) VALUES (%s, '2024-01-02', '005930', 1)"
    wh.execute(live, (sid,))
    with pytest.raises(psycopg.errors.UniqueViolation, match="portfolio_holdings_key"):
        wh.execute(live, (sid,))
    # Walk-forward windows are unique per backtest.
    with pytest.raises(psycopg.errors.UniqueViolation, match="walk_forward_window_key"):
        qp.record_backtest(wh, "s", result(), walk_forward=[windows()[0], windows()[0]])
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


def test_latest_backtests_newest_first(wh):
    qp.record_strategy(wh, "s", None, {})
    qp.record_strategy(wh, "other", None, {})
    ids = [qp.record_backtest(wh, "s", result(run_at=dt.datetime(2024, 7, d, tzinfo=dt.UTC))) for d in (1, 3, 2)]
    qp.record_backtest(wh, "other", result())
    latest = qp.latest_backtests(wh, "s", limit=2)
    assert latest["id"].tolist() == [ids[1], ids[2]]


def test_record_optimization_ranks_trials(wh):
    qp.record_strategy(wh, "s", None, {})
    trials = [{"parameters": {"lookback": 20}, "value": 1.1},
              {"parameters": {"lookback": 60}, "value": 1.7, "metrics": {"trades": 30}},
              {"parameters": {"lookback": 120}, "value": float("nan")},
              {"parameters": {"lookback": 40}, "value": 0.4}]
    ids = qp.record_optimization(wh, "s", "sharpe_ratio", trials)
    hist = wh.read_frame("SELECT id, rank, parameters, objective_value, metrics, run_at FROM optimization_history "
                         "ORDER BY rank")
    assert hist["id"].tolist() == ids
    assert [p["lookback"] for p in hist["parameters"]] == [60, 20, 40, 120]
    assert hist["rank"].tolist() == [1, 2, 3, 4] and pd.isna(hist["objective_value"].iloc[3])
    assert hist["metrics"].iloc[0] == {"trades": 30} and hist["run_at"].nunique() == 1
    assert qp.best_parameters(wh, "s", "sharpe_ratio") == {"lookback": 60}
    # Minimising (e.g. drawdown magnitude) ranks the lowest value first.
    qp.record_optimization(wh, "s", "max_dd", [{"parameters": {"a": 1}, "value": 0.3},
                                               {"parameters": {"a": 2}, "value": 0.1}], maximize=False)
    assert qp.best_parameters(wh, "s", "max_dd") == {"a": 2}
    with pytest.raises(psycopg.errors.CheckViolation):
        wh.execute("INSERT INTO optimization_history (strategy_id, parameters, objective, rank) "
                   "SELECT id, '{}', 'x', 0 FROM strategies LIMIT 1")
