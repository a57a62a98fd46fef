-- KRW-converted daily closes of every region (issue #10 item 4), for comparing regions.
--
-- One row per daily bar of ohlcv_data (timeframe 'D', every region). KR bars are already in KRW:
-- fx_rate 1, fx_date = the bar's date. An overseas bar takes the exchange_rate_history quote of its
-- currency on the bar's own local date, else the newest earlier one, at most 7 calendar days
-- older (a long Seoul holiday; Chuseok 2025 left 7 days between quotes). Beyond 7 days fx_rate,
-- fx_date and close_krw are NULL: a stale rate is never used silently. The quote is divided by
-- its stored convention column (quoted_rate / quote_unit: JPY and VND are quoted per 100 units),
-- never by a hard-coded currency list. Only quality 'ok' quotes count (a Spock fallback constant,
-- 'suspect_fallback', is not a rate); on a date with several sources a KIS quote wins, then the
-- source name decides, so the choice is deterministic.
--
-- Dates: exchange_rate_history.rate_date is a Seoul trading day (KIS's 15:30 KST quote); the bar's
-- date is the exchange's local trading date. A US bar of date D (closing 06:00 KST on D+1) is
-- converted at the Seoul quote of calendar date D, the convention of "same local date".
--
-- The currency is the region's (regions.currency), not ohlcv_data.currency: on a new database this
-- file runs before sql/023, which adds that column. The two agree by construction (023's column is
-- the exchange's trading currency, checked against the KIS master, and every exchange of a region
-- trades in the region's currency); quant_assets_tests/test_overseas_derived.py checks it.
CREATE VIEW ohlcv_krw AS
SELECT o.date,
       o.ticker,
       o.region,
       o.timeframe,
       o.close,
       g.currency,
       CASE WHEN g.currency = 'KRW' THEN 1::numeric ELSE fx.quoted_rate / fx.quote_unit END AS fx_rate,
       CASE WHEN g.currency = 'KRW' THEN o.date ELSE fx.rate_date END AS fx_date,
       CASE WHEN g.currency = 'KRW' THEN o.close ELSE o.close * fx.quoted_rate / fx.quote_unit END AS close_krw,
       CASE WHEN g.currency = 'KRW' THEN NULL ELSE fx.source END AS fx_source
FROM ohlcv_data o
JOIN regions g ON g.region = o.region
LEFT JOIN LATERAL (
    SELECT e.rate_date, e.quoted_rate, e.quote_unit, e.source
    FROM exchange_rate_history e
    WHERE g.currency <> 'KRW'
      AND e.currency = g.currency::text
      AND e.base_currency = 'KRW'
      AND e.quality = 'ok'
      AND e.rate_date <= o.date
      AND e.rate_date >= o.date - 7
    ORDER BY e.rate_date DESC, (e.source LIKE 'KIS%') DESC, e.source
    LIMIT 1
) fx ON true
WHERE o.timeframe = 'D';

COMMENT ON VIEW ohlcv_krw IS
    'Daily closes of every region with the KRW rate used and the close in KRW (sql/021). Overseas bars use the exchange_rate_history quote of the bar''s local date or the newest earlier one at most 7 days older; otherwise fx_rate, fx_date and close_krw are NULL (never a stale rate). KR rows: fx_rate 1.';
COMMENT ON COLUMN ohlcv_krw.date IS 'Trading date of the bar (the exchange''s local date).';
COMMENT ON COLUMN ohlcv_krw.ticker IS 'Symbol, canonical for the region (ohlcv_data.ticker).';
COMMENT ON COLUMN ohlcv_krw.region IS 'KR | US | CN | HK | JP | VN.';
COMMENT ON COLUMN ohlcv_krw.timeframe IS 'Always the daily timeframe ''D'' (''1d'' matches in queries).';
COMMENT ON COLUMN ohlcv_krw.close IS 'Raw close in the bar''s local currency (ohlcv_data.close).';
COMMENT ON COLUMN ohlcv_krw.currency IS 'ISO currency of close: the region''s (regions.currency, equal to ohlcv_data.currency).';
COMMENT ON COLUMN ohlcv_krw.fx_rate IS
    'KRW per ONE unit of currency: exchange_rate_history.quoted_rate / quote_unit (JPY, VND are quoted per 100); 1 for KRW; NULL when no quote within 7 days up to the bar''s date.';
COMMENT ON COLUMN ohlcv_krw.fx_date IS
    'rate_date of the quote used (the bar''s date or up to 7 days earlier); the bar''s date for KRW; NULL when none.';
COMMENT ON COLUMN ohlcv_krw.close_krw IS
    'close x quoted_rate / quote_unit, in KRW, unrounded; close itself for KR; NULL when no quote within 7 days.';
COMMENT ON COLUMN ohlcv_krw.fx_source IS 'exchange_rate_history.source of the quote used; NULL for KRW and when none.';
