"""`overseas_ohlcv_{us,cn,hk,jp,vn}`: raw daily bars of each region's universe into `ohlcv_data`.

Same guarantees as the KR `ohlcv` asset: the run's days are handled one by one through
`for_each_trading_day(..., region=...)`, each validated (pandera) and written in its own
transaction (`Warehouse.replace_partition`, where = region + local date + timeframe 'D'), with a
per-(asset, region, day) row in partition_status. What differs is the fetch: KIS serves one symbol
per call and up to 100 days per call, so a run fetches each member's bars over the run's whole
range first (raw MODP=0 and adjusted MODP=1: 2 x ceil(days/100) calls per symbol) and then cuts
them into days. A member whose fetch failed fails exactly the days its failed page covered.

A day fails (nothing written, reason recorded) when a member the master does not know is in the
universe, a member's answer was refused or unusable, a member that traded before and after the
day has no bar on it (a hole the source left), or a price looks like a unit change (a x3 jump
that the adjusted series does not explain as a split). A day on which no member has a bar is
`market_closed`: that is how VN sessions (no exchange calendar) and unlisted closures are learnt.
"""


import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd

from quant_assets.assets.daily import INGEST_POLICY, DayResult, for_each_trading_day
from quant_assets.assets.overseas import calendars
from quant_assets.assets.overseas.universe import UNIVERSE_ASSETS, Member, members
from quant_assets.errors import MarketClosedError, SourceDataError, SourceError, SourceStopError
from quant_assets.resources import overseas_parsing as OP
from quant_assets.resources.kis import KISClient
from quant_assets.resources.warehouse import Warehouse
from quant_assets.schemas.overseas import CURRENCIES, OverseasOhlcvSchema
from quant_assets.schemas.validation import validate

STATUS_ASSET = "overseas_ohlcv"
SOURCE = "KIS HHDFS76240000 (MODP 0+1)"
JUMP = 3.0          # a day-over-day move beyond x3 or /3 must be a split the adjusted series explains
LOOKBACK_DAYS = 10  # calendar days fetched before the range so the first day's jump check has a neighbour
COLUMNS = ["date", "ticker", "region", "timeframe", "asset_type", "exchange_code", "currency", "open", "high", "low",
           "close", "adj_close", "change", "change_pct", "volume", "value"]


def unit_problem(bars: pd.DataFrame) -> tuple[dt.date, str] | None:
    """(date, field) of the first price that looks like the wrong unit, else None.

    The adjusted series is continuous by construction, so a x3 jump there is wrong. A raw jump is
    a split only if the adjustment factor (adj_close / close) changes on that day and keeps its
    new value; a factor that jumps and comes back is one bar in another unit (cents, x100)."""
    if len(bars) < 2:
        return None
    close, adj = bars["close"].to_numpy(float), bars["adj_close"].to_numpy(float)
    factor = adj / close
    for j in range(1, len(bars)):
        if not (1 / JUMP < adj[j] / adj[j - 1] < JUMP):
            return bars["date"].iloc[j], "clos (MODP=1)"
        if not (1 / JUMP < close[j] / close[j - 1] < JUMP):
            persists = j + 1 >= len(bars) or np.isclose(factor[j + 1], factor[j], rtol=1e-3)
            if np.isclose(factor[j], factor[j - 1], rtol=1e-3) or not persists:
                return bars["date"].iloc[j], "clos"
    return None


class RangeFetch:
    """Every member's raw + adjusted bars over one run's range, fetched on first use."""

    def __init__(self, kis: KISClient, region: str, people: list[Member], start: dt.date, end: dt.date):
        self.kis, self.region, self.members, self.start, self.end = kis, region, people, start, end
        self.bars: dict[str, pd.DataFrame] = {}
        self.errors: list[tuple[dt.date, dt.date, Exception]] = []   # (first, last day it covers, error)
        self.calls = 0
        self._done = False

    def run(self) -> None:
        if self._done:
            return
        self._done = True
        expected = CURRENCIES[self.region]
        for m in self.members:
            where = {"region": self.region, "exchange": m.excd, "symbol": m.symbol}
            if not m.ticker:
                self.errors.append((self.start, self.end, OP.OverseasDataError(
                    OP.DAILY, "symbol not in the KIS master of its exchange (universe out of date?)",
                    field="SYMB", **where)))
                continue
            if m.currency != expected:
                self.errors.append((self.start, self.end, OP.OverseasDataError(
                    OP.DAILY, f"the master quotes it in {m.currency!r}, expected {expected}", field="curr", **where)))
                continue
            try:
                lo = self.start - dt.timedelta(days=LOOKBACK_DAYS)
                raw = self.kis.overseas_daily(m.excd, m.symbol, lo, self.end, adjusted=False)
                adj = self.kis.overseas_daily(m.excd, m.symbol, lo, self.end, adjusted=True)
            except SourceStopError:
                raise
            except OP.OverseasDataError as exc:
                self.errors.append((self.start, self.end, exc))   # its good pages are lost too: the whole range
                continue
            except (SourceError, SourceDataError) as exc:
                self.errors.append((self.start, self.end, exc))
                continue
            if not raw["date"].equals(adj["date"]):
                self.errors.append((self.start, self.end, OP.OverseasDataError(
                    OP.DAILY, "raw (MODP=0) and adjusted (MODP=1) answers cover different dates", field="xymd",
                    **where)))
                continue
            bars = raw.assign(adj_close=adj["close"].to_numpy())
            problem = unit_problem(bars)
            if problem is not None:   # only that day fails; the member's other days are fine
                day, fld = problem
                self.errors.append((day, day, OP.OverseasDataError(
                    OP.DAILY, "price jumps more than x3 without a split in the adjusted series: wrong unit?",
                    field=fld, date=f"{day:%Y%m%d}", **where)))
            self.bars[m.ticker] = bars if problem is None else bars[bars["date"] != problem[0]]

    def day(self, day: dt.date) -> pd.DataFrame:
        self.run()
        for first, last, exc in self.errors:
            if first <= day <= last:
                raise exc
        rows, holes = [], []
        for m in self.members:
            b = self.bars.get(m.ticker)
            if b is None:   # its error covers other days only
                continue
            hit = b[b["date"] == day]
            if hit.empty:
                if len(b) and b["date"].min() < day < b["date"].max():
                    holes.append(m)
                continue
            rows.append(hit.iloc[0].to_dict() | {"ticker": m.ticker, "asset_type": m.asset_type,
                                                  "exchange_code": m.excd})
        if not rows and holes:   # everyone traded around the day but nobody on it: a closure the
            # calendar (or, for VN, no calendar) did not know -- the source shows it
            raise MarketClosedError(f"overseas_ohlcv {self.region}", day.strftime("%Y%m%d"))
        if not rows:             # no bars around the day at all: nothing proves a closure
            raise OP.OverseasDataError(OP.DAILY, "no member has a bar on or around this day (not published yet, "
                                       "or empty answers)", region=self.region, exchange=None, symbol=None,
                                       date=f"{day:%Y%m%d}", field="output2")
        if holes:
            m = holes[0]
            raise OP.OverseasDataError(OP.DAILY, f"no bar on a day the symbol traded before and after while "
                                       f"{len(rows)} other members have one (an empty or short page?)",
                                       region=self.region, exchange=m.excd, symbol=m.symbol,
                                       date=f"{day:%Y%m%d}", field="xymd")
        frame = pd.DataFrame(rows).assign(region=self.region, timeframe="D", currency=CURRENCIES[self.region])
        frame["date"] = pd.to_datetime(frame["date"])
        return frame[COLUMNS]


def build_ohlcv_asset(region: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(f"overseas_ohlcv_{region.lower()}")

    @dg.asset(
        key=key, partitions_def=calendars.partitions(region), backfill_policy=INGEST_POLICY, pool="kis",
        group_name="global", kinds={"postgres", "pandas"}, deps=[UNIVERSE_ASSETS[region].key],
        description=f"Raw daily bars of the {region} universe (KIS dailyprice, local trading dates on "
                    f"{calendars.CALENDAR[region] or 'source-derived VN sessions'}), with currency, exchange "
                    "code and KIS's split-adjusted close, in `ohlcv_data` (region "
                    f"{region}).",
        metadata={"dagster/table_name": "quant.public.ohlcv_data"},
    )
    def _asset(context: dg.AssetExecutionContext, kis: KISClient, warehouse: Warehouse):
        days = [dt.date.fromisoformat(k) for k in context.partition_keys]
        fetch = RangeFetch(kis, region, members(warehouse, region, days[0]), days[0], days[-1])

        def process_day(day: dt.date) -> list[DayResult]:
            frame = validate(OverseasOhlcvSchema, fetch.day(day), dataset=f"overseas_ohlcv {region}",
                             date=day.isoformat())
            warehouse.replace_partition("ohlcv_data", frame, where={"region": region, "date": day, "timeframe": "D"},
                                        status=(STATUS_ASSET, day, SOURCE))
            return [DayResult(key, frame, SOURCE, {"members": len(fetch.members)})]

        yield from for_each_trading_day(context, warehouse, process_day, status_assets=[STATUS_ASSET],
                                        region=region)

    return _asset


OHLCV_ASSETS = {r: build_ohlcv_asset(r) for r in calendars.REGIONS}
