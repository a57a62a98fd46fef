-- A month partition of a compacted table's hot table, created again when a write needs it.
--
-- Compaction drops the month partitions it empties (quant_assets/storage/compaction.py): ten years
-- of empty months otherwise cost every query through the view its planning and opening. The
-- partition comes back when a write needs it, from inside the writer's transaction: the view's
-- un-compaction function, or layout.write_target for a region writing into a month the others
-- have compacted. `CREATE TABLE ... PARTITION OF` would take an ACCESS EXCLUSIVE lock on the hot
-- table until that transaction commits, so every reader of the seed-named view would wait for the
-- write. `CREATE TABLE (LIKE ...)` takes no lock on it and `ATTACH PARTITION` a SHARE UPDATE
-- EXCLUSIVE one, which readers and writers pass. The advisory lock is the one
-- Warehouse.ensure_month_partitions takes for the same name, so the two never race on a CREATE.
CREATE FUNCTION storage_month_partition(p_parent regclass, p_name text, p_month date) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext(p_name));
    IF to_regclass(p_name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', p_name, p_parent);
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   p_parent, p_name, p_month, (p_month + interval '1 month')::date);
    RETURN true;
END $fn$;

COMMENT ON FUNCTION storage_month_partition(regclass, text, date) IS
    'Creates and attaches the month partition p_name of p_parent (a compacted table''s hot table) unless it exists, without an ACCESS EXCLUSIVE lock on p_parent; true if created (quant_assets/storage).';
