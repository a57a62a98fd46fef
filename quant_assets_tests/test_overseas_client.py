"""KIS overseas endpoints on the simulator over real HTTP, through KISClient: paging, adjusted vs
raw, holidays per exchange, collisions between regions, a delisting, and the client-side bad
input (unknown symbol, rejected exchange code, empty page inside a range, wrong currency)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
import requests

from quant_assets.resources import overseas_parsing as OP
from quant_assets.resources.kis import KISClient


@pytest.fixture()
def kis(osim, tmp_path):
    osim.clear_faults()
    osim.reset_sessions()
    yield KISClient(base_url=osim.kis_url, token_cache_dir=str(tmp_path))
    osim.clear_faults()


def calls(sim, tr: str) -> int:
    return sim.stats.get(f"kis:{tr}", 0)


def test_daily_pages_back_by_bymd_100_rows_per_call(osim, kis):
    m = osim.kis.overseas.m
    start, end = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
    before = calls(osim, OP.DAILY)
    bars = kis.overseas_daily("NAS", "AAPL", start, end)
    sessions = [d for d in m.sessions("NAS") if start <= d <= end]
    assert list(bars["date"]) == sessions                      # every XNYS session, nothing else
    assert calls(osim, OP.DAILY) - before == -(-len(sessions) // 100)   # ceil(250/100) = 3 calls
    assert bars["close"].gt(0).all() and (bars["high"] >= bars["low"]).all()


def test_adjusted_and_raw_differ_before_a_split(osim, kis):
    split_day, ratio = osim.kis.overseas.m.symbol("NAS", "NVDA").split
    lo, hi = split_day - dt.timedelta(days=20), split_day + dt.timedelta(days=20)
    raw = kis.overseas_daily("NAS", "NVDA", lo, hi, adjusted=False).set_index("date")
    adj = kis.overseas_daily("NAS", "NVDA", lo, hi, adjusted=True).set_index("date")
    factor = (adj["close"] / raw["close"]).round(4)
    assert set(factor[factor.index < split_day]) == {round(1 / ratio, 4)}
    assert set(factor[factor.index >= split_day]) == {1.0}
    assert (adj["volume"][adj.index < split_day] > raw["volume"][raw.index < split_day]).all()


@pytest.mark.parametrize(("excd", "symbol", "closed", "open_"), [
    ("NYS", "JPM", dt.date(2025, 7, 4), dt.date(2025, 7, 3)),     # Independence Day (XNYS)
    ("HKS", "00700", dt.date(2025, 10, 1), dt.date(2025, 7, 4)),   # National Day (XHKG); HK trades 4 July
    ("SHS", "600519", dt.date(2025, 10, 3), dt.date(2025, 7, 4)),  # Golden Week (XSHG)
    ("SZS", "000858", dt.date(2025, 10, 3), dt.date(2025, 7, 4)),  # Shenzhen follows Shanghai
    ("TSE", "7203", dt.date(2025, 1, 2), dt.date(2025, 7, 4)),     # New Year (XTKS)
    ("HSX", "VNM", dt.date(2025, 1, 29), dt.date(2025, 7, 4)),     # Tet (the simulator's own VN holidays)
])
def test_holidays_per_exchange(kis, excd, symbol, closed, open_):
    days = set(kis.overseas_daily(excd, symbol, dt.date(2024, 12, 20), dt.date(2025, 10, 10))["date"])
    assert closed not in days and open_ in days


def test_master_zip_cp949_columns_and_cross_region_collisions(osim, kis):
    raw = requests.get(osim.kis_url + "/common/master/hsxmst.cod.zip", timeout=30)
    with zipfile.ZipFile(io.BytesIO(raw.content)) as zf:
        assert zf.namelist() == ["HSXMST.COD"]
        line = zf.read("HSXMST.COD").decode("cp949").splitlines()[0]
    assert len(line.split("\t")) == 24
    nas, hsx = kis.overseas_master("NAS"), kis.overseas_master("HSX")
    assert list(nas.columns) == OP.MASTER_COLUMNS and len(nas) > 2000
    both = set(nas["symb"]) & set(hsx["symb"])
    assert {"ACB", "AAM"} <= both
    assert set(nas.loc[nas["symb"] == "ACB", "curr"]) == {"USD"}
    assert set(hsx.loc[hsx["symb"] == "ACB", "curr"]) == {"VND"}
    # same symbol, two securities: different prices in different currencies
    us = kis.overseas_daily("NAS", "ACB", dt.date(2025, 3, 3), dt.date(2025, 3, 7))
    vn = kis.overseas_daily("HSX", "ACB", dt.date(2025, 3, 3), dt.date(2025, 3, 7))
    assert us["close"].max() < 1000 < vn["close"].min()


def test_delisted_symbol_has_bars_until_delisting_and_leaves_the_master(osim, kis):
    gone = osim.kis.overseas.m.symbol("NYS", "OLDCO").delist_date
    bars = kis.overseas_daily("NYS", "OLDCO", gone - dt.timedelta(days=40), gone + dt.timedelta(days=30))
    assert bars["date"].max() < gone and len(bars) > 10
    assert "OLDCO" not in set(kis.overseas_master("NYS")["symb"])


def test_index_and_fx_chart(kis):
    fx = kis.overseas_chart("X", "FX@KRWJS", dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert 200 < len(fx) < 260 and fx["close"].between(500, 1500).all()   # KRW per 100 yen
    spx = kis.overseas_chart("N", "SPX", dt.date(2025, 7, 1), dt.date(2025, 7, 10))
    assert dt.date(2025, 7, 4) not in set(spx["date"]) and len(spx) == 7


def test_price_detail(kis):
    d = kis.overseas_price_detail("TSE", "7203").iloc[0]
    assert d["currency"] == "JPY" and d["market_cap"] == pytest.approx(d["price"] * d["shares_outstanding"], rel=1e-6)


def test_unknown_symbol_names_region_exchange_symbol(kis):
    with pytest.raises(OP.OverseasDataError, match=r"region=US, exchange=NAS, symbol=NOSUCH.*field=SYMB"):
        kis.overseas_daily("NAS", "NOSUCH", dt.date(2025, 1, 1), dt.date(2025, 2, 1))


def test_exchange_code_kis_rejects(osim, kis):
    """A code our client does not know is refused before sending; one KIS itself rejects (the
    simulator refuses 'SHI' for price-detail's stock lookup) surfaces as a refusal naming it."""
    with pytest.raises(OP.OverseasDataError, match="unknown exchange code 'NASD'.*exchange=NASD"):
        kis.overseas_daily("NASD", "AAPL", dt.date(2025, 1, 1), dt.date(2025, 2, 1))
    from quant_assets.resources.kis_overseas import PATH_DAILY
    with pytest.raises(OP.OverseasRequestError, match=r"APBK0919.*exchange=SHI, symbol=600519"):
        kis._overseas_get(PATH_DAILY, OP.DAILY, {"AUTH": "", "EXCD": "SHI", "SYMB": "600519", "GUBN": "0",
                                                  "BYMD": "20250201", "MODP": "0"},
                          region="CN", exchange="SHI", symbol="600519", date="20250201")


def test_empty_page_inside_a_range_is_an_error(osim, kis):
    osim.set_faults({"rules": [{"source": "kis", "tr_id": OP.DAILY, "date": "20250303", "fault": "corrupt",
                                "kind": "empty", "times": 1}]})
    with pytest.raises(OP.OverseasDataError, match=r"empty page inside the range.*symbol=MSFT"):
        kis.overseas_daily("NAS", "MSFT", dt.date(2024, 6, 1), dt.date(2025, 12, 31))


def test_price_detail_in_the_wrong_currency(osim, kis):
    osim.set_faults({"rules": [{"source": "kis", "tr_id": OP.DETAIL, "fault": "corrupt", "kind": "constant",
                                "field": "curr", "value": "CNY"}]})
    with pytest.raises(OP.OverseasDataError, match=r"quoted in CNY, expected HKD.*exchange=HKS, symbol=00700.*curr"):
        kis.overseas_price_detail("HKS", "00700")


def test_overseas_calls_share_the_domestic_token_and_limiter(osim, kis):
    kis.overseas_price_detail("NAS", "AAPL")
    kis.daily_chart("005930", dt.date(2025, 1, 2), dt.date(2025, 1, 10))
    assert osim.stats.get("kis:tokenP", 0) >= 1
    assert kis._get_transport() is kis._transport   # one transport: one limiter, one retry policy
