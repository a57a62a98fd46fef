"""ETF analytics: published AUM, holdings (PDF), premium/discount and tracking error.

- `etf_aum`: KRX's 순자산총액 for day D, published on D+1 morning; one bulk request per day, except in
  a ranged run (backfill), which reads it from the `etf_daily` snapshot when that carries it.
- `etf_holdings`: the PDF of every ETF listed on D (one request per ETF: KRX has no bulk PDF).
- `etf_tracking`: computed from `etf_daily` in PostgreSQL — no source request.
- `etf_tracking_krx`: what KRX publishes (괴리율, 추적오차율), month by month, beside ours.

Everything here is region KR. A run of etf_aum, etf_holdings or etf_tracking ends with
`refresh_etf_latest('KR', [its table], newest day)` in the transaction of its last write, so
etf_details' latest-figure columns (aum, premium_discount*, tracking_error_*d,
underlying_asset_count, ...) and the `etfs` view equal the newest committed rows once the run's
last day commits (earlier days of a ranged run do not pay for it: sql/022); holdings writes also
keep `weight_change_from_prev` right for the day written and the next loaded day (sql/009).
"""


import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd

from quant_assets.assets import etf_tracking_run as tracking_run
from quant_assets.assets.daily import (
    DAILY_DERIVED_CONDITION,
    INGEST_POLICY,
    DayResult,
    for_each_trading_day,
)
from quant_assets.assets.month_batches import MonthBatches
from quant_assets.calendar import (
    TIMEZONE,
    monthly_partitions,
    trading_day_partitions,
)
from quant_assets.errors import SourceDataError, SourceUnavailableError
from quant_assets.metadata import etf_chart
from quant_assets.resources.krx import KRXClient
from quant_assets.resources.warehouse import PartitionWrite, Warehouse, refresh_etf_latest
from quant_assets.schemas.etf import EtfAumSchema, EtfHoldingsSchema
from quant_assets.schemas.validation import validate
from quant_assets.tracking import WINDOWS
from quant_assets.windows import window_metadata

REGION = "KR"
DATA_SOURCE = "KRX"
AUM = dg.AssetKey("etf_aum")
HOLDINGS = dg.AssetKey("etf_holdings")
TRACKING = dg.AssetKey("etf_tracking")
# KRX-reported weights of one ETF must add up to about 100% (cash included; derivatives are "-").
WEIGHT_SUM_RANGE = (90.0, 110.0)
# Share of ETFs allowed to lack a published AUM once the day is published at all.
MAX_MISSING_AUM = 0.05


# -- AUM --------------------------------------------------------------------------------------
def aum_frame(snapshot: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    if snapshot["aum"].isna().all():
        raise SourceUnavailableError(
            "krx", "순자산총액 (AUM) not published yet: KRX computes it early on the next morning",
            dataset="etf_aum", date=day.isoformat())
    missing = snapshot["aum"].isna().mean()
    if missing > MAX_MISSING_AUM:
        first = snapshot.loc[snapshot["aum"].isna(), "ticker"].iloc[0]
        raise SourceDataError("etf_aum", f"{missing:.0%} of ETFs have no AUM", date=day.isoformat(), region=REGION,
                              ticker=first, field="INVSTASST_NETASST_TOTAMT")
    rows = snapshot[snapshot["aum"].notna()]
    return pd.DataFrame({
        "date": rows["date"], "ticker": rows["ticker"], "region": REGION, "aum": rows["aum"],
        "nav_x_units": (rows["nav"] * rows["listed_units"]).round(),
        "units_x_close": rows["listed_units"] * rows["close"],
        "listed_units": rows["listed_units"],
    })


@dg.multi_asset(
    specs=[dg.AssetSpec(
        AUM, skippable=True, kinds={"postgres", "pandas"}, group_name="etf", deps=["etf_daily"],
        description="ETF net assets (순자산총액, KRW) per ETF per day from KRX's bulk snapshot, published "
                    "D+1 morning; NAV × units and the seeds' units × close kept beside it as cross-checks.",
        metadata={"dagster/table_name": "quant.public.etf_aum"},
    )],
    partitions_def=trading_day_partitions, backfill_policy=INGEST_POLICY, pool="krx",
)
def etf_aum(context: dg.AssetExecutionContext, krx: KRXClient, warehouse: Warehouse):
    # etf_details.aum follows etf_aum; a ranged run refreshes it with its last day only (sql/022)
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    stored = stored_snapshots(warehouse, days) if len(days) > 1 else {}

    def process_day(day: dt.date) -> list[DayResult]:
        # The AUM is a field of the same MDCSTAT04301 snapshot `etf_daily` stores: in a ranged run
        # (a backfill) a day whose stored snapshot already carries it costs no request; a day
        # fetched on D before KRX published it is asked again. A one-day run always asks KRX: it
        # is the sensor's run or a user's re-run to correct that day.
        snapshot, source = stored.get(day), "KRX MDCSTAT04301 (INVSTASST_NETASST_TOTAMT, stored in etf_daily)"
        if snapshot is None:
            snapshot, source = krx.etf_daily(day), "KRX MDCSTAT04301 (INVSTASST_NETASST_TOTAMT)"
        frame = validate(EtfAumSchema, aum_frame(snapshot, day), dataset="etf_aum", date=str(day))
        write = PartitionWrite("etf_aum", frame, where={"region": REGION, "date": day},
                               status=("etf_aum", day, "KRX MDCSTAT04301"), encoded=warehouse.encode("etf_aum", frame))
        gap = (frame["aum"] / frame["nav_x_units"] - 1).abs()
        return batches.add(day, [write], [DayResult(
            AUM, frame, source, {"max_gap_vs_nav_x_units": float(gap.max()), "total_aum_krw": float(frame["aum"].sum())})])


    def refresh_if_last_failed(landed: list[dt.date]) -> None:
        # the last day's transaction did not run (it failed): refresh from the newest that landed
        if landed and landed[-1] != days[-1]:
            warehouse.execute(*refresh_etf_latest(REGION, ["etf_aum"], landed[-1]))

    # a month the warehouse does not hold yet is one transaction (assets/month_batches.py)
    with MonthBatches(warehouse, days, ["etf_aum"], after=lambda day: (
            [refresh_etf_latest(REGION, ["etf_aum"], day)] if day == days[-1] else [])) as batches:
        yield from for_each_trading_day(context, warehouse, process_day, status_assets=["etf_aum"], region=REGION,
                                        after_range=refresh_if_last_failed, flush=batches.flush)


def stored_snapshots(warehouse: Warehouse, days: list[dt.date]) -> dict[dt.date, pd.DataFrame]:
    """The days of `days` whose `etf_daily` rows already hold the published AUM (all but
    MAX_MISSING_AUM of the ETFs, the threshold aum_frame applies), as snapshots: one read."""
    rows = warehouse.read_frame(
        "SELECT date, ticker, close, nav, aum, listed_units FROM etf_daily "
        "WHERE region = %s AND date = ANY(%s) ORDER BY date, ticker", (REGION, days))
    out = {}
    for day, snap in rows.groupby("date", sort=False):
        if snap["aum"].notna().mean() >= 1 - MAX_MISSING_AUM:
            out[day] = snap.reset_index(drop=True)
    return out


# -- holdings ---------------------------------------------------------------------------------
def constituent_type(pdf: pd.DataFrame) -> pd.Series:
    code = pdf["constituent_code"].astype(str)
    group = pdf["security_group"].fillna("")
    market = pdf["market_id"].fillna("")
    kinds = np.select(
        [
            code.str.startswith(("KRD", "CASH")) | pdf["name"].fillna("").str.contains("현금|예금"),
            (group == "FU") | (market == "DRV"),
            group == "EF",
            (group == "ST") & (code.str.len() == 6),
            ~code.str.startswith("KR") & (code.str.len() == 12),
        ],
        ["CASH", "FUTURES", "ETF", "STOCK", "FOREIGN"],
        default="OTHER",
    )
    return pd.Series(kinds, index=pdf.index)


def holdings_frame(pdf: pd.DataFrame, etf: str, day: dt.date, known: set[str]) -> pd.DataFrame:
    """One ETF's PDF as typed rows with consistent weights; raises on what cannot be right."""
    where = {"region": REGION, "date": day.isoformat(), "ticker": etf}
    if pdf.empty:
        raise SourceDataError("etf_holdings", "empty PDF", field="output", **where)
    kinds = constituent_type(pdf)
    listed = kinds.isin(["STOCK", "ETF"])
    unknown = pdf.loc[listed & ~pdf["constituent_code"].isin(known), "constituent_code"]
    if len(unknown):
        raise SourceDataError("etf_holdings", f"holding {unknown.iloc[0]} is not in tickers "
                              f"({len(unknown)} unknown code(s)); load stock_list/etf_list first",
                              field="COMPST_ISU_CD", **where)
    reported = pdf["weight_pct"].dropna()
    if len(reported) and not WEIGHT_SUM_RANGE[0] <= reported.sum() <= WEIGHT_SUM_RANGE[1]:
        raise SourceDataError("etf_holdings", f"reported weights sum to {reported.sum():.2f}%, expected "
                              f"{WEIGHT_SUM_RANGE[0]:.0f}-{WEIGHT_SUM_RANGE[1]:.0f}%", field="COMPST_RTO", **where)
    value = pdf["market_value"]
    # Weight over the long, non-derivative value, so stocks + cash add to 100% as KRX shows them.
    base = value.where((kinds != "FUTURES") & (value > 0)).sum()
    weight = value / base * 100 if base > 0 else pd.Series(np.nan, index=pdf.index)
    rank = value.abs().rank(ascending=False, method="first", na_option="bottom").astype(int)
    return pd.DataFrame({
        "as_of_date": day, "etf_ticker": etf, "region": REGION, "stock_ticker": pdf["constituent_code"],
        "constituent_isin": pdf["constituent_isin"], "constituent_name": pdf["name"],
        "constituent_type": kinds, "market_id": pdf["market_id"].replace("", None),
        "shares": pdf["shares_per_cu"], "market_value": value.round(),
        "weight": weight.where(kinds != "FUTURES").round(4), "krx_weight_pct": pdf["weight_pct"],
        "rank_in_etf": rank, "data_source": DATA_SOURCE,
    })


PREVIOUS_WEIGHTS = """
    SELECT h.etf_ticker, h.stock_ticker, h.weight AS previous_weight
    FROM (SELECT e.etf_ticker,
                 (SELECT max(x.as_of_date) FROM etf_holdings x
                  WHERE x.etf_ticker = e.etf_ticker AND x.region = %(region)s AND x.as_of_date < %(day)s) AS day
          FROM unnest(%(etfs)s::text[]) AS e (etf_ticker)) p
    JOIN etf_holdings h ON h.region = %(region)s AND h.etf_ticker = p.etf_ticker AND h.as_of_date = p.day"""


def with_weight_change(conn, frame: pd.DataFrame) -> pd.DataFrame:
    """`weight_change_from_prev` of one day's lines: weight − the same line's weight on that ETF's
    previous loaded PDF day (NULL: no earlier day, or not held then). Runs inside the write
    transaction, under the holdings lock, so the previous day cannot change underneath it."""
    if frame.empty:
        return frame.assign(weight_change_from_prev=pd.Series(dtype=float))
    day = pd.Timestamp(frame["as_of_date"].iloc[0]).date()
    cur = conn.execute(PREVIOUS_WEIGHTS, {"region": REGION, "day": day,
                                          "etfs": sorted(frame["etf_ticker"].unique())})
    prev = pd.DataFrame(cur.fetchall(), columns=["etf_ticker", "stock_ticker", "previous_weight"])
    merged = frame.merge(prev.astype({"previous_weight": float}), on=["etf_ticker", "stock_ticker"], how="left")
    change = (merged["weight"] - merged["previous_weight"]).round(4)   # numeric(9,4), like the weights
    return frame.assign(weight_change_from_prev=change.to_numpy())


@dg.multi_asset(
    specs=[dg.AssetSpec(
        HOLDINGS, skippable=True, kinds={"postgres", "pandas"}, group_name="etf",
        deps=["etf_daily", "etf_list", "stock_list"],
        description="What one creation unit of every ETF listed on D holds (KRX PDF): shares per CU, market "
                    "value, weight, rank; cash, futures and foreign lines typed. Indexed both ways: ETF → "
                    "holdings and stock → ETFs holding it.",
        metadata={"dagster/table_name": "quant.public.etf_holdings"},
    )],
    partitions_def=trading_day_partitions, backfill_policy=INGEST_POLICY, pool="krx",
)
def etf_holdings(context: dg.AssetExecutionContext, krx: KRXClient, warehouse: Warehouse):
    known = set(warehouse.read_frame("SELECT ticker FROM tickers WHERE region = %s", (REGION,))["ticker"])

    def process_day(day: dt.date) -> list[DayResult]:
        universe = krx.etf_daily(day)[["ticker", "isin"]]
        parts = [holdings_frame(krx.etf_pdf(day, row.isin), row.ticker, day, known)
                 for row in universe.itertuples(index=False)]
        frame = validate(EtfHoldingsSchema, pd.concat(parts, ignore_index=True), dataset="etf_holdings",
                         date=str(day), key="etf_ticker")
        # One lock per region: a day's change reads its neighbour, so neighbours are written in turn.
        warehouse.replace_partition(
            "etf_holdings", frame, where={"region": REGION, "as_of_date": day},
            status=("etf_holdings", day, "KRX MDCSTAT05001"), prepare=with_weight_change,
            lock=("etf_holdings", REGION),
            after=[("SELECT refresh_holdings_weight_change(%s, %s, false)", (REGION, day)),
                   refresh_etf_latest(REGION, ["etf_holdings"])])
        return [DayResult(HOLDINGS, frame, f"KRX MDCSTAT05001 × {len(parts)} ETFs",
                          {"etf_count": len(parts), "stock_lines": int((frame["constituent_type"] == "STOCK").sum())})]

    yield from for_each_trading_day(context, warehouse, process_day, status_assets=["etf_holdings"], region=REGION)


# -- tracking ---------------------------------------------------------------------------------
@dg.asset(
    key=TRACKING, partitions_def=trading_day_partitions, backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"postgres", "pandas"}, group_name="etf", deps=["etf_daily", "etf_list"],
    automation_condition=DAILY_DERIVED_CONDITION.ignore(dg.AssetSelection.assets("etf_list")),
    description="Per ETF per day: premium/discount (close vs NAV) and its 20/60/120/250-day means; "
                "tracking error (annualised stdev of NAV return − multiple × index return) and tracking "
                "difference over the same windows. Computed from `etf_daily`; leveraged/inverse ETFs "
                "against their multiple of the daily index return.",
    metadata={**window_metadata(max(WINDOWS) + 1, ["etf_daily"]), "dagster/table_name": "quant.public.etf_tracking"},
)
def etf_tracking(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    # The whole range from one read per chunk of 250 days, one write per chunk (etf_tracking_run.py).
    days = [dt.date.fromisoformat(k) for k in context.partition_keys]
    metadata, totals = tracking_run.run(warehouse, days, REGION, log=context.log)
    for key, meta in metadata.items():
        # Per partition (plotted across days): schema, preview, coverage, mean P/D, median TE;
        # the newest day also carries the chart of the largest ETFs (quant_assets/metadata.py).
        if key == days[-1].isoformat():
            chart = etf_chart(days[-1], region=REGION, url=warehouse.url())
            if chart is not None:
                meta["largest_etfs_chart"] = chart
        context.add_asset_metadata(meta, partition_key=key)
    return dg.MaterializeResult(metadata=totals)


@dg.asset(
    partitions_def=monthly_partitions, backfill_policy=dg.BackfillPolicy.single_run(), pool="krx",
    kinds={"postgres", "pandas"}, group_name="etf", deps=["etf_list"],
    # Two requests per listed ETF per run (~2,100 today): the current month is refreshed once a
    # week, on Friday evening after the day's publication; older months come from the budgeted
    # trickle (quant_assets/trickle.py), never as a burst.
    automation_condition=dg.AutomationCondition.on_cron("0 20 * * 5", TIMEZONE).ignore(
        dg.AssetSelection.assets("etf_list")),
    description="KRX-published premium/discount (MDCSTAT06001 DIVRG_RT) and tracking error "
                "(MDCSTAT05901 TRACE_ERR_RT) per ETF per day: one range request per ETF per <= 730 days of "
                "the run's months, only for ETFs listed then. History: the budgeted KRX trickle.",
    metadata={"dagster/table_name": "quant.public.etf_tracking_krx"},
)
def etf_tracking_krx(context: dg.AssetExecutionContext, krx: KRXClient, warehouse: Warehouse) -> dg.MaterializeResult:
    # Range requests (<= 730 days) over only the ETFs listed at the time: quant_assets/tracking_krx.py.
    from quant_assets import tracking_krx

    return tracking_krx.materialize(context, krx, warehouse)


ASSETS = [etf_aum, etf_holdings, etf_tracking, etf_tracking_krx]
