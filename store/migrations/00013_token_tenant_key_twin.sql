-- +goose Up
-- SQLite keeps a key column stored as bytes (a BLOB) apart from the same
-- bytes as text: a token's row and a copy of it with its id or hash as a
-- BLOB, or a tenant's row and a copy with its name as a BLOB, would both
-- be kept, and the reads of that token or tenant fail (ErrRowTwice). A
-- tenant's user id stored as anything but an integer is kept as it is
-- too, and read back as the number its digits spell, beside the tenant
-- that holds that number. These triggers refuse the write that would make
-- such a row; rows already there are left as they are (a database holding
-- one is upgraded, and its reads name it). Meridian's own writes insert
-- text keys and integer user ids and update no key: one lookup of each
-- unique index per insert.
-- +goose StatementBegin
CREATE TRIGGER tokens_key_twin_insert BEFORE INSERT ON tokens
WHEN EXISTS (SELECT 1 FROM tokens AS o
	WHERE o.id IN (CAST(NEW.id AS TEXT), CAST(NEW.id AS BLOB)) AND typeof(o.id) <> typeof(NEW.id))
OR EXISTS (SELECT 1 FROM tokens AS o
	WHERE o.hash IN (CAST(NEW.hash AS TEXT), CAST(NEW.hash AS BLOB)) AND typeof(o.hash) <> typeof(NEW.hash))
BEGIN
	SELECT RAISE(ABORT, 'tokens: a row of this id or hash is there already, as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER tokens_key_twin_update BEFORE UPDATE OF id, hash ON tokens
WHEN EXISTS (SELECT 1 FROM tokens AS o
	WHERE o.rowid <> OLD.rowid
	AND o.id IN (CAST(NEW.id AS TEXT), CAST(NEW.id AS BLOB)) AND typeof(o.id) <> typeof(NEW.id))
OR EXISTS (SELECT 1 FROM tokens AS o
	WHERE o.rowid <> OLD.rowid
	AND o.hash IN (CAST(NEW.hash AS TEXT), CAST(NEW.hash AS BLOB)) AND typeof(o.hash) <> typeof(NEW.hash))
BEGIN
	SELECT RAISE(ABORT, 'tokens: a row of this id or hash is there already, as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER tenants_key_twin_insert BEFORE INSERT ON tenants
WHEN EXISTS (SELECT 1 FROM tenants AS o
	WHERE o.name IN (CAST(NEW.name AS TEXT), CAST(NEW.name AS BLOB)) AND typeof(o.name) <> typeof(NEW.name))
BEGIN
	SELECT RAISE(ABORT, 'tenants: a row of this name is there already, as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER tenants_key_twin_update BEFORE UPDATE OF name ON tenants
WHEN EXISTS (SELECT 1 FROM tenants AS o
	WHERE o.rowid <> OLD.rowid
	AND o.name IN (CAST(NEW.name AS TEXT), CAST(NEW.name AS BLOB)) AND typeof(o.name) <> typeof(NEW.name))
BEGIN
	SELECT RAISE(ABORT, 'tenants: a row of this name is there already, as text and this one''s as bytes (a BLOB), or the other way round: SQLite would keep both');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER tenants_uid_integer_insert BEFORE INSERT ON tenants
WHEN typeof(NEW.uid) <> 'integer'
BEGIN
	SELECT RAISE(ABORT, 'tenants: uid must be stored as an integer (SQLite would keep this one as it is, and a BLOB of digits reads back as another tenant''s user id)');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER tenants_uid_integer_update BEFORE UPDATE OF uid ON tenants
WHEN typeof(NEW.uid) <> 'integer'
BEGIN
	SELECT RAISE(ABORT, 'tenants: uid must be stored as an integer (SQLite would keep this one as it is, and a BLOB of digits reads back as another tenant''s user id)');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER tenants_uid_integer_update;
DROP TRIGGER tenants_uid_integer_insert;
DROP TRIGGER tenants_key_twin_update;
DROP TRIGGER tenants_key_twin_insert;
DROP TRIGGER tokens_key_twin_update;
DROP TRIGGER tokens_key_twin_insert;
