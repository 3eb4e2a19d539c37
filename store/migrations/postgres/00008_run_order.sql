-- +goose Up
-- The time a run is listed at (created_at) is taken as its creation
-- commits, from this row, which each creation updates last and so holds
-- until it commits: creations take their times in the order they commit,
-- never the same one twice, and never earlier than one already listed,
-- even when the database's clock steps back. A reader paging through the
-- runs after the last one it read (a tenant's list, the sweep) then never
-- passes over a run committed later.
CREATE TABLE run_order (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last TIMESTAMPTZ NOT NULL
);
INSERT INTO run_order (id, last) SELECT 1, COALESCE(max(created_at), '-infinity') FROM runs;

-- +goose Down
DROP TABLE run_order;
