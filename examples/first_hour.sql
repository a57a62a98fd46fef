-- The ten questions a quant asks first, against the warehouse `quant up` fills.
-- Run them all:   quant sql -f examples/first_hour.sql
-- or one by one:  quant sql   (psql; paste a query)
-- Prices are in local currency (KRW for KR), `value`/`market_cap`/`aum` in KRW, percentages in %.
-- Daily bars have timeframe 'D' ('1d' is accepted too). Every key carries `region` ('KR' here).

-- 1. What is loaded, and up to which day?
SELECT asset, region, status, partitions, first_date, last_date
FROM partition_status_report
ORDER BY asset, region, status;

-- 2. The universe: listed stocks and ETFs per exchange.
SELECT region, exchange, asset_type, count(*) AS listed
FROM tickers
WHERE is_active
GROUP BY region, exchange, asset_type
ORDER BY region, exchange, asset_type;

-- 3. Samsung Electronics' last 20 daily bars.
SELECT date, open, high, low, close, volume, value, change_pct
FROM ohlcv_data
WHERE region = 'KR' AND ticker = '005930' AND timeframe = '1d'
ORDER BY date DESC
LIMIT 20;

-- 4. The ten largest stocks by market capitalisation on the newest day.
SELECT o.ticker, t.name, t.exchange, o.close, round(o.market_cap / 1e12, 2) AS market_cap_trillion_krw
FROM ohlcv_data o
JOIN tickers t USING (ticker, region)
WHERE o.region = 'KR' AND o.timeframe = 'D' AND o.asset_type = 'STOCK'
  AND o.date = (SELECT max(date) FROM ohlcv_data WHERE region = 'KR')
ORDER BY o.market_cap DESC
LIMIT 10;

-- 5. Best 20-trading-day returns, split-adjusted (view ohlcv_adjusted).
WITH bars AS (
    SELECT ticker, region, date, close,
           lag(close, 20) OVER (PARTITION BY ticker, region ORDER BY date) AS close_20d_ago
    FROM ohlcv_adjusted
    WHERE region = 'KR' AND timeframe = 'D' AND asset_type = 'STOCK'
)
SELECT b.ticker, t.name, b.close, round(((b.close / b.close_20d_ago - 1) * 100)::numeric, 2) AS return_20d_pct
FROM bars b
JOIN tickers t USING (ticker, region)
WHERE b.date = (SELECT max(date) FROM bars) AND b.close_20d_ago > 0
ORDER BY return_20d_pct DESC
LIMIT 10;

-- 6. The largest ETFs by net assets, with index, leverage and total fee.
SELECT d.ticker, t.name, d.tracking_index, d.multiple, d.expense_ratio AS total_fee_pct,
       round(d.aum / 1e8) AS aum_100m_krw, d.aum_date
FROM etf_details d
JOIN tickers t USING (ticker, region)
WHERE d.region = 'KR' AND t.is_active
ORDER BY d.aum DESC NULLS LAST
LIMIT 10;

-- 7. What does KODEX 200 hold? (newest published PDF, weights in % of net assets)
SELECT rank_in_etf, stock_ticker, constituent_name, constituent_type, shares, market_value, weight
FROM etf_holdings
WHERE region = 'KR' AND etf_ticker = '069500'
  AND as_of_date = (SELECT max(as_of_date) FROM etf_holdings WHERE region = 'KR' AND etf_ticker = '069500')
ORDER BY rank_in_etf
LIMIT 15;

-- 8. Which ETFs hold Samsung Electronics the most, and did they add or trim?
SELECT h.etf_ticker, t.name, h.weight, h.weight_change_from_prev
FROM etf_holdings h
JOIN tickers t ON t.ticker = h.etf_ticker AND t.region = h.region
WHERE h.region = 'KR' AND h.stock_ticker = '005930'
  AND h.as_of_date = (SELECT max(as_of_date) FROM etf_holdings WHERE region = 'KR')
ORDER BY h.weight DESC
LIMIT 10;

-- 9. Premium/discount to NAV and tracking error (our computation from daily NAV and index).
SELECT ticker, premium_discount_pct, premium_discount_avg_20d, tracking_error_20d, tracking_diff_20d,
       days_in_window
FROM etf_tracking
WHERE region = 'KR' AND date = (SELECT max(date) FROM etf_tracking WHERE region = 'KR')
ORDER BY abs(premium_discount_pct) DESC
LIMIT 10;

-- 10. Cheapest profitable stocks by price-to-book, with PER and dividend yield (KRX's daily figures).
SELECT f.ticker, t.name, f.close_price, f.per, f.pbr, f.dividend_yield
FROM ticker_fundamentals f
JOIN tickers t USING (ticker, region)
WHERE f.region = 'KR' AND f.period_type = 'DAILY' AND f.per > 0
  AND f.date = (SELECT max(date) FROM ticker_fundamentals WHERE region = 'KR' AND period_type = 'DAILY')
ORDER BY f.pbr
LIMIT 10;
