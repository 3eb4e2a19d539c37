-- +goose Up
-- meridian_list_data catches each row's error in a subtransaction, which
-- PostgreSQL refuses inside a parallel plan ("cannot start subtransactions
-- during a parallel operation"): a list the planner read in parallel failed
-- instead of marking its bad rows. It is not parallel safe.
ALTER FUNCTION meridian_list_data(TEXT) PARALLEL UNSAFE;

-- Whether a run's data is a JSON object, kept beside it when it is
-- written: a list without documents reads the data of
-- a row marked true as jsonb directly, answers NULL for one marked false
-- without reading it, and only for a row not marked yet (written before
-- this migration) goes through meridian_list_data. A row whose data is
-- not a JSON object then costs a list nothing more than a good one: the
-- one query reads it, where the plain read failed on it and the list was
-- read again. Adding a column without a default rewrites nothing.
--
-- The store writes the mark with the data, from its first byte (what it
-- writes is JSON it made), having set meridian.data_object to 'given' for
-- its transaction; parsing megabytes of documents at each update of a run
-- would cost a write several times over. Any other write (a hand edit, a
-- restore) has the trigger parse the data and mark it.
ALTER TABLE runs ADD COLUMN data_object BOOLEAN;

-- The rows not marked yet, for the store's backfill (postgres_backfill.go):
-- it reads them by id in batches, and once none is left each start's look
-- for them reads this index, not the whole table. It holds every row at
-- first, and empties as they are marked.
CREATE INDEX runs_data_unmarked ON runs (id) WHERE data_object IS NULL;

-- +goose StatementBegin
CREATE FUNCTION meridian_runs_data_object() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.data_object := meridian_list_data(NEW.data) IS NOT NULL;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER runs_data_object_insert BEFORE INSERT ON runs
    FOR EACH ROW WHEN (current_setting('meridian.data_object', true) IS DISTINCT FROM 'given')
    EXECUTE FUNCTION meridian_runs_data_object();
-- An update that leaves the data and the mark as they were does not parse
-- the data again.
CREATE TRIGGER runs_data_object_update BEFORE UPDATE OF data, data_object ON runs
    FOR EACH ROW WHEN (current_setting('meridian.data_object', true) IS DISTINCT FROM 'given'
        AND (OLD.data IS DISTINCT FROM NEW.data OR OLD.data_object IS DISTINCT FROM NEW.data_object))
    EXECUTE FUNCTION meridian_runs_data_object();

-- +goose Down
DROP INDEX runs_data_unmarked;
DROP TRIGGER runs_data_object_update ON runs;
DROP TRIGGER runs_data_object_insert ON runs;
DROP FUNCTION meridian_runs_data_object();
ALTER TABLE runs DROP COLUMN data_object;
ALTER FUNCTION meridian_list_data(TEXT) PARALLEL SAFE;
