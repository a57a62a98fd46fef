-- definition_groups exactly as seed 003: the two pre-seed columns `source` and `as_of_date` move
-- into `metadata` (where the groups asset now writes them), then go. Old names left behind by the
-- renames in 008 take the seed's.
UPDATE definition_groups
SET metadata = COALESCE(metadata, '{}'::jsonb)
               || jsonb_strip_nulls(jsonb_build_object('source', source, 'as_of_date', as_of_date::text))
WHERE source IS NOT NULL OR as_of_date IS NOT NULL;
ALTER TABLE definition_groups DROP COLUMN source, DROP COLUMN as_of_date;

ALTER TABLE definition_groups RENAME CONSTRAINT definition_groups_group_type_check TO definition_groups_type_check;
ALTER SEQUENCE definition_groups_group_id_seq RENAME TO definition_groups_id_seq;

-- seed 003's lookups: memberships of a group (unique_membership serves it), groups of a type.
CREATE INDEX idx_definition_groups_type ON definition_groups (type, environment);

COMMENT ON TABLE definition_groups IS
    'Seed 003: ETF / THEME / SECTOR / SEGMENT / CUSTOM groups per environment (DEFAULT, TEST, UAT, PROD). '
    'metadata holds source, region and (ETF groups) as_of_date; written by the groups asset.';
COMMENT ON COLUMN group_memberships.weight IS
    'Fraction 0–1 (ETF holdings: weight in percent / 100, rounded to 4 places); NULL when the group has no weights.';
COMMENT ON COLUMN group_memberships.region IS
    'The symbol''s region; NULL = a symbol of a market we do not hold (e.g. a foreign ISIN in a KR ETF).';
