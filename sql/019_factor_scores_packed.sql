-- factor_scores: one physical row per (date, region, factor_name) holding the day's cross-section
-- as arrays over tickers, behind a view with the seed's columns (issue #13 item 5).
--
-- Why: one row per (date, region, factor_name, ticker) cost ~170 bytes per score with its three
-- indexes (larger than the heap), ~8 MB per trading day. The cross-section of a factor on a day is
-- written and read as a whole (top-N by a factor on a day, the asset's own partition write), so it
-- is stored as a whole: ticker and value arrays, TOASTed (the ticker array compresses). Values keep
-- double precision: the view returns exactly what was computed (no precision is traded).
-- The view `factor_scores` keeps the seed contract's columns and types; every seed statement and
-- query reads it unchanged. The asset writes factor_scores_packed directly (11 rows per day).

CREATE TABLE factor_scores_packed (
    date               date         NOT NULL,
    region             varchar(2)   NOT NULL,
    factor_name        varchar(50)  NOT NULL,
    tickers            varchar(20)[] NOT NULL,
    markets            text[]       NOT NULL,     -- distinct market names of the cross-section
    market_codes       smallint[]   NOT NULL,     -- per ticker: 1-based index into markets (NULL: none)
    raw_values         double precision[] NOT NULL,
    scores             double precision[] NOT NULL,
    percentiles        double precision[] NOT NULL,
    market_scores      double precision[] NOT NULL,
    market_percentiles double precision[] NOT NULL,
    PRIMARY KEY (date, region, factor_name),
    CHECK (cardinality(tickers) = cardinality(raw_values) AND cardinality(tickers) = cardinality(scores)
           AND cardinality(tickers) = cardinality(percentiles) AND cardinality(tickers) = cardinality(market_codes)
           AND cardinality(tickers) = cardinality(market_scores)
           AND cardinality(tickers) = cardinality(market_percentiles))
) PARTITION BY RANGE (date);
-- serves the seed's idx_factor_scores_factor_date (factor_name, date DESC) through the view
CREATE INDEX factor_scores_packed_factor_date_idx ON factor_scores_packed (factor_name, date DESC);

DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT DISTINCT date_trunc('month', date)::date AS m FROM factor_scores LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF factor_scores_packed FOR VALUES FROM (%L) TO (%L)',
                       'factor_scores_packed_y' || to_char(r.m, 'YYYY') || 'm' || to_char(r.m, 'MM'),
                       r.m, (r.m + interval '1 month')::date);
    END LOOP;
END $$;

INSERT INTO factor_scores_packed (date, region, factor_name, tickers, markets, market_codes, raw_values, scores,
                                  percentiles, market_scores, market_percentiles)
WITH m AS (
    SELECT date, region, factor_name, array_agg(DISTINCT market ORDER BY market)
                                          FILTER (WHERE market IS NOT NULL) AS markets
    FROM factor_scores GROUP BY date, region, factor_name
)
SELECT f.date, f.region, f.factor_name,
       array_agg(f.ticker ORDER BY f.ticker),
       coalesce(m.markets, '{}'),
       array_agg(array_position(m.markets, f.market)::smallint ORDER BY f.ticker),
       array_agg(f.raw_value ORDER BY f.ticker),
       array_agg(f.score ORDER BY f.ticker),
       array_agg(f.percentile ORDER BY f.ticker),
       array_agg(f.market_score ORDER BY f.ticker),
       array_agg(f.market_percentile ORDER BY f.ticker)
FROM factor_scores f JOIN m USING (date, region, factor_name)
GROUP BY f.date, f.region, f.factor_name, m.markets;

DROP TABLE factor_scores;

CREATE VIEW factor_scores AS
SELECT p.date,
       u.ticker::varchar(20) AS ticker,
       p.region,
       p.factor_name,
       u.raw_value,
       u.score,
       u.percentile,
       p.markets[u.market_code] AS market,
       u.market_score,
       u.market_percentile
FROM factor_scores_packed p
CROSS JOIN LATERAL unnest(p.tickers, p.market_codes, p.raw_values, p.scores, p.percentiles, p.market_scores,
                          p.market_percentiles)
    AS u(ticker, market_code, raw_value, score, percentile, market_score, market_percentile);

COMMENT ON TABLE factor_scores_packed IS 'Storage of factor_scores: one row per (date, region, factor_name) with the day''s cross-section as arrays aligned by position (element i of every array is tickers[i]); read it through the factor_scores view.';
COMMENT ON COLUMN factor_scores_packed.date IS 'Trading day.';
COMMENT ON COLUMN factor_scores_packed.region IS 'Market (regions.region); a cross-section never mixes regions.';
COMMENT ON COLUMN factor_scores_packed.factor_name IS 'mom_12_1, mom_6_1, mom_3, low_vol_60, low_vol_252, size, value_bp, value_ep, dividend_yield, quality_roe, liquidity_60 (quant_assets/assets/factors.py).';
COMMENT ON COLUMN factor_scores_packed.tickers IS 'Scored tickers of the cross-section, ascending.';
COMMENT ON COLUMN factor_scores_packed.markets IS 'Distinct market names (tickers.exchange) the market_codes index into.';
COMMENT ON COLUMN factor_scores_packed.market_codes IS 'Per ticker: 1-based index into markets (NULL: no market).';
COMMENT ON COLUMN factor_scores_packed.raw_values IS 'Per ticker: raw_value (double precision, as computed).';
COMMENT ON COLUMN factor_scores_packed.scores IS 'Per ticker: score, winsorised z-score within the region.';
COMMENT ON COLUMN factor_scores_packed.percentiles IS 'Per ticker: percentile within the region, 0-100.';
COMMENT ON COLUMN factor_scores_packed.market_scores IS 'Per ticker: market_score (NULL: too few names in the market).';
COMMENT ON COLUMN factor_scores_packed.market_percentiles IS 'Per ticker: market_percentile (NULL as market_score).';

COMMENT ON VIEW factor_scores IS 'View: cross-sectional factor scores per (date, region, factor_name, ticker), from split-adjusted prices and DAILY fundamentals; raw_value is signed so that higher = more of the factor as named (low_vol_* store minus the volatility). Stored packed in factor_scores_packed (one row per date, region and factor).';
COMMENT ON COLUMN factor_scores.date IS 'Trading day.';
COMMENT ON COLUMN factor_scores.ticker IS 'Symbol.';
COMMENT ON COLUMN factor_scores.region IS 'Market (regions.region).';
COMMENT ON COLUMN factor_scores.factor_name IS 'mom_12_1, mom_6_1, mom_3, low_vol_60, low_vol_252, size, value_bp, value_ep, dividend_yield, quality_roe, liquidity_60 (quant_assets/assets/factors.py).';
COMMENT ON COLUMN factor_scores.raw_value IS 'The factor''s value before standardisation, signed so that higher = more of the factor (low_vol_* = minus the volatility); formulas in quant_assets/assets/factors.py.';
COMMENT ON COLUMN factor_scores.score IS 'Winsorised (1st/99th pct) z-score of raw_value within the region''s cross-section.';
COMMENT ON COLUMN factor_scores.percentile IS 'Percentile rank within the region, 0–100 (100 = most of the factor).';
COMMENT ON COLUMN factor_scores.market IS 'The stock''s exchange (tickers.exchange): KOSPI or KOSDAQ.';
COMMENT ON COLUMN factor_scores.market_score IS 'As score, within the market (NULL: too few names in the market).';
COMMENT ON COLUMN factor_scores.market_percentile IS 'As percentile, within the market, 0-100.';
