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
from quant_assets.resources.sessions import (
    InMemorySessionStore,
    PostgresSessionStore,
    default_session_store,
    set_default_session_store,
)

__all__ = [
    "CircuitBreaker",
    "InMemoryCircuitBreaker",
    "InMemorySessionStore",
    "KISClient",
    "KRXClient",
    "PostgresSessionStore",
    "SourceUnsupportedError",
    "default_breaker",
    "default_session_store",
    "set_default_breaker",
    "set_default_session_store",
    "shared_limiter",
]
