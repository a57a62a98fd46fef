"""`exchange_rate_history`: KRW against USD, HKD, CNY, JPY and VND from KIS (FHKST03030100, X).

Partitioned on the Seoul trading calendar (the KRW rates are Seoul-market quotes). Each day holds
one row per currency with `quoted_rate` exactly as KIS quotes it, `quote_unit` (1 for USD, HKD,
CNY; 100 for JPY and VND: "KRW per 100 yen") and `rate` = KRW per ONE unit. Spock saved
hard-coded fallback rates (USD 1300, HKD 170 ...) as if they were real and wrote today's rate on
every past date; here a quote of zero, a currency missing on a day the others have, or the same
close three days running (a constant, not a market) fails the day with an error naming the
currency, date and field, and nothing is written for it.
"""


import datetime as dt

import dagster as dg
import pandas as pd

from quant_assets.assets.daily import INGEST_POLICY, DayResult, for_each_trading_day
from quant_assets.calendar import KST, trading_day_partitions
from quant_assets.errors import MarketClosedError, SourceDataError, SourceError, SourceStopError
from quant_assets.resources import overseas_parsing as OP
from quant_assets.resources.kis import KISClient
from quant_assets.resources.warehouse import Warehouse
from quant_assets.schemas.overseas import ExchangeRateSchema
from quant_assets.schemas.validation import validate

KEY = dg.AssetKey("exchange_rate_history")
# currency -> (KIS symbol under market division X, quote unit). Symbols: FX@KRW and FX@KRWJS are
# seen in use (reference §1.4); the HKD/CNY/VND ones must be confirmed in frgn_code.mst (class X).
SERIES = {"USD": ("FX@KRW", 1), "HKD": ("FX@KRWHKD", 1), "CNY": ("FX@KRWCNY", 1), "JPY": ("FX@KRWJS", 100),
          "VND": ("FX@KRWVND", 100)}
SOURCE = "KIS FHKST03030100"
CONSTANT_RUN = 3
LOOKBACK_DAYS = 10
QUOTE_TIME = dt.time(15, 30)


def constant_runs(closes: pd.Series) -> list[pd.Timestamp]:
    """Dates inside a run of >= CONSTANT_RUN identical closes (a fallback constant, not a market)."""
    same = closes.ne(closes.shift()).cumsum()
    sizes = closes.groupby(same).transform("size")
    return list(closes.index[sizes >= CONSTANT_RUN])


class FxFetch:
    def __init__(self, kis: KISClient, start: dt.date, end: dt.date):
        self.kis, self.start, self.end = kis, start, end
        self.series: dict[str, pd.DataFrame] = {}
        self.errors: list[tuple[set | None, Exception]] = []
        self._done = False

    def run(self) -> None:
        if self._done:
            return
        self._done = True
        for cur, (symbol, _) in SERIES.items():
            try:
                df = self.kis.overseas_chart("X", symbol, self.start - dt.timedelta(days=LOOKBACK_DAYS), self.end)
            except SourceStopError:
                raise
            except (SourceError, SourceDataError) as exc:
                self.errors.append((None, exc))
                continue
            df = df.set_index("date")
            zero = df.index[df["close"] <= 0]
            for d in zero:
                self.errors.append(({d}, OP.OverseasDataError(OP.CHART, f"{cur} quote is {df.at[d, 'close']}",
                                                             region=None, exchange="X", symbol=symbol,
                                                             date=f"{d:%Y%m%d}", field="ovrs_nmix_prpr")))
            stuck = constant_runs(df["close"])
            if stuck:
                self.errors.append((set(stuck), OP.OverseasDataError(
                    OP.CHART, f"{cur} close {df.at[stuck[0], 'close']} unchanged for {len(stuck)} days "
                    f"({stuck[0]:%Y-%m-%d}..{stuck[-1]:%Y-%m-%d}): a fallback constant, not a quote",
                    region=None, exchange="X", symbol=symbol, date=f"{stuck[0]:%Y%m%d}", field="ovrs_nmix_prpr")))
            self.series[cur] = df

    def day(self, day: dt.date) -> pd.DataFrame:
        self.run()
        for days, exc in self.errors:
            if days is None or day in days:
                raise exc
        rows, missing = [], []
        for cur, (_symbol, unit) in SERIES.items():
            df = self.series[cur]
            if day not in df.index:
                missing.append(cur)
                continue
            q = float(df.at[day, "close"])
            rows.append({"currency": cur, "rate": q / unit, "quoted_rate": q, "quote_unit": unit, "base_currency": "KRW",
                         "timestamp": pd.Timestamp(dt.datetime.combine(day, QUOTE_TIME)),
                         "rate_date": pd.Timestamp(day), "source": SOURCE, "quality": "ok"})
        if not rows:
            raise MarketClosedError("exchange_rate_history", day.strftime("%Y%m%d"))
        if missing:
            raise OP.OverseasDataError(OP.CHART, f"no quote for {', '.join(missing)} on a day the other currencies "
                                       "have one", region=None, exchange="X", symbol=SERIES[missing[0]][0],
                                       date=f"{day:%Y%m%d}", field="output2")
        return pd.DataFrame(rows)


@dg.asset(
    key=KEY, partitions_def=trading_day_partitions, backfill_policy=INGEST_POLICY, pool="kis", group_name="global",
    kinds={"postgres", "pandas"},
    description="KRW per unit of USD, HKD, CNY (quoted per 1) and JPY, VND (quoted per 100) from KIS "
                "inquire-daily-chartprice (FID_COND_MRKT_DIV_CODE X), one row per currency and Seoul trading day.",
    metadata={"dagster/table_name": "quant.public.exchange_rate_history"},
)
def exchange_rate_history(context: dg.AssetExecutionContext, kis: KISClient, warehouse: Warehouse):
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    fetch = FxFetch(kis, days[0], days[-1])

    def process_day(day: dt.date) -> list[DayResult]:
        frame = validate(ExchangeRateSchema, fetch.day(day), dataset="exchange_rate_history", date=day.isoformat(),
                         key="currency")
        # the quote time with its zone (pandera's DateTime drops it): 15:30 KST of the rate date
        frame["timestamp"] = [dt.datetime.combine(d.date(), QUOTE_TIME, tzinfo=KST).isoformat()
                              for d in frame["rate_date"]]
        # only this source's rows of the day are replaced (a Spock import's BOK rows stay)
        warehouse.replace_partition("exchange_rate_history", frame, where={"rate_date": day, "source": SOURCE},
                                    status=("exchange_rate_history", day, SOURCE))
        return [DayResult(KEY, frame, SOURCE)]

    yield from for_each_trading_day(context, warehouse, process_day, status_assets=["exchange_rate_history"])
