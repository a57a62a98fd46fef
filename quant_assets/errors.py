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
    """A source (KRX or KIS) could not deliver what was asked.

    `dataset`, `date` (YYYYMMDD, or a YYYYMMDD-YYYYMMDD range) and `ticker` (short code or ISIN,
    whichever the request carried) say which request failed; None when the request had none.
    """

    def __init__(self, source: str, message: str, *, dataset: str | None = None, date: str | None = None,
                 ticker: str | None = None):
        self.source = source
        self.dataset = dataset
        self.date = date
        self.ticker = ticker
        where = ", ".join(f"{k}={v}" for k, v in (("dataset", dataset), ("date", date), ("ticker", ticker)) if v)
        super().__init__(f"[{source}] {message}" + (f" ({where})" if where else ""))


class SourceUnavailableError(SourceError):
    """Transient failure that survived the retry policy (outage: 5xx, 403/maintenance page,
    timeout; or throttling that did not clear), or the short outage breaker is open."""


class SourceStopError(SourceError):
    """Stop the whole run: every further request to this source would make matters worse.

    Loops over days/tickers must catch this (not just `SourceError`) and stop, marking the
    remaining work as not attempted.
    """


class SourceAuthError(SourceStopError):
    """Login/token failure: wrong credentials, password change required, a session that is
    rejected right after a fresh login, or one that keeps being taken over by another client.
    Remembered by the client: later calls raise at once without sending anything."""


class SourceBlockedError(SourceStopError):
    """The source served a ban/IP-block page. Never retried: retrying extends the ban."""


class SourceDataError(QuantAssetsError):
    """The source answered, but the payload is unusable (truncated, missing field, bad value).

    `dataset`, `region`, `date`, `ticker` and `field` locate the problem; any may be None when it
    does not apply (a truncated body has no ticker; a KRX payload is always region KR).
    """

    def __init__(
        self,
        dataset: str,
        message: str,
        *,
        date: str | None = None,
        ticker: str | None = None,
        field: str | None = None,
        region: str | None = None,
    ):
        self.dataset = dataset
        self.region = region
        self.date = date
        self.ticker = ticker
        self.field = field
        where = ", ".join(
            f"{k}={v}" for k, v in (("region", region), ("date", date), ("ticker", ticker), ("field", field))
            if v is not None
        )
        super().__init__(f"{dataset}: {message}" + (f" [{where}]" if where else ""))


class MarketClosedError(QuantAssetsError):
    """The source says there was no trading on this day (all prices dashed)."""

    def __init__(self, dataset: str, date: str):
        self.dataset = dataset
        self.date = date
        super().__init__(f"{dataset}: the source reports no trading on {date} (market closed)")
