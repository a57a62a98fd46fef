"""KRX's published tracking figures (`etf_tracking_krx`) with the fewest requests.

KRX serves 괴리율 (MDCSTAT06001) and 추적오차율 (MDCSTAT05901) per ETF over a date range (up to
730 days per request, resources/krx.py chunks longer ones). Asking every known ETF for every month
cost 2 requests × ~1,020 ETFs × 12 = ~24,500 requests per year of history. Here a run's months are
grouped into spans of at most 730 days, and each ETF listed during a span (listing_date /
delisting_date in `tickers`) is asked once per span for the part of it it was listed: two requests
per ETF per two years, none for an ETF before its listing or after its delisting. Each month is
still written in its own transaction, so a month is complete or absent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from quant_assets.calendar import monthly_partitions, trading_days
from quant_assets.resources.krx import MAX_RANGE_DAYS, KRXClient
from quant_assets.resources.warehouse import Warehouse
from quant_assets.schemas.etf import EtfTrackingKrxSchema
from quant_assets.schemas.validation import validate

REGION = "KR"
REQUESTS_PER_ETF_SPAN = 2   # premium/discount + tracking error
COLUMNS = ["date", "ticker", "region", "close", "nav", "krx_premium_discount_pct", "nav_change_pct",
           "index_change_pct", "tracking_multiple", "krx_tracking_error_pct"]


@dataclass(frozen=True)
class Span:
    """Consecutive month partitions fetched together: keys and their [start, end] days."""

    keys: tuple[str, ...]
    start: dt.date
    end: dt.date


def month_bounds(key: str, today: dt.date) -> tuple[dt.date, dt.date]:
    window = monthly_partitions.time_window_for_partition_key(key)
    return window.start.date(), min(window.end.date() - dt.timedelta(days=1), today)


def spans(keys: list[str], today: dt.date, max_days: int = MAX_RANGE_DAYS) -> list[Span]:
    """Group month keys (sorted) into runs of consecutive months covering at most `max_days`."""
    out: list[Span] = []
    for key in sorted(keys):
        start, end = month_bounds(key, today)
        if end < start:
            continue
        last = out[-1] if out else None
        if last and start == last.end + dt.timedelta(days=1) and (end - last.start).days < max_days:
            out[-1] = Span((*last.keys, key), last.start, end)
        else:
            out.append(Span((key,), start, end))
    return out


def listed_etfs(warehouse: Warehouse, start: dt.date, end: dt.date) -> pd.DataFrame:
    """ETFs listed at some point of [start, end], each with the part of it it was listed."""
    etfs = warehouse.read_frame(
        """SELECT ticker, isin, listing_date, delisting_date FROM tickers
           WHERE region = %(r)s AND asset_type = 'ETF' AND isin IS NOT NULL
             AND (listing_date IS NULL OR listing_date <= %(e)s)
             AND (delisting_date IS NULL OR delisting_date >= %(s)s)
           ORDER BY ticker""", {"r": REGION, "s": start, "e": end})
    first = pd.to_datetime(etfs["listing_date"]).dt.date
    last = pd.to_datetime(etfs["delisting_date"]).dt.date
    etfs["first"] = [max(start, d) if pd.notna(d) else start for d in first]
    etfs["last"] = [min(end, d) if pd.notna(d) else end for d in last]
    return etfs


def _chunks(first: dt.date, last: dt.date) -> int:
    return -(-((last - first).days + 1) // MAX_RANGE_DAYS)


def request_cost(warehouse: Warehouse, keys: list[str], today: dt.date) -> int:
    """KRX requests a run over `keys` sends (what the budgeted trickle charges for it)."""
    total = 0
    for span in spans(keys, today):
        etfs = listed_etfs(warehouse, span.start, span.end)
        total += REQUESTS_PER_ETF_SPAN * sum(_chunks(a, b) for a, b in zip(etfs["first"], etfs["last"], strict=True))
    return total


def fetch_span(krx: KRXClient, etfs: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for row in etfs.itertuples(index=False):
        prem = krx.etf_premium_discount(row.isin, row.first, row.last)
        te = krx.etf_tracking_error(row.isin, row.first, row.last)
        if prem.empty and te.empty:
            continue
        merged = prem.merge(te[["date", "nav_change_pct", "index_change_pct", "multiple", "tracking_error_pct"]],
                            on="date", how="outer")
        parts.append(merged.assign(ticker=row.ticker))
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.concat(parts, ignore_index=True).rename(columns={
        "premium_discount_pct": "krx_premium_discount_pct", "multiple": "tracking_multiple",
        "tracking_error_pct": "krx_tracking_error_pct"})
    return frame.assign(region=REGION)[COLUMNS]


def materialize(context: dg.AssetExecutionContext, krx: KRXClient, warehouse: Warehouse) -> dg.MaterializeResult:
    """The asset body: every span of the run's months, one write per month."""
    today = dt.date.today()
    total, requests, etf_count = 0, 0, 0
    for span in spans(list(context.partition_keys), today):
        if not trading_days(span.start, span.end):
            continue
        etfs = listed_etfs(warehouse, span.start, span.end)
        etf_count = max(etf_count, len(etfs))
        requests += REQUESTS_PER_ETF_SPAN * sum(_chunks(a, b) for a, b in zip(etfs["first"], etfs["last"], strict=True))
        rows = fetch_span(krx, etfs)
        for key in span.keys:
            start, end = month_bounds(key, today)
            month = rows[(rows["date"] >= start) & (rows["date"] <= end)].reset_index(drop=True)
            if month.empty:
                continue
            frame = validate(EtfTrackingKrxSchema, month, dataset="etf_tracking_krx", date=key)
            n = warehouse.replace_partition("etf_tracking_krx", frame, where={"region": REGION, "date": (start, end)})
            total += n
            if len(context.partition_keys) > 1:
                context.add_asset_metadata({"dagster/row_count": n, "etfs": int(frame["ticker"].nunique())},
                                           partition_key=key)
    return dg.MaterializeResult(metadata={"dagster/row_count": total, "etfs": etf_count, "krx_requests": requests})
