"""`global_market_indices_{us,cn,hk,jp,vn}`: world index closes from KIS (FHKST03030100, N).

Each region's indices are partitioned on that region's exchange calendar (S&P 500, NASDAQ
Composite and Dow on XNYS, Nikkei 225 on XTKS, Hang Seng on XHKG, Shanghai Composite on XSHG,
VN-Index on source-derived VN sessions). change_percent is computed from the previous close KIS
returned (the range is fetched with a lookback), never left empty. A day on which none of the
region's indices has a bar is `market_closed`; one index missing while another has a bar fails
the day. Rows of the day and region are replaced in one transaction (a Spock import's yfinance row
for the same (date, symbol) is superseded).

Symbols: S&P 500, NASDAQ Composite and Dow use KIS's documented SPX, COMP, .DJI (official samples,
reference §1.4). The others are resolved once per run from KIS's index master `frgn_code.mst`
(class W "world index" + a pattern on the English name, through the same KISClient and rate
limiter); a wanted index missing from the master (or matched twice) fails every partition of the
run with an error naming region, index and file, and nothing is written: no symbol is guessed.
`global_market_indices.symbol` is the symbol actually requested.
"""


import datetime as dt

import dagster as dg
import pandas as pd

from quant_assets.assets.daily import INGEST_POLICY, DayResult, for_each_trading_day
from quant_assets.assets.overseas import calendars
from quant_assets.errors import MarketClosedError, SourceDataError, SourceError, SourceStopError
from quant_assets.resources import overseas_parsing as OP
from quant_assets.resources.kis import KISClient
from quant_assets.resources.warehouse import Warehouse
from quant_assets.schemas.overseas import CURRENCIES, GlobalIndexSchema
from quant_assets.schemas.validation import validate

# US: (KIS symbol, name), documented in KIS's samples (reference §1.4) and used as they are.
US_INDICES = [("SPX", "S&P 500"), ("COMP", "NASDAQ Composite"), (".DJI", "Dow Jones Industrial Average")]
# The other regions: what to look for in frgn_code.mst (class W, English name), one row each.
WANTED = {
    "JP": [OP.WantedSeries("JP", "Nikkei 225", "W", r"^NIKKEI\s*225(\s+INDEX)?$")],
    "HK": [OP.WantedSeries("HK", "Hang Seng", "W", r"^HANG\s*SENG(\s+INDEX)?$")],
    "CN": [OP.WantedSeries("CN", "Shanghai Composite", "W", r"^SHANGHAI\s+(SE\s+)?COMPOSITE(\s+INDEX)?$")],
    "VN": [OP.WantedSeries("VN", "VN-Index", "W", r"^VN[\s-]*INDEX$")],
}
# region -> index names (what each region's asset loads)
INDICES = {"US": [n for _, n in US_INDICES], **{r: [w.name for w in ws] for r, ws in WANTED.items()}}


def resolve_indices(kis: KISClient, region: str) -> list[tuple[str, str]]:
    """(KIS symbol, name) of the region's indices; non-US from frgn_code.mst (one download)."""
    if region == "US":
        return list(US_INDICES)
    codes = kis.overseas_index_codes()
    return [(OP.resolve_frgn(codes, w, region=region), w.name) for w in WANTED[region]]
SOURCE = "KIS FHKST03030100"
LOOKBACK_DAYS = 12
STATUS_ASSET = "global_market_indices"


class IndexFetch:
    def __init__(self, kis: KISClient, region: str, start: dt.date, end: dt.date):
        self.kis, self.region, self.start, self.end = kis, region, start, end
        self.series: dict[str, pd.DataFrame] = {}
        self.indices: list[tuple[str, str]] = []   # (symbol used, name)
        self.error: Exception | None = None
        self._done = False

    def run(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self.indices = resolve_indices(self.kis, self.region)
        except SourceStopError:
            raise
        except (SourceError, SourceDataError) as exc:
            self.error = exc
            return
        for symbol, _ in self.indices:
            try:
                df = self.kis.overseas_chart("N", symbol, self.start - dt.timedelta(days=LOOKBACK_DAYS), self.end,
                                             region=self.region)
            except SourceStopError:
                raise
            except (SourceError, SourceDataError) as exc:
                self.error = exc
                return
            df = df.set_index("date").sort_index()
            df["change_percent"] = (df["close"] / df["close"].shift() - 1) * 100
            self.series[symbol] = df

    def day(self, day: dt.date) -> pd.DataFrame:
        self.run()
        if self.error is not None:
            raise self.error
        rows, missing = [], []
        for symbol, name in self.indices:
            df = self.series[symbol]
            if day not in df.index:
                missing.append(symbol)
                continue
            r = df.loc[day]
            if pd.isna(r["change_percent"]):
                raise OP.OverseasDataError(OP.CHART, "no earlier close to compute the change from", region=self.region,
                                           exchange="N", symbol=symbol, date=f"{day:%Y%m%d}", field="ovrs_nmix_prpr")
            rows.append({"date": pd.Timestamp(day), "symbol": symbol, "index_name": name, "region": self.region,
                         "close_price": r["close"], "open_price": r["open"], "high_price": r["high"],
                         "low_price": r["low"], "volume": r["volume"], "change_percent": r["change_percent"],
                         "currency": CURRENCIES[self.region], "source": SOURCE})
        if not rows:
            raise MarketClosedError(f"global_market_indices {self.region}", day.strftime("%Y%m%d"))
        if missing:
            raise OP.OverseasDataError(OP.CHART, "no bar on a day the region's other indices have one",
                                       region=self.region, exchange="N", symbol=missing[0], date=f"{day:%Y%m%d}",
                                       field="output2")
        return pd.DataFrame(rows)


def build_index_asset(region: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(f"global_market_indices_{region.lower()}")
    names = ", ".join(INDICES[region])
    symbols = ("symbols SPX, COMP, .DJI" if region == "US"
               else "symbol resolved from KIS's frgn_code.mst, class W, each run")

    @dg.asset(
        key=key, partitions_def=calendars.partitions(region), backfill_policy=INGEST_POLICY, pool="kis",
        group_name="global", kinds={"postgres", "pandas"},
        description=f"Daily {names} (KIS inquire-daily-chartprice, market division N; {symbols}) in "
                    "`global_market_indices`.",
        metadata={"dagster/table_name": "quant.public.global_market_indices"},
    )
    def _asset(context: dg.AssetExecutionContext, kis: KISClient, warehouse: Warehouse):
        days = [dt.date.fromisoformat(k) for k in context.partition_keys]
        fetch = IndexFetch(kis, region, days[0], days[-1])

        def process_day(day: dt.date) -> list[DayResult]:
            frame = validate(GlobalIndexSchema, fetch.day(day), dataset=f"global_market_indices {region}",
                             date=day.isoformat(), key="symbol")
            warehouse.replace_partition("global_market_indices", frame, where={"region": region, "date": day},
                                        status=(STATUS_ASSET, day, SOURCE))
            return [DayResult(key, frame, SOURCE)]

        yield from for_each_trading_day(context, warehouse, process_day, status_assets=[STATUS_ASSET],
                                        region=region)

    return _asset


INDEX_ASSETS = {r: build_index_asset(r) for r in calendars.REGIONS}
