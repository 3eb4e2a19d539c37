-- +goose Up
-- SQLite keeps a key column stored as bytes (a BLOB) apart from the same
-- bytes as text: a resource's row and a copy of it with its tenant, kind
-- or name as a BLOB would both be kept, under two keys, and every read of
-- the resource fail (ErrRowTwice). These triggers refuse the write that
-- would make the second; rows already there are left as they are (a
-- database holding such a pair is upgraded, and its reads name the pair).
-- Meridian's own writes insert text and update no key column: one lookup
-- of the primary key per insert.
-- +goose StatementBegin
CREATE TRIGGER resources_key_twin_insert BEFORE INSERT ON resources
WHEN EXISTS (SELECT 1 FROM resources AS o
	WHERE o.tenant IN (CAST(NEW.tenant AS TEXT), CAST(NEW.tenant AS BLOB))
	AND o.kind IN (CAST(NEW.kind AS TEXT), CAST(NEW.kind AS BLOB))
	AND o.name IN (CAST(NEW.name AS TEXT), CAST(NEW.name AS BLOB))
	AND (typeof(o.tenant) <> typeof(NEW.tenant) OR typeof(o.kind) <> typeof(NEW.kind) OR typeof(o.name) <> typeof(NEW.name)))
BEGIN
	SELECT RAISE(ABORT, 'resources: a row of this tenant, kind and name is there already, its key as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER resources_key_twin_update BEFORE UPDATE OF tenant, kind, name ON resources
WHEN EXISTS (SELECT 1 FROM resources AS o
	WHERE o.rowid <> OLD.rowid
	AND o.tenant IN (CAST(NEW.tenant AS TEXT), CAST(NEW.tenant AS BLOB))
	AND o.kind IN (CAST(NEW.kind AS TEXT), CAST(NEW.kind AS BLOB))
	AND o.name IN (CAST(NEW.name AS TEXT), CAST(NEW.name AS BLOB))
	AND (typeof(o.tenant) <> typeof(NEW.tenant) OR typeof(o.kind) <> typeof(NEW.kind) OR typeof(o.name) <> typeof(NEW.name)))
BEGIN
	SELECT RAISE(ABORT, 'resources: a row of this tenant, kind and name is there already, its key as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER resources_key_twin_update;
DROP TRIGGER resources_key_twin_insert;
