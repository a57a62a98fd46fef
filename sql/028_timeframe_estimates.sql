-- `timeframe = 'D'` estimated right and served by the primary key (issue #13: planner misestimates).
--
-- sql/008's operator compared timeframe_canonical($1) = timeframe_canonical($2). PostgreSQL
-- inlines that SQL function, so the planner saw `timeframe_canonical(timeframe) = 'D'`: an
-- expression without statistics, estimated at the default 0.5% of the rows although every daily
-- bar matches. Every statement filtering on timeframe (the bucket builds, the adjustment-factor
-- range, the seeds' SQL) was planned for 200x fewer rows than it reads (nested loops over what
-- should be hash joins), and timeframe was never an index condition.
--
-- Now the operator inlines to `timeframe OPERATOR(pg_catalog.=) ANY ('{D,1d}')`: the enum's own
-- equality over the constant spellings of the other side, which the planner estimates from the
-- column's statistics and which is a btree condition on (ticker, region, date, timeframe).
-- Same truth table as before: 'D' = '1d', 'W' <> '1d', NULL = 'D' is NULL.

CREATE FUNCTION timeframe_spellings(timeframe) RETURNS timeframe[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE timeframe_canonical($1) WHEN 'D' THEN '{D,1d}'::timeframe[] WHEN 'W' THEN '{W,1w}'::timeframe[]
                                        WHEN 'M' THEN '{M,1mo}'::timeframe[] END
$$;
COMMENT ON FUNCTION timeframe_spellings(timeframe) IS
    'Every spelling of a timeframe (D and 1d, W and 1w, M and 1mo): what the timeframe = operator matches.';

CREATE OR REPLACE FUNCTION timeframe_eq(timeframe, timeframe) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT $1 OPERATOR(pg_catalog.=) ANY (timeframe_spellings($2)) $$;
CREATE OR REPLACE FUNCTION timeframe_ne(timeframe, timeframe) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT $1 OPERATOR(pg_catalog.<>) ALL (timeframe_spellings($2)) $$;
