"""Simulated clock and publication times.

Everything time-dependent (what has been published, CURRENT_DATETIME, token expiry) reads this
clock, so tests can jump to "D 15:44" or "D+1 06:01" and see the source exactly as a sensor would.

Publication rules (KST, on the simulated clock; `late` faults add minutes on top):
  prices/NAV/fundamentals/sector of trading day D  -> D 15:45
  PDF (holdings) of D                               -> D 18:00
  ETF AUM (INVSTASST_NETASST_TOTAMT) of D           -> D+1 (calendar day) 06:00
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")

PUBLICATION = {
    "prices": (0, dt.time(15, 45)),
    "pdf": (0, dt.time(18, 0)),
    "aum": (1, dt.time(6, 0)),
}


class SimClock:
    """now() = anchor + (real elapsed) x speed; the real clock when no anchor is set."""

    def __init__(self, now: dt.datetime | None = None, speed: float = 1.0):
        self._lock = threading.Lock()
        self.set(now, speed)

    def set(self, now: dt.datetime | None, speed: float = 1.0) -> None:
        if now is not None and now.tzinfo is None:
            raise ValueError("simulated clock needs a timezone-aware datetime")
        with self._lock:
            self._anchor = now.astimezone(KST) if now is not None else None
            self._mono = time.monotonic()
            self.speed = float(speed)

    @property
    def is_real(self) -> bool:
        return self._anchor is None

    def now(self) -> dt.datetime:
        with self._lock:
            if self._anchor is None:
                return dt.datetime.now(KST)
            elapsed = (time.monotonic() - self._mono) * self.speed
            return self._anchor + dt.timedelta(seconds=elapsed)

    def state(self) -> dict:
        return {"now": self.now().isoformat(), "speed": self.speed, "real": self.is_real}


def publication_time(day: dt.date, dataset: str, late_minutes: float = 0.0) -> dt.datetime:
    """When `dataset` of trading day `day` becomes visible (KST)."""
    offset_days, at = PUBLICATION[dataset]
    t = dt.datetime.combine(day + dt.timedelta(days=offset_days), at, tzinfo=KST)
    return t + dt.timedelta(minutes=late_minutes)
