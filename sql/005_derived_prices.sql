-- Derived price tables: period aggregates, 52-week ranges, corporate-action adjustment factors and
-- the adjusted-price view, per-stock fundamentals and cross-sectional factor scores.
-- Raw prices stay raw in ohlcv_data; adjusted prices exist only as the ohlcv_adjusted view.

-- Period bars from RAW daily prices (no split adjustment): first open (of the first day with a
-- non-null open), max high, min low, last close, summed volume and traded value. A bucket is
-- refreshed as a whole (DELETE + INSERT ... SELECT ... GROUP BY in one transaction).
CREATE TABLE ohlcv_monthly (
    ticker          varchar(6)  NOT NULL,
    period_start    date        NOT NULL,            -- first calendar day of the month
    asset_type      text        NOT NULL CHECK (asset_type IN ('STOCK', 'ETF')),
    open            bigint,
    high            bigint,
    low             bigint,
    close           bigint      NOT NULL,
    volume          bigint      NOT NULL,
    value           bigint      NOT NULL,
    market_cap      bigint,                          -- on last_date
    trading_days    integer     NOT NULL,            -- rows of the ticker in the bucket
    first_date      date        NOT NULL,
    last_date       date        NOT NULL,
    PRIMARY KEY (ticker, period_start)
);
CREATE INDEX ohlcv_monthly_period_idx ON ohlcv_monthly (period_start);

CREATE TABLE ohlcv_quarterly (LIKE ohlcv_monthly INCLUDING ALL);
CREATE TABLE ohlcv_yearly (LIKE ohlcv_monthly INCLUDING ALL);

-- Corporate-action price adjustments detected from raw data. On an ex-date KRX reports `change`
-- against the adjusted base price, so base_price = close - change and factor = base_price /
-- prior_close (0.2 for a 1:5 split). Prices before ex_date are multiplied by factor.
CREATE TABLE adjustment_factors (
    ticker          varchar(6)  NOT NULL,
    ex_date         date        NOT NULL,
    factor          numeric(20, 10) NOT NULL CHECK (factor > 0),
    prior_close     bigint      NOT NULL,
    base_price      bigint      NOT NULL,
    reason          text        NOT NULL,
    PRIMARY KEY (ticker, ex_date)
);
CREATE INDEX adjustment_factors_ex_date_idx ON adjustment_factors (ex_date);

-- Split-adjusted daily bars on today's share basis: raw price x product of the factors of all
-- ex-dates after the row's date; volume / that product. Traded value and market cap are unchanged.
-- Each adjustment segment [previous ex_date, ex_date) joins to its cumulative factor, so the view
-- is a range join against the small factor table (no per-row subquery).
CREATE VIEW ohlcv_adjusted AS
WITH segments AS (
    SELECT ticker,
           ex_date,
           lag(ex_date) OVER (PARTITION BY ticker ORDER BY ex_date) AS segment_start,
           exp(sum(ln(factor::double precision))
               OVER (PARTITION BY ticker ORDER BY ex_date DESC)) AS cumulative
    FROM adjustment_factors
)
SELECT o.date,
       o.ticker,
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
      AND o.date < s.ex_date
      AND (s.segment_start IS NULL OR o.date >= s.segment_start);

-- 52-week (250 trading days) range per ticker and day, on D's share basis (bars before an ex-date
-- inside the window are adjusted by the factors between them and D; D's own close is raw).
CREATE TABLE price_range_52w (
    date                date        NOT NULL,
    ticker              varchar(6)  NOT NULL,
    close               bigint      NOT NULL,        -- raw close on date
    days_in_window      integer     NOT NULL,        -- rows found in the 250-trading-day window
    window_start        date        NOT NULL,        -- first row of the ticker inside the window
    high_close          numeric(20, 4) NOT NULL,
    high_close_date     date        NOT NULL,
    low_close           numeric(20, 4) NOT NULL,
    low_close_date      date        NOT NULL,
    high_52w            numeric(20, 4),
    high_52w_date       date,
    low_52w             numeric(20, 4),
    low_52w_date        date,
    pct_from_high_close numeric(12, 4) NOT NULL,     -- (close / high_close - 1) * 100, <= 0
    pct_from_low_close  numeric(12, 4) NOT NULL,     -- (close / low_close - 1) * 100, >= 0
    pct_from_high       numeric(12, 4),              -- against high_52w (intraday highs)
    pct_from_low        numeric(12, 4),              -- against low_52w (intraday lows)
    PRIMARY KEY (ticker, date)
) PARTITION BY RANGE (date);
CREATE INDEX price_range_52w_date_idx ON price_range_52w (date);

-- KRX per-stock valuation figures (MDCSTAT03501); NULL where KRX shows "-".
CREATE TABLE stock_fundamentals (
    date            date        NOT NULL,
    ticker          varchar(6)  NOT NULL,
    eps             numeric(20, 2),
    per             numeric(14, 2),
    bps             numeric(20, 2),
    pbr             numeric(14, 2),
    dps             numeric(20, 2),
    dividend_yield  numeric(10, 2),
    PRIMARY KEY (ticker, date)
) PARTITION BY RANGE (date);
CREATE INDEX stock_fundamentals_date_idx ON stock_fundamentals (date);

-- Cross-sectional factor scores per day, universe (ALL | KOSPI | KOSDAQ) and factor. raw_value is
-- signed so that higher = more of the factor as named (low_vol_* store minus the volatility).
CREATE TABLE factor_scores (
    date            date        NOT NULL,
    ticker          varchar(6)  NOT NULL,
    universe        text        NOT NULL CHECK (universe IN ('ALL', 'KOSPI', 'KOSDAQ')),
    factor          text        NOT NULL,
    raw_value       double precision NOT NULL,
    zscore          double precision NOT NULL,       -- of the 1st/99th-percentile winsorised value
    percentile      double precision NOT NULL CHECK (percentile > 0 AND percentile <= 1),
    PRIMARY KEY (date, universe, factor, ticker)
) PARTITION BY RANGE (date);
CREATE INDEX factor_scores_ticker_idx ON factor_scores (ticker, date);
