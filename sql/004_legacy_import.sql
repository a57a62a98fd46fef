-- Progress of imports from the legacy Spock SQLite database (quant_assets/legacy_import.py).
-- One row per (source file, target table). Big tables are imported in keyset-ordered batches,
-- each batch in its own transaction together with the update of this row, so `last_key` is
-- always exactly the position up to which rows are committed and an interrupted import resumes
-- after it. `stats` holds the cumulative counters (rows read, imported, rejected by reason, ...).

CREATE TABLE legacy_import_progress (
    source_checksum char(64)    NOT NULL,            -- SHA-256 of the SQLite file
    source_path     text        NOT NULL,
    table_name      text        NOT NULL,            -- target table in PostgreSQL
    last_key        jsonb,                           -- e.g. {"ticker": "005930", "date": "2024-01-05"}
    rows_done       bigint      NOT NULL DEFAULT 0,  -- source rows consumed (imported + rejected + collapsed)
    batches         integer     NOT NULL DEFAULT 0,
    stats           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    completed       boolean     NOT NULL DEFAULT false,
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_checksum, table_name)
);
