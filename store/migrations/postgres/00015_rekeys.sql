-- +goose Up
-- The store key format each kind of resource was last re-keyed to: a
-- start re-keys a kind's rows (every row read, the table's writes held
-- for it) only when the format it brings is not the one recorded here.
CREATE TABLE rekeys (
    kind   TEXT NOT NULL PRIMARY KEY,
    format TEXT NOT NULL
);

-- +goose Down
DROP TABLE rekeys;
