"""KRX Data Marketplace protocol (served under the `/krx` prefix), per reference §1 and §4.

Login: `GET /contents/MDC/COMS/client/MDCCOMS001.cmd` issues a JSESSIONID cookie;
`POST .../MDCCOMS001D1.cmd` (mbrId, pw, mbrNm, telNo, di, certType[, skipDup=Y]) answers JSON
`{"_error_code", "_error_message"}`:
  CD001 ok; CD002 wrong password (an id listed in `SimConfig.krx_accounts` with another pw, or an
  empty pw) - simulator choice, the real failure code is UNCONFIRMED; CD010 password change
  required (`krx_pw_change_ids`); CD011 duplicate login (the account has another live session) -
  resend with skipDup=Y, which invalidates the other session (its next data call: 400 LOGOUT).
`POST .../MDCCOMS001D2.cmd` logs out. Sessions expire after `krx_session_ttl` idle seconds
(real time, so moving the simulated clock does not log clients out).

Data: `POST /comm/bldAttendant/getJsonData.cmd`, form-encoded, dispatch on `bld`.
  * No Referer containing `data.krx.co.kr` -> HTTP 403 with an empty body.
  * No valid session -> HTTP 400, text/plain body `LOGOUT`.
  * Success -> HTTP 200, `Content-Type: text/html; charset=utf-8`, JSON
    `{<key>: [...], "CURRENT_DATETIME": "YYYY.MM.DD PM hh:mm:ss"}` (simulated clock, KST).
  * Unknown bld -> HTTP 200 `{"output": [], "CURRENT_DATETIME": ..., "_sim_error": "unknown bld ..."}`.

Per-date endpoints (04301, 01501, 03501, 03901, 05001):
  * before publication (prices/NAV/fundamentals/sector: D 15:45; PDF: D 18:00; see clock.py),
    for dates after "now", before the first simulated day or beyond the simulated horizon:
    the data list is EMPTY (`[]`) - "not published yet";
  * on a published non-trading day (weekend, XKRX holiday, extra closure): every listed row with
    "-" in price/volume/value/NAV fields, LIST_SHRS kept, FLUC_TP_CD "0" (ETF) / "3" (stock) -
    "market closed". The PDF (05001) is empty on a closed day.
  * 04301 INVSTASST_NETASST_TOTAMT is "0" until D+1 06:00 (AUM publication).
Range endpoints (04501, 05901, 06001, 00301, 01701) list only published trading days (so the
index history has no row for a holiday *and* none for a not-yet-published day); newest first,
except 06001 which is oldest first like pykrx's docstring sample (clients must sort).
TRACE_ERR_RT (05901) = annualised (x sqrt 250) std of daily (NAV return - multiple x index
return) in %, over the 250 trading days ending at the previous month end: constant within a month.
Leveraged/inverse ETFs report their base index (OBJ_STKPRC_IDX) with TRACE_YD_MULT = multiple.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import threading
import time
from urllib.parse import quote

import numpy as np

from . import fmt, krx_pykrx
from .etn_elw import EtnElwBook
from .faults import FaultInjector, RequestInfo, corrupt_rows
from .fmt import DASH, cf, ci, kdate
from .publish import CLOSED, NONE, Publication
from .universe import MULTIPLE_NM
from .wire import Request, Response, json_bytes, text_response

HTML = "text/html; charset=utf-8"
DATA_PATH = "/comm/bldAttendant/getJsonData.cmd"
LOGIN_PAGE = "/contents/MDC/COMS/client/MDCCOMS001.cmd"
LOGIN_JSP = "/contents/MDC/COMS/client/view/login.jsp"
LOGIN_POST = "/contents/MDC/COMS/client/MDCCOMS001D1.cmd"
LOGOUT_POST = "/contents/MDC/COMS/client/MDCCOMS001D2.cmd"

BAN_HTML = """<!DOCTYPE html>
<html lang="ko"><head><meta charset="utf-8"><title>KRX 정보데이터시스템 - 접근 제한 안내</title></head>
<body><div class="error_wrap"><h1>접근이 일시적으로 제한되었습니다</h1>
<p>비정상적인 대량 조회가 감지되어 해당 IP의 접속이 차단되었습니다.</p>
<p>IP 차단은 감지 시점으로부터 1일간 적용되며, 재발 시 다시 적용됩니다.</p>
<p>자동화된 대량 데이터 수집은 KRX Open API(openapi.krx.co.kr)를 이용해 주시기 바랍니다.</p>
</div></body></html>"""
ERROR_403_HTML = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>403 Forbidden</title></head>
<body><h1>Forbidden</h1><p>Service Unavailable. 서비스를 일시적으로 사용할 수 없습니다.</p></body></html>"""
MAINTENANCE_HTML = """<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8"><title>KRX 정보데이터시스템 - 시스템 점검 안내</title>
</head><body><h1>시스템 점검 중입니다</h1><p>보다 나은 서비스를 위해 시스템 점검을 진행하고 있습니다. 이용에 불편을
드려 죄송합니다.</p></body></html>"""
LOGOUT_HTML = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>KRX Data Marketplace</title></head>
<body><script>alert("LOGOUT");location.href="/contents/MDC/COMS/client/MDCCOMS001.cmd";</script>LOGOUT</body></html>"""
ERROR_500_HTML = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>500 Internal Server Error</title>
</head><body><h1>시스템 오류</h1><p>일시적인 오류가 발생하였습니다. 잠시 후 다시 시도해 주십시오.</p></body></html>"""

PER_DATE_BLDS = {"MDCSTAT04301", "MDCSTAT01501", "MDCSTAT03501", "MDCSTAT03901", "MDCSTAT05001"}
MKT_NM = {"STK": "KOSPI", "KSQ": "KOSDAQ"}
MARKET_NAME = {"STK": ("유가증권", "KOSPI"), "KSQ": ("코스닥", "KOSDAQ")}


def _s_fluc(chg: int, close: int, upper: float, lower: float) -> str:
    if close >= upper and chg > 0:
        return "4"
    if close <= lower and chg < 0:
        return "5"
    return fmt.fluc_tp(chg)


def _rate(chg: float, base: float) -> str:
    return f"{(chg / base * 100.0) if base else 0.0:.2f}"


class KrxService:
    def __init__(self, market, clock, faults: FaultInjector, config, log):
        self.m, self.clock, self.faults, self.cfg, self.log = market, clock, faults, config, log
        self.pub = Publication(market, clock, faults)
        self._lock = threading.Lock()
        self.sessions: dict[str, dict] = {}  # sid -> {"account", "last", "valid"}
        self.live: dict[str, str] = {}  # account -> sid
        self.handlers = {
            "MDCSTAT04601": self.etf_master, "MDCSTAT04301": self.etf_by_date,
            "MDCSTAT04501": self.etf_history, "MDCSTAT05001": self.etf_pdf,
            "MDCSTAT05901": self.etf_tracking, "MDCSTAT06001": self.etf_divergence,
            "MDCSTAT01501": self.stock_by_date, "MDCSTAT01901": self.stock_master,
            "MDCSTAT01701": self.stock_history, "MDCSTAT03501": self.fundamentals,
            "MDCSTAT03901": self.sectors, "MDCSTAT00301": self.index_history,
            "finder_stkisu": self.finder_stk, "finder_listdelisu": self.finder_delisted,
            "finder_secuprodisu": self.finder_secuprod,
            "MDCSTAT06701": self.etn_master, "MDCSTAT08501": self.elw_master,
            **{bld: functools.partial(fn, self) for bld, fn in krx_pykrx.HANDLERS.items()},
        }
        self.etn_elw = EtnElwBook(market)

    # ------------------------------------------------------------------ sessions
    def reset_sessions(self) -> None:
        with self._lock:
            self.sessions.clear()
            self.live.clear()

    def _new_sid(self) -> str:
        return secrets.token_hex(16).upper() + ".mdcweb" + str(secrets.randbelow(3) + 1)

    def _session(self, req: Request) -> dict | None:
        sid = req.cookies.get("JSESSIONID")
        with self._lock:
            s = self.sessions.get(sid) if sid else None
            if s is None or not s["valid"]:
                return None
            if time.monotonic() - s["last"] > self.cfg.krx_session_ttl:
                s["valid"] = False
                if s["account"] and self.live.get(s["account"]) == sid:
                    del self.live[s["account"]]
                return None
            s["last"] = time.monotonic()
            return s

    def _cookie_headers(self, sid: str) -> list[tuple[str, str]]:
        return [("Set-Cookie", f"JSESSIONID={sid}; Path=/; HttpOnly"),
                ("Set-Cookie", f"__smVisitorID={sid[:11]}; Path=/")]

    def _invalidate(self, sid: str | None) -> None:
        with self._lock:
            s = self.sessions.get(sid or "")
            if s:
                s["valid"] = False
                if s["account"] and self.live.get(s["account"]) == sid:
                    del self.live[s["account"]]

    # ------------------------------------------------------------------ entry point
    def handle(self, req: Request) -> Response:
        path = req.path
        if path == DATA_PATH:
            return self._data(req)
        info = RequestInfo("krx", path, is_data=False)
        dec = self.faults.decide(info)
        if dec.replace == "ban":
            return self._ban(dec.variant)
        self.log("krx", path, "", {k: v for k, v in req.form.items() if k != "pw"})
        if path == LOGIN_PAGE and req.method == "GET":
            sid = req.cookies.get("JSESSIONID")
            headers = []
            with self._lock:
                if not sid or sid not in self.sessions:
                    sid = self._new_sid()
                    self.sessions[sid] = {"account": None, "last": time.monotonic(), "valid": True}
                    headers = self._cookie_headers(sid)
            return text_response("<html><head><title>KRX Data Marketplace</title></head><body>login</body></html>",
                                 content_type=HTML, headers=headers)
        if path == LOGIN_JSP and req.method == "GET":
            return text_response('<html><body><form id="loginForm" action="/contents/MDC/COMS/client/'
                                 'MDCCOMS001D1.cmd"></form></body></html>', content_type=HTML)
        if path == LOGIN_POST and req.method == "POST":
            return self._login(req)
        if path == LOGOUT_POST and req.method == "POST":
            self._invalidate(req.cookies.get("JSESSIONID"))
            return self._json({"_error_code": "CD001", "_error_message": "로그아웃 되었습니다."})
        return text_response("<html><body><h1>404 Not Found</h1></body></html>", 404, HTML)

    def _json(self, obj, headers=None) -> Response:
        return Response(200, json_bytes(obj), [("Content-Type", HTML), *(headers or [])])

    def _login(self, req: Request) -> Response:
        f = req.form
        mbr, pw = f.get("mbrId", ""), f.get("pw", "")
        if not mbr or not pw or (mbr in self.cfg.krx_accounts and self.cfg.krx_accounts[mbr] != pw):
            return self._json({"_error_code": "CD002", "_error_message": "아이디 또는 비밀번호를 확인해 주세요."})
        if mbr in self.cfg.krx_pw_change_ids:
            return self._json({"_error_code": "CD010", "_error_message": "비밀번호를 변경해 주세요."})
        sid = req.cookies.get("JSESSIONID")
        headers: list = []
        now = time.monotonic()
        with self._lock:
            if not sid or sid not in self.sessions:
                sid = self._new_sid()
                self.sessions[sid] = {"account": None, "last": now, "valid": True}
                headers = self._cookie_headers(sid)
            other = self.live.get(mbr)
            if other and other != sid:
                o = self.sessions.get(other)
                alive = o and o["valid"] and now - o["last"] <= self.cfg.krx_session_ttl
                if alive and f.get("skipDup") != "Y":
                    return self._json({"_error_code": "CD011",
                                       "_error_message": "이미 로그인 중인 사용자입니다. 기존 접속을 종료하고 로그인하시겠습니까?"},
                                      headers)
                if o:
                    o["valid"] = False
            self.sessions[sid] = {"account": mbr, "last": now, "valid": True}
            self.live[mbr] = sid
        headers += [("Set-Cookie", "mdc.client_session=true; Path=/"),
                    ("Set-Cookie", f"successJoinId={quote(mbr)}; Path=/")]
        return self._json({"_error_code": "CD001", "_error_message": "정상 로그인 되었습니다."}, headers)

    def _ban(self, variant: str | None) -> Response:
        status = 403 if variant == "403" else 200
        return text_response(BAN_HTML, status, HTML)

    # ------------------------------------------------------------------ data dispatch
    def _data(self, req: Request) -> Response:
        form = req.form
        bld = form.get("bld", "").rsplit("/", 1)[-1]
        dates: tuple = ()
        if form.get("trdDd"):
            dates = (form["trdDd"], form["trdDd"])
        elif form.get("strtDd") or form.get("endDd"):
            dates = (form.get("strtDd", "00000000"), form.get("endDd", "99999999"))
        info = RequestInfo("krx", req.path, bld=bld, dates=dates, ticker=form.get("isuCd", ""))
        self.log("krx", req.path, bld, dict(form))
        if req.method != "POST":
            return text_response("", 405)
        dec = self.faults.decide(info)
        if dec.replace == "ban":
            return self._ban(dec.variant)
        if "data.krx.co.kr" not in req.headers.get("referer", ""):
            return Response(403, b"", [("Content-Type", HTML)])
        session = self._session(req)
        if session is None or session["account"] is None:
            return text_response("LOGOUT", 400)
        if dec.replace == "logout":
            self._invalidate(req.cookies.get("JSESSIONID"))
            if dec.variant == "html200":
                return text_response(LOGOUT_HTML, 200, HTML)
            return text_response("LOGOUT", 400)
        if dec.replace == "http_500":
            return text_response(ERROR_500_HTML, 500, HTML)
        if dec.replace == "http_403":
            return text_response(ERROR_403_HTML, 403, HTML)
        if dec.replace == "maintenance":
            return text_response(MAINTENANCE_HTML, 200, HTML)
        handler = self.handlers.get(bld)
        now = self.clock.now()
        if handler is None:
            payload = {"output": [], "CURRENT_DATETIME": fmt.krx_now(now), "_sim_error": f"unknown bld: {bld}"}
        else:
            key, rows = handler(form)
            if dec.corrupt:
                rows = corrupt_rows(rows, dec.corrupt, "krx")
            payload = {key: rows, "CURRENT_DATETIME": fmt.krx_now(now)}
        body = json_bytes(payload)
        if dec.truncate:
            body = body[: len(body) // 2]
        return Response(200, body, [("Content-Type", HTML), ("Cache-Control", "max-age=0, no-cache, no-store")],
                        delay=dec.delay)

    # ------------------------------------------------------------------ helpers
    def _date(self, form, key) -> dt.date | None:
        return fmt.parse_yyyymmdd(form.get(key, ""))

    def _range_ts(self, form, dataset: str = "prices") -> list[int]:
        """Published trading-day indexes in [strtDd, endDd], ascending."""
        d1, d2 = self._date(form, "strtDd"), self._date(form, "endDd")
        if d1 is None or d2 is None:
            return []
        latest = self.pub.latest_t(dataset)
        return [t for t in self.m.t_range(d1, d2) if t <= latest]

    def _etf_from_isin(self, form) -> int | None:
        code = form.get("isuCd", "")
        e = self.m.etfs.isin_to_e.get(code)
        return e if e is not None else self.m.etfs.code_to_e.get(code)

    # ------------------------------------------------------------------ ETF endpoints
    def etf_master(self, form):
        m, E = self.m, self.m.etfs
        t = max(0, self.pub.today_t())
        t_units = max(0, self.pub.latest_t())
        rows = []
        for e in np.nonzero(E.listed_mask(t))[0]:
            spec = m.index_specs[E.index[e]]
            rows.append({
                "ISU_CD": E.isin[e], "ISU_SRT_CD": E.code[e], "ISU_NM": E.full_name[e], "ISU_ABBRV": E.abbrv[e],
                "ISU_ENG_NM": E.eng_name[e], "LIST_DD": kdate(E.list_date[e]), "ETF_OBJ_IDX_NM": spec.name,
                "IDX_CALC_INST_NM1": spec.provider, "IDX_CALC_INST_NM2": MULTIPLE_NM[int(E.multiple[e])],
                "ETF_REPLICA_METHD_TP_CD": E.replica[e], "IDX_MKT_CLSS_NM": spec.mkt_class,
                "IDX_ASST_CLSS_NM": spec.asset_class, "LIST_SHRS": ci(E.units(e, max(t_units, int(E.list_t[e])))),
                "COM_ABBRV": E.manager[e], "CU_QTY": ci(E.cu[e]), "ETF_TOT_FEE": f"{E.fee[e]:.6f}",
                "TAX_TP_CD": E.tax[e],
            })
        return "output", rows

    def etf_by_date(self, form):
        m, E = self.m, self.m.etfs
        d = self._date(form, "trdDd")
        state = self.pub.state(d) if d else NONE
        if state == NONE:
            return "output", []
        t = m.last_t_on_or_before(d)
        es = np.nonzero(E.listed_mask(t))[0] if t >= 0 else np.zeros(0, dtype=np.int64)
        if state == CLOSED:
            units = E.units(es, t)
            return "output", [{
                "ISU_SRT_CD": E.code[e], "ISU_CD": E.isin[e], "SECUGRP_ID": "EF", "ISU_ABBRV": E.abbrv[e],
                "TDD_CLSPRC": DASH, "CMPPREVDD_PRC": DASH, "FLUC_TP_CD": "0", "FLUC_RT": DASH, "NAV": DASH,
                "TDD_OPNPRC": DASH, "TDD_HGPRC": DASH, "TDD_LWPRC": DASH, "ACC_TRDVOL": DASH, "ACC_TRDVAL": DASH,
                "MKTCAP": DASH, "INVSTASST_NETASST_TOTAMT": DASH, "LIST_SHRS": ci(u),
                "IDX_IND_NM": m.index_specs[E.index[e]].name, "OBJ_STKPRC_IDX": DASH, "CMPPREVDD_IDX": DASH,
                "FLUC_TP_CD1": DASH, "FLUC_RT1": DASH,
            } for e, u in zip(es.tolist(), units.tolist(), strict=True)]
        aum_ok = self.pub.published(d, "aum")
        b = E.bars(es, t)
        k = E.index[es]
        lvl = m.index_level[k, t]
        lvl_prev = m.index_level[k, max(t - 1, 0)]
        rows = []
        for j, e in enumerate(es.tolist()):
            close, prev = int(b["close"][j]), float(b["prev"][j])
            chg = int(round(close - prev))
            nav = float(b["nav"][j])
            units = int(b["units"][j])
            ichg = float(lvl[j] - lvl_prev[j])
            rows.append({
                "ISU_SRT_CD": E.code[e], "ISU_CD": E.isin[e], "SECUGRP_ID": "EF", "ISU_ABBRV": E.abbrv[e],
                "TDD_CLSPRC": f"{close:,}", "CMPPREVDD_PRC": f"{chg:,}", "FLUC_TP_CD": fmt.fluc_tp(chg),
                "FLUC_RT": _rate(chg, prev), "NAV": f"{nav:,.2f}",
                "TDD_OPNPRC": f"{int(b['open'][j]):,}", "TDD_HGPRC": f"{int(b['high'][j]):,}",
                "TDD_LWPRC": f"{int(b['low'][j]):,}", "ACC_TRDVOL": f"{int(b['volume'][j]):,}",
                "ACC_TRDVAL": f"{int(b['value'][j]):,}", "MKTCAP": f"{close * units:,}",
                "INVSTASST_NETASST_TOTAMT": f"{round(nav * units):,}" if aum_ok else "0",
                "LIST_SHRS": f"{units:,}", "IDX_IND_NM": m.index_specs[k[j]].name,
                "OBJ_STKPRC_IDX": f"{lvl[j]:,.2f}", "CMPPREVDD_IDX": f"{ichg:,.2f}",
                "FLUC_TP_CD1": fmt.fluc_tp(round(ichg, 2)), "FLUC_RT1": _rate(ichg, lvl_prev[j]),
            })
        return "output", rows

    def etf_history(self, form):
        m, E = self.m, self.m.etfs
        e = self._etf_from_isin(form)
        if e is None:
            return "output", []
        ts = [t for t in self._range_ts(form) if E.list_t[e] <= t < E.delist_t[e]]
        if not ts:
            return "output", []
        ts_arr = np.array(ts)
        b = E.bars(e, ts_arr)
        k = int(E.index[e])
        rows = []
        for j in range(len(ts) - 1, -1, -1):
            t = ts[j]
            close, prev = int(b["close"][j]), float(b["prev"][j])
            chg = int(round(close - prev))
            nav, units = float(b["nav"][j]), int(b["units"][j])
            lvl, lvl_prev = m.index_level[k, t], m.index_level[k, max(t - 1, 0)]
            ichg = float(lvl - lvl_prev)
            rows.append({
                "TRD_DD": kdate(m.dates[t]), "TDD_CLSPRC": f"{close:,}", "FLUC_TP_CD": fmt.fluc_tp(chg),
                "CMPPREVDD_PRC": f"{chg:,}", "FLUC_RT": _rate(chg, prev), "LST_NAV": f"{nav:,.2f}",
                "TDD_OPNPRC": f"{int(b['open'][j]):,}", "TDD_HGPRC": f"{int(b['high'][j]):,}",
                "TDD_LWPRC": f"{int(b['low'][j]):,}", "ACC_TRDVOL": f"{int(b['volume'][j]):,}",
                "ACC_TRDVAL": f"{int(b['value'][j]):,}", "MKTCAP": f"{close * units:,}",
                "INVSTASST_NETASST_TOTAMT": f"{round(nav * units):,}" if self.pub.published(m.dates[t], "aum") else "0",
                "LIST_SHRS": f"{units:,}", "IDX_IND_NM": m.index_specs[k].name, "OBJ_STKPRC_IDX": f"{lvl:,.2f}",
                "FLUC_TP_CD1": fmt.fluc_tp(round(ichg, 2)), "CMPPREVDD_IDX": f"{ichg:,.2f}",
                "IDX_FLUC_RT": _rate(ichg, lvl_prev),
            })
        return "output", rows

    def etf_pdf(self, form):
        E = self.m.etfs
        d = self._date(form, "trdDd")
        e = self._etf_from_isin(form)
        if d is None or e is None or self.pub.state(d, "pdf") != "open":
            return "output", []
        t = self.m.t_of[d]
        if not (E.list_t[e] <= t < E.delist_t[e]):
            return "output", []
        rows = []
        for ln in E.holdings(e, t):
            rows.append({
                "COMPST_ISU_CD": ln.code, "COMPST_ISU_CD2": ln.code2, "MKT_ID": ln.mkt_id, "SECUGRP_ID": ln.secugrp,
                "COMPST_ISU_NM": ln.name,
                "COMPST_ISU_CU1_SHRS": DASH if ln.qty is None else f"{ln.qty:,.2f}",
                "VALU_AMT": DASH if ln.valu_amt is None else f"{round(ln.valu_amt):,}",
                "COMPST_AMT": DASH if ln.compst_amt is None else f"{round(ln.compst_amt):,}",
                "COMPST_RTO": DASH if ln.weight is None else f"{ln.weight:.2f}",
            })
        return "output", rows

    def etf_tracking(self, form):
        m, E = self.m, self.m.etfs
        e = self._etf_from_isin(form)
        if e is None:
            return "output", []
        ts = [t for t in self._range_ts(form) if E.list_t[e] <= t < E.delist_t[e]]
        k, mult = int(E.index[e]), int(E.multiple[e])
        te_cache: dict[tuple, float] = {}
        rows = []
        for t in reversed(ts):
            d = m.dates[t]
            key = (d.year, d.month)
            if key not in te_cache:
                te_cache[key] = E.tracking_error(e, t)
            nav = float(E.nav[e, t])
            pnav = float(E.nav[e, t - 1]) if t > E.list_t[e] else nav
            lvl, plvl = m.index_level[k, t], m.index_level[k, max(t - 1, 0)]
            rows.append({
                "TRD_DD": kdate(d), "LST_NAV": f"{nav:,.2f}", "NAV_CHG_RT": _rate(nav - pnav, pnav),
                "OBJ_STKPRC_IDX": f"{lvl:,.2f}", "IDX_CHG_RTO": _rate(lvl - plvl, plvl),
                "TRACE_YD_MULT": f"{mult:.2f}", "TRACE_ERR_RT": f"{te_cache[key]:.2f}",
            })
        return "output", rows

    def etf_divergence(self, form):
        m, E = self.m, self.m.etfs
        e = self._etf_from_isin(form)
        if e is None:
            return "output", []
        ts = [t for t in self._range_ts(form) if E.list_t[e] <= t < E.delist_t[e]]
        if not ts:
            return "output", []
        b = E.bars(e, np.array(ts))
        rows = []
        for j, t in enumerate(ts):  # oldest first (see module docstring)
            close, nav = int(b["close"][j]), float(b["nav"][j])
            chg = int(round(close - float(b["prev"][j])))
            rows.append({"TRD_DD": kdate(m.dates[t]), "FLUC_TP_CD": fmt.fluc_tp(chg), "CLSPRC": f"{close:,}",
                         "LST_NAV": f"{nav:,.2f}", "DIVRG_RT": f"{(close - nav) / nav * 100:.2f}"})
        return "output", rows

    # ------------------------------------------------------------------ stock endpoints
    def _stock_sel(self, form, t: int) -> np.ndarray:
        mkt = form.get("mktId", "ALL") or "ALL"
        sel = self.m.listed_mask(t)
        if mkt in ("STK", "KSQ"):
            sel &= self.m.stocks.market == mkt
        elif mkt != "ALL":
            sel &= False  # KNX (KONEX) and unknown markets: no listings in the simulator
        return np.nonzero(sel)[0]

    def _stock_day(self, form):
        """(state, t, selected stock indexes, bars or None) for a per-date stock endpoint."""
        d = self._date(form, "trdDd")
        state = self.pub.state(d) if d else NONE
        if state == NONE:
            return state, -1, None, None
        t = self.m.last_t_on_or_before(d)
        if t < 0:
            return NONE, -1, None, None
        idx = self._stock_sel(form, t)
        if state == CLOSED:
            return state, t, idx, None
        return state, t, idx, self.m.stock_bars(idx, t)

    def stock_by_date(self, form):
        st = self.m.stocks
        state, t, idx, b = self._stock_day(form)
        if state == NONE:
            return "OutBlock_1", []
        if state == CLOSED:
            shares = self.m.shares_at(t, idx)
            return "OutBlock_1", [{
                "ISU_SRT_CD": st.code[i], "ISU_CD": st.isin[i], "ISU_ABBRV": st.name[i], "MKT_NM": MKT_NM[st.market[i]],
                "SECT_TP_NM": st.sect_tp[i], "TDD_CLSPRC": DASH, "FLUC_TP_CD": "3", "CMPPREVDD_PRC": DASH,
                "FLUC_RT": DASH, "TDD_OPNPRC": DASH, "TDD_HGPRC": DASH, "TDD_LWPRC": DASH, "ACC_TRDVOL": DASH,
                "ACC_TRDVAL": DASH, "MKTCAP": DASH, "LIST_SHRS": f"{s:,}", "MKT_ID": str(st.market[i]),
            } for i, s in zip(idx.tolist(), shares.tolist(), strict=True)]
        close, prev = b["close"].tolist(), np.round(b["prev"]).astype(np.int64).tolist()
        o, h, lo = b["open"].tolist(), b["high"].tolist(), b["low"].tolist()
        vol, val, shares = b["volume"].tolist(), b["value"].tolist(), b["shares"].tolist()
        up, dn = b["upper"].tolist(), b["lower"].tolist()
        rows = []
        for j, i in enumerate(idx.tolist()):
            c = close[j]
            chg = c - prev[j]
            mk = str(st.market[i])
            rows.append({
                "ISU_SRT_CD": st.code[i], "ISU_CD": st.isin[i], "ISU_ABBRV": st.name[i], "MKT_NM": MKT_NM[mk],
                "SECT_TP_NM": st.sect_tp[i], "TDD_CLSPRC": f"{c:,}", "FLUC_TP_CD": _s_fluc(chg, c, up[j], dn[j]),
                "CMPPREVDD_PRC": f"{chg:,}", "FLUC_RT": _rate(chg, prev[j]), "TDD_OPNPRC": f"{o[j]:,}",
                "TDD_HGPRC": f"{h[j]:,}", "TDD_LWPRC": f"{lo[j]:,}", "ACC_TRDVOL": f"{vol[j]:,}",
                "ACC_TRDVAL": f"{val[j]:,}", "MKTCAP": f"{c * shares[j]:,}", "LIST_SHRS": f"{shares[j]:,}",
                "MKT_ID": mk,
            })
        return "OutBlock_1", rows

    def stock_master(self, form):
        st = self.m.stocks
        t = max(0, self.pub.today_t())
        idx = self._stock_sel(form, t)
        shares = self.m.shares_at(t, idx)
        par = st.par0[idx] / self.m.factor(idx, t)
        return "OutBlock_1", [{
            "ISU_CD": st.isin[i], "ISU_SRT_CD": st.code[i],
            "ISU_NM": st.name[i][:-1] + "1우선주" if st.preferred[i] else st.name[i] + "보통주",
            "ISU_ABBRV": st.name[i], "ISU_ENG_NM": st.eng[i], "LIST_DD": kdate(st.list_date[i]),
            "MKT_TP_NM": MKT_NM[st.market[i]], "SECUGRP_NM": "주권", "SECT_TP_NM": st.sect_tp[i],
            "KIND_STKCERT_TP_NM": "구형우선주" if st.preferred[i] else "보통주",
            "PARVAL": f"{round(p):,}", "LIST_SHRS": f"{s:,}",
        } for i, s, p in zip(idx.tolist(), shares.tolist(), par.tolist(), strict=True)]

    def stock_history(self, form):
        m, st = self.m, self.m.stocks
        i = m.isin_to_i.get(form.get("isuCd", ""), m.code_to_i.get(form.get("isuCd", "")))
        if i is None:
            return "output", []
        ts = np.array([t for t in self._range_ts(form) if st.list_t[i] <= t < st.delist_t[i]], dtype=np.int64)
        if len(ts) == 0:
            return "output", []
        b = m.stock_bars(i, ts)
        adj = np.ones(len(ts))
        if form.get("adjStkPrc", "2") == "2":
            adj = m.factor(i, ts) / m.factor(i, max(self.pub.latest_t(), int(ts[-1])))
        rows = []
        for j in range(len(ts) - 1, -1, -1):
            a = adj[j]
            c = round(b["close"][j] * a)
            prev = round(b["prev"][j] * a)
            chg = c - prev
            rows.append({
                "TRD_DD": kdate(m.dates[ts[j]]), "TDD_CLSPRC": f"{c:,}", "FLUC_TP_CD": fmt.fluc_tp(chg),
                "CMPPREVDD_PRC": f"{chg:,}", "FLUC_RT": _rate(chg, prev), "TDD_OPNPRC": f"{round(b['open'][j] * a):,}",
                "TDD_HGPRC": f"{round(b['high'][j] * a):,}", "TDD_LWPRC": f"{round(b['low'][j] * a):,}",
                "ACC_TRDVOL": f"{round(b['volume'][j] / a):,}", "ACC_TRDVAL": f"{int(b['value'][j]):,}",
                "MKTCAP": f"{int(b['close'][j]) * int(b['shares'][j]):,}", "LIST_SHRS": f"{int(b['shares'][j]):,}",
            })
        return "output", rows

    def fundamentals(self, form):
        st = self.m.stocks
        state, t, idx, b = self._stock_day(form)
        if state == NONE:
            return "output", []
        if state == CLOSED:
            return "output", [{
                "ISU_SRT_CD": st.code[i], "ISU_CD": st.isin[i], "MKT_ID": str(st.market[i]), "ISU_ABBRV": st.name[i],
                "ISU_ABBRV_STR": st.name[i], "TDD_CLSPRC": DASH, "FLUC_TP_CD": "3", "CMPPREVDD_PRC": DASH,
                "FLUC_RT": DASH, "EPS": DASH, "PER": DASH, "FWD_EPS": DASH, "FWD_PER": DASH, "BPS": DASH,
                "PBR": DASH, "DPS": DASH, "DVD_YLD": DASH,
            } for i in idx.tolist()]
        f = self.m.fundamentals(t, idx)
        rows = []
        for j, i in enumerate(idx.tolist()):
            c = int(b["close"][j])
            prev = round(b["prev"][j])
            chg = c - prev
            eps, bps, dps = int(f["eps"][j]), int(f["bps"][j]), int(f["dps"][j])
            pref = bool(st.preferred[i])
            rows.append({
                "ISU_SRT_CD": st.code[i], "ISU_CD": st.isin[i], "MKT_ID": str(st.market[i]), "ISU_ABBRV": st.name[i],
                "ISU_ABBRV_STR": st.name[i], "TDD_CLSPRC": f"{c:,}", "FLUC_TP_CD": fmt.fluc_tp(chg),
                "CMPPREVDD_PRC": f"{chg:,}", "FLUC_RT": _rate(chg, prev),
                "EPS": DASH if pref else f"{eps:,}", "PER": f"{c / eps:.2f}" if eps > 0 and not pref else DASH,
                "FWD_EPS": DASH, "FWD_PER": DASH,
                "BPS": DASH if pref else f"{bps:,}", "PBR": f"{c / bps:.2f}" if bps > 0 and not pref else DASH,
                "DPS": f"{dps:,}", "DVD_YLD": f"{dps / c * 100:.2f}",
            })
        return "output", rows

    def sectors(self, form):
        st = self.m.stocks
        state, t, idx, b = self._stock_day(form)
        if state == NONE:
            return "block1", []
        if state == CLOSED:
            return "block1", [{
                "ISU_SRT_CD": st.code[i], "ISU_ABBRV": st.name[i], "IDX_IND_NM": st.sector[i], "TDD_CLSPRC": DASH,
                "CMPPREVDD_PRC": DASH, "FLUC_RT": DASH, "MKTCAP": DASH, "FLUC_TP_CD": "3",
            } for i in idx.tolist()]
        rows = []
        for j, i in enumerate(idx.tolist()):
            c = int(b["close"][j])
            prev = round(b["prev"][j])
            chg = c - prev
            rows.append({
                "ISU_SRT_CD": st.code[i], "ISU_ABBRV": st.name[i], "IDX_IND_NM": st.sector[i], "TDD_CLSPRC": f"{c:,}",
                "CMPPREVDD_PRC": f"{chg:,}", "FLUC_RT": _rate(chg, prev), "MKTCAP": f"{c * int(b['shares'][j]):,}",
                "FLUC_TP_CD": fmt.fluc_tp(chg),
            })
        return "block1", rows

    def index_history(self, form):
        m = self.m
        ind1 = form.get("indIdx", "1")
        ind2 = form.get("indIdx2", "001")
        k = m.index_by_code.get((ind1, ind2.zfill(3)))
        if k is None:
            return "output", []
        ts = self._range_ts(form)
        if not ts:
            return "output", []
        b = m.index_bar(k, np.array(ts))
        walk = m.index_specs[k].kind == "walk"
        rows = []
        for j in range(len(ts) - 1, -1, -1):
            c, p = float(b["close"][j]), float(b["prev"][j])
            chg = round(c, 2) - round(p, 2)
            rows.append({
                "TRD_DD": kdate(m.dates[ts[j]]), "CLSPRC_IDX": cf(c), "FLUC_TP_CD": fmt.fluc_tp(round(chg, 2)),
                "PRV_DD_CMPR": cf(chg), "UPDN_RATE": _rate(chg, p), "OPNPRC_IDX": cf(b["open"][j]),
                "HGPRC_IDX": cf(b["high"][j]), "LWPRC_IDX": cf(b["low"][j]),
                "ACC_TRDVOL": DASH if walk else ci(b["volume"][j]), "ACC_TRDVAL": DASH if walk else ci(b["value"][j]),
                "MKTCAP": DASH if walk else ci(b["cap"][j]),
            })
        return "output", rows

    # ------------------------------------------------------------------ ETN / ELW masters (etn_elw.py)
    def etn_master(self, form):
        return "output", self.etn_elw.etn_rows(max(0, self.pub.today_t()))

    def elw_master(self, form):
        return "output", self.etn_elw.elw_rows(max(0, self.pub.today_t()))

    # ------------------------------------------------------------------ finders
    def finder_stk(self, form):
        st = self.m.stocks
        idx = self._stock_sel({"mktId": form.get("mktsel", "ALL") or "ALL"}, max(0, self.pub.today_t()))
        text = form.get("searchText", "")
        rows = []
        for n, i in enumerate(idx.tolist()):
            if text and text not in st.name[i] and text not in st.code[i]:
                continue
            mk = str(st.market[i])
            rows.append({"full_code": st.isin[i], "short_code": st.code[i], "codeName": st.name[i],
                         "marketCode": mk, "marketName": MARKET_NAME[mk][0], "marketEngName": MARKET_NAME[mk][1],
                         "ord1": "", "ord2": str(n + 1)})
        return "block1", rows

    def finder_delisted(self, form):
        st = self.m.stocks
        today = self.clock.now().date()
        mkt = form.get("mktsel", "ALL") or "ALL"
        text = form.get("searchText", "")
        rows = []
        for i in range(len(st)):
            dd = st.delist_date[i]
            if dd is None or dd > today or (mkt != "ALL" and st.market[i] != mkt):
                continue
            if text and text not in st.name[i] and text not in st.code[i]:
                continue
            mk = str(st.market[i])
            rows.append({"full_code": st.isin[i], "short_code": st.code[i], "codeName": st.name[i],
                         "marketCode": mk, "marketName": MARKET_NAME[mk][0], "ord1": "", "ord2": str(len(rows) + 1)})
        return "block1", rows

    def finder_secuprod(self, form):
        E = self.m.etfs
        sel = form.get("mktsel", "ALL") or "ALL"
        if sel not in ("ETF", "ALL"):
            return "block1", []
        t = max(0, self.pub.today_t())
        text = form.get("searchText", "")
        return "block1", [{"full_code": E.isin[e], "short_code": E.code[e], "codeName": E.abbrv[e]}
                          for e in np.nonzero(E.listed_mask(t))[0].tolist()
                          if not text or text in E.abbrv[e] or text in E.code[e]]
