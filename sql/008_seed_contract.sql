-- The seeds' schema as the public contract (issue #9): region-aware keys everywhere, the seeds'
-- table and column names, the seed tables that were missing. Existing rows are kept: every change
-- below is a rename, a widened type, an added column with a value for the old rows, or a move of
-- rows into their new home in this same transaction.
--
-- Conventions fixed here (README "Coming from Spock" says the same):
--   * region is one of KR, US, CN, HK, JP, VN (table `regions`); symbols are stored in one
--     canonical form per region, enforced by symbol_is_canonical() on `tickers`;
--   * daily bars have timeframe 'D'. The seeds and Spock also write '1d': the type `timeframe`
--     accepts both spellings in queries (timeframe = '1d' matches the stored 'D'), stores one;
--   * where a seed names a column, that is its name; our additional columns keep theirs.

-- == updated_at / last_updated ===================================================================
-- Seed 004 names the modification time updated_at, seed 002 last_updated (its collector runs
-- `UPDATE etf_details SET aum = ?, last_updated = ?`). Both columns exist on tickers,
-- stock_details and etf_details and always hold the same value: whichever one a writer changes
-- wins, and the other follows.
CREATE FUNCTION sync_last_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.updated_at := COALESCE(NEW.last_updated, NEW.updated_at, now());
    ELSIF NEW.last_updated IS DISTINCT FROM OLD.last_updated THEN
        NEW.updated_at := NEW.last_updated;
    END IF;
    NEW.last_updated := NEW.updated_at;
    RETURN NEW;
END $$;

-- == regions and symbols ==========================================================================
CREATE TABLE regions (
    region          varchar(2)  PRIMARY KEY,
    name            text        NOT NULL,
    currency        char(3)     NOT NULL,
    timezone        text        NOT NULL,
    symbol_form     text        NOT NULL            -- human-readable canonical symbol form
);
INSERT INTO regions VALUES
    ('KR', 'Korea',         'KRW', 'Asia/Seoul',       '6 characters, digits and capitals: 005930, 0069M0'),
    ('US', 'United States', 'USD', 'America/New_York', 'capitals and digits, class after a slash: AAPL, BRK/B, BAC/N'),
    ('CN', 'China',         'CNY', 'Asia/Shanghai',    '6 digits without exchange suffix: 600519, 000002'),
    ('HK', 'Hong Kong',     'HKD', 'Asia/Hong_Kong',   '4 digits zero-padded (5 when the code needs it): 0700, 0005, 80737'),
    ('JP', 'Japan',         'JPY', 'Asia/Tokyo',       '4 characters: 7203, 130A'),
    ('VN', 'Vietnam',       'VND', 'Asia/Ho_Chi_Minh', '3 to 10 capitals and digits: VNM, E1VFVN30');

-- The one definition of a canonical symbol (quant_assets/symbols.py mirrors it for validation
-- before a write and for normalising legacy forms; a test keeps the two in agreement).
CREATE FUNCTION symbol_is_canonical(p_region text, p_ticker text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_region
        WHEN 'KR' THEN p_ticker ~ '^[0-9][0-9A-Z]{5}$'
        WHEN 'US' THEN p_ticker ~ '^[A-Z][A-Z0-9]{0,9}(/[A-Z0-9]{1,4})?$'
        WHEN 'CN' THEN p_ticker ~ '^[0-9]{6}$'
        WHEN 'HK' THEN p_ticker ~ '^([0-9]{4}|[1-9][0-9]{4})$'
        WHEN 'JP' THEN p_ticker ~ '^[0-9][0-9A-Z]{3}$'
        WHEN 'VN' THEN p_ticker ~ '^[A-Z0-9]{3,10}$'
        ELSE false
    END
$$;

-- == timeframe: 'D' stored, '1d' understood =======================================================
CREATE TYPE timeframe AS ENUM ('D', 'W', 'M', '1d', '1w', '1mo');
CREATE FUNCTION timeframe_canonical(timeframe) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE $1::text WHEN '1d' THEN 'D' WHEN '1w' THEN 'W' WHEN '1mo' THEN 'M' ELSE $1::text END
$$;
CREATE FUNCTION timeframe_eq(timeframe, timeframe) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT timeframe_canonical($1) = timeframe_canonical($2) $$;
CREATE FUNCTION timeframe_ne(timeframe, timeframe) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT timeframe_canonical($1) <> timeframe_canonical($2) $$;
-- An exact-type operator wins over the polymorphic anyenum one, so `timeframe = '1d'` uses it.
CREATE OPERATOR = (LEFTARG = timeframe, RIGHTARG = timeframe, FUNCTION = timeframe_eq,
                   COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (LEFTARG = timeframe, RIGHTARG = timeframe, FUNCTION = timeframe_ne,
                    COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel);

-- == views that pin column types are rebuilt at the end =========================================
DROP VIEW ohlcv_adjusted;
DROP VIEW etf_holdings_summary;
DROP VIEW etf_tracking_comparison;

-- == tickers: (ticker, region) ====================================================================
ALTER TABLE stock_details DROP CONSTRAINT stock_details_ticker_fkey;
ALTER TABLE etf_details DROP CONSTRAINT etf_details_ticker_fkey;
ALTER TABLE group_memberships DROP CONSTRAINT group_memberships_ticker_fkey;

ALTER TABLE tickers DROP CONSTRAINT tickers_pkey;
ALTER TABLE tickers DROP CONSTRAINT tickers_ticker_check;
ALTER TABLE tickers ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE tickers ALTER COLUMN region TYPE varchar(2);
ALTER TABLE tickers ALTER COLUMN region DROP DEFAULT;
ALTER TABLE tickers RENAME COLUMN active TO is_active;
ALTER TABLE tickers RENAME COLUMN market TO exchange;
UPDATE tickers SET exchange = 'KOSPI' WHERE exchange = 'ETF';   -- KRX ETFs trade on the KOSPI board
ALTER TABLE tickers
    ADD COLUMN id             bigint GENERATED BY DEFAULT AS IDENTITY UNIQUE,
    ADD COLUMN symbol         varchar(20),                     -- the source's own symbol where it differs
    ADD COLUMN name_eng       text,
    ADD COLUMN currency       char(3),
    ADD COLUMN lot_size       integer,
    ADD COLUMN sector_code    text,
    ADD COLUMN market_tier    text,
    ADD COLUMN data_source    text,
    ADD COLUMN created_at     timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_updated   timestamptz;                      -- seed 002's name: kept = updated_at
UPDATE tickers SET currency = 'KRW', lot_size = 1, data_source = 'KRX';
ALTER TABLE tickers ALTER COLUMN currency SET NOT NULL;
ALTER TABLE tickers ADD PRIMARY KEY (ticker, region);
ALTER TABLE tickers ADD CONSTRAINT tickers_region_fkey FOREIGN KEY (region) REFERENCES regions (region);
ALTER TABLE tickers ADD CONSTRAINT tickers_symbol_chk CHECK (symbol_is_canonical(region, ticker));
ALTER TABLE tickers DROP CONSTRAINT tickers_asset_type_check;
ALTER TABLE tickers ADD CONSTRAINT tickers_asset_type_check
    CHECK (asset_type IN ('STOCK', 'ETF', 'ETN', 'REIT', 'PREFERRED', 'INDEX', 'ELW', 'FUND', 'OTHER'));
DROP INDEX tickers_asset_type_idx;
CREATE INDEX idx_tickers_region_asset_type ON tickers (region, asset_type);
CREATE INDEX idx_tickers_active ON tickers (is_active) WHERE is_active = TRUE;
CREATE INDEX idx_tickers_asset_type ON tickers (asset_type, is_active);

-- == stock_details / etf_details ==================================================================
ALTER TABLE stock_details DROP CONSTRAINT stock_details_pkey;
ALTER TABLE stock_details ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE stock_details ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR';
ALTER TABLE stock_details ALTER COLUMN region DROP DEFAULT;
ALTER TABLE stock_details RENAME COLUMN listed_shares TO shares_outstanding;
ALTER TABLE stock_details
    ADD COLUMN industry        text,
    ADD COLUMN industry_code   text,
    ADD COLUMN sector_code     text,
    ADD COLUMN market_cap      bigint,                          -- local currency, latest close
    ADD COLUMN ipo_date        date,
    ADD COLUMN description     text,
    ADD COLUMN website         text,
    ADD COLUMN is_spac         boolean,
    ADD COLUMN is_preferred    boolean,
    ADD COLUMN corp_code       varchar(8),
    ADD COLUMN created_at      timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_updated    timestamptz;
ALTER TABLE stock_details ADD PRIMARY KEY (ticker, region);
ALTER TABLE stock_details ADD CONSTRAINT stock_details_ticker_fkey
    FOREIGN KEY (ticker, region) REFERENCES tickers (ticker, region) ON DELETE CASCADE;
CREATE INDEX idx_stock_details_sector ON stock_details (sector);
CREATE INDEX idx_stock_details_industry ON stock_details (industry);

ALTER TABLE etf_details DROP CONSTRAINT etf_details_pkey;
ALTER TABLE etf_details ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE etf_details ALTER COLUMN isin DROP NOT NULL;            -- overseas ETFs may have none
ALTER TABLE etf_details ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR';
ALTER TABLE etf_details ALTER COLUMN region DROP DEFAULT;
ALTER TABLE etf_details RENAME COLUMN index_name TO tracking_index;
ALTER TABLE etf_details RENAME COLUMN asset_class TO underlying_asset_class;
ALTER TABLE etf_details RENAME COLUMN total_fee_pct TO expense_ratio;
ALTER TABLE etf_details RENAME COLUMN listed_units TO listed_shares;
ALTER TABLE etf_details RENAME COLUMN listing_date TO inception_date;
ALTER TABLE etf_details
    ADD COLUMN index_tracked            text GENERATED ALWAYS AS (tracking_index) STORED,  -- seed 004's name
    ADD COLUMN leverage_ratio           text GENERATED ALWAYS AS (trim_scale(multiple)::text || 'x') STORED,
    ADD COLUMN category                 text,
    ADD COLUMN geographic_region        text,
    ADD COLUMN sector_theme             text,
    ADD COLUMN fund_type                text,
    ADD COLUMN currency_hedged          boolean,
    ADD COLUMN pension_eligible         boolean,
    ADD COLUMN investment_strategy      text,
    ADD COLUMN ter                      numeric(9, 6),
    ADD COLUMN actual_expense_ratio     numeric(9, 6),
    ADD COLUMN description              text,
    ADD COLUMN data_source              text,
    -- latest figures, kept current by refresh_etf_latest() from the assets that own them
    ADD COLUMN aum                      bigint,
    ADD COLUMN aum_date                 date,
    ADD COLUMN premium_discount         numeric(10, 4),
    ADD COLUMN premium_discount_avg_20d numeric(10, 4),
    ADD COLUMN premium_discount_avg_60d numeric(10, 4),
    ADD COLUMN premium_discount_avg_120d numeric(10, 4),
    ADD COLUMN premium_discount_avg_250d numeric(10, 4),
    ADD COLUMN tracking_error_20d       numeric(10, 4),
    ADD COLUMN tracking_error_60d       numeric(10, 4),
    ADD COLUMN tracking_error_120d      numeric(10, 4),
    ADD COLUMN tracking_error_250d      numeric(10, 4),
    ADD COLUMN tracking_date            date,
    ADD COLUMN week_52_high             numeric(20, 4),
    ADD COLUMN week_52_low              numeric(20, 4),
    ADD COLUMN week_52_date             date,
    ADD COLUMN underlying_asset_count   integer,
    ADD COLUMN holdings_date            date,
    ADD COLUMN avg_daily_volume         numeric(20, 2),
    ADD COLUMN avg_daily_value          numeric(24, 2),
    ADD COLUMN created_at               timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_updated             timestamptz;
UPDATE etf_details SET data_source = 'KRX';
ALTER TABLE etf_details ADD PRIMARY KEY (ticker, region);
ALTER TABLE etf_details ADD CONSTRAINT etf_details_ticker_fkey
    FOREIGN KEY (ticker, region) REFERENCES tickers (ticker, region) ON DELETE CASCADE;
UPDATE tickers SET last_updated = updated_at;
UPDATE stock_details SET last_updated = updated_at;
UPDATE etf_details SET last_updated = updated_at;
CREATE TRIGGER tickers_last_updated BEFORE INSERT OR UPDATE ON tickers
    FOR EACH ROW EXECUTE FUNCTION sync_last_updated();
CREATE TRIGGER stock_details_last_updated BEFORE INSERT OR UPDATE ON stock_details
    FOR EACH ROW EXECUTE FUNCTION sync_last_updated();
CREATE TRIGGER etf_details_last_updated BEFORE INSERT OR UPDATE ON etf_details
    FOR EACH ROW EXECUTE FUNCTION sync_last_updated();
CREATE INDEX idx_etf_details_category ON etf_details (category);
-- seed 000's `etfs` indexes, on the table that holds the rows behind the `etfs` view
CREATE INDEX idx_etfs_region ON etf_details (region);
CREATE INDEX idx_etfs_issuer ON etf_details (issuer);
CREATE INDEX idx_etfs_total_assets ON etf_details (aum DESC);

-- == daily facts: region (and timeframe) in every key =============================================
ALTER TABLE ohlcv_data DROP CONSTRAINT ohlcv_data_pkey;
ALTER TABLE ohlcv_data ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE ohlcv_data ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR';
ALTER TABLE ohlcv_data ALTER COLUMN region DROP DEFAULT;
ALTER TABLE ohlcv_data ADD COLUMN timeframe timeframe NOT NULL DEFAULT 'D'
    CONSTRAINT ohlcv_data_timeframe_chk CHECK (timeframe::text IN ('D', 'W', 'M'));
-- Spock's indicator columns, written by the technical_analysis asset on split-adjusted prices
ALTER TABLE ohlcv_data
    ADD COLUMN ma5          double precision,
    ADD COLUMN ma20         double precision,
    ADD COLUMN ma60         double precision,
    ADD COLUMN ma120        double precision,
    ADD COLUMN ma200        double precision,
    ADD COLUMN rsi_14       double precision,
    ADD COLUMN macd         double precision,
    ADD COLUMN macd_signal  double precision,
    ADD COLUMN macd_hist    double precision,
    ADD COLUMN bb_upper     double precision,
    ADD COLUMN bb_middle    double precision,
    ADD COLUMN bb_lower     double precision,
    ADD COLUMN atr_14       double precision,
    ADD COLUMN volume_ma20  double precision,
    ADD COLUMN volume_ratio double precision;
-- Prices in local currency with the seeds' 4 decimals (USD 189.2300; KRW stays whole); traded
-- value is NULL only where the source never recorded it (Spock imports).
ALTER TABLE ohlcv_data
    ALTER COLUMN open TYPE numeric(20, 4), ALTER COLUMN high TYPE numeric(20, 4),
    ALTER COLUMN low TYPE numeric(20, 4), ALTER COLUMN close TYPE numeric(20, 4),
    ALTER COLUMN change TYPE numeric(20, 4);
ALTER TABLE ohlcv_data ALTER COLUMN value DROP NOT NULL;
ALTER TABLE ohlcv_data ADD PRIMARY KEY (ticker, region, date, timeframe);

ALTER TABLE etf_daily DROP CONSTRAINT etf_daily_pkey;
ALTER TABLE etf_daily ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE etf_daily ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR';
ALTER TABLE etf_daily ALTER COLUMN region DROP DEFAULT;
ALTER TABLE etf_daily ADD PRIMARY KEY (ticker, region, date);

ALTER TABLE etf_aum DROP CONSTRAINT etf_aum_pkey;
ALTER TABLE etf_aum ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE etf_aum ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR';
ALTER TABLE etf_aum ALTER COLUMN region DROP DEFAULT;
ALTER TABLE etf_aum ADD PRIMARY KEY (ticker, region, date);

ALTER TABLE etf_tracking DROP CONSTRAINT etf_tracking_pkey;
ALTER TABLE etf_tracking ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE etf_tracking ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR';
ALTER TABLE etf_tracking ALTER COLUMN region DROP DEFAULT;
ALTER TABLE etf_tracking RENAME COLUMN pd_avg_20 TO premium_discount_avg_20d;
ALTER TABLE etf_tracking RENAME COLUMN pd_avg_60 TO premium_discount_avg_60d;
ALTER TABLE etf_tracking RENAME COLUMN pd_avg_120 TO premium_discount_avg_120d;
ALTER TABLE etf_tracking RENAME COLUMN pd_avg_250 TO premium_discount_avg_250d;
ALTER TABLE etf_tracking RENAME COLUMN tracking_error_20 TO tracking_error_20d;
ALTER TABLE etf_tracking RENAME COLUMN tracking_error_60 TO tracking_error_60d;
ALTER TABLE etf_tracking RENAME COLUMN tracking_error_120 TO tracking_error_120d;
ALTER TABLE etf_tracking RENAME COLUMN tracking_error_250 TO tracking_error_250d;
ALTER TABLE etf_tracking RENAME COLUMN tracking_diff_20 TO tracking_diff_20d;
ALTER TABLE etf_tracking RENAME COLUMN tracking_diff_60 TO tracking_diff_60d;
ALTER TABLE etf_tracking RENAME COLUMN tracking_diff_120 TO tracking_diff_120d;
ALTER TABLE etf_tracking RENAME COLUMN tracking_diff_250 TO tracking_diff_250d;
ALTER TABLE etf_tracking ADD PRIMARY KEY (ticker, region, date);

ALTER TABLE etf_tracking_krx DROP CONSTRAINT etf_tracking_krx_pkey;
ALTER TABLE etf_tracking_krx ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE etf_tracking_krx ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR';
ALTER TABLE etf_tracking_krx ALTER COLUMN region DROP DEFAULT;
ALTER TABLE etf_tracking_krx ADD PRIMARY KEY (ticker, region, date);

ALTER TABLE price_range_52w DROP CONSTRAINT price_range_52w_pkey;
ALTER TABLE price_range_52w ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE price_range_52w ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR';
ALTER TABLE price_range_52w ALTER COLUMN region DROP DEFAULT;
ALTER TABLE price_range_52w ALTER COLUMN close TYPE numeric(20, 4);
ALTER TABLE price_range_52w ADD PRIMARY KEY (ticker, region, date);

ALTER TABLE adjustment_factors DROP CONSTRAINT adjustment_factors_pkey;
ALTER TABLE adjustment_factors ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE adjustment_factors ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR';
ALTER TABLE adjustment_factors ALTER COLUMN region DROP DEFAULT;
ALTER TABLE adjustment_factors ALTER COLUMN prior_close TYPE numeric(20, 4),
    ALTER COLUMN base_price TYPE numeric(20, 4);
ALTER TABLE adjustment_factors ADD PRIMARY KEY (ticker, region, ex_date);

-- == etf_holdings: seed 000's names =============================================================
ALTER TABLE etf_holdings DROP CONSTRAINT etf_holdings_pkey;
ALTER TABLE etf_holdings ALTER COLUMN etf_ticker TYPE varchar(20);
ALTER TABLE etf_holdings ALTER COLUMN constituent_code TYPE varchar(20);
ALTER TABLE etf_holdings ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR';   -- the ETF's region
ALTER TABLE etf_holdings ALTER COLUMN region DROP DEFAULT;
ALTER TABLE etf_holdings RENAME COLUMN constituent_code TO stock_ticker;
ALTER TABLE etf_holdings RENAME COLUMN weight_pct TO weight;
ALTER TABLE etf_holdings RENAME COLUMN rank TO rank_in_etf;
ALTER TABLE etf_holdings RENAME COLUMN shares_per_cu TO shares;
ALTER TABLE etf_holdings
    ADD COLUMN weight_change_from_prev numeric(9, 4),   -- weight − weight on the ETF's previous PDF day
    ADD COLUMN data_source             text NOT NULL DEFAULT 'KRX',
    ADD COLUMN created_at              timestamptz NOT NULL DEFAULT now();
ALTER TABLE etf_holdings ADD PRIMARY KEY (etf_ticker, region, as_of_date, stock_ticker);
ALTER INDEX etf_holdings_constituent_idx RENAME TO idx_holdings_stock_date_weight;
DROP INDEX etf_holdings_date_idx;
-- serves both date filtering and seed 000's "weight >= 5 on the latest day" (its idx_holdings_weight)
CREATE INDEX idx_holdings_date ON etf_holdings (as_of_date DESC, weight DESC);

-- == ticker_fundamentals: daily valuation and financial-statement rows ===========================
-- One row per (ticker, region, period_type, date): DAILY rows on each trading day (date = that
-- day), statement rows per fiscal period (date = period end). Seed 004 keys on (ticker, region,
-- fiscal_year, period_type), which cannot hold four quarters of one year (Spock overwrote them);
-- the period end keeps them apart, fiscal_year stays as a column.
CREATE TABLE ticker_fundamentals (
    ticker                varchar(20) NOT NULL,
    region                varchar(2)  NOT NULL,
    date                  date        NOT NULL,
    period_type           text        NOT NULL CHECK (period_type IN ('DAILY', 'QUARTERLY', 'SEMI-ANNUAL', 'ANNUAL')),
    fiscal_year           integer,
    fiscal_quarter        smallint    CHECK (fiscal_quarter BETWEEN 1 AND 4),
    shares_outstanding    bigint,
    market_cap            bigint,
    close_price           numeric(20, 4),
    eps                   numeric(20, 2),
    bps                   numeric(20, 2),
    per                   numeric(14, 2),
    pbr                   numeric(14, 2),
    psr                   numeric(14, 2),
    pcr                   numeric(14, 2),
    ev                    bigint,
    ev_ebitda             numeric(14, 2),
    dividend_per_share    numeric(20, 2),
    dividend_yield        numeric(10, 2),              -- percent
    revenue               bigint,
    cogs                  bigint,
    gross_profit          bigint,
    operating_profit      bigint,
    net_income            bigint,
    ebitda                bigint,
    depreciation          bigint,
    interest_expense      bigint,
    total_assets          bigint,
    total_liabilities     bigint,
    total_equity          bigint,
    current_assets        bigint,
    current_liabilities   bigint,
    inventory             bigint,
    accounts_receivable   bigint,
    cash_and_equivalents  bigint,
    operating_cash_flow   bigint,
    capital_expenditure   bigint,
    roe                   numeric(14, 4),
    debt_ratio            numeric(14, 4),
    free_float_percentage numeric(9, 4),
    currency              char(3),
    data_source           text        NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticker, region, period_type, date)
) PARTITION BY RANGE (date);
CREATE INDEX ticker_fundamentals_date_idx ON ticker_fundamentals (date, period_type);
CREATE INDEX ticker_fundamentals_fiscal_idx ON ticker_fundamentals (ticker, region, fiscal_year, period_type);

-- KRX's daily valuation figures move into ticker_fundamentals as DAILY rows, one home for them.
CREATE TEMP TABLE _sf_months ON COMMIT DROP AS
    SELECT DISTINCT date_trunc('month', date)::date AS m FROM stock_fundamentals;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT m FROM _sf_months LOOP
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF ticker_fundamentals FOR VALUES FROM (%L) TO (%L)',
                       'ticker_fundamentals_y' || to_char(r.m, 'YYYY') || 'm' || to_char(r.m, 'MM'),
                       r.m, (r.m + interval '1 month')::date);
    END LOOP;
END $$;
INSERT INTO ticker_fundamentals (ticker, region, date, period_type, fiscal_year, eps, per, bps, pbr,
                                 dividend_per_share, dividend_yield, currency, data_source)
SELECT ticker, 'KR', date, 'DAILY', NULL, eps, per, bps, pbr, dps, dividend_yield, 'KRW', 'KRX'
FROM stock_fundamentals;
DROP TABLE stock_fundamentals;

-- == factor_scores: (ticker, region, date, factor_name) =========================================
-- Per-market universes (KOSPI, KOSDAQ) were separate rows; they become columns of the region row.
-- score = winsorised z-score within the region (what Spock stored as score), percentile = 0–100.
ALTER TABLE factor_scores RENAME TO factor_scores_old;
ALTER TABLE factor_scores_old RENAME CONSTRAINT factor_scores_pkey TO factor_scores_old_pkey;
ALTER INDEX factor_scores_ticker_idx RENAME TO factor_scores_old_ticker_idx;
CREATE TABLE factor_scores (
    date              date        NOT NULL,
    ticker            varchar(20) NOT NULL,
    region            varchar(2)  NOT NULL,
    factor_name       varchar(50) NOT NULL,
    raw_value         double precision NOT NULL,
    score             double precision NOT NULL,
    percentile        double precision NOT NULL CHECK (percentile > 0 AND percentile <= 100),
    market            text,                          -- KOSPI / KOSDAQ / ...: the stock's own market
    market_score      double precision,
    market_percentile double precision CHECK (market_percentile > 0 AND market_percentile <= 100),
    PRIMARY KEY (date, region, factor_name, ticker)
) PARTITION BY RANGE (date);
CREATE INDEX factor_scores_ticker_idx ON factor_scores (ticker, region, date);
CREATE INDEX idx_factor_scores_factor_date ON factor_scores (factor_name, date DESC) WHERE percentile IS NOT NULL;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT DISTINCT date_trunc('month', date)::date AS m FROM factor_scores_old LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF factor_scores FOR VALUES FROM (%L) TO (%L)',
                       'factor_scores_y' || to_char(r.m, 'YYYY') || 'm' || to_char(r.m, 'MM') || '_n',
                       r.m, (r.m + interval '1 month')::date);
    END LOOP;
END $$;
INSERT INTO factor_scores (date, ticker, region, factor_name, raw_value, score, percentile,
                           market, market_score, market_percentile)
SELECT a.date, a.ticker, 'KR', a.factor, a.raw_value, a.zscore, a.percentile * 100,
       m.universe, m.zscore, m.percentile * 100
FROM factor_scores_old a
LEFT JOIN factor_scores_old m
       ON m.date = a.date AND m.ticker = a.ticker AND m.factor = a.factor AND m.universe <> 'ALL'
WHERE a.universe = 'ALL';
DROP TABLE factor_scores_old;
-- partitions created above carry a suffix; give them the names ensure_month_partitions expects
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'factor_scores'::regclass LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', r.relname, regexp_replace(r.relname, '_n$', ''));
    END LOOP;
END $$;

-- == period bars: month / quarter / year, region, seed 001's indicator columns ====================
ALTER TABLE ohlcv_monthly DROP CONSTRAINT ohlcv_monthly_pkey;
ALTER TABLE ohlcv_quarterly DROP CONSTRAINT ohlcv_quarterly_pkey;
ALTER TABLE ohlcv_yearly DROP CONSTRAINT ohlcv_yearly_pkey;
ALTER TABLE ohlcv_monthly RENAME COLUMN period_start TO month;
ALTER TABLE ohlcv_quarterly RENAME COLUMN period_start TO quarter;
ALTER TABLE ohlcv_yearly RENAME COLUMN period_start TO year;
ALTER TABLE ohlcv_monthly ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE ohlcv_quarterly ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE ohlcv_yearly ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE ohlcv_monthly ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR',
    ADD COLUMN ma5_start double precision, ADD COLUMN ma20_end double precision,
    ADD COLUMN ma60_end double precision, ADD COLUMN rsi_14_end double precision;
ALTER TABLE ohlcv_quarterly ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR',
    ADD COLUMN ma5_start double precision, ADD COLUMN ma20_end double precision,
    ADD COLUMN ma60_end double precision, ADD COLUMN rsi_14_end double precision,
    ADD COLUMN price_volatility double precision,      -- stddev of daily closes in the quarter
    ADD COLUMN quarter_range_pct double precision;     -- (max high − min low) / first open × 100
ALTER TABLE ohlcv_yearly ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR',
    ADD COLUMN ma5_start double precision, ADD COLUMN ma20_end double precision,
    ADD COLUMN ma60_end double precision, ADD COLUMN rsi_14_end double precision;
ALTER TABLE ohlcv_monthly ALTER COLUMN open TYPE numeric(20, 4), ALTER COLUMN high TYPE numeric(20, 4),
    ALTER COLUMN low TYPE numeric(20, 4), ALTER COLUMN close TYPE numeric(20, 4), ALTER COLUMN value DROP NOT NULL;
ALTER TABLE ohlcv_quarterly ALTER COLUMN open TYPE numeric(20, 4), ALTER COLUMN high TYPE numeric(20, 4),
    ALTER COLUMN low TYPE numeric(20, 4), ALTER COLUMN close TYPE numeric(20, 4), ALTER COLUMN value DROP NOT NULL;
ALTER TABLE ohlcv_yearly ALTER COLUMN open TYPE numeric(20, 4), ALTER COLUMN high TYPE numeric(20, 4),
    ALTER COLUMN low TYPE numeric(20, 4), ALTER COLUMN close TYPE numeric(20, 4), ALTER COLUMN value DROP NOT NULL;
ALTER TABLE ohlcv_monthly ALTER COLUMN region DROP DEFAULT;
ALTER TABLE ohlcv_quarterly ALTER COLUMN region DROP DEFAULT;
ALTER TABLE ohlcv_yearly ALTER COLUMN region DROP DEFAULT;
ALTER TABLE ohlcv_monthly ADD PRIMARY KEY (ticker, region, month);
ALTER TABLE ohlcv_quarterly ADD PRIMARY KEY (ticker, region, quarter);
ALTER TABLE ohlcv_yearly ADD PRIMARY KEY (ticker, region, year);
ALTER INDEX ohlcv_monthly_period_idx RENAME TO ohlcv_monthly_month_idx;
ALTER INDEX ohlcv_quarterly_period_start_idx RENAME TO ohlcv_quarterly_quarter_idx;
ALTER INDEX ohlcv_yearly_period_start_idx RENAME TO ohlcv_yearly_year_idx;

-- == partition_status: per region =================================================================
ALTER TABLE partition_status DROP CONSTRAINT partition_status_pkey;
ALTER TABLE partition_status ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR';
ALTER TABLE partition_status ADD PRIMARY KEY (asset, region, partition_date);

-- == groups: seed 003 exactly =====================================================================
ALTER TABLE definition_groups RENAME COLUMN group_id TO id;
ALTER TABLE definition_groups RENAME COLUMN group_type TO type;
ALTER TABLE definition_groups ALTER COLUMN name TYPE varchar(100);
ALTER TABLE definition_groups ALTER COLUMN type TYPE varchar(50);
ALTER TABLE definition_groups DROP CONSTRAINT definition_groups_environment_group_type_name_key;
ALTER TABLE definition_groups ALTER COLUMN environment DROP DEFAULT;
UPDATE definition_groups SET environment = 'DEFAULT' WHERE environment NOT IN ('DEFAULT', 'TEST', 'UAT', 'PROD');
ALTER TABLE definition_groups ALTER COLUMN environment TYPE varchar(10);
ALTER TABLE definition_groups ADD CONSTRAINT definition_groups_environment_check
    CHECK (environment IN ('DEFAULT', 'TEST', 'UAT', 'PROD'));
ALTER TABLE definition_groups ALTER COLUMN source DROP NOT NULL;
ALTER TABLE definition_groups
    ADD COLUMN metadata          jsonb,
    ADD COLUMN liquidity_filter  jsonb,
    ADD COLUMN created_at        timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN last_update       timestamp without time zone DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE definition_groups ALTER COLUMN updated_at TYPE timestamp without time zone;
ALTER TABLE definition_groups ALTER COLUMN updated_at DROP NOT NULL;
ALTER TABLE definition_groups ALTER COLUMN updated_at SET DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE definition_groups ADD CONSTRAINT unique_group UNIQUE (name, type, environment);

ALTER TABLE group_memberships DROP CONSTRAINT group_memberships_pkey;
ALTER TABLE group_memberships RENAME COLUMN ticker TO symbol;
ALTER TABLE group_memberships ALTER COLUMN symbol TYPE varchar(50);
ALTER TABLE group_memberships ADD COLUMN weight numeric(5, 4);
UPDATE group_memberships SET weight = round(weight_pct / 100, 4);
ALTER TABLE group_memberships DROP COLUMN weight_pct;
ALTER TABLE group_memberships
    ADD COLUMN id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    ADD COLUMN region      varchar(2) REFERENCES regions (region),   -- NULL: symbol of any market
    ADD COLUMN metadata    jsonb,
    ADD COLUMN added_at    timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN updated_at  timestamp without time zone DEFAULT CURRENT_TIMESTAMP;
UPDATE group_memberships SET region = 'KR';
ALTER TABLE group_memberships ADD CONSTRAINT unique_membership UNIQUE (group_id, symbol);
ALTER INDEX group_memberships_ticker_idx RENAME TO idx_group_memberships_symbol;

-- == quant platform: seeds 001/004 names and semantics ===========================================
ALTER TABLE strategies ADD COLUMN factor_weights jsonb, ADD COLUMN constraints jsonb;
ALTER TABLE strategies ALTER COLUMN name TYPE varchar(100);

ALTER TABLE backtest_results RENAME COLUMN run_at TO created_at;
ALTER TABLE backtest_results RENAME COLUMN trades TO num_trades;
ALTER TABLE backtest_results RENAME COLUMN metrics TO results_json;
CREATE INDEX idx_backtest_sharpe ON backtest_results (strategy_id, sharpe_ratio DESC);

ALTER TABLE portfolio_holdings DROP CONSTRAINT portfolio_holdings_ticker_check;
ALTER TABLE portfolio_holdings ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE portfolio_holdings ADD COLUMN region varchar(2) NOT NULL DEFAULT 'KR' REFERENCES regions (region);
ALTER TABLE portfolio_holdings ALTER COLUMN region DROP DEFAULT;
ALTER TABLE portfolio_holdings RENAME COLUMN quantity TO shares;
ALTER TABLE portfolio_holdings ADD COLUMN cost_basis numeric(24, 4) GENERATED ALWAYS AS (shares * avg_price) STORED;
DROP INDEX portfolio_holdings_key;
CREATE UNIQUE INDEX portfolio_holdings_key ON portfolio_holdings
    (strategy_id, COALESCE(backtest_id, 0), ticker, region, date);
DROP INDEX portfolio_holdings_ticker_date_idx;
CREATE INDEX portfolio_holdings_ticker_date_idx ON portfolio_holdings (ticker, region, date);

-- portfolio_transactions: seed 001's columns; total_value as the seed defines it
-- (shares × price + commission + slippage, on BUY and SELL alike); cash_flow is the signed
-- settlement (BUY negative incl. all costs, SELL positive net of all costs).
ALTER TABLE portfolio_transactions DROP CONSTRAINT portfolio_transactions_ticker_check;
ALTER TABLE portfolio_transactions ALTER COLUMN ticker TYPE varchar(20);
ALTER TABLE portfolio_transactions DROP COLUMN total_value, DROP COLUMN cash_flow;
ALTER TABLE portfolio_transactions RENAME COLUMN side TO transaction_type;
ALTER TABLE portfolio_transactions RENAME COLUMN quantity TO shares;
ALTER TABLE portfolio_transactions RENAME COLUMN fee TO commission;
ALTER TABLE portfolio_transactions RENAME CONSTRAINT portfolio_transactions_side_chk TO portfolio_transactions_transaction_type_check;
ALTER TABLE portfolio_transactions RENAME CONSTRAINT portfolio_transactions_quantity_chk TO portfolio_transactions_shares_chk;
ALTER TABLE portfolio_transactions RENAME CONSTRAINT portfolio_transactions_fee_chk TO portfolio_transactions_commission_chk;
ALTER TABLE portfolio_transactions ALTER COLUMN transaction_type TYPE varchar(10);
ALTER TABLE portfolio_transactions ALTER COLUMN shares TYPE numeric(15, 4);
ALTER TABLE portfolio_transactions ALTER COLUMN price TYPE numeric(15, 4);
ALTER TABLE portfolio_transactions ALTER COLUMN commission TYPE numeric(20, 4);  -- seed: (10,4); widened for KRW
ALTER TABLE portfolio_transactions ALTER COLUMN tax TYPE numeric(20, 4);
ALTER TABLE portfolio_transactions
    ADD COLUMN region     varchar(2) NOT NULL DEFAULT 'KR' REFERENCES regions (region),
    ADD COLUMN date       date,
    ADD COLUMN slippage   numeric(20, 4) NOT NULL DEFAULT 0 CHECK (slippage >= 0),
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE portfolio_transactions ALTER COLUMN region DROP DEFAULT;
UPDATE portfolio_transactions SET date = (executed_at AT TIME ZONE 'Asia/Seoul')::date;
ALTER TABLE portfolio_transactions ALTER COLUMN date SET NOT NULL;
ALTER TABLE portfolio_transactions ALTER COLUMN executed_at DROP NOT NULL;
ALTER TABLE portfolio_transactions
    ADD COLUMN total_value numeric(24, 4) GENERATED ALWAYS AS (shares * price + commission + slippage) STORED,
    ADD COLUMN cash_flow numeric GENERATED ALWAYS AS (
        CASE WHEN transaction_type = 'BUY' THEN -(shares * price + commission + slippage + tax)
             ELSE shares * price - commission - slippage - tax END) STORED;
DROP INDEX portfolio_transactions_strategy_idx;
DROP INDEX portfolio_transactions_ticker_idx;
CREATE INDEX idx_transactions_strategy ON portfolio_transactions (strategy_id, date DESC);
CREATE INDEX idx_transactions_ticker ON portfolio_transactions (ticker, region, date DESC);

ALTER TABLE walk_forward_results RENAME COLUMN train_start TO train_start_date;
ALTER TABLE walk_forward_results RENAME COLUMN train_end TO train_end_date;
ALTER TABLE walk_forward_results RENAME COLUMN test_start TO test_start_date;
ALTER TABLE walk_forward_results RENAME COLUMN test_end TO test_end_date;
ALTER TABLE walk_forward_results RENAME COLUMN out_of_sample_return TO out_sample_return;
ALTER TABLE walk_forward_results RENAME COLUMN out_of_sample_sharpe TO out_sample_sharpe;
ALTER TABLE walk_forward_results RENAME COLUMN out_of_sample_metrics TO out_sample_metrics;
ALTER TABLE walk_forward_results RENAME COLUMN parameters TO optimal_params;
ALTER TABLE walk_forward_results ADD COLUMN overfitting_ratio numeric(10, 4) GENERATED ALWAYS AS (
    round((out_sample_sharpe / NULLIF(in_sample_sharpe, 0))::numeric, 4)) STORED;
ALTER INDEX walk_forward_strategy_idx RENAME TO idx_walkforward_strategy;
CREATE INDEX idx_walkforward_dates ON walk_forward_results (train_start_date, test_end_date);
CREATE INDEX idx_walkforward_ratio ON walk_forward_results (overfitting_ratio DESC);

-- The parameter search log keeps its rows under its own name; optimization_history becomes the
-- seeds' portfolio-weights record.
ALTER TABLE optimization_history RENAME TO parameter_search_history;
ALTER TABLE parameter_search_history RENAME CONSTRAINT optimization_history_rank_key TO parameter_search_history_rank_key;
ALTER INDEX optimization_history_strategy_idx RENAME TO parameter_search_history_strategy_idx;
ALTER INDEX optimization_history_best_idx RENAME TO parameter_search_history_best_idx;
ALTER SEQUENCE optimization_history_id_seq RENAME TO parameter_search_history_id_seq;
ALTER TABLE parameter_search_history RENAME CONSTRAINT optimization_history_pkey TO parameter_search_history_pkey;
CREATE TABLE optimization_history (
    id                bigserial   PRIMARY KEY,
    optimization_date date        NOT NULL,
    universe          varchar(50) NOT NULL,            -- 'KR_TOP100', 'US_SP500', ...
    method            varchar(50) NOT NULL,            -- 'mean_variance', 'risk_parity', ...
    target_return     numeric(10, 4),
    target_risk       numeric(10, 4),
    constraints       jsonb,
    optimal_weights   jsonb       NOT NULL,            -- {ticker: weight}
    expected_return   numeric(10, 4),
    expected_risk     numeric(10, 4),
    sharpe_ratio      numeric(10, 4),
    strategy_id       bigint      REFERENCES strategies (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_optimization_date ON optimization_history (optimization_date DESC);
CREATE INDEX idx_optimization_method ON optimization_history (method, optimization_date DESC);

-- == seed tables that did not exist ===============================================================
-- KRW per foreign unit. `rate` is always per ONE unit (the seeds' meaning); quoted_rate and
-- quote_unit keep the source's own convention (KRW per 100 JPY / 100 VND).
CREATE TABLE exchange_rate_history (
    id            bigserial   PRIMARY KEY,
    currency      varchar(3)  NOT NULL,
    rate          numeric(20, 8) NOT NULL CHECK (rate > 0),
    quoted_rate   numeric(20, 8) NOT NULL CHECK (quoted_rate > 0),
    quote_unit    integer     NOT NULL DEFAULT 1 CHECK (quote_unit IN (1, 100)),
    base_currency char(3)     NOT NULL DEFAULT 'KRW',
    "timestamp"   timestamptz NOT NULL,
    rate_date     date        NOT NULL,
    source        text        NOT NULL,
    quality       text        NOT NULL DEFAULT 'ok' CHECK (quality IN ('ok', 'suspect_fallback')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT exchange_rate_history_key UNIQUE (currency, rate_date, source)
);
CREATE INDEX idx_exchange_rate_currency_date ON exchange_rate_history (currency, rate_date DESC);

CREATE TABLE global_market_indices (
    id               bigserial   PRIMARY KEY,
    date             date        NOT NULL,
    symbol           varchar(20) NOT NULL,
    index_name       text        NOT NULL,
    region           varchar(6)  NOT NULL CHECK (region IN ('KR', 'US', 'CN', 'HK', 'JP', 'VN', 'EU', 'UK', 'GLOBAL')),
    close_price      numeric(20, 4) NOT NULL,
    open_price       numeric(20, 4) NOT NULL,
    high_price       numeric(20, 4) NOT NULL,
    low_price        numeric(20, 4) NOT NULL,
    volume           bigint,
    change_percent   numeric(12, 4) NOT NULL,
    trend_5d         text        CHECK (trend_5d IN ('UP', 'DOWN', 'FLAT', 'SIDEWAYS')),
    consecutive_days integer,
    currency         char(3),
    source           text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT global_market_indices_key UNIQUE (date, symbol),
    CONSTRAINT global_market_indices_range_chk CHECK (high_price >= low_price)
);
CREATE INDEX idx_global_indices_date ON global_market_indices (date DESC);
CREATE INDEX idx_global_indices_symbol_date ON global_market_indices (symbol, date DESC);

-- Spock's per-day analysis record (Weinstein stage, LayeredScoringEngine scores, GPT pattern).
-- No source computes these here; the table holds what a Spock import brings. The indicators
-- themselves (ma*, rsi_14, macd*, bb_*, atr_14, volume_*) are columns of ohlcv_data.
CREATE TABLE technical_analysis (
    id                       bigserial   PRIMARY KEY,
    ticker                   varchar(20) NOT NULL,
    region                   varchar(2)  NOT NULL REFERENCES regions (region),
    analysis_date            date        NOT NULL,
    stage                    integer     CHECK (stage BETWEEN 1 AND 4),
    stage_confidence         double precision,
    layer1_macro_score       double precision,
    layer2_structural_score  double precision,
    layer3_micro_score       double precision,
    total_score              double precision,
    signal                   text,
    signal_strength          double precision,
    gpt_pattern              text,
    gpt_confidence           double precision,
    gpt_analysis             text,
    data_source              text        NOT NULL DEFAULT 'spock',
    created_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT technical_analysis_key UNIQUE (ticker, region, analysis_date)
);

-- Spock's live-trading tables, region-aware (create_missing_tables.sql), filled by imports.
CREATE TABLE trades (
    id                     bigserial   PRIMARY KEY,
    ticker                 varchar(20) NOT NULL,
    region                 varchar(2)  NOT NULL REFERENCES regions (region),
    side                   text        NOT NULL CHECK (side IN ('BUY', 'SELL')),
    order_type             text        CHECK (order_type IN ('MARKET', 'LIMIT')),
    quantity               numeric(20, 4) NOT NULL,
    entry_price            numeric(20, 4),
    exit_price             numeric(20, 4),
    price                  numeric(20, 4) NOT NULL,
    amount                 numeric(24, 4) NOT NULL,
    fee                    numeric(20, 4) NOT NULL DEFAULT 0,
    tax                    numeric(20, 4) NOT NULL DEFAULT 0,
    order_no               text,
    execution_no           text,
    entry_timestamp        timestamptz,
    exit_timestamp         timestamptz,
    order_time             timestamptz NOT NULL,
    execution_time         timestamptz,
    trade_status           text        NOT NULL DEFAULT 'OPEN' CHECK (trade_status IN ('OPEN', 'CLOSED', 'CANCELLED', 'PENDING', 'FILLED', 'PARTIAL')),
    sector                 text,
    position_size_percent  double precision,
    reason                 text,
    created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_trades_ticker ON trades (ticker, region, order_time DESC);

CREATE TABLE portfolio (
    ticker               varchar(20) NOT NULL,
    region               varchar(2)  NOT NULL REFERENCES regions (region),
    quantity             numeric(20, 4) NOT NULL,
    avg_price            numeric(20, 4) NOT NULL,
    current_price        numeric(20, 4),
    market_value         numeric(24, 4),
    unrealized_pnl       numeric(24, 4),
    unrealized_pnl_pct   double precision,
    stop_loss_price      numeric(20, 4),
    profit_target_price  numeric(20, 4),
    entry_date           date        NOT NULL,
    entry_score          double precision,
    last_updated         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticker, region)
);

CREATE TABLE market_sentiment (
    id                      bigserial   PRIMARY KEY,
    date                    date        NOT NULL UNIQUE,
    vix                     double precision,
    fear_greed_index        double precision,
    kospi_index             double precision,
    kosdaq_index            double precision,
    foreign_net_buying      bigint,
    institution_net_buying  bigint,
    usd_krw                 double precision,
    jpy_krw                 double precision,
    oil_price               double precision,
    gold_price              double precision,
    market_regime           text        CHECK (market_regime IN ('bull', 'sideways', 'bear')),
    sentiment_score         double precision,
    created_at              timestamptz NOT NULL DEFAULT now()
);

-- == views ========================================================================================
-- seed 000's `etfs` (26 columns) over the ETF rows of tickers and etf_details: one home per fact.
CREATE VIEW etfs AS
SELECT t.ticker, t.name, t.name_eng, t.region, t.exchange,
       d.category, d.sector_theme AS subcategory, d.tracking_index,
       d.aum::double precision        AS total_assets,
       d.expense_ratio::double precision AS expense_ratio,
       d.listed_shares, d.issuer, d.inception_date,
       d.multiple::double precision    AS leverage_ratio,
       (d.multiple < 0)                AS is_inverse,
       COALESCE(d.currency_hedged, false) AS currency_hedged,
       d.tracking_error_20d, d.tracking_error_60d, d.tracking_error_120d, d.tracking_error_250d,
       d.premium_discount, d.avg_daily_volume, d.avg_daily_value,
       d.created_at, d.last_updated, d.data_source
FROM tickers t
JOIN etf_details d USING (ticker, region)
WHERE t.asset_type = 'ETF';

CREATE VIEW ohlcv_adjusted AS
WITH segments AS (
    SELECT ticker, region,
           ex_date,
           lag(ex_date) OVER (PARTITION BY ticker, region ORDER BY ex_date) AS segment_start,
           exp(sum(ln(factor::double precision))
               OVER (PARTITION BY ticker, region ORDER BY ex_date DESC)) AS cumulative
    FROM adjustment_factors
)
SELECT o.date,
       o.ticker,
       o.region,
       o.timeframe,
       o.asset_type,
       o.open * COALESCE(s.cumulative, 1)   AS open,
       o.high * COALESCE(s.cumulative, 1)   AS high,
       o.low * COALESCE(s.cumulative, 1)    AS low,
       o.close * COALESCE(s.cumulative, 1)  AS close,
       o.volume / COALESCE(s.cumulative, 1) AS volume,
       o.value,
       o.market_cap,
       COALESCE(s.cumulative, 1)            AS adj_factor
FROM ohlcv_data o
LEFT JOIN segments s
       ON s.ticker = o.ticker
      AND s.region = o.region
      AND o.date < s.ex_date
      AND (s.segment_start IS NULL OR o.date >= s.segment_start);

CREATE VIEW etf_holdings_summary AS
SELECT etf_ticker, region, as_of_date,
       count(*)                                              AS constituent_count,
       count(*) FILTER (WHERE constituent_type = 'STOCK')    AS stock_count,
       sum(weight) FILTER (WHERE constituent_type = 'CASH')  AS cash_weight,
       sum(weight)                                           AS weight_sum
FROM etf_holdings
GROUP BY etf_ticker, region, as_of_date;

CREATE VIEW etf_tracking_comparison AS
SELECT t.date, t.ticker, t.region, t.premium_discount_pct, k.krx_premium_discount_pct,
       t.premium_discount_pct - k.krx_premium_discount_pct AS premium_discount_gap,
       t.tracking_error_250d, k.krx_tracking_error_pct
FROM etf_tracking t
JOIN etf_tracking_krx k USING (ticker, region, date);

DROP VIEW partition_status_report;
CREATE VIEW partition_status_report AS
SELECT asset, region, status, count(*) AS partitions, min(partition_date) AS first_date,
       max(partition_date) AS last_date,
       (array_agg(reason ORDER BY partition_date DESC) FILTER (WHERE reason IS NOT NULL))[1] AS latest_reason
FROM partition_status
GROUP BY asset, region, status;

-- == latest ETF figures on etf_details (seed 002's collector columns) ==========================
-- refresh_etf_latest(region), called by the assets that own those figures inside their write
-- transaction, is defined in sql/009 beside the holdings weight-change function it pairs with.

-- == what the seeds' wrong names mean here =======================================================
COMMENT ON COLUMN etf_details.tracking_error_20d IS
    'Tracking error over 20 trading days: annualised stdev of (NAV return − multiple × index return), %. '
    'Seed 002 used this name for the mean premium/discount; that quantity is premium_discount_avg_20d.';
COMMENT ON COLUMN etf_details.premium_discount_avg_20d IS
    'Mean daily premium/discount (close − NAV) / NAV × 100 over 20 trading days — what seed 002 called tracking_error_20d.';
COMMENT ON COLUMN etf_tracking.tracking_error_20d IS
    'Annualised stdev of (NAV return − multiple × index return) over 20 trading days, %.';
COMMENT ON COLUMN etf_tracking.premium_discount_avg_20d IS
    'Mean daily premium/discount over 20 trading days, % (seed 002''s "tracking_error_20d").';
COMMENT ON COLUMN ohlcv_data.timeframe IS
    'D = daily (stored form). Queries may also say ''1d'' (the type''s = operator treats them as equal).';
COMMENT ON COLUMN factor_scores.score IS 'Winsorised (1st/99th pct) z-score of raw_value within the region''s cross-section.';
COMMENT ON COLUMN factor_scores.percentile IS 'Percentile rank within the region, 0–100 (100 = most of the factor).';
COMMENT ON COLUMN portfolio_transactions.total_value IS
    'shares × price + commission + slippage (seed 001), on BUY and SELL alike; cash_flow is the signed settlement.';
COMMENT ON COLUMN exchange_rate_history.rate IS 'KRW per ONE unit of currency (JPY/VND quotes per 100 are divided).';
