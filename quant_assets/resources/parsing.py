"""Pure parsers: decoded KRX / KIS payloads -> typed pandas DataFrames.

No I/O here. Every function takes the decoded JSON object and the context needed to name a
problem (dataset, date) and returns a DataFrame with snake_case columns:

* codes are 6-character strings (alphanumeric codes such as ``0069M0`` are kept as-is),
* dates are `datetime.date`,
* prices / rates / NAV are float64, counts and KRW amounts are nullable Int64,
* ``"-"`` and ``""`` become NaN / <NA> / None — rows are never dropped here; value-level checks
  (negative prices, high < low, duplicates) belong to the pandera schemas downstream.

Structural problems raise `SourceDataError` naming dataset, date, ticker and field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from quant_assets.errors import MarketClosedError, SourceDataError
from quant_assets.resources import columnar
from quant_assets.resources.http import loads

MISSING = {"", "-", "--", "N/A"}

KRX_MARKETS = {"STK": "KOSPI", "KSQ": "KOSDAQ", "KNX": "KONEX"}

# kinds: code (6-char), isin, text, date, float, int
STR_KINDS = {"code", "isin", "text"}


@dataclass(frozen=True)
class Col:
    src: str
    dst: str
    kind: str = "float"
    required: bool = True
    scale: float = 1.0  # multiply numeric values (KIS 억원 -> KRW: 1e8)


# ------------------------------------------------------------------------------------------
# scalar converters


def parse_number(value: Any) -> float | None:
    """``"1,234.5"`` -> 1234.5; ``"-"``/``""``/None -> None; raises ValueError on garbage."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"boolean {value!r} is not a number")
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    s = str(value).strip().replace(",", "")
    if s in MISSING:
        return None
    out = float(s)  # ValueError on garbage
    if math.isnan(out) or math.isinf(out):
        raise ValueError(f"non-finite number {value!r}")
    return out


def parse_date(value: Any) -> Date | None:
    """``2021/01/08``, ``20210108``, ``2021-01-08`` -> date; missing -> None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, Date):
        return value
    s = str(value).strip()
    if s in MISSING or s == "0":
        return None
    digits = s.replace("/", "").replace("-", "").replace(".", "")
    if len(digits) != 8 or not digits.isdigit():
        raise ValueError(f"not a date: {value!r}")
    return Date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


def parse_code(value: Any) -> str | None:
    """A 6-char short code (digits are zero-padded; alphanumeric codes kept)."""
    if value is None:
        return None
    s = str(value).strip()
    if s in MISSING:
        return None
    if s.isdigit() and len(s) < 6:
        s = s.zfill(6)
    if len(s) != 6 or not s.isalnum():
        raise ValueError(f"not a 6-character code: {value!r}")
    return s.upper()


def parse_text(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return None if s in MISSING else s


def parse_multiple(text: Any) -> float:
    """KRX ``IDX_CALC_INST_NM2`` (leverage/inverse type) -> signed multiple.

    ``일반`` -> 1, ``2X 레버리지`` / ``2X 레버리지 (2)`` -> 2, ``1X 인버스`` -> -1, ``2X 인버스`` -> -2.
    Unknown text -> NaN.
    """
    s = parse_text(text)
    if s is None:
        return float("nan")
    s_compact = s.replace(" ", "").upper()
    inverse = "인버스" in s_compact or "INVERSE" in s_compact
    m = re.search(r"(\d+(?:\.\d+)?)X", s_compact) or re.search(r"X(\d+(?:\.\d+)?)", s_compact)
    if m:
        mult = float(m.group(1))
    elif "레버리지" in s_compact or "LEVERAGE" in s_compact:
        mult = 2.0
    elif inverse or "일반" in s_compact or "NORMAL" in s_compact:
        mult = 1.0
    else:
        return float("nan")
    return -mult if inverse else mult


def yyyymmdd(d: Date | datetime | str) -> str:
    """date / datetime / 'YYYY-MM-DD' / 'YYYYMMDD' -> 'YYYYMMDD'."""
    if isinstance(d, datetime):
        d = d.date()
    if isinstance(d, Date):
        return d.strftime("%Y%m%d")
    parsed = parse_date(d)
    if parsed is None:
        raise ValueError(f"not a date: {d!r}")
    return parsed.strftime("%Y%m%d")


def to_date(d: Date | datetime | str) -> Date:
    s = yyyymmdd(d)
    return Date(int(s[:4]), int(s[4:6]), int(s[6:]))


def date_chunks(start: Date, end: Date, max_days: int = 730) -> list[tuple[Date, Date]]:
    """Split [start, end] into consecutive windows of at most `max_days` days (like pykrx)."""
    if end < start:
        return []
    out = []
    cur = start
    while cur <= end:
        stop = min(end, cur + timedelta(days=max_days - 1))
        out.append((cur, stop))
        cur = stop + timedelta(days=1)
    return out


# ------------------------------------------------------------------------------------------
# payload -> rows -> frame


def decode_json(text: str | bytes, dataset: str, date: str | None = None) -> Any:
    """Decode a JSON body; a truncated/invalid body raises `SourceDataError` naming dataset/date."""
    try:
        return loads(text)
    except (ValueError, TypeError) as exc:
        raise SourceDataError(dataset, f"truncated or invalid JSON body ({exc.__class__.__name__})", date=date) from None


def extract_rows(payload: Any, key: str, dataset: str, date: str | None = None) -> list[dict]:
    if not isinstance(payload, dict):
        raise SourceDataError(dataset, f"expected a JSON object, got {type(payload).__name__}", date=date)
    if key not in payload:
        raise SourceDataError(dataset, f"data key {key!r} missing from response", date=date, field=key)
    rows = payload[key]
    if rows is None:
        return []
    if isinstance(rows, dict):  # a single object where a list was expected
        rows = [rows]
    if not isinstance(rows, list):
        raise SourceDataError(dataset, f"data key {key!r} is not a list", date=date, field=key)
    for r in rows:
        if not isinstance(r, dict):
            raise SourceDataError(dataset, f"row in {key!r} is not an object", date=date, field=key)
    return rows


def _empty_series(kind: str) -> pd.Series:
    if kind in STR_KINDS or kind == "date":
        return pd.Series([], dtype=object)
    if kind == "int":
        return pd.Series([], dtype="Int64")
    return pd.Series([], dtype="float64")


def rows_to_frame(
    rows: Sequence[dict],
    cols: Sequence[Col],
    dataset: str,
    *,
    date: str | None = None,
    ticker_src: str | None = None,
    ticker: str | None = None,
    date_src: str | None = None,
) -> pd.DataFrame:
    """Convert rows by the column spec. Missing required field / garbage -> SourceDataError.

    Errors name the row by `ticker_src` (a field of the row) or the fixed `ticker`, and by the row's
    own date (`date_src`) when given, else `date`.
    """
    if not rows:
        return pd.DataFrame({c.dst: _empty_series(c.kind) for c in cols})
    # Clean payloads convert a column at a time (resources/columnar.py); anything unusual (and so
    # every error) goes through the row-by-row path below, which names the row and field.
    fast = columnar.fast_columns(rows, cols, _MISSING, _SCALAR)
    if fast is not None:
        return pd.DataFrame(fast)
    return rows_to_frame_by_row(rows, cols, dataset, date=date, ticker_src=ticker_src, ticker=ticker,
                                date_src=date_src)


def rows_to_frame_by_row(
    rows: Sequence[dict],
    cols: Sequence[Col],
    dataset: str,
    *,
    date: str | None = None,
    ticker_src: str | None = None,
    ticker: str | None = None,
    date_src: str | None = None,
) -> pd.DataFrame:
    """`rows_to_frame` one value at a time: the reference semantics, and the path that names the
    row and field of every error."""
    data: dict[str, list] = {c.dst: [] for c in cols}
    for i, row in enumerate(rows):
        row_ticker = ticker
        if ticker_src is not None:
            raw = row.get(ticker_src)
            row_ticker = str(raw).strip() if raw is not None else None
        row_ticker = row_ticker or f"row {i}"
        row_date = date
        if date_src is not None and row.get(date_src) is not None:
            row_date = str(row.get(date_src)).strip()
        for c in cols:
            if c.src not in row:
                if c.required:
                    raise SourceDataError(
                        dataset, "row is missing an expected field", date=row_date, ticker=row_ticker, field=c.src
                    )
                data[c.dst].append(None)
                continue
            raw = row[c.src]
            try:
                if c.kind == "code":
                    v = parse_code(raw)
                elif c.kind in ("isin", "text"):
                    v = parse_text(raw)
                elif c.kind == "date":
                    v = parse_date(raw)
                else:
                    v = parse_number(raw)
                    if v is not None and c.scale != 1.0:
                        v = v * c.scale
                    if c.kind == "int" and v is not None:
                        if abs(v - round(v)) > 1e-6:
                            raise ValueError(f"expected an integer, got {raw!r}")
                        v = int(round(v))
            except (ValueError, TypeError, OverflowError):
                raise SourceDataError(
                    dataset,
                    f"unparseable {c.kind} value {str(raw)[:40]!r}",
                    date=row_date,
                    ticker=row_ticker,
                    field=c.src,
                ) from None
            data[c.dst].append(v)
    out = {}
    for c in cols:
        vals = data[c.dst]
        if c.kind == "int":
            out[c.dst] = pd.array(vals, dtype="Int64")
        elif c.kind == "float":
            out[c.dst] = np.array([np.nan if v is None else v for v in vals], dtype="float64")
        else:
            out[c.dst] = pd.Series(vals, dtype=object)
    return pd.DataFrame(out)


_MISSING = frozenset(MISSING)
_SCALAR = {"code": parse_code, "text": parse_text, "date": parse_date}


def _sort_by_date(df: pd.DataFrame, extra: Iterable[str] = ()) -> pd.DataFrame:
    keys = ["date", *extra]
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def check_trading_day(df: pd.DataFrame, dataset: str, date: str, price_col: str = "close") -> None:
    """Empty list -> SourceDataError; every price dashed -> MarketClosedError."""
    if len(df) == 0:
        raise SourceDataError(dataset, "empty output (no rows for this date)", date=date)
    if price_col in df.columns and df[price_col].isna().all():
        raise MarketClosedError(dataset, date)


def _with_date(df: pd.DataFrame, d: Date) -> pd.DataFrame:
    df.insert(0, "date", pd.Series([d] * len(df), dtype=object))
    return df


# ------------------------------------------------------------------------------------------
# KRX datasets

ETF_MASTER = "MDCSTAT04601"
ETF_DAILY = "MDCSTAT04301"
ETF_PRICE_HISTORY = "MDCSTAT04501"
ETF_PDF = "MDCSTAT05001"
ETF_TRACKING_ERROR = "MDCSTAT05901"
ETF_PREMIUM_DISCOUNT = "MDCSTAT06001"
STOCK_DAILY = "MDCSTAT01501"
STOCK_MASTER = "MDCSTAT01901"
STOCK_FUNDAMENTALS = "MDCSTAT03501"
SECTOR_CLASSIFICATION = "MDCSTAT03901"
INDEX_HISTORY = "MDCSTAT00301"
FINDER_LISTED = "finder_stkisu"
FINDER_DELISTED = "finder_listdelisu"

_ETF_MASTER_COLS = [
    Col("ISU_SRT_CD", "ticker", "code"),
    Col("ISU_CD", "isin", "isin"),
    Col("ISU_ABBRV", "name", "text"),
    Col("ISU_NM", "full_name", "text"),
    Col("ISU_ENG_NM", "english_name", "text", required=False),
    Col("LIST_DD", "listing_date", "date"),
    Col("ETF_OBJ_IDX_NM", "index_name", "text"),
    Col("IDX_CALC_INST_NM1", "index_provider", "text"),
    Col("IDX_CALC_INST_NM2", "leverage_type", "text"),
    Col("ETF_REPLICA_METHD_TP_CD", "replication", "text"),
    Col("IDX_MKT_CLSS_NM", "index_market", "text"),
    Col("IDX_ASST_CLSS_NM", "asset_class", "text"),
    Col("LIST_SHRS", "listed_units", "int"),
    Col("COM_ABBRV", "manager", "text"),
    Col("CU_QTY", "cu_qty", "int"),
    Col("ETF_TOT_FEE", "total_fee_pct", "float"),
    Col("TAX_TP_CD", "tax_type", "text"),
]


def parse_etf_master(payload: Any) -> pd.DataFrame:
    rows = extract_rows(payload, "output", ETF_MASTER)
    df = rows_to_frame(rows, _ETF_MASTER_COLS, ETF_MASTER, ticker_src="ISU_SRT_CD")
    df.insert(df.columns.get_loc("leverage_type") + 1, "multiple", df["leverage_type"].map(parse_multiple).astype("float64"))
    return df.sort_values("ticker", kind="stable").reset_index(drop=True)


_ETF_DAILY_COLS = [
    Col("ISU_SRT_CD", "ticker", "code"),
    Col("ISU_CD", "isin", "isin", required=False),  # absent from pre-2026 payloads
    Col("ISU_ABBRV", "name", "text"),
    Col("TDD_CLSPRC", "close"),
    Col("CMPPREVDD_PRC", "change"),
    Col("FLUC_RT", "change_pct"),
    Col("TDD_OPNPRC", "open"),
    Col("TDD_HGPRC", "high"),
    Col("TDD_LWPRC", "low"),
    Col("ACC_TRDVOL", "volume", "int"),
    Col("ACC_TRDVAL", "value", "int"),
    Col("NAV", "nav"),
    Col("MKTCAP", "market_cap", "int"),
    Col("INVSTASST_NETASST_TOTAMT", "aum", "int"),
    Col("LIST_SHRS", "listed_units", "int"),
    Col("IDX_IND_NM", "index_name", "text", required=False),
    Col("OBJ_STKPRC_IDX", "index_close", required=False),
    Col("CMPPREVDD_IDX", "index_change", required=False),
    Col("FLUC_RT1", "index_change_pct", required=False),
]


def _aum_zero_to_na(df: pd.DataFrame) -> pd.DataFrame:
    """KRX publishes AUM the next morning and reads "0" until then: 0 -> <NA> + aum_published flag."""
    published = df["aum"].notna() & (df["aum"] != 0)
    df["aum"] = df["aum"].where(published, pd.NA).astype("Int64")
    df["aum_published"] = published.fillna(False).astype(bool)
    return df


def parse_etf_daily(payload: Any, date: str) -> pd.DataFrame:
    """MDCSTAT04301. `df.attrs["aum_published"]` is True when any row carries a non-zero AUM."""
    rows = extract_rows(payload, "output", ETF_DAILY, date)
    df = rows_to_frame(rows, _ETF_DAILY_COLS, ETF_DAILY, date=date, ticker_src="ISU_SRT_CD")
    check_trading_day(df, ETF_DAILY, date)
    df = _aum_zero_to_na(df)
    df = _with_date(df, to_date(date))
    df.attrs["aum_published"] = bool(df["aum_published"].any())
    return df.sort_values("ticker", kind="stable").reset_index(drop=True)


_STOCK_DAILY_COLS = [
    Col("ISU_SRT_CD", "ticker", "code"),
    Col("ISU_CD", "isin", "isin"),
    Col("ISU_ABBRV", "name", "text"),
    Col("MKT_ID", "market", "text"),
    Col("TDD_OPNPRC", "open"),
    Col("TDD_HGPRC", "high"),
    Col("TDD_LWPRC", "low"),
    Col("TDD_CLSPRC", "close"),
    Col("CMPPREVDD_PRC", "change"),
    Col("FLUC_RT", "change_pct"),
    Col("ACC_TRDVOL", "volume", "int"),
    Col("ACC_TRDVAL", "value", "int"),
    Col("MKTCAP", "market_cap", "int"),
    Col("LIST_SHRS", "listed_shares", "int"),
]


def parse_stock_daily(payload: Any, date: str) -> pd.DataFrame:
    rows = extract_rows(payload, "OutBlock_1", STOCK_DAILY, date)
    df = rows_to_frame(rows, _STOCK_DAILY_COLS, STOCK_DAILY, date=date, ticker_src="ISU_SRT_CD")
    check_trading_day(df, STOCK_DAILY, date)
    df["market"] = df["market"].map(lambda m: KRX_MARKETS.get(m, m) if m is not None else None)
    df = _with_date(df, to_date(date))
    return df.sort_values("ticker", kind="stable").reset_index(drop=True)


_FINDER_COLS = [
    Col("short_code", "ticker", "code"),
    Col("full_code", "isin", "isin"),
    Col("codeName", "name", "text"),
    Col("marketCode", "market_code", "text"),
    Col("marketName", "market_name", "text"),
]


def parse_stock_list(payload: Any, delisted: bool = False) -> pd.DataFrame:
    dataset = FINDER_DELISTED if delisted else FINDER_LISTED
    rows = extract_rows(payload, "block1", dataset)
    df = rows_to_frame(rows, _FINDER_COLS, dataset, ticker_src="short_code")
    return df.sort_values(["ticker", "isin"], kind="stable").reset_index(drop=True)


_STOCK_MASTER_COLS = [
    Col("ISU_SRT_CD", "ticker", "code"),
    Col("ISU_CD", "isin", "isin"),
    Col("ISU_ABBRV", "name", "text"),
    Col("ISU_NM", "full_name", "text"),
    Col("ISU_ENG_NM", "english_name", "text", required=False),
    Col("LIST_DD", "listing_date", "date"),
    Col("MKT_TP_NM", "market", "text"),
    Col("SECUGRP_NM", "security_group", "text"),
    Col("SECT_TP_NM", "section", "text", required=False),
    Col("KIND_STKCERT_TP_NM", "stock_kind", "text"),
    Col("PARVAL", "par_value"),
    Col("LIST_SHRS", "listed_shares", "int"),
]


def parse_stock_master(payload: Any) -> pd.DataFrame:
    rows = extract_rows(payload, "OutBlock_1", STOCK_MASTER)
    df = rows_to_frame(rows, _STOCK_MASTER_COLS, STOCK_MASTER, ticker_src="ISU_SRT_CD")
    return df.sort_values("ticker", kind="stable").reset_index(drop=True)


_FUNDAMENTAL_COLS = [
    Col("ISU_SRT_CD", "ticker", "code"),
    Col("ISU_ABBRV", "name", "text", required=False),
    Col("TDD_CLSPRC", "close", required=False),
    Col("EPS", "eps"),
    Col("PER", "per"),
    Col("BPS", "bps"),
    Col("PBR", "pbr"),
    Col("DPS", "dps"),
    Col("DVD_YLD", "dividend_yield"),
]


def parse_stock_fundamentals(payload: Any, date: str) -> pd.DataFrame:
    rows = extract_rows(payload, "output", STOCK_FUNDAMENTALS, date)
    df = rows_to_frame(rows, _FUNDAMENTAL_COLS, STOCK_FUNDAMENTALS, date=date, ticker_src="ISU_SRT_CD")
    has_close = bool(rows) and all("TDD_CLSPRC" in r for r in rows)
    check_trading_day(df, STOCK_FUNDAMENTALS, date, price_col="close" if has_close else "__none__")
    df = df[["ticker", "name", "close", "eps", "per", "bps", "pbr", "dps", "dividend_yield"]]
    df = _with_date(df.copy(), to_date(date))
    return df.sort_values("ticker", kind="stable").reset_index(drop=True)


_SECTOR_COLS = [
    Col("ISU_SRT_CD", "ticker", "code"),
    Col("ISU_ABBRV", "name", "text"),
    Col("IDX_IND_NM", "sector", "text"),
    Col("TDD_CLSPRC", "close"),
    Col("MKTCAP", "market_cap", "int"),
]


def parse_sector_classification(payload: Any, date: str, key: str = "block1") -> pd.DataFrame:
    rows = extract_rows(payload, key, SECTOR_CLASSIFICATION, date)
    df = rows_to_frame(rows, _SECTOR_COLS, SECTOR_CLASSIFICATION, date=date, ticker_src="ISU_SRT_CD")
    check_trading_day(df, SECTOR_CLASSIFICATION, date)
    df = _with_date(df, to_date(date))
    return df.sort_values("ticker", kind="stable").reset_index(drop=True)


_PDF_COLS = [
    Col("COMPST_ISU_CD", "constituent_code", "text"),
    Col("COMPST_ISU_CD2", "constituent_isin", "isin", required=False),
    Col("MKT_ID", "market_id", "text"),
    Col("SECUGRP_ID", "security_group", "text"),
    Col("COMPST_ISU_NM", "name", "text"),
    Col("COMPST_ISU_CU1_SHRS", "shares_per_cu"),
    Col("VALU_AMT", "valuation_amount"),
    Col("COMPST_AMT", "market_value"),
    Col("COMPST_RTO", "weight_pct"),
]


def parse_etf_pdf(payload: Any, date: str, isin: str | None = None, allow_empty: bool = False) -> pd.DataFrame:
    """MDCSTAT05001 holdings of one ETF (cash and futures lines kept).

    Empty -> SourceDataError unless `allow_empty` (KRX answers [] before 18:00 publication, on a
    closed day, and without a login — an ETF never really holds nothing)."""
    rows = extract_rows(payload, "output", ETF_PDF, date)
    df = rows_to_frame(rows, _PDF_COLS, ETF_PDF, date=date, ticker_src="COMPST_ISU_CD")
    if len(df) == 0 and not allow_empty:
        raise SourceDataError(ETF_PDF, "empty output (no holdings)", date=date, ticker=isin)
    return _with_date(df, to_date(date))


_ETF_HISTORY_COLS = [
    Col("TRD_DD", "date", "date"),
    Col("TDD_CLSPRC", "close"),
    Col("CMPPREVDD_PRC", "change"),
    Col("FLUC_RT", "change_pct"),
    Col("LST_NAV", "nav"),
    Col("TDD_OPNPRC", "open"),
    Col("TDD_HGPRC", "high"),
    Col("TDD_LWPRC", "low"),
    Col("ACC_TRDVOL", "volume", "int"),
    Col("ACC_TRDVAL", "value", "int"),
    Col("MKTCAP", "market_cap", "int"),
    Col("INVSTASST_NETASST_TOTAMT", "aum", "int"),
    Col("LIST_SHRS", "listed_units", "int"),
    Col("IDX_IND_NM", "index_name", "text", required=False),
    Col("OBJ_STKPRC_IDX", "index_close", required=False),
    Col("CMPPREVDD_IDX", "index_change", required=False),
    Col("IDX_FLUC_RT", "index_change_pct", required=False),
]


def parse_etf_price_history(payload: Any, isin: str | None = None, date: str | None = None) -> pd.DataFrame:
    rows = extract_rows(payload, "output", ETF_PRICE_HISTORY, date)
    df = rows_to_frame(rows, _ETF_HISTORY_COLS, ETF_PRICE_HISTORY, date=date, ticker=isin, date_src="TRD_DD")
    df = _aum_zero_to_na(df)
    return _sort_by_date(df)


_TRACKING_COLS = [
    Col("TRD_DD", "date", "date"),
    Col("LST_NAV", "nav"),
    Col("NAV_CHG_RT", "nav_change_pct"),
    Col("OBJ_STKPRC_IDX", "index_close"),
    Col("IDX_CHG_RTO", "index_change_pct"),
    Col("TRACE_YD_MULT", "multiple"),
    Col("TRACE_ERR_RT", "tracking_error_pct"),
]


def parse_etf_tracking_error(payload: Any, isin: str | None = None, date: str | None = None) -> pd.DataFrame:
    rows = extract_rows(payload, "output", ETF_TRACKING_ERROR, date)
    df = rows_to_frame(rows, _TRACKING_COLS, ETF_TRACKING_ERROR, date=date, ticker=isin, date_src="TRD_DD")
    return _sort_by_date(df)


_PREMIUM_COLS = [
    Col("TRD_DD", "date", "date"),
    Col("CLSPRC", "close"),
    Col("LST_NAV", "nav"),
    Col("DIVRG_RT", "premium_discount_pct"),
]


def parse_etf_premium_discount(payload: Any, isin: str | None = None, date: str | None = None) -> pd.DataFrame:
    rows = extract_rows(payload, "output", ETF_PREMIUM_DISCOUNT, date)
    df = rows_to_frame(rows, _PREMIUM_COLS, ETF_PREMIUM_DISCOUNT, date=date, ticker=isin, date_src="TRD_DD")
    return _sort_by_date(df)


_INDEX_COLS = [
    Col("TRD_DD", "date", "date"),
    Col("CLSPRC_IDX", "close"),
    Col("OPNPRC_IDX", "open"),
    Col("HGPRC_IDX", "high"),
    Col("LWPRC_IDX", "low"),
    Col("ACC_TRDVOL", "volume", "int"),
    Col("ACC_TRDVAL", "value", "int"),
    Col("MKTCAP", "market_cap", "int"),
    Col("PRV_DD_CMPR", "change", required=False),
    Col("UPDN_RATE", "change_pct", required=False),
]


def parse_index_history(payload: Any, date: str | None = None, isin: str | None = None) -> pd.DataFrame:
    rows = extract_rows(payload, "output", INDEX_HISTORY, date)
    df = rows_to_frame(rows, _INDEX_COLS, INDEX_HISTORY, date=date, ticker=isin, date_src="TRD_DD")
    return _sort_by_date(df)


def concat_ranges(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate chunked range results, dropping dates repeated at chunk edges."""
    frames = [f for f in frames if f is not None]
    if not frames:
        return pd.DataFrame()
    nonempty = [f for f in frames if len(f)]
    if not nonempty:
        return frames[0]
    df = pd.concat(nonempty, ignore_index=True) if len(nonempty) > 1 else nonempty[0]
    df = df.drop_duplicates(subset=["date"], keep="last")
    return _sort_by_date(df)


# ------------------------------------------------------------------------------------------
# KIS datasets

KIS_ETF_PRICE = "FHPST02400000"
KIS_STOCK_PRICE = "FHKST01010100"
KIS_NAV_TREND = "FHPST02440000"
KIS_NAV_DAILY = "FHPST02440200"
KIS_ETF_COMPONENTS = "FHKST121600C0"
KIS_DAILY_CHART = "FHKST03010100"

EOK = 1e8  # 억원 -> KRW


def kis_output(payload: Any, key: str, dataset: str, code: str | None = None) -> Any:
    if not isinstance(payload, dict):
        raise SourceDataError(dataset, f"expected a JSON object, got {type(payload).__name__}", ticker=code)
    if key not in payload:
        raise SourceDataError(dataset, f"data key {key!r} missing from response", ticker=code, field=key)
    return payload[key]


def _one_row(obj: Any, cols: Sequence[Col], dataset: str, code: str, key: str) -> pd.DataFrame:
    if isinstance(obj, list):
        obj = obj[0] if obj else {}
    if not isinstance(obj, dict) or not obj:
        raise SourceDataError(dataset, f"{key!r} is empty", ticker=code, field=key)
    obj = {**obj, "__code": code}
    df = rows_to_frame([obj], cols, dataset, ticker_src="__code")
    df.insert(0, "code", code)
    return df


_KIS_ETF_PRICE_COLS = [
    Col("stck_prpr", "price"),
    Col("prdy_vrss", "change", required=False),
    Col("prdy_ctrt", "change_pct", required=False),
    Col("stck_oprc", "open", required=False),
    Col("stck_hgpr", "high", required=False),
    Col("stck_lwpr", "low", required=False),
    Col("stck_prdy_clpr", "prev_close", required=False),
    Col("acml_vol", "volume", "int", required=False),
    Col("nav", "nav"),
    Col("prdy_last_nav", "prev_nav", required=False),
    Col("nav_prdy_vrss", "nav_change", required=False),
    Col("nav_prdy_ctrt", "nav_change_pct", required=False),
    Col("etf_ntas_ttam", "aum_krw", "float", required=False, scale=EOK),
    Col("lstn_stcn", "listed_units", "int", required=False),
    Col("etf_crcl_stcn", "circulating_units", "int", required=False),
    Col("trc_errt", "tracking_error_pct", required=False),
    Col("dprt", "premium_discount_pct", required=False),
    Col("nmix_ctrt", "index_change_pct", required=False),
    Col("etf_trc_ert_mltp", "multiple", required=False),
    Col("etf_cu_unit_scrt_cnt", "cu_units", "int", required=False),
    Col("etf_cnfg_issu_cnt", "component_count", "int", required=False),
    Col("etf_rprs_bstp_kor_isnm", "index_name", "text", required=False),
    Col("mbcr_name", "manager", "text", required=False),
    Col("stck_lstn_date", "listing_date", "date", required=False),
]


def parse_kis_etf_price(payload: Any, code: str) -> pd.DataFrame:
    """FHPST02400000 -> one row; aum_krw in KRW (억원 × 1e8); multiple 0.00 (not provided) -> NaN."""
    obj = kis_output(payload, "output", KIS_ETF_PRICE, code)
    df = _one_row(obj, _KIS_ETF_PRICE_COLS, KIS_ETF_PRICE, code, "output")
    df["multiple"] = df["multiple"].where(df["multiple"] != 0.0)
    return df


_KIS_STOCK_PRICE_COLS = [
    Col("stck_prpr", "price"),
    Col("prdy_vrss", "change", required=False),
    Col("prdy_ctrt", "change_pct", required=False),
    Col("stck_oprc", "open", required=False),
    Col("stck_hgpr", "high", required=False),
    Col("stck_lwpr", "low", required=False),
    Col("stck_sdpr", "base_price", required=False),
    Col("stck_mxpr", "upper_limit", required=False),
    Col("stck_llam", "lower_limit", required=False),
    Col("acml_vol", "volume", "int", required=False),
    Col("acml_tr_pbmn", "value", "int", required=False),
    Col("hts_avls", "market_cap_krw", "float", required=False, scale=EOK),
    Col("lstn_stcn", "listed_shares", "int", required=False),
    Col("per", "per", required=False),
    Col("pbr", "pbr", required=False),
    Col("eps", "eps", required=False),
    Col("bps", "bps", required=False),
    Col("w52_hgpr", "high_52w", required=False),
    Col("w52_lwpr", "low_52w", required=False),
    Col("bstp_kor_isnm", "sector", "text", required=False),
]


def parse_kis_stock_price(payload: Any, code: str) -> pd.DataFrame:
    obj = kis_output(payload, "output", KIS_STOCK_PRICE, code)
    df = _one_row(obj, _KIS_STOCK_PRICE_COLS, KIS_STOCK_PRICE, code, "output")
    return df


_KIS_NAV_TREND_PRICE = [
    Col("stck_prpr", "price"),
    Col("prdy_vrss", "change", required=False),
    Col("prdy_ctrt", "change_pct", required=False),
    Col("acml_vol", "volume", "int", required=False),
    Col("acml_tr_pbmn", "value", "int", required=False),
    Col("stck_prdy_clpr", "prev_close", required=False),
    Col("stck_oprc", "open", required=False),
    Col("stck_hgpr", "high", required=False),
    Col("stck_lwpr", "low", required=False),
]
_KIS_NAV_TREND_NAV = [
    Col("nav", "nav"),
    Col("nav_prdy_vrss", "nav_change", required=False),
    Col("nav_prdy_ctrt", "nav_change_pct", required=False),
    Col("prdy_clpr_nav", "prev_nav", required=False),
    Col("oprc_nav", "open_nav", required=False),
    Col("hprc_nav", "high_nav", required=False),
    Col("lprc_nav", "low_nav", required=False),
]


def parse_kis_nav_trend(payload: Any, code: str) -> pd.DataFrame:
    """FHPST02440000 -> one row: price fields (output1) + NAV fields (output2) + premium_discount_pct."""
    p = _one_row(kis_output(payload, "output1", KIS_NAV_TREND, code), _KIS_NAV_TREND_PRICE, KIS_NAV_TREND, code, "output1")
    n = _one_row(kis_output(payload, "output2", KIS_NAV_TREND, code), _KIS_NAV_TREND_NAV, KIS_NAV_TREND, code, "output2")
    df = pd.concat([p, n.drop(columns=["code"])], axis=1)
    df["premium_discount_pct"] = (df["price"] - df["nav"]) / df["nav"] * 100.0
    return df


_KIS_NAV_DAILY_COLS = [
    Col("stck_bsop_date", "date", "date"),
    Col("stck_clpr", "close"),
    Col("prdy_vrss", "change", required=False),
    Col("prdy_ctrt", "change_pct", required=False),
    Col("acml_vol", "volume", "int", required=False),
    Col("nav", "nav"),
    Col("nav_prdy_vrss", "nav_change", required=False),
    Col("nav_prdy_ctrt", "nav_change_pct", required=False),
    Col("nav_vrss_prpr", "nav_vs_price", required=False),
    Col("dprt", "premium_discount_pct_kis", required=False),
]


def _drop_empty(rows: list) -> list[dict]:
    return [r for r in rows if isinstance(r, dict) and any(str(v).strip() for v in r.values())]


def parse_kis_nav_daily(payload: Any, code: str) -> pd.DataFrame:
    """FHPST02440200 page -> rows sorted ascending. `premium_discount_pct` is recomputed from close/nav
    (KIS `dprt` is kept as `premium_discount_pct_kis`; it uses a different reference NAV)."""
    rows = kis_output(payload, "output", KIS_NAV_DAILY, code)
    rows = _drop_empty(rows if isinstance(rows, list) else [rows])
    df = rows_to_frame(rows, _KIS_NAV_DAILY_COLS, KIS_NAV_DAILY, ticker=code, date_src="stck_bsop_date")
    df["premium_discount_pct"] = (df["close"] - df["nav"]) / df["nav"] * 100.0
    return _sort_by_date(df)


_KIS_COMPONENT_COLS = [
    Col("stck_shrn_iscd", "code", "text"),  # cash lines carry longer codes (KRD010010001)
    Col("hts_kor_isnm", "name", "text"),
    Col("stck_prpr", "price"),
    Col("prdy_ctrt", "change_pct", required=False),
    Col("acml_vol", "volume", "int", required=False),
    Col("etf_cnfg_issu_rlim", "weight_pct"),
    Col("etf_cnfg_issu_avls", "component_value_krw"),
    Col("etf_vltn_amt", "valuation_krw", required=False),
    Col("hts_avls", "market_cap_krw", "float", required=False, scale=EOK),
]


def parse_kis_etf_components(payload: Any, code: str) -> pd.DataFrame:
    """FHKST121600C0 -> one row per component. `shares_per_cu` = component value / price (INFERRED:
    KIS has no quantity field), rounded when within 1e-6 of an integer; NaN when price is 0/missing."""
    rows = kis_output(payload, "output2", KIS_ETF_COMPONENTS, code)
    rows = _drop_empty(rows if isinstance(rows, list) else [rows])
    df = rows_to_frame(rows, _KIS_COMPONENT_COLS, KIS_ETF_COMPONENTS, ticker_src="stck_shrn_iscd")
    price = df["price"].where(df["price"] > 0)
    shares = df["component_value_krw"] / price
    rounded = shares.round()
    df["shares_per_cu"] = rounded.where((shares - rounded).abs() < 1e-6, shares)
    df.insert(0, "etf_code", code)
    return df


_KIS_CHART_COLS = [
    Col("stck_bsop_date", "date", "date"),
    Col("stck_oprc", "open"),
    Col("stck_hgpr", "high"),
    Col("stck_lwpr", "low"),
    Col("stck_clpr", "close"),
    Col("acml_vol", "volume", "int"),
    Col("acml_tr_pbmn", "value", "int"),
    Col("prdy_vrss", "change", required=False),
    Col("flng_cls_code", "lock_code", "text", required=False),
    Col("prtt_rate", "split_ratio", required=False),
    Col("mod_yn", "modified", "text", required=False),
]


def parse_kis_daily_chart(payload: Any, code: str) -> pd.DataFrame:
    """FHKST03010100 page: output2 rows (empty {} rows dropped), ascending by date.

    Raises SourceDataError when output1.stck_prpr == "0" (KIS's answer for an unknown symbol).
    """
    head = kis_output(payload, "output1", KIS_DAILY_CHART, code)
    if isinstance(head, dict) and str(head.get("stck_prpr", "")).strip() == "0":
        raise SourceDataError(KIS_DAILY_CHART, "unknown symbol (output1.stck_prpr is 0)", ticker=code)
    rows = kis_output(payload, "output2", KIS_DAILY_CHART, code)
    rows = _drop_empty(rows if isinstance(rows, list) else [rows])
    df = rows_to_frame(rows, _KIS_CHART_COLS, KIS_DAILY_CHART, ticker=code, date_src="stck_bsop_date")
    return _sort_by_date(df)
