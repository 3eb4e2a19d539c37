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

-- +goose Down
DROP TRIGGER rule_revisions_rev_integer_update;
DROP TRIGGER rule_revisions_rev_integer_insert;
