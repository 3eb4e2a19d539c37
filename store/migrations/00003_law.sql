-- +goose Up
-- Rules as server state: each accepted change to the operator's rule packs is
-- a revision holding the whole set of applied files (name → content).
CREATE TABLE rule_revisions (
    rev        BIGINT PRIMARY KEY,
    hash       TEXT NOT NULL,
    files      TEXT NOT NULL,
    who        TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- The last law check the controller made of every live run and staged copy:
-- which revision, as of which day. One row.
CREATE TABLE law_checks (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    rev        BIGINT NOT NULL,
    day        TEXT NOT NULL,
    checked_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE law_checks;
DROP TABLE rule_revisions;
