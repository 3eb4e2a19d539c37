-- +goose Up
-- A listing of the rules revisions shows each one's file names, not their
-- contents (up to 16 MiB a revision): the names and sizes are kept beside
-- the files, a JSON array of {name, bytes} in name order. PostgreSQL keeps
-- the large files value apart from the row (TOAST), so a query that does
-- not name it does not read it.
ALTER TABLE rule_revisions ADD COLUMN listing TEXT;
UPDATE rule_revisions SET listing = COALESCE(
    (SELECT json_agg(json_build_object('name', f.key, 'bytes', octet_length(f.value)) ORDER BY f.key)::text
       FROM json_each_text(CASE WHEN json_typeof(files::json) = 'object' THEN files::json END) f),
    '[]');
ALTER TABLE rule_revisions ALTER COLUMN listing SET NOT NULL;

-- +goose Down
ALTER TABLE rule_revisions DROP COLUMN listing;
