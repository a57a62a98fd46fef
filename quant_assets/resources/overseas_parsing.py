"""Typed frames from the KIS overseas quotations and master files (reference kis_overseas.md §1).

Kept apart from `parsing.py` (domestic): the overseas payloads have their own field names
(`xymd`, `clos`, `tvol` ...), their own decimals per exchange (`zdiv`) and their own failure
modes. Every error is an `OverseasDataError` naming region, exchange, symbol, date and field, so a
failed partition says exactly which answer was wrong; nothing is guessed or filled in.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass
from typing import Any

import pandas as pd

from quant_assets.errors import SourceDataError, SourceError

DAILY = "HHDFS76240000"
CHART = "FHKST03030100"
DETAIL = "HHDFS76200200"


@dataclass(frozen=True)
class ExchangeInfo:
    excd: str
    region: str
    currency: str
    calendar: str | None   # exchange-calendars name; None = sessions derived from the source (VN)
    tz: str


EXCHANGES: dict[str, ExchangeInfo] = {e.excd: e for e in (
    ExchangeInfo("NAS", "US", "USD", "XNYS", "America/New_York"),
    ExchangeInfo("NYS", "US", "USD", "XNYS", "America/New_York"),
    ExchangeInfo("AMS", "US", "USD", "XNYS", "America/New_York"),
    ExchangeInfo("SHS", "CN", "CNY", "XSHG", "Asia/Shanghai"),
    ExchangeInfo("SZS", "CN", "CNY", "XSHG", "Asia/Shanghai"),   # Shenzhen follows Shanghai (assumption)
    ExchangeInfo("HKS", "HK", "HKD", "XHKG", "Asia/Hong_Kong"),
    ExchangeInfo("TSE", "JP", "JPY", "XTKS", "Asia/Tokyo"),
    ExchangeInfo("HSX", "VN", "VND", None, "Asia/Ho_Chi_Minh"),
    ExchangeInfo("HNX", "VN", "VND", None, "Asia/Ho_Chi_Minh"),
)}
MASTER_COLUMNS = ["ncod", "exid", "excd", "exnm", "symb", "rsym", "knam", "enam", "stis", "curr", "zdiv", "ztyp",
                  "base", "bnit", "anit", "mstm", "metm", "isdr", "drcd", "icod", "sjong", "ttyp", "etyp", "ttyp_sb"]
DAILY_COLUMNS = ["date", "open", "high", "low", "close", "change", "change_pct", "volume", "value"]
CHART_COLUMNS = ["date", "open", "high", "low", "close", "volume"]


class OverseasDataError(SourceDataError):
    """An overseas answer that cannot be used, located by region, exchange, symbol, date, field.

    `upto` is the newest local date the failure covers (a failed page of a backward walk covers
    every older day of the requested range too), so a ranged load fails only those partitions.
    """

    def __init__(self, dataset: str, message: str, *, region: str | None, exchange: str | None,
                 symbol: str | None, date: str | None = None, field: str | None = None,
                 upto: dt.date | None = None):
        super().__init__(dataset, message, date=date, ticker=symbol, field=field, region=region)
        self.exchange, self.symbol, self.upto = exchange, symbol, upto
        where = ", ".join(f"{k}={v}" for k, v in (("region", region), ("exchange", exchange), ("symbol", symbol),
                                                   ("date", date), ("field", field)) if v is not None)
        self.args = (f"{dataset}: {message} [{where}]",)

    def __str__(self) -> str:
        return self.args[0]


class OverseasRequestError(SourceError):
    """KIS refused an overseas request (an exchange code it rejects, a bad parameter)."""


def exchange(excd: str) -> ExchangeInfo:
    info = EXCHANGES.get(str(excd).upper())
    if info is None:
        raise OverseasDataError(DAILY, f"unknown exchange code {excd!r} (known: {', '.join(EXCHANGES)})",
                                region=None, exchange=str(excd), symbol=None, field="EXCD")
    return info


def _num(row: dict, key: str, where: dict, *, zdiv: int | None = None, allow_blank: bool = False) -> float | None:
    raw = row.get(key)
    if raw is None:
        raise OverseasDataError(where["dataset"], f"field {key!r} missing", field=key, **_loc(where))
    text = str(raw).strip().replace(",", "")
    if text == "":
        if allow_blank:
            return None
        raise OverseasDataError(where["dataset"], f"field {key!r} is blank", field=key, **_loc(where))
    try:
        value = float(text)
    except ValueError:
        raise OverseasDataError(where["dataset"], f"field {key!r} is not a number: {raw!r}", field=key,
                                **_loc(where)) from None
    if zdiv is not None and "." in text and len(text.split(".")[1].rstrip("0")) > zdiv:
        raise OverseasDataError(where["dataset"], f"field {key!r} = {raw!r} has more decimals than the exchange "
                                f"quotes (zdiv {zdiv}): wrong unit?", field=key, **_loc(where))
    return value


def _loc(where: dict) -> dict:
    return {k: where.get(k) for k in ("region", "exchange", "symbol", "date", "upto")}


def parse_daily(payload: Any, excd: str, symbol: str, bymd: dt.date) -> tuple[pd.DataFrame, dict]:
    """One dailyprice page -> (frame newest first, output1). Unknown symbol (nrec and rsym blank)
    -> OverseasDataError(field SYMB)."""
    ex = exchange(excd)
    where = {"dataset": DAILY, "region": ex.region, "exchange": ex.excd, "symbol": symbol,
             "date": bymd.strftime("%Y%m%d"), "upto": bymd}
    if not isinstance(payload, dict) or not isinstance(payload.get("output2", []), list):
        raise OverseasDataError(DAILY, "answer has no output2 list", field="output2", **_loc(where))
    head = payload.get("output1") or {}
    rows = payload.get("output2") or []
    if not rows and not str(head.get("rsym", "")).strip() and not str(head.get("nrec", "")).strip():
        raise OverseasDataError(DAILY, "symbol unknown to KIS on this exchange (empty rsym/nrec)", field="SYMB",
                                **_loc(where))
    zdiv = int(str(head.get("zdiv") or "0")) if str(head.get("zdiv", "")).strip().isdigit() else None
    out = []
    for r in rows:
        try:
            day = dt.datetime.strptime(str(r.get("xymd", "")), "%Y%m%d").date()
        except ValueError:
            raise OverseasDataError(DAILY, f"row date {r.get('xymd')!r} is not YYYYMMDD", field="xymd",
                                    **_loc(where)) from None
        w = dict(where, date=day.strftime("%Y%m%d"))
        close = _num(r, "clos", w, zdiv=zdiv)
        sign = str(r.get("sign", "3"))
        diff = _num(r, "diff", w, zdiv=zdiv)
        out.append({"date": day, "open": _num(r, "open", w, zdiv=zdiv), "high": _num(r, "high", w, zdiv=zdiv),
                    "low": _num(r, "low", w, zdiv=zdiv), "close": close,
                    "change": -abs(diff) if sign in ("4", "5") else abs(diff),
                    "change_pct": _num(r, "rate", w), "volume": _num(r, "tvol", w), "value": _num(r, "tamt", w)})
    frame = pd.DataFrame(out, columns=DAILY_COLUMNS)
    if len(frame):
        if frame["date"].duplicated().any():
            d = frame.loc[frame["date"].duplicated(), "date"].iloc[0]
            raise OverseasDataError(DAILY, "the same date twice in one page", field="xymd",
                                    **_loc(dict(where, date=d.strftime("%Y%m%d"))))
        if frame["date"].max() > bymd:
            raise OverseasDataError(DAILY, "a row newer than BYMD", field="xymd", **_loc(where))
    return frame, head


def parse_chart(payload: Any, kind: str, symbol: str, lo: dt.date, hi: dt.date, region: str | None) -> pd.DataFrame:
    """One inquire-daily-chartprice page -> date, open, high, low, close, volume (newest first)."""
    where = {"dataset": CHART, "region": region, "exchange": kind, "symbol": symbol,
             "date": f"{lo:%Y%m%d}-{hi:%Y%m%d}", "upto": hi}
    if not isinstance(payload, dict) or not isinstance(payload.get("output2", []), list):
        raise OverseasDataError(CHART, "answer has no output2 list", field="output2", **_loc(where))
    head = payload.get("output1") or {}
    rows = payload.get("output2") or []
    if not rows and not str(head.get("hts_kor_isnm", "")).strip():
        raise OverseasDataError(CHART, f"series unknown to KIS under market division {kind}", field="FID_INPUT_ISCD",
                                **_loc(where))
    out = []
    for r in rows:
        try:
            day = dt.datetime.strptime(str(r.get("stck_bsop_date", "")), "%Y%m%d").date()
        except ValueError:
            raise OverseasDataError(CHART, f"row date {r.get('stck_bsop_date')!r} is not YYYYMMDD",
                                    field="stck_bsop_date", **_loc(where)) from None
        w = dict(where, date=day.strftime("%Y%m%d"))
        out.append({"date": day, "open": _num(r, "ovrs_nmix_oprc", w), "high": _num(r, "ovrs_nmix_hgpr", w),
                    "low": _num(r, "ovrs_nmix_lwpr", w), "close": _num(r, "ovrs_nmix_prpr", w),
                    "volume": _num(r, "acml_vol", w, allow_blank=True)})
    frame = pd.DataFrame(out, columns=CHART_COLUMNS)
    if len(frame) and frame["date"].duplicated().any():
        raise OverseasDataError(CHART, "the same date twice in one page", field="stck_bsop_date", **_loc(where))
    return frame


DETAIL_FIELDS = {"last": "price", "base": "prev_close", "tomv": "market_cap", "shar": "shares_outstanding",
                 "perx": "per", "pbrx": "pbr", "epsx": "eps", "bpsx": "bps", "e_parp": "par_value", "vnit": "lot_size"}


def parse_detail(payload: Any, excd: str, symbol: str) -> pd.DataFrame:
    """price-detail -> one row: price, prev_close, market_cap (local currency), shares_outstanding,
    per, pbr, eps, bps, par_value, lot_size, currency, industry. The currency must be the exchange's."""
    ex = exchange(excd)
    where = {"dataset": DETAIL, "region": ex.region, "exchange": ex.excd, "symbol": symbol}
    out = payload.get("output") if isinstance(payload, dict) else None
    if not isinstance(out, dict) or not str(out.get("rsym", "")).strip():
        raise OverseasDataError(DETAIL, "symbol unknown to KIS on this exchange (empty rsym)", field="SYMB",
                                **_loc(where))
    curr = str(out.get("curr", "")).strip()
    if curr != ex.currency:
        raise OverseasDataError(DETAIL, f"quoted in {curr or 'no currency'!s}, expected {ex.currency}", field="curr",
                                **_loc(where))
    row: dict[str, object] = {"exchange": ex.excd, "symbol": symbol, "currency": curr,
                              "industry": str(out.get("e_icod", "")).strip() or None}
    for key, name in DETAIL_FIELDS.items():
        row[name] = _num(out, key, where, allow_blank=key in ("perx", "pbrx", "epsx", "bpsx", "e_parp"))
    return pd.DataFrame([row])


def parse_master(content: bytes, excd: str) -> pd.DataFrame:
    """A `{val}mst.cod.zip` -> one row per symbol with the 24 reference columns (all text)."""
    ex = exchange(excd)
    where = {"dataset": f"{excd.lower()}mst.cod", "region": ex.region, "exchange": ex.excd, "symbol": None}
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            names = [n for n in zf.namelist() if n.upper().endswith("MST.COD")]
            if len(names) != 1:
                raise OverseasDataError(where["dataset"], f"zip holds {zf.namelist()}, expected one *MST.COD",
                                        **_loc(where))
            text = zf.read(names[0]).decode("cp949")
    except zipfile.BadZipFile:
        raise OverseasDataError(where["dataset"], "not a zip file (truncated download?)", **_loc(where)) from None
    except UnicodeDecodeError as exc:
        raise OverseasDataError(where["dataset"], f"not cp949 text: {exc}", **_loc(where)) from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != len(MASTER_COLUMNS):
            raise OverseasDataError(where["dataset"], f"line {n} has {len(cols)} columns, expected "
                                    f"{len(MASTER_COLUMNS)} (the layout changed?)", **_loc(where))
        rows.append(cols)
    frame = pd.DataFrame(rows, columns=MASTER_COLUMNS).apply(lambda s: s.str.strip())
    bad = frame.loc[frame["excd"] != ex.excd]
    if len(bad):
        raise OverseasDataError(where["dataset"], f"rows of exchange {bad['excd'].iloc[0]!r} in the {ex.excd} master",
                                field="excd", **_loc(dict(where, symbol=bad["symb"].iloc[0])))
    return frame


# -- frgn_code.mst: the index / FX master (the FHKST03030100 symbols) ----------------------------
FRGN_FILE = "frgn_code.mst"
# (field, byte width), stocks_info/해외주식지수정보.h: 104 bytes a row, cp949, no separators.
FRGN_LAYOUT = (("cls_code", 1), ("symb", 10), ("hts_eng_isnm", 39), ("hts_kor_isnm", 40), ("bstp_cls_code", 4),
               ("dow_30_yn", 1), ("nasdaq_100_yn", 1), ("snp_500_yn", 1), ("exch_cls_code", 4),
               ("ntnl_cls_code", 3))
FRGN_ROW_BYTES = sum(w for _, w in FRGN_LAYOUT)
FRGN_COLUMNS = [name for name, _ in FRGN_LAYOUT] + ["line"]
# cls_code per the header file; "E" (commodity front month) is not in it but is reported in the
# real file by a third party (unconfirmed), so it is accepted rather than failing the whole master.
FRGN_CLASSES = {"W": "world index", "P": "US index", "Q": "US stock", "H": "world stock",
                "D": "US-listed Korean company", "G": "Europe-listed Korean company", "F": "CME futures",
                "M": "semiconductor", "X": "exchange rate", "C": "commodity futures", "R": "domestic rate",
                "L": "LIBOR", "B": "government bond", "E": "commodity front month"}


def _frgn_error(message: str, *, line: int | None = None, field: str | None = None, symbol: str | None = None,
                region: str | None = None) -> OverseasDataError:
    text = f"line {line}: {message}" if line is not None else message
    return OverseasDataError(FRGN_FILE, text, region=region, exchange=None, symbol=symbol or None, field=field)


def parse_frgn_rows(data: bytes) -> pd.DataFrame:
    """The unzipped frgn_code.mst -> one row per line, every field stripped text, plus `line`.

    Offsets are BYTES of the cp949 file (a Korean character is 2 bytes, so a character index
    would drift), each field decoded on its own. A line of another length, a field that is not
    cp949 (a character cut at the field boundary), a blank symbol or a class code the header
    file does not define is an error naming the file, line and field."""
    rows = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.removesuffix(b"\r")
        if not raw.strip():
            continue
        if len(raw) != FRGN_ROW_BYTES:
            raise _frgn_error(f"row is {len(raw)} bytes, expected {FRGN_ROW_BYTES} (fixed width; the layout "
                              "changed or a field is missing)", line=n, field="row",
                              symbol=raw[1:11].decode("cp949", errors="replace").strip())
        rec: dict[str, object] = {}
        pos = 0
        for name, width in FRGN_LAYOUT:
            chunk = raw[pos:pos + width]
            pos += width
            try:
                rec[name] = chunk.decode("cp949").strip()
            except UnicodeDecodeError:
                raise _frgn_error(f"{name} bytes {chunk!r} are not cp949 (a character cut at the field "
                                  "boundary?)", line=n, field=name, symbol=str(rec.get("symb", ""))) from None
        if rec["cls_code"] not in FRGN_CLASSES:
            raise _frgn_error(f"unknown class code {rec['cls_code']!r} (known: {', '.join(FRGN_CLASSES)})",
                              line=n, field="cls_code", symbol=str(rec["symb"]))
        if not rec["symb"]:
            raise _frgn_error("blank symbol", line=n, field="symb")
        rec["line"] = n
        rows.append(rec)
    if not rows:
        raise _frgn_error("no rows (empty master)")
    return pd.DataFrame(rows, columns=FRGN_COLUMNS)


def parse_frgn_master(content: bytes) -> pd.DataFrame:
    """`frgn_code.mst.zip` (one member, frgn_code.mst) -> parse_frgn_rows."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(FRGN_FILE)]
            if len(names) != 1:
                raise _frgn_error(f"zip holds {zf.namelist()}, expected one {FRGN_FILE}")
            data = zf.read(names[0])
    except zipfile.BadZipFile:
        raise _frgn_error("not a zip file (truncated download?)") from None
    return parse_frgn_rows(data)


@dataclass(frozen=True)
class WantedSeries:
    """A series to find in frgn_code.mst: class code + a regex on the English name (case-insensitive,
    `re.search`); exactly one row must match."""

    key: str            # region (indices) or currency (FX)
    name: str           # what we call it: "Nikkei 225", "KRW per 100 JPY"
    cls_code: str
    pattern: str


def resolve_frgn(codes: pd.DataFrame, wanted: WantedSeries, *, region: str | None = None) -> str:
    """The one symbol of `wanted` in the master. None or several matching rows is an error naming
    region, the wanted series and the file; nothing is guessed."""
    rx = re.compile(wanted.pattern, re.IGNORECASE)
    cls = codes[codes["cls_code"] == wanted.cls_code]
    hits = cls[cls["hts_eng_isnm"].map(lambda s: bool(rx.search(str(s))))]
    label = f"{wanted.name} (class {wanted.cls_code} {FRGN_CLASSES.get(wanted.cls_code, '?')}, English name " \
            f"/{wanted.pattern}/)"
    if hits.empty:
        raise _frgn_error(f"no row for {label}: the series is missing from the master, refusing to guess a symbol",
                          field="hts_eng_isnm", region=region)
    if len(hits) > 1:
        seen = ", ".join(f"{r.symb} '{r.hts_eng_isnm}' (line {r.line})" for r in hits.itertuples())
        raise _frgn_error(f"{len(hits)} rows match {label}: {seen}; refusing to pick one", field="hts_eng_isnm",
                          region=region)
    return str(hits["symb"].iloc[0])
