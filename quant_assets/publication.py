"""When is a day's data published? Asked of the source, not guessed from the clock.

KRX publishes the index history row for day D once D's prices are final; on a holiday (or before
publication) there is no row. That one cheap request is how sensors and reference assets find the
newest published trading day.
"""

from __future__ import annotations

import datetime as dt

from quant_assets.calendar import now_kst
from quant_assets.resources.krx import KRXClient


def latest_price_day(krx: KRXClient, today: dt.date | None = None, lookback_days: int = 20) -> dt.date | None:
    today = today or now_kst().date()
    history = krx.index_history(today - dt.timedelta(days=lookback_days), today)
    if history.empty:
        return None
    return max(history["date"])
