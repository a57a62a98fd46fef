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

-- The report shows, per status, how many partitions carry a failure beside it (for 'loaded': a
-- failed re-run whose rows are intact) and the newest such failure.
CREATE OR REPLACE VIEW partition_status_report AS
SELECT asset, region, status, count(*) AS partitions, min(partition_date) AS first_date,
       max(partition_date) AS last_date,
       (array_agg(reason ORDER BY partition_date DESC) FILTER (WHERE reason IS NOT NULL))[1] AS latest_reason,
       count(*) FILTER (WHERE last_error IS NOT NULL) AS with_error,
       (array_agg(last_error ORDER BY last_error_at DESC) FILTER (WHERE last_error IS NOT NULL))[1] AS latest_error
FROM partition_status
GROUP BY asset, region, status;

COMMENT ON COLUMN partition_status_report.with_error IS
    'Partitions in this status with a recorded failure (for loaded: failed re-runs that left the rows intact).';
COMMENT ON COLUMN partition_status_report.latest_error IS 'Newest last_error among these partitions.';
