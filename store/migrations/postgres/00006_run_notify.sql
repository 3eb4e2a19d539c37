-- +goose Up
-- Each committed change to a run notifies channel meridian_run_changes with the
-- run's tenant and id, separated by a space, so that every replica's event
-- streams read it at once instead of at their next poll
-- (Postgres.ListenRuns). Events are written only with their run's row, in
-- its transaction, so the row's trigger covers them. PostgreSQL sends a
-- notification at commit, once per transaction, channel and payload, and
-- none for a transaction rolled back.
-- +goose StatementBegin
CREATE FUNCTION meridian_notify_run() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('meridian_run_changes', NEW.tenant || ' ' || NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER runs_notify AFTER INSERT OR UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION meridian_notify_run();

-- +goose Down
DROP TRIGGER runs_notify ON runs;
DROP FUNCTION meridian_notify_run();
