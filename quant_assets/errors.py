"""Errors raised by the platform.

Every error about source data names *where* the problem is (dataset, date, ticker, field) so that
a failed partition in the Dagster UI tells the user what to look at without opening a debugger.
Credentials never appear in these messages: clients build them from parsed payloads, not from
requests.
"""

from __future__ import annotations


class QuantAssetsError(Exception):
    """Base class for all platform errors."""


class SourceError(QuantAssetsError):
    """A source (KRX or KIS) could not deliver what was asked."""

    def __init__(self, source: str, message: str, *, dataset: str | None = None, date: str | None = None):
        self.source = source
        self.dataset = dataset
        self.date = date
        where = ", ".join(f"{k}={v}" for k, v in (("dataset", dataset), ("date", date)) if v)
        super().__init__(f"[{source}] {message}" + (f" ({where})" if where else ""))


class SourceUnavailableError(SourceError):
    """Transient failure that survived the retry policy (5xx, timeout, rate limit)."""


class SourceAuthError(SourceError):
    """Login/token failure: wrong credentials, password change required, token refused."""


class SourceBlockedError(SourceError):
    """The source served a ban/IP-block page. Never retried: retrying extends the ban."""


class SourceDataError(QuantAssetsError):
    """The source answered, but the payload is unusable (truncated, missing field, bad value).

    `dataset`, `date`, `ticker` and `field` locate the problem; any may be None when it does not
    apply (a truncated body has no ticker).
    """

    def __init__(
        self,
        dataset: str,
        message: str,
        *,
        date: str | None = None,
        ticker: str | None = None,
        field: str | None = None,
    ):
        self.dataset = dataset
        self.date = date
        self.ticker = ticker
        self.field = field
        where = ", ".join(
            f"{k}={v}" for k, v in (("date", date), ("ticker", ticker), ("field", field)) if v is not None
        )
        super().__init__(f"{dataset}: {message}" + (f" [{where}]" if where else ""))


class MarketClosedError(QuantAssetsError):
    """The source says there was no trading on this day (all prices dashed)."""

    def __init__(self, dataset: str, date: str):
        self.dataset = dataset
        self.date = date
        super().__init__(f"{dataset}: the source reports no trading on {date} (market closed)")
