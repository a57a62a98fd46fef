"""Environment -> settings, in one place.

Everything the platform reads from the environment is named here, so README's configuration table
and the code cannot drift apart. Defaults give the offline setup: embedded PostgreSQL under
`QUANT_HOME` and the bundled market simulator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SIM_PORT = 8765


def quant_home() -> Path:
    """Where the embedded database, token cache and simulator state live (default `.quant/`)."""
    return Path(os.environ.get("QUANT_HOME", ".quant")).expanduser().resolve()


def sim_base_url() -> str:
    """Base URL of the simulator serving both protocols (`/krx`, `/kis`, `/kis-vts` prefixes)."""
    return os.environ.get("QUANT_SIM_URL", f"http://127.0.0.1:{DEFAULT_SIM_PORT}").rstrip("/")


@dataclass(frozen=True)
class SourceUrls:
    krx: str
    kis_real: str
    kis_virtual: str


def source_urls() -> SourceUrls:
    """Real hosts when credentials are configured, the simulator otherwise (overridable)."""
    sim = sim_base_url()
    krx_default = "https://data.krx.co.kr" if os.environ.get("KRX_ID") else f"{sim}/krx"
    has_kis = bool(os.environ.get("KIS_APP_KEY"))
    kis_real = "https://openapi.koreainvestment.com:9443" if has_kis else f"{sim}/kis"
    kis_virtual = "https://openapivts.koreainvestment.com:29443" if has_kis else f"{sim}/kis-vts"
    return SourceUrls(
        krx=os.environ.get("KRX_BASE_URL", krx_default).rstrip("/"),
        kis_real=os.environ.get("KIS_BASE_URL", kis_real).rstrip("/"),
        kis_virtual=os.environ.get("KIS_VIRTUAL_BASE_URL", kis_virtual).rstrip("/"),
    )


def start_date() -> str:
    """First trading-day partition (`QUANT_START_DATE`, default 2010-01-04)."""
    return os.environ.get("QUANT_START_DATE", "2010-01-04")
