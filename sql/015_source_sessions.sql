-- Source sessions shared across processes, and the kind of an open circuit breaker (issue #11).
--
-- KRX allows one live session per account: a second login (skipDup=Y) kicks the first. Runs,
-- sensors and separate processes therefore share ONE session per account through
-- `source_sessions` (the cookies of the last login and a generation counter bumped by every
-- login); logins are serialised by a transaction advisory lock, so a process that sees LOGOUT
-- adopts the session another process has just created instead of logging in again.
-- `source_session_holders` lists who uses a session; the last holder to leave logs out.
-- `source_auth_failures` remembers a refused login (keyed by a hash of host, user and password)
-- so other processes do not retry a wrong password against the real site.

CREATE TABLE source_sessions (
    source        text        NOT NULL,
    account       text        NOT NULL,          -- account_key(host, user): a hash, never the id
    cookies       jsonb       NOT NULL,
    generation    bigint      NOT NULL,
    logged_in_at  timestamptz NOT NULL DEFAULT now(),
    logged_in_by  text        NOT NULL,
    PRIMARY KEY (source, account)
);

CREATE TABLE source_session_holders (
    source   text        NOT NULL,
    account  text        NOT NULL,
    holder   text        NOT NULL,               -- host:pid:random of one client instance
    seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, account, holder)
);

CREATE TABLE source_auth_failures (
    source     text        NOT NULL,
    account    text        NOT NULL,             -- account_key(host, user, password)
    reason     text        NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, account)
);

-- 'ban': the source's IP-block notice (documented cool-down, 24 h by default);
-- 'outage': retries exhausted on 5xx/403/maintenance pages/timeouts (a short pause).
ALTER TABLE source_circuit
    ADD COLUMN kind text NOT NULL DEFAULT 'ban' CHECK (kind IN ('ban', 'outage'));
