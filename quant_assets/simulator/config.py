"""Simulator configuration (one frozen dataclass; everything else derives from it and the seed)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

SIZES = {
    # size -> (kospi stocks, kosdaq stocks, etfs)
    "small": (40, 20, 20),
    "full": (950, 1750, 1050),
}


@dataclass(frozen=True)
class SimConfig:
    """What market to build and how the servers behave.

    size: "small" (~60 stocks, ~20 ETFs; tests) or "full" (~2,700 stocks, ~1,050 ETFs; demo/bench).
    n_stocks / n_etfs override the size (stocks split ~35% KOSPI / 65% KOSDAQ at scale).
    end_date None = today in KST; the price paths then run `horizon_days` beyond it so a clock that
    keeps ticking (a long-running demo) still finds data to publish.
    now None = the real clock; otherwise the simulated clock starts there and runs at `speed`.
    extra_closures: days XKRX treats as sessions but the simulated exchange was closed (ad-hoc
    closures the calendar package misses; 2026-06-03, the local-election day, by default).
    """

    size: str = "small"
    seed: int = 42
    start_date: str = "2010-01-04"
    end_date: str | None = None
    now: dt.datetime | None = None
    speed: float = 1.0
    n_stocks: int | None = None
    n_etfs: int | None = None
    extra_closures: tuple[str, ...] = ("2026-06-03",)
    horizon_days: int = 45
    # KRX login behaviour
    krx_session_ttl: float = 3600.0  # idle seconds (real time) before a session is dropped
    krx_accounts: dict = field(default_factory=dict)  # mbrId -> required pw (others: any non-empty)
    krx_pw_change_ids: tuple[str, ...] = ()  # these ids get CD010 (password change required)
    # KIS
    kis_rate_real: int = 20
    kis_rate_virtual: int = 2
    kis_token_ttl: float = 86400.0  # simulated seconds

    def counts(self) -> tuple[int, int, int]:
        """(n_kospi, n_kosdaq, n_etfs) after applying explicit overrides."""
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {sorted(SIZES)}, got {self.size!r}")
        kospi, kosdaq, etfs = SIZES[self.size]
        if self.n_stocks is not None:
            total = kospi + kosdaq
            kospi = max(1, round(self.n_stocks * kospi / total))
            kosdaq = max(0, self.n_stocks - kospi)
        if self.n_etfs is not None:
            etfs = self.n_etfs
        return kospi, kosdaq, etfs
