-- The archive of a Spock import (quant_assets/legacy/): every source row that has no first-class
-- home in the warehouse, verbatim. Three kinds of row land here:
--   archived   a row of a Spock table with no table of its own here (kelly_*, gpt_analysis,
--              filter_cache_*, kis_api_logs, migration_history, backtest_*, ...);
--   rejected   a row of a mapped table that was truly invalid (high < low, no close, ...), with why;
--   collapsed  an older re-fetch of a key whose latest row was imported.
-- So `count(*)` of a Spock table always equals imported + the rows here for it: nothing is lost,
-- and the seeds' "100 % row-count match" can be checked per table.
CREATE TABLE legacy_rows (
    source_checksum char(64)    NOT NULL,            -- SHA-256 of the SQLite file (legacy_import_progress)
    table_name      text        NOT NULL,            -- the Spock table
    source_rowid    bigint      NOT NULL,            -- SQLite rowid in that table
    region          varchar(2)  REFERENCES regions (region),   -- NULL when the row has none
    disposition     text        NOT NULL CHECK (disposition IN ('archived', 'rejected', 'collapsed')),
    reason          text,                            -- why rejected / which key it collapsed into
    "row"           jsonb       NOT NULL,            -- the source row, column -> value
    imported_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_checksum, table_name, source_rowid)
);
CREATE INDEX legacy_rows_table_idx ON legacy_rows (table_name, disposition, region);
