-- A failed re-run of a loaded day must not relabel it (issue #11, item 5).
--
-- partition_status.status says what the committed rows are: only a write transaction sets
-- 'loaded', and a later failure (source_error, blocked, market_closed answer) of a day that is
-- loaded leaves status, row_count, reason and source alone and records the failure beside it
-- in last_error / last_error_at (quant_assets/resources/warehouse.py, record_status). A
-- successful write clears them.

ALTER TABLE partition_status
    ADD COLUMN last_error    text,
    ADD COLUMN last_error_at timestamptz;

COMMENT ON COLUMN partition_status.last_error IS
    'Newest failure (status: reason) of an attempt that did not replace the committed rows, e.g. a failed re-run of a loaded day; NULL after a successful write.';
COMMENT ON COLUMN partition_status.last_error_at IS
    'When last_error was recorded; NULL after a successful write.';
