"""Source-expensive KRX history as a budgeted trickle, never a burst.

Two histories cost requests per ETF, not per day: holdings (one PDF request per ETF per day,
~1,000 a day today) and KRX's published tracking figures (two range requests per listed ETF per
<= 730 days, quant_assets/tracking_krx.py). `quant backfill` leaves them out; this sensor loads
them behind whatever `etf_daily` history is loaded, spending at most QUANT_KRX_HISTORY_BUDGET KRX
requests per KST day (default 2,000 with a KRX account, 50,000 against the simulator; 0 switches
the trickle off).

Order: NEWEST FIRST — recent history is what screens and groups use, and a half-done trickle then
leaves one contiguous recent stretch. Per tick: tracking months first (cheapest per day covered),
then holdings days with what is left; one trickle run at a time; each run's request cost is
stored in its `quant/trickle_cost` tag, so the day's spend is the sum over today's trickle runs
(no ledger table). The tick's skip reason (UI: Sensors → krx_history_trickle) and
`quant backfill --status` show what is left, the budget and the ETA. A month of tracking
figures, once loaded, is refreshed by its weekly schedule; the newest holdings day is its sensor's.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass

import dagster as dg

from quant_assets import tracking_krx
from quant_assets.calendar import KST
from quant_assets.resources.warehouse import Warehouse

BUDGET_ENV = "QUANT_KRX_HISTORY_BUDGET"
TRICKLE_TAG, COST_TAG = "quant/trickle", "quant/trickle_cost"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
HOLDINGS, TRACKING, ETF_DAILY = dg.AssetKey("etf_holdings"), dg.AssetKey("etf_tracking_krx"), dg.AssetKey("etf_daily")
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def krx_history_budget() -> int:
    """KRX requests per KST day the history trickle may send (QUANT_KRX_HISTORY_BUDGET): 2,000
    against the real KRX (~17 min at the polite 2 req/s), 50,000 against the bundled simulator,
    so a fresh `make run` also fills the 20 catch-up days' holdings within the day."""
    default = "2000" if os.environ.get("KRX_ID") else "50000"
    return int(os.environ.get(BUDGET_ENV, default))


@dataclass
class Backlog:
    """What is left: newest first, with the KRX requests each item costs."""

    holdings: list[tuple[str, int]]          # (day, requests)
    tracking: list[str]                      # month keys
    tracking_cost: int

    @property
    def cost(self) -> int:
        return self.tracking_cost + sum(c for _, c in self.holdings)


def spent_today(instance: dg.DagsterInstance, now: dt.datetime) -> int:
    midnight = now.astimezone(KST).replace(hour=0, minute=0, second=0, microsecond=0)
    # in UTC: the run storage compares created_after with its UTC timestamps as given, so a KST
    # midnight (the previous day 15:00 UTC) passed as is matched no run from 00:00 to 09:00 KST
    runs = instance.get_runs(filters=dg.RunsFilter(tags={TRICKLE_TAG: "krx"},
                                                   created_after=midnight.astimezone(dt.UTC)))
    return sum(int(r.tags.get(COST_TAG, 0)) for r in runs)


def backlog(instance: dg.DagsterInstance, warehouse: Warehouse, today: dt.date) -> Backlog:
    loaded = instance.get_materialized_partitions(ETF_DAILY)
    held = instance.get_materialized_partitions(HOLDINGS)
    newest = max(loaded) if loaded else None
    days = sorted((d for d in loaded if d not in held and d != newest), reverse=True)
    counts = {}
    if days:
        frame = warehouse.read_frame("SELECT date, count(*) AS n FROM etf_daily WHERE region = 'KR' "
                                     "AND date = ANY(%s) GROUP BY date", ([dt.date.fromisoformat(d) for d in days],))
        counts = {str(d): int(n) for d, n in zip(frame["date"], frame["n"], strict=True)}
    holdings = [(d, counts.get(d, 0)) for d in days]
    have = instance.get_materialized_partitions(TRACKING)
    months = sorted({d[:8] + "01" for d in loaded} - set(have), reverse=True)
    cost = tracking_krx.request_cost(warehouse, months, today) if months else 0
    return Backlog(holdings, months, cost)


def _newest_span(months: list[str], today: dt.date) -> list[str]:
    """The newest contiguous months of the backlog that one range request per ETF covers."""
    spans = tracking_krx.spans(months, today)
    return list(spans[-1].keys) if spans else []


def _request(asset: dg.AssetKey, keys: list[str], cost: int, today: dt.date) -> dg.RunRequest:
    first, last = min(keys), max(keys)
    tags = {TRICKLE_TAG: "krx", COST_TAG: str(cost)}
    key = f"trickle-{asset.to_user_string()}-{first}..{last}-{today}"
    if first == last:
        return dg.RunRequest(run_key=key, partition_key=first, asset_selection=[asset], tags=tags)
    return dg.RunRequest(run_key=key, asset_selection=[asset], tags={**tags, RANGE_START: first, RANGE_END: last})


def plan_requests(left: int, todo: Backlog, warehouse: Warehouse, today: dt.date) -> list[dg.RunRequest]:
    """What fits in `left` requests: the newest tracking span, then the newest holdings days
    (consecutive in the backlog, so one ranged run)."""
    out = []
    span = _newest_span(todo.tracking, today)
    if span:
        cost = tracking_krx.request_cost(warehouse, span, today)
        if cost <= left:
            out.append(_request(TRACKING, span, cost, today))
            left -= cost
    if not out:
        days, cost = [], 0
        for day, c in todo.holdings:
            if cost + c > left:
                break
            days.append(day)
            cost += c
        if days:
            out.append(_request(HOLDINGS, days, cost, today))
    return out


def eta_text(todo: Backlog, budget: int) -> str:
    if not todo.cost:
        return "nothing left"
    if budget <= 0:
        return f"{BUDGET_ENV}=0: trickle off"
    return f"ETA {math.ceil(todo.cost / budget)} day(s) at {budget} requests/day"


def status_text(todo: Backlog, budget: int, spent: int) -> str:
    return (f"KRX history: {len(todo.holdings)} holdings days (~{todo.cost - todo.tracking_cost} requests) and "
            f"{len(todo.tracking)} tracking months (~{todo.tracking_cost} requests) left; budget {budget}/day, "
            f"{spent} spent today; {eta_text(todo, budget)}")


@dg.sensor(minimum_interval_seconds=600, default_status=dg.DefaultSensorStatus.RUNNING,
           asset_selection=[HOLDINGS, TRACKING],
           description=f"Budgeted KRX history (holdings, KRX tracking figures) behind the loaded etf_daily days, "
                       f"newest first, at most {BUDGET_ENV} (default 2000) requests per KST day; "
                       "the skip reason shows what is left and the ETA.")
def krx_history_trickle(context: dg.SensorEvaluationContext, warehouse: Warehouse):
    now = dt.datetime.now(tz=KST)
    budget, spent = krx_history_budget(), spent_today(context.instance, now)
    todo = backlog(context.instance, warehouse, now.date())
    text = status_text(todo, budget, spent)
    if context.instance.get_runs(filters=dg.RunsFilter(tags={TRICKLE_TAG: "krx"}, statuses=IN_FLIGHT), limit=1):
        return dg.SkipReason(f"a trickle run is in flight (one at a time). {text}")
    requests = plan_requests(budget - spent, todo, warehouse, now.date()) if budget > spent else []
    if not requests:
        return dg.SkipReason(text if todo.cost else f"{text} (no history to trickle)")
    context.log.info(text)
    return requests


def status_lines() -> list[str]:
    """`quant backfill --status`: the trickle's backlog on this platform's instance and warehouse."""
    from quant_assets.cli import dagster_env

    os.environ.update(dagster_env())
    with dg.DagsterInstance.get() as instance:
        now = dt.datetime.now(tz=KST)
        todo = backlog(instance, Warehouse(), now.date())
        return [status_text(todo, krx_history_budget(), spent_today(instance, now))]
