-- Overseas daily bars in ohlcv_data (issue #10): the seed contract keeps every region's bars in one
-- table keyed (ticker, region, date, timeframe); overseas rows need what KRX rows never did:
-- the currency of their prices, the KIS exchange they trade on, and the split-adjusted close KIS
-- reports (dailyprice MODP=1) next to the raw one. Existing (KRX) rows get currency KRW; their
-- adjustments stay in adjustment_factors, so adj_close / exchange_code are NULL there.
ALTER TABLE ohlcv_data
    ADD COLUMN currency      char(3)        NOT NULL DEFAULT 'KRW',
    ADD COLUMN exchange_code varchar(4),
    ADD COLUMN adj_close     numeric(20, 6);
-- An overseas bar is never priced in KRW and its adjusted close, when given, is positive. KIS loads
-- always carry exchange_code and adj_close (OverseasOhlcvSchema refuses a bar without them); bars
-- imported from a legacy Spock file (yfinance) legitimately have neither: that source gave none.
ALTER TABLE ohlcv_data ADD CONSTRAINT ohlcv_data_overseas_chk
    CHECK ((region = 'KR') = (currency = 'KRW') AND (adj_close IS NULL OR adj_close > 0));

COMMENT ON COLUMN ohlcv_data.currency IS
    'ISO currency of open/high/low/close/change/value: KRW for KR, USD/CNY/HKD/JPY/VND for overseas bars (the exchange''s trading currency, checked against the KIS master).';
COMMENT ON COLUMN ohlcv_data.exchange_code IS
    'KIS quotation exchange code of an overseas bar (NAS, NYS, AMS, SHS, SZS, HKS, TSE, HSX, HNX); NULL for KRX rows.';
COMMENT ON COLUMN ohlcv_data.adj_close IS
    'Overseas bars: the split-adjusted close KIS reports for this date (dailyprice MODP=1) on the share basis of the load day; adj_close / close is the adjustment factor. NULL for KRX rows (their factors are in adjustment_factors).';
