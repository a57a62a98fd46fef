"""Offline KRX + KIS protocol server over a deterministic synthetic Korean market.

    from quant_assets.simulator import SimConfig, SimulatorServer, Market
    srv = SimulatorServer(SimConfig(size="small", seed=42)).start()
    srv.krx_url, srv.kis_url, srv.kis_virtual_url
"""

from .config import SimConfig
from .market import Market

__all__ = ["SimConfig", "SimulatorServer", "Market"]


def __getattr__(name):
    # the server pulls in http.server machinery; import it lazily so `Market` alone stays light
    if name == "SimulatorServer":
        from .server import SimulatorServer

        return SimulatorServer
    raise AttributeError(name)
