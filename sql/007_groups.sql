-- Groups (seed 003): named sets of tickers — an ETF's holdings, a sector, a theme, a custom list.
CREATE TABLE definition_groups (
    group_id     bigserial   PRIMARY KEY,
    group_type   text        NOT NULL CHECK (group_type IN ('ETF', 'THEME', 'SECTOR', 'SEGMENT', 'CUSTOM')),
    name         text        NOT NULL,
    description  text,
    source       text        NOT NULL,            -- where the membership comes from
    environment  text        NOT NULL DEFAULT 'local',
    as_of_date   date,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (environment, group_type, name)
);

CREATE TABLE group_memberships (
    group_id     bigint      NOT NULL REFERENCES definition_groups (group_id) ON DELETE CASCADE,
    ticker       varchar(6)  NOT NULL REFERENCES tickers (ticker),
    weight_pct   numeric(9, 4),
    PRIMARY KEY (group_id, ticker)
);
CREATE INDEX group_memberships_ticker_idx ON group_memberships (ticker);
