"""KRX Data Marketplace client (data.krx.co.kr, or the simulator under `<sim>/krx`).

Protocol (reference/market_apis.md §1): a logged-in session (JSESSIONID) posts form bodies with a
`bld` to `/comm/bldAttendant/getJsonData.cmd`; the server answers JSON with comma-formatted
strings under one data key.

What an answer means is decided by `classify_krx` (policies in resources/http.py):

* the IP-ban notice ("비정상적인 대량 조회 … 차단", HTTP 200 or 403) -> ban breaker (24 h);
* a 403 or 5xx without that notice, or an HTML page where JSON was expected (maintenance) ->
  outage: bounded retries, then a short breaker;
* ``LOGOUT`` (HTTP 400 text, or an HTML page saying LOGOUT) -> the session is gone.

One account has one live session on KRX (a second login kicks the first), so clients share the
account's session through a `SessionStore` (resources/sessions.py; PostgreSQL across processes):
on LOGOUT a client adopts a session another client created meanwhile, or logs in itself — once.
A session refused right after our own login, a refused login (wrong password, CD010) or more than
`max_logins_per_hour` logins (another client outside the store keeps taking the session) raise
`SourceAuthError` — a `SourceStopError`: the run must stop — and the client remembers it (later
calls raise without sending anything). `close()` (Dagster teardown) logs out when the last holder
of the session leaves.
"""

from __future__ import annotations

import collections
import re
import time
from datetime import date as Date
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import requests
from dagster import get_dagster_logger
from pydantic import PrivateAttr

from quant_assets import config
from quant_assets.errors import SourceAuthError, SourceError
from quant_assets.resources import parsing as P
from quant_assets.resources.http import (
    DEFAULT_BAN_COOLDOWN_SECONDS,
    Kind,
    RetryPolicy,
    SessionExpired,
    SourceResource,
    Transport,
    Verdict,
    account_key,
    body_text,
    classify_http,
    looks_like_html,
    shared_limiter,
)
from quant_assets.resources.sessions import SessionStore, SharedSession, default_session_store, new_holder_id

log = get_dagster_logger("quant_assets.resources.krx")

SOURCE = "krx"
KRX_SITE = "https://data.krx.co.kr"
DATA_REFERER = f"{KRX_SITE}/contents/MDC/MDI/outerLoader/index.cmd"
LOGIN_PAGE = "/contents/MDC/COMS/client/MDCCOMS001.cmd"
LOGIN_VIEW = "/contents/MDC/COMS/client/view/login.jsp?site=mdc"
LOGIN_POST = "/contents/MDC/COMS/client/MDCCOMS001D1.cmd"
LOGOUT_POST = "/contents/MDC/COMS/client/MDCCOMS001D2.cmd"
DATA_PATH = "/comm/bldAttendant/getJsonData.cmd"
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
STAT = "dbms/MDC/STAT/standard/"
FINDER = "dbms/comm/finder/"
DEMO_ACCOUNT = ("demo", "demo")
MAX_RANGE_DAYS = 730
TOUCH_SECONDS = 300.0


_MARKET_ALIASES = {
    "ALL": "ALL",
    "STK": "STK",
    "KOSPI": "STK",
    "KSQ": "KSQ",
    "KOSDAQ": "KSQ",
    "KNX": "KNX",
    "KONEX": "KNX",
}

_LOGOUT_WORD = re.compile(r"\bLOGOUT\b")


def krx_ban_check(resp: requests.Response) -> str | None:
    """The KRX IP-block notice (abnormal bulk querying), whatever the status (200 or 403).

    A 403 alone is NOT a ban: KRX also answers 403 during outages and to requests without the
    Referer header; those are outages (bounded retries), not a day-long silence.
    """
    body = body_text(resp)
    head = body.lstrip()[:1]
    if head in ("{", "["):  # JSON data never counts as a ban page
        return None
    # Not a bare "차단": ordinary pages say "팝업 차단" etc.
    if "대량 조회" in body or "대량조회" in body or ("비정상" in body and ("차단" in body or "제한" in body)):
        return f"KRX ban notice (abnormal bulk querying; IP blocked; HTTP {resp.status_code})"
    return None


def classify_krx(resp: requests.Response, expect: str = "json") -> Verdict:
    """Ban notice > LOGOUT > the generic status/JSON/HTML rules (`classify_http`)."""
    text = body_text(resp)
    ban = krx_ban_check(resp)
    if ban:
        return Verdict(Kind.BAN, ban)
    stripped = text.strip()
    if stripped.upper() == "LOGOUT":
        return Verdict(Kind.SESSION, f"HTTP {resp.status_code} LOGOUT")
    if expect == "json" and looks_like_html(text) and _LOGOUT_WORD.search(text):
        return Verdict(Kind.SESSION, f"HTTP {resp.status_code} HTML page saying LOGOUT")
    v = classify_http(resp, expect, text)
    if v.kind == Kind.OUTAGE and resp.status_code == 403 and not stripped:
        return Verdict(Kind.OUTAGE, "HTTP 403 with an empty body (KRX outage, or a request without the "
                                    "data.krx.co.kr Referer)", wait=v.wait)
    return v


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
    max_logins_per_hour: int = 6

    secret_fields = ("krx_pw",)

    _store: SessionStore | None = PrivateAttr(default=None)
    _holder: str = PrivateAttr(default_factory=new_holder_id)
    _joined: bool = PrivateAttr(default=False)
    _gen: int | None = PrivateAttr(default=None)
    _last_touch: float = PrivateAttr(default=0.0)
    _auth_error: str | None = PrivateAttr(default=None)
    _failure_checked: bool = PrivateAttr(default=False)
    _login_times: Any = PrivateAttr(default_factory=collections.deque)

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

    @property
    def account(self) -> str:
        """The session key of this account (a hash of host and user id)."""
        user = self.krx_id if (self.krx_id and self.krx_pw) else DEMO_ACCOUNT[0]
        return account_key(urlsplit(self.url).netloc, user)

    def _failure_key(self) -> str:
        user, pw = self._credentials()
        return account_key(urlsplit(self.url).netloc, user, pw)

    @property
    def session_store(self) -> SessionStore:
        return self._store or default_session_store()

    def with_session_store(self, store: SessionStore) -> KRXClient:
        """Share sessions through `store` instead of the process-wide default. Returns self."""
        self._store = store
        return self

    def _carry_over(self, copy: SourceResource) -> None:
        super()._carry_over(copy)
        copy._store = self._store

    def _get_transport(self) -> Transport:
        if self._transport is None:
            acct = self.account
            self._transport = Transport(
                SOURCE,
                limiter=shared_limiter(SOURCE, acct, self.requests_per_second),
                limiter_key=f"{SOURCE}:{acct}",
                breaker=self.breaker,
                policy=RetryPolicy(self.max_retries, self.backoff_seconds, self.backoff_max_seconds,
                                   max_throttle_waits=self.max_throttle_waits),
                timeout=self.timeout_seconds,
                classify=classify_krx,
                ban_cooldown_seconds=self.ban_cooldown_seconds,
                outage_cooldown_seconds=self.outage_cooldown_seconds,
            )
        return self._transport

    def _get_session(self) -> requests.Session:
        if self._session is None:
            s = requests.Session()
            s.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json, text/javascript, */*; q=0.01"})
            self._session = s
        return self._session

    def close(self, *, keep_session: bool = False) -> None:
        """Leave the shared session; the last holder logs out (so the next run does not kick it).

        `keep_session` leaves the session in the store without logging out: a sensor tick's client
        (every minute) hands it to the next tick instead of one login and one logout per tick."""
        with self._lock:
            if self._joined:
                self._joined = False
                try:
                    last = self.session_store.leave(SOURCE, self.account, self._holder, keep=keep_session)
                except Exception as exc:  # noqa: BLE001 - closing must not fail a finished run
                    log.warning(f"KRX: could not leave the shared session: {type(exc).__name__}: {exc}")
                    last = None
                if last is not None:
                    self._logout(last)
            if self._session is not None:
                self._session.close()
            self._session = None
            self._gen = None

    def teardown_after_execution(self, context) -> None:  # dagster hook
        # A run logs out when it ends; a sensor tick (no run) leaves the session to the next tick.
        self.close(keep_session=getattr(context, "dagster_run", None) is None)

    def _redact(self, text: str) -> str:
        for secret in (self.krx_pw, self.krx_id):
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- session -----------------------------------------------------------------------------
    def _install(self, sess: SharedSession) -> None:
        s = self._get_session()
        s.cookies.clear()
        requests.utils.add_dict_to_cookiejar(s.cookies, sess.cookies)
        self._gen = sess.generation

    def _ensure_session(self) -> None:
        """Adopt the account's shared session, or log in when there is none (caller holds _lock)."""
        now = time.monotonic()
        if self._gen is not None and now - self._last_touch < TOUCH_SECONDS:
            return
        cur = self.session_store.join(SOURCE, self.account, self._holder)
        self._joined, self._last_touch = True, now
        if cur is not None:
            if cur.generation != self._gen:
                self._install(cur)
            return
        self._refresh(stale=None)

    def _refresh(self, stale: int | None) -> bool:
        """Replace a session that answered LOGOUT: adopt a newer shared one, else log in. True
        when this client logged in itself."""
        sess, own = self.session_store.login(SOURCE, self.account, self._holder, stale, self._login_http)
        self._joined, self._last_touch = True, time.monotonic()
        self._install(sess)
        if not own:
            log.info(f"KRX: adopted the account's session (generation {sess.generation}) created by another client")
        return own

    def _remember_failure(self, reason: str, *, shared: bool) -> None:
        self._auth_error = reason
        if shared:
            try:
                self.session_store.record_failure(SOURCE, self._failure_key(), reason)
            except Exception as exc:  # noqa: BLE001 - the error itself is what matters
                log.warning(f"KRX: could not record the login failure: {type(exc).__name__}")

    def _raise_if_failed(self, ctx: dict) -> None:
        if self._auth_error is None:
            if self._failure_checked:  # the store is asked once per client, not once per request
                return
            remembered = self.session_store.failure(SOURCE, self._failure_key())
            self._failure_checked = True
            if remembered is None:
                return
            self._auth_error = remembered
        raise SourceAuthError(
            SOURCE, f"{self._auth_error} — remembered from an earlier attempt; no request sent "
                    f"(fix the credentials, then start a new run)", **ctx)

    def login(self) -> None:
        """Make sure this client holds a live session (adopting the shared one if it is newer)."""
        with self._lock:
            self._raise_if_failed({"dataset": "login"})
            self._refresh(stale=self._gen)

    def _login_http(self) -> dict[str, str]:
        """The 3-step login (reference §1.2) on a fresh cookie jar; CD011 (duplicate) is resent
        with skipDup=Y. Returns the session cookies. Runs under the store's per-account lock."""
        remembered = self.session_store.failure(SOURCE, self._failure_key())
        if remembered:
            self._auth_error = remembered
            raise SourceAuthError(SOURCE, f"{remembered} — remembered; no login attempted", dataset="login")
        now = time.monotonic()
        while self._login_times and now - self._login_times[0] > 3600:
            self._login_times.popleft()
        if len(self._login_times) >= self.max_logins_per_hour:
            reason = (f"KRX session keeps being taken over: {len(self._login_times)} logins in the last hour "
                      "(another client outside this warehouse is logged in with the same account)")
            self._remember_failure(reason, shared=False)
            raise SourceAuthError(SOURCE, reason + "; stopping instead of logging in again", dataset="login")
        self._login_times.append(now)
        user, pw = self._credentials()
        s = self._get_session()
        s.cookies.clear()
        t = self._get_transport()
        referer = f"{KRX_SITE}{LOGIN_PAGE}"

        def ok(resp: requests.Response, payload: Any) -> None:
            return None

        t.request(s, "GET", f"{self.url}{LOGIN_PAGE}", ok, dataset="login", expect="page")
        t.request(s, "GET", f"{self.url}{LOGIN_VIEW}", ok, dataset="login", expect="page",
                  headers={"Referer": referer})
        form = {"mbrNm": "", "telNo": "", "di": "", "certType": "", "mbrId": user, "pw": pw}
        code, msg = self._post_login(form, referer)
        if code == "CD011":
            log.info("KRX login: duplicate session reported (CD011); re-sending with skipDup=Y")
            code, msg = self._post_login({**form, "skipDup": "Y"}, referer)
        if code == "CD001":
            log.info("KRX login OK")
            return requests.utils.dict_from_cookiejar(s.cookies)
        if code == "CD010":
            reason = "login refused: password change required (CD010)"
        else:
            reason = f"login failed ({code or 'no code'}: {self._redact(msg)})"
        self._remember_failure(reason, shared=True)
        raise SourceAuthError(SOURCE, reason, dataset="login")

    def _post_login(self, form: dict, referer: str) -> tuple[str, str]:
        def handle(resp: requests.Response, body: Any) -> tuple[str, str]:
            if not isinstance(body, dict):
                raise SourceAuthError(SOURCE, "login answer is not a JSON object", dataset="login")
            return str(body.get("_error_code", "")).strip(), str(body.get("_error_message", ""))[:200]

        try:
            return self._get_transport().request(
                self._get_session(),
                "POST",
                f"{self.url}{LOGIN_POST}",
                handle,
                dataset="login",
                data=form,
                headers={"Referer": referer, "X-Requested-With": "XMLHttpRequest"},
            )
        except SessionExpired as exc:
            raise SourceAuthError(SOURCE, f"login answered {exc.reason}", dataset="login") from None

    def _logout(self, sess: SharedSession) -> None:
        """POST MDCCOMS001D2.cmd with the session's cookies; failures are only logged."""
        s = self._get_session()
        s.cookies.clear()
        requests.utils.add_dict_to_cookiejar(s.cookies, sess.cookies)
        try:
            self._get_transport().request(
                s, "POST", f"{self.url}{LOGOUT_POST}", lambda r, p: None, dataset="logout", expect="page",
                headers={"Referer": f"{KRX_SITE}{LOGIN_PAGE}", "X-Requested-With": "XMLHttpRequest"})
            log.info("KRX: logged out (last holder of the session)")
        except (SourceError, SessionExpired) as exc:
            log.warning(f"KRX logout failed (ignored): {exc}")

    # -- data calls --------------------------------------------------------------------------
    def _post_data(self, form: dict, ctx: dict) -> Any:
        return self._get_transport().request(
            self._get_session(),
            "POST",
            f"{self.url}{DATA_PATH}",
            lambda resp, payload: payload,
            **ctx,
            data=form,
            headers={"Referer": DATA_REFERER, "X-Requested-With": "XMLHttpRequest"},
        )

    def fetch(self, bld: str, params: dict[str, Any] | None = None, *, dataset: str | None = None,
              date: str | None = None, ticker: str | None = None) -> Any:
        """POST one `bld` (full path like ``dbms/MDC/STAT/standard/MDCSTAT01501``) -> decoded JSON.

        Joins the account's shared session (logging in only when there is none). On LOGOUT it
        adopts a newer shared session or logs in once and repeats the call; LOGOUT again right
        after its own login is an authentication failure (`SourceAuthError`, remembered).
        `ticker` (the ISIN or code the request is about) goes into every error message.
        """
        dataset = dataset or bld.rsplit("/", 1)[-1]
        ctx = {"dataset": dataset, "date": date, "ticker": ticker}
        form = {**(params or {}), "bld": bld}
        self._raise_if_failed(ctx)
        self._get_transport().check_breaker(**ctx)  # don't even log in while banned
        with self._lock:
            self._ensure_session()
        own_login = False
        for _ in range(3):
            used = self._gen  # the generation this attempt sends (another thread may renew it meanwhile)
            try:
                return self._post_data(form, ctx)
            except SessionExpired as exc:
                if own_login:
                    reason = f"session rejected ({exc.reason}) right after a fresh login"
                    self._remember_failure(reason, shared=False)
                    self.session_store.drop(SOURCE, self.account, used or 0)
                    raise SourceAuthError(SOURCE, reason + "; stopping (no further logins)", **ctx) from None
                log.warning(f"KRX answered {exc.reason} for {dataset} {date or ''}; renewing the session")
                with self._lock:
                    if self._gen != used:  # a thread of this client renewed it already
                        continue
                    own_login = self._refresh(stale=used)
        raise SourceAuthError(SOURCE, "session keeps expiring although other clients renewed it", **ctx)

    def _range(self, bld: str, dataset: str, params: dict, start, end, parse, ticker: str | None = None) -> pd.DataFrame:
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
                ticker=ticker or params.get("isuCd"),
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
        payload = self.fetch(STAT + P.ETF_PDF, {"trdDd": d, "isuCd": i}, dataset=P.ETF_PDF, date=d, ticker=i)
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
            lambda p, d: P.parse_index_history(p, date=d, isin=name), ticker=name,
        )

    def latest_trading_day(self, as_of: Date | datetime | str, lookback_days: int = 14) -> Date | None:
        """Newest date with published index data in (as_of - lookback_days, as_of], or None."""
        end = P.to_date(as_of)
        df = self.index_history(end - pd.Timedelta(days=lookback_days).to_pytimedelta(), end)
        if len(df) == 0 or df["close"].isna().all():
            return None
        return df.loc[df["close"].notna(), "date"].max()


__all__ = ["KRXClient", "classify_krx", "krx_ban_check"]
