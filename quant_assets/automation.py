"""Keeping the warehouse current without cron guesswork.

- Publication sensors ask the source what it has published (one cheap request per tick) and
  request exactly the trading-day partitions that are published and not yet requested. The
  cursor is the newest day requested; run keys make a repeated request a no-op. Source errors
  become skip reasons, never a crashed sensor: the next tick simply asks again.
- Derived assets carry automation conditions; one automation-condition sensor, running by
  default, evaluates them.
- Source-expensive KRX history (holdings, KRX tracking figures) trickles in under a daily request
  budget (quant_assets/trickle.py).
- A nightly catch-up schedule on the KRX calendar requests any trading day of the last weeks
  that is still missing (never loaded, or failed), and skips holidays.
"""


import datetime as dt
import os

import dagster as dg
import psycopg

from quant_assets.calendar import TIMEZONE, is_trading_day, now_kst, previous_trading_days, trading_days
from quant_assets.errors import QuantAssetsError
from quant_assets.resources.krx import KRXClient
from quant_assets.resources.warehouse import Warehouse
from quant_assets.trickle import krx_history_trickle

PRICE_ASSETS = [dg.AssetKey("ohlcv"), dg.AssetKey("etf_daily"), dg.AssetKey("stock_fundamentals")]
AUM_ASSETS = [dg.AssetKey("etf_aum")]
HOLDINGS_ASSETS = [dg.AssetKey("etf_holdings")]
# The tags Dagster's own ranged backfill runs carry (dagster/_core/storage/tags.py); a run with
# them executes the selected assets over the whole partition range in one process.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PROBE_ETF = "069500"         # KODEX 200: listed since 2002, the cheapest per-ETF probe
HOLDINGS_LOOKBACK = 1        # PDFs cost one request per ETF per day: a first tick fetches only the newest


def catch_up_days() -> int:
    """Trading days a sensor without a cursor, and the nightly schedule, make sure are loaded.

    A sensor's first tick on an empty warehouse is what fills the last N days when `quant up`
    starts (`quant up --days N` sets QUANT_CATCH_UP_DAYS); one ranged run does it.
    """
    return int(os.environ.get("QUANT_CATCH_UP_DAYS", "20"))


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


def contiguous_spans(days: list[dt.date]) -> list[list[dt.date]]:
    """Split days into runs of consecutive trading days (a gap is a loaded day between them)."""
    if not days:
        return []
    calendar = trading_days(min(days), max(days))
    position = {d: i for i, d in enumerate(calendar)}
    spans: list[list[dt.date]] = []
    for d in sorted(days):
        if spans and position[d] == position[spans[-1][-1]] + 1:
            spans[-1].append(d)
        else:
            spans.append([d])
    return spans


def day_requests(days: list[dt.date], assets: list[dg.AssetKey], prefix: str, trigger: str) -> list[dg.RunRequest]:
    """One run per span of consecutive missing days.

    A single day is an ordinary partitioned run; a longer span is one ranged run (the same range
    tags an asset backfill puts on its runs), which the ingest assets process day by day with a
    per-partition materialization each. Twenty missing days cost one process start, not twenty.
    """
    requests = []
    for span in contiguous_spans(days):
        first, last = span[0].isoformat(), span[-1].isoformat()
        tags = {"quant/trigger": trigger}
        if first == last:
            requests.append(dg.RunRequest(run_key=f"{prefix}-{first}", partition_key=first,
                                          asset_selection=assets, tags=tags))
        else:
            tags.update({RANGE_START_TAG: first, RANGE_END_TAG: last})
            requests.append(dg.RunRequest(run_key=f"{prefix}-{first}..{last}", asset_selection=assets, tags=tags))
    return requests


def publication_requests(context: dg.SensorEvaluationContext, assets: list[dg.AssetKey], latest: dt.date | None,
                         prefix: str, what: str, lookback: int | None = None) -> dg.SensorResult:
    """Requests for every published day after the cursor (first tick: recent missing days)."""
    if latest is None:
        return dg.SensorResult(skip_reason=f"source reports no published {what} in the lookback window")
    cursor = dt.date.fromisoformat(context.cursor) if context.cursor else None
    if cursor is not None and latest <= cursor:
        return dg.SensorResult(skip_reason=f"{what} published up to {latest}; already requested up to {cursor}")
    if cursor is None:
        window = previous_trading_days(latest, lookback or catch_up_days())
        candidates = missing_days(context.instance, assets, window)
    else:
        candidates = trading_days(cursor + dt.timedelta(days=1), latest)
    requests = day_requests(candidates, assets, prefix, f"{prefix}_sensor")
    skip = None if requests else f"{what} published up to {latest}; every recent day already materialized"
    return dg.SensorResult(run_requests=requests, cursor=latest.isoformat(), skip_reason=skip)


class ProbeNotReady(Exception):
    """The warehouse lacks what a probe needs (not a source problem): the message is the skip reason."""


def probe_etf_isin(warehouse: Warehouse) -> str:
    """ISIN of PROBE_ETF from `tickers`; ProbeNotReady while the ETF list has not been loaded."""
    row = warehouse.read_frame("SELECT isin FROM tickers WHERE ticker = %s AND region = 'KR'", (PROBE_ETF,))
    if row.empty:
        n = int(warehouse.read_frame(
            "SELECT count(*) AS n FROM tickers WHERE asset_type = 'ETF' AND region = 'KR'")["n"].iloc[0])
        state = "is empty" if n == 0 else f"has {n} ETFs but not the probe ETF {PROBE_ETF} (KODEX 200)"
        raise ProbeNotReady(f"waiting for etf_list: the ETF universe in `tickers` {state}; the probe needs "
                            f"{PROBE_ETF}'s ISIN (etf_list loads on first start, then weekdays 07:30 KST)")
    return row["isin"].iloc[0]


def _probe(context: dg.SensorEvaluationContext, probe) -> tuple[dt.date | None, str | None]:
    try:
        return probe(), None
    except ProbeNotReady as exc:
        return None, str(exc)
    except QuantAssetsError as exc:  # source down, blocked, bad payload: skip, retry next tick
        context.log.warning(f"publication probe failed: {exc}")
        return None, f"source not reachable this tick ({type(exc).__name__}: {exc}); will retry"
    except psycopg.Error as exc:  # the warehouse restarting or busy must not fail the tick either
        context.log.warning(f"warehouse query failed during the probe: {exc}")
        return None, f"warehouse not reachable this tick ({type(exc).__name__}); will retry"


@dg.sensor(asset_selection=PRICE_ASSETS, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests each trading day's prices as soon as KRX publishes them (index history probe).")
def prices_published_sensor(context: dg.SensorEvaluationContext, krx: KRXClient):
    latest, error = _probe(context, lambda: krx.latest_trading_day(source_today(krx)))
    if error:
        return dg.SensorResult(skip_reason=error)
    return publication_requests(context, PRICE_ASSETS, latest, "prices", "daily prices")


def latest_aum_day(krx: KRXClient, warehouse: Warehouse) -> dt.date | None:
    """Newest day whose AUM is published, from one ETF's short history (AUM reads 0 until then)."""
    isin = probe_etf_isin(warehouse)
    today = source_today(krx)
    history = krx.etf_price_history(isin, today - dt.timedelta(days=14), today)
    published = history[history["aum"].notna() & (history["aum"] > 0)]
    return max(published["date"]) if len(published) else None


@dg.sensor(asset_selection=AUM_ASSETS, minimum_interval_seconds=180, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests etf_aum for day D once KRX publishes 순자산총액 (early on D+1).")
def aum_published_sensor(context: dg.SensorEvaluationContext, krx: KRXClient, warehouse: Warehouse):
    latest, error = _probe(context, lambda: latest_aum_day(krx, warehouse))
    if error:
        return dg.SensorResult(skip_reason=error)
    return publication_requests(context, AUM_ASSETS, latest, "aum", "AUM")


def latest_holdings_day(krx: KRXClient, warehouse: Warehouse) -> dt.date | None:
    """The newest price day whose PDF is already published, probed on one ETF."""
    isin = probe_etf_isin(warehouse)
    day = krx.latest_trading_day(source_today(krx))
    if day is None:
        return None
    return day if len(krx.etf_pdf(day, isin, allow_empty=True)) else None


@dg.sensor(asset_selection=HOLDINGS_ASSETS, minimum_interval_seconds=180,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests etf_holdings for the newest day whose PDF KRX has published.")
def holdings_published_sensor(context: dg.SensorEvaluationContext, krx: KRXClient, warehouse: Warehouse):
    latest, error = _probe(context, lambda: latest_holdings_day(krx, warehouse))
    if error:
        return dg.SensorResult(skip_reason=error)
    return publication_requests(context, HOLDINGS_ASSETS, latest, "holdings", "holdings", HOLDINGS_LOOKBACK)


def catch_up_requests(instance: dg.DagsterInstance, today: dt.date, run_key_suffix: str) -> list[dg.RunRequest]:
    """Missing trading days of the last catch_up_days() (before today), per ingest group."""
    window = [d for d in previous_trading_days(today, catch_up_days() + 1) if d < today]
    requests = []
    for name, assets in (("prices", PRICE_ASSETS), ("aum", AUM_ASSETS)):
        requests += day_requests(missing_days(instance, assets, window), assets,
                                 f"catchup-{name}-{run_key_suffix}", "nightly_catch_up")
    return requests


@dg.schedule(cron_schedule="30 21 * * *", execution_timezone=TIMEZONE, target=PRICE_ASSETS + AUM_ASSETS,
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Safety net at 21:30 KST on trading days: re-request any missing or failed day "
                         "of the last QUANT_CATCH_UP_DAYS (20) trading days, one ranged run per gap. "
                         "Does nothing on KRX holidays.")
def nightly_catch_up(context: dg.ScheduleEvaluationContext):
    today = context.scheduled_execution_time.astimezone(now_kst().tzinfo).date()
    if not is_trading_day(today):
        return dg.SkipReason(f"{today} is not a KRX trading day")
    requests = catch_up_requests(context.instance, today, today.isoformat())
    return requests or dg.SkipReason(f"no missing trading day in the last {catch_up_days()}")


automation_sensor = dg.AutomationConditionSensorDefinition(
    "derived_refresh", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates the automation conditions of derived assets (tracking, ranges, factors, "
                "aggregates, groups) so they refresh when their upstream partitions change.",
)

SENSORS = [prices_published_sensor, aum_published_sensor, holdings_published_sensor, automation_sensor,
           krx_history_trickle]
SCHEDULES = [nightly_catch_up]
