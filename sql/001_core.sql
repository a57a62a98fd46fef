-- Reference tables, the two partitioned daily fact tables of the foundation, and the
-- per-partition load status that tells a holiday from a failed fetch.

CREATE TABLE tickers (
    ticker          varchar(6) PRIMARY KEY CHECK (char_length(ticker) = 6),
    isin            char(12),
    name            text        NOT NULL,
    region          text        NOT NULL DEFAULT 'KR',
    market          text        NOT NULL,            -- KOSPI | KOSDAQ | KONEX | ETF
    asset_type      text        NOT NULL CHECK (asset_type IN ('STOCK', 'ETF')),
    listing_date    date,
    delisting_date  date,
    active          boolean     NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickers_asset_type_idx ON tickers (asset_type, active);

CREATE TABLE stock_details (
    ticker          varchar(6) PRIMARY KEY REFERENCES tickers (ticker),
    full_name       text,
    english_name    text,
    market          text,
    sector          text,
    section         text,
    stock_kind      text,
    par_value       numeric(18, 2),
    listed_shares   bigint,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE etf_details (
    ticker          varchar(6) PRIMARY KEY REFERENCES tickers (ticker),
    isin            char(12)   NOT NULL,
    full_name       text,
    english_name    text,
    issuer          text,
    index_name      text,
    index_provider  text,
    leverage_type   text,                            -- 일반 | 2X 레버리지 | 1X 인버스 | 2X 인버스
    multiple        numeric(6, 2) NOT NULL,          -- 1, 2, -1, -2: what tracking is measured against
    replication     text,
    index_market    text,
    asset_class     text,
    total_fee_pct   numeric(9, 6),                   -- percent per year, as KRX publishes it
    cu_qty          bigint,
    tax_type        text,
    listed_units    bigint,
    listing_date    date,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Raw (unadjusted) daily bars of every listed stock and ETF, in KRW and shares.
CREATE TABLE ohlcv_data (
    date            date        NOT NULL,
    ticker          varchar(6)  NOT NULL,
    asset_type      text        NOT NULL CHECK (asset_type IN ('STOCK', 'ETF')),
    open            bigint,
    high            bigint,
    low             bigint,
    close           bigint      NOT NULL,
    change          bigint,
    change_pct      numeric(10, 2),
    volume          bigint      NOT NULL,
    value           bigint      NOT NULL,
    market_cap      bigint,
    listed_shares   bigint,
    PRIMARY KEY (ticker, date)
) PARTITION BY RANGE (date);
CREATE INDEX ohlcv_data_date_idx ON ohlcv_data (date);

CREATE TABLE etf_daily (
    date            date        NOT NULL,
    ticker          varchar(6)  NOT NULL,
    close           bigint      NOT NULL,
    nav             numeric(16, 2) NOT NULL,
    aum             bigint,                          -- NULL until KRX publishes it (D+1 morning)
    listed_units    bigint      NOT NULL,
    market_cap      bigint,
    index_close     numeric(16, 2),
    index_change_pct numeric(10, 2),
    PRIMARY KEY (ticker, date)
) PARTITION BY RANGE (date);
CREATE INDEX etf_daily_date_idx ON etf_daily (date);

-- One row per (asset, trading day): what happened the last time the partition was attempted.
CREATE TABLE partition_status (
    asset           text        NOT NULL,
    partition_date  date        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('loaded', 'market_closed', 'source_error', 'blocked')),
    row_count       integer,
    reason          text,
    source          text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (asset, partition_date)
);
