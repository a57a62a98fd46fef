"""Regression: at full size a synthetic stock once took the code of a known ETF (122630)."""

from quant_assets.simulator import Market, SimConfig


def test_stock_and_etf_codes_are_disjoint_at_full_size():
    market = Market(SimConfig(size="full"))
    stocks, etfs = set(market.stocks.code), set(market.etfs.code)
    assert len(stocks) == 2700 and len(etfs) >= 1000
    assert not stocks & etfs
