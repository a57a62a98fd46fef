"""KIS (Korea Investment & Securities) Open API client — quotations only.

Protocol (reference/market_apis.md §2): OAuth token from `/oauth2/tokenP` (24 h, 1 issuance per
minute, same token re-issued within 6 h), then GETs with `authorization`/`appkey`/`appsecret`/
`tr_id`/`custtype` headers. Rate limit 20/s real, 2/s virtual (excess -> HTTP 500 EGW00201).
The token is cached on disk (mode 0600) so runs in separate processes share it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import date as Date
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import requests
from dagster import get_dagster_logger
from pydantic import PrivateAttr

from quant_assets import config
from quant_assets.errors import SourceAuthError, SourceError
from quant_assets.resources import kis_finance as KF
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
    classify_http,
    loads,
    retry_after_seconds,
    shared_limiter,
)
from quant_assets.resources.kis_overseas import OverseasQuotations

log = get_dagster_logger("quant_assets.resources.kis")

DEMO_APP_KEY = "demo-app-key"
DEMO_APP_SECRET = "demo-app-secret"
TOKEN_PATH = "/oauth2/tokenP"
TOKEN_MARGIN_SECONDS = 300.0
PAGE_ROWS = 100
MAX_PAGES = 200

PATH_ETF_PRICE = "/uapi/etfetn/v1/quotations/inquire-price"
PATH_STOCK_PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"
PATH_NAV_TREND = "/uapi/etfetn/v1/quotations/nav-comparison-trend"
PATH_NAV_DAILY = "/uapi/etfetn/v1/quotations/nav-comparison-daily-trend"
PATH_COMPONENTS = "/uapi/etfetn/v1/quotations/inquire-component-stock-price"
PATH_DAILY_CHART = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"

# Not offered on the virtual (모의) host (reference §2.10).
REAL_ONLY_TR_IDS = frozenset({"FHPST02400000", "FHPST02440000", "FHPST02440200", "FHPST02440100", "FHKST121600C0"})

TOKEN_REJECTED = {"EGW00123": "token expired", "EGW00121": "token invalid"}
RATE_LIMITED = "EGW00201"
TOKEN_THROTTLED = "EGW00133"
# 5xx envelopes worth retrying; any other msg_cd in a 5xx is a definite refusal (not retried).
TRANSIENT_CODES = frozenset({RATE_LIMITED, "EGW00001", "EGW00002"})
VIRTUAL_UNSUPPORTED = "40310000"  # 모의투자에서는 해당업무가 제공되지 않습니다.


class SourceUnsupportedError(SourceError):
    """The endpoint does not exist in this environment (ETF quotations on the KIS virtual host)."""


class _TokenThrottled(Exception):
    pass


def classify_kis(resp: requests.Response, expect: str = "json") -> Verdict:
    """KIS answers by envelope code whatever the HTTP status (EGW00201 comes as 500, EGW00123 as
    200 or 500): EGW00201 -> throttled (the 1-second window; Retry-After if ever sent), EGW00123/
    EGW00121 -> session (new token once), EGW00001/2 -> outage; any other envelope is handed to
    the handler, which raises a refusal naming tr_id and ticker. Without an envelope the generic
    rules apply (5xx/403 outage, HTML maintenance page outage, truncated JSON bad data). KIS has
    no documented ban page, so nothing here is a ban."""
    body = _safe_json(resp)
    if isinstance(body, dict):
        code = body.get("msg_cd") or body.get("error_code")
        if code == RATE_LIMITED:
            return Verdict(Kind.THROTTLED, f"rate limited ({RATE_LIMITED}, HTTP {resp.status_code})",
                           wait=retry_after_seconds(resp))
        if code in TOKEN_REJECTED:
            return Verdict(Kind.SESSION, f"{TOKEN_REJECTED[code]} ({code})", payload=code)
        if code in TRANSIENT_CODES:
            return Verdict(Kind.OUTAGE, f"HTTP {resp.status_code} {code}", wait=retry_after_seconds(resp))
        if code is not None or resp.status_code < 400:
            return Verdict(Kind.OK, payload=body)
    return classify_http(resp, expect)


def _safe_json(resp: requests.Response) -> Any:
    try:
        return loads(resp.content)
    except ValueError:
        return None


class KISClient(OverseasQuotations, SourceResource):
    """Typed access to KIS quotations (ETF price/NAV/components, stock price, daily chart; the
    overseas quotations and master files come from `kis_overseas.OverseasQuotations`)."""

    app_key: str | None = None
    app_secret: str | None = None
    env: str = "real"
    base_url: str | None = None
    requests_per_second: float | None = None
    token_cache_dir: str | None = None
    max_retries: int = 4
    timeout_seconds: float = 20.0
    backoff_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    token_retry_wait_seconds: float = 61.0
    throttle_wait_seconds: float = 1.0  # EGW00201: KIS counts requests per sliding second
    ban_cooldown_seconds: float = DEFAULT_BAN_COOLDOWN_SECONDS

    secret_fields = ("app_key", "app_secret")

    _token: str | None = PrivateAttr(default=None)
    _token_expires_at: float = PrivateAttr(default=0.0)
    _auth_error: str | None = PrivateAttr(default=None)

    # -- wiring ------------------------------------------------------------------------------
    @property
    def source(self) -> str:
        return f"kis-{self.env}"

    @property
    def url(self) -> str:
        if self.env not in ("real", "virtual"):
            raise ValueError(f"env must be 'real' or 'virtual', got {self.env!r}")
        if self.base_url:
            return self.base_url.rstrip("/")
        urls = config.source_urls()
        return urls.kis_real if self.env == "real" else urls.kis_virtual

    @property
    def is_real_host(self) -> bool:
        return (urlsplit(self.url).hostname or "").endswith("koreainvestment.com")

    @property
    def rate(self) -> float:
        if self.requests_per_second:
            return self.requests_per_second
        return 19.0 if self.env == "real" else 1.8

    def _credentials(self) -> tuple[str, str]:
        if self.app_key and self.app_secret:
            return self.app_key, self.app_secret
        if not self.is_real_host:
            return DEMO_APP_KEY, DEMO_APP_SECRET
        raise SourceAuthError(self.source, "KIS_APP_KEY / KIS_APP_SECRET are not configured")

    def _get_transport(self) -> Transport:
        if self._transport is None:
            key, _ = self._credentials()
            acct = account_key(self.env, key)
            self._transport = Transport(
                self.source,
                limiter=shared_limiter("kis", acct, self.rate),
                limiter_key=f"kis:{acct}",
                breaker=self.breaker,
                policy=RetryPolicy(self.max_retries, self.backoff_seconds, self.backoff_max_seconds,
                                   max_throttle_waits=self.max_throttle_waits,
                                   throttle_wait=self.throttle_wait_seconds),
                timeout=self.timeout_seconds,
                classify=classify_kis,
                ban_cooldown_seconds=self.ban_cooldown_seconds,
                outage_cooldown_seconds=self.outage_cooldown_seconds,
            )
        return self._transport

    def _get_session(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = None

    def teardown_after_execution(self, context) -> None:  # dagster hook
        self.close()

    def _redact(self, text: str) -> str:
        for secret in (self.app_key, self.app_secret, self._token, DEMO_APP_SECRET):
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- token -------------------------------------------------------------------------------
    @property
    def token_cache_path(self) -> Path:
        key, _ = self._credentials()
        base = Path(self.token_cache_dir) if self.token_cache_dir else config.quant_home() / "tokens"
        digest = hashlib.sha256(f"{self.url}\x1f{key}".encode()).hexdigest()[:20]
        return base / f"kis-{self.env}-{digest}.json"

    def _read_cache(self) -> tuple[str, float] | None:
        path = self.token_cache_path
        try:
            data = json.loads(path.read_text())
            token, expires_at = str(data["access_token"]), float(data["expires_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return token, expires_at

    def _write_cache(self, token: str, expires_at: float) -> None:
        path = self.token_cache_path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"access_token": token, "expires_at": expires_at, "issued_at": time.time(), "env": self.env}, f)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)

    def _delete_cache(self) -> None:
        self.token_cache_path.unlink(missing_ok=True)

    def _issue_token(self) -> tuple[str, float]:
        key, secret = self._credentials()

        def handle(resp: requests.Response, body: Any) -> tuple[str, float]:
            code = body.get("error_code") or body.get("msg_cd") if isinstance(body, dict) else None
            if code == TOKEN_THROTTLED:
                raise _TokenThrottled()
            if resp.status_code >= 400 or not isinstance(body, dict) or "access_token" not in body:
                desc = body.get("error_description") or body.get("msg1") if isinstance(body, dict) else ""
                raise SourceAuthError(
                    self.source, self._redact(f"token request refused (HTTP {resp.status_code} {code or ''} {desc or ''})".strip())
                )
            try:
                expires_in = float(body.get("expires_in") or 86400)
            except (TypeError, ValueError):
                expires_in = 86400.0
            return str(body["access_token"]), time.time() + expires_in

        try:
            return self._get_transport().request(
                self._get_session(),
                "POST",
                f"{self.url}{TOKEN_PATH}",
                handle,
                dataset="token",
                json={"grant_type": "client_credentials", "appkey": key, "appsecret": secret},
                headers={"content-type": "application/json; charset=utf-8"},
            )
        except SessionExpired as exc:
            raise SourceAuthError(self.source, f"token request answered {exc.reason}", dataset="token") from None

    def _usable(self, expires_at: float) -> bool:
        return expires_at - TOKEN_MARGIN_SECONDS > time.time()

    def access_token(self, *, force_new: bool = False, rejected: str | None = None) -> str:
        """Memory -> disk cache -> /oauth2/tokenP. EGW00133 (1/min) falls back to the cached token or
        waits `token_retry_wait_seconds` and tries once more.

        `rejected` is the token KIS just refused: when another thread has already replaced it, that
        replacement is returned instead of asking for yet another token (KIS issues one a minute,
        so threads renewing one after the other would each wait a minute)."""
        with self._lock:
            if rejected is not None:
                if self._token and self._token != rejected and self._usable(self._token_expires_at):
                    return self._token
                if self._token == rejected:
                    self._token = None
                    self._delete_cache()
                force_new = True
            if not force_new:
                if self._token and self._usable(self._token_expires_at):
                    return self._token
                cached = self._read_cache()
                if cached and self._usable(cached[1]):
                    self._token, self._token_expires_at = cached
                    log.debug(f"KIS {self.env}: reusing cached token")
                    return self._token
            try:
                token, expires_at = self._issue_token()
            except _TokenThrottled:
                cached = self._read_cache()
                if cached and cached[1] > time.time() and not force_new:
                    self._token, self._token_expires_at = cached
                    return self._token
                log.warning(
                    f"KIS {self.env}: token issuance throttled (EGW00133); retrying in {self.token_retry_wait_seconds:g}s"
                )
                time.sleep(self.token_retry_wait_seconds)
                try:
                    token, expires_at = self._issue_token()
                except _TokenThrottled:
                    raise SourceAuthError(
                        self.source, "token issuance throttled twice (EGW00133, 1 per minute)", dataset="token"
                    ) from None
            self._token, self._token_expires_at = token, expires_at
            self._write_cache(token, expires_at)
            log.info(f"KIS {self.env}: new access token issued")
            return token

    # -- requests ----------------------------------------------------------------------------
    def _send(self, path: str, tr_id: str, params: dict, token: str, dataset: str, code: str | None) -> Any:
        key, secret = self._credentials()
        lo = params.get("FID_INPUT_DATE_1") or params.get("fid_input_date_1")
        hi = params.get("FID_INPUT_DATE_2") or params.get("fid_input_date_2")
        date = f"{lo or ''}-{hi or ''}" if (lo or hi) else None

        def handle(resp: requests.Response, body: Any) -> Any:
            msg_cd = None
            msg1 = ""
            if isinstance(body, dict):
                msg_cd = body.get("msg_cd") or body.get("error_code")
                msg1 = str(body.get("msg1") or body.get("error_description") or "")[:200]
            if not isinstance(body, dict):
                raise SourceError(self.source, f"HTTP {resp.status_code}: answer is not a JSON object",
                                  dataset=dataset, ticker=code)
            rt_cd = str(body.get("rt_cd", "0")) if isinstance(body, dict) else "0"
            if resp.status_code >= 400 or rt_cd != "0":
                text = self._redact(f"{tr_id} {code or ''} refused: HTTP {resp.status_code} {msg_cd or ''} {msg1}")
                if msg_cd == VIRTUAL_UNSUPPORTED or "모의투자" in msg1 or (
                    self.env == "virtual" and tr_id in REAL_ONLY_TR_IDS
                ):
                    raise SourceUnsupportedError(self.source, text + " (not available on the virtual host)",
                                                 dataset=dataset, ticker=code)
                raise SourceError(self.source, text, dataset=dataset, ticker=code)
            body["_tr_cont"] = resp.headers.get("tr_cont", "")  # paging promise (overseas pages check it)
            return body

        headers = {
            "content-type": "application/json; charset=utf-8",
            "authorization": f"Bearer {token}",
            "appkey": key,
            "appsecret": secret,
            "tr_id": tr_id,
            "custtype": "P",
            "tr_cont": "",
        }
        return self._get_transport().request(
            self._get_session(), "GET", f"{self.url}{path}", handle, dataset=dataset, ticker=code,
            date=date, params=params, headers=headers,
        )

    def get(self, path: str, tr_id: str, params: dict[str, str], *, code: str | None = None) -> Any:
        """One quotation GET -> decoded JSON envelope (rt_cd == "0"). Handles token expiry once."""
        dataset = tr_id
        if self.env == "virtual" and tr_id in REAL_ONLY_TR_IDS:
            raise SourceUnsupportedError(
                self.source, f"{tr_id} is not offered on the KIS virtual (모의) host; use env='real'", dataset=dataset
            )
        if self._auth_error is not None:
            raise SourceAuthError(self.source, f"{self._auth_error} — remembered from an earlier call; "
                                               "no request sent", dataset=dataset, ticker=code)
        self._get_transport().check_breaker(dataset=dataset, ticker=code)
        try:
            token = self.access_token()
            try:
                return self._send(path, tr_id, params, token, dataset, code)
            except SessionExpired as exc:
                log.warning(f"KIS {self.env}: {exc.reason}; fetching a new token")
            token = self.access_token(rejected=token)
            try:
                return self._send(path, tr_id, params, token, dataset, code)
            except SessionExpired as exc:
                raise SourceAuthError(self.source, f"fresh token rejected too ({exc.reason})",
                                      dataset=dataset, ticker=code) from None
        except SourceAuthError as exc:
            self._auth_error = str(exc)
            raise

    # -- typed datasets ----------------------------------------------------------------------
    def etf_price(self, code: str) -> pd.DataFrame:
        """FHPST02400000 -> one row: code, price, change, change_pct, open, high, low, prev_close,
        volume, nav, prev_nav, nav_change, nav_change_pct, aum_krw (KRW), listed_units,
        circulating_units, tracking_error_pct, premium_discount_pct, index_change_pct, multiple,
        cu_units, component_count, index_name, manager, listing_date."""
        c = P.parse_code(code)
        payload = self.get(PATH_ETF_PRICE, P.KIS_ETF_PRICE, {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": c}, code=c)
        return P.parse_kis_etf_price(payload, c)

    def stock_price(self, code: str) -> pd.DataFrame:
        """FHKST01010100 -> one row: code, price, change, ..., volume, value, market_cap_krw (KRW),
        listed_shares, per, pbr, eps, bps, high_52w, low_52w, sector."""
        c = P.parse_code(code)
        payload = self.get(PATH_STOCK_PRICE, P.KIS_STOCK_PRICE, {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": c}, code=c)
        return P.parse_kis_stock_price(payload, c)

    def nav_trend(self, code: str) -> pd.DataFrame:
        """FHPST02440000 -> one row: price fields + NAV fields + premium_discount_pct."""
        c = P.parse_code(code)
        payload = self.get(PATH_NAV_TREND, P.KIS_NAV_TREND, {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": c}, code=c)
        return P.parse_kis_nav_trend(payload, c)

    def etf_components(self, code: str) -> pd.DataFrame:
        """FHKST121600C0 -> etf_code, code, name, price, change_pct, volume, weight_pct,
        component_value_krw, valuation_krw, market_cap_krw, shares_per_cu (INFERRED value/price).
        Snapshot of now — KIS has no historical holdings."""
        c = P.parse_code(code)
        params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": c, "FID_COND_SCR_DIV_CODE": "11216"}
        return P.parse_kis_etf_components(self.get(PATH_COMPONENTS, P.KIS_ETF_COMPONENTS, params, code=c), c)

    def _paged(self, fetch_page, start: Date, end: Date) -> pd.DataFrame:
        """Walk the date window backwards: ≤100 rows per call, newest first."""
        frames: list[pd.DataFrame] = []
        cur_end = end
        for _ in range(MAX_PAGES):
            df = fetch_page(cur_end)
            if len(df):
                frames.append(df)
            if len(df) < PAGE_ROWS:
                break
            oldest = df["date"].min()
            if oldest <= start:
                break
            cur_end = oldest - timedelta(days=1)
            if cur_end < start:
                break
        if not frames:
            return fetch_page.empty
        out = pd.concat(frames, ignore_index=True).drop_duplicates(subset=["date"], keep="first")
        out = out[(out["date"] >= start) & (out["date"] <= end)]
        return out.sort_values("date", kind="stable").reset_index(drop=True)

    def nav_daily(self, code: str, start, end) -> pd.DataFrame:
        """FHPST02440200 over [start, end] ascending: date, close, change, change_pct, volume, nav,
        nav_change, nav_change_pct, nav_vs_price, premium_discount_pct_kis, premium_discount_pct
        (recomputed from close/nav)."""
        c = P.parse_code(code)
        s, e = P.to_date(start), P.to_date(end)

        def page(cur_end: Date) -> pd.DataFrame:
            params = {
                "fid_cond_mrkt_div_code": "J",
                "fid_input_iscd": c,
                "fid_input_date_1": P.yyyymmdd(s),
                "fid_input_date_2": P.yyyymmdd(cur_end),
            }
            return P.parse_kis_nav_daily(self.get(PATH_NAV_DAILY, P.KIS_NAV_DAILY, params, code=c), c)

        page.empty = P.parse_kis_nav_daily({"output": []}, c)  # type: ignore[attr-defined]
        return self._paged(page, s, e)

    def daily_chart(self, code: str, start, end, adjusted: bool = False) -> pd.DataFrame:
        """FHKST03010100 over [start, end] ascending: date, open, high, low, close, volume, value,
        change, lock_code, split_ratio, modified. `adjusted=True` sends FID_ORG_ADJ_PRC=0 (수정주가);
        False sends 1 (raw). Unknown symbol -> SourceDataError."""
        c = P.parse_code(code)
        s, e = P.to_date(start), P.to_date(end)

        def page(cur_end: Date) -> pd.DataFrame:
            params = {
                "FID_COND_MRKT_DIV_CODE": "J",
                "FID_INPUT_ISCD": c,
                "FID_INPUT_DATE_1": P.yyyymmdd(s),
                "FID_INPUT_DATE_2": P.yyyymmdd(cur_end),
                "FID_PERIOD_DIV_CODE": "D",
                "FID_ORG_ADJ_PRC": "0" if adjusted else "1",
            }
            return P.parse_kis_daily_chart(self.get(PATH_DAILY_CHART, P.KIS_DAILY_CHART, params, code=c), c)

        page.empty = P.parse_kis_daily_chart({"output1": {}, "output2": []}, c)  # type: ignore[attr-defined]
        return self._paged(page, s, e)

    # -- financial statements (parsing and units: resources/kis_finance.py) --------------------
    def financial_statement(self, tr_id: str, code: str, period: str = KF.ANNUAL) -> pd.DataFrame:
        """One finance endpoint (KF.BALANCE_SHEET / KF.INCOME_STATEMENT / KF.FINANCIAL_RATIO) for one
        stock, period "ANNUAL" or "QUARTERLY" -> one row per period (code, period_type, stac_yymm,
        period_end, the endpoint's fields; amounts in KRW). One request; bad payload -> SourceDataError
        naming dataset, ticker, period and field."""
        c = P.parse_code(code)
        if tr_id not in KF.PATHS:
            raise ValueError(f"not a KIS finance TR: {tr_id!r}")
        period = period.upper()
        if period not in KF.DIV_CLS_CODE:
            raise ValueError(f"period must be ANNUAL or QUARTERLY, got {period!r}")
        params = {"FID_DIV_CLS_CODE": KF.DIV_CLS_CODE[period], "fid_cond_mrkt_div_code": "J", "fid_input_iscd": c}
        return KF.parse_statement(self.get(KF.PATHS[tr_id], tr_id, params, code=c), tr_id, c, period)

    def balance_sheet(self, code: str, period: str = KF.ANNUAL) -> pd.DataFrame:
        """FHKST66430100: current/fixed/total assets, current/fixed/total liabilities, capital stock,
        total equity (KRW) per period end."""
        return self.financial_statement(KF.BALANCE_SHEET, code, period)

    def income_statement(self, code: str, period: str = KF.ANNUAL) -> pd.DataFrame:
        """FHKST66430200: revenue, cogs, gross/operating/ordinary profit, net income (KRW); quarterly
        rows are year-to-date, as KIS reports them."""
        return self.financial_statement(KF.INCOME_STATEMENT, code, period)

    def financial_ratio(self, code: str, period: str = KF.ANNUAL) -> pd.DataFrame:
        """FHKST66430300: growth rates, ROE, debt and reserve ratios (%), EPS, SPS, BPS (KRW)."""
        return self.financial_statement(KF.FINANCIAL_RATIO, code, period)

    def statements(self, code: str) -> dict[str, dict[str, pd.DataFrame]]:
        """All three endpoints, annual and quarterly (6 requests): {period: {tr_id: frame}}, the input
        of `kis_finance.statement_rows`."""
        return {period: {tr: self.financial_statement(tr, code, period) for tr in KF.ENDPOINTS}
                for period in (KF.ANNUAL, KF.QUARTERLY)}


__all__ = ["KISClient", "SourceUnsupportedError", "classify_kis"]
