"""Sensors that request an overseas day once KIS has it final.

KIS updates overseas history "after the close, around 12:00 KST" for the US (reference §1.3: a
US bar of local date D is final at D+1 12:00 KST); for the Asian exchanges this platform waits one
hour after the local close (a choice: KIS documents only the 15-20 min quote delay). The Seoul FX
quotes of day D are taken at 16:00 KST. A sensor never probes the source (every probe would be a
call against the shared 20/s budget): it computes which sessions are final and requests the ones
not yet materialized, the first tick the last QUANT_CATCH_UP_DAYS sessions, as one ranged run.
"""


import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from quant_assets.assets.overseas import calendars
from quant_assets.assets.overseas.bars import OHLCV_ASSETS
from quant_assets.assets.overseas.fx import KEY as FX_KEY
from quant_assets.assets.overseas.indices import INDEX_ASSETS
from quant_assets.assets.overseas.universe import UNIVERSE_ASSETS
from quant_assets.automation import RANGE_END_TAG, RANGE_START_TAG, catch_up_days
from quant_assets.calendar import KST, now_kst, trading_days

CLOSE_LOCAL = {"US": dt.time(16, 0), "CN": dt.time(15, 0), "HK": dt.time(16, 10), "JP": dt.time(15, 30),
               "VN": dt.time(15, 0)}


def final_at(region: str, day: dt.date) -> dt.datetime:
    """When KIS's history for local date `day` of `region` is final (KST)."""
    if region == "US":
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(12, 0), tzinfo=KST)
    close = dt.datetime.combine(day, CLOSE_LOCAL[region], tzinfo=ZoneInfo(calendars.TIMEZONE[region]))
    return close + dt.timedelta(hours=1)


def final_sessions(region: str, now: dt.datetime, n: int) -> list[dt.date]:
    """The newest n sessions of `region` that are final at `now`, oldest first."""
    today = now.astimezone(ZoneInfo(calendars.TIMEZONE[region])).date()
    days = calendars.sessions(region, today - dt.timedelta(days=int(n * 1.6) + 10), today)
    return [d for d in days if final_at(region, d) <= now][-n:]


def requests_for(instance: dg.DagsterInstance, keys: list[dg.AssetKey], days: list[dt.date], prefix: str,
                 partitions: dg.PartitionsDefinition) -> list[dg.RunRequest]:
    done = [set(instance.get_materialized_partitions(k)) for k in keys]
    valid = set(partitions.get_partition_keys())
    todo = [d for d in days if d.isoformat() in valid and any(d.isoformat() not in s for s in done)]
    if not todo:
        return []
    first, last = todo[0].isoformat(), todo[-1].isoformat()
    if first == last:
        return [dg.RunRequest(run_key=f"{prefix}-{first}", partition_key=first, asset_selection=keys)]
    return [dg.RunRequest(run_key=f"{prefix}-{first}..{last}", asset_selection=keys,
                          tags={RANGE_START_TAG: first, RANGE_END_TAG: last})]


def build_region_sensor(region: str) -> dg.SensorDefinition:
    keys = [OHLCV_ASSETS[region].key, INDEX_ASSETS[region].key]

    @dg.sensor(name=f"overseas_{region.lower()}_final", asset_selection=[*keys, UNIVERSE_ASSETS[region].key],
               minimum_interval_seconds=120,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Requests {region} bars and indices of each session once KIS has it final.")
    def _sensor(context: dg.SensorEvaluationContext):
        uni = UNIVERSE_ASSETS[region].key
        if context.instance.get_latest_materialization_event(uni) is None:
            # bars need the members' tickers: load the universe first (its cron keeps it current)
            return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"universe-{region.lower()}-first",
                                                               asset_selection=[uni])],
                                   skip_reason=None)
        days = final_sessions(region, now_kst(), catch_up_days() if context.cursor is None else 5)
        reqs = requests_for(context.instance, keys, days, f"overseas-{region.lower()}", calendars.partitions(region))
        return dg.SensorResult(run_requests=reqs, cursor=days[-1].isoformat() if days else context.cursor,
                               skip_reason=None if reqs else f"{region}: every final session is materialized")

    return _sensor


@dg.sensor(name="exchange_rates_final", asset_selection=[FX_KEY], minimum_interval_seconds=300,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests the KRW exchange rates of each Seoul trading day after 16:00 KST.")
def fx_sensor(context: dg.SensorEvaluationContext):
    from quant_assets.assets.overseas.fx import exchange_rate_history

    now = now_kst()
    n = catch_up_days() if context.cursor is None else 5
    days = [d for d in trading_days(now.date() - dt.timedelta(days=int(n * 1.6) + 10), now.date())
            if dt.datetime.combine(d, dt.time(16, 0), tzinfo=KST) <= now][-n:]
    reqs = requests_for(context.instance, [FX_KEY], days, "fx", exchange_rate_history.partitions_def)
    return dg.SensorResult(run_requests=reqs, cursor=days[-1].isoformat() if days else context.cursor,
                           skip_reason=None if reqs else "every final Seoul day has its rates")


SENSORS = [*(build_region_sensor(r) for r in calendars.REGIONS), fx_sensor]
