"""KIS overseas quotations and master files on the simulator (reference kis_overseas.md §1).

Hooked into `KisService` (kis.py): the same token, headers, rate window and faults as the domestic
TRs; the master files need no token (they come from KIS's download host).

    GET /uapi/overseas-price/v1/quotations/dailyprice               HHDFS76240000
        AUTH, EXCD, SYMB, GUBN (0 day / 1 week / 2 month), BYMD (end date, blank = today),
        MODP (0 raw, 1 adjusted), KEYB. <= 100 rows newest first ending at BYMD; response header
        tr_cont "M" when older rows remain (a request with header tr_cont "N" and KEYB=<oldest
        date returned> continues below it), else "D". output1 {rsym, zdiv, nrec}; output2 rows
        xymd, clos, sign, diff, rate, open, high, low, tvol, tamt, pbid, vbid, pask, vask.
        Unknown symbol: rt_cd "0", nrec "" and no rows (python-kis reads that as "not found").
        Unknown EXCD: HTTP 200 rt_cd "1" msg_cd "APBK0919" (simulator choice; the real code is
        UNCONFIRMED).
    GET /uapi/overseas-price/v1/quotations/inquire-daily-chartprice  FHKST03030100
        FID_COND_MRKT_DIV_CODE N (index) / X (FX), FID_INPUT_ISCD, FID_INPUT_DATE_1/_2,
        FID_PERIOD_DIV_CODE D. <= 100 rows newest first inside the window, tr_cont "M" if more.
    GET /uapi/overseas-price/v1/quotations/price-detail              HHDFS76200200
        AUTH, EXCD, SYMB -> output {last, base, open, high, low, tvol, tamt, tomv (local currency),
        shar, perx, pbrx, epsx, bpsx, curr, zdiv, e_icod (industry), e_parp, ...}.
    GET /common/master/{nas,nys,ams,shs,szs,hks,tse,hnx,hsx}mst.cod.zip
        zip of {VAL}MST.COD: cp949, tab-separated, no header, 24 columns (ncod exid excd exnm symb
        rsym knam enam stis curr zdiv ztyp base bnit anit mstm metm isdr drcd icod sjong ttyp etyp
        ttyp_sb), the symbols listed on the simulated today.
    GET /common/master/frgn_code.mst.zip
        zip of frgn_code.mst, KIS's index/FX master (the FHKST03030100 symbols): cp949, FIXED
        WIDTH in bytes (cls_code 1, symb 10, hts_eng_isnm 39, hts_kor_isnm 40, bstp_cls_code 4,
        dow_30_yn 1, nasdaq_100_yn 1, snp_500_yn 1, exch_cls_code 4, ntnl_cls_code 3 = 104 bytes,
        LF ends a row), rows of overseas_market.FRGN_CODES. Its W/P (division N) and X rows are
        exactly the series the chart serves. Faults: the download consults the fault rules only
        when one names its path (`path` "frgn_code"; a generic rule alone never hits it): `corrupt` kinds
        on the rows (`ticker` = symb picks the row): `missing_field` drops the field (a short
        row), `zero` / `dash_price` / `constant` rewrite it (e.g. an English name a resolver no
        longer finds, an unknown cls_code), `duplicate_ticker` repeats the row, `empty` serves
        no rows; `truncated` cuts the zip; `http_500` answers an HTML 500 page.

Publication: a bar of local date D is served once final: US at D+1 12:00 KST (KIS: "장 종료 후
오후 12시경"), other exchanges one hour after their local close. `late` faults (dataset
"overseas") delay it further.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import zipfile
import zlib
from zoneinfo import ZoneInfo

import numpy as np

from .clock import KST
from .faults import RequestInfo, corrupt_rows
from .fmt import parse_yyyymmdd, sdate
from .overseas_market import (
    EXCHANGES,
    FRGN_CODES,
    MASTER_NAMES,
    SERIES,
    OverseasMarket,
    frgn_line,
    frgn_record,
    series_bars,
)
from .wire import Response

PATH_DAILY = "/uapi/overseas-price/v1/quotations/dailyprice"
PATH_CHART = "/uapi/overseas-price/v1/quotations/inquire-daily-chartprice"
PATH_DETAIL = "/uapi/overseas-price/v1/quotations/price-detail"
PATHS = {PATH_DAILY: "HHDFS76240000", PATH_CHART: "FHKST03030100", PATH_DETAIL: "HHDFS76200200"}
MASTER_PREFIX = "/common/master/"
FRGN_FILE = "frgn_code.mst"
OK = {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다."}
BAD_EXCD = {"rt_cd": "1", "msg_cd": "APBK0919", "msg1": "거래소코드(EXCD)를 확인하세요."}
ALIASES = {"BAQ": "NAS", "BAY": "NYS", "BAA": "AMS"}   # US daytime codes quote the same symbols
CLOSE_LOCAL = {"US": dt.time(16, 0), "CN": dt.time(15, 0), "HK": dt.time(16, 10), "JP": dt.time(15, 30),
               "VN": dt.time(15, 0)}
ROWS = 100


def _fmt(v: float, decimals: int) -> str:
    return f"{float(v):.{decimals}f}"


def _sign(diff: float) -> str:
    return "2" if diff > 0 else "5" if diff < 0 else "3"


@functools.lru_cache(maxsize=2)
def _market(seed: int, start: dt.date, end: dt.date, today: dt.date) -> OverseasMarket:
    """One overseas market per simulated KR market (the real and virtual hosts share it)."""
    return OverseasMarket(seed, start, end, today)


class OverseasBook:
    """Answers for the overseas paths; the market is built on first use (calendars cost seconds)."""

    def __init__(self, market, clock, faults, source: str):
        self.kr, self.clock, self.faults, self.source = market, clock, faults, source
        self._m: OverseasMarket | None = None

    @property
    def m(self) -> OverseasMarket:
        if self._m is None:
            kr = self.kr
            self._m = _market(kr.seed, kr.dates[0], kr.dates[-1], kr.end_date)
        return self._m

    # ------------------------------------------------------------------ publication
    def final_at(self, region: str, tz: str, day: dt.date) -> dt.datetime:
        if region == "US":
            return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(12, 0), tzinfo=KST)
        close = dt.datetime.combine(day, CLOSE_LOCAL[region], tzinfo=ZoneInfo(tz))
        return close + dt.timedelta(hours=1)

    def published(self, region: str, tz: str, day: dt.date) -> bool:
        late = self.faults.late_minutes(self.source, "overseas", day.strftime("%Y%m%d"))
        return self.clock.now() >= self.final_at(region, tz, day) + dt.timedelta(minutes=late)

    # ------------------------------------------------------------------ fault context
    def request_info(self, path: str, tr_id: str, q: dict) -> RequestInfo:
        """Dates a request covers, so `date` fault rules hit the page holding that day."""
        if path == PATH_CHART:
            d1, d2 = q.get("fid_input_date_1", ""), q.get("fid_input_date_2", "")
            return RequestInfo(self.source, path, tr_id=tr_id, dates=(d1 or "00000000", d2 or "99999999"),
                               ticker=q.get("fid_input_iscd", ""))
        symb = q.get("symb", "")
        dates: tuple = ()
        if path == PATH_DAILY:
            rows = self._daily_dates(q)
            if rows:
                dates = (sdate(rows[-1]), sdate(rows[0]))
        return RequestInfo(self.source, path, tr_id=tr_id, dates=dates, ticker=symb)

    # ------------------------------------------------------------------ dispatch
    def answer(self, path: str, q: dict) -> tuple[dict, str]:
        excd = ALIASES.get(q.get("excd", "").upper(), q.get("excd", "").upper())
        if path == PATH_CHART:
            return self._chart(q)
        if excd not in EXCHANGES:
            return dict(BAD_EXCD), ""
        if path == PATH_DETAIL:
            return dict(OK, output=self._detail(excd, q.get("symb", ""))), ""
        return self._daily(excd, q)

    def master(self, path: str) -> Response:
        name = path[len(MASTER_PREFIX):]
        if name == f"{FRGN_FILE}.zip":
            return self._frgn_master(path)
        val = name.removesuffix("mst.cod.zip")
        if not name.endswith("mst.cod.zip") or val not in MASTER_NAMES:
            return Response(404, b"<html><body>404 Not Found</body></html>", [("Content-Type", "text/html")])
        excd = MASTER_NAMES[val]
        ex = EXCHANGES[excd]
        lines = []
        for s in self.m.listed(excd, self.clock.now().date()):
            # base price: a cheap stand-in (quoting every symbol's bars would cost ~GBs for the US masters)
            base = _fmt(ex.base_price * (0.5 + (zlib.crc32(s.symb.encode()) % 1000) / 500), ex.zdiv)
            cols = [ex.ncod, ex.exid, excd, ex.name, s.symb, f"D{excd}{s.symb}", s.knam, s.enam, s.stis,
                    ex.currency, str(ex.zdiv), "0", base, "1" if ex.region != "VN" else "100", "1",
                    "0930" if ex.region == "US" else "0900", "1600" if ex.region == "US" else "1500",
                    "N", "", s.icod, "0", "1", "" if s.stis == "2" else "001", ""]
            lines.append("\t".join(cols))
        data = ("\n".join(lines) + "\n").encode("cp949")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{val.upper()}MST.COD", data)
        return Response(200, buf.getvalue(), [("Content-Type", "application/zip")])

    def _frgn_master(self, path: str) -> Response:
        """frgn_code.mst.zip; only fault rules naming this path (`path` "frgn_code") apply."""
        rules = (self.faults.spec or {}).get("rules") or []
        dec = None
        if any(r.get("path") and r["path"] in path for r in rules):
            dec = self.faults.decide(RequestInfo(self.source, path, tr_id="", ticker="", is_data=True))
        if dec is not None and dec.replace == "http_500":
            return Response(500, b"<html><body>500 Internal Server Error</body></html>",
                            [("Content-Type", "text/html")])
        records = [dict(frgn_record(c), stck_shrn_iscd=c.symb) for c in FRGN_CODES]
        if dec is not None and dec.corrupt:
            records = corrupt_rows(records, dec.corrupt, self.source)
        data = b"".join(frgn_line({k: v for k, v in r.items() if k != "stck_shrn_iscd"}) + b"\n" for r in records)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(FRGN_FILE, data)
        body = buf.getvalue()
        if dec is not None and dec.truncate:
            body = body[: len(body) // 2]
        return Response(200, body, [("Content-Type", "application/zip")])

    # ------------------------------------------------------------------ dailyprice
    def _visible(self, excd: str, symb: str) -> tuple[object, int]:
        """The symbol's bars and how many of them are published now (a prefix of the dates)."""
        ex = EXCHANGES[excd]
        b = self.m.bars(excd, symb)
        n = len(b.dates)
        while n and not self.published(ex.region, ex.tz, b.dates[n - 1]):
            n -= 1
        return b, n

    def _daily_dates(self, q: dict) -> list[dt.date]:
        excd = ALIASES.get(q.get("excd", "").upper(), q.get("excd", "").upper())
        if excd not in EXCHANGES or self.m.symbol(excd, q.get("symb", "")) is None:
            return []
        b, n = self._visible(excd, q["symb"])
        end = self._end(q)
        idx = [j for j in range(n) if b.dates[j] <= end]
        return [b.dates[j] for j in idx[::-1][:ROWS]]

    def _end(self, q: dict) -> dt.date:
        end = parse_yyyymmdd(q.get("bymd", "")) or self.clock.now().astimezone(KST).date()
        if q.get("_tr_cont", "").upper() == "N" and parse_yyyymmdd(q.get("keyb", "")):
            end = parse_yyyymmdd(q["keyb"]) - dt.timedelta(days=1)
        return end

    def _daily(self, excd: str, q: dict) -> tuple[dict, str]:
        ex, symb = EXCHANGES[excd], q.get("symb", "")
        if self.m.symbol(excd, symb) is None:
            return dict(OK, output1={"rsym": "", "zdiv": "", "nrec": ""}, output2=[]), "D"
        b, n = self._visible(excd, symb)
        adjusted = q.get("modp", "0") == "1"
        end = self._end(q)
        upto = [j for j in range(n) if b.dates[j] <= end]
        gubn = q.get("gubn", "0")
        groups = self._groups(b.dates, upto, gubn)
        page = groups[::-1][:ROWS]
        a = b.factor / b.factor[n - 1] if (adjusted and n) else np.ones(len(b.dates))
        z = ex.zdiv
        rows = []
        for g in page:
            j0, j1 = g[0], g[-1]
            c = b.close[j1] * a[j1]
            prev = b.close[j0 - 1] * a[j0 - 1] if j0 > 0 else b.open[j0] * a[j0]
            o = b.open[j0] * a[j0]
            h = max(b.high[j] * a[j] for j in g)
            lo = min(b.low[j] * a[j] for j in g)
            vol = int(round(sum(b.volume[j] / a[j] for j in g)))
            tamt = int(round(sum(b.close[j] * b.volume[j] for j in g)))
            diff = round(c, z) - round(prev, z)
            rows.append({"xymd": sdate(b.dates[j1]), "clos": _fmt(c, z), "sign": _sign(diff),
                         "diff": _fmt(abs(diff), z), "rate": _fmt(diff / prev * 100 if prev else 0, 2),
                         "open": _fmt(o, z), "high": _fmt(h, z), "low": _fmt(lo, z), "tvol": str(vol),
                         "tamt": str(tamt), "pbid": _fmt(c, z), "vbid": "0", "pask": _fmt(c, z), "vask": "0"})
        more = len(groups) > ROWS
        o1 = {"rsym": f"D{excd}{symb}", "zdiv": str(z), "nrec": str(len(rows))}
        return dict(OK, output1=o1, output2=rows), "M" if more else "D"

    def _groups(self, dates: list[dt.date], idx: list[int], gubn: str) -> list[list[int]]:
        if gubn not in ("1", "2"):
            return [[j] for j in idx]
        key = (lambda d: tuple(d.isocalendar())[:2]) if gubn == "1" else (lambda d: (d.year, d.month))
        out: list[list[int]] = []
        last = None
        for j in idx:
            k = key(dates[j])
            if k != last:
                out.append([])
                last = k
            out[-1].append(j)
        return out

    # ------------------------------------------------------------------ index / FX chart
    def _chart(self, q: dict) -> tuple[dict, str]:
        kind = q.get("fid_cond_mrkt_div_code", "").upper()
        code = q.get("fid_input_iscd", "")
        s = SERIES.get(code)
        if s is None or s.kind != kind:
            return dict(OK, output1={"ovrs_nmix_prpr": "", "stck_shrn_iscd": code, "hts_kor_isnm": ""},
                        output2=[]), "D"
        df = series_bars(self.m.seed, code, self.m.start, self.m.end)
        region_tz = {"XNYS": ("US", "America/New_York"), "XTKS": ("JP", "Asia/Tokyo"),
                     "XHKG": ("HK", "Asia/Hong_Kong"), "XSHG": ("CN", "Asia/Shanghai"),
                     None: ("VN", "Asia/Ho_Chi_Minh"), "XKRX": None}[s.calendar]
        if region_tz is None:   # Seoul FX: final at 16:00 KST
            vis = [d for d in df.index if self.clock.now() >= dt.datetime.combine(d, dt.time(16, 0), tzinfo=KST)
                   + dt.timedelta(minutes=self.faults.late_minutes(self.source, "overseas", sdate(d)))]
        else:
            vis = [d for d in df.index if self.published(region_tz[0], region_tz[1], d)]
        d1 = parse_yyyymmdd(q.get("fid_input_date_1", "")) or self.m.start
        d2 = parse_yyyymmdd(q.get("fid_input_date_2", "")) or self.clock.now().date()
        window = [d for d in vis if d1 <= d <= d2]
        page = window[::-1][:ROWS]
        z = s.decimals
        rows = [{"stck_bsop_date": sdate(d), "ovrs_nmix_prpr": _fmt(df.at[d, "close"], z),
                 "ovrs_nmix_oprc": _fmt(df.at[d, "open"], z), "ovrs_nmix_hgpr": _fmt(df.at[d, "high"], z),
                 "ovrs_nmix_lwpr": _fmt(df.at[d, "low"], z), "acml_vol": str(int(df.at[d, "volume"])),
                 "mod_yn": "N"} for d in page]
        head = {"stck_shrn_iscd": code, "hts_kor_isnm": s.name, "ovrs_nmix_prpr": "", "ovrs_nmix_prdy_clpr": "",
                "ovrs_nmix_prdy_vrss": "", "prdy_vrss_sign": "3", "prdy_ctrt": "", "acml_vol": "",
                "ovrs_prod_oprc": "", "ovrs_prod_hgpr": "", "ovrs_prod_lwpr": "", "prdy_vol": ""}
        if vis:
            last, prev = vis[-1], vis[-2] if len(vis) > 1 else vis[-1]
            c, p = df.at[last, "close"], df.at[prev, "close"]
            head.update({"ovrs_nmix_prpr": _fmt(c, z), "ovrs_nmix_prdy_clpr": _fmt(p, z),
                         "ovrs_nmix_prdy_vrss": _fmt(abs(c - p), z), "prdy_vrss_sign": _sign(c - p),
                         "prdy_ctrt": _fmt((c - p) / p * 100, 2), "acml_vol": str(int(df.at[last, "volume"])),
                         "ovrs_prod_oprc": _fmt(df.at[last, "open"], z), "ovrs_prod_hgpr": _fmt(df.at[last, "high"], z),
                         "ovrs_prod_lwpr": _fmt(df.at[last, "low"], z), "prdy_vol": str(int(df.at[prev, "volume"]))})
        return dict(OK, output1=head, output2=rows), "M" if len(window) > ROWS else "D"

    # ------------------------------------------------------------------ price detail
    def _detail(self, excd: str, symb: str) -> dict:
        ex, s = EXCHANGES[excd], self.m.symbol(excd, symb)
        keys = ("rsym", "last", "base", "open", "high", "low", "tvol", "tamt", "tomv", "shar", "mcap", "perx",
                "pbrx", "epsx", "bpsx", "curr", "zdiv", "vnit", "e_icod", "e_parp", "h52p", "l52p", "t_rate",
                "t_xprc", "e_ordyn", "etyp_nm")
        if s is None:
            return {k: "" for k in keys}
        b, n = self._visible(excd, symb)
        if n == 0:
            return {k: "" for k in keys} | {"rsym": f"D{excd}{symb}", "curr": ex.currency, "zdiv": str(ex.zdiv)}
        z, j = ex.zdiv, n - 1
        last, base = b.close[j], b.close[j - 1] if j else b.close[j]
        shares = int(5e8 * (1 + (zlib.crc32(symb.encode()) % 97) / 10) / b.factor[j]) if ex.region != "VN" else int(2e9)
        eps = last / (12 + (len(symb) % 7) * 3)
        bps = last / (1.5 + (len(symb) % 4) * 0.7)
        lo52 = max(0, j - 250)
        return {"rsym": f"D{excd}{symb}", "last": _fmt(last, z), "base": _fmt(base, z), "open": _fmt(b.open[j], z),
                "high": _fmt(b.high[j], z), "low": _fmt(b.low[j], z), "tvol": str(int(b.volume[j])),
                "tamt": str(int(b.volume[j] * last)), "tomv": str(int(round(last * shares))), "shar": str(shares),
                "mcap": str(int(shares * 0.1)), "perx": _fmt(last / eps, 2), "pbrx": _fmt(last / bps, 2),
                "epsx": _fmt(eps, 2), "bpsx": _fmt(bps, 2), "curr": ex.currency, "zdiv": str(z),
                "vnit": "100" if ex.region in ("CN", "JP", "VN") else "1", "e_icod": s.industry,
                "e_parp": "0", "h52p": _fmt(max(b.high[lo52:n]), z), "l52p": _fmt(min(b.low[lo52:n]), z),
                "t_rate": "", "t_xprc": "", "e_ordyn": "매매 가능", "etyp_nm": "" if s.stis == "2" else "ETF"}
