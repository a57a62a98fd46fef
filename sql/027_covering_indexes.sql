-- Index-only scans for two of issue #13's benchmark queries (bench-history `queries`).
--
-- stock -> ETFs on a day (`SELECT etf_ticker, weight FROM etf_holdings WHERE stock_ticker = $1
-- AND as_of_date = $2 ORDER BY weight DESC`): idx_holdings_stock_date_weight found the rows, but
-- each of them (one per ETF holding the stock, up to ~160) was a heap fetch on its own page:
-- 166 buffers for 005930 on a day. With etf_ticker carried in the index the scan is index-only:
-- 6 buffers, server execution 0.46 -> 0.16 ms (generic plan, one-year bench-history warehouse).
-- The index is replaced under its own name with the same key columns (the seed contract names
-- it and checks its keys), so writes maintain one index as before, not two.
--
-- One ticker's monthly bars (`SELECT month, open, high, low, close FROM ohlcv_monthly WHERE
-- region = 'KR' AND ticker = $1 ORDER BY month`): a month bucket writes every ticker's bar of
-- that month together, so ten years of one ticker are ~120 rows on ~120 heap pages (114 buffers
-- measured). ohlcv_monthly_pkey cannot carry the values without changing the seed's primary key
-- constraint, so a second index (key columns in the primary key's order) includes them:
-- index-only, 5 buffers; client round trip 0.45 -> 0.32 ms (min) for 121 bars. Cost: ~26 MB for
-- ten years of monthly bars of the full market.
--
-- Index-only scans need all-visible pages; autovacuum's insert threshold sets them after the
-- daily/monthly writes (the benchmark VACUUMs before it measures).

DO $$
DECLARE
    -- after `quant storage compact` etf_holdings is a view over etf_holdings_hot (storage_layouts)
    holdings text := coalesce((SELECT hot_table FROM storage_layouts WHERE table_name = 'etf_holdings'),
                              'etf_holdings');
BEGIN
    DROP INDEX idx_holdings_stock_date_weight;
    EXECUTE format('CREATE INDEX idx_holdings_stock_date_weight ON %I (stock_ticker, as_of_date, weight DESC) '
                   'INCLUDE (etf_ticker)', holdings);
END $$;

CREATE INDEX ohlcv_monthly_ticker_bars_idx ON ohlcv_monthly (ticker, region, month) INCLUDE (open, high, low, close);
