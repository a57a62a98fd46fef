-- Operational state shared by every run and the daemon.

-- A tripped source (e.g. KRX served its IP-ban page): no request to it until open_until.
CREATE TABLE source_circuit (
    source      text        PRIMARY KEY,
    open_until  timestamptz NOT NULL,
    reason      text        NOT NULL,
    tripped_at  timestamptz NOT NULL DEFAULT now()
);

-- The latest status of every attempted trading-day partition, with the reason, newest first.
CREATE VIEW partition_status_report AS
SELECT asset, status, count(*) AS partitions, min(partition_date) AS first_date,
       max(partition_date) AS last_date,
       (array_agg(reason ORDER BY partition_date DESC) FILTER (WHERE reason IS NOT NULL))[1] AS latest_reason
FROM partition_status
GROUP BY asset, status;
