"""KIS overseas quotations, mixed into `KISClient` (resources/kis.py).

Every call goes through `KISClient.get`, so overseas requests share the domestic calls' ONE
token, ONE rate limiter (KIS counts per app key, all endpoints together) and the same retry and
error classification (resources/http.py). Parsing lives in `overseas_parsing.py`.

    overseas_daily        HHDFS76240000 dailyprice, raw (MODP=0) or adjusted (MODP=1), walked
                          back from the end date by BYMD, 100 bars per call; the response header
                          tr_cont "M" promises older rows, so an empty page after it is an error
    overseas_chart        FHKST03030100 inquire-daily-chartprice, N = index, X = exchange rate
    overseas_price_detail HHDFS76200200 price-detail (PER/PBR/EPS/BPS, market cap, shares, currency)
    overseas_master       {val}mst.cod.zip from KIS's download host (no token; same limiter)
    overseas_index_codes  frgn_code.mst.zip, the index / FX master: the authoritative list of
                          FHKST03030100 symbols (same host, same limiter); indices.py and fx.py
                          resolve their series from it (overseas_parsing.resolve_frgn)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import requests

from quant_assets.errors import SourceError, SourceStopError, SourceUnavailableError
from quant_assets.resources import overseas_parsing as OP
from quant_assets.resources.http import Retryable

PATH_DAILY = "/uapi/overseas-price/v1/quotations/dailyprice"
PATH_CHART = "/uapi/overseas-price/v1/quotations/inquire-daily-chartprice"
PATH_DETAIL = "/uapi/overseas-price/v1/quotations/price-detail"
REAL_MASTER_URL = "https://new.real.download.dws.co.kr/common/master"
PAGE_ROWS = 100
CHART_MIN_CAP = 30
MAX_PAGES = 400


class OverseasQuotations:
    """Methods for `KISClient`; needs its `get`, `url`, `is_real_host` and transport."""

    # -- plumbing ------------------------------------------------------------------------------
    def _overseas_get(self, path: str, tr_id: str, params: dict, *, region: str | None, exchange: str | None,
                      symbol: str, date: str | None) -> Any:
        try:
            return self.get(path, tr_id, params, code=symbol)  # type: ignore[attr-defined]
        except (SourceUnavailableError, SourceStopError):
            raise
        except SourceError as exc:   # a definite refusal (e.g. an exchange code KIS rejects)
            where = ", ".join(f"{k}={v}" for k, v in (("region", region), ("exchange", exchange), ("symbol", symbol),
                                                       ("date", date)) if v)
            raise OverseasRequestError(exc.source, f"{exc} [{where}]", dataset=tr_id, date=date,
                                       ticker=symbol) from None

    @property
    def master_url(self) -> str:
        return REAL_MASTER_URL if self.is_real_host else f"{self.url}/common/master"  # type: ignore[attr-defined]

    # -- dailyprice ----------------------------------------------------------------------------
    def overseas_daily(self, excd: str, symbol: str, start: dt.date, end: dt.date, *,
                       adjusted: bool = False) -> pd.DataFrame:
        """Daily bars of one symbol over [start, end] (local trading dates), ascending:
        date, open, high, low, close, change, change_pct, volume, value (local currency).
        A symbol that had no bars by `end` yields an empty frame; an unknown symbol, a rejected
        exchange code or an empty page inside the range raise, naming region/exchange/symbol/date."""
        ex = OP.exchange(excd)
        frames: list[pd.DataFrame] = []
        bymd, promised = end, False
        for _ in range(MAX_PAGES):
            params = {"AUTH": "", "EXCD": ex.excd, "SYMB": symbol, "GUBN": "0", "BYMD": bymd.strftime("%Y%m%d"),
                      "MODP": "1" if adjusted else "0", "KEYB": ""}
            body = self._overseas_get(PATH_DAILY, OP.DAILY, params, region=ex.region, exchange=ex.excd,
                                      symbol=symbol, date=params["BYMD"])
            frame, head = OP.parse_daily(body, ex.excd, symbol, bymd)
            more = str(body.get("_tr_cont", "")).upper() in ("M", "F")
            if frame.empty:
                if promised:
                    raise OP.OverseasDataError(
                        OP.DAILY, "empty page inside the range (the previous page said older rows remain)",
                        region=ex.region, exchange=ex.excd, symbol=symbol, date=params["BYMD"], field="output2",
                        upto=bymd)
                break
            frames.append(frame)
            oldest = frame["date"].min()
            if oldest <= start or not more:
                break
            promised, bymd = True, oldest - dt.timedelta(days=1)
        if not frames:
            return pd.DataFrame(columns=OP.DAILY_COLUMNS)
        out = pd.concat(frames, ignore_index=True)
        if out["date"].duplicated().any():
            d = out.loc[out["date"].duplicated(), "date"].iloc[0]
            raise OP.OverseasDataError(OP.DAILY, "pages overlap (the same date twice)", region=ex.region,
                                       exchange=ex.excd, symbol=symbol, date=f"{d:%Y%m%d}", field="xymd", upto=d)
        out = out[(out["date"] >= start) & (out["date"] <= end)]
        return out.sort_values("date").reset_index(drop=True)

    # -- index / FX chart ----------------------------------------------------------------------
    def overseas_chart(self, kind: str, symbol: str, start: dt.date, end: dt.date, *,
                       region: str | None = None) -> pd.DataFrame:
        """Daily bars of an index (kind "N") or exchange rate ("X") over [start, end], ascending:
        date, open, high, low, close, volume. Pages of <= 100 rows by moving FID_INPUT_DATE_2."""
        if kind not in ("N", "X"):
            raise ValueError(f"market division must be N (index) or X (FX), got {kind!r}")
        frames, hi = [], end
        for _ in range(MAX_PAGES):
            params = {"FID_COND_MRKT_DIV_CODE": kind, "FID_INPUT_ISCD": symbol,
                      "FID_INPUT_DATE_1": start.strftime("%Y%m%d"), "FID_INPUT_DATE_2": hi.strftime("%Y%m%d"),
                      "FID_PERIOD_DIV_CODE": "D"}
            body = self._overseas_get(PATH_CHART, OP.CHART, params, region=region, exchange=kind, symbol=symbol,
                                      date=f"{params['FID_INPUT_DATE_1']}-{params['FID_INPUT_DATE_2']}")
            frame = OP.parse_chart(body, kind, symbol, start, hi, region)
            if frame.empty:
                break
            frames.append(frame)
            # The row cap of this TR is UNCONFIRMED (30 or 100 per call): a page ends the walk only
            # when KIS does not promise more AND it is shorter than the smaller cap.
            if str(body.get("_tr_cont", "")).upper() not in ("M", "F") and len(frame) < CHART_MIN_CAP:
                break
            hi = frame["date"].min() - dt.timedelta(days=1)
            if hi < start:
                break
        if not frames:
            return pd.DataFrame(columns=OP.CHART_COLUMNS)
        out = pd.concat(frames, ignore_index=True).drop_duplicates("date")
        return out.sort_values("date").reset_index(drop=True)

    # -- price detail --------------------------------------------------------------------------
    def overseas_price_detail(self, excd: str, symbol: str) -> pd.DataFrame:
        """One row of the current quote's fundamentals (see overseas_parsing.parse_detail)."""
        ex = OP.exchange(excd)
        body = self._overseas_get(PATH_DETAIL, OP.DETAIL, {"AUTH": "", "EXCD": ex.excd, "SYMB": symbol},
                                  region=ex.region, exchange=ex.excd, symbol=symbol, date=None)
        return OP.parse_detail(body, ex.excd, symbol)

    # -- master files --------------------------------------------------------------------------
    def overseas_master(self, excd: str) -> pd.DataFrame:
        """The exchange's master file (what KIS lists today), parsed; one download."""
        ex = OP.exchange(excd)
        url = f"{self.master_url}/{ex.excd.lower()}mst.cod.zip"

        def handle(resp: requests.Response, _payload: Any) -> bytes:
            if not resp.content.startswith(b"PK"):
                raise Retryable("master download is not a zip (cut off?)", kind="data")
            return resp.content

        content = self._get_transport().request(  # type: ignore[attr-defined]
            self._get_session(), "GET", url, handle, dataset=f"{ex.excd.lower()}mst.cod", expect="bytes")  # type: ignore[attr-defined]
        return OP.parse_master(content, ex.excd)

    def overseas_index_codes(self) -> pd.DataFrame:
        """KIS's frgn_code.mst (world indices W, US indices P, FX X, ...), parsed by byte offsets:
        cls_code, symb, hts_eng_isnm, hts_kor_isnm, bstp_cls_code, dow_30_yn, nasdaq_100_yn,
        snp_500_yn, exch_cls_code, ntnl_cls_code, line. One download."""
        url = f"{self.master_url}/{OP.FRGN_FILE}.zip"

        def handle(resp: requests.Response, _payload: Any) -> bytes:
            if not resp.content.startswith(b"PK"):
                raise Retryable("master download is not a zip (cut off?)", kind="data")
            return resp.content

        content = self._get_transport().request(  # type: ignore[attr-defined]
            self._get_session(), "GET", url, handle, dataset=OP.FRGN_FILE, expect="bytes")  # type: ignore[attr-defined]
        return OP.parse_frgn_master(content)


OverseasRequestError = OP.OverseasRequestError
