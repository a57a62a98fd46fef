"""pykrx itself (the library Korean quants already use) against the simulator, over real HTTP.

pykrx is pointed at the simulator exactly as the README shows (`use_simulator`, a requests
transport adapter on pykrx's own session; pykrx's code and URLs unchanged). Every pykrx answer is
compared with what our own KRXClient parses for the same request: two independent parsers of one
wire format, so a simulator field pykrx reads differently from us (or cannot read) fails here.
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pandas as pd
import pytest

os.environ.pop("KRX_ID", None)  # pykrx logs in to the real KRX at import time when these are set
os.environ.pop("KRX_PW", None)
pykrx_stock = pytest.importorskip("pykrx.stock", reason="pykrx is a dev dependency (pip install -e '.[dev]')")

DAY = "20240105"
START, END = "20240102", "20240131"
KODEX200 = "069500"
PYKRX_ACCOUNT = ("pykrx-user", "pykrx-pw")  # not the KRXClient demo account: no duplicate-login kick-out


@pytest.fixture()
def stock(sim):
    from quant_assets.simulator.pykrx_compat import use_simulator

    use_simulator(sim.krx_url, *PYKRX_ACCOUNT)  # the `sim` fixture drops sessions around each test
    return pykrx_stock


@pytest.fixture()
def krx(sim):
    from quant_assets.resources import KRXClient

    return KRXClient(base_url=sim.krx_url, requests_per_second=500.0)


def _dates(index) -> list[dt.date]:
    return [pd.Timestamp(d).date() for d in index]


def test_ticker_list_and_market_ohlcv_by_ticker(stock, krx):
    ours = krx.stock_daily(DAY)
    assert len(ours) > 20
    assert stock.get_market_ticker_list(DAY, market="ALL") == sorted(ours["ticker"])
    kosdaq = sorted(ours.loc[ours["market"] == "KOSDAQ", "ticker"])
    assert kosdaq and stock.get_market_ticker_list(DAY, market="KOSDAQ") == kosdaq

    theirs = stock.get_market_ohlcv(DAY, market="ALL").sort_index()
    o = ours.set_index("ticker").loc[theirs.index]
    for k, c in {"시가": "open", "고가": "high", "저가": "low", "종가": "close", "거래량": "volume",
                 "거래대금": "value", "시가총액": "market_cap"}.items():
        np.testing.assert_array_equal(theirs[k].to_numpy(np.int64), o[c].to_numpy(np.int64), err_msg=k)
    np.testing.assert_allclose(theirs["등락률"].to_numpy(float), o["change_pct"].to_numpy(float), atol=1e-6)


def test_market_ohlcv_by_date_matches_per_date_snapshots(stock, krx):
    """pykrx's unadjusted history (MDCSTAT01701) against our per-date snapshots (MDCSTAT01501)."""
    ticker = "005930"
    theirs = stock.get_market_ohlcv("20240102", "20240110", ticker, adjusted=False)
    days = _dates(theirs.index)
    assert len(days) >= 5 and days == sorted(days)
    for d, row in zip(days, theirs.itertuples(index=False), strict=True):
        o = krx.stock_daily(d.strftime("%Y%m%d")).set_index("ticker").loc[ticker]
        assert (row.시가, row.고가, row.저가, row.종가, row.거래량) == (o.open, o.high, o.low, o.close, o.volume), d


def test_etf_tickers_and_isins(stock, krx):
    master = krx.etf_master()
    listed = master.loc[master["listing_date"] <= dt.date(2024, 1, 5)]
    assert len(listed) > 5
    assert sorted(stock.get_etf_ticker_list(DAY)) == sorted(listed["ticker"])
    assert stock.get_etf_isin(KODEX200) == master.set_index("ticker").at[KODEX200, "isin"]


def test_etf_ohlcv_with_nav(stock, krx):
    isin = krx.etf_master().set_index("ticker").at[KODEX200, "isin"]
    ours = krx.etf_price_history(isin, START, END)
    theirs = stock.get_etf_ohlcv_by_date(START, END, KODEX200)
    assert len(theirs) >= 15 and _dates(theirs.index) == list(ours["date"])
    for k, c in {"시가": "open", "고가": "high", "저가": "low", "종가": "close", "거래량": "volume",
                 "거래대금": "value"}.items():
        np.testing.assert_array_equal(theirs[k].to_numpy(np.int64), ours[c].to_numpy(np.int64), err_msg=k)
    np.testing.assert_allclose(theirs["NAV"].to_numpy(float), ours["nav"].to_numpy(float), atol=1e-6)
    np.testing.assert_allclose(theirs["기초지수"].to_numpy(float), ours["index_close"].to_numpy(float), atol=1e-6)

    day = stock.get_etf_ohlcv_by_ticker(DAY).sort_index()
    snap = krx.etf_daily(DAY).set_index("ticker").loc[day.index]
    np.testing.assert_allclose(day["NAV"].to_numpy(float), snap["nav"].to_numpy(float), atol=1e-6)
    np.testing.assert_array_equal(day["종가"].to_numpy(np.int64), snap["close"].to_numpy(np.int64))


def test_etf_portfolio_deposit_file(stock, krx):
    isin = krx.etf_master().set_index("ticker").at[KODEX200, "isin"]
    ours = krx.etf_pdf(DAY, isin)
    theirs = stock.get_etf_portfolio_deposit_file(KODEX200, DAY)
    assert len(theirs) == len(ours) > 5
    codes = [c[3:9] if len(c) > 6 else c for c in ours["constituent_code"]]
    assert list(theirs.index) == codes
    for k, c in {"계약수": "shares_per_cu", "금액": "valuation_amount", "시가총액": "market_value",
                 "비중": "weight_pct"}.items():
        np.testing.assert_allclose(theirs[k].to_numpy(float), ours[c].fillna(0).to_numpy(float), rtol=1e-6,
                                   err_msg=k)


def test_etf_price_deviation_and_tracking_error(stock, krx):
    isin = krx.etf_master().set_index("ticker").at[KODEX200, "isin"]
    dev, pd_ours = stock.get_etf_price_deviation(START, END, KODEX200), krx.etf_premium_discount(isin, START, END)
    assert len(dev) >= 15 and _dates(dev.index) == list(pd_ours["date"])
    np.testing.assert_array_equal(dev["종가"].to_numpy(np.int64), pd_ours["close"].to_numpy(np.int64))
    np.testing.assert_allclose(dev["NAV"].to_numpy(float), pd_ours["nav"].to_numpy(float), atol=1e-6)
    np.testing.assert_allclose(dev["괴리율"].to_numpy(float), pd_ours["premium_discount_pct"].to_numpy(float), atol=1e-5)

    te, te_ours = stock.get_etf_tracking_error(START, END, KODEX200), krx.etf_tracking_error(isin, START, END)
    assert len(te) >= 15 and _dates(te.index) == list(te_ours["date"])
    np.testing.assert_allclose(te["NAV"].to_numpy(float), te_ours["nav"].to_numpy(float), atol=1e-6)
    np.testing.assert_allclose(te["지수"].to_numpy(float), te_ours["index_close"].to_numpy(float), atol=1e-6)
    np.testing.assert_allclose(te["추적오차율"].to_numpy(float), te_ours["tracking_error_pct"].to_numpy(float),
                               atol=1e-5)


def test_etn_and_elw_masters_feed_pykrx_ticker_map(stock, sim):
    """The masters pykrx needs to map ETF tickers to ISINs (an empty one empties the whole map)."""
    from pykrx.website.krx.etx.core import ELW_전종목기본종목, ETN_전종목기본종목

    etn, elw = ETN_전종목기본종목().fetch(), ELW_전종목기본종목().fetch()
    assert len(etn) > 0 and len(elw) > 0
    assert etn["ISU_CD"].str.match(r"^KRG[0-9A-Z]{9}$").all() and elw["ISU_CD"].str.match(r"^KRA[0-9A-Z]{9}$").all()
    codes = set(etn["ISU_SRT_CD"]) | set(elw["ISU_SRT_CD"])
    assert len(codes) == len(etn) + len(elw)
    assert not codes & (set(sim.market.code_to_i) | set(sim.market.etfs.code_to_e))  # no stock/ETF code reused
    assert (pd.to_datetime(elw["EXP_DD"]) > pd.Timestamp.now().normalize()).all()  # live warrants only


def test_index_tickers_ohlcv_and_constituents(stock, krx, sim):
    kospi = stock.get_index_ticker_list(DAY, market="KOSPI")
    assert {"1001", "1028"} <= set(kospi) and stock.get_index_ticker_name("1001") == "코스피"
    assert "2001" in stock.get_index_ticker_list(DAY, market="KOSDAQ")

    ours = krx.index_history(START, END)  # KOSPI, MDCSTAT00301 through our parser
    theirs = stock.get_index_ohlcv(START, END, "1001")
    assert len(theirs) >= 15 and _dates(theirs.index) == list(ours["date"])
    for k, c in {"시가": "open", "고가": "high", "저가": "low", "종가": "close"}.items():
        np.testing.assert_allclose(theirs[k].to_numpy(float), ours[c].to_numpy(float), atol=1e-6, err_msg=k)
    np.testing.assert_array_equal(theirs["거래대금"].to_numpy(np.int64), ours["value"].to_numpy(np.int64))

    board = stock.get_index_ohlcv(DAY, market="KOSPI")  # MDCSTAT00101, every KOSPI index that day
    assert board.at["코스피", "종가"] == pytest.approx(float(ours.set_index("date").at[dt.date(2024, 1, 5), "close"]))

    members = stock.get_index_portfolio_deposit_file("1028", DAY)  # 코스피 200 constituents
    m = sim.market
    live, _ = m.index_members(m.index_by_code[("1", "028")], m.t_of[dt.date(2024, 1, 5)])
    assert len(members) > 5 and sorted(members) == sorted(m.stocks.code[i] for i in live)


def test_fundamental_history_matches_daily_snapshots(stock, krx):
    theirs = stock.get_market_fundamental("20240102", "20240110", "005930")
    days = _dates(theirs.index)
    assert len(days) >= 5
    for d, row in zip(days, theirs.itertuples(index=False), strict=True):
        o = krx.stock_fundamentals(d.strftime("%Y%m%d")).set_index("ticker").loc["005930"]
        got = {"eps": row.EPS, "bps": row.BPS, "dps": row.DPS, "per": row.PER, "pbr": row.PBR, "div": row.DIV}
        want = {"eps": o.eps, "bps": o.bps, "dps": o.dps, "per": o.per, "pbr": o.pbr, "div": o.dividend_yield}
        assert got == pytest.approx(want, abs=1e-6), d


def test_period_price_change_of_stocks_and_etfs(stock, krx):
    """Base price = close before the period, close = last day, volume/value summed over the days."""
    first, last = "20240103", "20240110"
    days = [d.strftime("%Y%m%d") for d in pd.bdate_range(first, last)]
    prev = krx.stock_daily("20240102").set_index("ticker")
    snaps = [krx.stock_daily(d).set_index("ticker") for d in days]
    theirs = stock.get_market_price_change(first, last, market="ALL")
    same_shares = prev.index[prev["listed_shares"] == snaps[-1].reindex(prev.index)["listed_shares"]]
    t = theirs.loc[theirs.index.intersection(same_shares)]
    assert len(t) > 20
    np.testing.assert_array_equal(t["시가"].to_numpy(np.int64), prev.loc[t.index, "close"].to_numpy(np.int64))
    np.testing.assert_array_equal(t["종가"].to_numpy(np.int64), snaps[-1].loc[t.index, "close"].to_numpy(np.int64))
    volume = sum(s.loc[t.index, "volume"].to_numpy(np.int64) for s in snaps)
    np.testing.assert_array_equal(t["거래량"].to_numpy(np.int64), volume)

    eprev = krx.etf_daily("20240102").set_index("ticker")
    esnaps = [krx.etf_daily(d).set_index("ticker") for d in days]
    etfs = stock.get_etf_price_change_by_ticker(first, last)
    assert len(etfs) > 5
    np.testing.assert_array_equal(etfs["시가"].to_numpy(np.int64), eprev.loc[etfs.index, "close"].to_numpy(np.int64))
    np.testing.assert_array_equal(etfs["종가"].to_numpy(np.int64), esnaps[-1].loc[etfs.index, "close"].to_numpy(np.int64))
    np.testing.assert_array_equal(etfs["거래대금"].to_numpy(np.int64),
                                  sum(s.loc[etfs.index, "value"].to_numpy(np.int64) for s in esnaps))
