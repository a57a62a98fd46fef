-- factor_scores_packed in exact narrow encodings: one ticker list per day, percentiles as integer
-- ranks, scores as four numbers per cross-section (the factor_scores view returns the same bits).
--
-- Why: factor_scores_packed was the largest uncompacted table (~176 MB per year of KR data,
-- benchmarks/history.py; the ten-year warehouse must stay under 3 GB). Per (day, factor) row it
-- held the day's ~2,700 tickers again (the same list in each of the day's 11 rows) and five
-- float8 arrays, three of which are functions of the others that the view can recompute bit for
-- bit in IEEE double arithmetic (PostgreSQL's float8 + - * / and greatest/least are the same
-- correctly rounded operations numpy uses elementwise):
--   * percentile = pandas rank(method="average", pct=True) * 100 = (r / n) * 100, where the
--     average rank r is an exact half-integer: stored as 2r (smallint) and recomputed as
--     ((2r / 2) / n) * 100; market_percentile the same with n = the market's names;
--   * score = (clip(raw, lo, hi) - mean) / sd (0 when sd = 0): stored as {lo, hi, mean, sd}
--     (score_params; market_score_params: four per market, NULL for a market too small);
--   * tickers: factor_score_days holds the day's sorted ticker list once; a factor row's arrays
--     are aligned to it (element j = the day's ticker j) and `members` (one bit per day ticker)
--     says which tickers the factor scores. A non-member element is NULL (a NULL element costs
--     a bit of the array's null bitmap, no data).
-- Every encoding is decided per row and column when the row is written (factor_storage.py) and
-- only where it reproduces the value exactly; otherwise the row keeps that column's float8
-- array (the CHECKs allow exactly one of each pair). Here, for the rows already stored, the
-- tickers and both percentile columns are converted in SQL with the same round-trip test
-- (compared as float8send bytes); the scores stay float8 (their lo/hi/mean/sd are not stored
-- and numpy's pairwise mean is not reproduced here): a re-run of factor_scores for those days
-- writes them narrow. Measured (synthetic year: 250 days x 11 factors x 2,700 tickers, 7.4 M
-- view rows): 26.6 s on the 2-core machine, so ~4.5 min for ten years, once, on first connect.
--
-- The view keeps its columns and types (format_type) and sql/026's shape: each array is
-- detoasted once per packed row in an OFFSET 0 subquery (only the columns a query references are
-- computed), NULL elements swapped for a sentinel there so subscripting stays O(1), the day's
-- tickers unnested with their subscripts.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM factor_scores_packed p
               WHERE array_position(p.tickers, NULL) IS NOT NULL
                  OR cardinality(p.tickers) <> (SELECT count(DISTINCT t) FROM unnest(p.tickers) t)) THEN
        RAISE EXCEPTION 'factor_scores_packed has a row with a NULL or repeated ticker: not converted';
    END IF;
END $$;

CREATE TABLE factor_score_days (
    date    date          NOT NULL,
    region  varchar(2)    NOT NULL,
    tickers varchar(20)[] NOT NULL,
    PRIMARY KEY (date, region),
    CHECK (array_position(tickers, NULL) IS NULL
           AND coalesce(array_ndims(tickers) = 1 AND array_lower(tickers, 1) = 1, true))
);

CREATE TABLE factor_scores_packed_new (
    date                    date        NOT NULL,
    region                  varchar(2)  NOT NULL,
    factor_name             varchar(50) NOT NULL,
    members                 bit varying NOT NULL,
    markets                 text[]      NOT NULL,
    market_codes            smallint[]  NOT NULL,
    raw_values              double precision[] NOT NULL,
    scores                  double precision[],
    score_params            double precision[],
    percentiles             double precision[],
    percentile_ranks        smallint[],
    market_scores           double precision[],
    market_score_params     double precision[],
    market_percentiles      double precision[],
    market_percentile_ranks smallint[],
    market_counts           integer[],
    PRIMARY KEY (date, region, factor_name),
    FOREIGN KEY (date, region) REFERENCES factor_score_days (date, region),
    CONSTRAINT factor_scores_packed_encoding_check CHECK (
        (scores IS NULL) <> (score_params IS NULL)
        AND (percentiles IS NULL) <> (percentile_ranks IS NULL)
        AND (market_scores IS NULL) <> (market_score_params IS NULL)
        AND (market_percentiles IS NULL) <> (market_percentile_ranks IS NULL)
        AND (market_percentile_ranks IS NULL) = (market_counts IS NULL)
        AND coalesce(cardinality(score_params) = 4 AND array_position(score_params, NULL) IS NULL, true)
        AND coalesce(cardinality(market_score_params) = 4 * cardinality(markets), true)
        AND coalesce(cardinality(market_counts) = cardinality(markets), true)),
    CONSTRAINT factor_scores_packed_aligned_check CHECK (
        length(members) = cardinality(raw_values) AND length(members) = cardinality(market_codes)
        AND length(members) = coalesce(cardinality(scores), length(members))
        AND length(members) = coalesce(cardinality(percentiles), length(members))
        AND length(members) = coalesce(cardinality(percentile_ranks), length(members))
        AND length(members) = coalesce(cardinality(market_scores), length(members))
        AND length(members) = coalesce(cardinality(market_percentiles), length(members))
        AND length(members) = coalesce(cardinality(market_percentile_ranks), length(members))),
    CONSTRAINT factor_scores_packed_elements_check CHECK (
        NOT ('NaN' = ANY (raw_values) OR 'NaN' = ANY (scores) OR 'NaN' = ANY (score_params)
             OR 'NaN' = ANY (percentiles) OR 'NaN' = ANY (market_scores) OR 'NaN' = ANY (market_score_params)
             OR 'NaN' = ANY (market_percentiles))
        AND 0 <> ALL (percentile_ranks) AND 0 <> ALL (market_percentile_ranks) AND 0 <> ALL (market_codes)
        AND 0 < ALL (market_counts)
        AND coalesce(array_ndims(market_codes) = 1 AND array_lower(market_codes, 1) = 1, true)
        AND coalesce(array_ndims(raw_values) = 1 AND array_lower(raw_values, 1) = 1, true)
        AND coalesce(array_ndims(scores) = 1 AND array_lower(scores, 1) = 1, true)
        AND coalesce(array_ndims(score_params) = 1 AND array_lower(score_params, 1) = 1, true)
        AND coalesce(array_ndims(percentiles) = 1 AND array_lower(percentiles, 1) = 1, true)
        AND coalesce(array_ndims(percentile_ranks) = 1 AND array_lower(percentile_ranks, 1) = 1, true)
        AND coalesce(array_ndims(market_scores) = 1 AND array_lower(market_scores, 1) = 1, true)
        AND coalesce(array_ndims(market_score_params) = 1 AND array_lower(market_score_params, 1) = 1, true)
        AND coalesce(array_ndims(market_percentiles) = 1 AND array_lower(market_percentiles, 1) = 1, true)
        AND coalesce(array_ndims(market_percentile_ranks) = 1
                     AND array_lower(market_percentile_ranks, 1) = 1, true)
        AND coalesce(array_ndims(market_counts) = 1 AND array_lower(market_counts, 1) = 1, true))
) PARTITION BY RANGE (date);

DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'factor_scores_packed'::regclass LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF factor_scores_packed_new %s', r.name || '_new', r.bound);
    END LOOP;
END $$;

-- the day's ticker list: every ticker any factor of the day scores, ascending by code point
-- (byte order, as numpy's sort in factor_storage.py)
INSERT INTO factor_score_days (date, region, tickers)
SELECT p.date, p.region,
       coalesce(array_agg(DISTINCT t.ticker COLLATE "C" ORDER BY t.ticker COLLATE "C")
                FILTER (WHERE t.ticker IS NOT NULL), '{}')
FROM factor_scores_packed p
LEFT JOIN LATERAL unnest(p.tickers) AS t(ticker) ON true
GROUP BY p.date, p.region;

-- each row's elements are matched to the day's list by a hash join (a nested loop over two
-- ~2,700-element unnests per row is quadratic: minutes per year of rows)
SET LOCAL enable_nestloop = off;
SET LOCAL enable_mergejoin = off;
INSERT INTO factor_scores_packed_new (date, region, factor_name, members, markets, market_codes, raw_values, scores,
                                      score_params, percentiles, percentile_ranks, market_scores, market_score_params,
                                      market_percentiles, market_percentile_ranks, market_counts)
SELECT p.date, p.region, p.factor_name, x.members, p.markets, x.market_codes, x.raw_values, x.scores, NULL,
       CASE WHEN x.ranks_ok THEN NULL ELSE x.percentiles END,
       CASE WHEN x.ranks_ok THEN x.ranks END,
       x.market_scores, NULL,
       CASE WHEN x.market_ok THEN NULL ELSE x.market_percentiles END,
       CASE WHEN x.market_ok THEN x.market_ranks END,
       CASE WHEN x.market_ok THEN c.counts END
FROM factor_scores_packed p
JOIN factor_score_days d USING (date, region)
-- names per market of the row (the denominator of market_percentile)
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(nullif((SELECT count(*) FROM unnest(p.market_codes) AS m WHERE m = k), 0)::int
                              ORDER BY k), '{}') AS counts,
           cardinality(p.tickers)::float8 AS n
    FROM generate_series(1, cardinality(p.markets)) AS k
) c
CROSS JOIN LATERAL (
    -- aligned to the day's tickers; ranks 2r = round(percentile / 100 * n * 2), kept only if every
    -- member's value comes back as the same float8 bytes
    SELECT coalesce(string_agg(CASE WHEN e.ticker IS NULL THEN '0' ELSE '1' END, '' ORDER BY dt.j), '')::varbit
               AS members,
           coalesce(array_agg(e.market_code ORDER BY dt.j), '{}') AS market_codes,
           coalesce(array_agg(e.raw_value ORDER BY dt.j), '{}') AS raw_values,
           coalesce(array_agg(e.score ORDER BY dt.j), '{}') AS scores,
           coalesce(array_agg(e.percentile ORDER BY dt.j), '{}') AS percentiles,
           coalesce(array_agg(e.market_score ORDER BY dt.j), '{}') AS market_scores,
           coalesce(array_agg(e.market_percentile ORDER BY dt.j), '{}') AS market_percentiles,
           coalesce(bool_and(e.ticker IS NULL
                             OR coalesce(k.r2 BETWEEN 1 AND 32767
                                         AND float8send(k.r2 / 2 / k.n * 100) = float8send(e.percentile), false)),
                    true) AS ranks_ok,
           coalesce(array_agg(CASE WHEN k.r2 BETWEEN 1 AND 32767 THEN k.r2::smallint END ORDER BY dt.j), '{}')
               AS ranks,
           coalesce(bool_and(e.market_percentile IS NULL
                             OR coalesce(k.mr2 BETWEEN 1 AND 32767
                                         AND float8send(k.mr2 / 2 / k.mcnt * 100) = float8send(e.market_percentile),
                                         false)),
                    true) AS market_ok,
           coalesce(array_agg(CASE WHEN k.mr2 BETWEEN 1 AND 32767 THEN k.mr2::smallint END ORDER BY dt.j), '{}')
               AS market_ranks
    FROM unnest(d.tickers) WITH ORDINALITY AS dt(ticker, j)
    LEFT JOIN unnest(p.tickers, p.market_codes, p.raw_values, p.scores, p.percentiles, p.market_scores,
                     p.market_percentiles)
              AS e(ticker, market_code, raw_value, score, percentile, market_score, market_percentile)
           ON e.ticker = dt.ticker
    -- c.n, not cardinality(p.tickers): evaluated here per element it would detoast the row's
    -- ticker array ~2,700 times (a year of rows took over 12 minutes)
    CROSS JOIN LATERAL (
        SELECT c.n, c.counts[e.market_code]::float8 AS mcnt,
               round(e.percentile / 100 * c.n * 2) AS r2,
               round(e.market_percentile / 100 * c.counts[e.market_code] * 2) AS mr2
    ) k
) x;

DROP VIEW factor_scores;
DROP TABLE factor_scores_packed;
ALTER TABLE factor_scores_packed_new RENAME TO factor_scores_packed;
ALTER INDEX factor_scores_packed_new_pkey RENAME TO factor_scores_packed_pkey;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'factor_scores_packed'::regclass LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', r.name, left(r.name, -4));
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.name || '_pkey', left(r.name, -4) || '_pkey');
    END LOOP;
END $$;
-- serves the seed's idx_factor_scores_factor_date (factor_name, date DESC) through the view
CREATE INDEX factor_scores_packed_factor_date_idx ON factor_scores_packed (factor_name, date DESC);

CREATE VIEW factor_scores AS
SELECT p.date,
       u.ticker::varchar(20) AS ticker,
       p.region,
       p.factor_name,
       nullif(a.raw_values[u.i], 'NaN') AS raw_value,
       CASE WHEN a.score_params IS NULL THEN nullif(a.scores[u.i], 'NaN')
            WHEN a.score_params[4] > 0
                THEN (least(greatest(a.raw_values[u.i], a.score_params[1]), a.score_params[2]) - a.score_params[3])
                     / a.score_params[4]
            ELSE 0::float8 END AS score,
       CASE WHEN a.percentile_ranks IS NULL THEN nullif(a.percentiles[u.i], 'NaN')
            ELSE a.percentile_ranks[u.i]::float8 / 2::float8 / a.n * 100::float8 END AS percentile,
       p.markets[a.market_codes[u.i]] AS market,
       CASE WHEN a.market_score_params IS NULL THEN nullif(a.market_scores[u.i], 'NaN')
            WHEN a.market_score_params[4 * a.market_codes[u.i]] > 0
                THEN (least(greatest(a.raw_values[u.i], a.market_score_params[4 * a.market_codes[u.i] - 3]),
                            a.market_score_params[4 * a.market_codes[u.i] - 2])
                      - a.market_score_params[4 * a.market_codes[u.i] - 1])
                     / a.market_score_params[4 * a.market_codes[u.i]]
            WHEN a.market_score_params[4 * a.market_codes[u.i]] = 0 THEN 0::float8 END AS market_score,
       CASE WHEN a.market_percentile_ranks IS NULL THEN nullif(a.market_percentiles[u.i], 'NaN')
            ELSE nullif(a.market_percentile_ranks[u.i], 0)::float8 / 2::float8
                 / a.market_counts[a.market_codes[u.i]]::float8 * 100::float8 END AS market_percentile
FROM factor_scores_packed p
JOIN factor_score_days d ON d.date = p.date AND d.region = p.region
CROSS JOIN LATERAL (
    SELECT d.tickers || '{}'::varchar[] AS tickers,
           p.members || B'' AS members,
           array_replace(p.raw_values, NULL, 'NaN') AS raw_values,
           array_replace(p.scores, NULL, 'NaN') AS scores,
           CASE WHEN p.score_params IS NOT NULL THEN p.score_params || '{}'::float8[] END AS score_params,
           array_replace(p.percentiles, NULL, 'NaN') AS percentiles,
           array_replace(p.percentile_ranks, NULL, 0::smallint) AS percentile_ranks,
           bit_count(p.members)::float8 AS n,
           array_replace(p.market_codes, NULL, 0::smallint) AS market_codes,
           array_replace(p.market_scores, NULL, 'NaN') AS market_scores,
           CASE WHEN p.market_score_params IS NOT NULL THEN p.market_score_params || '{}'::float8[] END AS market_score_params,
           array_replace(p.market_percentiles, NULL, 'NaN') AS market_percentiles,
           array_replace(p.market_percentile_ranks, NULL, 0::smallint) AS market_percentile_ranks,
           CASE WHEN p.market_counts IS NOT NULL THEN p.market_counts || '{}'::int[] END AS market_counts
    OFFSET 0) a
CROSS JOIN LATERAL (SELECT unnest(a.tickers) AS ticker, generate_subscripts(a.tickers, 1) AS i) u
WHERE get_bit(a.members, u.i - 1) = 1;

COMMENT ON TABLE factor_score_days IS 'The ticker list of factor_scores_packed''s rows of a (date, region): every ticker any factor scores that day, ascending; element j of a packed row''s arrays is tickers[j].';
COMMENT ON COLUMN factor_score_days.date IS 'Trading day.';
COMMENT ON COLUMN factor_score_days.region IS 'Market (regions.region).';
COMMENT ON COLUMN factor_score_days.tickers IS 'Tickers scored by at least one factor on the day, ascending by code point.';
COMMENT ON TABLE factor_scores_packed IS 'Storage of factor_scores: one row per (date, region, factor_name) with the day''s cross-section as arrays aligned to factor_score_days.tickers (element j is the day''s ticker j); exact narrow encodings (sql/029), read it through the factor_scores view.';
COMMENT ON COLUMN factor_scores_packed.date IS 'Trading day.';
COMMENT ON COLUMN factor_scores_packed.region IS 'Market (regions.region); a cross-section never mixes regions.';
COMMENT ON COLUMN factor_scores_packed.factor_name IS 'mom_12_1, mom_6_1, mom_3, low_vol_60, low_vol_252, size, value_bp, value_ep, dividend_yield, quality_roe, liquidity_60 (quant_assets/assets/factors.py).';
COMMENT ON COLUMN factor_scores_packed.members IS 'One bit per day ticker (leftmost = tickers[1]): 1 = scored by this factor (a row of the view).';
COMMENT ON COLUMN factor_scores_packed.markets IS 'Distinct market names (tickers.exchange) the market_codes index into.';
COMMENT ON COLUMN factor_scores_packed.market_codes IS 'Per day ticker: 1-based index into markets (NULL: no market or not a member).';
COMMENT ON COLUMN factor_scores_packed.raw_values IS 'Per day ticker: raw_value (double precision, as computed; NULL for a non-member).';
COMMENT ON COLUMN factor_scores_packed.scores IS 'Per day ticker: score as float8, only where score_params does not reproduce it (else NULL).';
COMMENT ON COLUMN factor_scores_packed.score_params IS '{lo, hi, mean, sd}: score = (least(greatest(raw_value, lo), hi) - mean) / sd, 0 when sd = 0 (factors.score: winsorised z-score), bit-exact in float8.';
COMMENT ON COLUMN factor_scores_packed.percentiles IS 'Per day ticker: percentile as float8, only where percentile_ranks does not reproduce it (else NULL).';
COMMENT ON COLUMN factor_scores_packed.percentile_ranks IS 'Per day ticker: 2 x the average rank r within the region; percentile = ((2r / 2) / n) * 100 with n = members.';
COMMENT ON COLUMN factor_scores_packed.market_scores IS 'Per day ticker: market_score as float8, only where market_score_params does not reproduce it (else NULL).';
COMMENT ON COLUMN factor_scores_packed.market_score_params IS 'Four per market (lo, hi, mean, sd of markets[k] at 4k-3 .. 4k; NULL: market too small, market_score NULL): market_score as score.';
COMMENT ON COLUMN factor_scores_packed.market_percentiles IS 'Per day ticker: market_percentile as float8, only where market_percentile_ranks does not reproduce it (else NULL).';
COMMENT ON COLUMN factor_scores_packed.market_percentile_ranks IS 'Per day ticker: 2 x the average rank within its market (NULL: market too small); market_percentile = ((2r / 2) / market_counts[code]) * 100.';
COMMENT ON COLUMN factor_scores_packed.market_counts IS 'Per market: the members in it (the denominator of market_percentile).';
COMMENT ON CONSTRAINT factor_scores_packed_elements_check ON factor_scores_packed IS
    'No NaN element (NaN is stored as a NULL element; the factor_scores view relies on it), no 0 rank or market code (the view''s NULL sentinel), one-dimensional arrays subscripted from 1.';
COMMENT ON CONSTRAINT factor_scores_packed_encoding_check ON factor_scores_packed IS
    'Each of score, percentile, market_score and market_percentile is stored in exactly one encoding: the float8 array or its exact narrow form.';

COMMENT ON VIEW factor_scores IS 'View: cross-sectional factor scores per (date, region, factor_name, ticker), from split-adjusted prices and DAILY fundamentals; raw_value is signed so that higher = more of the factor as named (low_vol_* store minus the volatility). Stored packed in factor_scores_packed (one row per date, region and factor) and factor_score_days (the day''s tickers).';
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
