"""KRX Data Marketplace client (data.krx.co.kr, or the simulator under `<sim>/krx`).

Protocol (reference/market_apis.md §1): a logged-in session (JSESSIONID) posts form bodies with a
`bld` to `/comm/bldAttendant/getJsonData.cmd`; the server answers JSON with comma-formatted
strings under one data key. An expired session answers HTTP 400 ``LOGOUT`` — we log in again once
and repeat the call. An IP ban (403, or an HTML notice) stops all KRX traffic for a day.
"""

from __future__ import annotations

import json
from datetime import date as Date
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import requests
from dagster import get_dagster_logger
from pydantic import PrivateAttr

from quant_assets import config
from quant_assets.errors import SourceAuthError
from quant_assets.resources import parsing as P
from quant_assets.resources.http import (
    DEFAULT_BAN_COOLDOWN_SECONDS,
    Retryable,
    RetryPolicy,
    SourceResource,
    Transport,
    account_key,
    check_not_error_status,
    raise_for_transient_status,
    shared_limiter,
)

log = get_dagster_logger("quant_assets.resources.krx")

SOURCE = "krx"
KRX_SITE = "https://data.krx.co.kr"
DATA_REFERER = f"{KRX_SITE}/contents/MDC/MDI/outerLoader/index.cmd"
LOGIN_PAGE = "/contents/MDC/COMS/client/MDCCOMS001.cmd"
LOGIN_VIEW = "/contents/MDC/COMS/client/view/login.jsp?site=mdc"
LOGIN_POST = "/contents/MDC/COMS/client/MDCCOMS001D1.cmd"
DATA_PATH = "/comm/bldAttendant/getJsonData.cmd"
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
STAT = "dbms/MDC/STAT/standard/"
FINDER = "dbms/comm/finder/"
DEMO_ACCOUNT = ("demo", "demo")
MAX_RANGE_DAYS = 730


_MARKET_ALIASES = {
    "ALL": "ALL",
    "STK": "STK",
    "KOSPI": "STK",
    "KSQ": "KSQ",
    "KOSDAQ": "KSQ",
    "KNX": "KNX",
    "KONEX": "KNX",
}


class _LoggedOut(Exception):
    """HTTP 400 `LOGOUT`: the session is gone (expired, or another login kicked it out)."""


def krx_ban_check(resp: requests.Response) -> str | None:
    """403, or an HTML notice about abnormal bulk querying / blocking (may come with HTTP 200)."""
    if resp.status_code == 403:
        return "HTTP 403 from KRX"
    body = resp.content[:20000].decode("utf-8", errors="replace")
    head = body.lstrip()[:1]
    if head in ("{", "["):  # JSON data never counts as a ban page
        return None
    # Not a bare "차단": ordinary pages say "팝업 차단" etc.
    if "대량 조회" in body or "대량조회" in body or ("비정상" in body and ("차단" in body or "제한" in body)):
        return "KRX ban notice (abnormal bulk querying; IP blocked)"
    return None


def _market(market: str, allowed: tuple[str, ...] = ("ALL", "STK", "KSQ", "KNX")) -> str:
    m = _MARKET_ALIASES.get(str(market).upper())
    if m is None or m not in allowed:
        raise ValueError(f"market must be one of {allowed} (or KOSPI/KOSDAQ/KONEX), got {market!r}")
    return m


def _isin(isin: str) -> str:
    s = str(isin).strip().upper()
    if len(s) != 12 or not s.isalnum():
        raise ValueError(f"KRX per-ticker endpoints take a 12-character ISIN (e.g. KR7069500007), got {isin!r}")
    return s


class KRXClient(SourceResource):
    """Typed access to KRX Data Marketplace datasets.

    Credentials come from `EnvVar("KRX_ID")` / `EnvVar("KRX_PW")` in definitions; against the
    simulator an unconfigured account falls back to the demo account.
    """

    base_url: str | None = None
    krx_id: str | None = None
    krx_pw: str | None = None
    requests_per_second: float = 2.0
    max_retries: int = 4
    timeout_seconds: float = 20.0
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 30.0
    ban_cooldown_seconds: float = DEFAULT_BAN_COOLDOWN_SECONDS

    secret_fields = ("krx_pw",)

    _logged_in: bool = PrivateAttr(default=False)

    # -- wiring ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return (self.base_url or config.source_urls().krx).rstrip("/")

    @property
    def is_real_host(self) -> bool:
        return (urlsplit(self.url).hostname or "").endswith("krx.co.kr")

    def _credentials(self) -> tuple[str, str]:
        if self.krx_id and self.krx_pw:
            return self.krx_id, self.krx_pw
        if not self.is_real_host:
            return DEMO_ACCOUNT
        raise SourceAuthError(SOURCE, "KRX_ID / KRX_PW are not configured (the KRX Data Marketplace requires login)")

    def _get_transport(self) -> Transport:
        if self._transport is None:
            user = self.krx_id if (self.krx_id and self.krx_pw) else DEMO_ACCOUNT[0]
            acct = account_key(urlsplit(self.url).netloc, user)
            self._transport = Transport(
                SOURCE,
                limiter=shared_limiter(SOURCE, acct, self.requests_per_second),
                limiter_key=f"{SOURCE}:{acct}",
                breaker=self.breaker,
                policy=RetryPolicy(self.max_retries, self.backoff_seconds, self.backoff_max_seconds),
                timeout=self.timeout_seconds,
                ban_check=krx_ban_check,
                ban_cooldown_seconds=self.ban_cooldown_seconds,
            )
        return self._transport

    def _get_session(self) -> requests.Session:
        if self._session is None:
            s = requests.Session()
            s.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json, text/javascript, */*; q=0.01"})
            self._session = s
        return self._session

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
            self._session = None
            self._logged_in = False

    def teardown_after_execution(self, context) -> None:  # dagster hook
        self.close()

    def _redact(self, text: str) -> str:
        for secret in (self.krx_pw, self.krx_id):
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- login -------------------------------------------------------------------------------
    def login(self) -> None:
        """Run the 3-step login (reference §1.2); CD011 (duplicate) is resent with skipDup=Y."""
        with self._lock:
            self._logged_in = False
            user, pw = self._credentials()
            s = self._get_session()
            t = self._get_transport()
            page_url = f"{self.url}{LOGIN_PAGE}"
            referer = f"{KRX_SITE}{LOGIN_PAGE}"

            def ok(resp: requests.Response) -> None:
                raise_for_transient_status(resp)
                check_not_error_status(resp, SOURCE, "login", None)

            t.request(s, "GET", page_url, ok, dataset="login")
            t.request(s, "GET", f"{self.url}{LOGIN_VIEW}", ok, dataset="login", headers={"Referer": referer})
            form = {"mbrNm": "", "telNo": "", "di": "", "certType": "", "mbrId": user, "pw": pw}
            code, msg = self._post_login(form, referer)
            if code == "CD011":
                log.info("KRX login: duplicate session reported (CD011); re-sending with skipDup=Y")
                code, msg = self._post_login({**form, "skipDup": "Y"}, referer)
            if code == "CD001":
                self._logged_in = True
                log.info("KRX login OK")
                return
            if code == "CD010":
                raise SourceAuthError(SOURCE, "login refused: password change required (CD010)", dataset="login")
            raise SourceAuthError(SOURCE, f"login failed ({code or 'no code'}: {self._redact(msg)})", dataset="login")

    def _post_login(self, form: dict, referer: str) -> tuple[str, str]:
        def handle(resp: requests.Response) -> tuple[str, str]:
            raise_for_transient_status(resp)
            check_not_error_status(resp, SOURCE, "login", None)
            try:
                body = json.loads(resp.content)
            except ValueError:
                raise Retryable("login answer is not JSON", kind="data") from None
            if not isinstance(body, dict):
                raise SourceAuthError(SOURCE, "login answer is not a JSON object", dataset="login")
            return str(body.get("_error_code", "")).strip(), str(body.get("_error_message", ""))[:200]

        return self._get_transport().request(
            self._get_session(),
            "POST",
            f"{self.url}{LOGIN_POST}",
            handle,
            dataset="login",
            data=form,
            headers={"Referer": referer, "X-Requested-With": "XMLHttpRequest"},
        )

    # -- data calls --------------------------------------------------------------------------
    def _post_data(self, form: dict, dataset: str, date: str | None) -> Any:
        def handle(resp: requests.Response) -> Any:
            if resp.status_code == 400 and resp.content.strip().upper() == b"LOGOUT":
                raise _LoggedOut()
            raise_for_transient_status(resp)
            check_not_error_status(resp, SOURCE, dataset, date)
            try:
                return json.loads(resp.content)
            except ValueError:
                raise Retryable("truncated or invalid JSON body", kind="data") from None

        return self._get_transport().request(
            self._get_session(),
            "POST",
            f"{self.url}{DATA_PATH}",
            handle,
            dataset=dataset,
            date=date,
            data=form,
            headers={"Referer": DATA_REFERER, "X-Requested-With": "XMLHttpRequest"},
        )

    def fetch(self, bld: str, params: dict[str, Any] | None = None, *, dataset: str | None = None,
              date: str | None = None) -> Any:
        """POST one `bld` (full path like ``dbms/MDC/STAT/standard/MDCSTAT01501``) -> decoded JSON.

        Logs in lazily, re-logs in once on HTTP 400 LOGOUT and repeats the call.
        """
        dataset = dataset or bld.rsplit("/", 1)[-1]
        form = {**(params or {}), "bld": bld}
        self.breaker.check(SOURCE)  # don't even log in while banned
        with self._lock:
            if not self._logged_in:
                self.login()
        try:
            return self._post_data(form, dataset, date)
        except _LoggedOut:
            log.warning(f"KRX answered LOGOUT for {dataset} {date or ''}; logging in again")
        self.login()
        try:
            return self._post_data(form, dataset, date)
        except _LoggedOut:
            self._logged_in = False
            raise SourceAuthError(
                SOURCE, "session rejected (HTTP 400 LOGOUT) right after a fresh login", dataset=dataset, date=date
            ) from None

    def _range(self, bld: str, dataset: str, params: dict, start, end, parse) -> pd.DataFrame:
        s, e = P.to_date(start), P.to_date(end)
        if e < s:
            raise ValueError(f"end {e} is before start {s}")
        frames = []
        for cs, ce in P.date_chunks(s, e, MAX_RANGE_DAYS):
            payload = self.fetch(
                STAT + dataset,
                {**params, "strtDd": P.yyyymmdd(cs), "endDd": P.yyyymmdd(ce)},
                dataset=dataset,
                date=f"{P.yyyymmdd(cs)}-{P.yyyymmdd(ce)}",
            )
            frames.append(parse(payload, f"{P.yyyymmdd(cs)}-{P.yyyymmdd(ce)}"))
        df = P.concat_ranges(frames)
        return df[(df["date"] >= s) & (df["date"] <= e)].reset_index(drop=True) if len(df) else df

    # -- typed datasets ----------------------------------------------------------------------
    def etf_master(self) -> pd.DataFrame:
        """MDCSTAT04601 — currently listed ETFs (ticker, isin, ..., leverage_type, multiple, ...)."""
        return P.parse_etf_master(self.fetch(STAT + P.ETF_MASTER, {}, dataset=P.ETF_MASTER))

    def etf_daily(self, date: Date | datetime | str) -> pd.DataFrame:
        """MDCSTAT04301 — all ETFs on `date`. `aum` is <NA> until KRX publishes it (next morning);
        `aum_published` per row and `df.attrs["aum_published"]` say whether it was published."""
        d = P.yyyymmdd(date)
        return P.parse_etf_daily(self.fetch(STAT + P.ETF_DAILY, {"trdDd": d}, dataset=P.ETF_DAILY, date=d), d)

    def stock_daily(self, date: Date | datetime | str, market: str = "ALL") -> pd.DataFrame:
        """MDCSTAT01501 — all stocks' OHLCV + market cap on `date` (no ETFs)."""
        d = P.yyyymmdd(date)
        payload = self.fetch(STAT + P.STOCK_DAILY, {"mktId": _market(market), "trdDd": d}, dataset=P.STOCK_DAILY, date=d)
        return P.parse_stock_daily(payload, d)

    def stock_list(self, delisted: bool = False) -> pd.DataFrame:
        """finder_stkisu / finder_listdelisu — ticker, isin, name, market_code, market_name."""
        if delisted:
            bld, params = FINDER + P.FINDER_DELISTED, {"mktsel": "ALL", "searchText": "", "typeNo": "0"}
        else:
            bld, params = FINDER + P.FINDER_LISTED, {"locale": "ko_KR", "mktsel": "ALL", "searchText": "", "typeNo": "0"}
        dataset = P.FINDER_DELISTED if delisted else P.FINDER_LISTED
        return P.parse_stock_list(self.fetch(bld, params, dataset=dataset), delisted=delisted)

    def stock_master(self, market: str = "ALL") -> pd.DataFrame:
        """MDCSTAT01901 — listed stocks' static data."""
        m = _market(market)
        params = {"mktId": m}
        if m == "KSQ":
            params["segTpCd"] = "ALL"
        return P.parse_stock_master(self.fetch(STAT + P.STOCK_MASTER, params, dataset=P.STOCK_MASTER))

    def stock_fundamentals(self, date: Date | datetime | str, market: str = "ALL") -> pd.DataFrame:
        """MDCSTAT03501 — EPS/PER/BPS/PBR/DPS/dividend yield per stock on `date`."""
        d = P.yyyymmdd(date)
        payload = self.fetch(
            STAT + P.STOCK_FUNDAMENTALS, {"mktId": _market(market), "trdDd": d}, dataset=P.STOCK_FUNDAMENTALS, date=d
        )
        return P.parse_stock_fundamentals(payload, d)

    def sector_classification(self, date: Date | datetime | str, market: str) -> pd.DataFrame:
        """MDCSTAT03901 — sector (업종) of every stock in one market (STK or KSQ) on `date`."""
        d = P.yyyymmdd(date)
        m = _market(market, allowed=("STK", "KSQ"))
        params = {"mktId": m, "trdDd": d}
        if m == "KSQ":
            params["segTpCd"] = "ALL"
        payload = self.fetch(STAT + P.SECTOR_CLASSIFICATION, params, dataset=P.SECTOR_CLASSIFICATION, date=d)
        return P.parse_sector_classification(payload, d)

    def etf_pdf(self, date: Date | datetime | str, isin: str, *, allow_empty: bool = False) -> pd.DataFrame:
        """MDCSTAT05001 — holdings (PDF) of one ETF (by ISIN) on `date`, cash/futures lines kept.
        An empty answer raises SourceDataError unless `allow_empty=True` (publication probes)."""
        d = P.yyyymmdd(date)
        i = _isin(isin)
        payload = self.fetch(STAT + P.ETF_PDF, {"trdDd": d, "isuCd": i}, dataset=P.ETF_PDF, date=d)
        return P.parse_etf_pdf(payload, d, isin=i, allow_empty=allow_empty)

    def etf_price_history(self, isin: str, start, end) -> pd.DataFrame:
        """MDCSTAT04501 — one ETF's daily prices/NAV/AUM over [start, end], ascending."""
        i = _isin(isin)
        return self._range(
            STAT + P.ETF_PRICE_HISTORY, P.ETF_PRICE_HISTORY, {"isuCd": i}, start, end,
            lambda p, d: P.parse_etf_price_history(p, isin=i, date=d),
        )

    def etf_tracking_error(self, isin: str, start, end) -> pd.DataFrame:
        """MDCSTAT05901 — date, nav, nav_change_pct, index_close, index_change_pct, multiple,
        tracking_error_pct (a trailing statistic KRX republishes daily)."""
        i = _isin(isin)
        return self._range(
            STAT + P.ETF_TRACKING_ERROR, P.ETF_TRACKING_ERROR, {"isuCd": i}, start, end,
            lambda p, d: P.parse_etf_tracking_error(p, isin=i, date=d),
        )

    def etf_premium_discount(self, isin: str, start, end) -> pd.DataFrame:
        """MDCSTAT06001 — date, close, nav, premium_discount_pct."""
        i = _isin(isin)
        return self._range(
            STAT + P.ETF_PREMIUM_DISCOUNT, P.ETF_PREMIUM_DISCOUNT, {"isuCd": i}, start, end,
            lambda p, d: P.parse_etf_premium_discount(p, isin=i, date=d),
        )

    def index_history(self, start, end, ind_idx: str = "1", ind_idx2: str = "001") -> pd.DataFrame:
        """MDCSTAT00301 — index OHLC over [start, end], ascending (KOSPI by default). The cheap
        probe for the newest published trading day: ``index_history(d - 10 days, d).date.max()``."""
        name = f"index {ind_idx}/{ind_idx2}"
        return self._range(
            STAT + P.INDEX_HISTORY, P.INDEX_HISTORY, {"indIdx": ind_idx, "indIdx2": ind_idx2}, start, end,
            lambda p, d: P.parse_index_history(p, date=d, isin=name),
        )

    def latest_trading_day(self, as_of: Date | datetime | str, lookback_days: int = 14) -> Date | None:
        """Newest date with published index data in (as_of - lookback_days, as_of], or None."""
        end = P.to_date(as_of)
        df = self.index_history(end - pd.Timedelta(days=lookback_days).to_pytimedelta(), end)
        if len(df) == 0 or df["close"].isna().all():
            return None
        return df.loc[df["close"].notna(), "date"].max()


__all__ = ["KRXClient", "krx_ban_check"]
