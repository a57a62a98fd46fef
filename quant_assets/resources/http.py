"""Shared HTTP transport for the market-data clients.

One place decides how a request to a source is sent:

* **rate limit** — one pyrate-limiter `Limiter` per (source, account), shared by every client
  instance in the process (`shared_limiter`). Requests are spaced evenly (1 every 1/rps s), which
  is gentler on the source than bursts.
* **retry** — one tenacity policy: exponential backoff with jitter on 5xx, timeouts, connection
  errors and whatever the client's response handler marks as transient (KIS EGW00201, truncated
  bodies). Exhausted retries raise `SourceUnavailableError` (or `SourceDataError` when the last
  failure was an unreadable body).
* **ban detection** — the client supplies a `ban_check(response)`; a ban raises
  `SourceBlockedError` at once (never retried: retrying extends the ban) and trips the circuit
  breaker, so no further request is sent to that source until the cool-down ends.

Secrets never reach log lines or exception messages: only the method, the path and the dataset
are logged, and errors are built from status codes and parsed payloads.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, Self, TypeVar, runtime_checkable
from urllib.parse import urlsplit

import requests
from dagster import ConfigurableResource, get_dagster_logger
from pydantic import PrivateAttr
from pyrate_limiter import Duration, Limiter, Rate
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from quant_assets.errors import SourceBlockedError, SourceDataError, SourceError, SourceUnavailableError

log = get_dagster_logger("quant_assets.resources.http")

T = TypeVar("T")

DEFAULT_BAN_COOLDOWN_SECONDS = 24 * 3600.0


# --------------------------------------------------------------------------------------------
# circuit breaker


@runtime_checkable
class CircuitBreaker(Protocol):
    """Stops all traffic to a source after a ban. Implementations must be thread-safe.

    `source` is a short key such as ``"krx"`` or ``"kis-real"``.
    """

    def check(self, source: str) -> None:
        """Raise `SourceBlockedError` (with the until-time and reason) while the breaker is open."""

    def trip(self, source: str, reason: str, seconds: float) -> None:
        """Open the breaker for `seconds` (extends, never shortens, an open breaker)."""


class InMemoryCircuitBreaker:
    """Process-local breaker. Good for one process; a database-backed one shares state across runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[float, str]] = {}

    def check(self, source: str) -> None:
        with self._lock:
            entry = self._open.get(source)
            if entry is None:
                return
            until, reason = entry
            if time.time() >= until:
                del self._open[source]
                return
        until_txt = datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds")
        raise SourceBlockedError(
            source, f"circuit breaker open until {until_txt} (reason: {reason}); no request sent"
        )

    def trip(self, source: str, reason: str, seconds: float) -> None:
        until = time.time() + seconds
        with self._lock:
            current = self._open.get(source)
            if current is None or current[0] < until:
                self._open[source] = (until, reason)
        log.error(f"circuit breaker for {source} tripped for {seconds:.0f}s: {reason}")

    def reset(self, source: str | None = None) -> None:
        with self._lock:
            if source is None:
                self._open.clear()
            else:
                self._open.pop(source, None)

    def is_open(self, source: str) -> bool:
        try:
            self.check(source)
        except SourceBlockedError:
            return True
        return False


_default_breaker: CircuitBreaker = InMemoryCircuitBreaker()


def default_breaker() -> CircuitBreaker:
    """The breaker clients use unless given one with `with_breaker` (process-wide)."""
    return _default_breaker


def set_default_breaker(breaker: CircuitBreaker) -> None:
    """Install a process-wide breaker (e.g. a PostgreSQL-backed one at definitions load time)."""
    global _default_breaker
    _default_breaker = breaker


# --------------------------------------------------------------------------------------------
# rate limiter registry

_limiters: dict[tuple[str, str, float], Limiter] = {}
_limiters_lock = threading.Lock()


def account_key(*parts: str | None) -> str:
    """A stable, non-reversible key for an account (never put the credential itself in a key)."""
    h = hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()
    return h[:16]


def shared_limiter(source: str, account: str, requests_per_second: float) -> Limiter:
    """The one limiter for (source, account) at this rate, shared by all instances in the process.

    Requests are spaced by ``ceil(1000 / rps)`` ms, so the rate never exceeds `requests_per_second`
    in any window. Acquisition blocks (the limiter's lock is held while waiting, so concurrent
    threads queue up in order).
    """
    if requests_per_second <= 0:
        raise ValueError("requests_per_second must be > 0")
    key = (source, account, float(requests_per_second))
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            interval_ms = max(1, math.ceil(1000.0 / requests_per_second))
            limiter = Limiter(
                Rate(1, interval_ms),
                raise_when_fail=False,
                max_delay=Duration.HOUR,
                retry_until_max_delay=True,
                buffer_ms=1,
            )
            _limiters[key] = limiter
        return limiter


# --------------------------------------------------------------------------------------------
# retry policy + transport


class Retryable(Exception):
    """Raised by a response handler (or the transport) to ask for another attempt.

    `kind` is ``"unavailable"`` (5xx, timeout, rate limit) or ``"data"`` (truncated/unreadable
    body); it chooses the error raised when retries run out.
    """

    def __init__(self, message: str, kind: str = "unavailable"):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class RetryPolicy:
    """Wait before retry n (1-based): ``backoff_initial * 2**(n-1) + uniform(0, jitter)``, capped at
    `backoff_max`. `jitter` None = `backoff_initial` (so tiny test backoffs stay tiny)."""

    max_retries: int = 4
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    jitter: float | None = None


def raise_for_transient_status(resp: requests.Response) -> None:
    """5xx and 429 are transient."""
    if resp.status_code >= 500 or resp.status_code == 429:
        raise Retryable(f"HTTP {resp.status_code}")


def url_path(url: str) -> str:
    """Path only (never query strings) — safe to log."""
    return urlsplit(url).path


class Transport:
    """Sends requests for one source: breaker check -> rate limit -> send -> ban check -> handler.

    `handler(response)` turns a response into a value; it raises `Retryable` for transient
    conditions and any other exception to stop at once.
    """

    def __init__(
        self,
        source: str,
        *,
        limiter: Limiter,
        limiter_key: str,
        breaker: CircuitBreaker,
        policy: RetryPolicy,
        timeout: float,
        ban_check: Callable[[requests.Response], str | None] | None = None,
        ban_cooldown_seconds: float = DEFAULT_BAN_COOLDOWN_SECONDS,
    ):
        self.source = source
        self.limiter = limiter
        self.limiter_key = limiter_key
        self.breaker = breaker
        self.policy = policy
        self.timeout = timeout
        self.ban_check = ban_check
        self.ban_cooldown_seconds = ban_cooldown_seconds

    def _acquire(self) -> None:
        ok = self.limiter.try_acquire(self.limiter_key)
        if not ok:  # only when a wait would exceed an hour
            raise SourceUnavailableError(self.source, "rate limiter could not grant a request slot")

    def _attempt(
        self,
        session: requests.Session,
        method: str,
        url: str,
        handler: Callable[[requests.Response], T],
        dataset: str | None,
        kwargs: dict[str, Any],
    ) -> T:
        self.breaker.check(self.source)
        self._acquire()
        t0 = time.monotonic()
        try:
            resp = session.request(method, url, timeout=self.timeout, **kwargs)
            # Read the body inside the try: a connection cut mid-body surfaces here.
            _ = resp.content
        except requests.Timeout as exc:
            raise Retryable(f"timeout after {self.timeout:g}s") from exc
        except requests.exceptions.ChunkedEncodingError as exc:
            raise Retryable("response body cut off (incomplete read)", kind="data") from exc
        except requests.ConnectionError as exc:
            raise Retryable(f"connection error: {type(exc).__name__}") from exc
        elapsed = time.monotonic() - t0
        log.debug(f"{self.source} {method} {url_path(url)} [{dataset or '-'}] -> {resp.status_code} in {elapsed:.2f}s")
        if self.ban_check is not None:
            reason = self.ban_check(resp)
            if reason:
                self.breaker.trip(self.source, reason, self.ban_cooldown_seconds)
                raise SourceBlockedError(
                    self.source,
                    f"source blocked this client ({reason}); circuit breaker open for "
                    f"{self.ban_cooldown_seconds / 3600:g} h, not retrying",
                    dataset=dataset,
                )
        return handler(resp)

    def request(
        self,
        session: requests.Session,
        method: str,
        url: str,
        handler: Callable[[requests.Response], T],
        *,
        dataset: str | None = None,
        date: str | None = None,
        **kwargs: Any,
    ) -> T:
        p = self.policy

        def _log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                f"{self.source} {method} {url_path(url)} [{dataset or '-'} {date or ''}] attempt "
                f"{state.attempt_number}/{p.max_retries + 1} failed ({exc}); retrying in {wait:.2f}s"
            )

        retrying = Retrying(
            stop=stop_after_attempt(p.max_retries + 1),
            wait=wait_exponential_jitter(
                multiplier=p.backoff_initial,
                max=p.backoff_max,
                jitter=p.backoff_initial if p.jitter is None else p.jitter,
            ),
            retry=retry_if_exception_type(Retryable),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            return retrying(self._attempt, session, method, url, handler, dataset, kwargs)
        except Retryable as exc:
            attempts = p.max_retries + 1
            if exc.kind == "data":
                raise SourceDataError(
                    dataset or self.source,
                    f"unreadable response from {self.source} after {attempts} attempts: {exc}",
                    date=date,
                ) from None
            raise SourceUnavailableError(
                self.source, f"gave up after {attempts} attempts: {exc}", dataset=dataset, date=date
            ) from None


def check_not_error_status(resp: requests.Response, source: str, dataset: str | None, date: str | None) -> None:
    """Any remaining non-2xx (after transient handling) is a hard source error."""
    if resp.status_code >= 400:
        raise SourceError(source, f"unexpected HTTP {resp.status_code}", dataset=dataset, date=date)


class SourceResource(ConfigurableResource):
    """What the KRX and KIS clients share: masked secrets, a breaker and a lazily built transport.

    Subclasses name their secret fields in `secret_fields`; reprs (and so Dagster's logs and error
    messages) show them as `***`.
    """

    secret_fields: ClassVar[tuple[str, ...]] = ()

    _session: requests.Session | None = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.RLock)
    _breaker: CircuitBreaker | None = PrivateAttr(default=None)
    _transport: Transport | None = PrivateAttr(default=None)

    def __repr_args__(self):
        for k, v in super().__repr_args__():
            yield (k, "***" if k in self.secret_fields and v else v)

    def __str__(self) -> str:
        return repr(self)

    def with_breaker(self, breaker: CircuitBreaker) -> Self:
        """Use `breaker` instead of the process-wide default. Returns self."""
        self._breaker = breaker
        self._transport = None
        return self

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker or default_breaker()
