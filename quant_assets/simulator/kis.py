"""KIS Open API protocol (real host under `/kis`, virtual host under `/kis-vts`), reference §2/§4.

Token: `POST /oauth2/tokenP` {grant_type: client_credentials, appkey, appsecret} ->
{access_token (JWT-looking "eyJ..."), token_type "Bearer", expires_in, access_token_token_expired
"YYYY-MM-DD HH:MM:SS" (KST)}. A second request for the same appkey within 60 simulated seconds
-> HTTP 403 {"error_code":"EGW00133", ...}; later requests within 6 h return the same token; after
that a new one. Tokens expire after `kis_token_ttl` simulated seconds (24 h).

Every quotation GET checks, in order (errors are HTTP 500 + {"rt_cd":"1","msg_cd","msg1"}):
  authorization "Bearer <token>" known to this host       else EGW00121 유효하지 않은 token 입니다.
  token not expired (simulated clock)                      else EGW00123 기간이 만료된 token 입니다.
  appkey / appsecret headers equal the token's             else EGW00103 / EGW00105
  custtype header present (P or B)                         else EGW00206 (simulator choice)
  sliding-second rate per appkey (20 real / 2 virtual)     else EGW00201 초당 거래건수를 초과하였습니다.
  tr_id header matches the path                            else OPSQ0002 없는 서비스 코드 입니다.
  ETF/ETN TR on the virtual host                           else 40310000 모의투자에서는 해당업무가
                                                                제공되지 않습니다. (simulator choice;
                                                                the real payload is UNCONFIRMED)
Success: HTTP 200, headers content-type application/json; charset=utf-8, tr_id (echo), tr_cont,
gt_uid; body rt_cd "0", msg_cd "MCA00000", msg1 "정상처리 되었습니다.". Values are strings without
thousands separators, dates YYYYMMDD, hts_avls / etf_ntas_ttam in 억원.

"Current" quotes = the newest trading day whose prices are published on the simulated clock
(no intraday simulation). Unknown or unlisted codes answer rt_cd "0" with zero/empty fields
(python-kis treats stck_prpr "0" as "symbol not found").
Daily chart (FHKST03010100) and NAV daily trend (FHPST02440200): <= 100 rows newest first within
FID_INPUT_DATE_1..2; response header tr_cont "M" when older rows remain in the window, else "D".
FID_ORG_ADJ_PRC "0" = split-adjusted (prices / volume rescaled to the latest share basis), "1" raw;
on a split ex-date rows carry mod_yn "Y" and prtt_rate = the split ratio.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
import time

import numpy as np

from . import kis_overseas as OV
from .clock import KST
from .faults import FaultInjector, RequestInfo, corrupt_rows
from .fmt import kis_sign, parse_yyyymmdd, sdate
from .kis_finance import FINANCE_PATHS, FinanceBook
from .market import etf_tick, round_tick
from .publish import Publication
from .wire import Request, Response, json_bytes

ETF_PATHS = {
    "/uapi/etfetn/v1/quotations/inquire-price": "FHPST02400000",
    "/uapi/etfetn/v1/quotations/nav-comparison-trend": "FHPST02440000",
    "/uapi/etfetn/v1/quotations/nav-comparison-daily-trend": "FHPST02440200",
    "/uapi/etfetn/v1/quotations/inquire-component-stock-price": "FHKST121600C0",
}
STOCK_PATHS = {
    "/uapi/domestic-stock/v1/quotations/inquire-price": "FHKST01010100",
    "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice": "FHKST03010100",
}
OK = {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다."}
JSON_CT = "application/json; charset=utf-8"


def _f2(v) -> str:
    return f"{float(v):.2f}"


def _i(v) -> str:
    return str(int(round(float(v))))


def _ctrt(chg: float, base: float) -> str:
    return f"{(chg / base * 100.0) if base else 0.0:.2f}"


class KisService:
    def __init__(self, market, clock, faults: FaultInjector, config, log, *, virtual: bool):
        self.m, self.clock, self.faults, self.cfg, self.log = market, clock, faults, config, log
        self.virtual = virtual
        self.source = "kis-vts" if virtual else "kis"
        self.pub = Publication(market, clock, faults)
        self.finance = FinanceBook(market)  # balance sheet / income statement / ratios (kis_finance.py)
        self.overseas = OV.OverseasBook(market, clock, faults, self.source)  # kis_overseas.py
        self.rate = config.kis_rate_virtual if virtual else config.kis_rate_real
        self._lock = threading.Lock()
        self._secret = hashlib.sha256(f"{market.seed}-{self.source}".encode()).digest()
        self.tokens: dict[str, dict] = {}
        self.issued: dict[str, dict] = {}  # appkey -> {"token", "requested"}
        self.hits: dict[str, collections.deque] = {}

    def reset_sessions(self) -> None:
        with self._lock:
            self.tokens.clear()
            self.issued.clear()
            self.hits.clear()

    # ------------------------------------------------------------------ responses
    def _resp(self, body: dict, status: int = 200, tr_id: str = "", tr_cont: str = "", delay: float = 0.0,
              truncate: bool = False) -> Response:
        data = json_bytes(body)
        if truncate:
            data = data[: len(data) // 2]
        headers = [("Content-Type", JSON_CT), ("tr_id", tr_id), ("tr_cont", tr_cont),
                   ("gt_uid", secrets.token_hex(16))]
        return Response(status, data, headers, delay=delay)

    def _err(self, code: str, msg: str, status: int = 500, tr_id: str = "") -> Response:
        return self._resp({"rt_cd": "1", "msg_cd": code, "msg1": msg}, status, tr_id)

    # ------------------------------------------------------------------ token
    def _make_token(self, appkey: str, issued: dt.datetime, expires: dt.datetime) -> str:
        def b64(b: bytes) -> str:
            return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

        header = b64(json.dumps({"typ": "JWT", "alg": "HS512"}, separators=(",", ":")).encode())
        payload = b64(json.dumps({
            "sub": "token", "aud": hashlib.sha1(appkey.encode()).hexdigest()[:36], "prdt_cd": "", "iss": "unogw",
            "exp": int(expires.timestamp()), "iat": int(issued.timestamp()), "jti": secrets.token_hex(8),
        }, separators=(",", ":")).encode())
        sig = b64(hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha512).digest())
        return f"{header}.{payload}.{sig}"

    def _token(self, req: Request) -> Response:
        body = req.json or {}
        appkey, appsecret = body.get("appkey", ""), body.get("appsecret", "")
        self.log(self.source, req.path, "tokenP", {"grant_type": body.get("grant_type")})
        if body.get("grant_type") != "client_credentials":
            return self._resp({"error_code": "EGW00102", "error_description": "grant_type 이 유효하지 않습니다."}, 403)
        if not appkey:
            return self._resp({"error_code": "EGW00103", "error_description": "유효하지 않은 AppKey입니다."}, 403)
        if not appsecret:
            return self._resp({"error_code": "EGW00105", "error_description": "유효하지 않은 AppSecret입니다."}, 403)
        now = self.clock.now()
        with self._lock:
            prev = self.issued.get(appkey)
            if prev and (now - prev["requested"]).total_seconds() < 60:
                return self._resp({"error_code": "EGW00133",
                                   "error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"}, 403)
            tok = self.tokens.get(prev["token"]) if prev else None
            reuse = (tok is not None and tok["appsecret"] == appsecret
                     and (now - tok["issued"]).total_seconds() < 6 * 3600 and now < tok["expires"])
            if not reuse:
                expires = now + dt.timedelta(seconds=self.cfg.kis_token_ttl)
                token = self._make_token(appkey, now, expires)
                tok = {"token": token, "appkey": appkey, "appsecret": appsecret, "issued": now, "expires": expires}
                self.tokens[token] = tok
            self.issued[appkey] = {"token": tok["token"], "requested": now}
        return self._resp({
            "access_token": tok["token"], "access_token_token_expired": tok["expires"].astimezone(KST).strftime(
                "%Y-%m-%d %H:%M:%S"),
            "token_type": "Bearer", "expires_in": max(0, int((tok["expires"] - now).total_seconds())),
        })

    # ------------------------------------------------------------------ entry point
    def handle(self, req: Request) -> Response:
        if req.path == "/oauth2/tokenP" and req.method == "POST":
            return self._token(req)
        if req.path == "/oauth2/revokeP" and req.method == "POST":
            with self._lock:
                self.tokens.pop((req.json or {}).get("token", ""), None)
            return self._resp({"code": 200, "message": "접근토큰 폐기에 성공하였습니다."})
        if req.path.startswith(OV.MASTER_PREFIX):  # master files: KIS's download host, no token
            self.log(self.source, req.path, "master", {})
            return self.overseas.master(req.path)
        tr_expected = (ETF_PATHS.get(req.path) or STOCK_PATHS.get(req.path) or FINANCE_PATHS.get(req.path)
                       or OV.PATHS.get(req.path))
        h = req.headers
        q = {k.lower(): v for k, v in req.query.items()}
        tr_id = h.get("tr_id", "")
        d1, d2 = q.get("fid_input_date_1", ""), q.get("fid_input_date_2", "")
        info = RequestInfo(self.source, req.path, tr_id=tr_id, dates=(d1 or "00000000", d2 or "99999999") if (d1 or d2) else (),
                           ticker=q.get("fid_input_iscd", ""), is_data=tr_expected is not None)
        if req.path in OV.PATHS:
            info = self.overseas.request_info(req.path, tr_id, q)
            q["_tr_cont"] = h.get("tr_cont", "")
        self.log(self.source, req.path, tr_id, q)
        if tr_expected is None:
            return self._resp({"rt_cd": "1", "msg_cd": "EGW00003", "msg1": "요청하신 URL이 존재하지 않습니다."}, 404)
        auth = h.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        now = self.clock.now()
        with self._lock:
            tok = self.tokens.get(token)
        if tok is None:
            return self._err("EGW00121", "유효하지 않은 token 입니다.", tr_id=tr_id)
        if now >= tok["expires"]:
            return self._err("EGW00123", "기간이 만료된 token 입니다.", tr_id=tr_id)
        if h.get("appkey", "") != tok["appkey"]:
            return self._err("EGW00103", "유효하지 않은 AppKey입니다.", tr_id=tr_id)
        if h.get("appsecret", "") != tok["appsecret"]:
            return self._err("EGW00105", "유효하지 않은 AppSecret입니다.", tr_id=tr_id)
        if h.get("custtype", "") not in ("P", "B"):
            return self._err("EGW00206", "custtype 헤더값이 유효하지 않습니다.", tr_id=tr_id)
        if not self._admit(tok["appkey"]):
            return self._err("EGW00201", "초당 거래건수를 초과하였습니다.", tr_id=tr_id)
        dec = self.faults.decide(info)
        if dec.replace == "rate_limit":
            return self._err("EGW00201", "초당 거래건수를 초과하였습니다.", tr_id=tr_id)
        if dec.replace == "expired_token":
            return self._err("EGW00123", "기간이 만료된 token 입니다.", tr_id=tr_id)
        if dec.replace in ("http_500", "ban", "logout"):
            return self._err("EGW00002", "서버 에러가 발생했습니다.", tr_id=tr_id)
        if tr_id != tr_expected:
            return self._err("OPSQ0002", "없는 서비스 코드 입니다.", tr_id=tr_id)
        if self.virtual and req.path in ETF_PATHS:
            return self._err("40310000", "모의투자에서는 해당업무가 제공되지 않습니다.", tr_id=tr_id)
        body, tr_cont = self._dispatch(req.path, q)
        if dec.corrupt:
            for key in ("output2", "output"):
                if isinstance(body.get(key), list):
                    body[key] = corrupt_rows(body[key], dec.corrupt, self.source)
                    break
                if isinstance(body.get(key), dict):
                    body[key] = (corrupt_rows([body[key]], dec.corrupt, self.source) or [{}])[0]
                    break
        return self._resp(body, 200, tr_id, tr_cont, dec.delay, dec.truncate)

    def _admit(self, appkey: str) -> bool:
        """Sliding one-second window per appkey (real time); refused requests are not counted."""
        now = time.monotonic()
        with self._lock:
            dq = self.hits.setdefault(appkey, collections.deque())
            while dq and now - dq[0] >= 1.0:
                dq.popleft()
            if len(dq) >= self.rate:
                return False
            dq.append(now)
            return True

    def _dispatch(self, path: str, q: dict) -> tuple[dict, str]:
        code = q.get("fid_input_iscd", "")
        if path in FINANCE_PATHS:
            return self.finance.answer(path, q, self.clock.now().date()), ""
        if path in OV.PATHS:
            return self.overseas.answer(path, q)
        t = self.pub.latest_t("prices", self.source)
        if path.endswith("/etfetn/v1/quotations/inquire-price"):
            return dict(OK, output=self._etf_price(code, t)), ""
        if path.endswith("/nav-comparison-trend"):
            o1, o2 = self._nav_trend(code, t)
            return dict(OK, output1=o1, output2=o2), ""
        if path.endswith("/nav-comparison-daily-trend"):
            rows, more = self._nav_daily(code, q, t)
            return dict(OK, output=rows), "M" if more else "D"
        if path.endswith("/inquire-component-stock-price"):
            o1, o2 = self._components(code, t)
            return dict(OK, output1=o1, output2=o2), ""
        if path.endswith("/domestic-stock/v1/quotations/inquire-price"):
            return dict(OK, output=self._stock_price(code, t)), ""
        o1, rows, more = self._daily_chart(code, q, t)
        return dict(OK, output1=o1, output2=rows), "M" if more else "D"

    # ------------------------------------------------------------------ lookups
    def _etf(self, code: str, t: int) -> int | None:
        e = self.m.etfs.code_to_e.get(code)
        if e is None or t < 0 or not (self.m.etfs.list_t[e] <= t < self.m.etfs.delist_t[e]):
            return None
        return e

    def _stock(self, code: str, t: int) -> int | None:
        i = self.m.code_to_i.get(code)
        if i is None or t < 0 or not (self.m.stocks.list_t[i] <= t < self.m.stocks.delist_t[i]):
            return None
        return i

    def _year_range(self, closes: np.ndarray, ts: np.ndarray, t: int) -> tuple:
        hi_j, lo_j = int(np.argmax(closes)), int(np.argmin(closes))
        return closes[hi_j], self.m.dates[ts[hi_j]], closes[lo_j], self.m.dates[ts[lo_j]]

    # ------------------------------------------------------------------ ETF quotes
    def _etf_price(self, code: str, t: int) -> dict:
        m, E = self.m, self.m.etfs
        e = self._etf(code, t)
        if e is None:
            return {k: "0" for k in ("stck_prpr", "prdy_vrss", "prdy_ctrt", "acml_vol", "nav")} | {"prdy_vrss_sign": "3"}
        b = E.bars(e, np.array([t, max(t - 1, 0)]))
        close, prev = int(b["close"][0]), float(b["prev"][0])
        chg = close - prev
        nav, pnav = float(b["nav"][0]), float(b["prev_nav"][0])
        units = int(b["units"][0])
        k = int(E.index[e])
        lvl, plvl = m.index_level[k, t], m.index_level[k, max(t - 1, 0)]
        y0 = max(int(E.list_t[e]), m.last_t_on_or_before(dt.date(m.dates[t].year, 1, 1)) + 1)
        ts = np.arange(min(y0, t), t + 1)
        yh, yhd, yl, yld = self._year_range(E.close[e, ts], ts, t)
        spec = m.index_specs[k]
        aum_eok = round(nav * units / 1e8)
        up = round_tick(np.array([prev * 1.3]), etf_tick, "down")[0]
        dn = round_tick(np.array([prev * 0.7]), etf_tick, "up")[0]
        return {
            "stck_prpr": _i(close), "prdy_vrss_sign": kis_sign(chg), "prdy_vrss": _i(chg), "prdy_ctrt": _ctrt(chg, prev),
            "acml_vol": _i(b["volume"][0]), "prdy_vol": _i(b["volume"][1]), "stck_mxpr": _i(up), "stck_llam": _i(dn),
            "stck_prdy_clpr": _i(prev), "stck_oprc": _i(b["open"][0]),
            "prdy_clpr_vrss_oprc_rate": _ctrt(b["open"][0] - prev, prev), "stck_hgpr": _i(b["high"][0]),
            "prdy_clpr_vrss_hgpr_rate": _ctrt(b["high"][0] - prev, prev), "stck_lwpr": _i(b["low"][0]),
            "prdy_clpr_vrss_lwpr_rate": _ctrt(b["low"][0] - prev, prev), "prdy_last_nav": _f2(pnav), "nav": _f2(nav),
            "nav_prdy_vrss": _f2(nav - pnav), "nav_prdy_vrss_sign": kis_sign(round(nav - pnav, 2)),
            "nav_prdy_ctrt": _ctrt(nav - pnav, pnav), "trc_errt": _f2(E.tracking_error(e, t)), "stck_sdpr": _i(prev),
            "stck_sspr": _i(close * 0.8 // 5 * 5), "nmix_ctrt": _ctrt(lvl - plvl, plvl), "etf_crcl_stcn": str(units),
            "etf_ntas_ttam": str(aum_eok), "etf_frcr_ntas_ttam": str(aum_eok), "frgn_limt_rate": "100.00",
            "frgn_oder_able_qty": str(units), "etf_cu_unit_scrt_cnt": str(int(E.cu[e])),
            "etf_cnfg_issu_cnt": str(len(E.holdings(e, t))), "etf_dvdn_cycl": "2", "crcd": "KRW",
            "etf_crcl_ntas_ttam": str(aum_eok), "etf_frcr_crcl_ntas_ttam": str(aum_eok),
            "etf_frcr_last_ntas_wrth_val": _f2(nav), "lp_oder_able_cls_code": "Y", "stck_dryy_hgpr": _i(yh),
            "dryy_hgpr_vrss_prpr_rate": _ctrt(close - yh, yh), "dryy_hgpr_date": sdate(yhd), "stck_dryy_lwpr": _i(yl),
            "dryy_lwpr_vrss_prpr_rate": _ctrt(close - yl, yl), "dryy_lwpr_date": sdate(yld),
            "bstp_kor_isnm": "ETF(실물복제/수익증권)" if "실물" in E.replica[e] else "ETF(합성복제/수익증권)",
            "vi_cls_code": "N", "lstn_stcn": str(units), "frgn_hldn_qty": "0", "frgn_hldn_qty_rate": "0.00",
            "etf_trc_ert_mltp": f"{int(E.multiple[e]):.2f}", "dprt": _ctrt(close - nav, nav),
            "mbcr_name": f"{E.manager[e]}(ETF)", "stck_lstn_date": sdate(E.list_date[e]), "mtrt_date": "0",
            "shrg_type_code": "0", "lp_hldn_rate": "0.00", "etf_trgt_nmix_bstp_code": f"{spec.ind_idx}{spec.ind_idx2}",
            "etf_div_name": "수익증권형", "etf_rprs_bstp_kor_isnm": spec.eng.upper().replace(" ", ""),
            "lp_hldn_vol": "0",
        }

    def _nav_trend(self, code: str, t: int) -> tuple[dict, dict]:
        E = self.m.etfs
        e = self._etf(code, t)
        if e is None:
            return {"stck_prpr": "0", "prdy_vrss": "0", "prdy_vrss_sign": "3", "prdy_ctrt": "0.00"}, {"nav": "0.00"}
        b = E.bars(e, np.array([t]))
        close, prev = int(b["close"][0]), float(b["prev"][0])
        nav, pnav = float(b["nav"][0]), float(b["prev_nav"][0])
        up = round_tick(np.array([prev * 1.3]), etf_tick, "down")[0]
        dn = round_tick(np.array([prev * 0.7]), etf_tick, "up")[0]
        o1 = {"stck_prpr": _i(close), "prdy_vrss": _i(close - prev), "prdy_vrss_sign": kis_sign(close - prev),
              "prdy_ctrt": _ctrt(close - prev, prev), "acml_vol": _i(b["volume"][0]), "acml_tr_pbmn": _i(b["value"][0]),
              "stck_prdy_clpr": _i(prev), "stck_oprc": _i(b["open"][0]), "stck_hgpr": _i(b["high"][0]),
              "stck_lwpr": _i(b["low"][0]), "stck_mxpr": _i(up), "stck_llam": _i(dn)}
        o2 = {"nav": _f2(nav), "nav_prdy_vrss_sign": kis_sign(round(nav - pnav, 2)), "nav_prdy_vrss": _f2(nav - pnav),
              "nav_prdy_ctrt": _ctrt(nav - pnav, pnav), "prdy_clpr_nav": _f2(pnav),
              "oprc_nav": _f2(nav * b["open"][0] / close), "hprc_nav": _f2(nav * b["high"][0] / close),
              "lprc_nav": _f2(nav * b["low"][0] / close)}
        return o1, o2

    def _window(self, q: dict, t_latest: int, list_t: int, delist_t: int) -> list[int]:
        d1 = parse_yyyymmdd(q.get("fid_input_date_1", "")) or self.m.dates[0]
        d2 = parse_yyyymmdd(q.get("fid_input_date_2", "")) or self.m.dates[-1]
        return [t for t in self.m.t_range(d1, d2) if list_t <= t < delist_t and t <= t_latest]

    def _nav_daily(self, code: str, q: dict, t_latest: int) -> tuple[list, bool]:
        E = self.m.etfs
        e = self.m.etfs.code_to_e.get(code)
        if e is None:
            return [], False
        ts = self._window(q, t_latest, int(E.list_t[e]), int(E.delist_t[e]))
        page = ts[::-1][:100]
        if not page:
            return [], False
        b = E.bars(e, np.array(page))
        rows = []
        for j, t in enumerate(page):
            close, prev = int(b["close"][j]), float(b["prev"][j])
            nav, pnav = float(b["nav"][j]), float(b["prev_nav"][j])
            rows.append({"stck_bsop_date": sdate(self.m.dates[t]), "stck_clpr": _i(close), "prdy_vrss": _i(close - prev),
                         "prdy_vrss_sign": kis_sign(close - prev), "prdy_ctrt": _ctrt(close - prev, prev),
                         "acml_vol": _i(b["volume"][j]), "cntg_vol": "", "dprt": _ctrt(close - nav, nav),
                         "nav_vrss_prpr": _f2(close - nav), "nav": _f2(nav),
                         "nav_prdy_vrss_sign": kis_sign(round(nav - pnav, 2)), "nav_prdy_vrss": _f2(nav - pnav),
                         "nav_prdy_ctrt": _ctrt(nav - pnav, pnav)})
        return rows, len(ts) > 100

    def _components(self, code: str, t: int) -> tuple[dict, list]:
        m, E = self.m, self.m.etfs
        e = self._etf(code, t)
        if e is None:
            return {"stck_prpr": "0", "nav": "0.00", "etf_cnfg_issu_cnt": "0"}, []
        o1_price, o2_nav = self._nav_trend(code, t)
        lines = E.holdings(e, t)
        nav = float(E.nav[e, t])
        cu_value = nav * int(E.cu[e])
        units = int(E.units(e, t))
        o1 = {"stck_prpr": o1_price["stck_prpr"], "prdy_vrss": o1_price["prdy_vrss"],
              "prdy_vrss_sign": o1_price["prdy_vrss_sign"], "prdy_ctrt": o1_price["prdy_ctrt"],
              "etf_cnfg_issu_avls": _i(cu_value / 10_000), "nav": o2_nav["nav"],
              "nav_prdy_vrss_sign": o2_nav["nav_prdy_vrss_sign"], "nav_prdy_vrss": o2_nav["nav_prdy_vrss"],
              "nav_prdy_ctrt": o2_nav["nav_prdy_ctrt"], "etf_ntas_ttam": str(round(nav * units / 1e8)),
              "prdy_clpr_nav": o2_nav["prdy_clpr_nav"], "oprc_nav": o2_nav["oprc_nav"], "hprc_nav": o2_nav["hprc_nav"],
              "lprc_nav": o2_nav["lprc_nav"], "etf_cu_unit_scrt_cnt": str(int(E.cu[e])),
              "etf_cnfg_issu_cnt": str(len(lines))}
        stock_idx = [ln.stock_i for ln in lines if ln.stock_i is not None]
        bars = m.stock_bars(np.array(stock_idx, dtype=np.int64), t) if stock_idx else None
        pos = {i: j for j, i in enumerate(stock_idx)}
        o2 = []
        for ln in lines:
            price = ln.price or 0.0
            prev = ln.prev or price
            row = {"stck_shrn_iscd": ln.code, "hts_kor_isnm": ln.name, "stck_prpr": _i(price),
                   "prdy_vrss": _i(price - prev), "prdy_vrss_sign": kis_sign(round(price - prev, 2)),
                   "prdy_ctrt": _ctrt(price - prev, prev), "acml_vol": "0", "acml_tr_pbmn": "0",
                   "tday_rsfl_rate": "0.00", "prdy_vrss_vol": "0", "tr_pbmn_tnrt": "0.00", "hts_avls": "0",
                   "etf_cnfg_issu_avls": _i(ln.compst_amt or 0),
                   "etf_cnfg_issu_rlim": _f2(ln.weight) if ln.weight is not None else "0.00",
                   "etf_vltn_amt": _i(ln.valu_amt if ln.valu_amt is not None else (ln.compst_amt or 0))}
            if ln.stock_i is not None and bars is not None:
                j = pos[ln.stock_i]
                row["acml_vol"] = _i(bars["volume"][j])
                row["acml_tr_pbmn"] = _i(bars["value"][j])
                row["hts_avls"] = _i(bars["close"][j] * bars["shares"][j] / 1e8)
            o2.append(row)
        return o1, o2

    # ------------------------------------------------------------------ stock quotes
    def _stock_price(self, code: str, t: int) -> dict:
        m, st = self.m, self.m.stocks
        i = self._stock(code, t)
        if i is None:
            if self._etf(code, t) is not None:  # FHKST01010100 also quotes ETFs
                p = self._etf_price(code, t)
                return {k: p[k] for k in ("stck_prpr", "prdy_vrss", "prdy_vrss_sign", "prdy_ctrt", "acml_vol",
                                          "stck_oprc", "stck_hgpr", "stck_lwpr", "stck_mxpr", "stck_llam",
                                          "lstn_stcn")} | {"stck_shrn_iscd": code, "per": "0.00", "pbr": "0.00",
                                                           "eps": "0.00", "bps": "0.00",
                                                           "hts_avls": str(round(int(p["stck_prpr"]) * int(p["lstn_stcn"]) / 1e8)),
                                                           "rprs_mrkt_kor_name": "ETF", "iscd_stat_cls_code": "55"}
            return {"stck_prpr": "0", "prdy_vrss": "0", "prdy_vrss_sign": "3", "prdy_ctrt": "0.00",
                    "stck_shrn_iscd": code, "hts_avls": "0", "per": "0.00", "pbr": "0.00", "eps": "0.00"}
        b = m.stock_bars(np.array([i, i]), np.array([t, max(t - 1, 0)]))
        close, prev = int(b["close"][0]), float(b["prev"][0])
        chg = close - round(prev)
        f = m.fundamentals(t, np.array([i]))
        eps, bps = int(f["eps"][0]), int(f["bps"][0])
        shares = int(b["shares"][0])
        t0 = max(int(st.list_t[i]), t - 249)
        ts = np.arange(t0, t + 1)
        adj = m.factor(i, ts) / m.factor(i, t)
        closes = m.close[i, ts] * adj
        w52h, w52hd, w52l, w52ld = self._year_range(closes, ts, t)
        y0 = max(int(st.list_t[i]), m.last_t_on_or_before(dt.date(m.dates[t].year, 1, 1)) + 1)
        ys = np.arange(min(y0, t), t + 1)
        yh, yhd, yl, yld = self._year_range(m.close[i, ys] * (m.factor(i, ys) / m.factor(i, t)), ys, t)
        par = st.par0[i] / m.factor(i, t)
        mk = "KOSPI" if st.market[i] == "STK" else "KOSDAQ"
        up, dn = float(b["upper"][0]), float(b["lower"][0])
        return {
            "iscd_stat_cls_code": "55", "marg_rate": "20.00", "rprs_mrkt_kor_name": "KOSPI200" if mk == "KOSPI" else "KOSDAQ",
            "bstp_kor_isnm": st.sector[i], "temp_stop_yn": "N", "oprc_rang_cont_yn": "N", "clpr_rang_cont_yn": "N",
            "crdt_able_yn": "Y", "grmn_rate_cls_code": "40", "elw_pblc_yn": "N", "stck_prpr": _i(close),
            "prdy_vrss": _i(chg), "prdy_vrss_sign": kis_sign(chg, upper=close >= up and chg > 0,
                                                             lower=close <= dn and chg < 0),
            "prdy_ctrt": _ctrt(chg, prev), "acml_tr_pbmn": _i(b["value"][0]), "acml_vol": _i(b["volume"][0]),
            "prdy_vrss_vol_rate": _ctrt(b["volume"][0] - b["volume"][1], b["volume"][1]), "prdy_vol": _i(b["volume"][1]),
            "stck_oprc": _i(b["open"][0]),
            "stck_hgpr": _i(b["high"][0]), "stck_lwpr": _i(b["low"][0]), "stck_mxpr": _i(up), "stck_llam": _i(dn),
            "stck_sdpr": _i(prev), "wghn_avrg_stck_prc": _f2(b["value"][0] / max(1, b["volume"][0])),
            "hts_frgn_ehrt": "0.00", "frgn_ntby_qty": "0", "pgtr_ntby_qty": "0", "dmrs_val": _i(b["high"][0]),
            "dmsp_val": _i(b["low"][0]), "cpfn": _i(par * shares / 1e8), "rstc_wdth_prc": _i(up - prev),
            "stck_fcam": _i(par), "stck_sspr": _i(close * 0.7), "aspr_unit": str(_tick(close)),
            "hts_deal_qty_unit_val": "1", "lstn_stcn": str(shares), "hts_avls": _i(close * shares / 1e8),
            "per": f"{close / eps:.2f}" if eps > 0 else "0.00", "pbr": f"{close / bps:.2f}" if bps > 0 else "0.00",
            "stac_month": "12", "vol_tnrt": _ctrt(b["volume"][0], shares), "eps": f"{eps:.2f}", "bps": f"{bps:.2f}",
            "d250_hgpr": _i(w52h), "d250_hgpr_date": sdate(w52hd), "d250_hgpr_vrss_prpr_rate": _ctrt(close - w52h, w52h),
            "d250_lwpr": _i(w52l), "d250_lwpr_date": sdate(w52ld), "d250_lwpr_vrss_prpr_rate": _ctrt(close - w52l, w52l),
            "stck_dryy_hgpr": _i(yh), "dryy_hgpr_vrss_prpr_rate": _ctrt(close - yh, yh), "dryy_hgpr_date": sdate(yhd),
            "stck_dryy_lwpr": _i(yl), "dryy_lwpr_vrss_prpr_rate": _ctrt(close - yl, yl), "dryy_lwpr_date": sdate(yld),
            "w52_hgpr": _i(w52h), "w52_hgpr_vrss_prpr_ctrt": _ctrt(close - w52h, w52h), "w52_hgpr_date": sdate(w52hd),
            "w52_lwpr": _i(w52l), "w52_lwpr_vrss_prpr_ctrt": _ctrt(close - w52l, w52l), "w52_lwpr_date": sdate(w52ld),
            "whol_loan_rmnd_rate": "0.00", "ssts_yn": "Y", "stck_shrn_iscd": st.code[i],
            "fcam_cnnm": f"{round(par):,}", "cpfn_cnnm": f"{round(par * shares / 1e8):,} 억",
            "frgn_hldn_qty": "0", "vi_cls_code": "N", "ovtm_vi_cls_code": "N", "last_ssts_cntg_qty": "0",
            "invt_caful_yn": "N", "mrkt_warn_cls_code": "00", "short_over_yn": "N", "sltr_yn": "N",
        }

    def _daily_chart(self, code: str, q: dict, t_latest: int) -> tuple[dict, list, bool]:
        m = self.m
        i = m.code_to_i.get(code)
        e = m.etfs.code_to_e.get(code) if i is None else None
        if (i is None and e is None) or t_latest < 0:
            return {"stck_prpr": "0", "prdy_vrss": "0", "prdy_vrss_sign": "3", "prdy_ctrt": "0.00",
                    "stck_shrn_iscd": code, "hts_kor_isnm": ""}, [], False
        if i is not None:
            lt, dlt = int(m.stocks.list_t[i]), int(m.stocks.delist_t[i])
        else:
            lt, dlt = int(m.etfs.list_t[e]), int(m.etfs.delist_t[e])
        ts_all = self._window(q, t_latest, lt, dlt)
        adjusted = q.get("fid_org_adj_prc", "0") != "1"
        t_ref = min(t_latest, dlt - 1)
        period = (q.get("fid_period_div_code", "D") or "D").upper()
        if ts_all:
            arr = np.array(ts_all)
            b = m.stock_bars(i, arr) if i is not None else m.etfs.bars(e, arr)
            a = m.factor(i, arr) / m.factor(i, t_ref) if i is not None and adjusted else np.ones(len(arr))
            ratio = (m.factor(i, arr) / m.factor(i, np.maximum(arr - 1, 0))) if i is not None else np.ones(len(arr))
            groups = self._groups(ts_all, period)
        else:
            groups = []
        rows = []
        for g in groups[::-1][:100]:
            j0, j1 = g[0], g[-1]
            c = b["close"][j1] * a[j1]
            prev = b["prev"][j0] * a[j0]
            o = b["open"][j0] * a[j0]
            h = max(b["high"][j] * a[j] for j in g)
            lo = min(b["low"][j] * a[j] for j in g)
            vol = sum(b["volume"][j] / a[j] for j in g)
            val = sum(int(b["value"][j]) for j in g)
            split = any(ratio[j] != 1 for j in g)
            chg = round(c) - round(prev)
            rows.append({"stck_bsop_date": sdate(m.dates[ts_all[j1]]), "stck_clpr": _i(c), "stck_oprc": _i(o),
                         "stck_hgpr": _i(h), "stck_lwpr": _i(lo), "acml_vol": _i(vol), "acml_tr_pbmn": str(val),
                         "flng_cls_code": "00", "prtt_rate": f"{max(ratio[j] for j in g):.2f}" if split else "0.00",
                         "mod_yn": "Y" if split else "N", "prdy_vrss_sign": kis_sign(chg), "prdy_vrss": str(chg),
                         "revl_issu_reas": ""})
        more = len(groups) > 100
        return self._chart_head(i, e, t_latest), rows, more

    def _groups(self, ts: list[int], period: str) -> list[list[int]]:
        """Positions of ts grouped by D/W/M/Y period (ascending); W = ISO week."""
        if period not in ("W", "M", "Y"):
            return [[j] for j in range(len(ts))]
        keyf = {"W": lambda d: tuple(d.isocalendar())[:2], "M": lambda d: (d.year, d.month),
                "Y": lambda d: d.year}[period]
        groups: list[list[int]] = []
        last = None
        for j, t in enumerate(ts):
            k = keyf(self.m.dates[t])
            if k != last:
                groups.append([])
                last = k
            groups[-1].append(j)
        return groups

    def _chart_head(self, i, e, t: int) -> dict:
        m = self.m
        if i is not None:
            p = self._stock_price(m.stocks.code[i], t) if self._stock(m.stocks.code[i], t) is not None else {}
            name = m.stocks.name[i]
            code = m.stocks.code[i]
        else:
            p = self._etf_price(m.etfs.code[e], t) if self._etf(m.etfs.code[e], t) is not None else {}
            name, code = m.etfs.abbrv[e], m.etfs.code[e]
        if not p or p.get("stck_prpr") == "0":
            return {"stck_prpr": "0", "prdy_vrss": "0", "prdy_vrss_sign": "3", "prdy_ctrt": "0.00",
                    "stck_shrn_iscd": code, "hts_kor_isnm": name}
        keys = ("prdy_vrss", "prdy_vrss_sign", "prdy_ctrt", "stck_prdy_clpr", "acml_vol", "acml_tr_pbmn", "stck_prpr",
                "prdy_vol", "stck_mxpr", "stck_llam", "stck_oprc", "stck_hgpr", "stck_lwpr", "stck_fcam", "lstn_stcn",
                "cpfn", "hts_avls", "per", "eps", "pbr")
        head = {k: p.get(k, "0") for k in keys}
        head.update({"hts_kor_isnm": name, "stck_shrn_iscd": code, "stck_prdy_clpr": p.get("stck_sdpr", "0"),
                     "stck_prdy_oprc": "0", "stck_prdy_hgpr": "0", "stck_prdy_lwpr": "0", "askp": p.get("stck_prpr", "0"),
                     "bidp": p.get("stck_prpr", "0"), "prdy_vrss_vol": "0", "vol_tnrt": p.get("vol_tnrt", "0.00"),
                     "itewhol_loan_rmnd_ratem": "0.00"})
        return head


def _tick(price: int) -> int:
    from .market import stock_tick

    return int(stock_tick(np.array([float(price)]))[0])
