"""Overseas universes from the KIS master files: `tickers` and `stock_details` per region.

One asset per region downloads that region's masters ({nas,nys,ams}mst.cod for US, shs+szs for CN,
hks, tse, hsx+hnx) and keeps `tickers` current through `Warehouse.sync_universe`: rows keyed by
(ticker, region), so US and VN symbols that collide (ACB, MSN ...) stay distinct rows; a symbol
that leaves the master is retired (is_active false, delisting_date = the day it was first
missing), never deleted. Symbols are stored in their region's canonical form (quant_assets/
symbols.py: HK '00700' -> '0700', US 'BRK.B' -> 'BRK/B'); the master's own spelling stays in
`tickers.symbol`, which is what KIS is asked for.

The master costs no API calls. What does cost calls is the set of symbols whose bars are fetched:
by default the main index members of each region (quant_assets/data/overseas_universe.yaml),
QUANT_OVERSEAS_UNIVERSE=master fetches every listed stock of the master instead. For the members
the asset also asks price-detail (HHDFS76200200, one call each) for market cap, shares, par value
and industry in `stock_details`.
"""


import functools
import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import yaml

from quant_assets.metadata import table_metadata
from quant_assets.resources import overseas_parsing as OP
from quant_assets.resources.kis import KISClient
from quant_assets.resources.warehouse import Warehouse
from quant_assets.symbols import SymbolError, normalise

UNIVERSE_FILE = Path(__file__).resolve().parents[2] / "data" / "overseas_universe.yaml"
REGION_EXCHANGES = {"US": ("NAS", "NYS", "AMS"), "CN": ("SHS", "SZS"), "HK": ("HKS",), "JP": ("TSE",),
                    "VN": ("HSX", "HNX")}
EXCHANGE_NAME = {"NAS": "NASDAQ", "NYS": "NYSE", "AMS": "AMEX", "SHS": "SSE", "SZS": "SZSE", "HKS": "HKEX",
                 "TSE": "TSE", "HSX": "HOSE", "HNX": "HNX"}
EXCHANGE_CODE = {v: k for k, v in EXCHANGE_NAME.items()}
SOURCE = "KIS master"


@dataclass(frozen=True)
class Member:
    """A symbol whose bars are fetched: the KIS spelling (excd, symbol) and our canonical ticker."""

    excd: str
    symbol: str
    ticker: str
    asset_type: str = "STOCK"
    currency: str = ""


def universe_setting() -> str:
    """'index' (default: main index members) or 'master' (every listed stock of the master)."""
    value = os.environ.get("QUANT_OVERSEAS_UNIVERSE", "index").strip().lower()
    if value not in ("index", "master"):
        raise ValueError(f"QUANT_OVERSEAS_UNIVERSE must be 'index' or 'master', got {value!r}")
    return value


@functools.cache
def index_members(region: str) -> tuple[tuple[str, str], ...]:
    spec = yaml.safe_load(UNIVERSE_FILE.read_text(encoding="utf-8"))["universes"][region]
    return tuple(tuple(m.split(":", 1)) for m in spec["members"])  # type: ignore[misc]


def canonical(region: str, excd: str, symbol: str) -> str:
    try:
        return normalise(region, symbol)
    except SymbolError as exc:
        raise OP.OverseasDataError(f"{excd.lower()}mst.cod", str(exc), region=region, exchange=excd, symbol=symbol,
                                   field="symb") from None


def master_rows(kis: KISClient, region: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(tickers rows, stock_details rows, counts) of the region's listed stocks, from its masters."""
    frames = []
    for excd in REGION_EXCHANGES[region]:
        m = kis.overseas_master(excd)
        frames.append(m)
    master = pd.concat(frames, ignore_index=True)
    counts = {"master_rows": len(master)}
    wanted = {s for _, s in index_members(region)}
    stocks = master[master["stis"] == "2"].copy()
    counts["not_stocks_skipped"] = int(len(master) - len(stocks))
    bad_curr = stocks[stocks["curr"] != OP.EXCHANGES[stocks["excd"].iloc[0]].currency] if len(stocks) else stocks
    if len(bad_curr):
        r = bad_curr.iloc[0]
        raise OP.OverseasDataError(f"{r['excd'].lower()}mst.cod", f"quoted in {r['curr']!r}, expected the "
                                   f"exchange's currency", region=region, exchange=r["excd"], symbol=r["symb"],
                                   field="curr")
    tickers, skipped = [], []
    for r in stocks.itertuples(index=False):
        try:
            tickers.append(normalise(region, r.symb))
        except SymbolError:
            if r.symb in wanted:
                raise OP.OverseasDataError(f"{r.excd.lower()}mst.cod", "an index member has no canonical form",
                                           region=region, exchange=r.excd, symbol=r.symb, field="symb") from None
            tickers.append(None)
            skipped.append(f"{r.excd}:{r.symb}")
    stocks["ticker"] = tickers
    stocks = stocks[stocks["ticker"].notna()]
    dup = stocks[stocks["ticker"].duplicated(keep=False)]
    if len(dup):
        r = dup.iloc[0]
        raise OP.OverseasDataError(f"{r['excd'].lower()}mst.cod", f"ticker {r['ticker']} listed twice in region "
                                   f"{region} ({', '.join(dup['excd'] + ':' + dup['symb'])})", region=region,
                                   exchange=r["excd"], symbol=r["symb"], field="symb")
    counts["noncanonical_skipped"] = len(skipped)
    t = pd.DataFrame({
        "ticker": stocks["ticker"], "region": region, "symbol": stocks["symb"], "name": stocks["knam"],
        "name_eng": stocks["enam"], "exchange": stocks["excd"].map(EXCHANGE_NAME), "asset_type": "STOCK",
        "currency": stocks["curr"], "lot_size": pd.to_numeric(stocks["bnit"], errors="coerce").astype("Int64"),
        "sector_code": stocks["icod"].where(stocks["icod"] != "", None), "delisting_date": pd.NaT,
        "is_active": True, "data_source": SOURCE,
    })
    d = pd.DataFrame({"ticker": stocks["ticker"], "region": region, "full_name": stocks["knam"],
                      "english_name": stocks["enam"], "market": stocks["excd"].map(EXCHANGE_NAME),
                      "industry_code": stocks["icod"].where(stocks["icod"] != "", None)})
    return t.reset_index(drop=True), d.reset_index(drop=True), counts


def enrich_members(kis: KISClient, region: str, details: pd.DataFrame, symbols: pd.DataFrame) -> pd.DataFrame:
    """price-detail for the index members: market cap, shares, par value, industry (one call each)."""
    members = set(index_members(region))
    pick = symbols[[(e, s) in members for e, s in zip(symbols["excd"], symbols["symbol"], strict=True)]]
    rows = []
    for r in pick.itertuples(index=False):
        d = kis.overseas_price_detail(r.excd, r.symbol).iloc[0]
        rows.append({"ticker": r.ticker, "market_cap": int(d["market_cap"]),
                     "shares_outstanding": int(d["shares_outstanding"]), "industry": d["industry"],
                     "par_value": d["par_value"]})
    if not rows:
        return details
    extra = pd.DataFrame(rows)
    return details.merge(extra, on="ticker", how="left")


def members(warehouse: Warehouse, region: str, first_day) -> list[Member]:
    """Symbols to fetch for a range starting `first_day`: the configured universe among the region's
    tickers that were listed at some point of the range (a symbol retired before it is not asked)."""
    frame = warehouse.read_frame(
        """SELECT ticker, symbol, exchange, asset_type, currency FROM tickers
           WHERE region = %s AND data_source = %s AND (is_active OR delisting_date > %s)
           ORDER BY exchange, symbol""", (region, SOURCE, first_day))
    known = {(EXCHANGE_CODE.get(e, e), s): (t, a, c) for t, s, e, a, c in frame.itertuples(index=False)}
    if universe_setting() == "master":
        return [Member(x, s, t, a, c) for (x, s), (t, a, c) in known.items() if a == "STOCK"]
    out = []
    for excd, symbol in index_members(region):
        if (excd, symbol) not in known:
            out.append(Member(excd, symbol, "", "STOCK", ""))   # not in the master: an error per partition
        else:
            t, a, c = known[(excd, symbol)]
            out.append(Member(excd, symbol, t, a, c))
    return out


def build_universe_asset(region: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"overseas_universe_{region.lower()}", group_name="global", kinds={"postgres", "pandas"}, pool="kis",
        description=f"{region} listed stocks from the KIS master files ({', '.join(REGION_EXCHANGES[region])}) in "
                    "`tickers` (retired, never deleted) and `stock_details`; price-detail for the index members.",
        metadata={"dagster/table_name": "quant.public.tickers"},
        automation_condition=dg.AutomationCondition.on_cron("0 7 * * *", "Asia/Seoul"),
    )
    def _asset(context: dg.AssetExecutionContext, kis: KISClient, warehouse: Warehouse) -> dg.MaterializeResult:
        tickers, details, counts = master_rows(kis, region)
        symbols = pd.DataFrame({"excd": tickers["exchange"].map(EXCHANGE_CODE), "symbol": tickers["symbol"],
                                "ticker": tickers["ticker"]})
        details = enrich_members(kis, region, details, symbols)
        result = warehouse.sync_universe("STOCK", tickers, "stock_details", details, region=region)
        collisions = warehouse.read_frame(
            "SELECT count(*) AS n FROM tickers a JOIN tickers b ON a.ticker = b.ticker AND a.region < b.region "
            "WHERE %s IN (a.region, b.region)", (region,))["n"].iloc[0]
        context.log.info(f"{region}: {result['listed']} listed, {result['retired']} retired today")
        return dg.MaterializeResult(metadata={
            "dagster/row_count": len(tickers), **table_metadata("tickers"), "listed": result["listed"],
            "retired_today": result["retired"], "symbols_shared_with_other_regions": int(collisions),
            "universe": universe_setting(), **counts})

    return _asset


UNIVERSE_ASSETS = {r: build_universe_asset(r) for r in REGION_EXCHANGES}
