"""The one Definitions object: assets, checks, resources, jobs, schedules and sensors.

Resources read credentials through `EnvVar`, so they never sit in code, run config or the UI;
without credentials the clients talk to the bundled simulator.
"""

from __future__ import annotations

import os

import dagster as dg

from quant_assets.assets import prices, reference
from quant_assets.resources.kis import KISClient
from quant_assets.resources.krx import KRXClient
from quant_assets.resources.warehouse import Warehouse


def _env(name: str) -> dg.EnvVar | None:
    # EnvVar resolves at launch time; only reference variables that are set, so an unset
    # credential means "use the simulator's demo account" instead of a launch error.
    return dg.EnvVar(name) if os.environ.get(name) else None


def resources() -> dict:
    return {
        "krx": KRXClient(krx_id=_env("KRX_ID"), krx_pw=_env("KRX_PW")),
        "kis": KISClient(app_key=_env("KIS_APP_KEY"), app_secret=_env("KIS_APP_SECRET"),
                         env=os.environ.get("KIS_ENV", "real")),
        "warehouse": Warehouse(),
    }


defs = dg.Definitions(
    assets=[reference.etf_list, reference.stock_list, prices.daily_prices],
    resources=resources(),
)
