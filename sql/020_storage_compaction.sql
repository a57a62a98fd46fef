-- Compact storage of closed periods (issue #13 item 5): bookkeeping of the compacted layout.
--
-- The compacted layout itself (cold tables, the view under the seed name, its INSTEAD OF
-- triggers) is created on first compaction by quant_assets/storage/layout.py from the catalogue of
-- the table it converts, so a database that never compacts keeps exactly the seed contract's
-- partitioned tables (sql/008) and their indexes. These two tables record what was converted and
-- which (table, region, period) is held compacted.

CREATE TABLE storage_layouts (
    table_name      text        PRIMARY KEY,
    hot_table       text        NOT NULL UNIQUE,
    cold_table      text        NOT NULL UNIQUE,
    period_unit     text        NOT NULL CHECK (period_unit IN ('month')),
    layout          text        NOT NULL,
    converted_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE storage_layouts IS
    'Seed-named tables converted to the compacted layout: table_name is then a view over hot_table (recent, row form, the original partitioned table renamed) UNION ALL cold_table (closed periods in compact form). Written by quant storage compact (quant_assets/storage).';
COMMENT ON COLUMN storage_layouts.table_name IS 'The name queries use (seed contract), now a view, e.g. ohlcv_data.';
COMMENT ON COLUMN storage_layouts.hot_table IS 'The original month-partitioned table, renamed (e.g. ohlcv_hot); its partitions keep their names.';
COMMENT ON COLUMN storage_layouts.cold_table IS 'The compact table holding closed periods (e.g. ohlcv_cold).';
COMMENT ON COLUMN storage_layouts.period_unit IS 'Unit of a compacted period (month).';
COMMENT ON COLUMN storage_layouts.layout IS 'Short description of the compact representation.';
COMMENT ON COLUMN storage_layouts.converted_at IS 'When the view replaced the table.';

CREATE TABLE storage_periods (
    table_name      text        NOT NULL REFERENCES storage_layouts (table_name),
    region          varchar(2)  NOT NULL,
    period          date        NOT NULL,
    rows            bigint      NOT NULL,
    raw_bytes       bigint      NOT NULL,
    compacted_bytes bigint      NOT NULL,
    compacted_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, region, period)
);
COMMENT ON TABLE storage_periods IS
    'One row per compacted (table, region, period): its rows are in the cold table, none in the hot one. A write to such a period (correction, re-run, indicator UPDATE) un-compacts it first (INSTEAD OF trigger) and deletes this row.';
COMMENT ON COLUMN storage_periods.table_name IS 'Seed-named table (storage_layouts.table_name).';
COMMENT ON COLUMN storage_periods.region IS 'Market (regions.region).';
COMMENT ON COLUMN storage_periods.period IS 'First day of the compacted calendar month.';
COMMENT ON COLUMN storage_periods.rows IS 'Rows of the period as the view returns them.';
COMMENT ON COLUMN storage_periods.raw_bytes IS 'Bytes the rows took in row form before compaction (heap + index share of their partition, measured at compaction).';
COMMENT ON COLUMN storage_periods.compacted_bytes IS 'Bytes of the period in the cold table (its rows'' size plus their share of its indexes and TOAST, measured after compaction).';
COMMENT ON COLUMN storage_periods.compacted_at IS 'When the period was compacted.';
