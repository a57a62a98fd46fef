"""The overseas sensors: universe first, then the sessions KIS has final (US: D+1 12:00 KST)."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from quant_assets.assets.overseas import sensors
from quant_assets.assets.overseas.universe import UNIVERSE_ASSETS
from quant_assets.calendar import KST


def test_us_history_is_final_at_noon_kst_the_next_day():
    fri = dt.date(2025, 8, 29)
    assert sensors.final_at("US", fri) == dt.datetime(2025, 8, 30, 12, 0, tzinfo=KST)
    before = dt.datetime(2025, 8, 30, 11, 59, tzinfo=KST)
    after = dt.datetime(2025, 8, 30, 12, 0, tzinfo=KST)
    assert sensors.final_sessions("US", before, 3)[-1] == dt.date(2025, 8, 28)
    assert sensors.final_sessions("US", after, 3)[-1] == fri
    # Tokyo's Friday is final one hour after its 15:30 close, the same evening in Seoul
    assert sensors.final_sessions("JP", dt.datetime(2025, 8, 29, 16, 31, tzinfo=KST), 1) == [fri]


def test_sensor_loads_the_universe_first_then_requests_final_days():
    instance = dg.DagsterInstance.ephemeral()
    sensor = next(s for s in sensors.SENSORS if s.name == "overseas_hk_final")
    with dg.build_sensor_context(instance=instance) as ctx:
        result = sensor(ctx)
    assert [r.asset_selection for r in result.run_requests] == [[UNIVERSE_ASSETS["HK"].key]]
    instance.report_runless_asset_event(dg.AssetMaterialization(UNIVERSE_ASSETS["HK"].key))
    with dg.build_sensor_context(instance=instance) as ctx:
        result = sensor(ctx)
    (req,) = result.run_requests
    assert req.tags["dagster/asset_partition_range_start"] < req.tags["dagster/asset_partition_range_end"]
