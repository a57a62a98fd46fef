-- ETF analytics: published AUM, holdings (PDF) in both directions, premium/discount and
-- tracking error (ours and KRX's, side by side).

-- AUM (순자산총액) as KRX publishes it on D+1 morning, with the cross-checks kept beside it.
CREATE TABLE etf_aum (
    date            date        NOT NULL,
    ticker          varchar(6)  NOT NULL,
    aum             bigint      NOT NULL,            -- KRW, INVSTASST_NETASST_TOTAMT
    nav_x_units     bigint,                          -- NAV × listed units: what AUM should be
    units_x_close   bigint,                          -- listed units × close: the seeds' formula
    listed_units    bigint,
    PRIMARY KEY (ticker, date)
) PARTITION BY RANGE (date);
CREATE INDEX etf_aum_date_idx ON etf_aum (date);

-- Portfolio deposit file: what one creation unit of each ETF holds on as_of_date.
CREATE TABLE etf_holdings (
    as_of_date        date         NOT NULL,
    etf_ticker        varchar(6)   NOT NULL,
    constituent_code  varchar(12)  NOT NULL,       -- 6-char ticker, or an ISIN-like code for futures/cash/foreign
    constituent_isin  varchar(12),
    constituent_name  text,
    constituent_type  text         NOT NULL CHECK (constituent_type IN ('STOCK', 'ETF', 'FUTURES', 'CASH', 'FOREIGN', 'OTHER')),
    market_id         text,
    shares_per_cu     numeric(20, 2),              -- negative = short (inverse products)
    market_value      bigint,                      -- KRW at the close of as_of_date
    weight_pct        numeric(9, 4),               -- market_value / sum of the ETF's long market value × 100
    krx_weight_pct    numeric(9, 2),               -- COMPST_RTO as published ("-" for derivatives)
    rank              integer      NOT NULL,       -- 1 = largest |market_value| in the ETF
    PRIMARY KEY (etf_ticker, as_of_date, constituent_code)
) PARTITION BY RANGE (as_of_date);
-- "Which ETFs hold stock X on day D, by weight": the reverse direction gets its own index.
CREATE INDEX etf_holdings_constituent_idx ON etf_holdings (constituent_code, as_of_date, weight_pct DESC);
CREATE INDEX etf_holdings_date_idx ON etf_holdings (as_of_date);

CREATE VIEW etf_holdings_summary AS
SELECT etf_ticker, as_of_date,
       count(*)                                              AS constituent_count,
       count(*) FILTER (WHERE constituent_type = 'STOCK')    AS stock_count,
       sum(weight_pct) FILTER (WHERE constituent_type = 'CASH') AS cash_weight_pct,
       sum(weight_pct)                                       AS weight_sum_pct
FROM etf_holdings
GROUP BY etf_ticker, as_of_date;

-- Our premium/discount and tracking statistics per ETF per day.
CREATE TABLE etf_tracking (
    date                    date        NOT NULL,
    ticker                  varchar(6)  NOT NULL,
    multiple                numeric(6, 2) NOT NULL,
    premium_discount_pct    numeric(10, 4),          -- (close − NAV) / NAV × 100, that day
    pd_avg_20               numeric(10, 4),          -- mean daily premium/discount over N trading days
    pd_avg_60               numeric(10, 4),
    pd_avg_120              numeric(10, 4),
    pd_avg_250              numeric(10, 4),
    tracking_error_20       numeric(10, 4),          -- annualised stdev of (NAV return − multiple × index return), %
    tracking_error_60       numeric(10, 4),
    tracking_error_120      numeric(10, 4),
    tracking_error_250      numeric(10, 4),
    tracking_diff_20        numeric(10, 4),          -- compounded NAV return − compounded multiple × index return, %
    tracking_diff_60        numeric(10, 4),
    tracking_diff_120       numeric(10, 4),
    tracking_diff_250       numeric(10, 4),
    days_in_window          integer     NOT NULL,
    PRIMARY KEY (ticker, date)
) PARTITION BY RANGE (date);
CREATE INDEX etf_tracking_date_idx ON etf_tracking (date);

-- What KRX itself publishes (MDCSTAT06001 괴리율, MDCSTAT05901 추적오차율), per ETF per day.
CREATE TABLE etf_tracking_krx (
    date                      date        NOT NULL,
    ticker                    varchar(6)  NOT NULL,
    close                     bigint,
    nav                       numeric(16, 2),
    krx_premium_discount_pct  numeric(10, 2),
    nav_change_pct            numeric(10, 4),
    index_change_pct          numeric(10, 4),
    tracking_multiple         numeric(6, 2),
    krx_tracking_error_pct    numeric(10, 2),
    PRIMARY KEY (ticker, date)
);
CREATE INDEX etf_tracking_krx_date_idx ON etf_tracking_krx (date);

CREATE VIEW etf_tracking_comparison AS
SELECT t.date, t.ticker, t.premium_discount_pct, k.krx_premium_discount_pct,
       t.premium_discount_pct - k.krx_premium_discount_pct AS premium_discount_gap,
       t.tracking_error_250, k.krx_tracking_error_pct
FROM etf_tracking t
JOIN etf_tracking_krx k USING (ticker, date);
