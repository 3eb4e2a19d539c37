-- +goose Up
-- A verification that meets a break looks up where the broken entry's
-- hash was written (SELECT seq FROM audit WHERE hash = ... ORDER BY seq
-- DESC LIMIT 1): without an index each lookup read the whole log, whose
-- plan payloads make a log of thousands of runs hundreds of megabytes.
-- (hash, seq) answers it from the index, the last seq first.
CREATE INDEX audit_hash ON audit (hash, seq);

-- +goose Down
DROP INDEX audit_hash;
