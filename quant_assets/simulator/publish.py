"""What the sources have published at the simulated "now" (shared by the KRX and KIS handlers)."""

from __future__ import annotations

import datetime as dt

from .clock import SimClock, publication_time
from .faults import FaultInjector

NONE, CLOSED, OPEN = "none", "closed", "open"


class Publication:
    def __init__(self, market, clock: SimClock, faults: FaultInjector):
        self.m, self.clock, self.faults = market, clock, faults

    def published(self, d: dt.date, dataset: str, source: str = "krx", now: dt.datetime | None = None) -> bool:
        now = now or self.clock.now()
        late = self.faults.late_minutes(source, dataset, d.strftime("%Y%m%d"))
        return now >= publication_time(d, dataset, late)

    def state(self, d: dt.date, dataset: str = "prices", source: str = "krx") -> str:
        """NONE: nothing to show yet (or outside the simulated range) -> empty list;
        CLOSED: published, but the exchange did not trade that day -> dashed rows; OPEN: data."""
        m = self.m
        if d < m.dates[0] or d > m.dates[-1]:
            return NONE
        if not self.published(d, dataset, source):
            return NONE
        return OPEN if m.is_trading_day(d) else CLOSED

    def latest_t(self, dataset: str = "prices", source: str = "krx") -> int:
        """Index of the newest trading day whose `dataset` is published (-1 when none)."""
        now = self.clock.now()
        t = self.m.last_t_on_or_before(now.date())
        while t >= 0 and not self.published(self.m.dates[t], dataset, source, now):
            t -= 1
        return t

    def today_t(self) -> int:
        """Index of the last trading day <= today (listing status "as of now")."""
        return self.m.last_t_on_or_before(self.clock.now().date())
