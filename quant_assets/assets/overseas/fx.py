"""`exchange_rate_history`: KRW against USD, HKD, CNY, JPY and VND from KIS (FHKST03030100, X).

Partitioned on the Seoul trading calendar (the KRW rates are Seoul-market quotes). Each day holds
one row per currency with `quoted_rate` exactly as KIS quotes it, `quote_unit` (1 for USD, HKD,
CNY; 100 for JPY and VND: "KRW per 100 yen") and `rate` = KRW per ONE unit. Spock saved
hard-coded fallback rates (USD 1300, HKD 170 ...) as if they were real and wrote today's rate on
every past date; here a quote of zero, a currency missing on a day the others have, or the same
close three days running (a constant, not a market) fails the day with an error naming the
currency, date and field, and nothing is written for it.

Symbols are resolved once per run from KIS's index/FX master `frgn_code.mst` (class X + a pattern
on the English name per currency, through the same KISClient and rate limiter). A currency the
master does not list (or lists twice) fails every partition of the run, naming the currency and
the file; no symbol is guessed. The symbol used is kept in each row's `source`
("KIS FHKST03030100 FX@KRWJS"); a re-run replaces the day's rows of every KIS symbol.
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
# currency -> (what to find in frgn_code.mst under class X, quote unit). The English name must be
# "<CUR>/KRW" (KRW per unit; "100" in it for the per-100 quotes), so the USD crosses (USD/CNY,
# EUR/USD ...) and a second USD/KRW fixing (KFTC) are never taken for the KRW rate.
SERIES = {
    "USD": (OP.WantedSeries("USD", "KRW per USD", "X", r"^USD\s*/\s*KRW$"), 1),
    "HKD": (OP.WantedSeries("HKD", "KRW per HKD", "X", r"^HKD\s*/\s*KRW$"), 1),
    "CNY": (OP.WantedSeries("CNY", "KRW per CNY", "X", r"^CNY\s*/\s*KRW$"), 1),
    "JPY": (OP.WantedSeries("JPY", "KRW per 100 JPY", "X", r"^JPY\s*\(?100\)?\s*/\s*KRW$"), 100),
    "VND": (OP.WantedSeries("VND", "KRW per 100 VND", "X", r"^VND\s*\(?100\)?\s*/\s*KRW$"), 100),
}
SOURCE = "KIS FHKST03030100"
CONSTANT_RUN = 3
LOOKBACK_DAYS = 10
QUOTE_TIME = dt.time(15, 30)


def resolve_fx(kis: KISClient) -> dict[str, str]:
    """currency -> KIS symbol, from frgn_code.mst (one download)."""
    codes = kis.overseas_index_codes()
    return {cur: OP.resolve_frgn(codes, wanted) for cur, (wanted, _) in SERIES.items()}


def row_source(symbol: str) -> str:
    return f"{SOURCE} {symbol}"


def constant_runs(closes: pd.Series) -> list[pd.Timestamp]:
    """Dates inside a run of >= CONSTANT_RUN identical closes (a fallback constant, not a market)."""
    same = closes.ne(closes.shift()).cumsum()
    sizes = closes.groupby(same).transform("size")
    return list(closes.index[sizes >= CONSTANT_RUN])


class FxFetch:
    def __init__(self, kis: KISClient, start: dt.date, end: dt.date):
        self.kis, self.start, self.end = kis, start, end
        self.series: dict[str, pd.DataFrame] = {}
        self.symbols: dict[str, str] = {}
        self.errors: list[tuple[set | None, Exception]] = []
        self._done = False

    def run(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self.symbols = resolve_fx(self.kis)
        except SourceStopError:
            raise
        except (SourceError, SourceDataError) as exc:
            self.errors.append((None, exc))
            return
        for cur, symbol in self.symbols.items():
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
        for cur, (_wanted, unit) in SERIES.items():
            df = self.series[cur]
            if day not in df.index:
                missing.append(cur)
                continue
            q = float(df.at[day, "close"])
            rows.append({"currency": cur, "rate": q / unit, "quoted_rate": q, "quote_unit": unit, "base_currency": "KRW",
                         "timestamp": pd.Timestamp(dt.datetime.combine(day, QUOTE_TIME)),
                         "rate_date": pd.Timestamp(day), "source": row_source(self.symbols[cur]),
                         "quality": "ok"})
        if not rows:
            raise MarketClosedError("exchange_rate_history", day.strftime("%Y%m%d"))
        if missing:
            raise OP.OverseasDataError(OP.CHART, f"no quote for {', '.join(missing)} on a day the other currencies "
                                       "have one", region=None, exchange="X", symbol=self.symbols[missing[0]],
                                       date=f"{day:%Y%m%d}", field="output2")
        return pd.DataFrame(rows)


def _drop_kis_rows(day: dt.date):
    def prepare(conn, frame: pd.DataFrame) -> pd.DataFrame:
        conn.execute("DELETE FROM exchange_rate_history WHERE rate_date = %s AND source LIKE %s",
                     (day, SOURCE.replace("%", r"\%").replace("_", r"\_") + " %"))
        return frame
    return prepare


@dg.asset(
    key=KEY, partitions_def=trading_day_partitions, backfill_policy=INGEST_POLICY, pool="kis", group_name="global",
    kinds={"postgres", "pandas"},
    description="KRW per unit of USD, HKD, CNY (quoted per 1) and JPY, VND (quoted per 100) from KIS "
                "inquire-daily-chartprice (FID_COND_MRKT_DIV_CODE X; symbols resolved from frgn_code.mst, class X, "
                "each run, kept in `source`), one row per currency and Seoul trading day.",
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
        # only this source's rows of the day are replaced (a Spock import's BOK rows stay): the
        # rows of any KIS symbol (a symbol KIS renamed leaves no stale row) and of the plain SOURCE
        # (rows written before the symbol was kept)
        warehouse.replace_partition("exchange_rate_history", frame, where={"rate_date": day, "source": SOURCE},
                                    status=("exchange_rate_history", day, SOURCE), prepare=_drop_kis_rows(day))
        return [DayResult(KEY, frame, SOURCE)]

    yield from for_each_trading_day(context, warehouse, process_day, status_assets=["exchange_rate_history"])
