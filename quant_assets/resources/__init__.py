"""Source clients (KRX, KIS) and their shared HTTP transport."""

from quant_assets.resources.http import (
    CircuitBreaker,
    InMemoryCircuitBreaker,
    default_breaker,
    set_default_breaker,
    shared_limiter,
)
from quant_assets.resources.kis import KISClient, SourceUnsupportedError
from quant_assets.resources.krx import KRXClient

__all__ = [
    "CircuitBreaker",
    "InMemoryCircuitBreaker",
    "KISClient",
    "KRXClient",
    "SourceUnsupportedError",
    "default_breaker",
    "set_default_breaker",
    "shared_limiter",
]
