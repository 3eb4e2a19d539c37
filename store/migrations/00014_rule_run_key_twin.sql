-- +goose Up
-- rule_revisions.rev is a BIGINT primary key, not SQLite's rowid: a rev
-- stored as bytes (a BLOB), as text or as a real is kept as it is, under
-- a key of its own, and a BLOB of a revision's digits sits beside that
-- revision (the law's reads then fail, ErrRowTwice). These triggers refuse
-- a rev that is not an integer when written; rows already there are left
-- as they are (a database holding one is upgraded, and its reads name
-- it). Meridian writes integers and updates no rev: no lookup at all.
-- +goose StatementBegin
CREATE TRIGGER rule_revisions_rev_integer_insert BEFORE INSERT ON rule_revisions
WHEN typeof(NEW.rev) <> 'integer'
BEGIN
	SELECT RAISE(ABORT, 'rule_revisions: rev must be stored as an integer (SQLite would keep this one as it is, beside the revision its digits spell)');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER rule_revisions_rev_integer_update BEFORE UPDATE OF rev ON rule_revisions
WHEN typeof(NEW.rev) <> 'integer'
BEGIN
	SELECT RAISE(ABORT, 'rule_revisions: rev must be stored as an integer (SQLite would keep this one as it is, beside the revision its digits spell)');
END;
-- +goose StatementEnd

-- A run's row and a copy of it with its id as a BLOB, an idempotency
-- key's row and a copy with its tenant or key as a BLOB, an event and a
-- copy with its run_id as a BLOB, would both be kept (the reads then fail,
-- ErrRowTwice): these triggers refuse the insert, or the key update, that
-- would make the second. Meridian's writes insert text keys and update
-- none: one lookup of the primary key per insert.
-- +goose StatementBegin
CREATE TRIGGER runs_key_twin_insert BEFORE INSERT ON runs
WHEN EXISTS (SELECT 1 FROM runs AS o
	WHERE o.id IN (CAST(NEW.id AS TEXT), CAST(NEW.id AS BLOB)) AND typeof(o.id) <> typeof(NEW.id))
BEGIN
	SELECT RAISE(ABORT, 'runs: a row of this id is there already, as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER runs_key_twin_update BEFORE UPDATE OF id ON runs
WHEN EXISTS (SELECT 1 FROM runs AS o
	WHERE o.rowid <> OLD.rowid
	AND o.id IN (CAST(NEW.id AS TEXT), CAST(NEW.id AS BLOB)) AND typeof(o.id) <> typeof(NEW.id))
BEGIN
	SELECT RAISE(ABORT, 'runs: a row of this id is there already, as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER idempotency_keys_key_twin_insert BEFORE INSERT ON idempotency_keys
WHEN EXISTS (SELECT 1 FROM idempotency_keys AS o
	WHERE o.tenant IN (CAST(NEW.tenant AS TEXT), CAST(NEW.tenant AS BLOB))
	AND o.key IN (CAST(NEW.key AS TEXT), CAST(NEW.key AS BLOB))
	AND (typeof(o.tenant) <> typeof(NEW.tenant) OR typeof(o.key) <> typeof(NEW.key)))
BEGIN
	SELECT RAISE(ABORT, 'idempotency_keys: a row of this tenant and key is there already, as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER idempotency_keys_key_twin_update BEFORE UPDATE OF tenant, key ON idempotency_keys
WHEN EXISTS (SELECT 1 FROM idempotency_keys AS o
	WHERE o.rowid <> OLD.rowid
	AND o.tenant IN (CAST(NEW.tenant AS TEXT), CAST(NEW.tenant AS BLOB))
	AND o.key IN (CAST(NEW.key AS TEXT), CAST(NEW.key AS BLOB))
	AND (typeof(o.tenant) <> typeof(NEW.tenant) OR typeof(o.key) <> typeof(NEW.key)))
BEGIN
	SELECT RAISE(ABORT, 'idempotency_keys: a row of this tenant and key is there already, as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER events_key_twin_insert BEFORE INSERT ON events
WHEN EXISTS (SELECT 1 FROM events AS o
	WHERE o.run_id IN (CAST(NEW.run_id AS TEXT), CAST(NEW.run_id AS BLOB)) AND o.seq = NEW.seq
	AND typeof(o.run_id) <> typeof(NEW.run_id))
BEGIN
	SELECT RAISE(ABORT, 'events: a row of this run_id and seq is there already, as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER events_key_twin_update BEFORE UPDATE OF run_id, seq ON events
WHEN EXISTS (SELECT 1 FROM events AS o
	WHERE o.rowid <> OLD.rowid
	AND o.run_id IN (CAST(NEW.run_id AS TEXT), CAST(NEW.run_id AS BLOB)) AND o.seq = NEW.seq
	AND typeof(o.run_id) <> typeof(NEW.run_id))
BEGIN
	SELECT RAISE(ABORT, 'events: a row of this run_id and seq is there already, as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd

-- So for a lease's name. (A heartbeat's run_id is not: Heard, matching
-- by text, writes a row beside one whose run_id is bytes, and the read
-- then names the pair.)
-- +goose StatementBegin
CREATE TRIGGER leases_key_twin_insert BEFORE INSERT ON leases
WHEN EXISTS (SELECT 1 FROM leases AS o
	WHERE o.name IN (CAST(NEW.name AS TEXT), CAST(NEW.name AS BLOB)) AND typeof(o.name) <> typeof(NEW.name))
BEGIN
	SELECT RAISE(ABORT, 'leases: a row of this name is there already, as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER leases_key_twin_update BEFORE UPDATE OF name ON leases
WHEN EXISTS (SELECT 1 FROM leases AS o
	WHERE o.rowid <> OLD.rowid
	AND o.name IN (CAST(NEW.name AS TEXT), CAST(NEW.name AS BLOB)) AND typeof(o.name) <> typeof(NEW.name))
BEGIN
	SELECT RAISE(ABORT, 'leases: a row of this name is there already, as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER leases_key_twin_update;
DROP TRIGGER leases_key_twin_insert;
DROP TRIGGER events_key_twin_update;
DROP TRIGGER events_key_twin_insert;
DROP TRIGGER idempotency_keys_key_twin_update;
DROP TRIGGER idempotency_keys_key_twin_insert;
DROP TRIGGER runs_key_twin_update;
DROP TRIGGER runs_key_twin_insert;
DROP TRIGGER rule_revisions_rev_integer_update;
DROP TRIGGER rule_revisions_rev_integer_insert;
