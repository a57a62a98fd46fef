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


SERIES: dict[str, Series] = {s.symbol: s for s in (
    Series("SPX", "N", "S&P 500", "XNYS", 5000.0, 0.010),
    Series("COMP", "N", "NASDAQ Composite", "XNYS", 16000.0, 0.013),
    Series(".DJI", "N", "Dow Jones Industrial Average", "XNYS", 38000.0, 0.009),
    Series("NI225", "N", "Nikkei 225", "XTKS", 38000.0, 0.012),
    Series("HSI", "N", "Hang Seng", "XHKG", 18000.0, 0.013),
    Series("SHCOMP", "N", "Shanghai Composite", "XSHG", 3100.0, 0.011),
    Series("VNINDEX", "N", "VN-Index", None, 1200.0, 0.011),
    # KRW per 1 USD / HKD / CNY, per 100 JPY / VND: quoted on Seoul trading days (XKRX).
    Series("FX@KRW", "X", "USD/KRW", "XKRX", 1330.0, 0.004, 2, False),
    Series("FX@KRWHKD", "X", "HKD/KRW", "XKRX", 170.5, 0.004, 2, False),
    Series("FX@KRWCNY", "X", "CNY/KRW", "XKRX", 184.2, 0.004, 2, False),
    Series("FX@KRWJS", "X", "JPY/KRW (100)", "XKRX", 905.0, 0.005, 2, False),
    Series("FX@KRWVND", "X", "VND/KRW (100)", "XKRX", 5.45, 0.004, 4, False),
)}


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
