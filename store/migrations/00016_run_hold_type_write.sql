-- +goose Up
-- Migration 15 refuses a change's limits while a run's tenant, hold_site
-- or hold_accelerator is not text, or its hold_pool or hold_count not an
-- integer (a row written outside Meridian): found when the limits are
-- read, by then the row is there. These triggers refuse writing such a
-- row at all, an insert or an update, by any connection, naming the
-- column. Rows already there are left as they are (a database holding one
-- is upgraded, and the limits' check names it). Meridian writes text and
-- integers, never NULL: a check of the new row's types, no lookup.
-- +goose StatementBegin
CREATE TRIGGER runs_hold_type_insert BEFORE INSERT ON runs
WHEN typeof(NEW.tenant) <> 'text' OR typeof(NEW.hold_site) <> 'text' OR typeof(NEW.hold_accelerator) <> 'text'
	OR typeof(NEW.hold_pool) <> 'integer' OR typeof(NEW.hold_count) <> 'integer'
BEGIN
	SELECT RAISE(ABORT, 'runs: tenant must be stored as text') WHERE typeof(NEW.tenant) <> 'text';
	SELECT RAISE(ABORT, 'runs: hold_site must be stored as text') WHERE typeof(NEW.hold_site) <> 'text';
	SELECT RAISE(ABORT, 'runs: hold_accelerator must be stored as text') WHERE typeof(NEW.hold_accelerator) <> 'text';
	SELECT RAISE(ABORT, 'runs: hold_pool must be stored as an integer') WHERE typeof(NEW.hold_pool) <> 'integer';
	SELECT RAISE(ABORT, 'runs: hold_count must be stored as an integer');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER runs_hold_type_update BEFORE UPDATE OF tenant, hold_site, hold_accelerator, hold_pool, hold_count ON runs
WHEN typeof(NEW.tenant) <> 'text' OR typeof(NEW.hold_site) <> 'text' OR typeof(NEW.hold_accelerator) <> 'text'
	OR typeof(NEW.hold_pool) <> 'integer' OR typeof(NEW.hold_count) <> 'integer'
BEGIN
	SELECT RAISE(ABORT, 'runs: tenant must be stored as text') WHERE typeof(NEW.tenant) <> 'text';
	SELECT RAISE(ABORT, 'runs: hold_site must be stored as text') WHERE typeof(NEW.hold_site) <> 'text';
	SELECT RAISE(ABORT, 'runs: hold_accelerator must be stored as text') WHERE typeof(NEW.hold_accelerator) <> 'text';
	SELECT RAISE(ABORT, 'runs: hold_pool must be stored as an integer') WHERE typeof(NEW.hold_pool) <> 'integer';
	SELECT RAISE(ABORT, 'runs: hold_count must be stored as an integer');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER runs_hold_type_update;
DROP TRIGGER runs_hold_type_insert;
