-- +goose Up
-- A listing of the rules revisions shows each one's file names, not their
-- contents (up to 16 MiB a revision). The names and sizes are kept beside
-- the files (a JSON array of {name, bytes} in name order), and the files go
-- last in the row: SQLite reads a row's columns in order, and reading one
-- that lies after a large value walks every overflow page of that value.
CREATE TABLE rule_revisions_next (
    rev        BIGINT PRIMARY KEY,
    hash       TEXT NOT NULL,
    who        TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    listing    TEXT NOT NULL,
    files      TEXT NOT NULL
);
INSERT INTO rule_revisions_next (rev, hash, who, reason, created_at, listing, files)
SELECT r.rev, r.hash, r.who, r.reason, r.created_at,
    (SELECT json_group_array(json_object('name', f.key, 'bytes', length(CAST(f.value AS BLOB))))
       FROM (SELECT key, value FROM json_each(r.files) WHERE json_type(r.files) = 'object' ORDER BY key) f),
    r.files
FROM rule_revisions r;
DROP TABLE rule_revisions;
ALTER TABLE rule_revisions_next RENAME TO rule_revisions;

-- +goose Down
CREATE TABLE rule_revisions_prev (
    rev        BIGINT PRIMARY KEY,
    hash       TEXT NOT NULL,
    files      TEXT NOT NULL,
    who        TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
INSERT INTO rule_revisions_prev (rev, hash, files, who, reason, created_at)
SELECT rev, hash, files, who, reason, created_at FROM rule_revisions;
DROP TABLE rule_revisions;
ALTER TABLE rule_revisions_prev RENAME TO rule_revisions;
