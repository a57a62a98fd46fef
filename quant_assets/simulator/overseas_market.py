"""The simulated overseas markets behind the KIS overseas endpoints (kis_overseas.py).

Deterministic from the simulator seed. Per exchange (KIS quotation code EXCD): region, currency,
price decimals (`zdiv`), time zone and calendar. Sessions come from exchange-calendars where it
has the exchange (XNYS for NAS/NYS/AMS, XSHG for SHS and — as an assumption, Shenzhen follows
Shanghai — SZS, XHKG, XTKS); Vietnam has no calendar there, so HSX/HNX use this module's own VN
holidays (weekends, 1 Jan, Tet week, 30 Apr, 1 May, 2 Sep). Where the package's calendar ends
before the simulated range, weekdays continue it.

The master of each exchange holds the default-universe symbols (quant_assets/data/
overseas_universe.yaml: main index members) plus generated fillers (US several thousand), a few
symbols that list and delist inside the range, splits (adjusted vs raw differ), and symbols that
collide across regions (US and VN both list ACB, MSN, ABT, AAM). Prices are generated lazily per
symbol (a seeded random walk), so a big master costs nothing until a symbol is quoted.

Index and FX series (SERIES, served by FHKST03030100) and KIS's index/FX master `frgn_code.mst`
(FRGN_CODES: the same W/P/X symbols plus rows of the other classes) are one inventory, checked at
import: every chartable master row has a series and every series a master row of its class.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import exchange_calendars as xc
import numpy as np
import pandas as pd
import yaml

UNIVERSE_FILE = Path(__file__).resolve().parents[1] / "data" / "overseas_universe.yaml"


@dataclass(frozen=True)
class Exchange:
    excd: str
    region: str
    currency: str
    zdiv: int
    tz: str
    calendar: str | None      # exchange-calendars name, None = the simulator's own (VN)
    fillers: int              # generated symbols beyond the named ones
    ncod: str
    exid: str
    name: str
    base_price: float         # typical price level in local currency


EXCHANGES: dict[str, Exchange] = {e.excd: e for e in (
    Exchange("NAS", "US", "USD", 4, "America/New_York", "XNYS", 2400, "US", "NAS", "NASDAQ", 80.0),
    Exchange("NYS", "US", "USD", 4, "America/New_York", "XNYS", 1800, "US", "NYS", "NEW YORK", 60.0),
    Exchange("AMS", "US", "USD", 4, "America/New_York", "XNYS", 300, "US", "AMS", "AMEX", 15.0),
    Exchange("SHS", "CN", "CNY", 2, "Asia/Shanghai", "XSHG", 150, "CN", "SHS", "SHANGHAI", 20.0),
    Exchange("SZS", "CN", "CNY", 2, "Asia/Shanghai", "XSHG", 150, "CN", "SZS", "SHENZHEN", 15.0),
    Exchange("HKS", "HK", "HKD", 3, "Asia/Hong_Kong", "XHKG", 150, "HK", "HKS", "HONG KONG", 40.0),
    Exchange("TSE", "JP", "JPY", 1, "Asia/Tokyo", "XTKS", 150, "JP", "TSE", "TOKYO", 2500.0),
    Exchange("HSX", "VN", "VND", 0, "Asia/Ho_Chi_Minh", None, 120, "VN", "HSX", "HOCHIMINH", 40000.0),
    Exchange("HNX", "VN", "VND", 0, "Asia/Ho_Chi_Minh", None, 80, "VN", "HNX", "HANOI", 20000.0),
)}
# Master file name (without "mst.cod.zip") per exchange code, as KIS publishes them.
MASTER_NAMES = {e.lower(): e for e in EXCHANGES}
# Symbols listed in both the US and VN masters (Spock's registry lost 139 of these).
COLLISIONS = {"NAS": ["ACB", "AAM"], "AMS": ["MSN"], "NYS": ["ABT"], "HSX": ["ACB", "MSN", "ABT", "AAM"]}
# (excd, symbol) -> (split date, ratio): adjusted (MODP=1) and raw (MODP=0) differ before it.
SPLITS_DAYS_BEFORE_END = {("NAS", "NVDA"): (400, 10.0), ("TSE", "7203"): (300, 5.0), ("HKS", "00700"): (200, 2.0),
                          ("HSX", "VNM"): (150, 1.2)}
# Symbols that list / delist inside the range: (excd, symbol, list days before end, delist days before end)
LIFECYCLE = [("NAS", "NEWCO", 180, None), ("NYS", "OLDCO", None, 60), ("HSX", "VNOLD", None, 40),
             ("SHS", "688999", 120, None)]


def _vn_holidays(year: int) -> set[dt.date]:
    tet = {2010: "02-14", 2011: "02-03", 2012: "01-23", 2013: "02-10", 2014: "01-31", 2015: "02-19",
           2016: "02-08", 2017: "01-28", 2018: "02-16", 2019: "02-05", 2020: "01-25", 2021: "02-12",
           2022: "02-01", 2023: "01-22", 2024: "02-10", 2025: "01-29", 2026: "02-17", 2027: "02-06",
           2028: "01-26"}.get(year, "02-01")
    t = dt.date.fromisoformat(f"{year}-{tet}")
    days = {t + dt.timedelta(days=k) for k in range(-1, 4)}
    days |= {dt.date(year, 1, 1), dt.date(year, 4, 30), dt.date(year, 5, 1), dt.date(year, 9, 2)}
    return days


@functools.cache
def sessions(calendar: str | None, start: dt.date, end: dt.date) -> tuple[dt.date, ...]:
    """Trading days of one calendar in [start, end] (weekdays after the package's last session)."""
    weekdays = [d.date() for d in pd.bdate_range(start, end)]
    if calendar is None:
        hol: set[dt.date] = set()
        for y in range(start.year, end.year + 1):
            hol |= _vn_holidays(y)
        return tuple(d for d in weekdays if d not in hol)
    cal = xc.get_calendar(calendar, start=pd.Timestamp(min(start, dt.date(2010, 1, 1))))
    last = cal.last_session.date()
    known = {s.date() for s in cal.sessions_in_range(pd.Timestamp(start), pd.Timestamp(min(end, last)))}
    return tuple(d for d in weekdays if (d in known if d <= last else True))


@functools.cache
def _session_set(calendar: str | None, start: dt.date, end: dt.date) -> frozenset[dt.date]:
    return frozenset(sessions(calendar, start, end))


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass
class Symbol:
    excd: str
    symb: str
    enam: str
    knam: str
    stis: str = "2"            # 2 stock, 3 ETP
    icod: str = "0000"
    list_date: dt.date | None = None
    delist_date: dt.date | None = None   # first day not traded
    split: tuple[dt.date, float] | None = None
    industry: str = "기타"


@dataclass
class Bars:
    dates: list[dt.date]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    factor: np.ndarray           # raw price x factor = adjusted price (latest share basis)
    extra: dict = field(default_factory=dict)


INDUSTRIES = [("0010", "반도체"), ("0020", "소프트웨어"), ("0030", "은행"), ("0040", "자동차"), ("0050", "유통"),
              ("0060", "제약"), ("0070", "에너지"), ("0080", "통신")]


class OverseasMarket:
    """Symbols, masters and daily bars of the nine overseas exchanges."""

    def __init__(self, seed: int, start: dt.date, end: dt.date, today: dt.date):
        self.seed, self.start, self.end, self.today = seed, start, end, today
        named = yaml.safe_load(UNIVERSE_FILE.read_text(encoding="utf-8"))["exchanges"]
        self.symbols: dict[str, dict[str, Symbol]] = {}
        self._region_symbols: dict[str, set[str]] = {}
        for excd, ex in EXCHANGES.items():     # named symbols and collisions of every exchange first,
            book: dict[str, Symbol] = {}       # so generated fillers never duplicate one in their region
            for row in named.get(excd, []):
                sym, enam = (row, row) if isinstance(row, str) else (str(row[0]), str(row[1]))
                book[sym] = Symbol(excd, sym, enam, f"{enam} (한글)")
            for sym in COLLISIONS.get(excd, []):
                book.setdefault(sym, Symbol(excd, sym, f"{sym} {ex.region} Corp", f"{sym} {ex.region} 법인"))
            self.symbols[excd] = book
        for excd, ex in EXCHANGES.items():
            book = self.symbols[excd]
            for sym in self._fillers(ex, set(book)):
                book[sym] = Symbol(excd, sym, f"{sym} Holdings", f"{sym} 홀딩스")
            for k, s in enumerate(book.values()):
                s.icod, s.industry = INDUSTRIES[k % len(INDUSTRIES)]
        for (excd, sym), (days, ratio) in SPLITS_DAYS_BEFORE_END.items():
            if sym in self.symbols[excd]:
                self.symbols[excd][sym].split = (self._session_near(excd, today - dt.timedelta(days=days)), ratio)
        for excd, sym, list_days, delist_days in LIFECYCLE:
            s = self.symbols[excd].setdefault(sym, Symbol(excd, sym, f"{sym} Inc", f"{sym} 주식회사"))
            if list_days:
                s.list_date = self._session_near(excd, today - dt.timedelta(days=list_days))
            if delist_days:
                s.delist_date = self._session_near(excd, today - dt.timedelta(days=delist_days))

    def _fillers(self, ex: Exchange, taken: set[str]) -> list[str]:
        rng = _rng(self.seed, "fillers", ex.excd)
        out: list[str] = []
        letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        k = 0
        while len(out) < ex.fillers:
            k += 1
            if ex.region == "US":
                sym = "".join(rng.choice(letters, size=int(rng.integers(3, 5))))
                if sym in COLLISIONS["HSX"]:
                    continue
            elif ex.excd == "SHS":
                sym = f"{601000 + k:06d}"
            elif ex.excd == "SZS":
                sym = f"{2000 + k:06d}"
            elif ex.region == "HK":
                sym = f"{3000 + k:05d}"
            elif ex.region == "JP":
                sym = f"{5000 + k:04d}"
            else:
                sym = "".join(rng.choice(letters, size=3)) + ("" if ex.excd == "HSX" else "H")
            if ex.region not in self._region_symbols:
                self._region_symbols[ex.region] = {
                    s for e, book in self.symbols.items() if EXCHANGES[e].region == ex.region for s in book}
            region = self._region_symbols[ex.region]
            if sym not in taken and sym not in region:
                out.append(sym)
                region.add(sym)
        return out

    def sessions(self, excd: str) -> tuple[dt.date, ...]:
        return sessions(EXCHANGES[excd].calendar, self.start, self.end)

    def is_session(self, excd: str, day: dt.date) -> bool:
        return day in _session_set(EXCHANGES[excd].calendar, self.start, self.end)

    def _session_near(self, excd: str, day: dt.date) -> dt.date:
        return next(d for d in self.sessions(excd) if d >= day)

    def symbol(self, excd: str, symb: str) -> Symbol | None:
        return self.symbols.get(excd, {}).get(symb)

    def listed(self, excd: str, on: dt.date) -> list[Symbol]:
        """What the master of `excd` holds on `on`: listed, not yet delisted."""
        return [s for s in self.symbols[excd].values()
                if (s.list_date is None or s.list_date <= on) and (s.delist_date is None or s.delist_date > on)]

    @functools.lru_cache(maxsize=512)  # noqa: B019 - one market per server, bounded cache (~60 MB)
    def bars(self, excd: str, symb: str) -> Bars:
        """Raw daily bars over the symbol's trading life, plus the split-adjustment factor."""
        ex, s = EXCHANGES[excd], self.symbols[excd][symb]
        days = [d for d in self.sessions(excd) if (s.list_date is None or d >= s.list_date)
                and (s.delist_date is None or d < s.delist_date)]
        n = len(days)
        rng = _rng(self.seed, "bars", excd, symb)
        level = ex.base_price * float(np.exp(rng.normal(0, 0.6)))
        rets = rng.normal(0.0003, 0.018, n)
        adj_close = level * np.exp(np.cumsum(rets) - rets.sum())        # ends near `level`
        factor = np.ones(n)
        if s.split is not None:
            factor[np.array([d < s.split[0] for d in days], dtype=bool)] = 1.0 / s.split[1]
        close = adj_close / factor
        gap = rng.normal(0, 0.006, n)
        open_ = close * np.exp(gap)
        hi = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.008, n)))
        lo = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.008, n)))
        r = lambda a: np.round(a, ex.zdiv)  # noqa: E731
        volume = np.round(rng.lognormal(13, 1, n) * factor).astype(np.int64)
        return Bars(days, r(open_), r(hi), r(lo), r(close), volume, factor)


# ---------------------------------------------------------------------- index and FX series
@dataclass(frozen=True)
class Series:
    symbol: str
    kind: str             # N index, X exchange rate
    name: str
    calendar: str | None  # sessions the series has
    level: float
    vol: float
    decimals: int = 2
    volume: bool = True


# Symbols: the master `frgn_code.mst` (FRGN_CODES below) is what a client resolves them from; the
# chart serves exactly the W/P (market division N) and X rows of that master. SPX, COMP, .DJI,
# FX@KRW and FX@KRWJS are KIS's documented symbols (reference §1.4); the others follow spellings
# seen in third-party KIS code (JP#NI225, HK#HS, SHANG) or are the simulator's own.
SERIES: dict[str, Series] = {s.symbol: s for s in (
    Series("SPX", "N", "S&P 500", "XNYS", 5000.0, 0.010),
    Series("COMP", "N", "NASDAQ Composite", "XNYS", 16000.0, 0.013),
    Series(".DJI", "N", "Dow Jones Industrial Average", "XNYS", 38000.0, 0.009),
    Series("NDX", "N", "NASDAQ 100", "XNYS", 18000.0, 0.013),
    Series("SOX", "N", "PHLX Semiconductor", "XNYS", 4500.0, 0.020),
    Series("JP#NI225", "N", "Nikkei 225", "XTKS", 38000.0, 0.012),
    Series("JP#TOPIX", "N", "TOPIX", "XTKS", 2700.0, 0.011),
    Series("HK#HS", "N", "Hang Seng", "XHKG", 18000.0, 0.013),
    Series("HK#HSCE", "N", "Hang Seng China Enterprises", "XHKG", 6300.0, 0.015),
    Series("SHANG", "N", "Shanghai Composite", "XSHG", 3100.0, 0.011),
    Series("SHANGA", "N", "Shanghai A Share", "XSHG", 3250.0, 0.011),
    Series("VN#VNI", "N", "VN-Index", None, 1200.0, 0.011),
    Series("VN#VN30", "N", "VN30", None, 1250.0, 0.012),
    # KRW per 1 USD / HKD / CNY / EUR, per 100 JPY / VND: quoted on Seoul trading days (XKRX);
    # the USD-based crosses (EUR/USD, USD/JPY, USD/CNY, USD/HKD) are in the master too.
    Series("FX@KRW", "X", "USD/KRW", "XKRX", 1330.0, 0.004, 2, False),
    Series("FX@KRWKFTC", "X", "USD/KRW (KFTC)", "XKRX", 1331.0, 0.004, 2, False),
    Series("FX@KRWHK", "X", "HKD/KRW", "XKRX", 170.5, 0.004, 2, False),
    Series("FX@KRWCN", "X", "CNY/KRW", "XKRX", 184.2, 0.004, 2, False),
    Series("FX@KRWJS", "X", "JPY/KRW (100)", "XKRX", 905.0, 0.005, 2, False),
    Series("FX@KRWVN", "X", "VND/KRW (100)", "XKRX", 5.45, 0.004, 4, False),
    Series("FX@KRWEU", "X", "EUR/KRW", "XKRX", 1450.0, 0.004, 2, False),
    Series("FX@EUR", "X", "EUR/USD", "XKRX", 1.09, 0.004, 4, False),
    Series("FX@JPY", "X", "USD/JPY", "XKRX", 147.0, 0.005, 2, False),
    Series("FX@CNY", "X", "USD/CNY", "XKRX", 7.22, 0.003, 4, False),
    Series("FX@HKD", "X", "USD/HKD", "XKRX", 7.81, 0.001, 4, False),
)}


# ---------------------------------------------------------------------- frgn_code.mst
@dataclass(frozen=True)
class FrgnCode:
    """One row of KIS's index/FX master `frgn_code.mst` (stocks_info/해외주식지수정보.h)."""

    cls_code: str         # W world index, P US index, Q US stock, X FX, C commodity, B bonds ...
    symb: str
    eng: str
    kor: str
    bstp: str = ""        # industry code (stocks)
    dow30: str = "0"
    ndx100: str = "0"
    spx500: str = "0"
    exch: str = ""
    ntnl: str = ""


# (field, byte width) in file order: 1 + 10 + 39 + 40 + 4 + 1 + 1 + 1 + 4 + 3 = 104 bytes a row.
FRGN_LAYOUT = (("cls_code", 1), ("symb", 10), ("hts_eng_isnm", 39), ("hts_kor_isnm", 40), ("bstp_cls_code", 4),
               ("dow_30_yn", 1), ("nasdaq_100_yn", 1), ("snp_500_yn", 1), ("exch_cls_code", 4),
               ("ntnl_cls_code", 3))
FRGN_CODES: tuple[FrgnCode, ...] = (
    FrgnCode("P", "SPX", "S&P 500", "S&P 500", exch="NYS", ntnl="USA"),
    FrgnCode("P", "COMP", "NASDAQ COMPOSITE", "나스닥 종합", exch="NAS", ntnl="USA"),
    FrgnCode("P", ".DJI", "DOW JONES INDUSTRIAL AVERAGE", "다우존스 산업평균", exch="NYS", ntnl="USA"),
    FrgnCode("P", "NDX", "NASDAQ 100", "나스닥 100", exch="NAS", ntnl="USA"),
    FrgnCode("P", "SOX", "PHLX SEMICONDUCTOR", "필라델피아 반도체", exch="NAS", ntnl="USA"),
    FrgnCode("W", "JP#NI225", "NIKKEI 225", "일본 니케이225", exch="TSE", ntnl="JPN"),
    FrgnCode("W", "JP#TOPIX", "TOPIX", "일본 토픽스", exch="TSE", ntnl="JPN"),
    FrgnCode("W", "HK#HS", "HANG SENG", "홍콩 항셍", exch="HKS", ntnl="HKG"),
    FrgnCode("W", "HK#HSCE", "HANG SENG CHINA ENTERPRISES", "홍콩 H지수(항셍중국기업)", exch="HKS", ntnl="HKG"),
    FrgnCode("W", "SHANG", "SHANGHAI COMPOSITE", "중국 상해종합", exch="SHS", ntnl="CHN"),
    FrgnCode("W", "SHANGA", "SHANGHAI A SHARE", "중국 상해A", exch="SHS", ntnl="CHN"),
    FrgnCode("W", "VN#VNI", "VN INDEX", "베트남 VN지수", exch="HSX", ntnl="VNM"),
    FrgnCode("W", "VN#VN30", "VN30 INDEX", "베트남 VN30", exch="HSX", ntnl="VNM"),
    FrgnCode("X", "FX@KRW", "USD/KRW", "대한민국 원/달러(KMB)", ntnl="KOR"),
    FrgnCode("X", "FX@KRWKFTC", "USD/KRW KFTC", "원/달러(금융결제원)", ntnl="KOR"),
    FrgnCode("X", "FX@KRWJS", "JPY100/KRW", "원/엔(100엔)", ntnl="KOR"),
    FrgnCode("X", "FX@KRWHK", "HKD/KRW", "원/홍콩달러", ntnl="KOR"),
    FrgnCode("X", "FX@KRWCN", "CNY/KRW", "원/위안", ntnl="KOR"),
    FrgnCode("X", "FX@KRWVN", "VND100/KRW", "원/베트남동(100동)", ntnl="KOR"),
    FrgnCode("X", "FX@KRWEU", "EUR/KRW", "원/유로", ntnl="KOR"),
    FrgnCode("X", "FX@EUR", "EUR/USD", "달러/유로", ntnl="EUR"),
    FrgnCode("X", "FX@JPY", "USD/JPY", "엔/달러", ntnl="JPN"),
    FrgnCode("X", "FX@CNY", "USD/CNY", "위안/달러", ntnl="CHN"),
    FrgnCode("X", "FX@HKD", "USD/HKD", "홍콩달러/달러", ntnl="HKG"),
    # other classes (not served by the chart's N/X divisions): noise a resolver must skip
    FrgnCode("Q", "AAPL", "APPLE INC", "애플", "TECH", "1", "1", "1", "NAS", "USA"),
    FrgnCode("Q", "MSFT", "MICROSOFT CORP", "마이크로소프트", "TECH", "1", "1", "1", "NAS", "USA"),
    FrgnCode("Q", "JPM", "JPMORGAN CHASE & CO", "JP모건체이스", "BANK", "1", "0", "1", "NYS", "USA"),
    FrgnCode("H", "7203", "TOYOTA MOTOR", "도요타자동차", "AUTO", exch="TSE", ntnl="JPN"),
    FrgnCode("D", "KB", "KB FINANCIAL GROUP ADR", "KB금융 ADR", "BANK", exch="NYS", ntnl="USA"),
    FrgnCode("F", "EDNH", "E-MINI S&P 500 FUTURES", "E-미니 S&P500 선물", exch="CME", ntnl="USA"),
    FrgnCode("C", "NYGOLD", "NEW YORK GOLD", "뉴욕 금", exch="CMX", ntnl="USA"),
    FrgnCode("M", "4D8G182", "DRAM DDR4 8GB", "DRAM DDR4 8Gb", ntnl="KOR"),
    FrgnCode("R", "Y0101", "KTB 3Y", "국고채 3년", ntnl="KOR"),
    FrgnCode("B", "Y0202", "US TREASURY 10Y", "미국 국채 10년", ntnl="USA"),
    FrgnCode("L", "LIBOR3M", "USD LIBOR 3M", "미국 리보 3개월", ntnl="USA"),
)


def frgn_record(c: FrgnCode) -> dict[str, str]:
    """The row as field -> text (the keys of FRGN_LAYOUT)."""
    return {"cls_code": c.cls_code, "symb": c.symb, "hts_eng_isnm": c.eng, "hts_kor_isnm": c.kor,
            "bstp_cls_code": c.bstp, "dow_30_yn": c.dow30, "nasdaq_100_yn": c.ndx100, "snp_500_yn": c.spx500,
            "exch_cls_code": c.exch, "ntnl_cls_code": c.ntnl}


def frgn_line(record: dict[str, str]) -> bytes:
    """One fixed-width cp949 line: each field padded with spaces to its BYTE width (a Korean
    character is 2 bytes). A field missing from `record` is left out (a malformed, short row)."""
    out = b""
    for name, width in FRGN_LAYOUT:
        if name not in record:
            continue
        raw = str(record[name]).encode("cp949")
        out += raw.ljust(width, b" ")
    return out


def _check_frgn() -> None:
    by_symb = {c.symb: c for c in FRGN_CODES}
    for c in FRGN_CODES:
        for name, width in FRGN_LAYOUT:
            if len(frgn_record(c)[name].encode("cp949")) > width:
                raise AssertionError(f"frgn_code.mst row {c.symb}: {name} wider than {width} bytes")
        if c.cls_code in ("W", "P", "X") and c.symb not in SERIES:
            raise AssertionError(f"frgn_code.mst row {c.symb} (class {c.cls_code}) has no chart series")
    for s in SERIES.values():
        c = by_symb.get(s.symbol)
        if c is None or (c.cls_code == "X") != (s.kind == "X"):
            raise AssertionError(f"chart series {s.symbol} ({s.kind}) is not in frgn_code.mst under a matching class")


_check_frgn()


@functools.lru_cache(maxsize=64)
def series_bars(seed: int, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Daily open/high/low/close/volume of one index or FX series, indexed by local date."""
    s = SERIES[symbol]
    if s.calendar == "XKRX":
        from .calendar import trading_days
        days = trading_days(start, end)
    else:
        days = list(sessions(s.calendar, start, end))
    rng = _rng(seed, "series", symbol)
    n = len(days)
    rets = rng.normal(0.0001, s.vol, n)
    close = s.level * np.exp(np.cumsum(rets) - rets.sum())
    open_ = close * np.exp(rng.normal(0, s.vol / 3, n))
    hi = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, s.vol / 3, n)))
    lo = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, s.vol / 3, n)))
    vol = np.round(rng.lognormal(19, 0.5, n)).astype(np.int64) if s.volume else np.zeros(n, dtype=np.int64)
    r = lambda a: np.round(a, s.decimals)  # noqa: E731
    return pd.DataFrame({"open": r(open_), "high": r(hi), "low": r(lo), "close": r(close), "volume": vol},
                        index=pd.Index(days, name="date"))


def local_now(now: dt.datetime, excd_or_tz: str) -> dt.datetime:
    tz = EXCHANGES[excd_or_tz].tz if excd_or_tz in EXCHANGES else excd_or_tz
    return now.astimezone(ZoneInfo(tz))
