-- factor_scores reads only the arrays a query uses (issue #13: top-20 by a factor on a day).
--
-- sql/019's view unnested all seven arrays of a (date, region, factor_name) row in one
-- ROWS FROM (a tuplestore per array) whatever the query asked for: "top 20 by score" detoasted,
-- unnested and materialised ~2,500 x 7 values to return 20 tickers and scores. Measured on the
-- one-year bench-history warehouse (server execution, mean of 180, loaded 2-core machine):
-- 4.3-5.8 ms for the old view, 1.0-1.4 ms for this one; the rows are identical (EXCEPT ALL both
-- ways over every stored row, quant_assets_tests/test_query_plans.py).
--
-- How: the tickers are unnested with their subscripts (target-list SRFs, streamed, no
-- tuplestore); every value column is element [i] of its array, taken from a LATERAL subquery
-- that detoasts each array once per packed row. That subquery is not flattened (OFFSET 0), so
-- the planner drops the columns a query does not reference (only `scores` is read for top-N by
-- score).
--
-- Why NULLs become 'NaN' inside the subquery: subscripting an array that has a NULL element walks
-- its null bitmap from the start (O(i) per element, O(n^2) per cross-section: 16 ms instead of
-- 2 ms for 2,500 elements); an array without NULLs is O(1) per element. array_replace(x, NULL,
-- 'NaN') is one O(n) pass, and NULLIF(x[i], 'NaN') gives the NULL back. That is exact only if no
-- stored element is NaN: the writer (factor_storage.float8_array) has always stored NaN as a
-- NULL element, this migration normalises any legacy NaN element the same way, and a CHECK now
-- refuses NaN elements. market_codes' NULL becomes 0, and markets[0] is NULL as markets[NULL] is.
-- The CHECK also pins what element [i] relies on: one-dimensional arrays subscripted from 1
-- (every writer produces that; NULL for an empty array passes).

UPDATE factor_scores_packed
   SET raw_values = array_replace(raw_values, 'NaN', NULL),
       scores = array_replace(scores, 'NaN', NULL),
       percentiles = array_replace(percentiles, 'NaN', NULL),
       market_scores = array_replace(market_scores, 'NaN', NULL),
       market_percentiles = array_replace(market_percentiles, 'NaN', NULL)
 WHERE 'NaN' = ANY (raw_values) OR 'NaN' = ANY (scores) OR 'NaN' = ANY (percentiles)
    OR 'NaN' = ANY (market_scores) OR 'NaN' = ANY (market_percentiles);

ALTER TABLE factor_scores_packed ADD CONSTRAINT factor_scores_packed_elements_check CHECK (
    NOT ('NaN' = ANY (raw_values) OR 'NaN' = ANY (scores) OR 'NaN' = ANY (percentiles)
         OR 'NaN' = ANY (market_scores) OR 'NaN' = ANY (market_percentiles))
    AND array_ndims(tickers) = 1 AND array_lower(tickers, 1) = 1
    AND array_ndims(market_codes) = 1 AND array_lower(market_codes, 1) = 1
    AND array_ndims(raw_values) = 1 AND array_lower(raw_values, 1) = 1
    AND array_ndims(scores) = 1 AND array_lower(scores, 1) = 1
    AND array_ndims(percentiles) = 1 AND array_lower(percentiles, 1) = 1
    AND array_ndims(market_scores) = 1 AND array_lower(market_scores, 1) = 1
    AND array_ndims(market_percentiles) = 1 AND array_lower(market_percentiles, 1) = 1);

CREATE OR REPLACE VIEW factor_scores AS
SELECT p.date,
       u.ticker::varchar(20) AS ticker,
       p.region,
       p.factor_name,
       nullif(a.raw_values[u.i], 'NaN') AS raw_value,
       nullif(a.scores[u.i], 'NaN') AS score,
       nullif(a.percentiles[u.i], 'NaN') AS percentile,
       p.markets[a.market_codes[u.i]] AS market,
       nullif(a.market_scores[u.i], 'NaN') AS market_score,
       nullif(a.market_percentiles[u.i], 'NaN') AS market_percentile
FROM factor_scores_packed p
CROSS JOIN LATERAL (
    SELECT p.tickers || '{}'::varchar[] AS tickers,
           array_replace(p.raw_values, NULL, 'NaN') AS raw_values,
           array_replace(p.scores, NULL, 'NaN') AS scores,
           array_replace(p.percentiles, NULL, 'NaN') AS percentiles,
           array_replace(p.market_codes, NULL, 0::smallint) AS market_codes,
           array_replace(p.market_scores, NULL, 'NaN') AS market_scores,
           array_replace(p.market_percentiles, NULL, 'NaN') AS market_percentiles
    OFFSET 0) a
CROSS JOIN LATERAL (SELECT unnest(a.tickers) AS ticker, generate_subscripts(a.tickers, 1) AS i) u;

COMMENT ON CONSTRAINT factor_scores_packed_elements_check ON factor_scores_packed IS
    'No NaN element (NaN is stored as a NULL element; the factor_scores view relies on it) and one-dimensional arrays subscripted from 1.';
