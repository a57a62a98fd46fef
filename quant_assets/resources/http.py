"""Shared HTTP transport for the market-data clients.

One place decides how a request to a source is sent and what its answer means:

* **rate limit** — one pyrate-limiter `Limiter` per (source, account), shared by every client
  instance in the process (`shared_limiter`). Requests are spaced evenly (1 every 1/rps s), which
  is gentler on the source than bursts.
* **classification** — every answer is sorted by the client's classifier (`classify_krx`,
  `classify_kis`, both built on `classify_http`) into one `Kind`, and each kind has ONE policy,
  applied here for every client:

  ========== ======================================== ==============================================
  kind       examples                                 policy
  ========== ======================================== ==============================================
  OK         JSON payload (or the expected page)      handed to the client's handler
  BAN        KRX "abnormal bulk querying" notice      breaker open for the documented cool-down
             (HTTP 200 or 403)                        (24 h), `SourceBlockedError`, never retried
  OUTAGE     5xx, a 403 without a ban notice, an      bounded retries with exponential backoff,
             HTML page where JSON was expected        then a short "outage" breaker (5 min) and
             (maintenance), timeouts, resets          `SourceUnavailableError`
  SESSION    KRX ``LOGOUT`` (400 text or an HTML      `SessionExpired` raised at once; the client
             page), KIS EGW00123/EGW00121             logs in / fetches a token ONCE and repeats
  THROTTLED  KIS EGW00201, HTTP 429                   wait as told (``Retry-After`` when sent, else
                                                      the source's window), bounded number of waits
  BAD_DATA   truncated/invalid JSON, empty body       bounded retries, then `SourceDataError`
  REFUSED    other 4xx                                `SourceError` at once (a retry cannot help)
  ========== ======================================== ==============================================

Every error names the source, dataset, date and ticker the request carried. Secrets never
reach log lines or exception messages: only the method, the path and the dataset are logged, and
errors are built from status codes and parsed payloads.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Protocol, Self, TypeVar, runtime_checkable
from urllib.parse import urlsplit

import orjson
import requests
from dagster import ConfigurableResource, get_dagster_logger
from pydantic import PrivateAttr
from pyrate_limiter import Duration, Limiter, Rate
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from quant_assets.errors import SourceBlockedError, SourceDataError, SourceError, SourceUnavailableError

log = get_dagster_logger("quant_assets.resources.http")

T = TypeVar("T")

DEFAULT_BAN_COOLDOWN_SECONDS = 24 * 3600.0  # KRX 2026-08 notice: "IP restricted for 1 day"
DEFAULT_OUTAGE_COOLDOWN_SECONDS = 300.0
BAN = "ban"
OUTAGE = "outage"


# --------------------------------------------------------------------------------------------
# circuit breaker


@dataclass(frozen=True)
class BreakerState:
    until: datetime
    reason: str
    kind: str  # BAN | OUTAGE


@runtime_checkable
class CircuitBreaker(Protocol):
    """Stops all traffic to a source after a ban (long) or an outage (short). Thread-safe.

    `source` is a short key such as ``"krx"`` or ``"kis-real"``.
    """

    def state(self, source: str) -> BreakerState | None:
        """The open state, or None when requests may be sent."""

    def check(self, source: str) -> None:
        """Raise (`SourceBlockedError` for a ban, `SourceUnavailableError` for an outage) while open."""

    def trip(self, source: str, reason: str, seconds: float, kind: str = BAN) -> None:
        """Open the breaker for `seconds` (extends, never shortens, an open breaker)."""


def breaker_error(source: str, st: BreakerState, *, dataset: str | None = None, date: str | None = None,
                  ticker: str | None = None) -> SourceError:
    """The error for a request refused by an open breaker (no request was sent)."""
    until_txt = st.until.isoformat(timespec="seconds")
    if st.kind == OUTAGE:
        return SourceUnavailableError(
            source, f"outage breaker open until {until_txt} (reason: {st.reason}); no request sent",
            dataset=dataset, date=date, ticker=ticker)
    return SourceBlockedError(
        source, f"circuit breaker open until {until_txt} (reason: {st.reason}); no request sent",
        dataset=dataset, date=date, ticker=ticker)


class InMemoryCircuitBreaker:
    """Process-local breaker. Good for one process; a database-backed one shares state across runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[float, str, str]] = {}

    def state(self, source: str) -> BreakerState | None:
        with self._lock:
            entry = self._open.get(source)
            if entry is None:
                return None
            until, reason, kind = entry
            if time.time() >= until:
                del self._open[source]
                return None
        return BreakerState(datetime.fromtimestamp(until, UTC), reason, kind)

    def check(self, source: str) -> None:
        st = self.state(source)
        if st is not None:
            raise breaker_error(source, st)

    def trip(self, source: str, reason: str, seconds: float, kind: str = BAN) -> None:
        until = time.time() + seconds
        with self._lock:
            current = self._open.get(source)
            if current is None or current[0] < until:
                self._open[source] = (until, reason, kind)
        log.error(f"{kind} breaker for {source} tripped for {seconds:.0f}s: {reason}")

    def reset(self, source: str | None = None) -> None:
        with self._lock:
            if source is None:
                self._open.clear()
            else:
                self._open.pop(source, None)

    def is_open(self, source: str) -> bool:
        return self.state(source) is not None


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
# classification


class Kind(enum.StrEnum):
    OK = "ok"
    BAN = "ban"
    OUTAGE = "outage"
    SESSION = "session"
    THROTTLED = "throttled"
    BAD_DATA = "bad_data"
    REFUSED = "refused"


@dataclass(frozen=True)
class Verdict:
    """What an answer means. `payload` is the decoded JSON for OK answers that carry JSON;
    `wait` the seconds the source asked us to wait (Retry-After), if it said."""

    kind: Kind
    reason: str = ""
    payload: Any = None
    wait: float | None = None


Classifier = Callable[[requests.Response, str], Verdict]
"""``classify(response, expect)`` with `expect` ``"json"`` (data calls) or ``"page"`` (an HTML
page is the normal answer, e.g. the KRX login pages)."""


class SessionExpired(Exception):
    """The source says our session/token is gone. Raised by `Transport.request` without retrying:
    only the client knows how to log in again (once)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Retryable(Exception):
    """Raised by a response handler (or the transport) to ask for another attempt.

    `kind` is ``"outage"`` (alias ``"unavailable"``), ``"throttled"`` or ``"data"``; it chooses
    the policy (backoff, wait as told) and the error raised when attempts run out.
    """

    def __init__(self, message: str, kind: str = OUTAGE, wait: float | None = None):
        super().__init__(message)
        self.kind = OUTAGE if kind == "unavailable" else kind
        self.wait = wait


def loads(body: bytes | str) -> Any:
    """Decode a JSON body. orjson reads a whole-market day (1 MB) in ~6 ms instead of json's ~16 ms,
    time the fetch thread of a ranged run holds the GIL for; what orjson refuses (NaN literals,
    integers beyond 64 bits) gets a second reading by json before the body counts as invalid
    (ValueError, as json raises)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def body_text(resp: requests.Response, limit: int = 20000) -> str:
    return resp.content[:limit].decode("utf-8", errors="replace")


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith("<") and ("<html" in head or "<!doctype" in head or "<head" in head or "<body" in head)


def retry_after_seconds(resp: requests.Response, now: float | None = None) -> float | None:
    """RFC 9110 ``Retry-After``: delay-seconds or an HTTP-date; None when absent or unreadable."""
    value = (resp.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


def page_title(text: str) -> str:
    m = _TITLE.search(text)
    return " ".join(m.group(1).split())[:80] if m else ""


def classify_http(resp: requests.Response, expect: str = "json", text: str | None = None) -> Verdict:
    """The source-neutral part: status codes, Retry-After, JSON vs HTML vs garbage."""
    status = resp.status_code
    text = body_text(resp) if text is None else text
    wait = retry_after_seconds(resp)
    if status == 429:
        return Verdict(Kind.THROTTLED, "HTTP 429 (too many requests)", wait=wait)
    if status >= 500 or status == 403:
        title = page_title(text)
        return Verdict(Kind.OUTAGE, f"HTTP {status}" + (f" ({title})" if title else ""), wait=wait)
    if status >= 400:
        return Verdict(Kind.REFUSED, f"HTTP {status}")
    if expect != "json":
        return Verdict(Kind.OK)
    if not resp.content.strip():
        return Verdict(Kind.BAD_DATA, f"empty body (HTTP {status})")
    try:
        return Verdict(Kind.OK, payload=loads(resp.content))
    except ValueError:
        pass
    if looks_like_html(text):
        title = page_title(text)
        what = "maintenance" if "점검" in text or "maintenance" in text.lower() else "error"
        return Verdict(Kind.OUTAGE, f"HTML {what} page instead of JSON (HTTP {status}"
                                    + (f", title {title!r}" if title else "") + ")", wait=wait)
    return Verdict(Kind.BAD_DATA, "truncated or invalid JSON body")


# --------------------------------------------------------------------------------------------
# retry policy + transport


@dataclass(frozen=True)
class RetryPolicy:
    """Wait before retry n (1-based): ``backoff_initial * 2**(n-1) + uniform(0, jitter)``, capped at
    `backoff_max` (or the source's Retry-After when it is longer). `jitter` None = `backoff_initial`
    (so tiny test backoffs stay tiny). Throttling waits are counted apart (`max_throttle_waits`),
    each `throttle_wait` long unless the source says otherwise; a source asking for more than
    `max_told_wait` seconds trips the outage breaker for that long instead of blocking the run."""

    max_retries: int = 4
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    jitter: float | None = None
    max_throttle_waits: int = 10
    throttle_wait: float = 1.0
    max_told_wait: float = 120.0


def raise_for_transient_status(resp: requests.Response) -> None:
    """5xx and 429 are transient."""
    if resp.status_code >= 500 or resp.status_code == 429:
        raise Retryable(f"HTTP {resp.status_code}")


def url_path(url: str) -> str:
    """Path only (never query strings) — safe to log."""
    return urlsplit(url).path


def _context(dataset: str | None, date: str | None, ticker: str | None) -> str:
    return " ".join(x for x in (dataset or "-", date, ticker) if x)


class Transport:
    """Sends requests for one source: breaker check -> rate limit -> send -> classify -> policy.

    `handler(response, payload)` turns an OK answer into a value (`payload` is the decoded JSON
    when the classifier decoded it); it may raise `Retryable` for source-specific transient
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
        classify: Classifier = classify_http,
        ban_cooldown_seconds: float = DEFAULT_BAN_COOLDOWN_SECONDS,
        outage_cooldown_seconds: float = DEFAULT_OUTAGE_COOLDOWN_SECONDS,
    ):
        self.source = source
        self.limiter = limiter
        self.limiter_key = limiter_key
        self.breaker = breaker
        self.policy = policy
        self.timeout = timeout
        self.classify = classify
        self.ban_cooldown_seconds = ban_cooldown_seconds
        self.outage_cooldown_seconds = outage_cooldown_seconds

    def check_breaker(self, dataset: str | None = None, date: str | None = None, ticker: str | None = None) -> None:
        st = self.breaker.state(self.source)
        if st is not None:
            raise breaker_error(self.source, st, dataset=dataset, date=date, ticker=ticker)

    def _acquire(self) -> None:
        ok = self.limiter.try_acquire(self.limiter_key)
        if not ok:  # only when a wait would exceed an hour
            raise SourceUnavailableError(self.source, "rate limiter could not grant a request slot")

    def _attempt(self, session, method, url, handler, expect, ctx: dict, kwargs: dict[str, Any]):
        self.check_breaker(**ctx)
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
        where = _context(ctx["dataset"], ctx["date"], ctx["ticker"])
        v = self.classify(resp, expect)
        log.debug(f"{self.source} {method} {url_path(url)} [{where}] -> {resp.status_code} {v.kind} in {elapsed:.2f}s")
        if v.kind == Kind.OK:
            return handler(resp, v.payload)
        if v.kind == Kind.BAN:
            self.breaker.trip(self.source, v.reason, self.ban_cooldown_seconds, BAN)
            raise SourceBlockedError(
                self.source,
                f"source blocked this client ({v.reason}); circuit breaker open for "
                f"{self.ban_cooldown_seconds / 3600:g} h, not retrying", **ctx)
        if v.kind == Kind.SESSION:
            raise SessionExpired(v.reason)
        if v.kind == Kind.REFUSED:
            raise SourceError(self.source, f"request refused: {v.reason}", **ctx)
        if v.wait is not None and v.wait > self.policy.max_told_wait:
            self.breaker.trip(self.source, f"{v.reason}; source asked to wait {v.wait:.0f}s", v.wait, OUTAGE)
            raise SourceUnavailableError(
                self.source, f"{v.reason}: the source asks to wait {v.wait:.0f}s (Retry-After); "
                             f"breaker open for that long, not retrying", **ctx)
        kind = {Kind.THROTTLED: "throttled", Kind.BAD_DATA: "data"}.get(v.kind, OUTAGE)
        raise Retryable(v.reason, kind=kind, wait=v.wait)

    def request(
        self,
        session: requests.Session,
        method: str,
        url: str,
        handler: Callable[[requests.Response, Any], T],
        *,
        dataset: str | None = None,
        date: str | None = None,
        ticker: str | None = None,
        expect: str = "json",
        **kwargs: Any,
    ) -> T:
        p = self.policy
        ctx = {"dataset": dataset, "date": date, "ticker": ticker}
        counts = {"attempts": 0, "throttled": 0}

        def _exc(state: RetryCallState) -> BaseException | None:
            return state.outcome.exception() if state.outcome else None

        def _counted(*args):
            try:
                return self._attempt(*args)
            except Retryable as exc:
                counts["throttled" if exc.kind == "throttled" else "attempts"] += 1
                raise

        def _stop(state: RetryCallState) -> bool:
            exc = _exc(state)
            if isinstance(exc, Retryable) and exc.kind == "throttled":
                return counts["throttled"] > p.max_throttle_waits
            return counts["attempts"] >= p.max_retries + 1

        def _wait(state: RetryCallState) -> float:
            exc = _exc(state)
            told = exc.wait if isinstance(exc, Retryable) else None
            if isinstance(exc, Retryable) and exc.kind == "throttled":
                return p.throttle_wait if told is None else told
            n = max(1, counts["attempts"])
            jitter = p.backoff_initial if p.jitter is None else p.jitter
            backoff = min(p.backoff_max, p.backoff_initial * 2 ** (n - 1)) + random.uniform(0, jitter)
            return max(backoff, told or 0.0)

        def _log_retry(state: RetryCallState) -> None:
            exc = _exc(state)
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                f"{self.source} {method} {url_path(url)} [{_context(dataset, date, ticker)}] attempt "
                f"{state.attempt_number} failed ({exc}); retrying in {wait:.2f}s"
            )

        retrying = Retrying(stop=_stop, wait=_wait, retry=retry_if_exception_type(Retryable),
                            before_sleep=_log_retry, reraise=True)
        try:
            return retrying(_counted, session, method, url, handler, expect, ctx, kwargs)
        except Retryable as exc:
            if exc.kind == "data":
                raise SourceDataError(
                    dataset or self.source,
                    f"unreadable response from {self.source} after {counts['attempts']} attempts: {exc}",
                    date=date, ticker=ticker,
                ) from None
            if exc.kind == "throttled":
                raise SourceUnavailableError(
                    self.source, f"still throttled after {counts['throttled']} waits: {exc}", **ctx) from None
            cool = self.outage_cooldown_seconds
            if cool > 0:
                self.breaker.trip(self.source, f"outage: {exc}", cool, OUTAGE)
            raise SourceUnavailableError(
                self.source, f"gave up after {counts['attempts']} attempts: {exc}"
                             + (f"; outage breaker open for {cool:g}s" if cool > 0 else ""), **ctx) from None


def check_not_error_status(resp: requests.Response, source: str, dataset: str | None, date: str | None,
                           ticker: str | None = None) -> None:
    """Any remaining non-2xx (after transient handling) is a hard source error."""
    if resp.status_code >= 400:
        raise SourceError(source, f"unexpected HTTP {resp.status_code}", dataset=dataset, date=date, ticker=ticker)


class SourceResource(ConfigurableResource):
    """What the KRX and KIS clients share: masked secrets, a breaker and a lazily built transport.

    Subclasses name their secret fields in `secret_fields`; reprs (and so Dagster's logs and error
    messages) show them as `***`.
    """

    outage_cooldown_seconds: float = DEFAULT_OUTAGE_COOLDOWN_SECONDS
    max_throttle_waits: int = 10

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

    def _carry_over(self, copy: SourceResource) -> None:
        """Injected collaborators (not config) that a Dagster copy of this resource keeps."""
        copy._breaker = self._breaker

    def _with_updated_values(self, values):
        # Dagster re-creates a resource from its config for every run/sensor tick (this private
        # hook), which drops private attributes: without this, `with_breaker` was silently lost
        # inside Dagster and every test client shared the process-wide breaker.
        out = super()._with_updated_values(values)
        self._carry_over(out)
        return out

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker or default_breaker()
