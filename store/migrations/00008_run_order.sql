-- +goose Up
-- The time a run is listed at (created_at) is at least the last creation's
-- and one microsecond more, kept in this row, which each creation updates in
-- its (serialised) write transaction: times are in commit order, never the
-- same one twice, and never earlier than one already listed, even when the
-- host's clock steps back. A reader paging through the runs after the last
-- one it read (a tenant's list, the sweep) then never passes over a run
-- committed later. Times are fixed-width text, so max() is the latest.
CREATE TABLE run_order (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last TEXT NOT NULL
);
INSERT INTO run_order (id, last) SELECT 1, COALESCE(max(created_at), '') FROM runs;

-- +goose Down
DROP TABLE run_order;
