"""Keeping the warehouse current without cron guesswork.

- Publication sensors ask the source what it has published (one cheap request per tick) and
  request exactly the trading-day partitions that are published and not yet requested. The
  cursor is the newest day requested; run keys make a repeated request a no-op. Source errors
  become skip reasons, never a crashed sensor: the next tick simply asks again.
- Derived assets carry automation conditions; one automation-condition sensor, running by
  default, evaluates them.
- A nightly catch-up schedule on the KRX calendar requests any trading day of the last weeks
  that is still missing (never loaded, or failed), and skips holidays.
"""


import datetime as dt

import dagster as dg

from quant_assets.calendar import TIMEZONE, is_trading_day, now_kst, previous_trading_days, trading_days
from quant_assets.errors import QuantAssetsError
from quant_assets.resources.krx import KRXClient
from quant_assets.resources.warehouse import Warehouse

PRICE_ASSETS = [dg.AssetKey("ohlcv"), dg.AssetKey("etf_daily"), dg.AssetKey("stock_fundamentals")]
AUM_ASSETS = [dg.AssetKey("etf_aum")]
HOLDINGS_ASSETS = [dg.AssetKey("etf_holdings")]
FIRST_TICK_LOOKBACK = 5      # trading days checked when a sensor starts without a cursor
CATCH_UP_DAYS = 20           # trading days the nightly schedule re-checks
PROBE_ETF = "069500"         # KODEX 200: listed since 2002, the cheapest per-ETF probe


def source_today(krx: KRXClient) -> dt.date:
    """Today by the source's own clock: KRX stamps every answer with CURRENT_DATETIME (KST).

    Against the real KRX this is simply today in Seoul; against the simulator it follows the
    simulated clock, which is how tests and demos drive sensors through publication times.
    """
    today = now_kst().date()
    ymd = today.strftime("%Y%m%d")
    payload = krx.fetch("dbms/MDC/STAT/standard/MDCSTAT00301",
                        {"indIdx": "1", "indIdx2": "001", "strtDd": ymd, "endDd": ymd}, dataset="MDCSTAT00301")
    stamp = payload.get("CURRENT_DATETIME") if isinstance(payload, dict) else None
    if not stamp:
        return today
    return dt.datetime.strptime(stamp, "%Y.%m.%d %p %I:%M:%S").date()


def missing_days(instance: dg.DagsterInstance, assets: list[dg.AssetKey], candidates: list[dt.date]) -> list[dt.date]:
    """Days among `candidates` that at least one asset has no materialization for."""
    done = [instance.get_materialized_partitions(key) for key in assets]
    return [d for d in candidates if any(d.isoformat() not in keys for keys in done)]


def publication_requests(context: dg.SensorEvaluationContext, assets: list[dg.AssetKey], latest: dt.date | None,
                         prefix: str, what: str) -> dg.SensorResult:
    """Requests for every published day after the cursor (first tick: recent missing days)."""
    if latest is None:
        return dg.SensorResult(skip_reason=f"source reports no published {what} in the lookback window")
    cursor = dt.date.fromisoformat(context.cursor) if context.cursor else None
    if cursor is not None and latest <= cursor:
        return dg.SensorResult(skip_reason=f"{what} published up to {latest}; already requested up to {cursor}")
    if cursor is None:
        candidates = missing_days(context.instance, assets, previous_trading_days(latest, FIRST_TICK_LOOKBACK))
    else:
        candidates = trading_days(cursor + dt.timedelta(days=1), latest)
    requests = [
        dg.RunRequest(run_key=f"{prefix}-{d.isoformat()}", partition_key=d.isoformat(), asset_selection=assets,
                      tags={"quant/trigger": f"{prefix}_sensor"})
        for d in candidates
    ]
    skip = None if requests else f"{what} published up to {latest}; every recent day already materialized"
    return dg.SensorResult(run_requests=requests, cursor=latest.isoformat(), skip_reason=skip)


def _probe(context: dg.SensorEvaluationContext, probe) -> tuple[dt.date | None, str | None]:
    try:
        return probe(), None
    except QuantAssetsError as exc:  # source down, blocked, bad payload: skip, retry next tick
        context.log.warning(f"publication probe failed: {exc}")
        return None, f"source not reachable this tick ({type(exc).__name__}: {exc}); will retry"


@dg.sensor(asset_selection=PRICE_ASSETS, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests each trading day's prices as soon as KRX publishes them (index history probe).")
def prices_published_sensor(context: dg.SensorEvaluationContext, krx: KRXClient):
    latest, error = _probe(context, lambda: krx.latest_trading_day(source_today(krx)))
    if error:
        return dg.SensorResult(skip_reason=error)
    return publication_requests(context, PRICE_ASSETS, latest, "prices", "daily prices")


def latest_aum_day(krx: KRXClient, warehouse: Warehouse) -> dt.date | None:
    """Newest day whose AUM is published, from one ETF's short history (AUM reads 0 until then)."""
    row = warehouse.read_frame("SELECT isin FROM tickers WHERE ticker = %s", (PROBE_ETF,))
    if row.empty:
        return None
    today = source_today(krx)
    history = krx.etf_price_history(row["isin"].iloc[0], today - dt.timedelta(days=14), today)
    published = history[history["aum"].notna() & (history["aum"] > 0)]
    return max(published["date"]) if len(published) else None


@dg.sensor(asset_selection=AUM_ASSETS, minimum_interval_seconds=600, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests etf_aum for day D once KRX publishes 순자산총액 (early on D+1).")
def aum_published_sensor(context: dg.SensorEvaluationContext, krx: KRXClient, warehouse: Warehouse):
    latest, error = _probe(context, lambda: latest_aum_day(krx, warehouse))
    if error:
        return dg.SensorResult(skip_reason=error)
    return publication_requests(context, AUM_ASSETS, latest, "aum", "AUM")


def latest_holdings_day(krx: KRXClient, warehouse: Warehouse) -> dt.date | None:
    """The newest price day whose PDF is already published, probed on one ETF."""
    row = warehouse.read_frame("SELECT isin FROM tickers WHERE ticker = %s", (PROBE_ETF,))
    day = krx.latest_trading_day(source_today(krx))
    if row.empty or day is None:
        return None
    return day if len(krx.etf_pdf(day, row["isin"].iloc[0], allow_empty=True)) else None


@dg.sensor(asset_selection=HOLDINGS_ASSETS, minimum_interval_seconds=600,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests etf_holdings for the newest day whose PDF KRX has published.")
def holdings_published_sensor(context: dg.SensorEvaluationContext, krx: KRXClient, warehouse: Warehouse):
    latest, error = _probe(context, lambda: latest_holdings_day(krx, warehouse))
    if error:
        return dg.SensorResult(skip_reason=error)
    return publication_requests(context, HOLDINGS_ASSETS, latest, "holdings", "holdings")


def catch_up_requests(instance: dg.DagsterInstance, today: dt.date, run_key_suffix: str) -> list[dg.RunRequest]:
    """Missing trading days of the last CATCH_UP_DAYS (before today) for each ingest group."""
    window = [d for d in previous_trading_days(today, CATCH_UP_DAYS + 1) if d < today]
    requests = []
    for name, assets in (("prices", PRICE_ASSETS), ("aum", AUM_ASSETS)):
        for d in missing_days(instance, assets, window):
            requests.append(dg.RunRequest(
                run_key=f"catchup-{name}-{d.isoformat()}-{run_key_suffix}", partition_key=d.isoformat(),
                asset_selection=assets, tags={"quant/trigger": "nightly_catch_up"}))
    return requests


@dg.schedule(cron_schedule="30 21 * * *", execution_timezone=TIMEZONE, target=PRICE_ASSETS + AUM_ASSETS,
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Safety net at 21:30 KST on trading days: re-request any missing or failed day "
                         f"of the last {CATCH_UP_DAYS} trading days. Does nothing on KRX holidays.")
def nightly_catch_up(context: dg.ScheduleEvaluationContext):
    today = context.scheduled_execution_time.astimezone(now_kst().tzinfo).date()
    if not is_trading_day(today):
        return dg.SkipReason(f"{today} is not a KRX trading day")
    requests = catch_up_requests(context.instance, today, today.isoformat())
    return requests or dg.SkipReason(f"no missing trading day in the last {CATCH_UP_DAYS}")


automation_sensor = dg.AutomationConditionSensorDefinition(
    "derived_refresh", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates the automation conditions of derived assets (tracking, ranges, factors, "
                "aggregates, groups) so they refresh when their upstream partitions change.",
)

SENSORS = [prices_published_sensor, aum_published_sensor, holdings_published_sensor, automation_sensor]
SCHEDULES = [nightly_catch_up]
