"""Strategies, backtests and optimisation runs in PostgreSQL (tables of sql/003_quant_platform.sql).

Every function takes either a `Warehouse` (a connection is opened and committed per call) or an
open psycopg connection. A non-autocommit connection joins the caller's transaction (our writes run
in a savepoint; the caller commits or rolls back); an autocommit connection gets one transaction
per call.

A backtest is written as one unit: the summary row, its transactions and holdings (COPY) and its
walk-forward windows go in in ONE transaction, so a rejected row (say a SELL with quantity 0)
leaves no half-recorded backtest behind. Constraint violations surface as psycopg's
`IntegrityError` subclasses (`CheckViolation`, `UniqueViolation`, ...), naming the constraint.

`portfolio_transactions.total_value` and `cash_flow` are computed by PostgreSQL:
    BUY:  total_value = quantity × price + fee + tax    cash_flow = −total_value
    SELL: total_value = quantity × price − fee − tax    cash_flow = +total_value
i.e. total_value is the settlement amount that leaves (BUY) or reaches (SELL) the account.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from quant_assets.resources.warehouse import Warehouse, copy_frame

Target = Warehouse | psycopg.Connection
StrategyRef = int | str

TRANSACTION_COLUMNS = ["executed_at", "ticker", "side", "quantity", "price", "fee", "tax"]
HOLDING_COLUMNS = ["date", "ticker", "quantity", "avg_price", "market_value", "weight"]
WALK_FORWARD_COLUMNS = [
    "window_index", "train_start", "train_end", "test_start", "test_end",
    "in_sample_return", "in_sample_sharpe", "out_of_sample_return", "out_of_sample_sharpe",
    "in_sample_metrics", "out_of_sample_metrics", "parameters",
]
MARKET_TZ = "Asia/Seoul"
_JSON_COLUMNS = ("in_sample_metrics", "out_of_sample_metrics", "parameters")


@dataclasses.dataclass
class BacktestResult:
    """Summary of one backtest. Returns/drawdown/volatility/win rate are fractions (0.1 = 10 %)."""

    start_date: dt.date
    end_date: dt.date
    initial_capital: float
    final_capital: float
    total_return: float | None = None          # None: final_capital / initial_capital − 1
    annual_return: float | None = None
    sharpe_ratio: float | None = None
    sortino_ratio: float | None = None
    max_drawdown: float | None = None          # <= 0
    volatility: float | None = None
    win_rate: float | None = None              # 0..1
    trades: int | None = None                  # None: number of transaction rows given
    benchmark: str | None = None
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    run_at: dt.datetime | None = None          # None: now()


@dataclasses.dataclass
class WalkForwardWindow:
    window_index: int
    train_start: dt.date
    train_end: dt.date
    test_start: dt.date
    test_end: dt.date
    in_sample_return: float | None = None
    in_sample_sharpe: float | None = None
    out_of_sample_return: float | None = None
    out_of_sample_sharpe: float | None = None
    in_sample_metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    out_of_sample_metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)


# -- connections --------------------------------------------------------------------------------
@contextmanager
def _transaction(target: Target) -> Iterator[psycopg.Connection]:
    """One transaction on `target`: a fresh committed connection, or a (nested) block of the caller's."""
    if isinstance(target, Warehouse):
        with target.connect() as conn, conn.transaction():
            yield conn
    else:
        if not target.autocommit:
            # Join the caller's transaction (psycopg would otherwise commit a block it opened):
            # start it implicitly, so the block below is a savepoint and the caller commits.
            target.execute("SELECT 1")
        with target.transaction():
            yield target


def _strategy_id(conn: psycopg.Connection, strategy: StrategyRef) -> int:
    if isinstance(strategy, bool) or not isinstance(strategy, int | str):
        raise TypeError(f"strategy must be an id or a name, not {strategy!r}")
    column = "id" if isinstance(strategy, int) else "name"
    row = conn.execute(f"SELECT id FROM strategies WHERE {column} = %s", (strategy,)).fetchone()
    if row is None:
        raise LookupError(f"unknown strategy {strategy!r}: call record_strategy() first")
    return row[0]


def _ticker(value: object) -> str:
    text = str(int(value)) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
    text = text.strip().upper()
    return text.zfill(6) if text.isdigit() else text


def _timestamps(values: pd.Series) -> pd.Series:
    """ISO-8601 text with offset: copy_frame's CSV would otherwise cut datetimes to the date.

    Naive times are taken as Korean market time (Asia/Seoul).
    """
    stamps = pd.to_datetime(values)
    if stamps.dt.tz is None:
        stamps = stamps.dt.tz_localize(MARKET_TZ)
    return stamps.map(lambda t: t.isoformat())


def _json(value: object) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


# -- strategies ---------------------------------------------------------------------------------
def record_strategy(target: Target, name: str, description: str | None = None,
                    parameters: Mapping[str, Any] | None = None, *, active: bool = True) -> int:
    """Create or update (by unique name) a strategy; returns its id."""
    with _transaction(target) as conn:
        row = conn.execute(
            """INSERT INTO strategies (name, description, parameters, active)
               VALUES (%s, %s, %s, %s)
               ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description,
                   parameters = EXCLUDED.parameters, active = EXCLUDED.active, updated_at = now()
               RETURNING id""",
            (name, description, Jsonb(dict(parameters or {})), active),
        ).fetchone()
    return row[0]


def get_strategy(target: Target, strategy: StrategyRef) -> dict[str, Any]:
    with _transaction(target) as conn:
        sid = _strategy_id(conn, strategy)
        cur = conn.execute("SELECT * FROM strategies WHERE id = %s", (sid,))
        cols = [c.name for c in cur.description]
        return dict(zip(cols, cur.fetchone(), strict=True))


# -- backtests ----------------------------------------------------------------------------------
def _frame(frame: pd.DataFrame, columns: list[str], required: Sequence[str], what: str) -> pd.DataFrame:
    out = frame.copy()
    if what == "transactions" and "executed_at" not in out.columns and "date" in out.columns:
        out = out.rename(columns={"date": "executed_at"})
    missing = [c for c in required if c not in out.columns]
    if missing:
        raise ValueError(f"{what} frame lacks column(s) {missing}; expected {columns}")
    unknown = [c for c in out.columns if c not in columns]
    if unknown:
        raise ValueError(f"{what} frame has unknown column(s) {unknown}; expected {columns}")
    out["ticker"] = out["ticker"].map(_ticker)
    if "side" in out.columns:
        out["side"] = out["side"].astype(str).str.strip().str.upper()
    return out[[c for c in columns if c in out.columns]]


def _walk_forward_frame(windows: Sequence[WalkForwardWindow | Mapping[str, Any]]) -> pd.DataFrame:
    rows = [dataclasses.asdict(w) if dataclasses.is_dataclass(w) else dict(w) for w in windows]
    frame = pd.DataFrame(rows)
    unknown = [c for c in frame.columns if c not in WALK_FORWARD_COLUMNS]
    if unknown:
        raise ValueError(f"walk-forward windows have unknown field(s) {unknown}")
    for col in _JSON_COLUMNS:
        if col in frame.columns:
            frame[col] = frame[col].map(lambda v: _json(v if isinstance(v, dict | list) else {}))
    return frame


def record_backtest(
    target: Target,
    strategy: StrategyRef,
    result: BacktestResult,
    transactions: pd.DataFrame | None = None,
    holdings: pd.DataFrame | None = None,
    walk_forward: Sequence[WalkForwardWindow | Mapping[str, Any]] | None = None,
) -> int:
    """Write a backtest and its trades, holdings and walk-forward windows atomically; returns its id.

    transactions: executed_at (or date), ticker, side ('BUY'/'SELL'), quantity, price[, fee, tax]
    holdings:     date, ticker, quantity[, avg_price, market_value, weight]
    """
    tx = hold = wf = None
    if transactions is not None:
        tx = _frame(transactions, TRANSACTION_COLUMNS, TRANSACTION_COLUMNS[:5], "transactions")
        for col in ("fee", "tax"):
            if col in tx.columns:
                tx[col] = tx[col].fillna(0)
        tx["executed_at"] = _timestamps(tx["executed_at"])
    if holdings is not None:
        hold = _frame(holdings, HOLDING_COLUMNS, HOLDING_COLUMNS[:3], "holdings")
    if walk_forward:
        wf = _walk_forward_frame(walk_forward)
    total_return = result.total_return
    if total_return is None and result.initial_capital:
        total_return = result.final_capital / result.initial_capital - 1
    trades = result.trades if result.trades is not None else (len(tx) if tx is not None else None)

    with _transaction(target) as conn:
        sid = _strategy_id(conn, strategy)
        backtest_id = conn.execute(
            """INSERT INTO backtest_results (strategy_id, run_at, start_date, end_date, initial_capital,
                   final_capital, total_return, annual_return, sharpe_ratio, sortino_ratio, max_drawdown,
                   volatility, win_rate, trades, benchmark, parameters, metrics)
               VALUES (%s, COALESCE(%s, now()), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               RETURNING id""",
            (sid, result.run_at, result.start_date, result.end_date, result.initial_capital,
             result.final_capital, total_return, result.annual_return, result.sharpe_ratio,
             result.sortino_ratio, result.max_drawdown, result.volatility, result.win_rate, trades,
             result.benchmark, Jsonb(result.parameters or {}), Jsonb(result.metrics or {})),
        ).fetchone()[0]
        for table, frame in (("portfolio_transactions", tx), ("portfolio_holdings", hold),
                             ("walk_forward_results", wf)):
            if frame is not None and len(frame):
                copy_frame(conn, table, frame.assign(strategy_id=sid, backtest_id=backtest_id))
    return backtest_id


def latest_backtests(target: Target, strategy: StrategyRef, limit: int = 10) -> pd.DataFrame:
    """The strategy's most recent backtests (newest first), one row per backtest."""
    with _transaction(target) as conn:
        sid = _strategy_id(conn, strategy)
        cur = conn.execute(
            "SELECT * FROM backtest_results WHERE strategy_id = %s ORDER BY run_at DESC, id DESC LIMIT %s",
            (sid, limit),
        )
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def load_backtest(target: Target, backtest_id: int) -> dict[str, pd.DataFrame]:
    """A recorded backtest read back: summary, transactions, holdings and walk_forward frames."""
    queries = {
        "summary": "SELECT * FROM backtest_results WHERE id = %s",
        "transactions": "SELECT * FROM portfolio_transactions WHERE backtest_id = %s ORDER BY executed_at, id",
        "holdings": "SELECT * FROM portfolio_holdings WHERE backtest_id = %s ORDER BY date, ticker",
        "walk_forward": "SELECT * FROM walk_forward_results WHERE backtest_id = %s ORDER BY window_index",
    }
    out = {}
    with _transaction(target) as conn:
        for name, sql in queries.items():
            cur = conn.execute(sql, (backtest_id,))
            out[name] = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
    if out["summary"].empty:
        raise LookupError(f"no backtest with id {backtest_id}")
    return out


# -- optimisation -------------------------------------------------------------------------------
def record_optimization(
    target: Target,
    strategy: StrategyRef,
    objective: str,
    trials: Sequence[Mapping[str, Any]] | pd.DataFrame,
    *,
    maximize: bool = True,
    run_at: dt.datetime | None = None,
) -> list[int]:
    """Record one optimisation run: every trial's parameters and objective value, ranked.

    Each trial is a mapping with `parameters` (dict), `value` (objective value; None/NaN ranks
    last) and optionally `metrics` (dict) and `backtest_id`. Rank 1 is the best trial (highest value
    when `maximize`, else lowest). Returns the new ids in rank order.
    """
    frame = pd.DataFrame(list(trials.to_dict("records") if isinstance(trials, pd.DataFrame) else trials))
    if frame.empty:
        return []
    if "parameters" not in frame.columns or "value" not in frame.columns:
        raise ValueError("each trial needs 'parameters' and 'value'")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame = frame.sort_values("value", ascending=not maximize, na_position="last", kind="stable")
    ids = []
    with _transaction(target) as conn:
        sid = _strategy_id(conn, strategy)
        when = run_at or conn.execute("SELECT clock_timestamp()").fetchone()[0]
        for rank, trial in enumerate(frame.to_dict("records"), start=1):
            value = trial["value"]
            backtest_id = trial.get("backtest_id")
            ids.append(conn.execute(
                """INSERT INTO optimization_history (strategy_id, backtest_id, run_at, parameters, objective,
                       objective_value, rank, metrics)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (sid, None if backtest_id is None or pd.isna(backtest_id) else int(backtest_id), when,
                 Jsonb(trial["parameters"]), objective, None if pd.isna(value) else float(value), rank,
                 Jsonb(trial.get("metrics") if isinstance(trial.get("metrics"), dict) else {})),
            ).fetchone()[0])
    return ids


def best_parameters(target: Target, strategy: StrategyRef, objective: str) -> dict[str, Any] | None:
    """Parameters ranked first in the strategy's most recent optimisation run for `objective`."""
    with _transaction(target) as conn:
        sid = _strategy_id(conn, strategy)
        row = conn.execute(
            """SELECT parameters FROM optimization_history WHERE strategy_id = %s AND objective = %s
               ORDER BY run_at DESC, rank LIMIT 1""",
            (sid, objective),
        ).fetchone()
    return row[0] if row else None
