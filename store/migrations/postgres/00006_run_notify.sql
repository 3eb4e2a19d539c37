-- +goose Up
-- Each committed change to a run (its row, or an event on its timeline)
-- notifies channel meridian_runs with the run's id, so that every replica's
-- event streams read it at once instead of at their next poll
-- (Postgres.ListenRuns). PostgreSQL sends a notification at commit, once per
-- transaction, channel and payload, and none for a transaction rolled back.
-- +goose StatementBegin
CREATE FUNCTION meridian_notify_run() RETURNS trigger AS $$
BEGIN
    IF TG_TABLE_NAME = 'events' THEN
        PERFORM pg_notify('meridian_runs', NEW.run_id);
    ELSE
        PERFORM pg_notify('meridian_runs', NEW.id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER runs_notify AFTER INSERT OR UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION meridian_notify_run();
CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION meridian_notify_run();

-- +goose Down
DROP TRIGGER events_notify ON events;
DROP TRIGGER runs_notify ON runs;
DROP FUNCTION meridian_notify_run();
